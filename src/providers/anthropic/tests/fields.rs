//! `render`: the top-level fields (max_tokens, sampling, stop, user, tools, thinking).

use super::super::render;
use serde_json::{json, Value};

fn req(messages: Value) -> Value {
    json!({"model": "claude-x", "messages": messages})
}

fn ok(chat: Value) -> Value {
    render(&chat).unwrap()
}

fn err_param(chat: Value) -> String {
    render(&chat).unwrap_err().param.unwrap_or_default()
}

fn user(t: &str) -> Value {
    json!({"role": "user", "content": t})
}

fn text(t: &str) -> Value {
    json!({"type": "text", "text": t})
}

fn call(id: &str, name: &str, args: &str) -> Value {
    json!({"id": id, "type": "function", "function": {"name": name, "arguments": args}})
}

#[test]
fn max_tokens_sources_and_default() {
    assert_eq!(ok(req(json!([user("q")])))["max_tokens"], 4096);
    let mut c = req(json!([user("q")]));
    c["max_tokens"] = json!(100);
    assert_eq!(ok(c.clone())["max_tokens"], 100);
    c["max_completion_tokens"] = json!(200);
    assert_eq!(ok(c.clone())["max_tokens"], 200);
    c["max_completion_tokens"] = json!(0);
    assert_eq!(err_param(c), "max_completion_tokens");
}

#[test]
fn stop_sampling_user_stream() {
    let mut c = req(json!([user("q")]));
    c["stop"] = json!("END");
    c["temperature"] = json!(1.7);
    c["top_p"] = json!(0.5);
    c["top_k"] = json!(20);
    c["user"] = json!("u-42");
    c["stream"] = json!(true);
    c["stream_options"] = json!({"include_usage": true});
    c["n"] = json!(1);
    c["logprobs"] = json!(true);
    c["response_format"] =
        json!({"type": "json_schema", "json_schema": {"name": "x", "schema": {}}});
    c["frequency_penalty"] = json!(0.1);
    c["seed"] = json!(7);
    let out = ok(c.clone());
    assert_eq!(
        out,
        json!({"model": "claude-x", "max_tokens": 4096,
            "messages": [{"role": "user", "content": [text("q")]}],
            "stop_sequences": ["END"], "temperature": 1.0, "top_k": 20,
            "metadata": {"user_id": "u-42"}, "stream": true}),
        "top_p dropped beside temperature; unknown fields dropped"
    );
    c["stop"] = json!(["a", " ", "b"]);
    c.as_object_mut().unwrap().remove("temperature");
    let out = ok(c.clone());
    assert_eq!(out["stop_sequences"], json!(["a", "b"]));
    assert_eq!(out["top_p"], 0.5);
    c["n"] = json!(2);
    assert_eq!(err_param(c), "n");
}

#[test]
fn tools_and_tool_choice() {
    let mut c = req(json!([user("q")]));
    c["tools"] = json!([
        {"type": "function", "function": {"name": "get", "description": "Get it",
            "parameters": {"type": "object", "properties": {"a": {"type": "string"}}}, "strict": true},
         "cache_control": {"type": "ephemeral"}},
        {"type": "function", "function": {"name": "bare"}},
    ]);
    let out = ok(c.clone());
    assert_eq!(
        out["tools"],
        json!([
            {"name": "get", "description": "Get it", "cache_control": {"type": "ephemeral"},
                "input_schema": {"type": "object", "properties": {"a": {"type": "string"}}}},
            {"name": "bare", "input_schema": {"type": "object"}},
        ])
    );
    assert!(out.get("tool_choice").is_none());
    for (choice, want) in [
        (json!("auto"), json!({"type": "auto"})),
        (json!("none"), json!({"type": "none"})),
        (json!("required"), json!({"type": "any"})),
        (
            json!({"type": "function", "function": {"name": "get"}}),
            json!({"type": "tool", "name": "get"}),
        ),
    ] {
        c["tool_choice"] = choice;
        assert_eq!(ok(c.clone())["tool_choice"], want);
    }
    c["parallel_tool_calls"] = json!(false);
    c["tool_choice"] = json!("required");
    assert_eq!(
        ok(c.clone())["tool_choice"],
        json!({"type": "any", "disable_parallel_tool_use": true})
    );
    c.as_object_mut().unwrap().remove("tool_choice");
    assert_eq!(
        ok(c.clone())["tool_choice"],
        json!({"type": "auto", "disable_parallel_tool_use": true})
    );
    c["tool_choice"] = json!("sometimes");
    assert_eq!(err_param(c.clone()), "tool_choice");
    c["tools"] = json!([{"type": "custom", "custom": {"name": "x"}}]);
    assert_eq!(err_param(c.clone()), "tools[0].type");
    c["tools"] = json!([]);
    c["tool_choice"] = json!("required");
    let out = ok(c);
    assert!(out.get("tools").is_none() && out.get("tool_choice").is_none());
}

#[test]
fn reasoning_effort_becomes_a_thinking_budget() {
    for (effort, budget) in [("low", 1024), ("medium", 4096), ("high", 16384)] {
        let mut c = req(json!([user("q")]));
        c["reasoning_effort"] = json!(effort);
        c["temperature"] = json!(0.2);
        c["top_p"] = json!(0.9);
        let out = ok(c);
        assert_eq!(
            out["thinking"],
            json!({"type": "enabled", "budget_tokens": budget})
        );
        assert_eq!(
            out["max_tokens"],
            4096 + budget,
            "default grows by the budget"
        );
        assert!(out.get("temperature").is_none() && out.get("top_p").is_none());
    }
    let mut c = req(json!([user("q")]));
    c["reasoning_effort"] = json!("high");
    c["max_tokens"] = json!(3000);
    c["top_p"] = json!(0.97);
    let out = ok(c.clone());
    assert_eq!(
        out["thinking"]["budget_tokens"], 2999,
        "cut under max_tokens"
    );
    assert_eq!(out["top_p"], 0.97);
    c["max_tokens"] = json!(1000);
    assert!(ok(c.clone()).get("thinking").is_none(), "below the minimum");
    c["reasoning_effort"] = json!("minimal");
    assert!(ok(c.clone()).get("thinking").is_none());
    c["reasoning_effort"] = json!("extreme");
    assert_eq!(err_param(c), "reasoning_effort");
    let mut c = req(json!([user("q")]));
    c["thinking"] = json!({"type": "enabled", "budget_tokens": 2048});
    assert_eq!(ok(c.clone())["thinking"]["budget_tokens"], 2048);
    c["thinking"] = json!({"type": "adaptive"});
    assert_eq!(ok(c)["thinking"], json!({"type": "adaptive"}));
}

#[test]
fn thinking_is_left_off_when_anthropic_would_refuse_it() {
    let mut c = req(json!([user("q")]));
    c["reasoning_effort"] = json!("low");
    c["tools"] = json!([{"type": "function", "function": {"name": "f"}}]);
    c["tool_choice"] = json!("required");
    assert!(ok(c.clone()).get("thinking").is_none(), "forced tool use");
    c["tool_choice"] = json!("auto");
    c["messages"] = json!([user("q"),
        {"role": "assistant", "tool_calls": [call("t1", "f", "{}")]},
        {"role": "tool", "tool_call_id": "t1", "content": "r"}]);
    assert!(
        ok(c.clone()).get("thinking").is_none(),
        "a tool loop without its thinking block"
    );
    c["messages"][1]["reasoning_content"] = json!("plan");
    c["messages"][1]["reasoning_signature"] = json!("sig");
    assert_eq!(ok(c)["thinking"]["type"], "enabled", "signed: replayable");
}
