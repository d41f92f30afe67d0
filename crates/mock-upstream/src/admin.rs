//! `/_stats` and `/_control`: what tests read and set.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use crate::app::{App, KnobsPatch};
use crate::knobs::{invalid_request, json_value};

/// The counters plus `hunyuan_image`, the image jobs' counts (which live with the jobs).
fn stats_json(app: &App) -> Value {
    let mut v = app.stats.to_json();
    if let Some(m) = v.as_object_mut() {
        m.insert("hunyuan_image".into(), app.hunyuan_images.to_json());
    }
    v
}

pub async fn stats(State(app): State<Arc<App>>) -> Response {
    json_value(StatusCode::OK, &stats_json(&app))
}

pub async fn reset(State(app): State<Arc<App>>) -> Response {
    app.stats.reset();
    app.hunyuan_images.reset();
    json_value(StatusCode::OK, &stats_json(&app))
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
