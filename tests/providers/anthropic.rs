//! An `anthropic` pool through the real gateway, against the mock's strict native
//! `/v1/messages`: `/v1/messages` passes through (thinking signatures, `cache_control`,
//! `anthropic-beta` kept); chat, Responses and Completions clients are rendered as Messages and
//! get their own protocol back, streams and tool round trips included; the key goes as
//! `x-api-key`; errors come back in the client's shape.

use super::util::{post, shell_tool, tool_call_of};
use crate::common::gateway::{Gateway, PROVIDER_KEY};
use crate::common::mock::Mock;
use serde_json::{json, Value};

pub fn config(mock: &Mock) -> String {
    format!(
        "pools:\n  claude:\n    urls: [\"{}/v1\"]\n    provider: {{type: anthropic, api_key_env: TEST_PROVIDER_KEY}}\n\
         routes:\n  - {{model: \"claude-*\", pool: claude}}\n  - {{model: sonnet, pool: claude, upstream_model: claude-sonnet-4-5}}\n",
        mock.url("")
    )
}

pub async fn last_messages(mock: &Mock) -> Value {
    mock.stats().await["last"]["messages"].clone()
}

#[tokio::test]
async fn messages_pass_through_natively() {
    let mock = Mock::start(false);
    let gw = Gateway::start(&config(&mock));
    let body = json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 2048,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        "tools": [{"name": "Bash", "description": "Run", "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}}}],
        "messages": [
            {"role": "user", "content": "Run `ls`"},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "List it.", "signature": "sig-client-1"},
                {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls"}}
            ]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "README.md"}]}
        ]
    });
    let headers = [
        ("x-api-key", "client-key-never-upstream"),
        ("anthropic-version", "2023-06-01"),
        ("anthropic-beta", "interleaved-thinking-2025-05-14"),
    ];
    let r = reqwest::Client::new()
        .post(gw.url("/v1/messages?beta=true"))
        .headers(
            headers
                .iter()
                .map(|(k, v)| (k.parse().expect("name"), v.parse().expect("value")))
                .collect(),
        )
        .json(&body)
        .send()
        .await
        .expect("send");
    if r.status() != 200 {
        panic!("{}: {}", r.status(), r.text().await.unwrap_or_default());
    }
    assert_eq!(
        r.headers()["x-mock-anthropic-beta"],
        "interleaved-thinking-2025-05-14",
        "anthropic-beta reached the provider"
    );
    let answer: Value = r.json().await.expect("json");
    assert_eq!(answer["type"], "message", "{answer}");
    assert_eq!(answer["content"][0]["type"], "thinking", "{answer}");
    assert!(answer["content"][0]["signature"].is_string(), "{answer}");
    let last = last_messages(&mock).await;
    assert_eq!(last["path"], "/v1/messages");
    assert_eq!(last["uri"], "/v1/messages?beta=true");
    // The body went as the client sent it: the signature and cache_control byte for byte.
    assert_eq!(last["body"], body, "the body was changed on the way");
    assert_eq!(last["headers"]["x-api-key"], PROVIDER_KEY);
    assert!(last["headers"].get("authorization").is_none(), "{last}");
    let text = last.to_string();
    assert!(!text.contains("client-key-never-upstream"), "{text}");
    // The usage of a passed-through answer is counted (Anthropic's own `usage`).
    let metrics = crate::common::instances::metrics(&gw).await;
    let counted = |dir: &str| {
        metrics.lines().any(|l| {
            l.starts_with("llm_relay_tokens_total")
                && l.contains(&format!("direction=\"{dir}\""))
                && !l.ends_with(" 0")
        })
    };
    assert!(counted("in") && counted("out"), "{metrics}");
}

#[tokio::test]
async fn a_chat_client_gets_chat_from_an_anthropic_pool() {
    let mock = Mock::start(false);
    let gw = Gateway::start(&config(&mock));
    let body = json!({
        "model": "sonnet",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hello"}
        ],
        "max_tokens": 100
    });
    let (status, text) = post(&gw, "/v1/chat/completions", &[], &body).await;
    assert_eq!(status, 200, "{text}");
    let v: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(v["object"], "chat.completion", "{v}");
    assert!(v["choices"][0]["message"]["content"].is_string(), "{v}");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert!(v["usage"]["prompt_tokens"].as_u64().unwrap_or(0) > 0, "{v}");
    let last = last_messages(&mock).await;
    assert_eq!(last["body"]["model"], "claude-sonnet-4-5");
    assert_eq!(last["body"]["system"][0]["text"], "Be brief.");
    assert_eq!(last["headers"]["anthropic-version"], "2023-06-01");
    assert_eq!(last["headers"]["x-api-key"], PROVIDER_KEY);
}

/// A tool round trip, streamed: the call comes back as chat tool_calls deltas, the result goes
/// back as a `tool_result` the strict mock accepts, and the final text quotes it.
#[tokio::test]
async fn a_chat_tool_round_trip_streams_through_an_anthropic_pool() {
    let mock = Mock::start(false);
    let gw = Gateway::start(&config(&mock));
    let mut messages = vec![json!({"role": "user", "content": "Run `echo hi`"})];
    let body =
        json!({"model": "sonnet", "stream": true, "messages": messages, "tools": [shell_tool()]});
    let (status, text) = post(&gw, "/v1/chat/completions", &[], &body).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    assert!(
        !text.contains("\"usage\""),
        "the client did not ask for usage: {text}"
    );
    let (id, args) = tool_call_of(&text);
    assert_eq!(
        serde_json::from_str::<Value>(&args).ok(),
        Some(json!({"command": "echo hi"}))
    );
    messages.push(json!({"role": "assistant", "content": null, "tool_calls": [
        {"id": id, "type": "function", "function": {"name": "shell", "arguments": args}}]}));
    messages.push(json!({"role": "tool", "tool_call_id": id, "content": "hi"}));
    let body = json!({"model": "sonnet", "messages": messages, "tools": [shell_tool()]});
    let (status, text) = post(&gw, "/v1/chat/completions", &[], &body).await;
    assert_eq!(status, 200, "{text}");
    let v: Value = serde_json::from_str(&text).expect("json");
    let content = v["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or_default();
    assert!(content.contains("hi"), "{v}");
}

#[tokio::test]
async fn responses_and_completions_clients_reach_an_anthropic_pool() {
    let mock = Mock::start(false);
    let gw = Gateway::start(&config(&mock));
    let body = json!({"model": "sonnet", "input": "Hello", "store": false});
    let (status, text) = post(&gw, "/v1/responses", &[], &body).await;
    assert_eq!(status, 200, "{text}");
    let v: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(v["object"], "response", "{v}");
    assert_eq!(v["status"], "completed", "{v}");
    let body = json!({"model": "sonnet", "input": "Hello", "stream": true, "store": false});
    let (status, text) = post(&gw, "/v1/responses", &[], &body).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("response.completed"), "{text}");
    let body = json!({"model": "sonnet", "prompt": "Say hi", "max_tokens": 16});
    let (status, text) = post(&gw, "/v1/completions", &[], &body).await;
    assert_eq!(status, 200, "{text}");
    let v: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(v["object"], "text_completion", "{v}");
    assert_eq!(last_messages(&mock).await["path"], "/v1/messages");
}

/// The provider's errors in the client's protocol, with an honest status: Anthropic's 529
/// overloaded is a 503 for a chat client and a 529 `overloaded_error` for an Anthropic one.
#[tokio::test]
async fn provider_errors_come_back_in_the_clients_shape() {
    let mock = Mock::start(false);
    let gw = Gateway::start(&config(&mock));
    let chat = json!({"model": "sonnet", "messages": [{"role": "user", "content": "hi"}]});
    let (status, text) = post(
        &gw,
        "/v1/chat/completions",
        &[("x-mock-status", "400")],
        &chat,
    )
    .await;
    assert_eq!(status, 400, "{text}");
    let v: Value = serde_json::from_str(&text).expect("json");
    assert!(v["error"]["message"].is_string(), "OpenAI's shape: {v}");
    assert!(v["error"].get("type").is_some(), "{v}");
    let (status, text) = post(
        &gw,
        "/v1/chat/completions",
        &[("x-mock-status", "529")],
        &chat,
    )
    .await;
    assert!(status == 503 || status == 529, "{status}: {text}");
    let v: Value = serde_json::from_str(&text).expect("json");
    assert!(v["error"]["message"].is_string(), "{v}");
    // A translated Messages client (the route's fallback forces translation) is tested in
    // fallback.rs; the passed-through one gets Anthropic's error as Anthropic sent it.
    let msg = json!({"model": "sonnet", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]});
    let (status, text) = post(&gw, "/v1/messages", &[("x-mock-status", "400")], &msg).await;
    assert_eq!(status, 400, "{text}");
    let v: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(v["type"], "error", "{v}");
}

/// Strictness holds: a conversation the strict mock would refuse (two user turns, a tool
/// result) is rendered so Anthropic's rules hold.
#[tokio::test]
async fn an_odd_chat_history_is_rendered_to_anthropics_rules() {
    let mock = Mock::start(false);
    let gw = Gateway::start(&config(&mock));
    let body = json!({"model": "sonnet", "messages": [
        {"role": "assistant", "content": "Hi! How can I help?"},
        {"role": "user", "content": "first"},
        {"role": "user", "content": "second"},
        {"role": "developer", "content": "Answer briefly."},
        {"role": "tool", "tool_call_id": "nope", "content": "orphan"}
    ]});
    let (status, text) = post(&gw, "/v1/chat/completions", &[], &body).await;
    assert_eq!(status, 200, "{text}");
    let stats = mock.stats().await;
    assert_eq!(
        stats["strict_rejections"].as_u64().unwrap_or(0),
        0,
        "{stats}"
    );
}

/// The cascade's vision model may be served by an `anthropic` pool: the vision call is rendered
/// as Messages (the image as a base64 source block), its answer decoded, and the description
/// reaches the (strict Hunyuan) text model.
#[tokio::test]
async fn the_cascade_can_describe_with_an_anthropic_vision_model() {
    const PNG: &str = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
    let mock = Mock::start(true);
    let gw = Gateway::start(&format!(
        "cascade:\n  vision_model: claude-vision\n  timeout_ms: 5000\n\
         pools:\n  claude:\n    urls: [\"{up}/v1\"]\n    provider: {{type: anthropic, api_key_env: TEST_PROVIDER_KEY}}\n  \
         hy:\n    urls: [\"{up}/v1\"]\n    provider: {{type: hunyuan}}\n\
         routes:\n  - {{model: claude-vision, pool: claude, vision: true, upstream_model: claude-sonnet-4-5}}\n  \
         - {{model: hunyuan-turbos-latest, pool: hy}}\n",
        up = mock.url("")
    ));
    let body = json!({"model": "hunyuan-turbos-latest", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": PNG}}
    ]}]});
    let (status, text) = post(&gw, "/v1/chat/completions", &[], &body).await;
    assert_eq!(status, 200, "{text}");
    let stats = mock.stats().await;
    assert_eq!(stats["requests"]["messages"], 1, "one vision call: {stats}");
    let vision = &stats["last"]["messages"]["body"];
    assert_eq!(vision["model"], "claude-sonnet-4-5");
    let blocks = vision["messages"][0]["content"].to_string();
    assert!(
        blocks.contains("\"base64\"") && blocks.contains("image/png"),
        "{blocks}"
    );
    let sent = stats["last"]["chat"]["body"]["messages"].to_string();
    assert!(!sent.contains("image_url"), "{sent}");
    assert!(sent.contains("[Image description]"), "{sent}");
    assert_eq!(stats["strict_rejections"], 0, "{stats}");
}
