//! Recorded-style agent conversations (Cline / Roo Code / Continue / chat UIs) through the
//! gateway's hunyuan profile to the Hunyuan-strict mock: every one must be accepted (200).
//! Plus hostile bodies: whatever JSON arrives, the answer is a 4xx with an OpenAI error, never
//! a 5xx.

mod common;

use common::gateway::{demo_config, Gateway};
use common::mock::Mock;
use proptest::prelude::*;
use serde_json::{json, Value};

const PNG: &str = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

fn tool_call(id: &str, name: &str, args: &str) -> Value {
    json!({"id": id, "type": "function", "function": {"name": name, "arguments": args}})
}

fn tools() -> Value {
    json!([
        {"type": "function", "function": {"name": "read_file", "description": "Read a file", "strict": true,
          "parameters": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"], "additionalProperties": false}}},
        {"type": "function", "function": {"name": "execute_command", "parameters": {"type": "object", "properties": {"command": {"type": "string"}}}}}
    ])
}

fn conversations() -> Vec<(&'static str, Value)> {
    let sys = "You are Cline, a highly skilled software engineer. ".repeat(40);
    vec![
        (
            "cline tool loop ending on a tool result",
            json!({
            "model": "hunyuan-turbos-latest", "stream": true, "tools": tools(), "tool_choice": "auto",
            "parallel_tool_calls": true, "temperature": 0,
            "messages": [
                {"role": "system", "content": sys},
                {"role": "user", "content": [{"type": "text", "text": "<task>fix the failing test</task>"}, {"type": "text", "text": "<environment_details>cwd: /repo</environment_details>"}]},
                {"role": "assistant", "content": null, "tool_calls": [tool_call("call_1", "read_file", "{\"path\":\"src/lib.rs\"}")]},
                {"role": "tool", "tool_call_id": "call_1", "content": "pub fn add(a: i32, b: i32) -> i32 { a - b }"},
                {"role": "assistant", "content": "", "tool_calls": [tool_call("call_2", "execute_command", "{\"command\":\"cargo test\"}"), tool_call("call_3", "read_file", "{\"path\":\"tests/t.rs\"}")]},
                {"role": "tool", "tool_call_id": "call_2", "content": "test result: FAILED"},
                {"role": "tool", "tool_call_id": "call_3", "content": ""}
            ]}),
        ),
        (
            "trailing assistant and reasoning_content",
            json!({
            "model": "hunyuan-turbos-latest",
            "messages": [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "Hello!", "reasoning_content": "the user greets"},
                {"role": "user", "content": "write a haiku"},
                {"role": "assistant", "content": "Autumn moonlight—"}
            ]}),
        ),
        (
            "roo code: consecutive user turns, developer role, unanswered tool call",
            json!({
            "model": "gpt-4o-mini", "frequency_penalty": 0.5, "presence_penalty": 0.1, "reasoning_effort": "high", "top_p": 1.5, "seed": 123456,
            "tools": tools(),
            "messages": [
                {"role": "developer", "content": "Follow the repo conventions."},
                {"role": "system", "content": "You are Roo."},
                {"role": "user", "content": "<task>refactor</task>"},
                {"role": "user", "content": "<environment_details>files: a.rs</environment_details>"},
                {"role": "assistant", "content": "I'll read it.", "tool_calls": [tool_call("c9", "read_file", "{\"path\":\"a.rs\"}")]},
                {"role": "user", "content": "actually, stop and explain"}
            ]}),
        ),
        (
            "chat ui: leading assistant greeting, empty and whitespace turns, orphan tool result",
            json!({
            "model": "hunyuan-turbos-latest",
            "messages": [
                {"role": "assistant", "content": "How can I help you today?"},
                {"role": "user", "content": "   "},
                {"role": "tool", "tool_call_id": "nope", "content": "stray output"},
                {"role": "user", "content": [{"type": "text", "text": ""}, {"type": "text", "text": "what is 2+2?"}]},
                {"role": "system", "content": "late system prompt"},
                {"role": "assistant", "content": []},
                {"role": "assistant", "content": "4"}
            ]}),
        ),
        (
            "screenshot to a text model via the cascade",
            json!({
            "model": "hunyuan-turbos-latest", "tools": tools(),
            "messages": [
                {"role": "system", "content": "You are a coding agent."},
                {"role": "user", "content": [{"type": "text", "text": "Why does this page error?"}, {"type": "image_url", "image_url": {"url": PNG, "detail": "high"}}]},
                {"role": "assistant", "content": null, "tool_calls": [tool_call("s1", "execute_command", "{\"command\":\"curl localhost\"}")]},
                {"role": "tool", "tool_call_id": "s1", "content": [{"type": "text", "text": "500 Internal Server Error"}]},
                {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://example.com/after.png"}}]}
            ]}),
        ),
        (
            "screenshot to a vision model (kept as an image)",
            json!({
            "model": "hunyuan-vision",
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "describe"}, {"type": "image_url", "image_url": {"url": PNG}}]},
                {"role": "assistant", "content": "A tiny image."},
                {"role": "user", "content": [{"type": "text", "text": ""}, {"type": "image_url", "image_url": PNG}]}
            ]}),
        ),
        ("a long agent loop over 40 messages", {
            let mut msgs = vec![
                json!({"role": "system", "content": "agent"}),
                json!({"role": "user", "content": "start the migration"}),
            ];
            for i in 0..30 {
                msgs.push(json!({"role": "assistant", "content": null, "tool_calls": [tool_call(&format!("t{i}"), "execute_command", "{}")]}));
                msgs.push(json!({"role": "tool", "tool_call_id": format!("t{i}"), "content": format!("step {i} ok")}));
            }
            json!({"model": "hunyuan-turbos-latest", "tools": tools(), "messages": msgs})
        }),
    ]
}

#[tokio::test]
async fn strict_hunyuan_accepts_every_agent_conversation() {
    let mock = Mock::start(true);
    let cfg = demo_config(&format!("http://{}", mock.addr), "hunyuan");
    let gw = Gateway::start(&format!("cascade:\n  vision_model: hunyuan-vision\n{cfg}"));
    let c = reqwest::Client::new();
    for (name, body) in conversations() {
        let r = c
            .post(gw.url("/v1/chat/completions"))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        assert_eq!(status, 200, "{name}: {text}");
        if body["stream"] == true {
            assert!(text.contains("[DONE]"), "{name}");
        }
    }
    let stats = mock.stats().await;
    assert_eq!(stats["strict_rejections"], 0, "{stats}");
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "[a-z ]{0,8}".prop_map(Value::String),
        Just(json!("user")),
        Just(json!("hunyuan-turbos-latest")),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("model".to_string()),
                    Just("messages".to_string()),
                    Just("role".to_string()),
                    Just("content".to_string()),
                    Just("tool_calls".to_string()),
                    "[a-z_]{1,6}"
                ],
                inner,
                0..5
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Chat-shaped bodies with odd parts: most pass validation and reach the fixer.
fn arb_chat() -> impl Strategy<Value = Value> {
    let role = prop_oneof![
        Just("system"),
        Just("user"),
        Just("assistant"),
        Just("tool"),
        Just("developer")
    ];
    let content = prop_oneof![
        Just(Value::Null),
        Just(json!("")),
        Just(json!("  ")),
        "[a-z ]{1,12}".prop_map(Value::String),
        Just(json!([{"type": "text", "text": "part"}, {"type": "text", "text": ""}])),
        Just(json!([{"type": "image_url", "image_url": {"url": "https://x/y.png"}}])),
        any::<i64>().prop_map(|n| json!(n)),
    ];
    let extra = prop_oneof![
        Just(json!({})),
        Just(
            json!({"tool_calls": [{"id": "a", "type": "function", "function": {"name": "f", "arguments": "{}"}}]})
        ),
        Just(json!({"tool_call_id": "a"})),
        Just(json!({"reasoning_content": "hmm"})),
        Just(json!({"tool_calls": "bad"})),
    ];
    let msg = (role, content, extra).prop_map(|(r, c, e)| {
        let mut m = json!({"role": r, "content": c});
        if let (Some(o), Some(x)) = (m.as_object_mut(), e.as_object()) {
            o.extend(x.clone());
        }
        m
    });
    (prop::collection::vec(msg, 1..12), any::<bool>(), -1.0f64..3.0).prop_map(|(msgs, stream, t)| {
        json!({"model": "hunyuan-turbos-latest", "messages": msgs, "stream": stream, "temperature": t, "presence_penalty": 1})
    })
}

#[test]
fn arbitrary_json_bodies_get_4xx_not_5xx() {
    let mock = Mock::start(true);
    let gw = Gateway::start(&demo_config(&format!("http://{}", mock.addr), "hunyuan"));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let c = reqwest::Client::new();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 96,
        ..ProptestConfig::default()
    });
    runner
        .run(
            &(prop_oneof![arb_json(), arb_chat()], any::<bool>()),
            |(mut v, with_model)| {
                if with_model {
                    if let Some(o) = v.as_object_mut() {
                        o.insert("model".into(), json!("hunyuan-turbos-latest"));
                    }
                }
                let r = rt
                    .block_on(c.post(gw.url("/v1/chat/completions")).json(&v).send())
                    .unwrap();
                let status = r.status().as_u16();
                let body: Value = rt.block_on(r.json()).unwrap_or(Value::Null);
                prop_assert!(
                    status == 200 || (400..500).contains(&status),
                    "{status} for {v}: {body}"
                );
                if status != 200 {
                    prop_assert!(body["error"]["message"].is_string(), "{body}");
                }
                Ok(())
            },
        )
        .unwrap();
    assert!(gw.log_text().lines().all(|l| !l.contains("panicked")));
    // Whatever the gateway accepted and forwarded satisfied Hunyuan's rules.
    let stats = rt.block_on(mock.stats());
    assert_eq!(stats["strict_rejections"], 0, "{stats}");
    assert!(
        stats["requests"]["chat"].as_u64().unwrap() > 0,
        "some bodies were valid enough to forward"
    );
}
