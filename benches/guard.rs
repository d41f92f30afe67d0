//! The guardrails' cost per KB of request text (issue 21).
//! - `pii/*`: the PII scan alone, on an agent-like text with nothing to find (the common case:
//!   one scan per pattern, no copy) and the same text with a find every ~200 bytes (scan,
//!   checksums, and the redacted copy).
//! - `stage/*`: each built-in stage as the gateway runs it, on a chat request of that much text
//!   in 20 messages (the request is cloned per iteration outside the timing).
//! - `answer/*`: redaction of a streamed answer of that much text in 8-byte deltas (parse and
//!   re-serialise of every event, the window, the scan).
//!
//! Run: `cargo bench --bench guard -- --warm-up-time 1 --measurement-time 3`
use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use llm_relay::chat::guard::pii::{redact, Kind};
use llm_relay::stage::{self, answer::AnswerFilter, decision::Context};
use serde_json::{json, Value};
use std::collections::BTreeMap;

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

fn chat(kb: usize, with_finds: bool) -> Value {
    let t = text(kb, with_finds);
    let per = t.len() / 20 + 1;
    let chars: Vec<char> = t.chars().collect();
    let messages: Vec<Value> = chars
        .chunks(per)
        .enumerate()
        .map(|(i, c)| {
            let role = if i % 2 == 0 { "user" } else { "assistant" };
            json!({"role": role, "content": c.iter().collect::<String>()})
        })
        .collect();
    json!({"model": "m", "messages": messages})
}

const STAGES: &str = r#"
pii: {type: redact}
deny: {type: deny, words: ["project falcon", "internal only", "do not share", "secret plan",
  "codename", "merger", "layoffs", "salary", "password dump", "exploit kit"],
  regex: ['\bssn:\s*\d{3}', 'acct-[0-9]{8}']}
prompt: {type: system_prompt, mode: prepend, text: "Follow the house rules."}
size: {type: input_limit, max_chars: 10000000, max_messages: 10000, max_message_chars: 1000000}
answers: {type: redact, on: [response]}
"#;

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

    let defs: BTreeMap<String, llm_relay::config::stages::StageSection> =
        serde_yaml::from_str(STAGES).expect("stages");
    let stages = stage::build_stages(&defs).expect("build");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let cx = Context {
        model: "m",
        key_id: Some("k"),
        protocol: "chat",
    };
    let mut g = c.benchmark_group("stage");
    for kb in [1usize, 16] {
        for (name, finds) in [("clean", false), ("with_finds", true)] {
            let req = chat(kb, finds);
            g.throughput(Throughput::Bytes((kb * 1024) as u64));
            for s in ["pii", "deny", "prompt", "size"] {
                let one = [stages[s].clone()];
                g.bench_function(format!("{s}/{name}_{kb}kb"), |b| {
                    b.iter_batched(
                        || req.clone(),
                        |mut v| {
                            let mut changed = Vec::new();
                            let run = stage::run::request(&one, &mut v, &cx, &mut changed);
                            let _ = black_box(rt.block_on(run));
                            v
                        },
                        BatchSize::SmallInput,
                    )
                });
            }
        }
    }
    g.finish();

    let mut g = c.benchmark_group("answer");
    for kb in [1usize, 16] {
        for (name, finds) in [("clean", false), ("with_finds", true)] {
            let t = text(kb, finds);
            let mut sse = Vec::new();
            let chars: Vec<char> = t.chars().collect();
            for piece in chars.chunks(8) {
                let c = json!({"id": "c", "object": "chat.completion.chunk", "model": "m",
                    "choices": [{"index": 0, "delta": {"content": piece.iter().collect::<String>()},
                                 "finish_reason": null}]});
                sse.extend_from_slice(format!("data: {c}\n\n").as_bytes());
            }
            sse.extend_from_slice(b"data: [DONE]\n\n");
            let sse = Bytes::from(sse);
            let answers = [stages["answers"].clone()];
            g.throughput(Throughput::Bytes((kb * 1024) as u64));
            g.bench_function(format!("redact_stream/{name}_{kb}kb"), |b| {
                b.iter(|| {
                    let mut f = AnswerFilter::new(&answers, true).expect("filter");
                    let mut body = Some(sse.clone());
                    f.on_body(&mut body, true);
                    black_box(body)
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
