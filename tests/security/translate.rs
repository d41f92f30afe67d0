//! Security: translation bounded before work (issue 18, item 5; see docs/security.md).
//!
//! Every request that names its tools, items or messages is counted before it is translated or
//! fixed: over the caps (`body.max_tools`, `body.max_input_items`, `body.max_messages`) it is a
//! 400 in the client's protocol naming the field, and nothing reaches the upstream. The
//! `x-llm-relay-dropped-tools` header and the access log's copy are bounded, and a model name
//! over 256 bytes is refused on every endpoint without being echoed.

use crate::common::gateway::{wait_until, Gateway};
use crate::common::mock::Mock;
use serde_json::{json, Value};
use std::time::Duration;

/// A gateway in front of a lenient mock (hunyuan profile, no retries), with `extra` config.
fn setup(extra: &str) -> (Mock, Gateway) {
    let mock = Mock::start(false);
    let yaml = format!(
        r#"{extra}
pools:
  hy:
    urls: ["http://{addr}/v1"]
    profile: hunyuan
    api_key_env: TEST_PROVIDER_KEY
    retry: {{attempts: 1}}
    timeouts: {{connect_ms: 1000, first_byte_ms: 5000, idle_ms: 5000}}
  plain:
    urls: ["http://{addr}/v1"]
    profile: openai
routes:
  - {{model: hunyuan-turbos-latest, pool: hy, kinds: [chat]}}
  - {{model: "claude-*", pool: hy, upstream_model: hunyuan-turbos-latest, kinds: [chat]}}
  - {{model: text-embedding-3-small, pool: plain}}
"#,
        addr = mock.addr,
    );
    let gw = Gateway::start(&yaml);
    (mock, gw)
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

async fn post(gw: &Gateway, path: &str, body: &Value, headers: &[(&str, &str)]) -> Answer {
    let mut req = reqwest::Client::new()
        .post(gw.url(path))
        .header("content-type", "application/json")
        .body(body.to_string());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().await.expect("send");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap_or_default();
    Answer {
        status,
        headers,
        text,
    }
}

const ANTHROPIC: [(&str, &str); 1] = [("anthropic-version", "2023-06-01")];

/// How many chat requests the mock has seen.
async fn upstream_chats(mock: &Mock) -> u64 {
    let s = mock.stats().await;
    s["requests"]["chat"]
        .as_u64()
        .unwrap_or_else(|| panic!("no chat count in the mock's stats: {s}"))
}

/// OpenAI's error shape with `param` naming `param`.
fn assert_openai_400(a: &Answer, param: &str) {
    assert_eq!(a.status, 400, "{}", a.text);
    let e = &a.json()["error"];
    assert_eq!(e["type"], "invalid_request_error", "{}", a.text);
    assert_eq!(e["param"], param, "{}", a.text);
}

/// Anthropic's error shape.
fn assert_anthropic_400(a: &Answer) {
    assert_eq!(a.status, 400, "{}", a.text);
    let v = a.json();
    assert_eq!(v["type"], "error", "{}", a.text);
    assert_eq!(v["error"]["type"], "invalid_request_error", "{}", a.text);
}

#[tokio::test]
async fn responses_with_128k_distinct_tools_is_a_400_before_translation() {
    let (mock, gw) = setup("");
    let tools: Vec<Value> = (0..128_000)
        .map(|i| json!({"type": format!("builtin_{i}")}))
        .collect();
    let body = json!({"model": "hunyuan-turbos-latest", "input": "hi", "tools": tools});
    let a = post(&gw, "/v1/responses", &body, &[]).await;
    assert_openai_400(&a, "tools");
    let msg = a.json()["error"]["message"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert!(msg.contains("128000") && msg.contains("1024"), "{msg}");
    assert!(a.header("x-llm-relay-dropped-tools").is_none());
    assert_eq!(upstream_chats(&mock).await, 0);

    // The same on /v1/messages (Anthropic's shape) and on chat as sent.
    let tools: Vec<Value> = (0..1025)
        .map(|i| json!({"name": format!("t{i}"), "input_schema": {"type": "object"}}))
        .collect();
    let body = json!({"model": "claude-x", "max_tokens": 5, "tools": tools,
        "messages": [{"role": "user", "content": "hi"}]});
    assert_anthropic_400(&post(&gw, "/v1/messages", &body, &ANTHROPIC).await);
    let tools: Vec<Value> = (0..1025)
        .map(|i| json!({"type": "function", "function": {"name": format!("t{i}")}}))
        .collect();
    let body = json!({"model": "hunyuan-turbos-latest", "tools": tools,
        "messages": [{"role": "user", "content": "hi"}]});
    assert_openai_400(
        &post(&gw, "/v1/chat/completions", &body, &[]).await,
        "tools",
    );
    assert_eq!(upstream_chats(&mock).await, 0);
}

#[tokio::test]
async fn dropped_tools_header_and_access_log_are_bounded() {
    let (mock, gw) = setup("");
    // 1000 built-in tools with long distinct types: ~60 KB of names, all dropped.
    let n = 1000;
    let tools: Vec<Value> = (0..n)
        .map(|i| json!({"type": format!("builtin_tool_with_a_rather_long_type_name_{i:05}")}))
        .collect();
    let body = json!({"model": "hunyuan-turbos-latest", "input": "hi", "tools": tools});
    let id = [("x-request-id", "sec-translate-dropped")];
    let a = post(&gw, "/v1/responses", &body, &id).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let h = a.header("x-llm-relay-dropped-tools").expect("the header");
    assert!(h.len() <= 2100, "{} bytes", h.len());
    assert!(
        h.starts_with("builtin_tool_with_a_rather_long_type_name_00000,"),
        "{h}"
    );
    let shown = h.split(',').count() - 1;
    let more = format!("(+{} more)", n - shown);
    assert!(h.ends_with(&more), "{h}");
    assert_eq!(upstream_chats(&mock).await, 1);

    let needle = "\"request_id\":\"sec-translate-dropped\"";
    let logged = wait_until(Duration::from_secs(10), || {
        let hit = gw.log_text().contains(needle);
        async move { hit }
    })
    .await;
    assert!(logged, "no access line:\n{}", gw.log_text());
    let log = gw.log_text();
    let line = log
        .lines()
        .find(|l| l.starts_with('{') && l.contains(needle))
        .unwrap_or_default();
    assert!(line.len() < 4096, "access line of {} bytes", line.len());
    let v: Value = serde_json::from_str(line).expect("access line is JSON");
    let logged = v["dropped_tools"].to_string();
    assert!(logged.contains(&more), "{logged}");
}

#[tokio::test]
async fn a_model_name_over_256_bytes_is_refused_on_every_endpoint_without_echo() {
    let (mock, gw) = setup("");
    let model = format!("hunyuan-{}", "x".repeat(292));
    assert_eq!(model.len(), 300);
    let chat = json!({"model": model, "messages": [{"role": "user", "content": "hi"}]});
    let responses = json!({"model": model, "input": "hi"});
    let embeddings = json!({"model": model, "input": "hi"});
    for (path, body) in [
        ("/v1/chat/completions", &chat),
        ("/v1/responses", &responses),
        ("/v1/embeddings", &embeddings),
    ] {
        let a = post(&gw, path, body, &[]).await;
        assert_openai_400(&a, "model");
        assert!(!a.text.contains(&model), "{path}: {}", a.text);
        assert!(
            a.text.contains("300"),
            "{path}: the length is said: {}",
            a.text
        );
    }
    let messages = json!({"model": model, "max_tokens": 5,
        "messages": [{"role": "user", "content": "hi"}]});
    let a = post(&gw, "/v1/messages", &messages, &ANTHROPIC).await;
    assert_anthropic_400(&a);
    assert!(!a.text.contains(&model), "{}", a.text);
    assert_eq!(upstream_chats(&mock).await, 0);
    // 256 bytes is still a model name (here an unrouted one).
    let model = format!("hunyuan-{}", "x".repeat(248));
    let body = json!({"model": model, "messages": [{"role": "user", "content": "hi"}]});
    assert_eq!(
        post(&gw, "/v1/chat/completions", &body, &[]).await.status,
        404
    );
}

#[tokio::test]
async fn messages_over_the_cap_are_refused_on_chat_and_on_messages() {
    let (mock, gw) = setup("");
    let many: Vec<Value> = (0..10_001)
        .map(|i| json!({"role": if i % 2 == 0 { "user" } else { "assistant" }, "content": "x"}))
        .collect();
    let chat = json!({"model": "hunyuan-turbos-latest", "messages": many});
    let a = post(&gw, "/v1/chat/completions", &chat, &[]).await;
    assert_openai_400(&a, "messages");
    assert!(a.json()["error"]["message"]
        .as_str()
        .unwrap_or("")
        .contains("10000"));
    let msgs = json!({"model": "claude-x", "max_tokens": 5, "messages": many});
    let a = post(&gw, "/v1/messages", &msgs, &ANTHROPIC).await;
    assert_anthropic_400(&a);
    assert!(a.text.contains("messages"), "{}", a.text);
    assert_eq!(upstream_chats(&mock).await, 0);
}

#[tokio::test]
async fn caps_are_configurable_and_count_every_path() {
    let (mock, gw) = setup("body:\n  max_tools: 3\n  max_input_items: 4\n  max_messages: 5\n");
    let item = json!({"type": "message", "role": "user", "content": "x"});
    let five = vec![item.clone(); 5];
    let a = post(
        &gw,
        "/v1/responses",
        &json!({"model": "hunyuan-turbos-latest", "input": five}),
        &[],
    )
    .await;
    assert_openai_400(&a, "input");
    // Tools in a namespace and in `additional_tools` items count too.
    let f = |n: &str| json!({"type": "function", "name": n});
    let body = json!({"model": "hunyuan-turbos-latest", "tools": [f("a")],
        "input": [item, {"type": "additional_tools", "tools": [
            {"type": "namespace", "name": "ns", "tools": [f("b"), f("c"), f("d")]}]}]});
    assert_openai_400(&post(&gw, "/v1/responses", &body, &[]).await, "tools");
    let six = vec![json!({"role": "user", "content": "x"}); 6];
    let a = post(
        &gw,
        "/v1/chat/completions",
        &json!({"model": "hunyuan-turbos-latest", "messages": six}),
        &[],
    )
    .await;
    assert_openai_400(&a, "messages");
    let a = post(
        &gw,
        "/v1/messages",
        &json!({"model": "claude-x", "max_tokens": 5, "messages": six}),
        &ANTHROPIC,
    )
    .await;
    assert_anthropic_400(&a);
    assert_eq!(upstream_chats(&mock).await, 0);
    // At the caps: answered.
    let four = vec![json!({"type": "message", "role": "user", "content": "x"}); 4];
    let body = json!({"model": "hunyuan-turbos-latest", "input": four,
        "tools": [f("a"), f("b"), {"type": "web_search"}]});
    let a = post(&gw, "/v1/responses", &body, &[]).await;
    assert_eq!(a.status, 200, "{}", a.text);
}

/// The local token counters walk what they count: the same caps hold there, in each one's
/// protocol.
#[tokio::test]
async fn token_counting_endpoints_hold_the_same_caps() {
    let (_mock, gw) = setup("body: {max_tools: 3, max_input_items: 4}");
    let tool = |i: usize| json!({"name": format!("t{i}"), "input_schema": {"type": "object"}});
    let tools: Vec<Value> = (0..4).map(tool).collect();
    let count = json!({"model": "claude-3-5-haiku", "tools": tools,
        "messages": [{"role": "user", "content": "hi"}]});
    let a = post(&gw, "/v1/messages/count_tokens", &count, &[]).await;
    assert_anthropic_400(&a);
    let items: Vec<Value> = (0..5)
        .map(|_| json!({"role": "user", "content": "hi"}))
        .collect();
    let inputs = json!({"model": "hunyuan-turbos-latest", "input": items});
    let a = post(&gw, "/v1/responses/input_tokens", &inputs, &[]).await;
    assert_openai_400(&a, "input");
    // Under the caps both still answer.
    let count = json!({"model": "claude-3-5-haiku",
        "messages": [{"role": "user", "content": "hi"}]});
    assert_eq!(
        post(&gw, "/v1/messages/count_tokens", &count, &[])
            .await
            .status,
        200
    );
}
