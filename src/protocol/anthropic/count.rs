//! Input-token estimates for `POST /v1/messages/count_tokens` and `message_start`.
//!
//! The gateway has no tokenizer for the upstream model (and Anthropic's is not public), so this
//! is a deterministic estimate, meant to be in the right range for context budgeting (Claude
//! Code uses it to decide when to compact), not billing. Method:
//!
//! * text is measured in quarter-tokens ("units"): an ASCII character is 1 unit (English BPE
//!   averages ~4 characters a token), a CJK character (Han, kana, Hangul, full-width forms)
//!   4 units (Hunyuan, Qwen and Claude tokenizers all give roughly one token per CJK character
//!   or slightly less), any other character 2 units (accented Latin, Cyrillic, emoji split
//!   into 2–4 tokens per ~4 characters). Tokens = ⌈units / 4⌉.
//! * +[`PER_MESSAGE`] tokens per message and for the system prompt (role markers and
//!   delimiters in every chat template), +[`BASE`] for the reply's start.
//! * tools: name, description and the JSON text of `input_schema`, +[`PER_TOOL`] each, and
//!   [`TOOLS_PREAMBLE`] once (templates wrap tool definitions in instructions).
//! * an image is [`IMAGE`] tokens flat: Anthropic charges ≈ width×height/750, which is ~1600
//!   for the ~1.15 MP images it resizes to; the gateway may replace images with descriptions,
//!   so over- rather than under-estimating is the safe side for a context budget.
//! * tool calls count their name and the JSON text of their input; thinking blocks count
//!   nothing (they are not sent upstream).
//!
//! The units are additive, so the stream translator estimates output tokens incrementally.

use crate::core::translate::TranslateError;
use serde_json::Value;

/// Tokens for the assistant reply's start marker.
pub const BASE: u64 = 3;
/// Tokens of framing per message (and for the system prompt).
pub const PER_MESSAGE: u64 = 4;
/// Tokens of framing per tool definition.
pub const PER_TOOL: u64 = 8;
/// Tokens of tool-use instructions templates add when tools are present.
pub const TOOLS_PREAMBLE: u64 = 100;
/// Flat cost of an image.
pub const IMAGE: u64 = 1600;

/// `POST /v1/messages/count_tokens` → the `input_tokens` to answer with.
///
/// Checks what Anthropic checks (a JSON object with a `messages` array), then
/// [`estimate_request`].
pub fn count_tokens(req: &Value) -> Result<u64, TranslateError> {
    let obj = req
        .as_object()
        .ok_or_else(|| TranslateError::new("request body must be a JSON object", "body"))?;
    match obj.get("messages") {
        Some(Value::Array(_)) => Ok(estimate_request(req)),
        Some(_) => Err(TranslateError::new(
            "messages: Input should be a valid list",
            "messages",
        )),
        None => Err(TranslateError::new("messages: Field required", "messages")),
    }
}

/// The estimated input tokens of a Messages request (system + messages + tools); parts that
/// don't have the expected shape count as nothing rather than failing.
pub fn estimate_request(req: &Value) -> u64 {
    let mut units = 0u64;
    let mut framing = BASE;
    if let Some(system) = req.get("system").filter(|s| !s.is_null()) {
        framing += PER_MESSAGE;
        units += content_units(system, &mut framing);
    }
    for msg in req
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        framing += PER_MESSAGE;
        if let Some(c) = msg.get("content") {
            units += content_units(c, &mut framing);
        }
    }
    let tools = req.get("tools").and_then(Value::as_array);
    if let Some(tools) = tools.filter(|t| !t.is_empty()) {
        framing += TOOLS_PREAMBLE;
        for tool in tools {
            framing += PER_TOOL;
            units += tool_units(tool);
        }
    }
    framing + tokens(units)
}

/// Tokens for a unit count (rounded up).
pub(crate) fn tokens(units: u64) -> u64 {
    units.div_ceil(4)
}

/// The units of a piece of text.
pub(crate) fn text_units(s: &str) -> u64 {
    s.chars().map(char_units).sum()
}

fn char_units(c: char) -> u64 {
    if c.is_ascii() {
        1
    } else if is_cjk(c) {
        4
    } else {
        2
    }
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x2E80..=0x9FFF      // CJK radicals, kana, CJK unified ideographs
        | 0xAC00..=0xD7AF    // Hangul syllables
        | 0xF900..=0xFAFF    // CJK compatibility ideographs
        | 0xFF00..=0xFFEF    // full-width forms
        | 0x20000..=0x3FFFF) // CJK extensions B–H
}

/// Units of a `content` (a string or blocks); images add to `framing` (they are whole tokens).
fn content_units(content: &Value, framing: &mut u64) -> u64 {
    match content {
        Value::String(s) => text_units(s),
        Value::Array(blocks) => blocks.iter().map(|b| block_units(b, framing)).sum(),
        _ => 0,
    }
}

fn block_units(block: &Value, framing: &mut u64) -> u64 {
    let str_at = |k: &str| block.get(k).and_then(Value::as_str).map_or(0, text_units);
    match block.get("type").and_then(Value::as_str).unwrap_or("") {
        "thinking" | "redacted_thinking" => 0,
        "image" => {
            *framing += IMAGE;
            0
        }
        "tool_use" | "server_tool_use" => {
            str_at("name") + block.get("input").map_or(0, |i| text_units(&i.to_string()))
        }
        "document" => match block.pointer("/source/type").and_then(Value::as_str) {
            Some("text") => block
                .pointer("/source/data")
                .and_then(Value::as_str)
                .map_or(0, text_units),
            Some("content") => block
                .pointer("/source/content")
                .map_or(0, |c| content_units(c, framing)),
            _ => {
                *framing += IMAGE;
                0
            }
        },
        _ => {
            str_at("text")
                + block
                    .get("content")
                    .map_or(0, |c| content_units(c, framing))
        }
    }
}

fn tool_units(tool: &Value) -> u64 {
    let s = |k: &str| tool.get(k).and_then(Value::as_str).map_or(0, text_units);
    let schema = tool
        .get("input_schema")
        .map_or(0, |v| text_units(&v.to_string()));
    s("name") + s("description") + schema
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn text_tokens(s: &str) -> u64 {
        tokens(text_units(s))
    }

    /// cl100k reference counts (tiktoken): "tiktoken is great!" → 6, "China is great!" → 4;
    /// the estimate is within one token of each.
    #[test]
    fn english_near_reference() {
        assert!(text_tokens("tiktoken is great!").abs_diff(6) <= 1);
        assert!(text_tokens("China is great!").abs_diff(4) <= 1);
        assert_eq!(text_tokens("Hello, world"), 3);
    }

    #[test]
    fn cjk_one_per_char() {
        assert_eq!(text_tokens("你好世界"), 4);
        assert_eq!(text_tokens("こんにちは"), 5);
        assert_eq!(text_tokens("é"), 1);
    }

    /// A real claude-sonnet-4 answer reported 478 input tokens for this request, of which
    /// ~346 are Anthropic's own tool-use system prompt; the estimate (which models a smaller,
    /// generic preamble) must stay within the same order of magnitude and below it.
    #[test]
    fn tool_request_reference() {
        let req = json!({
            "model": "m", "max_tokens": 10,
            "messages": [{"role": "user", "content": "What's the weather like in Beijing today?"}],
            "tools": [{"name": "get_weather",
                "description": "Get the current weather for a specified location",
                "input_schema": {"type": "object",
                    "properties": {"location": {"type": "string", "description": "City name, e.g.: Beijing"}},
                    "required": ["location"]}}]
        });
        let n = count_tokens(&req).unwrap();
        assert!((150..=478).contains(&n), "{n}");
    }

    #[test]
    fn counts_every_part() {
        let base = json!({"messages": [{"role": "user", "content": "hi"}]});
        let n0 = count_tokens(&base).unwrap();
        assert_eq!(n0, BASE + PER_MESSAGE + 1);
        let with_image = json!({"messages": [{"role": "user", "content": [
            {"type": "text", "text": "hi"},
            {"type": "image", "source": {"type": "url", "url": "http://x"}},
            {"type": "thinking", "thinking": "long long long long long", "signature": ""}]}]});
        assert_eq!(count_tokens(&with_image).unwrap(), n0 + IMAGE);
        let with_system = json!({"system": [{"type": "text", "text": "abcd"}],
            "messages": [{"role": "user", "content": "hi"}]});
        assert_eq!(count_tokens(&with_system).unwrap(), n0 + PER_MESSAGE + 1);
        let tool_result = json!({"messages": [{"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "t", "content": [{"type": "text", "text": "abcdefgh"}]}]}]});
        assert_eq!(count_tokens(&tool_result).unwrap(), BASE + PER_MESSAGE + 2);
    }

    #[test]
    fn rejects_what_anthropic_rejects() {
        assert!(count_tokens(&json!([])).is_err());
        assert_eq!(
            count_tokens(&json!({})).unwrap_err().message,
            "messages: Field required"
        );
        assert!(count_tokens(&json!({"messages": "x"})).is_err());
    }
}
