//! Several gateway instances sharing one real `redis-server`: request and token limits,
//! concurrency leases, stored responses, and Redis failing under them.

mod common;

use common::gateway::{wait_until, Gateway};
use common::instances::{assert_no_fallback, cascade_shared, chat, rpm_burst, three, KEY};
use common::mock::Mock;
use common::redis::Redis;
use llm_relay::policy::auth::hash_key;
use serde_json::{json, Value};
use std::time::Duration;

/// A config for one of several instances on the single-node `redis`.
fn config(mock: &Mock, redis: &Redis, key_limits: &str, extra: &str) -> String {
    let node = format!("url: \"{}\"", redis.url());
    common::instances::config(mock, &node, key_limits, extra)
}

async fn post(client: &reqwest::Client, gw: &Gateway, body: &Value) -> reqwest::Response {
    client
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(KEY)
        .json(body)
        .send()
        .await
        .expect("send")
}

/// 300 concurrent requests spread round-robin over three instances at `rpm: 60`: the shared
/// script admits exactly the limit (the bound is limit + 1% + 1).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rpm_holds_across_three_instances() {
    let mock = Mock::start(false);
    let redis = Redis::start();
    let gws = three(&config(&mock, &redis, "rpm: 60", ""));
    let ok = rpm_burst(&mock, &gws).await;
    // Counted in Redis, not by the per-instance fallback (which would also give 3 × 20).
    let key = redis.cli(&["--scan", "--pattern", "*k:team:rm:*"]);
    assert_eq!(redis.cli(&["GET", &key]), ok.to_string());
    // Every instance's /admin/stats shows the key's shared usage against its limit.
    for gw in &gws {
        let v: Value = reqwest::get(format!("http://{}/admin/stats", gw.admin))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let rpm = &v["keys"]["team"]["usage"]["rpm"];
        assert_eq!(rpm["limit"], 60, "{v}");
        assert!(
            (rpm["used"].as_u64().unwrap() as i64 - ok as i64).abs() <= 1,
            "{rpm}"
        );
    }
    assert_no_fallback(&gws).await;
}

/// A `tpm` key is refused once its tokens run out, the token headers count down across
/// instances, and the day's `tpd` usage survives a restart of the instances.
#[tokio::test]
async fn token_budgets_are_shared_and_survive_restarts() {
    let mock = Mock::start(false);
    let redis = Redis::start();
    // Each request reserves ceil(body/4) + 10 tokens; the mock reports its usage.
    let yaml = config(&mock, &redis, "tpm: 400, tpd: 100000", "");
    let gws = three(&yaml);
    let client = reqwest::Client::new();
    let mut remaining = Vec::new();
    let mut refused = None;
    for i in 0..30 {
        let r = post(&client, &gws[i % 3], &chat(false)).await;
        if r.status() == 429 {
            refused = Some(r);
            break;
        }
        assert_eq!(r.status(), 200);
        let left = r.headers()["x-ratelimit-remaining-tokens"]
            .to_str()
            .unwrap();
        remaining.push(left.parse::<u64>().unwrap());
    }
    let refused = refused.expect("the tpm budget runs out");
    assert!(refused.headers().contains_key("retry-after"));
    assert_eq!(refused.headers()["x-ratelimit-limit-tokens"], "400");
    let body: Value = refused.json().await.unwrap();
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("tokens per minute"));
    assert!(remaining.len() >= 3, "{remaining:?}");
    assert!(
        remaining.windows(2).all(|w| w[1] < w[0]),
        "counts down over all instances: {remaining:?}"
    );
    // The day's usage is in Redis: new instances see it.
    let day_key = redis.cli(&["--scan", "--pattern", "*k:team:td:*"]);
    let used_before: u64 = redis.cli(&["GET", &day_key]).parse().unwrap();
    assert!(used_before > 0);
    drop(gws);
    let gw = Gateway::start(&yaml);
    gw.wait_ready();
    let used_after: u64 = redis.cli(&["GET", &day_key]).parse().unwrap();
    assert_eq!(used_after, used_before, "restart keeps the day's usage");
    let _ = post(&client, &gw, &chat(false)).await; // may be refused by tpm; tpd still counts
}

/// `max_concurrency: 4` over three instances with slow streams; the slots of an instance
/// killed with SIGKILL free within the lease TTL.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrency_leases_hold_and_free_after_a_crash() {
    let mock = Mock::start(false);
    let redis = Redis::start();
    let gws = three(&config(&mock, &redis, "max_concurrency: 4", ""));
    let client = reqwest::Client::new();
    // Streams of 40 events 100 ms apart hold their slot for about 4 s.
    let slow = |gw: &Gateway| {
        client
            .post(gw.url("/v1/chat/completions"))
            .bearer_auth(KEY)
            .header("x-mock-events", "40")
            .header("x-mock-interval-ms", "100")
            .json(&chat(true))
            .send()
    };
    let mut held = Vec::new();
    for gw in [&gws[0], &gws[0], &gws[1], &gws[2]] {
        let r = slow(gw).await.expect("send");
        assert_eq!(r.status(), 200);
        held.push(r);
    }
    for gw in &gws {
        let r = post(&client, gw, &chat(false)).await;
        assert_eq!(r.status(), 429, "the 5th request anywhere is refused");
    }
    // Instance 0 holds two slots; it dies without releasing them.
    gws[0].signal("KILL");
    held.drain(..2); // its two streams are gone with it
    let freed = wait_until(Duration::from_secs(6), || async {
        post(&client, &gws[1], &chat(false)).await.status() == 200
    })
    .await;
    assert!(
        freed,
        "the dead instance's slots expire within the lease TTL"
    );
}

/// Redis dies mid-run and comes back: no request fails (per-instance fallback), readiness
/// stays 200, /health says degraded and then healthy, and the shared limits resume.
#[tokio::test]
async fn redis_failing_under_the_instances() {
    let mock = Mock::start(false);
    let mut redis = Redis::start();
    let gws = three(&config(&mock, &redis, "rpm: 600", ""));
    let client = reqwest::Client::new();
    for gw in &gws {
        assert_eq!(post(&client, gw, &chat(false)).await.status(), 200);
    }
    redis.stop();
    for i in 0..30 {
        let s = post(&client, &gws[i % 3], &chat(i % 2 == 0)).await.status();
        assert_eq!(s, 200, "request {i} while Redis is down");
    }
    let ready = client
        .get(gws[0].url("/health/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let health = |gw: &Gateway| {
        let url = format!("http://{}/health", gw.admin);
        let client = client.clone();
        async move {
            let v: Value = client.get(url).send().await.unwrap().json().await.unwrap();
            v["components"]["redis"]["status"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        }
    };
    assert_eq!(health(&gws[0]).await, "degraded");
    let metrics = client
        .get(format!("http://{}/metrics", gws[0].admin))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("llm_relay_redis_up 0"), "{metrics}");
    redis.restart();
    let back = wait_until(Duration::from_secs(15), || async {
        health(&gws[0]).await == "healthy"
    })
    .await;
    assert!(back, "healthy again after Redis returns");
    // The shared limits resume: the counter lives in Redis again.
    assert_eq!(post(&client, &gws[0], &chat(false)).await.status(), 200);
    let keys = redis.cli(&["--scan", "--pattern", "*k:team:rm:*"]);
    assert!(!keys.is_empty(), "counting in Redis again");
}

/// A response stored by one instance is continued on another (`previous_response_id`).
#[tokio::test]
async fn stored_responses_are_found_on_every_instance() {
    let mock = Mock::start(false);
    let redis = Redis::start();
    let gws = three(&config(&mock, &redis, "rpm: 600", ""));
    let client = reqwest::Client::new();
    let first: Value = client
        .post(gws[0].url("/v1/responses"))
        .bearer_auth(KEY)
        .json(&json!({"model": "m", "input": "remember the word kiwi"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = first["id"].as_str().unwrap().to_string();
    // The put is asynchronous: wait until the other instance can read it.
    let url = gws[1].url(&format!("/v1/responses/{id}"));
    let found = wait_until(Duration::from_secs(5), || async {
        client
            .get(&url)
            .bearer_auth(KEY)
            .send()
            .await
            .unwrap()
            .status()
            == 200
    })
    .await;
    assert!(found, "instance B serves A's stored response");
    let next = client
        .post(gws[2].url("/v1/responses"))
        .bearer_auth(KEY)
        .json(&json!({"model": "m", "input": "which word?", "previous_response_id": id}))
        .send()
        .await
        .unwrap();
    assert_eq!(next.status(), 200);
    let sent = mock.stats().await["last"]["chat"]["body"]["messages"].to_string();
    assert!(sent.contains("kiwi"), "the history came from Redis: {sent}");
}

/// Twenty concurrent requests for the same new image over three instances: one vision call.
/// An image described on A is a hit on B.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_cascade_cache_is_shared() {
    let mock = Mock::start(true);
    let redis = Redis::start();
    let node = format!("url: \"{}\"", redis.url());
    let gws = three(&common::instances::cascade_config(&mock, &node));
    cascade_shared(&mock, &gws).await;
}

/// How far a reservation is from the real usage, in process (no Redis): the first answer's
/// headers show the reservation, the second's what the first really used after settlement.
#[tokio::test]
async fn reservation_is_settled_to_the_real_usage() {
    let mock = Mock::start(false);
    let gw = Gateway::start(&format!(
        "pools:\n  main:\n    urls: [\"http://{}/v1\"]\nroutes:\n  - model: m\n    pool: main\nauth:\n  keys:\n    - {{id: team, sha256: \"{}\", tpm: 100000}}\n",
        mock.addr,
        hex::encode(hash_key(KEY)),
    ));
    let client = reqwest::Client::new();
    let remaining = |r: &reqwest::Response| -> u64 {
        r.headers()["x-ratelimit-remaining-tokens"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap()
    };
    let first = post(&client, &gw, &chat(false)).await;
    let reserved = 100_000 - remaining(&first);
    let usage: Value = first.json().await.unwrap();
    let real = usage["usage"]["total_tokens"].as_u64().unwrap();
    let second = post(&client, &gw, &chat(false)).await;
    let settled = 100_000 - remaining(&second) - reserved;
    println!("reservation {reserved} tokens, real usage {real}, settled to {settled}");
    assert_eq!(settled, real, "the first request now counts its real usage");
    assert!(
        reserved >= real,
        "the estimate reserves at least what was used"
    );
}

/// The exact response cache: the same embeddings request sent to A and then to B reaches the
/// upstream once and B says `hit`; a chat at temperature 0.7 is never cached; a temperature-0
/// stream is replayed as a stream; keys do not share entries.
#[tokio::test]
async fn the_response_cache_is_shared_and_opt_in() {
    let mock = Mock::start(false);
    let redis = Redis::start();
    let other = "sk-other-key";
    let yaml = format!(
        "{}response_cache:\n  ttl_seconds: 60\n",
        config(&mock, &redis, "rpm: 600", "")
    )
    .replace(
        "auth:\n  keys:\n",
        &format!(
            "auth:\n  keys:\n    - {{id: other, sha256: \"{}\"}}\n",
            hex::encode(hash_key(other))
        ),
    )
    .replace(
        "  - model: m\n    pool: main\n",
        "  - model: m\n    pool: main\n  - model: e\n    pool: main\n",
    );
    let gws = three(&yaml);
    let client = reqwest::Client::new();
    let embed = json!({"model": "e", "input": ["alpha", "beta"]});
    let send = |gw: &Gateway, path: &str, key: &str, body: &Value| {
        client.post(gw.url(path)).bearer_auth(key).json(body).send()
    };
    let a = send(&gws[0], "/v1/embeddings", KEY, &embed).await.unwrap();
    assert_eq!(a.headers()["x-llm-relay-cache"], "miss");
    let a_body: Value = a.json().await.unwrap();
    // A's answer reaches Redis just after A's client got it: until then B misses (and asks
    // the upstream itself). Each miss is counted, so the upstream count below is exact.
    let b_misses = std::sync::atomic::AtomicU64::new(0);
    let b_hit = wait_until(Duration::from_secs(5), || async {
        let b = send(&gws[1], "/v1/embeddings", KEY, &embed).await.unwrap();
        let hit = b
            .headers()
            .get("x-llm-relay-cache")
            .is_some_and(|v| v == "hit");
        if !hit {
            b_misses.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        hit
    })
    .await;
    assert!(b_hit, "B answers from the shared cache");
    let b_misses = b_misses.load(std::sync::atomic::Ordering::SeqCst);
    let b: Value = send(&gws[1], "/v1/embeddings", KEY, &embed)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(a_body, b, "the same answer");
    assert_eq!(
        mock.stats().await["requests"]["embeddings"],
        1 + b_misses,
        "the upstream saw it once (and once per miss of B before A's entry landed)"
    );
    // Another key does not get this key's entry.
    let o = send(&gws[2], "/v1/embeddings", other, &embed)
        .await
        .unwrap();
    assert_eq!(o.headers()["x-llm-relay-cache"], "miss");

    // Chat at 0.7 without opt-in: never cached (no header, upstream every time).
    let warm =
        json!({"model": "m", "temperature": 0.7, "messages": [{"role": "user", "content": "x"}]});
    for _ in 0..2 {
        let r = send(&gws[0], "/v1/chat/completions", KEY, &warm)
            .await
            .unwrap();
        assert!(r.headers().get("x-llm-relay-cache").is_none());
    }
    assert_eq!(mock.stats().await["requests"]["chat"], 2);
    // With the opt-in header it is.
    let opted = || {
        client
            .post(gws[0].url("/v1/chat/completions"))
            .bearer_auth(KEY)
            .header("x-llm-relay-cache", "on")
            .json(&warm)
            .send()
    };
    assert_eq!(
        opted().await.unwrap().headers()["x-llm-relay-cache"],
        "miss"
    );
    assert_eq!(opted().await.unwrap().headers()["x-llm-relay-cache"], "hit");

    // A temperature-0 stream is kept as its events and replayed as a stream.
    let cold = json!({"model": "m", "temperature": 0, "stream": true,
                      "messages": [{"role": "user", "content": "stream it"}]});
    let first = send(&gws[0], "/v1/chat/completions", KEY, &cold)
        .await
        .unwrap();
    assert_eq!(first.headers()["x-llm-relay-cache"], "miss");
    let first_text = first.text().await.unwrap();
    let again = send(&gws[0], "/v1/chat/completions", KEY, &cold)
        .await
        .unwrap();
    assert_eq!(again.headers()["x-llm-relay-cache"], "hit");
    assert_eq!(again.headers()["content-type"], "text/event-stream");
    assert_eq!(again.text().await.unwrap(), first_text);
    assert!(first_text.ends_with("data: [DONE]\n\n"));
}

/// Spend per key equals tokens × price after known traffic; a `budget_usd` key is refused once
/// it is spent (shared through Redis); a stream the client cuts is settled at a non-zero amount.
#[tokio::test]
async fn spend_and_budgets() {
    let mock = Mock::start(false);
    let redis = Redis::start();
    let yaml = config(
        &mock,
        &redis,
        "budget_usd: {amount: 0.0005, period: day}",
        "",
    )
    .replace(
        "  - model: m\n    pool: main\n",
        "  - model: m\n    pool: main\n    price: {input_per_1m: 2.0, output_per_1m: 8.0}\n",
    );
    let gws = three(&yaml);
    let client = reqwest::Client::new();
    let mut expected = 0u64;
    let mut refused = None;
    for i in 0..20 {
        let r = post(&client, &gws[i % 3], &chat(false)).await;
        if r.status() == 429 {
            refused = Some(r.json::<Value>().await.unwrap());
            break;
        }
        let v: Value = r.json().await.unwrap();
        let (p, c) = (
            v["usage"]["prompt_tokens"].as_u64().unwrap(),
            v["usage"]["completion_tokens"].as_u64().unwrap(),
        );
        expected += p * 2 + c * 8;
    }
    let refused = refused.expect("the budget runs out");
    let msg = refused["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("budget") && msg.contains("of 0.000500 USD this day"),
        "{msg}"
    );
    assert!(
        expected >= 500,
        "refused only once spent: {expected} micro-USD"
    );
    // Spend per key over the three instances = tokens × price.
    let mut spent = 0.0;
    for gw in &gws {
        let m = reqwest::get(format!("http://{}/metrics", gw.admin))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        spent += m
            .lines()
            .find(|l| l.starts_with("llm_relay_spend_usd_total{key=\"team\",model=\"m\"}"))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
    }
    assert!(
        (spent - expected as f64 / 1e6).abs() < 1e-9,
        "{spent} vs {expected}"
    );

    // A stream the client leaves early still costs something.
    let free = Gateway::start(&config(&mock, &redis, "rpm: 100", "").replace(
        "  - model: m\n    pool: main\n",
        "  - model: m\n    pool: main\n    price: {input_per_1m: 2.0, output_per_1m: 8.0}\n",
    ));
    free.wait_ready();
    let mut r = client
        .post(free.url("/v1/chat/completions"))
        .bearer_auth(KEY)
        .header("x-mock-events", "50")
        .header("x-mock-interval-ms", "50")
        .json(&chat(true))
        .send()
        .await
        .unwrap();
    let _ = r.chunk().await;
    let _ = r.chunk().await;
    drop(r);
    let stats_url = format!("http://{}/admin/stats", free.admin);
    let settled = wait_until(Duration::from_secs(5), || async {
        let v: Value = reqwest::get(&stats_url)
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["keys"]["team"]["spend_usd"]
            .as_f64()
            .is_some_and(|s| s > 0.0)
    })
    .await;
    assert!(settled, "a cut stream is settled at a non-zero amount");
}

/// `on_failure: refuse`: while Redis is away, requests that need shared limits get a 503 in
/// OpenAI's shape (and are served again once it is back).
#[tokio::test]
async fn the_refuse_policy_answers_503_while_redis_is_away() {
    let mock = Mock::start(false);
    let mut redis = Redis::start();
    let yaml = config(&mock, &redis, "rpm: 600", "").replace(
        "  timeout_ms: 1000\n",
        "  timeout_ms: 1000\n  on_failure: refuse\n",
    );
    let gw = Gateway::start(&yaml);
    gw.wait_ready();
    let client = reqwest::Client::new();
    assert_eq!(post(&client, &gw, &chat(false)).await.status(), 200);
    redis.stop();
    let r = post(&client, &gw, &chat(false)).await;
    assert_eq!(r.status(), 503);
    let v: Value = r.json().await.unwrap();
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Shared limits are unavailable"));
    redis.restart();
    let back = wait_until(Duration::from_secs(15), || async {
        post(&client, &gw, &chat(false)).await.status() == 200
    })
    .await;
    assert!(back, "served again once Redis is back");
}

/// The instance describing a new image dies while it holds the shared lock: the lock expires
/// (cascade timeout + 5 s) and a waiting instance takes over.
#[tokio::test]
async fn a_dead_lock_holder_is_taken_over() {
    let mock = Mock::start(true);
    let redis = Redis::start();
    let node = format!("url: \"{}\"", redis.url());
    let yaml = common::instances::cascade_config(&mock, &node)
        .replace("timeout_ms: 5000", "timeout_ms: 1000");
    let (a, b) = (Gateway::start(&yaml), Gateway::start(&yaml));
    a.wait_ready();
    b.wait_ready();
    mock.control(json!({"vision_delay_ms": 800})).await;
    let body = common::instances::with_image("https://img.example/orphan.png");
    let client = reqwest::Client::new();
    let first = {
        let (client, url, body) = (client.clone(), a.url("/v1/chat/completions"), body.clone());
        tokio::spawn(async move { client.post(url).json(&body).send().await })
    };
    // A holds the lock and is describing: it dies.
    let locked = wait_until(Duration::from_secs(5), || async {
        !redis
            .cli(&["--scan", "--pattern", "*img:*lock*"])
            .is_empty()
    })
    .await;
    assert!(locked, "A took the lock");
    a.signal("KILL");
    let _ = first.await;
    let t0 = std::time::Instant::now();
    let r = client
        .post(b.url("/v1/chat/completions"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "B took over once the lock expired");
    assert!(t0.elapsed() < Duration::from_secs(10));
    assert_eq!(mock.stats().await["vision_calls"], 2, "A's call and B's");
}

/// A new instance is not ready until its first Redis probe has answered. A Redis that accepts
/// connections and never replies keeps `/health/ready` at 503 "starting" (on both listeners)
/// until the probe gives up (2 s); then the instance is ready and degraded, on per-instance
/// limits.
#[tokio::test]
async fn readiness_waits_for_the_first_redis_probe() {
    let mock = Mock::start(false);
    let hole = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = hole.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in hole.incoming().flatten() {
            held.push(c);
        }
    });
    let node = format!("url: \"redis://127.0.0.1:{port}\"");
    let gw = Gateway::start(&common::instances::config(&mock, &node, "rpm: 600", ""));
    for url in [gw.admin_url("/health/ready"), gw.url("/health/ready")] {
        let r = reqwest::get(url).await.unwrap();
        assert_eq!(r.status(), 503);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v, json!({"status": "starting", "waiting_for": "redis"}));
    }
    let ready = wait_until(Duration::from_secs(10), || async {
        reqwest::get(gw.url("/health/ready"))
            .await
            .unwrap()
            .status()
            == 200
    })
    .await;
    assert!(ready, "ready once the probe gave up: {}", gw.log_text());
    let health: Value = reqwest::get(gw.admin_url("/health"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["components"]["redis"]["status"], "degraded");
    let client = reqwest::Client::new();
    assert_eq!(post(&client, &gw, &chat(false)).await.status(), 200);
}

/// A fresh instance fills its in-process description cache from Redis at start-up: its first
/// request for an image the fleet described is an in-process hit (no vision call, and no read
/// of the shared level).
#[tokio::test]
async fn a_fresh_instance_starts_with_the_fleets_descriptions() {
    let redis = Redis::start();
    let mock = Mock::start(true);
    let yaml = common::instances::cascade_config(&mock, &format!("url: \"{}\"", redis.url()));
    let a = Gateway::start(&yaml);
    a.wait_ready();
    let client = reqwest::Client::new();
    let body = common::instances::with_image("https://img.example/fill.png");
    let r = post(&client, &a, &body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(mock.stats().await["vision_calls"], 1);
    let b = Gateway::start(&yaml);
    b.wait_ready();
    let filled = common::gateway::wait_until(Duration::from_secs(30), || async {
        let snap = reqwest::get(b.admin_url("/admin/cascade")).await.ok();
        let v: Option<Value> = match snap {
            Some(r) => r.json().await.ok(),
            None => None,
        };
        v.is_some_and(|v| v["cache"]["entries"].as_u64() >= Some(1))
    })
    .await;
    assert!(filled, "B's cache was not filled from Redis");
    let r = post(&client, &b, &body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        mock.stats().await["vision_calls"],
        1,
        "B described the image again"
    );
    let m = common::instances::metrics(&b).await;
    assert!(
        !m.contains(r#"llm_relay_cascade_l2_total{result="hit"}"#),
        "B read Redis: {m}"
    );
}
