#!/usr/bin/env bash
# Proves the Dockerfile's runtime image without a registry: builds it with buildah, runs it and
# checks that it serves. Not part of scripts/test.sh or CI: it takes minutes (a debootstrap the
# first time, a release build, an image build, a 40 s drain).
#
#   scripts/container-check.sh            # everything
#   scripts/container-check.sh --no-drain # skip the SIGTERM drain check (saves ~35 s)
#   scripts/container-check.sh --clean    # remove target/container-check/ (storage, base image)
#
# No public base image can be pulled on this machine (only package registries answer), so:
#   - the runtime base (debian:bookworm-slim's stand-in) is a debootstrap'd minbase bookworm,
#     made an image with buildah and kept in target/container-check/ for later runs;
#   - the binaries are built on the host (`cargo build --release --workspace --bins`, the same
#     command as the builder stage) and copied by the Dockerfile's `runtime-prebuilt` target,
#     which finishes the same `runtime-base` stage as the default `runtime` target.
# Proved: the runtime stage builds (packages, user, config files, EXPOSE, STOPSIGNAL, CMD), the
# binaries run in it as uid 10001, the default command serves the demo (mock + gateway on
# 0.0.0.0) with /health/live and /health/ready on both listeners and a chat answer, also on a
# read-only root filesystem with a tmpfs /tmp; the ConfigMap's config passes `llm-relay -t`;
# a SIGTERM drains: new connections are refused, a stream in flight finishes, the process
# exits 0 after the grace period.
# Not proved: the `builder` stage (it needs the rust image), the real debian:bookworm-slim
# image, Kubernetes itself (the manifests are schema-checked separately, see README "Deploy").
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=$ROOT/target/container-check
BASE_IMAGE=localhost/llm-relay-check-base:bookworm
IMAGE=localhost/llm-relay:check
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
DRAIN=1
START=$(date +%s)

case "${1:-}" in
  --clean) rm -rf "$WORK"; echo "removed $WORK"; exit 0 ;;
  --no-drain) DRAIN=0 ;;
  "") ;;
  *) echo "usage: $0 [--no-drain|--clean]" >&2; exit 2 ;;
esac

say() { printf '\n== %s (%ss)\n' "$*" "$(($(date +%s) - START))"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || fail "needs root (buildah with chroot isolation, debootstrap, unshare)"
missing=()
for tool in buildah debootstrap curl unshare ip; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing buildah debootstrap curl iproute2"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq buildah debootstrap curl iproute2 >/dev/null
fi

mkdir -p "$WORK"
# A private store: nothing touches the machine's containers storage.
B=(buildah --root "$WORK/storage" --runroot "$WORK/run" --storage-driver vfs)

say "runtime base image"
if "${B[@]}" inspect --type image "$BASE_IMAGE" >/dev/null 2>&1; then
  echo "reusing $BASE_IMAGE"
else
  rm -rf "$WORK/rootfs"
  debootstrap --variant=minbase bookworm "$WORK/rootfs" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
    || { tail -20 "$WORK/debootstrap.log"; fail "debootstrap"; }
  # Like the slim image: no docs, no package lists, the same sources.
  rm -rf "$WORK"/rootfs/usr/share/doc/* "$WORK"/rootfs/usr/share/man/* \
    "$WORK"/rootfs/var/lib/apt/lists/* "$WORK"/rootfs/var/cache/apt/*.bin
  echo "deb $MIRROR bookworm main" >"$WORK/rootfs/etc/apt/sources.list"
  ctr=$("${B[@]}" from scratch)
  mnt=$("${B[@]}" mount "$ctr")
  tar -C "$WORK/rootfs" --exclude=./dev/* --exclude=./proc/* --exclude=./sys/* -cf - . \
    | tar -C "$mnt" -xpf -
  "${B[@]}" umount "$ctr" >/dev/null
  "${B[@]}" config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --cmd bash "$ctr"
  "${B[@]}" commit -q "$ctr" "$BASE_IMAGE" >/dev/null
  "${B[@]}" rm "$ctr" >/dev/null
  rm -rf "$WORK/rootfs"
  echo "made $BASE_IMAGE"
fi

say "host build (cargo build --release --workspace --bins)"
command -v cmake >/dev/null || { apt-get update -qq; apt-get install -y -qq cmake >/dev/null; }
cargo build --release --workspace --bins
for bin in llm-relay mock-upstream; do [ -x "target/release/$bin" ] || fail "no target/release/$bin"; done

say "image build: Dockerfile --target runtime-prebuilt"
"${B[@]}" bud --isolation chroot --layers=false --target runtime-prebuilt \
  --build-arg RUNTIME_IMAGE="$BASE_IMAGE" -t "$IMAGE" -f Dockerfile . >"$WORK/build.log" 2>&1 \
  || { tail -30 "$WORK/build.log"; fail "image build (log: $WORK/build.log)"; }
tail -3 "$WORK/build.log"

say "image configuration"
cfg=$("${B[@]}" inspect --type image --format \
  '{{.OCIv1.Config.User}}|{{.OCIv1.Config.StopSignal}}|{{range $p, $_ := .OCIv1.Config.ExposedPorts}}{{$p}} {{end}}|{{.OCIv1.Config.Cmd}}' \
  "$IMAGE")
echo "$cfg"
IFS='|' read -r user stopsig ports cmd <<<"$cfg"
[ "$user" = "10001:10001" ] || fail "user is '$user', not 10001:10001"
[ "$stopsig" = "SIGTERM" ] || fail "stop signal is '$stopsig'"
[[ "$ports" == *8080/tcp* && "$ports" == *9091/tcp* ]] || fail "exposed ports: $ports"
size=$("${B[@]}" images --format '{{.Size}}' "$IMAGE")
echo "size: $size"

# The Kubernetes ConfigMap's two files must pass `llm-relay -t` with the image's binary, run
# the way the Deployment runs it (as 10001, from a mounted directory, the provider key and the
# key hashes in the env, as the Secrets give them).
say "the ConfigMap's relay.yaml and pingora.yaml pass llm-relay -t in the image"
rm -rf "$WORK/cluster" && mkdir -p "$WORK/cluster"
python3 - "$ROOT/deploy/kubernetes/configmap.yaml" "$WORK/cluster" <<'PY'
import sys, yaml
data = yaml.safe_load(open(sys.argv[1]))["data"]
for name in ("relay.yaml", "pingora.yaml"):
    open(f"{sys.argv[2]}/{name}", "w").write(data[name])
PY
chmod -R a+rX "$WORK/cluster"
ctr=$("${B[@]}" from "$IMAGE")
"${B[@]}" run --isolation chroot -v "$WORK/cluster:/etc/llm-relay/cluster:ro" \
  --env HUNYUAN_API_KEY=placeholder \
  --env RELAY_KEY_SHA256="$(printf 'sk-client' | sha256sum | cut -d' ' -f1)" \
  --env RELAY_ADMIN_KEY_SHA256="$(printf 'sk-admin' | sha256sum | cut -d' ' -f1)" "$ctr" -- \
  llm-relay -t -c /etc/llm-relay/cluster/pingora.yaml --config /etc/llm-relay/cluster/relay.yaml \
  >"$WORK/configmap-check.log" 2>&1 || { cat "$WORK/configmap-check.log"; fail "ConfigMap config"; }
grep -E 'configuration OK|Test passed' "$WORK/configmap-check.log"
"${B[@]}" rm "$ctr" >/dev/null

# As the Deployment runs it: a read-only root filesystem, a tmpfs on /tmp, uid 10001. buildah
# run has no read-only mode, so the image's filesystem is mounted, bound read-only in a mount
# namespace of its own (and a network namespace) and the demo started in it with chroot.
say "read-only root filesystem (tmpfs /tmp) as uid 10001"
ctr=$("${B[@]}" from "$IMAGE")
mnt=$("${B[@]}" mount "$ctr")
set +e
MNT=$mnt unshare --mount --net --fork bash -s >"$WORK/readonly.log" 2>&1 <<'INNER'
set -u
ip link set lo up
mount --make-rprivate /
mount --bind "$MNT" "$MNT" && mount -o remount,bind,ro "$MNT" || exit 1
mount -t tmpfs -o size=16m,mode=1777 tmpfs "$MNT/tmp"
mount -t proc proc "$MNT/proc"
mount --rbind /dev "$MNT/dev"
chroot --userspec=10001:10001 "$MNT" /bin/sh -c \
  'cd /tmp; mock-upstream --listen 127.0.0.1:9000 --strict & exec llm-relay -c /etc/llm-relay/pingora.yaml --config /etc/llm-relay/demo.yaml' &
gw=$!
ok=0
for _ in $(seq 1 100); do
  curl -fsS http://127.0.0.1:8080/health/ready >/dev/null 2>&1 && { ok=1; break; }
  sleep 0.2
done
chroot --userspec=10001:10001 "$MNT" /bin/sh -c 'touch /etc/probe' 2>&1 | head -1
chroot --userspec=10001:10001 "$MNT" /bin/sh -c 'touch /tmp/probe && echo "/tmp writable"'
echo "readiness: $(curl -sS http://127.0.0.1:8080/health/ready)"
# Stop what this step started, by id: the gateway (SIGINT, the fast shutdown) and the mock
# (the process whose root is this mount).
kill -INT "$gw"
for p in $(ps -e -o pid=,comm= | awk '$2=="mock-upstream"{print $1}'); do
  [ "$(readlink "/proc/$p/root")" = "$MNT" ] && kill "$p"
done
wait "$gw"
[ $ok = 1 ]
INNER
rc=$?
set -e
"${B[@]}" umount "$ctr" >/dev/null; "${B[@]}" rm "$ctr" >/dev/null
grep -E 'Read-only|writable|readiness' "$WORK/readonly.log" || true
[ $rc = 0 ] && grep -q 'Read-only file system' "$WORK/readonly.log" \
  && grep -q '"status":"ready"' "$WORK/readonly.log" \
  || { tail -20 "$WORK/readonly.log"; fail "the demo on a read-only root filesystem"; }

# The run: the image's own CMD in a working container, in a network namespace of its own
# (its 8080/9091 cannot clash with anything on the host), checked with curl from inside it.
say "run the image's default command and probe it"
ctr=$("${B[@]}" from "$IMAGE")
cleanup() { "${B[@]}" rm "$ctr" >/dev/null 2>&1 || true; }
trap cleanup EXIT
CMD_JSON=$("${B[@]}" inspect --type image "$IMAGE" \
  | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["OCIv1"]["config"]["Cmd"]))')
export CMD_JSON DRAIN WORK ctr
export B_ARGS="${B[*]}"
set +e
unshare --net bash -s <<'INNER'
set -uo pipefail
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
ip link set lo up
read -ra B <<<"$B_ARGS"
mapfile -t CMD < <(python3 -c 'import json,os; print("\n".join(json.loads(os.environ["CMD_JSON"])))')
"${B[@]}" run --isolation chroot "$ctr" -- "${CMD[@]}" >"$WORK/run.log" 2>&1 &
RUN_PID=$!
# A process of the run by its command name: a descendant of this buildah run (buildah's chroot
# isolation has no PID namespace, so the run's processes are seen here with their ids).
descendant() {
  local p c q
  while read -r p c; do
    [ "$c" = "$1" ] || continue
    q=$p
    while [ -n "$q" ] && [ "$q" -gt 1 ]; do
      [ "$q" = "$RUN_PID" ] && { echo "$p"; return; }
      q=$(ps -o ppid= -p "$q" | tr -d ' ')
    done
  done < <(ps -e -o pid=,comm=)
}
# On any failure: stop what this run started, by id (SIGINT: Pingora's fast shutdown).
stop_all() {
  local gw mock
  gw=$(descendant llm-relay); mock=$(descendant mock-upstream)
  [ -n "$gw" ] && kill -INT "$gw" 2>/dev/null
  [ -n "$mock" ] && kill "$mock" 2>/dev/null
  # The mock outlives the gateway here (no PID namespace): its id was noted while it ran.
  if [ -n "${MOCK_PID:-}" ] && [ "$(ps -o comm= -p "$MOCK_PID")" = mock-upstream ]; then
    kill "$MOCK_PID" 2>/dev/null
    for _ in $(seq 1 20); do kill -0 "$MOCK_PID" 2>/dev/null || break; sleep 0.1; done
  fi
  kill "$RUN_PID" 2>/dev/null
  wait "$RUN_PID" 2>/dev/null
}
trap stop_all EXIT
ready=0
for _ in $(seq 1 100); do
  if curl -fsS -o /dev/null http://127.0.0.1:8080/health/ready 2>/dev/null; then ready=1; break; fi
  kill -0 "$RUN_PID" 2>/dev/null || break
  sleep 0.2
done
[ $ready = 1 ] || { cat "$WORK/run.log"; fail "the gateway did not answer /health/ready on 8080"; }
for url in http://127.0.0.1:8080/health/live http://127.0.0.1:8080/health/ready \
           http://127.0.0.1:9091/health/live http://127.0.0.1:9091/health/ready; do
  printf '%-40s ' "$url"
  curl -fsS "$url" || fail "$url"
  echo
done
curl -fsS http://127.0.0.1:9091/metrics | grep -q '^llm_relay_draining 0' \
  || fail "/metrics without llm_relay_draining 0"
answer=$(curl -fsS http://127.0.0.1:8080/v1/chat/completions -H 'content-type: application/json' \
  -d '{"model":"hunyuan-turbos-latest","messages":[{"role":"user","content":"hi"}]}') \
  || fail "chat completion through the mock"
echo "chat: ${answer:0:120}..."
grep -q '"choices"' <<<"$answer" || fail "chat answer without choices"
gw=$(descendant llm-relay)
MOCK_PID=$(descendant mock-upstream)
[ -n "$gw" ] || fail "no llm-relay process under the run"
uid=$(awk '/^Uid:/{print $2}' "/proc/$gw/status")
echo "llm-relay pid $gw runs as uid $uid"
[ "$uid" = 10001 ] || fail "the gateway runs as uid $uid"

if [ "$DRAIN" = 1 ]; then
  # A stream of 8 events 1 s apart is in flight when SIGTERM arrives: it must finish with
  # [DONE]; the process must exit 0 after grace_period_seconds + at most the shutdown timeout.
  curl -sS -N http://127.0.0.1:8080/v1/chat/completions -H 'content-type: application/json' \
    -H 'x-mock-events: 8' -H 'x-mock-interval-ms: 1000' \
    -d '{"model":"hunyuan-turbos-latest","stream":true,"messages":[{"role":"user","content":"hi"}]}' \
    >"$WORK/stream.txt" 2>&1 &
  stream=$!
  sleep 1.5
  t0=$(date +%s)
  # An idle keep-alive connection opened before the signal: 200 before SIGTERM; after it the
  # gateway either closes the idle connection (Pingora ends idle keep-alives at shutdown) or
  # answers 503 "draining" with Connection: close. Never a 200 that keeps the connection.
  GW=$gw python3 - <<'PY' || fail "an idle keep-alive connection was still served as ready after SIGTERM"
import http.client, os, signal, sys, time
c = http.client.HTTPConnection("127.0.0.1", 8080, timeout=5)
c.request("GET", "/health/ready"); r = c.getresponse(); r.read()
print(f"idle keep-alive connection: /health/ready {r.status} before SIGTERM")
os.kill(int(os.environ["GW"]), signal.SIGTERM)
time.sleep(0.5)
try:
    c.request("GET", "/health/ready"); r = c.getresponse(); body = r.read().decode()
except (http.client.RemoteDisconnected, ConnectionError) as e:
    print(f"idle keep-alive connection after SIGTERM: closed by the gateway ({type(e).__name__})")
    sys.exit(0)
conn = r.getheader("connection")
print(f"idle keep-alive connection after SIGTERM: /health/ready {r.status} {body} (Connection: {conn})")
sys.exit(0 if r.status == 503 and (conn or "").lower() == "close" else 1)
PY
  # New connections: the listeners are closed.
  for port in 8080 9091; do
    if code=$(curl -sS -m 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/health/ready" 2>"$WORK/after.txt"); then
      fail "a new connection to :$port after SIGTERM was answered ($code)"
    fi
    echo "new connection to :$port after SIGTERM: $(tail -1 "$WORK/after.txt")"
  done
  wait "$stream" || fail "the stream in flight failed: $(tail -3 "$WORK/stream.txt")"
  grep -q 'data: \[DONE\]' "$WORK/stream.txt" || fail "the stream in flight did not end with [DONE]"
  echo "stream in flight finished after SIGTERM: $(grep -c '^data:' "$WORK/stream.txt") data lines, [DONE]"
  wait "$RUN_PID"; rc=$?
  echo "gateway exited $rc, $(( $(date +%s) - t0 ))s after SIGTERM"
  grep -E 'draining|SIGTERM|grace period' "$WORK/run.log" | sed 's/^/  log: /'
  [ "$rc" = 0 ] || fail "exit status $rc after SIGTERM"
fi
exit 0
INNER
rc=$?
set -e
[ $rc = 0 ] || { echo "--- run log:"; tail -30 "$WORK/run.log"; fail "the run (rc $rc)"; }

say "OK: the runtime image builds, runs as 10001, serves the demo and drains on SIGTERM"
