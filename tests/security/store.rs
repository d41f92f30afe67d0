//! Security: the stored Responses (issue 18, items 1 and 6; see docs/security.md).
//!
//! Item 1: a stored response belongs to the key that stored it. Every path that names a
//! stored id (`GET`/`DELETE /v1/responses/{id}`, `.../input_items`, `.../cancel`,
//! `POST /v1/responses/input_tokens` and `previous_response_id`) answers another key exactly
//! as it answers an unknown id, and nothing of the conversation reaches the upstream; in
//! process and through Redis.
//!
//! Item 6: the store is bounded in bytes and follow-ups share their history instead of
//! copying it (RSS of the real gateway), one entry is capped (a clear error on the follow-up),
//! and Redis holds one key per id.

use crate::common::gateway::{scratch, wait_until, Gateway};
use crate::common::mock::Mock;
use crate::common::redis::Redis;
use llm_relay::policy::auth::hash_key;
use serde_json::{json, Value};
use std::time::Duration;

const KEY_A: &str = "sk-store-test-tenant-a";
const KEY_B: &str = "sk-store-test-tenant-b";
/// A well-formed id nobody stored.
const UNKNOWN: &str = "resp_0123456789abcdef01234567";

/// A pool on the mock, a route for model `m`, the keys `a` and `b`, and `extra` (a `redis:` or
/// `responses:` section).
fn config(mock: &Mock, extra: &str) -> String {
    format!(
        r#"pools:
  main:
    urls: ["http://{mock}/v1"]
    timeouts: {{first_byte_ms: 20000, idle_ms: 20000}}
routes:
  - model: m
    pool: main
auth:
  keys:
    - {{id: a, sha256: "{a}"}}
    - {{id: b, sha256: "{b}"}}
{extra}"#,
        mock = mock.addr,
        a = hex::encode(hash_key(KEY_A)),
        b = hex::encode(hash_key(KEY_B)),
    )
}

/// A status and the body's text.
async fn send(
    gw: &Gateway,
    method: reqwest::Method,
    path: &str,
    key: Option<&str>,
    body: Option<&Value>,
) -> (u16, String) {
    let mut r = reqwest::Client::new().request(method, gw.url(path));
    if let Some(k) = key {
        r = r.bearer_auth(k);
    }
    if let Some(b) = body {
        r = r.json(b);
    }
    let r = r.send().await.expect("send");
    let status = r.status().as_u16();
    (status, r.text().await.expect("body"))
}

/// Stores a response for `key` (on `gw`) and returns its id.
async fn store(gw: &Gateway, key: Option<&str>, input: Value) -> String {
    let (status, body) = send(
        gw,
        reqwest::Method::POST,
        "/v1/responses",
        key,
        Some(&json!({"model": "m", "input": input})),
    )
    .await;
    assert_eq!(status, 200, "{}", &body[..body.len().min(500)]);
    let v: Value = serde_json::from_str(&body).expect("JSON");
    v["id"].as_str().expect("id").to_string()
}

/// Every request that names a stored id, as (method, path, body).
fn every_path(id: &str) -> Vec<(reqwest::Method, String, Option<Value>)> {
    use reqwest::Method;
    vec![
        (Method::GET, format!("/v1/responses/{id}"), None),
        (Method::GET, format!("/v1/responses/{id}/input_items"), None),
        (Method::POST, format!("/v1/responses/{id}/cancel"), None),
        (
            Method::POST,
            "/v1/responses/input_tokens".into(),
            Some(json!({"model": "m", "input": "more", "previous_response_id": id})),
        ),
        (
            Method::POST,
            "/v1/responses".into(),
            Some(json!({"model": "m", "input": "which fruit?", "previous_response_id": id})),
        ),
        (Method::DELETE, format!("/v1/responses/{id}"), None),
    ]
}

async fn chat_requests(mock: &Mock) -> u64 {
    mock.stats().await["requests"]["chat"]
        .as_u64()
        .unwrap_or_default()
}

/// Key `b` gets, on every path, the answer an unknown id gets (the same status and the same
/// body, the id aside), and the upstream receives nothing; key `a` still reads its response.
async fn assert_private(gw: &Gateway, mock: &Mock, id: &str) {
    let before = chat_requests(mock).await;
    for ((method, path, body), (_, unknown_path, unknown_body)) in
        every_path(id).into_iter().zip(every_path(UNKNOWN))
    {
        let theirs = send(gw, method.clone(), &path, Some(KEY_B), body.as_ref()).await;
        let unknown = send(
            gw,
            method,
            &unknown_path,
            Some(KEY_B),
            unknown_body.as_ref(),
        )
        .await;
        assert_eq!(unknown.0, 404, "{unknown_path}: {}", unknown.1);
        assert_eq!(
            theirs,
            (unknown.0, unknown.1.replace(UNKNOWN, id)),
            "{path}: another key's id answers as an unknown id"
        );
        assert!(!theirs.1.contains("kiwi"), "{path}: {}", theirs.1);
    }
    assert_eq!(
        chat_requests(mock).await,
        before,
        "nothing reached the upstream"
    );
    // The owner is unaffected (b's DELETE deleted nothing) and continues its conversation.
    let (status, body) = send(
        gw,
        reqwest::Method::GET,
        &format!("/v1/responses/{id}/input_items"),
        Some(KEY_A),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("kiwi"), "{body}");
    let (status, body) = send(
        gw,
        reqwest::Method::POST,
        "/v1/responses",
        Some(KEY_A),
        Some(&json!({"model": "m", "input": "which fruit?", "previous_response_id": id})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let sent = mock.stats().await["last"]["chat"]["body"]["messages"].to_string();
    assert!(sent.contains("kiwi"), "the owner's history went up: {sent}");
    // The owner deletes it; then it is gone for the owner too.
    let path = format!("/v1/responses/{id}");
    let (status, body) = send(gw, reqwest::Method::DELETE, &path, Some(KEY_A), None).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = send(gw, reqwest::Method::GET, &path, Some(KEY_A), None).await;
    assert_eq!(status, 404);
}

/// Item 1, in process: key `b` cannot read, count, cancel, delete or continue key `a`'s
/// stored response.
#[tokio::test]
async fn another_key_gets_the_unknown_id_answer_on_every_stored_response_path() {
    let mock = Mock::start(false);
    let gw = Gateway::start(&config(&mock, ""));
    let id = store(&gw, Some(KEY_A), json!("remember the word kiwi")).await;
    assert_private(&gw, &mock, &id).await;
}

/// Item 1, through Redis: instance 2 serves `a`'s response (stored via instance 1) to `a`,
/// and to `b` as an unknown id.
#[tokio::test]
async fn another_key_cannot_read_a_stored_response_through_redis() {
    let mock = Mock::start(false);
    let redis = Redis::start();
    let yaml = config(
        &mock,
        &format!("redis:\n  url: \"{}\"\n  timeout_ms: 1000\n", redis.url()),
    );
    let (one, two) = (Gateway::start(&yaml), Gateway::start(&yaml));
    one.wait_ready();
    two.wait_ready();
    let id = store(&one, Some(KEY_A), json!("remember the word kiwi")).await;
    // The put is asynchronous: wait until instance 2 serves it to its owner.
    let path = format!("/v1/responses/{id}");
    let shared = wait_until(Duration::from_secs(10), || async {
        send(&two, reqwest::Method::GET, &path, Some(KEY_A), None)
            .await
            .0
            == 200
    })
    .await;
    assert!(shared, "instance 2 serves a's response from Redis");
    assert_private(&two, &mock, &id).await;
}

/// Auth off (no keys: the single-tenant case): keyless requests share the stored responses.
#[tokio::test]
async fn without_keys_stored_responses_are_shared_by_keyless_requests() {
    let mock = Mock::start(false);
    let gw = Gateway::start(&format!(
        "pools:\n  main:\n    urls: [\"http://{}/v1\"]\nroutes:\n  - model: m\n    pool: main\n",
        mock.addr
    ));
    let id = store(&gw, None, json!("remember the word kiwi")).await;
    let (status, body) = send(
        &gw,
        reqwest::Method::GET,
        &format!("/v1/responses/{id}/input_items"),
        None,
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("kiwi"));
}

/// The gateway's resident set (VmRSS) in bytes.
fn rss(gw: &Gateway) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", gw.pid())).expect("status");
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmRSS");
    kb * 1024
}

/// A follow-up of `id` (a few bytes of new input); its own id.
async fn follow_up(gw: &Gateway, id: &str, n: usize) -> String {
    let body = json!({"model": "m", "input": format!("and {n}?"), "previous_response_id": id});
    let (status, text) = send(
        gw,
        reqwest::Method::POST,
        "/v1/responses",
        None,
        Some(&body),
    )
    .await;
    assert_eq!(status, 200, "{}", &text[..text.len().min(500)]);
    let v: Value = serde_json::from_str(&text).expect("JSON");
    v["id"].as_str().expect("id").to_string()
}

/// Sixty user messages of 100,000 characters: a 6 MB conversation.
fn six_megabytes() -> Value {
    let items: Vec<Value> = (0..60)
        .map(|i| {
            let text = format!("{i:02} {}", "x".repeat(99_997));
            json!({"role": "user", "content": text})
        })
        .collect();
    Value::Array(items)
}

/// Item 6: 30 follow-ups of a few bytes on a 6 MB stored conversation share its history. With
/// every follow-up deep-copying the history, the gateway's RSS grew by 158 MB; shared, it
/// grows by the new items and the allocator's noise. 40 MB leaves room for that noise (a
/// request's transient 6 MB chat body, fragmentation) while catching one copy per follow-up.
#[tokio::test]
async fn follow_ups_share_the_stored_history() {
    let mock = Mock::start(false);
    let gw = Gateway::start(&format!(
        "pools:\n  main:\n    urls: [\"http://{}/v1\"]\n    timeouts: {{first_byte_ms: 20000, idle_ms: 20000}}\nroutes:\n  - model: m\n    pool: main\n",
        mock.addr
    ));
    let mut id = store(&gw, None, six_megabytes()).await;
    // One follow-up first: a request's transient buffers (the 6 MB chat body going up) are
    // then part of the baseline, not of the growth.
    id = follow_up(&gw, &id, 0).await;
    let before = rss(&gw);
    for n in 1..=30 {
        id = follow_up(&gw, &id, n).await;
    }
    let grown = rss(&gw).saturating_sub(before);
    let sent = mock.stats().await["last"]["chat"]["body"]["messages"].clone();
    assert_eq!(
        sent.as_array().map(Vec::len),
        Some(60 + 2 * 31),
        "the last follow-up carried the whole conversation"
    );
    eprintln!("RSS growth over 30 follow-ups: {} KB", grown / 1024);
    assert!(
        grown < 40 << 20,
        "30 follow-ups grew the gateway's RSS by {} MB",
        grown >> 20
    );
}

/// `responses:` small enough for a test: 4 MiB in all, 1 MiB for one entry.
const SMALL_STORE: &str = "responses:\n  max_bytes: 4194304\n  max_entry_bytes: 1048576\n";

/// The follow-up of a response over the entry cap: a 400 naming the cap (to its owner).
async fn assert_not_stored(gw: &Gateway, id: &str) {
    let follow = json!({"model": "m", "input": "and then?", "previous_response_id": id});
    let (status, body) = send(
        gw,
        reqwest::Method::POST,
        "/v1/responses",
        Some(KEY_A),
        Some(&follow),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let e: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(e["error"]["code"], "response_not_stored", "{body}");
    assert_eq!(e["error"]["param"], "previous_response_id");
    let message = e["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("responses.max_entry_bytes"), "{message}");
    let (status, _) = send(
        gw,
        reqwest::Method::GET,
        &format!("/v1/responses/{id}"),
        Some(KEY_A),
        None,
    )
    .await;
    assert_eq!(status, 400, "GET says why too");
}

/// Item 6: a conversation over `responses.max_entry_bytes` is answered but not stored; its
/// follow-up is a clear 400 (not a silent 404, not a request upstream); another key still
/// gets the unknown-id 404.
#[tokio::test]
async fn a_response_over_the_entry_cap_is_answered_and_its_follow_up_says_why() {
    let mock = Mock::start(false);
    let gw = Gateway::start(&config(&mock, SMALL_STORE));
    let id = store(&gw, Some(KEY_A), json!("y".repeat(1_500_000))).await;
    let before = chat_requests(&mock).await;
    assert_not_stored(&gw, &id).await;
    let (status, body) = send(
        &gw,
        reqwest::Method::GET,
        &format!("/v1/responses/{id}"),
        Some(KEY_B),
        None,
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(chat_requests(&mock).await, before, "nothing went upstream");
    // Under the cap, the same gateway stores.
    let small = store(&gw, Some(KEY_A), json!("remember the word kiwi")).await;
    assert_eq!(follow_up_with(&gw, KEY_A, &small).await, 200);
}

async fn follow_up_with(gw: &Gateway, key: &str, id: &str) -> u16 {
    let body = json!({"model": "m", "input": "which fruit?", "previous_response_id": id});
    send(
        gw,
        reqwest::Method::POST,
        "/v1/responses",
        Some(key),
        Some(&body),
    )
    .await
    .0
}

/// Item 6, Redis: one key per response id (the id in the hash tag: its own cluster slot,
/// not every response in one), the owner in it, and the entry cap applied there too.
#[tokio::test]
async fn redis_keeps_one_key_per_response_id() {
    let mock = Mock::start(false);
    let redis = Redis::start();
    let yaml = config(
        &mock,
        &format!(
            "redis:\n  url: \"{}\"\n  timeout_ms: 1000\n{SMALL_STORE}",
            redis.url()
        ),
    );
    let (one, two) = (Gateway::start(&yaml), Gateway::start(&yaml));
    one.wait_ready();
    two.wait_ready();
    let small = store(&one, Some(KEY_A), json!("remember the word kiwi")).await;
    let big = store(&one, Some(KEY_A), json!("y".repeat(1_500_000))).await;
    let (k_small, k_big) = (
        format!("{{llm-relay:resp:{small}}}:v"),
        format!("{{llm-relay:resp:{big}}}:v"),
    );
    let written = wait_until(Duration::from_secs(10), || async {
        redis.cli(&["EXISTS", &k_small, &k_big]) == "2"
    })
    .await;
    assert!(
        written,
        "one key per id: {}",
        redis.cli(&["--scan", "--pattern", "*resp*"])
    );
    assert_eq!(redis.cli(&["HGET", &k_small, "owner"]), "a");
    assert!(redis.cli(&["HGET", &k_small, "body"]).contains("kiwi"));
    assert_eq!(redis.cli(&["HEXISTS", &k_big, "body"]), "0", "not stored");
    // Instance 2 continues the small one and explains the big one.
    assert_eq!(follow_up_with(&two, KEY_A, &small).await, 200);
    assert_not_stored(&two, &big).await;
}

/// Item 6, config: `responses.max_bytes` / `max_entry_bytes` are read, and an entry cap over
/// half the store is refused by `-t`, naming the key.
#[test]
fn the_store_byte_caps_are_checked_by_dash_t() {
    let dir = scratch("store-t");
    let cfg = dir.join("relay.yaml");
    let base = "pools:\n  p:\n    urls: [\"http://127.0.0.1:1/v1\"]\n";
    let check = |yaml: &str| {
        std::fs::write(&cfg, yaml).expect("write");
        std::process::Command::new(env!("CARGO_BIN_EXE_llm-relay"))
            .args(["-t", "--config"])
            .arg(&cfg)
            .output()
            .expect("run llm-relay -t")
    };
    let ok = check(&format!("{base}{SMALL_STORE}"));
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let over = check(&format!(
        "{base}responses:\n  max_bytes: 1000000\n  max_entry_bytes: 600000\n"
    ));
    assert!(!over.status.success());
    let err = String::from_utf8_lossy(&over.stderr);
    assert!(err.contains("responses.max_entry_bytes"), "{err}");
}

/// Item 6, Redis: a large stored conversation (18 MB) is written and read within a timeout
/// that grows with its size, so it is not taken for a dead Redis (which would send every
/// instance's shared limits to their fallback).
#[tokio::test]
async fn a_large_conversation_does_not_time_redis_out() {
    let mock = Mock::start(false);
    let redis = Redis::start();
    let yaml = config(
        &mock,
        &format!("redis:\n  url: \"{}\"\n  timeout_ms: 100\n", redis.url()),
    );
    let (one, two) = (Gateway::start(&yaml), Gateway::start(&yaml));
    one.wait_ready();
    two.wait_ready();
    let items: Vec<Value> = (0..180)
        .map(|i| json!({"role": "user", "content": format!("{i:03} {}", "z".repeat(99_996))}))
        .collect();
    let id = store(&one, Some(KEY_A), Value::Array(items)).await;
    let key = format!("{{llm-relay:resp:{id}}}:v");
    let written = wait_until(Duration::from_secs(20), || async {
        redis.cli(&["HEXISTS", &key, "body"]) == "1"
    })
    .await;
    assert!(written, "the entry reached Redis:\n{}", one.log_text());
    // Instance 2 reads the 18 MB body from Redis.
    assert_eq!(follow_up_with(&two, KEY_A, &id).await, 200);
    for gw in [&one, &two] {
        let m = crate::common::instances::metrics(gw).await;
        assert!(
            m.contains("llm_relay_redis_errors_total 0"),
            "no Redis call failed or timed out on {}: {}",
            gw.addr,
            m.lines()
                .filter(|l| l.contains("redis"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

/// Redis: a follow-up sent the moment a large response ends (Codex continues at once) finds
/// it on the same instance although its write to Redis (megabytes) has not finished.
#[tokio::test]
async fn a_follow_up_at_once_finds_a_response_still_being_written_to_redis() {
    let mock = Mock::start(false);
    let redis = Redis::start();
    let gw = Gateway::start(&config(
        &mock,
        &format!("redis:\n  url: \"{}\"\n  timeout_ms: 1000\n", redis.url()),
    ));
    gw.wait_ready();
    let mut id = store(&gw, Some(KEY_A), six_megabytes()).await;
    for _ in 0..3 {
        let body = json!({"model": "m", "input": "and then?", "previous_response_id": id});
        let (status, text) = send(
            &gw,
            reqwest::Method::POST,
            "/v1/responses",
            Some(KEY_A),
            Some(&body),
        )
        .await;
        assert_eq!(status, 200, "{}", &text[..text.len().min(300)]);
        let v: Value = serde_json::from_str(&text).expect("JSON");
        id = v["id"].as_str().expect("id").to_string();
    }
}
