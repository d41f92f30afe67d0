//! The non-streamed decoder: native answer → chat completion.

use serde_json::{json, Value};

use super::super::decoder;
use crate::core::usage::Usage;

fn run(body: &Value) -> (Value, Option<Usage>) {
    let mut d = decoder(false, "hunyuan-t1-latest");
    let text = body.to_string();
    let (a, b) = text.as_bytes().split_at(text.len() / 2);
    assert!(d.feed(a).is_empty() && d.feed(b).is_empty());
    let out = d.finish();
    assert!(d.finish().is_empty(), "finish twice");
    (serde_json::from_slice(&out).unwrap(), d.usage())
}

#[test]
fn text_reasoning_and_usage() {
    let (v, usage) = run(
        &json!({"Response": {"RequestId": "r-1", "Id": "r-1", "Created": 1700000000,
        "Note": "AI", "Choices": [{"Index": 0, "FinishReason": "stop", "Message": {
            "Role": "assistant", "Content": "Hi!", "ReasoningContent": "think"}}],
        "Usage": {"PromptTokens": 10, "CompletionTokens": 3, "TotalTokens": 13,
            "PromptTokensDetails": {"CachedTokens": "4"}}}}),
    );
    assert_eq!(
        v,
        json!({"id": "r-1", "object": "chat.completion", "created": 1700000000,
            "model": "hunyuan-t1-latest",
            "choices": [{"index": 0, "logprobs": null, "finish_reason": "stop",
                "message": {"role": "assistant", "content": "Hi!", "reasoning_content": "think"}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13,
                "prompt_tokens_details": {"cached_tokens": 4}}})
    );
    let u = usage.unwrap();
    assert_eq!((u.prompt, u.completion, u.cached), (10, 3, 4));
}

#[test]
fn tool_calls_and_finish_reasons() {
    let (v, _) = run(
        &json!({"Response": {"Id": "x", "Choices": [{"FinishReason": "tool_calls",
        "Message": {"Role": "assistant", "Content": "", "ToolCalls": [{"Id": "call_1",
            "Type": "function", "Index": 0, "Function": {"Name": "shell", "Arguments": "{\"c\":1}"}}]}}]}}),
    );
    let c = &v["choices"][0];
    assert_eq!(c["finish_reason"], "tool_calls");
    assert_eq!(c["message"]["content"], Value::Null);
    assert_eq!(
        c["message"]["tool_calls"],
        json!([{"id": "call_1", "type": "function", "function": {"name": "shell", "arguments": "{\"c\":1}"}}])
    );
    assert!(v.get("usage").is_none());
    for (native, chat) in [
        ("sensitive", json!("content_filter")),
        ("", Value::Null),
        ("length", json!("length")),
    ] {
        let (v, _) = run(&json!({"Response": {"Choices": [{"FinishReason": native,
            "Message": {"Content": "a"}}]}}));
        assert_eq!(v["choices"][0]["finish_reason"], chat, "{native}");
        // Without an id, one is made.
        assert!(v["id"].as_str().unwrap().starts_with("chatcmpl-"));
    }
}

#[test]
fn errors_in_a_2xx_body() {
    let (v, usage) = run(&json!({"Response": {"Error": {"Code": "LimitExceeded",
        "Message": "too many"}, "RequestId": "rid"}}));
    assert_eq!(
        v,
        json!({"error": {"message": "too many (request id rid)", "type": "rate_limit_error",
            "param": null, "code": "LimitExceeded"}})
    );
    assert!(usage.is_none());
    let (v, _) = run(&json!({"Response": {"Choices": []}}));
    assert_eq!(v["error"]["type"], "server_error");
    let (v, _) = run(&json!({"Response": {"ErrorMsg": {"Msg": "engine", "Code": 4000}}}));
    assert_eq!(
        (v["error"]["message"].clone(), v["error"]["code"].clone()),
        (json!("engine"), json!(4000))
    );
    let mut d = decoder(false, "m");
    d.feed(b"<html>");
    let v: Value = serde_json::from_slice(&d.finish()).unwrap();
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("invalid Hunyuan answer"));
    let mut d = decoder(false, "m");
    let v: Value = serde_json::from_slice(&d.fail("timed out")).unwrap();
    assert_eq!(v["error"]["message"], "timed out");
}
