//! One vision call: an OpenAI-compatible chat request with one image to the vision model's
//! pool (its member, provider key and TLS), answered by `choices[0].message.content` only.

use crate::upstream::route::Target;
use futures::StreamExt;
use serde_json::{json, Value};
use std::time::Duration;

/// Longest vision answer read: a description is text, not a download.
pub const MAX_ANSWER_BYTES: usize = 1 << 20;

/// Why an image could not be described. The messages are safe to show a client: they never
/// carry the provider's own error text (which may name accounts, quotas or internal hosts);
/// that goes to the log only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VisionError {
    #[error("no healthy member in pool `{0}`")]
    NoMember(String),
    #[error("timed out after {0} ms")]
    Timeout(u128),
    #[error("could not reach the vision model")]
    Unreachable,
    #[error("the vision model answered HTTP {0}")]
    Status(u16),
    #[error("the vision answer is larger than {MAX_ANSWER_BYTES} bytes")]
    TooLarge,
    #[error("the vision answer is not a chat completion with choices[0].message.content")]
    Unreadable,
    #[error("the image URL is not valid text")]
    BadUrl,
}

/// The default description prompt; `{question}` becomes the user's text.
pub const DEFAULT_PROMPT: &str = "Describe this image completely for a reader who cannot see it. \
Transcribe all visible text and code exactly, line by line. Describe charts (type, axes, values, \
trends), tables (rows and columns), diagrams, and user-interface elements (windows, buttons, \
fields, menus, error messages and their state). The user's question about it, for context: \
{question}";

/// Asks the vision model to describe `image_url`.
pub async fn describe(
    client: &reqwest::Client,
    target: &Target,
    prompt: &str,
    image_url: &str,
    (timeout, traceparent): (Duration, Option<&str>),
) -> Result<String, VisionError> {
    let (_, member) = target
        .pool
        .select()
        .ok_or_else(|| VisionError::NoMember(target.pool.name.clone()))?;
    let scheme = if member.tls { "https" } else { "http" };
    let body = json!({
        "model": target.model,
        "stream": false,
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": prompt},
            {"type": "image_url", "image_url": {"url": image_url}},
        ]}],
    });
    let provider = &target.pool.provider;
    // The request is sent as chat to a provider that answers chat (no fixing: one user turn
    // needs none), else rendered for the provider.
    let (path, bytes) = if provider.kind.answers_chat() {
        let b = serde_json::to_vec(&body).map_err(|_| VisionError::Unreadable)?;
        ("/chat/completions".to_string(), bytes::Bytes::from(b))
    } else {
        let caps = crate::chat::fix::ModelCaps {
            images: true,
            tools: false,
        };
        let r = provider
            .render_chat(body, caps, Default::default(), 1024)
            .map_err(|_| VisionError::Unreadable)?;
        (r.path, r.body)
    };
    let url = format!("{scheme}://{}{}{path}", member.authority, member.base_path);
    // A `hunyuan_native` vision model: the call is signed over its body and host (reqwest
    // sends the URL's authority as `Host`).
    let action = crate::providers::hunyuan_native::ACTION;
    let signed = provider.tc3_headers(action, &member.authority, &bytes);
    let mut req = client
        .post(url)
        .timeout(timeout)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(bytes);
    for (name, value) in signed {
        req = req.header(name, value);
    }
    if let Some(key) = provider.key.as_ref() {
        let (name, _) = crate::providers::Provider::key_header(provider.kind);
        req = req.header(name, key.clone());
    }
    if provider.kind == crate::providers::ProviderKind::Anthropic {
        req = req.header("anthropic-version", provider.anthropic_version.clone());
    }
    if let Some(tp) = traceparent {
        req = req.header("traceparent", tp);
    }
    let resp = req.send().await.map_err(|e| {
        if e.is_timeout() {
            VisionError::Timeout(timeout.as_millis())
        } else {
            VisionError::Unreachable
        }
    })?;
    let status = resp.status();
    let mut bytes = read_capped(resp).await?;
    if !status.is_success() {
        if let Some((_, b)) = provider.error_to_chat(status.as_u16(), &bytes) {
            bytes = b;
        }
    }
    if !status.is_success() {
        let detail = serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|v| {
                v.pointer("/error/message")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .unwrap_or_default();
        log::warn!("cascade: vision model answered HTTP {status}: {detail}");
        return Err(VisionError::Status(status.as_u16()));
    }
    if let Some(mut d) = provider.decoder(false, &target.model) {
        let mut out = d.feed(&bytes);
        out.extend(d.finish());
        bytes = out;
    }
    let v: Value = serde_json::from_slice(&bytes).map_err(|_| VisionError::Unreadable)?;
    match v
        .pointer("/choices/0/message/content")
        .and_then(Value::as_str)
    {
        Some(t) if !t.trim().is_empty() => Ok(t.trim().to_string()),
        _ => Err(VisionError::Unreadable),
    }
}

/// The answer body, refused beyond [`MAX_ANSWER_BYTES`] (read as a stream: a huge or endless
/// answer never sits in memory whole).
async fn read_capped(resp: reqwest::Response) -> Result<Vec<u8>, VisionError> {
    if resp
        .content_length()
        .is_some_and(|n| n > MAX_ANSWER_BYTES as u64)
    {
        return Err(VisionError::TooLarge);
    }
    let mut body = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| VisionError::Unreachable)?;
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(VisionError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

impl From<VisionError> for crate::core::error::GatewayError {
    fn from(e: VisionError) -> crate::core::error::GatewayError {
        crate::core::error::GatewayError::BadGateway {
            message: format!("An image could not be described: {e}."),
        }
    }
}
