//! The image→text cascade through the real gateway and the Hunyuan-strict mock: the text model
//! gets descriptions instead of images, one vision call per unique image however many requests
//! ask, vision calls of one request run concurrently, and each failure policy does what it says.

mod common;

use common::gateway::{demo_config, Gateway};
use common::mock::Mock;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const PNG_A: &str = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

fn cascade_yaml(on_failure: &str, timeout_ms: u64) -> String {
    format!(
        "cascade:\n  vision_model: hunyuan-vision\n  on_failure: {on_failure}\n  timeout_ms: {timeout_ms}\n  max_parallel: 4\n"
    )
}

fn setup(on_failure: &str, timeout_ms: u64) -> (Mock, Gateway) {
    let mock = Mock::start(true); // Hunyuan-strict: an image part sent to the text model is a 400
    let cfg = demo_config(&format!("http://{}", mock.addr), "hunyuan");
    let gw = Gateway::start(&format!("{}{}", cascade_yaml(on_failure, timeout_ms), cfg));
    (mock, gw)
}

fn image_request(urls: &[&str], question: &str) -> Value {
    let mut parts = vec![json!({"type": "text", "text": question})];
    for u in urls {
        parts.push(json!({"type": "image_url", "image_url": {"url": u}}));
    }
    json!({"model": "hunyuan-turbos-latest", "messages": [{"role": "user", "content": parts}]})
}

async fn post(gw: &Gateway, body: &Value) -> (u16, Value) {
    post_raw(gw, serde_json::to_vec(body).expect("body")).await
}

fn sent_text(stats: &Value) -> String {
    stats["last"]["chat"]["body"]["messages"].to_string()
}

#[tokio::test]
async fn same_image_twice_one_vision_call_and_text_model_sees_no_image() {
    let (mock, gw) = setup("fail", 5000);
    let (s, v) = post(&gw, &image_request(&[PNG_A], "what does this say?")).await;
    assert_eq!(s, 200, "{v}");
    let stats = mock.stats().await;
    assert_eq!(stats["vision_calls"], 1);
    let sent = sent_text(&stats);
    assert!(
        !sent.contains("image_url"),
        "no image part reaches the text model: {sent}"
    );
    assert!(
        sent.contains("[Image description]") && sent.contains("mock description of 1 image"),
        "{sent}"
    );
    assert!(
        sent.contains("what does this say?"),
        "the question stays: {sent}"
    );
    assert_eq!(
        stats["last"]["chat"]["body"]["model"],
        "hunyuan-turbos-latest"
    );
    // The same image with the same question: the vision call would be the same (a description
    // is keyed on the image and the whole vision prompt, the question included).
    let (s, _) = post(&gw, &image_request(&[PNG_A], "what does this say?")).await;
    assert_eq!(s, 200);
    assert_eq!(
        mock.stats().await["vision_calls"],
        1,
        "second request is a cache hit"
    );
    let snap: Value = reqwest::get(gw.admin_url("/admin/cascade"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(snap["cache"]["hits"], 1, "{snap}");
    assert_eq!(snap["cache"]["misses"], 1, "{snap}");
    assert_eq!(snap["cache"]["entries"], 1, "{snap}");
}

#[tokio::test]
async fn twenty_concurrent_requests_one_vision_call() {
    let (mock, gw) = setup("fail", 5000);
    mock.control(json!({"vision_delay_ms": 300})).await;
    let gw = std::sync::Arc::new(gw);
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let gw = gw.clone();
        tasks.push(tokio::spawn(async move {
            post(
                &gw,
                &image_request(&["https://example.com/shot.png"], "what is on screen?"),
            )
            .await
            .0
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    assert_eq!(mock.stats().await["vision_calls"], 1);
    let snap: Value = reqwest::get(gw.admin_url("/admin/cascade"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let shared = snap["cache"]["single_flight_joins"].as_u64().unwrap()
        + snap["cache"]["hits"].as_u64().unwrap();
    assert_eq!(shared, 19, "{snap}");
}

#[tokio::test]
async fn three_images_described_concurrently() {
    let (mock, gw) = setup("fail", 5000);
    mock.control(json!({"vision_delay_ms": 300})).await;
    // Warm the connection pools so the measurement is the vision calls, not connects.
    post(
        &gw,
        &json!({"model": "hunyuan-turbos-latest", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    let t0 = Instant::now();
    let (s, v) = post(
        &gw,
        &image_request(
            &["https://a.example/1.png", "https://a.example/2.png", PNG_A],
            "compare",
        ),
    )
    .await;
    let took = t0.elapsed();
    assert_eq!(s, 200, "{v}");
    assert_eq!(mock.stats().await["vision_calls"], 3);
    // Sequential calls would take at least 900 ms.
    assert!(took < Duration::from_millis(800), "{took:?}");
    let sent = sent_text(&mock.stats().await);
    assert_eq!(sent.matches("[Image description]").count(), 3, "{sent}");
}

#[tokio::test]
async fn data_url_and_https_url_both_work() {
    let (mock, gw) = setup("fail", 5000);
    for url in [PNG_A, "https://example.com/pic.jpg"] {
        let (s, v) = post(&gw, &image_request(&[url], "describe")).await;
        assert_eq!(s, 200, "{url}: {v}");
    }
    assert_eq!(mock.stats().await["vision_calls"], 2);
    // The vision model received the URL itself: the gateway never downloads user URLs.
    let stats = mock.stats().await;
    let vision = &stats["last"]["vision"];
    assert!(
        vision["body"]
            .to_string()
            .contains("https://example.com/pic.jpg"),
        "{vision}"
    );
    assert!(
        vision["body"].to_string().contains("describe"),
        "the prompt carries the question"
    );
    assert_eq!(
        vision["headers"]["authorization"],
        format!("Bearer {}", common::gateway::PROVIDER_KEY),
        "vision calls use the pool's provider key"
    );
}

#[tokio::test]
async fn vision_down_fail_policy_is_502() {
    let (mock, gw) = setup("fail", 5000);
    mock.control(json!({"vision_fail_status": 500})).await;
    let (s, v) = post(&gw, &image_request(&[PNG_A], "x")).await;
    assert_eq!(s, 502, "{v}");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("vision") && msg.contains("hunyuan-vision"),
        "{msg}"
    );
    assert_eq!(
        mock.stats().await["requests"]["chat"].as_u64().unwrap(),
        1,
        "only the vision call"
    );
}

#[tokio::test]
async fn vision_down_placeholder_policy_goes_on() {
    let (mock, gw) = setup("placeholder", 5000);
    mock.control(json!({"vision_fail_status": 503})).await;
    let (s, v) = post(&gw, &image_request(&[PNG_A], "x")).await;
    assert_eq!(s, 200, "{v}");
    let sent = sent_text(&mock.stats().await);
    assert!(sent.contains("[image could not be described]"), "{sent}");
    assert!(!sent.contains("image_url"));
    // Failures are not cached: once vision is back, the image is described.
    mock.control(json!({"vision_fail_status": 0})).await;
    let (s, _) = post(&gw, &image_request(&[PNG_A], "x")).await;
    assert_eq!(s, 200);
    assert!(sent_text(&mock.stats().await).contains("mock description"));
}

#[tokio::test]
async fn vision_timeout_is_its_own_setting() {
    let (mock, gw) = setup("fail", 400);
    mock.control(json!({"vision_delay_ms": 3000})).await;
    let t0 = Instant::now();
    let (s, v) = post(&gw, &image_request(&[PNG_A], "x")).await;
    assert_eq!(s, 502, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("timed out"),
        "{v}"
    );
    assert!(
        t0.elapsed() < Duration::from_millis(2000),
        "{:?}",
        t0.elapsed()
    );
}

#[tokio::test]
async fn images_without_cascade_are_refused_clearly() {
    let mock = Mock::start(true);
    let gw = Gateway::start(&demo_config(&format!("http://{}", mock.addr), "hunyuan"));
    let (s, v) = post(&gw, &image_request(&[PNG_A], "x")).await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["error"]["param"], "messages");
    // A vision model takes the image as is.
    let mut body = image_request(&[PNG_A], "x");
    body["model"] = json!("hunyuan-vision");
    let (s, v) = post(&gw, &body).await;
    assert_eq!(s, 200, "{v}");
}

/// A data URL large enough to be kept out of the gateway's parse (`chat::elide`): random
/// bytes, so its base64 has `+` and `/`.
fn large_image(seed: u8) -> String {
    use base64::Engine;
    let raw: Vec<u8> = (0..240_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 ^ seed)
        .collect();
    let b64 = base64::engine::general_purpose::STANDARD.encode(raw);
    format!("data:image/png;base64,{b64}")
}

async fn post_raw(gw: &Gateway, body: Vec<u8>) -> (u16, Value) {
    gw.post_bytes("/v1/chat/completions", body).await
}

#[tokio::test]
async fn large_image_is_described_from_the_clients_bytes_then_hit() {
    let (mock, gw) = setup("fail", 5000);
    let big = large_image(1);
    let (s, v) = post(&gw, &image_request(&[&big, PNG_A], "what is it?")).await;
    assert_eq!(s, 200, "{v}");
    let stats = mock.stats().await;
    assert_eq!(stats["vision_calls"], 2);
    let sent = sent_text(&stats);
    assert!(!sent.contains("image_url"), "{sent}");
    assert!(
        !sent.contains("llm-relay-elided"),
        "no token upstream: {sent}"
    );
    assert_eq!(sent.matches("[Image description]").count(), 2, "{sent}");
    // The same large image again (same question, so the same vision prompt): a hit.
    let (s, v) = post(&gw, &image_request(&[&big], "what is it?")).await;
    assert_eq!(s, 200, "{v}");
    let stats = mock.stats().await;
    assert_eq!(stats["vision_calls"], 2, "a hit");
    assert!(sent_text(&stats).contains("[Image description]"));
    // Only the large image: the vision model sees its exact text.
    let other = large_image(2);
    let (s, _) = post(&gw, &image_request(&[&other], "q")).await;
    assert_eq!(s, 200);
    let stats = mock.stats().await;
    assert_eq!(stats["vision_calls"], 3);
    let url = &stats["last"]["vision"]["body"]["messages"][0]["content"][1]["image_url"]["url"];
    assert!(
        url.as_str() == Some(other.as_str()),
        "the vision model got the client's text"
    );
}

#[tokio::test]
async fn large_image_to_a_vision_model_arrives_intact() {
    let (mock, gw) = setup("fail", 5000);
    let big = large_image(3);
    let mut body = image_request(&[&big], "x");
    body["model"] = json!("hunyuan-vision");
    let (s, v) = post(&gw, &body).await;
    assert_eq!(s, 200, "{v}");
    let stats = mock.stats().await;
    assert_eq!(stats["vision_calls"], 1, "forwarded, not described");
    let got = &stats["last"]["chat"]["body"]["messages"][0]["content"];
    assert_eq!(got[1]["image_url"]["url"].as_str(), Some(big.as_str()));
    assert_eq!(got[0]["text"], "x");
}

#[tokio::test]
async fn large_image_that_is_not_valid_json_text_is_a_400() {
    let (mock, gw) = setup("fail", 5000);
    // A raw control character inside the URL: the JSON parser refuses it; so must the gateway,
    // whether the image goes to the cascade or to a vision model.
    let bad = large_image(4).replacen('A', "\u{1}", 1);
    for model in ["hunyuan-turbos-latest", "hunyuan-vision"] {
        let body = format!(
            r#"{{"model":"{model}","messages":[{{"role":"user","content":[{{"type":"text","text":"q"}},{{"type":"image_url","image_url":{{"url":"{bad}"}}}}]}}]}}"#
        );
        let (s, v) = post_raw(&gw, body.into_bytes()).await;
        assert_eq!(s, 400, "{model}: {v}");
        assert_eq!(v["error"]["type"], "invalid_request_error", "{v}");
        let m = v["error"]["message"].as_str().unwrap_or_default();
        assert!(m.contains("JSON"), "{m}");
    }
    let stats = mock.stats().await;
    assert_eq!(stats["vision_calls"], 0);
    assert_eq!(stats["requests"]["chat"], 0, "{}", stats["requests"]);
    // A pool that takes bodies as they come (no fixing): forwarded byte for byte, so the
    // text the parse skipped is checked on its own.
    let plain = Gateway::start(&demo_config(&format!("http://{}", mock.addr), "openai"));
    let body = format!(
        r#"{{"model":"hunyuan-vision","messages":[{{"role":"user","content":[{{"type":"image_url","image_url":{{"url":"{bad}"}}}}]}}]}}"#
    );
    let (s, v) = post_raw(&plain, body.into_bytes()).await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(mock.stats().await["requests"]["chat"], 0);
    let good = large_image(5);
    let body = format!(
        r#"{{"model":"hunyuan-vision","messages":[{{"role":"user","content":[{{"type":"image_url","image_url":{{"url":"{good}"}}}}]}}]}}"#
    );
    let (s, v) = post_raw(&plain, body.clone().into_bytes()).await;
    assert_eq!(s, 200, "{v}");
    let last = &mock.stats().await["last"]["chat"]["body"];
    assert_eq!(
        last["messages"][0]["content"][0]["image_url"]["url"].as_str(),
        Some(good.as_str())
    );
}

/// `POST /admin/cascade/warm`: images described ahead of time are hits for the first user
/// request that sends them with the same question (here none), and a second warm-up finds
/// them cached; the admin key is required and bad bodies are 400s.
#[tokio::test]
async fn warming_describes_ahead_and_the_first_request_is_a_hit() {
    let (mock, gw) = setup("fail", 5000);
    let warm = |body: Value| {
        let url = gw.admin_url("/admin/cascade/warm");
        async move {
            let r = reqwest::Client::new()
                .post(url)
                .json(&body)
                .send()
                .await
                .expect("send");
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let url_image = "https://example.com/warm.png";
    let (s, v) = warm(json!({"images": [PNG_A, url_image], "concurrency": 2})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (v["described"].as_u64(), v["cached"].as_u64()),
        (Some(2), Some(0)),
        "{v}"
    );
    assert_eq!(mock.stats().await["vision_calls"], 2);
    // A user's request with the image and no text: no vision call.
    let req = json!({"model": "hunyuan-turbos-latest", "messages": [{"role": "user",
        "content": [{"type": "image_url", "image_url": {"url": PNG_A}}]}]});
    let (s, v) = post(&gw, &req).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        mock.stats().await["vision_calls"],
        2,
        "the warmed image was described again"
    );
    let (s, v) = warm(json!({"images": [url_image]})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["cached"], 1, "{v}");
    let (s, _) = warm(json!({"images": []})).await;
    assert_eq!(s, 400);
    let text = reqwest::get(gw.admin_url("/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .unwrap_or_default();
    assert!(
        text.contains("llm_relay_cascade_warm_total{result=\"described\"} 2"),
        "{text}"
    );
    assert!(text.contains("llm_relay_cascade_warm_pending 0"), "{text}");
}
