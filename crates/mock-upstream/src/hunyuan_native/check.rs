//! The native request, checked strictly: PascalCase members of Tencent's `ChatCompletions`
//! only, values of the documented types and ranges (`Temperature` or `TopP` sent as `null` is
//! refused, as Tencent's parameter validation does), tools with their schema as JSON text, and
//! Hunyuan's message rules ([`crate::strict`], on the request turned into chat's shape).

use serde_json::{json, Map, Value};

use super::Refusal;
use crate::strict;

/// The members of `ChatCompletionsRequest` (Tencent's SDK, API version 2023-09-01).
const MEMBERS: [&str; 23] = [
    "Model",
    "Messages",
    "Stream",
    "StreamModeration",
    "TopP",
    "Temperature",
    "EnableEnhancement",
    "Tools",
    "ToolChoice",
    "CustomTool",
    "SearchInfo",
    "Citation",
    "EnableSpeedSearch",
    "EnableMultimedia",
    "EnableDeepSearch",
    "Seed",
    "ForceSearchEnhancement",
    "Stop",
    "EnableRecommendedQuestions",
    "EnableDeepRead",
    "WebSearchOptions",
    "TopicChoice",
    "EnableThinking",
];

const BOOLEANS: [&str; 12] = [
    "Stream",
    "StreamModeration",
    "EnableEnhancement",
    "SearchInfo",
    "Citation",
    "EnableSpeedSearch",
    "EnableMultimedia",
    "EnableDeepSearch",
    "ForceSearchEnhancement",
    "EnableRecommendedQuestions",
    "EnableDeepRead",
    "EnableThinking",
];

/// The members of a `Message`.
const MESSAGE_MEMBERS: [&str; 6] = [
    "Role",
    "Content",
    "Contents",
    "ToolCallId",
    "ToolCalls",
    "FileIDs",
];

pub(super) fn refuse(code: &'static str, message: impl Into<String>) -> Refusal {
    Refusal {
        code,
        message: message.into(),
    }
}

pub(super) fn invalid_value(name: &str) -> Refusal {
    refuse(
        "InvalidParameterValue",
        format!("The value of parameter `{name}` is invalid."),
    )
}

pub(super) fn unknown(name: &str) -> Refusal {
    refuse(
        "UnknownParameter",
        format!("The parameter `{name}` is not recognized."),
    )
}

pub(super) fn missing(name: &str) -> Refusal {
    refuse(
        "MissingParameter",
        format!("The request is missing a required parameter `{name}`."),
    )
}

/// Checks a native request; on success gives it in OpenAI chat's shape (what the answer is
/// made from).
pub fn check(req: &Value) -> Result<Value, Refusal> {
    let obj = req.as_object().ok_or_else(|| {
        refuse(
            "InvalidParameter",
            "The request body must be a JSON object.",
        )
    })?;
    if let Some(k) = obj.keys().find(|k| !MEMBERS.contains(&k.as_str())) {
        return Err(unknown(k));
    }
    let model = match obj.get("Model") {
        Some(Value::String(m)) if !m.trim().is_empty() => m.as_str(),
        Some(_) => return Err(invalid_value("Model")),
        None => return Err(missing("Model")),
    };
    check_scalars(obj)?;
    let tools = check_tools(obj)?;
    let messages = match obj.get("Messages") {
        Some(Value::Array(m)) => m,
        Some(_) => return Err(invalid_value("Messages")),
        None => return Err(missing("Messages")),
    };
    if messages.len() > strict::MAX_MESSAGES {
        return Err(refuse(
            "InvalidParameter",
            format!(
                "Messages 长度最多为 {} (got {})",
                strict::MAX_MESSAGES,
                messages.len()
            ),
        ));
    }
    let messages = messages
        .iter()
        .enumerate()
        .map(|(i, m)| message(i, m))
        .collect::<Result<Vec<_>, _>>()?;
    let mut chat = json!({"model": model, "messages": messages});
    if !tools.is_empty() {
        chat["tools"] = Value::Array(tools);
    }
    strict::check_chat(&chat, model.contains("vision"))
        .map_err(|v| refuse("InvalidParameter", v.message))?;
    Ok(chat)
}

/// Temperature, TopP and Seed in range (never `null`), the switches booleans, the rest typed.
fn check_scalars(obj: &Map<String, Value>) -> Result<(), Refusal> {
    for (name, min, max) in [("Temperature", 0.0, 2.0), ("TopP", 0.0, 1.0)] {
        if let Some(v) = obj.get(name) {
            let x = v.as_f64().ok_or_else(|| invalid_value(name))?;
            if !(min..=max).contains(&x) {
                return Err(invalid_value(name));
            }
        }
    }
    if let Some(v) = obj.get("Seed") {
        if !v.as_u64().is_some_and(|s| (1..=10_000).contains(&s)) {
            return Err(invalid_value("Seed"));
        }
    }
    if let Some(k) = BOOLEANS
        .iter()
        .find(|k| obj.get(**k).is_some_and(|v| !v.is_boolean()))
    {
        return Err(invalid_value(k));
    }
    let strings = |v: &Value| v.as_array().is_some_and(|a| a.iter().all(Value::is_string));
    let typed = [
        ("Stop", obj.get("Stop").is_none_or(strings)),
        (
            "TopicChoice",
            obj.get("TopicChoice").is_none_or(Value::is_string),
        ),
        (
            "WebSearchOptions",
            obj.get("WebSearchOptions").is_none_or(Value::is_object),
        ),
    ];
    match typed.iter().find(|(_, ok)| !ok) {
        Some((name, _)) => Err(invalid_value(name)),
        None => Ok(()),
    }
}

/// `Tools`, `ToolChoice` and `CustomTool`; the tools in chat's shape.
fn check_tools(obj: &Map<String, Value>) -> Result<Vec<Value>, Refusal> {
    let tools = match obj.get("Tools") {
        None => Vec::new(),
        Some(Value::Array(list)) => list
            .iter()
            .map(|t| tool(t, "Tools"))
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) => return Err(invalid_value("Tools")),
    };
    match obj.get("ToolChoice") {
        None => {}
        Some(Value::String(c)) if c == "none" || c == "auto" => {}
        Some(Value::String(c)) if c == "custom" => {
            let custom = obj.get("CustomTool").ok_or_else(|| missing("CustomTool"))?;
            tool(custom, "CustomTool")?;
        }
        Some(_) => return Err(invalid_value("ToolChoice")),
    }
    Ok(tools)
}

/// A native tool (`{Type: "function", Function: {Name, Description, Parameters}}`, the schema
/// a JSON *string*) → chat's tool.
fn tool(t: &Value, at: &str) -> Result<Value, Refusal> {
    let o = t.as_object().ok_or_else(|| invalid_value(at))?;
    if let Some(k) = o
        .keys()
        .find(|k| !matches!(k.as_str(), "Type" | "Function"))
    {
        return Err(unknown(&format!("{at}.{k}")));
    }
    if o.get("Type").and_then(Value::as_str) != Some("function") {
        return Err(invalid_value(&format!("{at}.Type")));
    }
    let f = o
        .get("Function")
        .and_then(Value::as_object)
        .ok_or_else(|| missing(&format!("{at}.Function")))?;
    if let Some(k) = f
        .keys()
        .find(|k| !matches!(k.as_str(), "Name" | "Description" | "Parameters"))
    {
        return Err(unknown(&format!("{at}.Function.{k}")));
    }
    let name = f
        .get("Name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| missing(&format!("{at}.Function.Name")))?;
    let schema = match f.get("Parameters") {
        Some(Value::String(s)) => serde_json::from_str::<Value>(s)
            .ok()
            .filter(Value::is_object)
            .ok_or_else(|| invalid_value(&format!("{at}.Function.Parameters")))?,
        Some(_) => return Err(invalid_value(&format!("{at}.Function.Parameters"))),
        None => json!({"type": "object", "properties": {}}),
    };
    if f.get("Description").is_some_and(|d| !d.is_string()) {
        return Err(invalid_value(&format!("{at}.Function.Description")));
    }
    Ok(json!({"type": "function", "function": {"name": name,
        "description": f.get("Description").cloned().unwrap_or(json!("")), "parameters": schema}}))
}

/// A native message → chat's message (roles and order are [`strict`]'s to judge).
fn message(i: usize, m: &Value) -> Result<Value, Refusal> {
    let at = format!("Messages.{i}");
    let o = m.as_object().ok_or_else(|| invalid_value(&at))?;
    if o.contains_key("ReasoningContent") {
        return Err(refuse(
            "InvalidParameter",
            "Messages 中不支持 ReasoningContent：多轮对话时请不要将思维链拼接到 messages 中",
        ));
    }
    if let Some(k) = o.keys().find(|k| !MESSAGE_MEMBERS.contains(&k.as_str())) {
        return Err(unknown(&format!("{at}.{k}")));
    }
    let role = o
        .get("Role")
        .and_then(Value::as_str)
        .ok_or_else(|| missing(&format!("{at}.Role")))?;
    let mut chat = json!({"role": role});
    match (o.get("Content"), o.get("Contents")) {
        (Some(_), Some(_)) => {
            return Err(refuse(
                "InvalidParameter",
                format!("{at}: Content 和 Contents 不能同时使用"),
            ))
        }
        (Some(Value::String(c)), None) => chat["content"] = json!(c),
        (Some(_), None) => return Err(invalid_value(&format!("{at}.Content"))),
        (None, Some(parts)) => chat["content"] = contents(&at, parts)?,
        (None, None) => {}
    }
    if let Some(id) = o.get("ToolCallId") {
        chat["tool_call_id"] = id
            .as_str()
            .map(|s| json!(s))
            .ok_or_else(|| invalid_value(&format!("{at}.ToolCallId")))?;
    }
    if let Some(calls) = o.get("ToolCalls") {
        chat["tool_calls"] = tool_calls(&at, calls)?;
    }
    Ok(chat)
}

/// `Contents` → chat's content parts.
fn contents(at: &str, parts: &Value) -> Result<Value, Refusal> {
    let list = parts
        .as_array()
        .ok_or_else(|| invalid_value(&format!("{at}.Contents")))?;
    let mut out = Vec::with_capacity(list.len());
    for (j, p) in list.iter().enumerate() {
        let bad = || invalid_value(&format!("{at}.Contents.{j}"));
        let part = match p.get("Type").and_then(Value::as_str) {
            Some("text") => {
                json!({"type": "text", "text": p.get("Text").and_then(Value::as_str).ok_or_else(bad)?})
            }
            Some("image_url") => {
                let url = p
                    .pointer("/ImageUrl/Url")
                    .and_then(Value::as_str)
                    .ok_or_else(bad)?;
                json!({"type": "image_url", "image_url": {"url": url}})
            }
            _ => return Err(bad()),
        };
        out.push(part);
    }
    Ok(Value::Array(out))
}

/// `ToolCalls` → chat's tool calls.
fn tool_calls(at: &str, calls: &Value) -> Result<Value, Refusal> {
    let list = calls
        .as_array()
        .ok_or_else(|| invalid_value(&format!("{at}.ToolCalls")))?;
    let mut out = Vec::with_capacity(list.len());
    for (j, c) in list.iter().enumerate() {
        let bad = || invalid_value(&format!("{at}.ToolCalls.{j}"));
        let id = c.get("Id").and_then(Value::as_str).ok_or_else(bad)?;
        let name = c
            .pointer("/Function/Name")
            .and_then(Value::as_str)
            .ok_or_else(bad)?;
        let args = c
            .pointer("/Function/Arguments")
            .and_then(Value::as_str)
            .ok_or_else(bad)?;
        if c.get("Type").is_some_and(|t| t != "function") {
            return Err(bad());
        }
        out.push(json!({"id": id, "type": "function",
            "function": {"name": name, "arguments": args}}));
    }
    Ok(Value::Array(out))
}
