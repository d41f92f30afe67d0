//! Property: whatever chat request a client sends, once the gateway fixes it to Hunyuan's rules
//! (`fix_hunyuan`), `hunyuan_native::render` gives a body that the mock's independent native
//! checker accepts (PascalCase members only, typed values, no `null` `Temperature` / `TopP`,
//! tool schemas as JSON text, Hunyuan's message rules), or refuses it with a client error
//! naming a field; it never panics.

use llm_relay::chat::fix::{fix_hunyuan, FixPolicy, ModelCaps};
use llm_relay::chat::model::ChatRequest;
use llm_relay::providers::hunyuan_native::render;
use mock_upstream::hunyuan_native::check;
use proptest::prelude::*;
use serde_json::{json, Map, Value};

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        5 => "[a-zA-Z0-9][a-zA-Z0-9 ,.?]{0,20}",
        1 => Just(String::new()),
        1 => "[ \t\n]{1,3}",
        1 => "[\u{4e00}-\u{4e80}]{1,6}",
    ]
}

fn part() -> impl Strategy<Value = Value> {
    prop_oneof![
        5 => text().prop_map(|t| json!({"type": "text", "text": t})),
        2 => Just(json!({"type": "image_url", "image_url": {"url": "https://x.test/cat.png"}})),
        1 => Just(json!({"type": "image_url", "image_url": "data:image/png;base64,iVBORw0KGgo="})),
        1 => Just(json!({"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}})),
    ]
}

fn content() -> impl Strategy<Value = Value> {
    prop_oneof![
        1 => Just(Value::Null),
        6 => text().prop_map(Value::String),
        3 => prop::collection::vec(part(), 0..3).prop_map(Value::Array),
    ]
}

fn call() -> impl Strategy<Value = Value> {
    ("c[0-3]", prop_oneof![Just("{}"), Just("{\"path\":\"a.rs\"}"), Just("")]).prop_map(
        |(id, args)| json!({"id": id, "type": "function", "function": {"name": "read_file", "arguments": args}}),
    )
}

fn message() -> impl Strategy<Value = Value> {
    prop_oneof![
        5 => content().prop_map(|c| json!({"role": "user", "content": c})),
        1 => content().prop_map(|c| json!({"role": "system", "content": c})),
        4 => (content(), prop::collection::vec(call(), 0..3), any::<bool>()).prop_map(|(c, calls, r)| {
            let mut m = json!({"role": "assistant", "content": c});
            if !calls.is_empty() {
                m["tool_calls"] = Value::Array(calls);
            }
            if r {
                m["reasoning_content"] = json!("thinking");
            }
            m
        }),
        3 => ("c[0-3]", content()).prop_map(|(id, c)| json!({"role": "tool", "tool_call_id": id, "content": c})),
    ]
}

fn params() -> impl Strategy<Value = Map<String, Value>> {
    (
        prop::option::of(prop_oneof![
            (0.0f64..2.0).prop_map(|t| json!(t)),
            Just(Value::Null)
        ]),
        prop::option::of(prop_oneof![
            (0.0f64..1.0).prop_map(|t| json!(t)),
            Just(Value::Null)
        ]),
        any::<bool>(),
        prop_oneof![
            Just(json!("auto")),
            Just(json!("none")),
            Just(json!("required")),
            Just(json!({"type": "function", "function": {"name": "read_file"}})),
            Just(Value::Null)
        ],
        any::<bool>(),
    )
        .prop_map(|(temp, top_p, tools, choice, extras)| {
            let mut p = Map::new();
            p.insert("model".into(), json!("hunyuan-turbos-latest"));
            for (k, v) in [("temperature", temp), ("top_p", top_p)] {
                if let Some(v) = v {
                    p.insert(k.into(), v);
                }
            }
            for k in ["max_tokens", "n", "stop", "user", "stream_options"] {
                p.insert(k.into(), json!(1));
            }
            if tools {
                p.insert(
                    "tools".into(),
                    json!([{"type": "function", "function": {"name": "read_file",
                    "description": "Read a file", "parameters": {"type": "object",
                    "properties": {"path": {"type": "string"}}}, "strict": true}}]),
                );
                p.insert("tool_choice".into(), choice);
            }
            if extras {
                p.insert("enable_enhancement".into(), json!(false));
                p.insert("search_info".into(), json!(true));
                p.insert("stream".into(), json!(true));
            }
            p
        })
}

fn request() -> impl Strategy<Value = Value> {
    (prop::collection::vec(message(), 1..50), params()).prop_map(|(msgs, mut p)| {
        p.insert("messages".into(), Value::Array(msgs));
        Value::Object(p)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn fixed_requests_render_to_accepted_native_bodies(
        mut req in request(),
        images in any::<bool>(),
        tools in any::<bool>(),
    ) {
        if images {
            req["model"] = json!("hunyuan-vision");
        }
        fix_hunyuan(&mut req, &FixPolicy::default(), ModelCaps { images, tools });
        let Value::Object(o) = req.clone() else { unreachable!() };
        let Ok(typed) = ChatRequest::from_map(o) else { unreachable!() };
        match render(&typed) {
            Ok(body) => {
                if let Err(r) = check(&body) {
                    prop_assert!(false, "{} {}: {body}\nfrom {req}", r.code, r.message);
                }
            }
            Err(e) => prop_assert!(e.param.is_some(), "{e:?}"),
        }
    }
}
