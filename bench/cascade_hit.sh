#!/usr/bin/env bash
# Scenario 4 alone, for comparing builds side by side: what a cascade cache hit on a 1 MB
# data-URL image adds over the plain chat request (scenario 1), both at the same fixed rate.
#
#   bench/cascade_hit.sh BIN [BIN ...]     e.g. a saved copy of the old build and the new one
#
# Starts one mock and one gateway per binary (bench config), sends the image once through each
# (the vision call that fills the cache), then runs, interleaved and ROUNDS times over:
# chat.json and vision.json at RATE requests/s through each gateway with `hey` (-c CONC,
# -q RATE/CONC per worker, DUR each). Prints p50/p99 and the gateway's CPU µs per request
# (user + system, /proc/PID/stat) per run, and the median over rounds of "vision − chat" per
# binary. Under foreign load the CPU figures are the robust ones; latencies include hey's own
# cost of sending 1 MB bodies. Interleaving puts every binary under the same foreign load
# (2 shared cores here). Environment: ROUNDS (3), RATE (100), CONC (10), DUR (8s).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { sed -n '2,13p' "$0"; exit 2; }
ROUNDS=${ROUNDS:-3}; RATE=${RATE:-100}; CONC=${CONC:-10}; DUR=${DUR:-8s}
command -v hey >/dev/null || { apt-get install -y -qq hey >/dev/null 2>&1 || {
  apt-get update -qq >/dev/null 2>&1; apt-get install -y -qq hey >/dev/null; }; }

RUN=$(mktemp -d /tmp/llm-relay-hit.XXXXXX)
pids=()
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  sleep 0.5
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ "$rc" = 0 ] && rm -rf "$RUN" || echo "run directory kept: $RUN" >&2
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

CLK_TCK=$(getconf CLK_TCK)
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 1 100); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1',$1),0.2)" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on $1" >&2; exit 1
}
render() {
  python3 - "$1" "$2" <<'PY'
import os, re, sys
src = open(sys.argv[1]).read()
open(sys.argv[2], "w").write(re.sub(r"@([A-Z_]+)@", lambda m: os.environ[m.group(1)], src))
PY
}

python3 bench/bodies.py "$RUN/bodies" > /dev/null
MOCK_PORT=$(free_port)
./target/release/mock-upstream --listen "127.0.0.1:$MOCK_PORT" --threads 2 > "$RUN/mock.log" 2>&1 &
pids+=($!)
wait_port "$MOCK_PORT"
export MOCK_PORT THREADS=2 PROBE_PORT=1
ports=()
gpids=()
i=0
for bin in "$@"; do
  i=$((i + 1))
  export RUN=$RUN/gw$i GW_PORT ADMIN_PORT
  mkdir -p "$RUN"
  GW_PORT=$(free_port); ADMIN_PORT=$(free_port)
  render bench/pingora.yaml.template "$RUN/pingora.yaml"
  render bench/relay.yaml.template "$RUN/relay.yaml"
  RUST_LOG=warn "$bin" -c "$RUN/pingora.yaml" --config "$RUN/relay.yaml" > "$RUN/relay.log" 2>&1 &
  pids+=($!)
  gpids+=($!)
  wait_port "$GW_PORT"
  ports+=("$GW_PORT")
  RUN=${RUN%/gw$i}
  curl -s -o /dev/null -w "warm-up $i: %{http_code}\n" -H 'content-type: application/json' \
    --data-binary "@$RUN/bodies/vision.json" "http://127.0.0.1:$GW_PORT/v1/chat/completions" >&2
done

: > "$RUN/results.tsv"
for r in $(seq 1 "$ROUNDS"); do
  i=0
  for port in "${ports[@]}"; do
    i=$((i + 1))
    for body in chat vision; do
      out=$RUN/r$r.$i.$body.txt
      c0=$(cpu_ticks "${gpids[$((i - 1))]}")
      hey -z "$DUR" -c "$CONC" -q $((RATE / CONC)) -m POST -T application/json \
        -D "$RUN/bodies/$body.json" "http://127.0.0.1:$port/v1/chat/completions" > "$out"
      p50=$(awk '/ 50% in/{print $3 * 1000}' "$out")
      p99=$(awk '/ 99% in/{print $3 * 1000}' "$out")
      ok=$(awk '/^ *\[200\]/{print $2; exit}' "$out")
      cpu_us=$(( ($(cpu_ticks "${gpids[$((i - 1))]}") - c0) * 1000000 / CLK_TCK / ${ok:-1} ))
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$i" "$body" "$p50" "$p99" "${ok:-0}" "$cpu_us" >> "$RUN/results.tsv"
      printf 'round %s  bin %s  %-6s p50 %6.2f ms  p99 %6.2f ms  CPU %5s µs/request (%s × 200)\n' \
        "$r" "$i" "$body" "$p50" "$p99" "$cpu_us" "${ok:-0}" >&2
    done
  done
done
# One vision call per gateway (its warm-up): every measured image request was a cache hit.
echo "vision calls at the mock: $(curl -s "http://127.0.0.1:$MOCK_PORT/_stats" | python3 -c \
  'import json,sys; print(json.load(sys.stdin).get("vision_calls"))') (gateways: $#)" >&2
python3 - "$RUN/results.tsv" "$@" <<'PY'
import statistics, sys
rows = [l.split("\t") for l in open(sys.argv[1]).read().splitlines()]
bins = sys.argv[2:]
for i, b in enumerate(bins, 1):
    d = {}
    for r, bi, body, p50, p99, _, cpu in rows:
        if int(bi) == i:
            d.setdefault(r, {})[body] = (float(p50), float(p99), float(cpu))
    add50 = [v["vision"][0] - v["chat"][0] for v in d.values()]
    add99 = [v["vision"][1] - v["chat"][1] for v in d.values()]
    cpu = [v["vision"][2] - v["chat"][2] for v in d.values()]
    print(f"{b}: ok {sum(int(r[5]) for r in rows if int(r[1]) == i)} answers; image adds p50 {statistics.median(add50):.2f} ms "
          f"(runs {', '.join(f'{x:.2f}' for x in add50)}), p99 {statistics.median(add99):.2f} ms "
          f"(runs {', '.join(f'{x:.2f}' for x in add99)}); CPU µs/request "
          f"{statistics.median(cpu):.0f} (runs {', '.join(f'{x:.0f}' for x in cpu)})")
PY
