//! What the provider tests share: a POST that returns status and text, the shell tool the
//! mock answers with a call, and a streamed tool call put back together.

use crate::common::gateway::Gateway;
use serde_json::{json, Value};

pub async fn post(
    gw: &Gateway,
    path: &str,
    headers: &[(&str, &str)],
    body: &Value,
) -> (u16, String) {
    let mut req = reqwest::Client::new().post(gw.url(path)).json(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().await.expect("send");
    let status = r.status().as_u16();
    (status, r.text().await.unwrap_or_default())
}

pub fn shell_tool() -> Value {
    json!({"type": "function", "function": {"name": "shell", "description": "Run a command",
        "parameters": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}}})
}

/// The tool call's id and arguments, joined from the chat SSE deltas.
pub fn tool_call_of(sse: &str) -> (String, String) {
    let (mut id, mut args) = (String::new(), String::new());
    for line in sse.lines() {
        let Some(data) = line.strip_prefix("data: ") else {
            continue;
        };
        let Ok(v) = serde_json::from_str::<Value>(data) else {
            continue;
        };
        if let Some(tc) = v["choices"][0]["delta"]["tool_calls"][0].as_object() {
            if let Some(i) = tc.get("id").and_then(Value::as_str) {
                id = i.to_string();
            }
            if let Some(a) = tc.get("function").and_then(|f| f["arguments"].as_str()) {
                args.push_str(a);
            }
        }
    }
    assert!(!id.is_empty(), "no tool call in {sse}");
    (id, args)
}
