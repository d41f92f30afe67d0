# llm-relay container image: the gateway (`llm-relay`) and the bundled mock upstream
# (`mock-upstream`) on Debian bookworm-slim, run as an unprivileged user.
#
#   docker build -t llm-relay .                 # builds the binaries in the `builder` stage
#   docker run --rm -p 8080:8080 -p 9091:9091 llm-relay   # the demo: mock + gateway
#
# Targets:
#   runtime (the default, last stage)  binaries from the `builder` stage
#   runtime-prebuilt                   binaries from target/release/ of the build context
#                                      (`cargo build --release --workspace --bins` on a
#                                      bookworm-compatible host first); scripts/container-check.sh
#                                      uses it because no base image can be pulled there
# Both finish the same `runtime-base` stage, which holds everything but the two binaries.

ARG BUILDER_IMAGE=rust:1-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

# ---------------------------------------------------------------------------------------------
FROM ${BUILDER_IMAGE} AS builder
# cmake builds zlib-ng (flate2's backend, through pingora).
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first, in a layer of their own: a change to the sources alone reuses it.
# The stubs stand in for every target the manifests declare (the benches must exist for cargo
# to read the manifest).
COPY Cargo.toml Cargo.lock ./
COPY crates/mock-upstream/Cargo.toml crates/mock-upstream/
RUN mkdir -p src benches crates/mock-upstream/src \
 && echo 'fn main() {}' > src/main.rs && : > src/lib.rs \
 && for b in image_key fix validate translate; do echo 'fn main() {}' > "benches/$b.rs"; done \
 && echo 'fn main() {}' > crates/mock-upstream/src/main.rs && : > crates/mock-upstream/src/lib.rs \
 && cargo build --release --locked --workspace --bins \
 && rm -rf src benches crates/mock-upstream/src
# What the build reads (conf/demo.yaml is embedded); not `COPY . .`, which would also bring
# the host's target/release binaries that .dockerignore lets in for runtime-prebuilt.
COPY src src
COPY benches benches
COPY conf conf
COPY crates/mock-upstream/src crates/mock-upstream/src
# The copied sources may be older than the stub build's outputs: touch them so cargo rebuilds
# the workspace crates (the dependencies stay built).
RUN find src crates/mock-upstream/src -name '*.rs' -exec touch {} + \
 && cargo build --release --locked --workspace --bins \
 && mkdir -p /out \
 && cp target/release/llm-relay target/release/mock-upstream /out/

# ---------------------------------------------------------------------------------------------
# Everything of the runtime image except the binaries.
FROM ${RUNTIME_IMAGE} AS runtime-base
# ca-certificates: the upstream TLS (rustls) loads the system's roots.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 relay \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin relay
# pingora.yaml: threads, grace periods (the pid file and upgrade socket in /tmp; mount an
# emptyDir there when the root filesystem is read-only). demo.yaml: the demo config with
# listeners on 0.0.0.0 and pools on the mock at 127.0.0.1:9000.
COPY deploy/container/pingora.yaml deploy/container/demo.yaml /etc/llm-relay/
COPY conf/relay.yaml /etc/llm-relay/relay.example.yaml
USER 10001:10001
WORKDIR /tmp
# 8080: the API listener (`server.listen`); 9091: the admin listener (`server.admin_listen`:
# /metrics, /health/live, /health/ready, /admin/*).
EXPOSE 8080 9091
# SIGTERM is Pingora's graceful terminate: both listeners close at once (new connections and
# probes are refused, idle keep-alives ended), requests in flight get grace_period_seconds,
# then graceful_shutdown_timeout_seconds. (SIGQUIT is the socket hand-over upgrade; SIGINT a fast
# shutdown that cuts requests in flight.) Give `docker stop -t` / the pod's
# terminationGracePeriodSeconds more than the sum of the two (40 s with pingora.yaml here).
STOPSIGNAL SIGTERM
# The demo: the mock upstream (Hunyuan-strict) in the background, the gateway in the
# foreground as PID 1 (exec), so the stop signal reaches it. A deployment runs the gateway
# alone with its own relay.yaml:
#   llm-relay -c /etc/llm-relay/pingora.yaml --config /path/to/relay.yaml
CMD ["/bin/sh", "-c", "mock-upstream --listen 127.0.0.1:9000 --strict & exec llm-relay -c /etc/llm-relay/pingora.yaml --config /etc/llm-relay/demo.yaml"]

# ---------------------------------------------------------------------------------------------
# Binaries built on the host (see the header).
FROM runtime-base AS runtime-prebuilt
COPY target/release/llm-relay target/release/mock-upstream /usr/local/bin/

# ---------------------------------------------------------------------------------------------
# The default target: binaries from the builder stage.
FROM runtime-base AS runtime
COPY --from=builder /out/llm-relay /out/mock-upstream /usr/local/bin/
