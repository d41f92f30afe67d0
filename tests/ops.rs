//! Operations through the real gateway: live reload (SIGHUP and the admin endpoint), retries
//! and failover before the first byte, the circuit breaker, mid-stream failures and timeouts,
//! and prompt cancellation of the upstream when the client goes away.

mod common;

use common::gateway::{demo_config, free_port, wait_until, Gateway, StartError};
use common::mock::Mock;
use common::raw::Conn;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn chat(model: &str, stream: bool) -> Value {
    json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]})
}

/// How long a test waits for something the gateway does on its own (a reload, the access-log
/// writer); the waits end as soon as it happened.
const WAIT: Duration = Duration::from_secs(10);

async fn status(gw: &Gateway, body: &Value) -> u16 {
    reqwest::Client::new()
        .post(gw.url("/v1/chat/completions"))
        .json(body)
        .send()
        .await
        .map_or(0, |r| r.status().as_u16())
}

/// Rewrites the gateway's relay.yaml (keeping its listen addresses).
fn rewrite_config(gw: &Gateway, yaml: &str) {
    let path = gw.dir.join("relay.yaml");
    let old = std::fs::read_to_string(&path).unwrap();
    let head: String = old.lines().take(3).map(|l| format!("{l}\n")).collect();
    std::fs::write(&path, format!("{head}{yaml}")).unwrap();
}

fn one_model(upstream: &str, model: &str) -> String {
    format!("pools:\n  main:\n    urls: [\"{upstream}/v1\"]\nroutes:\n  - model: {model}\n    pool: main\n    kinds: [chat]\n")
}

#[tokio::test]
async fn sighup_reload_swaps_routes_and_refuses_bad_files() {
    let mock = Mock::start(false);
    let up = format!("http://{}", mock.addr);
    let gw = Gateway::start(&one_model(&up, "m1"));
    assert_eq!(status(&gw, &chat("m1", false)).await, 200);
    assert_eq!(status(&gw, &chat("m2", false)).await, 404);
    // A stream in flight on the old config finishes after the swap.
    let streaming = {
        let url = gw.url("/v1/chat/completions");
        tokio::spawn(async move {
            let r = reqwest::Client::new()
                .post(url)
                .header("x-mock-events", "6")
                .header("x-mock-interval-ms", "200")
                .json(&chat("m1", true))
                .send()
                .await
                .unwrap();
            r.text().await.unwrap()
        })
    };
    let m = &mock;
    wait_until(WAIT, || async move { m.stats().await["streams_open"] == 1 }).await;
    rewrite_config(&gw, &one_model(&up, "m2"));
    gw.signal("HUP");
    let (g, m2) = (&gw, &chat("m2", false));
    wait_until(WAIT, || async move { status(g, m2).await == 200 }).await;
    assert_eq!(status(&gw, &chat("m2", false)).await, 200, "new route live");
    assert_eq!(status(&gw, &chat("m1", false)).await, 404, "old route gone");
    assert!(
        streaming.await.unwrap().contains("[DONE]"),
        "in-flight stream finished"
    );
    // A typo is refused, named, and the running config stays.
    rewrite_config(&gw, &one_model(&up, "m3").replace("urls:", "ulrs:"));
    gw.signal("HUP");
    wait_until(WAIT, || {
        std::future::ready(gw.log_text().contains("reload refused"))
    })
    .await;
    assert_eq!(status(&gw, &chat("m2", false)).await, 200);
    assert_eq!(status(&gw, &chat("m3", false)).await, 404);
    let log = gw.log_text();
    assert!(
        log.contains("reload refused") && log.contains("pools.main") && log.contains("ulrs"),
        "{log}"
    );
}

#[tokio::test]
async fn admin_reload_keeps_cascade_cache_and_limits() {
    let mock = Mock::start(true);
    let up = format!("http://{}", mock.addr);
    let cascade = "cascade:\n  vision_model: hunyuan-vision\n";
    let base = demo_config(&up, "hunyuan");
    let gw = Gateway::start(&format!("{cascade}{base}"));
    let img = json!({"model": "hunyuan-turbos-latest", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "what"}, {"type": "image_url", "image_url": {"url": "https://example.com/x.png"}}]}]});
    assert_eq!(status(&gw, &img).await, 200);
    assert_eq!(mock.stats().await["vision_calls"], 1);
    // Add a key and reload through the admin endpoint.
    let key_hash = hex::encode(llm_relay::policy::auth::hash_key("sk-after-reload"));
    rewrite_config(
        &gw,
        &format!("auth:\n  keys:\n    - {{id: k, sha256: \"{key_hash}\"}}\n{cascade}{base}"),
    );
    let r = reqwest::Client::new()
        .post(gw.admin_url("/admin/reload"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let c = reqwest::Client::new();
    let r = c
        .post(gw.url("/v1/chat/completions"))
        .json(&img)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "keys took effect");
    let r = c
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth("sk-after-reload")
        .json(&img)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        mock.stats().await["vision_calls"],
        1,
        "the description cache survived the reload"
    );
    // A bad file through the endpoint: 400 naming the key; the old config stays.
    rewrite_config(
        &gw,
        &format!("{cascade}{base}").replace("profile: hunyuan", "profile: hunyan"),
    );
    let r = c.post(gw.admin_url("/admin/reload")).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let msg = r.json::<Value>().await.unwrap()["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(msg.contains("pools.main.profile"), "{msg}");
    let r = c
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth("sk-after-reload")
        .json(&img)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn retries_another_member_and_falls_back() {
    let mock = Mock::start(false);
    let dead = free_port();
    let yaml = format!(
        "pools:\n  main:\n    urls: [\"http://127.0.0.1:{dead}/v1\", \"http://{m}/v1\"]\n    health: {{check_seconds: 0, failures_to_trip: 100}}\n  broken:\n    urls: [\"http://127.0.0.1:{dead}/v1\"]\n    health: {{check_seconds: 0}}\n  good:\n    urls: [\"http://{m}/v1\"]\nroutes:\n  - {{model: m, pool: main}}\n  - {{model: f, pool: broken, fallback: good}}\n",
        m = mock.addr
    );
    let gw = Gateway::start(&yaml);
    for _ in 0..6 {
        assert_eq!(
            status(&gw, &chat("m", false)).await,
            200,
            "a dead member is retried away"
        );
    }
    assert_eq!(
        status(&gw, &chat("f", false)).await,
        200,
        "the fallback pool answers"
    );
    // A retryable upstream status is retried, and the client sees only the last answer.
    mock.reset().await;
    let r = reqwest::Client::new()
        .post(gw.url("/v1/chat/completions"))
        .header("x-mock-status", "503")
        .json(&chat("f", false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(
        mock.stats().await["requests"]["chat"],
        1,
        "broken pool never connected; fallback once"
    );
    // The access-log thread writes every 50 ms.
    wait_until(WAIT, || {
        std::future::ready(gw.log_text().contains("\"retries\":2"))
    })
    .await;
    let log = gw.log_text();
    assert!(log.contains("\"retries\":2"), "retries are logged: {log}");
    let m = reqwest::get(gw.admin_url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        m.lines()
            .any(|l| l.starts_with("llm_relay_upstream_retries_total{pool=\"good\"}")),
        "{m}"
    );
}

#[tokio::test]
async fn breaker_takes_a_failing_member_out() {
    let mock = Mock::start(false);
    let dead = free_port();
    let yaml = format!(
        "pools:\n  main:\n    urls: [\"http://127.0.0.1:{dead}/v1\", \"http://{}/v1\"]\n    health: {{check_seconds: 0, failures_to_trip: 1, cooldown_ms: 60000}}\nroutes:\n  - {{model: m, pool: main}}\n",
        mock.addr
    );
    let gw = Gateway::start(&yaml);
    for _ in 0..10 {
        assert_eq!(status(&gw, &chat("m", false)).await, 200);
    }
    let m = reqwest::get(gw.admin_url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let retries: f64 = m
        .lines()
        .find(|l| l.starts_with("llm_relay_upstream_retries_total{pool=\"main\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(-1.0);
    assert_eq!(retries, 1.0, "after one failure the dead member is skipped");
    let logged = wait_until(Duration::from_secs(5), || {
        std::future::ready(gw.log_text().contains("out of rotation"))
    })
    .await;
    assert!(logged, "{}", gw.log_text());
}

#[tokio::test]
async fn idle_and_total_timeouts_end_streams_visibly() {
    let mock = Mock::start(false);
    let gw = Gateway::start(&demo_config(&format!("http://{}", mock.addr), "openai"));
    let t0 = Instant::now();
    let r = reqwest::Client::new()
        .post(gw.url("/v1/chat/completions"))
        .header("x-mock-events", "5")
        .header("x-mock-interval-ms", "4000")
        .json(&chat("hunyuan-turbos-latest", true))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    let took = t0.elapsed();
    assert!(
        !text.contains("[DONE]") && text.contains("\"error\""),
        "{text}"
    );
    assert!(
        took < Duration::from_millis(3500),
        "idle_ms is 1500 in the test config: {took:?}"
    );

    let yaml = demo_config(&format!("http://{}", mock.addr), "openai")
        .replace("idle_ms: 1500}", "idle_ms: 1500, total_ms: 1000}");
    let gw = Gateway::start(&yaml);
    let t0 = Instant::now();
    let r = reqwest::Client::new()
        .post(gw.url("/v1/chat/completions"))
        .header("x-mock-events", "20")
        .header("x-mock-interval-ms", "200")
        .json(&chat("hunyuan-turbos-latest", true))
        .send()
        .await
        .unwrap();
    let text = r.text().await.unwrap();
    assert!(text.contains("total time limit"), "{text}");
    assert!(t0.elapsed() < Duration::from_millis(2000));
}

#[tokio::test]
async fn client_gone_cancels_the_upstream_stream() {
    let mock = Mock::start(false);
    let gw = Gateway::start(&demo_config(&format!("http://{}", mock.addr), "openai"));
    let mut r = reqwest::Client::new()
        .post(gw.url("/v1/chat/completions"))
        .header("x-mock-events", "50")
        // Long silences: the client leaves while nothing is being written to it.
        .header("x-mock-interval-ms", "1400")
        .json(&chat("hunyuan-turbos-latest", true))
        .send()
        .await
        .unwrap();
    let first = r.chunk().await.unwrap();
    assert!(first.is_some());
    assert_eq!(mock.stats().await["streams_open"], 1);
    drop(r);
    let m = &mock;
    let closed = wait_until(Duration::from_secs(2), || async move {
        m.stats().await["streams_open"] == 0
    })
    .await;
    let s = mock.stats().await;
    assert!(
        closed,
        "upstream stream still open 2 s after the client left: {s}"
    );
    assert_eq!(s["streams_cancelled"], 1);
}

/// A gateway whose admin port is held by someone else is not taken for started: the harness
/// checks that the gateway process itself listens, and says the port is in use.
#[test]
fn harness_does_not_take_another_listener_for_the_gateway() {
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let held_port = held.local_addr().unwrap().port();
    let yaml = one_model("http://127.0.0.1:1", "m");
    match Gateway::try_start_on(&yaml, &[], "", free_port(), held_port) {
        Err(StartError::PortInUse(log)) => assert!(log.contains("in use"), "{log}"),
        Err(e) => panic!("expected PortInUse: {e:?}"),
        Ok(gw) => panic!(
            "started, though its admin port {held_port} is not its own: {}",
            gw.log_text()
        ),
    }
}

/// When a port handed out by free_port() was taken meanwhile, the harness starts again on new
/// ports instead of failing the test.
#[test]
fn harness_retries_on_new_ports_when_one_was_taken() {
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let held_port = held.local_addr().unwrap().port();
    let mut tries = 0;
    let gw = Gateway::start_retrying(&one_model("http://127.0.0.1:1", "m"), &[], "", || {
        tries += 1;
        let admin = if tries == 1 { held_port } else { free_port() };
        (free_port(), admin)
    });
    assert_eq!(tries, 2);
    assert_ne!(gw.admin, format!("127.0.0.1:{held_port}"));
    let r = Conn::open(&gw.admin).request("GET", "/health/live", &[], b"");
    assert_eq!(r.status, 200);
}
