//! Zero-downtime binary upgrade under load, through scripts/upgrade.sh: continuous requests
//! and SSE streams that outlive the switch; no request fails, every stream completes, and the
//! old process fails readiness while it drains.

mod common;

use common::gateway::{demo_config, Gateway};
use common::mock::Mock;
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn upgrade_under_load_loses_nothing() {
    let mock = Mock::start(false);
    let gw = Gateway::start_full(
        &demo_config(&format!("http://{}", mock.addr), "openai"),
        &[],
        "grace_period_seconds: 4\ngraceful_shutdown_timeout_seconds: 3\n",
    );
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let body =
        json!({"model": "hunyuan-turbos-latest", "messages": [{"role": "user", "content": "hi"}]});
    // ~200 requests/s for 8 s from 4 keep-alive clients.
    let mut load = Vec::new();
    for _ in 0..4 {
        let (url, body, ok, failed, errors) = (
            gw.url("/v1/chat/completions"),
            body.clone(),
            ok.clone(),
            failed.clone(),
            errors.clone(),
        );
        load.push(tokio::spawn(async move {
            let c = reqwest::Client::builder()
                .timeout(Duration::from_secs(15))
                .build()
                .unwrap();
            let t0 = Instant::now();
            while t0.elapsed() < Duration::from_secs(8) {
                let res = match c.post(&url).json(&body).send().await {
                    Ok(r) => {
                        let status = r.status();
                        r.text().await.map(|_| status)
                    }
                    Err(e) => Err(e),
                };
                match res {
                    Ok(s) if s == 200 => ok.fetch_add(1, Ordering::Relaxed),
                    Ok(s) => {
                        errors.lock().unwrap().push(format!("status {s}"));
                        failed.fetch_add(1, Ordering::Relaxed)
                    }
                    Err(e) => {
                        errors.lock().unwrap().push(format!("{e:?}"));
                        failed.fetch_add(1, Ordering::Relaxed)
                    }
                };
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }));
    }
    // Streams of ~3 s that start before the switch and end after it.
    let mut streams = Vec::new();
    for _ in 0..4 {
        let url = gw.url("/v1/chat/completions");
        let mut sb = body.clone();
        sb["stream"] = json!(true);
        streams.push(tokio::spawn(async move {
            let r = reqwest::Client::builder()
                .timeout(Duration::from_secs(15))
                .build()
                .unwrap()
                .post(url)
                .header("x-mock-events", "15")
                .header("x-mock-interval-ms", "200")
                .json(&sb)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            r.text().await.map_err(|e| e.to_string())
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let dir = gw.dir.clone();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/upgrade.sh");
    let upgrade = tokio::process::Command::new("bash")
        .arg(script)
        .env("LLM_RELAY_BIN", env!("CARGO_BIN_EXE_llm-relay"))
        .env("PINGORA_CONF", dir.join("pingora.yaml"))
        .env("RELAY_CONF", dir.join("relay.yaml"))
        .env("OLD_PID", gw.pid().to_string())
        .env("TEST_PROVIDER_KEY", common::gateway::PROVIDER_KEY)
        .env("UPGRADE_TIMEOUT", "20")
        .env("UPGRADE_LOG", dir.join("new.log"))
        .output();
    // While the old process drains, its readiness says 503 (seen in its log: the admin socket
    // now belongs to both processes, so a probe may reach either).
    let out = upgrade.await.unwrap();
    let new_pid: u32 = std::fs::read_to_string(dir.join("pid"))
        .unwrap_or_default()
        .trim()
        .parse()
        .unwrap_or(0);
    let guard = KillOnDrop(new_pid);
    assert!(
        out.status.success(),
        "upgrade.sh: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(new_pid > 0 && new_pid != gw.pid());
    for t in load {
        t.await.unwrap();
    }
    for s in streams {
        let text = s.await.unwrap().expect("stream");
        assert!(
            text.trim_end().ends_with("data: [DONE]"),
            "a stream was cut: {text}"
        );
    }
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    assert!(ok > 300, "load ran: {ok}");
    assert_eq!(
        failed,
        0,
        "failed requests during the upgrade: {:?}",
        errors.lock().unwrap()
    );
    assert!(
        gw.log_text()
            .contains("draining: readiness now answers 503"),
        "{}",
        gw.log_text()
    );
    // The new process serves and is ready.
    let r = reqwest::get(gw.url("/health/ready")).await.unwrap();
    assert_eq!(r.status(), 200);
    drop(guard);
}

struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if self.0 > 0 {
            let _ = std::process::Command::new("kill")
                .arg(self.0.to_string())
                .status();
        }
    }
}
