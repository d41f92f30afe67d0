//! An independent checker of the Anthropic Messages request rules the gateway must respect
//! when it renders a request for an Anthropic upstream: what the real API answers 400
//! `invalid_request_error` to. The mock enforces it on every `/v1/messages` request, and the
//! gateway's tests call [`check`] on rendered bodies directly.
//!
//! Written from the API's documentation and observed refusals, not from the gateway's code,
//! so the two can disagree (which is the point).

use serde_json::{Map, Value};
use std::collections::HashSet;

/// Top-level fields the Messages API accepts (it refuses others: "Extra inputs are not
/// permitted").
const KNOWN_FIELDS: [&str; 18] = [
    "model",
    "messages",
    "max_tokens",
    "system",
    "metadata",
    "stop_sequences",
    "stream",
    "temperature",
    "top_p",
    "top_k",
    "tools",
    "tool_choice",
    "thinking",
    "service_tier",
    "container",
    "mcp_servers",
    "context_management",
    "output_config",
];

const IMAGE_TYPES: [&str; 4] = ["image/jpeg", "image/png", "image/gif", "image/webp"];

/// Checks a request body; `Err` is the message of the 400 Anthropic would answer.
pub fn check(req: &Value) -> Result<(), String> {
    let obj = req.as_object().ok_or("body: Input should be an object")?;
    if let Some(k) = obj.keys().find(|k| !KNOWN_FIELDS.contains(&k.as_str())) {
        return Err(format!("{k}: Extra inputs are not permitted"));
    }
    match obj.get("model").and_then(Value::as_str) {
        Some(m) if !m.is_empty() => {}
        _ => return Err("model: Field required".into()),
    }
    let max_tokens = match obj.get("max_tokens") {
        None | Some(Value::Null) => return Err("max_tokens: Field required".into()),
        Some(v) => v
            .as_u64()
            .filter(|n| *n > 0)
            .ok_or("max_tokens: Input should be a positive integer")?,
    };
    let thinking = thinking(obj, max_tokens)?;
    sampling(obj, thinking)?;
    system(obj.get("system"))?;
    tools(obj, thinking)?;
    messages(obj.get("messages"), thinking)
}

/// `thinking`: enabled with 1024 <= budget < max_tokens, disabled, or adaptive. True when on.
fn thinking(obj: &Map<String, Value>, max_tokens: u64) -> Result<bool, String> {
    let Some(t) = obj.get("thinking") else {
        return Ok(false);
    };
    match t.get("type").and_then(Value::as_str) {
        Some("disabled") => Ok(false),
        Some("adaptive") => Ok(true),
        Some("enabled") => {
            let budget = t
                .get("budget_tokens")
                .and_then(Value::as_u64)
                .ok_or("thinking.enabled.budget_tokens: Field required")?;
            if budget < 1024 {
                return Err("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024".into());
            }
            if budget >= max_tokens {
                return Err("`max_tokens` must be greater than `thinking.budget_tokens`".into());
            }
            Ok(true)
        }
        _ => Err("thinking: Input tag does not match any of the expected tags: 'enabled', 'disabled', 'adaptive'".into()),
    }
}

fn sampling(obj: &Map<String, Value>, thinking: bool) -> Result<(), String> {
    if let Some(t) = obj.get("temperature") {
        let t = t.as_f64().ok_or("temperature: Input should be a number")?;
        if !(0.0..=1.0).contains(&t) {
            return Err("temperature: Input should be less than or equal to 1".into());
        }
        if thinking && t != 1.0 {
            return Err("`temperature` may only be set to 1 when thinking is enabled".into());
        }
    }
    if thinking && obj.contains_key("top_k") {
        return Err("`top_k` is not compatible with thinking".into());
    }
    let stops = obj.get("stop_sequences").and_then(Value::as_array);
    if stops
        .into_iter()
        .flatten()
        .any(|s| s.as_str().is_none_or(|s| s.trim().is_empty()))
    {
        return Err("stop_sequences: each stop sequence must contain non-whitespace".into());
    }
    Ok(())
}

fn system(s: Option<&Value>) -> Result<(), String> {
    match s {
        None | Some(Value::String(_)) => Ok(()),
        Some(Value::Array(blocks)) => {
            for (i, b) in blocks.iter().enumerate() {
                if b.get("type").and_then(Value::as_str) != Some("text") {
                    return Err(format!("system.{i}.type: Input should be 'text'"));
                }
                text_ok(b, &format!("system.{i}"))?;
            }
            Ok(())
        }
        Some(_) => Err("system: Input should be a valid string or list".into()),
    }
}

fn tools(obj: &Map<String, Value>, thinking: bool) -> Result<(), String> {
    let list = obj.get("tools").and_then(Value::as_array);
    for (i, t) in list.into_iter().flatten().enumerate() {
        let custom = t
            .get("type")
            .and_then(Value::as_str)
            .is_none_or(|k| k == "custom");
        if !custom {
            continue;
        }
        if t.get("name")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return Err(format!("tools.{i}.custom.name: Field required"));
        }
        let schema_type = t.pointer("/input_schema/type").and_then(Value::as_str);
        if schema_type != Some("object") {
            return Err(format!(
                "tools.{i}.custom.input_schema.type: Input should be 'object'"
            ));
        }
    }
    let Some(choice) = obj.get("tool_choice") else {
        return Ok(());
    };
    if list.is_none_or(Vec::is_empty) {
        return Err("tool_choice may only be specified while providing tools".into());
    }
    let kind = choice.get("type").and_then(Value::as_str).unwrap_or("");
    if !["auto", "any", "tool", "none"].contains(&kind) {
        return Err("tool_choice: Input tag does not match any of the expected tags".into());
    }
    if thinking && (kind == "any" || kind == "tool") {
        return Err("Thinking may not be enabled when tool_choice forces tool use.".into());
    }
    Ok(())
}

/// The conversation: alternating turns from a user turn, results answering the previous
/// turn's calls (first in their turn), every call answered, signed thinking.
fn messages(m: Option<&Value>, thinking: bool) -> Result<(), String> {
    let list = match m {
        Some(Value::Array(a)) if !a.is_empty() => a,
        Some(Value::Array(_)) => return Err("messages: at least one message is required".into()),
        _ => return Err("messages: Field required".into()),
    };
    let mut calls: HashSet<String> = HashSet::new();
    let mut last_assistant = None;
    // Mid-conversation `system` messages (the `mid-conversation-system` beta Claude Code
    // uses) stand between turns: they take no part in the alternation.
    let mut turn = 0;
    for (i, msg) in list.iter().enumerate() {
        let role = msg.get("role").and_then(Value::as_str).unwrap_or("");
        if role == "system" && turn > 0 {
            content(msg, i, false)?;
            continue;
        }
        let want = if turn % 2 == 0 { "user" } else { "assistant" };
        turn += 1;
        if role != want {
            return Err(if i == 0 {
                "messages: first message must use the \"user\" role".into()
            } else {
                format!("messages.{i}: roles must alternate between \"user\" and \"assistant\", but found multiple \"{role}\" roles in a row")
            });
        }
        let is_final = i + 1 == list.len();
        let blocks = content(msg, i, is_final && role == "assistant")?;
        if role == "user" {
            user_turn(&blocks, i, &mut calls)?;
        } else {
            if !calls.is_empty() {
                return Err(format!("messages.{}: `tool_use` ids were found without `tool_result` blocks immediately after", i - 1));
            }
            calls = assistant_turn(&blocks, i)?;
            last_assistant = Some((i, blocks));
        }
    }
    match last_assistant {
        Some((i, blocks)) if thinking => thinking_first(&blocks, i),
        _ => Ok(()),
    }
}

/// The turn's blocks (a string is one text block).
fn content(msg: &Value, i: usize, final_assistant: bool) -> Result<Vec<Value>, String> {
    let blocks = match msg.get("content") {
        Some(Value::String(s)) => vec![serde_json::json!({"type": "text", "text": s})],
        Some(Value::Array(a)) => a.clone(),
        _ => return Err(format!("messages.{i}.content: Field required")),
    };
    if blocks.is_empty() && !final_assistant {
        return Err(format!("messages.{i}: all messages must have non-empty content except for the optional final assistant message"));
    }
    for (j, b) in blocks.iter().enumerate() {
        block_ok(b, &format!("messages.{i}.content.{j}"))?;
    }
    if final_assistant {
        let trailing = blocks
            .last()
            .and_then(|b| b.get("text"))
            .and_then(Value::as_str);
        if trailing.is_some_and(|t| t != t.trim_end()) {
            return Err("final assistant content cannot end with trailing whitespace".into());
        }
    }
    Ok(blocks)
}

fn block_ok(b: &Value, at: &str) -> Result<(), String> {
    match b.get("type").and_then(Value::as_str).unwrap_or("") {
        "text" => text_ok(b, at),
        "image" => image_ok(b, at),
        "thinking" => {
            if b.get("signature")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                return Err(format!("{at}.thinking.signature: Field required"));
            }
            Ok(())
        }
        "tool_result" => match b.get("content") {
            Some(Value::Array(inner)) => {
                for (k, c) in inner.iter().enumerate() {
                    block_ok(c, &format!("{at}.content.{k}"))?;
                }
                Ok(())
            }
            _ => Ok(()),
        },
        "tool_use" => {
            let id = b.get("id").and_then(Value::as_str).unwrap_or("");
            let id_ok = !id.is_empty()
                && id
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-');
            if !id_ok {
                return Err(format!(
                    "{at}.tool_use.id: String should match pattern '^[a-zA-Z0-9_-]+$'"
                ));
            }
            if !b.get("input").is_some_and(Value::is_object) {
                return Err(format!(
                    "{at}.tool_use.input: Input should be a valid dictionary"
                ));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn text_ok(b: &Value, at: &str) -> Result<(), String> {
    match b.get("text").and_then(Value::as_str) {
        Some(t) if !t.trim().is_empty() => Ok(()),
        _ => Err(format!(
            "{at}: text content blocks must contain non-whitespace text"
        )),
    }
}

fn image_ok(b: &Value, at: &str) -> Result<(), String> {
    let src = b.get("source").unwrap_or(&Value::Null);
    match src.get("type").and_then(Value::as_str) {
        Some("url") if src.get("url").is_some_and(Value::is_string) => Ok(()),
        Some("base64") => {
            let media = src.get("media_type").and_then(Value::as_str).unwrap_or("");
            if !IMAGE_TYPES.contains(&media) {
                return Err(format!("{at}.image.source.base64.media_type: Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'"));
            }
            Ok(())
        }
        _ => Err(format!(
            "{at}.image.source: Input tag does not match any of the expected tags"
        )),
    }
}

/// A user turn: its `tool_result`s first, each answering a call of the previous turn (once).
fn user_turn(blocks: &[Value], i: usize, calls: &mut HashSet<String>) -> Result<(), String> {
    let mut seen_other = false;
    for b in blocks {
        if b.get("type").and_then(Value::as_str) != Some("tool_result") {
            seen_other = true;
            continue;
        }
        if seen_other {
            return Err(format!("messages.{i}: `tool_result` blocks must come first in the content, before any other block"));
        }
        let id = b.get("tool_use_id").and_then(Value::as_str).unwrap_or("");
        if !calls.remove(id) {
            return Err(format!("messages.{i}.content: unexpected `tool_use_id` found in `tool_result` blocks: {id}. Each `tool_result` block must have a corresponding `tool_use` block in the previous message."));
        }
    }
    if !calls.is_empty() {
        return Err(format!(
            "messages.{}: `tool_use` ids were found without `tool_result` blocks immediately after",
            i.saturating_sub(1)
        ));
    }
    Ok(())
}

/// An assistant turn: no results in it; its call ids.
fn assistant_turn(blocks: &[Value], i: usize) -> Result<HashSet<String>, String> {
    let mut calls = HashSet::new();
    for b in blocks {
        match b.get("type").and_then(Value::as_str) {
            Some("tool_result") => {
                return Err(format!(
                    "messages.{i}: `tool_result` blocks are only allowed in user messages"
                ))
            }
            Some("tool_use") => {
                let id = b.get("id").and_then(Value::as_str).unwrap_or("");
                if !calls.insert(id.to_string()) {
                    return Err(format!("messages.{i}: `tool_use` ids must be unique"));
                }
            }
            _ => {}
        }
    }
    Ok(calls)
}

/// With thinking on, the last assistant turn, if it calls tools, starts with its thinking.
fn thinking_first(blocks: &[Value], i: usize) -> Result<(), String> {
    let calls = blocks
        .iter()
        .any(|b| b.get("type").and_then(Value::as_str) == Some("tool_use"));
    let first = blocks
        .first()
        .and_then(|b| b.get("type"))
        .and_then(Value::as_str);
    if calls && !matches!(first, Some("thinking" | "redacted_thinking")) {
        return Err(format!("messages.{i}.content.0.type: Expected `thinking` or `redacted_thinking`, but found `{}`. When `thinking` is enabled, a final `assistant` message must start with a thinking block.", first.unwrap_or("nothing")));
    }
    Ok(())
}
