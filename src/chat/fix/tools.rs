//! Tool calls: sanitising them, turning them into text for models without tools, and rule 8
//! (every tool result answers a call of the assistant turn just before it, every call is
//! answered).
use std::iter::Peekable;

use rustc_hash::FxHashMap;
use serde_json::Value;

use super::content::{content_text, push_text};
use super::policy::Texts;
use super::{new_msg, role, Msg, Role};
use crate::chat::model::ToolCall;

/// Keeps only well-formed assistant `tool_calls` (string `id`, `function.name`, `arguments` as
/// a JSON string, `type: function`); anything else, legacy `function_call` included, becomes a
/// `[tool call …]` line in the message text, so rules 4 and 8 only ever see valid calls.
/// An empty `tool_calls` array is removed. Well-formed calls are already typed
/// (`chat::model`): only raw call members left in `rest` need work.
pub(crate) fn sanitize_tool_calls(msgs: &mut [Msg]) -> bool {
    let mut changed = false;
    for m in msgs.iter_mut().filter(|m| m.has_raw_calls()) {
        changed = true;
        let is_assistant = role(m) == Role::Assistant;
        let mut text: Vec<String> = Vec::new();
        if let Some(fc) = m.rest.remove("function_call").filter(|v| !v.is_null()) {
            text.push(describe_call(&fc));
        }
        match m.rest.remove("tool_calls") {
            Some(Value::Array(calls)) => {
                for c in calls {
                    match ToolCall::normalise(c) {
                        Ok(c) if is_assistant => m.tool_calls.push(c),
                        Ok(c) => text.push(describe_call(&c.into_value())),
                        Err(c) => text.push(describe_call(&c)),
                    }
                }
            }
            Some(Value::Null) | None => {}
            Some(other) => text.push(describe_call(&other)),
        }
        if !text.is_empty() {
            push_text(m, text.join("\n"));
        }
    }
    changed
}

/// `[tool call <id>: <name>(<arguments>)]` for a typed call.
fn describe_typed(c: &ToolCall) -> String {
    format!("[tool call {}: {}({})]", c.id, c.name, c.arguments)
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
    let names: Vec<&str> = m.tool_calls.iter().map(|c| c.name.as_str()).collect();
    (!names.is_empty()).then(|| names.join(", "))
}

/// `[tool result <id>]: <content>`; the label falls back to the (function) name.
pub(crate) fn result_text(m: &Msg, t: &Texts) -> String {
    let label = match (&m.tool_call_id, m.rest.get("tool_call_id")) {
        (Some(id), _) => id.clone(),
        (None, Some(v)) if !v.is_null() => v.to_string(),
        _ => m
            .rest
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
pub(crate) fn calls_to_text(m: &mut Msg) -> bool {
    let calls = std::mem::take(&mut m.tool_calls);
    let lines: Vec<String> = calls.iter().map(describe_typed).collect();
    if !lines.is_empty() {
        push_text(m, lines.join("\n"));
    }
    !calls.is_empty()
}

/// For a model without tool support: tool calls become assistant text and tool messages
/// become user messages (merged by rule 6), so the turns still alternate and nothing is lost.
pub(crate) fn tools_to_text(msgs: &mut [Msg], t: &Texts) -> bool {
    let mut changed = false;
    for m in msgs.iter_mut() {
        match role(m) {
            Role::Assistant => changed |= calls_to_text(m),
            Role::Tool => {
                *m = tool_to_user(m, t);
                changed = true;
            }
            _ => {}
        }
    }
    changed
}

/// Rule 8: Hunyuan wants every tool message right after the assistant turn whose call it
/// answers ("tool 可以连续出现多次" only after an assistant with tool_calls) and every call
/// answered. An orphan result inside a tool block is folded into the block's last result; an
/// orphan elsewhere becomes user text `[tool result <id>]: …` (rule 6 merges it with its
/// neighbour). An unanswered call gets a `missing_tool_result` result.
pub(crate) fn pair_tool_results(msgs: &mut Vec<Msg>, t: &Texts) -> bool {
    if paired(msgs) {
        return false;
    }
    let mut out = Vec::with_capacity(msgs.len() + 2);
    let mut it = std::mem::take(msgs).into_iter().peekable();
    while let Some(m) = it.next() {
        match role(&m) {
            Role::Tool => out.push(tool_to_user(&m, t)),
            Role::Assistant if !m.tool_calls.is_empty() => {
                let ids: Vec<String> = m.tool_calls.iter().map(|c| c.id.clone()).collect();
                out.push(m);
                answer_block(&mut out, &mut it, &ids, t);
            }
            _ => out.push(m),
        }
    }
    *msgs = out;
    true
}

/// Rule 8 already holds: every tool message answers, in order, a distinct call of the
/// assistant turn opening its block, and every call of that turn is answered.
fn paired(msgs: &[Msg]) -> bool {
    let mut i = 0;
    while i < msgs.len() {
        let m = &msgs[i];
        i += 1;
        match m.role {
            Role::Tool => return false,
            Role::Assistant if !m.tool_calls.is_empty() => {
                let calls = &m.tool_calls;
                let block = msgs[i..]
                    .iter()
                    .take_while(|r| r.role == Role::Tool)
                    .count();
                if block != calls.len() || !block_answers(calls, &msgs[i..i + block]) {
                    return false;
                }
                i += block;
            }
            _ => {}
        }
    }
    true
}

/// Each result names a call of `calls`, no call twice (`block` is as long as `calls`).
fn block_answers(calls: &[ToolCall], block: &[Msg]) -> bool {
    let mut left: FxHashMap<&str, usize> = FxHashMap::default();
    for c in calls {
        *left.entry(c.id.as_str()).or_default() += 1;
    }
    block.iter().all(|r| {
        r.tool_call_id
            .as_deref()
            .and_then(|id| left.get_mut(id))
            .is_some_and(|n| {
                let ok = *n > 0;
                *n = n.saturating_sub(1);
                ok
            })
    })
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
        let id = m.tool_call_id.as_deref();
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
        r.tool_call_id = Some(id.clone());
        out.push(r);
    }
    // `ids` is not empty (has_calls), so the block now ends with a tool message.
    for o in orphans {
        if let Some(last) = out.last_mut() {
            push_text(last, result_text(&o, t));
        }
    }
}
