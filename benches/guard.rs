//! The PII guardrail's cost per KB of request text: an agent-like text with nothing to find
//! (the common case: one scan per pattern, no copy) and the same text with a find every
//! ~200 bytes (scan, checksums, and the redacted copy).
//!
//! Run: `cargo bench --bench guard -- --warm-up-time 1 --measurement-time 3`
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use llm_relay::chat::guard::pii::{redact, Kind};

fn text(kb: usize, with_finds: bool) -> String {
    let line = "Run `cargo test --workspace` in src/proxy and show me the failing assertion, \
                then fix the handoff so the retry keeps the body. ";
    let mut s = String::new();
    let mut n = 0;
    while s.len() < kb * 1024 {
        s.push_str(line);
        if with_finds {
            n += 1;
            s.push_str(match n % 4 {
                0 => "mail ops@example.com ",
                1 => "card 4111 1111 1111 1111 ",
                2 => "id 11010519491231002X ",
                _ => "call 13812345678 ",
            });
        }
    }
    s
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("pii");
    for kb in [1usize, 16] {
        for (name, finds) in [("clean", false), ("with_finds", true)] {
            let t = text(kb, finds);
            g.throughput(Throughput::Bytes(t.len() as u64));
            g.bench_function(format!("redact_all_kinds/{name}_{kb}kb"), |b| {
                b.iter(|| redact(black_box(&t), &Kind::ALL))
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
