//! The mock's native Anthropic endpoint through its real binary: auth and version headers,
//! the strict rules, text / tool / thinking answers, cache usage, streaming, knobs and stats.

mod common;

use std::time::Duration;

use common::mock::Mock;
use serde_json::{json, Value};

const KEY: (&str, &str) = ("x-api-key", "sk-ant-test");
const VERSION: (&str, &str) = ("anthropic-version", "2023-06-01");

async fn post(mock: &Mock, body: &Value, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut rb = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
        .post(mock.url("/v1/messages"))
        .json(body);
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    rb.send().await.expect("send")
}

async fn call(mock: &Mock, body: &Value) -> (u16, Value) {
    let r = post(mock, body, &[KEY, VERSION]).await;
    (r.status().as_u16(), r.json().await.expect("JSON body"))
}

fn req(messages: Value) -> Value {
    json!({"model": "claude-mock", "max_tokens": 256, "messages": messages})
}

fn bash_tool() -> Value {
    json!([{"name": "Bash", "description": "Run a shell command",
        "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}}])
}

#[tokio::test]
async fn headers_are_required_with_anthropic_errors() {
    let mock = Mock::start(false);
    let body = req(json!([{"role": "user", "content": "hi"}]));
    let r = post(&mock, &body, &[VERSION]).await;
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "authentication_error");
    let r = post(&mock, &body, &[KEY]).await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["type"], "invalid_request_error");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("anthropic-version"));
}

#[tokio::test]
async fn strict_rules_are_400s_and_counted() {
    let mock = Mock::start(false);
    let no_max = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    let cases = [
        (no_max, "max_tokens"),
        (
            req(json!([{"role": "assistant", "content": "x"}])),
            "first message",
        ),
        (
            req(json!([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}])),
            "alternate",
        ),
        (
            req(json!([{"role": "user", "content": "q"},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "a", "name": "Bash", "input": {}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "zzz", "content": "x"}]}])),
            "tool_use_id",
        ),
        (
            req(json!([{"role": "user", "content": "q"},
                {"role": "assistant", "content": [{"type": "thinking", "thinking": "t"}, {"type": "text", "text": "a"}]},
                {"role": "user", "content": "more"}])),
            "signature",
        ),
    ];
    for (body, needle) in &cases {
        let (s, v) = call(&mock, body).await;
        assert_eq!(s, 400, "{body}");
        assert_eq!(v["error"]["type"], "invalid_request_error");
        let m = v["error"]["message"].as_str().unwrap();
        assert!(m.contains(needle), "{m}");
    }
    assert_eq!(mock.stats().await["strict_rejections"], cases.len());
}

#[tokio::test]
async fn text_answer_beta_echo_and_last_request() {
    let mock = Mock::start(false);
    let body = req(json!([{"role": "user", "content": [{"type": "text", "text": "hello there"}]}]));
    let r = post(
        &mock,
        &body,
        &[
            KEY,
            VERSION,
            ("anthropic-beta", "prompt-caching-2024-07-31"),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["x-mock-anthropic-beta"],
        "prompt-caching-2024-07-31"
    );
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["type"], "message");
    assert_eq!(v["role"], "assistant");
    assert_eq!(v["model"], "claude-mock");
    assert!(v["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(
        v["content"],
        json!([{"type": "text", "text": "mock reply to: hello there"}])
    );
    assert_eq!(v["stop_reason"], "end_turn");
    assert!(v["usage"]["input_tokens"].as_u64().unwrap() > 0);
    assert_eq!(v["usage"]["cache_read_input_tokens"], 0);
    let stats = mock.stats().await;
    assert_eq!(stats["requests"]["messages"], 1);
    let last = &stats["last"]["messages"];
    assert_eq!(last["path"], "/v1/messages");
    assert_eq!(last["headers"]["x-api-key"], "sk-ant-test");
    assert_eq!(
        last["headers"]["anthropic-beta"],
        "prompt-caching-2024-07-31"
    );
    assert_eq!(last["body"], body);
}

#[tokio::test]
async fn tool_round_trip() {
    let mock = Mock::start(false);
    let mut body = req(json!([{"role": "user", "content": "Run `echo relay-ok-7` please"}]));
    body["tools"] = bash_tool();
    let (s, v) = call(&mock, &body).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["stop_reason"], "tool_use");
    let block = &v["content"][0];
    assert_eq!(block["type"], "tool_use");
    assert_eq!(block["name"], "Bash");
    assert_eq!(block["input"], json!({"command": "echo relay-ok-7"}));
    let id = block["id"].as_str().unwrap().to_string();
    body["messages"] = json!([
        body["messages"][0],
        {"role": "assistant", "content": v["content"]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": id, "content": "relay-ok-7\n"}]},
    ]);
    let (s, v) = call(&mock, &body).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v["content"],
        json!([{"type": "text", "text": "The command printed: relay-ok-7"}])
    );
}

#[tokio::test]
async fn thinking_comes_first_signed_and_replays() {
    let mock = Mock::start(false);
    let mut body = req(json!([{"role": "user", "content": "Run `ls` now"}]));
    body["max_tokens"] = json!(4096);
    body["thinking"] = json!({"type": "enabled", "budget_tokens": 1024});
    body["tools"] = bash_tool();
    let (s, v) = call(&mock, &body).await;
    assert_eq!(s, 200, "{v}");
    let first = &v["content"][0];
    assert_eq!(first["type"], "thinking");
    assert!(first["signature"].as_str().unwrap().starts_with("mocksig_"));
    assert_eq!(v["content"][1]["type"], "tool_use");
    let id = v["content"][1]["id"].clone();
    body["messages"] = json!([body["messages"][0], {"role": "assistant", "content": v["content"]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": id, "content": "a.txt"}]}]);
    let (s, v) = call(&mock, &body).await;
    assert_eq!(s, 200, "the signed loop is accepted: {v}");
    let mut unsigned = body.clone();
    unsigned["messages"][1]["content"] = json!([unsigned["messages"][1]["content"][1]]);
    let (s, v) = call(&mock, &unsigned).await;
    assert_eq!(s, 400, "a tool loop without its thinking block: {v}");
}

#[tokio::test]
async fn cache_control_shows_cache_reads() {
    let mock = Mock::start(false);
    let mut body = req(json!([{"role": "user", "content": "hi"}]));
    body["system"] = json!([{"type": "text", "text": "a long system prompt".repeat(20),
        "cache_control": {"type": "ephemeral"}}]);
    let (s, v) = call(&mock, &body).await;
    assert_eq!(s, 200);
    let u = &v["usage"];
    assert!(u["cache_read_input_tokens"].as_u64().unwrap() > 0, "{u}");
    assert!(
        u["cache_creation_input_tokens"].as_u64().unwrap() > 0,
        "{u}"
    );
}

/// (event name, data) of an Anthropic SSE body.
fn events(body: &str) -> Vec<(String, Value)> {
    body.split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|e| {
            let mut lines = e.lines();
            let name = lines
                .next()
                .unwrap()
                .strip_prefix("event: ")
                .unwrap()
                .to_string();
            let data = lines.next().unwrap().strip_prefix("data: ").unwrap();
            (name, serde_json::from_str(data).unwrap())
        })
        .collect()
}

#[tokio::test]
async fn stream_has_the_real_event_sequence() {
    let mock = Mock::start(false);
    let mut body = req(json!([{"role": "user", "content": "Run `echo hi`"}]));
    body["tools"] = bash_tool();
    body["stream"] = json!(true);
    body["max_tokens"] = json!(4096);
    body["thinking"] = json!({"type": "enabled", "budget_tokens": 1024});
    let r = post(&mock, &body, &[KEY, VERSION]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let evs = events(&r.text().await.unwrap());
    let names: Vec<&str> = evs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "ping",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop",
        ]
    );
    for (name, data) in &evs {
        assert_eq!(data["type"], name.as_str());
    }
    assert_eq!(evs[2].1["content_block"]["type"], "thinking");
    assert_eq!(evs[5].1["delta"]["type"], "signature_delta");
    assert_eq!(evs[7].1["content_block"]["type"], "tool_use");
    let json: String = evs[8..10]
        .iter()
        .map(|(_, d)| d["delta"]["partial_json"].as_str().unwrap())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&json).unwrap(),
        json!({"command": "echo hi"})
    );
    assert_eq!(evs[11].1["delta"]["stop_reason"], "tool_use");
    assert!(evs[11].1["usage"]["output_tokens"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn status_knob_answers_anthropic_errors() {
    let mock = Mock::start(false);
    let body = req(json!([{"role": "user", "content": "hi"}]));
    let r = post(&mock, &body, &[KEY, VERSION, ("x-mock-status", "529")]).await;
    assert_eq!(r.status(), 529);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["type"], "overloaded_error");
    let r = post(&mock, &body, &[KEY, VERSION, ("x-mock-status", "429")]).await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["type"], "rate_limit_error");
}
