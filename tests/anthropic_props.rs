//! Property tests: arbitrary (including odd and invalid-for-Anthropic) Messages requests never
//! panic the translator, and every chat body produced is one a chat upstream accepts in shape,
//! with no user text or user image lost.

use llm_relay::protocol::anthropic::{to_chat, translator};
use proptest::prelude::*;
use serde_json::{json, Value};

fn text() -> impl Strategy<Value = String> {
    "[a-z世界é ]{1,10}".prop_map(|s| format!("<{s}>"))
}

fn id() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("t1".to_string()),
        Just("t2".to_string()),
        Just("ghost".to_string())
    ]
}

fn image() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(
            json!({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "QUJD"}})
        ),
        Just(json!({"type": "image", "source": {"type": "url", "url": "https://x/i.png"}})),
    ]
}

fn tool_result() -> impl Strategy<Value = Value> {
    let content = prop_oneof![
        text().prop_map(Value::String),
        prop::collection::vec(
            prop_oneof![
                text().prop_map(|t| json!({"type": "text", "text": t})),
                image()
            ],
            0..3
        )
        .prop_map(Value::Array),
        Just(Value::Null),
    ];
    (id(), content, any::<bool>()).prop_map(|(id, content, is_error)| {
        let mut b = json!({"type": "tool_result", "tool_use_id": id, "is_error": is_error});
        if !content.is_null() {
            b["content"] = content;
        }
        b
    })
}

fn block() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => text().prop_map(|t| json!({"type": "text", "text": t, "cache_control": {"type": "ephemeral"}})),
        1 => image(),
        2 => (id(), prop_oneof![Just(json!({"a": 1})), Just(json!("s")), Just(Value::Null)])
            .prop_map(|(id, input)| json!({"type": "tool_use", "id": id, "name": "Tool", "input": input})),
        2 => tool_result(),
        1 => text().prop_map(|t| json!({"type": "thinking", "thinking": t, "signature": "x"})),
        1 => Just(json!({"type": "redacted_thinking", "data": "zz"})),
        1 => text().prop_map(|t| json!({"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": t}})),
        1 => text().prop_map(|t| json!({"type": "some_future_block", "text": t})),
    ]
}

fn message() -> impl Strategy<Value = Value> {
    let role = prop_oneof![4 => Just("user"), 4 => Just("assistant"), 1 => Just("system")];
    let content = prop_oneof![
        1 => text().prop_map(Value::String),
        3 => prop::collection::vec(block(), 0..5).prop_map(Value::Array),
    ];
    (role, content).prop_map(|(role, content)| json!({"role": role, "content": content}))
}

fn request() -> impl Strategy<Value = Value> {
    let system = prop_oneof![
        Just(Value::Null),
        text().prop_map(Value::String),
        prop::collection::vec(
            text().prop_map(|t| json!({"type": "text", "text": t})),
            0..3
        )
        .prop_map(Value::Array),
    ];
    (prop::collection::vec(message(), 1..8), system, any::<bool>()).prop_map(|(messages, system, stream)| {
        let mut r = json!({"model": "claude-x", "max_tokens": 100, "messages": messages, "stream": stream,
            "tools": [{"name": "Tool", "input_schema": {"type": "object"}}]});
        if !system.is_null() {
            r["system"] = system;
        }
        r
    })
}

/// The texts a client would expect the model to see: user and system text, tool results.
fn user_texts(req: &Value) -> Vec<String> {
    let mut out = Vec::new();
    match &req["system"] {
        Value::String(s) => out.push(s.clone()),
        Value::Array(b) => out.extend(
            b.iter()
                .filter_map(|b| b["text"].as_str().map(str::to_owned)),
        ),
        _ => {}
    }
    for m in req["messages"].as_array().unwrap() {
        if m["role"] == "assistant" {
            continue;
        }
        match &m["content"] {
            Value::String(s) => out.push(s.clone()),
            Value::Array(blocks) => {
                for b in blocks {
                    collect_texts(b, &mut out);
                }
            }
            _ => {}
        }
    }
    out
}

fn collect_texts(b: &Value, out: &mut Vec<String>) {
    match b["type"].as_str() {
        Some("thinking") | Some("redacted_thinking") | Some("tool_use") => {}
        Some("document") => out.extend(b["source"]["data"].as_str().map(str::to_owned)),
        _ => {
            out.extend(b["text"].as_str().map(str::to_owned));
            match &b["content"] {
                Value::String(s) => out.push(s.clone()),
                Value::Array(inner) => inner.iter().for_each(|i| collect_texts(i, out)),
                _ => {}
            }
        }
    }
}

fn user_images(req: &Value) -> usize {
    let mut n = 0;
    for m in req["messages"].as_array().unwrap() {
        if m["role"] != "user" {
            continue;
        }
        for b in m["content"].as_array().into_iter().flatten() {
            match b["type"].as_str() {
                Some("image") => n += 1,
                Some("tool_result") => {
                    n += b["content"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter(|i| i["type"] == "image")
                        .count()
                }
                _ => {}
            }
        }
    }
    n
}

/// Removes every `cache_control` member, at any depth.
fn remove_hints(v: &mut Value) {
    match v {
        Value::Object(o) => {
            o.remove("cache_control");
            o.values_mut().for_each(remove_hints);
        }
        Value::Array(a) => a.iter_mut().for_each(remove_hints),
        _ => {}
    }
}

fn all_output_text(chat: &Value) -> String {
    let mut s = String::new();
    for m in chat["messages"].as_array().unwrap() {
        match &m["content"] {
            Value::String(t) => s.push_str(t),
            Value::Array(parts) => parts
                .iter()
                .for_each(|p| s.push_str(p["text"].as_str().unwrap_or(""))),
            _ => {}
        }
        s.push('\u{0}');
    }
    s
}

fn check_shape(chat: &Value) {
    let messages = chat["messages"].as_array().expect("messages array");
    // Ids of the tool calls that the following `tool` messages may answer.
    let mut answerable: Vec<String> = Vec::new();
    for (n, m) in messages.iter().enumerate() {
        assert!(m.is_object(), "message {n} is an object");
        let role = m["role"].as_str().expect("role string");
        match role {
            "system" => assert_eq!(n, 0, "system only first"),
            "user" => assert!(m["content"].is_string() || m["content"].is_array()),
            "tool" => {
                let id = m["tool_call_id"].as_str().expect("tool_call_id string");
                assert!(m["content"].is_string());
                let pos = answerable
                    .iter()
                    .position(|a| a == id)
                    .expect("tool message answers a call");
                answerable.remove(pos);
            }
            "assistant" => {
                assert!(m["content"].is_string() || m["content"].is_null());
                let calls = m
                    .get("tool_calls")
                    .map(|c| c.as_array().expect("tool_calls array"));
                assert!(
                    calls.is_some() || m["content"].is_string(),
                    "assistant says something"
                );
                answerable.clear();
                for c in calls.into_iter().flatten() {
                    assert_eq!(c["type"], "function");
                    answerable.push(c["id"].as_str().expect("call id").to_string());
                    assert!(c["function"]["name"].is_string());
                    let args = c["function"]["arguments"]
                        .as_str()
                        .expect("arguments string");
                    serde_json::from_str::<Value>(args).expect("arguments are JSON");
                }
            }
            other => panic!("bad role {other}"),
        }
        if role != "tool" && role != "assistant" {
            answerable.clear();
        }
        if let Value::Array(parts) = &m["content"] {
            for p in parts {
                let t = p["type"].as_str().unwrap();
                assert!(
                    t == "text" && p["text"].is_string()
                        || t == "image_url" && p["image_url"]["url"].is_string()
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn translation_is_well_formed(req in request()) {
        let t = match to_chat(&req, "msg_p".into()) {
            Ok(t) => t,
            Err(e) => {
                // Only a request with nothing left to send may be refused.
                prop_assert!(e.message.starts_with("messages: nothing to send"), "{e:?} for {req}");
                prop_assert!(user_texts(&req).is_empty() && user_images(&req) == 0);
                return Ok(());
            }
        };
        // Cache breakpoints change nothing but themselves: stripped, the body is the
        // translation of the request without them (what a chat provider gets).
        let mut plain = t.chat.clone();
        llm_relay::protocol::cache_hint::strip(&mut plain);
        let mut bare = req.clone();
        remove_hints(&mut bare);
        let bare = to_chat(&bare, "msg_p".into()).expect("translates without hints too");
        prop_assert_eq!(&plain, &bare.chat);
        check_shape(&plain);
        let out = all_output_text(&t.chat);
        for text in user_texts(&req) {
            prop_assert!(out.contains(&text), "lost {text:?}\nreq {req}\nchat {}", t.chat);
        }
        let images = t.chat["messages"].as_array().unwrap().iter()
            .filter(|m| m["role"] == "user")
            .flat_map(|m| m["content"].as_array().cloned().unwrap_or_default())
            .filter(|p| p["type"] == "image_url")
            .count();
        prop_assert_eq!(images, user_images(&req));
        prop_assert_eq!(t.stream, req["stream"] == true);
        prop_assert_eq!(t.chat["model"].as_str(), Some("claude-x"));
    }

    #[test]
    fn arbitrary_json_never_panics(req in arbitrary_json()) {
        let _ = to_chat(&req, "msg".into());
        let _ = llm_relay::protocol::anthropic::count_tokens(&req);
    }

    #[test]
    fn stream_translator_survives_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300), split in 1usize..40) {
        let mut t = translator(llm_relay::protocol::anthropic::MessageMeta::default(), true);
        for piece in bytes.chunks(split) {
            t.feed(piece);
        }
        t.finish();
        let mut t = translator(llm_relay::protocol::anthropic::MessageMeta::default(), false);
        t.feed(&bytes);
        let out = t.finish();
        prop_assert!(serde_json::from_slice::<Value>(&out).is_ok());
    }
}

/// Mostly-Messages-shaped JSON with wrong types in random places.
fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "[a-z_]{0,6}".prop_map(Value::String),
        prop_oneof![
            Just("user"),
            Just("assistant"),
            Just("system"),
            Just("text"),
            Just("image"),
            Just("tool_use"),
            Just("tool_result"),
            Just("document"),
            Just("base64")
        ]
        .prop_map(|s| json!(s)),
    ];
    let keys = prop_oneof![
        Just("model"),
        Just("max_tokens"),
        Just("messages"),
        Just("role"),
        Just("content"),
        Just("type"),
        Just("text"),
        Just("source"),
        Just("tool_use_id"),
        Just("id"),
        Just("name"),
        Just("input"),
        Just("tools"),
        Just("tool_choice"),
        Just("system"),
        Just("data"),
        Just("media_type"),
        Just("url"),
        Just("input_schema"),
        Just("thinking")
    ];
    leaf.prop_recursive(4, 64, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((keys.clone(), inner), 0..5).prop_map(|kv| {
                Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            }),
        ]
    })
}

/// One upstream chat SSE event.
fn chat_event() -> impl Strategy<Value = String> {
    let chunk = |delta: Value| {
        format!(
            "data: {}\n\n",
            json!({"id": "c", "choices": [{"delta": delta}]})
        )
    };
    prop_oneof![
        3 => "[a-z世 ]{1,6}".prop_map(move |t| chunk(json!({"content": t}))),
        2 => "[a-z ]{1,6}".prop_map(move |t| chunk(json!({"reasoning_content": t}))),
        2 => (0usize..3, prop_oneof![Just("call_a"), Just("call_b"), Just("")], "[{}\":a-z0-9]{0,6}")
            .prop_map(move |(i, id, args)| {
                let mut c = json!({"index": i, "function": {"arguments": args}});
                if !id.is_empty() {
                    c["id"] = json!(id);
                    c["function"]["name"] = json!("Tool");
                }
                chunk(json!({"tool_calls": [c]}))
            }),
        1 => prop_oneof![Just("stop"), Just("length"), Just("tool_calls"), Just("sensitive")]
            .prop_map(|f| format!("data: {}\n\n", json!({"id": "c", "choices": [{"delta": {}, "finish_reason": f}]}))),
        1 => Just("data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2}}\n\n".to_string()),
        1 => Just(": keep-alive\n\n".to_string()),
    ]
}

fn tail() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => Just("data: [DONE]\n\n".to_string()),
        1 => Just(String::new()),
        1 => Just("data: {\"error\":{\"message\":\"boom\"}}\n\n".to_string()),
        1 => Just("data: {\"id\":\"c\",\"cho".to_string()),
    ]
}

fn run_stream(
    meta: &llm_relay::protocol::anthropic::MessageMeta,
    input: &[u8],
    split: usize,
) -> String {
    let mut t = translator(meta.clone(), true);
    let mut out = Vec::new();
    for piece in input.chunks(split) {
        out.extend(t.feed(piece));
    }
    out.extend(t.finish());
    String::from_utf8(out).expect("UTF-8 output")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any chat stream, split anywhere: the same output as unsplit, and a well-formed
    /// Anthropic event sequence (blocks sequential, each started once and stopped at most once,
    /// nothing after `error` or `message_stop`).
    #[test]
    fn stream_is_well_formed(events in prop::collection::vec(chat_event(), 0..14), end in tail(),
                             split in 1usize..64, thinking in any::<bool>()) {
        let input = [events.concat(), end].concat();
        let meta = llm_relay::protocol::anthropic::MessageMeta { id: "msg_s".into(), model: "m".into(), thinking,
            ..Default::default() };
        let whole = run_stream(&meta, input.as_bytes(), input.len().max(1));
        prop_assert_eq!(&run_stream(&meta, input.as_bytes(), split), &whole);
        let mut open: Option<u64> = None;
        let mut next = 0u64;
        let mut finished = false;
        let evs: Vec<&str> = whole.split("\n\n").filter(|e| !e.is_empty()).collect();
        for (n, e) in evs.iter().enumerate() {
            prop_assert!(!finished, "event after the end: {}", whole);
            let (name, data) = e.split_once('\n').unwrap();
            let name = name.strip_prefix("event: ").unwrap();
            let data: Value = serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap();
            prop_assert_eq!(data["type"].as_str(), Some(name));
            match name {
                "message_start" => prop_assert_eq!(n, 0),
                "ping" => prop_assert_eq!(n, 1),
                "content_block_start" => {
                    prop_assert_eq!(open, None);
                    prop_assert_eq!(data["index"].as_u64(), Some(next));
                    let kind = data["content_block"]["type"].as_str().unwrap();
                    prop_assert!(kind != "thinking" || thinking);
                    open = Some(next);
                    next += 1;
                }
                "content_block_delta" => prop_assert_eq!(data["index"].as_u64(), open),
                "content_block_stop" => {
                    prop_assert_eq!(data["index"].as_u64(), open);
                    open = None;
                }
                "message_delta" => {
                    prop_assert_eq!(open, None);
                    prop_assert!(data["delta"]["stop_reason"].is_string());
                }
                "message_stop" | "error" => finished = true,
                other => prop_assert!(false, "unexpected {}", other),
            }
        }
        prop_assert!(finished, "the stream always ends: {}", whole);
    }
}
