//! The stream decoder: every split gives the same output, one byte at a time included.

use serde_json::{json, Value};

use super::decoder;

fn event(v: Value) -> String {
    format!("data: {v}\r\n\r\n")
}

fn cand(parts: Value, finish: Option<&str>) -> Value {
    let mut c = json!({"content": {"role": "model", "parts": parts}, "index": 0});
    if let Some(f) = finish {
        c["finishReason"] = json!(f);
    }
    c
}

fn response(c: Value, usage: Value) -> Value {
    json!({"candidates": [c], "usageMetadata": usage, "modelVersion": "gemini-2.5-flash",
        "responseId": "rs"})
}

/// Thoughts, text in two events, two function calls in two events, the finish with usage.
fn agent_stream() -> String {
    let u1 = json!({"promptTokenCount": 9});
    let last = json!({"promptTokenCount": 9, "candidatesTokenCount": 6, "thoughtsTokenCount": 2,
        "cachedContentTokenCount": 4, "totalTokenCount": 17});
    [
        response(
            cand(json!([{"text": "hmm", "thought": true}]), None),
            u1.clone(),
        ),
        response(cand(json!([{"text": "Héllo "}]), None), u1.clone()),
        response(
            cand(
                json!([{"text": "wörld"},
            {"functionCall": {"name": "shell", "args": {"cmd": "ls"}}, "thoughtSignature": "s1"}]),
                None,
            ),
            u1.clone(),
        ),
        // A keep-alive comment and a malformed event are skipped.
        json!(null),
        response(
            cand(
                json!([{"functionCall": {"name": "pwd", "args": {}}}]),
                Some("STOP"),
            ),
            last,
        ),
    ]
    .into_iter()
    .map(|v| match v {
        Value::Null => ": ping\n\ndata: {not json\n\n".to_string(),
        v => event(v),
    })
    .collect()
}

fn run(input: &[u8], split: usize) -> String {
    let mut d = decoder(true, "gemini-2.5-flash");
    let mut out = Vec::new();
    for piece in input.chunks(split.max(1)) {
        out.extend(d.feed(piece));
    }
    out.extend(d.finish());
    assert!(d.finish().is_empty(), "finish twice");
    without_created(&String::from_utf8(out).unwrap())
}

/// `created` (the clock's seconds, which may tick between two runs) set to 0.
fn without_created(out: &str) -> String {
    let mut s = String::new();
    for e in out.split_inclusive("\n\n") {
        match e.strip_prefix("data: {") {
            Some(_) => {
                let mut v: Value = serde_json::from_str(&e[6..]).unwrap();
                if v.get("created").is_some() {
                    v["created"] = json!(0);
                }
                s.push_str(&format!("data: {v}\n\n"));
            }
            None => s.push_str(e),
        }
    }
    s
}

/// The `data:` payloads (`[DONE]` as the string "[DONE]").
fn payloads(out: &str) -> Vec<Value> {
    out.split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| {
            let d = e.strip_prefix("data: ").unwrap();
            serde_json::from_str(d).unwrap_or_else(|_| json!(d))
        })
        .collect()
}

#[test]
fn agent_stream_at_every_split_and_byte_by_byte() {
    let input = agent_stream();
    let bytes = input.as_bytes();
    let whole = run(bytes, bytes.len());
    assert_eq!(run(bytes, 1), whole, "one byte at a time");
    for split in 2..bytes.len() {
        assert_eq!(run(bytes, split), whole, "split {split}");
    }
    let p = payloads(&whole);
    let deltas: Vec<Value> = p
        .iter()
        .take(4)
        .map(|c| c["choices"][0]["delta"].clone())
        .collect();
    assert_eq!(
        deltas,
        vec![
            json!({"role": "assistant", "reasoning_content": "hmm"}),
            json!({"content": "Héllo "}),
            json!({"content": "wörld", "tool_calls": [{"index": 0, "id": "call_rs_0", "type": "function",
                "function": {"name": "shell", "arguments": "{\"cmd\":\"ls\"}"},
                "extra_content": {"google": {"thought_signature": "s1"}}}]}),
            json!({"tool_calls": [{"index": 1, "id": "call_rs_1", "type": "function",
                "function": {"name": "pwd", "arguments": "{}"}}]}),
        ]
    );
    for c in &p[..4] {
        assert_eq!(c["id"], "chatcmpl-rs");
        assert_eq!(c["object"], "chat.completion.chunk");
        assert_eq!(c["model"], "gemini-2.5-flash");
    }
    let finishes: Vec<&Value> = p[..4]
        .iter()
        .map(|c| &c["choices"][0]["finish_reason"])
        .collect();
    assert_eq!(
        finishes,
        [
            &Value::Null,
            &Value::Null,
            &Value::Null,
            &json!("tool_calls")
        ]
    );
    assert_eq!(p[4]["choices"], json!([]));
    assert_eq!(
        p[4]["usage"],
        json!({"prompt_tokens": 9, "completion_tokens": 8, "total_tokens": 17,
            "prompt_tokens_details": {"cached_tokens": 4},
            "completion_tokens_details": {"reasoning_tokens": 2}})
    );
    assert_eq!(p[5], json!("[DONE]"));
    assert_eq!(p.len(), 6);
}

#[test]
fn usage_is_reported() {
    let mut d = decoder(true, "m");
    d.feed(agent_stream().as_bytes());
    d.finish();
    let u = d.usage().unwrap();
    assert_eq!(
        (u.prompt, u.completion, u.cached, u.reasoning),
        (9, 8, 4, 2)
    );
}

#[test]
fn text_stream_with_lf_separators() {
    let input = format!(
        "data: {}\n\ndata: {}\n\n",
        response(cand(json!([{"text": "a"}]), None), json!({})),
        json!({"candidates": [{"content": {"parts": [{"text": "b"}]}, "finishReason": "MAX_TOKENS"}]})
    );
    let p = payloads(&run(input.as_bytes(), 7));
    assert_eq!(
        p[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": "a"})
    );
    assert_eq!(p[1]["choices"][0]["delta"], json!({"content": "b"}));
    assert_eq!(p[1]["choices"][0]["finish_reason"], "length");
    // Usage of the first event (all zero) is still the last one seen.
    assert_eq!(p[2]["usage"]["total_tokens"], 0);
    assert_eq!(p[3], json!("[DONE]"));
}

#[test]
fn blocked_prompt() {
    let input = event(json!({"promptFeedback": {"blockReason": "SAFETY"},
        "usageMetadata": {"promptTokenCount": 3}}));
    let p = payloads(&run(input.as_bytes(), 5));
    assert_eq!(
        p[0]["choices"],
        json!([{"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": null,
            "finish_reason": "content_filter"}])
    );
    assert_eq!(p[1]["usage"]["prompt_tokens"], 3);
    assert_eq!(p[2], json!("[DONE]"));
}

#[test]
fn truncated_stream_is_an_error_without_done() {
    let input = event(response(cand(json!([{"text": "par"}]), None), json!({})));
    let out = run(input.as_bytes(), 3);
    let p = payloads(&out);
    assert_eq!(p[0]["choices"][0]["delta"]["content"], "par");
    assert_eq!(
        p[1]["error"]["message"],
        "upstream stream ended before the answer was complete"
    );
    assert!(!out.contains("[DONE]"));
    let empty = run(b"", 1);
    assert_eq!(payloads(&empty)[0]["error"]["type"], "server_error");
}

#[test]
fn in_stream_error_and_fail() {
    let input = format!(
        "{}{}{}",
        event(response(cand(json!([{"text": "a"}]), None), json!({}))),
        event(json!({"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}})),
        event(response(
            cand(json!([{"text": "b"}]), Some("STOP")),
            json!({})
        )),
    );
    let out = run(input.as_bytes(), 11);
    let p = payloads(&out);
    assert_eq!(p.len(), 2);
    assert_eq!(p[1]["error"]["message"], "overloaded");
    let mut d = decoder(true, "m");
    d.feed(event(response(cand(json!([{"text": "a"}]), None), json!({}))).as_bytes());
    let failed = String::from_utf8(d.fail("upstream timed out")).unwrap();
    assert_eq!(
        payloads(&failed)[0]["error"]["message"],
        "upstream timed out"
    );
    assert!(d.feed(b"data: {}\n\n").is_empty());
    assert!(d.finish().is_empty());
    assert!(d.fail("again").is_empty());
}

/// Every candidate is its own choice; each finishes on its own.
#[test]
fn two_candidates() {
    let both = |a: Option<&str>, b: Option<&str>| {
        let mut c1 = cand(json!([{"text": "x"}]), a);
        let mut c2 = cand(json!([{"text": "y"}]), b);
        c1["index"] = json!(0);
        c2["index"] = json!(1);
        event(json!({"candidates": [c1, c2]}))
    };
    let input = format!("{}{}", both(None, None), both(Some("STOP"), Some("SAFETY")));
    let p = payloads(&run(input.as_bytes(), 13));
    let summary: Vec<(u64, Value, Value)> = p
        .iter()
        .take(4)
        .map(|c| {
            let ch = &c["choices"][0];
            (
                ch["index"].as_u64().unwrap(),
                ch["delta"]["content"].clone(),
                ch["finish_reason"].clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (0, json!("x"), Value::Null),
            (1, json!("y"), Value::Null),
            (0, json!("x"), json!("stop")),
            (1, json!("y"), json!("content_filter")),
        ]
    );
    assert_eq!(
        p[4],
        json!("[DONE]"),
        "no usage chunk without usageMetadata"
    );
    let unfinished = run(both(Some("STOP"), None).as_bytes(), 1000);
    assert!(unfinished.contains("\"error\""));
}

/// A 2 MB event in 64-byte pieces: each byte is searched once (linear time).
#[test]
fn a_long_event_in_small_pieces_is_linear() {
    let text = "a".repeat(2 << 20);
    let input = event(response(
        cand(json!([{"text": text}]), Some("STOP")),
        json!({}),
    ));
    let start = std::time::Instant::now();
    let mut d = decoder(true, "m");
    let mut out = Vec::new();
    for piece in input.as_bytes().chunks(64) {
        out.extend(d.feed(piece));
    }
    out.extend(d.finish());
    assert!(out.len() > text.len() && out.ends_with(b"data: [DONE]\n\n"));
    assert!(start.elapsed().as_secs() < 20);
}
