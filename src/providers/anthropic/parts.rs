//! Chat content (a string or a list of parts) → Anthropic content blocks.
//!
//! Whitespace-only text is left out (Anthropic refuses empty text blocks). A part Anthropic
//! cannot take (audio, a file by id, an image type it doesn't read) is a [`TranslateError`]
//! naming the part, never silently lost.

use crate::core::translate::TranslateError;
use base64::Engine;
use serde_json::{json, Value};

/// Which message the content belongs to: what kinds of part it may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Side {
    System,
    User,
    Assistant,
    Tool,
}

/// Image types Anthropic reads.
const IMAGE_TYPES: [&str; 4] = ["image/jpeg", "image/png", "image/gif", "image/webp"];

/// Appends the blocks of `content` to `out`. `cache` is a message-level `cache_control`,
/// put on the message's last block (where a string content has its only one).
pub(super) fn blocks(
    content: Option<&Value>,
    cache: Option<&Value>,
    side: Side,
    at: &str,
    out: &mut Vec<Value>,
) -> Result<(), TranslateError> {
    let before = out.len();
    match content {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => out.extend(text_block(s)),
        Some(Value::Array(parts)) => {
            for (j, p) in parts.iter().enumerate() {
                out.extend(part(p, side, &format!("{at}[{j}]"))?);
            }
        }
        Some(_) => {
            return Err(TranslateError::new(
                format!("`{at}` must be a string or a list of content parts."),
                at,
            ))
        }
    }
    if let (Some(c), Some(last)) = (cache, out.get_mut(before..).and_then(|b| b.last_mut())) {
        if last.get("cache_control").is_none() {
            last["cache_control"] = c.clone();
        }
    }
    Ok(())
}

fn text_block(s: &str) -> Option<Value> {
    (!s.trim().is_empty()).then(|| json!({"type": "text", "text": s}))
}

/// One content part → at most one block.
fn part(p: &Value, side: Side, at: &str) -> Result<Option<Value>, TranslateError> {
    let kind = p.get("type").and_then(Value::as_str).unwrap_or("");
    let block = match (kind, side) {
        ("text", _) => text_block(str_of(p, "text")),
        ("refusal", Side::Assistant) => text_block(str_of(p, "refusal")),
        ("image_url", Side::User | Side::Tool) => Some(image(p, at)?),
        ("file", Side::User) => Some(file(p, at)?),
        _ => {
            return Err(TranslateError::new(
                format!("`{at}`: a `{kind}` part cannot be sent to an Anthropic upstream here."),
                format!("{at}.type"),
            ))
        }
    };
    Ok(block.map(|mut b| {
        if let Some(c) = p.get("cache_control").filter(|c| c.is_object()) {
            b["cache_control"] = c.clone();
        }
        b
    }))
}

/// `image_url` → an `image` block: a data URL as base64, an http(s) URL as a `url` source.
fn image(p: &Value, at: &str) -> Result<Value, TranslateError> {
    let iu = p.get("image_url");
    let url = iu
        .and_then(|i| i.get("url"))
        .or(iu)
        .and_then(Value::as_str)
        .unwrap_or("");
    let param = format!("{at}.image_url.url");
    if url.starts_with("https://") || url.starts_with("http://") {
        return Ok(json!({"type": "image", "source": {"type": "url", "url": url}}));
    }
    let Some((media, data)) = data_url(url) else {
        return Err(TranslateError::new(
            format!("`{param}` must be an http(s) URL or a base64 data URL."),
            param,
        ));
    };
    let media = match media.to_ascii_lowercase().as_str() {
        "image/jpg" => "image/jpeg".to_string(),
        m => m.to_string(),
    };
    if !IMAGE_TYPES.contains(&media.as_str()) {
        return Err(TranslateError::new(
            format!("`{param}`: image type `{media}` is not supported (jpeg, png, gif, webp)."),
            param,
        ));
    }
    Ok(json!({"type": "image",
        "source": {"type": "base64", "media_type": media, "data": data}}))
}

/// `file` with `file_data` → a `document` block: a PDF as base64, plain text as text.
fn file(p: &Value, at: &str) -> Result<Value, TranslateError> {
    let f = p.get("file").unwrap_or(&Value::Null);
    let param = format!("{at}.file.file_data");
    let parsed = f
        .get("file_data")
        .and_then(Value::as_str)
        .and_then(data_url);
    let source = match parsed {
        Some((m, data)) if m.eq_ignore_ascii_case("application/pdf") => {
            json!({"type": "base64", "media_type": "application/pdf", "data": data})
        }
        Some((m, data)) if m.eq_ignore_ascii_case("text/plain") => {
            let text = base64::engine::general_purpose::STANDARD
                .decode(data)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| {
                    TranslateError::new(format!("`{param}` is not base64 UTF-8 text."), &param)
                })?;
            json!({"type": "text", "media_type": "text/plain", "data": text})
        }
        _ => {
            return Err(TranslateError::new(
                format!("`{param}`: an Anthropic upstream takes files as a base64 data URL of a PDF or plain text (no `file_id`)."),
                param,
            ))
        }
    };
    let mut doc = json!({"type": "document", "source": source});
    if let Some(name) = f.get("filename").and_then(Value::as_str) {
        doc["title"] = json!(name);
    }
    Ok(doc)
}

/// `data:<type>[;params];base64,<data>` → (type, data).
fn data_url(url: &str) -> Option<(&str, &str)> {
    let (meta, data) = url.strip_prefix("data:")?.split_once(',')?;
    let meta = meta.strip_suffix(";base64")?;
    let media = meta.split(';').next()?.trim();
    (!media.is_empty()).then_some((media, data))
}

/// The text of chat content (a string or text parts), for a result sent as user text.
pub(super) fn plain_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}
