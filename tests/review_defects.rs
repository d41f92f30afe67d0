//! The defects a code review found, each through the real gateway and mock. Every test
//! here failed on 360d36c: the limiter's two defects are unit tests in `src/policy/limit.rs`,
//! and the observability ones live in tests/observe.rs and tests/ops.rs.

mod common;

use common::gateway::{demo_config, wait_until, Gateway};
use common::mock::Mock;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn cascade_yaml() -> &'static str {
    "cascade:\n  vision_model: hunyuan-vision\n  on_failure: fail\n  timeout_ms: 5000\n"
}

fn images(n: usize) -> Value {
    let mut parts = vec![json!({"type": "text", "text": "compare these"})];
    for i in 0..n {
        let url = format!("https://img.example/{i}.png");
        parts.push(json!({"type": "image_url", "image_url": {"url": url}}));
    }
    json!({"model": "hunyuan-turbos-latest", "messages": [{"role": "user", "content": parts}]})
}

async fn post(gw: &Gateway, path: &str, body: &Value) -> (u16, Value) {
    gw.post_bytes(path, serde_json::to_vec(body).expect("body"))
        .await
}

/// A client that gives up while a retryable status is held back: the gateway must not back
/// off and try the upstream again for nobody.
#[tokio::test]
async fn no_retry_after_the_client_left() {
    let mock = Mock::start(false);
    let up = format!("http://{}", mock.addr);
    let gw = Gateway::start(&format!(
        "pools:\n  p:\n    urls: [\"{up}/v1\"]\n    retry: {{attempts: 3, backoff_ms: 1500}}\nroutes:\n  - model: m\n    pool: p\n"
    ));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(400))
        .build()
        .expect("client");
    let r = client
        .post(gw.url("/v1/chat/completions"))
        .header("x-mock-status", "503")
        .json(&json!({"model": "m", "messages": [{"role": "user", "content": "x"}]}))
        .send()
        .await;
    assert!(r.is_err(), "the client gave up: {r:?}");
    // Long enough for two backoffs (1.5 s and 3 s ±50%) had the gateway kept going.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let stats = mock.stats().await;
    assert_eq!(stats["requests"]["chat"], 1, "one try, no retry: {stats}");
}

#[tokio::test]
async fn too_many_images_are_refused_before_any_vision_call() {
    let mock = Mock::start(true);
    let cfg = demo_config(&format!("http://{}", mock.addr), "hunyuan");
    let gw = Gateway::start(&format!("{}  max_images: 3\n{cfg}", cascade_yaml()));
    let (s, v) = post(&gw, "/v1/chat/completions", &images(4)).await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["error"]["param"], "messages");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("at most 3"));
    assert_eq!(mock.stats().await["vision_calls"], 0);
    let (s, _) = post(&gw, "/v1/chat/completions", &images(3)).await;
    assert_eq!(s, 200);
    assert_eq!(mock.stats().await["vision_calls"], 3);
}

#[tokio::test]
async fn the_vision_providers_error_text_is_not_shown_to_the_client() {
    let mock = Mock::start(true);
    let cfg = demo_config(&format!("http://{}", mock.addr), "hunyuan");
    let gw = Gateway::start(&format!("{}{cfg}", cascade_yaml()));
    mock.control(json!({"vision_fail_status": 500})).await;
    let (s, v) = post(&gw, "/v1/chat/completions", &images(1)).await;
    assert_eq!(s, 502, "{v}");
    let msg = v["error"]["message"].as_str().unwrap_or_default();
    assert!(msg.contains("HTTP 500"), "{msg}");
    assert!(!msg.contains("mock failure"), "provider text leaked: {msg}");
    // The log is read by another thread: wait for the line rather than race it.
    let logged = wait_until(Duration::from_secs(5), || async {
        gw.log_text().contains("mock failure 500")
    })
    .await;
    assert!(logged, "it is in the log");
}

/// `timeouts.total_ms` bounds the whole request, the cascade included.
#[tokio::test]
async fn the_total_time_limit_covers_the_cascade() {
    let mock = Mock::start(true);
    let up = format!("http://{}", mock.addr);
    let gw = Gateway::start(&format!(
        "{}pools:\n  main:\n    urls: [\"{up}/v1\"]\n    profile: hunyuan\n    timeouts: {{total_ms: 600}}\nroutes:\n  - model: hunyuan-turbos-latest\n    pool: main\n  - model: hunyuan-vision\n    pool: main\n    vision: true\n",
        cascade_yaml()
    ));
    mock.control(json!({"vision_delay_ms": 1000})).await;
    let t0 = Instant::now();
    let (s, v) = post(&gw, "/v1/chat/completions", &images(1)).await;
    assert_eq!(s, 504, "{v}");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("total time limit of 600 ms"));
    assert!(t0.elapsed() < Duration::from_secs(3));
    assert_eq!(
        mock.stats().await["requests"]["chat"],
        1,
        "only the vision call"
    );
}

/// A vision call slower than the whole request may take is cut at `timeouts.total_ms`, not
/// at the cascade's own (here two-minute) limit: the client gets its 504 long before the
/// vision model would have answered (before, it waited the two minutes; the client's own
/// 30 s limit would end this test with an error).
#[tokio::test]
async fn a_slow_vision_call_is_cut_at_the_total_limit() {
    let mock = Mock::start(true);
    let up = format!("http://{}", mock.addr);
    let gw = Gateway::start(&format!(
        "cascade:\n  vision_model: hunyuan-vision\n  on_failure: fail\n  timeout_ms: 120000\npools:\n  main:\n    urls: [\"{up}/v1\"]\n    profile: hunyuan\n    timeouts: {{total_ms: 600, first_byte_ms: 120000}}\nroutes:\n  - model: hunyuan-turbos-latest\n    pool: main\n  - model: hunyuan-vision\n    pool: main\n    vision: true\n"
    ));
    mock.control(json!({"vision_delay_ms": 120000})).await;
    let r = reqwest::Client::new()
        .post(gw.url("/v1/chat/completions"))
        .timeout(Duration::from_secs(30))
        .json(&images(1))
        .send()
        .await
        .expect("an answer before the client's own limit");
    assert_eq!(r.status().as_u16(), 504);
    let v: Value = r.json().await.expect("json");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("total time limit of 600 ms"),
        "{v}"
    );
    assert_eq!(
        mock.stats().await["requests"]["chat"],
        1,
        "only the vision call"
    );
}

/// A key in the query string stays at the gateway; other parameters go on.
#[tokio::test]
async fn credential_query_parameters_never_reach_the_provider() {
    let mock = Mock::start(false);
    let gw = Gateway::start(&demo_config(&format!("http://{}", mock.addr), "openai"));
    let canary = "sk-canary-query-7f3a";
    let (s, v) = post(
        &gw,
        &format!("/v1/chat/completions?api_key={canary}&api-version=2024-06-01&KEY={canary}"),
        &json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let stats = mock.stats().await;
    let uri = stats["last"]["chat"]["uri"]
        .as_str()
        .expect("the mock records the URI");
    assert!(!uri.contains(canary), "{uri}");
    assert!(
        uri.ends_with("/chat/completions?api-version=2024-06-01"),
        "{uri}"
    );
    assert!(!gw.log_text().contains(canary));
}
