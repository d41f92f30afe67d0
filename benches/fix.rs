//! The Hunyuan fixer on a realistic coding-agent request: a 40-message, ~20 KB conversation
//! (long system prompt, a task, tool-call rounds with file contents, a trailing assistant
//! turn) with the usual problems: null assistant content next to tool calls, an empty tool
//! result, two consecutive user messages, `reasoning_content`, `strict` tools,
//! `parallel_tool_calls`.
//!
//! Run: `cargo bench --bench fix -- --warm-up-time 1 --measurement-time 3`
use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion};
use llm_relay::chat::fix::{fix_chat, fix_hunyuan, FixPolicy, FixReport, ModelCaps};
use llm_relay::chat::model::ChatRequest;
use mock_upstream::strict::check_chat;
use serde_json::{json, Value};

const CAPS: ModelCaps = ModelCaps {
    images: false,
    tools: true,
};

fn system_prompt() -> String {
    let rule = "You are a careful software engineer working in the user's repository. Use the \
                tools to read files before editing them, keep changes minimal, explain what you \
                changed and why, and never invent file contents you have not read. ";
    rule.repeat(13)
}

fn file_snippet(i: usize) -> String {
    let line = format!("    let value_{i} = compute(input, {i}); // keep the invariant checked\n");
    format!(
        "// src/module_{i}.rs\nfn handler_{i}(input: &str) -> u32 {{\n{}}}\n",
        line.repeat(7)
    )
}

fn tool(name: &str, description: &str) -> Value {
    json!({"type": "function", "function": {
        "name": name, "description": description, "strict": true,
        "parameters": {"type": "object", "properties": {"path": {"type": "string"}},
                       "required": ["path"], "additionalProperties": false},
    }})
}

/// The benchmark request: 40 messages, about 20 KB serialised.
fn agent_request() -> Value {
    let mut messages = vec![
        json!({"role": "system", "content": system_prompt()}),
        json!({"role": "user", "content": "Fix the failing test in the parser module and explain the cause."}),
        json!({"role": "user", "content": format!("<environment_details>\n{}</environment_details>",
            "Current working directory: /home/dev/project\nOpen tabs: src/parser.rs, tests/parser.rs\n".repeat(6))}),
    ];
    for i in 0..18 {
        let id = format!("call_{i:04}_a1b2c3d4e5");
        let content = if i % 3 == 0 {
            Value::Null
        } else {
            json!(format!(
                "Let me look at src/module_{i}.rs to see how the handler is used."
            ))
        };
        messages.push(json!({
            "role": "assistant", "content": content,
            "tool_calls": [{"id": id, "type": "function",
                "function": {"name": "read_file", "arguments": format!("{{\"path\":\"src/module_{i}.rs\"}}")}}],
        }));
        let result = if i == 7 {
            String::new()
        } else {
            file_snippet(i)
        };
        messages.push(json!({"role": "tool", "tool_call_id": id, "content": result}));
    }
    messages.push(json!({
        "role": "assistant",
        "content": "The test fails because handler_3 overflows on empty input; I will patch it.",
        "reasoning_content": "The overflow happens when the input is empty, so the length check must come first.",
    }));
    json!({
        "model": "hunyuan-turbos-latest",
        "stream": true,
        "stream_options": {"include_usage": true},
        "temperature": 0,
        "parallel_tool_calls": false,
        "tools": [
            tool("read_file", "Read a file"), tool("write_file", "Write a file"),
            tool("list_files", "List a directory"), tool("search_files", "Search with a regex"),
            tool("execute_command", "Run a shell command"),
        ],
        "tool_choice": "auto",
        "messages": messages,
    })
}

fn bench_fix(c: &mut Criterion) {
    let policy = FixPolicy::default();
    let req = agent_request();
    let bytes = serde_json::to_vec(&req).unwrap_or_default();
    let n = req["messages"].as_array().map_or(0, Vec::len);
    eprintln!("benchmark request: {n} messages, {} bytes", bytes.len());
    // Measure a fix that is actually needed and actually sufficient.
    let mut fixed = req.clone();
    fix_hunyuan(&mut fixed, &policy, CAPS);
    assert!(check_chat(&req, false).is_err());
    assert_eq!(check_chat(&fixed, false), Ok(()));

    c.bench_function("fix_hunyuan/value_40msg_20kb", |b| {
        b.iter_batched(
            || req.clone(),
            |mut v| {
                fix_hunyuan(&mut v, &policy, CAPS);
                v
            },
            BatchSize::SmallInput,
        )
    });

    c.bench_function("fix_hunyuan/parse_fix_serialize_40msg_20kb", |b| {
        b.iter(|| {
            let mut v: Value = serde_json::from_slice(black_box(&bytes)).unwrap_or(Value::Null);
            fix_hunyuan(&mut v, &policy, CAPS);
            serde_json::to_vec(&v).unwrap_or_default()
        })
    });

    // What the `hunyuan` provider does per try: the typed model made from the parse, fixed,
    // and serialised directly.
    c.bench_function("fix_hunyuan/parse_typed_fix_serialize_40msg_20kb", |b| {
        b.iter(|| {
            let v: Value = serde_json::from_slice(black_box(&bytes)).unwrap_or(Value::Null);
            let Value::Object(o) = v else {
                return Vec::new();
            };
            let Ok(mut typed) = ChatRequest::from_map(o) else {
                return Vec::new();
            };
            fix_chat(
                &mut typed,
                &policy,
                CAPS,
                Default::default(),
                &mut FixReport::default(),
            );
            serde_json::to_vec(&typed).unwrap_or_default()
        })
    });

    c.bench_function("baseline/parse_serialize_40msg_20kb", |b| {
        b.iter(|| {
            let v: Value = serde_json::from_slice(black_box(&bytes)).unwrap_or(Value::Null);
            serde_json::to_vec(&v).unwrap_or_default()
        })
    });
}

criterion_group!(benches, bench_fix);
criterion_main!(benches);
