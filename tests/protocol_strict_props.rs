//! End-to-end property tests of the request side of the protocol translators against the
//! Hunyuan-strict checker: generated Responses API and Anthropic Messages requests (every role
//! and part type, tool calls with and without results, orphans, reasoning / thinking, system
//! prompts in every shape, tools of all kinds including built-ins, in odd orders) are
//! translated to chat, then treated as the gateway treats them before a Hunyuan upstream:
//!
//! - text model: images replaced by text (the cascade describes them), then
//!   `fix_hunyuan(.., ModelCaps { images: false, tools: true })`, then `check_chat(.., false)`;
//! - vision model: images kept, `fix_hunyuan(.., ModelCaps { images: true, tools: true })`,
//!   then `check_chat(.., true)`.
//!
//! A translation may refuse a request (a 400 for the client) but must then say why; nothing
//! may panic.

use llm_relay::chat::fix::{fix_hunyuan, FixPolicy, ModelCaps};
use llm_relay::protocol::{anthropic, responses};
use mock_upstream::strict::check_chat;
use proptest::prelude::*;
use serde_json::{json, Map, Value};

// ---------- shared ----------

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => "[a-zA-Z0-9][a-zA-Z0-9 ,.?]{0,20}",
        1 => Just(String::new()),
        1 => "[ \t\n]{1,3}",
        1 => "[\u{4e00}-\u{4e80}]{1,6}",
    ]
}

const DATA_URL: &str = "data:image/png;base64,iVBORw0KGgo=";

/// What the cascade leaves for a text model: every image part replaced by a text part.
fn describe_images(chat: &mut Value) {
    let Some(msgs) = chat.get_mut("messages").and_then(Value::as_array_mut) else {
        return;
    };
    for m in msgs {
        if let Some(Value::Array(parts)) = m.get_mut("content") {
            for p in parts {
                if p.get("type").and_then(Value::as_str) == Some("image_url") {
                    *p = json!({"type": "text", "text": "[image]"});
                }
            }
        }
    }
}

/// The translated chat body, fixed for a text model and for a vision model: both accepted.
fn check_both(chat: &Value) -> Result<(), String> {
    let policy = FixPolicy::default();
    let mut text = chat.clone();
    describe_images(&mut text);
    fix_hunyuan(
        &mut text,
        &policy,
        ModelCaps {
            images: false,
            tools: true,
        },
    );
    if let Err(v) = check_chat(&text, false) {
        return Err(format!(
            "text model: rejected: {}\nchat: {chat:#}\nfixed: {text:#}",
            v.message
        ));
    }
    let mut vision = chat.clone();
    fix_hunyuan(
        &mut vision,
        &policy,
        ModelCaps {
            images: true,
            tools: true,
        },
    );
    if let Err(v) = check_chat(&vision, true) {
        return Err(format!(
            "vision model: rejected: {}\nchat: {chat:#}\nfixed: {vision:#}",
            v.message
        ));
    }
    Ok(())
}

// ---------- Responses API ----------

fn r_part(user: bool) -> BoxedStrategy<Value> {
    let texts = prop_oneof![
        4 => text().prop_map(|t| json!({"type": "input_text", "text": t})),
        2 => text().prop_map(|t| json!({"type": "output_text", "text": t, "annotations": []})),
        1 => text().prop_map(|t| json!({"type": "refusal", "refusal": t})),
        1 => text().prop_map(|t| json!({"type": "input_file", "filename": "notes.txt",
            "file_data": format!("data:text/plain,{t}")})),
        1 => text().prop_map(Value::String),
    ];
    let images = prop_oneof![
        Just(json!({"type": "input_image", "image_url": DATA_URL, "detail": "auto"})),
        Just(json!({"type": "input_image", "image_url": "https://example.com/cat.png"})),
        Just(json!({"type": "input_image", "image_url": {"url": DATA_URL}})),
    ];
    if user {
        prop_oneof![4 => texts, 2 => images].boxed()
    } else {
        // Images outside user messages are refused (a 400): rarely.
        prop_oneof![20 => texts, 1 => images].boxed()
    }
}

fn r_message() -> impl Strategy<Value = Value> {
    let role = prop_oneof![
        4 => Just("user"),
        3 => Just("assistant"),
        1 => Just("system"),
        1 => Just("developer"),
    ];
    (role, any::<bool>(), 0u8..4).prop_flat_map(|(role, typed, shape)| {
        let content = match shape {
            0 => text().prop_map(Value::String).boxed(),
            1 => Just(Value::Null).boxed(),
            _ => prop::collection::vec(r_part(role == "user"), 0..4)
                .prop_map(Value::Array)
                .boxed(),
        };
        content.prop_map(move |content| {
            let mut m = json!({"role": role, "content": content});
            if typed {
                m["type"] = json!("message");
            }
            if role == "assistant" && typed {
                m["id"] = json!("msg_1");
                m["status"] = json!("completed");
            }
            m
        })
    })
}

fn call_id() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["call_a", "call_b", "call_c", "call_d"]).prop_map(str::to_owned)
}

fn r_output() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => text().prop_map(Value::String),
        2 => prop::collection::vec(r_part(true), 0..3).prop_map(Value::Array),
        1 => Just(Value::Null),
        1 => Just(json!({"exit_code": 0})),
    ]
}

fn r_item() -> impl Strategy<Value = Value> {
    let name = prop::sample::select(vec!["shell", "read_file", "apply_patch", "clock__sleep"]);
    let args = prop_oneof![
        Just(json!("{\"command\":[\"ls\"]}")),
        Just(json!("")),
        Just(json!({"path": "a.rs"})),
        Just(Value::Null),
    ];
    prop_oneof![
        6 => r_message(),
        3 => (call_id(), name, args, any::<bool>()).prop_map(|(c, n, a, ns)| {
            let mut it = json!({"type": "function_call", "call_id": c, "name": n, "arguments": a,
                "id": format!("fc_{c}"), "status": "completed"});
            if ns {
                it["namespace"] = json!("clock");
            }
            it
        }),
        3 => (call_id(), r_output()).prop_map(|(c, o)| json!({"type": "function_call_output",
            "call_id": c, "output": o})),
        1 => (call_id(), text()).prop_map(|(c, i)| json!({"type": "custom_tool_call",
            "call_id": c, "name": "apply_patch", "input": i})),
        1 => (call_id(), r_output()).prop_map(|(c, o)| json!({"type": "custom_tool_call_output",
            "call_id": c, "output": o})),
        1 => text().prop_map(|t| json!({"type": "reasoning", "id": "rs_1",
            "summary": [{"type": "summary_text", "text": t}], "encrypted_content": "gAAAA"})),
        1 => Just(json!({"type": "local_shell_call", "call_id": "call_l", "id": "lsc_1",
            "action": {"type": "exec", "command": ["ls"]}, "status": "completed"})),
        1 => Just(json!({"type": "local_shell_call_output", "call_id": "call_l", "output": "a.rs"})),
        1 => Just(json!({"type": "web_search_call", "id": "ws_1", "status": "completed"})),
        1 => Just(json!({"type": "additional_tools", "tools": [{"type": "namespace", "name": "ns",
            "tools": [{"type": "function", "name": "inner"}]}]})),
    ]
}

fn r_tool() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!({"type": "function", "name": "shell", "strict": true,
            "parameters": {"type": "object", "properties": {"command": {"type": "array"}},
                "additionalProperties": false}})),
        Just(json!({"type": "function", "name": "read_file", "description": "Read a file"})),
        Just(
            json!({"type": "custom", "name": "apply_patch", "format": {"type": "grammar",
            "syntax": "lark", "definition": "start: /.+/"}})
        ),
        Just(json!({"type": "web_search"})),
        Just(json!({"type": "web_search_preview"})),
        Just(json!({"type": "local_shell"})),
        Just(json!({"type": "file_search", "vector_store_ids": []})),
        Just(json!({"type": "image_generation"})),
        Just(json!({"type": "namespace", "name": "clock",
            "tools": [{"type": "function", "name": "sleep", "strict": false}]})),
    ]
}

fn r_params() -> impl Strategy<Value = Map<String, Value>> {
    (
        prop::option::of(prop_oneof![
            Just(json!("auto")),
            Just(json!("required")),
            Just(json!("none")),
            Just(json!({"type": "function", "name": "shell"})),
            Just(json!({"type": "custom", "name": "apply_patch"})),
            Just(json!({"type": "web_search"})),
            Just(json!({"type": "allowed_tools", "mode": "required", "tools": []})),
        ]),
        prop::option::of(any::<bool>()),
        prop::option::of(0.0f64..2.0),
        prop::option::of(0.0f64..1.0),
        prop::option::of(prop::sample::select(vec!["low", "medium", "high"])),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(choice, parallel, temp, top_p, effort, json_format, stream)| {
                let mut p = Map::new();
                if let Some(c) = choice {
                    p.insert("tool_choice".into(), c);
                }
                if let Some(b) = parallel {
                    p.insert("parallel_tool_calls".into(), json!(b));
                }
                if let Some(t) = temp {
                    p.insert("temperature".into(), json!(t));
                }
                if let Some(t) = top_p {
                    p.insert("top_p".into(), json!(t));
                }
                if let Some(e) = effort {
                    p.insert("reasoning".into(), json!({"effort": e, "summary": "auto"}));
                }
                if json_format {
                    p.insert(
                        "text".into(),
                        json!({"format": {"type": "json_schema", "schema": {"type": "object"}}}),
                    );
                }
                p.insert("stream".into(), json!(stream));
                p.insert("store".into(), json!(false));
                p
            },
        )
}

fn r_request() -> impl Strategy<Value = (Value, Option<Vec<Value>>)> {
    (
        prop_oneof![
            1 => text().prop_map(Value::String),
            5 => prop::collection::vec(r_item(), 0..12).prop_map(Value::Array),
            // Long enough to need trimming to Hunyuan's 40 messages.
            1 => prop::collection::vec(r_item(), 12..60).prop_map(Value::Array),
        ],
        prop::option::of(text()),
        prop::collection::vec(r_tool(), 0..5),
        r_params(),
        prop::option::weighted(0.2, prop::collection::vec(r_item(), 1..8)),
    )
        .prop_map(|(input, instructions, tools, mut p, history)| {
            p.insert("model".into(), json!("hunyuan-turbos-latest"));
            p.insert("input".into(), input);
            p.insert("tools".into(), Value::Array(tools));
            if let Some(i) = instructions {
                p.insert("instructions".into(), json!(i));
            }
            (Value::Object(p), history)
        })
}

// ---------- Anthropic Messages ----------

fn a_id() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["toolu_1", "toolu_2", "toolu_3", "ghost"]).prop_map(str::to_owned)
}

fn a_image() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(
            json!({"type": "image", "source": {"type": "base64", "media_type": "image/png",
            "data": "iVBORw0KGgo="}})
        ),
        Just(
            json!({"type": "image", "source": {"type": "url", "url": "https://example.com/c.png"}})
        ),
    ]
}

fn a_tool_result() -> impl Strategy<Value = Value> {
    let content = prop_oneof![
        3 => text().prop_map(Value::String),
        3 => prop::collection::vec(
            prop_oneof![3 => text().prop_map(|t| json!({"type": "text", "text": t})), 1 => a_image()],
            0..3,
        )
        .prop_map(Value::Array),
        1 => Just(Value::Null),
    ];
    (a_id(), content, prop::option::of(any::<bool>())).prop_map(|(id, content, is_error)| {
        let mut b = json!({"type": "tool_result", "tool_use_id": id});
        if !content.is_null() {
            b["content"] = content;
        }
        if let Some(e) = is_error {
            b["is_error"] = json!(e);
        }
        b
    })
}

fn a_block() -> impl Strategy<Value = Value> {
    prop_oneof![
        5 => (text(), any::<bool>()).prop_map(|(t, cache)| {
            let mut b = json!({"type": "text", "text": t});
            if cache {
                b["cache_control"] = json!({"type": "ephemeral"});
            }
            b
        }),
        2 => a_image(),
        3 => (a_id(), prop_oneof![Just(json!({"command": "ls"})), Just(json!({})), Just(Value::Null)])
            .prop_map(|(id, input)| json!({"type": "tool_use", "id": id, "name": "Bash", "input": input})),
        3 => a_tool_result(),
        1 => text().prop_map(|t| json!({"type": "thinking", "thinking": t, "signature": "sig"})),
        1 => Just(json!({"type": "redacted_thinking", "data": "zz"})),
        1 => text().prop_map(|t| json!({"type": "document", "title": "README",
            "source": {"type": "text", "media_type": "text/plain", "data": t}})),
        1 => Just(json!({"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search",
            "input": {"query": "x"}})),
        1 => text().prop_map(|t| json!({"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1",
            "content": [{"type": "web_search_result", "title": t, "url": "https://e.com"}]})),
    ]
}

fn a_message() -> impl Strategy<Value = Value> {
    let role = prop_oneof![5 => Just("user"), 5 => Just("assistant"), 1 => Just("system")];
    let content = prop_oneof![
        2 => text().prop_map(Value::String),
        5 => prop::collection::vec(a_block(), 0..5).prop_map(Value::Array),
    ];
    (role, content).prop_map(|(role, content)| json!({"role": role, "content": content}))
}

fn a_tool() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!({"name": "Bash", "description": "Run a command",
            "input_schema": {"type": "object", "properties": {"command": {"type": "string"}},
                "required": ["command"]}, "cache_control": {"type": "ephemeral"}})),
        Just(json!({"name": "Read", "input_schema": {"type": "object"}})),
        Just(json!({"type": "custom", "name": "Edit", "input_schema": {"type": "object"}})),
        Just(json!({"type": "web_search_20250305", "name": "web_search", "max_uses": 5})),
        Just(json!({"type": "bash_20250124", "name": "bash"})),
        Just(json!({"type": "text_editor_20250728", "name": "str_replace_based_edit_tool"})),
    ]
}

fn a_request() -> impl Strategy<Value = Value> {
    let system = prop_oneof![
        2 => Just(Value::Null),
        2 => text().prop_map(Value::String),
        2 => prop::collection::vec(
            prop_oneof![
                4 => text().prop_map(|t| json!({"type": "text", "text": t,
                    "cache_control": {"type": "ephemeral"}})),
                1 => Just(json!({"type": "text",
                    "text": "x-anthropic-billing-header: cc_version=1.0.0; cc_entrypoint=cli"})),
            ],
            0..3,
        )
        .prop_map(Value::Array),
    ];
    let choice = prop::option::of(prop_oneof![
        Just(json!({"type": "auto"})),
        Just(json!({"type": "any", "disable_parallel_tool_use": true})),
        Just(json!({"type": "none"})),
        Just(json!({"type": "tool", "name": "Bash"})),
        Just(json!({"type": "auto", "disable_parallel_tool_use": false})),
    ]);
    (
        prop_oneof![
            5 => prop::collection::vec(a_message(), 1..12),
            1 => prop::collection::vec(a_message(), 12..60),
        ],
        system,
        prop::collection::vec(a_tool(), 0..4),
        choice,
        prop::option::of(0.0f64..1.0),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(messages, system, tools, choice, temp, thinking, stream)| {
                let mut r = json!({"model": "claude-sonnet-4-5", "max_tokens": 1024,
                "messages": messages, "stream": stream, "tools": tools,
                "metadata": {"user_id": "u1"}, "stop_sequences": ["\n\nHuman:"]});
                if !system.is_null() {
                    r["system"] = system;
                }
                if let Some(c) = choice {
                    r["tool_choice"] = c;
                }
                if let Some(t) = temp {
                    r["temperature"] = json!(t);
                }
                if thinking {
                    r["thinking"] = json!({"type": "enabled", "budget_tokens": 1024});
                }
                r
            },
        )
}

// ---------- properties ----------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Responses request → chat → (images described) → fixed → accepted, text and vision.
    #[test]
    fn responses_requests_reach_hunyuan_accepted((req, history) in r_request()) {
        match responses::to_chat(&req, history.as_deref(), "resp_p".into(), 0) {
            Err(e) => prop_assert!(!e.message.trim().is_empty(), "empty error for {req}"),
            Ok(t) => {
                if let Err(why) = check_both(&t.chat) {
                    prop_assert!(false, "{why}\nrequest: {req:#}\nhistory: {history:?}");
                }
            }
        }
    }

    /// Messages request → chat → (images described) → fixed → accepted, text and vision.
    #[test]
    fn anthropic_requests_reach_hunyuan_accepted(req in a_request()) {
        match anthropic::to_chat(&req, "msg_p".into()) {
            Err(e) => prop_assert!(!e.message.trim().is_empty(), "empty error for {req}"),
            Ok(mut t) => {
                // As the gateway sends it to a chat provider: without cache breakpoints.
                llm_relay::protocol::cache_hint::strip(&mut t.chat);
                if let Err(why) = check_both(&t.chat) {
                    prop_assert!(false, "{why}\nrequest: {req:#}");
                }
            }
        }
    }
}

/// The generators do reach the interesting cases: most requests translate, the translated
/// bodies contain tool calls, tool results and images, and many of them need the fixer (the
/// checker rejects them as translated), so the properties above are not vacuous.
#[test]
fn generators_cover_the_interesting_cases() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut ok, mut calls, mut tools, mut images, mut raw_rejected) = (0, 0, 0, 0, 0);
    let mut count = |chat: &Value| {
        ok += 1;
        raw_rejected += usize::from(check_chat(chat, true).is_err());
        let msgs = chat["messages"].as_array().cloned().unwrap_or_default();
        calls += usize::from(msgs.iter().any(|m| m.get("tool_calls").is_some()));
        tools += usize::from(msgs.iter().any(|m| m["role"] == "tool"));
        images += usize::from(
            msgs.iter()
                .any(|m| m["content"].to_string().contains("image_url")),
        );
    };
    let r = r_request();
    let a = a_request();
    for _ in 0..200 {
        let (req, history) = r.new_tree(&mut runner).unwrap().current();
        if let Ok(t) = responses::to_chat(&req, history.as_deref(), "r".into(), 0) {
            count(&t.chat);
        }
        let req = a.new_tree(&mut runner).unwrap().current();
        if let Ok(t) = anthropic::to_chat(&req, "m".into()) {
            count(&t.chat);
        }
    }
    assert!(ok > 200, "only {ok} of 400 translated");
    assert!(
        calls > 100 && tools > 50 && images > 50 && raw_rejected > 100,
        "{calls} {tools} {images} {raw_rejected}"
    );
}
