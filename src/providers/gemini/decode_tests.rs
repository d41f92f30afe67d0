//! The non-streaming decoder: one test per rule.

use serde_json::{json, Value};

use super::decoder;
use crate::core::usage::Usage;

/// Feeds `body` in two pieces; returns the translated JSON and the usage seen.
fn decode(body: &str) -> (Value, Option<Usage>) {
    let mut d = decoder(false, "gemini-2.5-flash");
    let (a, b) = body.split_at(body.len() / 2);
    assert!(d.feed(a.as_bytes()).is_empty());
    assert!(d.feed(b.as_bytes()).is_empty());
    let out = d.finish();
    assert!(d.finish().is_empty());
    (serde_json::from_slice(&out).unwrap(), d.usage())
}

fn answer(parts: Value, finish: &str) -> Value {
    json!({"candidates": [{"content": {"role": "model", "parts": parts},
        "finishReason": finish, "index": 0}],
        "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5, "totalTokenCount": 15},
        "modelVersion": "gemini-2.5-flash-001", "responseId": "resp1"})
}

#[test]
fn text_answer() {
    let (v, usage) = decode(&answer(json!([{"text": "Hel"}, {"text": "lo"}]), "STOP").to_string());
    let created = v["created"].as_u64().unwrap();
    assert!(created > 1_600_000_000);
    assert_eq!(
        v,
        json!({"id": "chatcmpl-resp1", "object": "chat.completion", "created": created,
            "model": "gemini-2.5-flash",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello"},
                "logprobs": null, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15,
                "prompt_tokens_details": {"cached_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 0}}})
    );
    assert_eq!(
        usage,
        Some(Usage {
            prompt: 10,
            completion: 5,
            ..Usage::default()
        })
    );
}

#[test]
fn thoughts_calls_and_signatures() {
    let parts = json!([
        {"text": "let me think", "thought": true},
        {"text": "", "thoughtSignature": "t-sig"},
        {"functionCall": {"name": "shell", "args": {"cmd": "ls"}}, "thoughtSignature": "sig1"},
        {"functionCall": {"name": "now"}},
        {"functionCall": {"id": "g-7", "name": "pwd", "args": {}}},
    ]);
    let (v, _) = decode(&answer(parts, "STOP").to_string());
    let m = &v["choices"][0]["message"];
    assert_eq!(m["content"], Value::Null);
    assert_eq!(m["reasoning_content"], "let me think");
    assert_eq!(
        m["tool_calls"],
        json!([
            {"id": "call_resp1_0", "type": "function",
             "function": {"name": "shell", "arguments": "{\"cmd\":\"ls\"}"},
             "extra_content": {"google": {"thought_signature": "sig1"}}},
            {"id": "call_resp1_1", "type": "function", "function": {"name": "now", "arguments": "{}"}},
            {"id": "g-7", "type": "function", "function": {"name": "pwd", "arguments": "{}"}},
        ])
    );
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
}

#[test]
fn every_finish_reason() {
    for (gemini, chat) in [
        ("STOP", "stop"),
        ("MAX_TOKENS", "length"),
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("BLOCKLIST", "content_filter"),
        ("PROHIBITED_CONTENT", "content_filter"),
        ("SPII", "content_filter"),
        ("IMAGE_SAFETY", "content_filter"),
        ("LANGUAGE", "stop"),
        ("OTHER", "stop"),
        ("MALFORMED_FUNCTION_CALL", "stop"),
        ("FINISH_REASON_UNSPECIFIED", "stop"),
    ] {
        let (v, _) = decode(&answer(json!([{"text": "x"}]), gemini).to_string());
        assert_eq!(v["choices"][0]["finish_reason"], chat, "{gemini}");
    }
    let (v, _) = decode(
        &answer(
            json!([{"functionCall": {"name": "f", "args": {}}}]),
            "MAX_TOKENS",
        )
        .to_string(),
    );
    assert_eq!(v["choices"][0]["finish_reason"], "length");
}

#[test]
fn blocked_prompt_is_content_filter() {
    let body = json!({"promptFeedback": {"blockReason": "OTHER"},
        "usageMetadata": {"promptTokenCount": 4, "totalTokenCount": 4}});
    let (v, usage) = decode(&body.to_string());
    assert_eq!(
        v["choices"],
        json!([{"index": 0, "message": {"role": "assistant", "content": ""},
            "logprobs": null, "finish_reason": "content_filter"}])
    );
    assert_eq!(usage.map(|u| u.prompt), Some(4));
    let safety_no_content =
        json!({"candidates": [{"finishReason": "SAFETY", "index": 0}]}).to_string();
    let (v, usage) = decode(&safety_no_content);
    assert_eq!(v["choices"][0]["message"]["content"], "");
    assert_eq!(v["choices"][0]["finish_reason"], "content_filter");
    assert!(v.get("usage").is_none() && usage.is_none());
}

#[test]
fn usage_with_thoughts_and_cache() {
    let mut a = answer(json!([{"text": "x"}]), "STOP");
    a["usageMetadata"] = json!({"promptTokenCount": 100, "candidatesTokenCount": 20,
        "thoughtsTokenCount": 30, "cachedContentTokenCount": 64, "totalTokenCount": 150});
    let (v, usage) = decode(&a.to_string());
    assert_eq!(
        v["usage"],
        json!({"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150,
            "prompt_tokens_details": {"cached_tokens": 64},
            "completion_tokens_details": {"reasoning_tokens": 30}})
    );
    assert_eq!(
        usage,
        Some(Usage {
            prompt: 100,
            completion: 50,
            cached: 64,
            cache_write: 0,
            reasoning: 30
        })
    );
}

#[test]
fn several_candidates_are_choices() {
    let body = json!({"candidates": [
        {"content": {"parts": [{"text": "b"}]}, "finishReason": "STOP", "index": 1},
        {"content": {"parts": [{"text": "a"}]}, "finishReason": "MAX_TOKENS", "index": 0},
    ]});
    let (v, _) = decode(&body.to_string());
    assert_eq!(v["choices"][0]["message"]["content"], "a");
    assert_eq!(v["choices"][0]["finish_reason"], "length");
    assert_eq!(v["choices"][1]["index"], 1);
    assert_eq!(v["choices"][1]["message"]["content"], "b");
    assert!(v["id"].as_str().unwrap().starts_with("chatcmpl-"));
}

#[test]
fn array_and_sse_bodies_are_folded() {
    let chunks = [
        json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "Hel"}]}, "index": 0}],
            "responseId": "r9", "modelVersion": "gemini-x"}),
        json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "lo"}]},
            "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 2}}),
    ];
    let array = serde_json::to_string(&chunks).unwrap();
    let sse: String = chunks
        .iter()
        .map(|c| format!("data: {c}\r\n\r\n"))
        .collect();
    for body in [array, sse] {
        let mut d = decoder(false, "");
        d.feed(body.as_bytes());
        let v: Value = serde_json::from_slice(&d.finish()).unwrap();
        assert_eq!(v["choices"][0]["message"]["content"], "Hello");
        assert_eq!(v["model"], "gemini-x");
        assert_eq!(v["id"], "chatcmpl-r9");
        assert_eq!(d.usage().map(|u| u.completion), Some(2));
    }
}

#[test]
fn unexpected_bodies_are_openai_errors() {
    for (body, message) in [
        (&b"not json"[..], None),
        (b"", None),
        (b"42", None),
        (
            b"{}",
            Some("upstream returned a Gemini answer without candidates"),
        ),
        (
            b"[]",
            Some("upstream returned a Gemini answer without candidates"),
        ),
        (
            br#"{"error":{"code":500,"message":"boom","status":"INTERNAL"}}"#,
            Some("boom"),
        ),
    ] {
        let mut d = decoder(false, "m");
        d.feed(body);
        let v: Value = serde_json::from_slice(&d.finish()).unwrap();
        assert_eq!(v["error"]["type"], "server_error", "{body:?}");
        if let Some(m) = message {
            assert_eq!(v["error"]["message"], m);
        }
        assert!(d.usage().is_none());
    }
}

#[test]
fn fail_is_an_error_once() {
    let mut d = decoder(false, "m");
    d.feed(b"{\"cand");
    let v: Value = serde_json::from_slice(&d.fail("upstream timed out")).unwrap();
    assert_eq!(v["error"]["message"], "upstream timed out");
    assert!(d.finish().is_empty());
    assert!(d.fail("again").is_empty());
}
