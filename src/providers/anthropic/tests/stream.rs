//! `decoder(true, …)`: Anthropic SSE → chat SSE.

use super::super::decoder;
use serde_json::{json, Value};

/// A real-shaped stream: thinking with its signature, text with a split multi-byte character
/// boundary in the deltas, two tool calls, a ping, cumulative usage.
pub(super) const SSE: &str = concat!(
    "event: message_start\n",
    "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_s\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-up\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":5,\"cache_read_input_tokens\":30,\"cache_creation_input_tokens\":2,\"output_tokens\":1}}}\n\n",
    "event: content_block_start\n",
    "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}}\n\n",
    "event: ping\n",
    "data: {\"type\": \"ping\"}\n\n",
    "event: content_block_delta\n",
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"hmm\"}}\n\n",
    "event: content_block_delta\n",
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"EqSig\"}}\n\n",
    "event: content_block_stop\n",
    "data: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
    "event: content_block_start\n",
    "data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
    "event: content_block_delta\n",
    "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi \"}}\r\n\r\n",
    "event: content_block_delta\n",
    "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\",\"text\":\"世界\"}}\n\n",
    "event: content_block_stop\n",
    "data: {\"type\":\"content_block_stop\",\"index\":1}\n\n",
    "event: content_block_start\n",
    "data: {\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_a\",\"name\":\"Bash\",\"input\":{}}}\n\n",
    "event: content_block_delta\n",
    "data: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\"}}\n\n",
    "event: content_block_delta\n",
    "data: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"command\\\":\"}}\n\n",
    "event: content_block_delta\n",
    "data: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\\\"ls -la\\\"}\"}}\n\n",
    "event: content_block_stop\n",
    "data: {\"type\":\"content_block_stop\",\"index\":2}\n\n",
    "event: content_block_start\n",
    "data: {\"type\":\"content_block_start\",\"index\":3,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_b\",\"name\":\"Read\",\"input\":{}}}\n\n",
    "event: content_block_delta\n",
    "data: {\"type\":\"content_block_delta\",\"index\":3,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{}\"}}\n\n",
    "event: content_block_stop\n",
    "data: {\"type\":\"content_block_stop\",\"index\":3}\n\n",
    "event: message_delta\n",
    "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":42}}\n\n",
    "event: message_stop\n",
    "data: {\"type\":\"message_stop\"}\n\n",
);

/// Feeds `body` in pieces of `size` bytes, then finishes.
fn run(body: &[u8], size: usize) -> (Vec<u8>, Option<crate::core::usage::Usage>) {
    let mut d = decoder(true, "claude-client");
    let mut out = Vec::new();
    for piece in body.chunks(size.max(1)) {
        out.extend(d.feed(piece));
    }
    out.extend(d.finish());
    assert!(d.finish().is_empty() && d.fail("late").is_empty());
    (out, d.usage())
}

/// The `data:` payloads of a chat SSE body (`[DONE]` as a string).
fn payloads(out: &[u8]) -> Vec<Value> {
    let text = std::str::from_utf8(out).unwrap();
    assert!(text.ends_with("\n\n") || text.is_empty());
    text.split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| {
            let d = e.strip_prefix("data: ").unwrap();
            serde_json::from_str(d).unwrap_or_else(|_| Value::String(d.to_string()))
        })
        .collect()
}

fn deltas(p: &[Value]) -> Vec<Value> {
    p.iter()
        .filter_map(|c| c.pointer("/choices/0/delta").cloned())
        .collect()
}

#[test]
fn one_byte_at_a_time_gives_the_chat_chunks() {
    let (whole, _) = run(SSE.as_bytes(), SSE.len());
    let (bytes, usage) = run(SSE.as_bytes(), 1);
    assert_eq!(whole, bytes, "the split does not matter");
    let p = payloads(&bytes);
    for c in &p[..p.len() - 1] {
        assert_eq!(c["id"], "msg_s");
        assert_eq!(c["object"], "chat.completion.chunk");
        assert_eq!(c["model"], "claude-client");
    }
    assert_eq!(
        deltas(&p),
        vec![
            json!({"role": "assistant", "content": ""}),
            json!({"reasoning_content": "hmm"}),
            json!({"content": "Hi "}),
            json!({"content": "世界"}),
            json!({"tool_calls": [{"index": 0, "id": "toolu_a", "type": "function",
                "function": {"name": "Bash", "arguments": ""}}]}),
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"command\":"}}]}),
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "\"ls -la\"}"}}]}),
            json!({"tool_calls": [{"index": 1, "id": "toolu_b", "type": "function",
                "function": {"name": "Read", "arguments": ""}}]}),
            json!({"tool_calls": [{"index": 1, "function": {"arguments": "{}"}}]}),
            json!({"reasoning_signature": "EqSig"}),
        ]
    );
    let finishes: Vec<&Value> = p
        .iter()
        .filter_map(|c| c.pointer("/choices/0/finish_reason"))
        .filter(|f| !f.is_null())
        .collect();
    assert_eq!(finishes, vec!["tool_calls"]);
    let n = p.len();
    assert_eq!(
        p[n - 2],
        json!({"id": "msg_s", "object": "chat.completion.chunk", "created": p[0]["created"],
            "model": "claude-client", "choices": [],
            "usage": {"prompt_tokens": 37, "completion_tokens": 42, "total_tokens": 79,
                "prompt_tokens_details": {"cached_tokens": 30, "cache_creation_tokens": 2}}})
    );
    assert_eq!(p[n - 1], "[DONE]");
    assert_eq!(
        usage.map(|u| (u.prompt, u.completion, u.cached)),
        Some((37, 42, 30))
    );
}

#[test]
fn every_split_gives_the_same_output() {
    let (whole, _) = run(SSE.as_bytes(), SSE.len());
    for size in [2, 3, 5, 7, 16, 64, 333] {
        assert_eq!(run(SSE.as_bytes(), size).0, whole, "{size}");
    }
}

#[test]
fn stop_sequence_and_refusal() {
    let body = concat!(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"usage\":{\"input_tokens\":1}}}\n\n",
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"ab\"}}\n\n",
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"stop_sequence\",\"stop_sequence\":\"END\"},\"usage\":{\"output_tokens\":2}}\n\n",
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    );
    let p = payloads(&run(body.as_bytes(), 3).0);
    assert_eq!(deltas(&p)[1], json!({"content": "ab"}));
    let fin = &p[p.len() - 3]["choices"][0];
    assert_eq!(fin["finish_reason"], "stop");
    assert_eq!(fin["stop_reason"], "END");
    let refused = body.replace(
        "\"stop_sequence\",\"stop_sequence\":\"END\"",
        "\"refusal\",\"stop_sequence\":null",
    );
    let p = payloads(&run(refused.as_bytes(), 3).0);
    assert_eq!(
        p[p.len() - 3]["choices"][0]["finish_reason"],
        "content_filter"
    );
}

#[test]
fn an_error_event_ends_the_stream() {
    let cut = SSE
        .find("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1")
        .unwrap();
    let body = format!(
        "{}event: error\ndata: {{\"type\":\"error\",\"error\":{{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}}}\n\n{}",
        &SSE[..cut],
        &SSE[cut..]
    );
    let p = payloads(&run(body.as_bytes(), 1).0);
    let last = p.last().unwrap();
    assert_eq!(
        last,
        &json!({"error": {"message": "Overloaded", "type": "server_error", "param": null,
            "code": "overloaded_error"}})
    );
    assert!(!p.iter().any(|c| c == "[DONE]"));
    assert!(!p
        .iter()
        .any(|c| c.pointer("/choices/0/delta/content") == Some(&json!("Hi "))));
}

#[test]
fn a_stream_cut_before_message_delta_is_an_error() {
    let cut = SSE.find("event: message_delta").unwrap();
    let p = payloads(&run(&SSE.as_bytes()[..cut], 4).0);
    assert_eq!(p.last().unwrap()["error"]["type"], "server_error");
    assert!(!p.iter().any(|c| c == "[DONE]"));
    let cut = SSE.find("event: message_stop").unwrap();
    let p = payloads(&run(&SSE.as_bytes()[..cut], 4).0);
    assert_eq!(
        p.last().unwrap(),
        "[DONE]",
        "after message_delta the answer is complete"
    );
    let p = payloads(&run(b"", 1).0);
    assert_eq!(p.len(), 1);
    assert!(p[0]["error"].is_object());
}

#[test]
fn fail_is_one_error_event() {
    let mut d = decoder(true, "m");
    let first = d.feed(&SSE.as_bytes()[..400]);
    assert!(!first.is_empty());
    let p = payloads(&d.fail("upstream timed out"));
    assert_eq!(
        p,
        vec![json!({"error": {"message": "upstream timed out",
        "type": "server_error", "param": null, "code": null}})]
    );
    assert!(d.finish().is_empty() && d.feed(b"data: {}\n\n").is_empty());
}

#[test]
fn a_json_answer_to_a_stream_request_is_streamed() {
    let body = json!({"id": "msg_j", "type": "message", "role": "assistant",
        "content": [{"type": "text", "text": "whole"},
            {"type": "tool_use", "id": "t", "name": "f", "input": {"a": 1}}],
        "stop_reason": "tool_use", "usage": {"input_tokens": 3, "output_tokens": 4}})
    .to_string();
    let p = payloads(&run(body.as_bytes(), 5).0);
    assert_eq!(
        deltas(&p)[1..4],
        [
            json!({"content": "whole"}),
            json!({"tool_calls": [{"index": 0, "id": "t", "type": "function",
                "function": {"name": "f", "arguments": ""}}]}),
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"a\":1}"}}]}),
        ]
    );
    assert_eq!(p.last().unwrap(), "[DONE]");
    let err = r#"{"type":"error","error":{"type":"rate_limit_error","message":"slow"}}"#;
    let p = payloads(&run(err.as_bytes(), 5).0);
    assert_eq!(
        p,
        vec![
            json!({"error": {"message": "slow", "type": "rate_limit_error",
        "param": null, "code": "rate_limit_error"}})
        ]
    );
}

/// A 2 MB text delta in 64-byte pieces: each byte is searched once, not once per piece.
#[test]
fn a_long_event_in_small_pieces_is_linear() {
    let text = "a".repeat(2 << 20);
    let body = format!(
        "event: message_start\ndata: {{\"type\":\"message_start\",\"message\":{{\"id\":\"m\"}}}}\n\n\
         event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":\"{text}\"}}}}\n\n\
         event: message_delta\ndata: {{\"type\":\"message_delta\",\"delta\":{{\"stop_reason\":\"end_turn\"}}}}\n\n"
    );
    let start = std::time::Instant::now();
    let (out, _) = run(body.as_bytes(), 64);
    assert!(out.len() > text.len() && out.ends_with(b"data: [DONE]\n\n"));
    let took = start.elapsed();
    assert!(took.as_secs() < 20, "{took:?}");
}

/// 40,000 events in one read.
#[test]
fn many_events_in_one_read_are_linear() {
    let event = "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"a\"}}\n\n";
    let body = format!(
        "event: message_start\ndata: {{\"type\":\"message_start\",\"message\":{{\"id\":\"m\"}}}}\n\n{}",
        event.repeat(40_000)
    );
    let start = std::time::Instant::now();
    let mut d = decoder(true, "m");
    let out = d.feed(body.as_bytes());
    assert_eq!(payloads(&out).len(), 40_001);
    assert!(start.elapsed().as_secs() < 20);
}
