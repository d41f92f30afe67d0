//! Anthropic errors (`{"type":"error","error":{"type","message"}}`) → OpenAI's error shape
//! (`{"error":{"message","type","param","code"}}`), so OpenAI SDKs pick their usual exception
//! classes. The Anthropic `error.type` is kept as `code`.

use crate::core::text::{plain_text, truncate};
use serde_json::{json, Value};

/// An Anthropic error answer → (status, OpenAI-shaped body).
///
/// 529 (Anthropic's "overloaded") becomes 503, the status OpenAI clients and the gateway's
/// retry policy know; other statuses stay. The message is the upstream's `error.message`,
/// else a top-level `message`, else the body text (cut to 2000 bytes), else a generic one.
pub fn error_to_chat(status: u16, body: &[u8]) -> (u16, Vec<u8>) {
    let parsed = serde_json::from_slice::<Value>(body).ok();
    let kind = parsed
        .as_ref()
        .and_then(|v| v.pointer("/error/type"))
        .and_then(Value::as_str);
    let message = parsed
        .as_ref()
        .and_then(message_of)
        .or_else(|| plain_text(body, false))
        .unwrap_or_else(|| format!("upstream returned HTTP {status}"));
    let out = if status == 529 { 503 } else { status };
    let body = openai_error(&truncate(&message), openai_type(kind, Some(status)), kind);
    (out, body.to_string().into_bytes())
}

/// `{"error":{"message","type","param":null,"code"}}`.
pub(super) fn openai_error(message: &str, kind: &str, code: Option<&str>) -> Value {
    json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
}

/// OpenAI's `error.type` for an Anthropic error type, else for the HTTP status.
pub(super) fn openai_type(anthropic: Option<&str>, status: Option<u16>) -> &'static str {
    match anthropic {
        Some("invalid_request_error" | "not_found_error" | "request_too_large") => {
            return "invalid_request_error"
        }
        Some("authentication_error") => return "authentication_error",
        Some("permission_error") => return "permission_error",
        Some("rate_limit_error") => return "rate_limit_error",
        Some("billing_error") => return "insufficient_quota",
        Some("api_error" | "overloaded_error" | "timeout_error") => return "server_error",
        _ => {}
    }
    match status {
        Some(401) => "authentication_error",
        Some(403) => "permission_error",
        Some(429) => "rate_limit_error",
        Some(400..=499) => "invalid_request_error",
        _ => "server_error",
    }
}

/// `error.message`, a string `error`, or a top-level `message` (non-blank).
pub(super) fn message_of(v: &Value) -> Option<String> {
    [
        v.pointer("/error/message"),
        v.get("error").filter(|e| e.is_string()),
        v.get("message"),
    ]
    .into_iter()
    .flatten()
    .filter_map(Value::as_str)
    .find(|m| !m.trim().is_empty())
    .map(str::to_owned)
}
