#!/usr/bin/env bash
# The long fuzzing run: tests/fuzz in an optimised build with overflow checks on (the `fuzz`
# profile of Cargo.toml), each target for a fixed time instead of CI's 250 inputs. Bounded in
# time: about (number of targets / FUZZ_JOBS) x FUZZ_SECONDS after the build.
#
#   scripts/fuzz.sh                      every target, 60 s each, a random seed (printed)
#   scripts/fuzz.sh chat_stream          one target (any test-name filter of tests/fuzz)
#   FUZZ_SECONDS=600 scripts/fuzz.sh     longer
#   FUZZ_SEED=1234 scripts/fuzz.sh       replay a run (same seed, same corpus: same inputs)
#   FUZZ_SAVE=0 scripts/fuzz.sh          do not write failing inputs into tests/fuzz-corpus/
#   FUZZ_JOBS=2 scripts/fuzz.sh          targets in parallel (default 1: the machine is shared)
#
# A failing input (panic, broken invariant, slower than FUZZ_SLOW_MS, or a hang the watchdog
# stops) is printed and saved as tests/fuzz-corpus/<target>/crash-<hash> (slow-, hang-): fix
# the bug, rename the file to say what it holds, and commit it; every later `cargo test`
# replays it. Targets: responses_request messages_request completions_request chat_fix
# validate elide multipart chat_stream sse_scan.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
need_toolchain

export FUZZ_SECONDS="${FUZZ_SECONDS:-60}"
export FUZZ_CASES="${FUZZ_CASES:-1000000000}"
export FUZZ_SEED="${FUZZ_SEED:-random}"
export FUZZ_SAVE="${FUZZ_SAVE:-1}"
# The optimised build is ~20x faster than the debug one CI uses: a tighter limit per input,
# and larger inputs (where super-linear code shows).
export FUZZ_SLOW_MS="${FUZZ_SLOW_MS:-2000}"
export FUZZ_MAX_LEN="${FUZZ_MAX_LEN:-4194304}"
# The watchdog, not a backtrace per panic, reports failures.
export RUST_BACKTRACE=0

cargo test --profile fuzz --test fuzz --no-run
cargo test --profile fuzz --test fuzz "$@" -- --nocapture --test-threads="${FUZZ_JOBS:-1}"
