//! `POST /v1/messages`: the mock as a native, strict Anthropic Messages upstream.
//!
//! Refuses what Anthropic refuses (Anthropic-shaped errors): 401 `authentication_error`
//! without `x-api-key`, 400 `invalid_request_error` without `anthropic-version` or when
//! [`check`] finds a broken rule. Answers like the chat mock (echo-ish text, or the agent's
//! tool call / tool-output quote of [`crate::agent`]), with a signed `thinking` block first
//! when the request enables thinking, `cache_read_input_tokens > 0` when any block carries
//! `cache_control`, and the real SSE event sequence when `stream: true`.
//!
//! For tests: the `anthropic-beta` request header comes back as `x-mock-anthropic-beta`; the
//! last request (path, headers, body) is `last.messages` in `/_stats`, counted in
//! `requests.messages` (refusals by the checker also in `strict_rejections`). The `x-mock-*`
//! knobs work as on chat (`x-mock-status` answers an Anthropic-shaped error, 529 included).

mod check;
#[cfg(test)]
mod check_tests;
mod reply;

pub use check::check;

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use axum::body::to_bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};

use crate::app::{App, Kind, Last, LastBody};
use crate::knobs::{json_value, ReqKnobs};
use crate::BODY_LIMIT;

pub async fn messages(State(app): State<Arc<App>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let beta = parts.headers.get("anthropic-beta").cloned();
    let mut resp = answer(&app, parts, body).await;
    if let Some(b) = beta {
        resp.headers_mut().insert("x-mock-anthropic-beta", b);
    }
    resp
}

async fn answer(app: &App, parts: axum::http::request::Parts, body: axum::body::Body) -> Response {
    let bytes = match to_bytes(body, BODY_LIMIT).await {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("cannot read body: {e}")),
    };
    let knobs = ReqKnobs::from_headers(&parts.headers);
    let refusal = header_refusal(&parts.headers);
    app.stats.record(
        Kind::Messages,
        Arc::new(Last {
            uri: parts.uri,
            headers: parts.headers,
            body: LastBody::Json(bytes.clone()),
        }),
    );
    if let Some(resp) = refusal {
        return resp;
    }
    if let Err(resp) = gate(&knobs).await {
        return resp;
    }
    let req: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("invalid JSON body: {e}")),
    };
    if let Err(message) = check(&req) {
        app.stats.strict_rejections.fetch_add(1, Relaxed);
        return error(StatusCode::BAD_REQUEST, &message);
    }
    let answer = reply::Answer::new(&req, bytes.len(), app.next_id());
    if req.get("stream").and_then(Value::as_bool) == Some(true) {
        answer.stream(app, &knobs)
    } else {
        json_value(StatusCode::OK, &answer.message())
    }
}

/// The refusal for a missing `x-api-key` (401) or `anthropic-version` (400), in Anthropic's
/// order.
fn header_refusal(h: &HeaderMap) -> Option<Response> {
    let present = |name: &str| {
        h.get(name)
            .map(HeaderValue::as_bytes)
            .is_some_and(|v| !v.is_empty())
    };
    if !present("x-api-key") {
        return Some(error(
            StatusCode::UNAUTHORIZED,
            "x-api-key header is required",
        ));
    }
    if !present("anthropic-version") {
        return Some(error(
            StatusCode::BAD_REQUEST,
            "anthropic-version: header is required",
        ));
    }
    None
}

/// The `x-mock-*` delay, status (Anthropic-shaped) and broken-body knobs.
async fn gate(knobs: &ReqKnobs) -> Result<(), Response> {
    let rest = ReqKnobs {
        status: None,
        ..*knobs
    };
    rest.gate(0).await?;
    match knobs.status {
        Some(s) => Err(error(s, &format!("mock failure {}", s.as_u16()))),
        None => Ok(()),
    }
}

/// An Anthropic error answer.
pub fn error(status: StatusCode, message: &str) -> Response {
    json_value(
        status,
        &json!({"type": "error", "error": {"type": error_type(status.as_u16()), "message": message},
            "request_id": "req_mock"}),
    )
}

fn error_type(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        529 | 503 => "overloaded_error",
        504 => "timeout_error",
        400..=499 => "invalid_request_error",
        _ => "api_error",
    }
}
