//! A non-streamed Messages answer → one chat completion.
//!
//! The body is buffered and translated in `finish`. A `message` JSON is the normal case; an
//! SSE body (an upstream that streamed although asked not to) is folded the same way. Anything
//! else on a 2xx (bad JSON, an `error` object, a stream cut short) becomes an OpenAI error body
//! (`type: server_error`): the 2xx status is already on its way, so only the body can tell.

use super::errors::{message_of, openai_error, openai_type};
use super::events::{finish_reason, message_events, Ev, EventDecoder};
use super::usage::Tokens;
use crate::core::text::truncate;
use crate::providers::buffered::Decoded;
use serde_json::{json, Map, Value};

/// A whole (non-streamed) Messages answer as a chat completion, or the OpenAI error body.
pub(super) fn decode_body(model: &str, body: &[u8]) -> Decoded {
    let answer = events_of(body).and_then(fold)?;
    let usage = answer.tokens.map(|t| t.usage());
    Ok((answer.completion(model), usage))
}

/// The events of a 2xx body, or the OpenAI error body to answer with.
fn events_of(body: &[u8]) -> Result<Vec<Ev>, Value> {
    let start = body.trim_ascii_start();
    if start.starts_with(b"event:") || start.starts_with(b"data:") {
        let mut d = EventDecoder::default();
        let mut evs = Vec::new();
        d.feed(body, &mut evs);
        d.finish(&mut evs);
        return Ok(evs);
    }
    let v = match serde_json::from_slice::<Value>(body) {
        Ok(v) => v,
        Err(e) => return Err(bad(&format!("invalid JSON: {e}"))),
    };
    if v.get("type").and_then(Value::as_str) == Some("error") || v.get("error").is_some() {
        let kind = v.pointer("/error/type").and_then(Value::as_str);
        let message = message_of(&v).unwrap_or_else(|| "upstream error".into());
        return Err(openai_error(
            &truncate(&message),
            openai_type(kind, None),
            kind,
        ));
    }
    if !v.get("content").is_some_and(Value::is_array) {
        return Err(bad("no `content`"));
    }
    Ok(message_events(&v))
}

fn bad(why: &str) -> Value {
    openai_error(
        &format!("upstream returned an invalid Messages answer: {why}"),
        "server_error",
        None,
    )
}

/// A whole answer, gathered from its events.
#[derive(Debug, Default)]
pub(super) struct Answer {
    id: String,
    text: String,
    reasoning: String,
    /// (id, name, arguments)
    calls: Vec<(String, String, String)>,
    signature: Signature,
    stop: Option<String>,
    sequence: Option<String>,
    tokens: Option<Tokens>,
}

/// Folds events into an [`Answer`]; an `error` event or an answer that never said how it
/// stopped is the error body.
fn fold(evs: Vec<Ev>) -> Result<Answer, Value> {
    let mut a = Answer::default();
    let mut ended = false;
    for ev in evs {
        match ev {
            Ev::Start { id } => a.id = id,
            Ev::Text(t) => a.text.push_str(&t),
            Ev::Thinking(t) => a.reasoning.push_str(&t),
            Ev::Signature(s) => a.signature.text.push_str(&s),
            Ev::ThinkingBlock { redacted } => a.signature.block(redacted),
            Ev::ToolStart { id, name, .. } => a.calls.push((id, name, String::new())),
            Ev::ToolArgs { index, delta } => {
                if let Some(c) = a.calls.get_mut(index) {
                    c.2.push_str(&delta);
                }
            }
            Ev::Stop { reason, sequence } => {
                a.stop = reason;
                a.sequence = sequence;
                ended = true;
            }
            Ev::Usage(t) => a.tokens = Some(t),
            Ev::End => ended = true,
            Ev::Error { kind, message } => {
                let kind = (!kind.is_empty()).then_some(kind);
                return Err(openai_error(
                    &message,
                    openai_type(kind.as_deref(), None),
                    kind.as_deref(),
                ));
            }
        }
    }
    if !ended {
        return Err(bad("the stream ended before `message_delta`"));
    }
    Ok(a)
}

impl Answer {
    fn completion(&self, model: &str) -> Value {
        let mut msg = Map::new();
        msg.insert("role".into(), json!("assistant"));
        let content = if self.text.is_empty() && !self.calls.is_empty() {
            Value::Null
        } else {
            Value::String(self.text.clone())
        };
        msg.insert("content".into(), content);
        if !self.reasoning.is_empty() {
            msg.insert("reasoning_content".into(), json!(self.reasoning));
        }
        if let Some(s) = self.signature.kept() {
            msg.insert("reasoning_signature".into(), json!(s));
        }
        if !self.calls.is_empty() {
            let calls: Vec<Value> = self
                .calls
                .iter()
                .map(|(id, name, args)| {
                    let args = if args.is_empty() { "{}" } else { args };
                    json!({"id": id, "type": "function",
                        "function": {"name": name, "arguments": args}})
                })
                .collect();
            msg.insert("tool_calls".into(), Value::Array(calls));
        }
        let finish = finish_reason(self.stop.as_deref(), !self.calls.is_empty());
        let mut choice = json!({"index": 0, "message": msg, "finish_reason": finish,
            "logprobs": null});
        if let Some(seq) = &self.sequence {
            choice["stop_reason"] = json!(seq);
        }
        let mut out = json!({"id": self.id, "object": "chat.completion",
            "created": now_secs(), "model": model, "choices": [choice]});
        if let Some(t) = &self.tokens {
            out["usage"] = t.chat_json();
        }
        out
    }
}

/// The thinking signature an answer can give back: kept only when the answer had exactly one
/// thinking block and no redacted one (a signature verifies its own block's text only, so the
/// joined `reasoning_content` of several blocks could not be replayed with it).
#[derive(Debug, Default)]
pub(super) struct Signature {
    pub text: String,
    blocks: usize,
    redacted: bool,
}

impl Signature {
    pub fn block(&mut self, redacted: bool) {
        self.blocks += 1;
        self.redacted |= redacted;
    }

    pub fn kept(&self) -> Option<&str> {
        (self.blocks == 1 && !self.redacted && !self.text.is_empty()).then_some(&self.text)
    }
}

/// Unix seconds, for `created`.
pub(super) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
