//! Per-request knobs read from `x-mock-*` headers (the gateway forwards client headers), and the
//! OpenAI-shaped error responses they produce.

use std::str::FromStr;
use std::time::Duration;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{json, Value};

/// Padding is bounded so a typo cannot make the mock allocate gigabytes.
const MAX_CHUNK_BYTES: usize = 64 * 1024 * 1024;
/// Same for the SSE event count.
const MAX_EVENTS: usize = 1_000_000;

#[derive(Debug, Clone, Copy)]
pub struct ReqKnobs {
    /// `x-mock-delay-ms`: sleep before the response headers.
    pub delay_ms: u64,
    /// `x-mock-status`: fail with this status.
    pub status: Option<StatusCode>,
    /// `x-mock-events`: SSE chunk events (default 5).
    pub events: usize,
    /// `x-mock-interval-ms`: pause between SSE events or speech chunks.
    pub interval: Duration,
    /// `x-mock-cut-after`: abort the stream after this many events.
    pub cut_after: Option<usize>,
    /// `x-mock-chunk-bytes`: pad a non-stream chat reply to about this size.
    pub chunk_bytes: usize,
    /// `x-mock-strict: 1`: Hunyuan rules for this request.
    pub strict: bool,
    /// `x-mock-body: html|truncated|empty|sensitive`: a broken 200 answer instead of the real
    /// one (an HTML error page, JSON cut off mid-way, an empty JSON object), or, for chat,
    /// Hunyuan's moderation stop (`finish_reason: "sensitive"`).
    pub body: Option<BadBody>,
    /// `x-mock-cached-tokens`: chat usage reports this many prompt tokens read from the prompt
    /// cache (`prompt_tokens_details.cached_tokens`, added to `prompt_tokens`).
    pub cached_tokens: u64,
    /// `x-mock-cache-write-tokens`: and this many written to it
    /// (`prompt_tokens_details.cache_creation_tokens`, added to `prompt_tokens`).
    pub cache_write_tokens: u64,
    /// `x-mock-echo: N`: a streamed chat answer is "mock reply to: <the last user text>" in
    /// pieces of N characters (instead of "tokN " pieces).
    pub echo: usize,
}

/// The answers of `x-mock-body`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadBody {
    Html,
    Truncated,
    Empty,
    Sensitive,
}

fn header<T: FromStr>(h: &HeaderMap, name: &str) -> Option<T> {
    h.get(name)?.to_str().ok()?.trim().parse().ok()
}

impl ReqKnobs {
    pub fn from_headers(h: &HeaderMap) -> Self {
        ReqKnobs {
            delay_ms: header(h, "x-mock-delay-ms").unwrap_or(0),
            status: header::<u16>(h, "x-mock-status").and_then(|s| StatusCode::from_u16(s).ok()),
            events: header(h, "x-mock-events").unwrap_or(5).min(MAX_EVENTS),
            interval: Duration::from_millis(header(h, "x-mock-interval-ms").unwrap_or(0)),
            cut_after: header(h, "x-mock-cut-after"),
            chunk_bytes: header(h, "x-mock-chunk-bytes")
                .unwrap_or(0)
                .min(MAX_CHUNK_BYTES),
            strict: matches!(
                h.get("x-mock-strict").map(HeaderValue::as_bytes),
                Some(b"1" | b"true")
            ),
            body: match h.get("x-mock-body").map(HeaderValue::as_bytes) {
                Some(b"html") => Some(BadBody::Html),
                Some(b"truncated") => Some(BadBody::Truncated),
                Some(b"empty") => Some(BadBody::Empty),
                Some(b"sensitive") => Some(BadBody::Sensitive),
                _ => None,
            },
            cached_tokens: header(h, "x-mock-cached-tokens").unwrap_or(0),
            cache_write_tokens: header(h, "x-mock-cache-write-tokens").unwrap_or(0),
            echo: header(h, "x-mock-echo").unwrap_or(0),
        }
    }

    /// Applies `x-mock-delay-ms` (plus `extra_delay_ms` from a global knob) and `x-mock-status`.
    /// `Err` is the response to send instead of the normal one.
    pub async fn gate(&self, extra_delay_ms: u64) -> Result<(), Response> {
        let delay = self.delay_ms.saturating_add(extra_delay_ms);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        if let Some(s) = self.status {
            return Err(mock_failure(s));
        }
        match self.body {
            Some(BadBody::Html) => Err((
                StatusCode::OK,
                [(header::CONTENT_TYPE, "text/html")],
                "<html><body><h1>502 Bad Gateway</h1></body></html>",
            )
                .into_response()),
            Some(BadBody::Truncated) => Err(json_bytes(
                StatusCode::OK,
                r#"{"id":"cut","object":"chat.completion","choices":[{"index":0,"mess"#,
            )),
            Some(BadBody::Empty) => Err(json_bytes(StatusCode::OK, "{}")),
            Some(BadBody::Sensitive) | None => Ok(()),
        }
    }
}

/// A JSON response from pre-serialised bytes.
pub fn json_bytes(status: StatusCode, body: impl Into<Bytes>) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.into(),
    )
        .into_response()
}

pub fn json_value(status: StatusCode, v: &Value) -> Response {
    json_bytes(status, v.to_string())
}

/// The injected failure body, shaped like OpenAI's errors.
pub fn mock_failure(status: StatusCode) -> Response {
    let code = status.as_u16();
    json_value(
        status,
        &json!({"error": {
            "message": format!("mock failure {code}"),
            "type": "server_error",
            "param": null,
            "code": format!("mock_{code}"),
        }}),
    )
}

/// A 400 for requests the mock cannot read at all.
pub fn invalid_request(message: impl Into<String>) -> Response {
    json_value(
        StatusCode::BAD_REQUEST,
        &json!({"error": {
            "message": message.into(),
            "type": "invalid_request_error",
            "param": null,
            "code": "invalid_request",
        }}),
    )
}
