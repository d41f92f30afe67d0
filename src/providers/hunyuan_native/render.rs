//! The typed chat request → the native `ChatCompletions` body (PascalCase).
//!
//! The request comes already fixed to Hunyuan's message rules (system first, user/assistant
//! alternation, tool results paired, no `reasoning_content`, no empty content): this is a
//! change of spelling, not of meaning.
//!
//! | chat | native |
//! | --- | --- |
//! | `model` (required) | `Model` |
//! | `messages[].role` / `content` (string) | `Messages[].Role` / `Content` |
//! | `content` (parts) | `Contents`: `{Type: "text", Text}`, `{Type: "image_url", ImageUrl: {Url}}` |
//! | `tool_call_id` / `tool_calls` | `ToolCallId` / `ToolCalls: [{Id, Type, Function: {Name, Arguments}}]` |
//! | `stream` (boolean) | `Stream` |
//! | `temperature`, `top_p` (numbers only) | `Temperature`, `TopP` |
//! | `seed` (integer only) | `Seed` |
//! | `tools` | `Tools: [{Type, Function: {Name, Description, Parameters}}]`, the schema as JSON *text* |
//! | `tool_choice` `auto` / `none` | `ToolChoice` |
//! | `tool_choice` `{type: function, function: {name}}` | `ToolChoice: "custom"` and `CustomTool` (that tool) |
//! | `tool_choice` `required` | `ToolChoice: "auto"` (the native API has no "any tool"; a lone tool becomes `custom`) |
//! | [`EXTRAS`]: `enable_enhancement`, `search_info`, ... | `EnableEnhancement`, `SearchInfo`, ... (snake_case or PascalCase, right type only) |
//!
//! Not sent, for want of a native equivalent: `max_tokens`, `max_completion_tokens`, `n`,
//! `response_format`, `user`, `stream_options` (a stream always carries usage), `logprobs`,
//! `top_logprobs`, `logit_bias`, `frequency_penalty`, `presence_penalty`,
//! `parallel_tool_calls`, `reasoning_effort`, `metadata`, `store`, and every other member.
//! `stop` is not sent either: the native `Stop` ends the answer *after* the matched text where
//! OpenAI's ends before it, so sending it would change the answer the client gets.
//! `Temperature` and `TopP` are never sent as `null` or a non-number (Tencent refuses the
//! request): a client's `null` means "the default", which is leaving them out.

use serde_json::{json, Map, Value};

use crate::chat::model::{ChatRequest, Content, Message, ToolCall};
use crate::core::translate::TranslateError;

/// Switches the native API has and OpenAI's does not, passed through when the client sent them
/// (in `extra_body`, as snake_case or already PascalCase) with the right JSON type.
pub const EXTRAS: [(&str, &str, Kind); 12] = [
    ("stream_moderation", "StreamModeration", Kind::Bool),
    ("enable_enhancement", "EnableEnhancement", Kind::Bool),
    ("search_info", "SearchInfo", Kind::Bool),
    ("citation", "Citation", Kind::Bool),
    ("enable_speed_search", "EnableSpeedSearch", Kind::Bool),
    ("enable_multimedia", "EnableMultimedia", Kind::Bool),
    ("enable_deep_search", "EnableDeepSearch", Kind::Bool),
    (
        "force_search_enhancement",
        "ForceSearchEnhancement",
        Kind::Bool,
    ),
    (
        "enable_recommended_questions",
        "EnableRecommendedQuestions",
        Kind::Bool,
    ),
    ("enable_deep_read", "EnableDeepRead", Kind::Bool),
    ("enable_thinking", "EnableThinking", Kind::Bool),
    ("topic_choice", "TopicChoice", Kind::Str),
];

/// The JSON type an extra must have to be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bool,
    Str,
}

/// The chat request → the native request body. Errors (HTTP 400 to the client): no `model`, a
/// content part or tool the native API cannot take, a `tool_choice` naming no given tool.
pub fn render(chat: &ChatRequest) -> Result<Value, TranslateError> {
    let p = &chat.params;
    let model = p
        .get("model")
        .and_then(Value::as_str)
        .filter(|m| !m.trim().is_empty())
        .ok_or_else(|| TranslateError::new("`model` is required", "model"))?;
    let mut body = Map::new();
    body.insert("Model".into(), json!(model));
    let messages = chat
        .messages
        .iter()
        .enumerate()
        .map(|(i, m)| message(i, m))
        .collect::<Result<Vec<_>, _>>()?;
    body.insert("Messages".into(), Value::Array(messages));
    if let Some(s) = p.get("stream").and_then(Value::as_bool) {
        body.insert("Stream".into(), json!(s));
    }
    for (from, to) in [("temperature", "Temperature"), ("top_p", "TopP")] {
        if let Some(n) = p.get(from).filter(|v| v.is_number()) {
            body.insert(to.into(), n.clone());
        }
    }
    if let Some(seed) = p.get("seed").filter(|v| v.is_i64() || v.is_u64()) {
        body.insert("Seed".into(), seed.clone());
    }
    tools(p, &mut body)?;
    extras(p, &mut body);
    Ok(Value::Object(body))
}

fn message(i: usize, m: &Message) -> Result<Value, TranslateError> {
    let mut o = Map::new();
    o.insert("Role".into(), json!(m.role.as_str()));
    match &m.content {
        Content::Missing | Content::Other(Value::Null) => {}
        Content::Text(t) => {
            o.insert("Content".into(), json!(t));
        }
        Content::Parts(parts) => {
            o.insert("Contents".into(), contents(i, parts)?);
        }
        // A lone part object, as some clients send one.
        Content::Other(part @ Value::Object(_)) => {
            o.insert("Contents".into(), contents(i, std::slice::from_ref(part))?);
        }
        Content::Other(other) => {
            o.insert("Content".into(), json!(other.to_string()));
        }
    }
    if let Some(id) = &m.tool_call_id {
        o.insert("ToolCallId".into(), json!(id));
    }
    if !m.tool_calls.is_empty() {
        let calls = m.tool_calls.iter().map(tool_call).collect();
        o.insert("ToolCalls".into(), Value::Array(calls));
    }
    Ok(Value::Object(o))
}

fn tool_call(c: &ToolCall) -> Value {
    json!({"Id": c.id, "Type": "function",
        "Function": {"Name": c.name, "Arguments": c.arguments}})
}

/// Content parts → `Contents`: text and images, the only parts the native API takes.
fn contents(i: usize, parts: &[Value]) -> Result<Value, TranslateError> {
    let mut out = Vec::with_capacity(parts.len());
    for (j, p) in parts.iter().enumerate() {
        let at = format!("messages[{i}].content[{j}]");
        let kind = p.get("type").and_then(Value::as_str).unwrap_or("");
        let part = match kind {
            "text" => {
                let text = p.get("text").and_then(Value::as_str).ok_or_else(|| {
                    TranslateError::new("a text part needs a string `text`", format!("{at}.text"))
                })?;
                json!({"Type": "text", "Text": text})
            }
            "image_url" => {
                let iu = p.get("image_url");
                // Some clients send the URL directly instead of `{"url": ...}`.
                let url = iu
                    .and_then(|u| u.get("url"))
                    .or(iu)
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        TranslateError::new(
                            "an image part needs `image_url.url`",
                            format!("{at}.image_url"),
                        )
                    })?;
                json!({"Type": "image_url", "ImageUrl": {"Url": url}})
            }
            other => {
                return Err(TranslateError::new(
                    format!("content parts of type `{other}` cannot be sent to Hunyuan's native API (text and image_url only)"),
                    format!("{at}.type"),
                ))
            }
        };
        out.push(part);
    }
    Ok(Value::Array(out))
}

/// `tools` and `tool_choice` → `Tools`, `ToolChoice`, `CustomTool` (none of them without tools).
fn tools(p: &Map<String, Value>, body: &mut Map<String, Value>) -> Result<(), TranslateError> {
    let list = match p.get("tools") {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::Array(list)) => list,
        Some(_) => return Err(TranslateError::new("`tools` must be an array", "tools")),
    };
    let rendered = list
        .iter()
        .enumerate()
        .map(|(i, t)| tool(i, t))
        .collect::<Result<Vec<_>, _>>()?;
    if rendered.is_empty() {
        return Ok(());
    }
    match p.get("tool_choice") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => match s.as_str() {
            "auto" | "none" => {
                body.insert("ToolChoice".into(), json!(s));
            }
            "required" if rendered.len() == 1 => {
                body.insert("ToolChoice".into(), json!("custom"));
                body.insert("CustomTool".into(), rendered[0].clone());
            }
            "required" => {
                body.insert("ToolChoice".into(), json!("auto"));
            }
            other => {
                return Err(TranslateError::new(
                    format!("unknown `tool_choice` `{other}`"),
                    "tool_choice",
                ))
            }
        },
        Some(choice) => {
            let custom = forced(choice, &rendered)?;
            body.insert("ToolChoice".into(), json!("custom"));
            body.insert("CustomTool".into(), custom);
        }
    }
    body.insert("Tools".into(), Value::Array(rendered));
    Ok(())
}

/// The tool an OpenAI `{"type":"function","function":{"name":N}}` choice forces.
fn forced(choice: &Value, rendered: &[Value]) -> Result<Value, TranslateError> {
    let name = choice
        .pointer("/function/name")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            TranslateError::new(
                "`tool_choice` must be auto, none, required or a function",
                "tool_choice",
            )
        })?;
    rendered
        .iter()
        .find(|t| t.pointer("/Function/Name").and_then(Value::as_str) == Some(name))
        .cloned()
        .ok_or_else(|| {
            TranslateError::new(
                format!("`tool_choice` names `{name}`, which is not in `tools`"),
                "tool_choice",
            )
        })
}

/// An OpenAI function tool → the native tool; `Parameters` is the JSON schema's *text* (the
/// native field is a string), an empty object schema when the tool has none.
fn tool(i: usize, t: &Value) -> Result<Value, TranslateError> {
    let at = format!("tools[{i}]");
    if t.get("type").and_then(Value::as_str) != Some("function") {
        return Err(TranslateError::new(
            "only function tools can be sent to Hunyuan's native API",
            format!("{at}.type"),
        ));
    }
    let f = t.get("function");
    let name = f
        .and_then(|f| f.get("name"))
        .and_then(Value::as_str)
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| {
            TranslateError::new(
                "a tool needs `function.name`",
                format!("{at}.function.name"),
            )
        })?;
    let parameters = match f.and_then(|f| f.get("parameters")) {
        None | Some(Value::Null) => r#"{"type":"object","properties":{}}"#.to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(schema) => schema.to_string(),
    };
    let mut function = Map::new();
    function.insert("Name".into(), json!(name));
    if let Some(d) = f.and_then(|f| f.get("description")).and_then(Value::as_str) {
        function.insert("Description".into(), json!(d));
    }
    function.insert("Parameters".into(), json!(parameters));
    Ok(json!({"Type": "function", "Function": function}))
}

/// The [`EXTRAS`] the client sent, with the right type (anything else would be refused).
fn extras(p: &Map<String, Value>, body: &mut Map<String, Value>) {
    for (snake, pascal, kind) in EXTRAS {
        let v = p.get(snake).or_else(|| p.get(pascal));
        let fits = match kind {
            Kind::Bool => v.is_some_and(Value::is_boolean),
            Kind::Str => v.is_some_and(Value::is_string),
        };
        if let Some(v) = v.filter(|_| fits) {
            body.insert(pascal.into(), v.clone());
        }
    }
}
