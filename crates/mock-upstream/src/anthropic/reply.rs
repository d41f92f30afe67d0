//! What the Anthropic mock answers, as a `message` JSON or as the real SSE event sequence
//! (`message_start`, `ping`, per block `content_block_start` / deltas / `content_block_stop`,
//! `message_delta`, `message_stop`).

use axum::http::header;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::agent::{self, Reply};
use crate::app::App;
use crate::knobs::ReqKnobs;
use crate::stream::paced;

/// Token counts: 4 request bytes a token, at least 1; with `cache_control` anywhere, half the
/// prompt is "read from the cache" and an eighth "written", so tests see both carried.
struct Tokens {
    input: u64,
    cache_read: u64,
    cache_creation: u64,
}

pub struct Answer {
    id: String,
    model: String,
    thinking: Option<String>,
    reply: Reply,
    tokens: Tokens,
}

fn tokens(bytes: usize) -> u64 {
    (bytes as u64 / 4).max(1)
}

impl Answer {
    /// The answer to a checked request of `body_len` bytes.
    pub fn new(req: &Value, body_len: usize, serial: u64) -> Answer {
        let model = req
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or("claude-mock");
        let messages = req.get("messages").and_then(Value::as_array);
        let thinking = thinking_on(req).then(|| {
            let n = messages.map_or(0, Vec::len);
            format!("The conversation has {n} messages; answering the last one.")
        });
        let reply = match agent::reply(&as_chat(req), serial) {
            Some(Reply::ToolCall {
                name, arguments, ..
            }) => Reply::ToolCall {
                id: format!("toolu_mock_{serial}"),
                name,
                arguments,
            },
            Some(r) => r,
            None => Reply::Text(format!(
                "mock reply to: {}",
                prefix(&last_user_text(req), 200)
            )),
        };
        let total = tokens(body_len);
        let tokens = if has_cache_control(req) {
            let (read, write) = ((total / 2).max(1), total / 8);
            Tokens {
                input: total.saturating_sub(read + write),
                cache_read: read,
                cache_creation: write,
            }
        } else {
            Tokens {
                input: total,
                cache_read: 0,
                cache_creation: 0,
            }
        };
        Answer {
            id: format!("msg_mock_{serial}"),
            model: model.to_string(),
            thinking,
            reply,
            tokens,
        }
    }

    fn stop_reason(&self) -> &'static str {
        match self.reply {
            Reply::ToolCall { .. } => "tool_use",
            Reply::Text(_) => "end_turn",
        }
    }

    fn output_tokens(&self) -> u64 {
        let body = match &self.reply {
            Reply::Text(t) => t.len(),
            Reply::ToolCall { arguments, .. } => arguments.len(),
        };
        tokens(body + self.thinking.as_ref().map_or(0, String::len))
    }

    fn usage(&self, output: u64) -> Value {
        json!({"input_tokens": self.tokens.input, "output_tokens": output,
            "cache_read_input_tokens": self.tokens.cache_read,
            "cache_creation_input_tokens": self.tokens.cache_creation})
    }

    /// The content blocks, whole.
    fn blocks(&self) -> Vec<Value> {
        let mut out = Vec::new();
        if let Some(t) = &self.thinking {
            out.push(json!({"type": "thinking", "thinking": t, "signature": signature(t)}));
        }
        match &self.reply {
            Reply::Text(t) => out.push(json!({"type": "text", "text": t})),
            Reply::ToolCall {
                id,
                name,
                arguments,
            } => {
                let input: Value = serde_json::from_str(arguments).unwrap_or_else(|_| json!({}));
                out.push(json!({"type": "tool_use", "id": id, "name": name, "input": input}));
            }
        }
        out
    }

    pub fn message(&self) -> Value {
        json!({"id": self.id, "type": "message", "role": "assistant", "model": self.model,
            "content": self.blocks(), "stop_reason": self.stop_reason(), "stop_sequence": null,
            "usage": self.usage(self.output_tokens())})
    }

    pub fn stream(&self, app: &App, knobs: &ReqKnobs) -> Response {
        let mut pieces = Vec::new();
        let start = json!({"id": self.id, "type": "message", "role": "assistant",
            "model": self.model, "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": self.usage(1)});
        pieces.push(event(
            "message_start",
            json!({"type": "message_start", "message": start}),
        ));
        pieces.push(event("ping", json!({"type": "ping"})));
        for (index, block) in self.blocks().iter().enumerate() {
            block_events(index, block, &mut pieces);
        }
        pieces.push(event(
            "message_delta",
            json!({"type": "message_delta",
                "delta": {"stop_reason": self.stop_reason(), "stop_sequence": null},
                "usage": {"output_tokens": self.output_tokens()}}),
        ));
        pieces.push(event("message_stop", json!({"type": "message_stop"})));
        (
            [
                (header::CONTENT_TYPE, "text/event-stream"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            paced(
                pieces,
                knobs.interval,
                knobs.cut_after,
                app.stats.streams.clone(),
            ),
        )
            .into_response()
    }
}

/// One block as `content_block_start`, its deltas (in two pieces) and `content_block_stop`.
fn block_events(index: usize, block: &Value, out: &mut Vec<Bytes>) {
    let kind = block["type"].as_str().unwrap_or("");
    let (start, field, delta_type, body) = match kind {
        "thinking" => (
            json!({"type": "thinking", "thinking": "", "signature": ""}),
            "thinking",
            "thinking_delta",
            block["thinking"].as_str().unwrap_or("").to_string(),
        ),
        "tool_use" => (
            json!({"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}),
            "partial_json",
            "input_json_delta",
            block["input"].to_string(),
        ),
        _ => (
            json!({"type": "text", "text": ""}),
            "text",
            "text_delta",
            block["text"].as_str().unwrap_or("").to_string(),
        ),
    };
    out.push(event(
        "content_block_start",
        json!({"type": "content_block_start", "index": index, "content_block": start}),
    ));
    for part in halves(&body) {
        let mut d = serde_json::Map::new();
        d.insert("type".into(), json!(delta_type));
        d.insert(field.into(), json!(part));
        out.push(delta(index, Value::Object(d)));
    }
    if kind == "thinking" {
        out.push(delta(
            index,
            json!({"type": "signature_delta", "signature": block["signature"]}),
        ));
    }
    out.push(event(
        "content_block_stop",
        json!({"type": "content_block_stop", "index": index}),
    ));
}

fn delta(index: usize, d: Value) -> Bytes {
    event(
        "content_block_delta",
        json!({"type": "content_block_delta", "index": index, "delta": d}),
    )
}

fn event(name: &str, data: Value) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}

/// A deterministic signature, so a test can tell the mock's thinking blocks came back intact.
pub fn signature(thinking: &str) -> String {
    let digest = hex::encode(Sha256::digest(thinking.as_bytes()));
    format!("mocksig_{}", &digest[..16])
}

fn thinking_on(req: &Value) -> bool {
    matches!(
        req.pointer("/thinking/type").and_then(Value::as_str),
        Some("enabled" | "adaptive")
    )
}

/// The request as the agent logic reads it: function tools, and the last turn as a `user`
/// message (its text) or a `tool` message (the text of its first `tool_result`).
fn as_chat(req: &Value) -> Value {
    let tools: Vec<Value> = list(req, "tools")
        .iter()
        .filter_map(|t| {
            let name = t.get("name")?.as_str()?;
            let params = t.get("input_schema").cloned().unwrap_or_else(|| json!({}));
            Some(json!({"type": "function", "function": {"name": name, "parameters": params}}))
        })
        .collect();
    // Mid-conversation `system` messages are context, not a turn to answer.
    let turns = list(req, "messages");
    let Some(last) = turns
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) != Some("system"))
    else {
        return json!({"tools": tools, "messages": []});
    };
    let result = content(last)
        .iter()
        .find(|b| b.get("type").and_then(Value::as_str) == Some("tool_result"))
        .map(|b| block_text(b.get("content")));
    let msg = match (last.get("role").and_then(Value::as_str), result) {
        (Some("user"), Some(r)) => json!({"role": "tool", "content": r}),
        // The user's own words are the turn's last text block (Claude Code puts its
        // `<system-reminder>` context blocks, which may quote commands, before them).
        (Some("user"), None) => {
            json!({"role": "user", "content": last_text_block(last.get("content"))})
        }
        _ => json!({"role": "assistant", "content": ""}),
    };
    json!({"tools": tools, "messages": [msg]})
}

fn list<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn content(m: &Value) -> &[Value] {
    list(m, "content")
}

/// A string content, or its text blocks joined by newlines.
fn block_text(c: Option<&Value>) -> String {
    match c {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(blocks)) => blocks
            .iter()
            .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

fn last_text_block(c: Option<&Value>) -> String {
    match c {
        Some(Value::Array(blocks)) => blocks
            .iter()
            .rev()
            .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
            .find_map(|b| b.get("text").and_then(Value::as_str))
            .unwrap_or_default()
            .to_string(),
        other => block_text(other),
    }
}

fn last_user_text(req: &Value) -> String {
    list(req, "messages")
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .map(|m| block_text(m.get("content")))
        .unwrap_or_default()
}

/// `cache_control` on a system block, a tool, or any message block (results' blocks too).
fn has_cache_control(req: &Value) -> bool {
    fn marked(blocks: &[Value]) -> bool {
        blocks
            .iter()
            .any(|b| b.get("cache_control").is_some() || marked(content(b)))
    }
    marked(list(req, "system"))
        || marked(list(req, "tools"))
        || list(req, "messages").iter().any(|m| marked(content(m)))
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
