//! Message shape and content: step 0 (normalise), rules 1, 2 and 4, and the text helpers the
//! other rules use to join content without losing any of it.
use serde_json::{Map, Value};

use super::policy::Texts;
use super::{role, tools, Msg, Role};
use crate::chat::model::Content;

/// Rule 1: Hunyuan rejects `reasoning_content` in request messages (clients such as
/// DeepSeek-style UIs echo it back).
pub(crate) fn drop_reasoning_content(msgs: &mut [Msg]) -> bool {
    let mut changed = false;
    for m in msgs {
        changed |= m.rest.remove("reasoning_content").is_some();
    }
    changed
}

/// Rule 2: every content becomes a string, except a user message's array on a vision model,
/// which keeps its images and non-blank text parts. Images reaching a model without vision
/// (the cascade should have replaced them) become `image_omitted` text, so nothing vanishes
/// silently; other part types (audio, files) become `[<type> content omitted]`. Other roles'
/// arrays are flattened even on a vision model (Hunyuan documents images in user turns only).
/// Missing/null content becomes "" (rule 4 fills it); numbers and booleans become their JSON
/// text. Changed: any content that was not a string, unless a kept part array is unchanged.
pub(crate) fn normalize_content(msgs: &mut [Msg], images: bool, image_omitted: &str) -> bool {
    let mut changed = false;
    for m in msgs.iter_mut() {
        let keep_images = images && role(m) == Role::User;
        let c = std::mem::replace(&mut m.content, Content::Missing);
        let (new, same) = match c {
            Content::Text(s) => (Content::Text(s), true),
            Content::Missing => (Content::Text(String::new()), false),
            Content::Parts(p) => {
                // Only a vision user message can keep its parts: compare those exactly.
                let before = keep_images.then(|| p.clone());
                let out = normalize_value(Value::Array(p), keep_images, image_omitted);
                let same = matches!((&out, &before), (Value::Array(a), Some(b)) if a == b);
                (content_of(out), same)
            }
            Content::Other(v) => (
                content_of(normalize_value(v, keep_images, image_omitted)),
                false,
            ),
        };
        changed |= !same;
        m.content = new;
    }
    changed
}

fn content_of(v: Value) -> Content {
    match v {
        Value::String(s) => Content::Text(s),
        Value::Array(p) => Content::Parts(p),
        other => Content::Other(other),
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
    match &m.content {
        Content::Missing => true,
        Content::Text(s) => !not_blank(s),
        Content::Parts(p) => p.iter().all(part_is_blank),
        Content::Other(v) => is_blank(v),
    }
}

/// The content as plain text (for folding a tool result into another message).
pub(crate) fn content_text(m: &Msg) -> Option<&str> {
    m.content.as_text().filter(|s| not_blank(s))
}

/// Appends content to a message, a blank line between texts; blank additions are ignored and
/// a blank target is replaced. Strings and part arrays mix (vision user messages).
pub(crate) fn append_content(into: &mut Msg, add: Content) {
    let add = match add {
        Content::Missing => return,
        Content::Text(s) => Value::String(s),
        Content::Parts(p) => Value::Array(p),
        Content::Other(v) => v,
    };
    if is_blank(&add) {
        return;
    }
    if content_blank(into) {
        into.content = content_of(add);
        return;
    }
    let slot = std::mem::replace(&mut into.content, Content::Missing);
    into.content = match (slot, add) {
        (Content::Text(mut s), Value::String(a)) => {
            s.push_str("\n\n");
            s.push_str(&a);
            Content::Text(s)
        }
        (Content::Parts(mut p), Value::String(a)) => {
            p.push(text_part(a));
            Content::Parts(p)
        }
        (Content::Parts(mut p), Value::Array(a)) => {
            p.extend(a);
            Content::Parts(p)
        }
        (slot, add) => {
            // String + parts, or content that step 2 has not seen: go through parts.
            let mut parts = match slot {
                Content::Parts(p) => p,
                Content::Text(s) => vec![text_part(s)],
                Content::Other(other) => vec![text_part(other.to_string())],
                Content::Missing => Vec::new(),
            };
            match add {
                Value::Array(a) => parts.extend(a),
                Value::String(a) => parts.push(text_part(a)),
                other => parts.push(text_part(other.to_string())),
            }
            Content::Parts(parts)
        }
    };
}

/// Appends a line of text (see [`append_content`]).
pub(crate) fn push_text(into: &mut Msg, text: String) {
    append_content(into, Content::Text(text));
}

/// Rule 4: Hunyuan rejects empty content ("messages 中 content 不能为空"). An assistant
/// message with tool calls says which tools it calls; other roles get a short placeholder.
pub(crate) fn fill_empty_content(msgs: &mut [Msg], t: &Texts) -> bool {
    let mut changed = false;
    for m in msgs.iter_mut().filter(|m| content_blank(m)) {
        let text = match role(m) {
            Role::User | Role::System => t.empty_user.to_owned(),
            Role::Tool => t.empty_tool_result.to_owned(),
            Role::Assistant => match tools::call_names(m) {
                Some(names) => t.tool_calls.replace("{tools}", &names),
                None => t.empty_assistant.to_owned(),
            },
        };
        m.content = Content::Text(text);
        changed = true;
    }
    changed
}
