//! The official SDKs through the real gateway in front of the Hunyuan-strict mock: the OpenAI
//! Python SDK on every endpoint and error, its Responses API and legacy Completions, and the
//! Anthropic Python SDK on the Messages API (scripts/test.sh installs both packages).

mod common;

use common::gateway::{demo_config, Gateway};
use common::mock::Mock;
use llm_relay::policy::auth::hash_key;

fn has_python_package(name: &str) -> bool {
    std::process::Command::new("python3")
        .args(["-c", &format!("import {name}")])
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs `tests/sdk/<script>` with `args`; returns its stdout, failing with everything on error.
fn run(script: &str, gw: &Gateway, mock: &Mock, args: &[&str]) -> String {
    let out = std::process::Command::new("python3")
        .arg(format!("{}/tests/sdk/{script}", env!("CARGO_MANIFEST_DIR")))
        .args(args)
        .output()
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{script}: {stdout}\n{stderr}\n--- gateway log ---\n{}",
        gw.log_text()
    );
    let _ = mock;
    stdout
}

fn gateway(mock: &Mock) -> Gateway {
    let auth = format!(
        "auth:\n  keys:\n    - {{id: full, sha256: \"{}\"}}\n    - {{id: limited, sha256: \"{}\", models: [\"text-embedding-3-small\"], rpm: 2}}\n",
        hex::encode(hash_key("sk-sdk-full")),
        hex::encode(hash_key("sk-sdk-limited")),
    );
    Gateway::start(&format!(
        "{auth}{}",
        demo_config(&format!("http://{}", mock.addr), "hunyuan")
    ))
}

#[test]
fn openai_python_sdk() {
    assert!(
        has_python_package("openai"),
        "the `openai` Python package is needed: pip install openai (scripts/test.sh does)"
    );
    let mock = Mock::start(true);
    let gw = gateway(&mock);
    let base = gw.url("/v1");
    let out = run(
        "openai_sdk.py",
        &gw,
        &mock,
        &[&base, "sk-sdk-full", "sk-sdk-limited"],
    );
    assert!(out.contains("all endpoints and errors OK"));
}

#[tokio::test]
async fn openai_python_sdk_responses_and_completions() {
    assert!(has_python_package("openai"), "pip install openai");
    let mock = Mock::start(true);
    let gw = gateway(&mock);
    let base = gw.url("/v1");
    let out = run("responses_sdk.py", &gw, &mock, &[&base, "sk-sdk-full"]);
    assert!(out.contains("responses and completions OK"));
    // Every translated body met Hunyuan's rules, and the pass-through went to /completions.
    let stats = mock.stats().await;
    assert_eq!(stats["strict_rejections"], 0, "{stats}");
    assert!(
        stats["requests"]["completions"].as_u64() >= Some(1),
        "{stats}"
    );
}

#[tokio::test]
async fn anthropic_python_sdk() {
    assert!(
        has_python_package("anthropic"),
        "the `anthropic` Python package is needed: pip install anthropic (scripts/test.sh does)"
    );
    let mock = Mock::start(true);
    let gw = gateway(&mock);
    let base = gw.url("");
    let out = run("anthropic_sdk.py", &gw, &mock, &[&base, "sk-sdk-full"]);
    assert!(out.contains("count_tokens and errors OK"));
    let stats = mock.stats().await;
    assert_eq!(stats["strict_rejections"], 0, "{stats}");
    let sent = &stats["last"]["chat"]["body"]["model"];
    assert_eq!(
        sent, "hunyuan-turbos-latest",
        "claude-* is aliased: {stats}"
    );
}

/// The OpenAI SDK against models served by an `anthropic` and a `gemini` pool (the mock's
/// strict native endpoints): chat, stream with usage, a tool round trip, an error.
#[tokio::test]
async fn openai_python_sdk_against_anthropic_and_gemini_pools() {
    assert!(has_python_package("openai"), "pip install openai");
    let mock = Mock::start(true);
    let up = format!("http://{}", mock.addr);
    let gw = Gateway::start(&format!(
        "pools:\n  claude:\n    urls: [\"{up}/v1\"]\n    provider: {{type: anthropic, api_key_env: TEST_PROVIDER_KEY}}\n  \
         google:\n    urls: [\"{up}/v1beta\"]\n    provider: {{type: gemini, api_key_env: TEST_PROVIDER_KEY}}\n\
         routes:\n  - {{model: sonnet, pool: claude, upstream_model: claude-sonnet-4-5}}\n  - {{model: flash, pool: google, upstream_model: gemini-2.5-flash}}\n"
    ));
    let base = gw.url("/v1");
    for model in ["sonnet", "flash"] {
        let out = run("providers_sdk.py", &gw, &mock, &[&base, "sk-any", model]);
        assert!(out.contains(&format!("via {model}: OK")), "{out}");
    }
    let stats = mock.stats().await;
    assert_eq!(stats["strict_rejections"], 0, "{stats}");
    assert!(stats["requests"]["messages"].as_u64() >= Some(5), "{stats}");
    assert!(stats["requests"]["gemini"].as_u64() >= Some(5), "{stats}");
    assert_eq!(stats["requests"]["chat"], 0, "{stats}");
}

/// The OpenAI Python SDK against a `hunyuan_native` pool (the mock verifies every TC3
/// signature): chat, stream, tools, and images as jobs and lite.
#[tokio::test]
async fn openai_python_sdk_against_the_native_hunyuan_api() {
    assert!(has_python_package("openai"), "pip install openai");
    let mock = Mock::start(true);
    let gw = Gateway::start_with(
        &format!(
            "pools:\n  native:\n    urls: [\"http://{}\"]\n    provider: {{type: hunyuan_native, \
             secret_id_env: TC_ID, secret_key_env: TC_KEY}}\n\
             routes:\n  - {{model: hunyuan-turbos-latest, pool: native}}\n  \
             - {{model: \"hunyuan-image*\", pool: native, kinds: [images]}}\n",
            mock.addr
        ),
        &[
            ("TC_ID", mock_upstream::MOCK_SECRET_ID),
            ("TC_KEY", mock_upstream::MOCK_SECRET_KEY),
        ],
    );
    let out = run("native_sdk.py", &gw, &mock, &[&gw.url("/v1")]);
    assert!(out.contains("native: OK"), "{out}");
    let stats = mock.stats().await;
    assert_eq!(stats["strict_rejections"], 0, "{stats}");
    assert!(
        stats["hunyuan_image"]["submitted"].as_u64() >= Some(3),
        "{stats}"
    );
}
