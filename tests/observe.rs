//! Observability through the real gateway: Prometheus families after known traffic (and
//! promtool's lint), usage-based token counts with the usage chunk hidden from clients that
//! did not ask, request ids, the access log, health and readiness (draining included).

mod common;

use common::gateway::{demo_config, free_port, wait_until, Gateway};
use common::mock::Mock;
use serde_json::{json, Value};
use std::time::Duration;

fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (head, value) = l.rsplit_once(' ')?;
        let (n, rest) = head.split_once('{').unwrap_or((head, ""));
        if n != name {
            return None;
        }
        let ok = labels
            .iter()
            .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")));
        if ok {
            value.parse().ok()
        } else {
            None
        }
    })
}

/// How long a test waits for something the gateway does on its own (a health check round, an
/// alert evaluation, the access-log writer); the waits end as soon as it happened.
const WAIT: Duration = Duration::from_secs(10);

async fn get_json(url: String) -> Value {
    reqwest::get(url).await.unwrap().json().await.unwrap()
}

async fn scrape(gw: &Gateway) -> String {
    reqwest::get(gw.admin_url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

fn chat(stream: bool) -> Value {
    json!({"model": "hunyuan-turbos-latest", "stream": stream, "messages": [{"role": "user", "content": "count my tokens"}]})
}

#[tokio::test]
async fn metrics_match_the_traffic() {
    let mock = Mock::start(true);
    let rules = "alerts:\n  evaluate_seconds: 1\n  rules:\n    - {name: main_down, kind: pool_unhealthy, pool: main}\n";
    let gw = Gateway::start(&format!(
        "{rules}{}",
        demo_config(&format!("http://{}", mock.addr), "hunyuan")
    ));
    let c = reqwest::Client::new();
    for _ in 0..3 {
        let r = c
            .post(gw.url("/v1/chat/completions"))
            .json(&chat(false))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    // A stream whose client did not ask for usage: the gateway asks, counts, and hides it.
    let r = c
        .post(gw.url("/v1/chat/completions"))
        .header("x-mock-events", "7")
        .json(&chat(true))
        .send()
        .await
        .unwrap();
    let text = r.text().await.unwrap();
    assert!(
        text.contains("[DONE]") && !text.contains("prompt_tokens"),
        "{text}"
    );
    let sent = &mock.stats().await["last"]["chat"]["body"];
    assert_eq!(sent["stream_options"]["include_usage"], true, "{sent}");
    // A stream whose client asked: the usage chunk reaches it.
    let mut asked = chat(true);
    asked["stream_options"] = json!({"include_usage": true});
    let text = c
        .post(gw.url("/v1/chat/completions"))
        .json(&asked)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("prompt_tokens"), "{text}");
    let r = c
        .post(gw.url("/v1/chat/completions"))
        .json(&json!({"model": "nope", "messages": [{"role": "user", "content": "x"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = c
        .post(gw.url("/v1/embeddings"))
        .json(&json!({"model": "text-embedding-3-small", "input": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Each request is recorded after its response has ended, and the alert family appears at
    // the first alert evaluation.
    let g = &gw;
    wait_until(WAIT, || async move {
        let m = scrape(g).await;
        let count = |kind| {
            metric(
                &m,
                "llm_relay_request_duration_seconds_count",
                &[("kind", kind)],
            )
        };
        count("chat") == Some(6.0)
            && count("embeddings") == Some(1.0)
            && m.contains("# TYPE llm_relay_alert_firing ")
    })
    .await;

    let m = scrape(&gw).await;
    let get = |name: &str, labels: &[(&str, &str)]| {
        metric(&m, name, labels).unwrap_or_else(|| panic!("{name} {labels:?} missing:\n{m}"))
    };
    assert_eq!(
        get(
            "llm_relay_requests_total",
            &[
                ("kind", "chat"),
                ("model", "hunyuan-turbos-latest"),
                ("status", "2xx")
            ]
        ),
        5.0
    );
    assert_eq!(
        get(
            "llm_relay_requests_total",
            &[("kind", "chat"), ("model", "other"), ("status", "4xx")]
        ),
        1.0,
        "unknown models share one label"
    );
    assert_eq!(
        get(
            "llm_relay_requests_total",
            &[("kind", "embeddings"), ("status", "2xx")]
        ),
        1.0
    );
    assert_eq!(
        get(
            "llm_relay_request_duration_seconds_count",
            &[("kind", "chat")]
        ),
        6.0
    );
    assert_eq!(
        get("llm_relay_upstream_ttfb_seconds_count", &[("kind", "chat")]),
        5.0
    );
    assert_eq!(
        get("llm_relay_overhead_seconds_count", &[("kind", "chat")]),
        5.0
    );
    assert!(
        get(
            "llm_relay_tokens_total",
            &[("model", "hunyuan-turbos-latest"), ("direction", "in")]
        ) >= 5.0
    );
    assert!(
        get(
            "llm_relay_tokens_total",
            &[("model", "hunyuan-turbos-latest"), ("direction", "out")]
        ) >= 5.0
    );
    assert!(
        get(
            "llm_relay_sse_events_total",
            &[("model", "hunyuan-turbos-latest")]
        ) >= 8.0
    );
    assert_eq!(
        get(
            "llm_relay_stream_duration_seconds_count",
            &[("kind", "chat")]
        ),
        2.0
    );
    assert_eq!(get("llm_relay_requests_in_flight", &[]), 0.0);
    assert!(
        get(
            "llm_relay_bytes_total",
            &[("kind", "chat"), ("direction", "in")]
        ) > 0.0
    );
    assert!(
        get(
            "llm_relay_bytes_total",
            &[("kind", "chat"), ("direction", "out")]
        ) > 0.0
    );
    assert!(metric(&m, "llm_relay_cascade_cache", &[("stat", "entries")]).is_some());
    assert!(!m.contains("sk-"), "no key material in metrics");

    // promtool's lint of a live scrape (scripts/test.sh installs Debian's prometheus package).
    let dir = common::gateway::scratch("prom");
    let file = dir.join("scrape.txt");
    std::fs::write(&file, &m).unwrap();
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("promtool check metrics < {}", file.display()))
        .output()
        .expect("promtool (apt-get install prometheus)");
    assert!(
        out.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // Every metric the shipped dashboard and alert rules query is one the gateway exports.
    let declared: Vec<&str> = m
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .collect();
    for file in ["conf/grafana-dashboard.json", "conf/prometheus-rules.yaml"] {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/").to_string() + file)
                .unwrap();
        for (i, _) in text.match_indices("llm_relay_") {
            let name: String = text[i..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let base = name.trim_end_matches("_bucket");
            assert!(declared.contains(&base), "{file} uses {name}, not exported");
        }
    }
}

#[tokio::test]
async fn request_ids_and_access_log() {
    let mock = Mock::start(false);
    let gw = Gateway::start(&demo_config(&format!("http://{}", mock.addr), "openai"));
    let c = reqwest::Client::new();
    let r = c
        .post(gw.url("/v1/chat/completions"))
        .header("x-request-id", "req-abc-123")
        .json(&chat(false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "req-abc-123");
    assert_eq!(
        mock.stats().await["last"]["chat"]["headers"]["x-request-id"],
        "req-abc-123"
    );
    let r = c
        .post(gw.url("/v1/chat/completions"))
        .json(&json!({"model": "nope", "messages": [{"role": "user", "content": "x"}]}))
        .send()
        .await
        .unwrap();
    let generated = r.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(generated.len(), 24, "a generated id on refusals too");
    // The access-log thread writes every 50 ms.
    wait_until(WAIT, || {
        let log = gw.log_text();
        std::future::ready(log.contains("req-abc-123") && log.contains(&generated))
    })
    .await;
    let log = gw.log_text();
    let line = log
        .lines()
        .find(|l| l.contains("req-abc-123"))
        .unwrap_or_else(|| panic!("no access line:\n{log}"));
    let v: Value = serde_json::from_str(&line[line.find('{').unwrap()..]).unwrap();
    assert_eq!(v["status"], 200);
    assert_eq!(v["kind"], "chat");
    assert_eq!(v["model"], "hunyuan-turbos-latest");
    assert!(v["total_ms"].as_f64().unwrap() > 0.0);
    assert!(v["ttfb_ms"].as_f64().is_some());
    assert!(v["tokens_in"].as_u64().unwrap() > 0);
    assert!(log.contains(&generated), "refusals are logged too");
}

#[tokio::test]
async fn health_and_readiness() {
    let mock = Mock::start(false);
    // An optional pool whose only member refuses connections, beside the working ones.
    let cfg = demo_config(&format!("http://{}", mock.addr), "openai").replacen(
        "pools:\n",
        "pools:\n  spare:\n    urls: [\"http://127.0.0.1:1/v1\"]\n    health: {check_seconds: 1, required: false}\n",
        1,
    );
    let gw = Gateway::start(&cfg);
    let c = reqwest::Client::new();
    assert_eq!(
        c.get(gw.admin_url("/health/live"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        c.get(gw.url("/health/ready"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // The active checks (every second) find the spare pool's member down.
    wait_until(WAIT, || {
        let url = gw.admin_url("/health");
        async move {
            let h = get_json(url).await;
            h["components"]["pools"]["spare"]["status"] == "unhealthy"
                && h["components"]["pools"]["main"]["last_check"] != "never"
        }
    })
    .await;
    let h: Value = c
        .get(gw.admin_url("/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        h["components"]["pools"]["spare"]["status"], "unhealthy",
        "{h}"
    );
    assert_eq!(h["components"]["pools"]["main"]["status"], "healthy", "{h}");
    assert_eq!(
        h["status"], "healthy",
        "an optional pool being down does not degrade the whole: {h}"
    );
    assert_ne!(h["components"]["pools"]["main"]["last_check"], "never");
    assert_eq!(
        c.get(gw.admin_url("/health/ready"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let m = scrape(&gw).await;
    assert_eq!(
        metric(&m, "llm_relay_upstream_healthy", &[("pool", "spare")]),
        Some(0.0)
    );
    assert_eq!(
        metric(&m, "llm_relay_upstream_healthy", &[("pool", "main")]),
        Some(1.0)
    );
    // Draining: readiness fails at once, while requests are still served.
    gw.signal("QUIT");
    wait_until(WAIT, || {
        let url = gw.admin_url("/health/ready");
        async move { reqwest::get(url).await.is_ok_and(|r| r.status() == 503) }
    })
    .await;
    let r = c.get(gw.admin_url("/health/ready")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    let ok = c
        .post(gw.url("/v1/chat/completions"))
        .json(&chat(false))
        .send()
        .await;
    assert!(
        ok.is_ok_and(|r| r.status() == 200),
        "still serving while draining"
    );
}

#[tokio::test]
async fn required_pool_down_fails_readiness() {
    let dead = free_port();
    let cfg = demo_config(&format!("http://127.0.0.1:{dead}"), "openai").replace(
        "    profile: openai\n",
        "    profile: openai\n    health: {check_seconds: 1}\n",
    );
    let gw = Gateway::start(&cfg);
    wait_until(WAIT, || {
        let url = gw.url("/health/ready");
        async move { reqwest::get(url).await.is_ok_and(|r| r.status() == 503) }
    })
    .await;
    let r = reqwest::get(gw.url("/health/ready")).await.unwrap();
    assert_eq!(r.status(), 503);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["pools_without_healthy_member"]
            .to_string()
            .contains("plain"),
        "{v}"
    );
}

#[tokio::test]
async fn alerts_fire_and_resolve_once_per_transition() {
    let mock = Mock::start(false);
    let rules = "alerts:\n  evaluate_seconds: 1\n  rules:\n    - {name: errors, kind: error_rate, threshold: 0.2, window_seconds: 3, min_samples: 3}\n    - {name: main_down, kind: pool_unhealthy, pool: main}\n";
    let gw = Gateway::start(&format!(
        "{rules}{}",
        demo_config(&format!("http://{}", mock.addr), "openai")
    ));
    let c = reqwest::Client::new();
    for _ in 0..5 {
        let r = c
            .post(gw.url("/v1/chat/completions"))
            .header("x-mock-status", "500")
            .json(&chat(false))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 500, "upstream errors pass through");
    }
    let errors_firing = |want: bool| {
        let url = gw.admin_url("/admin/alerts");
        async move {
            let v = get_json(url).await;
            v["alerts"].as_array().is_some_and(|a| {
                a.iter()
                    .any(|x| x["name"] == "errors" && x["firing"] == want)
            })
        }
    };
    wait_until(WAIT, || errors_firing(true)).await;
    let v: Value = c
        .get(gw.admin_url("/admin/alerts"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let errors = v["alerts"]
        .as_array()
        .unwrap_or_else(|| panic!("{v}"))
        .iter()
        .find(|a| a["name"] == "errors")
        .cloned()
        .unwrap_or_else(|| panic!("{v}"));
    assert_eq!(errors["firing"], true, "{v}");
    assert!(errors["since"].is_string());
    let down = v["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "main_down")
        .cloned()
        .unwrap();
    assert_eq!(down["firing"], false, "{v}");
    assert_eq!(
        metric(
            &scrape(&gw).await,
            "llm_relay_alert_firing",
            &[("rule", "errors")]
        ),
        Some(1.0)
    );
    // Healthy traffic past the window resolves it (the pace is the test: 4 s of it, longer
    // than the 3 s window).
    for _ in 0..10 {
        c.post(gw.url("/v1/chat/completions"))
            .json(&chat(false))
            .send()
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    wait_until(WAIT, || errors_firing(false)).await;
    wait_until(WAIT, || {
        std::future::ready(gw.log_text().contains("alert resolved: errors"))
    })
    .await;
    let v: Value = c
        .get(gw.admin_url("/admin/alerts"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["alerts"][0]["firing"], false, "{v}");
    let log = gw.log_text();
    assert_eq!(log.matches("alert FIRING: errors").count(), 1, "{log}");
    assert_eq!(log.matches("alert resolved: errors").count(), 1, "{log}");
}

#[tokio::test]
async fn usage_is_requested_whatever_stream_options_looked_like() {
    let mock = Mock::start(false);
    let gw = Gateway::start(&demo_config(&format!("http://{}", mock.addr), "openai"));
    let c = reqwest::Client::new();
    for opts in [json!(null), json!({}), json!({"include_usage": false})] {
        let mut body = chat(true);
        body["stream_options"] = opts.clone();
        let text = c
            .post(gw.url("/v1/chat/completions"))
            .json(&body)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            text.contains("[DONE]") && !text.contains("prompt_tokens"),
            "{opts}: {text}"
        );
        let sent = &mock.stats().await["last"]["chat"]["body"];
        assert_eq!(
            sent["stream_options"]["include_usage"], true,
            "{opts}: {sent}"
        );
    }
}

#[tokio::test]
async fn access_log_drops_are_a_metric() {
    let mock = Mock::start(false);
    let gw = Gateway::start(&demo_config(&format!("http://{}", mock.addr), "openai"));
    let m = scrape(&gw).await;
    assert!(
        m.contains("# TYPE llm_relay_access_log_dropped_total counter"),
        "{m}"
    );
    assert_eq!(
        metric(&m, "llm_relay_access_log_dropped_total", &[]),
        Some(0.0),
        "{m}"
    );
}

#[tokio::test]
async fn health_shows_the_cascade_cache_fill_and_no_limiter() {
    let mock = Mock::start(true);
    let gw = Gateway::start(&format!(
        "cascade:\n  vision_model: hunyuan-vision\n{}",
        demo_config(&format!("http://{}", mock.addr), "hunyuan")
    ));
    let c = reqwest::Client::new();
    let img = json!({"model": "hunyuan-turbos-latest", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "what"},
        {"type": "image_url", "image_url": {"url": "https://example.com/x.png"}}]}]});
    let r = c
        .post(gw.url("/v1/chat/completions"))
        .json(&img)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(mock.stats().await["vision_calls"], 1);
    let h: Value = c
        .get(gw.admin_url("/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let cache = &h["components"]["cascade_cache"];
    assert!(cache["entries"].as_u64().is_some_and(|n| n >= 1), "{h}");
    assert!(cache["bytes"].as_u64().is_some_and(|n| n > 0), "{h}");
    assert_eq!(cache["max_entries"], 10_000, "{h}");
    assert_eq!(cache["max_bytes"], 64 << 20, "{h}");
    assert_eq!(cache["evictions"], 0, "{h}");
    assert!(
        h["components"].get("limiter").is_none(),
        "nothing in-process to check about the limiter: {h}"
    );
}
