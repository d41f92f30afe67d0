//! Hunyuan message fixing: rewrites an OpenAI chat request so that Tencent Hunyuan accepts it.
//!
//! The rules are those of `docs/hunyuan-rules.md` ("Fixing rules, in order"). Each rule is a small
//! pure function over the message list (or the request object for rule 11). They run in this
//! order, which differs from the document's numbering where a later rule can undo an earlier one:
//!
//! | step | rule | function |
//! |------|------|----------|
//! | 0 | drop non-object messages, map roles | `chat::model::Message::from_value` |
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
//! | 10 | at most `max_messages` (the route's `trim.max_messages` if lower), then 5 and 9 again | `trim::trim_to_max` |
//! | 10b | at most the route's `trim.max_input_tokens` (estimated), then 5 and 9 again | `trim::trim_to_tokens` |
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
//! The rules work on the typed request of `chat::model` (made from the parsed body by moving
//! its fields, no copy) and each says whether it changed something, which feeds [`FixReport`].
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

use serde_json::Value;

pub use crate::chat::model::Role;
use crate::chat::model::{ChatRequest, Message};
pub use policy::{FixPolicy, LeadingNonUser, OutOfRange, ParamRange, Placeholders};
pub use trim::Trim;

/// What a target model can accept.
#[derive(Debug, Clone, Copy, Default)]
pub struct ModelCaps {
    pub images: bool,
    pub tools: bool,
}

/// One message of the typed chat model (`chat::model`): the rules read and write its typed
/// fields, and every other member rides along in `rest`.
pub(crate) type Msg = Message;

/// The role of a message.
pub(crate) fn role(m: &Msg) -> Role {
    m.role
}

/// A new message with string content.
pub(crate) fn new_msg(role: Role, text: &str) -> Msg {
    Message::new(role, text)
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
pub const RULES: [&str; 15] = [
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
    // Runs right after `trim_to_max` (a route's `trim.max_input_tokens`).
    "trim_to_tokens",
];

/// Which rules changed the request (each rule reports it; `params` reports a removed key or a
/// changed value).
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
    let Value::Object(obj) = req else {
        return report;
    };
    let mut chat = match ChatRequest::from_map(std::mem::take(obj)) {
        Ok(chat) => chat,
        Err(untouched) => {
            *obj = untouched;
            return report;
        }
    };
    fix_chat(&mut chat, policy, caps, Trim::default(), &mut report);
    *obj = chat.into_map();
    report
}

/// The rules on the typed request (see the module comment for their order).
pub fn fix_chat(
    chat: &mut ChatRequest,
    policy: &FixPolicy,
    caps: ModelCaps,
    trim: Trim,
    r: &mut FixReport,
) {
    r.mark(0, chat.normalised);
    if !chat.messages.is_empty() {
        fix_messages(&mut chat.messages, policy, caps, trim, r);
    }
    r.mark(13, params::fix_params(&mut chat.params, policy, caps));
}

/// Rules 1–10 on a non-empty, normalised message list. Each rule says whether it changed
/// something: no fingerprint of the messages is taken between rules.
fn fix_messages(
    msgs: &mut Vec<Msg>,
    policy: &FixPolicy,
    caps: ModelCaps,
    trim: Trim,
    r: &mut FixReport,
) {
    let t = policy.placeholders.resolved();
    r.mark(1, content::drop_reasoning_content(msgs));
    r.mark(
        2,
        content::normalize_content(msgs, caps.images, t.image_omitted),
    );
    // After rule 2: invalid calls are appended to the content as text, which must be settled.
    r.mark(3, tools::sanitize_tool_calls(msgs));
    if !caps.tools {
        r.mark(4, tools::tools_to_text(msgs, &t));
    }
    r.mark(5, order::merge_system(msgs));
    r.mark(6, order::merge_consecutive(msgs));
    r.mark(7, tools::pair_tool_results(msgs, &t));
    r.mark(6, order::merge_consecutive(msgs));
    r.mark(8, content::fill_empty_content(msgs, &t));
    r.mark(9, order::leading_user(msgs, policy.leading_non_user, &t));
    r.mark(10, order::assistant_between_tool_and_user(msgs, &t));
    r.mark(11, order::end_with_user(msgs, &t));
    let max = trim
        .max_messages
        .map_or(policy.max_messages, |m| m.min(policy.max_messages));
    r.mark(
        12,
        trim::trim_to_max(msgs, max, policy.leading_non_user, &t),
    );
    if let Some(budget) = trim.max_input_tokens {
        let mode = policy.leading_non_user;
        r.mark(14, trim::trim_to_tokens(msgs, budget, mode, &t));
    }
}
