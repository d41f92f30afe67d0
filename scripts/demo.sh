#!/usr/bin/env bash
# Builds llm-relay, starts the bundled mock upstream (Hunyuan-strict) on 127.0.0.1:9000 and the
# gateway on its embedded demo config (127.0.0.1:8080), and prints examples. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
need_toolchain

MOCK_ADDR=${MOCK_ADDR:-127.0.0.1:9000}
cargo build --release --workspace --bins
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

./target/release/mock-upstream --listen "$MOCK_ADDR" --strict &
pids+=($!)
# No --config: the embedded demo config (conf/demo.yaml) routes every model to the mock.
./target/release/llm-relay -c conf/pingora.yaml ${LLM_RELAY_CONFIG:+--config "$LLM_RELAY_CONFIG"} &
pids+=($!)

for _ in $(seq 1 100); do
  curl -s -o /dev/null http://127.0.0.1:8080/v1/models && break
  sleep 0.1
done

cat <<'TXT'

llm-relay is up on http://127.0.0.1:8080 (mock upstream on 127.0.0.1:9000, Hunyuan-strict).

  curl -s http://127.0.0.1:8080/v1/models
  curl -s http://127.0.0.1:8080/v1/chat/completions -H 'Content-Type: application/json' \
    -d '{"model":"hunyuan-turbos-latest","messages":[{"role":"system","content":"be brief"},{"role":"assistant","content":"hi!"},{"role":"user","content":"hello"}]}'
  curl -sN http://127.0.0.1:8080/v1/chat/completions -H 'Content-Type: application/json' \
    -d '{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"stream please"}]}'

  # OpenAI Python SDK (pip install openai):
  python3 - <<'PY'
  from openai import OpenAI
  c = OpenAI(base_url="http://127.0.0.1:8080/v1", api_key="demo")
  print(c.chat.completions.create(model="hunyuan-turbos-latest",
        messages=[{"role": "user", "content": "hello"}]).choices[0].message.content)
  for ch in c.chat.completions.create(model="gpt-4o-mini", stream=True,
        messages=[{"role": "user", "content": "stream"}]):
      print(ch.choices[0].delta.content or "", end="")
  print()
  print(len(c.embeddings.create(model="text-embedding-3-small", input="hi").data[0].embedding))
  print(c.images.generate(model="dall-e-3", prompt="a cat").data[0].b64_json[:16])
  print(c.audio.transcriptions.create(model="whisper-1", file=("a.wav", b"RIFF0000")).text)
  print(len(c.audio.speech.create(model="tts-1", voice="alloy", input="hi").content))
  PY

Ctrl-C stops the gateway and the mock.
TXT
wait
