//! Several gateway instances sharing a real three-node Redis Cluster (`redis.cluster`): the
//! request limit is exact across instances and counted in the cluster, and the cascade cache
//! makes one vision call for an image asked on every instance at once.

mod common;

use common::gateway::Gateway;
use common::mock::Mock;
use common::redis_cluster::RedisCluster;
use llm_relay::policy::auth::hash_key;
use serde_json::{json, Value};

const KEY: &str = "sk-shared-test";

/// A config for one of several instances on the cluster: one pool on the mock, a key with
/// `limits`.
fn config(mock: &Mock, cluster: &RedisCluster, key_limits: &str) -> String {
    format!(
        r#"redis:
  cluster: {nodes}
  instances: 3
  lease_ttl_ms: 2000
  timeout_ms: 200
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
"#,
        nodes = cluster.yaml_list(),
        mock = mock.addr,
        hash = hex::encode(hash_key(KEY)),
    )
}

fn chat() -> Value {
    json!({"model": "m", "max_tokens": 10,
           "messages": [{"role": "user", "content": "hello"}]})
}

fn three(yaml: &str) -> Vec<Gateway> {
    (0..3).map(|_| Gateway::start(yaml)).collect()
}

async fn metrics(gw: &Gateway) -> String {
    reqwest::get(format!("http://{}/metrics", gw.admin))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// No instance fell back to its per-instance state: every call reached the cluster.
async fn assert_no_fallback(gws: &[Gateway]) {
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

/// 300 concurrent requests round-robin over three instances at `rpm: 60`: the script on the
/// cluster admits exactly the limit (the bound is limit + 1% + 1), and the count is in the
/// cluster.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rpm_holds_across_three_instances_on_a_cluster() {
    let mock = Mock::start(false);
    let cluster = RedisCluster::start();
    let gws = three(&config(&mock, &cluster, "rpm: 60"));
    let client = reqwest::Client::new();
    let mut tasks = Vec::new();
    for i in 0..300 {
        let client = client.clone();
        let url = gws[i % 3].url("/v1/chat/completions");
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(KEY)
                .json(&chat())
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        }));
    }
    let mut ok = 0;
    let mut limited = 0;
    for t in tasks {
        match t.await.unwrap_or(0) {
            200 => ok += 1,
            429 => limited += 1,
            s => panic!("unexpected status {s}"),
        }
    }
    assert!((60..=61).contains(&ok), "admitted {ok} of 300 at rpm 60");
    assert_eq!(ok + limited, 300);
    assert_eq!(mock.stats().await["requests"]["chat"], ok);
    // Counted in the cluster, not by the per-instance fallback (which would also give 3 × 20):
    // the window's key is on one node, and `redis-cli -c` reads it through any node.
    let keys = cluster.scan("*k:team:rm:*");
    assert!(!keys.is_empty(), "the rpm window is in the cluster");
    let counted: u64 = keys
        .iter()
        .map(|k| cluster.cli(&["GET", k]).parse::<u64>().unwrap_or(0))
        .sum();
    assert_eq!(
        counted, ok,
        "the cluster counted every admitted request: {keys:?}"
    );
    for k in &keys {
        assert!(k.starts_with("{llm-relay:limits}:"), "one hash tag: {k}");
    }
    assert_no_fallback(&gws).await;
}

fn cascade_config(mock: &Mock, cluster: &RedisCluster) -> String {
    format!(
        r#"redis:
  cluster: {nodes}
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
        nodes = cluster.yaml_list(),
        mock = mock.addr,
    )
}

fn with_image(url: &str) -> Value {
    json!({"model": "hunyuan-turbos-latest", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "what is it?"},
        {"type": "image_url", "image_url": {"url": url}}]}]})
}

/// Twenty concurrent requests for the same new image over three instances on the cluster:
/// one vision call. An image described on A is a hit on B.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_cascade_cache_is_shared_on_a_cluster() {
    let mock = Mock::start(true);
    let cluster = RedisCluster::start();
    let gws = three(&cascade_config(&mock, &cluster));
    // A slow vision model: the twenty requests overlap.
    mock.control(json!({"vision_delay_ms": 400})).await;
    let client = reqwest::Client::new();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let (client, url) = (client.clone(), gws[i % 3].url("/v1/chat/completions"));
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
    // Another image: described on A, then asked on B.
    mock.control(json!({"vision_delay_ms": 0})).await;
    let body = with_image("https://img.example/other.png");
    let a = client
        .post(gws[0].url("/v1/chat/completions"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(a.status(), 200);
    // The value is written before A answers.
    let b = client
        .post(gws[1].url("/v1/chat/completions"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(b.status(), 200);
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
    // Both descriptions are in the cluster, each under its image's own hash tag.
    let values = cluster.scan("{llm-relay:img:*}:v");
    assert_eq!(values.len(), 2, "{values:?}");
    assert_no_fallback(&gws).await;
}
