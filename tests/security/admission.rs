//! Security: admission before any work (item 4), model allow-lists on the translated paths
//! (item 3) and multipart forms with two models (item 7), through the real gateway.

use crate::common::gateway::{demo_config, Gateway};
use crate::common::mock::Mock;
use llm_relay::policy::auth::hash_key;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

const KEY_A: &str = "sk-sec-admission-a";
const KEY_R: &str = "sk-sec-admission-rpm";

/// team-a: one request in flight, models `hunyuan-*` only; team-r: 3 requests a minute.
fn start() -> (Mock, Gateway) {
    let mock = Mock::start(false);
    let yaml = format!(
        r#"auth:
  keys:
    - id: team-a
      sha256: "{a}"
      models: ["hunyuan-*", "whisper-1"]
      max_concurrency: 1
    - id: team-r
      sha256: "{r}"
      rpm: 3
{demo}"#,
        a = hex::encode(hash_key(KEY_A)),
        r = hex::encode(hash_key(KEY_R)),
        demo = demo_config(&format!("http://{}", mock.addr), "hunyuan"),
    );
    let gw = Gateway::start(&yaml);
    (mock, gw)
}

/// Requests the mock received, over every kind.
async fn upstream_calls(mock: &Mock) -> u64 {
    let stats = mock.stats().await;
    stats["requests"]
        .as_object()
        .map_or(0, |m| m.values().filter_map(Value::as_u64).sum())
}

thread_local! {
    /// One client per test (each runs on its own thread and runtime), as an SDK keeps one:
    /// its keep-alive connection carries sequential requests one after the other.
    static CLIENT: reqwest::Client = reqwest::Client::new();
}

fn client() -> reqwest::Client {
    CLIENT.with(reqwest::Client::clone)
}

async fn send(
    gw: &Gateway,
    key: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut r = client()
        .request(method.parse().expect("method"), gw.url(path))
        .bearer_auth(key);
    if let Some(b) = body {
        r = r.json(b);
    }
    let resp = r.send().await.expect("send");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// A request's head with `Expect: 100-continue` and no body yet; returns the connection and
/// the status of the first answer head (100 when the gateway wants the body).
fn head_only(gw: &Gateway, key: &str, len: usize) -> (TcpStream, BufReader<TcpStream>, u16) {
    let mut s = TcpStream::connect(format!("127.0.0.1:{}", gw.port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: {len}\r\nExpect: 100-continue\r\n\r\n"
    );
    s.write_all(head.as_bytes()).expect("write head");
    let mut reader = BufReader::new(s.try_clone().expect("clone"));
    let mut line = String::new();
    reader.read_line(&mut line).expect("status line");
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    // The rest of the head (an interim 100 has none but the blank line).
    loop {
        let mut l = String::new();
        if reader.read_line(&mut l).unwrap_or(0) == 0 || l.trim_end().is_empty() {
            break;
        }
    }
    (s, reader, status)
}

fn chat_body() -> Vec<u8> {
    serde_json::to_vec(&json!({"model": "hunyuan-turbos-latest",
        "messages": [{"role": "user", "content": "hi"}]}))
    .expect("json")
}

/// A body still on its way holds the key's only concurrency slot: the gateway admitted the
/// request (and told the client to send its body: `100 Continue`) before reading it, so a
/// second request of the same key is refused at once. Before, admission came after the
/// whole body, and any number of bodies were read and parsed in parallel.
#[tokio::test]
async fn a_body_in_flight_holds_the_concurrency_slot() {
    let (mock, gw) = start();
    let body = chat_body();
    let (mut slow, mut reader, first) = head_only(&gw, KEY_A, body.len());
    assert_eq!(first, 100, "the gateway asks for the body once admitted");
    let (s, v) = send(
        &gw,
        KEY_A,
        "POST",
        "/v1/chat/completions",
        Some(&json!(
            {"model": "hunyuan-turbos-latest", "messages": [{"role": "user", "content": "hi"}]}
        )),
    )
    .await;
    assert_eq!(s, 429, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("in flight"),
        "{v}"
    );
    // The held request completes normally once its body arrives.
    slow.write_all(&body).expect("write body");
    let mut line = String::new();
    reader.read_line(&mut line).expect("status line");
    assert!(line.contains(" 200 "), "{line}");
    assert_eq!(upstream_calls(&mock).await, 1);
}

/// A key over its rate limit is refused before its body is read: the answer to the head is
/// the 429 itself, not `100 Continue`.
#[tokio::test]
async fn a_refused_request_is_refused_before_its_body() {
    let (_mock, gw) = start();
    for _ in 0..3 {
        let (s, v) = send(&gw, KEY_R, "GET", "/v1/models", None).await;
        assert_eq!(s, 200, "{v}");
    }
    let (_conn, _reader, first) = head_only(&gw, KEY_R, 10_000_000);
    assert_eq!(first, 429);
}

/// Local answers count like any request: token counting (both protocols) and stored-response
/// reads were never limited before.
#[tokio::test]
async fn local_endpoints_count_against_the_rate_limit() {
    let (mock, gw) = start();
    let count =
        json!({"model": "claude-3-5-haiku", "messages": [{"role": "user", "content": "hi"}]});
    let inputs = json!({"model": "hunyuan-turbos-latest", "input": "hi"});
    let calls = [
        ("POST", "/v1/messages/count_tokens", Some(&count)),
        ("POST", "/v1/responses/input_tokens", Some(&inputs)),
        ("GET", "/v1/responses/resp_000000000000000000000000", None),
    ];
    let mut seen = Vec::new();
    for (method, path, body) in calls {
        seen.push(send(&gw, KEY_R, method, path, body).await.0);
    }
    assert_eq!(seen, [200, 200, 404]);
    // The fourth request of the minute, on each path, in its protocol's shape.
    let (s, v) = send(
        &gw,
        KEY_R,
        "POST",
        "/v1/messages/count_tokens",
        Some(&count),
    )
    .await;
    assert_eq!(s, 429, "{v}");
    assert_eq!(v["type"], "error", "Anthropic's shape: {v}");
    assert_eq!(v["error"]["type"], "rate_limit_error", "{v}");
    let (s, v) = send(
        &gw,
        KEY_R,
        "POST",
        "/v1/responses/input_tokens",
        Some(&inputs),
    )
    .await;
    assert_eq!(s, 429, "{v}");
    assert!(v["error"]["message"].is_string(), "{v}");
    let (s, _) = send(
        &gw,
        KEY_R,
        "GET",
        "/v1/responses/resp_000000000000000000000000",
        None,
    )
    .await;
    assert_eq!(s, 429);
    assert_eq!(upstream_calls(&mock).await, 0);
}

/// A model outside the key's list is refused on every translated path, in that path's
/// protocol, and nothing reaches the provider.
#[tokio::test]
async fn translated_paths_hold_the_model_allow_list() {
    let (mock, gw) = start();
    let (s, v) = send(
        &gw,
        KEY_A,
        "POST",
        "/v1/responses",
        Some(&json!(
            {"model": "gpt-4o-mini", "input": "hi"}
        )),
    )
    .await;
    assert_eq!(
        (s, v["error"]["type"].as_str()),
        (403, Some("permission_error")),
        "{v}"
    );
    let (s, v) = send(
        &gw,
        KEY_A,
        "POST",
        "/v1/messages",
        Some(&json!(
            {"model": "claude-3-5-haiku", "max_tokens": 16,
             "messages": [{"role": "user", "content": "hi"}]}
        )),
    )
    .await;
    assert_eq!(s, 403, "{v}");
    assert_eq!(
        (v["type"].as_str(), v["error"]["type"].as_str()),
        (Some("error"), Some("permission_error")),
        "Anthropic's shape: {v}"
    );
    let (s, v) = send(
        &gw,
        KEY_A,
        "POST",
        "/v1/completions",
        Some(&json!(
            {"model": "gpt-3.5-turbo-instruct", "prompt": "hi"}
        )),
    )
    .await;
    assert_eq!(
        (s, v["error"]["type"].as_str()),
        (403, Some("permission_error")),
        "{v}"
    );
    assert_eq!(upstream_calls(&mock).await, 0);
    // The allowed model on the same paths still works.
    let (s, v) = send(
        &gw,
        KEY_A,
        "POST",
        "/v1/responses",
        Some(&json!(
            {"model": "hunyuan-turbos-latest", "input": "hi"}
        )),
    )
    .await;
    assert_eq!(s, 200, "{v}");
}

/// A form with two `model` parts could be routed and authorized by one and run by the
/// provider on the other: refused before the provider.
#[tokio::test]
async fn a_form_with_two_models_is_refused() {
    let (mock, gw) = start();
    let form = |models: &[&str]| {
        let mut f = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(b"RIFF0000WAVE".to_vec()).file_name("a.wav"),
        );
        for m in models {
            f = f.text("model", m.to_string());
        }
        f
    };
    let post = |f| {
        reqwest::Client::new()
            .post(gw.url("/v1/audio/transcriptions"))
            .bearer_auth(KEY_A)
            .multipart(f)
            .send()
    };
    let r = post(form(&["gpt-4o-transcribe", "whisper-1"]))
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 400);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["error"]["param"], "model", "{v}");
    assert_eq!(upstream_calls(&mock).await, 0);
    let r = post(form(&["whisper-1"])).await.expect("send");
    assert_eq!(r.status().as_u16(), 200);
}
