//! Prompt caching kept across the gateway, through the real binary: the mock reports cache
//! reads and writes in its chat usage (`x-mock-cached-tokens`, `x-mock-cache-write-tokens`:
//! `prompt_tokens_details.cached_tokens` / `cache_creation_tokens`), and every client protocol
//! sees them in its own fields (chat, Anthropic Messages, Responses; JSON and streams), while
//! `/metrics`, `/admin/stats`, the access log and the spend (`price.cached_input_per_1m`,
//! `cache_write_per_1m`) count them.

mod common;

use common::gateway::{wait_until, Gateway};
use common::mock::Mock;
use llm_relay::policy::auth::hash_key;
use serde_json::{json, Value};
use std::time::Duration;

const KEY: &str = "sk-cache-team-0001";
const ADMIN: &str = "sk-cache-admin-0001";
const READ: u64 = 64;
const WRITE: u64 = 16;
/// US dollars per million tokens, so micro-dollars per token.
const INPUT: f64 = 2.0;
const OUTPUT: f64 = 8.0;
const CACHED: f64 = 0.5;
const CACHE_WRITE: f64 = 2.5;

fn config(mock: &Mock) -> String {
    format!(
        r#"auth:
  keys:
    - {{id: team, sha256: "{key}"}}
  admin_key_sha256: "{admin}"
pools:
  main:
    urls: ["http://{addr}/v1"]
    profile: openai
    retry: {{attempts: 1}}
routes:
  - model: m
    pool: main
    price: {{input_per_1m: {INPUT}, output_per_1m: {OUTPUT}, cached_input_per_1m: {CACHED}, cache_write_per_1m: {CACHE_WRITE}}}
"#,
        key = hex::encode(hash_key(KEY)),
        admin = hex::encode(hash_key(ADMIN)),
        addr = mock.addr,
    )
}

/// What one answer costs by the route's price, from (prompt, completion) with the knobs'
/// cache counts: uncached input, cache reads and writes and output each at their price.
fn cost(prompt: u64, completion: u64) -> u64 {
    let uncached = prompt - READ - WRITE;
    (uncached as f64 * INPUT
        + READ as f64 * CACHED
        + WRITE as f64 * CACHE_WRITE
        + completion as f64 * OUTPUT)
        .ceil() as u64
}

/// POSTs `body` to `path` with the key and the cache knobs; the answer's text.
async fn post(gw: &Gateway, path: &str, body: &Value) -> String {
    let r = reqwest::Client::new()
        .post(gw.url(path))
        .bearer_auth(KEY)
        .header("x-mock-cached-tokens", READ.to_string())
        .header("x-mock-cache-write-tokens", WRITE.to_string())
        .json(body)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200, "{path}");
    r.text().await.expect("body")
}

/// The `data:` payloads of an SSE body that are JSON.
fn data(sse: &str) -> Vec<Value> {
    sse.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str(d).ok())
        .collect()
}

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

/// Chat: the usage as the upstream wrote it; returns (prompt, completion).
async fn chat(gw: &Gateway, stream: bool) -> (u64, u64) {
    let mut body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    if stream {
        body["stream"] = json!(true);
        body["stream_options"] = json!({"include_usage": true});
    }
    let text = post(gw, "/v1/chat/completions", &body).await;
    let usage = if stream {
        data(&text)
            .into_iter()
            .find_map(|c| c.get("usage").filter(|u| u.is_object()).cloned())
            .expect("a usage chunk")
    } else {
        serde_json::from_str::<Value>(&text).expect("json")["usage"].clone()
    };
    assert_eq!(
        usage["prompt_tokens_details"]["cached_tokens"], READ,
        "{usage}"
    );
    assert_eq!(
        usage["prompt_tokens_details"]["cache_creation_tokens"], WRITE,
        "{usage}"
    );
    (n(&usage["prompt_tokens"]), n(&usage["completion_tokens"]))
}

/// Anthropic Messages: cache reads and writes out of `input_tokens`, in their own fields.
async fn messages(gw: &Gateway, stream: bool) -> (u64, u64) {
    let body = json!({"model": "m", "max_tokens": 50, "stream": stream,
        "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        "messages": [{"role": "user", "content": "hi"}]});
    let text = post(gw, "/v1/messages", &body).await;
    let usage = if stream {
        data(&text)
            .into_iter()
            .find(|e| e["type"] == "message_delta")
            .expect("message_delta")["usage"]
            .clone()
    } else {
        serde_json::from_str::<Value>(&text).expect("json")["usage"].clone()
    };
    assert_eq!(usage["cache_read_input_tokens"], READ, "{usage}");
    assert_eq!(usage["cache_creation_input_tokens"], WRITE, "{usage}");
    let input = n(&usage["input_tokens"]);
    assert!(input >= 1, "{usage}");
    (input + READ + WRITE, n(&usage["output_tokens"]))
}

/// Responses: `input_tokens` is the whole prompt, its cache reads in `input_tokens_details`.
async fn responses(gw: &Gateway, stream: bool) -> (u64, u64) {
    let body = json!({"model": "m", "input": "hi", "store": false, "stream": stream});
    let text = post(gw, "/v1/responses", &body).await;
    let response = if stream {
        data(&text)
            .into_iter()
            .find(|e| e["type"] == "response.completed")
            .expect("response.completed")["response"]
            .clone()
    } else {
        serde_json::from_str::<Value>(&text).expect("json")
    };
    let usage = &response["usage"];
    assert_eq!(
        usage["input_tokens_details"]["cached_tokens"], READ,
        "{usage}"
    );
    (n(&usage["input_tokens"]), n(&usage["output_tokens"]))
}

/// The value of the series `name{labels}` (labels in the exposition's order).
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
}

#[tokio::test]
async fn cached_tokens_reach_every_protocol_and_every_count() {
    let mock = Mock::start(false);
    let gw = Gateway::start(&config(&mock));
    let mut answers = Vec::new();
    for stream in [false, true] {
        answers.push(chat(&gw, stream).await);
        answers.push(messages(&gw, stream).await);
        // The breakpoint of the Messages request does not reach the chat upstream.
        let sent = mock.stats().await["last"]["chat"]["body"].clone();
        assert_eq!(sent["messages"][0]["content"], "Be brief.", "{sent}");
        assert!(!sent.to_string().contains("cache_control"), "{sent}");
        answers.push(responses(&gw, stream).await);
    }
    let requests = answers.len() as u64;
    let expected: u64 = answers.iter().map(|&(p, c)| cost(p, c)).sum();
    let tokens_in: u64 = answers.iter().map(|a| a.0).sum();

    // Each request is recorded once its response has ended.
    let url = gw.admin_url("/metrics");
    let url = &url;
    let counted = wait_until(Duration::from_secs(10), || async move {
        let text = reqwest::get(url).await.unwrap().text().await.unwrap();
        let read = metric(
            &text,
            "llm_relay_cached_tokens_total{model=\"m\",type=\"read\"}",
        );
        read == Some((READ * requests) as f64)
    })
    .await;
    assert!(counted, "cached tokens not counted:\n{}", gw.log_text());
    let text = reqwest::get(url).await.unwrap().text().await.unwrap();
    assert_eq!(
        metric(
            &text,
            "llm_relay_cached_tokens_total{model=\"m\",type=\"write\"}"
        ),
        Some((WRITE * requests) as f64)
    );
    assert_eq!(
        metric(
            &text,
            "llm_relay_tokens_total{direction=\"in\",model=\"m\"}"
        ),
        Some(tokens_in as f64),
        "{text}"
    );
    let spent = metric(&text, "llm_relay_spend_usd_total{key=\"team\",model=\"m\"}").unwrap();
    assert!(
        (spent - expected as f64 / 1e6).abs() < 1e-9,
        "{spent} vs {expected} µ$"
    );

    let stats: Value = reqwest::Client::new()
        .get(gw.admin_url("/admin/stats"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for counters in [&stats["kinds"]["chat"], &stats["keys"]["team"]] {
        assert_eq!(counters["cached_tokens"], READ * requests, "{stats}");
        assert_eq!(counters["cache_write_tokens"], WRITE * requests, "{stats}");
        assert_eq!(counters["tokens_in"], tokens_in, "{stats}");
    }
    let spend = stats["keys"]["team"]["spend_usd"].as_f64().unwrap();
    assert!((spend - expected as f64 / 1e6).abs() < 1e-9, "{stats}");

    let log = &gw;
    let logged = wait_until(Duration::from_secs(5), || async move {
        log.log_text()
            .lines()
            .filter(|l| l.starts_with('{'))
            .filter(|l| {
                l.contains(&format!("\"cached_tokens\":{READ},"))
                    && l.contains(&format!("\"cache_write_tokens\":{WRITE},"))
            })
            .count()
            == requests as usize
    })
    .await;
    assert!(logged, "access lines:\n{}", gw.log_text());
}
