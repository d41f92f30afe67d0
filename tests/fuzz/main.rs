//! Fuzzing the code that reads what clients and upstreams send: the protocol translators
//! (both directions), the Hunyuan fixer, validation, the multipart reader, the SSE scanners and
//! the data-URL cutter. Runs on the stable toolchain as an ordinary test binary.
//!
//! Each target (one `#[test]`) first replays its checked-in corpus,
//! `tests/fuzz-corpus/<target>/*` (real client and upstream bodies, edge cases, and every
//! crasher found so far), then runs `FUZZ_CASES` inputs (default 250: a few seconds in a debug
//! build), each either generated from the protocol's shape or a mutation of a pool entry
//! (bytes, or the JSON tree). Every input runs under `catch_unwind`: a panic, a broken
//! invariant or an input slower than `FUZZ_SLOW_MS` fails the test and prints the input;
//! `FUZZ_SAVE=1` also writes it into the corpus. A watchdog ends the process on a hang.
//!
//! Invariants beyond "no panic": a translation is either a 400 with a message or a chat
//! request the chat path validates, that the fixer makes acceptable to the strict Hunyuan
//! checker, idempotently; a stored Responses conversation replays; translators and scanners
//! give the same output however the upstream's body is split, and write well-formed JSON;
//! the SSE scanner forwards what it only counts byte for byte; cutting data URLs out of a body
//! changes nothing the parser sees; client errors are 4xx with a JSON body.
//!
//! Settings (environment): `FUZZ_CASES` (inputs per target), `FUZZ_SECONDS` (time bound per
//! target), `FUZZ_SEED` (a number, any text, or `random`; fixed by default, so CI runs are
//! reproducible), `FUZZ_SAVE=1`, `FUZZ_SLOW_MS`. `scripts/fuzz.sh` is the long run.
//!
//! Why no fuzzing crate: cargo-fuzz and AFL need nightly or instrumentation, and the
//! coverage-free engines (bolero's, arbtest) would only replace the few lines of the loop
//! here, while the corpus replay, crasher saving, structure-aware mutation and split checks
//! are ours either way. A hand-rolled SplitMix64 keeps a seed meaning the same inputs
//! whatever `rand` version the lock file holds.

mod engine;
mod gen;
mod mutate;
mod targets;

use engine::{fuzz, Target};

fn json_target(name: &'static str, check: fn(&[u8]) -> String) -> Target {
    Target {
        name,
        check,
        generate: gen::request,
        mutate: mutate::json,
    }
}

#[test]
fn responses_request() {
    fuzz(&json_target(
        "responses_request",
        targets::responses_request,
    ));
}

#[test]
fn messages_request() {
    fuzz(&json_target("messages_request", targets::messages_request));
}

#[test]
fn completions_request() {
    fuzz(&json_target(
        "completions_request",
        targets::completions_request,
    ));
}

#[test]
fn chat_fix() {
    fuzz(&json_target("chat_fix", targets::chat_fix));
}

#[test]
fn validate() {
    fuzz(&Target {
        name: "validate",
        check: targets::validate,
        generate: gen::request,
        mutate: mutate::bytes,
    });
}

#[test]
fn elide() {
    fuzz(&Target {
        name: "elide",
        check: targets::elide,
        generate: gen::elide_body,
        mutate: mutate::bytes,
    });
}

#[test]
fn multipart() {
    fuzz(&Target {
        name: "multipart",
        check: targets::multipart,
        generate: gen::multipart,
        mutate: mutate::bytes,
    });
}

#[test]
fn chat_stream() {
    fuzz(&Target {
        name: "chat_stream",
        check: targets::chat_stream,
        generate: gen::chat_stream,
        mutate: mutate::sse,
    });
}

#[test]
fn sse_scan() {
    fuzz(&Target {
        name: "sse_scan",
        check: targets::sse_scan,
        generate: gen::chat_stream,
        mutate: mutate::sse,
    });
}
