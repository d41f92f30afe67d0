//! Keys and teams managed in the shared Redis (issue 22, `auth.store: {backend: redis}`) by
//! two gateway instances on one real redis-server: created on A and usable on B within a
//! second, revoked on A and refused on B within a second, a team's limits and the day's spend
//! shared by both, and Redis dying under them (the keys last loaded keep working; admin writes
//! answer 503).

mod common;

use common::gateway::{first_seen, wait_until, Gateway};
use common::managed;
use common::mock::Mock;
use common::redis::Redis;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const ADMIN: &str = "sk-keys-redis-admin";

fn config(mock: &Mock, redis: &Redis) -> String {
    let head = format!(
        "redis:\n  url: \"{}\"\n  instances: 2\n  timeout_ms: 1000\n",
        redis.url()
    );
    let auth = managed::auth(ADMIN, None, Some("{backend: redis}"));
    let price = "{input_per_1m: 2.0, output_per_1m: 8.0}";
    managed::config(mock, &head, &auth, Some(price))
}

async fn admin(gw: &Gateway, method: &str, path: &str, body: Value) -> (u16, Value) {
    managed::admin(gw, ADMIN, method, path, body).await
}

async fn chat(gw: &Gateway, key: &str) -> (u16, Value) {
    managed::chat(gw, key, "m").await
}

/// Whether `gw` answered `key` with `want` within a second of `since` (the acknowledgement of
/// the change), measured at the start of the probe that saw it.
async fn within_a_second(gw: &Gateway, key: &str, want: u16, since: Instant) -> bool {
    let seen = first_seen(since, Duration::from_secs(10), || async move {
        chat(gw, key).await.0 == want
    })
    .await;
    assert!(seen.is_some(), "never answered {want}");
    seen.is_some_and(|d| d < Duration::from_secs(1))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_redis_share_keys_teams_and_spend() {
    let mock = Mock::start(false);
    let mut redis = Redis::start();
    let a = Gateway::start(&config(&mock, &redis));
    let b = Gateway::start(&config(&mock, &redis));
    a.wait_ready();
    b.wait_ready();
    // Created on A, usable on B within a second.
    let (status, _) = admin(&a, "POST", "/admin/teams", json!({"id": "t", "rpm": 5})).await;
    assert_eq!(status, 201);
    let (status, v) = admin(&a, "POST", "/admin/keys", json!({"id": "k", "team": "t"})).await;
    let acked = Instant::now();
    assert_eq!(status, 201, "{v}");
    let secret = v["secret"].as_str().unwrap().to_string();
    assert!(within_a_second(&b, &secret, 200, acked).await);
    // The team's rpm is one limit over both instances (one request is spent above).
    for gw in [&a, &b, &a, &b] {
        assert_eq!(chat(gw, &secret).await.0, 200);
    }
    let (status, e) = chat(&b, &secret).await;
    assert_eq!(status, 429, "{e}");
    assert!(e.to_string().contains("team `t`"), "{e}");
    // Either instance lists the team's use of its shared limit (one read for the listing).
    let (_, teams) = admin(&b, "GET", "/admin/teams", Value::Null).await;
    assert_eq!(teams["teams"][0]["usage"]["rpm"]["used"], 5, "{teams}");
    assert_eq!(teams["teams"][0]["usage"]["rpm"]["limit"], 5, "{teams}");
    // Spend: both instances add to one day's totals, per key and per team.
    admin(&a, "POST", "/admin/teams", json!({"id": "payers"})).await;
    let (_, v) = admin(
        &a,
        "POST",
        "/admin/keys",
        json!({"id": "p", "team": "payers"}),
    )
    .await;
    let payer = v["secret"].as_str().unwrap().to_string();
    assert!(within_a_second(&b, &payer, 200, Instant::now()).await);
    let mut expected = 0u64;
    for gw in [&a, &b, &a] {
        let (status, v) = chat(gw, &payer).await;
        assert_eq!(status, 200);
        expected += v["usage"]["prompt_tokens"].as_u64().unwrap() * 2
            + v["usage"]["completion_tokens"].as_u64().unwrap() * 8;
    }
    // (The request that found the key on B is one more.)
    let (a_ref, want) = (&a, expected as f64 / 1e6);
    assert!(
        wait_until(Duration::from_secs(5), || async move {
            let (_, s) = admin(a_ref, "GET", "/admin/spend?days=1", Value::Null).await;
            let day = &s["days"][0];
            let (key, team) = (day["keys"]["p"].as_f64(), day["teams"]["payers"].as_f64());
            matches!((key, team), (Some(k), Some(t)) if k == t && k > want)
        })
        .await
    );
    // The audit is shared: B lists what A did.
    let (_, audit) = admin(&b, "GET", "/admin/audit", Value::Null).await;
    assert_eq!(audit["entries"].as_array().unwrap().len(), 4, "{audit}");
    // Eight updates of one key at once, half on each instance: none is lost.
    let fields = [
        json!({"rpm": 11}),
        json!({"rpd": 12}),
        json!({"tpm": 13000}),
        json!({"tpd": 14000}),
        json!({"max_concurrency": 15}),
        json!({"budget_usd": 16.5}),
        json!({"expires": "2099-01-01T00:00:00Z"}),
        json!({"metadata": {"a": 1}}),
    ];
    let updates = fields.iter().enumerate().map(|(i, f)| {
        let gw = if i % 2 == 0 { &a } else { &b };
        admin(gw, "PATCH", "/admin/keys/p", f.clone())
    });
    for (status, v) in futures::future::join_all(updates).await {
        assert_eq!(status, 200, "{v}");
    }
    let (_, p) = admin(&b, "GET", "/admin/keys/p", Value::Null).await;
    for f in &fields {
        let (name, want) = f.as_object().unwrap().iter().next().unwrap();
        assert_eq!(&p[name], want, "{name}: {p}");
    }
    // Revoked on A, refused on B within a second.
    let (status, _) = admin(&a, "DELETE", "/admin/keys/k", Value::Null).await;
    let acked = Instant::now();
    assert_eq!(status, 200);
    assert_eq!(chat(&a, &secret).await.0, 401);
    assert!(within_a_second(&b, &secret, 401, acked).await);
    // Redis dies: the keys last loaded keep working; a change cannot be made (503).
    redis.stop();
    assert_eq!(chat(&b, &payer).await.0, 200);
    let (status, e) = admin(&a, "POST", "/admin/keys", json!({"id": "late"})).await;
    assert_eq!(status, 503, "{e}");
    let msg = e["error"]["message"].as_str().unwrap_or("");
    assert!(msg.contains("key store is unavailable"), "{msg}");
    assert_eq!(
        chat(&a, &secret).await.0,
        401,
        "a revoked key stays revoked"
    );
    // An instance started while Redis is away has no keys yet: not ready, and a key it cannot
    // judge is told to retry (503), not that it is wrong (401).
    let c = Gateway::start(&config(&mock, &redis));
    assert_eq!(c.admin_status("/health/ready"), 503);
    let (status, e) = chat(&c, &payer).await;
    assert_eq!(status, 503, "{e}");
    // Redis back (empty: this test's Redis saves nothing): C loads, becomes ready, and now
    // knows the key is not there.
    redis.restart();
    c.wait_ready();
    assert_eq!(chat(&c, &payer).await.0, 401);
}
