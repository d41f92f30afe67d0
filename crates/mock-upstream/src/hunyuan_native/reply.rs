//! The mock's native answers: a whole `{"Response": {...}}`, or SSE events in the native shape
//! (`Choices[].Delta`, `FinishReason` empty until the last event, `Usage` on every event).
//!
//! What it says follows the other endpoints: the agent's tool call and tool-output quote
//! ([`crate::agent`]); otherwise, when the request offers tools (and `ToolChoice` is not
//! `none`) and the last message is the user's, a call of the forced tool (`CustomTool`) or
//! the first one, arguments `{}`; otherwise `mock reply to: <last user text>`. Reasoning
//! models (`-t1`) send `ReasoningContent` first.

use bytes::Bytes;
use serde_json::{json, Value};

use crate::agent::{self, Reply};
use crate::app::now_secs;

/// Tencent's disclaimer, sent on every answer.
const NOTE: &str = "以上内容为AI生成，不代表开发者立场，请勿删除或修改本标记";

pub struct Answer {
    id: String,
    created: u64,
    reply: Reply,
    reasoning: Option<String>,
    prompt_tokens: u64,
    /// `sensitive` (with `x-mock-body: sensitive`) replaces `stop`.
    sensitive: bool,
}

/// Tokens are approximated as 4 bytes each, at least 1.
fn tokens(bytes: usize) -> u64 {
    (bytes as u64 / 4).max(1)
}

impl Answer {
    /// `native` is the request as sent, `chat` the same in chat's shape (from the checker).
    pub fn new(
        native: &Value,
        chat: &Value,
        id: String,
        body_len: usize,
        sensitive: bool,
    ) -> Answer {
        let model = chat.get("model").and_then(Value::as_str).unwrap_or("");
        Answer {
            reply: decide(native, chat, &id),
            reasoning: agent::reasoning_for(model, chat),
            id,
            created: now_secs(),
            prompt_tokens: tokens(body_len),
            sensitive,
        }
    }

    fn finish_reason(&self) -> &'static str {
        match (&self.reply, self.sensitive) {
            (_, true) => "sensitive",
            (Reply::ToolCall { .. }, false) => "tool_calls",
            (Reply::Text(_), false) => "stop",
        }
    }

    fn completion_tokens(&self) -> u64 {
        match &self.reply {
            Reply::Text(t) => tokens(t.len()),
            Reply::ToolCall { arguments, .. } => tokens(arguments.len()),
        }
    }

    fn usage(&self, completion: u64) -> Value {
        json!({"PromptTokens": self.prompt_tokens, "CompletionTokens": completion,
            "TotalTokens": self.prompt_tokens + completion})
    }

    /// The non-streamed answer.
    pub fn whole(&self) -> Value {
        let mut message = json!({"Role": "assistant", "Content": ""});
        match &self.reply {
            Reply::Text(t) => message["Content"] = json!(t),
            Reply::ToolCall {
                id,
                name,
                arguments,
            } => {
                message["ToolCalls"] = json!([{"Id": id, "Type": "function", "Index": 0,
                    "Function": {"Name": name, "Arguments": arguments}}]);
            }
        }
        if let Some(r) = &self.reasoning {
            message["ReasoningContent"] = json!(r);
        }
        json!({"Response": {"RequestId": self.id, "Id": self.id, "Created": self.created,
            "Note": NOTE, "Choices": [{"FinishReason": self.finish_reason(), "Message": message}],
            "Usage": self.usage(self.completion_tokens())}})
    }

    fn event(&self, delta: Value, finish: &str, completion: u64) -> Bytes {
        let e = json!({"Note": NOTE, "Choices": [{"Delta": delta, "FinishReason": finish}],
            "Created": self.created, "Id": self.id, "Usage": self.usage(completion)});
        Bytes::from(format!("data: {e}\n\n"))
    }

    /// The streamed answer's events: reasoning and text in halves, a tool call in two pieces
    /// of the same `Id` (Tencent's rule: merge by `Id`), the last event with `FinishReason`.
    pub fn events(&self) -> Vec<Bytes> {
        let mut out = Vec::new();
        let mut said = 0;
        let mut step = |out: &mut Vec<Bytes>, delta: Value| {
            said += 1;
            out.push(self.event(delta, "", said));
        };
        if let Some(r) = &self.reasoning {
            for part in halves(r) {
                step(
                    &mut out,
                    json!({"Role": "assistant", "ReasoningContent": part}),
                );
            }
        }
        match &self.reply {
            Reply::Text(t) => {
                for part in halves(t) {
                    step(&mut out, json!({"Role": "assistant", "Content": part}));
                }
            }
            Reply::ToolCall {
                id,
                name,
                arguments,
            } => {
                for part in halves(arguments) {
                    step(
                        &mut out,
                        json!({"Role": "assistant", "Content": "",
                        "ToolCalls": [{"Id": id, "Type": "function", "Index": 0,
                            "Function": {"Name": name, "Arguments": part}}]}),
                    );
                }
            }
        }
        let last = json!({"Role": "assistant", "Content": ""});
        out.push(self.event(last, self.finish_reason(), self.completion_tokens()));
        out
    }
}

/// What to answer (see the module comment).
fn decide(native: &Value, chat: &Value, id: &str) -> Reply {
    if let Some(r) = agent::reply(chat, 1) {
        return match r {
            Reply::ToolCall {
                name, arguments, ..
            } => Reply::ToolCall {
                id: format!("call_{id}"),
                name,
                arguments,
            },
            text => text,
        };
    }
    let last = chat
        .get("messages")
        .and_then(Value::as_array)
        .and_then(|m| m.last());
    let last_is_user = last.and_then(|m| m.get("role")).and_then(Value::as_str) == Some("user");
    let choice = native.get("ToolChoice").and_then(Value::as_str);
    let forced = native
        .get("CustomTool")
        .filter(|_| choice == Some("custom"));
    let tool = forced.or_else(|| native.pointer("/Tools/0"));
    match (tool, last_is_user && choice != Some("none")) {
        (Some(t), true) => Reply::ToolCall {
            id: format!("call_{id}"),
            name: t
                .pointer("/Function/Name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            arguments: "{}".into(),
        },
        _ => Reply::Text(format!(
            "mock reply to: {}",
            prefix(&last_user_text(chat), 200)
        )),
    }
}

fn last_user_text(chat: &Value) -> String {
    let msgs = chat.get("messages").and_then(Value::as_array);
    let user = msgs
        .into_iter()
        .flatten()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"));
    match user.and_then(|m| m.get("content")) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

/// The first `n` characters of `s`.
fn prefix(s: &str, n: usize) -> &str {
    s.char_indices().nth(n).map_or(s, |(i, _)| &s[..i])
}

/// `s` in two pieces split at a character boundary (streams deliver text in parts).
fn halves(s: &str) -> Vec<&str> {
    let mid = s
        .char_indices()
        .nth(s.chars().count() / 2)
        .map_or(s.len(), |(i, _)| i);
    [&s[..mid], &s[mid..]]
        .into_iter()
        .filter(|p| !p.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(native: Value) -> Answer {
        let chat = super::super::check::check(&native).unwrap_or_else(|r| panic!("{}", r.message));
        Answer::new(&native, &chat, "rid".into(), 100, false)
    }

    #[test]
    fn echo_tool_call_and_tool_result() {
        let a = answer(json!({"Model": "hunyuan-turbos-latest",
            "Messages": [{"Role": "user", "Content": "héllo"}]}));
        assert_eq!(
            a.whole()["Response"]["Choices"][0]["Message"]["Content"],
            "mock reply to: héllo"
        );
        let tools = json!([{"Type": "function", "Function": {"Name": "get_weather",
            "Parameters": "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}}"}}]);
        let a = answer(json!({"Model": "m", "Tools": tools,
            "Messages": [{"Role": "user", "Content": "weather?"}]}));
        let w = a.whole();
        assert_eq!(w["Response"]["Choices"][0]["FinishReason"], "tool_calls");
        assert_eq!(
            w["Response"]["Choices"][0]["Message"]["ToolCalls"][0]["Function"]["Name"],
            "get_weather"
        );
        let a = answer(json!({"Model": "m", "Tools": tools, "Messages": [
            {"Role": "user", "Content": "weather?"},
            {"Role": "assistant", "Content": "calling", "ToolCalls": [{"Id": "c", "Type": "function",
                "Function": {"Name": "get_weather", "Arguments": "{}"}}]},
            {"Role": "tool", "ToolCallId": "c", "Content": "sunny"}]}));
        assert_eq!(
            a.whole()["Response"]["Choices"][0]["Message"]["Content"],
            "The command printed: sunny"
        );
        let a = answer(json!({"Model": "m", "Tools": tools, "ToolChoice": "none",
            "Messages": [{"Role": "user", "Content": "weather?"}]}));
        assert_eq!(a.whole()["Response"]["Choices"][0]["FinishReason"], "stop");
    }

    #[test]
    fn stream_events_end_with_the_finish() {
        let a = answer(
            json!({"Model": "hunyuan-t1-latest", "Messages": [{"Role": "user", "Content": "hi"}]}),
        );
        let events: Vec<Value> = a
            .events()
            .iter()
            .map(|b| serde_json::from_slice(&b[6..]).unwrap())
            .collect();
        assert!(events.len() >= 4);
        let (last, rest) = events.split_last().unwrap();
        assert_eq!(last["Choices"][0]["FinishReason"], "stop");
        assert!(rest.iter().all(|e| e["Choices"][0]["FinishReason"] == ""));
        assert!(events
            .iter()
            .all(|e| e["Usage"]["TotalTokens"].as_u64() > Some(0)));
        assert!(rest[0]["Choices"][0]["Delta"]["ReasoningContent"].is_string());
    }
}
