//! Responses request → Chat Completions request.

use rustc_hash::FxHashSet;
use serde_json::{json, Map, Value};
use std::sync::Arc;

use super::meta::{ResponseMeta, Translated};
use crate::core::translate::TranslateError;
use crate::state::store::history::History;

/// Fields the gateway handles itself or that chat has no use for: never in the chat body.
/// (`store`, `previous_response_id`: the gateway's store; `include`, `prompt_cache_key`,
/// `truncation`, `service_tier`, `client_metadata`, `text.verbosity`: no chat equivalent.)
type Res<T> = Result<T, TranslateError>;

fn err(message: impl Into<String>, param: impl Into<String>) -> TranslateError {
    TranslateError::new(message, param)
}

/// Translates a Responses request. `history` is the stored conversation named by
/// `previous_response_id` (input items followed by output items), prepended to `input`.
pub fn to_chat(
    req: &Value,
    history: Option<&[Value]>,
    id: String,
    created_at: u64,
) -> Result<Translated, TranslateError> {
    let history = history.map(|h| History::after(None, h.to_vec()));
    continue_chat(req, history.as_ref(), id, created_at)
}

/// [`to_chat`] over a stored [`History`]: its items are read where they are, and the
/// translated conversation ([`Translated::conversation`]) is this request's input after it,
/// sharing its memory.
pub fn continue_chat(
    req: &Value,
    history: Option<&Arc<History>>,
    id: String,
    created_at: u64,
) -> Result<Translated, TranslateError> {
    let Some(obj) = req.as_object() else {
        return Err(TranslateError {
            message: "the request body must be a JSON object".into(),
            param: None,
        });
    };
    let model = match obj.get("model") {
        Some(Value::String(m)) if !m.is_empty() => m.clone(),
        _ => return Err(err("`model` is required and must be a string", "model")),
    };
    if obj.get("background").and_then(Value::as_bool) == Some(true) {
        return Err(err("background responses are not supported", "background"));
    }
    check_types(obj)?;
    let input = normalize_input(obj.get("input"), history.is_some())?;
    let earlier = history.map(|h| h.segments()).unwrap_or_default();

    let mut tools = Tools::default();
    if let Some(list) = obj.get("tools").and_then(Value::as_array) {
        tools.add_all(list, None, "tools")?;
    }
    let mut conv = Conversation::default();
    if let Some(instr) = obj.get("instructions").and_then(Value::as_str) {
        conv.messages
            .push(json!({"role": "system", "content": instr}));
    }
    let items = earlier.into_iter().flatten().chain(&input);
    for (i, item) in items.enumerate() {
        conv.item(item, i, &mut tools)?;
    }
    conv.flush_images();
    if conv.messages.is_empty() {
        return Err(err("`input` must contain at least one message", "input"));
    }

    let stream = obj.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let store = obj.get("store").and_then(Value::as_bool).unwrap_or(true);
    let mut chat = Map::new();
    chat.insert("model".into(), Value::String(model.clone()));
    chat.insert("messages".into(), Value::Array(conv.messages));
    if stream {
        chat.insert("stream".into(), Value::Bool(true));
        chat.insert("stream_options".into(), json!({"include_usage": true}));
    }
    params(obj, &mut chat);
    tools_into_chat(obj, &tools, &mut chat);

    let meta = ResponseMeta {
        id,
        created_at,
        model,
        custom_tools: tools.custom,
        namespaced: tools.namespaced,
        echo: echo(obj),
    };
    Ok(Translated {
        chat: Value::Object(chat),
        stream,
        store,
        meta,
        dropped_tools: tools.dropped,
        conversation: History::after(history, input),
    })
}

/// Rejects wrongly typed top-level fields with the field named, so the client sees a 400
/// instead of a silently ignored setting.
fn check_types(obj: &Map<String, Value>) -> Res<()> {
    type Check = fn(&Value) -> bool;
    let checks: [(&str, Check, &str); 12] = [
        ("stream", Value::is_boolean, "a boolean"),
        ("store", Value::is_boolean, "a boolean"),
        ("parallel_tool_calls", Value::is_boolean, "a boolean"),
        ("temperature", Value::is_number, "a number"),
        ("top_p", Value::is_number, "a number"),
        ("max_output_tokens", Value::is_u64, "a non-negative integer"),
        ("instructions", Value::is_string, "a string"),
        ("tools", Value::is_array, "an array"),
        ("metadata", Value::is_object, "an object"),
        ("text", Value::is_object, "an object"),
        ("reasoning", Value::is_object, "an object"),
        ("user", Value::is_string, "a string"),
    ];
    for (key, ok, what) in checks {
        match obj.get(key) {
            Some(v) if !v.is_null() && !ok(v) => {
                return Err(err(format!("`{key}` must be {what}"), key));
            }
            _ => {}
        }
    }
    Ok(())
}

/// `input` as a list of item objects (a string is one user message; role-only objects get
/// `"type":"message"`), so the stored conversation has one shape.
fn normalize_input(input: Option<&Value>, has_history: bool) -> Res<Vec<Value>> {
    match input {
        None | Some(Value::Null) if has_history => Ok(Vec::new()),
        None | Some(Value::Null) => Err(err("`input` is required", "input")),
        Some(Value::String(s)) => Ok(vec![user_text(s)]),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, it)| normalize_item(it, i))
            .collect(),
        Some(_) => Err(err(
            "`input` must be a string or an array of items",
            "input",
        )),
    }
}

fn user_text(s: &str) -> Value {
    json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": s}]})
}

fn normalize_item(item: &Value, i: usize) -> Res<Value> {
    let Some(o) = item.as_object() else {
        return Err(err(
            "each input item must be an object",
            format!("input[{i}]"),
        ));
    };
    if o.contains_key("type") {
        return Ok(item.clone());
    }
    if o.contains_key("role") {
        let mut o = o.clone();
        o.insert("type".into(), Value::String("message".into()));
        return Ok(Value::Object(o));
    }
    Err(err(
        "input item has neither `type` nor `role`",
        format!("input[{i}]"),
    ))
}

/// Chat sampling parameters and structured output.
fn params(obj: &Map<String, Value>, chat: &mut Map<String, Value>) {
    for key in ["temperature", "top_p", "user"] {
        if let Some(v) = obj.get(key).filter(|v| !v.is_null()) {
            chat.insert(key.into(), v.clone());
        }
    }
    if let Some(v) = obj.get("max_output_tokens").filter(|v| !v.is_null()) {
        chat.insert("max_tokens".into(), v.clone());
    }
    if let Some(e) = obj
        .get("reasoning")
        .and_then(|r| r.get("effort"))
        .and_then(Value::as_str)
    {
        chat.insert("reasoning_effort".into(), Value::String(e.into()));
    }
    if let Some(rf) = obj
        .get("text")
        .and_then(|t| t.get("format"))
        .and_then(response_format)
    {
        chat.insert("response_format".into(), rf);
    }
}

/// `text.format` → chat `response_format` (None for plain text).
fn response_format(f: &Value) -> Option<Value> {
    match f.get("type").and_then(Value::as_str)? {
        "json_object" => Some(json!({"type": "json_object"})),
        "json_schema" => {
            let mut js = Map::new();
            for key in ["name", "schema", "strict", "description"] {
                if let Some(v) = f.get(key).filter(|v| !v.is_null()) {
                    js.insert(key.into(), v.clone());
                }
            }
            // chat requires a name; the Responses API lets clients omit it
            js.entry("name").or_insert_with(|| json!("response"));
            Some(json!({"type": "json_schema", "json_schema": js}))
        }
        _ => None,
    }
}

/// Request fields echoed in the response object, with OpenAI's defaults.
fn echo(obj: &Map<String, Value>) -> Map<String, Value> {
    let defaults = [
        ("instructions", Value::Null),
        ("tools", json!([])),
        ("tool_choice", json!("auto")),
        ("temperature", json!(1.0)),
        ("top_p", json!(1.0)),
        ("parallel_tool_calls", json!(true)),
        ("max_output_tokens", Value::Null),
        ("metadata", json!({})),
        ("store", json!(true)),
        ("text", json!({"format": {"type": "text"}})),
        ("reasoning", json!({"effort": null, "summary": null})),
        ("truncation", json!("disabled")),
        ("previous_response_id", Value::Null),
        ("user", Value::Null),
        ("prompt_cache_key", Value::Null),
        ("service_tier", json!("auto")),
        ("background", json!(false)),
    ];
    defaults
        .into_iter()
        .map(|(k, d)| {
            let v = obj.get(k).filter(|v| !v.is_null()).cloned().unwrap_or(d);
            (k.to_string(), v)
        })
        .collect()
}

/// The client's tools as chat function tools. The sets answer "seen already?" in constant
/// time: a scan of the lists per tool made 128,000 tools take 10 s.
#[derive(Default)]
struct Tools {
    chat: Vec<Value>,
    /// Names in `chat`.
    names: FxHashSet<String>,
    custom: Vec<String>,
    namespaced: Vec<(String, String, String)>,
    /// Flat names in `namespaced`.
    flat: FxHashSet<String>,
    dropped: Vec<String>,
    /// Types in `dropped`.
    dropped_seen: FxHashSet<String>,
}

/// Namespace whose tools the model calls by their bare name (Codex's own tools).
const PLAIN_NAMESPACE: &str = "functions";

impl Tools {
    fn add_all(&mut self, list: &[Value], ns: Option<&str>, param: &str) -> Res<()> {
        for (i, t) in list.iter().enumerate() {
            self.add(t, ns, &format!("{param}[{i}]"))?;
        }
        Ok(())
    }

    fn add(&mut self, t: &Value, ns: Option<&str>, param: &str) -> Res<()> {
        let kind = t
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| err("tool needs a string `type`", format!("{param}.type")))?;
        match kind {
            "function" | "custom" => {
                let name = t
                    .get("name")
                    .and_then(Value::as_str)
                    .filter(|n| !n.is_empty())
                    .ok_or_else(|| err("tool needs a `name`", format!("{param}.name")))?;
                let chat_name = self.chat_name(name, ns);
                if self.has(&chat_name) {
                    return Ok(());
                }
                let tool = if kind == "custom" {
                    self.custom.push(chat_name.clone());
                    custom_tool(t, &chat_name)
                } else {
                    function_tool(t, &chat_name)
                };
                self.chat.push(tool);
                self.names.insert(chat_name);
                Ok(())
            }
            "namespace" => {
                let ns_name = t
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or(PLAIN_NAMESPACE);
                let inner = t
                    .get("tools")
                    .and_then(Value::as_array)
                    .map_or(&[][..], Vec::as_slice);
                self.add_all(inner, Some(ns_name), &format!("{param}.tools"))
            }
            other => {
                if self.dropped_seen.insert(other.to_string()) {
                    self.dropped.push(other.to_string());
                }
                Ok(())
            }
        }
    }

    /// `ns__name` for namespaced tools (chat has no namespaces), remembered for the answer.
    fn chat_name(&mut self, name: &str, ns: Option<&str>) -> String {
        match ns {
            Some(ns) if ns != PLAIN_NAMESPACE => {
                let flat = format!("{ns}__{name}");
                if self.flat.insert(flat.clone()) {
                    self.namespaced
                        .push((flat.clone(), ns.to_string(), name.to_string()));
                }
                flat
            }
            _ => name.to_string(),
        }
    }

    fn has(&self, chat_name: &str) -> bool {
        self.names.contains(chat_name)
    }
}

fn function_tool(t: &Value, name: &str) -> Value {
    let mut f = Map::new();
    f.insert("name".into(), Value::String(name.into()));
    if let Some(d) = t.get("description").filter(|d| d.is_string()) {
        f.insert("description".into(), d.clone());
    }
    let params = t
        .get("parameters")
        .filter(|p| p.is_object())
        .cloned()
        .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
    f.insert("parameters".into(), params);
    if let Some(s) = t.get("strict").filter(|s| s.is_boolean()) {
        f.insert("strict".into(), s.clone());
    }
    json!({"type": "function", "function": f})
}

/// A freeform tool becomes a function taking one string, `input`; its grammar goes into the
/// description since chat cannot constrain the output to it.
fn custom_tool(t: &Value, name: &str) -> Value {
    let mut desc = t
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let fmt = t.get("format");
    let input_desc = match fmt.and_then(|f| f.get("type")).and_then(Value::as_str) {
        Some("grammar") => {
            let syntax = fmt
                .and_then(|f| f.get("syntax"))
                .and_then(Value::as_str)
                .unwrap_or("");
            let def = fmt
                .and_then(|f| f.get("definition"))
                .and_then(Value::as_str)
                .unwrap_or("");
            format!("The raw tool input. It must match this {syntax} grammar:\n{def}")
        }
        _ => "The raw tool input (free-form text).".to_string(),
    };
    if !desc.is_empty() {
        desc.push_str("\n\n");
    }
    desc.push_str("Pass the whole raw input as the string argument `input` (no JSON inside it unless the tool expects JSON).");
    json!({"type": "function", "function": {
        "name": name,
        "description": desc,
        "parameters": {
            "type": "object",
            "properties": {"input": {"type": "string", "description": input_desc}},
            "required": ["input"],
        },
    }})
}

/// Puts tools, `tool_choice` and `parallel_tool_calls` in the chat body, only when tools
/// remain (chat providers reject `tool_choice` without tools).
fn tools_into_chat(obj: &Map<String, Value>, tools: &Tools, chat: &mut Map<String, Value>) {
    if tools.chat.is_empty() {
        return;
    }
    chat.insert("tools".into(), Value::Array(tools.chat.clone()));
    if let Some(choice) = obj.get("tool_choice").filter(|c| !c.is_null()) {
        chat.insert("tool_choice".into(), tool_choice(choice, tools));
    }
    if let Some(p) = obj.get("parallel_tool_calls").filter(|p| p.is_boolean()) {
        chat.insert("parallel_tool_calls".into(), p.clone());
    }
}

fn tool_choice(choice: &Value, tools: &Tools) -> Value {
    if let Some(s) = choice.as_str() {
        return match s {
            "none" | "required" => json!(s),
            _ => json!("auto"),
        };
    }
    let kind = choice.get("type").and_then(Value::as_str).unwrap_or("");
    match kind {
        "function" | "custom" => {
            let name = choice.get("name").and_then(Value::as_str).unwrap_or("");
            let ns = choice.get("namespace").and_then(Value::as_str);
            let flat = match ns {
                Some(ns) if ns != PLAIN_NAMESPACE => format!("{ns}__{name}"),
                _ => name.to_string(),
            };
            if tools.has(&flat) {
                json!({"type": "function", "function": {"name": flat}})
            } else {
                json!("auto")
            }
        }
        "allowed_tools" => match choice.get("mode").and_then(Value::as_str) {
            Some("required") => json!("required"),
            _ => json!("auto"),
        },
        _ => json!("auto"),
    }
}

/// Builds chat messages from input items, merging tool calls into the preceding assistant
/// message and holding images from tool outputs until the run of tool messages ends.
#[derive(Default)]
struct Conversation {
    messages: Vec<Value>,
    /// Images returned by tool outputs: chat tool messages carry text only, so they go in a
    /// user message after the tool results.
    pending_images: Vec<Value>,
}

impl Conversation {
    fn item(&mut self, item: &Value, i: usize, tools: &mut Tools) -> Res<()> {
        let p = format!("input[{i}]");
        let kind = item
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("message");
        match kind {
            "message" => self.message(item, &p),
            "function_call" => {
                let name = str_field(item, "name", &p)?;
                let name = match item.get("namespace").and_then(Value::as_str) {
                    Some(ns) if ns != PLAIN_NAMESPACE => format!("{ns}__{name}"),
                    _ => name.to_string(),
                };
                let args = match item.get("arguments") {
                    Some(Value::String(s)) => s.clone(),
                    None | Some(Value::Null) => "{}".to_string(),
                    Some(v) => v.to_string(),
                };
                self.tool_call(str_field(item, "call_id", &p)?, &name, args);
                Ok(())
            }
            "custom_tool_call" => {
                let input = item.get("input").and_then(Value::as_str).unwrap_or("");
                let args = json!({"input": input}).to_string();
                let name = str_field(item, "name", &p)?;
                self.tool_call(str_field(item, "call_id", &p)?, name, args);
                Ok(())
            }
            "local_shell_call" => {
                let call_id = item
                    .get("call_id")
                    .or_else(|| item.get("id"))
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        err("local_shell_call needs `call_id`", format!("{p}.call_id"))
                    })?;
                let args = item.get("action").cloned().unwrap_or_else(|| json!({}));
                self.tool_call(call_id, "local_shell", args.to_string());
                Ok(())
            }
            "function_call_output" | "custom_tool_call_output" | "local_shell_call_output" => {
                self.tool_output(item, &p)
            }
            "additional_tools" => {
                let list = item
                    .get("tools")
                    .and_then(Value::as_array)
                    .map_or(&[][..], Vec::as_slice);
                tools.add_all(list, None, &format!("{p}.tools"))
            }
            // Reasoning is the model's own scratch work (often encrypted): chat cannot take it.
            // Built-in tool calls were executed by OpenAI; their tools are not available here.
            "reasoning"
            | "web_search_call"
            | "file_search_call"
            | "image_generation_call"
            | "code_interpreter_call"
            | "computer_call"
            | "computer_call_output"
            | "mcp_list_tools" => Ok(()),
            "item_reference" => Err(err(
                "item references are not supported; send the item itself",
                p,
            )),
            other => Err(err(
                format!("unsupported input item type `{other}`"),
                format!("{p}.type"),
            )),
        }
    }

    fn message(&mut self, item: &Value, p: &str) -> Res<()> {
        let role = match item.get("role").and_then(Value::as_str) {
            Some("user") => "user",
            Some("assistant") => "assistant",
            Some("system") | Some("developer") => "system",
            _ => {
                return Err(err(
                    "message role must be user, assistant, system or developer",
                    format!("{p}.role"),
                ))
            }
        };
        let content = content(item.get("content"), role, p)?;
        self.flush_images();
        if role == "system" && self.append_to_system(&content) {
            return Ok(());
        }
        self.messages
            .push(json!({"role": role, "content": content}));
        Ok(())
    }

    /// Consecutive system/developer messages (Codex sends four) become one: several system
    /// messages in a row are rejected or ignored by some chat providers. Appended in place:
    /// rebuilding the joined text for each one was quadratic in a run of them.
    fn append_to_system(&mut self, content: &Value) -> bool {
        let Some(text) = content.as_str() else {
            return false;
        };
        let Some(last) = self.messages.last_mut().and_then(Value::as_object_mut) else {
            return false;
        };
        if last.get("role").and_then(Value::as_str) != Some("system") {
            return false;
        }
        let Some(Value::String(prev)) = last.get_mut("content") else {
            return false;
        };
        prev.push_str("\n\n");
        prev.push_str(text);
        true
    }

    /// Appends a tool call to the last message when it is an assistant message, else starts one.
    fn tool_call(&mut self, call_id: &str, name: &str, arguments: String) {
        self.flush_images();
        let call = json!({"id": call_id, "type": "function",
            "function": {"name": name, "arguments": arguments}});
        if let Some(last) = self.messages.last_mut().and_then(Value::as_object_mut) {
            if last.get("role").and_then(Value::as_str) == Some("assistant") {
                let calls = last.entry("tool_calls").or_insert_with(|| json!([]));
                if let Some(list) = calls.as_array_mut() {
                    list.push(call);
                    return;
                }
            }
        }
        self.messages
            .push(json!({"role": "assistant", "content": null, "tool_calls": [call]}));
    }

    fn tool_output(&mut self, item: &Value, p: &str) -> Res<()> {
        let call_id = item
            .get("call_id")
            .or_else(|| item.get("id"))
            .and_then(Value::as_str)
            .ok_or_else(|| {
                err(
                    "tool output needs a string `call_id`",
                    format!("{p}.call_id"),
                )
            })?;
        let (text, images) = match item.get("output") {
            Some(Value::String(s)) => (s.clone(), Vec::new()),
            Some(Value::Array(parts)) => output_parts(parts, &format!("{p}.output"))?,
            None | Some(Value::Null) => (String::new(), Vec::new()),
            Some(v) => (v.to_string(), Vec::new()),
        };
        self.messages
            .push(json!({"role": "tool", "tool_call_id": call_id, "content": text}));
        self.pending_images.extend(images);
        Ok(())
    }

    fn flush_images(&mut self) {
        if self.pending_images.is_empty() {
            return;
        }
        let mut parts =
            vec![json!({"type": "text", "text": "Images returned by the tool calls above:"})];
        parts.append(&mut self.pending_images);
        self.messages
            .push(json!({"role": "user", "content": parts}));
    }
}

fn str_field<'a>(item: &'a Value, key: &str, p: &str) -> Res<&'a str> {
    item.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| err(format!("`{key}` must be a string"), format!("{p}.{key}")))
}

/// Message content: a string, or parts. Text-only content becomes one string (what every
/// chat provider accepts); images keep the parts form (user messages only).
fn content(c: Option<&Value>, role: &str, p: &str) -> Res<Value> {
    let parts = match c {
        None | Some(Value::Null) => return Ok(json!("")),
        Some(Value::String(s)) => return Ok(json!(s)),
        Some(Value::Array(parts)) => parts,
        Some(_) => {
            return Err(err(
                "content must be a string or an array",
                format!("{p}.content"),
            ))
        }
    };
    let mut out = Vec::new();
    for (j, part) in parts.iter().enumerate() {
        out.push(part_to_chat(part, &format!("{p}.content[{j}]"))?);
    }
    let has_image = out.iter().any(|x| x.get("type") != Some(&json!("text")));
    if !has_image {
        return Ok(json!(join_text(&out)));
    }
    if role != "user" {
        return Err(err(
            "images are only supported in user messages",
            format!("{p}.content"),
        ));
    }
    Ok(Value::Array(out))
}

fn join_text(parts: &[Value]) -> String {
    let texts: Vec<&str> = parts
        .iter()
        .filter_map(|x| x.get("text").and_then(Value::as_str))
        .collect();
    texts.join("\n")
}

/// One content part as a chat part (`text` or `image_url`).
fn part_to_chat(part: &Value, p: &str) -> Res<Value> {
    if let Some(s) = part.as_str() {
        return Ok(json!({"type": "text", "text": s}));
    }
    let kind = part.get("type").and_then(Value::as_str).unwrap_or("");
    match kind {
        "input_text" | "output_text" | "text" | "summary_text" | "reasoning_text" => {
            Ok(json!({"type": "text", "text": str_field(part, "text", p)?}))
        }
        "refusal" => Ok(json!({"type": "text", "text": str_field(part, "refusal", p)?})),
        "input_image" => image(part, p),
        "input_file" => file(part, p),
        other => Err(err(
            format!("unsupported content part type `{other}`"),
            format!("{p}.type"),
        )),
    }
}

fn image(part: &Value, p: &str) -> Res<Value> {
    let url = match part.get("image_url") {
        Some(Value::String(u)) => u.as_str(),
        Some(Value::Object(o)) => o.get("url").and_then(Value::as_str).unwrap_or(""),
        _ => "",
    };
    if url.is_empty() {
        if part.get("file_id").is_some() {
            return Err(err(
                "images by `file_id` are not supported; send `image_url` (a data: or https: URL)",
                format!("{p}.file_id"),
            ));
        }
        return Err(err(
            "input_image needs `image_url`",
            format!("{p}.image_url"),
        ));
    }
    if !(url.starts_with("data:") || url.starts_with("http://") || url.starts_with("https://")) {
        return Err(err(
            "`image_url` must be a data: or http(s): URL",
            format!("{p}.image_url"),
        ));
    }
    let mut img = Map::new();
    img.insert("url".into(), json!(url));
    if let Some(d) = part.get("detail").and_then(Value::as_str) {
        img.insert("detail".into(), json!(d));
    }
    Ok(json!({"type": "image_url", "image_url": img}))
}

/// Files are accepted only when they carry plain text that can be inlined.
fn file(part: &Value, p: &str) -> Res<Value> {
    let data = part.get("file_data").and_then(Value::as_str).unwrap_or("");
    if let Some(text) = data.strip_prefix("data:text/plain,") {
        let name = part
            .get("filename")
            .and_then(Value::as_str)
            .unwrap_or("file");
        return Ok(json!({"type": "text", "text": format!("[{name}]\n{text}")}));
    }
    Err(err(
        "input_file is not supported by this model; send the file's text as input_text",
        p,
    ))
}

/// A tool output given as parts: the text joined, the images apart.
fn output_parts(parts: &[Value], p: &str) -> Res<(String, Vec<Value>)> {
    let mut texts = Vec::new();
    let mut images = Vec::new();
    for (j, part) in parts.iter().enumerate() {
        let c = part_to_chat(part, &format!("{p}[{j}]"))?;
        match c.get("text").and_then(Value::as_str) {
            Some(t) => texts.push(t.to_string()),
            None => images.push(c),
        }
    }
    Ok((texts.join("\n"), images))
}
