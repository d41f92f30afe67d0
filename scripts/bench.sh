#!/usr/bin/env bash
# Benchmark harness: llm-relay side by side with nginx as a plain reverse proxy, both
# in front of the same mock upstream, and the mock alone ("direct"). Everything on loopback,
# every run bounded in time, everything started here stopped by PID on exit (even on failure).
#
#   scripts/bench.sh            full run (~10 min); rewrites the results part of docs/benchmarks.md
#   scripts/bench.sh --quick    short run (< 2 min after the build); prints the table only
#   scripts/bench.sh --memory   memory after load: 5 bursts of 9,500 held SSE streams on one
#            gateway, RSS after each and 60 s after the last (bench/memory_bursts.sh, ~5 min;
#            its MEM_* knobs apply); prints its own table, not part of the full run or of CI
#   scripts/bench.sh --redis    latency Redis-backed limits add at 500/s, p50 and p99, against
#            in-process limits and none (bench/redis_limits.sh, ~2 min after the build)
#   scripts/bench.sh --tracing  latency of tracing (OTLP, sampling 1.0) and CORS at 500/s
#            (bench/tracing_cors.sh, ~4 min after the build)
#   options: --no-doc (full run without touching the doc), --perf (record a CPU profile of
#            llm-relay during scenarios 1b and 2 with perf, if perf works here)
#   environment: BENCH_THREADS (gateway threads = nginx workers, default 2), BENCH_CONC (oha -c,
#            default 50), BENCH_RATE (oha -q for the latency runs, default 500),
#            BENCH_RATE_IMAGE (oha -q for scenario 4 and its scenario-1 baseline, default 100),
#            BENCH_MAX_FOREIGN (% of the machine used by other work above which a latency run
#            is repeated, default 10), BENCH_TRIES (runs at most, default 3; quick: 1), BENCH_MOCK_THREADS (default 2), BENCH_KEEP=1 keeps the run directory,
#            BENCH_ONLY="s1 s2 ..." runs only those parts (s1 s1b s2 s3 s4 s1i s3probe s5),
#            BENCH_HOLD="1000 10000" stream counts of scenario 5,
#            BENCH_NO_BUILD=1 uses the release binaries as they are (harness development only).
#
# Scenarios: 1 chat ~2 KB agent body through the hunyuan profile (1b: with a leading assistant
# turn, so the fixer rewrites), 2 embeddings pass-through, 3 SSE chat with 20 events (throughput
# with oha; per-event delay with bench/sse_probe.py), 4 cascade cache hit with a 1 MB data-URL
# image, 5 1k/10k concurrent SSE streams held open (gateway RSS, bench/hold_streams.py).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
. scripts/lib.sh

QUICK=0
WRITE_DOC=1
PERF=0
MEMORY=0
for a in "$@"; do
  case "$a" in
    --quick) QUICK=1 ;;
    --no-doc) WRITE_DOC=0 ;;
    --perf) PERF=1 ;;
    --memory) MEMORY=1 ;;
    --redis) exec bash bench/redis_limits.sh ;;
    --tracing) exec bash bench/tracing_cors.sh ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "unknown option: $a" >&2; exit 2 ;;
  esac
done
[ "$QUICK" = 1 ] && WRITE_DOC=0
[ -n "${BENCH_ONLY:-}" ] && WRITE_DOC=0

THREADS=${BENCH_THREADS:-2}
MOCK_THREADS=${BENCH_MOCK_THREADS:-2}
CONC=${BENCH_CONC:-50}
RATE=${BENCH_RATE:-500}
RATE_IMAGE=${BENCH_RATE_IMAGE:-100}
MAX_FOREIGN=${BENCH_MAX_FOREIGN:-10}
if [ "$QUICK" = 1 ]; then TRIES=${BENCH_TRIES:-1}; else TRIES=${BENCH_TRIES:-3}; fi
if [ "$QUICK" = 1 ]; then
  DUR=${BENCH_DUR:-1500ms}; PROBE_DUR=2; HOLD_SET=(${BENCH_HOLD:-1000}); HOLD_SECS=2; WARM_N=100
else
  DUR=${BENCH_DUR:-10s}; PROBE_DUR=8; HOLD_SET=(${BENCH_HOLD:-1000 10000}); HOLD_SECS=5; WARM_N=500
fi

# ------------------------------------------------------------------ tools
need_toolchain
# The memory row runs on its own: one long-lived gateway, no nginx or oha.
[ "$MEMORY" = 1 ] && exec bash bench/memory_bursts.sh
need_apt nginx nginx-light
need_apt curl curl
OHA=$(command -v oha || true)
[ -z "$OHA" ] && [ -x "$HOME/.cargo/bin/oha" ] && OHA=$HOME/.cargo/bin/oha
if [ -z "$OHA" ]; then
  echo "installing oha (cargo install oha --locked) ..." >&2
  cargo install oha --locked >&2
  OHA=$HOME/.cargo/bin/oha
fi
command -v python3 >/dev/null || need_apt python3 python3

if [ "${BENCH_NO_BUILD:-0}" = 1 ] && [ -x target/release/llm-relay ] && [ -x target/release/mock-upstream ]; then
  echo "BENCH_NO_BUILD=1: using the existing release binaries" >&2
else
  echo "building release binaries ..." >&2
  cargo build --release --workspace --bins >&2
fi
# The plain-Pingora column: its own little crate, built into the same target directory with the
# same lock file, so only that crate compiles (its Cargo.lock is a copy, not kept in git).
cp Cargo.lock bench/pingora-baseline/Cargo.lock
if [ "${BENCH_NO_BUILD:-0}" != 1 ] || [ ! -x target/release/pingora-baseline ]; then
  CARGO_TARGET_DIR=$ROOT/target cargo build --release --manifest-path bench/pingora-baseline/Cargo.toml >&2
fi
T_START=$(date +%s)

# ------------------------------------------------------------------ run directory, cleanup
RUN=$(mktemp -d /tmp/llm-relay-bench.XXXXXX)
RES=$RUN/results
mkdir -p "$RES" "$RUN/nginx"/{client_body,proxy,fastcgi,uwsgi,scgi}
pids=()
BENCH_KEEP_RUN=${BENCH_KEEP:-0}
. bench/lib.sh
bench_traps

# Many streams need many descriptors (a proxy holds two per stream). Take what the hard limit
# allows; hold_streams.py reports how many streams were really open.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
NOFILE=$(ulimit -n)

# Free loopback ports, picked by the kernel.
read -r MOCK_PORT NGINX_PORT NGINX_PROBE_PORT GW_PORT ADMIN_PORT PROBE_PORT PB_PORT PB_PROBE_PORT \
  < <(python3 - <<'PY'
import socket
ss = [socket.socket() for _ in range(8)]
for s in ss:
    s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])
PY
)

render() { # render TEMPLATE OUT: replace @KEY@ with $KEY
  python3 - "$1" "$2" <<'PY'
import os, re, sys
src = open(sys.argv[1]).read()
out = re.sub(r"@([A-Z_]+)@", lambda m: os.environ[m.group(1)], src)
open(sys.argv[2], "w").write(out)
PY
}
export RUN MOCK_PORT NGINX_PORT NGINX_PROBE_PORT GW_PORT ADMIN_PORT PROBE_PORT THREADS NOFILE
export WORKERS=$THREADS
export WORKER_CONNECTIONS=$(( NOFILE > 1024 ? NOFILE - 64 : 1024 ))
if [ "$(id -u)" = 0 ]; then export USER_LINE="user root;"; else export USER_LINE=""; fi

# ------------------------------------------------------------------ bodies and servers
python3 bench/bodies.py "$RUN/bodies" > "$RES/bodies.tsv"
python3 - "$RUN/bodies" <<'PY'
import json, sys
d = sys.argv[1]
b = json.load(open(f"{d}/sse.json"))
b["model"] = "hunyuan-sse-probe"
open(f"{d}/sse-probe.json", "w").write(json.dumps(b, separators=(",", ":")))
PY
B=$RUN/bodies

./target/release/mock-upstream --listen "127.0.0.1:$MOCK_PORT" --threads "$MOCK_THREADS" \
  > "$RUN/mock.log" 2>&1 &
MOCK_PID=$!; pids+=("$MOCK_PID")
wait_port "$MOCK_PORT" mock-upstream "$MOCK_PID"

python3 bench/sse_probe.py serve --port "$PROBE_PORT" > "$RUN/probe.log" 2>&1 &
PROBE_PID=$!; pids+=("$PROBE_PID")
wait_port "$PROBE_PORT" sse-probe "$PROBE_PID"

render bench/nginx.conf.template "$RUN/nginx/nginx.conf"
render bench/pingora.yaml.template "$RUN/pingora.yaml"
render bench/relay.yaml.template "$RUN/relay.yaml"

start_nginx() {
  nginx -p "$RUN/nginx" -c "$RUN/nginx/nginx.conf" -e "$RUN/nginx/error.log" \
    >> "$RUN/nginx/stdout.log" 2>&1 &
  NGINX_PID=$!; pids+=("$NGINX_PID")
  wait_port "$NGINX_PORT" nginx "$NGINX_PID"
}
start_relay() {
  ./target/release/llm-relay -c "$RUN/pingora.yaml" --config "$RUN/relay.yaml" \
    >> "$RUN/relay.log" 2>&1 &
  GW_PID=$!; pids+=("$GW_PID")
  wait_port "$GW_PORT" llm-relay "$GW_PID"
}
start_pingora() {
  sed "s|llm-relay|pingora-baseline|g" "$RUN/pingora.yaml" > "$RUN/pingora-baseline.yaml"
  sed "s|llm-relay|pingora-baseline-probe|g" "$RUN/pingora.yaml" > "$RUN/pingora-baseline-probe.yaml"
  ./target/release/pingora-baseline -c "$RUN/pingora-baseline.yaml" "127.0.0.1:$PB_PORT" \
    "127.0.0.1:$MOCK_PORT" >> "$RUN/pingora-baseline.log" 2>&1 &
  PB_PID=$!; pids+=("$PB_PID")
  wait_port "$PB_PORT" pingora-baseline "$PB_PID"
}
start_nginx
start_relay
start_pingora
./target/release/pingora-baseline -c "$RUN/pingora-baseline-probe.yaml" "127.0.0.1:$PB_PROBE_PORT" \
  "127.0.0.1:$PROBE_PORT" >> "$RUN/pingora-baseline-probe.log" 2>&1 &
PB_PROBE_PID=$!; pids+=("$PB_PROBE_PID")
wait_port "$PB_PROBE_PORT" pingora-baseline-probe "$PB_PROBE_PID"

nginx_pids() { echo "$NGINX_PID" $(pgrep -P "$NGINX_PID" || true); }

declare -A PORT=([direct]=$MOCK_PORT [nginx]=$NGINX_PORT [pingora]=$PB_PORT [relay]=$GW_PORT)

# ------------------------------------------------------------------ sanity: every path answers 200
check() { # check TARGET PATH BODY [headers...]
  local target=$1 path=$2 body=$3; shift 3
  local code
  code=$(curl -s -o "$RES/check.out" -w '%{http_code}' --max-time 20 \
    -H 'content-type: application/json' "$@" --data-binary "@$body" \
    "http://127.0.0.1:${PORT[$target]}$path")
  if [ "$code" != 200 ]; then
    echo "sanity check failed: $target $path $(basename "$body") -> $code: $(head -c 300 "$RES/check.out")" >&2
    exit 1
  fi
}
for t in direct nginx pingora relay; do
  check "$t" /v1/chat/completions "$B/chat.json"
  check "$t" /v1/chat/completions "$B/chat-lead.json"
  check "$t" /v1/embeddings "$B/embed.json"
  check "$t" /v1/chat/completions "$B/sse.json" -H 'x-mock-events: 20'
done
# Scenario 4: the first request through the gateway asks the vision model once and caches the
# description; every measured request after it is a cache hit.
check relay /v1/chat/completions "$B/vision.json"
check direct /v1/chat/completions "$B/vision.json"
VISION_CALLS_WARM=$(curl -s "http://127.0.0.1:$MOCK_PORT/_stats" | python3 -c \
  'import json,sys; print(json.load(sys.stdin).get("vision_calls", "?"))')

# ------------------------------------------------------------------ load runs
COMMANDS=$RES/commands.txt
: > "$COMMANDS"
# The exact command, quoted, with the run's temporary paths and ports replaced by names.
log_cmd() {
  local label=$1; shift
  printf '%s: %s\n' "$label" "$(printf '%q ' "$@")" | sed \
    -e "s|$RUN/bodies/||g" -e "s|$OHA|oha|g" \
    -e "s|:$MOCK_PORT/|:\$MOCK_PORT/|g" -e "s|:$NGINX_PORT/|:\$NGINX_PORT/|g" \
    -e "s|:$GW_PORT/|:\$RELAY_PORT/|g" -e "s|:$PB_PORT/|:\$PINGORA_PORT/|g" \
    -e "s|--port $PB_PORT |--port \$PINGORA_PORT |g" -e "s|--port $PB_PROBE_PORT |--port \$PINGORA_PROBE_PORT |g" -e "s|--port $MOCK_PORT |--port \$MOCK_PORT |g" \
    -e "s|--port $NGINX_PORT |--port \$NGINX_PORT |g" -e "s|--port $GW_PORT |--port \$RELAY_PORT |g" \
    -e "s|--port $PROBE_PORT |--port \$PROBE_PORT |g" \
    -e "s|--port $NGINX_PROBE_PORT |--port \$NGINX_PROBE_PORT |g" \
    -e "s|--pid [0-9]*|--pid PID|g" -e 's/ $//' >> "$COMMANDS"
}

# CPU time (clock ticks, user + system, all threads) of a set of processes.
cpu_ticks() { local t=0 p; for p in "$@"; do
  [ -r "/proc/$p/stat" ] && t=$(( t + $(sed 's/.*) //' "/proc/$p/stat" | awk '{print $12 + $13}') ))
done; echo "$t"; }
CLK_TCK=$(getconf CLK_TCK)
target_pids() {
  case "$1" in direct) echo "$MOCK_PID" ;; nginx) nginx_pids ;; pingora) echo "$PB_PID" ;; relay) echo "$GW_PID" ;; esac
}

oha_run() { # oha_run NAME TARGET PATH BODY MODE [headers...]   MODE: tp | lat | lat-image
  local name=$1 target=$2 path=$3 body=$4 mode=$5; shift 5
  local url="http://127.0.0.1:${PORT[$target]}$path"
  local hdr=() h
  for h in "$@"; do hdr+=(-H "$h"); done
  # warm-up: connections and upstream keep-alive in place before measuring
  timeout 60 "$OHA" --no-tui -n "$WARM_N" -c 10 -m POST -T application/json -D "$body" \
    "${hdr[@]}" "$url" > /dev/null 2>&1 || true
  local extra=()
  case "$mode" in
    lat) extra=(-q "$RATE" --latency-correction) ;;
    lat-image) extra=(-q "$RATE_IMAGE" --latency-correction) ;;
  esac
  local cmd=("$OHA" --no-tui --output-format json -w -z "$DUR" -c "$CONC" "${extra[@]}"
    -m POST -T application/json -D "$body" "${hdr[@]}" "$url")
  log_cmd "$name.$target.$mode" "${cmd[@]}"
  # Other work on the machine (engineers compiling, ...) shows as "foreign" CPU: all busy CPU
  # time minus what the target, the mock and oha used. A latency run with more than
  # MAX_FOREIGN % of the machine foreign is repeated (full run: up to $TRIES tries, the
  # quietest one counts); the table marks results measured under more noise than that.
  local try best_f=999 f out=$RES/$name.$target.$mode
  for try in $(seq 1 "$TRIES"); do
    one_run "$target" "$out.try" "${cmd[@]}" || { echo "oha failed for $name $target $mode (see $RES)" >&2; return 0; }
    f=$(cut -d' ' -f1 "$out.try.noise")
    if [ "$f" -lt "$best_f" ]; then
      best_f=$f
      for x in json err cpu noise; do mv "$out.try.$x" "$out.$x"; done
    fi
    [ "$best_f" -le "$MAX_FOREIGN" ] && break
    [ "$try" -lt "$TRIES" ] || break
    echo "  $name $target $mode: ${f}% foreign CPU, repeating" >&2
  done
  rm -f "$out".try.*
  printf '  %-10s %-7s %-9s done (%s%% foreign CPU)\n' "$name" "$target" "$mode" "$best_f" >&2
}

busy_ticks() { awk '/^cpu /{print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }

one_run() { # one_run TARGET OUTPREFIX CMD...: writes .json .err .cpu .noise
  local target=$1 out=$2; shift 2
  local tpids c0 m0 b0 w0 w1 oha_t
  tpids=$(target_pids "$target")
  c0=$(cpu_ticks $tpids); m0=$(cpu_ticks "$MOCK_PID"); b0=$(busy_ticks); w0=$(date +%s%N)
  { TIMEFORMAT='%U %S'; time timeout 120 "$@" > "$out.json" 2> "$out.err"; } 2> "$out.time" || return 1
  w1=$(date +%s%N)
  local dc dm db
  dc=$(( $(cpu_ticks $tpids) - c0 )); dm=$(( $(cpu_ticks "$MOCK_PID") - m0 )); db=$(( $(busy_ticks) - b0 ))
  [ "$target" = direct ] && dm=0
  oha_t=$(awk -v hz="$CLK_TCK" '{printf "%d", ($1 + $2) * hz}' "$out.time")
  rm -f "$out.time"
  # CPU ticks of the target (the mock itself for "direct") and of the mock
  echo "$dc $(( $(cpu_ticks "$MOCK_PID") - m0 )) $CLK_TCK" > "$out.cpu"
  # foreign CPU in % of the machine, then the raw numbers
  awk -v b="$db" -v c="$dc" -v m="$dm" -v o="$oha_t" -v hz="$CLK_TCK" -v n="$(nproc)" \
      -v w="$(( (w1 - w0) / 1000000 ))" \
    'BEGIN { f = (b - c - m - o) / (w / 1000 * hz * n) * 100; if (f < 0) f = 0;
             printf "%d busy=%d target=%d mock=%d oha=%d wall_ms=%d\n", f + 0.5, b, c, m, o, w }' \
    > "$out.noise"
}

perf_start() {
  PERF_PID=
  [ "$PERF" = 1 ] || return 0
  command -v perf >/dev/null || { echo "perf missing (apt-get install linux-perf)" >&2; return 0; }
  perf record -F 999 -e cpu-clock -p "$GW_PID" -o "$RUN/perf.$1.data" > "$RUN/perf.$1.log" 2>&1 &
  PERF_PID=$!
  sleep 0.3
}
perf_stop() {
  [ -n "${PERF_PID:-}" ] || return 0
  kill -INT "$PERF_PID" 2>/dev/null || true
  wait "$PERF_PID" 2>/dev/null || true
  perf report -i "$RUN/perf.$1.data" --no-children --sort symbol --stdio 2>/dev/null \
    | grep -v '^#' | grep -v '^$' | head -60 > "$RES/perf.$1.txt" || true
  PERF_PID=
}

# BENCH_ONLY="s1 s2 s3probe s5" runs only those parts (s1 s1b s2 s3 s4 s1i s3probe s5).
wanted() { [ -z "${BENCH_ONLY:-}" ] || [[ " $BENCH_ONLY " == *" $1 "* ]]; }

scenario() { # scenario NAME PATH BODY TARGETS LATMODE [headers...]
  local name=$1 path=$2 body=$3 targets=$4 latmode=$5; shift 5
  local t
  wanted "$name" || return 0
  echo "scenario $name" >&2
  for t in $targets; do
    [ "$t" = relay ] && perf_start "$name"
    oha_run "$name" "$t" "$path" "$body" tp "$@"
    [ "$t" = relay ] && perf_stop "$name"
    oha_run "$name" "$t" "$path" "$body" "$latmode" "$@"
  done
}

# "pingora" is bench/pingora-baseline: Pingora with nothing on top, for scenarios 1-3.
ALL="direct nginx pingora relay"
scenario s1 /v1/chat/completions "$B/chat.json" "$ALL" lat
scenario s1b /v1/chat/completions "$B/chat-lead.json" "direct nginx relay" lat
scenario s2 /v1/embeddings "$B/embed.json" "$ALL" lat
scenario s3 /v1/chat/completions "$B/sse.json" "$ALL" lat 'x-mock-events: 20' 'x-mock-interval-ms: 0'
scenario s4 /v1/chat/completions "$B/vision.json" "direct nginx relay" lat-image
# Scenario 4's own baseline: scenario 1 at scenario 4's rate (same load on the gateway).
if wanted s1i; then
  echo "scenario s1@image-rate" >&2
  for t in direct relay; do oha_run s1i "$t" /v1/chat/completions "$B/chat.json" lat-image; done
fi

# Scenario 3, per-event delay: the probe upstream stamps each event, the client subtracts.
declare -A PROBE_PORTS=([direct]=$PROBE_PORT [nginx]=$NGINX_PROBE_PORT [pingora]=$PB_PROBE_PORT [relay]=$GW_PORT)
wanted s3probe && echo "scenario s3 per-event probe" >&2
for t in direct nginx pingora relay; do
  wanted s3probe || break
  cmd=(python3 bench/sse_probe.py client --port "${PROBE_PORTS[$t]}" --body "$B/sse-probe.json"
    --events 20 --interval-ms 10 --concurrency 10 --duration "$PROBE_DUR")
  log_cmd "s3probe.$t" "${cmd[@]}"
  timeout $((PROBE_DUR + 60)) "${cmd[@]}" > "$RES/s3probe.$t.json" 2> "$RES/s3probe.$t.err" || true
  printf '  %-10s %-7s done\n' s3probe "$t" >&2
done

# Scenario 5: streams held open; RSS of the proxy (nginx: master + workers). Each count runs on
# a freshly started proxy, so the idle RSS is the baseline and earlier load does not count.
wanted s5 && echo "scenario s5 streams held open" >&2
for n in "${HOLD_SET[@]}"; do
  wanted s5 || break
  for t in relay nginx pingora; do
    case "$t" in
      relay) stop_pid "$GW_PID"; start_relay ;;
      nginx) stop_pid "$NGINX_PID"; start_nginx ;;
      pingora) stop_pid "$PB_PID"; start_pingora ;;
    esac
    sleep 1
    pid_args=(); for p in $(target_pids "$t"); do pid_args+=(--pid "$p"); done
    # A proxy holds two descriptors per stream; stay under the open-file limit (a sandbox may
    # not allow raising it), and say so in the table.
    n_eff=$(( n < (NOFILE - 200) / 2 ? n : (NOFILE - 200) / 2 ))
    cmd=(python3 bench/hold_streams.py --port "${PORT[$t]}" --body "$B/sse.json" --streams "$n_eff"
      --events 100 --interval-ms 5000 --hold "$HOLD_SECS" --ramp-timeout 60 "${pid_args[@]}")
    log_cmd "s5.$n.$t" "${cmd[@]}"
    timeout 120 "${cmd[@]}" > "$RES/s5.$n.$t.json" 2> "$RES/s5.$n.$t.err" || true
    # Streams the proxy still holds to the mock after the client closed all of its own.
    sleep 2
    owners=$(target_pids "$t")
    ss -Htnp state established "( dport = :$MOCK_PORT )" 2>/dev/null \
      | grep -cE "pid=($(echo $owners | tr ' ' '|'))," > "$RES/s5.$n.$t.left" || true
    printf '  %-10s %-7s done\n' "s5.$n" "$t" >&2
  done
done

# ------------------------------------------------------------------ report
T_END=$(date +%s)
{
  echo "elapsed_s=$((T_END - T_START))"
  echo "quick=$QUICK"
  echo "threads=$THREADS mock_threads=$MOCK_THREADS conc=$CONC rate=$RATE rate_image=$RATE_IMAGE dur=$DUR max_foreign=$MAX_FOREIGN tries=$TRIES"
  echo "nofile=$NOFILE"
  echo "vision_calls_after_warmup=$VISION_CALLS_WARM"
  echo "vision_calls_at_end=$(curl -s "http://127.0.0.1:$MOCK_PORT/_stats" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("vision_calls", "?"))')"
  echo "oha=$("$OHA" --version)"
  echo "nginx=$(nginx -v 2>&1 | sed 's/.*nginx\///')"
  echo "python=$(python3 --version | cut -d' ' -f2)"
  echo "rustc=$(rustc --version)"
  echo "llm_relay_commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet -- src Cargo.toml 2>/dev/null || echo '+dirty')"
  echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "nproc=$(nproc)"
  echo "kernel=$(uname -r)"
  echo "mem=$(free -g | awk '/Mem:/{print $2}') GiB"
  echo "date=$(date -u +%Y-%m-%dT%H:%MZ)"
} > "$RES/meta.txt"
doc_args=()
[ "$WRITE_DOC" = 1 ] && doc_args=(--doc docs/benchmarks.md)
python3 bench/report.py "$RES" "${doc_args[@]}"
echo "bench took $((T_END - T_START)) s after the build" \
  "$([ "${BENCH_KEEP:-0}" = 1 ] && echo "; raw results in $RES" || echo "(BENCH_KEEP=1 keeps the raw results)")" >&2
