//! Google's error shape → OpenAI's.
//!
//! Gemini answers errors as `{"error": {"code": 400, "message": "...", "status":
//! "INVALID_ARGUMENT", "details": [...]}}` (a JSON array of one such object on
//! `streamGenerateContent` without `alt=sse`). The client gets OpenAI's shape,
//! `{"error": {"message", "type", "param": null, "code"}}`, with Google's message, the `type`
//! the OpenAI SDKs expect for the status, and Google's `status` as `code` (it names the cause:
//! `RESOURCE_EXHAUSTED`, `PERMISSION_DENIED`, ...). The HTTP status is kept: Google's statuses
//! already mean what OpenAI's do (400, 401, 403, 404, 429, 500, 503, 504).

use crate::core::text::{plain_text, truncate};
use serde_json::{json, Value};

/// A Gemini error answer `{"error":{"code","message","status"}}` → (status, OpenAI-shaped
/// error body).
pub fn error_to_chat(status: u16, body: &[u8]) -> (u16, Vec<u8>) {
    let parsed = serde_json::from_slice::<Value>(body).ok();
    let err = parsed.as_ref().and_then(|v| match v {
        Value::Array(list) => list.first().and_then(|e| e.get("error")),
        _ => v.get("error"),
    });
    let message = err
        .and_then(|e| e.get("message").or(Some(e)))
        .and_then(Value::as_str)
        .filter(|m| !m.trim().is_empty())
        .map(str::to_owned)
        .or_else(|| plain_text(body, parsed.is_some()))
        .unwrap_or_else(|| format!("upstream returned HTTP {status}"));
    let code = err
        .and_then(|e| e.get("status"))
        .and_then(Value::as_str)
        .map_or(Value::Null, |s| json!(s));
    let body = json!({"error": {
        "message": truncate(&message),
        "type": error_type(status),
        "param": null,
        "code": code,
    }});
    (status, body.to_string().into_bytes())
}

/// OpenAI's `error.type` for an HTTP status.
fn error_type(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        403 => "permission_error",
        429 => "rate_limit_error",
        400..=499 => "invalid_request_error",
        _ => "server_error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::text::MAX_MESSAGE;

    fn run(status: u16, body: &[u8]) -> (u16, Value) {
        let (s, b) = error_to_chat(status, body);
        (s, serde_json::from_slice(&b).unwrap())
    }

    #[test]
    fn google_errors_keep_status_message_and_cause() {
        let cases = [
            (400, "INVALID_ARGUMENT", "invalid_request_error"),
            (401, "UNAUTHENTICATED", "authentication_error"),
            (403, "PERMISSION_DENIED", "permission_error"),
            (404, "NOT_FOUND", "invalid_request_error"),
            (429, "RESOURCE_EXHAUSTED", "rate_limit_error"),
            (500, "INTERNAL", "server_error"),
            (503, "UNAVAILABLE", "server_error"),
            (504, "DEADLINE_EXCEEDED", "server_error"),
        ];
        for (status, google, kind) in cases {
            let body = json!({"error": {"code": status, "message": "why", "status": google}});
            let (s, v) = run(status, body.to_string().as_bytes());
            assert_eq!(s, status);
            assert_eq!(
                v,
                json!({"error": {"message": "why", "type": kind, "param": null, "code": google}})
            );
        }
    }

    #[test]
    fn array_form_and_odd_bodies() {
        let (_, v) = run(
            429,
            br#"[{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED"}}]"#,
        );
        assert_eq!(v["error"]["message"], "quota");
        assert_eq!(v["error"]["code"], "RESOURCE_EXHAUSTED");
        let (_, v) = run(502, b"<html>Bad Gateway</html>");
        assert_eq!(v["error"]["message"], "<html>Bad Gateway</html>");
        assert_eq!(v["error"]["code"], Value::Null);
        let (_, v) = run(500, b"");
        assert_eq!(v["error"]["message"], "upstream returned HTTP 500");
        let (_, v) = run(500, b"{\"weird\":1}");
        assert_eq!(v["error"]["message"], "upstream returned HTTP 500");
        let (_, v) = run(400, br#"{"error":"plain"}"#);
        assert_eq!(v["error"]["message"], "plain");
        let long = "é".repeat(3000);
        let (_, v) = run(500, long.as_bytes());
        assert!(v["error"]["message"].as_str().unwrap().len() <= MAX_MESSAGE + 3);
    }
}
