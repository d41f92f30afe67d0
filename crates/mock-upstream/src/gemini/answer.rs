//! What the Gemini mock answers: the agent logic of [`crate::agent`] applied to a Gemini
//! request (seen through a small chat-shaped view), as a `GenerateContentResponse` or its
//! stream chunks.

use serde_json::{json, Value};

use crate::agent::{self, Reply};

/// Tokens are approximated as 4 bytes each, at least 1.
fn tokens(bytes: usize) -> u64 {
    (bytes as u64 / 4).max(1)
}

pub struct Answer {
    model: String,
    id: String,
    serial: u64,
    thought: Option<String>,
    reply: Reply,
    prompt_tokens: u64,
    cached: bool,
}

impl Answer {
    pub fn new(req: &Value, model: &str, body_len: usize, serial: u64) -> Answer {
        let view = chat_view(req);
        let reply = agent::reply(&view, serial).unwrap_or_else(|| {
            Reply::Text(format!(
                "mock reply to: {}",
                prefix(&last_user_text(req), 200)
            ))
        });
        let contents = req
            .get("contents")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        let thinking = req
            .pointer("/generationConfig/thinkingConfig/includeThoughts")
            .and_then(Value::as_bool)
            == Some(true);
        Answer {
            model: model.to_string(),
            id: format!("mock-gemini-{serial}"),
            serial,
            thought: thinking
                .then(|| format!("The conversation has {contents} turns; answering the last one.")),
            reply,
            prompt_tokens: tokens(body_len),
            cached: req.get("cachedContent").is_some(),
        }
    }

    /// `generateContent`'s answer.
    pub fn whole(&self) -> Value {
        let mut parts: Vec<Value> = self.thought_part().into_iter().collect();
        match &self.reply {
            Reply::Text(t) => parts.push(json!({"text": t})),
            Reply::ToolCall { .. } => parts.push(self.call_part()),
        }
        self.response(parts, true)
    }

    /// `streamGenerateContent`'s chunks: the thought, the text in two halves (or the call,
    /// whole), `finishReason` and the full usage on the last.
    pub fn chunks(&self) -> Vec<Value> {
        let mut parts: Vec<Value> = self.thought_part().into_iter().collect();
        match &self.reply {
            Reply::Text(t) => parts.extend(halves(t).into_iter().map(|h| json!({"text": h}))),
            Reply::ToolCall { .. } => parts.push(self.call_part()),
        }
        let n = parts.len();
        parts
            .into_iter()
            .enumerate()
            .map(|(i, p)| self.response(vec![p], i + 1 == n))
            .collect()
    }

    fn thought_part(&self) -> Option<Value> {
        self.thought
            .as_ref()
            .map(|t| json!({"text": t, "thought": true}))
    }

    fn call_part(&self) -> Value {
        let Reply::ToolCall {
            name, arguments, ..
        } = &self.reply
        else {
            return json!({"text": ""});
        };
        let args: Value = serde_json::from_str(arguments).unwrap_or_else(|_| json!({}));
        json!({"functionCall": {"name": name, "args": args},
            "thoughtSignature": format!("mock-signature-{}", self.serial)})
    }

    fn response(&self, parts: Vec<Value>, last: bool) -> Value {
        let mut candidate = json!({"content": {"role": "model", "parts": parts}, "index": 0});
        if last {
            candidate["finishReason"] = json!("STOP");
        }
        json!({"candidates": [candidate], "usageMetadata": self.usage(last),
            "modelVersion": self.model, "responseId": self.id})
    }

    /// Usage: the prompt on every chunk, the output on the last (as Gemini reports it).
    fn usage(&self, last: bool) -> Value {
        let mut u = json!({"promptTokenCount": self.prompt_tokens,
            "totalTokenCount": self.prompt_tokens});
        if self.cached {
            u["cachedContentTokenCount"] = json!(self.prompt_tokens / 2);
        }
        if !last {
            return u;
        }
        let out = match &self.reply {
            Reply::Text(t) => tokens(t.len()),
            Reply::ToolCall { arguments, .. } => tokens(arguments.len()),
        };
        let thoughts = self.thought.as_ref().map_or(0, |t| tokens(t.len()));
        u["candidatesTokenCount"] = json!(out);
        u["totalTokenCount"] = json!(self.prompt_tokens + out + thoughts);
        if thoughts > 0 {
            u["thoughtsTokenCount"] = json!(thoughts);
        }
        u
    }
}

/// The request as the chat shape [`agent::reply`] reads: its function declarations as tools,
/// its last turn as a `tool` message (a `functionResponse`) or a `user` message.
fn chat_view(req: &Value) -> Value {
    let tools: Vec<Value> = declarations(req)
        .map(|d| {
            let params = d
                .get("parametersJsonSchema")
                .or_else(|| d.get("parameters"))
                .cloned()
                .unwrap_or(Value::Null);
            json!({"type": "function", "function": {"name": d.get("name"), "parameters": params}})
        })
        .collect();
    let last = req
        .get("contents")
        .and_then(Value::as_array)
        .and_then(|c| c.last());
    let parts = last
        .and_then(|c| c.get("parts"))
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    let response = parts.iter().find_map(|p| p.get("functionResponse"));
    let message = match response {
        Some(r) => json!({"role": "tool", "content": response_text(r.get("response"))}),
        None => json!({"role": "user", "content": texts(parts)}),
    };
    json!({"messages": [message], "tools": tools})
}

/// Every function declaration of the request.
fn declarations(req: &Value) -> impl Iterator<Item = &Value> {
    let tools = req.get("tools").and_then(Value::as_array);
    tools
        .into_iter()
        .flatten()
        .filter_map(|t| t.get("functionDeclarations").and_then(Value::as_array))
        .flatten()
}

/// A function's result as text: its `output`, `result` or `content` string, else its JSON.
fn response_text(response: Option<&Value>) -> String {
    let Some(r) = response else {
        return String::new();
    };
    ["output", "result", "content"]
        .iter()
        .find_map(|k| r.get(*k).and_then(Value::as_str))
        .map_or_else(|| r.to_string(), str::to_owned)
}

fn texts(parts: &[Value]) -> String {
    parts
        .iter()
        .filter(|p| p.get("thought").and_then(Value::as_bool) != Some(true))
        .filter_map(|p| p.get("text").and_then(Value::as_str))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The text of the last `user` turn.
fn last_user_text(req: &Value) -> String {
    let contents = req.get("contents").and_then(Value::as_array);
    contents
        .into_iter()
        .flatten()
        .rev()
        .find(|c| c.get("role").and_then(Value::as_str) != Some("model"))
        .and_then(|c| c.get("parts").and_then(Value::as_array))
        .map(|p| texts(p))
        .unwrap_or_default()
}

fn prefix(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
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

    fn shell_request(last: Value) -> Value {
        json!({"contents": [last], "tools": [{"functionDeclarations": [
            {"name": "run_shell_command", "parametersJsonSchema": {"type": "object",
                "properties": {"command": {"type": "string"}}}}]}]})
    }

    #[test]
    fn text_call_and_result() {
        let plain = json!({"contents": [{"role": "user", "parts": [{"text": "hello"}]}]});
        let a = Answer::new(&plain, "gemini-2.5-flash", 40, 1);
        let w = a.whole();
        assert_eq!(
            w["candidates"][0]["content"]["parts"],
            json!([{"text": "mock reply to: hello"}])
        );
        assert_eq!(w["candidates"][0]["finishReason"], "STOP");
        assert_eq!(w["usageMetadata"]["promptTokenCount"], 10);
        assert!(w["usageMetadata"].get("cachedContentTokenCount").is_none());

        let ask = shell_request(json!({"role": "user", "parts": [{"text": "Run `echo hi`"}]}));
        let w = Answer::new(&ask, "m", 40, 2).whole();
        assert_eq!(
            w["candidates"][0]["content"]["parts"][0],
            json!({"functionCall": {"name": "run_shell_command", "args": {"command": "echo hi"}},
                "thoughtSignature": "mock-signature-2"})
        );
        let done = shell_request(json!({"role": "user", "parts": [{"functionResponse": {
            "name": "run_shell_command", "response": {"output": "hi\n"}}}]}));
        let w = Answer::new(&done, "m", 40, 3).whole();
        assert_eq!(
            w["candidates"][0]["content"]["parts"][0]["text"],
            "The command printed: hi"
        );
    }

    #[test]
    fn thoughts_cache_and_chunks() {
        let req = json!({"contents": [{"role": "user", "parts": [{"text": "héllo wörld"}]}],
            "cachedContent": "cachedContents/x",
            "generationConfig": {"thinkingConfig": {"includeThoughts": true}}});
        let a = Answer::new(&req, "m", 400, 4);
        let chunks = a.chunks();
        assert_eq!(chunks.len(), 3);
        assert_eq!(
            chunks[0]["candidates"][0]["content"]["parts"][0]["thought"],
            true
        );
        assert!(chunks[1]["candidates"][0].get("finishReason").is_none());
        assert_eq!(chunks[2]["candidates"][0]["finishReason"], "STOP");
        let joined: String = chunks[1..]
            .iter()
            .map(|c| {
                c["candidates"][0]["content"]["parts"][0]["text"]
                    .as_str()
                    .unwrap()
            })
            .collect();
        assert_eq!(joined, "mock reply to: héllo wörld");
        let u = &chunks[2]["usageMetadata"];
        assert_eq!(u["cachedContentTokenCount"], 50);
        assert!(u["thoughtsTokenCount"].as_u64().unwrap() > 0);
        assert!(chunks[0]["usageMetadata"]
            .get("candidatesTokenCount")
            .is_none());
    }
}
