//! `pools.<name>.max_concurrency`: a provider's concurrency limit (Hunyuan's 5 per account).
//! A try beyond it waits in a bounded queue; a full queue or the wait's deadline is a 429 with
//! `Retry-After`, and a slot comes back when its answer ends (or its client goes away).

use crate::common::gateway::{wait_until, Gateway};
use crate::common::mock::Mock;
use serde_json::json;
use std::time::Duration;

fn config(mock: &Mock, wait_ms: u64) -> String {
    format!(
        "pools:\n  hy:\n    urls: [\"{}/v1\"]\n    provider: {{type: hunyuan}}\n    \
         max_concurrency: 1\n    queue: {{max: 1, wait_ms: {wait_ms}}}\n\
         routes:\n  - {{model: hunyuan-turbos-latest, pool: hy}}\n",
        mock.url("")
    )
}

fn chat(stream: bool) -> serde_json::Value {
    json!({"model": "hunyuan-turbos-latest", "stream": stream,
           "messages": [{"role": "user", "content": "hi"}]})
}

/// A streamed answer that holds its slot until the client drops it (events far apart).
async fn hold_slot(gw: &Gateway) -> reqwest::Response {
    let r = reqwest::Client::new()
        .post(gw.url("/v1/chat/completions"))
        .header("x-mock-events", "3")
        .header("x-mock-interval-ms", "60000")
        .json(&chat(true))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    r
}

async fn slots(gw: &Gateway, state: &str) -> Option<f64> {
    let text = reqwest::get(gw.admin_url("/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let series = format!("llm_relay_pool_slots{{pool=\"hy\",state=\"{state}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(series.as_str()))
        .and_then(|v| v.trim().parse().ok())
}

async fn post(gw: &Gateway) -> reqwest::Response {
    reqwest::Client::new()
        .post(gw.url("/v1/chat/completions"))
        .json(&chat(false))
        .send()
        .await
        .expect("send")
}

#[tokio::test]
async fn a_queued_try_gets_the_slot_and_a_full_queue_is_a_429() {
    let mock = Mock::start(true);
    let gw = Gateway::start(&config(&mock, 60_000));
    let holder = hold_slot(&gw).await;
    // The second waits for the slot ...
    let gw2 = &gw;
    let queued = tokio::spawn({
        let url = gw2.url("/v1/chat/completions");
        async move {
            reqwest::Client::new()
                .post(url)
                .json(&chat(false))
                .send()
                .await
                .map(|r| r.status().as_u16())
        }
    });
    let waiting = wait_until(Duration::from_secs(20), || async {
        slots(&gw, "waiting").await == Some(1.0)
    })
    .await;
    assert!(waiting, "the second request never queued");
    // ... the third finds the queue full: refused at once, in OpenAI's shape.
    let third = post(&gw).await;
    assert_eq!(third.status(), 429);
    let retry_after = third
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    assert_eq!(retry_after.as_deref(), Some("30"));
    let body: serde_json::Value = third.json().await.expect("json");
    assert_eq!(body["error"]["type"], "rate_limit_error", "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap_or("")
        .contains("max_concurrency 1"));
    // The holder's client goes away: its slot passes to the queued request.
    drop(holder);
    let status = queued.await.expect("join").expect("send");
    assert_eq!(status, 200);
    let metrics = reqwest::get(gw.admin_url("/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .unwrap_or_default();
    assert!(
        metrics.contains("llm_relay_pool_saturated_total{pool=\"hy\",reason=\"queue_full\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_try_that_waits_past_the_deadline_is_a_429() {
    let mock = Mock::start(true);
    let gw = Gateway::start(&config(&mock, 300));
    let holder = hold_slot(&gw).await;
    let refused = post(&gw).await;
    assert_eq!(refused.status(), 429);
    assert_eq!(
        refused
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    drop(holder);
    // Once the holder is gone the slot is free again.
    let ok = wait_until(Duration::from_secs(20), || async {
        post(&gw).await.status() == 200
    })
    .await;
    assert!(ok, "the slot never came back");
}

/// Two instances on one redis-server share the pool's slots: while one instance holds the
/// only slot, the other's try waits and is refused at its deadline.
#[tokio::test]
async fn the_slots_are_shared_between_instances_through_redis() {
    let redis = crate::common::redis::Redis::start();
    let mock = Mock::start(true);
    let yaml = format!(
        "redis:\n  url: \"{}\"\n  instances: 2\n  lease_ttl_ms: 2000\n{}",
        redis.url(),
        config(&mock, 300)
    );
    let a = Gateway::start(&yaml);
    let b = Gateway::start(&yaml);
    let holder = hold_slot(&a).await;
    let refused = post(&b).await;
    assert_eq!(refused.status(), 429, "B took a slot A holds");
    drop(holder);
    let ok = wait_until(Duration::from_secs(20), || async {
        post(&b).await.status() == 200
    })
    .await;
    assert!(ok, "A's slot never came back to the fleet");
}
