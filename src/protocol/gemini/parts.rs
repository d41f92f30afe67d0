//! The user-side pieces of a turn: text, images (from `inlineData` / `fileData`), and the
//! text forms of function results and code-execution parts.

use super::meta::field;
use crate::core::translate::TranslateError;
use serde_json::{json, Value};

/// A function's `response` as text: a lone string member (`{"output": "…"}`, the shape
/// Gemini CLI and most examples use) as itself, anything else as its JSON.
pub(super) fn result_text(response: Option<&Value>) -> String {
    match response {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Object(m)) if m.len() == 1 => match m.values().next() {
            Some(Value::String(s)) => s.clone(),
            _ => Value::Object(m.clone()).to_string(),
        },
        Some(v) => v.to_string(),
    }
}

/// `executableCode` and `codeExecutionResult` parts as text.
pub(super) fn code_text(p: &Value) -> Option<String> {
    if let Some(code) = field(p, "executableCode", "executable_code") {
        let lang = code.get("language").and_then(Value::as_str).unwrap_or("");
        let src = code.get("code").and_then(Value::as_str).unwrap_or("");
        return Some(format!("```{}\n{src}\n```", lang.to_ascii_lowercase()));
    }
    let result = field(p, "codeExecutionResult", "code_execution_result")?;
    let output = result.get("output").and_then(Value::as_str).unwrap_or("");
    Some(format!("Code execution output:\n{output}"))
}

pub(super) fn push_paragraph(text: &mut String, t: &str) {
    if !text.is_empty() {
        text.push_str("\n\n");
    }
    text.push_str(t);
}

#[derive(Clone, Copy)]
pub(super) enum Media {
    Inline,
    File,
}

/// The user-side content of one turn, in order: text and `image_url` parts.
#[derive(Default)]
pub(super) struct Parts(Vec<Value>);

impl Parts {
    pub(super) fn text(&mut self, s: String) {
        if !s.is_empty() {
            self.0.push(json!({"type": "text", "text": s}));
        }
    }

    /// `inlineData {mimeType, data}` → a data URL; `fileData {mimeType, fileUri}` → its URI.
    /// Images only: other media become a note (see the module comment).
    pub(super) fn media(&mut self, at: &str, d: &Value, kind: Media) -> Result<(), TranslateError> {
        let mime = field(d, "mimeType", "mime_type").and_then(Value::as_str);
        let (key, snake) = match kind {
            Media::Inline => ("data", "data"),
            Media::File => ("fileUri", "file_uri"),
        };
        let Some(payload) = field(d, key, snake).and_then(Value::as_str) else {
            return Err(TranslateError::new(
                format!("{at}: `{key}` is required"),
                format!("{at}.{key}"),
            ));
        };
        let image = mime.is_none_or(|m| m.to_ascii_lowercase().starts_with("image/"));
        if !image {
            let mime = mime.unwrap_or_default();
            self.text(format!(
                "[A {mime} attachment was left out: this gateway passes only text and images on]"
            ));
            return Ok(());
        }
        let url = match (kind, mime) {
            (Media::Inline, Some(m)) => format!("data:{m};base64,{payload}"),
            (Media::Inline, None) => format!("data:image/png;base64,{payload}"),
            (Media::File, _) => payload.to_string(),
        };
        self.0
            .push(json!({"type": "image_url", "image_url": {"url": url}}));
        Ok(())
    }

    /// A string when there is only text (every chat upstream accepts it), else parts.
    pub(super) fn into_content(self) -> Option<Value> {
        if self.0.is_empty() {
            return None;
        }
        if self.0.iter().all(|p| p["type"] == "text") {
            let texts: Vec<&str> = self.0.iter().filter_map(|p| p["text"].as_str()).collect();
            return Some(Value::String(texts.join("\n")));
        }
        Some(Value::Array(self.0))
    }
}
