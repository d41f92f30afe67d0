//! Real Google clients through the gateway against the Hunyuan-strict mock: the GenAI SDK for
//! JavaScript (`@google/genai`, the SDK Gemini CLI is built on) and Gemini CLI itself, each
//! completing a function-calling round trip. Both are npm packages pinned below and installed
//! once into `target/gemini-clients` (`npm install`, ~15 s; scripts/test.sh has Node.js).
//! Gemini CLI runs offline: telemetry, update checks and usage statistics off.

use super::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// The SDK version Gemini CLI 0.61 itself pins (and one that runs on Node.js 20).
const GENAI: &str = "@google/genai@1.30.0";
const GEMINI_CLI: &str = "@google/gemini-cli@0.61.0";

/// Installs the pinned packages once per checkout; returns the `node_modules` directory.
fn node_modules() -> PathBuf {
    static INSTALL: Mutex<()> = Mutex::new(());
    let _once = INSTALL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/gemini-clients");
    let modules = dir.join("node_modules");
    let genai = modules.join("@google/genai/package.json");
    if genai.exists() && modules.join(".bin/gemini").exists() {
        return modules;
    }
    std::fs::create_dir_all(&dir).expect("target/gemini-clients");
    let out = Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--prefix"])
        .arg(&dir)
        .args([GENAI, GEMINI_CLI])
        .output()
        .expect("npm (Node.js) is needed for the Gemini client tests: scripts/test.sh installs it");
    assert!(
        out.status.success(),
        "npm install {GENAI} {GEMINI_CLI}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    modules
}

fn run(cmd: &mut Command, gw: &Gateway) -> String {
    let out = cmd.output().expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "client failed ({}):\n{stdout}\n{}\n--- gateway log ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        gw.log_text()
    );
    stdout
}

#[tokio::test]
async fn google_genai_sdk_completes_a_function_calling_round_trip() {
    let modules = node_modules();
    let (mock, gw) = setup();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/gemini/genai_sdk.cjs");
    let out = run(
        Command::new("node")
            .arg(&script)
            .args([&gw.url(""), KEY, MODEL])
            .env("NODE_PATH", &modules),
        &gw,
    );
    assert!(out.contains("genai round trip OK"), "{out}");
    let stats = mock.stats().await;
    assert_eq!(stats["strict_rejections"], 0, "{stats}");
    assert!(stats["requests"]["chat"].as_u64() >= Some(2), "{stats}");
}

/// Headless Gemini CLI (`gemini -p`) with `GOOGLE_GEMINI_BASE_URL` at the gateway: API-key
/// auth and folder trust off in its settings, as its docs say for headless use.
#[tokio::test]
async fn gemini_cli_completes_a_shell_round_trip() {
    let modules = node_modules();
    let (mock, gw) = setup();
    let root = common::gateway::scratch("gemini-cli");
    let (home, work) = (root.join("home"), root.join("work"));
    std::fs::create_dir_all(home.join(".gemini")).expect(".gemini");
    std::fs::create_dir_all(&work).expect("work");
    let settings = json!({
        "security": {"auth": {"selectedType": "gemini-api-key"}, "folderTrust": {"enabled": false}},
        "privacy": {"usageStatisticsEnabled": false},
        "telemetry": {"enabled": false},
        "general": {"disableAutoUpdate": true, "disableUpdateNag": true},
    });
    std::fs::write(home.join(".gemini/settings.json"), settings.to_string()).expect("settings");
    let task = "Run the shell command `echo relay-ok-42` and tell me what it printed.";
    let answer = run(
        Command::new(modules.join(".bin/gemini"))
            .args(["-p", task, "-m", MODEL, "--yolo"])
            .current_dir(&work)
            .env("HOME", &home)
            .env("GEMINI_API_KEY", KEY)
            .env("GOOGLE_GEMINI_BASE_URL", gw.url(""))
            .stdin(std::process::Stdio::null()),
        &gw,
    );
    assert!(answer.contains("relay-ok-42"), "gemini answered: {answer}");
    let stats = mock.stats().await;
    assert_eq!(stats["strict_rejections"], 0, "{stats}");
    assert!(
        stats["requests"]["chat"].as_u64() >= Some(2),
        "two turns: {stats}"
    );
    let sent = &stats["last"]["chat"]["body"];
    let roles: Vec<&str> = sent["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["role"].as_str())
        .collect();
    assert!(
        roles.contains(&"tool"),
        "the tool's result went back: {roles:?}"
    );
    let logged = wait_until(Duration::from_secs(5), || async {
        gw.log_text().contains(r#""protocol":"gemini""#)
    })
    .await;
    assert!(logged, "{}", gw.log_text());
}
