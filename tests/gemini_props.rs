//! Property tests of the Gemini translator: arbitrary (including odd and invalid) Gemini
//! requests never panic it, and every chat body produced is one a chat upstream accepts in
//! shape (each `tool` message answers one call of the assistant turn before it), with no user
//! text lost; arbitrary chat streams, split anywhere, never panic the answer side, whose
//! output is always well-framed (JSON events, or one JSON array).

use llm_relay::protocol::gemini::{to_chat, translator, Framing, GeminiMeta};
use proptest::prelude::*;
use serde_json::{json, Value};

fn text() -> impl Strategy<Value = String> {
    "[a-z世界é ]{1,10}".prop_map(|s| format!("<{s}>"))
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("ls".to_string()),
        Just("cat".to_string()),
        Just("ghost".to_string())
    ]
}

fn id() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        Just(json!("c1")),
        Just(json!("c2")),
        Just(json!(7))
    ]
}

fn part() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => text().prop_map(|t| json!({"text": t})),
        1 => text().prop_map(|t| json!({"text": t, "thought": true})),
        1 => Just(json!({"inlineData": {"mimeType": "image/png", "data": "QUJD"}})),
        1 => Just(json!({"inline_data": {"mime_type": "application/pdf", "data": "QUJD"}})),
        1 => Just(json!({"fileData": {"fileUri": "https://x/i.png"}})),
        2 => (name(), id(), prop_oneof![Just(json!({"a": 1})), Just(Value::Null), Just(json!("s"))])
            .prop_map(|(n, id, args)| json!({"functionCall": {"name": n, "id": id, "args": args}})),
        2 => (name(), id(), prop_oneof![text().prop_map(|t| json!({"output": t})), Just(json!([1])), Just(Value::Null)])
            .prop_map(|(n, id, r)| json!({"functionResponse": {"name": n, "id": id, "response": r}})),
        1 => Just(json!({"executableCode": {"language": "PYTHON", "code": "print(1)"}})),
        1 => Just(json!({})),
        1 => Just(json!(5)),
    ]
}

fn content() -> impl Strategy<Value = Value> {
    let role = prop_oneof![
        4 => Just(json!("user")),
        4 => Just(json!("model")),
        1 => Just(Value::Null),
        1 => Just(json!("function")),
        1 => Just(json!("system")),
    ];
    let parts = prop_oneof![
        8 => prop::collection::vec(part(), 0..5).prop_map(Value::Array),
        1 => Just(json!("x")),
    ];
    (role, parts).prop_map(|(role, parts)| {
        let mut c = json!({"parts": parts});
        if !role.is_null() {
            c["role"] = role;
        }
        c
    })
}

fn request() -> impl Strategy<Value = Value> {
    let tools = prop_oneof![
        Just(Value::Null),
        Just(
            json!([{"functionDeclarations": [{"name": "ls", "parameters": {"type": "OBJECT",
            "properties": {"d": {"type": "STRING"}}}}, {"name": "cat"}]}, {"googleSearch": {}}])
        ),
        Just(json!([{"functionDeclarations": [{"description": "no name"}]}])),
        Just(json!("tools")),
    ];
    let config = prop_oneof![
        Just(Value::Null),
        Just(json!({"temperature": 0.5, "thinkingConfig": {"thinkingBudget": 9000}})),
        Just(json!({"responseMimeType": "application/json", "responseSchema": {"type": "OBJECT"}})),
        Just(json!(3)),
    ];
    let system = prop_oneof![
        Just(Value::Null),
        text().prop_map(Value::String),
        text().prop_map(|t| json!({"parts": [{"text": t}]})),
    ];
    (
        prop::collection::vec(content(), 0..8),
        tools,
        config,
        system,
    )
        .prop_map(|(contents, tools, config, system)| {
            let mut r = json!({"contents": contents});
            for (k, v) in [
                ("tools", tools),
                ("generationConfig", config),
                ("systemInstruction", system),
            ] {
                if !v.is_null() {
                    r[k] = v;
                }
            }
            r
        })
}

/// User-side text a client expects the model to see (function results aside).
fn user_texts(req: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for c in req["contents"].as_array().into_iter().flatten() {
        if c["role"] == "model" {
            continue;
        }
        for p in c["parts"].as_array().into_iter().flatten() {
            if p["thought"] != true {
                out.extend(p["text"].as_str().map(str::to_owned));
            }
        }
    }
    out
}

fn check_shape(chat: &Value) {
    let messages = chat["messages"].as_array().expect("messages");
    assert!(!messages.is_empty());
    let mut answerable: Vec<String> = Vec::new();
    for (n, m) in messages.iter().enumerate() {
        match m["role"].as_str().expect("role") {
            "system" => assert_eq!(n, 0, "system only first"),
            "user" => {
                answerable.clear();
                assert!(m["content"].is_string() || m["content"].is_array());
            }
            "tool" => {
                let id = m["tool_call_id"].as_str().expect("tool_call_id");
                let pos = answerable
                    .iter()
                    .position(|a| a == id)
                    .expect("answers a call");
                answerable.remove(pos);
                assert!(m["content"].is_string());
            }
            "assistant" => {
                answerable.clear();
                for c in m["tool_calls"].as_array().into_iter().flatten() {
                    answerable.push(c["id"].as_str().expect("call id").to_string());
                    let args = c["function"]["arguments"].as_str().expect("arguments");
                    serde_json::from_str::<Value>(args).expect("arguments are JSON");
                }
            }
            other => panic!("role {other}"),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn requests_never_panic_and_keep_user_text(req in request(), stream in any::<bool>()) {
        let framing = if stream { Framing::Sse } else { Framing::Json };
        let meta = GeminiMeta { framing, ..GeminiMeta::default() };
        if let Ok(t) = to_chat(&req, "m", meta) {
            check_shape(&t.chat);
            let all = t.chat["messages"].to_string();
            for text in user_texts(&req) {
                let quoted = serde_json::to_string(&text).unwrap_or_default();
                let inner = quoted.trim_matches('"');
                prop_assert!(all.contains(inner), "lost {text}: {all}");
            }
            prop_assert_eq!(t.chat.get("stream").is_some(), stream);
        }
    }

    #[test]
    fn answers_never_panic_and_stay_framed(
        events in prop::collection::vec(prop_oneof![
            text().prop_map(|t| json!({"choices": [{"delta": {"content": t}}]})),
            text().prop_map(|t| json!({"choices": [{"delta": {"reasoning_content": t}}]})),
            (0usize..3, prop_oneof![Just(Some("call_a")), Just(None)], "[{}a:\"1]{0,4}")
                .prop_map(|(i, id, args)| json!({"choices": [{"delta": {"tool_calls": [
                    {"index": i, "id": id, "function": {"name": "f", "arguments": args}}]}}]})),
            Just(json!({"choices": [{"delta": {}, "finish_reason": "length"}]})),
            Just(json!({"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}})),
            Just(json!({"error": {"message": "boom"}})),
            Just(json!(null)),
        ], 0..12),
        done in any::<bool>(),
        split in 1usize..40,
        framing in prop_oneof![Just(Framing::Sse), Just(Framing::JsonArray), Just(Framing::Json)],
    ) {
        let mut body: String = events.iter().map(|e| format!("data: {e}\n\n")).collect();
        if done {
            body.push_str("data: [DONE]\n\n");
        }
        let meta = GeminiMeta { framing, ..GeminiMeta::default() };
        let mut t = translator(meta);
        let mut out = Vec::new();
        for piece in body.as_bytes().chunks(split) {
            out.extend(t.feed(piece));
        }
        out.extend(t.finish());
        let out = String::from_utf8(out).expect("UTF-8");
        match framing {
            Framing::Sse => {
                for e in out.split("\n\n").filter(|e| !e.is_empty()) {
                    let data = e.strip_prefix("data: ").expect("data line");
                    serde_json::from_str::<Value>(data).expect("event JSON");
                }
            }
            _ => {
                let v: Value = serde_json::from_str(&out).expect("one JSON value");
                prop_assert!(v.is_array() || v.is_object());
            }
        }
    }
}
