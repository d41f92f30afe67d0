//! Chat content parts and tool calls → Gemini `Part`s.
//!
//! * `text` (and an assistant's `refusal`) → `{"text"}`; empty text is skipped (Gemini rejects
//!   empty text parts).
//! * `image_url`: a base64 `data:` URL → `inlineData {mimeType, data}`; an `http(s)://` or
//!   `gs://` URL → `fileData {mimeType, fileUri}`, the MIME type guessed from the extension,
//!   else `image/*`. `input_audio` → `inlineData` (`audio/<format>`); `file` with `file_data`
//!   (a data URL) → `inlineData`. A non-base64 data URL, another scheme or an OpenAI `file_id`
//!   is a 400 naming the part: Gemini cannot fetch those.

use serde_json::{json, Map, Value};

use crate::core::translate::TranslateError;

/// Google's documented placeholder for a function call whose thought signature is unknown.
pub(super) const SKIP_SIGNATURE: &str = "skip_thought_signature_validator";

/// Which parts a message may hold.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Allowed {
    /// System and assistant messages: text only.
    Text,
    All,
}

/// A message's `content` (null, a string or an array of parts) → Gemini parts. `at` is the
/// message's path (`messages[3]`).
pub(super) fn content_parts(
    content: Option<&Value>,
    at: &str,
    allowed: Allowed,
) -> Result<Vec<Value>, TranslateError> {
    match content {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(text_part(s).into_iter().collect()),
        Some(Value::Array(list)) => {
            let mut parts = Vec::with_capacity(list.len());
            for (j, p) in list.iter().enumerate() {
                let at = format!("{at}.content[{j}]");
                if let Some(part) = part(p, &at, allowed)? {
                    parts.push(part);
                }
            }
            Ok(parts)
        }
        Some(_) => Err(TranslateError::new(
            "`content` must be a string, an array of parts or null",
            format!("{at}.content"),
        )),
    }
}

/// The text of a `content` (a string, or text parts joined by newlines): tool results.
pub(super) fn text_of(content: Option<&Value>, at: &str) -> Result<String, TranslateError> {
    let parts = content_parts(content, at, Allowed::Text)?;
    let texts: Vec<&str> = parts
        .iter()
        .filter_map(|p| p.get("text").and_then(Value::as_str))
        .collect();
    Ok(texts.join("\n"))
}

fn text_part(s: &str) -> Option<Value> {
    (!s.is_empty()).then(|| json!({"text": s}))
}

fn part(p: &Value, at: &str, allowed: Allowed) -> Result<Option<Value>, TranslateError> {
    let kind = p.get("type").and_then(Value::as_str).unwrap_or("");
    let str_at = |key: &str| p.get(key).and_then(Value::as_str);
    match kind {
        "text" => Ok(str_at("text").and_then(text_part)),
        "refusal" => Ok(str_at("refusal").and_then(text_part)),
        "image_url" | "input_audio" | "file" if allowed == Allowed::Text => Err(
            TranslateError::new("only text parts are allowed here", format!("{at}.type")),
        ),
        "image_url" => {
            let iu = p.get("image_url");
            let url = iu
                .and_then(|iu| iu.get("url"))
                .and_then(Value::as_str)
                .or_else(|| iu.and_then(Value::as_str))
                .ok_or_else(|| {
                    TranslateError::new("`image_url.url` is required", format!("{at}.image_url"))
                })?;
            media(url, &format!("{at}.image_url.url")).map(Some)
        }
        "input_audio" => {
            let a = p.get("input_audio");
            let data = a.and_then(|a| a.get("data")).and_then(Value::as_str);
            let format = a.and_then(|a| a.get("format")).and_then(Value::as_str);
            match (data, format) {
                (Some(d), Some(f)) => Ok(Some(
                    json!({"inlineData": {"mimeType": format!("audio/{f}"), "data": d}}),
                )),
                _ => Err(TranslateError::new(
                    "`input_audio` needs `data` and `format`",
                    format!("{at}.input_audio"),
                )),
            }
        }
        "file" => {
            let data = p.pointer("/file/file_data").and_then(Value::as_str);
            let at = format!("{at}.file.file_data");
            match data {
                Some(d) => media(d, &at).map(Some),
                None => Err(TranslateError::new(
                    "only files sent inline (`file_data`) can be passed to Gemini",
                    at,
                )),
            }
        }
        other => Err(TranslateError::new(
            format!("content part type `{other}` cannot be sent to Gemini"),
            format!("{at}.type"),
        )),
    }
}

/// A URL → `inlineData` (base64 data URL) or `fileData` (http, https, gs).
fn media(url: &str, at: &str) -> Result<Value, TranslateError> {
    if let Some(rest) = strip_prefix_ci(url, "data:") {
        let bad = || TranslateError::new("data URLs must be base64-encoded (`;base64,`)", at);
        let (meta, data) = rest.split_once(',').ok_or_else(bad)?;
        let mut fields = meta.split(';');
        let mime = fields.next().unwrap_or("");
        if !fields.any(|f| f.eq_ignore_ascii_case("base64")) {
            return Err(bad());
        }
        let mime = if mime.is_empty() {
            "application/octet-stream"
        } else {
            mime
        };
        return Ok(json!({"inlineData": {"mimeType": mime, "data": data}}));
    }
    let remote = ["http://", "https://", "gs://"]
        .iter()
        .any(|s| strip_prefix_ci(url, s).is_some());
    if !remote {
        return Err(TranslateError::new(
            "only data:, http(s):// and gs:// URLs can be sent to Gemini",
            at,
        ));
    }
    Ok(json!({"fileData": {"mimeType": guess_mime(url), "fileUri": url}}))
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| s.get(prefix.len()..))
        .flatten()
}

/// The MIME type for a URL's extension; `image/*` when unknown (image_url parts are images).
pub(super) fn guess_mime(url: &str) -> &'static str {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let name = path.rsplit('/').next().unwrap_or(path);
    let ext = name.rsplit_once('.').map_or("", |(_, e)| e);
    const TABLE: [(&str, &str); 13] = [
        ("png", "image/png"),
        ("jpg", "image/jpeg"),
        ("jpeg", "image/jpeg"),
        ("webp", "image/webp"),
        ("gif", "image/gif"),
        ("heic", "image/heic"),
        ("heif", "image/heif"),
        ("bmp", "image/bmp"),
        ("pdf", "application/pdf"),
        ("mp3", "audio/mpeg"),
        ("wav", "audio/wav"),
        ("mp4", "video/mp4"),
        ("txt", "text/plain"),
    ];
    TABLE
        .iter()
        .find(|(e, _)| e.eq_ignore_ascii_case(ext))
        .map_or("image/*", |(_, m)| m)
}

/// An assistant tool call → (`functionCall` part, its id, its name). `first`: the first call
/// of its turn, which gets the placeholder signature when it has none of its own.
pub(super) fn function_call<'a>(
    tc: &'a Value,
    at: &str,
    first: bool,
) -> Result<(Value, Option<&'a str>, &'a str), TranslateError> {
    match tc.get("type").and_then(Value::as_str) {
        None | Some("function") => {}
        Some(other) => {
            return Err(TranslateError::new(
                format!("tool call type `{other}` cannot be sent to Gemini"),
                format!("{at}.type"),
            ))
        }
    }
    let name = tc
        .pointer("/function/name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            TranslateError::new("a tool call needs a name", format!("{at}.function.name"))
        })?;
    let args = arguments(
        tc.pointer("/function/arguments"),
        &format!("{at}.function.arguments"),
    )?;
    let id = tc
        .get("id")
        .and_then(Value::as_str)
        .filter(|i| !i.is_empty());
    let mut call = Map::new();
    if let Some(id) = id {
        call.insert("id".into(), json!(id));
    }
    call.insert("name".into(), json!(name));
    call.insert("args".into(), args);
    let mut part = Map::new();
    part.insert("functionCall".into(), Value::Object(call));
    let signature = tc
        .pointer("/extra_content/google/thought_signature")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty());
    match (signature, first) {
        (Some(s), _) => {
            part.insert("thoughtSignature".into(), json!(s));
        }
        (None, true) => {
            part.insert("thoughtSignature".into(), json!(SKIP_SIGNATURE));
        }
        (None, false) => {}
    }
    Ok((Value::Object(part), id, name))
}

/// A tool call's `arguments` (JSON text of an object; empty means none) → Gemini's `args`.
fn arguments(v: Option<&Value>, at: &str) -> Result<Value, TranslateError> {
    match v {
        None | Some(Value::Null) => Ok(json!({})),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(json!({})),
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(v @ Value::Object(_)) => Ok(v),
            Ok(_) => Err(TranslateError::new(
                "tool call arguments must be a JSON object",
                at,
            )),
            Err(e) => Err(TranslateError::new(
                format!("tool call arguments are not valid JSON: {e}"),
                at,
            )),
        },
        Some(v @ Value::Object(_)) => Ok(v.clone()),
        Some(_) => Err(TranslateError::new(
            "tool call arguments must be JSON text",
            at,
        )),
    }
}
