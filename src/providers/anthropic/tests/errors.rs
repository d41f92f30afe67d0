//! `error_to_chat`: Anthropic error answers → OpenAI's error shape.

use super::super::error_to_chat;
use serde_json::{json, Value};

fn map(status: u16, body: &[u8]) -> (u16, Value) {
    let (s, b) = error_to_chat(status, body);
    (s, serde_json::from_slice(&b).unwrap())
}

fn anthropic(kind: &str, message: &str) -> Vec<u8> {
    json!({"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_1"})
        .to_string()
        .into_bytes()
}

#[test]
fn every_anthropic_error_type() {
    let cases = [
        (400, "invalid_request_error", 400, "invalid_request_error"),
        (401, "authentication_error", 401, "authentication_error"),
        (402, "billing_error", 402, "insufficient_quota"),
        (403, "permission_error", 403, "permission_error"),
        (404, "not_found_error", 404, "invalid_request_error"),
        (413, "request_too_large", 413, "invalid_request_error"),
        (429, "rate_limit_error", 429, "rate_limit_error"),
        (500, "api_error", 500, "server_error"),
        (504, "timeout_error", 504, "server_error"),
        (529, "overloaded_error", 503, "server_error"),
    ];
    for (status, kind, want_status, want_type) in cases {
        let (s, v) = map(status, &anthropic(kind, "why"));
        assert_eq!(s, want_status, "{kind}");
        assert_eq!(
            v,
            json!({"error": {"message": "why", "type": want_type, "param": null, "code": kind}}),
            "{kind}"
        );
    }
}

#[test]
fn odd_bodies() {
    let (s, v) = map(502, b"<html>Bad Gateway</html>");
    assert_eq!(s, 502);
    assert_eq!(v["error"]["message"], "<html>Bad Gateway</html>");
    assert_eq!(v["error"]["type"], "server_error");
    assert_eq!(v["error"]["code"], Value::Null);
    let (_, v) = map(500, b"");
    assert_eq!(v["error"]["message"], "upstream returned HTTP 500");
    let (_, v) = map(429, br#"{"message":"too many"}"#);
    assert_eq!(v["error"]["message"], "too many");
    assert_eq!(v["error"]["type"], "rate_limit_error");
    let (_, v) = map(401, br#"{"error":{"message":"openai-shaped"}}"#);
    assert_eq!(v["error"]["type"], "authentication_error");
    let long = "é".repeat(3000);
    let (_, v) = map(500, long.as_bytes());
    assert!(v["error"]["message"].as_str().unwrap().len() <= 2003);
}
