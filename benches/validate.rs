//! Request validation per kind (one borrowed parse that also yields model and stream).
//! Goal: well under a millisecond for realistic bodies.
use criterion::{criterion_group, criterion_main, Criterion};
use llm_relay::body::validate;
use llm_relay::core::kind::Endpoint;
use serde_json::json;

fn agent_body(messages: usize) -> Vec<u8> {
    let mut msgs =
        vec![json!({"role": "system", "content": "You are a coding agent. ".repeat(50)})];
    for i in 0..messages {
        msgs.push(json!({"role": "user", "content": format!("step {i}: {}", "text ".repeat(40))}));
        msgs.push(json!({"role": "assistant", "content": null, "tool_calls": [{"id": format!("c{i}"), "type": "function", "function": {"name": "read_file", "arguments": "{\"path\":\"src/main.rs\"}"}}]}));
        msgs.push(json!({"role": "tool", "tool_call_id": format!("c{i}"), "content": "fn main() {}\n".repeat(20)}));
    }
    serde_json::to_vec(&json!({"model": "hunyuan-turbos-latest", "stream": true, "messages": msgs}))
        .unwrap()
}

fn bench(c: &mut Criterion) {
    let small = agent_body(1);
    let large = agent_body(13);
    let embed =
        serde_json::to_vec(&json!({"model": "text-embedding-3-small", "input": vec!["a"; 64]}))
            .unwrap();
    let mut g = c.benchmark_group("validate");
    g.bench_function(format!("chat_{}B", small.len()), |b| {
        b.iter(|| validate::json(Endpoint::Chat, &small))
    });
    g.bench_function(format!("chat_{}B", large.len()), |b| {
        b.iter(|| validate::json(Endpoint::Chat, &large))
    });
    g.bench_function("embeddings_64_inputs", |b| {
        b.iter(|| validate::json(Endpoint::Embeddings, &embed))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
