//! `/v1/images/generations` on a `hunyuan_native` pool: the gateway submits HY-Image's job,
//! polls it until done and answers OpenAI's shape; the lite model answers at once; a failed
//! job is an honest error; a client that leaves stops the polling; jobs show in metrics.

use crate::common::gateway::{wait_until, Gateway};
use crate::common::mock::Mock;
use base64::Engine;
use mock_upstream::{MOCK_SECRET_ID, MOCK_SECRET_KEY};
use serde_json::{json, Value};
use std::time::Duration;

pub fn start(mock: &Mock, total_ms: u64) -> Gateway {
    let yaml = format!(
        "pools:\n  native:\n    urls: [\"{}\"]\n    provider: {{type: hunyuan_native, secret_id_env: TC_ID, \
         secret_key_env: TC_KEY}}\n    health: {{check_seconds: 0}}\n    timeouts: {{total_ms: {total_ms}}}\n\
         routes:\n  - {{model: hunyuan-image, pool: native, kinds: [images]}}\n  \
         - {{model: hunyuan-image-lite, pool: native, kinds: [images]}}\n",
        mock.url("")
    );
    Gateway::start_with(
        &yaml,
        &[("TC_ID", MOCK_SECRET_ID), ("TC_KEY", MOCK_SECRET_KEY)],
    )
}

async fn generate(gw: &Gateway, body: Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(gw.url("/v1/images/generations"))
        .json(&body)
        .send()
        .await
        .expect("send");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn is_png(b64: &str) -> bool {
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .is_ok_and(|b| b.starts_with(b"\x89PNG"))
}

#[tokio::test]
async fn a_job_is_submitted_polled_and_answered_in_openais_shape() {
    let mock = Mock::start(true);
    let gw = start(&mock, 60_000);
    let (status, v) = generate(
        &gw,
        json!({"model": "hunyuan-image", "prompt": "a red fox", "n": 2, "size": "1024x1024"}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let data = v["data"].as_array().cloned().unwrap_or_default();
    assert_eq!(data.len(), 2, "{v}");
    let url = data[0]["url"].as_str().unwrap_or_default().to_string();
    assert!(url.starts_with("http://"), "{v}");
    assert_eq!(data[0]["revised_prompt"], "a red fox");
    // The URL is the provider's (here the mock's), and serves the image.
    let png = reqwest::get(&url)
        .await
        .expect("get")
        .bytes()
        .await
        .expect("bytes");
    assert!(png.starts_with(b"\x89PNG"));
    // b64_json: the gateway downloads the images for the client.
    let (status, v) = generate(
        &gw,
        json!({"model": "hunyuan-image", "prompt": "a fox", "response_format": "b64_json"}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert!(v["data"][0]["b64_json"].as_str().is_some_and(is_png), "{v}");
    let stats = mock.stats().await;
    assert!(
        stats["hunyuan_image"]["queries"].as_u64().unwrap_or(0) >= 6,
        "{stats}"
    );
}

#[tokio::test]
async fn the_lite_model_answers_at_once_as_url_or_b64() {
    let mock = Mock::start(true);
    let gw = start(&mock, 60_000);
    let (status, v) = generate(
        &gw,
        json!({"model": "hunyuan-image-lite", "prompt": "a cat", "response_format": "b64_json"}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert!(v["data"][0]["b64_json"].as_str().is_some_and(is_png), "{v}");
    let (status, v) = generate(
        &gw,
        json!({"model": "hunyuan-image-lite", "prompt": "a cat"}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert!(
        v["data"][0]["url"]
            .as_str()
            .is_some_and(|u| u.starts_with("http")),
        "{v}"
    );
    assert_eq!(mock.stats().await["hunyuan_image"]["submitted"], 0);
}

#[tokio::test]
async fn a_failed_job_and_a_job_that_never_finishes_are_errors() {
    let mock = Mock::start(true);
    let gw = start(&mock, 3_000);
    let (status, v) = generate(
        &gw,
        json!({"model": "hunyuan-image", "prompt": "[fail] a fox"}),
    )
    .await;
    assert!(
        (400..600).contains(&status) && status != 200,
        "{status} {v}"
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{v}"
    );
    let (status, v) = generate(
        &gw,
        json!({"model": "hunyuan-image", "prompt": "[never] a fox"}),
    )
    .await;
    assert_eq!(status, 504, "{v}");
    let (status, v) = generate(
        &gw,
        json!({"model": "hunyuan-image", "prompt": "x", "n": 9}),
    )
    .await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"]["param"], "n");
}

#[tokio::test]
async fn a_client_that_leaves_stops_the_polling() {
    let mock = Mock::start(true);
    let gw = start(&mock, 600_000);
    let url = gw.url("/v1/images/generations");
    let pending = tokio::spawn(async move {
        reqwest::Client::new()
            .post(url)
            .json(&json!({"model": "hunyuan-image", "prompt": "[never] a fox"}))
            .send()
            .await
    });
    let metrics = || async {
        reqwest::get(gw.admin_url("/metrics"))
            .await
            .ok()?
            .text()
            .await
            .ok()
    };
    let polling = wait_until(Duration::from_secs(20), || async {
        mock.stats().await["hunyuan_image"]["queries"]
            .as_u64()
            .unwrap_or(0)
            >= 2
            && metrics()
                .await
                .is_some_and(|m| m.contains("llm_relay_image_jobs{pool=\"native\"} 1"))
    })
    .await;
    assert!(polling, "the job was never polled");
    pending.abort();
    let _ = pending.await;
    let stopped = wait_until(Duration::from_secs(20), || async {
        metrics().await.is_some_and(|m| {
            m.contains("llm_relay_image_jobs{pool=\"native\"} 0")
                && m.contains(
                    "llm_relay_image_jobs_total{pool=\"native\",result=\"client_gone\"} 1",
                )
        })
    })
    .await;
    assert!(stopped, "{:?}", metrics().await);
    // The job's future was dropped with its client (`client_gone`, nothing in flight): no
    // loop is left to poll the provider.
}
