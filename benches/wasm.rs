//! The cost of one Wasm stage-plugin call as in production: a fresh instance per call
//! (instantiate, alloc, copy the input in, handle, copy the output out) under fuel metering.
//! The tagger example plugin (`plugins/tagger.wasm`) on a ~1 KB and a ~10 KB chat request,
//! and an echo module (the floor: instantiation and copies, almost no plugin code).
//!
//! Run: `cargo bench --bench wasm -- --warm-up-time 1 --measurement-time 3`
use std::path::Path;
use std::time::Duration;

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use llm_relay::stage::wasm::{Limits, Plugin};

const ECHO: &str = include_str!("../plugins/testdata-echo.wat");

const SPIN: &str = r#"(module
  (memory (export "memory") 1)
  (func (export "alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "handle") (param i32 i32) (result i64) (loop $l (br $l)) (i64.const 0)))"#;

fn limits() -> Limits {
    Limits {
        max_memory_bytes: 16 * 1024 * 1024,
        fuel: 100_000_000,
        timeout: Duration::from_secs(1),
    }
}

/// An envelope around a chat request of about `bytes` bytes (user/assistant turns).
fn envelope(bytes: usize) -> Vec<u8> {
    let turn = "Run the test suite in src/proxy, show me the failing assertion, then fix the \
                handoff so that the retry keeps the request body intact.";
    let mut messages = Vec::new();
    let mut size = 0;
    let mut n = 0;
    while size < bytes {
        let role = if n % 2 == 0 { "user" } else { "assistant" };
        let m = serde_json::json!({"role": role, "content": turn});
        size += m.to_string().len() + 1;
        messages.push(m);
        n += 1;
    }
    let request =
        serde_json::json!({"model": "gpt-4o-mini", "messages": messages, "stream": false});
    format!(r#"{{"phase":"request","stage":"tagger","model":"gpt-4o-mini","key_id":"k1","request":{request}}}"#)
        .into_bytes()
}

fn bench(c: &mut Criterion) {
    let tagger = Plugin::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("plugins/tagger.wasm"),
        limits(),
    )
    .expect("plugins/tagger.wasm loads");
    let echo =
        Plugin::from_bytes(&wat::parse_str(ECHO).expect("WAT"), limits()).expect("echo loads");

    let mut g = c.benchmark_group("wasm_call");
    for kb in [1usize, 10] {
        let input = envelope(kb * 1024);
        assert!(tagger.call_blocking(&input).is_ok());
        g.throughput(Throughput::Bytes(input.len() as u64));
        g.bench_function(format!("tagger/{kb}kb"), |b| {
            b.iter(|| tagger.call_blocking(black_box(&input)))
        });
        g.bench_function(format!("echo/{kb}kb"), |b| {
            b.iter(|| echo.call_blocking(black_box(&input)))
        });
    }
    g.finish();

    // Fuel throughput, to size `Limits::fuel` against a time budget: an endless loop until
    // 10M units run out (instantiation included).
    let spin = Plugin::from_bytes(
        &wat::parse_str(SPIN).expect("WAT"),
        Limits {
            fuel: 10_000_000,
            ..limits()
        },
    )
    .expect("spin loads");
    let mut g = c.benchmark_group("wasm_fuel");
    g.throughput(Throughput::Elements(10_000_000));
    g.bench_function("endless_loop/10M_fuel", |b| {
        b.iter(|| spin.call_blocking(black_box(b"x")))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
