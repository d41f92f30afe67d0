//! Tencent Cloud's errors → OpenAI's error shape, with an honest HTTP status.
//!
//! Tencent answers an API error with HTTP **200** and `{"Response": {"Error": {"Code",
//! "Message"}, "RequestId"}}`. The client gets `{"error": {"message", "type", "param": null,
//! "code": <Code>}}` with the status the code means (`Message (request id <RequestId>)`, so a
//! ticket to Tencent can name the request). Status table, by code prefix, first match:
//!
//! | Tencent code | status | OpenAI `type` |
//! | --- | --- | --- |
//! | `AuthFailure.*` (`SignatureExpire` too) | 401 | `authentication_error` |
//! | `UnauthorizedOperation*`, `FailedOperation.UserUnAuthError`, `FailedOperation.ServiceNotActivated`, `FailedOperation.PartnerAccountUnSupport` | 403 | `permission_error` |
//! | `ResourceInsufficient*`, `ResourceUnavailable*`, `FailedOperation.*ResourcePackExhausted`, `FailedOperation.ServiceStop*` | 429 | `insufficient_quota` |
//! | `LimitExceeded*`, `RequestLimitExceeded*`, `FailedOperation.EngineServerLimitExceeded` | 429 | `rate_limit_error` |
//! | `InvalidParameter*` (`InvalidParameterValue*` too), `MissingParameter*`, `UnknownParameter*`, `UnsupportedOperation*`, `OperationDenied*`, `FailedOperation.Image*`, `FailedOperation.DownloadError` | 400 | `invalid_request_error` |
//! | `ResourceNotFound*` | 404 | `invalid_request_error` |
//! | `FailedOperation.EngineRequestTimeout` | 504 | `server_error` |
//! | anything else (`InternalError*`, other `FailedOperation*`) | 502 | `server_error` |
//!
//! Why quota and billing codes are 429 `insufficient_quota` and not 503: that is what OpenAI
//! answers for an exhausted quota, so SDKs raise their usual exception and the message says
//! why, and a 503 would tell clients and the gateway's health check that the upstream is
//! down, when it is this account (another pool's account may well work). Engine concurrency
//! (`EngineServerLimitExceeded`, the account's concurrent-request cap) is a rate limit.
//! Content refused by moderation (`OperationDenied.*IllegalDetected`) is the client's request:
//! 400, as OpenAI's content-policy refusals.

use crate::core::text::{plain_text, truncate};
use memchr::memmem;
use serde_json::{json, Value};

/// A Tencent error answer in a (2xx) body → `Some((status, OpenAI error body))`; `None` for
/// anything else (an answer, or a body that is not Tencent's error shape).
pub fn error_in_body(body: &[u8]) -> Option<(u16, Vec<u8>)> {
    // Every answer passes here: a body without the word is no error, and needs no parse.
    memmem::find(body, b"\"Error\"")?;
    let v = serde_json::from_slice::<Value>(body).ok()?;
    let (status, err) = native_error(v.get("Response")?)?;
    Some((status, err.to_string().into_bytes()))
}

/// An error answer of any shape → (status, OpenAI error body): Tencent's (the status from the
/// table), an OpenAI-shaped or `{"message"}` body (status kept), else the body's text cut to
/// 2000 bytes, else a generic message.
pub fn error_to_chat(status: u16, body: &[u8]) -> (u16, Vec<u8>) {
    let parsed = serde_json::from_slice::<Value>(body).ok();
    if let Some((s, err)) = parsed
        .as_ref()
        .and_then(|v| native_error(v.get("Response").unwrap_or(v)))
    {
        return (s, err.to_string().into_bytes());
    }
    let message = parsed
        .as_ref()
        .and_then(message_of)
        .or_else(|| plain_text(body, parsed.is_some()))
        .unwrap_or_else(|| format!("upstream returned HTTP {status}"));
    let code = parsed
        .as_ref()
        .and_then(|v| v.pointer("/error/code"))
        .filter(|c| c.is_string() || c.is_number())
        .cloned()
        .unwrap_or(Value::Null);
    let err = openai_error(&truncate(&message), type_of_status(status), code);
    (status, err.to_string().into_bytes())
}

/// Tencent's `RequestId` of an answer or error body.
pub fn request_id(body: &[u8]) -> Option<String> {
    let v = serde_json::from_slice::<Value>(body).ok()?;
    let r = v.get("Response").unwrap_or(&v);
    r.get("RequestId")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
}

/// The error of a `Response` object (`{"Error": {"Code", "Message"}, "RequestId"}`) → (status,
/// OpenAI error value). Shared with the decoders, which meet it inside a 2xx answer.
pub(super) fn native_error(response: &Value) -> Option<(u16, Value)> {
    let err = response.get("Error")?;
    let code = err.get("Code").and_then(Value::as_str)?;
    let message = err
        .get("Message")
        .and_then(Value::as_str)
        .filter(|m| !m.trim().is_empty())
        .unwrap_or("Tencent Cloud API error");
    let message = match response.get("RequestId").and_then(Value::as_str) {
        Some(id) if !id.is_empty() => format!("{} (request id {id})", truncate(message)),
        _ => truncate(message),
    };
    let (status, kind) = status_of(code);
    Some((status, openai_error(&message, kind, json!(code))))
}

/// `{"error": {"message", "type", "param": null, "code"}}`.
pub(super) fn openai_error(message: &str, kind: &str, code: Value) -> Value {
    json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
}

/// The HTTP status and OpenAI error type of a Tencent error code (the module's table).
pub(super) fn status_of(code: &str) -> (u16, &'static str) {
    let is = |prefix: &str| code.starts_with(prefix);
    if is("AuthFailure") {
        (401, "authentication_error")
    } else if is("UnauthorizedOperation")
        || matches!(
            code,
            "FailedOperation.UserUnAuthError"
                | "FailedOperation.ServiceNotActivated"
                | "FailedOperation.PartnerAccountUnSupport"
        )
    {
        (403, "permission_error")
    } else if is("ResourceInsufficient")
        || is("ResourceUnavailable")
        || is("FailedOperation.ServiceStop")
        || (is("FailedOperation.") && code.ends_with("ResourcePackExhausted"))
    {
        (429, "insufficient_quota")
    } else if is("LimitExceeded")
        || is("RequestLimitExceeded")
        || code == "FailedOperation.EngineServerLimitExceeded"
    {
        (429, "rate_limit_error")
    } else if is("InvalidParameter")
        || is("MissingParameter")
        || is("UnknownParameter")
        || is("UnsupportedOperation")
        || is("OperationDenied")
        || is("FailedOperation.Image")
        || code == "FailedOperation.DownloadError"
    {
        (400, "invalid_request_error")
    } else if is("ResourceNotFound") {
        (404, "invalid_request_error")
    } else if code == "FailedOperation.EngineRequestTimeout" {
        (504, "server_error")
    } else {
        (502, "server_error")
    }
}

/// OpenAI's `error.type` for an HTTP status (a body that is not Tencent's).
fn type_of_status(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        403 => "permission_error",
        429 => "rate_limit_error",
        400..=499 => "invalid_request_error",
        _ => "server_error",
    }
}

/// `error.message`, a string `error`, or a top-level `message` (non-blank).
fn message_of(v: &Value) -> Option<String> {
    [
        v.pointer("/error/message"),
        v.get("error").filter(|e| e.is_string()),
        v.get("message"),
    ]
    .into_iter()
    .flatten()
    .filter_map(Value::as_str)
    .find(|m| !m.trim().is_empty())
    .map(str::to_owned)
}
