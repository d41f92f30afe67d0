//! Real coding agents through the real gateway in front of the Hunyuan-strict mock, run as a
//! new user would (README "Coding agents"): Codex CLI (`codex exec`, Responses API) and Claude
//! Code (`claude -p`, Anthropic Messages API) each complete a task that needs one shell-tool
//! round trip. The mock answers the first turn with a call of the agent's own shell tool and
//! the second (the tool's output) with text quoting it.
//!
//! The agents are npm packages pinned below and installed once into `target/agent-clis`
//! (`npm install`, about 10 s; scripts/test.sh has Node.js). Everything runs offline: the
//! agents' own telemetry and update checks are turned off by their documented switches.

mod common;

use common::gateway::{demo_config, Gateway};
use common::mock::Mock;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

const CODEX: &str = "@openai/codex@0.171.0";
const CLAUDE: &str = "@anthropic-ai/claude-code@2.1.197";
const TASK: &str = "Run the shell command `echo relay-ok-42` and tell me what it printed.";

/// Installs the pinned agents once per checkout; returns the `node_modules/.bin` directory.
fn agent_bin() -> PathBuf {
    static INSTALL: Mutex<()> = Mutex::new(());
    let _once = INSTALL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/agent-clis");
    let bin = dir.join("node_modules/.bin");
    if bin.join("codex").exists() && bin.join("claude").exists() {
        return bin;
    }
    std::fs::create_dir_all(&dir).expect("target/agent-clis");
    let out = Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--prefix"])
        .arg(&dir)
        .args([CODEX, CLAUDE])
        .output()
        .expect("npm (Node.js) is needed for the agent tests: scripts/test.sh installs it");
    assert!(
        out.status.success(),
        "npm install {CODEX} {CLAUDE}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    bin
}

/// A throwaway home and working directory for one agent run.
fn scratch(tag: &str) -> (PathBuf, PathBuf) {
    let root = common::gateway::scratch(tag);
    let (home, work) = (root.join("home"), root.join("work"));
    std::fs::create_dir_all(&home).expect("home");
    std::fs::create_dir_all(&work).expect("work");
    (home, work)
}

fn run(cmd: &mut Command, gw: &Gateway) -> String {
    let out = cmd.output().expect("run the agent");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "agent failed ({}):\n{stdout}\n{}\n--- gateway log ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        gw.log_text()
    );
    stdout
}

fn gateway(mock: &Mock) -> Gateway {
    Gateway::start(&demo_config(&format!("http://{}", mock.addr), "hunyuan"))
}

#[tokio::test]
async fn codex_cli_completes_a_shell_round_trip() {
    let bin = agent_bin();
    let mock = Mock::start(true);
    let gw = gateway(&mock);
    let (home, work) = scratch("codex");
    std::fs::create_dir_all(home.join(".codex")).expect(".codex");
    let config = format!(
        r#"model = "hunyuan-turbos-latest"
model_provider = "relay"
check_for_update_on_startup = false
[model_providers.relay]
name = "llm-relay"
base_url = "{}"
wire_api = "responses"
env_key = "RELAY_KEY"
[analytics]
enabled = false
[features]
plugins = false
"#,
        gw.url("/v1")
    );
    std::fs::write(home.join(".codex/config.toml"), config).expect("config.toml");
    let answer = run(
        Command::new(bin.join("codex"))
            .args([
                "exec",
                "--skip-git-repo-check",
                "--dangerously-bypass-approvals-and-sandbox",
                "--ephemeral",
                TASK,
            ])
            .current_dir(&work)
            .env("HOME", &home)
            .env("RELAY_KEY", "sk-relay-test")
            .stdin(std::process::Stdio::null()),
        &gw,
    );
    assert!(answer.contains("relay-ok-42"), "codex answered: {answer}");
    let stats = mock.stats().await;
    assert_eq!(stats["strict_rejections"], 0, "{stats}");
    assert!(
        stats["requests"]["chat"].as_u64() >= Some(2),
        "two turns: {stats}"
    );
    let logged = common::gateway::wait_until(std::time::Duration::from_secs(5), || async {
        gw.log_text().contains(r#""protocol":"responses""#)
    })
    .await;
    assert!(logged, "{}", gw.log_text());
}

#[tokio::test]
async fn claude_code_completes_a_shell_round_trip() {
    let bin = agent_bin();
    let mock = Mock::start(true);
    let gw = gateway(&mock);
    let (home, work) = scratch("claude");
    let answer = run(
        Command::new(bin.join("claude"))
            .args(["-p", TASK, "--allowedTools", "Bash"])
            .current_dir(&work)
            .env("HOME", &home)
            .env("ANTHROPIC_BASE_URL", gw.url(""))
            .env("ANTHROPIC_API_KEY", "sk-relay-test")
            .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
            .env("DISABLE_TELEMETRY", "1")
            .stdin(std::process::Stdio::null()),
        &gw,
    );
    assert!(answer.contains("relay-ok-42"), "claude answered: {answer}");
    let stats = mock.stats().await;
    assert_eq!(stats["strict_rejections"], 0, "{stats}");
    assert!(
        stats["requests"]["chat"].as_u64() >= Some(2),
        "two turns: {stats}"
    );
    // Claude Code's default model name reached Hunyuan as the aliased model.
    assert_eq!(
        stats["last"]["chat"]["body"]["model"],
        "hunyuan-turbos-latest"
    );
    let logged = common::gateway::wait_until(std::time::Duration::from_secs(5), || async {
        gw.log_text().contains(r#""protocol":"messages""#)
    })
    .await;
    assert!(logged, "{}", gw.log_text());
}

/// Claude Code against an `anthropic` pool (the mock's strict native `/v1/messages`): its
/// requests pass through untranslated (tools, `cache_control`, `anthropic-beta`, thinking
/// blocks and their signatures as it sent them) and the shell round trip completes.
#[tokio::test]
async fn claude_code_passes_through_to_an_anthropic_pool() {
    let bin = agent_bin();
    let mock = Mock::start(true);
    let gw = Gateway::start(&format!(
        "pools:\n  claude:\n    urls: [\"http://{}/v1\"]\n    provider: {{type: anthropic, api_key_env: TEST_PROVIDER_KEY}}\n\
         routes:\n  - {{model: \"claude-*\", pool: claude}}\n",
        mock.addr
    ));
    let (home, work) = scratch("claude-native");
    let answer = run(
        Command::new(bin.join("claude"))
            .args(["-p", TASK, "--allowedTools", "Bash"])
            .current_dir(&work)
            .env("HOME", &home)
            .env("ANTHROPIC_BASE_URL", gw.url(""))
            .env("ANTHROPIC_API_KEY", "sk-relay-test")
            .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
            .env("DISABLE_TELEMETRY", "1")
            .stdin(std::process::Stdio::null()),
        &gw,
    );
    let stats = mock.stats().await;
    assert!(answer.contains("relay-ok-42"), "claude answered: {answer}");
    assert_eq!(stats["strict_rejections"], 0, "{stats}");
    assert_eq!(
        stats["requests"]["chat"], 0,
        "nothing was translated to chat: {stats}"
    );
    assert!(
        stats["requests"]["messages"].as_u64() >= Some(2),
        "two turns: {stats}"
    );
    let last = &stats["last"]["messages"];
    assert_eq!(last["headers"]["x-api-key"], common::gateway::PROVIDER_KEY);
    assert!(
        !last.to_string().contains("sk-relay-test"),
        "the client's key stayed in the gateway: {last}"
    );
    // The tool result went back as Claude Code wrote it: a `tool_result` block.
    let body = last["body"].to_string();
    assert!(
        body.contains("tool_result") && body.contains("relay-ok-42"),
        "{body}"
    );
}
