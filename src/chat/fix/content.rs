//! Message shape and content: step 0 (normalise), rules 1, 2 and 4, and the text helpers the
//! other rules use to join content without losing any of it.
use serde_json::{Map, Value};

use super::policy::Texts;
use super::{role, tools, Msg, Role};

/// Step 0: drops non-object messages and maps every role to one Hunyuan knows.
/// `developer` → system; `function` → tool without id (so rule 8 folds it into text);
/// missing, non-string or unknown → user.
pub(crate) fn normalize_messages(raw: Vec<Value>) -> Vec<Msg> {
    raw.into_iter()
        .filter_map(|v| match v {
            Value::Object(mut m) => {
                map_role(&mut m);
                Some(m)
            }
            _ => None,
        })
        .collect()
}

fn map_role(m: &mut Msg) {
    let mapped = match m.get("role").and_then(Value::as_str) {
        Some("system" | "user" | "assistant" | "tool") => return,
        Some("developer") => Role::System,
        Some("function") => {
            // A legacy function result answers no tool call id: never pair it.
            m.remove("tool_call_id");
            Role::Tool
        }
        _ => Role::User,
    };
    m.insert("role".into(), Value::String(mapped.as_str().into()));
}

/// Rule 1: Hunyuan rejects `reasoning_content` in request messages (clients such as
/// DeepSeek-style UIs echo it back).
pub(crate) fn drop_reasoning_content(msgs: &mut [Msg]) {
    for m in msgs {
        m.remove("reasoning_content");
    }
}

/// Rule 2: every content becomes a string, except a user message's array on a vision model,
/// which keeps its images and non-blank text parts. Images reaching a model without vision
/// (the cascade should have replaced them) become `image_omitted` text, so nothing vanishes
/// silently; other part types (audio, files) become `[<type> content omitted]`. Other roles'
/// arrays are flattened even on a vision model (Hunyuan documents images in user turns only).
/// Missing/null content becomes "" (rule 4 fills it); numbers and booleans become their JSON
/// text.
pub(crate) fn normalize_content(msgs: &mut [Msg], images: bool, image_omitted: &str) {
    for m in msgs.iter_mut() {
        let keep_images = images && role(m) == Role::User;
        match m.get_mut("content") {
            Some(Value::String(_)) => {}
            Some(slot) => {
                let v = std::mem::take(slot);
                *slot = normalize_value(v, keep_images, image_omitted);
            }
            None => {
                m.insert("content".into(), Value::String(String::new()));
            }
        }
    }
}

fn normalize_value(v: Value, keep_images: bool, image_omitted: &str) -> Value {
    match v {
        Value::Null => Value::String(String::new()),
        Value::String(_) => v,
        Value::Bool(_) | Value::Number(_) => Value::String(v.to_string()),
        // A lone part object (some clients send one part instead of an array).
        Value::Object(_) => normalize_parts(vec![v], keep_images, image_omitted),
        Value::Array(parts) => normalize_parts(parts, keep_images, image_omitted),
    }
}

/// One content part, classified.
enum Part {
    Text(String),
    Image(Value),
    Skip,
}

fn classify(p: Value, image_omitted: &str) -> Part {
    let mut o = match p {
        Value::String(s) => return Part::Text(s),
        Value::Object(o) => o,
        _ => return Part::Skip,
    };
    let kind = o.get("type").and_then(Value::as_str).unwrap_or("");
    match kind {
        "text" | "input_text" => match o.remove("text") {
            Some(Value::String(s)) => Part::Text(s),
            _ => Part::Skip,
        },
        "refusal" => match o.remove("refusal") {
            Some(Value::String(s)) => Part::Text(s),
            _ => Part::Skip,
        },
        "image_url" => image_part(o).map_or_else(|| Part::Text(image_omitted.into()), Part::Image),
        // No type: keep a `text` if there is one rather than lose it.
        "" => match o.remove("text") {
            Some(Value::String(s)) => Part::Text(s),
            _ => Part::Skip,
        },
        other => Part::Text(format!("[{other} content omitted]")),
    }
}

/// A well-formed `{"type":"image_url","image_url":{"url":...}}`, or None if there is no URL.
fn image_part(mut o: Map<String, Value>) -> Option<Value> {
    match o.get("image_url") {
        Some(Value::Object(i)) if i.get("url").and_then(Value::as_str).is_some_and(not_blank) => {
            Some(Value::Object(o))
        }
        Some(Value::String(u)) if not_blank(u) => {
            let mut i = Map::new();
            i.insert("url".into(), Value::String(u.clone()));
            o.insert("image_url".into(), Value::Object(i));
            Some(Value::Object(o))
        }
        _ => None,
    }
}

fn normalize_parts(parts: Vec<Value>, keep_images: bool, image_omitted: &str) -> Value {
    let mut out: Vec<Value> = Vec::with_capacity(parts.len());
    let mut has_image = false;
    for p in parts {
        match classify(p, image_omitted) {
            Part::Text(s) if not_blank(&s) => out.push(text_part(s)),
            Part::Image(i) if keep_images => {
                has_image = true;
                out.push(i);
            }
            Part::Image(_) => out.push(text_part(image_omitted.into())),
            Part::Text(_) | Part::Skip => {}
        }
    }
    if has_image {
        Value::Array(out)
    } else {
        Value::String(join_text_parts(out))
    }
}

/// Joins text parts with "\n" (the OpenAI SDKs render parts on separate lines).
fn join_text_parts(parts: Vec<Value>) -> String {
    let mut s = String::new();
    for p in parts {
        if let Value::Object(mut o) = p {
            if let Some(Value::String(t)) = o.remove("text") {
                if !s.is_empty() {
                    s.push('\n');
                }
                s.push_str(&t);
            }
        }
    }
    s
}

fn text_part(text: String) -> Value {
    let mut o = Map::new();
    o.insert("type".into(), Value::String("text".into()));
    o.insert("text".into(), Value::String(text));
    Value::Object(o)
}

/// Scans from the end: a text is blank exactly when it is all whitespace, and a merged text
/// ends with its newest part, so checking the growing text of a merge costs only that part's
/// trailing whitespace (`trim` would rescan a long leading run on every merge).
pub(crate) fn not_blank(s: &str) -> bool {
    !s.trim_end().is_empty()
}

/// Whether content counts as empty for Hunyuan: null, blank string, or no non-blank part.
pub(crate) fn is_blank(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => !not_blank(s),
        Value::Array(parts) => parts.iter().all(part_is_blank),
        _ => false,
    }
}

fn part_is_blank(p: &Value) -> bool {
    match p.get("type").and_then(Value::as_str) {
        Some("text") => p
            .get("text")
            .and_then(Value::as_str)
            .is_none_or(|t| !not_blank(t)),
        Some("image_url") => false,
        _ => true,
    }
}

pub(crate) fn content_blank(m: &Msg) -> bool {
    m.get("content").is_none_or(is_blank)
}

/// The content as plain text (for folding a tool result into another message).
pub(crate) fn content_text(m: &Msg) -> Option<&str> {
    m.get("content")
        .and_then(Value::as_str)
        .filter(|s| not_blank(s))
}

/// Appends content to a message, a blank line between texts; blank additions are ignored and
/// a blank target is replaced. Strings and part arrays mix (vision user messages).
pub(crate) fn append_content(into: &mut Msg, add: Value) {
    if is_blank(&add) {
        return;
    }
    let slot = into.entry("content").or_insert(Value::Null);
    if is_blank(slot) {
        *slot = add;
        return;
    }
    match (slot, add) {
        (Value::String(s), Value::String(a)) => {
            s.push_str("\n\n");
            s.push_str(&a);
        }
        (Value::Array(p), Value::String(a)) => p.push(text_part(a)),
        (Value::Array(p), Value::Array(a)) => p.extend(a),
        (slot, add) => {
            // String + parts, or content that step 2 has not seen: go through parts.
            let mut parts = match std::mem::take(slot) {
                Value::Array(p) => p,
                Value::String(s) => vec![text_part(s)],
                other => vec![text_part(other.to_string())],
            };
            match add {
                Value::Array(a) => parts.extend(a),
                Value::String(a) => parts.push(text_part(a)),
                other => parts.push(text_part(other.to_string())),
            }
            *slot = Value::Array(parts);
        }
    }
}

/// Appends a line of text (see [`append_content`]).
pub(crate) fn push_text(into: &mut Msg, text: String) {
    append_content(into, Value::String(text));
}

/// Rule 4: Hunyuan rejects empty content ("messages 中 content 不能为空"). An assistant
/// message with tool calls says which tools it calls; other roles get a short placeholder.
pub(crate) fn fill_empty_content(msgs: &mut [Msg], t: &Texts) {
    for m in msgs.iter_mut().filter(|m| content_blank(m)) {
        let text = match role(m) {
            Role::User | Role::System => t.empty_user.to_owned(),
            Role::Tool => t.empty_tool_result.to_owned(),
            Role::Assistant => match tools::call_names(m) {
                Some(names) => t.tool_calls.replace("{tools}", &names),
                None => t.empty_assistant.to_owned(),
            },
        };
        m.insert("content".into(), Value::String(text));
    }
}
