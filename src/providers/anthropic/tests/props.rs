//! Property: whatever chat conversation comes in, `render` does not panic, and what it renders
//! alternates strictly from a user turn and passes the mock's independent Anthropic checker
//! (results after their calls, first in their turn, no empty text, signed thinking, …).

use super::super::render;
use proptest::prelude::*;
use serde_json::{json, Value};

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z世é]{1,8}( [a-z]{1,4})?",
        1 => Just(String::new()),
        1 => Just("  \n".to_string()),
    ]
}

fn id() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("t1".to_string()),
        Just("t2".to_string()),
        Just("fn.read:0".to_string()),
        Just("ghost".to_string()),
        Just(String::new()),
    ]
}

fn text_part() -> impl Strategy<Value = Value> {
    (text(), any::<bool>()).prop_map(|(t, cache)| {
        let mut p = json!({"type": "text", "text": t});
        if cache {
            p["cache_control"] = json!({"type": "ephemeral"});
        }
        p
    })
}

fn media_part() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => text_part(),
        1 => Just(json!({"type": "image_url", "image_url": {"url": "data:image/png;base64,QUJD"}})),
        1 => Just(json!({"type": "image_url", "image_url": {"url": "https://x.test/i.png"}})),
    ]
}

fn content(part: BoxedStrategy<Value>) -> impl Strategy<Value = Value> {
    prop_oneof![
        1 => Just(Value::Null),
        3 => text().prop_map(Value::String),
        3 => prop::collection::vec(part, 0..3).prop_map(Value::Array),
    ]
}

fn call() -> impl Strategy<Value = Value> {
    let args = prop_oneof![
        8 => Just("{}"),
        8 => Just("{\"command\":\"ls\"}"),
        4 => Just(""),
        1 => Just("{oops"),
    ];
    (id(), args).prop_map(|(id, args)| {
        json!({"id": id, "type": "function", "function": {"name": "Bash", "arguments": args}})
    })
}

fn message() -> impl Strategy<Value = Value> {
    let system = (
        prop_oneof![Just("system"), Just("developer")],
        content(text_part().boxed()),
    )
        .prop_map(|(role, content)| json!({"role": role, "content": content}));
    let user = content(media_part().boxed()).prop_map(|c| json!({"role": "user", "content": c}));
    let assistant = (
        content(text_part().boxed()),
        prop::collection::vec(call(), 0..3),
        prop::option::of(("[a-z]{1,6}", prop::option::of(Just("sig")))),
    )
        .prop_map(|(content, calls, reasoning)| {
            let mut m = json!({"role": "assistant", "content": content});
            if !calls.is_empty() {
                m["tool_calls"] = Value::Array(calls);
            }
            if let Some((r, sig)) = reasoning {
                m["reasoning_content"] = json!(r);
                if let Some(s) = sig {
                    m["reasoning_signature"] = json!(s);
                }
            }
            m
        });
    let tool = (id(), content(media_part().boxed()))
        .prop_map(|(id, c)| json!({"role": "tool", "tool_call_id": id, "content": c}));
    prop_oneof![1 => system, 4 => user, 4 => assistant, 3 => tool]
}

fn request() -> impl Strategy<Value = Value> {
    let effort = prop::option::of(prop_oneof![Just("low"), Just("high"), Just("minimal")]);
    let max = prop::option::of(prop_oneof![Just(100u64), Just(2000), Just(50_000)]);
    let choice = prop::option::of(prop_oneof![Just(json!("required")), Just(json!("auto"))]);
    (
        prop::collection::vec(message(), 0..14),
        effort,
        max,
        any::<bool>(),
        choice,
        prop::option::of(0.0f64..2.0),
    )
        .prop_map(|(messages, effort, max, tools, choice, temperature)| {
            let mut r = json!({"model": "claude-x", "messages": messages, "stop": ["  ", "END"]});
            if let Some(e) = effort {
                r["reasoning_effort"] = json!(e);
            }
            if let Some(m) = max {
                r["max_tokens"] = json!(m);
            }
            if tools {
                r["tools"] = json!([{"type": "function", "function": {"name": "Bash",
                    "parameters": {"type": "object", "properties": {"command": {"type": "string"}}}}}]);
            }
            if let Some(c) = choice {
                r["tool_choice"] = c;
            }
            if let Some(t) = temperature {
                r["temperature"] = json!(t);
            }
            r
        })
}

fn roles(out: &Value) -> Vec<&str> {
    out["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| m["role"].as_str().unwrap_or(""))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn rendered_conversations_are_valid_messages_requests(chat in request()) {
        let Ok(out) = render(&chat) else {
            return Ok(());
        };
        let roles = roles(&out);
        prop_assert!(!roles.is_empty());
        for (i, r) in roles.iter().enumerate() {
            prop_assert_eq!(*r, if i % 2 == 0 { "user" } else { "assistant" }, "{}", out);
        }
        let checked = mock_upstream::anthropic::check(&out);
        prop_assert!(checked.is_ok(), "{:?}\nchat: {}\nrendered: {}", checked, chat, out);
    }
}

/// Arguments that are not JSON are the only refusal a plain conversation can meet.
#[test]
fn only_bad_arguments_are_refused() {
    let chat = json!({"model": "m", "messages": [{"role": "user", "content": "x"},
        {"role": "assistant", "tool_calls": [{"id": "a", "function": {"name": "f", "arguments": "{oops"}}]}]});
    assert!(render(&chat).is_err());
}
