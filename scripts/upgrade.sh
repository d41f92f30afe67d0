#!/usr/bin/env bash
# Zero-downtime binary upgrade (Pingora's graceful upgrade): start the new binary with -u, which
# waits on the upgrade socket; signal the old process with SIGQUIT, which hands over its
# listening sockets and drains (readiness 503, requests in flight finish within
# grace_period_seconds); wait until the old process is gone.
#
#   scripts/upgrade.sh                       # uses the defaults below
#   LLM_RELAY_BIN=/usr/local/bin/llm-relay PINGORA_CONF=/etc/llm-relay/pingora.yaml \
#     RELAY_CONF=/etc/llm-relay/relay.yaml scripts/upgrade.sh
#
# OLD_PID overrides the pid read from the pid file (for a non-daemon old process).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${LLM_RELAY_BIN:-./target/release/llm-relay}
PINGORA_CONF=${PINGORA_CONF:-conf/pingora.yaml}
RELAY_CONF=${RELAY_CONF:-}
TIMEOUT=${UPGRADE_TIMEOUT:-120}

# A process is gone when it no longer exists or only its zombie is left.
gone() { ! kill -0 "$1" 2>/dev/null || grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }
conf_value() { sed -n "s/^$1:[[:space:]]*//p" "$PINGORA_CONF" | head -n1; }
pid_file=$(conf_value pid_file)
old=${OLD_PID:-$(cat "${pid_file:-/tmp/pingora.pid}" 2>/dev/null || true)}
if [ -z "$old" ] || gone "$old"; then
  echo "upgrade: no running llm-relay (pid file ${pid_file:-?})" >&2
  exit 1
fi

"$BIN" -t -c "$PINGORA_CONF" ${RELAY_CONF:+--config "$RELAY_CONF"} >/dev/null || {
  echo "upgrade: the new binary rejects the configuration; nothing changed" >&2
  exit 1
}
echo "upgrade: starting the new binary (it waits for the sockets of pid $old)"
# The daemon must not hold this script's output open; its own log goes to UPGRADE_LOG (or
# Pingora's error_log).
"$BIN" -u -d -c "$PINGORA_CONF" ${RELAY_CONF:+--config "$RELAY_CONF"} \
  </dev/null >>"${UPGRADE_LOG:-/dev/null}" 2>&1 &
starter=$!
sleep 0.5
kill -QUIT "$old"
wait "$starter" || { echo "upgrade: the new binary failed to start" >&2; exit 1; }
echo "upgrade: old pid $old is draining"
for _ in $(seq 1 $((TIMEOUT * 10))); do
  gone "$old" && { echo "upgrade: done; new pid $(cat "$pid_file" 2>/dev/null || echo ?)"; exit 0; }
  sleep 0.1
done
echo "upgrade: old pid $old still running after ${TIMEOUT}s" >&2
exit 1
