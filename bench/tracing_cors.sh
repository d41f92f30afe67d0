#!/usr/bin/env bash
# The latency that tracing (telemetry.otlp) and CORS (server.cors) add (standalone; not part of
# CI or scripts/bench.sh).
#
# One gateway at a time in front of the mock upstream, a small chat body, oha at a fixed rate
# (with latency correction) for a fixed time per case:
#   baseline     no telemetry, no cors (both off: the default)
#   cors         server.cors.allow_origins: ["http://127.0.0.1:1"], requests WITHOUT Origin
#                (CORS configured but not used by these requests)
#   cors_origin  the same gateway config, requests WITH `Origin: http://127.0.0.1:1`
#                (every answer gets the CORS headers)
#   tracing      telemetry.otlp, sampling_ratio 1.0, to a local collector that decodes each
#                export (to count the spans) and discards it
# Each case runs twice, interleaved (order A B C D, then D C B A, so a drift in the machine's
# load hits both ends alike); both rounds are printed with the load average at each run, the
# p50/p99 per run and the differences to the baseline of the same round. The goal: tracing
# adds at most 0.1 ms at p99 at 500 requests/s; the verdict says "not measurable" when the two
# baseline runs differ by more than that. Everything started here is stopped by PID on exit,
# every step is bounded in time.
#
#   bench/tracing_cors.sh
#   environment: TC_RATE (requests/s, default 500), TC_DUR (per run, default 20s),
#                TC_CONC (oha -c, default 50), TC_THREADS (gateway threads, default 2),
#                TC_ROUNDS (1 or 2, default 2),
#                NO_BUILD=1 (or TC_NO_BUILD=1) uses the release binaries as they are,
#                TC_KEEP=1 keeps the run dir. Honours CARGO_TARGET_DIR.
#   needs: curl, python3 with opentelemetry-proto (pip install opentelemetry-proto), oha
#          (installed with cargo when missing).
set -euo pipefail
cd "$(dirname "$0")/.."

RATE=${TC_RATE:-500}
DUR=${TC_DUR:-20s}
CONC=${TC_CONC:-50}
THREADS=${TC_THREADS:-2}
ROUNDS=${TC_ROUNDS:-2}
BIN=${CARGO_TARGET_DIR:-target}/release
KEY=sk-bench-tracing-cors
ORIGIN=http://127.0.0.1:1

# ------------------------------------------------------------------ tools and binaries
for t in curl python3; do
  command -v "$t" >/dev/null || { echo "needs $t (apt-get install curl python3)" >&2; exit 1; }
done
python3 -c 'import opentelemetry.proto.collector.trace.v1.trace_service_pb2' 2>/dev/null \
  || { echo "needs opentelemetry-proto for python3 (pip install opentelemetry-proto)" >&2; exit 1; }
OHA=$(command -v oha || true)
[ -z "$OHA" ] && [ -x "$HOME/.cargo/bin/oha" ] && OHA=$HOME/.cargo/bin/oha
if [ -z "$OHA" ]; then
  echo "installing oha (cargo install oha --locked) ..." >&2
  timeout 1800 cargo install oha --locked >&2
  OHA=$HOME/.cargo/bin/oha
fi
if { [ "${NO_BUILD:-0}" = 1 ] || [ "${TC_NO_BUILD:-0}" = 1 ]; } \
    && [ -x "$BIN/llm-relay" ] && [ -x "$BIN/mock-upstream" ]; then
  echo "NO_BUILD=1: using the existing release binaries in $BIN" >&2
else
  echo "building release binaries ..." >&2
  timeout 3600 cargo build --release --workspace --bins >&2
fi

# ------------------------------------------------------------------ run directory, cleanup
RUN=$(mktemp -d /tmp/llm-relay-tracing-cors-bench.XXXXXX)
pids=()
BENCH_KEEP_RUN=${TC_KEEP:-0}
. bench/lib.sh
bench_traps

read -r MOCK_PORT OTLP_PORT GW_PORT ADMIN_PORT < <(free_ports 4)


# ------------------------------------------------------------------ mock and collector
start_mock "$MOCK_PORT"

# The collector: decodes each OTLP/HTTP export with the official definitions only to count the
# spans (GET /count), keeps nothing. Like tests/sdk/otlp_receiver.py without the JSON file.
cat > "$RUN/collector.py" <<'PY'
import sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

lock = threading.Lock()
count = {"spans": 0, "exports": 0}
OK = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()

class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        req = trace_service_pb2.ExportTraceServiceRequest()
        req.ParseFromString(body)
        n = sum(len(ss.spans) for rs in req.resource_spans for ss in rs.scope_spans)
        with lock:
            count["spans"] += n
            count["exports"] += 1
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", str(len(OK)))
        self.end_headers()
        self.wfile.write(OK)

    def do_GET(self):
        with lock:
            out = f'{count["spans"]} {count["exports"]}\n'.encode()
        self.send_response(200)
        self.send_header("content-length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass

ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
PY
python3 "$RUN/collector.py" "$OTLP_PORT" > "$RUN/collector.log" 2>&1 &
OTLP_PID=$!; pids+=("$OTLP_PID")
wait_port "$OTLP_PORT" collector "$OTLP_PID"
spans_seen() { curl -s --max-time 5 "http://127.0.0.1:$OTLP_PORT/count" | cut -d' ' -f1; }

# ------------------------------------------------------------------ configurations
HASH=$(printf %s "$KEY" | sha256sum | cut -d' ' -f1)
write_pingora_yaml "$THREADS"
relay_yaml() { # relay_yaml OUT SERVER_EXTRA TOP_LEVEL_EXTRA
  cat > "$1" <<EOF
server:
  listen: ["127.0.0.1:$GW_PORT"]
  admin_listen: "127.0.0.1:$ADMIN_PORT"
$2
pools:
  main: {urls: ["http://127.0.0.1:$MOCK_PORT/v1"], profile: openai}
routes:
  - {model: m, pool: main, kinds: [chat]}
auth:
  keys:
    - {id: bench, sha256: "$HASH"}
$3
EOF
}
relay_yaml "$RUN/baseline.yaml" "" ""
relay_yaml "$RUN/cors.yaml" "  cors: {allow_origins: [\"$ORIGIN\"]}" ""
relay_yaml "$RUN/tracing.yaml" "" "telemetry:
  otlp:
    endpoint: \"http://127.0.0.1:$OTLP_PORT\"
    sampling_ratio: 1.0"

printf '%s' '{"model":"m","max_tokens":16,"messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Say hello in one word."}]}' \
  > "$RUN/chat.json"

# ------------------------------------------------------------------ runs
GW_PID=
run_case() { # run_case CASE ROUND
  local case=$1 round=$2 conf=$1 url="http://127.0.0.1:$GW_PORT/v1/chat/completions"
  local name="$case.$round" hdr=() spans0=0
  [ "$case" = cors_origin ] && { conf=cors; hdr=(-H "origin: $ORIGIN"); }
  "$BIN/llm-relay" -c "$RUN/pingora.yaml" --config "$RUN/$conf.yaml" > "$RUN/$name.log" 2>&1 &
  GW_PID=$!; pids+=("$GW_PID")
  wait_port "$GW_PORT" "llm-relay ($name)" "$GW_PID"
  wait_port "$ADMIN_PORT" "llm-relay admin ($name)" "$GW_PID"
  [ "$case" = tracing ] && spans0=$(spans_seen)
  local code
  code=$(curl -s -D "$RUN/$name.headers" -o "$RUN/$name.check" -w '%{http_code}' --max-time 10 \
    -H 'content-type: application/json' -H "authorization: Bearer $KEY" "${hdr[@]}" \
    --data-binary "@$RUN/chat.json" "$url")
  if [ "$code" != 200 ]; then
    echo "sanity check failed for $name: $code $(head -c 300 "$RUN/$name.check")" >&2; exit 1
  fi
  # The CORS headers are there exactly when the request has the allowed Origin.
  local acao
  acao=$(grep -ci '^access-control-allow-origin:' "$RUN/$name.headers" || true)
  if [ "$case" = cors_origin ] && [ "$acao" = 0 ]; then
    echo "sanity check failed for $name: no access-control-allow-origin" >&2; exit 1
  fi
  if [ "$case" != cors_origin ] && [ "$acao" != 0 ]; then
    echo "sanity check failed for $name: access-control-allow-origin without Origin" >&2; exit 1
  fi
  # Warm-up: connections to the mock (and the exporter's to the collector) are open before the
  # measured run.
  timeout 60 "$OHA" --no-tui -n 1000 -c 10 -m POST -T application/json \
    -H "authorization: Bearer $KEY" "${hdr[@]}" -D "$RUN/chat.json" "$url" > /dev/null 2>&1 || true
  local load
  load=$(cut -d' ' -f1-3 /proc/loadavg)
  echo "$name: $RATE requests/s for $DUR (load average $load) ..." >&2
  echo "$load" > "$RUN/$name.load"
  timeout 120 "$OHA" --no-tui --output-format json -w -z "$DUR" -c "$CONC" -q "$RATE" \
    --latency-correction -m POST -T application/json -H "authorization: Bearer $KEY" "${hdr[@]}" \
    -D "$RUN/chat.json" "$url" > "$RUN/$name.json" 2> "$RUN/$name.err" \
    || { echo "oha failed for $name (see $RUN)" >&2; exit 1; }
  if [ "$case" = tracing ]; then
    sleep 2 # the batch exporter sends every 500 ms
    echo "$(( $(spans_seen) - spans0 ))" > "$RUN/$name.spans"
  fi
  curl -s --max-time 5 "http://127.0.0.1:$ADMIN_PORT/metrics" > "$RUN/$name.metrics" || true
  stop_pid "$GW_PID"
}
CASES=(baseline cors cors_origin tracing)
for c in "${CASES[@]}"; do run_case "$c" 1; done
if [ "$ROUNDS" -ge 2 ]; then
  for ((i = ${#CASES[@]} - 1; i >= 0; i--)); do run_case "${CASES[$i]}" 2; done
fi

# ------------------------------------------------------------------ report
python3 - "$RUN" "$RATE" "$DUR" "$CONC" "$THREADS" "$ROUNDS" "$(nproc)" <<'PY'
import json, re, sys
run, rate, dur, conc, threads, rounds, ncpu = sys.argv[1:]
rounds = [1, 2] if int(rounds) >= 2 else [1]
cases = ("baseline", "cors", "cors_origin", "tracing")
rows = {}
for r in rounds:
    for c in cases:
        name = f"{c}.{r}"
        d = json.load(open(f"{run}/{name}.json"))
        p = d["latencyPercentiles"]
        codes = d.get("statusCodeDistribution", {})
        ok = codes.get("200", 0)
        total = sum(codes.values()) + sum(d.get("errorDistribution", {}).values())
        load = open(f"{run}/{name}.load").read().split()[0]
        rows[(c, r)] = dict(p50=p["p50"] * 1e3, p99=p["p99"] * 1e3,
                            rps=d["summary"]["requestsPerSec"], ok=ok, total=total, load=load)
print(f"llm-relay: latency of CORS and tracing, {rate} requests/s for {dur} per run "
      f"(oha -c {conc}, latency-corrected), loopback, gateway threads {threads}, {ncpu} CPUs")
print(f"{'case':<13}{'round':>6}{'load1':>7}{'p50 ms':>9}{'p99 ms':>9}{'req/s':>8}"
      f"{'200':>7}{'total':>7}{'d p50':>9}{'d p99':>9}")
for c in cases:
    for r in rounds:
        x, b = rows[(c, r)], rows[("baseline", r)]
        print(f"{c:<13}{r:>6}{x['load']:>7}{x['p50']:>9.3f}{x['p99']:>9.3f}{x['rps']:>8.1f}"
              f"{x['ok']:>7}{x['total']:>7}{x['p50'] - b['p50']:>+9.3f}{x['p99'] - b['p99']:>+9.3f}")
print("(d p50 / d p99: minus the baseline of the same round)")

def verdict(c, goal):
    ds = [rows[(c, r)]["p99"] - rows[("baseline", r)]["p99"] for r in rounds]
    txt = ", ".join(f"{d:+.3f}" for d in ds)
    if len(rounds) == 2:
        noise = abs(rows[("baseline", 1)]["p99"] - rows[("baseline", 2)]["p99"])
        if min(ds) > goal + noise:
            return f"NOT met (p99 {txt} ms; baseline runs differ by {noise:.3f} ms)"
        if noise > goal:
            return (f"not measurable under this load (p99 {txt} ms, but the two baseline "
                    f"runs differ by {noise:.3f} ms at p99)")
        if max(ds) <= goal:
            return f"met (p99 {txt} ms; baseline runs differ by {noise:.3f} ms)"
        return f"inconclusive (p99 {txt} ms; baseline runs differ by {noise:.3f} ms)"
    return f"{'met' if ds[0] <= goal else 'NOT met'} (p99 {txt} ms; one round, no noise estimate)"

print(f"tracing on, p99 within +0.1 ms of the baseline: {verdict('tracing', 0.1)}")
print(f"cors configured, no Origin, p99 within +0.1 ms: {verdict('cors', 0.1)}")
print(f"cors with Origin, p99 within +0.1 ms:          {verdict('cors_origin', 0.1)}")
for r in rounds:
    spans = int(open(f"{run}/tracing.{r}.spans").read())
    sent = rows[("tracing", r)]["total"] + 1001  # the measured run, the sanity check, the warm-up
    m = open(f"{run}/tracing.{r}.metrics").read()
    dropped = sum(float(v) for v in re.findall(r"^llm_relay_trace_spans_dropped_total(?:\{[^}]*\})? (\S+)", m, re.M))
    print(f"tracing round {r}: {spans} spans received for {sent} requests "
          f"({spans / sent:.2f} per request), {dropped:.0f} counted as dropped")
bad = [f"{c}.{r}" for (c, r), x in rows.items() if x["ok"] != x["total"]]
if bad:
    print(f"WARNING: non-200 answers in {bad}")
PY
