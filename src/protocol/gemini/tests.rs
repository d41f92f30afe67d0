//! The request side: contents, tools, tool config and generation config.

use super::*;
use serde_json::{json, Value};

fn chat(req: Value) -> Value {
    to_chat(&req, "hy", GeminiMeta::default()).unwrap().chat
}

fn msgs(req: Value) -> Vec<Value> {
    chat(req)["messages"].as_array().unwrap().clone()
}

fn err(req: Value) -> String {
    let e = to_chat(&req, "hy", GeminiMeta::default()).unwrap_err();
    e.param.unwrap_or_default()
}

fn user(parts: Value) -> Value {
    json!({"role": "user", "parts": parts})
}

fn model(parts: Value) -> Value {
    json!({"role": "model", "parts": parts})
}

#[test]
fn text_turns_and_system() {
    let req = json!({
        "systemInstruction": {"parts": [{"text": "Be brief."}, {"text": "Always."}]},
        "contents": [user(json!([{"text": "hi"}, {"text": "there"}])),
            model(json!([{"text": "Hel"}, {"text": "lo", "thoughtSignature": "zz"},
                {"text": "secret", "thought": true}])),
            {"parts": [{"text": "again"}]}]});
    assert_eq!(
        msgs(req),
        vec![
            json!({"role": "system", "content": "Be brief.\nAlways."}),
            json!({"role": "user", "content": "hi\nthere"}),
            json!({"role": "assistant", "content": "Hello"}),
            json!({"role": "user", "content": "again"}),
        ]
    );
    let snake = json!({"system_instruction": "sys", "contents": [user(json!([{"text": "q"}]))]});
    assert_eq!(msgs(snake)[0], json!({"role": "system", "content": "sys"}));
}

#[test]
fn media_parts() {
    let req = json!({"contents": [user(json!([
        {"text": "what is this"},
        {"inlineData": {"mimeType": "image/png", "data": "QUJD"}},
        {"file_data": {"mime_type": "image/jpeg", "file_uri": "https://x/i.jpg"}},
        {"inlineData": {"mimeType": "application/pdf", "data": "QUJD"}}]))]});
    let content = &msgs(req)[0]["content"];
    assert_eq!(
        content[1],
        json!({"type": "image_url", "image_url": {"url": "data:image/png;base64,QUJD"}})
    );
    assert_eq!(content[2]["image_url"]["url"], "https://x/i.jpg");
    assert!(content[3]["text"]
        .as_str()
        .unwrap()
        .contains("application/pdf"));
    assert_eq!(
        err(json!({"contents": [user(json!([{"inlineData": {"mimeType": "image/png"}}]))]})),
        "contents[0].parts[0].data"
    );
}

#[test]
fn function_call_round_trip_matches_by_id_then_name() {
    let req = json!({"contents": [
        user(json!([{"text": "go"}])),
        model(json!([{"text": "calling"},
            {"functionCall": {"name": "ls", "args": {"d": "."}}},
            {"functionCall": {"name": "ls", "args": {"d": "/"}}},
            {"functionCall": {"id": "x9", "name": "cat", "args": {}}}])),
        user(json!([
            {"functionResponse": {"id": "x9", "name": "cat", "response": {"output": "meow"}}},
            {"functionResponse": {"name": "ls", "response": {"output": "a b"}}},
            {"functionResponse": {"name": "ls", "response": {"files": ["c"], "n": 1}}},
            {"functionResponse": {"name": "ls", "response": {"output": "extra"}}},
            {"text": "thanks"}]))]});
    let m = msgs(req);
    let calls = m[1]["tool_calls"].as_array().unwrap();
    assert_eq!(m[1]["content"], "calling");
    assert_eq!(calls[0]["id"], "call_gemini_1");
    assert_eq!(calls[0]["function"]["arguments"], "{\"d\":\".\"}");
    assert_eq!(calls[1]["id"], "call_gemini_2");
    assert_eq!(calls[2]["id"], "x9");
    assert_eq!(
        m[2],
        json!({"role": "tool", "tool_call_id": "x9", "content": "meow"})
    );
    assert_eq!(
        m[3],
        json!({"role": "tool", "tool_call_id": "call_gemini_1", "content": "a b"})
    );
    assert_eq!(m[4]["tool_call_id"], "call_gemini_2");
    assert_eq!(m[4]["content"], "{\"files\":[\"c\"],\"n\":1}");
    // The fourth result answers no call: user text, with the turn's own.
    assert_eq!(m[5]["role"], "user");
    let text = m[5]["content"].as_str().unwrap();
    assert!(text.contains("[Result of function ls]\nextra") && text.ends_with("thanks"));
    assert_eq!(m.len(), 6);
}

#[test]
fn results_split_over_turns_still_match() {
    let req = json!({"contents": [
        user(json!([{"text": "go"}])),
        model(json!([{"functionCall": {"name": "a"}}, {"functionCall": {"name": "b"}}])),
        {"role": "function", "parts": [{"functionResponse": {"name": "b", "response": {"r": 2}}}]},
        user(json!([{"functionResponse": {"name": "a", "response": {"r": 1}}}]))]});
    let m = msgs(req);
    assert_eq!(m[2]["tool_call_id"], "call_gemini_2");
    assert_eq!(m[3]["tool_call_id"], "call_gemini_1");
}

#[test]
fn bad_contents() {
    assert_eq!(err(json!({})), "contents");
    assert_eq!(err(json!({"contents": []})), "contents");
    assert_eq!(err(json!({"contents": "hi"})), "contents");
    assert_eq!(err(json!({"contents": [1]})), "contents[0]");
    assert_eq!(
        err(json!({"contents": [{"role": "system", "parts": []}]})),
        "contents[0].role"
    );
    assert_eq!(
        err(json!({"contents": [{"parts": {"text": "x"}}]})),
        "contents[0].parts"
    );
    assert_eq!(
        err(json!({"contents": [model(json!([{"functionCall": {"args": {}}}]))]})),
        "contents[0].parts[0].functionCall.name"
    );
    assert_eq!(
        err(json!({"contents": [model(json!([{"text": "x", "thought": true}]))]})),
        "contents"
    );
    assert!(to_chat(&json!([]), "hy", GeminiMeta::default()).is_err());
}

#[test]
fn tools_schemas_and_built_ins() {
    let req = json!({"contents": [user(json!([{"text": "q"}]))],
        "tools": [
            {"functionDeclarations": [
                {"name": "get", "description": "Get it",
                 "parameters": {"type": "OBJECT", "propertyOrdering": ["a"],
                    "properties": {"a": {"type": "STRING", "enum": ["X"]},
                        "b": {"type": "ARRAY", "items": {"type": "INTEGER"}},
                        "c": {"anyOf": [{"type": "NUMBER"}, {"type": "NULL"}]}},
                    "required": ["a"]}},
                {"name": "raw", "parametersJsonSchema": {"type": "object",
                    "properties": {"Type": {"type": "string"}}}},
                {"name": "bare"}]},
            {"googleSearch": {}, "codeExecution": {}},
            {"url_context": {}}]});
    let t = to_chat(&req, "hy", GeminiMeta::default()).unwrap();
    let tools = t.chat["tools"].as_array().unwrap();
    assert_eq!(
        tools[0],
        json!({"type": "function", "function": {"name": "get", "description": "Get it",
            "parameters": {"type": "object",
                "properties": {"a": {"type": "string", "enum": ["X"]},
                    "b": {"type": "array", "items": {"type": "integer"}},
                    "c": {"anyOf": [{"type": "number"}, {"type": "null"}]}},
                "required": ["a"]}}})
    );
    assert_eq!(
        tools[1]["function"]["parameters"]["properties"]["Type"]["type"],
        "string"
    );
    assert_eq!(
        tools[2]["function"]["parameters"],
        json!({"type": "object", "properties": {}})
    );
    let mut dropped = t.meta.dropped_tools.clone();
    dropped.sort();
    assert_eq!(dropped, ["codeExecution", "googleSearch", "url_context"]);
    assert!(t.chat.get("tool_choice").is_none());
    let only_builtin = json!({"contents": [user(json!([{"text": "q"}]))],
        "tools": [{"googleSearch": {}}], "toolConfig": {"functionCallingConfig": {"mode": "ANY"}}});
    let c = chat(only_builtin);
    assert!(c.get("tools").is_none() && c.get("tool_choice").is_none());
}

#[test]
fn function_calling_config() {
    let base = |config: Value| {
        chat(json!({"contents": [user(json!([{"text": "q"}]))],
            "tools": [{"functionDeclarations": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}],
            "toolConfig": {"functionCallingConfig": config}}))
    };
    assert_eq!(base(json!({"mode": "NONE"}))["tool_choice"], "none");
    assert!(base(json!({"mode": "AUTO"})).get("tool_choice").is_none());
    assert_eq!(base(json!({"mode": "ANY"}))["tool_choice"], "required");
    let one = base(json!({"mode": "ANY", "allowedFunctionNames": ["b"]}));
    assert_eq!(
        one["tool_choice"],
        json!({"type": "function", "function": {"name": "b"}})
    );
    assert_eq!(one["tools"].as_array().unwrap().len(), 1);
    let two = base(json!({"mode": "any", "allowed_function_names": ["a", "c"]}));
    assert_eq!(two["tool_choice"], "required");
    assert_eq!(two["tools"].as_array().unwrap().len(), 2);
    let validated = base(json!({"mode": "VALIDATED", "allowedFunctionNames": ["a"]}));
    assert_eq!(validated["tool_choice"], "auto");
    assert_eq!(validated["tools"].as_array().unwrap().len(), 1);
}

#[test]
fn generation_config() {
    let req = json!({"contents": [user(json!([{"text": "q"}]))],
        "generationConfig": {"temperature": 0.2, "topP": 0.9, "topK": 40,
            "maxOutputTokens": 100, "stopSequences": ["END", 5], "candidateCount": 1,
            "seed": 7, "presencePenalty": 0.1, "frequency_penalty": 0.3,
            "responseMimeType": "application/json",
            "responseSchema": {"type": "OBJECT", "properties": {"t": {"type": "STRING"}}},
            "thinkingConfig": {"thinkingBudget": 2048, "includeThoughts": false}}});
    let t = to_chat(&req, "hy", GeminiMeta::default()).unwrap();
    let c = &t.chat;
    assert_eq!(c["temperature"], 0.2);
    assert_eq!(c["top_p"], 0.9);
    assert_eq!(c["max_tokens"], 100);
    assert_eq!(c["stop"], json!(["END"]));
    assert_eq!(c["seed"], 7);
    assert_eq!(c["presence_penalty"], 0.1);
    assert_eq!(c["frequency_penalty"], 0.3);
    assert_eq!(c["reasoning_effort"], "medium");
    assert!(c.get("top_k").is_none() && c.get("n").is_none());
    assert_eq!(
        c["response_format"],
        json!({"type": "json_schema", "json_schema": {"name": "response",
            "schema": {"type": "object", "properties": {"t": {"type": "string"}}}}})
    );
    assert!(!t.meta.thoughts);
    let json_only = chat(json!({"contents": [user(json!([{"text": "q"}]))],
        "generationConfig": {"responseMimeType": "application/json",
            "responseJsonSchema": {"type": "object"},
            "thinkingConfig": {"thinkingLevel": "HIGH"}}}));
    assert_eq!(
        json_only["response_format"]["json_schema"]["schema"],
        json!({"type": "object"})
    );
    assert_eq!(json_only["reasoning_effort"], "high");
    let plain = chat(json!({"contents": [user(json!([{"text": "q"}]))],
        "generationConfig": {"responseMimeType": "application/json",
            "thinkingConfig": {"thinkingBudget": -1}}}));
    assert_eq!(plain["response_format"], json!({"type": "json_object"}));
    assert!(plain.get("reasoning_effort").is_none());
    assert_eq!(
        err(json!({"contents": [user(json!([{"text": "q"}]))], "generationConfig": 1})),
        "generationConfig"
    );
}

#[test]
fn streams_ask_for_usage() {
    let meta = GeminiMeta {
        framing: Framing::Sse,
        ..GeminiMeta::default()
    };
    let t = to_chat(
        &json!({"contents": [user(json!([{"text": "q"}]))]}),
        "hy",
        meta,
    )
    .unwrap();
    assert_eq!(t.chat["stream"], true);
    assert_eq!(t.chat["stream_options"], json!({"include_usage": true}));
    assert_eq!(t.meta.model, "hy");
    assert!(t.meta.thoughts && t.meta.prompt_estimate > 0);
    let plain = chat(json!({"contents": [user(json!([{"text": "q"}]))]}));
    assert!(plain.get("stream").is_none());
}

/// 20,000 calls answered by name in reverse order: the queue per name keeps matching
/// linear (a scan of the open calls per result was quadratic).
#[test]
fn many_results_match_in_linear_time() {
    let n = 20_000;
    let calls: Vec<Value> = (0..n)
        .map(|i| json!({"functionCall": {"name": format!("f{}", i % 100), "args": {}}}))
        .collect();
    let results: Vec<Value> = (0..n)
        .rev()
        .map(|i| json!({"functionResponse": {"name": format!("f{}", i % 100), "response": {}}}))
        .collect();
    let req = json!({"contents": [user(json!([{"text": "go"}])), model(Value::Array(calls)),
        user(Value::Array(results))]});
    let start = std::time::Instant::now();
    let m = msgs(req);
    assert_eq!(m.len(), 2 + n);
    assert!(start.elapsed().as_secs() < 10);
}
