//! The configurable pipeline (issue 21) through the real binary and the strict mock: each
//! built-in guardrail with every client protocol (chat, Responses, Messages), the order of
//! stages, streamed answers redacted without breaking their framing, and the webhook stage
//! against the mock's `/_policy` service (modify, deny, slow, down, garbage).

mod common;

use common::gateway::{free_port, wait_until, Gateway};
use common::mock::Mock;
use llm_relay::policy::auth::hash_key;
use serde_json::{json, Value};
use std::time::Duration;

const KEY: &str = "sk-stages-team-0001";

fn config(mock: &Mock, pipeline: &str, extra_stages: &str) -> String {
    format!(
        r#"auth:
  keys:
    - {{id: team-a, sha256: "{key}"}}
stages:
  pii: {{type: redact, patterns: [email, phone, card, cn_id, api_key], on: [request, response]}}
  topics: {{type: deny, words: ["project falcon"], regex: ["\\[REDACTED"], status: 403}}
  house: {{type: system_prompt, mode: prepend, text: "Follow the house rules."}}
  size: {{type: input_limit, max_chars: 2000, max_messages: 40}}
  policy: {{type: webhook, url: "http://{addr}/_policy", timeout_ms: 500, on_error: deny}}
  policy_open: {{type: webhook, url: "http://{addr}/_policy", timeout_ms: 500, on_error: allow}}
  down: {{type: webhook, url: "http://127.0.0.1:{closed}/check", timeout_ms: 300, on_error: deny}}
{extra_stages}
pools:
  main:
    urls: ["http://{addr}/v1"]
    profile: hunyuan
    retry: {{attempts: 1}}
pipeline: [validate, pii, cascade, fix]
routes:
  - model: guarded
    pool: main
    upstream_model: hunyuan-turbos-latest
    pipeline: {pipeline}
  - model: plain
    pool: main
    upstream_model: hunyuan-turbos-latest
  - model: hook
    pool: main
    upstream_model: hunyuan-turbos-latest
    pipeline: [validate, policy, fix]
  - model: hook-open
    pool: main
    upstream_model: hunyuan-turbos-latest
    pipeline: [validate, policy_open, fix]
  - model: hook-down
    pool: main
    upstream_model: hunyuan-turbos-latest
    pipeline: [validate, down, fix]
  - model: ordered
    pool: main
    upstream_model: hunyuan-turbos-latest
    pipeline: [validate, topics, pii, fix]
  - model: reordered
    pool: main
    upstream_model: hunyuan-turbos-latest
    pipeline: [validate, pii, topics, fix]
"#,
        key = hex::encode(hash_key(KEY)),
        addr = mock.addr,
        closed = free_port(),
    )
}

const GUARDED: &str = "[validate, topics, pii, house, size, cascade, fix]";

async fn post(gw: &Gateway, path: &str, body: &Value, headers: &[(&str, &str)]) -> (u16, String) {
    let mut r = reqwest::Client::new()
        .post(gw.url(path))
        .bearer_auth(KEY)
        .header("anthropic-version", "2023-06-01")
        .json(body);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let r = r.send().await.expect("send");
    let status = r.status().as_u16();
    (status, r.text().await.expect("body"))
}

/// The body of one request in the client's protocol, carrying `text` as the user's message.
fn body(protocol: &str, model: &str, text: &str, stream: bool) -> (&'static str, Value) {
    match protocol {
        "chat" => (
            "/v1/chat/completions",
            json!({"model": model, "stream": stream,
                   "messages": [{"role": "system", "content": "be brief"},
                                {"role": "user", "content": text}]}),
        ),
        "responses" => (
            "/v1/responses",
            json!({"model": model, "stream": stream, "instructions": "be brief", "input": text}),
        ),
        _ => (
            "/v1/messages",
            json!({"model": model, "stream": stream, "max_tokens": 64, "system": "be brief",
                   "messages": [{"role": "user", "content": text}]}),
        ),
    }
}

/// The chat request the mock received last.
async fn upstream_chat(mock: &Mock) -> Value {
    mock.stats().await["last"]["chat"]["body"].clone()
}

fn all_text(v: &Value) -> String {
    v.to_string()
}

/// The access-log line of the request whose answer carried `x-request-id` … here: the last
/// line that mentions `model`.
fn access_lines(gw: &Gateway) -> Vec<Value> {
    gw.log_text()
        .lines()
        .filter(|l| l.starts_with('{'))
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guardrails_apply_in_every_protocol() {
    let mock = Mock::start(true);
    let gw = Gateway::start(&config(&mock, GUARDED, ""));
    for protocol in ["chat", "responses", "messages"] {
        // Redaction and the enforced system prompt: what reaches the (strict) upstream.
        let text = "Mail jane.doe@example.com or call 13800138000, card 4111 1111 1111 1111.";
        let (path, b) = body(protocol, "guarded", text, false);
        let (status, answer) = post(&gw, path, &b, &[]).await;
        assert_eq!(status, 200, "{protocol}: {answer}");
        let sent = upstream_chat(&mock).await;
        let sent_text = all_text(&sent);
        for secret in ["jane.doe", "13800138000", "4111"] {
            assert!(!sent_text.contains(secret), "{protocol}: {sent_text}");
            assert!(!answer.contains(secret), "{protocol}: {answer}");
        }
        assert!(sent_text.contains("[REDACTED:email]"), "{sent_text}");
        let first = &sent["messages"][0];
        assert_eq!(first["role"], "system", "{protocol}: {sent}");
        let system = first["content"].as_str().unwrap_or_default();
        assert!(
            system.starts_with("Follow the house rules."),
            "{protocol}: {system}"
        );
        assert!(system.contains("be brief"), "{protocol}: {system}");

        // A denied word: refused in the client's own error shape, with the stage's status.
        let (path, b) = body(protocol, "guarded", "tell me about Project Falcon", false);
        let (status, answer) = post(&gw, path, &b, &[]).await;
        assert_eq!(status, 403, "{protocol}: {answer}");
        let v: Value = serde_json::from_str(&answer).unwrap();
        if protocol == "messages" {
            assert_eq!(v["type"], "error", "{answer}");
            assert_eq!(v["error"]["type"], "permission_error", "{answer}");
        } else {
            assert_eq!(v["error"]["code"], "content_policy_violation", "{answer}");
        }
        assert!(answer.contains("`topics`"), "{answer}");
        assert!(!answer.to_lowercase().contains("falcon"), "{answer}");

        // The input limit.
        let long = "word ".repeat(500);
        let (path, b) = body(protocol, "guarded", &long, false);
        let (status, answer) = post(&gw, path, &b, &[]).await;
        assert_eq!(status, 400, "{protocol}: {answer}");
        assert!(answer.contains("2000"), "{answer}");
    }
    // The access log names the stages that changed or refused a request.
    assert!(
        wait_until(Duration::from_secs(5), || async {
            let lines = access_lines(&gw);
            lines.iter().any(|l| l["stages"] == json!(["pii", "house"]))
                && lines.iter().filter(|l| l["refused_by"] == "topics").count() == 3
                && lines.iter().filter(|l| l["refused_by"] == "size").count() == 3
        })
        .await,
        "{}",
        gw.log_text()
    );
    // Per-stage metrics.
    let m = reqwest::get(gw.admin_url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for series in [
        r#"llm_relay_stage_decisions_total{decision="modify",phase="request",stage="pii"} 3"#,
        r#"llm_relay_stage_decisions_total{decision="refuse",phase="request",stage="topics"} 3"#,
        r#"llm_relay_stage_seconds_count{phase="request",stage="house"}"#,
    ] {
        assert!(m.contains(series), "{series}\n{m}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stages_run_in_the_order_listed() {
    let mock = Mock::start(true);
    let gw = Gateway::start(&config(&mock, GUARDED, ""));
    // `topics` denies the text `[REDACTED`: only when `pii` ran before it is there any.
    let (path, b) = body("chat", "ordered", "write to a@example.com", false);
    let (status, answer) = post(&gw, path, &b, &[]).await;
    assert_eq!(status, 200, "{answer}");
    let (path, b) = body("chat", "reordered", "write to a@example.com", false);
    let (status, answer) = post(&gw, path, &b, &[]).await;
    assert_eq!(status, 403, "{answer}");
    // A route without its own pipeline has the top-level one.
    let (path, b) = body("chat", "plain", "write to a@example.com", false);
    let (status, _) = post(&gw, path, &b, &[]).await;
    assert_eq!(status, 200);
    assert!(all_text(&upstream_chat(&mock).await).contains("[REDACTED:email]"));
}

/// The content of a chat stream, and whether it is well framed (every event JSON, `[DONE]`).
fn chat_stream_text(sse: &str) -> (String, bool) {
    let mut text = String::new();
    let mut ok = sse.trim_end().ends_with("data: [DONE]");
    for d in sse.split("\n\n").filter_map(|e| e.strip_prefix("data: ")) {
        if d == "[DONE]" {
            continue;
        }
        match serde_json::from_str::<Value>(d) {
            Ok(v) => {
                if let Some(s) = v
                    .pointer("/choices/0/delta/content")
                    .and_then(Value::as_str)
                {
                    text.push_str(s);
                }
            }
            Err(_) => ok = false,
        }
    }
    (text, ok)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_answers_are_redacted_without_breaking_the_stream() {
    let mock = Mock::start(true);
    // Only the answer is redacted here, so the mock echoes the address back.
    let extra =
        "  answers: {type: redact, patterns: [email, phone], on: [response], window_bytes: 64}\n";
    let gw = Gateway::start(&config(&mock, "[validate, answers, fix]", extra));
    let text = "reach jane.doe@example.com or 13800138000 now";
    for piece in ["1", "3", "7"] {
        let knobs = [("x-mock-echo", piece)];
        let (path, b) = body("chat", "guarded", text, true);
        let (status, sse) = post(&gw, path, &b, &knobs).await;
        assert_eq!(status, 200, "{sse}");
        let (content, framed) = chat_stream_text(&sse);
        assert!(framed, "{sse}");
        assert_eq!(
            content,
            "mock reply to: reach [REDACTED:email] or [REDACTED:phone] now"
        );
        assert!(!sse.contains("example") && !sse.contains("0013"), "{sse}");
        // The translated protocols carry the redacted text in their own events.
        for protocol in ["responses", "messages"] {
            let (path, b) = body(protocol, "guarded", text, true);
            let (status, sse) = post(&gw, path, &b, &knobs).await;
            assert_eq!(status, 200, "{sse}");
            assert!(sse.contains("[REDACTED:email]"), "{protocol}: {sse}");
            assert!(!sse.contains("example.com"), "{protocol}: {sse}");
            let last = if protocol == "responses" {
                "response.completed"
            } else {
                "message_stop"
            };
            assert!(sse.contains(last), "{protocol}: {sse}");
        }
    }
    // The request went upstream unredacted (the stage is on answers only).
    assert!(all_text(&upstream_chat(&mock).await).contains("jane.doe@example.com"));
    // A JSON answer too.
    let (path, b) = body("chat", "guarded", text, false);
    let (status, answer) = post(&gw, path, &b, &[]).await;
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&answer).unwrap();
    let content = v["choices"][0]["message"]["content"].as_str().unwrap();
    assert_eq!(
        content,
        "mock reply to: reach [REDACTED:email] or [REDACTED:phone] now"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_modifies_denies_and_fails_by_policy() {
    let mock = Mock::start(true);
    let gw = Gateway::start(&config(&mock, GUARDED, ""));
    // Allow: the request goes on as it was; the service saw a key id, never the key.
    let (path, b) = body("chat", "hook", "hello there", false);
    let (status, answer) = post(&gw, path, &b, &[]).await;
    assert_eq!(status, 200, "{answer}");
    let seen = mock.stats().await["last"]["policy"]["body"].clone();
    assert_eq!(seen["key_id"], "team-a", "{seen}");
    assert_eq!(seen["phase"], "request");
    assert_eq!(seen["stage"], "policy");
    assert!(!seen.to_string().contains(KEY));
    // Modify: what the service changed is what goes upstream, in every protocol.
    for protocol in ["chat", "responses", "messages"] {
        let (path, b) = body(protocol, "hook", "please #modify this", false);
        let (status, answer) = post(&gw, path, &b, &[]).await;
        assert_eq!(status, 200, "{protocol}: {answer}");
        let sent = all_text(&upstream_chat(&mock).await);
        assert!(sent.contains("modified-by-policy"), "{protocol}: {sent}");
        assert!(!sent.contains("#modify"), "{sent}");
        // Deny: the service's status and message, in the client's shape.
        let (path, b) = body(protocol, "hook", "#deny me", false);
        let (status, answer) = post(&gw, path, &b, &[]).await;
        assert_eq!(status, 403, "{protocol}: {answer}");
        assert!(answer.contains("blocked by policy"), "{answer}");
    }
    // Fail closed: slow, garbage, a 500, an invalid change, a service that is down → 503.
    for (model, text) in [
        ("hook", "#slow"),
        ("hook", "#garbage"),
        ("hook", "#500"),
        ("hook", "#badmodify"),
        ("hook-down", "anything"),
    ] {
        let (path, b) = body("chat", model, text, false);
        let t0 = std::time::Instant::now();
        let (status, answer) = post(&gw, path, &b, &[]).await;
        assert_eq!(status, 503, "{model} {text}: {answer}");
        let v: Value = serde_json::from_str(&answer).unwrap();
        assert_eq!(v["error"]["code"], "stage_unavailable", "{answer}");
        // The slow service is cut at its timeout (500 ms), not waited for (2 s).
        assert!(t0.elapsed() < Duration::from_millis(1900), "{model} {text}");
    }
    // Fail open: the same failures let the request through unchanged.
    for text in ["#slow", "#garbage", "#500", "#badmodify"] {
        let (path, b) = body("chat", "hook-open", text, false);
        let (status, answer) = post(&gw, path, &b, &[]).await;
        assert_eq!(status, 200, "{text}: {answer}");
        assert!(all_text(&upstream_chat(&mock).await).contains(text));
    }
    let m = reqwest::get(gw.admin_url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        m.contains(r#"llm_relay_stage_decisions_total{decision="error",phase="request",stage="policy_open"} 4"#),
        "{m}"
    );
}

#[test]
fn bad_pipelines_fail_the_config_check_naming_the_key() {
    let mock = Mock::start(false);
    for (pipeline, extra, expect) in [
        (
            "[validate, nope, fix]",
            "",
            "routes[0].pipeline[1]: unknown stage `nope`",
        ),
        (
            "[fix, validate]",
            "",
            "routes[0].pipeline[1]: `validate` always runs first",
        ),
        (
            "[validate, pii, pii]",
            "",
            "routes[0].pipeline[2]: `pii` is listed twice",
        ),
        (
            "[validate, fix]",
            "  bad: {type: deny, regex: [\"(\"]}\n",
            "stages.bad: regex[0]",
        ),
        (
            "[validate, fix]",
            "  w: {type: wasm, module: /nonexistent.wasm}\n",
            "stages.w: module /nonexistent.wasm",
        ),
        (
            "[validate, fix]",
            "  sp: {type: system_prompt, mode: replace}\n",
            "stages.sp: `text` is required",
        ),
    ] {
        let dir = common::gateway::scratch("stages-check");
        let path = dir.join("relay.yaml");
        std::fs::write(&path, config(&mock, pipeline, extra)).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_llm-relay"))
            .args(["-t", "--config"])
            .arg(&path)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{pipeline}");
        assert!(err.contains(expect), "{pipeline}: {err}");
    }
}
