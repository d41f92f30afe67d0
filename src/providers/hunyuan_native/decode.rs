//! A native answer → a chat completion (non-streaming), and the reading of native answers that
//! the stream decoder shares.
//!
//! `{"Response": {"RequestId", "Id", "Created", "Choices": [{"Index", "FinishReason",
//! "Message": {"Role", "Content", "ReasoningContent", "ToolCalls"}}], "Usage": {"PromptTokens",
//! "CompletionTokens", "TotalTokens", "PromptTokensDetails": {"CachedTokens"}}}}` becomes
//! `{"id": Id, "object": "chat.completion", "created", "model", "choices": [{"index",
//! "message": {"role", "content", "reasoning_content", "tool_calls"}, "finish_reason"}],
//! "usage"}`. `FinishReason`: `sensitive` (moderation stopped the answer) → `content_filter`,
//! `""` → `null`, others (`stop`, `tool_calls`, `length`) as they are. Search results, notes
//! and recommended questions have no chat form and are left out.
//!
//! A body that is not an answer (bad JSON, Tencent's `Error`, a stream's `ErrorMsg`, no
//! choices) becomes an OpenAI error body: by then the gateway has sent the upstream's 2xx
//! status, so only the body can tell (the proxy maps a 200 error body first, with
//! [`super::error_in_body`], where it can still set the status).

use serde_json::{json, Map, Value};

use super::errors::{native_error, openai_error};
use crate::core::usage::Usage;
use crate::providers::buffered::{server_error, Decoded};

/// A whole (non-streamed) native answer as a chat completion, or the OpenAI error body.
pub(super) fn decode_body(model: &str, body: &[u8]) -> Decoded {
    let v = serde_json::from_slice::<Value>(body)
        .map_err(|e| server_error(&format!("upstream returned an invalid Hunyuan answer: {e}")))?;
    let r = v.get("Response").unwrap_or(&v);
    if let Some(err) = error_of(r) {
        return Err(err);
    }
    let choices = r
        .get("Choices")
        .and_then(Value::as_array)
        .filter(|c| !c.is_empty())
        .ok_or_else(|| server_error("upstream returned a Hunyuan answer without choices"))?;
    let choices: Vec<Value> = choices
        .iter()
        .enumerate()
        .map(|(pos, c)| choice(pos, c))
        .collect();
    let id = answer_id(r).unwrap_or_else(random_id);
    let mut out = json!({"id": id, "object": "chat.completion",
        "created": created(r), "model": model, "choices": choices});
    let usage = usage_of(r);
    if let Some(u) = usage {
        out["usage"] = u.to_chat_json();
    }
    Ok((out, usage))
}

fn choice(pos: usize, c: &Value) -> Value {
    let m = c.get("Message").unwrap_or(&Value::Null);
    let calls: Vec<Value> = m
        .get("ToolCalls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|tc| {
            let f = tc.get("Function");
            json!({"id": str_at(tc, "Id"), "type": "function", "function": {
                "name": f.map_or("", |f| str_at(f, "Name")),
                "arguments": f.map_or("", |f| str_at(f, "Arguments"))}})
        })
        .collect();
    let text = str_at(m, "Content");
    let mut message = Map::new();
    message.insert("role".into(), json!("assistant"));
    let content = if text.is_empty() && !calls.is_empty() {
        Value::Null
    } else {
        json!(text)
    };
    message.insert("content".into(), content);
    let reasoning = str_at(m, "ReasoningContent");
    if !reasoning.is_empty() {
        message.insert("reasoning_content".into(), json!(reasoning));
    }
    if !calls.is_empty() {
        message.insert("tool_calls".into(), Value::Array(calls));
    }
    json!({"index": index_of(c, pos), "message": message, "logprobs": null,
        "finish_reason": finish_reason(c.get("FinishReason"))})
}

/// A string member, `""` when absent or not a string.
pub(super) fn str_at<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// A choice's `Index`, else its position.
pub(super) fn index_of(c: &Value, pos: usize) -> u64 {
    c.get("Index").and_then(Value::as_u64).unwrap_or(pos as u64)
}

/// The native `FinishReason` → chat's `finish_reason` (`null` for none yet).
pub(super) fn finish_reason(reason: Option<&Value>) -> Value {
    match reason.and_then(Value::as_str).unwrap_or("") {
        "" => Value::Null,
        "sensitive" => json!("content_filter"),
        other => json!(other),
    }
}

/// The error a 2xx answer or stream event carries: Tencent's `Error`, or the `ErrorMsg`
/// (`{"Msg", "Code"}`) a stream sends when the service fails mid-answer.
pub(super) fn error_of(r: &Value) -> Option<Value> {
    if let Some((_, err)) = native_error(r) {
        return Some(err);
    }
    let em = r.get("ErrorMsg").filter(|e| e.is_object())?;
    let msg = em
        .get("Msg")
        .and_then(Value::as_str)
        .filter(|m| !m.trim().is_empty())
        .unwrap_or("Hunyuan failed while answering");
    let code = em.get("Code").cloned().unwrap_or(Value::Null);
    Some(openai_error(msg, "server_error", code))
}

/// `Usage` → the counts (`CachedTokens` is typed as a string in Tencent's SDK: both read).
pub(super) fn usage_of(r: &Value) -> Option<Usage> {
    let u = r.get("Usage").filter(|u| u.is_object())?;
    let n = |v: Option<&Value>| match v {
        Some(Value::String(s)) => s.trim().parse().unwrap_or(0),
        Some(v) => v.as_u64().unwrap_or(0),
        None => 0,
    };
    Some(Usage {
        prompt: n(u.get("PromptTokens")),
        completion: n(u.get("CompletionTokens")),
        cached: n(u.pointer("/PromptTokensDetails/CachedTokens")),
        cache_write: 0,
        reasoning: 0,
    })
}

/// The answer's `Id` (Tencent's request id), else its `RequestId`.
pub(super) fn answer_id(r: &Value) -> Option<String> {
    ["Id", "RequestId"]
        .into_iter()
        .map(|k| str_at(r, k))
        .find(|id| !id.is_empty())
        .map(str::to_owned)
}

pub(super) fn random_id() -> String {
    format!("chatcmpl-{:016x}", rand::random::<u64>())
}

/// `Created`, else now.
pub(super) fn created(r: &Value) -> u64 {
    r.get("Created")
        .and_then(Value::as_u64)
        .unwrap_or_else(now_secs)
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
