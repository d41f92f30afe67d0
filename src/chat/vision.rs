//! One vision call: an OpenAI-compatible chat request with one image to the vision model's
//! pool (its member, provider key and TLS), answered by `choices[0].message.content` only.

use crate::config::Target;
use serde_json::{json, Value};
use std::time::Duration;

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
    timeout: Duration,
) -> Result<String, String> {
    let (_, member) = target
        .pool
        .select()
        .ok_or_else(|| format!("no healthy member in pool `{}`", target.pool.name))?;
    let scheme = if member.tls { "https" } else { "http" };
    let url = format!(
        "{scheme}://{}{}/chat/completions",
        member.authority, member.base_path
    );
    let body = json!({
        "model": target.model,
        "stream": false,
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": prompt},
            {"type": "image_url", "image_url": {"url": image_url}},
        ]}],
    });
    let mut req = client.post(url).timeout(timeout).json(&body);
    if let Some(auth) = target.pool.auth.as_ref() {
        req = req.header(http::header::AUTHORIZATION, auth.clone());
    }
    let resp = req.send().await.map_err(|e| {
        if e.is_timeout() {
            format!("timed out after {} ms", timeout.as_millis())
        } else {
            "could not reach the vision model".to_string()
        }
    })?;
    let status = resp.status();
    let v: Value = resp
        .json()
        .await
        .map_err(|_| format!("unreadable answer (HTTP {status})"))?;
    if !status.is_success() {
        let msg = v["error"]["message"].as_str().unwrap_or("no message");
        return Err(format!("HTTP {status}: {msg}"));
    }
    match v["choices"][0]["message"]["content"].as_str() {
        Some(t) if !t.trim().is_empty() => Ok(t.trim().to_string()),
        _ => Err("the answer has no choices[0].message.content".into()),
    }
}
