//! Prompt-cache breakpoints (Anthropic's `cache_control`) in a chat body.
//!
//! A Messages request marks where its cacheable prefix ends with `cache_control` on system
//! blocks, content blocks, tool calls and tools. Chat has no such field, so the translated
//! chat body carries it where the block went, as OpenRouter and DashScope take it: on the
//! chat content part (a hinted text then stays a part instead of being joined into a string),
//! on the `tool_calls[]` entry, and on the `tools[]` entry. A provider that caches by
//! breakpoints (Anthropic) reads them there; for the others the gateway calls [`strip`],
//! which gives back exactly the body the translator wrote before breakpoints were kept.

use serde_json::Value;

/// The member that holds a breakpoint.
pub const KEY: &str = "cache_control";

/// A block's breakpoint, when it has one (an object: `{"type": "ephemeral", "ttl": "1h"}`).
pub fn of(block: &Value) -> Option<&Value> {
    block.get(KEY).filter(|c| c.is_object())
}

/// Puts `hint` on `target` (an object; anything else is left alone).
pub fn put(target: &mut Value, hint: Option<&Value>) {
    if let (Some(h), Some(o)) = (hint, target.as_object_mut()) {
        o.insert(KEY.into(), h.clone());
    }
}

/// Whether a chat body carries any breakpoint (messages' parts, tool calls or tools).
pub fn any(chat: &Value) -> bool {
    let messages = chat.get("messages").and_then(Value::as_array);
    let in_messages = messages.into_iter().flatten().any(|m| {
        let parts = m.get("content").and_then(Value::as_array);
        let calls = m.get("tool_calls").and_then(Value::as_array);
        parts.into_iter().chain(calls).flatten().any(has)
    });
    let tools = chat.get("tools").and_then(Value::as_array);
    in_messages || tools.into_iter().flatten().any(has)
}

fn has(v: &Value) -> bool {
    v.get(KEY).is_some()
}

/// Removes every breakpoint, for providers without prompt caching by breakpoints. A part
/// array that only existed to carry one (all text parts) becomes the string the translator
/// writes for unhinted text: the texts joined by a blank line.
pub fn strip(chat: &mut Value) {
    if let Some(messages) = chat.get_mut("messages").and_then(Value::as_array_mut) {
        for m in messages {
            strip_message(m);
        }
    }
    if let Some(tools) = chat.get_mut("tools").and_then(Value::as_array_mut) {
        tools.iter_mut().for_each(remove);
    }
}

fn strip_message(m: &mut Value) {
    if let Some(calls) = m.get_mut("tool_calls").and_then(Value::as_array_mut) {
        calls.iter_mut().for_each(remove);
    }
    let Some(content) = m.get_mut("content") else {
        return;
    };
    let Some(parts) = content.as_array_mut() else {
        return;
    };
    let mut removed = false;
    for p in parts.iter_mut() {
        removed |= remove_one(p);
    }
    if !removed || !parts.iter().all(|p| p["type"] == "text") {
        return;
    }
    let texts: Vec<&str> = parts
        .iter()
        .filter_map(|p| p["text"].as_str())
        .filter(|t| !t.is_empty())
        .collect();
    *content = Value::String(texts.join("\n\n"));
}

fn remove(v: &mut Value) {
    remove_one(v);
}

fn remove_one(v: &mut Value) -> bool {
    v.as_object_mut().and_then(|o| o.remove(KEY)).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strip_gives_back_the_plain_body() {
        let hint = json!({"type": "ephemeral"});
        let mut chat = json!({"messages": [
            {"role": "system", "content": [{"type": "text", "text": "a", "cache_control": hint},
                {"type": "text", "text": "b"}]},
            {"role": "user", "content": [{"type": "text", "text": "look"},
                {"type": "image_url", "image_url": {"url": "u"}, "cache_control": hint}]},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "t", "type": "function",
                "function": {"name": "f", "arguments": "{}"}, "cache_control": hint}]},
            {"role": "tool", "tool_call_id": "t", "content": [{"type": "text", "text": "", "cache_control": hint}]},
            {"role": "user", "content": [{"type": "text", "text": "x"}, {"type": "text", "text": "y"}]}],
            "tools": [{"type": "function", "function": {"name": "f"}, "cache_control": hint}]});
        assert!(any(&chat));
        strip(&mut chat);
        assert!(!any(&chat));
        assert_eq!(
            chat,
            json!({"messages": [
                {"role": "system", "content": "a\n\nb"},
                {"role": "user", "content": [{"type": "text", "text": "look"},
                    {"type": "image_url", "image_url": {"url": "u"}}]},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "t", "type": "function",
                    "function": {"name": "f", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "t", "content": ""},
                // Unhinted parts are the client's own: left as they are.
                {"role": "user", "content": [{"type": "text", "text": "x"}, {"type": "text", "text": "y"}]}],
                "tools": [{"type": "function", "function": {"name": "f"}}]})
        );
    }
}
