//! The texts of a chat request and of a chat answer, as the guardrails see them: message
//! content (a string, or the `text` of its parts), reasoning, and tool call arguments. Images,
//! audio and every other member are not text and are left alone.

use serde_json::Value;

/// Calls `f` on each text of the request's messages, in order; `f` returns whether it changed
/// the text. Returns whether any changed.
pub fn each_request_text(chat: &mut Value, f: &mut dyn FnMut(&mut String) -> bool) -> bool {
    let Some(messages) = chat.get_mut("messages").and_then(Value::as_array_mut) else {
        return false;
    };
    let mut changed = false;
    for m in messages {
        changed |= each_message_text(m, f);
    }
    changed
}

/// The texts of one message (or of one answer's `message`/`delta`).
pub fn each_message_text(m: &mut Value, f: &mut dyn FnMut(&mut String) -> bool) -> bool {
    let Some(obj) = m.as_object_mut() else {
        return false;
    };
    let mut changed = false;
    for key in ["content", "reasoning_content"] {
        match obj.get_mut(key) {
            Some(Value::String(s)) => changed |= f(s),
            Some(Value::Array(parts)) => {
                for p in parts {
                    if let Some(Value::String(s)) = p.get_mut("text") {
                        changed |= f(s);
                    }
                }
            }
            _ => {}
        }
    }
    if let Some(Value::Array(calls)) = obj.get_mut("tool_calls") {
        for c in calls {
            if let Some(Value::String(s)) = c.pointer_mut("/function/arguments") {
                changed |= f(s);
            }
        }
    }
    changed
}

/// Reads each text of the request without changing it; stops early when `f` returns `true`.
pub fn any_request_text(chat: &Value, f: &mut dyn FnMut(&str) -> bool) -> bool {
    let Some(messages) = chat.get("messages").and_then(Value::as_array) else {
        return false;
    };
    messages.iter().any(|m| any_message_text(m, f))
}

/// Reads each text of one message; stops early when `f` returns `true`.
pub fn any_message_text(m: &Value, f: &mut dyn FnMut(&str) -> bool) -> bool {
    for key in ["content", "reasoning_content"] {
        match m.get(key) {
            Some(Value::String(s)) if f(s) => return true,
            Some(Value::Array(parts)) => {
                for p in parts {
                    if let Some(s) = p.get("text").and_then(Value::as_str) {
                        if f(s) {
                            return true;
                        }
                    }
                }
            }
            _ => {}
        }
    }
    if let Some(Value::Array(calls)) = m.get("tool_calls") {
        for c in calls {
            if let Some(s) = c.pointer("/function/arguments").and_then(Value::as_str) {
                if f(s) {
                    return true;
                }
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn visits_strings_parts_reasoning_and_arguments_only() {
        let mut v = json!({"messages": [
            {"role": "user", "content": [{"type": "text", "text": "a"},
                {"type": "image_url", "image_url": {"url": "data:x"}}]},
            {"role": "assistant", "content": "b", "reasoning_content": "c",
             "tool_calls": [{"id": "1", "type": "function",
                "function": {"name": "n", "arguments": "{\"x\":1}"}}]},
            {"role": "tool", "tool_call_id": "1", "content": "d"}
        ]});
        let mut seen = Vec::new();
        let changed = each_request_text(&mut v, &mut |s| {
            seen.push(s.clone());
            s.push('!');
            true
        });
        assert!(changed);
        assert_eq!(seen, ["a", "b", "c", "{\"x\":1}", "d"]);
        assert_eq!(v["messages"][0]["content"][0]["text"], "a!");
        assert_eq!(v["messages"][0]["content"][1]["image_url"]["url"], "data:x");
        let mut n = 0;
        assert!(!any_request_text(&v, &mut |_| {
            n += 1;
            false
        }));
        assert_eq!(n, 5);
    }
}
