//! Request and non-streaming examples.

use serde_json::{json, Value};

use super::*;
use crate::state::store::history::History;

fn tr(req: Value) -> Translated {
    to_chat(&req, None, "resp_abc".into(), 7).unwrap()
}

fn msgs(t: &Translated) -> &Vec<Value> {
    t.chat["messages"].as_array().unwrap()
}

fn err_param(req: Value) -> String {
    to_chat(&req, None, "resp_x".into(), 0)
        .unwrap_err()
        .param
        .unwrap_or_default()
}

#[test]
fn string_input_and_instructions() {
    let t = tr(json!({"model": "m", "input": "hi", "instructions": "be brief"}));
    assert_eq!(
        t.chat,
        json!({"model": "m", "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "hi"}]})
    );
    assert!(!t.stream);
    assert!(t.store);
    assert_eq!(
        t.conversation.to_vec(),
        vec![json!({"type": "message", "role": "user",
        "content": [{"type": "input_text", "text": "hi"}]})]
    );
    assert_eq!(t.meta.id, "resp_abc");
    assert_eq!(t.meta.model, "m");
}

#[test]
fn every_item_type() {
    let t = tr(json!({"model": "m", "input": [
        {"role": "developer", "content": "dev"},
        {"type": "message", "role": "system", "content": [{"type": "input_text", "text": "sys"}]},
        {"role": "user", "content": [
            {"type": "input_text", "text": "look"},
            {"type": "input_image", "image_url": "data:image/png;base64,AAAA", "detail": "low"}]},
        {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "xx"},
        {"type": "message", "role": "assistant", "content": [
            {"type": "output_text", "text": "let me", "annotations": []},
            {"type": "refusal", "refusal": "no"}]},
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{\"a\":1}"},
        {"type": "custom_tool_call", "call_id": "c2", "name": "exec", "input": "ls"},
        {"type": "local_shell_call", "call_id": "c3", "action": {"type": "exec", "command": ["ls"]}},
        {"type": "function_call_output", "call_id": "c1", "output": [
            {"type": "input_text", "text": "done"},
            {"type": "input_image", "image_url": "https://x/y.png"}]},
        {"type": "custom_tool_call_output", "call_id": "c2", "output": "files"},
        {"type": "local_shell_call_output", "call_id": "c3", "output": "ok"},
        {"type": "web_search_call", "id": "ws_1", "status": "completed"},
        {"role": "user", "content": "next"}
    ]}));
    let m = msgs(&t);
    // consecutive system/developer messages merge
    assert_eq!(m[0], json!({"role": "system", "content": "dev\n\nsys"}));
    assert_eq!(
        m[1]["content"][1],
        json!({"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"}})
    );
    assert_eq!(m[2]["role"], "assistant");
    assert_eq!(m[2]["content"], "let me\nno");
    let calls = m[2]["tool_calls"].as_array().unwrap();
    assert_eq!(calls.len(), 3);
    assert_eq!(
        calls[0],
        json!({"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}})
    );
    assert_eq!(
        calls[1]["function"]["arguments"],
        json!({"input": "ls"}).to_string()
    );
    assert_eq!(calls[2]["function"]["name"], "local_shell");
    assert_eq!(
        m[3],
        json!({"role": "tool", "tool_call_id": "c1", "content": "done"})
    );
    assert_eq!(
        m[4],
        json!({"role": "tool", "tool_call_id": "c2", "content": "files"})
    );
    assert_eq!(
        m[5],
        json!({"role": "tool", "tool_call_id": "c3", "content": "ok"})
    );
    assert_eq!(m[6]["role"], "user");
    assert_eq!(m[6]["content"][1]["image_url"]["url"], "https://x/y.png");
    assert_eq!(m[7], json!({"role": "user", "content": "next"}));
    assert_eq!(m.len(), 8);
    assert_eq!(t.conversation.len(), 13);
    assert!(t.conversation.iter().all(|i| i["type"].is_string()));
}

#[test]
fn errors_name_the_param() {
    assert_eq!(err_param(json!({"input": "x"})), "model");
    assert_eq!(err_param(json!({"model": "m"})), "input");
    assert_eq!(err_param(json!({"model": "m", "input": 3})), "input");
    assert_eq!(
        err_param(json!({"model": "m", "input": "x", "temperature": "hot"})),
        "temperature"
    );
    assert_eq!(
        err_param(json!({"model": "m", "input": "x", "background": true})),
        "background"
    );
    assert_eq!(
        err_param(json!({"model": "m", "input": [{"type": "item_reference", "id": "x"}]})),
        "input[0]"
    );
    assert_eq!(
        err_param(
            json!({"model": "m", "input": [{"role": "user", "content": "a"}, {"type": "weird"}]})
        ),
        "input[1].type"
    );
    assert_eq!(
        err_param(json!({"model": "m", "input": [{"role": "user", "content": [
            {"type": "input_image", "file_id": "file_1"}]}]})),
        "input[0].content[0].file_id"
    );
    assert_eq!(
        err_param(json!({"model": "m", "input": [{"role": "user", "content": [
            {"type": "input_file", "file_id": "file_1"}]}]})),
        "input[0].content[0]"
    );
    assert_eq!(
        err_param(json!({"model": "m", "input": [{"role": "robot", "content": "a"}]})),
        "input[0].role"
    );
    assert_eq!(
        err_param(json!({"model": "m", "input": [{"type": "function_call", "name": "f"}]})),
        "input[0].call_id"
    );
    assert_eq!(
        err_param(json!({"model": "m", "input": "x", "tools": [{"type": "function"}]})),
        "tools[0].name"
    );
}

#[test]
fn plain_text_file_is_inlined() {
    let t = tr(json!({"model": "m", "input": [{"role": "user", "content": [
        {"type": "input_file", "filename": "a.txt", "file_data": "data:text/plain,hello"}]}]}));
    assert_eq!(msgs(&t)[0]["content"], "[a.txt]\nhello");
}

#[test]
fn tools_and_choice() {
    let t = tr(
        json!({"model": "m", "input": "x", "parallel_tool_calls": false,
        "tool_choice": {"type": "function", "name": "get"},
        "tools": [
            {"type": "function", "name": "get", "description": "d", "parameters": {"type": "object"}, "strict": true},
            {"type": "custom", "name": "apply_patch", "description": "patch",
             "format": {"type": "grammar", "syntax": "lark", "definition": "start: X"}},
            {"type": "namespace", "name": "clock", "tools": [{"type": "function", "name": "sleep"}]},
            {"type": "namespace", "name": "functions", "tools": [{"type": "custom", "name": "exec"}]},
            {"type": "web_search", "external_web_access": true},
            {"type": "local_shell"}, {"type": "web_search"}]}),
    );
    let tools = t.chat["tools"].as_array().unwrap();
    let names: Vec<&str> = tools
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["get", "apply_patch", "clock__sleep", "exec"]);
    assert_eq!(
        tools[0],
        json!({"type": "function", "function": {"name": "get", "description": "d",
        "parameters": {"type": "object"}, "strict": true}})
    );
    let p = &tools[1]["function"]["parameters"];
    assert_eq!(p["required"], json!(["input"]));
    assert!(p["properties"]["input"]["description"]
        .as_str()
        .unwrap()
        .contains("start: X"));
    assert_eq!(t.meta.custom_tools, ["apply_patch", "exec"]);
    assert_eq!(
        t.meta.namespaced,
        [(
            "clock__sleep".to_string(),
            "clock".to_string(),
            "sleep".to_string()
        )]
    );
    assert_eq!(t.dropped_tools, ["web_search", "local_shell"]);
    assert_eq!(
        t.chat["tool_choice"],
        json!({"type": "function", "function": {"name": "get"}})
    );
    assert_eq!(t.chat["parallel_tool_calls"], false);
    assert_eq!(t.meta.echo["tools"].as_array().unwrap().len(), 7);
}

#[test]
fn tool_choice_of_dropped_tool_is_auto_and_no_tools_no_choice() {
    let t = tr(
        json!({"model": "m", "input": "x", "tool_choice": {"type": "web_search"},
        "tools": [{"type": "function", "name": "f"}, {"type": "web_search"}]}),
    );
    assert_eq!(t.chat["tool_choice"], "auto");
    let t = tr(
        json!({"model": "m", "input": "x", "tool_choice": "required",
        "tools": [{"type": "web_search"}]}),
    );
    assert!(t.chat.get("tools").is_none());
    assert!(t.chat.get("tool_choice").is_none());
    assert_eq!(t.dropped_tools, ["web_search"]);
}

#[test]
fn params() {
    let t = tr(
        json!({"model": "m", "input": "x", "stream": true, "store": false,
        "max_output_tokens": 100, "temperature": 0.5, "top_p": 0.9, "user": "u",
        "metadata": {"k": "v"}, "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": "pk", "truncation": "auto", "service_tier": "auto",
        "previous_response_id": "resp_old",
        "reasoning": {"effort": "high", "summary": "auto"},
        "text": {"verbosity": "low", "format": {"type": "json_schema", "name": "n",
            "schema": {"type": "object"}, "strict": true}}}),
    );
    assert_eq!(
        t.chat,
        json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
        "stream": true, "stream_options": {"include_usage": true},
        "max_tokens": 100, "temperature": 0.5, "top_p": 0.9, "user": "u",
        "reasoning_effort": "high",
        "response_format": {"type": "json_schema", "json_schema": {"name": "n",
            "schema": {"type": "object"}, "strict": true}}})
    );
    assert!(t.stream);
    assert!(!t.store);
    assert_eq!(t.meta.echo["metadata"], json!({"k": "v"}));
    assert_eq!(t.meta.echo["previous_response_id"], "resp_old");
    let t = tr(json!({"model": "m", "input": "x",
        "text": {"format": {"type": "json_schema", "schema": {}}}}));
    assert_eq!(t.chat["response_format"]["json_schema"]["name"], "response");
    let t = tr(json!({"model": "m", "input": "x", "text": {"format": {"type": "json_object"}}}));
    assert_eq!(t.chat["response_format"], json!({"type": "json_object"}));
    let t = tr(json!({"model": "m", "input": "x", "text": {"format": {"type": "text"}}}));
    assert!(t.chat.get("response_format").is_none());
}

#[test]
fn history_is_prepended() {
    let history = vec![
        json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": "q1"}]}),
        json!({"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
            "content": [{"type": "output_text", "text": "a1", "annotations": []}]}),
    ];
    let t = to_chat(
        &json!({"model": "m", "input": "q2"}),
        Some(&history),
        "resp_2".into(),
        1,
    )
    .unwrap();
    let contents: Vec<&str> = msgs(&t)
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(contents, ["q1", "a1", "q2"]);
    assert_eq!(t.conversation.len(), 3);
    // input may be omitted when there is history
    let t = to_chat(&json!({"model": "m"}), Some(&history), "resp_2".into(), 1).unwrap();
    assert_eq!(msgs(&t).len(), 2);
}

/// Shaped like what Codex 0.171 sends (captured): `additional_tools` items with namespaces,
/// developer messages with several parts, a custom tool call and its output.
#[test]
fn codex_like_request() {
    let req = json!({
        "model": "gpt-6.2-sol", "stream": true, "tool_choice": "auto",
        "parallel_tool_calls": false, "reasoning": {"effort": "low", "context": "all_turns"},
        "store": false, "include": ["reasoning.encrypted_content"], "prompt_cache_key": "01a2",
        "text": {"verbosity": "low"}, "client_metadata": {"x-codex-window-id": "w"},
        "input": [
            {"type": "additional_tools", "id": "at_1", "role": "developer", "tools": [
                {"type": "namespace", "name": "functions", "description": "", "tools": [
                    {"type": "custom", "name": "exec", "description": "Run JavaScript",
                     "format": {"type": "grammar", "syntax": "lark", "definition": "start: SOURCE"}},
                    {"type": "function", "name": "wait", "description": "w", "strict": false,
                     "parameters": {"type": "object", "properties": {}}}]},
                {"type": "namespace", "name": "clock", "description": "time", "tools": [
                    {"type": "function", "name": "sleep", "description": "s", "strict": false,
                     "parameters": {"type": "object", "properties": {"duration_ms": {"type": "number"}}}}]}]},
            {"type": "message", "id": "msg_a", "role": "developer",
             "content": [{"type": "input_text", "text": "p1"}, {"type": "input_text", "text": "p2"}]},
            {"type": "message", "id": "msg_b", "role": "user",
             "content": [{"type": "input_text", "text": "Run echo"}]},
            {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAA"},
            {"type": "custom_tool_call", "id": "fc_1", "status": "completed", "call_id": "call_1",
             "name": "exec", "input": "const r = 1;"},
            {"type": "custom_tool_call_output", "id": "ctco_1", "call_id": "call_1", "output": "relay-ok-42"},
            {"type": "function_call", "id": "fc_2", "status": "completed", "call_id": "call_2",
             "name": "sleep", "namespace": "clock", "arguments": "{\"duration_ms\":1}"},
            {"type": "function_call_output", "id": "fco_2", "call_id": "call_2", "output": "slept"}
        ]
    });
    let t = tr(req);
    let m = msgs(&t);
    assert_eq!(m[0], json!({"role": "system", "content": "p1\np2"}));
    assert_eq!(m[1], json!({"role": "user", "content": "Run echo"}));
    assert_eq!(m[2]["tool_calls"][0]["function"]["name"], "exec");
    assert_eq!(m[4]["tool_calls"][0]["function"]["name"], "clock__sleep");
    assert_eq!(m.len(), 6);
    let names: Vec<&str> = t.chat["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["exec", "wait", "clock__sleep"]);
    assert_eq!(t.chat["tool_choice"], "auto");
    assert!(t.chat.get("include").is_none());
    assert!(t.chat.get("prompt_cache_key").is_none());
    assert!(t.chat.get("client_metadata").is_none());
    assert_eq!(t.chat["reasoning_effort"], "low");
    assert!(!t.store);
}

fn meta() -> ResponseMeta {
    let t = tr(
        json!({"model": "client-model", "input": "x", "temperature": 0.2,
        "tools": [{"type": "function", "name": "f"}, {"type": "custom", "name": "exec"},
                  {"type": "namespace", "name": "clock", "tools": [{"type": "function", "name": "sleep"}]}]}),
    );
    t.meta
}

fn non_stream(body: &str) -> (Value, Option<Value>) {
    let mut t = translator(meta(), false);
    let mut out = Vec::new();
    for piece in body.as_bytes().chunks(7) {
        out.extend(t.feed(piece));
    }
    out.extend(t.finish());
    (serde_json::from_slice(&out).unwrap(), t.final_response())
}

#[test]
fn non_stream_full_answer() {
    let (r, stored) = non_stream(
        r#"{"id":"c","model":"up","created":1,"choices":[{"index":0,"finish_reason":"tool_calls",
        "message":{"role":"assistant","reasoning_content":"hmm","content":"ok","tool_calls":[
          {"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}},
          {"id":"call_2","type":"function","function":{"name":"exec","arguments":"{\"input\":\"ls -l\"}"}},
          {"id":"call_3","type":"function","function":{"name":"clock__sleep","arguments":"{}"}}]}}],
        "usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15,
          "prompt_tokens_details":{"cached_tokens":4},"completion_tokens_details":{"reasoning_tokens":2}}}"#,
    );
    assert_eq!(stored.as_ref(), Some(&r));
    assert_eq!(r["id"], "resp_abc");
    assert_eq!(r["object"], "response");
    assert_eq!(r["status"], "completed");
    assert_eq!(r["model"], "client-model");
    assert_eq!(r["created_at"], 7);
    assert_eq!(r["temperature"], 0.2);
    assert_eq!(r["error"], Value::Null);
    assert_eq!(
        r["output"],
        json!([
            {"type": "reasoning", "id": "rs_abc_0", "summary": [{"type": "summary_text", "text": "hmm"}]},
            {"type": "message", "id": "msg_abc_1", "role": "assistant", "status": "completed",
             "content": [{"type": "output_text", "text": "ok", "annotations": []}]},
            {"type": "function_call", "id": "fc_abc_2", "call_id": "call_1", "name": "f",
             "arguments": "{\"a\":1}", "status": "completed"},
            {"type": "custom_tool_call", "id": "ctc_abc_3", "call_id": "call_2", "name": "exec",
             "input": "ls -l", "status": "completed"},
            {"type": "function_call", "id": "fc_abc_4", "call_id": "call_3", "name": "sleep",
             "namespace": "clock", "arguments": "{}", "status": "completed"}
        ])
    );
    assert_eq!(
        r["usage"],
        json!({"input_tokens": 10, "input_tokens_details": {"cached_tokens": 4},
        "output_tokens": 5, "output_tokens_details": {"reasoning_tokens": 2}, "total_tokens": 15})
    );
    // The stored output replays as valid input.
    let mut history = vec![json!({"role": "user", "content": "x"})];
    history.extend(r["output"].as_array().unwrap().iter().cloned());
    let t = to_chat(
        &json!({"model": "m", "input": [
            {"type": "function_call_output", "call_id": "call_1", "output": "1"},
            {"type": "custom_tool_call_output", "call_id": "call_2", "output": "2"},
            {"type": "function_call_output", "call_id": "call_3", "output": "3"}]}),
        Some(&history),
        "resp_3".into(),
        0,
    )
    .unwrap();
    let m = msgs(&t);
    assert_eq!(m[1]["content"], "ok");
    assert_eq!(m[1]["tool_calls"].as_array().unwrap().len(), 3);
    assert_eq!(m[1]["tool_calls"][2]["function"]["name"], "clock__sleep");
    assert_eq!(m.len(), 5);
}

#[test]
fn non_stream_ends() {
    let (r, _) =
        non_stream(r#"{"choices":[{"finish_reason":"length","message":{"content":"a"}}]}"#);
    assert_eq!(r["status"], "incomplete");
    assert_eq!(
        r["incomplete_details"],
        json!({"reason": "max_output_tokens"})
    );
    let (r, _) =
        non_stream(r#"{"choices":[{"finish_reason":"sensitive","message":{"content":""}}]}"#);
    assert_eq!(r["incomplete_details"], json!({"reason": "content_filter"}));
    assert_eq!(r["output"], json!([]));
    let (r, stored) = non_stream(r#"{"choices":[{"message":{"content":"a"}"#);
    assert_eq!(r["status"], "failed");
    assert_eq!(r["error"]["code"], "server_error");
    assert!(stored.is_none());
    let (r, _) = non_stream(r#"{"error":{"message":"boom"}}"#);
    assert_eq!(r["error"]["message"], "boom");
    let mut t = translator(meta(), false);
    t.feed(b"{\"choices\":");
    let r: Value = serde_json::from_slice(&t.fail("timeout")).unwrap();
    assert_eq!(r["status"], "failed");
    assert_eq!(r["error"]["message"], "timeout");
    assert!(t.finish().is_empty());
}

/// A stored history read in place (turns chained, shared) sends the upstream exactly what the
/// same items sent as one list do, and the new conversation shares the history's memory.
#[test]
fn a_chained_history_translates_as_the_flat_one() {
    let items = [
        json!({"type": "message", "role": "user", "content": "q1"}),
        json!({"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"}),
        json!({"type": "function_call_output", "call_id": "c1", "output": "r1"}),
        json!({"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "a1"}]}),
        json!({"type": "message", "role": "user", "content": "q2"}),
    ];
    let first = History::after(None, items[..2].to_vec());
    let second = History::after(Some(&first), items[2..4].to_vec());
    let third = History::after(Some(&second), items[4..].to_vec());
    for req in [
        json!({"model": "m", "input": [{"type": "function_call_output", "call_id": "x", "output": "o"}]}),
        json!({"model": "m", "input": "q3", "instructions": "be brief", "stream": true}),
        json!({"model": "m"}),
    ] {
        let flat = to_chat(&req, Some(&items), "resp_1".into(), 1).unwrap();
        let chained = continue_chat(&req, Some(&third), "resp_1".into(), 1).unwrap();
        assert_eq!(chained.chat, flat.chat, "{req}");
        assert_eq!(chained.conversation.to_vec(), flat.conversation.to_vec());
        assert!(std::ptr::eq(
            chained.conversation.segments()[0],
            first.segments()[0]
        ));
    }
    // Errors name the same index.
    let bad = json!({"model": "m", "input": [{"type": "nope"}]});
    let flat = to_chat(&bad, Some(&items), "r".into(), 1).unwrap_err();
    let chained = continue_chat(&bad, Some(&third), "r".into(), 1).unwrap_err();
    assert_eq!(flat.param, chained.param);
    assert_eq!(chained.param.as_deref(), Some("input[5].type"));
}
