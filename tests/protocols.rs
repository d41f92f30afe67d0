//! The translated client protocols (OpenAI Responses, Anthropic Messages, legacy Completions)
//! through the real gateway in front of the Hunyuan-strict mock: errors in each protocol's own
//! shape, streams that break mid-way, images through the cascade, reasoning, the probes and
//! headers Claude Code sends, dropped built-in tools, metrics and the access log, keys, and
//! stored responses.

mod common;

use common::gateway::{wait_until, Gateway, PROVIDER_KEY};
use common::mock::Mock;
use llm_relay::policy::auth::hash_key;
use serde_json::{json, Value};
use std::time::Duration;

/// The key every test sends (open to all models, no limits).
const KEY: &str = "sk-proto-full-0001";
/// A key allowed one request per minute.
const KEY_RPM1: &str = "sk-proto-rpm1-0002";
/// The chat body cap of the test config (413 above).
const CHAT_CAP: usize = 65536;

const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

/// A relay.yaml with keys, a small chat cap, one hunyuan-profile pool on `mock` without retries,
/// a `-t1` reasoning route, a vision route and the `claude-*` alias; with the cascade when asked.
fn config(mock: &Mock, cascade: bool) -> String {
    let cascade = if cascade {
        "cascade:\n  vision_model: hunyuan-vision\n  on_failure: fail\n  timeout_ms: 5000\n"
    } else {
        ""
    };
    format!(
        r#"auth:
  keys:
    - {{id: full, sha256: "{full}"}}
    - {{id: slow, sha256: "{slow}", rpm: 1}}
body:
  max_bytes_by_kind: {{chat: {CHAT_CAP}}}
{cascade}pools:
  hy:
    urls: ["http://{addr}/v1"]
    profile: hunyuan
    api_key_env: TEST_PROVIDER_KEY
    retry: {{attempts: 1}}
    timeouts: {{connect_ms: 1000, first_byte_ms: 5000, idle_ms: 5000}}
routes:
  - {{model: hunyuan-turbos-latest, pool: hy, kinds: [chat]}}
  - {{model: hunyuan-t1-latest, pool: hy, kinds: [chat]}}
  - {{model: hunyuan-vision, pool: hy, kinds: [chat], vision: true}}
  - {{model: "claude-*", pool: hy, upstream_model: hunyuan-turbos-latest, kinds: [chat]}}
"#,
        full = hex::encode(hash_key(KEY)),
        slow = hex::encode(hash_key(KEY_RPM1)),
        addr = mock.addr,
    )
}

fn setup(cascade: bool) -> (Mock, Gateway) {
    let mock = Mock::start(true);
    let gw = Gateway::start(&config(&mock, cascade));
    (mock, gw)
}

/// An answer: status, headers, body text.
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

    /// The SSE events: (event name, or the data's `type`, or ""; data as JSON or a string).
    fn events(&self) -> Vec<(String, Value)> {
        sse_events(&self.text)
    }
}

fn sse_events(text: &str) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for block in text.split("\n\n") {
        let mut name = None;
        let mut data = None;
        for line in block.lines() {
            if let Some(n) = line.strip_prefix("event: ") {
                name = Some(n.trim().to_string());
            } else if let Some(d) = line.strip_prefix("data: ") {
                data = Some(
                    serde_json::from_str::<Value>(d).unwrap_or_else(|_| Value::String(d.into())),
                );
            }
        }
        let Some(data) = data else { continue };
        let name = name
            .or_else(|| data.get("type").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_default();
        out.push((name, data));
    }
    out
}

async fn send(
    gw: &Gateway,
    method: reqwest::Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
) -> Answer {
    let mut req = reqwest::Client::new().request(method, gw.url(path));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(b) = body {
        req = req.header("content-type", "application/json").body(b);
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

/// `POST path` with `body` and `headers` (credentials included by the caller).
async fn post_raw(gw: &Gateway, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Answer {
    send(gw, reqwest::Method::POST, path, headers, Some(body)).await
}

/// `POST /v1/messages` as the Anthropic SDK sends it (`x-api-key`, `anthropic-version`).
async fn messages(gw: &Gateway, body: &Value, extra: &[(&str, &str)]) -> Answer {
    let mut h = vec![("x-api-key", KEY), ("anthropic-version", "2023-06-01")];
    h.extend_from_slice(extra);
    post_raw(gw, "/v1/messages", &h, body.to_string().into_bytes()).await
}

/// `POST path` as the OpenAI SDK sends it (`Authorization: Bearer`).
async fn openai(gw: &Gateway, path: &str, body: &Value, extra: &[(&str, &str)]) -> Answer {
    let bearer = format!("Bearer {KEY}");
    let mut h = vec![("authorization", bearer.as_str())];
    h.extend_from_slice(extra);
    post_raw(gw, path, &h, body.to_string().into_bytes()).await
}

async fn get(gw: &Gateway, path: &str) -> Answer {
    let bearer = format!("Bearer {KEY}");
    send(
        gw,
        reqwest::Method::GET,
        path,
        &[("authorization", bearer.as_str())],
        None,
    )
    .await
}

fn msg_body(model: &str, text: &str) -> Value {
    json!({"model": model, "max_tokens": 256, "messages": [{"role": "user", "content": text}]})
}

fn resp_body(model: &str, text: &str) -> Value {
    json!({"model": model, "input": text})
}

/// The Anthropic error envelope with `kind`.
fn assert_anthropic_error(a: &Answer, status: u16, kind: &str) {
    assert_eq!(a.status, status, "{}", a.text);
    let v = a.json();
    assert_eq!(v["type"], "error", "Anthropic envelope: {}", a.text);
    assert_eq!(v["error"]["type"], kind, "{}", a.text);
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{}",
        a.text
    );
}

/// The OpenAI error envelope with `kind` (and `code`, when given).
fn assert_openai_error(a: &Answer, status: u16, kind: &str, code: Option<&str>) {
    assert_eq!(a.status, status, "{}", a.text);
    let v = a.json();
    assert!(v.get("type").is_none(), "not Anthropic-shaped: {}", a.text);
    assert_eq!(v["error"]["type"], kind, "{}", a.text);
    if let Some(c) = code {
        assert_eq!(v["error"]["code"], c, "{}", a.text);
    }
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{}",
        a.text
    );
}

async fn chat_requests(mock: &Mock) -> u64 {
    mock.stats().await["requests"]["chat"].as_u64().unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// Errors in the client's protocol
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn messages_refusals_are_anthropic_shaped() {
    let (mock, gw) = setup(false);
    let ok = msg_body("claude-sonnet-4-5", "hello");

    // 401: keys are configured and this one is wrong.
    let a = post_raw(
        &gw,
        "/v1/messages",
        &[
            ("x-api-key", "sk-wrong"),
            ("anthropic-version", "2023-06-01"),
        ],
        ok.to_string().into_bytes(),
    )
    .await;
    assert_anthropic_error(&a, 401, "authentication_error");

    // 404: no route for the model.
    let a = messages(&gw, &msg_body("no-such-model", "hi"), &[]).await;
    assert_anthropic_error(&a, 404, "not_found_error");
    assert!(a.text.contains("no-such-model"), "{}", a.text);

    // 400: invalid JSON.
    let a = post_raw(
        &gw,
        "/v1/messages",
        &[("x-api-key", KEY)],
        b"{\"model\": \"claude-x\", ".to_vec(),
    )
    .await;
    assert_anthropic_error(&a, 400, "invalid_request_error");

    // 400: max_tokens is required by the Messages API.
    let a = messages(
        &gw,
        &json!({"model": "claude-x", "messages": [{"role": "user", "content": "hi"}]}),
        &[],
    )
    .await;
    assert_anthropic_error(&a, 400, "invalid_request_error");
    assert!(a.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("max_tokens"));

    // 413: over the chat cap.
    let big = msg_body("claude-x", &"a".repeat(CHAT_CAP + 1024));
    let a = messages(&gw, &big, &[]).await;
    assert_anthropic_error(&a, 413, "request_too_large");

    // Nothing so far reached the upstream.
    assert_eq!(chat_requests(&mock).await, 0);

    // 429: a key with rpm 1, its second request.
    let h = [("x-api-key", KEY_RPM1), ("anthropic-version", "2023-06-01")];
    let a = post_raw(&gw, "/v1/messages", &h, ok.to_string().into_bytes()).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let a = post_raw(&gw, "/v1/messages", &h, ok.to_string().into_bytes()).await;
    assert_anthropic_error(&a, 429, "rate_limit_error");
    let retry_after: u64 = a
        .header("retry-after")
        .expect("retry-after on a 429")
        .parse()
        .expect("retry-after in seconds");
    assert!(retry_after >= 1, "{retry_after}");

    // Upstream 503 → 529 overloaded_error, tried once (retry.attempts: 1).
    let before = chat_requests(&mock).await;
    let a = messages(
        &gw,
        &ok,
        &[("x-mock-status", "503"), ("x-request-id", "proto-529")],
    )
    .await;
    assert_anthropic_error(&a, 529, "overloaded_error");
    let line = access_line(&gw, "proto-529").await;
    assert_eq!(
        line["status"], 529,
        "the log shows what the client got: {line}"
    );
    assert_eq!(line["protocol"], "messages", "{line}");
    assert!(a.text.contains("mock failure 503"), "{}", a.text);
    assert_eq!(chat_requests(&mock).await, before + 1, "no retry");
    assert_eq!(mock.stats().await["strict_rejections"], 0);
}

#[tokio::test]
async fn responses_refusals_are_openai_shaped() {
    let (mock, gw) = setup(false);
    let ok = resp_body("hunyuan-turbos-latest", "hello");

    let a = post_raw(
        &gw,
        "/v1/responses",
        &[("authorization", "Bearer sk-wrong")],
        ok.to_string().into_bytes(),
    )
    .await;
    assert_openai_error(&a, 401, "authentication_error", Some("invalid_api_key"));

    let a = openai(&gw, "/v1/responses", &resp_body("no-such-model", "hi"), &[]).await;
    assert_openai_error(&a, 404, "invalid_request_error", Some("model_not_found"));

    let bearer = format!("Bearer {KEY}");
    let a = post_raw(
        &gw,
        "/v1/responses",
        &[("authorization", bearer.as_str())],
        b"{\"model\": ".to_vec(),
    )
    .await;
    assert_openai_error(&a, 400, "invalid_request_error", None);

    let big = resp_body("hunyuan-turbos-latest", &"a".repeat(CHAT_CAP + 1024));
    let a = openai(&gw, "/v1/responses", &big, &[]).await;
    assert_openai_error(&a, 413, "invalid_request_error", Some("request_too_large"));
    assert_eq!(chat_requests(&mock).await, 0);

    let slow = format!("Bearer {KEY_RPM1}");
    let h = [("authorization", slow.as_str())];
    let a = post_raw(&gw, "/v1/responses", &h, ok.to_string().into_bytes()).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let a = post_raw(&gw, "/v1/responses", &h, ok.to_string().into_bytes()).await;
    assert_openai_error(&a, 429, "rate_limit_error", Some("rate_limit_exceeded"));
    assert!(a.header("retry-after").is_some(), "{:?}", a.headers);

    // An upstream 503 stays a 503 in OpenAI's shape (no Anthropic 529 here).
    let before = chat_requests(&mock).await;
    let a = openai(&gw, "/v1/responses", &ok, &[("x-mock-status", "503")]).await;
    assert_eq!(a.status, 503, "{}", a.text);
    assert!(a.json()["error"]["message"].is_string(), "{}", a.text);
    assert!(a.json().get("type").is_none(), "{}", a.text);
    assert_eq!(chat_requests(&mock).await, before + 1, "no retry");
}

// ---------------------------------------------------------------------------------------------
// Streams that break mid-way never look complete
// ---------------------------------------------------------------------------------------------

const CUT: [(&str, &str); 2] = [("x-mock-events", "6"), ("x-mock-cut-after", "2")];

#[tokio::test]
async fn messages_stream_cut_ends_with_error_event() {
    let (_mock, gw) = setup(false);
    let mut body = msg_body("claude-x", "stream please");
    body["stream"] = json!(true);
    let a = messages(&gw, &body, &CUT).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let names: Vec<String> = a.events().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names.first().map(String::as_str),
        Some("message_start"),
        "{}",
        a.text
    );
    assert_eq!(
        names.last().map(String::as_str),
        Some("error"),
        "{}",
        a.text
    );
    assert!(!names.iter().any(|n| n == "message_stop"), "{}", a.text);
    let (_, err) = a.events().pop().unwrap();
    assert_eq!(err["type"], "error", "{err}");
    assert!(err["error"]["type"].is_string(), "{err}");
}

#[tokio::test]
async fn responses_stream_cut_ends_with_response_failed() {
    let (_mock, gw) = setup(false);
    let mut body = resp_body("hunyuan-turbos-latest", "stream please");
    body["stream"] = json!(true);
    let a = openai(&gw, "/v1/responses", &body, &CUT).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let names: Vec<String> = a.events().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names.first().map(String::as_str),
        Some("response.created"),
        "{}",
        a.text
    );
    assert_eq!(
        names.last().map(String::as_str),
        Some("response.failed"),
        "{}",
        a.text
    );
    assert!(
        !names.iter().any(|n| n == "response.completed"),
        "{}",
        a.text
    );
    let (_, failed) = a.events().pop().unwrap();
    assert_eq!(failed["response"]["status"], "failed", "{failed}");
    // A failed response is not kept for previous_response_id (store defaults to true).
    let id = failed["response"]["id"].as_str().expect("response id");
    let g = get(&gw, &format!("/v1/responses/{id}")).await;
    assert_eq!(g.status, 404, "{}", g.text);
}

#[tokio::test]
async fn completions_stream_cut_ends_with_error_and_no_done() {
    let (_mock, gw) = setup(false);
    let body = json!({"model": "hunyuan-turbos-latest", "prompt": "once upon", "stream": true});
    let a = openai(&gw, "/v1/completions", &body, &CUT).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let events = a.events();
    assert!(
        events.iter().any(|(_, d)| d["object"] == "text_completion"),
        "the stream had started: {}",
        a.text
    );
    let (_, last) = events.last().expect("events");
    assert!(last["error"]["message"].is_string(), "{}", a.text);
    assert!(!a.text.contains("[DONE]"), "{}", a.text);

    // The same request uncut ends with [DONE] (the test above would otherwise prove nothing).
    let a = openai(&gw, "/v1/completions", &body, &[("x-mock-events", "6")]).await;
    assert!(a.text.trim_end().ends_with("data: [DONE]"), "{}", a.text);
}

// ---------------------------------------------------------------------------------------------
// Images through the cascade
// ---------------------------------------------------------------------------------------------

async fn assert_described(mock: &Mock) {
    let stats = mock.stats().await;
    assert_eq!(stats["vision_calls"], 1, "{stats}");
    assert_eq!(stats["strict_rejections"], 0, "{stats}");
    let last = &stats["last"]["chat"]["body"];
    assert_eq!(last["model"], "hunyuan-turbos-latest", "{stats}");
    let sent = last["messages"].to_string();
    assert!(!sent.contains("image_url"), "no image part: {sent}");
    assert!(!sent.contains(PNG), "no image data: {sent}");
    assert!(sent.contains("mock description of 1 image"), "{sent}");
    assert!(sent.contains("what is in the picture?"), "{sent}");
    assert!(
        stats["last"]["vision"]["body"].to_string().contains(PNG),
        "the vision model got the image: {stats}"
    );
}

#[tokio::test]
async fn responses_input_image_is_described_by_the_cascade() {
    let (mock, gw) = setup(true);
    let body = json!({"model": "hunyuan-turbos-latest", "input": [{"role": "user", "content": [
        {"type": "input_text", "text": "what is in the picture?"},
        {"type": "input_image", "image_url": format!("data:image/png;base64,{PNG}")}
    ]}]});
    let a = openai(&gw, "/v1/responses", &body, &[]).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.json()["status"], "completed", "{}", a.text);
    assert_described(&mock).await;
}

#[tokio::test]
async fn messages_image_block_is_described_by_the_cascade() {
    let (mock, gw) = setup(true);
    let body = json!({"model": "claude-x", "max_tokens": 256, "messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        {"type": "text", "text": "what is in the picture?"}
    ]}]});
    let a = messages(&gw, &body, &[]).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.json()["type"], "message", "{}", a.text);
    assert_described(&mock).await;
}

// ---------------------------------------------------------------------------------------------
// Reasoning
// ---------------------------------------------------------------------------------------------

fn first(names: &[String], name: &str) -> Option<usize> {
    names.iter().position(|n| n == name)
}

#[tokio::test]
async fn t1_reasoning_streams_before_text_on_responses() {
    let (mock, gw) = setup(false);
    let mut body = resp_body("hunyuan-t1-latest", "think first");
    body["stream"] = json!(true);
    let a = openai(&gw, "/v1/responses", &body, &[]).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let events = a.events();
    let names: Vec<String> = events.iter().map(|(n, _)| n.clone()).collect();
    let reasoning = first(&names, "response.reasoning_summary_text.delta")
        .unwrap_or_else(|| panic!("reasoning events: {}", a.text));
    let text = first(&names, "response.output_text.delta")
        .unwrap_or_else(|| panic!("text events: {}", a.text));
    assert!(reasoning < text, "{names:?}");
    assert_eq!(names.last().map(String::as_str), Some("response.completed"));
    let said: String = events
        .iter()
        .filter(|(n, _)| n == "response.reasoning_summary_text.delta")
        .filter_map(|(_, d)| d["delta"].as_str())
        .collect();
    assert!(said.contains("The conversation has"), "{said}");
    // The completed response lists the reasoning item before the message.
    let (_, done) = events.last().unwrap();
    let kinds: Vec<&str> = done["response"]["output"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["type"].as_str())
        .collect();
    assert_eq!(kinds, ["reasoning", "message"], "{done}");
    assert_eq!(mock.stats().await["strict_rejections"], 0);
}

#[tokio::test]
async fn t1_thinking_block_on_messages_only_when_enabled() {
    let (mock, gw) = setup(false);
    let mut body = msg_body("hunyuan-t1-latest", "think first");
    body["stream"] = json!(true);
    body["max_tokens"] = json!(4096);
    body["thinking"] = json!({"type": "enabled", "budget_tokens": 1024});
    let a = messages(&gw, &body, &[]).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let events = a.events();
    let starts: Vec<&str> = events
        .iter()
        .filter(|(n, _)| n == "content_block_start")
        .filter_map(|(_, d)| d["content_block"]["type"].as_str())
        .collect();
    assert_eq!(starts, ["thinking", "text"], "{}", a.text);
    let thought: String = events
        .iter()
        .filter_map(|(_, d)| d["delta"]["thinking"].as_str())
        .collect();
    assert!(thought.contains("The conversation has"), "{}", a.text);
    assert_eq!(events.last().map(|(n, _)| n.as_str()), Some("message_stop"));

    // Without thinking: the reasoning is dropped, only text.
    body.as_object_mut().unwrap().remove("thinking");
    let a = messages(&gw, &body, &[]).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert!(!a.text.contains("thinking"), "{}", a.text);
    assert!(a.text.contains("text_delta"), "{}", a.text);

    // Not streamed, with thinking: a thinking block first in the content.
    body["stream"] = json!(false);
    body["thinking"] = json!({"type": "enabled", "budget_tokens": 1024});
    let a = messages(&gw, &body, &[]).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let v = a.json();
    let kinds: Vec<&str> = v["content"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b["type"].as_str())
        .collect();
    assert_eq!(kinds, ["thinking", "text"], "{}", a.text);
    assert_eq!(mock.stats().await["strict_rejections"], 0);
}

// ---------------------------------------------------------------------------------------------
// What Claude Code sends
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn base_url_probe_beta_query_and_anthropic_headers() {
    let (mock, gw) = setup(false);
    for method in [reqwest::Method::HEAD, reqwest::Method::GET] {
        let a = send(&gw, method.clone(), "/", &[("x-api-key", KEY)], None).await;
        assert_eq!(a.status, 200, "{method} /: {}", a.text);
    }
    let body = msg_body("claude-sonnet-4-5", "hello");
    let a = post_raw(
        &gw,
        "/v1/messages?beta=true",
        &[
            ("x-api-key", KEY),
            ("anthropic-version", "2023-06-01"),
            (
                "anthropic-beta",
                "claude-code-20250219,interleaved-thinking-2025-05-14",
            ),
        ],
        body.to_string().into_bytes(),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let v = a.json();
    assert_eq!(v["type"], "message", "{v}");
    assert_eq!(v["role"], "assistant", "{v}");
    assert!(v["content"][0]["text"]
        .as_str()
        .is_some_and(|t| t.contains("hello")));
    // The translated request went to the chat path, without the client's query.
    let stats = mock.stats().await;
    assert_eq!(
        stats["last"]["chat"]["uri"], "/v1/chat/completions",
        "{stats}"
    );
    assert_eq!(stats["strict_rejections"], 0);
}

/// Claude Code's connectivity preflight (`HEAD /`, user agent Bun) carries no credential, and
/// neither do load balancers' probes: `/` is a liveness answer like `/health/live`.
#[tokio::test]
async fn base_url_probe_without_a_key() {
    let (_mock, gw) = setup(false);
    for method in [reqwest::Method::HEAD, reqwest::Method::GET] {
        let a = send(&gw, method.clone(), "/", &[], None).await;
        assert_eq!(a.status, 200, "{method} / without a key: {}", a.text);
    }
}

// ---------------------------------------------------------------------------------------------
// Dropped built-in tools, the access log, metrics
// ---------------------------------------------------------------------------------------------

/// The access-log line (gateway stderr) of the request with `id`, once written.
async fn access_line(gw: &Gateway, id: &str) -> Value {
    let needle = format!("\"request_id\":\"{id}\"");
    let found = wait_until(Duration::from_secs(10), || {
        let log = gw.log_text();
        let hit = log.contains(&needle);
        async move { hit }
    })
    .await;
    assert!(found, "no access line for {id}:\n{}", gw.log_text());
    let log = gw.log_text();
    let line = log
        .lines()
        .find(|l| l.starts_with('{') && l.contains(&needle))
        .unwrap();
    serde_json::from_str(line).expect("access line is JSON")
}

#[tokio::test]
async fn dropped_tools_are_named_in_header_and_access_log() {
    let (mock, gw) = setup(false);
    let body = json!({"model": "hunyuan-turbos-latest", "input": "search the web",
        "tools": [{"type": "web_search"}]});
    let a = openai(
        &gw,
        "/v1/responses",
        &body,
        &[("x-request-id", "proto-drop-resp")],
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let dropped = a.header("x-llm-relay-dropped-tools").unwrap_or_default();
    assert!(dropped.contains("web_search"), "{:?}", a.headers);
    let sent = mock.stats().await["last"]["chat"]["body"].clone();
    assert!(!sent.to_string().contains("web_search"), "{sent}");

    let body = json!({"model": "claude-x", "max_tokens": 256,
        "messages": [{"role": "user", "content": "search the web"}],
        "tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": 3}]});
    let a = messages(&gw, &body, &[("x-request-id", "proto-drop-msg")]).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let dropped = a.header("x-llm-relay-dropped-tools").unwrap_or_default();
    assert!(dropped.contains("web_search"), "{:?}", a.headers);
    let sent = mock.stats().await["last"]["chat"]["body"].clone();
    assert!(!sent.to_string().contains("web_search"), "{sent}");

    let body = json!({"model": "hunyuan-turbos-latest", "prompt": "once"});
    let a = openai(
        &gw,
        "/v1/completions",
        &body,
        &[("x-request-id", "proto-cmpl")],
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert!(a.header("x-llm-relay-dropped-tools").is_none());

    let line = access_line(&gw, "proto-drop-resp").await;
    assert_eq!(line["protocol"], "responses", "{line}");
    assert!(
        line["dropped_tools"].to_string().contains("web_search"),
        "{line}"
    );
    let line = access_line(&gw, "proto-drop-msg").await;
    assert_eq!(line["protocol"], "messages", "{line}");
    assert!(
        line["dropped_tools"].to_string().contains("web_search"),
        "{line}"
    );
    assert_eq!(line["model"], "claude-x", "{line}");
    assert_eq!(line["model_sent"], "hunyuan-turbos-latest", "{line}");
    let line = access_line(&gw, "proto-cmpl").await;
    assert_eq!(line["protocol"], "completions", "{line}");
    assert_eq!(line["dropped_tools"], json!([]), "{line}");
    assert_eq!(mock.stats().await["strict_rejections"], 0);
}

#[tokio::test]
async fn metrics_count_requests_by_protocol() {
    let (_mock, gw) = setup(false);
    let chat =
        json!({"model": "hunyuan-turbos-latest", "messages": [{"role": "user", "content": "hi"}]});
    assert_eq!(
        openai(&gw, "/v1/chat/completions", &chat, &[]).await.status,
        200
    );
    let r = resp_body("hunyuan-turbos-latest", "hi");
    assert_eq!(openai(&gw, "/v1/responses", &r, &[]).await.status, 200);
    assert_eq!(
        messages(&gw, &msg_body("claude-x", "hi"), &[]).await.status,
        200
    );
    let c = json!({"model": "hunyuan-turbos-latest", "prompt": "hi"});
    assert_eq!(openai(&gw, "/v1/completions", &c, &[]).await.status, 200);
    // One refusal in Anthropic's protocol counts too.
    assert_eq!(
        messages(&gw, &msg_body("no-such-model", "hi"), &[])
            .await
            .status,
        404
    );

    let scrape = || async {
        reqwest::get(gw.admin_url("/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let count = |text: &str, must: &[&str]| -> f64 {
        text.lines()
            .filter(|l| l.starts_with("llm_relay_requests_total{"))
            .filter(|l| must.iter().all(|m| l.contains(m)))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    // A request is counted when its response has ended, which the client may see first.
    let mut text = scrape().await;
    let mut all_counted = false;
    for _ in 0..200 {
        all_counted = count(&text, &[]) >= 5.0;
        if all_counted {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        text = scrape().await;
    }
    assert!(all_counted, "{text}");
    for p in ["chat", "responses", "messages", "completions"] {
        let label = format!("protocol=\"{p}\"");
        let ok = count(&text, &[&label, "kind=\"chat\"", "status=\"2xx\""]);
        assert_eq!(ok, 1.0, "{p}: {text}");
    }
    assert_eq!(
        count(&text, &["protocol=\"messages\"", "status=\"4xx\""]),
        1.0,
        "{text}"
    );
}

// ---------------------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn messages_take_x_api_key_and_bearer_and_never_forward_them() {
    let (mock, gw) = setup(false);
    let body = msg_body("claude-x", "hello").to_string().into_bytes();
    let bearer = format!("Bearer {KEY}");
    for creds in [("x-api-key", KEY), ("authorization", bearer.as_str())] {
        let a = post_raw(
            &gw,
            "/v1/messages",
            &[creds, ("anthropic-version", "2023-06-01")],
            body.clone(),
        )
        .await;
        assert_eq!(a.status, 200, "{creds:?}: {}", a.text);
        let stats = mock.stats().await;
        let headers = &stats["last"]["chat"]["headers"];
        assert_eq!(
            headers["authorization"],
            format!("Bearer {PROVIDER_KEY}"),
            "{headers}"
        );
        assert!(headers.get("x-api-key").is_none(), "{headers}");
        assert!(!headers.to_string().contains(KEY), "{headers}");
    }
}

// ---------------------------------------------------------------------------------------------
// Stored responses
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn stored_responses_and_previous_response_id() {
    let (mock, gw) = setup(false);

    // store: false is not kept.
    let mut body = resp_body("hunyuan-turbos-latest", "forget me");
    body["store"] = json!(false);
    let a = openai(&gw, "/v1/responses", &body, &[]).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let unstored = a.json()["id"].as_str().unwrap().to_string();
    let g = get(&gw, &format!("/v1/responses/{unstored}")).await;
    assert_openai_error(&g, 404, "invalid_request_error", None);
    let follow = json!({"model": "hunyuan-turbos-latest", "input": "and?",
        "previous_response_id": unstored});
    let f = openai(&gw, "/v1/responses", &follow, &[]).await;
    assert_eq!(f.status, 404, "{}", f.text);

    // Stored (the default): GET returns it.
    let first = resp_body("hunyuan-turbos-latest", "my name is Zorblax");
    let a = openai(&gw, "/v1/responses", &first, &[]).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let created = a.json();
    let id = created["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("resp_"), "{id}");
    let g = get(&gw, &format!("/v1/responses/{id}")).await;
    assert_eq!(g.status, 200, "{}", g.text);
    let got = g.json();
    assert_eq!(got["id"], id.as_str());
    assert_eq!(got["object"], "response");
    assert_eq!(got["output"], created["output"], "{got}");

    // previous_response_id carries the history to the upstream.
    let next = json!({"model": "hunyuan-turbos-latest", "input": "what is my name?",
        "previous_response_id": id});
    let a = openai(&gw, "/v1/responses", &next, &[]).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let stats = mock.stats().await;
    let sent = stats["last"]["chat"]["body"]["messages"].clone();
    let texts = sent.to_string();
    assert!(texts.contains("my name is Zorblax"), "{sent}");
    assert!(
        texts.contains("mock reply to: my name is Zorblax"),
        "{sent}"
    );
    assert!(texts.contains("what is my name?"), "{sent}");
    let roles: Vec<&str> = sent
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["role"].as_str())
        .collect();
    assert_eq!(roles, ["user", "assistant", "user"], "{sent}");
    assert_eq!(stats["strict_rejections"], 0);
}

#[tokio::test]
async fn streamed_responses_are_stored_and_chain() {
    let (mock, gw) = setup(false);
    let mut first = resp_body("hunyuan-turbos-latest", "my name is Quuxine");
    first["stream"] = json!(true);
    let a = openai(&gw, "/v1/responses", &first, &[]).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let events = a.events();
    let (name, done) = events.last().expect("events");
    assert_eq!(name, "response.completed", "{}", a.text);
    let id = done["response"]["id"].as_str().unwrap().to_string();
    let g = get(&gw, &format!("/v1/responses/{id}")).await;
    assert_eq!(g.status, 200, "{}", g.text);
    assert_eq!(g.json()["output"], done["response"]["output"], "{}", g.text);

    let mut next = json!({"model": "hunyuan-turbos-latest", "input": "who am I?",
        "previous_response_id": id});
    next["stream"] = json!(true);
    let a = openai(&gw, "/v1/responses", &next, &[]).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let sent = mock.stats().await["last"]["chat"]["body"]["messages"].to_string();
    assert!(sent.contains("my name is Quuxine"), "{sent}");
    assert!(sent.contains("who am I?"), "{sent}");
    assert_eq!(mock.stats().await["strict_rejections"], 0);
}
