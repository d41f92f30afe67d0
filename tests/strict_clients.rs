//! Answers that strict clients accept, through the real gateway and the mock: Hunyuan's
//! `finish_reason: "sensitive"` becomes `content_filter` (JSON and SSE, hunyuan profile only),
//! the fixing rules are counted, and a 2xx that is not the expected JSON is a retried failure
//! that ends as a 502 in OpenAI's shape.

mod common;

use common::gateway::{demo_config, Gateway};
use common::mock::Mock;
use serde_json::{json, Value};
use std::time::Duration;

fn setup() -> (Mock, Gateway) {
    let mock = Mock::start(false);
    let gw = Gateway::start(&demo_config(&format!("http://{}", mock.addr), "hunyuan"));
    (mock, gw)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

async fn post(gw: &Gateway, path: &str, knob: &str, body: &Value) -> reqwest::Response {
    client()
        .post(gw.url(path))
        .header("x-mock-body", knob)
        .json(body)
        .send()
        .await
        .expect("send")
}

fn chat(model: &str, stream: bool) -> Value {
    json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]})
}

/// The value of a metric series (`name{labels}`) in a scrape, 0 when absent.
async fn metric(gw: &Gateway, series: &str) -> u64 {
    let text = reqwest::get(gw.admin_url("/metrics"))
        .await
        .expect("scrape")
        .text()
        .await
        .expect("metrics text");
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

const SENSITIVE: &str = "llm_relay_finish_reason_rewrites_total{reason=\"sensitive\"}";

#[tokio::test]
async fn sensitive_becomes_content_filter_for_hunyuan_pools() {
    let (_mock, gw) = setup();
    let r = post(
        &gw,
        "/v1/chat/completions",
        "sensitive",
        &chat("hunyuan-turbos-latest", false),
    )
    .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["choices"][0]["finish_reason"], "content_filter", "{v}");

    let r = post(
        &gw,
        "/v1/chat/completions",
        "sensitive",
        &chat("hunyuan-turbos-latest", true),
    )
    .await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.expect("stream");
    assert!(
        text.contains("\"finish_reason\":\"content_filter\""),
        "{text}"
    );
    assert!(!text.contains("sensitive"), "{text}");
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    assert_eq!(metric(&gw, SENSITIVE).await, 2);

    // The Anthropic translation maps it on to `refusal`.
    let r = post(
        &gw,
        "/v1/messages",
        "sensitive",
        &json!({"model": "claude-x", "max_tokens": 50,
                "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["stop_reason"], "refusal", "{v}");

    // An openai-profile pool passes the upstream's answer as it is.
    let r = post(
        &gw,
        "/v1/chat/completions",
        "sensitive",
        &chat("gpt-3.5-turbo-instruct", false),
    )
    .await;
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["choices"][0]["finish_reason"], "sensitive", "{v}");
    assert_eq!(metric(&gw, SENSITIVE).await, 3);
}

#[tokio::test]
async fn fixing_rules_are_counted() {
    let (_mock, gw) = setup();
    let body = json!({"model": "hunyuan-turbos-latest", "presence_penalty": 1, "messages": [
        {"role": "user", "content": "a"},
        {"role": "system", "content": "be brief"},
        {"role": "assistant", "content": "b", "reasoning_content": "hmm"},
    ]});
    let r = post(&gw, "/v1/chat/completions", "", &body).await;
    assert_eq!(r.status(), 200);
    for rule in [
        "drop_reasoning_content",
        "merge_system",
        "end_with_user",
        "params",
    ] {
        let series = format!("llm_relay_fix_rewrites_total{{rule=\"{rule}\"}}");
        assert_eq!(metric(&gw, &series).await, 1, "{rule}");
    }
    let series = "llm_relay_fix_rewrites_total{rule=\"pair_tool_results\"}";
    assert_eq!(metric(&gw, series).await, 0);
    let stats: Value = reqwest::get(gw.admin_url("/admin/stats"))
        .await
        .expect("stats")
        .json()
        .await
        .expect("stats json");
    assert_eq!(stats["fix_rules"]["merge_system"], 1, "{stats}");
    assert_eq!(stats["fix_rules"]["trim_to_max"], 0, "{stats}");
}

#[tokio::test]
async fn a_2xx_that_is_not_the_expected_json_is_a_retried_502() {
    let (mock, gw) = setup();
    let cases = [
        (
            "html",
            "/v1/chat/completions",
            chat("hunyuan-turbos-latest", false),
            "chat",
        ),
        (
            "truncated",
            "/v1/chat/completions",
            chat("hunyuan-turbos-latest", false),
            "chat",
        ),
        (
            "empty",
            "/v1/embeddings",
            json!({"model": "text-embedding-3-small", "input": "x"}),
            "embeddings",
        ),
        (
            "html",
            "/v1/images/generations",
            json!({"model": "dall-e-3", "prompt": "a cat"}),
            "images",
        ),
    ];
    for (knob, path, body, kind) in cases {
        mock.reset().await;
        let r = post(&gw, path, knob, &body).await;
        assert_eq!(r.status(), 502, "{knob} {path}");
        let id = r
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let v: Value = r.json().await.expect("OpenAI-shaped error");
        let message = v["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("not the expected JSON"), "{v}");
        assert!(
            !message.contains("html"),
            "no upstream detail for the client: {v}"
        );
        // Nothing reached the client, so the try was repeated (retry.attempts: 2).
        let stats = mock.stats().await;
        assert_eq!(stats["requests"][kind], 2, "{knob} {path}: {stats}");
        let logged = common::gateway::wait_until(Duration::from_secs(5), || {
            let log = gw.log_text();
            let id = id.clone();
            async move { log.contains(&id) && log.contains("invalid answer") }
        })
        .await;
        assert!(logged, "the log names the request: {}", gw.log_text());
    }
    // Eight invalid answers in a row: the member's breaker took it out.
    let tripped = common::gateway::wait_until(Duration::from_secs(5), || async {
        gw.log_text().contains("out of rotation")
    })
    .await;
    assert!(tripped, "{}", gw.log_text());

    // Streams are not held or checked; good answers pass whole, with their length.
    let r = post(
        &gw,
        "/v1/chat/completions",
        "",
        &chat("hunyuan-turbos-latest", false),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(r.content_length().is_some());
    let v: Value = r.json().await.expect("json");
    assert!(v["choices"][0]["message"]["content"].is_string(), "{v}");
    let r = post(
        &gw,
        "/v1/chat/completions",
        "",
        &chat("hunyuan-turbos-latest", true),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(r
        .text()
        .await
        .expect("stream")
        .ends_with("data: [DONE]\n\n"));
}
