//! `render` never panics on random conversations, and what it renders alternates roles.

use proptest::prelude::*;
use serde_json::{json, Value};

use super::render;

fn content() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        "[a-z ]{0,6}".prop_map(Value::String),
        proptest::collection::vec(
            prop_oneof![
                "[a-z]{0,4}".prop_map(|t| json!({"type": "text", "text": t})),
                Just(json!({"type": "image_url", "image_url": {"url": "https://h/a.png"}})),
                Just(
                    json!({"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}})
                ),
                Just(json!({"type": "mystery"})),
            ],
            0..3
        )
        .prop_map(Value::Array),
        Just(json!(17)),
    ]
}

fn tool_call() -> impl Strategy<Value = Value> {
    (
        0..3u8,
        prop_oneof![Just("{}"), Just("{\"a\":1}"), Just(""), Just("{bad")],
    )
        .prop_map(|(id, args)| {
            json!({"id": format!("c{id}"), "type": "function",
            "function": {"name": format!("f{id}"), "arguments": args}})
        })
}

fn message() -> impl Strategy<Value = Value> {
    let role = prop_oneof![
        Just("system"),
        Just("developer"),
        Just("user"),
        Just("assistant"),
        Just("tool"),
        Just("function"),
        Just("other"),
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
                "tool" => m["tool_call_id"] = json!(format!("c{id}")),
                "function" if id > 0 => m["name"] = json!("legacy"),
                _ => {}
            }
            m
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]
    #[test]
    fn never_panics_and_roles_alternate(
        messages in proptest::collection::vec(message(), 0..12),
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
