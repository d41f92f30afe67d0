//! A `gemini` pool through the real gateway, against the mock's strict native
//! `generateContent`: chat, Responses, Messages and Completions clients are rendered as Gemini
//! requests and get their own protocol back, streams and tool round trips included; the key
//! goes as `x-goog-api-key`; errors come back in the client's shape.

use super::util::{post, shell_tool, tool_call_of};
use crate::common::gateway::{Gateway, PROVIDER_KEY};
use crate::common::mock::Mock;
use serde_json::{json, Value};

fn config(mock: &Mock) -> String {
    format!(
        "pools:\n  google:\n    urls: [\"{}/v1beta\"]\n    provider: {{type: gemini, api_key_env: TEST_PROVIDER_KEY}}\n\
         routes:\n  - {{model: \"gemini-*\", pool: google}}\n  - {{model: flash, pool: google, upstream_model: gemini-2.5-flash}}\n",
        mock.url("")
    )
}

async fn last_gemini(mock: &Mock) -> Value {
    mock.stats().await["last"]["gemini"].clone()
}

#[tokio::test]
async fn a_chat_client_gets_chat_from_a_gemini_pool() {
    let mock = Mock::start(false);
    let gw = Gateway::start(&config(&mock));
    let body = json!({"model": "flash", "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hello"}
    ], "max_tokens": 100, "temperature": 0.2});
    let (status, text) = post(
        &gw,
        "/v1/chat/completions",
        &[("authorization", "Bearer client-secret")],
        &body,
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let v: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(v["object"], "chat.completion", "{v}");
    assert!(v["choices"][0]["message"]["content"].is_string(), "{v}");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    let last = last_gemini(&mock).await;
    assert_eq!(
        last["path"], "/v1beta/models/gemini-2.5-flash:generateContent",
        "{last}"
    );
    assert_eq!(last["headers"]["x-goog-api-key"], PROVIDER_KEY);
    assert!(last["headers"].get("authorization").is_none(), "{last}");
    assert!(!last.to_string().contains("client-secret"));
    assert_eq!(
        last["body"]["systemInstruction"]["parts"][0]["text"],
        "Be brief."
    );
    assert_eq!(last["body"]["generationConfig"]["maxOutputTokens"], 100);
}

#[tokio::test]
async fn a_chat_tool_round_trip_streams_through_a_gemini_pool() {
    let mock = Mock::start(false);
    let gw = Gateway::start(&config(&mock));
    let mut messages = vec![json!({"role": "user", "content": "Run `echo hi`"})];
    let body = json!({"model": "flash", "stream": true, "messages": messages, "tools": [shell_tool()],
        "stream_options": {"include_usage": true}});
    let (status, text) = post(&gw, "/v1/chat/completions", &[], &body).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    assert!(
        text.contains("\"usage\""),
        "the client asked for usage: {text}"
    );
    assert!(last_gemini(&mock).await["uri"]
        .as_str()
        .is_some_and(|u| u.ends_with(":streamGenerateContent?alt=sse")));
    let (id, args) = tool_call_of(&text);
    assert_eq!(
        serde_json::from_str::<Value>(&args).ok(),
        Some(json!({"command": "echo hi"}))
    );
    messages.push(json!({"role": "assistant", "content": null, "tool_calls": [
        {"id": id, "type": "function", "function": {"name": "shell", "arguments": args}}]}));
    messages.push(json!({"role": "tool", "tool_call_id": id, "content": "hi"}));
    let body = json!({"model": "flash", "messages": messages, "tools": [shell_tool()]});
    let (status, text) = post(&gw, "/v1/chat/completions", &[], &body).await;
    assert_eq!(status, 200, "{text}");
    let v: Value = serde_json::from_str(&text).expect("json");
    let content = v["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or_default();
    assert!(content.contains("hi"), "{v}");
    let stats = mock.stats().await;
    assert_eq!(
        stats["strict_rejections"].as_u64().unwrap_or(0),
        0,
        "{stats}"
    );
}

#[tokio::test]
async fn other_clients_reach_a_gemini_pool() {
    let mock = Mock::start(false);
    let gw = Gateway::start(&config(&mock));
    let (status, text) = post(
        &gw,
        "/v1/responses",
        &[],
        &json!({"model": "flash", "input": "Hello", "store": false}),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(
        serde_json::from_str::<Value>(&text).expect("json")["status"],
        "completed"
    );
    let msg = json!({"model": "flash", "max_tokens": 64, "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    let (status, text) = post(
        &gw,
        "/v1/messages",
        &[("anthropic-version", "2023-06-01")],
        &msg,
    )
    .await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("message_stop"), "{text}");
    let (status, text) = post(
        &gw,
        "/v1/completions",
        &[],
        &json!({"model": "flash", "prompt": "Say hi"}),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(
        serde_json::from_str::<Value>(&text).expect("json")["object"],
        "text_completion"
    );
}

#[tokio::test]
async fn gemini_errors_come_back_in_the_clients_shape() {
    let mock = Mock::start(false);
    let gw = Gateway::start(&config(&mock));
    let chat = json!({"model": "flash", "messages": [{"role": "user", "content": "hi"}]});
    let (status, text) = post(
        &gw,
        "/v1/chat/completions",
        &[("x-mock-status", "429")],
        &chat,
    )
    .await;
    assert_eq!(status, 429, "{text}");
    let v: Value = serde_json::from_str(&text).expect("json");
    assert!(v["error"]["message"].is_string(), "OpenAI's shape: {v}");
    let msg = json!({"model": "flash", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]});
    let (status, text) = post(&gw, "/v1/messages", &[("x-mock-status", "400")], &msg).await;
    assert_eq!(status, 400, "{text}");
    let v: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(v["type"], "error", "Anthropic's shape: {v}");
}

/// A Gemini client to a `gemini` pool: the body passes through untranslated, to the path of
/// the routed model (an alias renames it there), with `alt=sse` kept, the client's key
/// dropped (header and `?key=`) and the pool's key set; the usage is still counted.
#[tokio::test]
async fn gemini_clients_pass_through_to_a_gemini_pool() {
    let mock = Mock::start(false);
    let gw = Gateway::start(&config(&mock));
    let body = json!({
        "contents": [{"role": "user", "parts": [{"text": "Hello"}]}],
        "generationConfig": {"maxOutputTokens": 64, "topK": 3},
        "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}]
    });
    let (status, text) = post(
        &gw,
        "/v1beta/models/flash:generateContent?key=client-secret",
        &[],
        &body,
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let v: Value = serde_json::from_str(&text).expect("json");
    assert!(
        v["candidates"][0]["content"]["parts"][0]["text"].is_string(),
        "{v}"
    );
    let last = last_gemini(&mock).await;
    assert_eq!(
        last["uri"], "/v1beta/models/gemini-2.5-flash:generateContent",
        "{last}"
    );
    assert_eq!(last["body"], body, "the body was changed on the way");
    assert_eq!(last["headers"]["x-goog-api-key"], PROVIDER_KEY);
    assert!(!last.to_string().contains("client-secret"), "{last}");
    let (status, text) = post(
        &gw,
        "/v1beta/models/flash:streamGenerateContent?alt=sse",
        &[("x-goog-api-key", "client-secret")],
        &body,
    )
    .await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("\"candidates\""), "{text}");
    let last = last_gemini(&mock).await;
    assert_eq!(
        last["uri"],
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    );
    assert!(!last.to_string().contains("client-secret"), "{last}");
    let metrics = crate::common::instances::metrics(&gw).await;
    let tokens_in = metrics
        .lines()
        .find(|l| l.starts_with("llm_relay_tokens_total") && l.contains("direction=\"in\""));
    assert!(
        tokens_in.is_some_and(|l| !l.ends_with(" 0")),
        "usage of passed-through answers counted: {metrics}"
    );
}

/// Anthropic's and Gemini's native APIs serve chat only: another kind on their model is a
/// clear 400, not a request to a path the provider does not have.
#[tokio::test]
async fn other_kinds_on_a_chat_only_provider_are_refused_clearly() {
    let mock = Mock::start(false);
    let gw = Gateway::start(&config(&mock));
    let (status, text) = post(
        &gw,
        "/v1/embeddings",
        &[],
        &json!({"model": "flash", "input": "x"}),
    )
    .await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("chat only"), "{text}");
    assert_eq!(mock.stats().await["requests"]["gemini"], 0);
}
