//! `POST /_policy`: a company's policy service as the gateway's webhook stage calls it (the
//! gateway's `stage::decision` protocol). What it decides is driven by markers in the last
//! user message, so tests can ask for each case:
//! - `#deny`: `{"action":"deny","status":403,"message":"blocked by policy"}`;
//! - `#modify`: the request with `#modify` replaced by `modified-by-policy` everywhere;
//! - `#slow`: answers (allow) after 2 s;
//! - `#garbage`: a 200 that is not JSON; `#badmodify`: a `modify` whose request is no chat
//!   request; `#500`: a 500;
//! - otherwise `{"action":"allow"}`.
//!
//! Calls are counted (`requests.policy` in `/_stats`) and the last envelope is kept
//! (`last.policy`), so a test can check what the gateway sent (a key id, never a secret).

use crate::app::{App, Kind, Last, LastBody};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

pub async fn policy(
    State(app): State<Arc<App>>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    let Ok(env) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "not JSON").into_response();
    };
    let last = Last {
        uri: axum::http::Uri::from_static("/_policy"),
        headers: headers.clone(),
        body: LastBody::Json(body.clone()),
    };
    app.stats.record(Kind::Policy, Arc::new(last));
    let text = env
        .pointer("/request/messages")
        .and_then(Value::as_array)
        .and_then(|m| {
            m.iter()
                .rev()
                .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        })
        .map(|m| m["content"].to_string())
        .unwrap_or_default();
    let reply = |v: Value| {
        (
            StatusCode::OK,
            [("content-type", "application/json")],
            v.to_string(),
        )
            .into_response()
    };
    if text.contains("#slow") {
        tokio::time::sleep(Duration::from_secs(2)).await;
        return reply(json!({"action": "allow"}));
    }
    if text.contains("#garbage") {
        return (StatusCode::OK, "<html>oops</html>").into_response();
    }
    if text.contains("#500") {
        return (StatusCode::INTERNAL_SERVER_ERROR, "down").into_response();
    }
    if text.contains("#badmodify") {
        return reply(json!({"action": "modify", "request": {"messages": "nope"}}));
    }
    if text.contains("#deny") {
        return reply(json!({"action": "deny", "status": 403, "message": "blocked by policy"}));
    }
    if text.contains("#modify") {
        let req = env["request"]
            .to_string()
            .replace("#modify", "modified-by-policy");
        let req: Value = serde_json::from_str(&req).unwrap_or(Value::Null);
        return reply(json!({"action": "modify", "request": req}));
    }
    reply(json!({"action": "allow"}))
}
