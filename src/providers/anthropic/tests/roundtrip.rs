//! Messages → chat (the client-side translator, `protocol::anthropic::to_chat`) → Messages
//! (`render`): tools, tool_use ids and inputs, results and text survive the round trip.

use super::super::render;
use crate::protocol::anthropic::to_chat;
use serde_json::{json, Value};

fn claude_code_turn() -> Value {
    json!({
        "model": "claude-sonnet",
        "max_tokens": 32000,
        "system": [{"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}}],
        "tools": [
            {"name": "Bash", "description": "Run a command",
             "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}},
            {"name": "Read", "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}}},
        ],
        "tool_choice": {"type": "auto"},
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "List the files, then read a.txt"}]},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Listing."},
                {"type": "tool_use", "id": "toolu_01A", "name": "Bash", "input": {"command": "ls"}},
                {"type": "tool_use", "id": "toolu_01B", "name": "Read", "input": {"path": "a.txt"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01A", "content": "a.txt\nb.txt"},
                {"type": "tool_result", "tool_use_id": "toolu_01B", "content": [{"type": "text", "text": "hello"}]},
                {"type": "text", "text": "Thanks, go on."}]},
        ],
    })
}

fn blocks_of<'a>(m: &'a Value, kind: &str) -> Vec<&'a Value> {
    m["content"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|b| b["type"] == kind)
        .collect()
}

/// The text of a `tool_result`'s content, string or blocks.
fn result_text(b: &Value) -> String {
    match &b["content"] {
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().filter_map(|c| c["text"].as_str()).collect(),
        _ => String::new(),
    }
}

#[test]
fn a_claude_code_turn_survives_the_round_trip() {
    let original = claude_code_turn();
    let chat = to_chat(&original, "msg_rt".into()).unwrap().chat;
    let back = render(&chat).unwrap();
    assert_eq!(back["model"], "claude-sonnet");
    assert_eq!(back["max_tokens"], 32000);
    assert_eq!(back["system"][0]["text"], "You are Claude Code.");
    assert_eq!(back["tool_choice"], json!({"type": "auto"}));
    let tools: Vec<(&Value, &Value)> = back["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (&t["name"], &t["input_schema"]))
        .collect();
    let want: Vec<(&Value, &Value)> = original["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (&t["name"], &t["input_schema"]))
        .collect();
    assert_eq!(tools, want);
    assert_eq!(back["tools"][0]["description"], "Run a command");

    let (m0, m1) = (&original["messages"], &back["messages"]);
    assert_eq!(m1.as_array().unwrap().len(), 3);
    for i in 0..3 {
        assert_eq!(m1[i]["role"], m0[i]["role"]);
    }
    let uses = |m: &Value| -> Vec<(Value, Value, Value)> {
        blocks_of(m, "tool_use")
            .into_iter()
            .map(|b| (b["id"].clone(), b["name"].clone(), b["input"].clone()))
            .collect()
    };
    assert_eq!(uses(&m1[1]), uses(&m0[1]));
    let results = |m: &Value| -> Vec<(Value, String)> {
        blocks_of(m, "tool_result")
            .into_iter()
            .map(|b| (b["tool_use_id"].clone(), result_text(b)))
            .collect()
    };
    assert_eq!(results(&m1[2]), results(&m0[2]));
    let texts = |m: &Value| -> Vec<Value> {
        blocks_of(m, "text")
            .into_iter()
            .map(|b| b["text"].clone())
            .collect()
    };
    for i in 0..3 {
        assert_eq!(texts(&m1[i]), texts(&m0[i]), "turn {i}");
    }
    assert_eq!(
        mock_upstream::anthropic::check(&back),
        Ok(()),
        "the mock's checker accepts it"
    );
}
