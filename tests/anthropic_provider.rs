//! The Anthropic provider's pure functions against the mock's native `/v1/messages` (no
//! gateway in between): a chat tool round trip with thinking, rendered by `render`, checked by
//! the strict mock, decoded by `decoder`, JSON and SSE; cache usage carried; errors mapped.

use llm_relay::protocol::chat_stream::{ChatEvent, ChatStreamDecoder};
use llm_relay::providers::anthropic::{decoder, error_to_chat, render};
use serde_json::{json, Value};

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .expect("client")
}

/// Renders `chat`, sends it, and decodes the answer (or maps the error) as the gateway would.
async fn exchange(addr: std::net::SocketAddr, chat: &Value) -> (u16, Vec<u8>) {
    let body = render(chat).expect("render");
    let stream = body["stream"] == true;
    let mut resp = client()
        .post(format!("http://{addr}/v1/messages"))
        .header("x-api-key", "sk-ant")
        .header("anthropic-version", "2023-06-01")
        .json(&body)
        .send()
        .await
        .expect("send");
    let status = resp.status().as_u16();
    if status != 200 {
        let bytes = resp.bytes().await.expect("body");
        return error_to_chat(status, &bytes);
    }
    let mut d = decoder(stream, "claude-client");
    let mut out = Vec::new();
    while let Some(piece) = resp.chunk().await.expect("chunk") {
        out.extend(d.feed(&piece));
    }
    out.extend(d.finish());
    (status, out)
}

fn chat(messages: Value, stream: bool) -> Value {
    json!({"model": "claude-up", "messages": messages, "stream": stream,
        "reasoning_effort": "low",
        "tools": [{"type": "function", "function": {"name": "Bash",
            "parameters": {"type": "object", "properties": {"command": {"type": "string"}}}}}]})
}

fn first_turn() -> Value {
    json!([
        {"role": "system", "content": [{"type": "text", "text": "You run commands.",
            "cache_control": {"type": "ephemeral"}}]},
        {"role": "user", "content": "Run `echo relay-42`"},
    ])
}

async fn last_body(addr: std::net::SocketAddr) -> Value {
    let stats: Value = client()
        .get(format!("http://{addr}/_stats"))
        .send()
        .await
        .expect("stats")
        .json()
        .await
        .expect("stats JSON");
    stats["last"]["messages"]["body"].clone()
}

#[tokio::test]
async fn tool_round_trip_with_thinking_json() {
    let mock = mock_upstream::spawn(false).expect("mock");
    let (status, out) = exchange(mock.addr, &chat(first_turn(), false)).await;
    assert_eq!(status, 200);
    let v: Value = serde_json::from_slice(&out).expect("completion");
    let msg = &v["choices"][0]["message"];
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    assert!(msg["reasoning_signature"]
        .as_str()
        .is_some_and(|s| s.starts_with("mocksig_")));
    let call = &msg["tool_calls"][0];
    assert_eq!(
        call["function"]["arguments"],
        "{\"command\":\"echo relay-42\"}"
    );
    let details = &v["usage"]["prompt_tokens_details"];
    assert!(details["cached_tokens"].as_u64().unwrap() > 0, "{v}");
    assert!(
        details["cache_creation_tokens"].as_u64().unwrap() > 0,
        "{v}"
    );

    let mut messages = first_turn();
    let arr = messages.as_array_mut().unwrap();
    arr.push(msg.clone());
    arr.push(json!({"role": "tool", "tool_call_id": call["id"], "content": "relay-42\n"}));
    let (status, out) = exchange(mock.addr, &chat(messages, false)).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&out));
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "The command printed: relay-42"
    );
    let sent = last_body(mock.addr).await;
    assert_eq!(
        sent["thinking"]["type"], "enabled",
        "signed: thinking stays on"
    );
    assert_eq!(sent["messages"][1]["content"][0]["type"], "thinking");
    assert_eq!(sent["system"][0]["cache_control"]["type"], "ephemeral");
}

#[tokio::test]
async fn tool_round_trip_streamed() {
    let mock = mock_upstream::spawn(false).expect("mock");
    let (status, out) = exchange(mock.addr, &chat(first_turn(), true)).await;
    assert_eq!(status, 200);
    assert!(out.ends_with(b"data: [DONE]\n\n"));
    let mut events = Vec::new();
    let mut d = ChatStreamDecoder::new();
    d.feed(&out, &mut events);
    d.finish(&mut events);
    let mut args = String::new();
    let mut id = String::new();
    let mut usage = None;
    for e in &events {
        match e {
            ChatEvent::ToolCallStart { id: i, name, .. } => {
                assert_eq!(name, "Bash");
                id = i.clone();
            }
            ChatEvent::ToolCallArgs { delta, .. } => args.push_str(delta),
            ChatEvent::Usage(u) => usage = Some(*u),
            _ => {}
        }
    }
    assert!(events.contains(&ChatEvent::Finish("tool_calls".into())));
    assert!(events.iter().any(|e| matches!(e, ChatEvent::Reasoning(_))));
    assert_eq!(
        serde_json::from_str::<Value>(&args).unwrap(),
        json!({"command": "echo relay-42"})
    );
    assert!(usage.is_some_and(|u| u.cached > 0 && u.prompt > u.cached));

    // Without the signature (a chat client that keeps only standard fields) thinking is
    // left off for the loop, and the strict mock accepts it.
    let mut messages = first_turn();
    let arr = messages.as_array_mut().unwrap();
    arr.push(
        json!({"role": "assistant", "content": null, "tool_calls": [{"id": id,
        "type": "function", "function": {"name": "Bash", "arguments": args}}]}),
    );
    arr.push(json!({"role": "tool", "tool_call_id": id, "content": "relay-42"}));
    let (status, out) = exchange(mock.addr, &chat(messages, true)).await;
    assert_eq!(status, 200);
    let mut events = Vec::new();
    ChatStreamDecoder::new().feed(&out, &mut events);
    let text: String = events
        .iter()
        .filter_map(|e| match e {
            ChatEvent::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(text, "The command printed: relay-42");
    assert!(last_body(mock.addr).await.get("thinking").is_none());
}

#[tokio::test]
async fn upstream_errors_are_openai_shaped() {
    let mock = mock_upstream::spawn(false).expect("mock");
    let body = render(&json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}))
        .expect("render");
    let r = client()
        .post(format!("http://{}/v1/messages", mock.addr))
        .header("anthropic-version", "2023-06-01")
        .json(&body)
        .send()
        .await
        .expect("send");
    let status = r.status().as_u16();
    let (status, out) = error_to_chat(status, &r.bytes().await.expect("body"));
    assert_eq!(status, 401);
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["error"]["type"], "authentication_error");
    assert_eq!(v["error"]["code"], "authentication_error");
}
