//! Hunyuan's documented request rules as an independent checker.
//!
//! Written from `docs/hunyuan-rules.md` (in the repository root), not from the fixer, so that
//! the fixer's property test and the mock upstream's strict mode judge fixed requests against
//! the rules themselves. Error bodies mimic Hunyuan's OpenAI-compatible endpoint: HTTP 400, `code: "1001"`, and the exact Chinese
//! messages where real ones are known.
//!
//! Where the documentation leaves room, the checker is strict rather than lenient (a request it
//! accepts should be one Hunyuan accepts):
//! - an array content counts as empty when it has no image part and no non-blank text part;
//! - a `null` value of `temperature`, `top_p` or `seed` counts as absent, but the mere presence of
//!   a forbidden key (`frequency_penalty`, ...) is a violation even when its value is `null`;
//! - an assistant message with an empty `tool_calls` array counts as having no tool calls.

use serde_json::{json, Map, Value};

/// A rule violation, shaped like Hunyuan's rejection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub status: u16,
    pub message: String,
    pub code: String,
}

/// Hunyuan's real messages (from observed error bodies).
pub const MSG_CONTENT_EMPTY: &str = "messages 中 content 不能为空";
pub const MSG_ALTERNATION: &str = "messages 中 user（tool） 和 assistant 角色需交替出现 (一问一答)，以 user 提问开始， user（tool）提问结束, tool 可以连续出现多次";
pub const MSG_SYSTEM_FIRST: &str = "messages 中 system 角色必须位于列表的最开始";

/// Documented limit of the native API, assumed for the compatible endpoint too.
pub const MAX_MESSAGES: usize = 40;

const FORBIDDEN_PARAMS: [&str; 4] = [
    "frequency_penalty",
    "presence_penalty",
    "parallel_tool_calls",
    "reasoning_effort",
];

fn violation(message: impl Into<String>) -> Violation {
    Violation {
        status: 400,
        message: message.into(),
        code: "1001".to_string(),
    }
}

/// The OpenAI-shaped error body Hunyuan returns for a violation.
pub fn error_body(v: &Violation) -> Value {
    json!({"error": {
        "message": v.message,
        "type": "invalid_request_error",
        "param": null,
        "code": v.code,
    }})
}

/// Checks a chat completion request against every documented Hunyuan rule.
/// `accepts_images` says whether the target model is a vision model (array content allowed).
pub fn check_chat(req: &Value, accepts_images: bool) -> Result<(), Violation> {
    let obj = req
        .as_object()
        .ok_or_else(|| violation("请求体必须是 JSON 对象"))?;
    check_params(obj)?;
    check_tools(obj)?;
    let messages = match obj.get("messages") {
        Some(Value::Array(m)) if !m.is_empty() => m,
        _ => return Err(violation("messages 不能为空")),
    };
    if messages.len() > MAX_MESSAGES {
        return Err(violation(format!(
            "messages 长度不能超过 {MAX_MESSAGES} (got {})",
            messages.len()
        )));
    }
    let mut msgs = Vec::with_capacity(messages.len());
    for m in messages {
        let m = m
            .as_object()
            .ok_or_else(|| violation("messages 中每个元素必须是对象"))?;
        check_message(m, accepts_images)?;
        msgs.push(m);
    }
    check_order(&msgs)
}

fn check_params(obj: &Map<String, Value>) -> Result<(), Violation> {
    if let Some(k) = FORBIDDEN_PARAMS.iter().find(|k| obj.contains_key(**k)) {
        return Err(violation(format!("不支持参数 {k} (unsupported parameter)")));
    }
    check_range(obj, "temperature", 0.0, 2.0, false)?;
    check_range(obj, "top_p", 0.0, 1.0, false)?;
    check_range(obj, "seed", 1.0, 10000.0, true)
}

fn check_range(
    obj: &Map<String, Value>,
    key: &str,
    min: f64,
    max: f64,
    integer: bool,
) -> Result<(), Violation> {
    let v = match obj.get(key) {
        None | Some(Value::Null) => return Ok(()),
        Some(v) => v,
    };
    let ok = match v.as_f64() {
        Some(x) => x >= min && x <= max && (!integer || v.is_i64() || v.is_u64()),
        None => false,
    };
    if ok {
        Ok(())
    } else {
        Err(violation(format!("{key} 取值范围为 [{min}, {max}]")))
    }
}

fn check_tools(obj: &Map<String, Value>) -> Result<(), Violation> {
    let Some(tools) = obj.get("tools").and_then(Value::as_array) else {
        return Ok(());
    };
    let has_strict = tools.iter().any(|t| {
        t.get("function")
            .and_then(Value::as_object)
            .is_some_and(|f| f.contains_key("strict"))
    });
    if has_strict {
        return Err(violation("tools.function 不支持参数 strict"));
    }
    Ok(())
}

fn check_message(m: &Map<String, Value>, accepts_images: bool) -> Result<(), Violation> {
    match m.get("role").and_then(Value::as_str) {
        Some("system" | "user" | "assistant" | "tool") => {}
        _ => {
            return Err(violation(
                "messages 中 role 仅支持 system、user、assistant、tool",
            ))
        }
    }
    if m.contains_key("reasoning_content") {
        return Err(violation("messages 中不支持 reasoning_content 字段"));
    }
    match m.get("content") {
        None | Some(Value::Null) => Err(violation(MSG_CONTENT_EMPTY)),
        Some(Value::String(s)) if s.trim().is_empty() => Err(violation(MSG_CONTENT_EMPTY)),
        Some(Value::String(_)) => Ok(()),
        Some(Value::Array(parts)) => check_parts(parts, accepts_images),
        Some(_) => Err(violation("messages 中 content 必须为字符串或数组")),
    }
}

fn check_parts(parts: &[Value], accepts_images: bool) -> Result<(), Violation> {
    if parts.is_empty() {
        return Err(violation(MSG_CONTENT_EMPTY));
    }
    if !accepts_images {
        return Err(violation(
            "当前模型不支持数组形式的 content (array content requires a vision model)",
        ));
    }
    let mut substantive = false;
    for p in parts {
        match p.get("type").and_then(Value::as_str) {
            Some("text") => match p.get("text").and_then(Value::as_str) {
                Some(t) => substantive |= !t.trim().is_empty(),
                None => return Err(violation("content 中 text 类型必须包含 text 字符串")),
            },
            Some("image_url") => {
                let url = p.pointer("/image_url/url").and_then(Value::as_str);
                if url.is_none_or(|u| u.trim().is_empty()) {
                    return Err(violation("content 中 image_url 类型必须包含 url"));
                }
                substantive = true;
            }
            _ => return Err(violation("content 数组中仅支持 text 和 image_url 类型")),
        }
    }
    if substantive {
        Ok(())
    } else {
        Err(violation(MSG_CONTENT_EMPTY))
    }
}

/// The ids of an assistant message's tool calls; `None` when one has no string id (it could
/// never be answered).
fn tool_call_ids(m: &Map<String, Value>) -> Option<Vec<&str>> {
    match m.get("tool_calls") {
        Some(Value::Array(calls)) => calls
            .iter()
            .map(|c| c.get("id").and_then(Value::as_str))
            .collect(),
        _ => Some(Vec::new()),
    }
}

const MSG_TOOL_ID: &str =
    "messages 中 tool 角色的 tool_call_id 必须对应前一个 assistant 消息 tool_calls 中的 id";
const MSG_TOOL_UNANSWERED: &str =
    "messages 中 assistant 的每个 tool_calls 必须由紧随其后的 tool 消息响应";

fn role(m: &Map<String, Value>) -> &str {
    m.get("role").and_then(Value::as_str).unwrap_or("")
}

/// System placement, alternation and tool pairing, in one pass.
fn check_order(msgs: &[&Map<String, Value>]) -> Result<(), Violation> {
    if msgs.iter().skip(1).any(|m| role(m) == "system") {
        return Err(violation(MSG_SYSTEM_FIRST));
    }
    let start = usize::from(role(msgs[0]) == "system");
    let turns = &msgs[start..];
    // Only a system message is not a conversation.
    let Some(first) = turns.first() else {
        return Err(violation(MSG_ALTERNATION));
    };
    if role(first) != "user" {
        return Err(violation(MSG_ALTERNATION));
    }
    // Tool calls of the nearest assistant that are still waiting for their tool message.
    let mut pending: Vec<&str> = Vec::new();
    let mut prev = "user";
    for m in &turns[1..] {
        let r = role(m);
        match (prev, r) {
            ("user", "assistant") | ("tool", "assistant") => {
                if !pending.is_empty() {
                    return Err(violation(MSG_TOOL_UNANSWERED));
                }
                pending = tool_call_ids(m).ok_or_else(|| violation(MSG_TOOL_UNANSWERED))?;
            }
            ("assistant", "user") => {
                if !pending.is_empty() {
                    return Err(violation(MSG_TOOL_UNANSWERED));
                }
            }
            ("assistant", "tool") | ("tool", "tool") => {
                let id = m.get("tool_call_id").and_then(Value::as_str);
                let pos = id.and_then(|id| pending.iter().position(|p| *p == id));
                match pos {
                    Some(i) => {
                        pending.remove(i);
                    }
                    None => return Err(violation(MSG_TOOL_ID)),
                }
            }
            // user→user, assistant→assistant, user→tool, tool→user.
            _ => return Err(violation(MSG_ALTERNATION)),
        }
        prev = r;
    }
    if prev == "assistant" {
        return Err(violation(MSG_ALTERNATION));
    }
    if !pending.is_empty() {
        return Err(violation(MSG_TOOL_UNANSWERED));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(messages: Value) -> Value {
        json!({"model": "hunyuan-turbos-latest", "messages": messages})
    }

    fn ok(v: &Value) {
        assert_eq!(check_chat(v, false), Ok(()), "{v}");
    }

    fn rejected(v: &Value) -> String {
        match check_chat(v, false) {
            Err(e) => {
                assert_eq!((e.status, e.code.as_str()), (400, "1001"));
                e.message
            }
            Ok(()) => panic!("accepted: {v}"),
        }
    }

    fn user(t: &str) -> Value {
        json!({"role": "user", "content": t})
    }

    fn asst(t: &str) -> Value {
        json!({"role": "assistant", "content": t})
    }

    fn asst_calls(ids: &[&str]) -> Value {
        let calls: Vec<Value> = ids
            .iter()
            .map(|id| json!({"id": id, "type": "function", "function": {"name": "f", "arguments": "{}"}}))
            .collect();
        json!({"role": "assistant", "content": "calling f", "tool_calls": calls})
    }

    fn tool(id: &str) -> Value {
        json!({"role": "tool", "tool_call_id": id, "content": "result"})
    }

    #[test]
    fn error_body_is_hunyuan_shaped() {
        let b = error_body(&violation(MSG_CONTENT_EMPTY));
        assert_eq!(
            b,
            json!({"error": {"message": MSG_CONTENT_EMPTY, "type": "invalid_request_error", "param": null, "code": "1001"}})
        );
    }

    #[test]
    fn messages_must_be_non_empty_array_of_objects() {
        ok(&req(json!([user("hi")])));
        rejected(&req(json!([])));
        rejected(&json!({"model": "m"}));
        rejected(&req(json!("hi")));
        rejected(&req(json!([user("hi"), "x"])));
        rejected(&json!([user("hi")]));
    }

    #[test]
    fn roles_are_limited() {
        ok(&req(
            json!([{"role": "system", "content": "s"}, user("hi")]),
        ));
        rejected(&req(
            json!([{"role": "developer", "content": "s"}, user("hi")]),
        ));
        rejected(&req(json!([{"content": "no role"}])));
    }

    #[test]
    fn system_only_once_and_first() {
        ok(&req(
            json!([{"role": "system", "content": "s"}, user("hi")]),
        ));
        let m = rejected(&req(json!([
            user("hi"),
            {"role": "system", "content": "s"},
        ])));
        assert_eq!(m, MSG_SYSTEM_FIRST);
        let m = rejected(&req(json!([
            {"role": "system", "content": "s"},
            {"role": "system", "content": "t"},
            user("hi"),
        ])));
        assert_eq!(m, MSG_SYSTEM_FIRST);
    }

    #[test]
    fn no_reasoning_content() {
        ok(&req(json!([user("a"), asst("b"), user("c")])));
        rejected(&req(json!([
            user("a"),
            {"role": "assistant", "content": "b", "reasoning_content": "think"},
            user("c"),
        ])));
    }

    #[test]
    fn content_never_empty() {
        ok(&req(json!([user("a")])));
        for empty in [json!(null), json!(""), json!("  \n\t"), json!([])] {
            let m = rejected(&req(json!([{"role": "user", "content": empty}])));
            assert_eq!(m, MSG_CONTENT_EMPTY);
        }
        assert_eq!(rejected(&req(json!([{"role": "user"}]))), MSG_CONTENT_EMPTY);
        // An assistant with tool_calls needs content too.
        let m = rejected(&req(json!([
            user("a"),
            {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            tool("c1"),
        ])));
        assert_eq!(m, MSG_CONTENT_EMPTY);
        rejected(&req(json!([{"role": "user", "content": 5}])));
    }

    #[test]
    fn array_content_only_for_vision() {
        let parts = json!([
            {"type": "text", "text": "what is this"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
        ]);
        let r = req(json!([{"role": "user", "content": parts}]));
        assert_eq!(check_chat(&r, true), Ok(()));
        rejected(&r);
        let r = req(json!([{"role": "user", "content": [{"type": "text", "text": "hi"}]}]));
        assert_eq!(check_chat(&r, true), Ok(()));
        rejected(&r);
    }

    #[test]
    fn array_parts_limited_to_text_and_image() {
        let bad = req(json!([{"role": "user", "content": [
            {"type": "text", "text": "hi"},
            {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
        ]}]));
        assert!(check_chat(&bad, true).is_err());
        let blank = req(json!([{"role": "user", "content": [{"type": "text", "text": " "}]}]));
        assert_eq!(
            check_chat(&blank, true).map_err(|e| e.message),
            Err(MSG_CONTENT_EMPTY.to_string())
        );
    }

    #[test]
    fn first_after_system_is_user() {
        ok(&req(json!([{"role": "system", "content": "s"}, user("a")])));
        let m = rejected(&req(
            json!([{"role": "system", "content": "s"}, asst("a"), user("b")]),
        ));
        assert_eq!(m, MSG_ALTERNATION);
        rejected(&req(json!([tool("c1"), user("b")])));
        rejected(&req(json!([{"role": "system", "content": "s"}])));
    }

    #[test]
    fn user_and_assistant_alternate() {
        ok(&req(json!([
            user("a"),
            asst("b"),
            user("c"),
            asst("d"),
            user("e")
        ])));
        assert_eq!(
            rejected(&req(json!([user("a"), user("b")]))),
            MSG_ALTERNATION
        );
        assert_eq!(
            rejected(&req(json!([user("a"), asst("b"), asst("c"), user("d")]))),
            MSG_ALTERNATION
        );
    }

    #[test]
    fn ends_with_user_or_tool() {
        ok(&req(json!([user("a"), asst_calls(&["c1"]), tool("c1")])));
        assert_eq!(
            rejected(&req(json!([user("a"), asst("b")]))),
            MSG_ALTERNATION
        );
    }

    #[test]
    fn tool_may_repeat_and_must_match_ids() {
        ok(&req(json!([
            user("a"),
            asst_calls(&["c1", "c2"]),
            tool("c2"),
            tool("c1"),
            asst("done"),
            user("thanks"),
        ])));
        // Unknown id.
        assert_eq!(
            rejected(&req(json!([user("a"), asst_calls(&["c1"]), tool("zz")]))),
            MSG_TOOL_ID
        );
        // Missing id.
        rejected(&req(json!([
            user("a"),
            asst_calls(&["c1"]),
            {"role": "tool", "content": "r"},
        ])));
        // Tool after an assistant without tool_calls.
        rejected(&req(json!([user("a"), asst("b"), tool("c1")])));
        // Tool after a user message.
        assert_eq!(
            rejected(&req(json!([user("a"), tool("c1")]))),
            MSG_ALTERNATION
        );
        // Tool followed by user (an assistant must come between).
        assert_eq!(
            rejected(&req(json!([
                user("a"),
                asst_calls(&["c1"]),
                tool("c1"),
                user("b")
            ]))),
            MSG_ALTERNATION
        );
        // Ids of an older assistant do not count.
        rejected(&req(json!([
            user("a"),
            asst_calls(&["c1"]),
            tool("c1"),
            asst_calls(&["c2"]),
            tool("c1"),
        ])));
    }

    #[test]
    fn every_tool_call_answered() {
        ok(&req(json!([user("a"), asst_calls(&["c1"]), tool("c1")])));
        let unanswered = [
            json!([user("a"), asst_calls(&["c1", "c2"]), tool("c1")]),
            json!([user("a"), asst_calls(&["c1"]), user("b")]),
            json!([
                user("a"),
                asst_calls(&["c1", "c2"]),
                tool("c1"),
                asst("x"),
                user("b")
            ]),
        ];
        for m in unanswered {
            assert_eq!(rejected(&req(m)), MSG_TOOL_UNANSWERED);
        }
        // An empty tool_calls array is no tool calls.
        ok(&req(json!([
            user("a"),
            {"role": "assistant", "content": "b", "tool_calls": []},
            user("c"),
        ])));
    }

    #[test]
    fn at_most_40_messages() {
        let mut m: Vec<Value> = (0..39)
            .map(|i| if i % 2 == 0 { user("u") } else { asst("a") })
            .collect();
        m.insert(0, json!({"role": "system", "content": "s"}));
        ok(&req(Value::Array(m.clone())));
        m.push(asst("a"));
        m.push(user("u"));
        assert!(rejected(&req(Value::Array(m))).contains("40"));
    }

    #[test]
    fn forbidden_params() {
        ok(&json!({"messages": [user("a")], "max_tokens": 5, "enable_enhancement": true}));
        for k in FORBIDDEN_PARAMS {
            let mut r = req(json!([user("a")]));
            r[k] = json!(null);
            assert!(rejected(&r).contains(k));
        }
    }

    #[test]
    fn no_strict_in_tool_functions() {
        let tool_def = |strict: bool| {
            let mut f = json!({"name": "f", "parameters": {"type": "object"}});
            if strict {
                f["strict"] = json!(true);
            }
            json!({"messages": [user("a")], "tools": [{"type": "function", "function": f}]})
        };
        ok(&tool_def(false));
        rejected(&tool_def(true));
    }

    #[test]
    fn parameter_ranges() {
        let with = |k: &str, v: Value| {
            let mut r = req(json!([user("a")]));
            r[k] = v;
            r
        };
        for (k, good, bad) in [
            (
                "temperature",
                vec![json!(0), json!(2.0), json!(null)],
                vec![json!(-0.1), json!(2.01), json!("1")],
            ),
            (
                "top_p",
                vec![json!(0.0), json!(1)],
                vec![json!(1.5), json!(-1)],
            ),
            (
                "seed",
                vec![json!(1), json!(10000)],
                vec![json!(0), json!(10001), json!(-5), json!(3.5)],
            ),
        ] {
            for v in good {
                ok(&with(k, v));
            }
            for v in bad {
                assert!(rejected(&with(k, v)).contains(k));
            }
        }
    }
}
