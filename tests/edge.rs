//! Edge controls through the real gateway: keys (Bearer and x-api-key, wrong, expired, model
//! not allowed), per-key rate and concurrency limits across worker threads, validation per
//! kind, statistics, and no secret in any log line.

mod common;

use common::gateway::{demo_config, Gateway};
use common::mock::Mock;
use common::raw::Conn;
use llm_relay::policy::auth::hash_key;
use serde_json::{json, Value};
use std::time::Duration;

const KEY_A: &str = "sk-test-team-a";
const KEY_B: &str = "sk-test-team-b";
const KEY_OLD: &str = "sk-test-expired";
const KEY_ADMIN: &str = "sk-test-admin";

fn auth_yaml(rpm_a: u32, conc_a: u32) -> String {
    format!(
        r#"auth:
  admin_key_sha256: "{admin}"
  keys:
    - id: team-a
      sha256: "{a}"
      models: ["hunyuan-*", "text-embedding-3-small", "dall-e-3", "tts-1", "whisper-1"]
      rpm: {rpm_a}
      max_concurrency: {conc_a}
    - id: team-b
      sha256: "{b}"
    - id: old
      sha256: "{old}"
      expires: "2001-01-01T00:00:00Z"
"#,
        admin = hex::encode(hash_key(KEY_ADMIN)),
        a = hex::encode(hash_key(KEY_A)),
        b = hex::encode(hash_key(KEY_B)),
        old = hex::encode(hash_key(KEY_OLD)),
    )
}

fn setup(rpm_a: u32, conc_a: u32) -> (Mock, Gateway) {
    let mock = Mock::start(false);
    let cfg = demo_config(&format!("http://{}", mock.addr), "hunyuan");
    let gw = Gateway::start(&format!("{}{}", auth_yaml(rpm_a, conc_a), cfg));
    (mock, gw)
}

fn chat(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hi"}]})
}

async fn post(
    gw: &Gateway,
    key: Option<(&str, &str)>,
    path: &str,
    body: &Value,
) -> reqwest::Response {
    let mut r = reqwest::Client::new().post(gw.url(path)).json(body);
    if let Some((h, v)) = key {
        r = r.header(h, v);
    }
    r.send().await.expect("send")
}

fn bearer(k: &str) -> Option<(&'static str, String)> {
    Some(("authorization", format!("Bearer {k}")))
}

async fn status_of(
    gw: &Gateway,
    key: Option<(&'static str, String)>,
    body: &Value,
) -> (u16, Value) {
    let r = post(
        gw,
        key.as_ref().map(|(h, v)| (*h, v.as_str())),
        "/v1/chat/completions",
        body,
    )
    .await;
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn keys_admit_and_refuse() {
    let (_mock, gw) = setup(1000, 100);
    let ok = chat("hunyuan-turbos-latest");
    assert_eq!(status_of(&gw, bearer(KEY_A), &ok).await.0, 200);
    assert_eq!(
        status_of(&gw, Some(("x-api-key", KEY_B.into())), &ok)
            .await
            .0,
        200
    );
    let (s, v) = status_of(&gw, None, &ok).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (401, Some("invalid_api_key")),
        "{v}"
    );
    let (s, v) = status_of(&gw, bearer("sk-wrong"), &ok).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (401, Some("invalid_api_key")),
        "{v}"
    );
    let (s, v) = status_of(&gw, bearer(KEY_OLD), &ok).await;
    assert_eq!(s, 401);
    assert!(
        v["error"]["message"].as_str().unwrap().contains("expired"),
        "{v}"
    );
    let (s, v) = status_of(&gw, bearer(KEY_A), &chat("gpt-4o-mini")).await;
    assert_eq!(s, 403, "team-a may not use gpt-4o-mini: {v}");
    assert_eq!(v["error"]["type"], "permission_error");
    assert_eq!(
        status_of(&gw, bearer(KEY_B), &chat("gpt-4o-mini")).await.0,
        200,
        "team-b may"
    );
    let models: Value = reqwest::Client::new()
        .get(gw.url("/v1/models"))
        .bearer_auth(KEY_A)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert!(
        ids.contains(&"hunyuan-turbos-latest") && !ids.contains(&"gpt-4o-mini"),
        "{ids:?}"
    );
    let r = reqwest::get(gw.url("/v1/models")).await.unwrap();
    assert_eq!(r.status(), 401);
    // One model: the key's view too (a model it may not use is not found, not confirmed).
    let one = |key: &'static str, id: &'static str| {
        let url = gw.url(&format!("/v1/models/{id}"));
        async move {
            let r = reqwest::Client::new()
                .get(url)
                .bearer_auth(key)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (s, v) = one(KEY_A, "hunyuan-turbos-latest").await;
    assert_eq!(
        (s, v["id"].as_str()),
        (200, Some("hunyuan-turbos-latest")),
        "{v}"
    );
    let (s, v) = one(KEY_A, "gpt-4o-mini").await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (404, Some("model_not_found")),
        "{v}"
    );
    assert_eq!(one(KEY_B, "gpt-4o-mini").await.0, 200);
    // The Anthropic SDK's request on the same path: Anthropic's error shape.
    let r = reqwest::Client::new()
        .get(gw.url("/v1/models/gpt-4o-mini"))
        .header("x-api-key", KEY_A)
        .header("anthropic-version", "2023-06-01")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        (v["type"].as_str(), v["error"]["type"].as_str()),
        (Some("error"), Some("not_found_error")),
        "{v}"
    );
}

#[tokio::test]
async fn rpm_burst_is_cut_at_the_limit_other_key_unaffected() {
    let (_mock, gw) = setup(10, 100);
    let gw = std::sync::Arc::new(gw);
    // 30 requests at once over separate connections: both worker threads take part.
    let mut tasks = Vec::new();
    for _ in 0..30 {
        let gw = gw.clone();
        tasks.push(tokio::spawn(async move {
            let r = post(
                &gw,
                Some(("authorization", &format!("Bearer {KEY_A}"))),
                "/v1/chat/completions",
                &chat("hunyuan-turbos-latest"),
            )
            .await;
            let h = r.headers().clone();
            (r.status().as_u16(), h)
        }));
    }
    let mut ok = 0;
    for t in tasks {
        let (s, h) = t.await.unwrap();
        match s {
            200 => {
                ok += 1;
                assert_eq!(h["x-ratelimit-limit-requests"], "10");
                assert!(h.contains_key("x-ratelimit-remaining-requests"));
                assert!(h.contains_key("x-ratelimit-reset-requests"));
            }
            429 => {
                let ra: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
                assert!((1..=60).contains(&ra), "{ra}");
                assert_eq!(h["x-ratelimit-remaining-requests"], "0");
            }
            other => panic!("unexpected status {other}"),
        }
    }
    // Documented error: at most one extra admission per worker thread (2 here).
    assert!((10..=12).contains(&ok), "admitted {ok} of 30 with rpm 10");
    assert_eq!(
        status_of(&gw, bearer(KEY_B), &chat("hunyuan-turbos-latest"))
            .await
            .0,
        200
    );
    // The connection stays usable after a 429.
    let addr = gw.addr.clone();
    tokio::task::spawn_blocking(move || {
        let mut c = Conn::open(&addr);
        let body = serde_json::to_vec(&chat("hunyuan-turbos-latest")).unwrap();
        let auth = format!("Bearer {KEY_A}");
        let r = c.request(
            "POST",
            "/v1/chat/completions",
            &[("Authorization", auth.as_str())],
            &body,
        );
        assert_eq!(r.status, 429);
        assert_eq!(r.json()["error"]["code"], "rate_limit_exceeded");
        let other = format!("Bearer {KEY_B}");
        let r = c.request(
            "POST",
            "/v1/chat/completions",
            &[("Authorization", other.as_str())],
            &body,
        );
        assert_eq!(r.status, 200);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn concurrency_limit_holds_for_streams() {
    let (_mock, gw) = setup(1000, 2);
    let gw = std::sync::Arc::new(gw);
    let mut body = chat("hunyuan-turbos-latest");
    body["stream"] = json!(true);
    let mut streams = Vec::new();
    for _ in 0..2 {
        let r = reqwest::Client::new()
            .post(gw.url("/v1/chat/completions"))
            .bearer_auth(KEY_A)
            .header("x-mock-events", "5")
            .header("x-mock-interval-ms", "200")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        streams.push(r);
    }
    let (s, v) = status_of(&gw, bearer(KEY_A), &chat("hunyuan-turbos-latest")).await;
    assert_eq!(s, 429, "third concurrent request: {v}");
    assert_eq!(
        status_of(&gw, bearer(KEY_B), &chat("hunyuan-turbos-latest"))
            .await
            .0,
        200
    );
    for r in streams {
        assert!(r.text().await.unwrap().contains("[DONE]"));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        status_of(&gw, bearer(KEY_A), &chat("hunyuan-turbos-latest"))
            .await
            .0,
        200,
        "slots released"
    );
}

#[tokio::test]
async fn validation_names_the_field() {
    let (mock, gw) = setup(1000, 100);
    let k = Some(("authorization", format!("Bearer {KEY_B}")));
    let cases = [
        (
            "/v1/chat/completions",
            json!({"model": "hunyuan-turbos-latest"}),
            "messages",
        ),
        (
            "/v1/chat/completions",
            json!({"model": "hunyuan-turbos-latest", "messages": [{"role": "wizard", "content": "x"}]}),
            "messages[0].role",
        ),
        (
            "/v1/embeddings",
            json!({"model": "text-embedding-3-small"}),
            "input",
        ),
        (
            "/v1/embeddings",
            json!({"model": "text-embedding-3-small", "input": 3}),
            "input",
        ),
        (
            "/v1/images/generations",
            json!({"model": "dall-e-3"}),
            "prompt",
        ),
        (
            "/v1/audio/speech",
            json!({"model": "tts-1", "input": "hi"}),
            "voice",
        ),
        (
            "/v1/audio/speech",
            json!({"model": "tts-1", "voice": "alloy"}),
            "input",
        ),
    ];
    for (path, body, param) in cases {
        let r = post(&gw, k.as_ref().map(|(h, v)| (*h, v.as_str())), path, &body).await;
        assert_eq!(r.status(), 400, "{path} {body}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["param"], param, "{v}");
        assert!(v["error"]["message"].as_str().unwrap().len() > 10);
    }
    let form = reqwest::multipart::Form::new().text("model", "whisper-1");
    let r = reqwest::Client::new()
        .post(gw.url("/v1/audio/transcriptions"))
        .bearer_auth(KEY_B)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["param"], "file");
    assert_eq!(
        mock.stats().await["requests"]["chat"],
        0,
        "nothing invalid reached the upstream"
    );
}

#[tokio::test]
async fn stats_per_kind_and_key_with_admin_key() {
    let (_mock, gw) = setup(1000, 100);
    for _ in 0..3 {
        assert_eq!(
            status_of(&gw, bearer(KEY_A), &chat("hunyuan-turbos-latest"))
                .await
                .0,
            200
        );
    }
    // team-a may not use models outside its globs: refused before routing.
    assert_eq!(
        status_of(&gw, bearer(KEY_A), &chat("no-such-model"))
            .await
            .0,
        403
    );
    let r = post(
        &gw,
        Some(("authorization", &format!("Bearer {KEY_B}"))),
        "/v1/embeddings",
        &json!({"model": "text-embedding-3-small", "input": "x"}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let c = reqwest::Client::new();
    assert_eq!(
        c.get(gw.admin_url("/admin/stats"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let v: Value = c
        .get(gw.admin_url("/admin/stats"))
        .bearer_auth(KEY_ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let chat = &v["kinds"]["chat"];
    assert_eq!(
        (
            chat["total"].as_u64(),
            chat["succeeded"].as_u64(),
            chat["failed"].as_u64()
        ),
        (Some(4), Some(3), Some(1)),
        "{v}"
    );
    assert!((chat["success_rate"].as_f64().unwrap() - 0.75).abs() < 1e-9);
    assert!(chat["bytes_in"].as_u64().unwrap() > 0 && chat["bytes_out"].as_u64().unwrap() > 0);
    assert_eq!(chat["streams"], true);
    assert_eq!(v["kinds"]["embeddings"]["total"], 1);
    assert_eq!(v["keys"]["team-a"]["total"], 4);
    assert_eq!(v["keys"]["team-b"]["total"], 1);
    let r = c
        .post(gw.admin_url("/admin/stats/reset"))
        .bearer_auth(KEY_ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = c
        .get(gw.admin_url("/admin/stats"))
        .bearer_auth(KEY_ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["kinds"]["chat"]["total"], 0);
}

#[tokio::test]
async fn no_secret_in_any_log_line() {
    const CANARY: &str = "sk-CANARY-7f3a9c";
    const PROVIDER_CANARY: &str = "sk-PROVIDER-CANARY-51d2";
    let mock = Mock::start(false);
    let cfg = demo_config(&format!("http://{}", mock.addr), "hunyuan");
    let gw = Gateway::start_with(
        &format!("{}{}", auth_yaml(1000, 100), cfg),
        &[
            ("TEST_PROVIDER_KEY", PROVIDER_CANARY),
            (
                "RUST_LOG",
                "debug,pingora_core=info,pingora_proxy=info,pingora=info",
            ),
        ],
    );
    let c = reqwest::Client::new();
    let path = format!("/v1/chat/completions?api_key={CANARY}");
    let mut body = chat("hunyuan-turbos-latest");
    body["user"] = json!(CANARY);
    // Refused (unknown key = the canary), succeeded, upstream failure, broken stream, 404.
    let _ = c
        .post(gw.url(&path))
        .bearer_auth(CANARY)
        .json(&body)
        .send()
        .await
        .unwrap()
        .text()
        .await;
    let _ = c
        .post(gw.url(&path))
        .bearer_auth(KEY_B)
        .json(&body)
        .send()
        .await
        .unwrap()
        .text()
        .await;
    let _ = c
        .post(gw.url(&path))
        .bearer_auth(KEY_B)
        .header("x-mock-status", "500")
        .json(&body)
        .send()
        .await
        .unwrap()
        .text()
        .await;
    let mut sbody = body.clone();
    sbody["stream"] = json!(true);
    let _ = c
        .post(gw.url(&path))
        .bearer_auth(KEY_B)
        .header("x-mock-cut-after", "1")
        .json(&sbody)
        .send()
        .await
        .unwrap()
        .text()
        .await;
    let r = c
        .post(gw.url(&path))
        .bearer_auth(KEY_B)
        .header("x-mock-delay-ms", "3000")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(!r.text().await.unwrap().contains(PROVIDER_CANARY));
    let _ = c
        .post(gw.url("/v1/nope"))
        .bearer_auth(CANARY)
        .send()
        .await
        .unwrap()
        .text()
        .await;
    let _ = c
        .post(gw.url(&path))
        .header("x-api-key", CANARY)
        .body("{broken")
        .send()
        .await
        .unwrap()
        .text()
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let log = gw.log_text();
    assert!(log.contains("llm-relay listening"), "the log was captured");
    assert!(!log.contains(CANARY), "client canary leaked:\n{log}");
    assert!(
        !log.contains(PROVIDER_CANARY),
        "provider canary leaked:\n{log}"
    );
    // The provider did get its key; the client's never went upstream.
    let stats = mock.stats().await.to_string();
    assert!(stats.contains(PROVIDER_CANARY));
    assert!(!stats.contains(&format!("Bearer {CANARY}")));
}
