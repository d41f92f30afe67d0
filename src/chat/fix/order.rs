//! Turn order: rules 3, 5, 6, 7 and 9.
use super::content::{append_content, content_blank};
use super::policy::{LeadingNonUser, Texts};
use super::{body_start, new_msg, role, Msg, Role};
use crate::chat::model::Content;

/// Rule 3: Hunyuan wants at most one system message, first ("messages 中 system 角色必须位于
/// 列表的最开始"). All system messages are merged, in order, into the first one, which moves
/// to index 0; blank ones are dropped.
pub(crate) fn merge_system(msgs: &mut Vec<Msg>) -> bool {
    if !msgs.iter().skip(1).any(|m| role(m) == Role::System)
        && !msgs
            .first()
            .is_some_and(|m| role(m) == Role::System && content_blank(m))
    {
        return false; // already fine: the common case costs one scan
    }
    let mut system: Option<Msg> = None;
    let mut rest = Vec::with_capacity(msgs.len());
    for mut m in msgs.drain(..) {
        if role(&m) != Role::System {
            rest.push(m);
        } else if content_blank(&m) {
            // dropped: nothing to say
        } else if let Some(s) = system.as_mut() {
            append_content(s, std::mem::replace(&mut m.content, Content::Missing));
        } else {
            system = Some(m);
        }
    }
    msgs.extend(system);
    msgs.append(&mut rest);
    true
}

/// Rule 6: consecutive user messages are merged (blank line between), and so are consecutive
/// assistant messages, their `tool_calls` concatenated. Tool messages may repeat.
pub(crate) fn merge_consecutive(msgs: &mut Vec<Msg>) -> bool {
    if !msgs
        .windows(2)
        .any(|w| w[0].role == w[1].role && matches!(w[0].role, Role::User | Role::Assistant))
    {
        return false;
    }
    let mut out: Vec<Msg> = Vec::with_capacity(msgs.len());
    for m in msgs.drain(..) {
        let r = role(&m);
        if matches!(r, Role::User | Role::Assistant) {
            if let Some(last) = out.last_mut().filter(|l| role(l) == r) {
                absorb(last, m);
                continue;
            }
        }
        out.push(m);
    }
    *msgs = out;
    true
}

/// Merges `from` into `into`: content appended, typed tool calls concatenated. The other
/// members of `from` (a `name`, vendor fields) are dropped: one message cannot carry two.
fn absorb(into: &mut Msg, mut from: Msg) {
    append_content(into, std::mem::replace(&mut from.content, Content::Missing));
    into.tool_calls.append(&mut from.tool_calls);
}

/// Rule 5: after the system message the conversation must start with user ("以 user 提问
/// 开始"). `insert` adds a short user turn; `drop` removes everything before the first user
/// message (rule 9 then adds one if none is left).
pub(crate) fn leading_user(msgs: &mut Vec<Msg>, mode: LeadingNonUser, t: &Texts) -> bool {
    let start = body_start(msgs);
    if msgs.get(start).is_none_or(|m| role(m) == Role::User) {
        return false;
    }
    match mode {
        LeadingNonUser::Insert => msgs.insert(start, new_msg(Role::User, t.inserted_user)),
        LeadingNonUser::Drop => {
            let end = msgs[start..]
                .iter()
                .position(|m| role(m) == Role::User)
                .map_or(msgs.len(), |k| start + k);
            msgs.drain(start..end);
        }
    }
    true
}

/// Rule 7: a user message may not follow a tool result directly (user and tool are the same
/// side of the "一问一答" alternation), so an assistant turn goes between them.
pub(crate) fn assistant_between_tool_and_user(msgs: &mut Vec<Msg>, t: &Texts) -> bool {
    let needs = msgs
        .windows(2)
        .any(|w| role(&w[0]) == Role::Tool && role(&w[1]) == Role::User);
    if !needs {
        return false;
    }
    let mut out = Vec::with_capacity(msgs.len() + 2);
    for m in msgs.drain(..) {
        if role(&m) == Role::User && out.last().is_some_and(|l| role(l) == Role::Tool) {
            out.push(new_msg(Role::Assistant, t.inserted_assistant));
        }
        out.push(m);
    }
    *msgs = out;
    true
}

/// Rule 9: the conversation must end with user or tool ("user（tool）提问结束"): after a final
/// assistant turn (or with nothing after the system message) a user "continue" turn is added.
pub(crate) fn end_with_user(msgs: &mut Vec<Msg>, t: &Texts) -> bool {
    let body_empty = msgs.len() <= body_start(msgs);
    let add = body_empty || msgs.last().is_some_and(|m| role(m) == Role::Assistant);
    if add {
        msgs.push(new_msg(Role::User, t.continue_prompt));
    }
    add
}
