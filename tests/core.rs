//! The gateway core through the real binaries: every endpoint kind, streaming, big bodies in
//! every framing, keep-alive, and each refusal with its status and OpenAI-shaped body.

mod common;

use common::gateway::{demo_config, free_port, Gateway, PROVIDER_KEY};
use common::mock::Mock;
use common::raw::Conn;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn setup(profile: &str) -> (Mock, Gateway) {
    let mock = Mock::start(false);
    let gw = Gateway::start(&demo_config(&format!("http://{}", mock.addr), profile));
    (mock, gw)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

fn chat_body(model: &str, text: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": text}]})
}

async fn post_json(gw: &Gateway, path: &str, body: &Value) -> (u16, Value) {
    let r = client()
        .post(gw.url(path))
        .bearer_auth("sk-client-secret")
        .json(body)
        .send()
        .await
        .expect("send");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn assert_openai_error(v: &Value, code: &str) {
    let e = &v["error"];
    assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    assert!(e["type"].is_string(), "{v}");
    assert!(e.get("param").is_some(), "{v}");
    assert_eq!(e["code"], code, "{v}");
}

#[tokio::test]
async fn chat_json_and_alias_and_provider_key() {
    let (mock, gw) = setup("openai");
    let (s, v) = post_json(
        &gw,
        "/v1/chat/completions",
        &chat_body("gpt-4o-mini", "hello there"),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert!(v["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .contains("hello there"));
    let stats = mock.stats().await;
    let last = &stats["last"]["chat"];
    assert_eq!(
        last["body"]["model"], "hunyuan-turbos-latest",
        "alias renamed"
    );
    assert_eq!(
        last["headers"]["authorization"],
        format!("Bearer {PROVIDER_KEY}")
    );
    assert_eq!(last["path"], "/v1/chat/completions");
    assert!(
        !stats.to_string().contains("sk-client-secret"),
        "client key leaked upstream"
    );
}

#[tokio::test]
async fn every_kind_routes() {
    let (mock, gw) = setup("openai");
    let (s, v) = post_json(
        &gw,
        "/v1/embeddings",
        &json!({"model": "text-embedding-3-small", "input": ["a", "b"]}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"].as_array().unwrap().len(), 2);
    let (s, v) = post_json(
        &gw,
        "/v1/images/generations",
        &json!({"model": "dall-e-3", "prompt": "a cat"}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert!(v["data"][0]["b64_json"].is_string());
    for path in ["/v1/audio/transcriptions", "/v1/audio/translations"] {
        let form = reqwest::multipart::Form::new()
            .text("model", "whisper-1")
            .part(
                "file",
                reqwest::multipart::Part::bytes(vec![7u8; 5000]).file_name("a.wav"),
            );
        let r = client()
            .post(gw.url(path))
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let v: Value = r.json().await.unwrap();
        assert!(v["text"].as_str().unwrap().contains("5000"), "{v}");
    }
    let form = reqwest::multipart::Form::new()
        .text("model", "dall-e-3")
        .text("prompt", "edit")
        .part(
            "image",
            reqwest::multipart::Part::bytes(vec![1u8; 100]).file_name("a.png"),
        );
    let r = client()
        .post(gw.url("/v1/images/edits"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = client()
        .post(gw.url("/v1/audio/speech"))
        .json(&json!({"model": "tts-1", "input": "hi", "voice": "alloy"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap().len(), 8 * 4096);
    let stats = mock.stats().await;
    for k in [
        "embeddings",
        "images",
        "transcriptions",
        "translations",
        "speech",
    ] {
        assert!(stats["requests"][k].as_u64().unwrap() >= 1, "{k}: {stats}");
    }
}

#[tokio::test]
async fn models_listed_locally() {
    let (mock, gw) = setup("openai");
    let v: Value = client()
        .get(gw.url("/v1/models"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["object"], "list");
    let ids: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert!(
        ids.contains(&"gpt-4o-mini") && ids.contains(&"whisper-1"),
        "{ids:?}"
    );
    assert!(!ids.iter().any(|i| i.contains('*')), "globs are not models");
    assert_eq!(mock.stats().await["requests"]["models"], 0);
}

#[tokio::test]
async fn sse_arrives_incrementally() {
    let (_mock, gw) = setup("openai");
    let mut body = chat_body("hunyuan-turbos-latest", "stream please");
    body["stream"] = json!(true);
    let t0 = Instant::now();
    let mut r = client()
        .post(gw.url("/v1/chat/completions"))
        .header("x-mock-events", "6")
        .header("x-mock-interval-ms", "250")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-accel-buffering"], "no");
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let mut first_event = None;
    let mut all = Vec::new();
    while let Some(chunk) = r.chunk().await.unwrap() {
        if first_event.is_none() && chunk.windows(5).any(|w| w == b"data:") {
            first_event = Some(t0.elapsed());
        }
        all.extend_from_slice(&chunk);
    }
    let total = t0.elapsed();
    let first = first_event.expect("an event");
    // The mock spends ~1.5 s producing 6 events: the first must not wait for the last.
    assert!(total >= Duration::from_millis(1200), "{total:?}");
    assert!(
        first + Duration::from_millis(800) < total,
        "first {first:?} total {total:?}"
    );
    let text = String::from_utf8_lossy(&all);
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
}

fn big_chat(bytes: usize) -> Vec<u8> {
    let filler = "x".repeat(bytes.saturating_sub(120));
    serde_json::to_vec(&chat_body("hunyuan-turbos-latest", &filler)).unwrap()
}

#[tokio::test]
async fn big_bodies_every_framing() {
    let (mock, gw) = setup("openai");
    for size in [5_000_000usize, 20_000_000] {
        let body = big_chat(size);
        let addr = gw.addr.clone();
        let b = body.clone();
        let (cl, chunked, (continued, expect)) = tokio::task::spawn_blocking(move || {
            let mut c = Conn::open(&addr);
            let cl = c.request(
                "POST",
                "/v1/chat/completions",
                &[("Content-Type", "application/json")],
                &b,
            );
            let chunked = c.request_chunked("/v1/chat/completions", &b, 64 * 1024);
            let expect = c.request_expect("/v1/chat/completions", &b);
            (cl, chunked, expect)
        })
        .await
        .unwrap();
        assert_eq!(
            cl.status,
            200,
            "content-length {size}: {:?}",
            String::from_utf8_lossy(&cl.body)
        );
        assert_eq!(chunked.status, 200, "chunked {size}");
        assert!(continued, "100 Continue sent");
        assert_eq!(expect.status, 200, "expect {size}");
        let stats = mock.stats().await;
        let content = stats["last"]["chat"]["body"]["messages"][0]["content"]
            .as_str()
            .unwrap()
            .len();
        assert_eq!(content, size - 120, "the whole body reached the upstream");
    }
}

#[tokio::test]
async fn keepalive_survives_gateway_errors() {
    let (_mock, gw) = setup("openai");
    let addr = gw.addr.clone();
    tokio::task::spawn_blocking(move || {
        let mut c = Conn::open(&addr);
        let ok = serde_json::to_vec(&chat_body("hunyuan-turbos-latest", "one")).unwrap();
        assert_eq!(
            c.request("POST", "/v1/chat/completions", &[], &ok).status,
            200
        );
        assert_eq!(
            c.request("POST", "/v1/chat/completions", &[], b"{not json")
                .status,
            400
        );
        let unknown = serde_json::to_vec(&chat_body("no-such-model", "x")).unwrap();
        let r = c.request("POST", "/v1/chat/completions", &[], &unknown);
        assert_eq!(r.status, 404);
        assert_openai_error(&r.json(), "model_not_found");
        assert_eq!(c.request("GET", "/v1/nope", &[], b"").status, 404);
        assert_eq!(
            c.request("GET", "/v1/chat/completions", &[], b"").status,
            405
        );
        assert_eq!(c.request("GET", "/v1/models", &[], b"").status, 200);
        assert_eq!(
            c.request("POST", "/v1/chat/completions", &[], &ok).status,
            200
        );
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn refusals_are_openai_shaped() {
    let (_mock, gw) = setup("openai");
    let (s, v) = post_json(
        &gw,
        "/v1/chat/completions",
        &chat_body("no-such-model", "x"),
    )
    .await;
    assert_eq!(s, 404);
    assert_openai_error(&v, "model_not_found");
    let (s, v) = post_json(&gw, "/v1/chat/completions", &json!({"messages": []})).await;
    assert_eq!(s, 400);
    assert_eq!(v["error"]["param"], "model");
    let r = client()
        .post(gw.url("/v1/embeddings"))
        .body("{\"model\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["type"], "invalid_request_error");
    let r = client().get(gw.url("/v1/unknown")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let r = client()
        .delete(gw.url("/v1/embeddings"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert_openai_error(&r.json().await.unwrap(), "method_not_allowed");
}

#[tokio::test]
async fn over_cap_is_413() {
    let mock = Mock::start(false);
    let cfg = demo_config(&format!("http://{}", mock.addr), "openai");
    let gw = Gateway::start(&format!(
        "body:\n  max_bytes_by_kind: {{chat: 10000}}\n{cfg}"
    ));
    let body = big_chat(20_000);
    let addr = gw.addr.clone();
    let (r, chunked) = tokio::task::spawn_blocking(move || {
        let r = Conn::open(&addr).request("POST", "/v1/chat/completions", &[], &body);
        let chunked = Conn::open(&addr).request_chunked("/v1/chat/completions", &body, 1000);
        (r, chunked)
    })
    .await
    .unwrap();
    assert_eq!(r.status, 413);
    assert_openai_error(&r.json(), "request_too_large");
    assert_eq!(
        chunked.status, 413,
        "chunked bodies are capped while reading"
    );
    assert_eq!(mock.stats().await["requests"]["chat"], 0);
}

#[tokio::test]
async fn dripping_body_gets_408() {
    let mock = Mock::start(false);
    let cfg = demo_config(&format!("http://{}", mock.addr), "openai");
    let gw = Gateway::start(&format!("body:\n  read_timeout_ms: 700\n{cfg}"));
    let addr = gw.addr.clone();
    let r = tokio::task::spawn_blocking(move || {
        let mut c = Conn::open(&addr);
        c.send_raw(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n{\"mo",
        );
        for _ in 0..3 {
            std::thread::sleep(Duration::from_millis(300));
            c.send_raw(b"d");
        }
        c.read_response()
    })
    .await
    .unwrap();
    assert_eq!(r.status, 408);
    assert_openai_error(&r.json(), "request_timeout");
}

#[tokio::test]
async fn upstream_down_is_502() {
    let dead = free_port();
    let gw = Gateway::start(&demo_config(&format!("http://127.0.0.1:{dead}"), "openai"));
    let (s, v) = post_json(
        &gw,
        "/v1/chat/completions",
        &chat_body("hunyuan-turbos-latest", "x"),
    )
    .await;
    assert_eq!(s, 502, "{v}");
    assert_openai_error(&v, "upstream_unreachable");
    assert!(!v.to_string().contains(PROVIDER_KEY));
}

#[tokio::test]
async fn slow_upstream_is_504_within_timeout() {
    let (_mock, gw) = setup("openai");
    let t0 = Instant::now();
    let r = client()
        .post(gw.url("/v1/chat/completions"))
        .header("x-mock-delay-ms", "5000")
        .json(&chat_body("hunyuan-turbos-latest", "slow"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 504);
    assert_openai_error(&r.json().await.unwrap(), "upstream_timeout");
    // first_byte_ms is 1500 in the test config: the answer comes soon after, not at 5 s.
    assert!(
        t0.elapsed() < Duration::from_millis(3500),
        "{:?}",
        t0.elapsed()
    );
}

#[tokio::test]
async fn upstream_errors_pass_through() {
    let (_mock, gw) = setup("openai");
    let r = client()
        .post(gw.url("/v1/chat/completions"))
        .header("x-mock-status", "429")
        .json(&chat_body("hunyuan-turbos-latest", "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "mock_429");
}

#[tokio::test]
async fn stream_cut_mid_way_ends_with_error_event() {
    let (_mock, gw) = setup("openai");
    let mut body = chat_body("hunyuan-turbos-latest", "x");
    body["stream"] = json!(true);
    let r = client()
        .post(gw.url("/v1/chat/completions"))
        .header("x-mock-events", "10")
        .header("x-mock-cut-after", "3")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = match r.text().await {
        Ok(t) => t,
        Err(_) => String::from("<connection aborted>"),
    };
    assert!(
        !text.contains("[DONE]"),
        "a cut stream must not look complete: {text}"
    );
    let last = text.trim_end().rsplit("\n\n").next().unwrap_or("");
    let event: Value = serde_json::from_str(last.trim_start_matches("data: ")).unwrap_or_default();
    assert_eq!(
        event["error"]["code"], "upstream_unreachable",
        "ends with an error event: {text}"
    );
    assert!(
        !text.contains("127.0.0.1"),
        "no upstream address leaks to the client"
    );
}

#[test]
fn dash_t_rejects_typo_and_names_it() {
    let dir = common::gateway::scratch("t");
    let cfg = dir.join("relay.yaml");
    std::fs::write(
        &cfg,
        "pools:\n  p:\n    urls: [\"http://127.0.0.1:1/v1\"]\n    profle: hunyuan\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_llm-relay"))
        .arg("-t")
        .arg("--config")
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("pools.p") && err.contains("profle"), "{err}");
    std::fs::write(
        &cfg,
        "pools:\n  p:\n    urls: [\"http://127.0.0.1:1/v1\"]\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_llm-relay"))
        .args(["-t", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn smuggling_shapes_are_refused_and_closed() {
    let (mock, gw) = setup("openai");
    let addr = gw.addr.clone();
    let r = tokio::task::spawn_blocking(move || {
        let mut c = Conn::open(&addr);
        c.send_raw(b"POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /v1/models HTTP/1.1\r\nHost: t\r\n\r\n");
        let r = c.read_response();
        (r, c.is_closed())
    })
    .await
    .unwrap();
    // Pingora follows RFC 9112: Transfer-Encoding wins (an empty chunked body here, so 400)
    // and keep-alive is off, so the smuggled GET is never read as a request.
    assert_eq!(r.0.status, 400);
    assert!(
        r.1,
        "the connection is closed: the smuggled request is never read"
    );
    assert_eq!(mock.stats().await["requests"]["chat"], 0);
}
