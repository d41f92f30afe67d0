# Shared pieces of the standalone benchmark scripts (bench/*.sh): a run directory removed on
# success, every started process stopped by PID on exit (even on failure or Ctrl-C), and
# waiting for a port. Source it after setting RUN (the run directory) and `pids=()`; set
# BENCH_KEEP_RUN=1 to keep the run directory.

bench_cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for _ in $(seq 1 30); do
    local alive=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "${BENCH_KEEP_RUN:-0}" = 1 ] || [ "$rc" != 0 ]; then
    echo "run directory kept: $RUN" >&2
  else
    rm -rf "$RUN"
  fi
  exit "$rc"
}

# Stops everything on exit; Ctrl-C and TERM exit through the same cleanup.
bench_traps() {
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
}

wait_port() { # wait_port PORT NAME PID
  for _ in $(seq 1 100); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1',$1),0.2)" 2>/dev/null && return 0
    kill -0 "$3" 2>/dev/null || { echo "$2 exited at start-up; see $RUN" >&2; exit 1; }
    sleep 0.1
  done
  echo "$2 did not listen on $1 in 10 s" >&2; exit 1
}

stop_pid() { # stop_pid PID: TERM, then KILL after 5 s
  kill -TERM "$1" 2>/dev/null || return 0
  for _ in $(seq 1 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

free_ports() { # free_ports N: N distinct free loopback ports on one line
  python3 - "$1" <<'PY'
import socket, sys
ss = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in ss:
    s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])
PY
}

start_mock() { # start_mock PORT: the mock on loopback, logged to $RUN/mock.log; sets MOCK_PID
  "$BIN/mock-upstream" --listen "127.0.0.1:$1" > "$RUN/mock.log" 2>&1 &
  MOCK_PID=$!; pids+=("$MOCK_PID")
  wait_port "$1" mock-upstream "$MOCK_PID"
}

write_pingora_yaml() { # write_pingora_yaml THREADS: Pingora's settings for one gateway in $RUN
  cat > "$RUN/pingora.yaml" <<EOF
---
version: 1
threads: $1
pid_file: $RUN/llm-relay.pid
upgrade_sock: $RUN/llm-relay-upgrade.sock
error_log: null
grace_period_seconds: 1
graceful_shutdown_timeout_seconds: 1
upstream_keepalive_pool_size: 256
EOF
}
