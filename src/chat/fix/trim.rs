//! Rule 10: at most `max_messages` messages, and the route's `trim.max_input_tokens`.
use super::policy::{LeadingNonUser, Texts};
use super::tools::{calls_to_text, result_text};
use super::{body_start, new_msg, order, role, Msg, Role};
use crate::chat::model::Content;

/// The smallest conversation a trim can produce: system, user, assistant, user.
const MIN_MESSAGES: usize = 4;

/// Keeps the system message and the newest turns that fit, cutting where a user message or an
/// assistant turn starts, so an assistant turn always keeps all its tool results. If the cut
/// falls inside a user's agent loop (assistant/tool rounds), the user message that started
/// the loop is kept in front of them: the model must still see the task. If even the last
/// round does not fit (an assistant with more parallel calls than the limit), that round is
/// turned into text: assistant `[tool call …]` lines and one user message with the results.
/// Then rules 5 and 9 are applied again.
pub(crate) fn trim_to_max(
    msgs: &mut Vec<Msg>,
    max: usize,
    mode: LeadingNonUser,
    t: &Texts,
) -> bool {
    let max = max.max(MIN_MESSAGES);
    if msgs.len() <= max {
        return false; // rules 5 and 9 already hold: they ran just before
    }
    let start = body_start(msgs);
    let body = msgs.split_off(start);
    msgs.extend(newest_turns(body, max - start, t));
    order::leading_user(msgs, mode, t);
    order::end_with_user(msgs, t);
    true
}

/// Where each turn starts: every user message, and every assistant message with its tool
/// results. `true` marks a user turn.
fn turn_starts(body: &[Msg]) -> Vec<(usize, bool)> {
    body.iter()
        .enumerate()
        .filter_map(|(i, m)| match role(m) {
            Role::User => Some((i, true)),
            Role::Assistant => Some((i, false)),
            _ => None,
        })
        .collect()
}

/// The first turn from which the rest fits `budget`, counting the user message kept in front
/// of a suffix that starts with an assistant turn.
fn first_fitting(body: &[Msg], turns: &[(usize, bool)], budget: usize) -> Option<(usize, bool)> {
    turns
        .iter()
        .copied()
        .find(|&(s, user)| body.len() - s + usize::from(!user) <= budget)
}

fn newest_turns(mut body: Vec<Msg>, budget: usize, t: &Texts) -> Vec<Msg> {
    let mut pick = first_fitting(&body, &turn_starts(&body), budget);
    if pick.is_none() {
        compact_last_round(&mut body, t);
        pick = first_fitting(&body, &turn_starts(&body), budget);
    }
    let Some((start, starts_with_user)) = pick else {
        return body; // unreachable with budget >= 3; never lose the conversation
    };
    let mut kept = body.split_off(start);
    if !starts_with_user {
        if let Some(u) = body.iter().rposition(|m| role(m) == Role::User) {
            kept.insert(0, body.swap_remove(u));
        }
    }
    kept
}

/// Turns the last assistant round (assistant with calls + results) into an assistant text turn
/// and one user message holding the results: 2 messages however many calls it made.
fn compact_last_round(body: &mut Vec<Msg>, t: &Texts) {
    let Some(a) = body.iter().rposition(|m| role(m) == Role::Assistant) else {
        return;
    };
    let mut round = body.split_off(a).into_iter();
    let Some(mut assistant) = round.next() else {
        return;
    };
    let _ = calls_to_text(&mut assistant);
    body.push(assistant);
    let results: Vec<String> = round.map(|m| result_text(&m, t)).collect();
    if !results.is_empty() {
        body.push(new_msg(Role::User, &results.join("\n\n")));
    }
}

/// A route's explicit context policy (`routes[].trim`): Hunyuan accepts at most 40 messages
/// and silently cuts the oldest content beyond a model's context, so the gateway trims first,
/// where it can keep what matters (the system prompt, whole turns, tool calls with their
/// results) and count what it did (`llm_relay_fix_rewrites_total{rule="trim_to_max"}`,
/// `{rule="trim_to_tokens"}`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trim {
    /// At most this many messages (the provider's `fix.max_messages` still applies when it is
    /// lower).
    #[serde(default)]
    pub max_messages: Option<usize>,
    /// At most about this many input tokens, estimated at 4 bytes of text per token plus 4
    /// per message (a conservative estimate without the model's tokenizer).
    #[serde(default)]
    pub max_input_tokens: Option<u64>,
}

/// The estimate of [`Trim::max_input_tokens`] for one message.
fn tokens(m: &Msg) -> u64 {
    let text = match &m.content {
        Content::Text(s) => s.len(),
        Content::Parts(p) => p.iter().map(|v| v.to_string().len()).sum(),
        Content::Other(v) => v.to_string().len(),
        Content::Missing => 0,
    };
    let calls: usize = m
        .tool_calls
        .iter()
        .map(|c| c.name.len() + c.arguments.len())
        .sum();
    ((text + calls) as u64).div_ceil(4) + 4
}

/// Drops the oldest turns (as rule 10 cuts: whole turns, the task's user message kept in
/// front of an agent loop) until the estimate fits `budget`; the system message and the
/// newest turn always stay, so a single turn over the budget goes as it is (the provider's
/// answer then names the limit). Then rules 5 and 9 again.
pub(crate) fn trim_to_tokens(
    msgs: &mut Vec<Msg>,
    budget: u64,
    mode: LeadingNonUser,
    t: &Texts,
) -> bool {
    let total: u64 = msgs.iter().map(tokens).sum();
    if total <= budget {
        return false;
    }
    let start = body_start(msgs);
    let fixed: u64 = msgs[..start].iter().map(tokens).sum();
    let body = msgs.split_off(start);
    let turns = turn_starts(&body);
    // Suffix sums: the estimate of `body[i..]`.
    let mut suffix = vec![0u64; body.len() + 1];
    for i in (0..body.len()).rev() {
        suffix[i] = suffix[i + 1] + tokens(&body[i]);
    }
    let last_user = |s: usize| body[..s].iter().rposition(|m| role(m) == Role::User);
    let fits = |&(s, user): &(usize, bool)| {
        let lead = if user {
            0
        } else {
            last_user(s).map_or(0, |u| tokens(&body[u]))
        };
        fixed + suffix[s] + lead <= budget
    };
    let newest = turns.last().copied();
    let pick = turns.iter().copied().find(fits).or(newest);
    let before = body.len();
    let kept = match pick {
        Some((s, user)) => {
            let mut body = body;
            let mut kept = body.split_off(s);
            if !user {
                if let Some(u) = body.iter().rposition(|m| role(m) == Role::User) {
                    kept.insert(0, body.swap_remove(u));
                }
            }
            kept
        }
        None => body,
    };
    let changed = kept.len() != before;
    msgs.extend(kept);
    if changed {
        order::leading_user(msgs, mode, t);
        order::end_with_user(msgs, t);
    }
    changed
}
