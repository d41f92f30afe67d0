//! Rendering per try: the body is rendered for the pool each try goes to, so a fallback to a
//! pool of another provider gets a body made for it. Before, the body prepared for the
//! primary pool was reused, and a strict Hunyuan fallback refused it.

use crate::common::gateway::{free_port, Gateway};
use crate::common::mock::Mock;
use serde_json::{json, Value};

fn config(mock: &Mock, primary: &str, fallback: &str) -> String {
    let dead = free_port();
    format!(
        "pools:\n  down:\n    urls: [\"http://127.0.0.1:{dead}/v1\"]\n    provider: {{type: {primary}}}\n    \
         health: {{check_seconds: 0}}\n    retry: {{attempts: 1}}\n  \
         strict:\n    urls: [\"{}/v1\"]\n    provider: {{type: {fallback}}}\n\
         routes:\n  - {{model: m, pool: down, fallback: strict, upstream_model: hunyuan-turbos-latest}}\n",
        mock.url("")
    )
}

/// Two user turns in a row: Hunyuan refuses them ("user followed by user"); its fixer merges.
fn history(stream: bool) -> Value {
    json!({
        "model": "m",
        "stream": stream,
        "messages": [
            {"role": "user", "content": "first"},
            {"role": "user", "content": "second"},
        ],
    })
}

async fn post(gw: &Gateway, body: &Value) -> (u16, String) {
    let r = reqwest::Client::new()
        .post(gw.url("/v1/chat/completions"))
        .json(body)
        .send()
        .await
        .expect("send");
    let status = r.status().as_u16();
    (status, r.text().await.unwrap_or_default())
}

#[tokio::test]
async fn an_openai_primary_with_a_hunyuan_fallback_sends_a_fixed_body() {
    let mock = Mock::start(true);
    let gw = Gateway::start(&config(&mock, "openai", "hunyuan"));
    for stream in [false, true] {
        let (status, text) = post(&gw, &history(stream)).await;
        assert_eq!(status, 200, "stream {stream}: {text}");
        assert!(!text.contains("\"error\""), "stream {stream}: {text}");
    }
    let stats = mock.stats().await;
    assert_eq!(stats["requests"]["chat"], 2, "{stats}");
}

/// The other way round: the primary fixes, the fallback (OpenAI) gets the client's history
/// rendered for it — here the same strict mock, which shows it got the unfixed turns.
#[tokio::test]
async fn a_hunyuan_primary_with_an_openai_fallback_sends_the_unfixed_body() {
    let mock = Mock::start(true);
    let gw = Gateway::start(&config(&mock, "hunyuan", "openai"));
    let (status, text) = post(&gw, &history(false)).await;
    assert_eq!(
        status, 400,
        "the strict upstream saw two user turns: {text}"
    );
}

/// A Hunyuan route whose pool is down falls back to an Anthropic pool: chat and Messages
/// clients get their answer from it, rendered and decoded for it.
#[tokio::test]
async fn a_hunyuan_route_falls_back_to_an_anthropic_pool() {
    let mock = Mock::start(true);
    let dead = free_port();
    let gw = Gateway::start(&format!(
        "pools:\n  hy:\n    urls: [\"http://127.0.0.1:{dead}/v1\"]\n    provider: {{type: hunyuan}}\n    \
         health: {{check_seconds: 0}}\n    retry: {{attempts: 1}}\n  \
         claude:\n    urls: [\"{}/v1\"]\n    provider: {{type: anthropic, api_key_env: TEST_PROVIDER_KEY}}\n\
         routes:\n  - {{model: m, pool: hy, fallback: claude, upstream_model: claude-sonnet-4-5}}\n",
        mock.url("")
    ));
    for stream in [false, true] {
        let (status, text) = post(&gw, &history(stream)).await;
        assert_eq!(status, 200, "stream {stream}: {text}");
        assert!(!text.contains("\"error\""), "stream {stream}: {text}");
    }
    // A Messages client is translated (not every pool of the route speaks Messages) and gets
    // Anthropic's shape back.
    let r = reqwest::Client::new()
        .post(gw.url("/v1/messages"))
        .header("anthropic-version", "2023-06-01")
        .json(&json!({"model": "m", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["type"], "message", "{v}");
    let stats = mock.stats().await;
    assert_eq!(stats["requests"]["messages"], 3, "{stats}");
    assert_eq!(stats["requests"]["chat"], 0, "{stats}");
}
