//! `render` never panics on random conversations, and what it renders alternates roles.

use proptest::prelude::*;
use serde_json::{json, Value};

use super::render;

fn content() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => Just(Value::Null),
        6 => "[a-z ]{0,6}".prop_map(Value::String),
        3 => proptest::collection::vec(
            prop_oneof![
                8 => "[a-z]{0,4}".prop_map(|t| json!({"type": "text", "text": t})),
                1 => Just(json!({"type": "image_url", "image_url": {"url": "https://h/a.png"}})),
                1 => Just(
                    json!({"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}})
                ),
                1 => Just(json!({"type": "mystery"})),
            ],
            0..3
        )
        .prop_map(Value::Array),
        1 => Just(json!(17)),
    ]
}

fn tool_call() -> impl Strategy<Value = Value> {
    (
        0..3u8,
        prop_oneof![3 => Just("{}"), 3 => Just("{\"a\":1}"), 3 => Just(""), 1 => Just("{bad")],
    )
        .prop_map(|(id, args)| {
            json!({"id": format!("c{id}"), "type": "function",
            "function": {"name": format!("f{id}"), "arguments": args}})
        })
}

fn message() -> impl Strategy<Value = Value> {
    let role = prop_oneof![
        4 => Just("system"),
        2 => Just("developer"),
        10 => Just("user"),
        10 => Just("assistant"),
        6 => Just("tool"),
        2 => Just("function"),
        1 => Just("other"),
    ];
    (
        role,
        content(),
        proptest::collection::vec(tool_call(), 0..3),
        0..4u8,
    )
        .prop_map(|(role, content, calls, id)| {
            let mut m = json!({"role": role, "content": content});
            match role {
                "assistant" if !calls.is_empty() => m["tool_calls"] = json!(calls),
                "tool" => {
                    // Ids c0..c2 may match an earlier call; c3 never does (then the `name`, when
                    // there is one, is used).
                    m["tool_call_id"] = json!(format!("c{id}"));
                    if id % 2 == 1 {
                        m["name"] = json!("named");
                    }
                }
                "function" if id > 0 => m["name"] = json!("legacy"),
                _ => {}
            }
            m
        })
}

fn conversation() -> impl Strategy<Value = Vec<Value>> {
    proptest::collection::vec(message(), 0..12)
}

/// The generator is not so hostile that every case is an error (then the property would say
/// nothing about what `render` builds).
#[test]
fn a_fair_share_of_conversations_render() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = conversation();
    let rendered = (0..1000)
        .filter(|_| {
            let messages = strategy.new_tree(&mut runner).unwrap().current();
            render(&json!({"model": "m", "messages": messages})).is_ok()
        })
        .count();
    assert!(rendered >= 150, "{rendered} of 1000");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]
    #[test]
    fn never_panics_and_roles_alternate(
        messages in conversation(),
        stream in any::<bool>(),
    ) {
        let c = json!({"model": "gemini-2.5-flash", "messages": messages, "stream": stream});
        let Ok((path, b)) = render(&c) else {
            return Ok(());
        };
        prop_assert!(path.starts_with("/models/gemini-2.5-flash:"));
        let contents = b["contents"].as_array().unwrap();
        prop_assert!(!contents.is_empty());
        let mut last = "";
        for turn in contents {
            let role = turn["role"].as_str().unwrap();
            prop_assert!(role == "user" || role == "model");
            prop_assert_ne!(role, last);
            prop_assert!(!turn["parts"].as_array().unwrap().is_empty());
            last = role;
        }
    }
}
