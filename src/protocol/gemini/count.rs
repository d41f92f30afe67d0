//! Input-token estimates for `countTokens` and for `promptTokenCount` when the upstream
//! reports no usage: the method of `protocol::anthropic::count` (quarter-token units per
//! character, framing per turn and per tool, a flat cost per image) over Gemini's shapes.
//! Media parts (`inlineData`, `fileData`) cost an image each; `thought` parts nothing; a
//! function call or response its name and the JSON text of its arguments or response.

use super::meta::field;
use crate::core::translate::TranslateError;
use crate::protocol::anthropic::count::{
    text_units, tokens, BASE, IMAGE, PER_MESSAGE, PER_TOOL, TOOLS_PREAMBLE,
};
use serde_json::Value;

/// `countTokens` → `totalTokens`. The body is `{"contents": …}` or
/// `{"generateContentRequest": {…}}` (which may carry a system instruction and tools).
pub fn count_tokens(req: &Value) -> Result<u64, TranslateError> {
    if !req.is_object() {
        return Err(TranslateError::new(
            "request body must be a JSON object",
            "body",
        ));
    }
    let inner = counted(req);
    match field(inner, "contents", "contents") {
        Some(Value::Array(_)) => Ok(estimate(inner)),
        Some(_) => Err(TranslateError::new("contents: must be a list", "contents")),
        None => Err(TranslateError::new(
            "contents: Field required (or generateContentRequest)",
            "contents",
        )),
    }
}

/// The request a `countTokens` body counts: its `generateContentRequest`, else itself.
pub fn counted(req: &Value) -> &Value {
    field(req, "generateContentRequest", "generate_content_request").unwrap_or(req)
}

/// The estimated input tokens of a `generateContent` request; parts of unexpected shapes
/// count nothing rather than failing.
pub fn estimate(req: &Value) -> u64 {
    let mut units = 0u64;
    let mut framing = BASE;
    match field(req, "systemInstruction", "system_instruction") {
        Some(Value::String(s)) => {
            framing += PER_MESSAGE;
            units += text_units(s);
        }
        Some(c) => {
            framing += PER_MESSAGE;
            units += content_units(c, &mut framing);
        }
        None => {}
    }
    let contents = field(req, "contents", "contents").and_then(Value::as_array);
    for c in contents.into_iter().flatten() {
        framing += PER_MESSAGE;
        units += content_units(c, &mut framing);
    }
    let declarations = field(req, "tools", "tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| field(t, "functionDeclarations", "function_declarations"))
        .filter_map(Value::as_array)
        .flatten();
    let mut any_tool = false;
    for d in declarations {
        any_tool = true;
        framing += PER_TOOL;
        units += text_units(&d.to_string());
    }
    if any_tool {
        framing += TOOLS_PREAMBLE;
    }
    framing.saturating_add(tokens(units))
}

fn content_units(content: &Value, framing: &mut u64) -> u64 {
    let parts = field(content, "parts", "parts").and_then(Value::as_array);
    parts
        .into_iter()
        .flatten()
        .map(|p| part_units(p, framing))
        .sum()
}

fn part_units(p: &Value, framing: &mut u64) -> u64 {
    if p.get("thought").and_then(Value::as_bool) == Some(true) {
        return 0;
    }
    if let Some(t) = p.get("text").and_then(Value::as_str) {
        return text_units(t);
    }
    let named = |v: &Value, inner: &str| {
        let name = v.get("name").and_then(Value::as_str).map_or(0, text_units);
        name + v.get(inner).map_or(0, |a| text_units(&a.to_string()))
    };
    if let Some(c) = field(p, "functionCall", "function_call") {
        return named(c, "args");
    }
    if let Some(r) = field(p, "functionResponse", "function_response") {
        return named(r, "response");
    }
    if field(p, "inlineData", "inline_data")
        .or_else(|| field(p, "fileData", "file_data"))
        .is_some()
    {
        *framing += IMAGE;
        return 0;
    }
    // executableCode, codeExecutionResult: their text as JSON.
    p.as_object()
        .map_or(0, |o| o.values().map(|v| text_units(&v.to_string())).sum())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn counts_like_count_tokens() {
        let one = json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]});
        assert_eq!(count_tokens(&one).unwrap(), BASE + PER_MESSAGE + 1);
        let wrapped = json!({"generateContentRequest": {"model": "models/x",
            "systemInstruction": {"parts": [{"text": "abcd"}]},
            "contents": [{"role": "user", "parts": [{"text": "hi"},
                {"inlineData": {"mimeType": "image/png", "data": "QUJD"}},
                {"text": "long long long long", "thought": true}]}]}});
        assert_eq!(
            count_tokens(&wrapped).unwrap(),
            BASE + 2 * PER_MESSAGE + IMAGE + 1 + 1
        );
        let tools = json!({"contents": [], "tools": [{"functionDeclarations": [{"name": "f"}]},
            {"googleSearch": {}}]});
        let n = count_tokens(&tools).unwrap();
        assert!(n > BASE + TOOLS_PREAMBLE + PER_TOOL, "{n}");
    }

    #[test]
    fn refuses_what_is_not_a_request() {
        assert!(count_tokens(&json!([])).is_err());
        assert!(count_tokens(&json!({})).is_err());
        assert!(count_tokens(&json!({"contents": "x"})).is_err());
    }
}
