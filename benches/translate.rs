//! Protocol translation on a realistic 40-turn coding-agent conversation, each way:
//!
//! - request side: a Responses API request (Codex-style: instructions, user messages,
//!   `function_call` / `function_call_output` pairs, assistant messages, reasoning items,
//!   function, custom and built-in tools; ~20 KB) and an Anthropic Messages request
//!   (Claude Code-style: system blocks, `tool_use` / `tool_result` turns, thinking; ~20 KB)
//!   translated to chat;
//! - response side: a ~60-event chat SSE stream (text deltas, then a tool call with streamed
//!   arguments, usage, `[DONE]`) through the Responses and the Anthropic stream translators;
//! - for comparison, `fix_hunyuan` on each translated chat body (what the gateway does next).
//!
//! - scaling (issue 18, item 5): requests of N = 1k, 4k, 16k tools or items through each
//!   translator (and the fixer's tool-result pairing), called directly so the gateway's caps
//!   (`body.max_tools`, …) don't apply: the time per element must stay flat as N grows.
//!
//! Run: `cargo bench --bench translate -- --warm-up-time 1 --measurement-time 3`
//! (the scaling group alone: `cargo bench --bench translate -- scale/ --warm-up-time 0.5
//! --measurement-time 1`; other sizes with `TRANSLATE_SCALE=1000,64000`)
use criterion::{
    black_box, criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput,
};
use llm_relay::chat::fix::{fix_hunyuan, FixPolicy, ModelCaps};
use llm_relay::protocol::{anthropic, responses};
use mock_upstream::strict::check_chat;
use serde_json::{json, Value};

const CAPS: ModelCaps = ModelCaps {
    images: false,
    tools: true,
};

const TURNS: usize = 18;

fn system_prompt() -> String {
    let rule = "You are a careful software engineer working in the user's repository. Use the \
                tools to read files before editing them, keep changes minimal, explain what you \
                changed and why, and never invent file contents you have not read. ";
    rule.repeat(13)
}

fn environment() -> String {
    format!(
        "<environment_details>\n{}</environment_details>",
        "Current working directory: /home/dev/project\nOpen tabs: src/parser.rs, tests/parser.rs\n"
            .repeat(6)
    )
}

fn file_snippet(i: usize) -> String {
    let line = format!("    let value_{i} = compute(input, {i}); // keep the invariant checked\n");
    format!(
        "// src/module_{i}.rs\nfn handler_{i}(input: &str) -> u32 {{\n{}}}\n",
        line.repeat(7)
    )
}

const TASK: &str = "Fix the failing test in the parser module and explain the cause.";
const CONCLUSION: &str =
    "The test fails because handler_3 overflows on empty input; I will patch it.";

/// (a) Responses: 40 chat messages once translated (system, 2 user, 18 call/output pairs, a
/// final assistant message).
fn responses_request() -> Value {
    let mut input = vec![
        json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": TASK}]}),
        json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": environment()}]}),
    ];
    for i in 0..TURNS {
        let id = format!("call_{i:04}_a1b2c3d4e5");
        if i % 3 == 0 {
            input.push(json!({"type": "reasoning", "id": format!("rs_{i}"), "summary": [
                {"type": "summary_text", "text": "Read the next module."}], "encrypted_content": "gAAAAB"}));
        } else {
            input.push(json!({"type": "message", "role": "assistant", "id": format!("msg_{i}"),
                "status": "completed", "content": [{"type": "output_text", "annotations": [],
                "text": format!("Let me look at src/module_{i}.rs to see how the handler is used.")}]}));
        }
        input.push(
            json!({"type": "function_call", "id": format!("fc_{i}"), "call_id": id,
            "name": "read_file", "arguments": format!("{{\"path\":\"src/module_{i}.rs\"}}"),
            "status": "completed"}),
        );
        let output = if i == 7 {
            String::new()
        } else {
            file_snippet(i)
        };
        input.push(json!({"type": "function_call_output", "call_id": id, "output": output}));
    }
    input.push(json!({"type": "message", "role": "assistant", "content": [
        {"type": "output_text", "text": CONCLUSION, "annotations": []}]}));
    let function = |name: &str, description: &str| {
        json!({"type": "function", "name": name, "description": description, "strict": true,
            "parameters": {"type": "object", "properties": {"path": {"type": "string"}},
                           "required": ["path"], "additionalProperties": false}})
    };
    json!({
        "model": "hunyuan-turbos-latest",
        "instructions": system_prompt(),
        "input": input,
        "tools": [
            function("read_file", "Read a file"), function("write_file", "Write a file"),
            function("list_files", "List a directory"),
            {"type": "custom", "name": "apply_patch", "description": "Apply a patch",
             "format": {"type": "grammar", "syntax": "lark", "definition": "start: /.+/"}},
            {"type": "web_search"},
        ],
        "tool_choice": "auto",
        "parallel_tool_calls": false,
        "reasoning": {"effort": "medium", "summary": "auto"},
        "store": false,
        "stream": true,
    })
}

/// (b) Anthropic: the same conversation as Claude Code sends it.
fn anthropic_request() -> Value {
    let mut messages = vec![json!({"role": "user", "content": [
        {"type": "text", "text": TASK},
        {"type": "text", "text": environment(), "cache_control": {"type": "ephemeral"}}]})];
    for i in 0..TURNS {
        let id = format!("toolu_{i:04}_a1b2c3d4e5");
        let mut blocks = Vec::new();
        if i % 3 == 0 {
            blocks.push(json!({"type": "thinking", "thinking": "Read the next module.", "signature": "EqQBCkYIBxgCKkDx"}));
        } else {
            blocks.push(json!({"type": "text", "text": format!("Let me look at src/module_{i}.rs to see how the handler is used.")}));
        }
        blocks.push(json!({"type": "tool_use", "id": id, "name": "Read",
            "input": {"file_path": format!("src/module_{i}.rs")}}));
        messages.push(json!({"role": "assistant", "content": blocks}));
        let result = if i == 7 {
            json!({"type": "tool_result", "tool_use_id": id, "content": ""})
        } else {
            json!({"type": "tool_result", "tool_use_id": id, "content": [{"type": "text", "text": file_snippet(i)}]})
        };
        messages.push(json!({"role": "user", "content": [result]}));
    }
    messages.push(json!({"role": "assistant", "content": [{"type": "text", "text": CONCLUSION}]}));
    messages.push(json!({"role": "user", "content": "Go ahead."}));
    let tool = |name: &str, description: &str| {
        json!({"name": name, "description": description,
            "input_schema": {"type": "object", "properties": {"file_path": {"type": "string"}},
                             "required": ["file_path"], "additionalProperties": false}})
    };
    json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 32000,
        "system": [
            {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.0.0; cc_entrypoint=cli"},
            {"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude."},
            {"type": "text", "text": system_prompt(), "cache_control": {"type": "ephemeral"}},
        ],
        "messages": messages,
        "tools": [
            tool("Read", "Read a file"), tool("Write", "Write a file"), tool("Glob", "List files"),
            tool("Grep", "Search with a regex"), tool("Bash", "Run a shell command"),
            {"type": "web_search_20250305", "name": "web_search", "max_uses": 5},
        ],
        "tool_choice": {"type": "auto"},
        "thinking": {"type": "enabled", "budget_tokens": 4000},
        "metadata": {"user_id": "user_abc"},
        "stream": true,
    })
}

fn chunk(delta: Value, finish: Option<&str>) -> String {
    let v = json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
        "model": "hunyuan-turbos-latest",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
    format!("data: {v}\n\n")
}

/// (c) A 60-event chat stream: role, 44 text deltas, a tool call in 12 pieces, finish, usage,
/// `[DONE]`.
fn chat_stream() -> (Vec<u8>, usize) {
    let mut events = vec![chunk(json!({"role": "assistant", "content": ""}), None)];
    let words = "The test fails because handler_3 overflows on empty input, so the length check \
                 must come before the subtraction; I will patch src/module_3.rs and rerun tests.";
    for w in words.split_inclusive(' ').cycle().take(44) {
        events.push(chunk(json!({"content": w}), None));
    }
    events.push(chunk(
        json!({"tool_calls": [{"index": 0, "id": "call_patch_1", "type": "function",
            "function": {"name": "read_file", "arguments": ""}}]}),
        None,
    ));
    let args =
        "{\"path\": \"src/module_3.rs\", \"reason\": \"check the length before subtracting\"}";
    let bytes = args.as_bytes();
    let step = bytes.len().div_ceil(11);
    for piece in bytes.chunks(step) {
        let piece = std::str::from_utf8(piece).unwrap_or_default();
        events.push(chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}),
            None,
        ));
    }
    events.push(chunk(json!({}), Some("tool_calls")));
    events.push(
        "data: {\"id\":\"chatcmpl-1\",\"choices\":[],\"usage\":{\"prompt_tokens\":5120,\"completion_tokens\":96,\"total_tokens\":5216}}\n\n"
            .to_string(),
    );
    events.push("data: [DONE]\n\n".to_string());
    let n = events.len();
    (events.concat().into_bytes(), n)
}

/// Feeds the stream in network-sized pieces, as the proxy's body filter does.
fn run(mut t: Box<dyn llm_relay::core::translate::ResponseTranslator>, body: &[u8]) -> usize {
    let mut n = 0;
    for piece in body.chunks(1400) {
        n += t.feed(piece).len();
    }
    n + t.finish().len()
}

fn bench_translate(c: &mut Criterion) {
    let policy = FixPolicy::default();
    let r_req = responses_request();
    let a_req = anthropic_request();
    let r = responses::to_chat(&r_req, None, "resp_bench".into(), 1).expect("responses");
    let a = anthropic::to_chat(&a_req, "msg_bench".into()).expect("anthropic");
    let (stream, events) = chat_stream();
    for (name, req, chat) in [
        ("responses", &r_req, &r.chat),
        ("anthropic", &a_req, &a.chat),
    ] {
        let n = chat["messages"].as_array().map_or(0, Vec::len);
        let size = serde_json::to_vec(req).map_or(0, |b| b.len());
        eprintln!("{name} request: {size} bytes -> chat with {n} messages");
        // The fixing measured below is actually needed and actually sufficient.
        let mut fixed = chat.clone();
        fix_hunyuan(&mut fixed, &policy, CAPS);
        assert!(check_chat(chat, false).is_err());
        assert_eq!(check_chat(&fixed, false), Ok(()));
    }
    eprintln!("chat stream: {events} events, {} bytes", stream.len());
    let r_out = run(responses::translator(r.meta.clone(), true), &stream);
    let a_out = run(anthropic::translator(a.meta.clone(), true), &stream);
    eprintln!("translated stream: responses {r_out} bytes, anthropic {a_out} bytes");

    c.bench_function("request/responses_to_chat_40turn", |b| {
        b.iter(|| responses::to_chat(black_box(&r_req), None, "resp_bench".into(), 1))
    });
    c.bench_function("request/anthropic_to_chat_40turn", |b| {
        b.iter(|| anthropic::to_chat(black_box(&a_req), "msg_bench".into()))
    });
    c.bench_function("stream/chat_to_responses_60ev", |b| {
        b.iter(|| {
            run(
                responses::translator(r.meta.clone(), true),
                black_box(&stream),
            )
        })
    });
    c.bench_function("stream/chat_to_anthropic_60ev", |b| {
        b.iter(|| {
            run(
                anthropic::translator(a.meta.clone(), true),
                black_box(&stream),
            )
        })
    });
    for (name, chat) in [("responses", &r.chat), ("anthropic", &a.chat)] {
        c.bench_function(&format!("fix_hunyuan/{name}_chat_40msg"), |b| {
            b.iter_batched(
                || chat.clone(),
                |mut v| {
                    fix_hunyuan(&mut v, &policy, CAPS);
                    v
                },
                BatchSize::SmallInput,
            )
        });
    }
}

/// The provider seam (issue 19): the translated 40-turn conversation rendered for the
/// Anthropic and Gemini providers, and the 60-event stream as those providers send it (made
/// by the client-side translators from the chat stream) decoded back into chat.
fn bench_providers(c: &mut Criterion) {
    use llm_relay::providers::{anthropic as up_anthropic, gemini as up_gemini};
    let r_req = responses_request();
    let r = responses::to_chat(&r_req, None, "resp_bench".into(), 1).expect("responses");
    let (stream, _) = chat_stream();
    let a_req = anthropic_request();
    let a = anthropic::to_chat(&a_req, "msg_bench".into()).expect("anthropic");
    let mut anthropic_sse = Vec::new();
    let mut t = anthropic::translator(a.meta.clone(), true);
    anthropic_sse.extend(t.feed(&stream));
    anthropic_sse.extend(t.finish());
    let meta = llm_relay::protocol::gemini::GeminiMeta {
        framing: llm_relay::protocol::gemini::Framing::Sse,
        ..Default::default()
    };
    let mut gemini_sse = Vec::new();
    let mut t = llm_relay::protocol::gemini::translator(meta);
    gemini_sse.extend(t.feed(&stream));
    gemini_sse.extend(t.finish());
    eprintln!(
        "provider streams: anthropic {} bytes, gemini {} bytes",
        anthropic_sse.len(),
        gemini_sse.len()
    );
    c.bench_function("render/chat_to_anthropic_40turn", |b| {
        b.iter(|| up_anthropic::render(black_box(&r.chat)))
    });
    c.bench_function("render/chat_to_gemini_40turn", |b| {
        b.iter(|| up_gemini::render(black_box(&r.chat)))
    });
    c.bench_function("decode/anthropic_to_chat_60ev", |b| {
        b.iter(|| run(up_anthropic::decoder(true, "m"), black_box(&anthropic_sse)))
    });
    c.bench_function("decode/gemini_to_chat_60ev", |b| {
        b.iter(|| run(up_gemini::decoder(true, "m"), black_box(&gemini_sse)))
    });
}

/// Responses: N tools, half distinct functions, half distinct built-in types (dropped): the
/// request that took 10.8 s at N = 128k when the tool lists were scanned per tool.
fn responses_tools(n: usize) -> Value {
    let tools: Vec<Value> = (0..n)
        .map(|i| {
            if i % 2 == 0 {
                json!({"type": "function", "name": format!("fn_{i}")})
            } else {
                json!({"type": format!("builtin_{i}")})
            }
        })
        .collect();
    json!({"model": "m", "input": "hi", "tools": tools})
}

/// Responses: N input items: system messages in a row (joined into one), then
/// `function_call` / `function_call_output` pairs.
fn responses_items(n: usize) -> Value {
    let mut input: Vec<Value> = (0..n / 4)
        .map(|i| json!({"type": "message", "role": "developer", "content": format!("rule {i}")}))
        .collect();
    input.push(json!({"type": "message", "role": "user", "content": "go"}));
    for i in 0..(n - input.len()) / 2 {
        input.push(
            json!({"type": "function_call", "call_id": format!("c{i}"), "name": "f",
            "arguments": "{}"}),
        );
        input.push(
            json!({"type": "function_call_output", "call_id": format!("c{i}"),
            "output": "ok"}),
        );
    }
    json!({"model": "m", "input": input})
}

/// Anthropic: N distinct tools.
fn anthropic_tools(n: usize) -> Value {
    let tools: Vec<Value> = (0..n)
        .map(|i| json!({"name": format!("t_{i}"), "input_schema": {"type": "object"}}))
        .collect();
    json!({"model": "m", "max_tokens": 10, "tools": tools,
        "messages": [{"role": "user", "content": "hi"}]})
}

/// Anthropic: one assistant turn with N/2 parallel `tool_use` blocks and a user turn with
/// their N/2 results, in reverse order (each result was matched by a scan of the open calls).
fn anthropic_items(n: usize) -> Value {
    let calls: Vec<Value> = (0..n / 2)
        .map(|i| json!({"type": "tool_use", "id": format!("toolu_{i}"), "name": "f", "input": {}}))
        .collect();
    let results: Vec<Value> = (0..n / 2)
        .rev()
        .map(|i| json!({"type": "tool_result", "tool_use_id": format!("toolu_{i}"), "content": "ok"}))
        .collect();
    json!({"model": "m", "max_tokens": 10, "messages": [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": calls},
        {"role": "user", "content": results}]})
}

/// Chat for the fixer: an assistant message with N/2 tool calls, then their N/2 results in
/// reverse order (rule 8 pairs each result with its call).
fn chat_tool_round(n: usize) -> Value {
    let calls: Vec<Value> = (0..n / 2)
        .map(|i| {
            json!({"id": format!("call_{i}"), "type": "function",
            "function": {"name": "f", "arguments": "{}"}})
        })
        .collect();
    let mut messages = vec![
        json!({"role": "user", "content": "go"}),
        json!({"role": "assistant", "content": null, "tool_calls": calls}),
    ];
    messages.extend(
        (0..n / 2)
            .rev()
            .map(|i| json!({"role": "tool", "tool_call_id": format!("call_{i}"), "content": "ok"})),
    );
    json!({"model": "m", "messages": messages})
}

/// The sizes measured; `TRANSLATE_SCALE=1000,64000` measures others.
fn scale() -> Vec<usize> {
    std::env::var("TRANSLATE_SCALE")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1_000, 4_000, 16_000])
}

fn bench_scaling(c: &mut Criterion) {
    let mut g = c.benchmark_group("scale");
    g.sample_size(10);
    let policy = FixPolicy {
        max_messages: usize::MAX,
        ..FixPolicy::default()
    };
    for n in scale() {
        g.throughput(Throughput::Elements(n as u64));
        let req = responses_tools(n);
        g.bench_with_input(BenchmarkId::new("responses_tools", n), &req, |b, r| {
            b.iter(|| responses::to_chat(r, None, "resp_b".into(), 1).map(|t| t.chat))
        });
        let req = responses_items(n);
        g.bench_with_input(BenchmarkId::new("responses_items", n), &req, |b, r| {
            b.iter(|| responses::to_chat(r, None, "resp_b".into(), 1).map(|t| t.chat))
        });
        let req = anthropic_tools(n);
        g.bench_with_input(BenchmarkId::new("anthropic_tools", n), &req, |b, r| {
            b.iter(|| anthropic::to_chat(r, "msg_b".into()).map(|t| t.chat))
        });
        let req = anthropic_items(n);
        g.bench_with_input(BenchmarkId::new("anthropic_items", n), &req, |b, r| {
            b.iter(|| anthropic::to_chat(r, "msg_b".into()).map(|t| t.chat))
        });
        // The floor: a deep copy of the same request, linear by construction. Where the
        // translators' time per element grows with N, this grows alike (memory, not scans).
        g.bench_with_input(
            BenchmarkId::new("clone_anthropic_items", n),
            &req,
            |b, r| b.iter(|| r.clone()),
        );
        let chat = chat_tool_round(n);
        g.bench_with_input(BenchmarkId::new("fix_tool_round", n), &chat, |b, chat| {
            b.iter_batched(
                || chat.clone(),
                |mut v| {
                    fix_hunyuan(&mut v, &policy, CAPS);
                    v
                },
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, bench_translate, bench_providers, bench_scaling);
criterion_main!(benches);
