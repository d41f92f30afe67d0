//! `GenerateContentRequest` → chat request.
//!
//! Gemini content is a list of turns (`user` / `model`) of typed parts; chat has roles with
//! string or part-list content, `tool_calls` on assistant messages and `tool` messages for
//! results. The mapping:
//! * `systemInstruction` → the system message (its text parts joined).
//! * user parts: `text` → text; `inlineData` / `fileData` with an image type (or none) →
//!   `image_url` (a data URL, or the file URI), which the cascade describes for text models;
//!   other media (PDF, audio, video) → a note in the text saying what the gateway could not
//!   pass on (a chat model cannot read them; the note lets it say so); `functionResponse` →
//!   a `tool` message, before the turn's own text.
//! * model parts: `text` → content (concatenated: they are pieces of one answer),
//!   `functionCall` → `tool_calls` with the part's `id` or a generated `call_…` one,
//!   `executableCode` / `codeExecutionResult` → text.
//! * `thought: true` parts are skipped (a summary of another model's thinking is not input).
//! * A `functionResponse` answers the open call with its `id`, else the oldest open call of
//!   its `name` (Gemini matches by name, in order); one that answers none becomes user text,
//!   as a chat upstream refuses a `tool` message for no call.

use super::meta::{field, GeminiMeta, Translated};
use super::parts::{code_text, push_paragraph, result_text, Media, Parts};
use super::tools::{generation, tools};
use crate::core::translate::TranslateError;
use rustc_hash::FxHashMap;
use serde_json::{json, Map, Value};
use std::collections::VecDeque;

/// Translates a `generateContent` request for `model` (from the path); `meta` is filled
/// in with what the answer needs (`response_id` and `framing` are the caller's).
pub fn to_chat(
    req: &Value,
    model: &str,
    mut meta: GeminiMeta,
) -> Result<Translated, TranslateError> {
    if !req.is_object() {
        return Err(TranslateError::new(
            "request body must be a JSON object",
            "body",
        ));
    }
    let mut chat = Map::new();
    chat.insert("model".into(), json!(model));
    chat.insert("messages".into(), Value::Array(messages(req)?));
    meta.dropped_tools = tools(req, &mut chat)?;
    meta.thoughts = generation(req, &mut chat)?;
    if meta.framing.is_stream() {
        chat.insert("stream".into(), Value::Bool(true));
        chat.insert("stream_options".into(), json!({"include_usage": true}));
    }
    meta.model = model.to_string();
    meta.prompt_estimate = super::count::estimate(req);
    Ok(Translated {
        chat: Value::Object(chat),
        meta,
    })
}

/// The chat `messages`: the system message first, then the turns.
fn messages(req: &Value) -> Result<Vec<Value>, TranslateError> {
    let contents = match field(req, "contents", "contents") {
        Some(Value::Array(c)) if !c.is_empty() => c,
        Some(Value::Array(_)) | None => {
            return Err(TranslateError::new(
                "contents: at least one content is required",
                "contents",
            ))
        }
        Some(_) => {
            return Err(TranslateError::new(
                "contents: must be a list of contents",
                "contents",
            ))
        }
    };
    let mut conv = Converter::default();
    for (i, c) in contents.iter().enumerate() {
        conv.content(i, c)?;
    }
    let mut out = Vec::with_capacity(conv.out.len() + 1);
    if let Some(system) = system_text(req)? {
        out.push(json!({"role": "system", "content": system}));
    }
    out.extend(conv.out);
    if out.is_empty() {
        return Err(TranslateError::new(
            "contents: nothing to send: every part is empty or a thought",
            "contents",
        ));
    }
    Ok(out)
}

/// `systemInstruction`: a content (its text parts) or, as some clients send it, a string.
fn system_text(req: &Value) -> Result<Option<String>, TranslateError> {
    let text = match field(req, "systemInstruction", "system_instruction") {
        None => return Ok(None),
        Some(Value::String(s)) => s.clone(),
        Some(c @ Value::Object(_)) => {
            let parts = parts_of(c, "systemInstruction")?;
            let texts = parts.iter().filter(|p| !is_thought(p)).filter_map(text_of);
            texts.collect::<Vec<_>>().join("\n")
        }
        Some(_) => {
            return Err(TranslateError::new(
                "systemInstruction: must be a content",
                "systemInstruction",
            ))
        }
    };
    Ok((!text.trim().is_empty()).then_some(text))
}

fn parts_of<'a>(content: &'a Value, at: &str) -> Result<&'a [Value], TranslateError> {
    match field(content, "parts", "parts") {
        None => Ok(&[]),
        Some(Value::Array(p)) => Ok(p),
        Some(_) => Err(TranslateError::new(
            format!("{at}.parts: must be a list of parts"),
            format!("{at}.parts"),
        )),
    }
}

fn is_thought(part: &Value) -> bool {
    part.get("thought").and_then(Value::as_bool) == Some(true)
}

fn text_of(part: &Value) -> Option<&str> {
    part.get("text").and_then(Value::as_str)
}

/// One call of a model turn, waiting for its result.
struct OpenCall {
    id: String,
    answered: bool,
}

/// Walks the turns, remembering the calls of the last model turn so that results can be
/// matched to them in linear time: by id through a map, by name through a queue per name
/// whose answered entries are skipped when met.
#[derive(Default)]
struct Converter {
    out: Vec<Value>,
    calls: Vec<OpenCall>,
    by_id: FxHashMap<String, usize>,
    by_name: FxHashMap<String, VecDeque<usize>>,
    /// Ids generated for calls that came without one (unique within the request).
    generated: usize,
}

impl Converter {
    fn content(&mut self, i: usize, c: &Value) -> Result<(), TranslateError> {
        let at = format!("contents[{i}]");
        if !c.is_object() {
            return Err(TranslateError::new(
                format!("{at}: must be a content object"),
                at,
            ));
        }
        let parts = parts_of(c, &at)?;
        match c.get("role").and_then(Value::as_str) {
            Some("model") => self.model(&at, parts),
            // No role is a user turn (single-turn requests omit it); older clients send
            // function results in a `function` (or `tool`) turn.
            None | Some("user" | "function" | "tool") => self.user(&at, parts),
            Some(_) => Err(TranslateError::new(
                format!("{at}.role: must be 'user' or 'model'"),
                format!("{at}.role"),
            )),
        }
    }

    fn forget_calls(&mut self) {
        self.calls.clear();
        self.by_id.clear();
        self.by_name.clear();
    }

    /// A model turn: text → content, `functionCall` → `tool_calls`.
    fn model(&mut self, at: &str, parts: &[Value]) -> Result<(), TranslateError> {
        self.forget_calls();
        let mut text = String::new();
        let mut calls = Vec::new();
        for (j, p) in parts.iter().enumerate() {
            if is_thought(p) {
                continue;
            }
            if let Some(call) = field(p, "functionCall", "function_call") {
                calls.push(self.call(&format!("{at}.parts[{j}].functionCall"), call)?);
            } else if let Some(t) = text_of(p) {
                text.push_str(t);
            } else if let Some(t) = code_text(p) {
                push_paragraph(&mut text, &t);
            }
        }
        if text.is_empty() && calls.is_empty() {
            return Ok(());
        }
        let mut msg = Map::new();
        msg.insert("role".into(), json!("assistant"));
        let content = (!text.is_empty()).then_some(Value::String(text));
        msg.insert("content".into(), content.unwrap_or(Value::Null));
        if !calls.is_empty() {
            msg.insert("tool_calls".into(), Value::Array(calls));
        }
        self.out.push(Value::Object(msg));
        Ok(())
    }

    fn call(&mut self, at: &str, call: &Value) -> Result<Value, TranslateError> {
        let name = match call.get("name").and_then(Value::as_str) {
            Some(n) if !n.is_empty() => n,
            _ => {
                return Err(TranslateError::new(
                    format!("{at}.name: Field required"),
                    format!("{at}.name"),
                ))
            }
        };
        let id = match call.get("id").and_then(Value::as_str) {
            Some(id) if !id.is_empty() => id.to_string(),
            _ => {
                self.generated += 1;
                format!("call_gemini_{}", self.generated)
            }
        };
        let arguments = match call.get("args") {
            None | Some(Value::Null) => "{}".to_string(),
            Some(v) => v.to_string(),
        };
        let n = self.calls.len();
        self.by_id.entry(id.clone()).or_insert(n);
        self.by_name
            .entry(name.to_string())
            .or_default()
            .push_back(n);
        self.calls.push(OpenCall {
            id: id.clone(),
            answered: false,
        });
        Ok(json!({"id": id, "type": "function",
            "function": {"name": name, "arguments": arguments}}))
    }

    /// Takes the open call a result answers: by id, else the oldest of its name.
    fn answer(&mut self, id: Option<&str>, name: &str) -> Option<String> {
        let by_id = id
            .and_then(|id| self.by_id.get(id).copied())
            .filter(|n| self.calls.get(*n).is_some_and(|c| !c.answered));
        let n = match by_id {
            Some(n) => n,
            None => {
                let queue = self.by_name.get_mut(name)?;
                loop {
                    let n = queue.pop_front()?;
                    if self.calls.get(n).is_some_and(|c| !c.answered) {
                        break n;
                    }
                }
            }
        };
        let call = self.calls.get_mut(n)?;
        call.answered = true;
        Some(call.id.clone())
    }

    /// A user turn: results become `tool` messages (first: chat wants them right after the
    /// calls), then the turn's own text and images as one user message.
    fn user(&mut self, at: &str, parts: &[Value]) -> Result<(), TranslateError> {
        let mut own = Parts::default();
        for (j, p) in parts.iter().enumerate() {
            if is_thought(p) {
                continue;
            }
            let at = format!("{at}.parts[{j}]");
            if let Some(r) = field(p, "functionResponse", "function_response") {
                self.result(&at, r, &mut own)?;
            } else if let Some(t) = text_of(p) {
                own.text(t.to_string());
            } else if let Some(d) = field(p, "inlineData", "inline_data") {
                own.media(&at, d, Media::Inline)?;
            } else if let Some(d) = field(p, "fileData", "file_data") {
                own.media(&at, d, Media::File)?;
            } else if let Some(t) = code_text(p) {
                own.text(t);
            }
        }
        if let Some(content) = own.into_content() {
            // Results that come after the user spoke again answer nothing.
            self.forget_calls();
            self.out.push(json!({"role": "user", "content": content}));
        }
        Ok(())
    }

    fn result(&mut self, at: &str, r: &Value, own: &mut Parts) -> Result<(), TranslateError> {
        let name = r.get("name").and_then(Value::as_str).ok_or_else(|| {
            TranslateError::new(
                format!("{at}.functionResponse.name: Field required"),
                format!("{at}.functionResponse.name"),
            )
        })?;
        let text = result_text(r.get("response"));
        match self.answer(r.get("id").and_then(Value::as_str), name) {
            Some(id) => {
                self.out
                    .push(json!({"role": "tool", "tool_call_id": id, "content": text}));
            }
            None => own.text(format!("[Result of function {name}]\n{text}")),
        }
        Ok(())
    }
}
