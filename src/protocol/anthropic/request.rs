//! Messages request → chat request.
//!
//! Anthropic content is a list of typed blocks; chat has roles with string or part-list
//! content, `tool_calls` on assistant messages and `tool` messages for results. The mapping
//! keeps everything a chat model can use and drops what it can't (thinking signatures, server
//! tools), never user-visible text. What can't be dropped silently (a PDF) is a 400 so the
//! user learns why. Cache breakpoints (`cache_control`) stay on the chat part, tool call or
//! tool the block became (see [`crate::protocol::cache_hint`]); a hinted text stays a part.

use super::count::estimate_request;
use super::meta::{tool_id, MessageMeta, Translated};
use crate::core::translate::TranslateError;
use crate::protocol::cache_hint;
use rustc_hash::FxHashMap;
use serde_json::{json, Map, Value};

/// Translates a Messages request; `id` is the `msg_…` id the gateway chose for the answer.
///
/// Unknown top-level fields (`context_management`, `service_tier`, `container`,
/// `mcp_servers`, `top_k`, …) are ignored rather than refused: Claude Code adds new ones
/// with every release and a gateway that 400s on them breaks it.
pub fn to_chat(req: &Value, id: String) -> Result<Translated, TranslateError> {
    let obj = req
        .as_object()
        .ok_or_else(|| TranslateError::new("request body must be a JSON object", "body"))?;
    let model = required_str(obj, "model")?;
    let max_tokens = max_tokens(obj)?;
    let messages = chat_messages(obj, &id)?;

    let mut chat = Map::new();
    chat.insert("model".into(), Value::String(model.to_string()));
    chat.insert("messages".into(), Value::Array(messages));
    chat.insert("max_tokens".into(), json!(max_tokens));
    let dropped_tools = tools(obj, &mut chat)?;
    sampling(obj, &mut chat);
    if let Some(format) = response_format(obj) {
        chat.insert("response_format".into(), format);
    }
    let stream = obj.get("stream").and_then(Value::as_bool).unwrap_or(false);
    if stream {
        chat.insert("stream".into(), Value::Bool(true));
        chat.insert("stream_options".into(), json!({"include_usage": true}));
    }
    let meta = MessageMeta {
        id,
        model: model.to_string(),
        thinking: thinking_enabled(obj),
        input_tokens_estimate: estimate_request(req),
        dropped_tools,
        stop_sequences: stop_sequences(obj),
    };
    Ok(Translated {
        chat: Value::Object(chat),
        stream,
        meta,
    })
}

/// The chat `messages`: the system prompt first, then the conversation.
fn chat_messages(obj: &Map<String, Value>, id: &str) -> Result<Vec<Value>, TranslateError> {
    let input = required_messages(obj)?;
    let mut conv = Converter::new(id);
    for (i, m) in input.iter().enumerate() {
        conv.message(i, m)?;
    }
    conv.flush_deferred();
    let mut messages = Vec::new();
    let mut system = system_parts(obj.get("system"))?;
    for text in conv.leading_system {
        system.text(text);
    }
    if let Some(content) = system.into_content() {
        messages.push(json!({"role": "system", "content": content}));
    }
    messages.extend(conv.out);
    if messages.is_empty() {
        return Err(TranslateError::new(
            "messages: nothing to send: every message is empty once thinking is removed",
            "messages",
        ));
    }
    Ok(messages)
}

fn required_str<'a>(obj: &'a Map<String, Value>, key: &str) -> Result<&'a str, TranslateError> {
    match obj.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        None | Some(Value::Null) => Err(TranslateError::new(format!("{key}: Field required"), key)),
        Some(_) => Err(TranslateError::new(
            format!("{key}: Input should be a non-empty string"),
            key,
        )),
    }
}

/// `max_tokens` is required by Anthropic (unlike chat), with the same message it gives.
fn max_tokens(obj: &Map<String, Value>) -> Result<u64, TranslateError> {
    match obj.get("max_tokens") {
        None | Some(Value::Null) => Err(TranslateError::new(
            "max_tokens: Field required",
            "max_tokens",
        )),
        Some(v) => v.as_u64().filter(|n| *n > 0).ok_or_else(|| {
            TranslateError::new(
                "max_tokens: Input should be a positive integer",
                "max_tokens",
            )
        }),
    }
}

fn required_messages(obj: &Map<String, Value>) -> Result<&Vec<Value>, TranslateError> {
    match obj.get("messages") {
        None | Some(Value::Null) => {
            Err(TranslateError::new("messages: Field required", "messages"))
        }
        Some(Value::Array(a)) if a.is_empty() => Err(TranslateError::new(
            "messages: at least one message is required",
            "messages",
        )),
        Some(Value::Array(a)) => Ok(a),
        Some(_) => Err(TranslateError::new(
            "messages: Input should be a valid list",
            "messages",
        )),
    }
}

/// `system`: a string or text blocks (Claude Code sends several, with `cache_control`).
/// Blocks are joined with a blank line so they stay separate paragraphs; when one carries a
/// cache breakpoint they stay text parts, the breakpoint on its part.
///
/// Claude Code's first block, `x-anthropic-billing-header: cc_version=…;`, is dropped: it is
/// accounting metadata for Anthropic, not an instruction, and its hash changes between call
/// kinds, which at the very start of the prompt would defeat the upstream's prefix cache.
fn system_parts(system: Option<&Value>) -> Result<Parts, TranslateError> {
    let mut parts = Parts::default();
    match system {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => parts.text(s.clone()),
        Some(Value::Array(blocks)) => {
            for b in blocks {
                let Some(text) = block_text(b).filter(|t| !t.starts_with(BILLING_HEADER)) else {
                    continue;
                };
                let before = parts.0.len();
                parts.text(text);
                parts.hint_since(before, b);
            }
        }
        Some(_) => {
            return Err(TranslateError::new(
                "system: Input should be a valid string or list of text blocks",
                "system",
            ))
        }
    }
    Ok(parts)
}

const BILLING_HEADER: &str = "x-anthropic-billing-header:";

fn join(parts: impl Iterator<Item = String>) -> String {
    parts
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// The text a block shows the reader, whatever its type: its `text`, or the text of its
/// `content` (a string or nested blocks, as in `search_result` and `tool_result`), with a
/// `title` first when there is one. None when there is none (images, server tool calls).
fn block_text(block: &Value) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(t) = block.get("title").and_then(Value::as_str) {
        parts.push(t.to_string());
    }
    if let Some(t) = block.get("text").and_then(Value::as_str) {
        parts.push(t.to_string());
    }
    match block.get("content") {
        Some(Value::String(s)) => parts.push(s.clone()),
        Some(Value::Array(inner)) => parts.extend(inner.iter().filter_map(block_text)),
        _ => {}
    }
    let text = join(parts.into_iter());
    (!text.is_empty()).then_some(text)
}

fn block_type(block: &Value) -> &str {
    block.get("type").and_then(Value::as_str).unwrap_or("")
}

/// The user-side content of one turn, in order: text and `image_url` parts.
#[derive(Default)]
struct Parts(Vec<Value>);

impl Parts {
    fn text(&mut self, s: String) {
        if !s.is_empty() {
            self.0.push(json!({"type": "text", "text": s}));
        }
    }

    /// Puts `block`'s cache breakpoint, if any, on the last part it added (parts from
    /// `before` on); a block that added nothing loses it.
    fn hint_since(&mut self, before: usize, block: &Value) {
        if self.0.len() > before {
            if let Some(last) = self.0.last_mut() {
                cache_hint::put(last, cache_hint::of(block));
            }
        }
    }

    /// A string when there is only text without cache breakpoints (the form every chat
    /// upstream accepts), else parts.
    fn into_content(self) -> Option<Value> {
        if self.0.is_empty() {
            return None;
        }
        let hinted = self.0.iter().any(|p| p.get(cache_hint::KEY).is_some());
        if !hinted && self.0.iter().all(|p| p["type"] == "text") {
            let texts = self
                .0
                .iter()
                .filter_map(|p| p["text"].as_str().map(str::to_owned));
            return Some(Value::String(join(texts)));
        }
        Some(Value::Array(self.0))
    }
}

/// Walks the conversation, remembering which tool calls the last assistant turn made so
/// that results can be matched to them.
struct Converter<'a> {
    out: Vec<Value>,
    /// Ids of the previous assistant turn's tool calls that have no result yet, with how many
    /// calls carry each (a multiset: a map, so matching N results costs N, not N²). A chat
    /// upstream refuses a `tool` message that answers no call, so a result for anything else
    /// (an "orphan") is sent as user text instead.
    open_calls: FxHashMap<String, usize>,
    message_id: &'a str,
    generated: usize,
    /// Text of `role: "system"` messages met before any user or assistant message.
    leading_system: Vec<String>,
    /// Later `system` messages (as user messages), held back while tool calls await their
    /// results so they don't separate a call from its `tool` message.
    deferred: Vec<Value>,
}

impl<'a> Converter<'a> {
    fn new(message_id: &'a str) -> Self {
        Converter {
            out: Vec::new(),
            open_calls: FxHashMap::default(),
            message_id,
            generated: 0,
            leading_system: Vec::new(),
            deferred: Vec::new(),
        }
    }

    fn flush_deferred(&mut self) {
        self.out.append(&mut self.deferred);
    }

    /// `role: "system"` inside `messages` (Claude Code's `mid-conversation-system` beta, e.g.
    /// the list of agent types). Before the conversation starts it joins the system prompt;
    /// later it becomes a user message wrapped in `<system-reminder>` (the convention Claude
    /// Code itself uses for injected context): many chat upstreams and templates (Hunyuan,
    /// Qwen, Llama) refuse or ignore a system message after the first position, and keeping it
    /// in place (rather than moving it up) keeps the prompt prefix stable for caching.
    fn system(&mut self, i: usize, content: Option<&Value>) -> Result<(), TranslateError> {
        let text = match content {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(blocks)) => system_blocks(i, blocks)?,
            _ => {
                return Err(TranslateError::new(
                    format!("messages.{i}.content: Input should be a valid string or list"),
                    format!("messages[{i}].content"),
                ))
            }
        };
        if text.is_empty() {
            return Ok(());
        }
        if self.out.is_empty() && self.deferred.is_empty() {
            self.leading_system.push(text);
            return Ok(());
        }
        let wrapped = format!("<system-reminder>\n{text}\n</system-reminder>");
        let msg = json!({"role": "user", "content": wrapped});
        if self.open_calls.is_empty() {
            self.out.push(msg);
        } else {
            self.deferred.push(msg);
        }
        Ok(())
    }

    fn message(&mut self, i: usize, m: &Value) -> Result<(), TranslateError> {
        let role = m.get("role").and_then(Value::as_str);
        let assistant = match role {
            Some("user") => false,
            Some("assistant") => true,
            Some("system") => return self.system(i, m.get("content")),
            _ => {
                return Err(TranslateError::new(
                    format!("messages.{i}.role: Input should be 'user', 'assistant' or 'system'"),
                    format!("messages[{i}].role"),
                ))
            }
        };
        match m.get("content") {
            Some(Value::String(s)) => {
                self.open_calls.clear();
                self.flush_deferred();
                let role = if assistant { "assistant" } else { "user" };
                self.out.push(json!({"role": role, "content": s}));
                Ok(())
            }
            Some(Value::Array(blocks)) if assistant => self.assistant(i, blocks),
            Some(Value::Array(blocks)) => self.user(i, blocks),
            _ => Err(TranslateError::new(
                format!("messages.{i}.content: Input should be a valid string or list"),
                format!("messages[{i}].content"),
            )),
        }
    }

    /// An assistant turn: text → content, `tool_use` → `tool_calls`. Thinking is dropped
    /// (its signature means nothing to another model), as are images and server tool calls,
    /// which chat assistant messages cannot carry.
    fn assistant(&mut self, i: usize, blocks: &[Value]) -> Result<(), TranslateError> {
        self.flush_deferred();
        let mut texts = Parts::default();
        let mut calls = Vec::new();
        for (j, b) in blocks.iter().enumerate() {
            match block_type(b) {
                "tool_use" => calls.push(self.tool_call(i, j, b)?),
                "thinking" | "redacted_thinking" | "image" | "server_tool_use" => {}
                _ => {
                    let before = texts.0.len();
                    texts.text(block_text(b).unwrap_or_default());
                    texts.hint_since(before, b);
                }
            }
        }
        self.open_calls.clear();
        for id in calls.iter().filter_map(|c| c["id"].as_str()) {
            *self.open_calls.entry(id.to_owned()).or_default() += 1;
        }
        if texts.0.is_empty() && calls.is_empty() {
            return Ok(());
        }
        let content = texts.into_content().unwrap_or(Value::Null);
        let mut msg = Map::new();
        msg.insert("role".into(), json!("assistant"));
        msg.insert("content".into(), content);
        if !calls.is_empty() {
            msg.insert("tool_calls".into(), Value::Array(calls));
        }
        self.out.push(Value::Object(msg));
        Ok(())
    }

    fn tool_call(&mut self, i: usize, j: usize, b: &Value) -> Result<Value, TranslateError> {
        let name = b.get("name").and_then(Value::as_str).ok_or_else(|| {
            TranslateError::new(
                format!("messages.{i}.content.{j}.name: Field required"),
                format!("messages[{i}].content[{j}].name"),
            )
        })?;
        let id = match b.get("id").and_then(Value::as_str) {
            Some(id) if !id.is_empty() => id.to_string(),
            _ => {
                self.generated += 1;
                tool_id(self.message_id, self.generated)
            }
        };
        let arguments = match b.get("input") {
            None | Some(Value::Null) => "{}".to_string(),
            Some(v) => v.to_string(),
        };
        let mut call = json!({"id": id, "type": "function",
            "function": {"name": name, "arguments": arguments}});
        cache_hint::put(&mut call, cache_hint::of(b));
        Ok(call)
    }

    /// Takes one open call with `id`; false when none is open (an orphan result).
    fn close_call(&mut self, id: &str) -> bool {
        let Some(n) = self.open_calls.get_mut(id) else {
            return false;
        };
        *n -= 1;
        if *n == 0 {
            self.open_calls.remove(id);
        }
        true
    }

    /// A user turn: `tool_result`s become `tool` messages (first: chat wants them right
    /// after the calls); their images and the turn's own text and images follow in one user
    /// message.
    fn user(&mut self, i: usize, blocks: &[Value]) -> Result<(), TranslateError> {
        let mut tool_msgs = Vec::new();
        let mut tool_images = Parts::default();
        let mut own = Parts::default();
        for (j, b) in blocks.iter().enumerate() {
            if block_type(b) != "tool_result" {
                let before = own.0.len();
                user_part(i, j, b, &mut own)?;
                own.hint_since(before, b);
                continue;
            }
            let id = b.get("tool_use_id").and_then(Value::as_str).unwrap_or("");
            let (text, images) = tool_result(i, j, b)?;
            if self.close_call(id) {
                tool_msgs.push(tool_message(id, text, cache_hint::of(b)));
                if !images.is_empty() {
                    tool_images.text(format!("Images returned by tool call {id}:"));
                    tool_images.0.extend(images);
                }
            } else {
                let before = own.0.len();
                own.text(format!("[Result of tool call {id}]\n{text}"));
                own.0.extend(images);
                own.hint_since(before, b);
            }
        }
        self.open_calls.clear();
        self.out.extend(tool_msgs);
        self.flush_deferred();
        tool_images.0.extend(own.0);
        if let Some(content) = tool_images.into_content() {
            self.out.push(json!({"role": "user", "content": content}));
        }
        Ok(())
    }
}

/// A `tool` message: its text as a string, or as one text part carrying the result's cache
/// breakpoint.
fn tool_message(id: &str, text: String, hint: Option<&Value>) -> Value {
    let content = match hint {
        None => Value::String(text),
        Some(_) => {
            let mut part = json!({"type": "text", "text": text});
            cache_hint::put(&mut part, hint);
            json!([part])
        }
    };
    json!({"role": "tool", "tool_call_id": id, "content": content})
}

/// The text of a `system` message's blocks (documents inlined like in a user turn; images,
/// which Anthropic doesn't allow there, are dropped).
fn system_blocks(i: usize, blocks: &[Value]) -> Result<String, TranslateError> {
    let mut parts = Parts::default();
    for (j, b) in blocks.iter().enumerate() {
        if block_type(b) == "tool_result" {
            parts.text(block_text(b).unwrap_or_default());
        } else {
            user_part(i, j, b, &mut parts)?;
        }
    }
    let texts = parts
        .0
        .iter()
        .filter_map(|p| p["text"].as_str().map(str::to_owned));
    Ok(join(texts))
}

/// One non-`tool_result` block of a user turn.
fn user_part(i: usize, j: usize, b: &Value, parts: &mut Parts) -> Result<(), TranslateError> {
    let at = || format!("messages[{i}].content[{j}]");
    match block_type(b) {
        "text" => parts.text(
            b.get("text")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        ),
        "image" => parts.0.push(image_part(b, &at())?),
        "document" => document(b, &at(), parts)?,
        // Thinking has no meaning for another model; a tool call can't be made by the user.
        "thinking" | "redacted_thinking" | "tool_use" | "server_tool_use" => {}
        _ => parts.text(block_text(b).unwrap_or_default()),
    }
    Ok(())
}

/// `image` → `image_url` with a data URL (base64) or the URL itself. The gateway's image
/// cascade describes it for text-only models.
fn image_part(b: &Value, at: &str) -> Result<Value, TranslateError> {
    let source = b.get("source");
    let kind = source.and_then(|s| s.get("type")).and_then(Value::as_str);
    let field = |k: &str| source.and_then(|s| s.get(k)).and_then(Value::as_str);
    let url = match (kind, field("media_type"), field("data"), field("url")) {
        (Some("base64"), Some(media), Some(data), _) => format!("data:{media};base64,{data}"),
        (Some("url"), _, _, Some(url)) => url.to_string(),
        _ => {
            return Err(TranslateError::new(
                format!("{at}.source: only base64 and url image sources are supported"),
                format!("{at}.source"),
            ))
        }
    };
    Ok(json!({"type": "image_url", "image_url": {"url": url}}))
}

/// `document`: plain text (and `content` blocks) are inlined with their title; PDFs and
/// files can't reach a chat model, which is worth a 400 rather than a silently blind answer.
fn document(b: &Value, at: &str, parts: &mut Parts) -> Result<(), TranslateError> {
    let source = b.get("source");
    let kind = source.and_then(|s| s.get("type")).and_then(Value::as_str);
    let title = b.get("title").and_then(Value::as_str).map(str::to_owned);
    match kind {
        Some("text") => {
            let data = source.and_then(|s| s.get("data")).and_then(Value::as_str);
            parts.text(join(title.into_iter().chain(data.map(str::to_owned))));
            Ok(())
        }
        Some("content") => {
            parts.text(title.unwrap_or_default());
            let inner = source.and_then(|s| s.get("content"));
            match inner {
                Some(Value::String(s)) => parts.text(s.clone()),
                Some(Value::Array(blocks)) => {
                    for (k, inner) in blocks.iter().enumerate() {
                        user_part_nested(inner, &format!("{at}.source.content[{k}]"), parts)?;
                    }
                }
                _ => {}
            }
            Ok(())
        }
        other => Err(TranslateError::new(
            format!(
                "{at}: document source type '{}' is not supported by this gateway; \
                 only plain-text documents can be sent",
                other.unwrap_or("none")
            ),
            at,
        )),
    }
}

/// A block nested in a document or tool result: text or image.
fn user_part_nested(b: &Value, at: &str, parts: &mut Parts) -> Result<(), TranslateError> {
    match block_type(b) {
        "image" => parts.0.push(image_part(b, at)?),
        "document" => document(b, at, parts)?,
        _ => parts.text(block_text(b).unwrap_or_default()),
    }
    Ok(())
}

/// A `tool_result`'s text (`Error: ` first when `is_error`, so the model knows the call
/// failed: chat has no such flag) and its images.
fn tool_result(i: usize, j: usize, b: &Value) -> Result<(String, Vec<Value>), TranslateError> {
    let mut parts = Parts::default();
    match b.get("content") {
        Some(Value::String(s)) => parts.text(s.clone()),
        Some(Value::Array(blocks)) => {
            for (k, inner) in blocks.iter().enumerate() {
                let at = format!("messages[{i}].content[{j}].content[{k}]");
                user_part_nested(inner, &at, &mut parts)?;
            }
        }
        _ => {}
    }
    let (texts, images): (Vec<Value>, Vec<Value>) =
        parts.0.into_iter().partition(|p| p["type"] == "text");
    let text = join(
        texts
            .iter()
            .filter_map(|p| p["text"].as_str().map(str::to_owned)),
    );
    let is_error = b.get("is_error").and_then(Value::as_bool).unwrap_or(false);
    let text = if is_error {
        format!("Error: {text}")
    } else {
        text
    };
    Ok((text, images))
}

/// `tools` → function tools; server tools (`web_search_20250305`, `bash_20250124`,
/// `text_editor_*`, `computer_*`, … anything typed without an `input_schema`) are dropped,
/// and their names returned. `tool_choice` and `disable_parallel_tool_use` only make sense
/// (and are only accepted by upstreams) when some tool is left.
fn tools(
    obj: &Map<String, Value>,
    chat: &mut Map<String, Value>,
) -> Result<Vec<String>, TranslateError> {
    let mut dropped = Vec::new();
    let mut functions = Vec::new();
    for (k, t) in obj
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let kind = t.get("type").and_then(Value::as_str);
        let schema = t.get("input_schema").filter(|s| s.is_object());
        let name = t.get("name").and_then(Value::as_str);
        if schema.is_none() && kind.is_some_and(|k| k != "custom") {
            dropped.extend(name.or(kind).map(str::to_owned));
            continue;
        }
        let name = name.ok_or_else(|| {
            TranslateError::new(
                format!("tools.{k}.name: Field required"),
                format!("tools[{k}].name"),
            )
        })?;
        let parameters = schema
            .cloned()
            .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
        let mut f = Map::new();
        f.insert("name".into(), json!(name));
        if let Some(d) = t.get("description").and_then(Value::as_str) {
            f.insert("description".into(), json!(d));
        }
        f.insert("parameters".into(), parameters);
        let mut tool = json!({"type": "function", "function": f});
        cache_hint::put(&mut tool, cache_hint::of(t));
        functions.push(tool);
    }
    if functions.is_empty() {
        return Ok(dropped);
    }
    chat.insert("tools".into(), Value::Array(functions));
    let choice = obj.get("tool_choice");
    if let Some(c) = choice.and_then(tool_choice) {
        chat.insert("tool_choice".into(), c);
    }
    let no_parallel = choice
        .and_then(|c| c.get("disable_parallel_tool_use"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if no_parallel {
        chat.insert("parallel_tool_calls".into(), Value::Bool(false));
    }
    Ok(dropped)
}

fn tool_choice(c: &Value) -> Option<Value> {
    match c.get("type").and_then(Value::as_str)? {
        "auto" => Some(json!("auto")),
        "any" => Some(json!("required")),
        "none" => Some(json!("none")),
        "tool" => {
            let name = c.get("name").and_then(Value::as_str)?;
            Some(json!({"type": "function", "function": {"name": name}}))
        }
        _ => None,
    }
}

/// `temperature`, `top_p`, `stop_sequences` → `stop`, `metadata.user_id` → `user`.
/// `top_k` has no chat equivalent and is ignored.
fn sampling(obj: &Map<String, Value>, chat: &mut Map<String, Value>) {
    for key in ["temperature", "top_p"] {
        if let Some(v) = obj.get(key).filter(|v| v.is_number()) {
            chat.insert(key.into(), v.clone());
        }
    }
    let stop = stop_sequences(obj);
    if !stop.is_empty() {
        chat.insert("stop".into(), json!(stop));
    }
    if let Some(user) = obj
        .get("metadata")
        .and_then(|m| m.get("user_id"))
        .and_then(Value::as_str)
    {
        chat.insert("user".into(), Value::String(user.to_string()));
    }
}

/// Structured output: `output_config.format` (or the older top-level `output_format`)
/// `{type: "json_schema", schema}` → chat `response_format` (Claude Code's title call asks for
/// `{"title": …}` JSON this way). `output_config.effort` is not forwarded, like thinking budgets.
fn response_format(obj: &Map<String, Value>) -> Option<Value> {
    let format = obj
        .get("output_config")
        .and_then(|c| c.get("format"))
        .or_else(|| obj.get("output_format"))?;
    match format.get("type").and_then(Value::as_str)? {
        "json_schema" => {
            let schema = format.get("schema").filter(|s| s.is_object())?;
            Some(json!({"type": "json_schema",
                "json_schema": {"name": "output", "schema": schema}}))
        }
        "json_object" => Some(json!({"type": "json_object"})),
        _ => None,
    }
}

fn stop_sequences(obj: &Map<String, Value>) -> Vec<String> {
    obj.get("stop_sequences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}

/// `thinking: {type: "enabled", budget_tokens}` (or the newer `adaptive`) asks for thinking
/// blocks; `disabled` or absent doesn't. The budget is not forwarded: chat has no portable
/// equivalent (the Hunyuan fixer drops `reasoning_effort` anyway).
fn thinking_enabled(obj: &Map<String, Value>) -> bool {
    obj.get("thinking")
        .and_then(|t| t.get("type"))
        .and_then(Value::as_str)
        .is_some_and(|t| t != "disabled")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat(req: Value) -> Value {
        to_chat(&req, "msg_t".into()).unwrap().chat
    }

    fn msgs(req: Value) -> Vec<Value> {
        chat(req)["messages"].as_array().unwrap().clone()
    }

    /// The chat body as it goes to a provider without cache breakpoints.
    fn plain(req: Value) -> Value {
        let mut c = chat(req);
        cache_hint::strip(&mut c);
        c
    }

    fn plain_msgs(req: Value) -> Vec<Value> {
        plain(req)["messages"].as_array().unwrap().clone()
    }

    fn req(messages: Value) -> Value {
        json!({"model": "claude-x", "max_tokens": 100, "messages": messages})
    }

    fn user(content: Value) -> Value {
        req(json!([{"role": "user", "content": content}]))
    }

    fn err(req: Value) -> TranslateError {
        to_chat(&req, "msg_t".into()).unwrap_err()
    }

    #[test]
    fn required_fields() {
        let e = err(json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}));
        assert_eq!(e.message, "max_tokens: Field required");
        assert_eq!(e.param.as_deref(), Some("max_tokens"));
        assert_eq!(
            err(json!({"max_tokens": 1, "messages": []}))
                .param
                .as_deref(),
            Some("model")
        );
        let e = err(json!({"model": "m", "max_tokens": 1, "messages": []}));
        assert_eq!(e.param.as_deref(), Some("messages"));
        assert_eq!(
            err(json!({"model": "m", "max_tokens": 1})).param.as_deref(),
            Some("messages")
        );
        assert_eq!(err(json!({"model": "m", "max_tokens": "x", "messages": [{"role": "user", "content": "a"}]})).param.as_deref(), Some("max_tokens"));
        assert!(to_chat(&json!("x"), "m".into()).is_err());
        let e = err(req(json!([{"role": "tool", "content": "x"}])));
        assert_eq!(e.param.as_deref(), Some("messages[0].role"));
        let e = err(req(json!([{"role": "user", "content": 5}])));
        assert_eq!(e.param.as_deref(), Some("messages[0].content"));
    }

    #[test]
    fn basics_and_ignored_fields() {
        let t = to_chat(
            &json!({"model": "claude-x", "max_tokens": 64000, "stream": true,
                "messages": [{"role": "user", "content": "hi"}],
                "temperature": 0.5, "top_p": 0.9, "top_k": 5, "stop_sequences": ["END"],
                "metadata": {"user_id": "{\"device_id\":\"d\"}"},
                "thinking": {"type": "enabled", "budget_tokens": 1000},
                "context_management": {"edits": []}, "service_tier": "auto", "container": "c",
                "mcp_servers": [], "output_config": {"effort": "high"}, "brand_new_field": 1}),
            "msg_abc".into(),
        )
        .unwrap();
        assert!(t.stream);
        assert_eq!(
            t.chat,
            json!({"model": "claude-x", "max_tokens": 64000,
                "messages": [{"role": "user", "content": "hi"}],
                "temperature": 0.5, "top_p": 0.9, "stop": ["END"], "user": "{\"device_id\":\"d\"}",
                "stream": true, "stream_options": {"include_usage": true}})
        );
        assert_eq!(t.meta.id, "msg_abc");
        assert_eq!(t.meta.model, "claude-x");
        assert!(t.meta.thinking);
        assert!(t.meta.input_tokens_estimate > 0);
        assert_eq!(t.meta.stop_sequences, ["END"]);
        let t = to_chat(&user(json!("hi")), "m".into()).unwrap();
        assert!(!t.stream && !t.meta.thinking);
        assert!(t.chat.get("stream").is_none());
    }

    #[test]
    fn thinking_modes() {
        let mut r = user(json!("hi"));
        for (t, on) in [("enabled", true), ("adaptive", true), ("disabled", false)] {
            r["thinking"] = json!({"type": t});
            assert_eq!(to_chat(&r, "m".into()).unwrap().meta.thinking, on, "{t}");
        }
    }

    #[test]
    fn system_blocks_and_billing_header() {
        let mut r = user(json!("hi"));
        r["system"] = json!([
            {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.197.fbe; cc_entrypoint=sdk-cli;"},
            {"type": "text", "text": "You are a Claude agent.", "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}]);
        let m = plain_msgs(r.clone());
        assert_eq!(
            m[0],
            json!({"role": "system", "content": "You are a Claude agent.\n\nBe brief."})
        );
        let eph = json!({"type": "ephemeral"});
        assert_eq!(
            msgs(r.clone())[0]["content"],
            json!([{"type": "text", "text": "You are a Claude agent.", "cache_control": eph},
                {"type": "text", "text": "Be brief.", "cache_control": eph}])
        );
        r["system"] = json!("plain");
        assert_eq!(msgs(r.clone())[0]["content"], "plain");
        r["system"] = json!(5);
        assert_eq!(err(r).param.as_deref(), Some("system"));
    }

    #[test]
    fn system_messages_inside_messages() {
        // Claude Code turn 1: user, then a system message last.
        let m = plain_msgs(req(json!([
            {"role": "system", "content": "leading"},
            {"role": "user", "content": [{"type": "text", "text": "<system-reminder>ctx</system-reminder>"},
                                         {"type": "text", "text": "Run it", "cache_control": {"type": "ephemeral"}}]},
            {"role": "system", "content": "Available agent types"},
        ])));
        assert_eq!(m[0], json!({"role": "system", "content": "leading"}));
        assert_eq!(
            m[1]["content"],
            "<system-reminder>ctx</system-reminder>\n\nRun it"
        );
        assert_eq!(
            m[2],
            json!({"role": "user",
            "content": "<system-reminder>\nAvailable agent types\n</system-reminder>"})
        );
        // Between a tool call and its result it waits until after the tool message.
        let m = msgs(req(json!([
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "Bash", "input": {}}]},
            {"role": "system", "content": [{"type": "text", "text": "note"}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}]},
        ])));
        let roles: Vec<_> = m.iter().map(|m| m["role"].as_str().unwrap()).collect();
        assert_eq!(roles, ["user", "assistant", "tool", "user"]);
        assert!(m[3]["content"].as_str().unwrap().contains("note"));
    }

    /// The shape of Claude Code's second main-loop request (samples/claude_turn2.json).
    #[test]
    fn claude_code_turn_two() {
        let mut t = to_chat(&json!({
            "model": "claude-opus-4-8",
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "<system-reminder>date</system-reminder>"},
                                             {"type": "text", "text": "Run the shell command `echo relay-ok-42`."}]},
                {"role": "system", "content": "Available agent types for the Agent tool: …"},
                {"role": "assistant", "content": [{"type": "text", "text": "I'll run it."},
                    {"type": "tool_use", "id": "toolu_461a", "name": "Bash",
                     "input": {"command": "echo relay-ok-42", "description": "Print test string"}}]},
                {"role": "user", "content": [{"tool_use_id": "toolu_461a", "type": "tool_result",
                    "content": "relay-ok-42", "is_error": false, "cache_control": {"type": "ephemeral"}}]}],
            "system": [{"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.197.fbe;"},
                       {"type": "text", "text": "You are a Claude agent.", "cache_control": {"type": "ephemeral"}}],
            "tools": [{"name": "Bash", "description": "Run a command",
                "input_schema": {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
                    "properties": {"command": {"type": "string"}}, "required": ["command"], "additionalProperties": false}}],
            "metadata": {"user_id": "{\"device_id\":\"03cc\",\"account_uuid\":\"\",\"session_id\":\"02df\"}"},
            "max_tokens": 64000, "thinking": {"type": "adaptive"},
            "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
            "output_config": {"effort": "high"}, "stream": true}), "msg_1".into()).unwrap();
        // The breakpoints are kept where the blocks went.
        let eph = json!({"type": "ephemeral"});
        assert_eq!(
            t.chat["messages"][0]["content"],
            json!([{"type": "text", "text": "You are a Claude agent.", "cache_control": eph}])
        );
        assert_eq!(
            t.chat["messages"][4]["content"],
            json!([{"type": "text", "text": "relay-ok-42", "cache_control": eph}])
        );
        cache_hint::strip(&mut t.chat);
        let m = t.chat["messages"].as_array().unwrap();
        let roles: Vec<_> = m.iter().map(|m| m["role"].as_str().unwrap()).collect();
        assert_eq!(roles, ["system", "user", "user", "assistant", "tool"]);
        assert_eq!(m[0]["content"], "You are a Claude agent.");
        assert_eq!(
            m[3]["tool_calls"][0],
            json!({"id": "toolu_461a", "type": "function",
            "function": {"name": "Bash", "arguments": "{\"command\":\"echo relay-ok-42\",\"description\":\"Print test string\"}"}})
        );
        assert_eq!(
            m[4],
            json!({"role": "tool", "tool_call_id": "toolu_461a", "content": "relay-ok-42"})
        );
        assert_eq!(t.chat["tools"][0]["function"]["name"], "Bash");
        assert!(t.chat.get("response_format").is_none());
        assert!(t.meta.thinking && t.stream);
    }

    #[test]
    fn structured_output_title_call() {
        let mut r = user(json!("title please"));
        r["output_config"] = json!({"effort": "high", "format": {"type": "json_schema",
            "schema": {"type": "object", "properties": {"title": {"type": "string"}}}}});
        r["tools"] = json!([]);
        let c = chat(r);
        assert_eq!(c["response_format"]["type"], "json_schema");
        assert_eq!(
            c["response_format"]["json_schema"]["schema"]["properties"]["title"]["type"],
            "string"
        );
        assert!(c.get("tools").is_none());
    }

    #[test]
    fn text_and_images() {
        let m = msgs(user(json!([
            {"type": "text", "text": "look"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}},
            {"type": "image", "source": {"type": "url", "url": "https://x/y.jpg"}},
            {"type": "text", "text": "at these"}])));
        assert_eq!(
            m[0]["content"],
            json!([
            {"type": "text", "text": "look"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
            {"type": "image_url", "image_url": {"url": "https://x/y.jpg"}},
            {"type": "text", "text": "at these"}])
        );
        let e = err(user(json!([{"type": "text", "text": "a"},
            {"type": "image", "source": {"type": "file", "file_id": "f"}}])));
        assert_eq!(e.param.as_deref(), Some("messages[0].content[1].source"));
    }

    #[test]
    fn documents() {
        let m = msgs(user(json!([
            {"type": "document", "title": "notes.txt", "source": {"type": "text", "media_type": "text/plain", "data": "line one"}},
            {"type": "document", "source": {"type": "content", "content": [{"type": "text", "text": "inner"}]}},
            {"type": "text", "text": "summarise"}])));
        assert_eq!(
            m[0]["content"],
            "notes.txt\n\nline one\n\ninner\n\nsummarise"
        );
        for source in [
            json!({"type": "base64", "media_type": "application/pdf", "data": "JVBE"}),
            json!({"type": "url", "url": "https://x/a.pdf"}),
        ] {
            let e = err(user(
                json!([{"type": "text", "text": "a"}, {"type": "document", "source": source}]),
            ));
            assert_eq!(e.param.as_deref(), Some("messages[0].content[1]"));
        }
    }

    #[test]
    fn thinking_and_server_blocks() {
        let m = msgs(req(json!([
            {"role": "user", "content": [{"type": "search_result", "source": "https://s", "title": "T",
                "content": [{"type": "text", "text": "found"}]},
                {"type": "future_block", "text": "keep me"},
                {"type": "future_silent"}]},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                {"type": "redacted_thinking", "data": "xx"},
                {"type": "server_tool_use", "id": "srv", "name": "web_search", "input": {"query": "q"}},
                {"type": "web_search_tool_result", "tool_use_id": "srv", "content": [{"type": "web_search_result", "url": "u", "title": "Page"}]},
                {"type": "text", "text": "answer"}]},
            {"role": "assistant", "content": [{"type": "thinking", "thinking": "only"}]},
        ])));
        assert_eq!(m.len(), 2);
        assert_eq!(m[0]["content"], "T\n\nfound\n\nkeep me");
        assert_eq!(
            m[1],
            json!({"role": "assistant", "content": "Page\n\nanswer"})
        );
    }

    #[test]
    fn tool_use_and_results() {
        let m = msgs(req(json!([
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "a", "name": "Read", "input": {"p": 1}},
                {"type": "tool_use", "name": "Shot"}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "a", "is_error": true, "content": "no such file"},
                {"type": "tool_result", "tool_use_id": "toolu_t_1", "content": [
                    {"type": "text", "text": "captured"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "QQ"}}]},
                {"type": "text", "text": "and then?"}]},
        ])));
        assert_eq!(m[1]["content"], Value::Null);
        assert_eq!(m[1]["tool_calls"][1]["id"], "toolu_t_1");
        assert_eq!(m[1]["tool_calls"][1]["function"]["arguments"], "{}");
        assert_eq!(
            m[2],
            json!({"role": "tool", "tool_call_id": "a", "content": "Error: no such file"})
        );
        assert_eq!(
            m[3],
            json!({"role": "tool", "tool_call_id": "toolu_t_1", "content": "captured"})
        );
        assert_eq!(m[4]["role"], "user");
        let parts = m[4]["content"].as_array().unwrap();
        assert_eq!(parts[0]["text"], "Images returned by tool call toolu_t_1:");
        assert_eq!(parts[1]["image_url"]["url"], "data:image/png;base64,QQ");
        assert_eq!(parts[2]["text"], "and then?");
        assert_eq!(m.len(), 5);
    }

    #[test]
    fn orphan_tool_result_becomes_text() {
        let m = msgs(user(json!([
            {"type": "tool_result", "tool_use_id": "ghost", "content": "late output"},
            {"type": "text", "text": "hi"}])));
        assert_eq!(
            m,
            vec![
                json!({"role": "user", "content": "[Result of tool call ghost]\nlate output\n\nhi"})
            ]
        );
        let e = err(req(
            json!([{"role": "assistant", "content": [{"type": "tool_use", "id": "x", "input": {}}]}]),
        ));
        assert_eq!(e.param.as_deref(), Some("messages[0].content[0].name"));
    }

    #[test]
    fn tools_and_tool_choice() {
        let mut r = user(json!("hi"));
        r["tools"] = json!([
            {"name": "get", "description": "Get it", "input_schema": {"type": "object"}, "cache_control": {"type": "ephemeral"}},
            {"type": "custom", "name": "c", "input_schema": {"type": "object"}},
            {"name": "bare"},
            {"type": "web_search_20250305", "name": "web_search", "max_uses": 5},
            {"type": "bash_20250124", "name": "bash"},
            {"type": "text_editor_20250728", "name": "str_replace_based_edit_tool"},
            {"type": "computer_20250124", "name": "computer", "display_width_px": 1}]);
        r["tool_choice"] = json!({"type": "any", "disable_parallel_tool_use": true});
        let mut t = to_chat(&r, "m".into()).unwrap();
        assert_eq!(
            t.chat["tools"][0]["cache_control"],
            json!({"type": "ephemeral"})
        );
        cache_hint::strip(&mut t.chat);
        assert_eq!(
            t.meta.dropped_tools,
            [
                "web_search",
                "bash",
                "str_replace_based_edit_tool",
                "computer"
            ]
        );
        let tools = t.chat["tools"].as_array().unwrap();
        assert_eq!(tools.len(), 3);
        assert_eq!(
            tools[0],
            json!({"type": "function", "function": {"name": "get", "description": "Get it", "parameters": {"type": "object"}}})
        );
        assert_eq!(
            tools[2]["function"]["parameters"],
            json!({"type": "object", "properties": {}})
        );
        assert_eq!(t.chat["tool_choice"], "required");
        assert_eq!(t.chat["parallel_tool_calls"], false);
        for (choice, want) in [
            (json!({"type": "auto"}), json!("auto")),
            (json!({"type": "none"}), json!("none")),
            (
                json!({"type": "tool", "name": "get"}),
                json!({"type": "function", "function": {"name": "get"}}),
            ),
        ] {
            r["tool_choice"] = choice;
            let c = chat(r.clone());
            assert_eq!(c["tool_choice"], want);
            assert!(c.get("parallel_tool_calls").is_none());
        }
        // Only server tools: no tools, no tool_choice.
        r["tools"] = json!([{"type": "web_search_20250305", "name": "web_search"}]);
        let c = chat(r.clone());
        assert!(c.get("tools").is_none() && c.get("tool_choice").is_none());
        r["tools"] = json!([{"description": "nameless", "input_schema": {}}]);
        assert_eq!(err(r).param.as_deref(), Some("tools[0].name"));
    }
    /// Every place a breakpoint can be: a user text, an image, an orphan result, a matched
    /// result, an assistant text and a tool call; stripped, the body is the unhinted one.
    #[test]
    fn cache_breakpoints_are_kept_in_place() {
        let eph = json!({"type": "ephemeral", "ttl": "1h"});
        let hinted = req(json!([
            {"role": "user", "content": [{"type": "text", "text": "a"},
                {"type": "text", "text": "b", "cache_control": eph},
                {"type": "image", "source": {"type": "url", "url": "https://x/i.png"}, "cache_control": eph},
                {"type": "tool_result", "tool_use_id": "ghost", "content": "late", "cache_control": eph}]},
            {"role": "assistant", "content": [{"type": "text", "text": "ok", "cache_control": eph},
                {"type": "tool_use", "id": "t1", "name": "Bash", "input": {}, "cache_control": eph}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "done", "cache_control": eph}]},
        ]));
        let m = msgs(hinted.clone());
        assert_eq!(
            m[0]["content"],
            json!([{"type": "text", "text": "a"},
                {"type": "text", "text": "b", "cache_control": eph},
                {"type": "image_url", "image_url": {"url": "https://x/i.png"}, "cache_control": eph},
                {"type": "text", "text": "[Result of tool call ghost]\nlate", "cache_control": eph}])
        );
        assert_eq!(
            m[1]["content"],
            json!([{"type": "text", "text": "ok", "cache_control": eph}])
        );
        assert_eq!(m[1]["tool_calls"][0]["cache_control"], eph);
        assert_eq!(
            m[2]["content"],
            json!([{"type": "text", "text": "done", "cache_control": eph}])
        );
        // Without the hints, the translation is what stripping gives.
        let mut bare = hinted.clone();
        for msg in bare["messages"].as_array_mut().unwrap() {
            for b in msg["content"].as_array_mut().unwrap() {
                b.as_object_mut().unwrap().remove("cache_control");
            }
        }
        assert!(!cache_hint::any(&chat(bare.clone())));
        assert_eq!(plain(hinted), chat(bare));
    }
}
