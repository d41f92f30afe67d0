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
