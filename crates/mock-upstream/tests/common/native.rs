//! Signed requests to the mock's native Hunyuan API (`POST /`, TC3 with the mock's
//! credentials, signed by the mock's own signer).
#![allow(dead_code)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mock_upstream::hunyuan_native::sign::authorization;
use serde_json::Value;

use super::mock::Mock;

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// How a test request is signed and labelled.
pub struct Send<'a> {
    pub action: &'a str,
    pub version: &'a str,
    pub timestamp: u64,
    /// Signed over this body, which may differ from the one sent.
    pub signed_body: Option<&'a [u8]>,
    pub extra: &'a [(&'a str, &'a str)],
}

impl Default for Send<'_> {
    fn default() -> Self {
        Send {
            action: "ChatCompletions",
            version: "2023-09-01",
            timestamp: now(),
            signed_body: None,
            extra: &[],
        }
    }
}

pub async fn send(mock: &Mock, body: &Value, how: Send<'_>) -> reqwest::Response {
    let bytes = body.to_string().into_bytes();
    let signed = [
        ("content-type", "application/json"),
        ("host", mock.addr.as_str()),
        ("x-tc-action", how.action),
    ];
    let auth = authorization(&signed, how.signed_body.unwrap_or(&bytes), how.timestamp);
    let mut rb = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
        .post(mock.url("/"))
        .header("content-type", "application/json")
        .header("x-tc-action", how.action)
        .header("x-tc-version", how.version)
        .header("x-tc-timestamp", how.timestamp.to_string())
        .header("authorization", auth)
        .body(bytes);
    for (k, v) in how.extra {
        rb = rb.header(*k, *v);
    }
    rb.send().await.expect("send")
}

pub async fn call(mock: &Mock, body: &Value) -> Value {
    call_with(mock, body, Send::default()).await
}

pub async fn call_with(mock: &Mock, body: &Value, how: Send<'_>) -> Value {
    let r = send(mock, body, how).await;
    assert_eq!(r.status(), 200, "Tencent answers everything with 200");
    r.json().await.expect("JSON body")
}

pub fn error_code(v: &Value) -> &str {
    v.pointer("/Response/Error/Code")
        .and_then(Value::as_str)
        .unwrap_or("none")
}

/// A signed request for `action`, answered with HTTP 200 as Tencent does.
pub async fn act(mock: &Mock, action: &str, body: &Value) -> Value {
    let how = Send {
        action,
        ..Send::default()
    };
    call_with(mock, body, how).await
}
