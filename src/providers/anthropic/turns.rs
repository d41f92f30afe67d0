//! Chat `messages` → Anthropic `system` and strictly alternating `messages`.
//!
//! Anthropic wants user and assistant turns in turn, the first a user turn, every `tool_use`
//! answered by a `tool_result` in the very next (user) turn, results before any text of that
//! turn, and no result that answers nothing. Chat is looser on each point, so the conversation
//! is rebuilt turn by turn (see the module documentation of [`super`] for what is merged,
//! moved or added). One pass; the ids awaiting a result sit in a hash set.

use super::parts::{self, Side};
use crate::core::translate::TranslateError;
use rustc_hash::FxHashSet;
use serde_json::{json, Value};

/// The text of the user turn put first when a conversation starts with the assistant or has
/// no turn at all: Anthropic requires a user turn first, and a bare `.` asks for nothing.
pub const PLACEHOLDER: &str = ".";

/// What the result of a call without one says.
const NO_RESULT: &str = "No result was sent for this tool call.";

pub(super) struct Converted {
    /// Top-level `system` text blocks.
    pub system: Vec<Value>,
    pub messages: Vec<Value>,
    /// The last assistant turn calls tools without a thinking block first: Anthropic refuses
    /// thinking for such a request.
    pub unsigned_tool_use: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    User,
    Assistant,
}

struct Turn {
    role: Role,
    /// `tool_result` blocks (user turns), sent before `blocks`.
    results: Vec<Value>,
    blocks: Vec<Value>,
}

#[derive(Default)]
struct Builder {
    system: Vec<Value>,
    turns: Vec<Turn>,
    /// Calls of the last assistant turn, in order, and those still without a result.
    calls: Vec<String>,
    open: FxHashSet<String>,
}

/// Converts `messages` (a validated chat list).
pub(super) fn convert(messages: Option<&Value>) -> Result<Converted, TranslateError> {
    let list = match messages {
        Some(Value::Array(a)) => a.as_slice(),
        None | Some(Value::Null) => &[],
        Some(_) => {
            return Err(TranslateError::new(
                "`messages` must be a list.",
                "messages",
            ))
        }
    };
    let mut b = Builder::default();
    for (i, m) in list.iter().enumerate() {
        b.message(i, m)?;
    }
    Ok(b.finish())
}

impl Builder {
    fn message(&mut self, i: usize, m: &Value) -> Result<(), TranslateError> {
        let at = format!("messages[{i}].content");
        let content = m.get("content");
        let cache = m.get("cache_control").filter(|c| c.is_object());
        match m.get("role").and_then(Value::as_str).unwrap_or("") {
            "system" | "developer" => {
                parts::blocks(content, cache, Side::System, &at, &mut self.system)
            }
            "user" => {
                let mut blocks = Vec::new();
                parts::blocks(content, cache, Side::User, &at, &mut blocks)?;
                self.user(Vec::new(), blocks);
                Ok(())
            }
            "assistant" => self.assistant(i, m),
            "tool" => self.tool(i, m),
            other => Err(TranslateError::new(
                format!("`messages[{i}].role` `{other}` cannot be sent to an Anthropic upstream."),
                format!("messages[{i}].role"),
            )),
        }
    }

    /// Adds to the user turn in progress, or starts one.
    fn user(&mut self, results: Vec<Value>, blocks: Vec<Value>) {
        if results.is_empty() && blocks.is_empty() {
            return;
        }
        match self.turns.last_mut() {
            Some(t) if t.role == Role::User => {
                t.results.extend(results);
                t.blocks.extend(blocks);
            }
            _ => self.turns.push(Turn {
                role: Role::User,
                results,
                blocks,
            }),
        }
    }

    fn assistant(&mut self, i: usize, m: &Value) -> Result<(), TranslateError> {
        let mut blocks = Vec::new();
        let cache = m.get("cache_control").filter(|c| c.is_object());
        let at = format!("messages[{i}].content");
        parts::blocks(m.get("content"), cache, Side::Assistant, &at, &mut blocks)?;
        let list = m.get("tool_calls").and_then(Value::as_array);
        let uses = list
            .into_iter()
            .flatten()
            .enumerate()
            .map(|(k, call)| tool_use(i, k, call))
            .collect::<Result<Vec<_>, _>>()?;
        if blocks.is_empty() && uses.is_empty() {
            return Ok(());
        }
        let continuing = self.turns.last().is_some_and(|t| t.role == Role::Assistant);
        if !continuing {
            self.close_calls();
            // A signed thinking block is only valid first in its turn: a merged message's is
            // dropped.
            if let Some(thinking) = signed_thinking(m) {
                blocks.insert(0, thinking);
            }
        }
        // A call whose id the turn already has is dropped: its result could not tell them
        // apart, and Anthropic refuses duplicate ids.
        for (id, block) in uses {
            if self.open.insert(id.clone()) {
                self.calls.push(id);
                blocks.push(block);
            }
        }
        match self.turns.last_mut() {
            Some(t) if continuing => t.blocks.extend(blocks),
            _ => self.turns.push(Turn {
                role: Role::Assistant,
                results: Vec::new(),
                blocks,
            }),
        }
        Ok(())
    }

    /// A `tool` message: the result of an open call, else user text naming the id.
    fn tool(&mut self, i: usize, m: &Value) -> Result<(), TranslateError> {
        let id = tool_id(m.get("tool_call_id").and_then(Value::as_str).unwrap_or(""));
        let content = m.get("content");
        if !self.open.remove(&id) {
            let text = parts::plain_text(content);
            let text = format!("Result of tool call {id}:\n{}", text.trim_end());
            self.user(Vec::new(), vec![json!({"type": "text", "text": text})]);
            return Ok(());
        }
        let mut out = Vec::new();
        let at = format!("messages[{i}].content");
        parts::blocks(content, None, Side::Tool, &at, &mut out)?;
        let mut result = json!({"type": "tool_result", "tool_use_id": id});
        if !out.is_empty() {
            result["content"] = Value::Array(out);
        }
        if let Some(c) = m.get("cache_control").filter(|c| c.is_object()) {
            result["cache_control"] = c.clone();
        }
        self.user(vec![result], Vec::new());
        Ok(())
    }

    /// Before the next assistant turn (or at the end): a result for every call of the last
    /// assistant turn still without one, in the user turn that follows it.
    fn close_calls(&mut self) {
        let calls = std::mem::take(&mut self.calls);
        let missing: Vec<Value> = calls
            .into_iter()
            .filter(|id| self.open.contains(id))
            .map(|id| {
                json!({"type": "tool_result", "tool_use_id": id, "is_error": true,
                    "content": [{"type": "text", "text": NO_RESULT}]})
            })
            .collect();
        self.open.clear();
        if !missing.is_empty() {
            self.user(missing, Vec::new());
        }
    }

    fn finish(mut self) -> Converted {
        if self.turns.last().is_some_and(|t| t.role == Role::User) {
            self.close_calls();
        }
        trim_final_assistant(&mut self.turns);
        if self.turns.first().is_none_or(|t| t.role != Role::User) {
            let text = json!({"type": "text", "text": PLACEHOLDER});
            self.turns.insert(
                0,
                Turn {
                    role: Role::User,
                    results: Vec::new(),
                    blocks: vec![text],
                },
            );
        }
        let unsigned_tool_use = self
            .turns
            .iter()
            .rev()
            .find(|t| t.role == Role::Assistant)
            .is_some_and(|t| {
                let starts_thinking = t.blocks.first().is_some_and(|b| b["type"] == "thinking");
                !starts_thinking && t.blocks.iter().any(|b| b["type"] == "tool_use")
            });
        let messages = self.turns.into_iter().map(turn_json).collect();
        Converted {
            system: self.system,
            messages,
            unsigned_tool_use,
        }
    }
}

fn turn_json(t: Turn) -> Value {
    let role = match t.role {
        Role::User => "user",
        Role::Assistant => "assistant",
    };
    let mut content = t.results;
    content.extend(t.blocks);
    json!({"role": role, "content": content})
}

/// Anthropic refuses a final assistant turn (a prefill) ending in whitespace.
fn trim_final_assistant(turns: &mut Vec<Turn>) {
    let Some(t) = turns.last_mut().filter(|t| t.role == Role::Assistant) else {
        return;
    };
    let Some(last) = t.blocks.last_mut().filter(|b| b["type"] == "text") else {
        return;
    };
    let trimmed = last["text"].as_str().unwrap_or("").trim_end().to_string();
    if trimmed.is_empty() {
        t.blocks.pop();
    } else {
        last["text"] = Value::String(trimmed);
    }
    if t.blocks.is_empty() {
        turns.pop();
    }
}

/// `reasoning_content` with the `reasoning_signature` the decoder wrote → a `thinking` block.
fn signed_thinking(m: &Value) -> Option<Value> {
    let text = m.get("reasoning_content").and_then(Value::as_str)?;
    let sig = m.get("reasoning_signature").and_then(Value::as_str)?;
    (!text.is_empty() && !sig.is_empty())
        .then(|| json!({"type": "thinking", "thinking": text, "signature": sig}))
}

/// A chat tool call → its id and `tool_use` block (arguments parsed: Anthropic wants an
/// object).
fn tool_use(i: usize, k: usize, call: &Value) -> Result<(String, Value), TranslateError> {
    let at = format!("messages[{i}].tool_calls[{k}]");
    let f = call.get("function").unwrap_or(&Value::Null);
    let name = f
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            TranslateError::new(
                format!("`{at}.function.name` is required."),
                format!("{at}.function.name"),
            )
        })?;
    let id = match call.get("id").and_then(Value::as_str) {
        Some(id) if !id.is_empty() => tool_id(id),
        _ => format!("toolu_{i}_{k}"),
    };
    let param = format!("{at}.function.arguments");
    let input = match f.get("arguments") {
        None | Some(Value::Null) => json!({}),
        Some(Value::String(s)) if s.trim().is_empty() => json!({}),
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(v @ Value::Object(_)) => v,
            Ok(_) => return Err(not_object(&param)),
            Err(e) => {
                return Err(TranslateError::new(
                    format!("`{param}` is not valid JSON: {e}"),
                    param,
                ))
            }
        },
        Some(v @ Value::Object(_)) => v.clone(),
        Some(_) => return Err(not_object(&param)),
    };
    let block = json!({"type": "tool_use", "id": id, "name": name, "input": input});
    Ok((id, block))
}

fn not_object(param: &str) -> TranslateError {
    TranslateError::new(format!("`{param}` must be a JSON object."), param)
}

/// A tool id in Anthropic's alphabet (`^[a-zA-Z0-9_-]+$`): other characters become `_`, the
/// same in calls and results, so ids such as Kimi's `functions.read:0` still match up.
pub(super) fn tool_id(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
