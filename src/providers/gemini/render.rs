//! The chat request → Gemini's `GenerateContentRequest`: path and `contents`.
//!
//! * `system` / `developer` messages → `systemInstruction.parts` (Gemini has one system
//!   instruction, so system messages anywhere in the history are gathered there, in order).
//!   A request of nothing but system messages sends that text as the one user turn instead,
//!   as Gemini requires `contents`.
//! * `user` → a `user` turn, `assistant` → a `model` turn, `tool` (and legacy `function`)
//!   messages → `functionResponse` parts of a `user` turn. Consecutive turns of one role are
//!   merged into one, and a message with nothing to send (empty content, no tool calls) is
//!   skipped, so roles always alternate and no turn has empty `parts` (Gemini rejects both).
//! * An assistant's `reasoning_content` is not sent: Gemini cannot take back thoughts without
//!   their signatures, and does not need them.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use super::config;
use super::parts::{content_parts, function_call, text_of, Allowed};
use crate::core::translate::TranslateError;

/// OpenAI chat request body (validated; `model` already the upstream's model) → (path below the
/// pool's base URL, Gemini request body). Path: `/models/{model}:generateContent`, or
/// `/models/{model}:streamGenerateContent?alt=sse` when `stream` is true. The model is
/// percent-encoded as a path segment (a client can never inject `/` or `?`); a leading
/// `models/` (Google's resource name form) is dropped first.
pub fn render(chat: &Value) -> Result<(String, Value), TranslateError> {
    let obj = chat.as_object().ok_or_else(|| TranslateError {
        message: "the request body must be a JSON object".into(),
        param: None,
    })?;
    let model = obj
        .get("model")
        .and_then(Value::as_str)
        .map(|m| m.strip_prefix("models/").unwrap_or(m))
        .filter(|m| !m.is_empty())
        .ok_or_else(|| TranslateError::new("`model` is required", "model"))?;
    let stream = obj.get("stream").and_then(Value::as_bool) == Some(true);
    let messages = match obj.get("messages") {
        Some(Value::Array(m)) => m.as_slice(),
        _ => {
            return Err(TranslateError::new(
                "`messages` must be an array",
                "messages",
            ))
        }
    };
    let Conversation { turns, system } = Conversation::of(messages)?;
    let mut body = Map::new();
    match (turns.is_empty(), system.is_empty()) {
        (true, true) => {
            return Err(TranslateError::new(
                "`messages` has nothing to send",
                "messages",
            ))
        }
        (true, false) => {
            body.insert(
                "contents".into(),
                json!([{"role": "user", "parts": system}]),
            );
        }
        (false, _) => {
            let contents: Vec<Value> = turns
                .into_iter()
                .map(|(role, parts)| json!({"role": role, "parts": parts}))
                .collect();
            body.insert("contents".into(), Value::Array(contents));
            if !system.is_empty() {
                body.insert("systemInstruction".into(), json!({"parts": system}));
            }
        }
    }
    config::apply(obj, model, &mut body)?;
    Ok((path(model, stream), Value::Object(body)))
}

/// `/models/{model}:generateContent` or `/models/{model}:streamGenerateContent?alt=sse`.
fn path(model: &str, stream: bool) -> String {
    let method = if stream {
        "streamGenerateContent?alt=sse"
    } else {
        "generateContent"
    };
    format!("/models/{}:{method}", encode_segment(model))
}

/// Percent-encodes everything but RFC 3986's unreserved characters (so `/`, `?`, `#`, `:`
/// and `%` in a model name stay inside the one path segment).
pub(super) fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The history as Gemini turns, and the system instruction's parts.
struct Conversation {
    turns: Vec<(&'static str, Vec<Value>)>,
    system: Vec<Value>,
}

impl Conversation {
    fn of(messages: &[Value]) -> Result<Conversation, TranslateError> {
        let mut c = Conversation {
            turns: Vec::new(),
            system: Vec::new(),
        };
        // Tool-call id → function name, from the assistant turns seen so far.
        let mut calls: HashMap<&str, &str> = HashMap::new();
        for (i, m) in messages.iter().enumerate() {
            let at = format!("messages[{i}]");
            let role = m.get("role").and_then(Value::as_str).ok_or_else(|| {
                TranslateError::new("each message needs a `role`", format!("{at}.role"))
            })?;
            match role {
                "system" | "developer" => {
                    let parts = content_parts(m.get("content"), &at, Allowed::Text)?;
                    c.system.extend(parts);
                }
                "user" => c.push("user", content_parts(m.get("content"), &at, Allowed::All)?),
                "assistant" => c.push("model", assistant_parts(m, &at, &mut calls)?),
                "tool" | "function" => c.push("user", vec![tool_result(m, &at, &calls)?]),
                other => {
                    return Err(TranslateError::new(
                        format!("unknown message role `{other}`"),
                        format!("{at}.role"),
                    ))
                }
            }
        }
        Ok(c)
    }

    /// Appends a turn, merged into the previous one when the role is the same.
    fn push(&mut self, role: &'static str, parts: Vec<Value>) {
        if parts.is_empty() {
            return;
        }
        match self.turns.last_mut() {
            Some((r, p)) if *r == role => p.extend(parts),
            _ => self.turns.push((role, parts)),
        }
    }
}

/// An assistant message: its text, then one `functionCall` part per tool call (the first one
/// carries the thought signature Gemini 3 requires).
fn assistant_parts<'a>(
    m: &'a Value,
    at: &str,
    calls: &mut HashMap<&'a str, &'a str>,
) -> Result<Vec<Value>, TranslateError> {
    let mut parts = content_parts(m.get("content"), at, Allowed::Text)?;
    match m.get("tool_calls") {
        None | Some(Value::Null) => {}
        Some(Value::Array(list)) => {
            for (j, tc) in list.iter().enumerate() {
                let (part, id, name) = function_call(tc, &format!("{at}.tool_calls[{j}]"), j == 0)?;
                if let Some(id) = id {
                    calls.insert(id, name);
                }
                parts.push(part);
            }
        }
        Some(_) => {
            return Err(TranslateError::new(
                "`tool_calls` must be an array",
                format!("{at}.tool_calls"),
            ))
        }
    }
    Ok(parts)
}

/// A tool result → a `functionResponse` part. The function's name comes from the assistant
/// tool call with the same id (the message's own `name` for the legacy `function` role, or
/// when no call matches). The result is a JSON object when the content is one, else
/// `{"result": <text>}` (Gemini's `response` must be an object).
fn tool_result(m: &Value, at: &str, calls: &HashMap<&str, &str>) -> Result<Value, TranslateError> {
    let id = m
        .get("tool_call_id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty());
    let name = id
        .and_then(|id| calls.get(id).copied())
        .or_else(|| m.get("name").and_then(Value::as_str))
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            TranslateError::new(
                "the tool message's `tool_call_id` matches no earlier assistant tool call",
                format!("{at}.tool_call_id"),
            )
        })?;
    let text = text_of(m.get("content"), at)?;
    let response = match text.trim_start().starts_with('{') {
        true => match serde_json::from_str::<Value>(&text) {
            Ok(v @ Value::Object(_)) => v,
            _ => json!({"result": text}),
        },
        false => json!({"result": text}),
    };
    let mut fr = Map::new();
    if let Some(id) = id {
        fr.insert("id".into(), json!(id));
    }
    fr.insert("name".into(), json!(name));
    fr.insert("response".into(), response);
    Ok(json!({"functionResponse": fr}))
}
