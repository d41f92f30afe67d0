//! A Gemini answer → a chat completion (non-streaming), and the reading of Gemini responses
//! that the stream decoder shares.
//!
//! * `candidates[i].content.parts`: text → `content`; `thought: true` text →
//!   `reasoning_content`; `functionCall` → a tool call (`arguments` = `args` as JSON text).
//!   Other parts (executable code, generated images) have no chat form and are left out.
//! * `finishReason`: STOP → `stop` (`tool_calls` when the candidate called a function),
//!   MAX_TOKENS → `length`, SAFETY, RECITATION, BLOCKLIST, PROHIBITED_CONTENT, SPII and the
//!   IMAGE_ variants → `content_filter`, anything else → `stop` (`tool_calls` with calls).
//! * `promptFeedback.blockReason` with no candidates → one `content_filter` choice with empty
//!   content.
//! * `usageMetadata` → `usage`: prompt = `promptTokenCount`, completion =
//!   `candidatesTokenCount + thoughtsTokenCount` (thoughts are billed as output), cached =
//!   `cachedContentTokenCount`, reasoning = `thoughtsTokenCount`.
//! * Every candidate becomes a choice (`n` → `candidateCount`).
//!
//! The body is buffered and translated in `finish`. A JSON array (`streamGenerateContent`
//! without `alt=sse`) or an SSE body is folded into one completion. A body that is not a
//! Gemini answer (bad JSON, an `error` object, no candidates) becomes an OpenAI error body:
//! by then the gateway has sent the upstream's 2xx status, so only the body can tell.

use serde_json::{json, Map, Value};

use crate::core::sse::{data_of, event_end};
use crate::core::usage::Usage;

/// What one candidate of one response said.
#[derive(Default)]
pub(super) struct Said {
    pub text: String,
    pub reasoning: String,
    /// Chat tool calls (`id`, `type`, `function`), without `index`.
    pub calls: Vec<Value>,
}

/// The ids of one answer: the completion's, and the tool calls' when Gemini sends none.
pub(super) struct Ids {
    base: String,
    next_call: usize,
}

impl Ids {
    /// From Gemini's `responseId` (characters other than `[A-Za-z0-9_-]` dropped), else random.
    pub fn new(response_id: Option<&str>) -> Ids {
        let clean: String = response_id
            .unwrap_or("")
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
            .take(64)
            .collect();
        let base = if clean.is_empty() {
            format!("{:016x}", rand::random::<u64>())
        } else {
            clean
        };
        Ids { base, next_call: 0 }
    }

    pub fn completion_id(&self) -> String {
        format!("chatcmpl-{}", self.base)
    }

    fn call_id(&mut self) -> String {
        let n = self.next_call;
        self.next_call += 1;
        format!("call_{}_{n}", self.base)
    }
}

/// A response's candidates with their choice index.
pub(super) fn candidates(r: &Value) -> impl Iterator<Item = (u64, &Value)> {
    let list = r.get("candidates").and_then(Value::as_array);
    list.into_iter().flatten().enumerate().map(|(pos, c)| {
        let index = c.get("index").and_then(Value::as_u64).unwrap_or(pos as u64);
        (index, c)
    })
}

/// The parts of one candidate.
pub(super) fn read_parts(cand: &Value, ids: &mut Ids) -> Said {
    let mut said = Said::default();
    let parts = cand.pointer("/content/parts").and_then(Value::as_array);
    for p in parts.into_iter().flatten() {
        if let Some(fc) = p.get("functionCall") {
            said.calls
                .push(tool_call(fc, p.get("thoughtSignature"), ids));
        } else if let Some(t) = p.get("text").and_then(Value::as_str) {
            if p.get("thought").and_then(Value::as_bool) == Some(true) {
                said.reasoning.push_str(t);
            } else {
                said.text.push_str(t);
            }
        }
    }
    said
}

fn tool_call(fc: &Value, signature: Option<&Value>, ids: &mut Ids) -> Value {
    let id = match fc.get("id").and_then(Value::as_str) {
        Some(id) if !id.is_empty() => id.to_string(),
        _ => ids.call_id(),
    };
    let name = fc.get("name").and_then(Value::as_str).unwrap_or("");
    let arguments = match fc.get("args") {
        Some(a) if a.is_object() => a.to_string(),
        _ => "{}".to_string(),
    };
    let mut call = json!({"id": id, "type": "function",
        "function": {"name": name, "arguments": arguments}});
    if let Some(s) = signature.and_then(Value::as_str) {
        call["extra_content"] = json!({"google": {"thought_signature": s}});
    }
    call
}

/// Gemini's `finishReason` → chat's `finish_reason`.
pub(super) fn finish_reason(reason: &str, called: bool) -> &'static str {
    match reason {
        "MAX_TOKENS" => "length",
        "SAFETY"
        | "RECITATION"
        | "BLOCKLIST"
        | "PROHIBITED_CONTENT"
        | "SPII"
        | "IMAGE_SAFETY"
        | "IMAGE_PROHIBITED_CONTENT"
        | "IMAGE_RECITATION" => "content_filter",
        _ if called => "tool_calls",
        _ => "stop",
    }
}

/// `promptFeedback.blockReason` set, and no candidates: the prompt itself was refused.
pub(super) fn blocked(r: &Value) -> bool {
    let reason = r
        .pointer("/promptFeedback/blockReason")
        .and_then(Value::as_str);
    reason.is_some_and(|s| !s.is_empty()) && candidates(r).next().is_none()
}

/// The message of an `error` object in a 2xx body.
pub(super) fn error_message(r: &Value) -> Option<String> {
    let err = r.get("error").filter(|e| !e.is_null())?;
    let msg = err.get("message").and_then(Value::as_str);
    Some(msg.map_or_else(|| err.to_string(), str::to_owned))
}

/// `usageMetadata` → (chat `usage` object, counts).
pub(super) fn usage_of(r: &Value) -> Option<(Value, Usage)> {
    let m = r.get("usageMetadata").and_then(Value::as_object)?;
    let n = |k: &str| m.get(k).and_then(Value::as_u64).unwrap_or(0);
    let thoughts = n("thoughtsTokenCount");
    let u = Usage {
        prompt: n("promptTokenCount"),
        completion: n("candidatesTokenCount") + thoughts,
        cached: n("cachedContentTokenCount"),
        cache_write: 0,
        reasoning: thoughts,
    };
    let v = json!({
        "prompt_tokens": u.prompt,
        "completion_tokens": u.completion,
        "total_tokens": u.prompt + u.completion,
        "prompt_tokens_details": {"cached_tokens": u.cached},
        "completion_tokens_details": {"reasoning_tokens": u.reasoning},
    });
    Some((v, u))
}

/// `{"error": {...}}` as the gateway's OpenAI-shaped error body (and SSE error event).
pub(super) fn error_json(message: &str) -> Value {
    json!({"error": {"message": message, "type": "server_error", "param": null, "code": null}})
}

pub(super) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A whole (non-streamed) Gemini answer as a chat completion, or the OpenAI error body.
pub(super) fn decode_body(model: &str, body: &[u8]) -> crate::providers::buffered::Decoded {
    responses(body)
        .and_then(|r| completion(&r, model))
        .map_err(|msg| error_json(&msg))
}

/// The Gemini responses in a body: one JSON object, a JSON array of them, or SSE events.
fn responses(body: &[u8]) -> Result<Vec<Value>, String> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Array(list)) => Ok(list),
        Ok(v @ Value::Object(_)) => Ok(vec![v]),
        Ok(_) => Err("upstream returned an invalid Gemini answer: not an object".into()),
        Err(_) if body.trim_ascii_start().starts_with(b"data:") => Ok(sse_events(body)),
        Err(e) => Err(format!("upstream returned an invalid Gemini answer: {e}")),
    }
}

/// The JSON `data:` payloads of an SSE body (malformed events skipped).
fn sse_events(body: &[u8]) -> Vec<Value> {
    let mut out = Vec::new();
    let mut rest = body;
    loop {
        let (event, next) = match event_end(rest) {
            Some((end, sep)) => (&rest[..end], &rest[end + sep..]),
            None => (rest, &rest[rest.len()..]),
        };
        if let Some(v) = data_of(event).and_then(|d| serde_json::from_slice(&d).ok()) {
            out.push(v);
        }
        if next.is_empty() {
            return out;
        }
        rest = next;
    }
}

/// One choice being folded.
struct Fold {
    index: u64,
    said: Said,
    reason: Option<String>,
}

/// Folds the responses into one chat completion (and its usage).
fn completion(responses: &[Value], model: &str) -> Result<(Value, Option<Usage>), String> {
    let first_id = responses
        .iter()
        .find_map(|r| r.get("responseId").and_then(Value::as_str));
    let mut ids = Ids::new(first_id);
    let mut folds: Vec<Fold> = Vec::new();
    let (mut usage, mut is_blocked) = (None, false);
    for r in responses {
        if let Some(m) = error_message(r) {
            return Err(m);
        }
        for (index, cand) in candidates(r) {
            let said = read_parts(cand, &mut ids);
            let pos = match folds.iter().position(|f| f.index == index) {
                Some(p) => p,
                None => {
                    folds.push(Fold {
                        index,
                        said: Said::default(),
                        reason: None,
                    });
                    folds.len() - 1
                }
            };
            let f = &mut folds[pos];
            f.said.text.push_str(&said.text);
            f.said.reasoning.push_str(&said.reasoning);
            f.said.calls.extend(said.calls);
            if let Some(reason) = cand.get("finishReason").and_then(Value::as_str) {
                f.reason = Some(reason.to_string());
            }
        }
        is_blocked |= blocked(r);
        usage = usage_of(r).or(usage);
    }
    if folds.is_empty() && !is_blocked {
        return Err("upstream returned a Gemini answer without candidates".into());
    }
    if folds.is_empty() {
        // The prompt was blocked: a SAFETY stand-in maps to `content_filter`.
        folds.push(Fold {
            index: 0,
            said: Said::default(),
            reason: Some("SAFETY".into()),
        });
    }
    folds.sort_by_key(|f| f.index);
    let choices: Vec<Value> = folds.into_iter().map(choice).collect();
    let model = model_name(model, responses.first());
    let mut v = json!({"id": ids.completion_id(), "object": "chat.completion",
        "created": now_secs(), "model": model, "choices": choices});
    let counts = usage.map(|(json, counts)| {
        v["usage"] = json;
        counts
    });
    Ok((v, counts))
}

fn choice(f: Fold) -> Value {
    let called = !f.said.calls.is_empty();
    let mut message = Map::new();
    message.insert("role".into(), json!("assistant"));
    let content = if f.said.text.is_empty() && called {
        Value::Null
    } else {
        Value::String(f.said.text)
    };
    message.insert("content".into(), content);
    if !f.said.reasoning.is_empty() {
        message.insert("reasoning_content".into(), json!(f.said.reasoning));
    }
    if called {
        message.insert("tool_calls".into(), Value::Array(f.said.calls));
    }
    let finish = finish_reason(f.reason.as_deref().unwrap_or("STOP"), called);
    json!({"index": f.index, "message": message, "logprobs": null, "finish_reason": finish})
}

/// The model to report: the gateway's name for it, else Gemini's `modelVersion`.
pub(super) fn model_name(model: &str, first: Option<&Value>) -> String {
    if !model.is_empty() {
        return model.to_string();
    }
    first
        .and_then(|r| r.get("modelVersion"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}
