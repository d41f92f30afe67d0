//! Wasm plugin stages through the real binary (issue 21): the example plugin
//! (`plugins/tagger.wasm`) modifies and denies in every client protocol; plugins that trap,
//! loop forever, or allocate without bound are stopped, counted, and leave the gateway
//! serving (fail closed and fail open); a reload swaps a plugin under load without a failed
//! request.

mod common;

use common::gateway::{scratch, wait_until, Gateway};
use common::mock::Mock;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const TAG: &str = "Tagged by the tagger plugin.";

fn tagger() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("plugins/tagger.wasm")
}

/// Writes the module of `wat` to a scratch file.
fn module(name: &str, wat: &str) -> PathBuf {
    let path = scratch("plugins").join(format!("{name}.wasm"));
    std::fs::write(&path, wat::parse_str(wat).expect("wat")).expect("write module");
    path
}

/// Allows every request: `{"action":"allow"}` (18 bytes at address 0).
const ALLOW: &str = r#"(module
  (memory (export "memory") 16)
  (data (i32.const 0) "{\"action\":\"allow\"}")
  (func (export "alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "handle") (param i32 i32) (result i64) (i64.const 18)))"#;

const TRAP: &str = r#"(module
  (memory (export "memory") 16)
  (func (export "alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "handle") (param i32 i32) (result i64) unreachable))"#;

const LOOP: &str = r#"(module
  (memory (export "memory") 16)
  (func (export "alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "handle") (param i32 i32) (result i64)
    (loop $l (br $l))
    (i64.const 0)))"#;

/// Grows its memory a page at a time, for ever.
const GREEDY: &str = r#"(module
  (memory (export "memory") 16)
  (func (export "alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "handle") (param i32 i32) (result i64)
    (loop $l (drop (memory.grow (i32.const 1))) (br $l))
    (i64.const 0)))"#;

fn config(mock: &Mock, tagger: &Path, extra: &str) -> String {
    let m = |name: &str, wat: &str| module(name, wat).display().to_string();
    format!(
        r#"stages:
  tagger: {{type: wasm, module: "{tagger}"}}
  trap: {{type: wasm, module: "{trap}"}}
  trap_open: {{type: wasm, module: "{trap}", on_error: allow}}
  loop: {{type: wasm, module: "{lp}", fuel: 200000, timeout_ms: 5000}}
  slow: {{type: wasm, module: "{lp}", fuel: 3000000000, timeout_ms: 20}}
  greedy: {{type: wasm, module: "{greedy}", max_memory_mb: 4}}
{extra}
pools:
  main:
    urls: ["http://{addr}/v1"]
    profile: hunyuan
    retry: {{attempts: 1}}
routes:
  - {{model: tagged, pool: main, upstream_model: hunyuan-turbos-latest, pipeline: [validate, tagger, fix]}}
  - {{model: trap, pool: main, upstream_model: hunyuan-turbos-latest, pipeline: [validate, trap, fix]}}
  - {{model: trap-open, pool: main, upstream_model: hunyuan-turbos-latest, pipeline: [validate, trap_open, fix]}}
  - {{model: loop, pool: main, upstream_model: hunyuan-turbos-latest, pipeline: [validate, loop, fix]}}
  - {{model: slow, pool: main, upstream_model: hunyuan-turbos-latest, pipeline: [validate, slow, fix]}}
  - {{model: greedy, pool: main, upstream_model: hunyuan-turbos-latest, pipeline: [validate, greedy, fix]}}
"#,
        tagger = tagger.display(),
        trap = m("trap", TRAP),
        lp = m("loop", LOOP),
        greedy = m("greedy", GREEDY),
        addr = mock.addr,
    )
}

fn request(protocol: &str, model: &str, text: &str) -> (&'static str, Value) {
    match protocol {
        "chat" => (
            "/v1/chat/completions",
            json!({"model": model, "messages": [{"role": "user", "content": text}]}),
        ),
        "responses" => ("/v1/responses", json!({"model": model, "input": text})),
        _ => (
            "/v1/messages",
            json!({"model": model, "max_tokens": 32, "messages": [{"role": "user", "content": text}]}),
        ),
    }
}

async fn post(gw: &Gateway, protocol: &str, model: &str, text: &str) -> (u16, String) {
    let (path, body) = request(protocol, model, text);
    let r = reqwest::Client::new()
        .post(gw.url(path))
        .header("anthropic-version", "2023-06-01")
        .json(&body)
        .send()
        .await;
    let r = match r {
        Ok(r) => r,
        Err(e) => return (0, format!("{e}\n{}", gw.log_text())),
    };
    let status = r.status().as_u16();
    (status, r.text().await.expect("body"))
}

async fn upstream_system(mock: &Mock) -> String {
    let chat = mock.stats().await["last"]["chat"]["body"].clone();
    chat["messages"][0]["content"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_plugin_modifies_and_denies_in_every_protocol() {
    let mock = Mock::start(true);
    let gw = Gateway::start(&config(&mock, &tagger(), ""));
    for protocol in ["chat", "responses", "messages"] {
        let (status, answer) = post(&gw, protocol, "tagged", "hello").await;
        assert_eq!(status, 200, "{protocol}: {answer}");
        assert_eq!(upstream_system(&mock).await, TAG, "{protocol}");
        let (status, answer) = post(&gw, protocol, "tagged", "please #deny-by-tagger").await;
        assert_eq!(status, 403, "{protocol}: {answer}");
        assert!(answer.contains("the tagger plugin refuses"), "{answer}");
        let v: Value = serde_json::from_str(&answer).unwrap();
        if protocol == "messages" {
            assert_eq!(v["error"]["type"], "permission_error", "{answer}");
        } else {
            assert_eq!(v["error"]["code"], "content_policy_violation", "{answer}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trapping_looping_or_greedy_plugin_is_stopped_and_counted() {
    let mock = Mock::start(true);
    let gw = Gateway::start(&config(&mock, &tagger(), ""));
    for model in ["trap", "loop", "slow", "greedy"] {
        let (status, answer) = post(&gw, "chat", model, "hello").await;
        assert_eq!(status, 503, "{model}: {answer}");
        assert!(answer.contains("stage_unavailable"), "{answer}");
        // The gateway still serves, the same plugin included.
        let (status, _) = post(&gw, "chat", "tagged", "hello").await;
        assert_eq!(status, 200, "after {model}");
    }
    // Fail open: the request goes on unchanged.
    let (status, answer) = post(&gw, "chat", "trap-open", "hello").await;
    assert_eq!(status, 200, "{answer}");
    let log = gw.log_text();
    for why in [
        "trapped",
        "ran out of fuel",
        "took longer than 20 ms",
        "memory limit",
    ] {
        assert!(log.contains(why), "{why}: {log}");
    }
    let m = reqwest::get(gw.admin_url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for stage in ["trap", "loop", "slow", "greedy", "trap_open"] {
        let series = format!(
            r#"llm_relay_stage_decisions_total{{decision="error",phase="request",stage="{stage}"}} 1"#
        );
        assert!(m.contains(&series), "{series}\n{m}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_swaps_a_plugin_under_load_without_a_failed_request() {
    let mock = Mock::start(true);
    let gw = Arc::new(Gateway::start(&config(&mock, &tagger(), "")));
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut load = Vec::new();
    for _ in 0..4 {
        let (gw, stop, ok, failed) = (gw.clone(), stop.clone(), ok.clone(), failed.clone());
        load.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            while !stop.load(Ordering::Relaxed) {
                let (path, body) = request("chat", "tagged", "hello");
                let r = client.post(gw.url(path)).json(&body).send().await;
                match r {
                    Ok(r) if r.status() == 200 => ok.fetch_add(1, Ordering::Relaxed),
                    _ => failed.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    let o = ok.clone();
    assert!(
        wait_until(Duration::from_secs(10), || {
            let o = o.clone();
            async move { o.load(Ordering::Relaxed) >= 20 }
        })
        .await
    );
    assert_eq!(upstream_system(&mock).await, TAG);
    // The same stage name, another module: the new one is compiled and swapped in.
    let allow = module("allow", ALLOW);
    let path = gw.dir.join("relay.yaml");
    let old = std::fs::read_to_string(&path).unwrap();
    let new = old.replace(
        &tagger().display().to_string(),
        &allow.display().to_string(),
    );
    assert_ne!(old, new);
    std::fs::write(&path, new).unwrap();
    gw.signal("HUP");
    let m = &mock;
    assert!(
        wait_until(Duration::from_secs(10), || async move {
            upstream_system(m).await != TAG
        })
        .await,
        "{}",
        gw.log_text()
    );
    let before = ok.load(Ordering::Relaxed);
    let o = ok.clone();
    assert!(
        wait_until(Duration::from_secs(10), || {
            let o = o.clone();
            async move { o.load(Ordering::Relaxed) >= before + 20 }
        })
        .await
    );
    stop.store(true, Ordering::Relaxed);
    for t in load {
        t.await.unwrap();
    }
    assert_eq!(failed.load(Ordering::Relaxed), 0, "{}", gw.log_text());
    assert!(ok.load(Ordering::Relaxed) >= 40);
    // After the swap no request is tagged.
    let (status, _) = post(&gw, "chat", "tagged", "hello").await;
    assert_eq!(status, 200);
    assert_ne!(upstream_system(&mock).await, TAG);
}
