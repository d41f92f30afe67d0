//! `providers::gemini` against the mock's strict Gemini endpoints, without the proxy: chat
//! requests rendered, sent, answered and decoded back to chat, a tool round trip included
//! (streamed), so what the renderer writes is judged by Gemini's rules as the mock knows them.

use std::time::Duration;

use llm_relay::providers::gemini::{decoder, error_to_chat, render};
use serde_json::{json, Value};

struct Upstream {
    mock: mock_upstream::Running,
    http: reqwest::Client,
}

impl Upstream {
    fn start() -> Upstream {
        Upstream {
            mock: mock_upstream::spawn(false).expect("mock"),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .expect("client"),
        }
    }

    /// Renders `chat`, sends it, and returns (status, decoded body) fed in 7-byte pieces.
    async fn call(&self, chat: &Value) -> (u16, Vec<u8>) {
        let (path, body) = render(chat).expect("render");
        let url = format!("http://{}/v1beta{path}", self.mock.addr);
        let r = self
            .http
            .post(url)
            .header("x-goog-api-key", "k")
            .json(&body)
            .send()
            .await
            .expect("send");
        let status = r.status().as_u16();
        let bytes = r.bytes().await.expect("body");
        if status != 200 {
            return error_to_chat(status, &bytes);
        }
        let stream = chat["stream"] == true;
        let model = chat["model"].as_str().unwrap_or("");
        let mut d = decoder(stream, model);
        let mut out = Vec::new();
        for piece in bytes.chunks(7) {
            out.extend(d.feed(piece));
        }
        out.extend(d.finish());
        (status, out)
    }

    async fn stats(&self) -> Value {
        let url = format!("http://{}/_stats", self.mock.addr);
        self.http
            .get(url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

/// The chunks of a chat SSE body (`[DONE]` checked and left out).
fn chunks(body: &[u8]) -> Vec<Value> {
    let text = std::str::from_utf8(body).unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    text.split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

fn shell_tool() -> Value {
    json!([{"type": "function", "function": {"name": "shell", "description": "run a command",
        "parameters": {"type": "object", "properties": {"command": {"type": "string"}},
            "required": ["command"], "additionalProperties": false}}}])
}

#[tokio::test]
async fn plain_chat_with_system_and_options() {
    let up = Upstream::start();
    let chat = json!({"model": "gemini-2.5-flash", "temperature": 0.2, "max_tokens": 50,
        "stop": ["END"], "stream_options": {"include_usage": true}, "user": "u",
        "messages": [{"role": "system", "content": "be brief"},
            {"role": "user", "content": "hi"}, {"role": "user", "content": "there"}]});
    let (status, body) = up.call(&chat).await;
    assert_eq!(status, 200);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "mock reply to: hi\nthere"
    );
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert!(v["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
    let sent = &up.stats().await["last"]["gemini"]["body"];
    assert_eq!(sent["systemInstruction"]["parts"][0]["text"], "be brief");
    assert_eq!(sent["generationConfig"]["maxOutputTokens"], 50);
}

#[tokio::test]
async fn streamed_tool_round_trip() {
    let up = Upstream::start();
    let mut messages = vec![json!({"role": "user", "content": "Run `echo relay-ok` now"})];
    let chat = |messages: &Vec<Value>| {
        json!({"model": "gemini-3-pro-preview", "stream": true, "tools": shell_tool(),
            "tool_choice": "auto", "reasoning_effort": "low", "messages": messages})
    };
    let (status, body) = up.call(&chat(&messages)).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let c = chunks(&body);
    let delta_with_calls = c
        .iter()
        .find(|c| c["choices"][0]["delta"].get("tool_calls").is_some())
        .expect("a tool call");
    let mut call = delta_with_calls["choices"][0]["delta"]["tool_calls"][0].clone();
    assert_eq!(call["function"]["name"], "shell");
    assert_eq!(
        call["function"]["arguments"],
        "{\"command\":\"echo relay-ok\"}"
    );
    assert!(call["id"].as_str().unwrap().starts_with("call_"));
    let reasoning: String = c
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["reasoning_content"].as_str())
        .collect();
    assert!(!reasoning.is_empty(), "includeThoughts was asked");
    let finish = c
        .iter()
        .find_map(|c| c["choices"][0]["finish_reason"].as_str());
    assert_eq!(finish, Some("tool_calls"));
    assert!(
        c.last().unwrap()["usage"]["completion_tokens"]
            .as_u64()
            .unwrap()
            > 0
    );

    call.as_object_mut().unwrap().remove("index");
    let id = call["id"].clone();
    messages.push(json!({"role": "assistant", "content": null, "tool_calls": [call]}));
    messages.push(json!({"role": "tool", "tool_call_id": id, "content": "relay-ok\n"}));
    let (status, body) = up.call(&chat(&messages)).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let text: String = chunks(&body)
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "The command printed: relay-ok");
    let sent = &up.stats().await["last"]["gemini"]["body"];
    let signature = &sent["contents"][1]["parts"][0]["thoughtSignature"];
    assert!(
        signature.as_str().unwrap().starts_with("mock-signature-"),
        "the signature went back: {signature}"
    );
}

/// A history from another provider (no signatures) still satisfies Gemini 3's rule.
#[tokio::test]
async fn foreign_history_on_gemini_3() {
    let up = Upstream::start();
    let chat = json!({"model": "gemini-3-flash-preview", "tools": shell_tool(), "messages": [
        {"role": "user", "content": "list"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "toolu_1", "type": "function", "function": {"name": "shell", "arguments": "{\"command\":\"ls\"}"}},
            {"id": "toolu_2", "type": "function", "function": {"name": "shell", "arguments": "{\"command\":\"pwd\"}"}}]},
        {"role": "tool", "tool_call_id": "toolu_1", "content": "a.txt"},
        {"role": "tool", "tool_call_id": "toolu_2", "content": "/tmp"},
    ]});
    let (status, body) = up.call(&chat).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "The command printed: a.txt"
    );
}

#[tokio::test]
async fn cached_content_and_errors() {
    let up = Upstream::start();
    let chat = json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}],
        "extra_body": {"google": {"cached_content": "cachedContents/c1"}}});
    let (_, body) = up.call(&chat).await;
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert!(
        v["usage"]["prompt_tokens_details"]["cached_tokens"]
            .as_u64()
            .unwrap()
            > 0
    );
    let mut odd = chat.clone();
    odd["model"] = json!("gemini-2.5-flash/../x?y");
    let (status, _) = up.call(&odd).await;
    assert_eq!(status, 200);
    let last = &up.stats().await["last"]["gemini"];
    assert_eq!(
        last["path"], "/v1beta/models/gemini-2.5-flash%2F..%2Fx%3Fy:generateContent",
        "the model stays one path segment"
    );
    let url = format!("http://{}/v1beta/models/m:generateContent", up.mock.addr);
    let r = up
        .http
        .post(url)
        .header("x-goog-api-key", "k")
        .json(&json!({"contents": []}));
    let r = r.send().await.unwrap();
    let (status, body) = error_to_chat(r.status().as_u16(), &r.bytes().await.unwrap());
    assert_eq!(status, 400);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["error"]["code"], "INVALID_ARGUMENT");
    assert_eq!(v["error"]["type"], "invalid_request_error");
    assert!(v["error"]["message"].as_str().unwrap().contains("contents"));
}
