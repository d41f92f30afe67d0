//! The bundled mock upstream through its real binary: every endpoint's shape, streaming, the
//! failure knobs, strict mode and the stats other tests rely on.

mod common;

use std::time::{Duration, Instant};

use common::mock::Mock;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const ALTERNATION: &str = "messages 中 user（tool） 和 assistant 角色需交替出现 (一问一答)，以 user 提问开始， user（tool）提问结束, tool 可以连续出现多次";

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

async fn post(
    mock: &Mock,
    path: &str,
    body: &Value,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut rb = client().post(mock.url(path)).json(body);
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    rb.send().await.expect("send")
}

async fn post_json(
    mock: &Mock,
    path: &str,
    body: &Value,
    headers: &[(&str, &str)],
) -> (u16, Value) {
    let r = post(mock, path, body, headers).await;
    (r.status().as_u16(), r.json().await.expect("JSON body"))
}

fn chat(text: &str) -> Value {
    json!({"model": "hunyuan-turbos-latest", "messages": [{"role": "user", "content": text}]})
}

/// The `data:` payloads of an SSE body.
fn sse_data(body: &str) -> Vec<&str> {
    body.split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .collect()
}

/// A hand-built multipart body (reqwest is built without its multipart feature).
fn multipart(parts: &[(&str, Option<&str>, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "mockboundary7d3f";
    let mut body = Vec::new();
    for (name, file, data) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        let disposition = match file {
            Some(f) => format!(
                "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            ),
            None => format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n"),
        };
        body.extend_from_slice(disposition.as_bytes());
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn post_multipart(
    mock: &Mock,
    path: &str,
    parts: &[(&str, Option<&str>, &[u8])],
) -> reqwest::Response {
    let (ct, body) = multipart(parts);
    client()
        .post(mock.url(path))
        .header("content-type", ct)
        .body(body)
        .send()
        .await
        .expect("send")
}

#[tokio::test]
async fn chat_non_stream_shape_and_last_headers() {
    let mock = Mock::start(false);
    let r = client()
        .post(mock.url("/v1/chat/completions"))
        .bearer_auth("sk-provider")
        .json(&chat("hello there"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "hunyuan-turbos-latest");
    assert!(v["id"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(v["created"].is_u64());
    assert_eq!(v["choices"][0]["message"]["role"], "assistant");
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "mock reply to: hello there"
    );
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    let u = &v["usage"];
    let (p, c) = (
        u["prompt_tokens"].as_u64().unwrap(),
        u["completion_tokens"].as_u64().unwrap(),
    );
    assert!(p > 0 && c > 0);
    assert_eq!(u["total_tokens"].as_u64().unwrap(), p + c);

    let stats = mock.stats().await;
    assert_eq!(stats["requests"]["chat"], 1);
    let last = &stats["last"]["chat"];
    assert_eq!(last["path"], "/v1/chat/completions");
    assert_eq!(last["headers"]["authorization"], "Bearer sk-provider");
    assert_eq!(last["body"]["messages"][0]["content"], "hello there");
}

#[tokio::test]
async fn chat_stream_events_and_done() {
    let mock = Mock::start(false);
    let mut body = chat("hi");
    body["stream"] = json!(true);
    let r = post(
        &mock,
        "/v1/chat/completions",
        &body,
        &[("x-mock-events", "4")],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let text = r.text().await.expect("body");
    let data = sse_data(&text);
    assert_eq!(data.len(), 5, "{text}");
    assert_eq!(data[4], "[DONE]");
    let chunks: Vec<Value> = data[..4]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(chunks[1]["choices"][0]["delta"]["content"], "tok0 ");
    assert_eq!(chunks[3]["choices"][0]["finish_reason"], "stop");
    assert!(chunks[2]["choices"][0]["finish_reason"].is_null());
    assert!(chunks
        .iter()
        .all(|c| c["object"] == "chat.completion.chunk" && c.get("usage").is_none()));

    // Default event count is 5.
    let text = post(&mock, "/v1/chat/completions", &body, &[])
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(sse_data(&text).len(), 6);
}

#[tokio::test]
async fn chat_stream_include_usage() {
    let mock = Mock::start(false);
    let mut body = chat("hi");
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let text = post(
        &mock,
        "/v1/chat/completions",
        &body,
        &[("x-mock-events", "3")],
    )
    .await
    .text()
    .await
    .unwrap();
    let data = sse_data(&text);
    assert_eq!(data.len(), 5, "{text}");
    assert_eq!(data[4], "[DONE]");
    let chunks: Vec<Value> = data[..4]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    for c in &chunks[..3] {
        assert!(c["usage"].is_null() && c.get("usage").is_some(), "{c}");
    }
    assert_eq!(chunks[2]["choices"][0]["finish_reason"], "stop");
    assert_eq!(chunks[3]["choices"], json!([]));
    assert!(chunks[3]["usage"]["total_tokens"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn stream_interval_paces_events() {
    let mock = Mock::start(false);
    let mut body = chat("hi");
    body["stream"] = json!(true);
    let start = Instant::now();
    let mut r = post(
        &mock,
        "/v1/chat/completions",
        &body,
        &[("x-mock-events", "4"), ("x-mock-interval-ms", "150")],
    )
    .await;
    let first = r.chunk().await.unwrap().expect("first event");
    let first_at = start.elapsed();
    assert!(String::from_utf8_lossy(&first).starts_with("data: "));
    while r.chunk().await.unwrap().is_some() {}
    assert!(
        first_at < Duration::from_millis(300),
        "first event waited: {first_at:?}"
    );
    assert!(start.elapsed() >= Duration::from_millis(450));
}

#[tokio::test]
async fn cut_after_aborts_without_done() {
    let mock = Mock::start(false);
    let mut body = chat("hi");
    body["stream"] = json!(true);
    let mut r = post(
        &mock,
        "/v1/chat/completions",
        &body,
        &[("x-mock-events", "10"), ("x-mock-cut-after", "3")],
    )
    .await;
    assert_eq!(r.status(), 200);
    let mut got = Vec::new();
    let err = loop {
        match r.chunk().await {
            Ok(Some(c)) => got.extend_from_slice(&c),
            Ok(None) => break false,
            Err(_) => break true,
        }
    };
    assert!(err, "the stream must end with an error, not cleanly");
    let text = String::from_utf8_lossy(&got);
    assert_eq!(sse_data(&text).len(), 3, "{text}");
    assert!(!text.contains("[DONE]"));
}

#[tokio::test]
async fn strict_mode_by_header_and_flag() {
    let mock = Mock::start(false);
    let bad = json!({"model": "hunyuan-turbos-latest", "messages": [
        {"role": "user", "content": "a"}, {"role": "user", "content": "b"}]});
    let good = json!({"model": "hunyuan-turbos-latest", "messages": [
        {"role": "system", "content": "s"}, {"role": "user", "content": "a"},
        {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}]});
    // Not strict: anything goes.
    assert_eq!(
        post_json(&mock, "/v1/chat/completions", &bad, &[]).await.0,
        200
    );
    let (s, v) = post_json(
        &mock,
        "/v1/chat/completions",
        &bad,
        &[("x-mock-strict", "1")],
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(
        v,
        json!({"error": {"message": ALTERNATION, "type": "invalid_request_error", "param": null, "code": "1001"}})
    );
    assert_eq!(
        post_json(
            &mock,
            "/v1/chat/completions",
            &good,
            &[("x-mock-strict", "1")]
        )
        .await
        .0,
        200
    );
    assert_eq!(mock.stats().await["strict_rejections"], 1);

    let strict = Mock::start(true);
    let (s, v) = post_json(&strict, "/v1/chat/completions", &bad, &[]).await;
    assert_eq!((s, v["error"]["code"].as_str()), (400, Some("1001")));
    let (s, v) = post_json(
        &strict,
        "/v1/chat/completions",
        &json!({"model": "m", "messages": [
        {"role": "user", "content": "   "}]}),
        &[],
    )
    .await;
    assert_eq!(
        (s, v["error"]["message"].as_str()),
        (400, Some("messages 中 content 不能为空"))
    );
    assert_eq!(
        post_json(&strict, "/v1/chat/completions", &good, &[])
            .await
            .0,
        200
    );
    let stats = strict.stats().await;
    assert_eq!(stats["strict_rejections"], 2);
    assert_eq!(stats["requests"]["chat"], 3);
}

fn vision_request(urls: &[&str], question: &str) -> Value {
    let mut parts = vec![json!({"type": "text", "text": question})];
    parts.extend(
        urls.iter()
            .map(|u| json!({"type": "image_url", "image_url": {"url": u}})),
    );
    json!({"model": "hunyuan-vision-1.5-instruct", "messages": [{"role": "user", "content": parts}]})
}

#[tokio::test]
async fn vision_is_deterministic_and_counted() {
    let mock = Mock::start(true);
    let urls = [
        "data:image/png;base64,iVBORw0KGgo=",
        "https://example.com/cat.png",
    ];
    let req = vision_request(&urls, "what is shown?");
    let (s1, v1) = post_json(&mock, "/v1/chat/completions", &req, &[]).await;
    let (s2, v2) = post_json(&mock, "/v1/chat/completions", &req, &[]).await;
    assert_eq!((s1, s2), (200, 200), "{v1}");
    let content = v1["choices"][0]["message"]["content"].as_str().unwrap();
    assert_eq!(
        content,
        v2["choices"][0]["message"]["content"].as_str().unwrap()
    );
    let h = |u: &str| hex::encode(Sha256::digest(u.as_bytes()))[..16].to_string();
    assert_eq!(
        content,
        format!(
            "mock description of 2 image(s): [img sha256:{}][img sha256:{}] | question: what is shown?",
            h(urls[0]),
            h(urls[1])
        )
    );
    // A different image gives a different description.
    let (_, v3) = post_json(
        &mock,
        "/v1/chat/completions",
        &vision_request(&urls[..1], "what is shown?"),
        &[],
    )
    .await;
    assert_ne!(
        v3["choices"][0]["message"]["content"],
        v1["choices"][0]["message"]["content"]
    );
    let stats = mock.stats().await;
    assert_eq!(stats["vision_calls"], 3);
    assert_eq!(stats["requests"]["chat"], 3);
    assert_eq!(
        stats["last"]["vision"]["body"]["model"],
        "hunyuan-vision-1.5-instruct"
    );
}

#[tokio::test]
async fn control_knobs_for_vision_and_chat() {
    let mock = Mock::start(false);
    let knobs = mock
        .control(json!({"vision_fail_status": 502, "vision_delay_ms": 200}))
        .await;
    assert_eq!(
        knobs,
        json!({"vision_fail_status": 502, "vision_delay_ms": 200, "chat_delay_ms": 0})
    );
    let start = Instant::now();
    let (s, v) = post_json(
        &mock,
        "/v1/chat/completions",
        &vision_request(&["x"], "q"),
        &[],
    )
    .await;
    assert_eq!((s, v["error"]["code"].as_str()), (502, Some("mock_502")));
    assert!(start.elapsed() >= Duration::from_millis(200));
    // Text calls are unaffected by the vision knobs.
    assert_eq!(
        post_json(&mock, "/v1/chat/completions", &chat("x"), &[])
            .await
            .0,
        200
    );
    // Partial update keeps the other knobs.
    mock.control(json!({"vision_fail_status": 0, "chat_delay_ms": 150}))
        .await;
    let got: Value = reqwest::get(mock.url("/_control"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        got,
        json!({"vision_fail_status": 0, "vision_delay_ms": 200, "chat_delay_ms": 150})
    );
    assert_eq!(
        post_json(
            &mock,
            "/v1/chat/completions",
            &vision_request(&["x"], "q"),
            &[]
        )
        .await
        .0,
        200
    );
    let start = Instant::now();
    assert_eq!(
        post_json(&mock, "/v1/chat/completions", &chat("x"), &[])
            .await
            .0,
        200
    );
    assert!(start.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn status_delay_and_padding_knobs() {
    let mock = Mock::start(false);
    let (s, v) = post_json(
        &mock,
        "/v1/chat/completions",
        &chat("x"),
        &[("x-mock-status", "429")],
    )
    .await;
    assert_eq!(s, 429);
    assert_eq!(
        v,
        json!({"error": {"message": "mock failure 429", "type": "server_error", "param": null, "code": "mock_429"}})
    );
    let start = Instant::now();
    let (s, _) = post_json(
        &mock,
        "/v1/embeddings",
        &json!({"input": "x"}),
        &[("x-mock-delay-ms", "200")],
    )
    .await;
    assert_eq!(s, 200);
    assert!(start.elapsed() >= Duration::from_millis(200));
    let (_, v) = post_json(
        &mock,
        "/v1/chat/completions",
        &chat("x"),
        &[("x-mock-chunk-bytes", "100000")],
    )
    .await;
    let len = v["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .len();
    assert!((100_000..100_100).contains(&len), "{len}");
}

#[tokio::test]
async fn embeddings_shapes() {
    let mock = Mock::start(false);
    let (s, v) = post_json(
        &mock,
        "/v1/embeddings",
        &json!({"model": "emb", "input": "hello"}),
        &[],
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(v["object"], "list");
    assert_eq!(v["model"], "emb");
    assert_eq!(v["data"][0]["object"], "embedding");
    assert_eq!(v["data"][0]["embedding"].as_array().unwrap().len(), 8);
    assert!(v["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
    let (_, again) = post_json(
        &mock,
        "/v1/embeddings",
        &json!({"model": "emb", "input": "hello"}),
        &[],
    )
    .await;
    assert_eq!(again["data"], v["data"], "deterministic");
    let (_, many) = post_json(
        &mock,
        "/v1/embeddings",
        &json!({"model": "emb", "input": ["hello", "world", "x"]}),
        &[],
    )
    .await;
    let data = many["data"].as_array().unwrap();
    assert_eq!(data.len(), 3);
    assert_eq!(data[2]["index"], 2);
    assert_eq!(data[0]["embedding"], v["data"][0]["embedding"]);
    let (_, tokens) = post_json(&mock, "/v1/embeddings", &json!({"input": [1, 2, 3]}), &[]).await;
    assert_eq!(tokens["data"].as_array().unwrap().len(), 1);
    let (_, token_lists) = post_json(
        &mock,
        "/v1/embeddings",
        &json!({"input": [[1, 2], [3]]}),
        &[],
    )
    .await;
    assert_eq!(token_lists["data"].as_array().unwrap().len(), 2);
    assert_eq!(mock.stats().await["requests"]["embeddings"], 5);
}

#[tokio::test]
async fn images_json_and_multipart() {
    let mock = Mock::start(false);
    let (s, v) = post_json(
        &mock,
        "/v1/images/generations",
        &json!({"prompt": "a cat", "n": 2}),
        &[],
    )
    .await;
    assert_eq!(s, 200);
    assert!(v["created"].is_u64());
    let data = v["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    use base64::Engine;
    let png = base64::engine::general_purpose::STANDARD
        .decode(data[0]["b64_json"].as_str().unwrap())
        .unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));

    for path in ["/v1/images/edits", "/v1/images/variations"] {
        let r = post_multipart(
            &mock,
            path,
            &[
                ("image", Some("in.png"), &png),
                ("prompt", None, b"make it blue"),
                ("model", None, b"gpt-image-1"),
            ],
        )
        .await;
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["data"].as_array().unwrap().len(), 1);
    }
    let stats = mock.stats().await;
    assert_eq!(stats["requests"]["images"], 3);
    let last = &stats["last"]["images"];
    assert_eq!(last["path"], "/v1/images/variations");
    assert_eq!(last["body"]["fields"]["model"], "gpt-image-1");
    assert_eq!(
        last["body"]["fields"]["image"],
        format!("<file {} bytes>", png.len())
    );
}

#[tokio::test]
async fn audio_transcriptions_translations_speech() {
    let mock = Mock::start(false);
    let audio = vec![7u8; 1234];
    let r = post_multipart(
        &mock,
        "/v1/audio/transcriptions",
        &[
            ("file", Some("a.mp3"), &audio),
            ("model", None, b"whisper-1"),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"text": "mock transcript of 1234 bytes"})
    );
    let r = post_multipart(
        &mock,
        "/v1/audio/translations",
        &[
            ("file", Some("a.mp3"), &audio),
            ("model", None, b"whisper-1"),
            ("response_format", None, b"text"),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    assert_eq!(r.text().await.unwrap(), "mock transcript of 1234 bytes");

    let r = post(
        &mock,
        "/v1/audio/speech",
        &json!({"model": "tts-1", "input": "hi", "voice": "alloy"}),
        &[],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "audio/mpeg");
    let first = r.bytes().await.unwrap();
    assert_eq!(first.len(), 8 * 4096);
    let again = post(
        &mock,
        "/v1/audio/speech",
        &json!({"model": "tts-1", "input": "hi", "voice": "alloy"}),
        &[],
    )
    .await
    .bytes()
    .await
    .unwrap();
    assert_eq!(first, again, "deterministic");

    let stats = mock.stats().await;
    assert_eq!(stats["requests"]["transcriptions"], 1);
    assert_eq!(stats["requests"]["translations"], 1);
    assert_eq!(stats["requests"]["speech"], 2);
    assert_eq!(
        stats["last"]["transcriptions"]["body"]["fields"]["file"],
        "<file 1234 bytes>"
    );
    assert_eq!(stats["last"]["speech"]["body"]["voice"], "alloy");
}

#[tokio::test]
async fn models_and_stats_reset() {
    let mock = Mock::start(false);
    let r = client()
        .get(mock.url("/v1/models"))
        .header("x-test", "yes")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["object"], "list");
    assert!(v["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["object"] == "model" && m["id"].is_string()));
    let stats = mock.stats().await;
    assert_eq!(stats["requests"]["models"], 1);
    assert_eq!(stats["last"]["models"]["headers"]["x-test"], "yes");
    mock.reset().await;
    let stats = mock.stats().await;
    assert_eq!(stats["requests"]["models"], 0);
    assert_eq!(stats["vision_calls"], 0);
    assert_eq!(stats["last"], json!({}));
}
