//! The official OpenAI Python SDK on every endpoint and error through the real gateway
//! (scripts/test.sh installs the `openai` package).

mod common;

use common::gateway::{demo_config, Gateway};
use common::mock::Mock;
use llm_relay::policy::auth::hash_key;

#[test]
fn openai_python_sdk() {
    let has_sdk = std::process::Command::new("python3")
        .args(["-c", "import openai"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        has_sdk,
        "the `openai` Python package is needed: pip install openai (scripts/test.sh does)"
    );
    let mock = Mock::start(true);
    let auth = format!(
        "auth:\n  keys:\n    - {{id: full, sha256: \"{}\"}}\n    - {{id: limited, sha256: \"{}\", models: [\"text-embedding-3-small\"], rpm: 2}}\n",
        hex::encode(hash_key("sk-sdk-full")),
        hex::encode(hash_key("sk-sdk-limited")),
    );
    let gw = Gateway::start(&format!(
        "{auth}{}",
        demo_config(&format!("http://{}", mock.addr), "hunyuan")
    ));
    let out = std::process::Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/sdk/openai_sdk.py"
        ))
        .arg(gw.url("/v1"))
        .args(["sk-sdk-full", "sk-sdk-limited"])
        .output()
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{stdout}\n{stderr}\n--- gateway log ---\n{}",
        gw.log_text()
    );
    assert!(stdout.contains("all endpoints and errors OK"));
}
