//! `/_stats` and `/_control`: what tests read and set.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use crate::app::{App, KnobsPatch};
use crate::knobs::{invalid_request, json_value};

pub async fn stats(State(app): State<Arc<App>>) -> Response {
    json_value(StatusCode::OK, &app.stats.to_json())
}

pub async fn reset(State(app): State<Arc<App>>) -> Response {
    app.stats.reset();
    json_value(StatusCode::OK, &app.stats.to_json())
}

pub async fn control_get(State(app): State<Arc<App>>) -> Response {
    json_value(StatusCode::OK, &app.knobs.to_json())
}

/// Partial update: missing fields keep their value. An empty body just shows the knobs.
pub async fn control_set(State(app): State<Arc<App>>, body: Bytes) -> Response {
    let patch = if body.iter().all(u8::is_ascii_whitespace) {
        KnobsPatch::default()
    } else {
        match serde_json::from_slice::<KnobsPatch>(&body) {
            Ok(p) => p,
            Err(e) => return invalid_request(format!("invalid control body: {e}")),
        }
    };
    app.knobs.apply(&patch);
    json_value(StatusCode::OK, &app.knobs.to_json())
}

pub async fn not_found() -> Response {
    json_value(
        StatusCode::NOT_FOUND,
        &json!({"error": {
            "message": "mock-upstream: no such endpoint",
            "type": "invalid_request_error",
            "param": null,
            "code": "not_found",
        }}),
    )
}
