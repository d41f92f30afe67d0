#!/usr/bin/env bash
# Memory after load: does llm-relay hand its memory back once a burst of held SSE streams is
# gone, and does it grow from burst to burst?
#
#   bench/memory_bursts.sh            5 bursts of 9,500 held streams, then 60 s idle (~4-6 min)
#   scripts/bench.sh --memory         the same, after building the release binaries
#
# Each burst opens N SSE streams through the gateway to the mock (bench/hold_streams.py: one
# event, then idle), holds them HOLD s, closes them all; the gateway's VmRSS is sampled while
# holding (by hold_streams.py), SETTLE_AFTER_BURST s after each release and SETTLE s after the
# last one. One gateway process for all bursts (that is the point), on the bench config
# (bench/relay.yaml.template, 2 threads). Nothing is pinned; RSS does not depend on CPU noise
# much, but ramp times do.
#
# Environment:
#   MEM_STREAMS (N per burst, default 9500; capped so the gateway's two descriptors per stream
#     fit under the open-file limit), MEM_BURSTS (5), MEM_HOLD (s held per burst, 5),
#   MEM_SETTLE_AFTER_BURST (s between release and the next burst, 10), MEM_SETTLE (s idle after
#     the last burst before the final sample, 60),
#   MEM_RELAY_BIN (gateway binary, default target/release/llm-relay: compare builds),
#   MEM_ENV ("K=V K=V" extra environment of the gateway, e.g. _RJEM_MALLOC_CONF=... to try
#     jemalloc settings without a rebuild), MEM_LABEL (name in the output),
#   BENCH_NO_BUILD=1 (use the binaries as they are), MEM_OUT (file for the JSON summary).
# Prints a table and one JSON line; stops everything it started by PID on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
. scripts/lib.sh

STREAMS=${MEM_STREAMS:-9500}
BURSTS=${MEM_BURSTS:-5}
HOLD=${MEM_HOLD:-5}
SETTLE_AFTER_BURST=${MEM_SETTLE_AFTER_BURST:-10}
SETTLE=${MEM_SETTLE:-60}
RELAY_BIN=${MEM_RELAY_BIN:-$ROOT/target/release/llm-relay}
LABEL=${MEM_LABEL:-$(basename "$RELAY_BIN")}

if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
  need_toolchain
  echo "building release binaries ..." >&2
  cargo build --release --workspace --bins >&2
fi
command -v python3 >/dev/null || need_apt python3 python3
[ -x "$RELAY_BIN" ] || { echo "no gateway binary at $RELAY_BIN" >&2; exit 1; }

# A held stream costs the gateway two descriptors (client + upstream), the mock and the client
# one each. Raise the limit as far as allowed (a sandbox may cap the hard limit).
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
NOFILE=$(ulimit -n)
MAX_N=$(( (NOFILE - 300) / 2 ))
if [ "$STREAMS" -gt "$MAX_N" ]; then
  echo "open-file limit $NOFILE: holding $MAX_N streams per burst instead of $STREAMS" >&2
  STREAMS=$MAX_N
fi

RUN=$(mktemp -d /tmp/llm-relay-mem.XXXXXX)
pids=()
BENCH_KEEP_RUN=${BENCH_KEEP:-0}
. bench/lib.sh
bench_traps

read -r MOCK_PORT GW_PORT ADMIN_PORT PROBE_PORT < <(free_ports 4)
export RUN MOCK_PORT GW_PORT ADMIN_PORT PROBE_PORT THREADS=${BENCH_THREADS:-2}
render() {
  python3 - "$1" "$2" <<'PY'
import os, re, sys
src = open(sys.argv[1]).read()
open(sys.argv[2], "w").write(re.sub(r"@([A-Z_]+)@", lambda m: os.environ[m.group(1)], src))
PY
}
render bench/pingora.yaml.template "$RUN/pingora.yaml"
render bench/relay.yaml.template "$RUN/relay.yaml"
python3 bench/bodies.py "$RUN/bodies" > /dev/null


./target/release/mock-upstream --listen "127.0.0.1:$MOCK_PORT" --threads "${BENCH_MOCK_THREADS:-2}" \
  > "$RUN/mock.log" 2>&1 &
MOCK_PID=$!; pids+=("$MOCK_PID")
wait_port "$MOCK_PORT" mock-upstream "$MOCK_PID"

# shellcheck disable=SC2086
env ${MEM_ENV:-} "$RELAY_BIN" -c "$RUN/pingora.yaml" --config "$RUN/relay.yaml" \
  > "$RUN/relay.log" 2>&1 &
GW_PID=$!; pids+=("$GW_PID")
wait_port "$GW_PORT" llm-relay "$GW_PID"

rss() { awk '/^VmRSS:/{print $2}' "/proc/$GW_PID/status"; }
sleep 1
RSS_START=$(rss)
echo "$LABEL: idle RSS $((RSS_START / 1024)) MB; $BURSTS bursts of $STREAMS streams" >&2

: > "$RUN/bursts.jsonl"
for b in $(seq 1 "$BURSTS"); do
  timeout $((HOLD + 180)) python3 bench/hold_streams.py --port "$GW_PORT" --body "$RUN/bodies/sse.json" \
    --streams "$STREAMS" --events 100 --interval-ms 60000 --hold "$HOLD" --ramp-timeout 120 \
    --pid "$GW_PID" > "$RUN/burst.$b.json" 2> "$RUN/burst.$b.err" || true
  sleep "$SETTLE_AFTER_BURST"
  after=$(rss)
  python3 - "$RUN/burst.$b.json" "$b" "$after" >> "$RUN/bursts.jsonl" <<'PY'
import json, sys
try:
    d = json.load(open(sys.argv[1]))
except Exception as e:
    d = {"error": repr(e)}
d["burst"] = int(sys.argv[2]); d["rss_after_kb"] = int(sys.argv[3])
print(json.dumps(d))
PY
  tail -1 "$RUN/bursts.jsonl" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(
    "  burst %s: %s open, RSS held %.0f MB, %s KB/stream, after release %.0f MB" % (d["burst"],
    d.get("open"), (d.get("rss_kb") or 0) / 1024, d.get("per_stream_kb"), d["rss_after_kb"] / 1024),
    file=sys.stderr)'
done
# Idle after the last burst: sample every 5 s.
: > "$RUN/settle.txt"
for t in $(seq 5 5 "$SETTLE"); do
  sleep 5
  echo "$t $(rss)" >> "$RUN/settle.txt"
done
RSS_END=$(rss)

python3 - "$RUN" "$LABEL" "$STREAMS" "$RSS_START" "$RSS_END" "$SETTLE" "${MEM_ENV:-}" <<'PY' | tee -a "${MEM_OUT:-/dev/null}"
import json, sys
run, label, n, start, end, settle, env = sys.argv[1:8]
bursts = [json.loads(l) for l in open(f"{run}/bursts.jsonl")]
settle_s = [tuple(map(int, l.split())) for l in open(f"{run}/settle.txt")]
mb = lambda kb: round(kb / 1024, 1) if kb else None
out = {
    "label": label, "env": env, "streams_per_burst": int(n), "rss_idle_mb": mb(int(start)),
    "bursts": [{"open": b.get("open"), "errors": b.get("errors"), "rss_held_mb": mb(b.get("rss_kb")),
                "rss_peak_mb": mb(b.get("rss_peak_kb")), "kb_per_stream": b.get("per_stream_kb"),
                "rss_after_mb": mb(b["rss_after_kb"])} for b in bursts],
    "rss_settle_mb": [[t, mb(kb)] for t, kb in settle_s],
    "rss_final_mb": mb(int(end)), "settle_s": int(settle),
}
print(f"| {label} | idle {out['rss_idle_mb']} MB | held: "
      + " / ".join(str(b["rss_held_mb"]) for b in out["bursts"])
      + " MB | after each release: " + " / ".join(str(b["rss_after_mb"]) for b in out["bursts"])
      + f" MB | {settle} s after the last: {out['rss_final_mb']} MB | KB/stream (burst 1): "
      + f"{out['bursts'][0]['kb_per_stream'] if out['bursts'] else None} |", file=sys.stderr)
print(json.dumps(out))
PY
