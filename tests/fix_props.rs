//! Property tests of the Hunyuan fixer against the independent checker (`llm_relay::strict`).
//!
//! Generated inputs are what OpenAI clients send, in any order: every role (plus `developer`,
//! `function`, unknown and non-string roles), null/empty/whitespace/array content with text and
//! image parts, assistant tool calls with and without answers, orphan tool results, several
//! system messages, `reasoning_content`, tools with `strict`, unsupported and out-of-range
//! parameters, 0 to 80 messages. A second group feeds arbitrary JSON.
//!
//! Zero messages: the gateway answers 400 before fixing, so property (a) only covers inputs with
//! at least one object message (a stronger condition than "some non-empty text": even an
//! all-empty conversation is fixed into an accepted one).
use llm_relay::chat::fix::{fix_hunyuan, fix_hunyuan_report, FixPolicy, LeadingNonUser, ModelCaps};
use mock_upstream::strict::check_chat;
use proptest::prelude::*;
use serde_json::{json, Map, Value};

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        5 => "[a-zA-Z0-9][a-zA-Z0-9 ,.?]{0,30}",
        1 => Just(String::new()),
        1 => "[ \t\n]{1,4}",
        1 => "[\u{4e00}-\u{4e80}]{1,8}",
        1 => " [a-z]{1,6}\n",
    ]
}

fn url() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("https://example.com/cat.png".to_string()),
        Just("data:image/png;base64,iVBORw0KGgo=".to_string()),
        Just(String::new()),
    ]
}

fn part() -> impl Strategy<Value = Value> {
    prop_oneof![
        5 => text().prop_map(|t| json!({"type": "text", "text": t})),
        2 => url().prop_map(|u| json!({"type": "image_url", "image_url": {"url": u, "detail": "auto"}})),
        1 => url().prop_map(|u| json!({"type": "image_url", "image_url": u})),
        1 => Just(json!({"type": "image_url"})),
        1 => Just(json!({"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}})),
        1 => Just(json!({"type": "text"})),
        1 => text().prop_map(Value::String),
    ]
}

fn content() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        1 => Just(None),
        1 => Just(Some(Value::Null)),
        6 => text().prop_map(|t| Some(Value::String(t))),
        3 => prop::collection::vec(part(), 0..4).prop_map(|p| Some(Value::Array(p))),
        1 => any::<i16>().prop_map(|n| Some(json!(n))),
    ]
}

fn call_id() -> impl Strategy<Value = String> {
    "c[0-5]"
}

fn tool_call() -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => (call_id(), "[a-z_]{1,8}", prop_oneof![Just("{}"), Just("{\"path\":\"a.rs\"}"), Just("")])
            .prop_map(|(id, name, args)| json!({"id": id, "type": "function", "function": {"name": name, "arguments": args}})),
        1 => call_id().prop_map(|id| json!({"id": id, "function": {"name": "obj_args", "arguments": {"x": 1}}})),
        1 => Just(json!({"type": "function", "function": {"name": "no_id", "arguments": "{}"}})),
        1 => call_id().prop_map(|id| json!({"id": id, "type": "function"})),
        1 => Just(json!(42)),
    ]
}

fn with(role: Value, content: Option<Value>) -> Map<String, Value> {
    let mut m = Map::new();
    if !role.is_null() {
        m.insert("role".into(), role);
    }
    if let Some(c) = content {
        m.insert("content".into(), c);
    }
    m
}

fn message() -> impl Strategy<Value = Value> {
    prop_oneof![
        5 => content().prop_map(|c| Value::Object(with(json!("user"), c))),
        1 => (prop_oneof![Just("system"), Just("developer")], content())
            .prop_map(|(r, c)| Value::Object(with(json!(r), c))),
        4 => (content(), prop::collection::vec(tool_call(), 0..4), any::<bool>(), any::<bool>())
            .prop_map(|(c, calls, reasoning, null_calls)| {
                let mut m = with(json!("assistant"), c);
                if !calls.is_empty() {
                    m.insert("tool_calls".into(), Value::Array(calls));
                } else if null_calls {
                    m.insert("tool_calls".into(), Value::Null);
                }
                if reasoning {
                    m.insert("reasoning_content".into(), json!("let me think"));
                }
                Value::Object(m)
            }),
        3 => (prop::option::of(call_id()), content()).prop_map(|(id, c)| {
            let mut m = with(json!("tool"), c);
            if let Some(id) = id {
                m.insert("tool_call_id".into(), json!(id));
            }
            Value::Object(m)
        }),
        1 => (prop_oneof![Just(json!("function")), Just(json!("model")), Just(json!(3)), Just(Value::Null)], content())
            .prop_map(|(r, c)| {
                let mut m = with(r, c);
                m.insert("name".into(), json!("lookup"));
                Value::Object(m)
            }),
        1 => Just(json!("not a message")),
    ]
}

fn params() -> impl Strategy<Value = Map<String, Value>> {
    (
        prop::option::of(-1.0f64..5.0),
        prop::option::of(-1.0f64..2.0),
        prop::option::of(prop_oneof![(-5i64..20000).prop_map(|s| json!(s)), Just(json!(7.5)), Just(json!("x"))]),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(temp, top_p, seed, penalties, tools, extras)| {
            let mut p = Map::new();
            if let Some(t) = temp {
                p.insert("temperature".into(), json!(t));
            }
            if let Some(t) = top_p {
                p.insert("top_p".into(), json!(t));
            }
            if let Some(s) = seed {
                p.insert("seed".into(), s);
            }
            if penalties {
                for k in ["frequency_penalty", "presence_penalty", "parallel_tool_calls", "reasoning_effort"] {
                    p.insert(k.into(), json!(0.5));
                }
            }
            if tools {
                p.insert(
                    "tools".into(),
                    json!([{"type": "function", "function": {"name": "read_file", "parameters": {"type": "object"}, "strict": true}}]),
                );
                p.insert("tool_choice".into(), json!("auto"));
            }
            if extras {
                p.insert("enable_enhancement".into(), json!(false));
                p.insert("stream".into(), json!(true));
            }
            p
        })
}

fn request() -> impl Strategy<Value = Value> {
    (prop::collection::vec(message(), 0..80), params()).prop_map(|(msgs, mut p)| {
        p.insert("model".into(), json!("hunyuan-turbos-latest"));
        p.insert("messages".into(), Value::Array(msgs));
        Value::Object(p)
    })
}

fn caps() -> impl Strategy<Value = ModelCaps> {
    (any::<bool>(), any::<bool>()).prop_map(|(images, tools)| ModelCaps { images, tools })
}

fn policy(max_messages: usize, drop: bool) -> FixPolicy {
    FixPolicy {
        max_messages,
        leading_non_user: if drop {
            LeadingNonUser::Drop
        } else {
            LeadingNonUser::Insert
        },
        ..FixPolicy::default()
    }
}

fn fixed(req: &Value, policy: &FixPolicy, caps: ModelCaps) -> Value {
    let mut out = req.clone();
    fix_hunyuan(&mut out, policy, caps);
    out
}

fn has_object_message(req: &Value) -> bool {
    req["messages"]
        .as_array()
        .is_some_and(|m| m.iter().any(Value::is_object))
}

/// Non-blank texts of the input's `user` messages (string content, text parts, string parts).
fn user_texts(req: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for m in req["messages"].as_array().into_iter().flatten() {
        if m["role"] != "user" {
            continue;
        }
        match &m["content"] {
            Value::String(s) => out.push(s.clone()),
            Value::Array(parts) => {
                for p in parts {
                    match p {
                        Value::String(s) => out.push(s.clone()),
                        p if p["type"] == "text" => {
                            out.extend(p["text"].as_str().map(str::to_owned));
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    out.retain(|t| !t.trim().is_empty());
    out
}

/// Every text of the output, separated so a match cannot span two messages.
fn all_text(req: &Value) -> String {
    let mut s = String::new();
    for m in req["messages"].as_array().into_iter().flatten() {
        match &m["content"] {
            Value::String(t) => s.push_str(t),
            Value::Array(parts) => {
                for p in parts {
                    if let Some(t) = p["text"].as_str() {
                        s.push_str(t);
                        s.push('\u{0}');
                    }
                }
            }
            _ => {}
        }
        s.push('\u{0}');
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// (a) Hunyuan's rules hold after fixing; (b) fixing is idempotent.
    #[test]
    fn fixed_requests_are_accepted_and_stable(
        req in request(),
        caps in caps(),
        max in 0usize..=40,
        drop in any::<bool>(),
    ) {
        let policy = policy(max, drop);
        let once = fixed(&req, &policy, caps);
        if has_object_message(&req) {
            if let Err(v) = check_chat(&once, caps.images) {
                prop_assert!(false, "rejected: {}\ninput: {:#}\noutput: {:#}", v.message, req, once);
            }
        }
        let twice = fixed(&once, &policy, caps);
        prop_assert_eq!(twice, once);
    }

    /// (c) No user text is lost when nothing has to be trimmed.
    #[test]
    fn user_text_survives(req in request(), caps in caps(), drop in any::<bool>()) {
        let out = fixed(&req, &policy(100_000, drop), caps);
        let haystack = all_text(&out);
        for t in user_texts(&req) {
            prop_assert!(haystack.contains(&t), "lost {:?}\ninput: {:#}\noutput: {:#}", t, req, out);
        }
    }
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "role", "content", "tool_calls", "tool_call_id", "type", "text", "image_url", "url",
            "id", "function", "name", "arguments", "messages", "tools", "tool_choice", "strict",
            "temperature", "top_p", "seed", "reasoning_content", "function_call",
        ]).prop_map(str::to_owned),
        1 => "[a-z]{1,6}",
    ]
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        prop::sample::select(vec![
            "user",
            "assistant",
            "tool",
            "system",
            "developer",
            "function",
            "text",
            "image_url",
            "",
            " "
        ])
        .prop_map(|s| json!(s)),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 96, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    /// Any JSON at all: no panic, and still idempotent.
    #[test]
    fn arbitrary_json_never_panics(v in arb_json(), caps in caps(), max in 0usize..50) {
        let policy = policy(max, max % 2 == 0);
        let once = fixed(&v, &policy, caps);
        prop_assert_eq!(fixed(&once, &policy, caps), once);
    }

    /// Arbitrary values as messages: no panic; accepted whenever one of them is an object.
    #[test]
    fn arbitrary_messages_are_fixed(
        msgs in prop::collection::vec(arb_json(), 0..12),
        extra in prop::collection::btree_map(key(), arb_json(), 0..6),
        caps in caps(),
    ) {
        let mut req: Map<String, Value> = extra.into_iter().collect();
        req.insert("messages".into(), Value::Array(msgs));
        let req = Value::Object(req);
        let once = fixed(&req, &FixPolicy::default(), caps);
        if has_object_message(&req) {
            if let Err(v) = check_chat(&once, caps.images) {
                prop_assert!(false, "rejected: {}\ninput: {:#}\noutput: {:#}", v.message, req, once);
            }
        }
        prop_assert_eq!(fixed(&once, &FixPolicy::default(), caps), once);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// The fix report (`llm_relay_fix_rewrites_total`): a request no rule reports is sent as
    /// it came, and a fixed request needs no rule again.
    #[test]
    fn the_fix_report_names_what_changed(
        req in request(),
        caps in caps(),
        max in 0usize..=40,
        drop in any::<bool>(),
    ) {
        let policy = policy(max, drop);
        let mut once = req.clone();
        let report = fix_hunyuan_report(&mut once, &policy, caps);
        if report.is_empty() {
            prop_assert_eq!(&once, &req);
        }
        let mut twice = once.clone();
        let again = fix_hunyuan_report(&mut twice, &policy, caps);
        let rules: Vec<&str> = again.rules().collect();
        prop_assert!(again.is_empty(), "{:?} changed a fixed request: {:#}", rules, once);
    }
}

/// A route's `trim.max_input_tokens` on the typed request (`fix_chat`), as the fixing
/// providers run it.
fn fix_with_trim(req: &Value, caps: ModelCaps, budget: u64) -> (Value, bool) {
    use llm_relay::chat::fix::{fix_chat, FixReport, Trim};
    use llm_relay::chat::model::ChatRequest;
    let Value::Object(o) = req.clone() else {
        return (req.clone(), false);
    };
    let Ok(mut chat) = ChatRequest::from_map(o) else {
        return (req.clone(), false);
    };
    let mut report = FixReport::default();
    let trim = Trim {
        max_messages: None,
        max_input_tokens: Some(budget),
    };
    fix_chat(&mut chat, &FixPolicy::default(), caps, trim, &mut report);
    let trimmed = report.rules().any(|r| r == "trim_to_tokens");
    (Value::Object(chat.into_map()), trimmed)
}

/// The same estimate as the gateway's (4 bytes a token, 4 a message), over the output.
fn estimate(v: &Value) -> u64 {
    v["messages"]
        .as_array()
        .map(|m| {
            m.iter()
                .map(|m| {
                    let text = match &m["content"] {
                        Value::String(s) => s.len(),
                        Value::Null => 0,
                        other => other.to_string().len(),
                    };
                    let calls: usize = m["tool_calls"]
                        .as_array()
                        .map(|c| {
                            c.iter()
                                .map(|c| {
                                    let f = &c["function"];
                                    f["name"].as_str().map_or(0, str::len)
                                        + f["arguments"].as_str().map_or(0, str::len)
                                })
                                .sum()
                        })
                        .unwrap_or(0);
                    ((text + calls) as u64).div_ceil(4) + 4
                })
                .sum()
        })
        .unwrap_or(0)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Trimmed to a token budget, a conversation is still one Hunyuan accepts, keeps its
    /// system prompt and is smaller; untrimmed, it is what the fixer alone makes.
    #[test]
    fn a_token_budget_keeps_an_accepted_conversation(
        req in request(),
        caps in caps(),
        budget in 0u64..400,
    ) {
        prop_assume!(has_object_message(&req));
        let (out, trimmed) = fix_with_trim(&req, caps, budget);
        if let Err(v) = check_chat(&out, caps.images) {
            prop_assert!(false, "rejected: {}\noutput: {:#}", v.message, out);
        }
        let plain = fixed(&req, &FixPolicy::default(), caps);
        let sys = |v: &Value| v["messages"][0]["role"] == "system";
        prop_assert_eq!(sys(&out), sys(&plain), "the system prompt went: {:#}", out);
        if trimmed {
            prop_assert!(estimate(&out) < estimate(&plain), "trimming grew it: {:#}", out);
        } else {
            prop_assert_eq!(&out, &plain);
        }
    }
}

#[test]
fn a_long_agent_history_is_cut_to_the_budget_at_turn_boundaries() {
    let mut msgs = vec![json!({"role": "system", "content": "You are terse."})];
    for i in 0..30 {
        msgs.push(json!({"role": "user", "content": format!("question {i} {}", "x".repeat(400))}));
        msgs.push(json!({"role": "assistant", "content": null, "tool_calls": [
            {"id": format!("c{i}"), "type": "function", "function": {"name": "shell", "arguments": "{}"}}]}));
        msgs.push(
            json!({"role": "tool", "tool_call_id": format!("c{i}"), "content": "y".repeat(400)}),
        );
        msgs.push(json!({"role": "assistant", "content": format!("answer {i}")}));
    }
    msgs.push(json!({"role": "user", "content": "the last question"}));
    let req = json!({"model": "m", "messages": msgs});
    let caps = ModelCaps {
        images: false,
        tools: true,
    };
    let (out, trimmed) = fix_with_trim(&req, caps, 2000);
    assert!(trimmed);
    assert_eq!(check_chat(&out, false), Ok(()));
    assert!(estimate(&out) <= 2000, "{}", estimate(&out));
    let m = out["messages"].as_array().cloned().unwrap_or_default();
    assert_eq!(m[0]["content"], "You are terse.");
    assert_eq!(m[m.len() - 1]["content"], "the last question");
    assert!(m.len() > 5, "cut more than needed: {}", m.len());
    // Every tool result still follows its call.
    for (i, x) in m.iter().enumerate() {
        if x["role"] == "tool" {
            assert_eq!(m[i - 1]["tool_calls"][0]["id"], x["tool_call_id"]);
        }
    }
}
