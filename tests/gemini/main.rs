//! The Gemini front door (`/v1beta/models/{model}:generateContent`, `:streamGenerateContent`,
//! `:countTokens`, `/v1beta/models`) through the real gateway in front of the Hunyuan-strict
//! mock: answers, both stream framings, local answers, a function-calling round trip, errors
//! in Google's shape, keys that never reach the upstream, and real Google clients.

#[path = "../common/mod.rs"]
mod common;

mod clients;
mod errors;
mod flows;

use common::gateway::{wait_until, Gateway};
use common::mock::Mock;
use llm_relay::policy::auth::hash_key;
use serde_json::{json, Value};
use std::time::Duration;

/// The key every test sends (all models, no limits).
pub const KEY: &str = "sk-gemini-full-0001";
/// A key that may use only `hy-*` models.
pub const KEY_HY: &str = "sk-gemini-hy-0002";
pub const MODEL: &str = "hunyuan-turbos-latest";

/// Keys, one hunyuan-profile pool on `mock` without retries, and the routes a Gemini client
/// names (`gemini-*` aliased to Hunyuan, as an operator would for Gemini CLI).
pub fn config(mock: &Mock) -> String {
    format!(
        r#"auth:
  keys:
    - {{id: full, sha256: "{full}"}}
    - {{id: hy, sha256: "{hy}", models: ["hy-*"]}}
pools:
  hy:
    urls: ["http://{addr}/v1"]
    profile: hunyuan
    api_key_env: TEST_PROVIDER_KEY
    retry: {{attempts: 1}}
    timeouts: {{connect_ms: 1000, first_byte_ms: 5000, idle_ms: 5000}}
routes:
  - {{model: hunyuan-turbos-latest, pool: hy, kinds: [chat]}}
  - {{model: hunyuan-t1-latest, pool: hy, kinds: [chat]}}
  - {{model: "gemini-*", pool: hy, upstream_model: hunyuan-turbos-latest, kinds: [chat]}}
  - {{model: text-embedding-3-small, pool: hy, kinds: [embeddings]}}
"#,
        full = hex::encode(hash_key(KEY)),
        hy = hex::encode(hash_key(KEY_HY)),
        addr = mock.addr,
    )
}

pub fn setup() -> (Mock, Gateway) {
    let mock = Mock::start(true);
    let gw = Gateway::start(&config(&mock));
    (mock, gw)
}

/// An answer: status, headers, body text.
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `data:` events of an SSE answer, as JSON.
    pub fn events(&self) -> Vec<Value> {
        self.text
            .split("\n\n")
            .filter_map(|e| e.lines().find_map(|l| l.strip_prefix("data: ")))
            .map(|d| serde_json::from_str(d).unwrap_or(Value::String(d.into())))
            .collect()
    }

    /// The Google error envelope with `status` and `name`.
    pub fn assert_google_error(&self, status: u16, name: &str) {
        assert_eq!(self.status, status, "{}", self.text);
        let v = self.json();
        assert_eq!(v["error"]["code"], status, "{}", self.text);
        assert_eq!(v["error"]["status"], name, "{}", self.text);
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{}",
            self.text
        );
        assert_eq!(v.as_object().map(|o| o.len()), Some(1), "{}", self.text);
    }
}

/// Sends `method path` with `headers` and a JSON `body`.
pub async fn send(
    gw: &Gateway,
    method: reqwest::Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
) -> Answer {
    let mut req = reqwest::Client::new().request(method, gw.url(path));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(b) = body {
        req = req.header("content-type", "application/json").body(b);
    }
    let r = req.send().await.expect("send");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap_or_default();
    Answer {
        status,
        headers,
        text,
    }
}

/// `POST /v1beta/models/{model}:{method}{query}` with `x-goog-api-key` (as the SDKs send it)
/// and `extra` headers.
pub async fn call(gw: &Gateway, target: &str, body: &Value, extra: &[(&str, &str)]) -> Answer {
    let mut h = vec![("x-goog-api-key", KEY)];
    h.extend_from_slice(extra);
    let path = format!("/v1beta/models/{target}");
    send(
        gw,
        reqwest::Method::POST,
        &path,
        &h,
        Some(body.to_string().into_bytes()),
    )
    .await
}

pub async fn get(gw: &Gateway, path: &str, key: &str) -> Answer {
    send(
        gw,
        reqwest::Method::GET,
        path,
        &[("x-goog-api-key", key)],
        None,
    )
    .await
}

pub fn ask(text: &str) -> Value {
    json!({"contents": [{"role": "user", "parts": [{"text": text}]}]})
}

/// The text parts (not thoughts) of a response, joined.
pub fn text_of(r: &Value) -> String {
    r["candidates"][0]["content"]["parts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p.get("thought").is_none())
        .filter_map(|p| p["text"].as_str())
        .collect()
}

/// The access-log line (gateway stderr) of the request with `id`, once written.
pub async fn access_line(gw: &Gateway, id: &str) -> Value {
    let needle = format!("\"request_id\":\"{id}\"");
    let found = wait_until(Duration::from_secs(10), || {
        let hit = gw.log_text().contains(&needle);
        async move { hit }
    })
    .await;
    assert!(found, "no access line for {id}:\n{}", gw.log_text());
    let log = gw.log_text();
    let line = log
        .lines()
        .find(|l| l.starts_with('{') && l.contains(&needle))
        .unwrap_or_default();
    serde_json::from_str(line).expect("access line is JSON")
}
