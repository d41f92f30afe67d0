//! `decoder(false, …)`: a Messages answer → one chat completion.

use super::super::decoder;
use crate::core::usage::Usage;
use serde_json::{json, Value};

fn decode(body: &[u8]) -> (Value, Option<Usage>) {
    let mut d = decoder(false, "claude-client");
    let (a, b) = body.split_at(body.len() / 2);
    assert!(d.feed(a).is_empty());
    assert!(d.feed(b).is_empty());
    let out = d.finish();
    assert!(d.finish().is_empty(), "finish answers once");
    (serde_json::from_slice(&out).unwrap(), d.usage())
}

fn message(content: Value, stop: &str) -> Value {
    json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-up",
        "content": content, "stop_reason": stop, "stop_sequence": null,
        "usage": {"input_tokens": 10, "output_tokens": 5,
            "cache_read_input_tokens": 100, "cache_creation_input_tokens": 20}})
}

#[test]
fn text_answer_and_usage() {
    let body = message(
        json!([{"type": "text", "text": "Hel"}, {"type": "text", "text": "lo"}]),
        "end_turn",
    );
    let (v, usage) = decode(body.to_string().as_bytes());
    assert_eq!(v["id"], "msg_1");
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "claude-client");
    assert!(v["created"].as_u64().unwrap() > 0);
    assert_eq!(
        v["choices"][0]["message"],
        json!({"role": "assistant", "content": "Hello"})
    );
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        v["usage"],
        json!({"prompt_tokens": 130, "completion_tokens": 5, "total_tokens": 135,
            "prompt_tokens_details": {"cached_tokens": 100, "cache_creation_tokens": 20}})
    );
    assert_eq!(
        usage,
        Some(Usage {
            prompt: 130,
            completion: 5,
            cached: 100,
            cache_write: 20,
            reasoning: 0
        })
    );
}

#[test]
fn thinking_and_tool_use() {
    let body = message(
        json!([
            {"type": "thinking", "thinking": "plan", "signature": "sig-1"},
            {"type": "text", "text": "Running."},
            {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls"}},
            {"type": "tool_use", "id": "toolu_2", "name": "Noop", "input": {}},
        ]),
        "tool_use",
    );
    let (v, _) = decode(body.to_string().as_bytes());
    assert_eq!(
        v["choices"][0]["message"],
        json!({"role": "assistant", "content": "Running.", "reasoning_content": "plan",
            "reasoning_signature": "sig-1",
            "tool_calls": [
                {"id": "toolu_1", "type": "function", "function": {"name": "Bash", "arguments": "{\"command\":\"ls\"}"}},
                {"id": "toolu_2", "type": "function", "function": {"name": "Noop", "arguments": "{}"}}]})
    );
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    let only_tools = message(
        json!([{"type": "tool_use", "id": "t", "name": "f", "input": {}}]),
        "tool_use",
    );
    let (v, _) = decode(only_tools.to_string().as_bytes());
    assert_eq!(v["choices"][0]["message"]["content"], Value::Null);
}

#[test]
fn signature_only_with_one_plain_thinking_block() {
    for content in [
        json!([{"type": "thinking", "thinking": "a", "signature": "s1"},
               {"type": "thinking", "thinking": "b", "signature": "s2"}]),
        json!([{"type": "redacted_thinking", "data": "zz"},
               {"type": "thinking", "thinking": "a", "signature": "s1"}]),
    ] {
        let (v, _) = decode(message(content, "end_turn").to_string().as_bytes());
        let m = &v["choices"][0]["message"];
        assert!(m.get("reasoning_signature").is_none(), "{m}");
        assert!(m["reasoning_content"].as_str().unwrap().contains('a'));
    }
}

#[test]
fn every_stop_reason() {
    for (stop, want) in [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("pause_turn", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
    ] {
        let (v, _) = decode(
            message(json!([{"type": "text", "text": "x"}]), stop)
                .to_string()
                .as_bytes(),
        );
        assert_eq!(v["choices"][0]["finish_reason"], want, "{stop}");
    }
    let mut m = message(json!([{"type": "text", "text": "x"}]), "stop_sequence");
    m["stop_sequence"] = json!("END");
    let (v, _) = decode(m.to_string().as_bytes());
    assert_eq!(v["choices"][0]["stop_reason"], "END");
}

#[test]
fn server_tool_blocks_are_skipped() {
    let body = message(
        json!([{"type": "server_tool_use", "id": "srv", "name": "web_search", "input": {"q": "x"}},
               {"type": "web_search_tool_result", "tool_use_id": "srv", "content": []},
               {"type": "text", "text": "found"}]),
        "end_turn",
    );
    let (v, _) = decode(body.to_string().as_bytes());
    assert_eq!(
        v["choices"][0]["message"],
        json!({"role": "assistant", "content": "found"})
    );
}

#[test]
fn bad_bodies_are_openai_errors() {
    let cases: [(&[u8], &str); 5] = [
        (b"<html>502</html>", "server_error"),
        (b"", "server_error"),
        (b"{\"id\":\"x\"}", "server_error"),
        (
            br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
            "server_error",
        ),
        (
            br#"{"type":"error","error":{"type":"invalid_request_error","message":"bad"}}"#,
            "invalid_request_error",
        ),
    ];
    for (body, kind) in cases {
        let (v, usage) = decode(body);
        assert_eq!(
            v["error"]["type"],
            kind,
            "{}",
            String::from_utf8_lossy(body)
        );
        assert!(v["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
        assert_eq!(v["error"]["param"], Value::Null);
        assert!(usage.is_none());
    }
    let (v, _) =
        decode(br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#);
    assert_eq!(v["error"]["message"], "Overloaded");
    assert_eq!(v["error"]["code"], "overloaded_error");
}

#[test]
fn an_sse_body_is_folded() {
    let (v, usage) = decode(super::stream::SSE.as_bytes());
    let m = &v["choices"][0]["message"];
    assert_eq!(m["content"], "Hi 世界");
    assert_eq!(m["reasoning_content"], "hmm");
    assert_eq!(m["reasoning_signature"], "EqSig");
    assert_eq!(
        m["tool_calls"][0]["function"]["arguments"],
        "{\"command\":\"ls -la\"}"
    );
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(
        usage.map(|u| (u.prompt, u.completion, u.cached)),
        Some((37, 42, 30))
    );
    let cut = &super::stream::SSE[..super::stream::SSE.find("event: message_delta").unwrap()];
    let (v, _) = decode(cut.as_bytes());
    assert_eq!(v["error"]["type"], "server_error");
}

#[test]
fn fail_is_one_error() {
    let mut d = decoder(false, "m");
    d.feed(b"{\"id\":");
    let v: Value = serde_json::from_slice(&d.fail("upstream timed out")).unwrap();
    assert_eq!(v["error"]["message"], "upstream timed out");
    assert!(d.finish().is_empty() && d.fail("again").is_empty());
}
