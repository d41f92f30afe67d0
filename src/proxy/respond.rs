//! Answers the gateway writes itself. Pingora's `respond_error` closes the connection; these
//! keep it alive when the request body was fully read, so an SDK's pooled connection survives
//! a 4xx.

use crate::core::error::GatewayError;
use crate::core::protocol::Protocol;
use crate::protocol::{anthropic, gemini};
use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;

/// Writes a complete response with a known length.
pub async fn send(
    session: &mut Session,
    status: u16,
    content_type: &str,
    body: Bytes,
    extra: &[(&'static str, String)],
) -> pingora::Result<()> {
    let mut h = ResponseHeader::build(status, Some(4 + extra.len()))?;
    h.insert_header(http::header::CONTENT_TYPE, content_type)?;
    h.insert_header(http::header::CONTENT_LENGTH, body.len().to_string())?;
    for (k, v) in extra {
        h.insert_header(*k, v.as_str())?;
    }
    let head_only = session.req_header().method == http::Method::HEAD;
    session
        .write_response_header(Box::new(h), head_only)
        .await?;
    if !head_only {
        session.write_response_body(Some(body), true).await?;
    }
    Ok(())
}

/// Writes an error in the client's protocol, with the error's own headers (`Retry-After`…)
/// and `extra`. `body_done` says whether the request body was consumed: if not, the
/// connection must close (the unread bytes would be taken for the next request).
pub async fn error(
    session: &mut Session,
    e: &GatewayError,
    body_done: bool,
    protocol: Protocol,
    extra: &[(&'static str, String)],
) {
    if !(body_done && e.allows_keepalive()) {
        session.set_keepalive(None);
    }
    let headers: Vec<(&'static str, String)> = e.headers().iter().chain(extra).cloned().collect();
    let body = body_for(e, protocol);
    if let Err(err) = send(session, e.status(), "application/json", body, &headers).await {
        log::debug!("could not send error {}: {err}", e.status());
    }
}

/// The body of `e` in the client's protocol: Anthropic's shape on the Messages API, Google's
/// on the Gemini API, OpenAI's everywhere else.
pub fn body_for(e: &GatewayError, protocol: Protocol) -> Bytes {
    match protocol {
        Protocol::Messages => Bytes::from(anthropic::error_body(e.status(), &e.message())),
        Protocol::Gemini => Bytes::from(gemini::error_body(e.status(), &e.message())),
        _ => e.body(),
    }
}
