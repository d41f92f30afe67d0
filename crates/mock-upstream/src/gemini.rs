//! `POST /v1beta/models/{model}:generateContent` and `:streamGenerateContent` (SSE with
//! `?alt=sse`, else a JSON array of the chunks, as Google sends them): the Gemini API, strictly.
//!
//! * Auth: `x-goog-api-key` (or `?key=`); without one, 403 `PERMISSION_DENIED`, or 401
//!   `UNAUTHENTICATED` when an `Authorization` header came instead (an OpenAI-style key sent
//!   to Google).
//! * Every request is checked against Gemini's rules ([`rules`]); a violation is a 400
//!   `INVALID_ARGUMENT` in Google's error shape, counted in `strict_rejections`.
//! * Answers ([`answer`]): text, or a `functionCall` when a shell-like function is declared and
//!   the user asks for a command in backticks, then text quoting the `functionResponse` (the
//!   logic of [`crate::agent`]); thoughts first when `thinkingConfig.includeThoughts` is on;
//!   `usageMetadata` with `cachedContentTokenCount` when the request names `cachedContent`.
//! * The last request is kept as `last.gemini` in `/_stats`; `x-mock-status`,
//!   `x-mock-delay-ms`, `x-mock-interval-ms` and `x-mock-cut-after` work as on chat, with
//!   Google-shaped failures.

mod answer;
mod rules;

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use axum::body::to_bytes;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{json, Value};

use crate::app::{App, Kind, Last, LastBody};
use crate::knobs::{json_value, ReqKnobs};
use crate::stream::paced;
use crate::BODY_LIMIT;

/// Google's error body: `{"error": {"code", "message", "status"}}`.
pub fn google_error(status: StatusCode, google_status: &str, message: &str) -> Response {
    json_value(
        status,
        &json!({"error": {"code": status.as_u16(), "message": message, "status": google_status}}),
    )
}

fn invalid_argument(message: &str) -> Response {
    google_error(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", message)
}

/// Google's status name for an HTTP status (for `x-mock-status`).
fn google_status(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        429 => "RESOURCE_EXHAUSTED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ => "INTERNAL",
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Method {
    Generate,
    /// `streamGenerateContent`; `sse` with `?alt=sse`.
    Stream {
        sse: bool,
    },
}

pub async fn generate(
    State(app): State<Arc<App>>,
    Path(model_and_method): Path<String>,
    req: Request,
) -> Response {
    let (parts, body) = req.into_parts();
    let knobs = ReqKnobs::from_headers(&parts.headers);
    let bytes = match to_bytes(body, BODY_LIMIT).await {
        Ok(b) => b,
        Err(e) => return invalid_argument(&format!("cannot read body: {e}")),
    };
    let (uri, headers) = (parts.uri.clone(), parts.headers.clone());
    app.stats.record(
        Kind::Gemini,
        Arc::new(Last {
            uri: parts.uri,
            headers: parts.headers,
            body: LastBody::Json(bytes.clone()),
        }),
    );
    let Some((model, method)) = model_and_method.rsplit_once(':') else {
        return not_found(&model_and_method);
    };
    let method = match method {
        "generateContent" => Method::Generate,
        "streamGenerateContent" => Method::Stream {
            sse: query(&uri, "alt") == Some("sse"),
        },
        _ => return not_found(&model_and_method),
    };
    if let Some(resp) = refused(&headers, &uri) {
        return resp;
    }
    if knobs.delay_ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(knobs.delay_ms)).await;
    }
    if let Some(s) = knobs.status {
        let msg = format!("mock failure {}", s.as_u16());
        return google_error(s, google_status(s), &msg);
    }
    let req: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => return invalid_argument(&format!("Invalid JSON payload received. {e}")),
    };
    if let Err(message) = rules::check(&req, model) {
        app.stats.strict_rejections.fetch_add(1, Relaxed);
        return invalid_argument(&message);
    }
    let a = answer::Answer::new(&req, model, bytes.len(), app.next_id());
    match method {
        Method::Generate => json_value(StatusCode::OK, &a.whole()),
        Method::Stream { sse: false } => json_value(StatusCode::OK, &Value::Array(a.chunks())),
        Method::Stream { sse: true } => sse(&app, &knobs, a.chunks()),
    }
}

fn not_found(what: &str) -> Response {
    google_error(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        &format!("models/{what} is not found for API version v1beta, or is not supported"),
    )
}

/// A query parameter's raw value.
fn query<'a>(uri: &'a Uri, name: &str) -> Option<&'a str> {
    uri.query()?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Google's refusal of a request without an API key (`None`: it has one).
fn refused(headers: &HeaderMap, uri: &Uri) -> Option<Response> {
    let key = headers
        .get("x-goog-api-key")
        .and_then(|v| v.to_str().ok())
        .or_else(|| query(uri, "key"))
        .filter(|k| !k.trim().is_empty());
    if key.is_some() {
        return None;
    }
    if headers.contains_key(header::AUTHORIZATION) {
        return Some(google_error(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials. Expected OAuth 2 access token, \
             login cookie or other valid authentication credential.",
        ));
    }
    Some(google_error(
        StatusCode::FORBIDDEN,
        "PERMISSION_DENIED",
        "Method doesn't allow unregistered callers (callers without established identity). \
         Please use API Key or other form of API consumer identity to call this API.",
    ))
}

/// The chunks as SSE events, `\r\n\r\n`-separated as Google sends them.
fn sse(app: &App, knobs: &ReqKnobs, chunks: Vec<Value>) -> Response {
    let pieces = chunks
        .iter()
        .map(|c| Bytes::from(format!("data: {c}\r\n\r\n")))
        .collect();
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        paced(
            pieces,
            knobs.interval,
            knobs.cut_after,
            app.stats.streams.clone(),
        ),
    )
        .into_response()
}
