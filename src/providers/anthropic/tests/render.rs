//! `render`: one test per rule of the conversation (system, turns, parts, tools calls and results).

use super::super::{render, DEFAULT_MAX_TOKENS, PLACEHOLDER};
use serde_json::{json, Value};

fn req(messages: Value) -> Value {
    json!({"model": "claude-x", "messages": messages})
}

fn ok(chat: Value) -> Value {
    render(&chat).unwrap()
}

fn err_param(chat: Value) -> String {
    render(&chat).unwrap_err().param.unwrap_or_default()
}

fn user(t: &str) -> Value {
    json!({"role": "user", "content": t})
}

fn text(t: &str) -> Value {
    json!({"type": "text", "text": t})
}

fn call(id: &str, name: &str, args: &str) -> Value {
    json!({"id": id, "type": "function", "function": {"name": name, "arguments": args}})
}

#[test]
fn minimal_request() {
    let out = ok(req(json!([user("hi")])));
    assert_eq!(
        out,
        json!({"model": "claude-x", "max_tokens": DEFAULT_MAX_TOKENS,
            "messages": [{"role": "user", "content": [text("hi")]}]})
    );
}

#[test]
fn system_and_developer_go_to_top_level_with_cache_control() {
    let out = ok(req(json!([
        {"role": "system", "content": "be brief"},
        {"role": "developer", "content": [
            {"type": "text", "text": "long doc", "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": "   "}]},
        user("hi"),
        {"role": "system", "content": "late rule", "cache_control": {"type": "ephemeral", "ttl": "1h"}},
    ])));
    assert_eq!(
        out["system"],
        json!([text("be brief"),
            {"type": "text", "text": "long doc", "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": "late rule", "cache_control": {"type": "ephemeral", "ttl": "1h"}}])
    );
    assert_eq!(
        out["messages"],
        json!([{"role": "user", "content": [text("hi")]}])
    );
}

#[test]
fn user_parts_text_and_images() {
    let out = ok(req(json!([{"role": "user", "content": [
        {"type": "text", "text": "look", "cache_control": {"type": "ephemeral"}},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,QUJD", "detail": "high"}},
        {"type": "image_url", "image_url": {"url": "https://x.test/a.jpg"}},
        {"type": "image_url", "image_url": "data:image/jpg;base64,WFla"},
    ]}])));
    assert_eq!(
        out["messages"][0]["content"],
        json!([
            {"type": "text", "text": "look", "cache_control": {"type": "ephemeral"}},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "QUJD"}},
            {"type": "image", "source": {"type": "url", "url": "https://x.test/a.jpg"}},
            {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "WFla"}},
        ])
    );
}

#[test]
fn files_become_documents() {
    let out = ok(req(json!([{"role": "user", "content": [
        {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBE", "filename": "a.pdf"}},
        {"type": "file", "file": {"file_data": "data:text/plain;base64,aGVsbG8="}},
    ]}])));
    assert_eq!(
        out["messages"][0]["content"],
        json!([
            {"type": "document", "title": "a.pdf",
                "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBE"}},
            {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "hello"}},
        ])
    );
}

#[test]
fn parts_anthropic_cannot_take_are_errors_with_param() {
    let cases = [
        (
            json!({"type": "image_url", "image_url": {"url": "ftp://x/a.png"}}),
            "messages[0].content[0].image_url.url",
        ),
        (
            json!({"type": "image_url", "image_url": {"url": "data:image/tiff;base64,AA"}}),
            "messages[0].content[0].image_url.url",
        ),
        (
            json!({"type": "image_url", "image_url": {"url": "data:image/png,raw"}}),
            "messages[0].content[0].image_url.url",
        ),
        (
            json!({"type": "input_audio", "input_audio": {"data": "AA", "format": "wav"}}),
            "messages[0].content[0].type",
        ),
        (
            json!({"type": "file", "file": {"file_id": "file-1"}}),
            "messages[0].content[0].file.file_data",
        ),
    ];
    for (part, param) in cases {
        let chat = req(json!([{"role": "user", "content": [part]}]));
        assert_eq!(err_param(chat), param, "{part}");
    }
    let chat = req(json!([{"role": "system", "content": [
        {"type": "image_url", "image_url": {"url": "https://x/a.png"}}]}, user("hi")]));
    assert_eq!(err_param(chat), "messages[0].content[0].type");
}

#[test]
fn assistant_tool_calls_become_tool_use() {
    let out = ok(req(json!([
        user("run it"),
        {"role": "assistant", "content": "sure", "tool_calls": [
            call("call_1", "Bash", "{\"command\":\"ls\"}"),
            call("call_2", "Read", ""),
            {"id": "call_3", "type": "function", "function": {"name": "Obj", "arguments": {"a": 1}}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "a.txt"},
        {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "x"}]},
        {"role": "tool", "tool_call_id": "call_3", "content": ""},
    ])));
    let m = out["messages"].as_array().unwrap();
    assert_eq!(m.len(), 3);
    assert_eq!(
        m[1],
        json!({"role": "assistant", "content": [text("sure"),
            {"type": "tool_use", "id": "call_1", "name": "Bash", "input": {"command": "ls"}},
            {"type": "tool_use", "id": "call_2", "name": "Read", "input": {}},
            {"type": "tool_use", "id": "call_3", "name": "Obj", "input": {"a": 1}}]})
    );
    assert_eq!(
        m[2],
        json!({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "call_1", "content": [text("a.txt")]},
            {"type": "tool_result", "tool_use_id": "call_2", "content": [text("x")]},
            {"type": "tool_result", "tool_use_id": "call_3"}]}),
        "consecutive results in one user turn"
    );
}

#[test]
fn invalid_arguments_are_errors_with_param() {
    for args in ["{\"a\":", "[1,2]", "\"s\""] {
        let chat = req(json!([user("x"),
            {"role": "assistant", "content": null, "tool_calls": [call("c", "f", "{}"), call("d", "f", args)]}]));
        assert_eq!(
            err_param(chat),
            "messages[1].tool_calls[1].function.arguments",
            "{args}"
        );
    }
    let chat = req(json!([user("x"),
        {"role": "assistant", "tool_calls": [{"id": "c", "function": {"arguments": "{}"}}]}]));
    assert_eq!(err_param(chat), "messages[1].tool_calls[0].function.name");
}

#[test]
fn results_come_first_and_text_follows_in_the_same_turn() {
    let out = ok(req(json!([
        user("go"),
        {"role": "assistant", "tool_calls": [call("a", "f", "{}")]},
        user("also this"),
        {"role": "tool", "tool_call_id": "a", "content": "done"},
        user("and that"),
    ])));
    assert_eq!(
        out["messages"][2]["content"],
        json!([{"type": "tool_result", "tool_use_id": "a", "content": [text("done")]},
            text("also this"), text("and that")])
    );
}

#[test]
fn orphan_results_become_text_and_missing_results_are_filled() {
    let out = ok(req(json!([
        user("go"),
        {"role": "assistant", "tool_calls": [call("a", "f", "{}"), call("b", "f", "{}")]},
        {"role": "tool", "tool_call_id": "a", "content": "A"},
        {"role": "tool", "tool_call_id": "ghost", "content": "G"},
        {"role": "assistant", "content": "next"},
        {"role": "tool", "tool_call_id": "b", "content": "late"},
    ])));
    let m = out["messages"].as_array().unwrap();
    assert_eq!(
        m[2]["content"],
        json!([
            {"type": "tool_result", "tool_use_id": "a", "content": [text("A")]},
            {"type": "tool_result", "tool_use_id": "b", "is_error": true,
                "content": [text("No result was sent for this tool call.")]},
            text("Result of tool call ghost:\nG"),
        ])
    );
    assert_eq!(
        m[4]["content"],
        json!([text("Result of tool call b:\nlate")])
    );
}

#[test]
fn tool_ids_are_made_to_fit() {
    let out = ok(req(json!([
        user("go"),
        {"role": "assistant", "tool_calls": [call("functions.read:0", "read", "{}")]},
        {"role": "tool", "tool_call_id": "functions.read:0", "content": "ok"},
    ])));
    assert_eq!(out["messages"][1]["content"][0]["id"], "functions_read_0");
    assert_eq!(
        out["messages"][2]["content"][0]["tool_use_id"],
        "functions_read_0"
    );
}

#[test]
fn same_role_turns_are_merged_and_empty_ones_dropped() {
    let out = ok(req(json!([
        user("a"),
        user(""),
        {"role": "user", "content": "   "},
        user("b"),
        {"role": "assistant", "content": "c"},
        {"role": "assistant", "content": null},
        {"role": "assistant", "content": [{"type": "text", "text": "d"}, {"type": "refusal", "refusal": "no"}]},
        user("e"),
    ])));
    assert_eq!(
        out["messages"],
        json!([
            {"role": "user", "content": [text("a"), text("b")]},
            {"role": "assistant", "content": [text("c"), text("d"), text("no")]},
            {"role": "user", "content": [text("e")]},
        ])
    );
}

#[test]
fn a_leading_assistant_or_no_turn_gets_a_placeholder_user_turn() {
    let out = ok(req(
        json!([{"role": "assistant", "content": "hello"}, user("hi")]),
    ));
    assert_eq!(
        out["messages"][0],
        json!({"role": "user", "content": [text(PLACEHOLDER)]})
    );
    assert_eq!(out["messages"][1]["role"], "assistant");
    let out = ok(req(json!([{"role": "system", "content": "only"}])));
    assert_eq!(
        out["messages"],
        json!([{"role": "user", "content": [text(PLACEHOLDER)]}])
    );
}

#[test]
fn final_assistant_prefill_loses_trailing_whitespace() {
    let out = ok(req(
        json!([user("q"), {"role": "assistant", "content": "The answer is "}]),
    ));
    assert_eq!(
        out["messages"][1]["content"],
        json!([text("The answer is")])
    );
}

#[test]
fn reasoning_is_dropped_unless_signed() {
    let out = ok(req(json!([
        user("q"),
        {"role": "assistant", "content": "a1", "reasoning_content": "unsigned"},
        user("q2"),
        {"role": "assistant", "content": "a2", "reasoning_content": "signed", "reasoning_signature": "sig"},
        {"role": "assistant", "content": "a3", "reasoning_content": "merged", "reasoning_signature": "sig2"},
        user("q3"),
    ])));
    let m = out["messages"].as_array().unwrap();
    assert_eq!(m[1]["content"], json!([text("a1")]));
    assert_eq!(
        m[3]["content"],
        json!([{"type": "thinking", "thinking": "signed", "signature": "sig"}, text("a2"), text("a3")])
    );
}

#[test]
fn bad_shapes_are_errors() {
    assert_eq!(
        render(&json!([1])).unwrap_err().param.as_deref(),
        Some("body")
    );
    assert_eq!(err_param(req(json!({"a": 1}))), "messages");
    assert_eq!(
        err_param(req(json!([{"role": "function", "content": "x"}]))),
        "messages[0].role"
    );
    assert_eq!(
        err_param(req(json!([{"role": "user", "content": 5}]))),
        "messages[0].content"
    );
}
