#!/usr/bin/env bash
# The latency that Redis-backed limits add (standalone; not part of CI or scripts/bench.sh).
#
# One gateway at a time in front of the mock upstream, a small chat body with a key, oha at a
# fixed rate (with latency correction) for a fixed time per case:
#   none    the key has no limits (baseline)
#   local   the key has `rpm: 1000000000`, limits in process
#   redis   the same key and limit, `redis:` on a local redis-server (one Lua script per request)
# Prints p50/p99 per case and the differences; the goal is at most +0.3 ms at p99 (redis - local)
# on loopback. Everything started here is stopped by PID on exit, every step is bounded in time.
#
#   bench/redis_limits.sh
#   environment: RL_RATE (requests/s, default 500), RL_DUR (per case, default 20s),
#                RL_CONC (oha -c, default 50), RL_THREADS (gateway threads, default 2),
#                RL_NO_BUILD=1 uses the release binaries as they are, RL_KEEP=1 keeps the run dir.
set -euo pipefail
cd "$(dirname "$0")/.."

RATE=${RL_RATE:-500}
DUR=${RL_DUR:-20s}
CONC=${RL_CONC:-50}
THREADS=${RL_THREADS:-2}
BIN=${CARGO_TARGET_DIR:-target}/release
KEY=sk-bench-redis-limits

# ------------------------------------------------------------------ tools and binaries
for t in redis-server redis-cli curl python3; do
  command -v "$t" >/dev/null || { echo "needs $t (apt-get install redis-server curl python3)" >&2; exit 1; }
done
OHA=$(command -v oha || true)
[ -z "$OHA" ] && [ -x "$HOME/.cargo/bin/oha" ] && OHA=$HOME/.cargo/bin/oha
if [ -z "$OHA" ]; then
  echo "installing oha (cargo install oha --locked) ..." >&2
  timeout 1800 cargo install oha --locked >&2
  OHA=$HOME/.cargo/bin/oha
fi
if [ "${RL_NO_BUILD:-0}" = 1 ] && [ -x "$BIN/llm-relay" ] && [ -x "$BIN/mock-upstream" ]; then
  echo "RL_NO_BUILD=1: using the existing release binaries" >&2
else
  echo "building release binaries ..." >&2
  timeout 3600 cargo build --release --workspace --bins >&2
fi

# ------------------------------------------------------------------ run directory, cleanup
RUN=$(mktemp -d /tmp/llm-relay-redis-bench.XXXXXX)
pids=()
BENCH_KEEP_RUN=${RL_KEEP:-0}
. bench/lib.sh
bench_traps

read -r MOCK_PORT REDIS_PORT GW_PORT ADMIN_PORT < <(free_ports 4)


# ------------------------------------------------------------------ mock and redis
start_mock "$MOCK_PORT"

redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
  --protected-mode no --dir "$RUN" > "$RUN/redis.log" 2>&1 &
REDIS_PID=$!; pids+=("$REDIS_PID")
wait_port "$REDIS_PORT" redis-server "$REDIS_PID"

# ------------------------------------------------------------------ configurations
HASH=$(printf %s "$KEY" | sha256sum | cut -d' ' -f1)
write_pingora_yaml "$THREADS"
relay_yaml() { # relay_yaml OUT KEY_LIMITS REDIS_SECTION
  cat > "$1" <<EOF
server:
  listen: ["127.0.0.1:$GW_PORT"]
  admin_listen: "127.0.0.1:$ADMIN_PORT"
$3
pools:
  main: {urls: ["http://127.0.0.1:$MOCK_PORT/v1"], profile: openai}
routes:
  - {model: m, pool: main, kinds: [chat]}
auth:
  keys:
    - {id: bench, sha256: "$HASH"$2}
EOF
}
relay_yaml "$RUN/none.yaml" "" ""
relay_yaml "$RUN/local.yaml" ", rpm: 1000000000" ""
relay_yaml "$RUN/redis.yaml" ", rpm: 1000000000" "redis:
  url: \"redis://127.0.0.1:$REDIS_PORT\"
  instances: 1"

printf '%s' '{"model":"m","max_tokens":16,"messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Say hello in one word."}]}' \
  > "$RUN/chat.json"

# ------------------------------------------------------------------ runs
GW_PID=
run_case() { # run_case NAME
  local name=$1 url="http://127.0.0.1:$GW_PORT/v1/chat/completions"
  "$BIN/llm-relay" -c "$RUN/pingora.yaml" --config "$RUN/$name.yaml" > "$RUN/$name.log" 2>&1 &
  GW_PID=$!; pids+=("$GW_PID")
  wait_port "$GW_PORT" "llm-relay ($name)" "$GW_PID"
  wait_port "$ADMIN_PORT" "llm-relay admin ($name)" "$GW_PID"
  local code
  code=$(curl -s -o "$RUN/$name.check" -w '%{http_code}' --max-time 10 \
    -H 'content-type: application/json' -H "authorization: Bearer $KEY" \
    --data-binary "@$RUN/chat.json" "$url")
  if [ "$code" != 200 ]; then
    echo "sanity check failed for $name: $code $(head -c 300 "$RUN/$name.check")" >&2; exit 1
  fi
  # Warm-up: connections to the mock (and to Redis) are open before the measured run.
  timeout 60 "$OHA" --no-tui -n 1000 -c 10 -m POST -T application/json \
    -H "authorization: Bearer $KEY" -D "$RUN/chat.json" "$url" > /dev/null 2>&1 || true
  echo "$name: $RATE requests/s for $DUR ..." >&2
  timeout 120 "$OHA" --no-tui --output-format json -w -z "$DUR" -c "$CONC" -q "$RATE" \
    --latency-correction -m POST -T application/json -H "authorization: Bearer $KEY" \
    -D "$RUN/chat.json" "$url" > "$RUN/$name.json" 2> "$RUN/$name.err" \
    || { echo "oha failed for $name (see $RUN)" >&2; exit 1; }
  curl -s --max-time 5 "http://127.0.0.1:$ADMIN_PORT/metrics" > "$RUN/$name.metrics" || true
  stop_pid "$GW_PID"
}
run_case none
run_case local
run_case redis

# The redis case really counted in Redis (no fallback to the per-instance limiter).
KEYS_IN_REDIS=$(redis-cli -p "$REDIS_PORT" --scan --pattern '*limits*' | wc -l)
FALLBACKS=$(grep -c '^llm_relay_redis_fallbacks_total{' "$RUN/redis.metrics" || true)

# ------------------------------------------------------------------ report
python3 - "$RUN" "$RATE" "$DUR" "$CONC" "$KEYS_IN_REDIS" "$FALLBACKS" <<'PY'
import json, sys
run, rate, dur, conc, keys, fallbacks = sys.argv[1:]
rows = {}
for name in ("none", "local", "redis"):
    d = json.load(open(f"{run}/{name}.json"))
    p = d["latencyPercentiles"]
    codes = d.get("statusCodeDistribution", {})
    ok = codes.get("200", 0)
    total = sum(codes.values()) + sum(d.get("errorDistribution", {}).values())
    rows[name] = (p["p50"] * 1e3, p["p99"] * 1e3, d["summary"]["requestsPerSec"], ok, total)
print(f"llm-relay: latency of the limits, {rate} requests/s for {dur} per case (oha -c {conc}, "
      "latency-corrected), loopback")
print(f"{'case':<8}{'p50 ms':>10}{'p99 ms':>10}{'req/s':>10}{'200':>8}{'total':>8}")
for name, (p50, p99, rps, ok, total) in rows.items():
    print(f"{name:<8}{p50:>10.3f}{p99:>10.3f}{rps:>10.1f}{ok:>8}{total:>8}")
def diff(a, b):
    return rows[a][0] - rows[b][0], rows[a][1] - rows[b][1]
for a, b in (("local", "none"), ("redis", "local"), ("redis", "none")):
    d50, d99 = diff(a, b)
    print(f"{a} - {b}: p50 {d50:+.3f} ms, p99 {d99:+.3f} ms")
d99 = diff("redis", "local")[1]
print(f"goal (redis - local at p99 <= +0.3 ms): {'met' if d99 <= 0.3 else 'NOT met'} ({d99:+.3f} ms)")
print(f"limiter keys in Redis after the redis case: {keys}; fallback series: {fallbacks}")
bad = [n for n, r in rows.items() if r[3] != r[4]]
if bad:
    print(f"WARNING: non-200 answers in {bad}")
PY
