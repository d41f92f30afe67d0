//! The checker's rules, one refusal each.

use super::check::check;
use serde_json::json;
use serde_json::Value;

fn req(messages: Value) -> Value {
    json!({"model": "claude-x", "max_tokens": 100, "messages": messages})
}

fn refused(v: Value, needle: &str) {
    match check(&v) {
        Err(e) => assert!(e.contains(needle), "{e:?} lacks {needle:?} for {v}"),
        Ok(()) => panic!("accepted: {v}"),
    }
}

fn user(content: Value) -> Value {
    json!({"role": "user", "content": content})
}

fn asst(content: Value) -> Value {
    json!({"role": "assistant", "content": content})
}

fn tool_use(id: &str) -> Value {
    json!({"type": "tool_use", "id": id, "name": "f", "input": {}})
}

fn result(id: &str) -> Value {
    json!({"type": "tool_result", "tool_use_id": id, "content": "ok"})
}

#[test]
fn a_tool_loop_with_thinking_passes() {
    let mut v = req(json!([
        user(json!("hi")),
        asst(
            json!([{"type": "thinking", "thinking": "t", "signature": "s"}, tool_use("a"), tool_use("b")])
        ),
        user(json!([result("a"), result("b"), {"type": "text", "text": "more"}])),
    ]));
    v["max_tokens"] = json!(5000);
    v["thinking"] = json!({"type": "enabled", "budget_tokens": 1024});
    v["system"] = json!([{"type": "text", "text": "sys", "cache_control": {"type": "ephemeral"}}]);
    v["tools"] = json!([{"name": "f", "input_schema": {"type": "object"}}, {"type": "web_search_20250305", "name": "web_search"}]);
    v["tool_choice"] = json!({"type": "auto"});
    assert_eq!(check(&v), Ok(()));
}

#[test]
fn header_level_fields() {
    let mut v = req(json!([user(json!("hi"))]));
    v.as_object_mut().unwrap().remove("max_tokens");
    refused(v, "max_tokens: Field required");
    let mut v = req(json!([user(json!("hi"))]));
    v["stream_options"] = json!({});
    refused(v, "stream_options: Extra inputs");
    let mut v = req(json!([user(json!("hi"))]));
    v["temperature"] = json!(1.5);
    refused(v, "temperature");
    let mut v = req(json!([user(json!("hi"))]));
    v["thinking"] = json!({"type": "enabled", "budget_tokens": 100});
    refused(v, "1024");
    let mut v = req(json!([user(json!("hi"))]));
    v["thinking"] = json!({"type": "enabled", "budget_tokens": 2000});
    refused(v, "greater than `thinking.budget_tokens`");
    let mut v = req(json!([user(json!("hi"))]));
    v["tool_choice"] = json!({"type": "auto"});
    refused(v, "while providing tools");
    let mut v = req(json!([user(json!("hi"))]));
    v["stop_sequences"] = json!([" "]);
    refused(v, "non-whitespace");
}

#[test]
fn turn_rules() {
    refused(req(json!([asst(json!("x"))])), "first message");
    refused(
        req(json!([user(json!("a")), user(json!("b"))])),
        "alternate",
    );
    refused(req(json!([user(json!([]))])), "non-empty content");
    refused(
        req(json!([user(json!([{"type": "text", "text": " "}]))])),
        "non-whitespace",
    );
    refused(
        req(json!([
            user(json!("q")),
            asst(json!([tool_use("a")])),
            user(json!([result("b")]))
        ])),
        "unexpected `tool_use_id`",
    );
    refused(
        req(json!([
            user(json!("q")),
            asst(json!([tool_use("a")])),
            user(json!("no result"))
        ])),
        "without `tool_result`",
    );
    refused(
        req(json!([
            user(json!("q")),
            asst(json!([tool_use("a")])),
            user(json!([{"type": "text", "text": "x"}, result("a")]))
        ])),
        "must come first",
    );
    refused(
        req(json!([
            user(json!("q")),
            asst(json!([{"type": "thinking", "thinking": "t"}]))
        ])),
        "signature",
    );
    refused(
        req(json!([user(json!("q")), asst(json!("prefill "))])),
        "trailing whitespace",
    );
    refused(
        req(json!([user(json!("q")), asst(json!([tool_use("a.b")]))])),
        "pattern",
    );
    refused(
        req(json!([user(
            json!([{"type": "image", "source": {"type": "base64", "media_type": "image/tiff", "data": "AA"}}])
        )])),
        "media_type",
    );
    let mut v = req(json!([
        user(json!("q")),
        asst(json!([tool_use("a")])),
        user(json!([result("a")]))
    ]));
    v["max_tokens"] = json!(5000);
    v["thinking"] = json!({"type": "enabled", "budget_tokens": 1024});
    refused(v, "Expected `thinking`");
}
