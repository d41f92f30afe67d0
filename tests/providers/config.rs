//! `pools.<name>.provider` is a tagged enum; the old `profile` still loads, and the two
//! together fail `-t` with what to write instead.

/// `llm-relay -t --config <file>` on `yaml`: whether it passed, and its stderr.
pub fn dash_t(yaml: &str) -> (bool, String) {
    let path = crate::common::gateway::scratch("providers-t").join("relay.yaml");
    std::fs::write(&path, yaml).expect("write relay.yaml");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_llm-relay"))
        .arg("-t")
        .arg("--config")
        .arg(&path)
        .env("P_KEY", "sk-test")
        .output()
        .expect("run llm-relay -t");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn pool(provider_lines: &str) -> String {
    format!(
        "pools:\n  p:\n    urls: [\"http://127.0.0.1:1/v1\"]\n{provider_lines}routes:\n  - model: m\n    pool: p\n"
    )
}

#[test]
fn every_provider_type_loads() {
    for t in ["openai", "hunyuan", "anthropic", "gemini"] {
        let yaml = pool(&format!(
            "    provider: {{type: {t}, api_key_env: P_KEY}}\n"
        ));
        let (ok, err) = dash_t(&yaml);
        assert!(ok, "{t}: {err}");
    }
    let (ok, err) = dash_t(&pool(
        "    provider: {type: anthropic, version: \"2023-06-01\"}\n",
    ));
    assert!(ok, "{err}");
    let (ok, err) = dash_t(&pool(
        "    provider:\n      type: hunyuan\n      fix: {max_messages: 30}\n",
    ));
    assert!(ok, "{err}");
}

#[test]
fn the_old_profile_still_loads() {
    for p in ["openai", "hunyuan"] {
        let (ok, err) = dash_t(&pool(&format!("    profile: {p}\n")));
        assert!(ok, "{p}: {err}");
    }
}

#[test]
fn mistakes_name_the_key_and_what_to_write() {
    let (ok, err) = dash_t(&pool(
        "    profile: hunyuan\n    provider: {type: hunyuan}\n",
    ));
    assert!(!ok);
    assert!(
        err.contains("pools.p.profile") && err.contains("provider: {type:"),
        "{err}"
    );
    let (ok, err) = dash_t(&pool("    profile: anthropic\n"));
    assert!(!ok);
    assert!(err.contains("provider: {type:"), "{err}");
    let (ok, err) = dash_t(&pool("    provider: {type: bedrock}\n"));
    assert!(!ok);
    assert!(err.contains("pools.p") && err.contains("bedrock"), "{err}");
    let (ok, err) = dash_t(&pool("    provider: {type: openai, verison: x}\n"));
    assert!(!ok);
    assert!(err.contains("verison"), "{err}");
    let (ok, err) = dash_t(&pool(
        "    api_key_env: P_KEY\n    provider: {type: openai, api_key_env: P_KEY}\n",
    ));
    assert!(!ok);
    assert!(err.contains("api_key_env"), "{err}");
}

/// The closed sets of the config are enums parsed by serde: a wrong value names the key and
/// the values allowed.
#[test]
fn closed_sets_name_the_allowed_values() {
    let base = "pools:\n  p:\n    urls: [\"http://127.0.0.1:1/v1\"]\n";
    for (extra, key, allowed) in [
        (
            "routes:\n  - {model: m, pool: p, kinds: [chatt]}\n",
            "routes",
            "embeddings",
        ),
        (
            "routes:\n  - {model: m, pool: p, cache: sometimes}\n",
            "routes",
            "always",
        ),
        ("defaults: {imagez: p}\n", "defaults", "transcriptions"),
        (
            "routes:\n  - {model: m, pool: p}\ncascade: {vision_model: m, on_failure: ignore}\n",
            "cascade",
            "placeholder",
        ),
    ] {
        let (ok, err) = dash_t(&format!("{base}{extra}"));
        assert!(!ok, "{extra}");
        assert!(err.contains(key) && err.contains(allowed), "{extra}: {err}");
    }
    let (ok, err) = dash_t(&format!(
        "{base}routes:\n  - {{model: m, pool: p, kinds: [chat, embeddings], cache: never}}\ndefaults: {{images: p}}\n"
    ));
    assert!(ok, "{err}");
}

/// `routes[].tools_unsupported`: on a route whose model has no tools, `refuse` answers a
/// request that offers tools with a 400 naming `tools` (in the client's protocol); the default,
/// `text`, sends it without them.
#[tokio::test]
async fn a_route_without_tools_refuses_or_drops_them_as_configured() {
    let mock = crate::common::mock::Mock::start(true);
    let yaml = format!(
        "pools:\n  hy:\n    urls: [\"{}/v1\"]\n    provider: {{type: hunyuan}}\n\
         routes:\n  - {{model: hy-vision-2.0, pool: hy, vision: true, tools: false, tools_unsupported: refuse}}\n  \
         - {{model: hunyuan-t1-vision, pool: hy, vision: true, tools: false}}\n",
        mock.url("")
    );
    let gw = crate::common::gateway::Gateway::start(&yaml);
    use serde_json::json;
    let tools = json!([crate::util::shell_tool()]);
    let chat = |model: &str| {
        json!({"model": model, "tools": tools,
        "messages": [{"role": "user", "content": "hi"}]})
    };
    let (status, body) =
        crate::util::post(&gw, "/v1/chat/completions", &[], &chat("hy-vision-2.0")).await;
    assert_eq!(status, 400, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    assert_eq!(v["error"]["param"], "tools", "{v}");
    let msg = json!({"model": "hy-vision-2.0", "max_tokens": 32, "tools": [{"name": "shell",
        "input_schema": {"type": "object"}}], "messages": [{"role": "user", "content": "hi"}]});
    let (status, body) = crate::util::post(&gw, "/v1/messages", &[], &msg).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("\"type\":\"error\""), "{body}");
    let (status, body) =
        crate::util::post(&gw, "/v1/chat/completions", &[], &chat("hunyuan-t1-vision")).await;
    assert_eq!(status, 200, "{body}");
    let sent = mock.stats().await;
    assert!(
        sent["last"]["chat"]["body"].get("tools").is_none(),
        "{sent}"
    );
}

/// A `hunyuan_native` pool reads its SecretId and SecretKey from the environment at load: a
/// missing one fails `-t` naming the field, and neither value is ever printed.
#[test]
fn a_native_pool_without_its_secrets_fails_dash_t() {
    let yaml = "pools:\n  native:\n    urls: [\"https://hunyuan.tencentcloudapi.com\"]\n    \
                provider: {type: hunyuan_native, secret_id_env: NO_SUCH_TC_ID, secret_key_env: P_KEY}\n\
                routes:\n  - {model: m, pool: native}\n";
    let (ok, stderr) = dash_t(yaml);
    assert!(!ok, "{stderr}");
    assert!(
        stderr.contains("secret_id_env") && stderr.contains("NO_SUCH_TC_ID"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("sk-test"),
        "a secret was printed: {stderr}"
    );
}
