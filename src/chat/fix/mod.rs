//! Hunyuan message fixing: rewrites an OpenAI chat request so that Tencent Hunyuan accepts it.
//!
//! The rules are those of `docs/hunyuan-rules.md` ("Fixing rules, in order"). Each rule is a small
//! pure function over the message list (or the request object for rule 11). They run in this
//! order, which differs from the document's numbering where a later rule can undo an earlier one:
//!
//! | step | rule | function |
//! |------|------|----------|
//! | 0 | drop non-object messages, map roles | `content::normalize_messages` |
//! | 1 | drop `reasoning_content` | `content::drop_reasoning_content` |
//! | 2 | flatten array content (text model) / tidy it (vision model) | `content::normalize_content` |
//! | – | keep only well-formed `tool_calls`, the rest becomes text | `tools::sanitize_tool_calls` |
//! | – | model without tools: tool calls and results become text | `tools::tools_to_text` |
//! | 3 | one system message, first | `order::merge_system` |
//! | 6 | merge consecutive user / assistant messages | `order::merge_consecutive` |
//! | 8 | pair tool results with tool calls | `tools::pair_tool_results` |
//! | 6 | again: rule 8 turns orphan results into user text | `order::merge_consecutive` |
//! | 4 | no empty content | `content::fill_empty_content` |
//! | 5 | first turn after system is user | `order::leading_user` |
//! | 7 | an assistant turn between tool and user | `order::assistant_between_tool_and_user` |
//! | 9 | last message is user or tool | `order::end_with_user` |
//! | 10 | at most `max_messages`, then 5 and 9 again | `trim::trim_to_max` |
//! | 11 | parameters | `params::fix_params` |
//!
//! Why this order: merging (6) before pairing (8) joins split assistant turns so their tool calls
//! meet their results; pairing can turn orphan results into user text, hence the second merge;
//! placeholders (4) come after merging so a merged message never carries a placeholder next to
//! real text; 5, 7 and 9 only insert non-empty messages, so nothing after them can break 4.
//!
//! Role mapping (step 0): `system`, `user`, `assistant`, `tool` are kept; `developer` becomes
//! `system`; `function` (legacy function result) becomes a tool result without id, so it is
//! always folded into text as `[tool result <name>]: …`; a missing, non-string or unknown role
//! becomes `user` (its text is kept as user text). Non-object messages are dropped.
//!
//! Models without tool support (`!caps.tools`): `tools` and `tool_choice` are removed, every
//! assistant tool call becomes a line `[tool call <id>: <name>(<arguments>)]` in the assistant
//! text, and every tool message becomes a user message `[tool result <id>]: …`, so the turns
//! still alternate user / assistant and nothing the model saw before is lost.
//!
//! Never panics: a request that is not an object, or whose `messages` is missing or not an
//! array, is left alone (the gateway validates before fixing); an empty `messages` stays empty.

mod content;
mod order;
mod params;
mod policy;
mod tools;
mod trim;

#[cfg(test)]
mod tests;

use serde_json::{Map, Value};

pub use policy::{FixPolicy, LeadingNonUser, OutOfRange, ParamRange, Placeholders};

/// What a target model can accept.
#[derive(Debug, Clone, Copy, Default)]
pub struct ModelCaps {
    pub images: bool,
    pub tools: bool,
}

/// One message. After step 0 every message is an object, so the rules work on maps directly
/// instead of re-checking `Value::Object` everywhere.
pub(crate) type Msg = Map<String, Value>;

/// The canonical roles; anything else was mapped in step 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    System,
    User,
    Assistant,
    Tool,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        }
    }
}

/// The role of a normalised message (anything unexpected reads as user, like step 0 maps it).
pub(crate) fn role(m: &Msg) -> Role {
    match m.get("role").and_then(Value::as_str) {
        Some("system") => Role::System,
        Some("assistant") => Role::Assistant,
        Some("tool") => Role::Tool,
        _ => Role::User,
    }
}

/// A new message with string content.
pub(crate) fn new_msg(role: Role, text: &str) -> Msg {
    let mut m = Msg::new();
    m.insert("role".into(), Value::String(role.as_str().into()));
    m.insert("content".into(), Value::String(text.into()));
    m
}

/// Index of the first non-system message (the system message, if any, is at 0 after rule 3).
pub(crate) fn body_start(msgs: &[Msg]) -> usize {
    usize::from(msgs.first().is_some_and(|m| role(m) == Role::System))
}

/// Rewrites a chat request in place so that Hunyuan accepts it.
pub fn fix_hunyuan(req: &mut Value, policy: &FixPolicy, caps: ModelCaps) {
    fix_hunyuan_report(req, policy, caps);
}

/// The rule names of [`FixReport`], in the order the rules run (the `rule` label of
/// `llm_relay_fix_rewrites_total`).
pub const RULES: [&str; 14] = [
    "normalize_messages",
    "drop_reasoning_content",
    "normalize_content",
    "sanitize_tool_calls",
    "tools_to_text",
    "merge_system",
    "merge_consecutive",
    "pair_tool_results",
    "fill_empty_content",
    "leading_user",
    "assistant_between_tool_and_user",
    "end_with_user",
    "trim_to_max",
    "params",
];

/// Which rules changed the request. A rule counts when it changed the shape of the messages
/// (their number, roles, keys, content kind and length, tool calls) or, for `params`, the
/// top-level keys or the clamped values: a cheap fingerprint per step, no copy of the request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FixReport(u16);

impl FixReport {
    fn mark(&mut self, rule: usize, changed: bool) {
        if changed {
            self.0 |= 1 << rule;
        }
    }

    /// The names of the rules that changed something.
    pub fn rules(self) -> impl Iterator<Item = &'static str> {
        RULES
            .iter()
            .enumerate()
            .filter(move |(i, _)| self.changed(*i))
            .map(|(_, r)| *r)
    }

    /// Whether rule `RULES[i]` changed something.
    pub fn changed(self, i: usize) -> bool {
        i < RULES.len() && self.0 & (1 << i) != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// [`fix_hunyuan`], reporting which rules changed something.
pub fn fix_hunyuan_report(req: &mut Value, policy: &FixPolicy, caps: ModelCaps) -> FixReport {
    let mut report = FixReport::default();
    let Some(obj) = req.as_object_mut() else {
        return report;
    };
    let Some(Value::Array(raw)) = obj.get_mut("messages") else {
        return report;
    };
    let raw_print = print_values(raw);
    let mut msgs = content::normalize_messages(std::mem::take(raw));
    report.mark(0, raw_print != print(&msgs));
    if !msgs.is_empty() {
        fix_messages(&mut msgs, policy, caps, &mut report);
    }
    obj.insert(
        "messages".into(),
        Value::Array(msgs.into_iter().map(Value::Object).collect()),
    );
    let params_before = print_params(obj);
    params::fix_params(obj, policy, caps);
    report.mark(13, params_before != print_params(obj));
    report
}

/// Rules 1–10 on a non-empty, normalised message list.
fn fix_messages(msgs: &mut Vec<Msg>, policy: &FixPolicy, caps: ModelCaps, r: &mut FixReport) {
    let t = policy.placeholders.resolved();
    let mut last = print(msgs);
    let mut step = |msgs: &[Msg], rule: usize| {
        let now = print(msgs);
        r.mark(rule, now != last);
        last = now;
    };
    content::drop_reasoning_content(msgs);
    step(msgs, 1);
    content::normalize_content(msgs, caps.images, t.image_omitted);
    step(msgs, 2);
    // After rule 2: invalid calls are appended to the content as text, which must be settled.
    tools::sanitize_tool_calls(msgs);
    step(msgs, 3);
    if !caps.tools {
        tools::tools_to_text(msgs, &t);
        step(msgs, 4);
    }
    order::merge_system(msgs);
    step(msgs, 5);
    order::merge_consecutive(msgs);
    step(msgs, 6);
    tools::pair_tool_results(msgs, &t);
    step(msgs, 7);
    order::merge_consecutive(msgs);
    step(msgs, 6);
    content::fill_empty_content(msgs, &t);
    step(msgs, 8);
    order::leading_user(msgs, policy.leading_non_user, &t);
    step(msgs, 9);
    order::assistant_between_tool_and_user(msgs, &t);
    step(msgs, 10);
    order::end_with_user(msgs, &t);
    step(msgs, 11);
    trim::trim_to_max(msgs, policy.max_messages, policy.leading_non_user, &t);
    step(msgs, 12);
}

/// A fingerprint of the messages' shape: count, and per message its role, keys, content
/// kind and length, tool calls and tool call id.
fn print(msgs: &[Msg]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = rustc_hash::FxHasher::default();
    msgs.len().hash(&mut h);
    for m in msgs {
        print_msg(m, &mut h);
    }
    h.finish()
}

/// [`print`] of the raw `messages` (non-objects count as a marker).
fn print_values(raw: &[Value]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = rustc_hash::FxHasher::default();
    raw.len().hash(&mut h);
    for v in raw {
        match v.as_object() {
            Some(m) => print_msg(m, &mut h),
            None => u8::MAX.hash(&mut h),
        }
    }
    h.finish()
}

fn print_msg(m: &Msg, h: &mut impl std::hash::Hasher) {
    use std::hash::Hash;
    // One pass over the entries (no lookups); an absent key shows in the key list.
    m.len().hash(h);
    for (k, v) in m {
        k.hash(h);
        match k.as_str() {
            "role" | "tool_call_id" => v.as_str().hash(h),
            "content" => match v {
                Value::String(s) => (0u8, s.len()).hash(h),
                Value::Array(a) => (1u8, a.len()).hash(h),
                Value::Null => 2u8.hash(h),
                _ => 3u8.hash(h),
            },
            "tool_calls" => v.as_array().map(Vec::len).hash(h),
            _ => {}
        }
    }
}

/// The top-level keys and the values the parameter policy may change.
fn print_params(obj: &Map<String, Value>) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = rustc_hash::FxHasher::default();
    obj.len().hash(&mut h);
    for k in obj.keys() {
        k.hash(&mut h);
    }
    for k in ["temperature", "top_p", "seed"] {
        let v = obj.get(k);
        (v.is_some(), v.and_then(Value::as_f64).map(f64::to_bits)).hash(&mut h);
    }
    let strict = obj.get("tools").and_then(Value::as_array).map(|tools| {
        tools
            .iter()
            .filter(|t| t.get("function").is_some_and(|f| f.get("strict").is_some()))
            .count()
    });
    strict.hash(&mut h);
    h.finish()
}
