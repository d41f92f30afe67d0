#!/usr/bin/env bash
# Runs everything CI runs: formatting, lints, and the whole test suite (unit, property,
# integration tests that start the real gateway and the real mock on loopback ports).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
need_toolchain
rustup component add rustfmt clippy >/dev/null 2>&1 || true
# tests/sdk.rs drives the gateway with the official OpenAI Python SDK; tests/hunyuan_native_sign.rs
# checks the TC3 signature against Tencent Cloud's official SDK.
python3 -c "import openai, anthropic, opentelemetry.proto, tencentcloud.hunyuan" 2>/dev/null \
  || python3 -m pip install -q openai anthropic opentelemetry-proto \
    tencentcloud-sdk-python-common tencentcloud-sdk-python-hunyuan
# tests/agents.rs runs Codex CLI and Claude Code, tests/gemini/ @google/genai and Gemini CLI
# (npm packages, installed by the tests themselves).
command -v npm >/dev/null 2>&1 || need_apt npm npm
# tests/shared_state.rs runs several gateways on a real redis-server.
need_apt redis-server redis-server
# tests/cors.rs loads pages in headless Chromium.
need_apt chromium chromium
# tests/observe.rs lints a live scrape with promtool; the rules file is checked below.
need_apt promtool prometheus

echo "== promtool check rules conf/prometheus-rules.yaml"
promtool check rules conf/prometheus-rules.yaml
echo "== cargo fmt --check"
cargo fmt --check
echo "== cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings
echo "== cargo test --workspace"
cargo test --workspace "$@"
