//! Anthropic's error shape: `{"type":"error","error":{"type":…,"message":…}}`.
//!
//! The SDKs pick their exception class from the HTTP status and show `error.message`; Claude
//! Code retries on 429/529/5xx. Upstream errors arrive OpenAI-shaped (or as anything at all),
//! so they are re-wrapped here, keeping the upstream's message for the user.

use crate::core::text::truncate;
use serde_json::{json, Value};

/// Anthropic's `error.type` for an HTTP status.
pub fn error_type(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        // 400 and the other client errors (422 …).
        400..=499 => "invalid_request_error",
        _ => "api_error",
    }
}

/// The body of an Anthropic error response with `status`.
pub fn error_body(status: u16, message: &str) -> Vec<u8> {
    error_json(error_type(status), message)
        .to_string()
        .into_bytes()
}

/// `{"type":"error","error":{"type":…,"message":…}}` (also the data of an SSE `error` event).
pub(crate) fn error_json(kind: &str, message: &str) -> Value {
    json!({"type": "error", "error": {"type": kind, "message": message}})
}

/// An upstream non-2xx answer → (status, body) for the client.
///
/// 503 becomes 529 `overloaded_error`, the status Anthropic uses (and Claude Code backs off
/// on); other statuses stay. The message is the upstream's `error.message` (OpenAI shape),
/// `error` when it is a string, a top-level `message`, else the body text itself.
pub fn translate_error(status: u16, upstream_body: &[u8]) -> (u16, Vec<u8>) {
    let status = if status == 503 { 529 } else { status };
    let message = upstream_message(upstream_body)
        .unwrap_or_else(|| format!("upstream returned HTTP {status}"));
    (status, error_body(status, &truncate(&message)))
}

pub(crate) fn upstream_message(body: &[u8]) -> Option<String> {
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        let found = [
            v.pointer("/error/message"),
            v.get("error").filter(|e| e.is_string()),
            v.get("message"),
            v.get("msg"),
        ]
        .into_iter()
        .flatten()
        .find_map(Value::as_str);
        if let Some(m) = found.filter(|m| !m.trim().is_empty()) {
            return Some(m.to_string());
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::text::MAX_MESSAGE;

    fn parse(b: &[u8]) -> Value {
        serde_json::from_slice(b).unwrap()
    }

    #[test]
    fn every_status_has_its_type() {
        let cases = [
            (400, "invalid_request_error"),
            (401, "authentication_error"),
            (403, "permission_error"),
            (404, "not_found_error"),
            (413, "request_too_large"),
            (422, "invalid_request_error"),
            (429, "rate_limit_error"),
            (500, "api_error"),
            (502, "api_error"),
            (504, "api_error"),
            (503, "overloaded_error"),
            (529, "overloaded_error"),
        ];
        for (status, kind) in cases {
            assert_eq!(error_type(status), kind, "{status}");
            let v = parse(&error_body(status, "m"));
            assert_eq!(v["type"], "error");
            assert_eq!(v["error"]["type"], kind);
            assert_eq!(v["error"]["message"], "m");
        }
    }

    #[test]
    fn openai_error_keeps_message() {
        let (s, b) = translate_error(
            429,
            br#"{"error":{"message":"slow down","type":"rate_limit","code":null}}"#,
        );
        assert_eq!(s, 429);
        let v = parse(&b);
        assert_eq!(v["error"]["type"], "rate_limit_error");
        assert_eq!(v["error"]["message"], "slow down");
    }

    #[test]
    fn overloaded_becomes_529() {
        let (s, b) = translate_error(503, b"Service Unavailable");
        assert_eq!(s, 529);
        let v = parse(&b);
        assert_eq!(v["error"]["type"], "overloaded_error");
        assert_eq!(v["error"]["message"], "Service Unavailable");
    }

    #[test]
    fn odd_bodies() {
        let v = parse(&translate_error(500, b"").1);
        assert_eq!(v["error"]["message"], "upstream returned HTTP 500");
        let v = parse(&translate_error(400, br#"{"error":"bad thing"}"#).1);
        assert_eq!(v["error"]["message"], "bad thing");
        let v = parse(&translate_error(401, br#"{"message":"no key"}"#).1);
        assert_eq!(v["error"]["type"], "authentication_error");
        assert_eq!(v["error"]["message"], "no key");
        let long = "é".repeat(3000);
        let v = parse(&translate_error(502, long.as_bytes()).1);
        assert!(v["error"]["message"].as_str().unwrap().len() <= MAX_MESSAGE + 3);
    }
}
