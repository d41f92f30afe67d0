//! The mock as an agent's model: when the request offers a shell-like tool and the user asks
//! for a command in backticks ("Run `echo hi`"), it answers with a call of that tool; when the
//! last message is that tool's result, it answers with text quoting the output. Coding agents
//! (Codex CLI, Claude Code) complete a real tool round trip against it this way.
//!
//! Reasoning models (a model name containing `-t1`, as hunyuan-t1) also send
//! `reasoning_content` first, as Hunyuan does.

use serde_json::{json, Map, Value};

/// What the mock answers a chat request with.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Text(String),
    ToolCall {
        id: String,
        name: String,
        arguments: String,
    },
}

/// Tool names that run a shell command, in the agents that matter (Codex `exec_command` /
/// `shell`, Claude Code `Bash`, Cline `execute_command`, ...).
const SHELL_TOOLS: [&str; 7] = [
    "exec_command",
    "shell",
    "bash",
    "local_shell",
    "execute_command",
    "run_shell_command",
    "run_terminal_cmd",
];

/// Decides the reply for an agent-shaped request (`None`: not agent-shaped; answer as usual).
pub fn reply(req: &Value, serial: u64) -> Option<Reply> {
    let msgs = req.get("messages").and_then(Value::as_array)?;
    let last = msgs.last()?;
    match last.get("role").and_then(Value::as_str)? {
        "tool" => Some(Reply::Text(format!(
            "The command printed: {}",
            first_chars(&text_of(last.get("content")), 400).trim()
        ))),
        "user" => {
            let command = backticked(&text_of(last.get("content")))?;
            let tool = shell_tool(req)?;
            Some(Reply::ToolCall {
                id: format!("call_mock_{serial}"),
                name: tool_name(tool)?.to_string(),
                arguments: arguments(tool, &command).to_string(),
            })
        }
        _ => None,
    }
}

/// The reasoning a `-t1` model streams before its answer.
pub fn reasoning_for(model: &str, req: &Value) -> Option<String> {
    model.contains("-t1").then(|| {
        let n = req
            .get("messages")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        format!("The conversation has {n} messages; answering the last one.")
    })
}

fn text_of(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

fn first_chars(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// The first `…` span of the user's text.
fn backticked(text: &str) -> Option<String> {
    let start = text.find('`')? + 1;
    let len = text[start..].find('`')?;
    let cmd = text[start..start + len].trim();
    (!cmd.is_empty()).then(|| cmd.to_string())
}

fn tool_name(tool: &Value) -> Option<&str> {
    tool.pointer("/function/name").and_then(Value::as_str)
}

fn properties(tool: &Value) -> Option<&Map<String, Value>> {
    tool.pointer("/function/parameters/properties")
        .and_then(Value::as_object)
}

/// A shell-like function tool: by name, or by a `command` / `cmd` parameter.
fn shell_tool(req: &Value) -> Option<&Value> {
    let tools = req.get("tools").and_then(Value::as_array)?;
    let by_name = tools.iter().find(|t| {
        tool_name(t).is_some_and(|n| SHELL_TOOLS.contains(&n.to_ascii_lowercase().as_str()))
    });
    by_name.or_else(|| {
        tools.iter().find(|t| {
            properties(t).is_some_and(|p| p.contains_key("command") || p.contains_key("cmd"))
        })
    })
}

/// Arguments for the tool's own schema: `cmd` or `command`, a string or an argv array.
fn arguments(tool: &Value, command: &str) -> Value {
    let props = properties(tool);
    let field = match props {
        Some(p) if p.contains_key("cmd") && !p.contains_key("command") => "cmd",
        _ => "command",
    };
    let is_array = props
        .and_then(|p| p.get(field))
        .and_then(|f| f.get("type"))
        .and_then(Value::as_str)
        == Some("array");
    let value = if is_array {
        json!(["bash", "-lc", command])
    } else {
        json!(command)
    };
    let mut args = Map::new();
    args.insert(field.to_string(), value);
    if props.is_some_and(|p| p.contains_key("description")) {
        args.insert("description".into(), json!("Run the requested command"));
    }
    if props.is_some_and(|p| p.contains_key("input"))
        && !props.is_some_and(|p| p.contains_key(field))
    {
        args.insert("input".into(), json!(command));
    }
    Value::Object(args)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(name: &str, props: Value) -> Value {
        json!({"type": "function", "function": {"name": name, "parameters": {"type": "object", "properties": props}}})
    }

    #[test]
    fn calls_the_shell_tool_then_reports_its_output() {
        let req = json!({
            "tools": [tool("read", json!({"path": {"type": "string"}})),
                      tool("Bash", json!({"command": {"type": "string"}, "description": {"type": "string"}}))],
            "messages": [{"role": "user", "content": "Run `echo relay-ok-42` please"}],
        });
        let Some(Reply::ToolCall {
            name, arguments, ..
        }) = reply(&req, 1)
        else {
            panic!("expected a tool call");
        };
        assert_eq!(name, "Bash");
        let args: Value = serde_json::from_str(&arguments).unwrap();
        assert_eq!(args["command"], "echo relay-ok-42");
        let done = json!({"messages": [{"role": "tool", "tool_call_id": "c", "content": "relay-ok-42\n"}]});
        assert_eq!(
            reply(&done, 2),
            Some(Reply::Text("The command printed: relay-ok-42".into()))
        );
    }

    #[test]
    fn codex_shapes() {
        let req = json!({
            "tools": [tool("exec_command", json!({"cmd": {"type": "string"}, "workdir": {"type": "string"}}))],
            "messages": [{"role": "user", "content": [{"type": "text", "text": "run `ls`"}]}],
        });
        let Some(Reply::ToolCall { arguments, .. }) = reply(&req, 1) else {
            panic!("expected a tool call");
        };
        assert_eq!(arguments, r#"{"cmd":"ls"}"#);
        let req = json!({
            "tools": [tool("shell", json!({"command": {"type": "array", "items": {"type": "string"}}}))],
            "messages": [{"role": "user", "content": "run `ls`"}],
        });
        let Some(Reply::ToolCall { arguments, .. }) = reply(&req, 1) else {
            panic!("expected a tool call");
        };
        assert_eq!(arguments, r#"{"command":["bash","-lc","ls"]}"#);
        let plain = json!({"messages": [{"role": "user", "content": "hi"}]});
        assert_eq!(reply(&plain, 1), None);
    }
}
