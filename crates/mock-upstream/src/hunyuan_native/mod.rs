//! `POST /`: the mock as Tencent Hunyuan's native API (service `hunyuan`, version 2023-09-01,
//! TC3-HMAC-SHA256 signed), strictly, dispatched on `X-TC-Action`: `ChatCompletions` here, the
//! image actions `SubmitHunyuanImageJob`, `QueryHunyuanImageJob` and `TextToImageLite` in
//! [`image`] (which also serves the images they name, `GET /_hy_images/{name}`).
//!
//! Tencent answers every API error with HTTP 200 and `{"Response": {"Error": {"Code",
//! "Message"}, "RequestId"}}`; so does the mock, in this order:
//! * another action → `InvalidAction`; a version other than 2023-09-01 → `NoSuchVersion`;
//! * the signature ([`sign::verify`], with [`MOCK_SECRET_ID`] / [`MOCK_SECRET_KEY`]): a
//!   timestamp more than 300 s off → `AuthFailure.SignatureExpire`, another SecretId →
//!   `AuthFailure.SecretIdNotFound`, a signature that does not verify →
//!   `AuthFailure.SignatureFailure`;
//! * the request ([`check`] for chat, [`image`]'s checkers): an unknown member →
//!   `UnknownParameter`, a bad value (`null` `Temperature` / `TopP` included) →
//!   `InvalidParameterValue`, more than 40 messages or a broken message rule →
//!   `InvalidParameter`;
//! * model `mock-limit` → `LimitExceeded`; an unknown image `JobId` → `ResourceNotFound`.
//!
//! Chat answers ([`reply`]) are native JSON, or native SSE with `Stream: true`. Knobs as on
//! chat: `x-mock-delay-ms`, `x-mock-interval-ms`, `x-mock-cut-after`, `x-mock-body: sensitive`
//! (`FinishReason: "sensitive"`), and `x-mock-status: N`, which answers the Tencent error
//! whose code means N (still with HTTP 200); the delay and the status apply to every action,
//! before it runs (no job is submitted or query counted). The last request of any action is
//! `last.hunyuan_native` in `/_stats`, counted in `requests.hunyuan_native` (refusals by the
//! checkers also in `strict_rejections`).

mod check;
#[cfg(test)]
mod check_tests;
pub mod image;
#[cfg(test)]
mod image_tests;
mod reply;
pub mod sign;

pub use check::check;
pub(crate) use image::{png, Jobs};

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use axum::body::to_bytes;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::app::{now_secs, App, Kind, Last, LastBody};
use crate::knobs::{json_value, BadBody, ReqKnobs};
use crate::stream::paced;
use crate::BODY_LIMIT;

/// The SecretId the mock accepts (tests sign with it).
pub const MOCK_SECRET_ID: &str = "AKIDmockllmrelay";
/// The SecretKey of [`MOCK_SECRET_ID`].
pub const MOCK_SECRET_KEY: &str = "mock-secret-key-llm-relay";
/// The chat action; the version and service of every action the mock serves.
pub const ACTION: &str = "ChatCompletions";
pub const VERSION: &str = "2023-09-01";
pub const SERVICE: &str = "hunyuan";

/// Why a request is refused: Tencent's error code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: &'static str,
    pub message: String,
}

/// Tencent's error answer (HTTP 200).
pub fn tencent_error(code: &str, message: &str, request_id: &str) -> Response {
    let body = json!({"Response": {"Error": {"Code": code, "Message": message},
        "RequestId": request_id}});
    with_request_id(json_value(StatusCode::OK, &body), request_id)
}

fn with_request_id(mut resp: Response, request_id: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(request_id) {
        resp.headers_mut().insert("x-tc-requestid", v);
    }
    resp
}

/// A fresh request id in UUID form, as Tencent's.
fn request_id(serial: u64) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let h = hex::encode(Sha256::digest(format!("{serial}-{nanos}")));
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// The actions `POST /` serves.
const ACTIONS: [&str; 4] = [ACTION, image::SUBMIT, image::QUERY, image::LITE];

/// `POST /`: reads, records, admits and gates the request, then runs its action.
pub async fn native(State(app): State<Arc<App>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let rid = request_id(app.next_id());
    let bytes = match to_bytes(body, BODY_LIMIT).await {
        Ok(b) => b,
        Err(e) => {
            return tencent_error("InvalidParameter", &format!("cannot read body: {e}"), &rid)
        }
    };
    let headers = parts.headers.clone();
    let host = host(&parts);
    app.stats.record(
        Kind::HunyuanNative,
        Arc::new(Last {
            uri: parts.uri,
            headers: parts.headers,
            body: LastBody::Json(bytes.clone()),
        }),
    );
    let knobs = ReqKnobs::from_headers(&headers);
    let action = match admit(&headers, &bytes) {
        Ok(a) => a,
        Err(r) => return tencent_error(r.code, &r.message, &rid),
    };
    if knobs.delay_ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(knobs.delay_ms)).await;
    }
    if let Some(s) = knobs.status {
        let msg = format!("mock failure {}", s.as_u16());
        return tencent_error(code_for_status(s), &msg, &rid);
    }
    let native: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => {
            return tencent_error(
                "InvalidParameter",
                &format!("request body is not JSON: {e}"),
                &rid,
            )
        }
    };
    if action == ACTION {
        chat(&app, &native, bytes.len(), &knobs, rid)
    } else {
        image_action(&app, action, &native, &host, &rid)
    }
}

/// The `Host` the client called (image URLs point back at it).
fn host(parts: &Parts) -> String {
    let from_header = parts
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok());
    let from_uri = parts.uri.authority().map(|a| a.as_str());
    from_header.or(from_uri).unwrap_or("127.0.0.1").to_string()
}

fn chat(app: &App, native: &Value, body_len: usize, knobs: &ReqKnobs, rid: String) -> Response {
    let chat = match check(native) {
        Ok(chat) => chat,
        Err(r) => {
            app.stats.strict_rejections.fetch_add(1, Relaxed);
            return tencent_error(r.code, &r.message, &rid);
        }
    };
    if native.get("Model").and_then(Value::as_str) == Some("mock-limit") {
        return tencent_error("LimitExceeded", "超过配额限制 (mock-limit)", &rid);
    }
    let sensitive = knobs.body == Some(BadBody::Sensitive);
    let answer = reply::Answer::new(native, &chat, rid.clone(), body_len, sensitive);
    if native.get("Stream").and_then(Value::as_bool) == Some(true) {
        let body = paced(
            answer.events(),
            knobs.interval,
            knobs.cut_after,
            app.stats.streams.clone(),
        );
        let resp = (
            [
                (header::CONTENT_TYPE, "text/event-stream"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            body,
        );
        with_request_id(resp.into_response(), &rid)
    } else {
        with_request_id(json_value(StatusCode::OK, &answer.whole()), &rid)
    }
}

fn image_action(app: &App, action: &str, native: &Value, host: &str, rid: &str) -> Response {
    match image::run(app, action, native, host, rid) {
        Ok(mut members) => {
            members.insert("RequestId".into(), Value::String(rid.to_string()));
            let body = json!({ "Response": members });
            with_request_id(json_value(StatusCode::OK, &body), rid)
        }
        Err(r) => tencent_error(r.code, &r.message, rid),
    }
}

/// Action, version and signature, in Tencent's order; gives the action.
fn admit(h: &HeaderMap, body: &[u8]) -> Result<&'static str, Refusal> {
    let get = |name: &str| h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("");
    let asked = get("x-tc-action");
    let Some(action) = ACTIONS.into_iter().find(|a| *a == asked) else {
        return Err(Refusal {
            code: "InvalidAction",
            message: format!("The action `{asked}` is not found in version {VERSION} of hunyuan."),
        });
    };
    if get("x-tc-version") != VERSION {
        return Err(Refusal {
            code: "NoSuchVersion",
            message: format!("The API version `{}` does not exist.", get("x-tc-version")),
        });
    }
    sign::verify(h, body, now_secs())?;
    Ok(action)
}

/// The Tencent error code whose meaning is HTTP `status` (`x-mock-status`).
fn code_for_status(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 => "AuthFailure.SecretIdNotFound",
        403 => "UnauthorizedOperation",
        404 => "ResourceNotFound",
        429 => "RequestLimitExceeded",
        504 => "FailedOperation.EngineRequestTimeout",
        400..=499 => "InvalidParameter",
        _ => "InternalError",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_look_like_tencents() {
        let id = request_id(7);
        let groups: Vec<usize> = id.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12]);
        assert_ne!(request_id(7), request_id(8));
    }

    #[test]
    fn status_knob_codes() {
        assert_eq!(
            code_for_status(StatusCode::TOO_MANY_REQUESTS),
            "RequestLimitExceeded"
        );
        assert_eq!(code_for_status(StatusCode::BAD_GATEWAY), "InternalError");
        assert_eq!(
            code_for_status(StatusCode::UNAUTHORIZED),
            "AuthFailure.SecretIdNotFound"
        );
    }
}
