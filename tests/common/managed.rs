//! What the tests of keys managed at run time (`auth.store`) share: a gateway config on the
//! mock with the route `m`, a call to the admin API, and a chat request.
#![allow(dead_code)]

use super::gateway::Gateway;
use super::mock::Mock;
use llm_relay::policy::auth::hash_key;
use serde_json::{json, Value};

/// The `auth:` section: the admin key, a config-file key `from-config` (with `limits`, a flow
/// map's members) when given, and `store` (the `store:` flow map, e.g. `{backend: redis}`).
pub fn auth(admin: &str, config_key: Option<(&str, &str)>, store: Option<&str>) -> String {
    let keys = config_key.map_or(String::new(), |(key, limits)| {
        let limits = if limits.is_empty() {
            String::new()
        } else {
            format!(", {limits}")
        };
        format!(
            "  keys:\n    - {{id: from-config, sha256: \"{}\"{limits}}}\n",
            hex::encode(hash_key(key))
        )
    });
    let store = store.map_or(String::new(), |s| format!("  store: {s}\n"));
    format!(
        "auth:\n{keys}  admin_key_sha256: \"{}\"\n{store}",
        hex::encode(hash_key(admin))
    )
}

/// `head` (top-level sections, e.g. `redis:`), `auth` ([`auth`]), and a pool on the mock with
/// the route `m`, priced when `price` (a flow map) is given.
pub fn config(mock: &Mock, head: &str, auth: &str, price: Option<&str>) -> String {
    let price = price.map_or(String::new(), |p| format!("    price: {p}\n"));
    format!(
        "{head}{auth}pools:\n  main:\n    urls: [\"http://{}/v1\"]\n    retry: {{attempts: 1}}\n\
         routes:\n  - model: m\n    pool: main\n{price}",
        mock.addr
    )
}

/// One admin call with `admin` as the bearer; (status, JSON body or null).
pub async fn admin(
    gw: &Gateway,
    admin: &str,
    method: &str,
    path: &str,
    body: Value,
) -> (u16, Value) {
    let r = reqwest::Client::new()
        .request(method.parse().expect("method"), gw.admin_url(path))
        .bearer_auth(admin)
        .json(&body)
        .send()
        .await
        .expect("admin");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// One chat request for `model` with `key`; (status, JSON body or null).
pub async fn chat(gw: &Gateway, key: &str, model: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(&json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .expect("chat");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}
