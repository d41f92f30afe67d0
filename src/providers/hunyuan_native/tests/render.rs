//! `render`: the typed chat request → the native PascalCase body.

use serde_json::{json, Value};

use super::super::render;
use crate::chat::model::ChatRequest;

fn typed(v: Value) -> ChatRequest {
    let Value::Object(o) = v else {
        panic!("not an object")
    };
    ChatRequest::from_map(o).unwrap_or_else(|_| panic!("no messages"))
}

fn run(v: Value) -> Value {
    render(&typed(v)).unwrap_or_else(|e| panic!("refused: {e:?}"))
}

fn refused(v: Value) -> (String, Option<String>) {
    match render(&typed(v)) {
        Err(e) => (e.message, e.param),
        Ok(b) => panic!("rendered {b}"),
    }
}

#[test]
fn a_conversation_with_tools_images_and_parameters() {
    let body = run(json!({
        "model": "hunyuan-turbos-latest", "stream": true, "temperature": 0.5, "top_p": 1,
        "seed": 42, "max_tokens": 100, "n": 1, "stop": ["x"], "user": "u",
        "stream_options": {"include_usage": true}, "response_format": {"type": "text"},
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "what is this?"},
                {"type": "image_url", "image_url": {"url": "https://x.test/a.png", "detail": "low"}}]},
            {"role": "assistant", "content": "calling", "tool_calls": [{"id": "c1",
                "type": "function", "function": {"name": "look", "arguments": "{\"q\":1}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "a cat"},
        ],
        "tools": [{"type": "function", "function": {"name": "look", "description": "Look",
            "parameters": {"type": "object", "properties": {"q": {"type": "integer"}}}}}],
        "tool_choice": "auto",
    }));
    assert_eq!(
        body,
        json!({
            "Model": "hunyuan-turbos-latest", "Stream": true, "Temperature": 0.5, "TopP": 1,
            "Seed": 42,
            "Messages": [
                {"Role": "system", "Content": "be brief"},
                {"Role": "user", "Contents": [{"Type": "text", "Text": "what is this?"},
                    {"Type": "image_url", "ImageUrl": {"Url": "https://x.test/a.png"}}]},
                {"Role": "assistant", "Content": "calling", "ToolCalls": [{"Id": "c1",
                    "Type": "function", "Function": {"Name": "look", "Arguments": "{\"q\":1}"}}]},
                {"Role": "tool", "Content": "a cat", "ToolCallId": "c1"},
            ],
            "Tools": [{"Type": "function", "Function": {"Name": "look", "Description": "Look",
                "Parameters": "{\"properties\":{\"q\":{\"type\":\"integer\"}},\"type\":\"object\"}"}}],
            "ToolChoice": "auto",
        })
    );
}

#[test]
fn temperature_and_top_p_are_numbers_or_absent() {
    for bad in [Value::Null, json!("0.5"), json!(true), json!([1])] {
        let body = run(
            json!({"model": "m", "temperature": bad, "top_p": bad, "seed": 1.5,
            "stream": "yes", "messages": [{"role": "user", "content": "hi"}]}),
        );
        for k in ["Temperature", "TopP", "Seed", "Stream"] {
            assert!(body.get(k).is_none(), "{k} sent: {body}");
        }
    }
    let body = run(json!({"model": "m", "temperature": 0, "top_p": 0.25,
        "messages": [{"role": "user", "content": "hi"}]}));
    assert_eq!(
        (body["Temperature"].clone(), body["TopP"].clone()),
        (json!(0), json!(0.25))
    );
}

#[test]
fn tool_choice_forms() {
    let tools = json!([
        {"type": "function", "function": {"name": "a"}},
        {"type": "function", "function": {"name": "b", "parameters": "{\"type\":\"object\"}"}},
    ]);
    let with = |choice: Value, tools: Value| {
        run(
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
            "tools": tools, "tool_choice": choice}),
        )
    };
    let b = with(
        json!({"type": "function", "function": {"name": "b"}}),
        tools.clone(),
    );
    assert_eq!(b["ToolChoice"], "custom");
    assert_eq!(
        b["CustomTool"],
        json!({"Type": "function", "Function": {"Name": "b", "Parameters": "{\"type\":\"object\"}"}})
    );
    // A tool without a schema gets an empty object schema.
    assert_eq!(
        b["Tools"][0]["Function"]["Parameters"],
        "{\"type\":\"object\",\"properties\":{}}"
    );
    assert_eq!(with(json!("none"), tools.clone())["ToolChoice"], "none");
    assert_eq!(with(json!("required"), tools.clone())["ToolChoice"], "auto");
    let one = with(json!("required"), json!([tools[0].clone()]));
    assert_eq!(one["ToolChoice"], "custom");
    assert_eq!(one["CustomTool"]["Function"]["Name"], "a");
    // No tools: neither tools nor a choice.
    let none = with(json!("auto"), json!([]));
    assert!(
        none.get("Tools").is_none() && none.get("ToolChoice").is_none(),
        "{none}"
    );
    let (_, param) = refused(
        json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
        "tools": tools, "tool_choice": {"type": "function", "function": {"name": "zz"}}}),
    );
    assert_eq!(param.as_deref(), Some("tool_choice"));
}

#[test]
fn extras_pass_through_with_the_right_type() {
    let body = run(
        json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
        "enable_enhancement": true, "SearchInfo": true, "citation": "yes",
        "enable_thinking": false, "topic_choice": "news", "stream_moderation": null}),
    );
    assert_eq!(body["EnableEnhancement"], true);
    assert_eq!(body["SearchInfo"], true);
    assert_eq!(body["EnableThinking"], false);
    assert_eq!(body["TopicChoice"], "news");
    assert!(body.get("Citation").is_none() && body.get("StreamModeration").is_none());
    assert!(body.get("citation").is_none() && body.get("enable_enhancement").is_none());
}

#[test]
fn refusals_name_the_field() {
    let (_, p) = refused(json!({"messages": [{"role": "user", "content": "hi"}]}));
    assert_eq!(p.as_deref(), Some("model"));
    let (_, p) = refused(json!({"model": " ", "messages": [{"role": "user", "content": "hi"}]}));
    assert_eq!(p.as_deref(), Some("model"));
    let (_, p) = refused(
        json!({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "input_audio", "input_audio": {"data": "x"}}]}]}),
    );
    assert_eq!(p.as_deref(), Some("messages[0].content[0].type"));
    let (_, p) = refused(
        json!({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "a"}, {"type": "image_url"}]}]}),
    );
    assert_eq!(p.as_deref(), Some("messages[0].content[1].image_url"));
    let (_, p) = refused(
        json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
        "tools": [{"type": "web_search"}]}),
    );
    assert_eq!(p.as_deref(), Some("tools[0].type"));
}

#[test]
fn odd_contents() {
    let body = run(json!({"model": "m", "messages": [
        {"role": "user", "content": {"type": "text", "text": "lone"}},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "c", "type": "function",
            "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c", "content": 7},
        {"role": "user", "content": [{"type": "image_url", "image_url": "https://x.test/i.png"}]},
    ]}));
    let m = &body["Messages"];
    assert_eq!(m[0]["Contents"], json!([{"Type": "text", "Text": "lone"}]));
    assert!(m[1].get("Content").is_none() && m[1].get("Contents").is_none());
    assert_eq!(m[2]["Content"], "7");
    assert_eq!(
        m[3]["Contents"][0]["ImageUrl"]["Url"],
        "https://x.test/i.png"
    );
}
