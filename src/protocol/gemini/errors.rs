//! Google's error shape: `{"error":{"code":404,"message":…,"status":"NOT_FOUND"}}`, with the
//! canonical `status` name for the HTTP code (google.rpc.Code). The Google SDKs raise from
//! the HTTP status and show `error.message`; Gemini CLI retries 429 and 5xx.

use crate::core::text::truncate;
use crate::protocol::anthropic::upstream_message;
use serde_json::{json, Value};

/// The canonical status name of an HTTP code.
pub fn status_name(code: u16) -> &'static str {
    match code {
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        408 | 504 => "DEADLINE_EXCEEDED",
        409 => "ABORTED",
        429 => "RESOURCE_EXHAUSTED",
        499 => "CANCELLED",
        501 => "UNIMPLEMENTED",
        // A gateway that cannot reach the provider: the service is unavailable, retry.
        502 | 503 => "UNAVAILABLE",
        400..=499 => "INVALID_ARGUMENT",
        500..=599 => "INTERNAL",
        _ => "UNKNOWN",
    }
}

/// The error object (also the data of a stream's error event).
pub fn error_json(code: u16, message: &str) -> Value {
    json!({"error": {"code": code, "message": message, "status": status_name(code)}})
}

/// The body of an error answer with HTTP status `code`.
pub fn error_body(code: u16, message: &str) -> Vec<u8> {
    error_json(code, message).to_string().into_bytes()
}

/// An upstream non-2xx answer → (status, body) for the client: the status stays, the message
/// is the upstream's (`error.message`, or its text, cut to a readable length).
pub fn translate_error(status: u16, upstream_body: &[u8]) -> (u16, Vec<u8>) {
    let message = upstream_message(upstream_body)
        .unwrap_or_else(|| format!("upstream returned HTTP {status}"));
    (status, error_body(status, &truncate(&message)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        for (code, name) in [
            (400, "INVALID_ARGUMENT"),
            (401, "UNAUTHENTICATED"),
            (403, "PERMISSION_DENIED"),
            (404, "NOT_FOUND"),
            (405, "INVALID_ARGUMENT"),
            (413, "INVALID_ARGUMENT"),
            (429, "RESOURCE_EXHAUSTED"),
            (500, "INTERNAL"),
            (502, "UNAVAILABLE"),
            (503, "UNAVAILABLE"),
            (504, "DEADLINE_EXCEEDED"),
        ] {
            assert_eq!(status_name(code), name, "{code}");
            let v: Value = serde_json::from_slice(&error_body(code, "m")).unwrap();
            assert_eq!(
                v,
                json!({"error": {"code": code, "message": "m", "status": name}})
            );
        }
    }

    #[test]
    fn upstream_errors_keep_status_and_message() {
        let (s, b) = translate_error(429, br#"{"error":{"message":"slow down","type":"x"}}"#);
        assert_eq!(s, 429);
        let v: Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v["error"]["status"], "RESOURCE_EXHAUSTED");
        assert_eq!(v["error"]["message"], "slow down");
        let (s, b) = translate_error(503, b"");
        assert_eq!(s, 503);
        let v: Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v["error"]["message"], "upstream returned HTTP 503");
    }
}
