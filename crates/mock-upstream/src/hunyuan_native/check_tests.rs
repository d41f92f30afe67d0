//! The native request checker: members, values, message rules, tools.

use serde_json::{json, Value};

use super::check;

fn base() -> Value {
    json!({"Model": "hunyuan-turbos-latest", "Messages": [{"Role": "user", "Content": "hi"}]})
}

fn with(k: &str, v: Value) -> Value {
    let mut r = base();
    r[k] = v;
    r
}

fn code(req: &Value) -> &'static str {
    check(req).err().map_or("ok", |r| r.code)
}

#[test]
fn members_and_values() {
    assert_eq!(code(&base()), "ok");
    assert_eq!(code(&with("messages", json!([]))), "UnknownParameter");
    assert_eq!(code(&with("max_tokens", json!(5))), "UnknownParameter");
    assert_eq!(
        code(&with("Temperature", Value::Null)),
        "InvalidParameterValue"
    );
    assert_eq!(code(&with("TopP", Value::Null)), "InvalidParameterValue");
    assert_eq!(code(&with("TopP", json!("0.5"))), "InvalidParameterValue");
    assert_eq!(
        code(&with("Temperature", json!(2.5))),
        "InvalidParameterValue"
    );
    assert_eq!(code(&with("Temperature", json!(0.7))), "ok");
    assert_eq!(code(&with("Seed", json!(0))), "InvalidParameterValue");
    assert_eq!(
        code(&with("Stream", json!("true"))),
        "InvalidParameterValue"
    );
    assert_eq!(code(&with("EnableEnhancement", json!(false))), "ok");
    assert_eq!(code(&with("Stop", json!("x"))), "InvalidParameterValue");
    let mut no_model = base();
    no_model.as_object_mut().unwrap().remove("Model");
    assert_eq!(code(&no_model), "MissingParameter");
    assert_eq!(code(&json!({"Model": "m"})), "MissingParameter");
}

#[test]
fn messages_follow_hunyuan_rules() {
    let msgs = |m: Value| with("Messages", m);
    let many: Vec<Value> = (0..41)
        .map(|i| json!({"Role": if i % 2 == 0 { "user" } else { "assistant" }, "Content": "x"}))
        .collect();
    assert_eq!(code(&msgs(json!(many))), "InvalidParameter");
    assert_eq!(
        code(&msgs(json!([{"Role": "assistant", "Content": "x"}]))),
        "InvalidParameter"
    );
    assert_eq!(
        code(&msgs(json!([{"Role": "user", "Content": " "}]))),
        "InvalidParameter"
    );
    assert_eq!(
        code(&msgs(json!([{"Role": "user", "content": "x"}]))),
        "UnknownParameter"
    );
    assert_eq!(
        code(&msgs(
            json!([{"Role": "user", "Content": "x", "ReasoningContent": "r"}])
        )),
        "InvalidParameter"
    );
    let round_trip = json!([
        {"Role": "system", "Content": "s"},
        {"Role": "user", "Content": "run"},
        {"Role": "assistant", "Content": "calling", "ToolCalls": [{"Id": "c1", "Type": "function",
            "Function": {"Name": "f", "Arguments": "{}"}}]},
        {"Role": "tool", "ToolCallId": "c1", "Content": "done"},
    ]);
    assert_eq!(code(&msgs(round_trip.clone())), "ok");
    let mut unpaired = round_trip;
    unpaired[3]["ToolCallId"] = json!("c2");
    assert_eq!(code(&msgs(unpaired)), "InvalidParameter");
    // Images only for vision models.
    let image = json!([{"Role": "user", "Contents": [{"Type": "text", "Text": "what"},
        {"Type": "image_url", "ImageUrl": {"Url": "https://x.test/i.png"}}]}]);
    assert_eq!(code(&msgs(image.clone())), "InvalidParameter");
    let mut vision = msgs(image);
    vision["Model"] = json!("hunyuan-vision");
    assert_eq!(code(&vision), "ok");
}

#[test]
fn tools_take_a_schema_string() {
    let t = |params: Value| json!([{"Type": "function", "Function": {"Name": "f", "Parameters": params}}]);
    assert_eq!(
        code(&with("Tools", t(json!("{\"type\":\"object\"}")))),
        "ok"
    );
    assert_eq!(
        code(&with("Tools", t(json!({"type": "object"})))),
        "InvalidParameterValue"
    );
    assert_eq!(
        code(&with("Tools", t(json!("{oops")))),
        "InvalidParameterValue"
    );
    let mut custom = with("Tools", t(json!("{}")));
    custom["ToolChoice"] = json!("custom");
    assert_eq!(code(&custom), "MissingParameter");
    custom["CustomTool"] = t(json!("{}"))[0].clone();
    assert_eq!(code(&custom), "ok");
    custom["ToolChoice"] = json!("required");
    assert_eq!(code(&custom), "InvalidParameterValue");
    let chat = check(&with("Tools", t(json!("{\"type\":\"object\"}")))).unwrap();
    assert_eq!(
        chat["tools"][0]["function"]["parameters"],
        json!({"type": "object"})
    );
}
