//! Chat completion (non-streaming) → Anthropic `message`.
//!
//! The body is buffered and translated in `finish`. When the upstream body is not a chat
//! completion (bad JSON, no choices, an `error` object), the answer is an Anthropic error body
//! with type `api_error`: by then the gateway has already sent the upstream's 2xx status, so
//! only the body can tell the client (the SDKs read `type: "error"` bodies as errors).

use super::count::{text_units, tokens};
use super::errors::error_json;
use super::meta::{stop_reason, tool_id, usage_json, MessageMeta};
use crate::core::translate::ResponseTranslator;
use crate::core::usage::Usage;
use crate::protocol::chat_stream::{ChatEvent, ChatStreamDecoder};
use serde_json::{json, Value};

/// Buffers a chat completion and answers with the translated message.
pub struct BodyTranslator {
    meta: MessageMeta,
    body: Vec<u8>,
    usage: Option<Usage>,
    done: bool,
}

impl BodyTranslator {
    pub fn new(meta: MessageMeta) -> Self {
        BodyTranslator {
            meta,
            body: Vec::new(),
            usage: None,
            done: false,
        }
    }
}

impl ResponseTranslator for BodyTranslator {
    fn feed(&mut self, chunk: &[u8]) -> Vec<u8> {
        if !self.done {
            self.body.extend_from_slice(chunk);
        }
        Vec::new()
    }

    fn finish(&mut self) -> Vec<u8> {
        if std::mem::replace(&mut self.done, true) {
            return Vec::new();
        }
        let body = std::mem::take(&mut self.body);
        let completion = parse_completion(&body);
        let out = match completion {
            Ok(v) => {
                self.usage = Usage::of(&v);
                message(&v, &self.meta)
            }
            Err(msg) => error_json("api_error", &msg),
        };
        out.to_string().into_bytes()
    }

    fn fail(&mut self, message: &str) -> Vec<u8> {
        if std::mem::replace(&mut self.done, true) {
            return Vec::new();
        }
        error_json("api_error", message).to_string().into_bytes()
    }

    fn usage(&self) -> Option<Usage> {
        self.usage
    }
}

/// The chat completion in `body`, or the message to report. An upstream that answered with
/// SSE although `stream` was off is folded into one completion rather than failed.
fn parse_completion(body: &[u8]) -> Result<Value, String> {
    let v = match serde_json::from_slice::<Value>(body) {
        Ok(v) => v,
        Err(_) if body.trim_ascii_start().starts_with(b"data:") => fold_sse(body),
        Err(e) => return Err(format!("upstream returned an invalid chat completion: {e}")),
    };
    if let Some(err) = v.get("error").filter(|e| !e.is_null()) {
        let msg = err
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_owned);
        return Err(msg.unwrap_or_else(|| err.to_string()));
    }
    let has_choice = v
        .get("choices")
        .and_then(Value::as_array)
        .is_some_and(|c| !c.is_empty());
    if !has_choice {
        return Err("upstream returned a chat completion without choices".into());
    }
    Ok(v)
}

/// An SSE chat stream as a single chat completion.
fn fold_sse(body: &[u8]) -> Value {
    let mut dec = ChatStreamDecoder::new();
    let mut events = Vec::new();
    dec.feed(body, &mut events);
    dec.finish(&mut events);
    let (mut text, mut reasoning, mut finish) = (String::new(), String::new(), Value::Null);
    let mut calls: Vec<Value> = Vec::new();
    let mut usage = Value::Null;
    for e in events {
        match e {
            ChatEvent::Text(t) => text.push_str(&t),
            ChatEvent::Reasoning(r) => reasoning.push_str(&r),
            ChatEvent::ToolCallStart { id, name, .. } => calls.push(
                json!({"id": id, "type": "function", "function": {"name": name, "arguments": ""}}),
            ),
            ChatEvent::ToolCallArgs { delta, .. } => {
                if let Some(Value::String(a)) = calls
                    .last_mut()
                    .and_then(|c| c.pointer_mut("/function/arguments"))
                {
                    a.push_str(&delta);
                }
            }
            ChatEvent::Finish(f) => finish = Value::String(f),
            ChatEvent::Usage(u) => usage = u.to_chat_json(),
            ChatEvent::Error(m) => return json!({"error": {"message": m}}),
            ChatEvent::Start { .. } | ChatEvent::Done => {}
        }
    }
    json!({"choices": [{"message": {"content": text, "reasoning_content": reasoning,
        "tool_calls": calls}, "finish_reason": finish}], "usage": usage})
}

/// The Anthropic message for a parsed chat completion (first choice).
fn message(v: &Value, meta: &MessageMeta) -> Value {
    let choice = v.pointer("/choices/0").unwrap_or(&Value::Null);
    let msg = choice.get("message").unwrap_or(&Value::Null);
    let mut content = Vec::new();
    if meta.thinking {
        if let Some(r) = msg
            .get("reasoning_content")
            .and_then(Value::as_str)
            .filter(|r| !r.is_empty())
        {
            content.push(json!({"type": "thinking", "thinking": r, "signature": ""}));
        }
    }
    let text = message_text(msg.get("content"));
    if !text.is_empty() {
        content.push(json!({"type": "text", "text": text}));
    }
    let calls = msg.get("tool_calls").and_then(Value::as_array);
    for (n, call) in calls.into_iter().flatten().enumerate() {
        content.push(tool_use(call, n, meta));
    }
    let has_tool_use = content.iter().any(|b| b["type"] == "tool_use");
    let finish = choice
        .get("finish_reason")
        .and_then(Value::as_str)
        .unwrap_or("stop");
    let (stop, sequence) = stop_of(choice, finish, has_tool_use, meta);
    json!({
        "id": meta.id,
        "type": "message",
        "role": "assistant",
        "model": meta.model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": sequence,
        "usage": usage_json(Usage::of(v), meta, output_estimate(&content)),
    })
}

/// Output tokens by [`super::count`]'s method, for upstreams that report no usage.
fn output_estimate(content: &[Value]) -> u64 {
    let units = content
        .iter()
        .map(|b| match b["type"].as_str() {
            Some("thinking") => text_units(b["thinking"].as_str().unwrap_or("")),
            Some("text") => text_units(b["text"].as_str().unwrap_or("")),
            _ => text_units(&b["name"].to_string()) + text_units(&b["input"].to_string()),
        })
        .sum();
    tokens(units)
}

/// `stop_reason` and `stop_sequence`: `stop_sequence` when the upstream names the stop string
/// it matched (vLLM `stop_reason`, SGLang `matched_stop`) and it is one the client gave —
/// plain chat can't tell a stop sequence from a natural end, so that is `end_turn`.
fn stop_of(
    choice: &Value,
    finish: &str,
    has_tool_use: bool,
    meta: &MessageMeta,
) -> (&'static str, Value) {
    if finish == "stop" && !has_tool_use {
        let matched = ["stop_reason", "matched_stop"]
            .iter()
            .filter_map(|k| choice.get(*k).and_then(Value::as_str))
            .find(|s| meta.stop_sequences.iter().any(|q| q == s));
        if let Some(s) = matched {
            return ("stop_sequence", Value::String(s.to_string()));
        }
    }
    (stop_reason(finish, has_tool_use), Value::Null)
}

/// Chat content: a string, or (some upstreams) a list of text parts.
fn message_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect(),
        _ => String::new(),
    }
}

fn tool_use(call: &Value, n: usize, meta: &MessageMeta) -> Value {
    let id = match call.get("id").and_then(Value::as_str) {
        Some(id) if !id.is_empty() => id.to_string(),
        _ => tool_id(&meta.id, n),
    };
    let name = call
        .pointer("/function/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let input = match call.pointer("/function/arguments") {
        Some(Value::String(s)) => tool_input(s),
        Some(v) if v.is_object() => v.clone(),
        _ => json!({}),
    };
    json!({"type": "tool_use", "id": id, "name": name, "input": input})
}

/// A tool call's `arguments` text → the `input` object Anthropic requires.
///
/// Empty → `{}`. An object → itself. JSON text of an object encoded once more (some models
/// double-encode) → that object. Anything else (truncated or invalid JSON, a non-object) →
/// `{"_raw_arguments": text}`: the client's schema check then fails with the model's actual
/// output in view, which tells the model (and a human reading the log) what went wrong,
/// where `{}` would only say "missing parameter".
pub(crate) fn tool_input(arguments: &str) -> Value {
    if arguments.trim().is_empty() {
        return json!({});
    }
    match serde_json::from_str::<Value>(arguments) {
        Ok(v @ Value::Object(_)) => v,
        Ok(Value::String(inner)) => match serde_json::from_str::<Value>(&inner) {
            Ok(v @ Value::Object(_)) => v,
            _ => json!({"_raw_arguments": arguments}),
        },
        _ => json!({"_raw_arguments": arguments}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(thinking: bool) -> MessageMeta {
        MessageMeta {
            id: "msg_9".into(),
            model: "claude-opus-4-8".into(),
            thinking,
            input_tokens_estimate: 11,
            stop_sequences: vec!["END".into()],
            ..Default::default()
        }
    }

    fn translate(m: MessageMeta, body: &Value) -> Value {
        let mut t = BodyTranslator::new(m);
        let text = body.to_string();
        let (a, b) = text.split_at(text.len() / 2);
        assert!(t.feed(a.as_bytes()).is_empty());
        assert!(t.feed(b.as_bytes()).is_empty());
        let out = t.finish();
        assert!(t.finish().is_empty());
        serde_json::from_slice(&out).unwrap()
    }

    fn completion(message: Value, finish: &str) -> Value {
        json!({"id": "c", "object": "chat.completion", "model": "hunyuan",
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": 50, "completion_tokens": 7, "total_tokens": 57,
                "prompt_tokens_details": {"cached_tokens": 20}}})
    }

    #[test]
    fn text_answer() {
        let v = translate(
            meta(false),
            &completion(json!({"role": "assistant", "content": "Hi!"}), "stop"),
        );
        assert_eq!(
            v,
            json!({"id": "msg_9", "type": "message", "role": "assistant",
            "model": "claude-opus-4-8", "content": [{"type": "text", "text": "Hi!"}],
            "stop_reason": "end_turn", "stop_sequence": null,
            "usage": {"input_tokens": 30, "output_tokens": 7,
                "cache_creation_input_tokens": 0, "cache_read_input_tokens": 20}})
        );
    }

    #[test]
    fn every_finish_reason() {
        for (finish, want) in [
            ("stop", "end_turn"),
            ("length", "max_tokens"),
            ("tool_calls", "tool_use"),
            ("function_call", "tool_use"),
            ("content_filter", "refusal"),
            ("sensitive", "refusal"),
            ("weird", "end_turn"),
        ] {
            let v = translate(meta(false), &completion(json!({"content": "x"}), finish));
            assert_eq!(v["stop_reason"], want, "{finish}");
            assert_eq!(v["stop_sequence"], Value::Null);
        }
    }

    #[test]
    fn stop_sequence_when_named() {
        let mut c = completion(json!({"content": "x"}), "stop");
        c["choices"][0]["stop_reason"] = json!("END");
        let v = translate(meta(false), &c);
        assert_eq!(v["stop_reason"], "stop_sequence");
        assert_eq!(v["stop_sequence"], "END");
        c["choices"][0]["stop_reason"] = json!("OTHER");
        assert_eq!(translate(meta(false), &c)["stop_reason"], "end_turn");
    }

    #[test]
    fn reasoning_and_tool_calls() {
        let msg = json!({"role": "assistant", "content": "", "reasoning_content": "ponder",
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "Bash", "arguments": "{\"command\":\"ls\"}"}},
                {"type": "function", "function": {"name": "Read", "arguments": ""}},
                {"id": "call_3", "type": "function", "function": {"name": "Edit", "arguments": "{\"a\":"}},
                {"id": "call_4", "type": "function", "function": {"name": "Two", "arguments": "\"{\\\"b\\\":2}\""}}]});
        let v = translate(meta(true), &completion(msg.clone(), "stop"));
        let c = v["content"].as_array().unwrap();
        assert_eq!(
            c[0],
            json!({"type": "thinking", "thinking": "ponder", "signature": ""})
        );
        assert_eq!(
            c[1],
            json!({"type": "tool_use", "id": "call_1", "name": "Bash", "input": {"command": "ls"}})
        );
        assert_eq!(
            c[2],
            json!({"type": "tool_use", "id": "toolu_9_1", "name": "Read", "input": {}})
        );
        assert_eq!(c[3]["input"], json!({"_raw_arguments": "{\"a\":"}));
        assert_eq!(c[4]["input"], json!({"b": 2}));
        assert_eq!(v["stop_reason"], "tool_use");
        let v = translate(meta(false), &completion(msg, "tool_calls"));
        assert_eq!(
            v["content"][0]["type"], "tool_use",
            "no thinking block when not asked"
        );
    }

    #[test]
    fn no_usage_uses_estimates() {
        let v = translate(
            meta(false),
            &json!({"choices": [{"message": {"content": "abcdefgh"}, "finish_reason": "stop"}]}),
        );
        assert_eq!(v["usage"]["input_tokens"], 11);
        assert_eq!(v["usage"]["output_tokens"], 2);
    }

    #[test]
    fn bad_upstream_bodies_are_api_errors() {
        for body in [
            &b"not json"[..],
            b"{\"choices\":[]}",
            b"{\"error\":{\"message\":\"quota\"}}",
            b"",
        ] {
            let mut t = BodyTranslator::new(meta(false));
            t.feed(body);
            let v: Value = serde_json::from_slice(&t.finish()).unwrap();
            assert_eq!(v["type"], "error");
            assert_eq!(v["error"]["type"], "api_error");
        }
        let mut t = BodyTranslator::new(meta(false));
        t.feed(b"{\"error\":{\"message\":\"quota\"}}");
        let v: Value = serde_json::from_slice(&t.finish()).unwrap();
        assert_eq!(v["error"]["message"], "quota");
    }

    #[test]
    fn fail_is_an_error_once() {
        let mut t = BodyTranslator::new(meta(false));
        t.feed(b"{\"choi");
        let v: Value = serde_json::from_slice(&t.fail("upstream timed out")).unwrap();
        assert_eq!(v["error"]["message"], "upstream timed out");
        assert!(t.finish().is_empty());
    }

    #[test]
    fn sse_body_is_folded() {
        let body = concat!(
            "data: {\"id\":\"c\",\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n",
            "data: {\"id\":\"c\",\"choices\":[{\"delta\":{\"content\":\"lo\"},\"finish_reason\":\"length\"}]}\n\n",
            "data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2}}\n\n",
            "data: [DONE]\n\n");
        let mut t = BodyTranslator::new(meta(false));
        t.feed(body.as_bytes());
        let v: Value = serde_json::from_slice(&t.finish()).unwrap();
        assert_eq!(v["content"], json!([{"type": "text", "text": "Hello"}]));
        assert_eq!(v["stop_reason"], "max_tokens");
        assert_eq!(v["usage"]["input_tokens"], 3);
        assert_eq!(t.usage().map(|u| u.completion), Some(2));
    }
    /// Cache reads and writes leave `input_tokens` for their own fields, in a JSON answer and
    /// in an SSE body folded into one.
    #[test]
    fn cache_counts_are_moved_out_of_input() {
        let mut c = completion(json!({"role": "assistant", "content": "Hi!"}), "stop");
        c["usage"]["prompt_tokens_details"] =
            json!({"cached_tokens": 20, "cache_creation_tokens": 25});
        let v = translate(meta(false), &c);
        assert_eq!(
            v["usage"],
            json!({"input_tokens": 5, "output_tokens": 7,
                "cache_creation_input_tokens": 25, "cache_read_input_tokens": 20})
        );
        let body = concat!(
            "data: {\"id\":\"c\",\"choices\":[{\"delta\":{\"content\":\"a\"},\"finish_reason\":\"stop\"}]}\n\n",
            "data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":100,\"completion_tokens\":2,",
            "\"prompt_tokens_details\":{\"cached_tokens\":60,\"cache_creation_tokens\":30}}}\n\n",
            "data: [DONE]\n\n");
        let mut t = BodyTranslator::new(meta(false));
        t.feed(body.as_bytes());
        let v: Value = serde_json::from_slice(&t.finish()).unwrap();
        assert_eq!(
            v["usage"],
            json!({"input_tokens": 10, "output_tokens": 2,
                "cache_creation_input_tokens": 30, "cache_read_input_tokens": 60})
        );
        let u = t.usage().unwrap();
        assert_eq!((u.prompt, u.cached, u.cache_write), (100, 60, 30));
    }
}
