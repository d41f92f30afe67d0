//! Several gateway instances sharing one Redis (a node or a cluster): their config and the
//! scenarios that single-node and cluster tests both run.
#![allow(dead_code)]

use super::gateway::Gateway;
use super::mock::Mock;
use llm_relay::policy::auth::hash_key;
use serde_json::{json, Value};

/// The client key of these tests.
pub const KEY: &str = "sk-shared-test";

/// One instance's config: `redis` is the body of the `redis:` section's connection
/// (`url: "redis://…"` or `cluster: [...]`), a pool on the mock, a key with `key_limits`.
pub fn config(mock: &Mock, redis: &str, key_limits: &str, extra: &str) -> String {
    format!(
        r#"redis:
  {redis}
  instances: 3
  lease_ttl_ms: 2000
  timeout_ms: 1000
pools:
  main:
    urls: ["http://{mock}/v1"]
    timeouts: {{first_byte_ms: 10000, idle_ms: 10000}}
routes:
  - model: m
    pool: main
auth:
  keys:
    - {{id: team, sha256: "{hash}", {key_limits}}}
{extra}"#,
        mock = mock.addr,
        hash = hex::encode(hash_key(KEY)),
    )
}

/// A cascade config (hunyuan pool, a vision route) sharing `redis`.
pub fn cascade_config(mock: &Mock, redis: &str) -> String {
    format!(
        r#"redis:
  {redis}
  instances: 3
pools:
  main:
    urls: ["http://{mock}/v1"]
    profile: hunyuan
routes:
  - model: hunyuan-turbos-latest
    pool: main
  - model: hunyuan-vision
    pool: main
    vision: true
cascade:
  vision_model: hunyuan-vision
  timeout_ms: 5000
"#,
        mock = mock.addr,
    )
}

pub fn chat(stream: bool) -> Value {
    json!({"model": "m", "stream": stream, "max_tokens": 10,
           "messages": [{"role": "user", "content": "hello"}]})
}

pub fn with_image(url: &str) -> Value {
    json!({"model": "hunyuan-turbos-latest", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "what is it?"},
        {"type": "image_url", "image_url": {"url": url}}]}]})
}

/// Three instances, each ready (its first Redis probe answered): a burst sent before that
/// would measure the connection set-up, not the shared limits.
pub fn three(yaml: &str) -> Vec<Gateway> {
    let gws: Vec<Gateway> = (0..3).map(|_| Gateway::start(yaml)).collect();
    for gw in &gws {
        gw.wait_ready();
    }
    gws
}

pub async fn metrics(gw: &Gateway) -> String {
    reqwest::get(format!("http://{}/metrics", gw.admin))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// No instance fell back to its per-instance state: every call reached Redis.
pub async fn assert_no_fallback(gws: &[Gateway]) {
    for gw in gws {
        let m = metrics(gw).await;
        assert!(
            !m.contains("llm_relay_redis_fallbacks_total{"),
            "no fallback on {}: {m}\n{}",
            gw.addr,
            gw.log_text()
        );
    }
}

/// 300 concurrent requests round-robin over the instances at `rpm: 60`: the shared script
/// admits exactly the limit (the bound is limit + 1% + 1). Returns the number admitted.
pub async fn rpm_burst(mock: &Mock, gws: &[Gateway]) -> u64 {
    let client = reqwest::Client::new();
    let mut tasks = Vec::new();
    for i in 0..300 {
        let client = client.clone();
        let url = gws[i % gws.len()].url("/v1/chat/completions");
        tasks.push(tokio::spawn(async move {
            let r = client
                .post(url)
                .bearer_auth(KEY)
                .json(&chat(false))
                .send()
                .await;
            r.map(|r| r.status().as_u16()).unwrap_or(0)
        }));
    }
    let (mut ok, mut limited) = (0u64, 0u64);
    for t in tasks {
        match t.await.unwrap_or(0) {
            200 => ok += 1,
            429 => limited += 1,
            s => panic!("unexpected status {s}"),
        }
    }
    if !(60..=61).contains(&ok) {
        assert_no_fallback(gws).await;
        panic!("admitted {ok} of 300 at rpm 60 with no fallback");
    }
    assert_eq!(ok + limited, 300);
    assert_eq!(mock.stats().await["requests"]["chat"], ok);
    ok
}

/// Twenty concurrent requests for the same new image over the instances: one vision call.
/// An image described on A is then a hit on B.
pub async fn cascade_shared(mock: &Mock, gws: &[Gateway]) {
    // A slow vision model: the twenty requests overlap.
    mock.control(json!({"vision_delay_ms": 400})).await;
    let client = reqwest::Client::new();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let (client, url) = (
            client.clone(),
            gws[i % gws.len()].url("/v1/chat/completions"),
        );
        tasks.push(tokio::spawn(async move {
            let body = with_image("https://img.example/shared.png");
            client
                .post(url)
                .json(&body)
                .send()
                .await
                .map(|r| r.status().as_u16())
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), 200);
    }
    assert_eq!(
        mock.stats().await["vision_calls"],
        1,
        "one vision call for 20 requests"
    );
    mock.control(json!({"vision_delay_ms": 0})).await;
    let body = with_image("https://img.example/other.png");
    for gw in &gws[..2] {
        let r = client
            .post(gw.url("/v1/chat/completions"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    assert_eq!(
        mock.stats().await["vision_calls"],
        2,
        "B made no vision call"
    );
    let m = metrics(&gws[1]).await;
    assert!(
        m.contains(r#"llm_relay_cascade_l2_total{result="hit"}"#),
        "{m}"
    );
}
