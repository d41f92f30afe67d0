//! Keys managed at run time (issue 22) through the real binary: the lifecycle over the admin
//! API (create, use, list, update, rotate with grace, revoke, audit), an acknowledged key
//! surviving `kill -9`, concurrent updates all applied, a revoked key's stream finishing while
//! its next request is refused, and two gateways sharing the store file.

mod common;

use common::gateway::{first_seen, scratch, wait_until, Gateway};
use common::managed;
use common::mock::Mock;
use llm_relay::policy::auth::hash_key;
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

const ADMIN: &str = "sk-keys-admin-0001";
const CONFIG_KEY: &str = "sk-keys-config-0001";

fn config(mock: &Mock, store: &Path) -> String {
    let store = format!("{{path: \"{}\"}}", store.display());
    let auth = managed::auth(ADMIN, Some((CONFIG_KEY, "")), Some(&store));
    managed::config(mock, "", &auth, None)
}

async fn admin(gw: &Gateway, method: &str, path: &str, body: Value) -> (u16, Value) {
    managed::admin(gw, ADMIN, method, path, body).await
}

async fn chat(gw: &Gateway, key: &str, model: &str) -> u16 {
    managed::chat(gw, key, model).await.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_over_the_admin_api() {
    let mock = Mock::start(false);
    let store = scratch("keys").join("keys.db");
    let gw = Gateway::start(&config(&mock, &store));
    // Without the admin key: refused.
    let r = reqwest::Client::new()
        .get(gw.admin_url("/admin/keys"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // A web page cannot make changes through the operator's browser (a cross-site POST
    // needs no preflight), even with the key in hand.
    let r = reqwest::Client::new()
        .post(gw.admin_url("/admin/teams"))
        .bearer_auth(ADMIN)
        .header("origin", "https://evil.example")
        .header("content-type", "text/plain")
        .body(r#"{"id": "evil"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // A key's team must exist.
    let (status, e) = admin(
        &gw,
        "POST",
        "/admin/keys",
        json!({"id": "alice", "team": "research"}),
    )
    .await;
    assert_eq!(
        (status, e["error"]["param"].as_str()),
        (400, Some("team")),
        "{e}"
    );
    let (status, _) = admin(&gw, "POST", "/admin/teams", json!({"id": "research"})).await;
    assert_eq!(status, 201);
    let (status, created) = admin(
        &gw,
        "POST",
        "/admin/keys",
        json!({"id": "alice", "team": "research", "models": ["m"], "rpm": 100,
               "metadata": {"owner": "alice@example.com"}}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let secret = created["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("sk-relay-"));
    assert!(created.get("sha256").is_none(), "{created}");
    assert_eq!(chat(&gw, &secret, "m").await, 200);
    assert_eq!(chat(&gw, CONFIG_KEY, "m").await, 200);
    // Taken ids: a managed one, a config one.
    for id in ["alice", "from-config"] {
        let (status, _) = admin(&gw, "POST", "/admin/keys", json!({"id": id})).await;
        assert_eq!(status, 400, "{id}");
    }
    // Listed with the config file's keys (read-only); shown without its secret.
    let (_, list) = admin(&gw, "GET", "/admin/keys", Value::Null).await;
    let ids: Vec<&str> = list["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["alice", "from-config"], "{list}");
    assert!(!list.to_string().contains(&secret));
    let (status, shown) = admin(&gw, "GET", "/admin/keys/alice", Value::Null).await;
    assert_eq!((status, shown["rpm"].as_u64()), (200, Some(100)), "{shown}");
    // An update takes effect at once: the model list.
    let (status, _) = admin(
        &gw,
        "PATCH",
        "/admin/keys/alice",
        json!({"models": ["other-*"]}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(chat(&gw, &secret, "m").await, 403);
    let (status, bad) = admin(&gw, "PATCH", "/admin/keys/alice", json!({"rpm": 0})).await;
    assert_eq!(status, 400, "{bad}");
    admin(
        &gw,
        "PATCH",
        "/admin/keys/alice",
        json!({"models": null, "rpm": null}),
    )
    .await;
    let (_, shown) = admin(&gw, "GET", "/admin/keys/alice", Value::Null).await;
    assert_eq!(shown["models"], json!([]), "{shown}");
    assert_eq!(chat(&gw, &secret, "m").await, 200);
    // Rotation with a grace: both secrets work; without one, the old is refused at once.
    let (status, rotated) = admin(
        &gw,
        "POST",
        "/admin/keys/alice/rotate",
        json!({"grace_seconds": 60}),
    )
    .await;
    assert_eq!(status, 200, "{rotated}");
    let second = rotated["secret"].as_str().unwrap().to_string();
    assert_ne!(second, secret);
    assert_eq!(chat(&gw, &second, "m").await, 200);
    assert_eq!(chat(&gw, &secret, "m").await, 200);
    let (_, rotated) = admin(&gw, "POST", "/admin/keys/alice/rotate", json!({})).await;
    let third = rotated["secret"].as_str().unwrap().to_string();
    assert_eq!(chat(&gw, &third, "m").await, 200);
    assert_eq!(chat(&gw, &second, "m").await, 401);
    assert_eq!(chat(&gw, &secret, "m").await, 401);
    // Revoked: refused; the record stays, marked.
    let (status, revoked) = admin(&gw, "DELETE", "/admin/keys/alice", Value::Null).await;
    assert_eq!((status, revoked["revoked"].as_bool()), (200, Some(true)));
    assert_eq!(chat(&gw, &third, "m").await, 401);
    let (status, _) = admin(&gw, "GET", "/admin/keys/nobody", Value::Null).await;
    assert_eq!(status, 404);
    // The audit: every change, newest first, never a secret or a hash.
    let (_, audit) = admin(&gw, "GET", "/admin/audit", Value::Null).await;
    let entries: Vec<&Value> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["key_id"] == "alice")
        .collect();
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["revoke", "rotate", "rotate", "update", "update", "create"],
        "{audit}"
    );
    assert_eq!(
        audit["entries"].as_array().unwrap().last().unwrap()["team_id"],
        "research"
    );
    let text = audit.to_string();
    for s in [&secret, &second, &third] {
        assert!(!text.contains(s.as_str()));
        assert!(!text.contains(&hex::encode(hash_key(s))));
    }
    let first = entries[5];
    assert_eq!(first["after"]["metadata"]["owner"], "alice@example.com");
    assert_eq!(entries[3]["before"]["models"], json!(["other-*"]));
    // A config reload changes the config's keys; the managed ones keep working beside them.
    let (_, carol) = admin(&gw, "POST", "/admin/keys", json!({"id": "carol"})).await;
    let carol = carol["secret"].as_str().unwrap().to_string();
    let path = gw.dir.join("relay.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let new_key = "sk-keys-config-0002";
    std::fs::write(
        &path,
        text.replace(
            &hex::encode(hash_key(CONFIG_KEY)),
            &hex::encode(hash_key(new_key)),
        ),
    )
    .unwrap();
    let r = reqwest::Client::new()
        .post(gw.admin_url("/admin/reload"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(chat(&gw, new_key, "m").await, 200);
    assert_eq!(chat(&gw, CONFIG_KEY, "m").await, 401);
    assert_eq!(chat(&gw, &carol, "m").await, 200);
    assert_eq!(chat(&gw, &third, "m").await, 401, "still revoked");
    // A reload may not give a config key a managed id (revoked ones included: they would
    // share counters and stored conversations), nor drop auth.store (a start-up setting).
    let text = std::fs::read_to_string(&path).unwrap();
    let store_line = format!("  store: {{path: \"{}\"}}\n", store.display());
    for (bad, why) in [
        (text.replace("id: from-config", "id: alice"), "alice"),
        (text.replace(&store_line, ""), "start-up"),
    ] {
        assert_ne!(bad, text);
        std::fs::write(&path, &bad).unwrap();
        let r = reqwest::Client::new()
            .post(gw.admin_url("/admin/reload"))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        let body = r.text().await.unwrap();
        assert!(body.contains(why), "{body}");
    }
    assert_eq!(chat(&gw, &carol, "m").await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_keys_survive_kill_9_and_concurrent_updates_all_apply() {
    let mock = Mock::start(false);
    let store = scratch("keys").join("keys.db");
    let gw = Gateway::start(&config(&mock, &store));
    let (status, _) = admin(&gw, "POST", "/admin/teams", json!({"id": "t"})).await;
    assert_eq!(status, 201);
    let (status, _) = admin(&gw, "POST", "/admin/keys", json!({"id": "k0"})).await;
    assert_eq!(status, 201);
    // Eight updates at once, each of another field: none is lost.
    let fields = [
        json!({"rpm": 11}),
        json!({"rpd": 12}),
        json!({"tpm": 13000}),
        json!({"tpd": 14000}),
        json!({"max_concurrency": 15}),
        json!({"budget_usd": 16.5}),
        json!({"team": "t"}),
        json!({"metadata": {"a": 1}}),
    ];
    let gw_ref = &gw;
    let updates = fields
        .iter()
        .map(|f| admin(gw_ref, "PATCH", "/admin/keys/k0", f.clone()));
    for (status, _) in futures::future::join_all(updates).await {
        assert_eq!(status, 200);
    }
    let (_, k0) = admin(&gw, "GET", "/admin/keys/k0", Value::Null).await;
    for (field, want) in [
        ("rpm", json!(11)),
        ("rpd", json!(12)),
        ("tpm", json!(13000)),
        ("tpd", json!(14000)),
        ("max_concurrency", json!(15)),
        ("budget_usd", json!(16.5)),
        ("team", json!("t")),
        ("metadata", json!({"a": 1})),
    ] {
        assert_eq!(k0[field], want, "{field}: {k0}");
    }
    // A burst of creations, killed (-9) in the middle: every acknowledged key is kept.
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let burst = {
        let (url, acked) = (gw.admin_url("/admin/keys"), acked.clone());
        tokio::spawn(async move {
            let c = reqwest::Client::new();
            for i in 1..500 {
                let r = c
                    .post(&url)
                    .bearer_auth(ADMIN)
                    .json(&json!({"id": format!("k{i}"), "team": "t"}))
                    .send()
                    .await;
                let Ok(r) = r else { return };
                if r.status() != 201 {
                    return;
                }
                let Ok(v) = r.json::<Value>().await else {
                    return;
                };
                acked
                    .lock()
                    .unwrap()
                    .push(v["secret"].as_str().unwrap().to_string());
            }
        })
    };
    let counted = acked.clone();
    assert!(
        wait_until(Duration::from_secs(20), || {
            let n = counted.lock().unwrap().len();
            async move { n >= 15 }
        })
        .await
    );
    gw.signal("KILL");
    burst.await.unwrap();
    drop(gw);
    let secrets = acked.lock().unwrap().clone();
    assert!(secrets.len() < 499, "the kill landed mid-burst");
    let gw = Gateway::start(&config(&mock, &store));
    for s in &secrets {
        assert_eq!(chat(&gw, s, "m").await, 200);
    }
}

/// A route with a price, for budgets and spend.
fn priced(mock: &Mock, store: &Path) -> String {
    let store = format!("{{path: \"{}\"}}", store.display());
    let auth = managed::auth(ADMIN, Some((CONFIG_KEY, "")), Some(&store));
    managed::config(
        mock,
        "",
        &auth,
        Some("{input_per_1m: 2.0, output_per_1m: 8.0}"),
    )
}

async fn chat_error(gw: &Gateway, key: &str) -> (u16, String) {
    let (status, v) = managed::chat(gw, key, "m").await;
    let message = v["error"]["message"].as_str().unwrap_or("").to_string();
    (status, message)
}

async fn new_key(gw: &Gateway, body: Value) -> String {
    let (status, v) = admin(gw, "POST", "/admin/keys", body).await;
    assert_eq!(status, 201, "{v}");
    v["secret"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teams_cap_their_keys_and_spend_is_kept_per_day() {
    let mock = Mock::start(false);
    let store = scratch("keys").join("keys.db");
    let gw = Gateway::start(&priced(&mock, &store));
    // A team's rpm caps its keys' total, whatever each key may do.
    admin(
        &gw,
        "POST",
        "/admin/teams",
        json!({"id": "small", "rpm": 3}),
    )
    .await;
    let a = new_key(&gw, json!({"id": "a", "team": "small", "rpm": 100})).await;
    let b = new_key(&gw, json!({"id": "b", "team": "small", "rpm": 100})).await;
    for k in [&a, &b, &a] {
        assert_eq!(chat(&gw, k, "m").await, 200);
    }
    let (status, msg) = chat_error(&gw, &b).await;
    assert_eq!(status, 429);
    assert!(msg.contains("team `small`"), "{msg}");
    // Budgets: the key's own, then the team's over all its keys.
    admin(
        &gw,
        "POST",
        "/admin/teams",
        json!({"id": "budget", "budget_usd": 0.0005}),
    )
    .await;
    let c = new_key(&gw, json!({"id": "c", "team": "budget"})).await;
    let d = new_key(
        &gw,
        json!({"id": "d", "team": "budget", "budget_usd": 0.0002}),
    )
    .await;
    let mut d_refused = None;
    for _ in 0..20 {
        let (status, msg) = chat_error(&gw, &d).await;
        if status != 200 {
            d_refused = Some((status, msg));
            break;
        }
    }
    let (status, msg) = d_refused.expect("d's budget runs out");
    assert_eq!(status, 429);
    assert!(msg.contains("budget of key `d`"), "{msg}");
    let mut c_refused = None;
    for _ in 0..20 {
        let (status, msg) = chat_error(&gw, &c).await;
        if status != 200 {
            c_refused = Some((status, msg));
            break;
        }
    }
    let (status, msg) = c_refused.expect("the team's budget runs out");
    assert_eq!(status, 429);
    assert!(msg.contains("budget of team `budget`"), "{msg}");
    // The day's spend, per key and per team (flushed to the store within a second).
    let g = &gw;
    assert!(
        wait_until(Duration::from_secs(5), || async move {
            let (_, s) = admin(g, "GET", "/admin/spend?days=3", Value::Null).await;
            let today = &s["days"][0];
            let (c, d) = (today["keys"]["c"].as_f64(), today["keys"]["d"].as_f64());
            let team = today["teams"]["budget"].as_f64();
            matches!((c, d, team), (Some(c), Some(d), Some(t))
                if (c + d - t).abs() < 1e-9 && t >= 0.0005 && d >= 0.0002)
        })
        .await
    );
    let (_, s) = admin(&gw, "GET", "/admin/spend?days=3", Value::Null).await;
    assert_eq!(s["days"].as_array().unwrap().len(), 3, "{s}");
    let (_, shown) = admin(&gw, "GET", "/admin/keys/d", Value::Null).await;
    assert!(
        shown["spend_today_usd"].as_f64().unwrap() >= 0.0002,
        "{shown}"
    );
    assert_eq!(
        shown["usage"]["budget_usd"]["limit"],
        json!(0.0002),
        "{shown}"
    );
    let (_, team) = admin(&gw, "GET", "/admin/teams/budget", Value::Null).await;
    assert_eq!(team["keys"], json!(["c", "d"]), "{team}");
    assert!(
        team["usage"]["budget_usd"]["used"].as_f64().unwrap() >= 0.0005,
        "{team}"
    );
    let (_, stats) = admin(&gw, "GET", "/admin/stats", Value::Null).await;
    assert!(
        stats["spend_today"]["teams"]["budget"].as_f64().unwrap() >= 0.0005,
        "{stats}"
    );
    // Prometheus: managed keys by team, never one series per managed key.
    let metrics = reqwest::get(gw.admin_url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"llm_relay_team_spend_usd_total{team="budget"}"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"llm_relay_spend_usd_total{key="managed:budget",model="m"}"#));
    assert!(metrics.contains(r#"llm_relay_rate_limited_total{key="managed:small"}"#));
    assert!(!metrics.contains(r#"key="c""#) && !metrics.contains(r#"key="d""#));
    // A team with live keys stays; once they are revoked it can go.
    let (status, e) = admin(&gw, "DELETE", "/admin/teams/budget", Value::Null).await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (409, Some("team_in_use")),
        "{e}"
    );
    for id in ["c", "d"] {
        admin(&gw, "DELETE", &format!("/admin/keys/{id}"), Value::Null).await;
    }
    let (status, _) = admin(&gw, "DELETE", "/admin/teams/budget", Value::Null).await;
    assert_eq!(status, 200);
    let (status, _) = admin(&gw, "GET", "/admin/teams/budget", Value::Null).await;
    assert_eq!(status, 404);
    // Teams refuse a key's fields; updates and null clear as for keys.
    let (status, _) = admin(&gw, "PATCH", "/admin/teams/small", json!({"models": ["m"]})).await;
    assert_eq!(status, 400);
    let (status, t) = admin(&gw, "PATCH", "/admin/teams/small", json!({"rpm": null})).await;
    assert_eq!((status, &t["rpm"]), (200, &Value::Null), "{t}");
    assert_eq!(chat(&gw, &a, "m").await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_keys_stream_finishes_and_two_gateways_share_the_store() {
    let mock = Mock::start(false);
    let store = scratch("keys").join("keys.db");
    let a = Gateway::start(&config(&mock, &store));
    let b = Gateway::start(&config(&mock, &store));
    let (_, v) = admin(&a, "POST", "/admin/keys", json!({"id": "bob"})).await;
    let acked = Instant::now();
    let secret = v["secret"].as_str().unwrap().to_string();
    // Created on A, usable on B within a second (measured at the start of the probe that
    // saw it: a slow answer on a busy machine is not propagation).
    let (bb, s) = (&b, secret.as_str());
    let seen = first_seen(acked, Duration::from_secs(10), || async move {
        chat(bb, s, "m").await == 200
    })
    .await;
    assert!(seen.is_some_and(|d| d < Duration::from_secs(1)), "{seen:?}");
    // A stream under way when the key is revoked finishes; the next request is refused.
    let stream = {
        let (url, s) = (b.url("/v1/chat/completions"), secret.clone());
        tokio::spawn(async move {
            reqwest::Client::new()
                .post(url)
                .bearer_auth(s)
                .header("x-mock-events", "8")
                .header("x-mock-interval-ms", "150")
                .json(&json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "hi"}]}))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        })
    };
    let m = &mock;
    assert!(
        wait_until(Duration::from_secs(5), || async move {
            m.stats().await["streams_open"] == 1
        })
        .await
    );
    let (status, _) = admin(&a, "DELETE", "/admin/keys/bob", Value::Null).await;
    let acked = Instant::now();
    assert_eq!(status, 200);
    assert_eq!(chat(&a, &secret, "m").await, 401);
    let seen = first_seen(acked, Duration::from_secs(10), || async move {
        chat(bb, s, "m").await == 401
    })
    .await;
    assert!(seen.is_some_and(|d| d < Duration::from_secs(1)), "{seen:?}");
    let body = stream.await.unwrap();
    assert!(body.contains("[DONE]"), "{body}");
}
