//! Tool calls: sanitising them, turning them into text for models without tools, and rule 8
//! (every tool result answers a call of the assistant turn just before it, every call is
//! answered).
use std::iter::Peekable;

use rustc_hash::FxHashMap;
use serde_json::Value;

use super::content::{content_text, push_text};
use super::policy::Texts;
use super::{new_msg, role, Msg, Role};

/// Keeps only well-formed assistant `tool_calls` (string `id`, `function.name`, `arguments` as
/// a JSON string, `type: function`); anything else, legacy `function_call` included, becomes a
/// `[tool call …]` line in the message text, so rules 4 and 8 only ever see valid calls.
/// An empty `tool_calls` array is removed.
pub(crate) fn sanitize_tool_calls(msgs: &mut [Msg]) {
    for m in msgs.iter_mut() {
        if !m.contains_key("tool_calls") && !m.contains_key("function_call") {
            continue;
        }
        let is_assistant = role(m) == Role::Assistant;
        if is_assistant && already_valid(m) {
            continue; // the common case: no rebuild
        }
        let mut text: Vec<String> = Vec::new();
        if let Some(fc) = m.remove("function_call").filter(|v| !v.is_null()) {
            text.push(describe_call(&fc));
        }
        match m.remove("tool_calls") {
            Some(Value::Array(calls)) => {
                let mut valid = Vec::with_capacity(calls.len());
                for c in calls {
                    match valid_call(c) {
                        Ok(c) if is_assistant => valid.push(c),
                        Ok(c) | Err(c) => text.push(describe_call(&c)),
                    }
                }
                if !valid.is_empty() {
                    m.insert("tool_calls".into(), Value::Array(valid));
                }
            }
            Some(Value::Null) | None => {}
            Some(other) => text.push(describe_call(&other)),
        }
        if !text.is_empty() {
            push_text(m, text.join("\n"));
        }
    }
}

/// Non-empty `tool_calls` that [`valid_call`] would keep unchanged, and no `function_call`.
fn already_valid(m: &Msg) -> bool {
    let Some(Value::Array(calls)) = m.get("tool_calls") else {
        return false;
    };
    !calls.is_empty()
        && !m.contains_key("function_call")
        && calls.iter().all(|c| {
            let f = c.get("function");
            non_blank_str(c.get("id"))
                && c.get("type").and_then(Value::as_str) == Some("function")
                && non_blank_str(f.and_then(|f| f.get("name")))
                && f.and_then(|f| f.get("arguments"))
                    .is_some_and(Value::is_string)
        })
}

fn non_blank_str(v: Option<&Value>) -> bool {
    v.and_then(Value::as_str)
        .is_some_and(|s| !s.trim().is_empty())
}

/// `Ok(call)` normalised, or `Err(call)` unchanged if it cannot be sent as a tool call.
fn valid_call(c: Value) -> Result<Value, Value> {
    let Value::Object(mut o) = c else {
        return Err(c);
    };
    let ok =
        non_blank_str(o.get("id")) && non_blank_str(o.get("function").and_then(|f| f.get("name")));
    if !ok {
        return Err(Value::Object(o));
    }
    if let Some(Value::Object(f)) = o.get_mut("function") {
        let args = match f.get("arguments") {
            Some(Value::String(_)) => None,
            None | Some(Value::Null) => Some("{}".to_owned()),
            Some(other) => Some(other.to_string()),
        };
        if let Some(a) = args {
            f.insert("arguments".into(), Value::String(a));
        }
    }
    if o.get("type").and_then(Value::as_str) != Some("function") {
        o.insert("type".into(), Value::String("function".into()));
    }
    Ok(Value::Object(o))
}

/// `[tool call <id>: <name>(<arguments>)]` for a tool call or a legacy `function_call`.
fn describe_call(c: &Value) -> String {
    if !c.is_object() {
        return format!("[tool call: {c}]");
    }
    let f = c.get("function").unwrap_or(c);
    let name = f.get("name").and_then(Value::as_str).unwrap_or("?");
    let args = match f.get("arguments") {
        Some(Value::String(s)) => s.clone(),
        None | Some(Value::Null) => String::new(),
        Some(v) => v.to_string(),
    };
    match c.get("id").and_then(Value::as_str) {
        Some(id) => format!("[tool call {id}: {name}({args})]"),
        None => format!("[tool call {name}({args})]"),
    }
}

/// Comma-separated names of the message's tool calls, or None if it has none.
pub(crate) fn call_names(m: &Msg) -> Option<String> {
    let calls = m.get("tool_calls").and_then(Value::as_array)?;
    let names: Vec<&str> = calls
        .iter()
        .filter_map(|c| c.get("function")?.get("name")?.as_str())
        .collect();
    (!names.is_empty()).then(|| names.join(", "))
}

fn has_calls(m: &Msg) -> bool {
    m.get("tool_calls")
        .and_then(Value::as_array)
        .is_some_and(|c| !c.is_empty())
}

fn call_ids(m: &Msg) -> Vec<String> {
    m.get("tool_calls")
        .and_then(Value::as_array)
        .map(|calls| {
            calls
                .iter()
                .filter_map(|c| c.get("id")?.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// `[tool result <id>]: <content>`; the label falls back to the (function) name.
pub(crate) fn result_text(m: &Msg, t: &Texts) -> String {
    let label = match m.get("tool_call_id") {
        Some(Value::String(id)) => id.clone(),
        Some(v) if !v.is_null() => v.to_string(),
        _ => m
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_owned(),
    };
    let text = content_text(m).unwrap_or(t.empty_tool_result);
    format!("[tool result {label}]: {text}")
}

/// A tool message as user text (rule 8 orphans, models without tools).
fn tool_to_user(m: &Msg, t: &Texts) -> Msg {
    new_msg(Role::User, &result_text(m, t))
}

/// Replaces an assistant message's tool calls by `[tool call …]` lines in its text.
pub(crate) fn calls_to_text(m: &mut Msg) {
    if let Some(Value::Array(calls)) = m.remove("tool_calls") {
        let lines: Vec<String> = calls.iter().map(describe_call).collect();
        if !lines.is_empty() {
            push_text(m, lines.join("\n"));
        }
    }
}

/// For a model without tool support: tool calls become assistant text and tool messages
/// become user messages (merged by rule 6), so the turns still alternate and nothing is lost.
pub(crate) fn tools_to_text(msgs: &mut [Msg], t: &Texts) {
    for m in msgs.iter_mut() {
        match role(m) {
            Role::Assistant => calls_to_text(m),
            Role::Tool => *m = tool_to_user(m, t),
            _ => {}
        }
    }
}

/// Rule 8: Hunyuan wants every tool message right after the assistant turn whose call it
/// answers ("tool 可以连续出现多次" only after an assistant with tool_calls) and every call
/// answered. An orphan result inside a tool block is folded into the block's last result; an
/// orphan elsewhere becomes user text `[tool result <id>]: …` (rule 6 merges it with its
/// neighbour). An unanswered call gets a `missing_tool_result` result.
pub(crate) fn pair_tool_results(msgs: &mut Vec<Msg>, t: &Texts) {
    let mut out = Vec::with_capacity(msgs.len() + 2);
    let mut it = std::mem::take(msgs).into_iter().peekable();
    while let Some(m) = it.next() {
        match role(&m) {
            Role::Tool => out.push(tool_to_user(&m, t)),
            Role::Assistant if has_calls(&m) => {
                let ids = call_ids(&m);
                out.push(m);
                answer_block(&mut out, &mut it, &ids, t);
            }
            _ => out.push(m),
        }
    }
    *msgs = out;
}

/// Consumes the tool messages following an assistant turn with calls `ids`.
fn answer_block<I: Iterator<Item = Msg>>(
    out: &mut Vec<Msg>,
    it: &mut Peekable<I>,
    ids: &[String],
    t: &Texts,
) {
    let mut answered = vec![false; ids.len()];
    // Each id's unanswered calls, first last (popped in order): finding a result's call by
    // scanning `ids` made a round of N parallel calls cost N².
    let mut unanswered: FxHashMap<&str, Vec<usize>> = FxHashMap::default();
    for (i, id) in ids.iter().enumerate().rev() {
        unanswered.entry(id.as_str()).or_default().push(i);
    }
    let mut orphans = Vec::new();
    while let Some(m) = it.next_if(|m| role(m) == Role::Tool) {
        let id = m.get("tool_call_id").and_then(Value::as_str);
        let slot = id.and_then(|id| unanswered.get_mut(id)).and_then(Vec::pop);
        match slot {
            Some(i) => {
                answered[i] = true;
                out.push(m);
            }
            None => orphans.push(m),
        }
    }
    for (id, _) in ids.iter().zip(&answered).filter(|(_, done)| !**done) {
        let mut r = new_msg(Role::Tool, t.missing_tool_result);
        r.insert("tool_call_id".into(), Value::String(id.clone()));
        out.push(r);
    }
    // `ids` is not empty (has_calls), so the block now ends with a tool message.
    for o in orphans {
        if let Some(last) = out.last_mut() {
            push_text(last, result_text(&o, t));
        }
    }
}
