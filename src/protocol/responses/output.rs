//! Output items and the `response` object, shared by the streaming and buffered translators;
//! and the buffered (non-streaming) translator.

use serde_json::{json, Map, Value};

use super::meta::ResponseMeta;
use crate::core::translate::ResponseTranslator;
use crate::core::usage::Usage;
use crate::protocol::chat_stream::{ChatEvent, ChatStreamDecoder};

/// One output item as the answer builds it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Item {
    Reasoning(String),
    Message(String),
    /// A chat tool call: call id, chat function name, arguments JSON text.
    Call {
        call_id: String,
        name: String,
        args: String,
    },
}

/// How the answer ended, for `status` and `incomplete_details`.
pub(crate) enum End<'a> {
    Finished(&'a str),
    Failed(&'a str),
    InProgress,
}

/// Ids derive from the response id, so a replayed conversation keeps stable ids.
pub(crate) fn item_id(meta: &ResponseMeta, prefix: &str, index: usize) -> String {
    let suffix = meta.id.strip_prefix("resp_").unwrap_or(&meta.id);
    format!("{prefix}_{suffix}_{index}")
}

/// Whether a chat function name is a client `custom` tool.
pub(crate) fn is_custom(meta: &ResponseMeta, name: &str) -> bool {
    meta.custom_tools.iter().any(|c| c == name)
}

/// The custom tool's raw input from the `{"input": …}` arguments the model wrote; arguments
/// that are not that shape are passed through as they are rather than lost.
pub(crate) fn custom_input(args: &str) -> String {
    match serde_json::from_str::<Value>(args) {
        Ok(Value::Object(o)) => match o.get("input") {
            Some(Value::String(s)) => s.clone(),
            Some(v) if o.len() == 1 => v.to_string(),
            _ => args.to_string(),
        },
        _ => args.to_string(),
    }
}

/// The item as JSON, with `status` (`in_progress` while streaming, else `completed`).
pub(crate) fn item_json(meta: &ResponseMeta, index: usize, item: &Item, done: bool) -> Value {
    let status = if done { "completed" } else { "in_progress" };
    match item {
        Item::Reasoning(text) => {
            let summary = if done || !text.is_empty() {
                json!([{"type": "summary_text", "text": text}])
            } else {
                json!([])
            };
            json!({"type": "reasoning", "id": item_id(meta, "rs", index), "summary": summary})
        }
        Item::Message(text) => {
            let content = if done {
                json!([{"type": "output_text", "text": text, "annotations": []}])
            } else {
                json!([])
            };
            json!({"type": "message", "id": item_id(meta, "msg", index), "role": "assistant",
                "status": status, "content": content})
        }
        Item::Call {
            call_id,
            name,
            args,
        } => call_json(meta, index, call_id, name, args, done),
    }
}

fn call_json(
    meta: &ResponseMeta,
    index: usize,
    call_id: &str,
    name: &str,
    args: &str,
    done: bool,
) -> Value {
    let status = if done { "completed" } else { "in_progress" };
    if is_custom(meta, name) {
        let input = if done {
            custom_input(args)
        } else {
            String::new()
        };
        return json!({"type": "custom_tool_call", "id": item_id(meta, "ctc", index),
            "call_id": call_id, "name": name, "input": input, "status": status});
    }
    let args = if done { args } else { "" };
    let mut v = json!({"type": "function_call", "id": item_id(meta, "fc", index),
        "call_id": call_id, "name": name, "arguments": args, "status": status});
    if let Some((_, ns, inner)) = meta.namespaced.iter().find(|(flat, _, _)| flat == name) {
        if let Some(o) = v.as_object_mut() {
            o.insert("name".into(), json!(inner));
            o.insert("namespace".into(), json!(ns));
        }
    }
    v
}

pub(crate) fn usage_json(u: &Usage) -> Value {
    json!({
        "input_tokens": u.prompt,
        "input_tokens_details": {"cached_tokens": u.cached},
        "output_tokens": u.completion,
        "output_tokens_details": {"reasoning_tokens": u.reasoning},
        // Saturating: the counts are the upstream's word (u64::MAX overflowed; the fuzzer).
        "total_tokens": u.prompt.saturating_add(u.completion),
    })
}

/// The `response` object.
pub(crate) fn response_json(
    meta: &ResponseMeta,
    end: &End,
    output: Vec<Value>,
    usage: Option<&Usage>,
) -> Value {
    let (status, incomplete, error) = match end {
        End::InProgress => ("in_progress", Value::Null, Value::Null),
        End::Failed(message) => (
            "failed",
            Value::Null,
            json!({"code": "server_error", "message": message}),
        ),
        End::Finished("length") => (
            "incomplete",
            json!({"reason": "max_output_tokens"}),
            Value::Null,
        ),
        End::Finished(r) if crate::core::finish::normalize(r) == "content_filter" => (
            "incomplete",
            json!({"reason": "content_filter"}),
            Value::Null,
        ),
        End::Finished(_) => ("completed", Value::Null, Value::Null),
    };
    let mut o = Map::new();
    o.insert("id".into(), json!(meta.id));
    o.insert("object".into(), json!("response"));
    o.insert("created_at".into(), json!(meta.created_at));
    o.insert("status".into(), json!(status));
    o.insert("error".into(), error);
    o.insert("incomplete_details".into(), incomplete);
    o.insert("model".into(), json!(meta.model));
    o.insert("output".into(), Value::Array(output));
    o.insert("usage".into(), usage.map_or(Value::Null, usage_json));
    for (k, v) in &meta.echo {
        o.entry(k.clone()).or_insert_with(|| v.clone());
    }
    Value::Object(o)
}

/// The Responses event name for a finished response.
pub(crate) fn terminal_event(response: &Value) -> &'static str {
    match response.get("status").and_then(Value::as_str) {
        Some("incomplete") => "response.incomplete",
        Some("failed") => "response.failed",
        _ => "response.completed",
    }
}

/// Buffers the chat JSON and emits the whole `response` object from `finish`.
pub struct NonStreamTranslator {
    meta: ResponseMeta,
    body: Vec<u8>,
    usage: Option<Usage>,
    done: bool,
    final_response: Option<Value>,
}

impl NonStreamTranslator {
    pub fn new(meta: ResponseMeta) -> Self {
        NonStreamTranslator {
            meta,
            body: Vec::new(),
            usage: None,
            done: false,
            final_response: None,
        }
    }

    /// The response object once `finish` built a completed or incomplete one.
    pub fn final_response(&self) -> Option<Value> {
        self.final_response.clone()
    }

    fn failed(&self, message: &str) -> Value {
        response_json(&self.meta, &End::Failed(message), Vec::new(), None)
    }

    /// The response for a parsed chat completion.
    fn translate(&mut self, chat: &Value) -> Value {
        let mut events = Vec::new();
        ChatStreamDecoder::new().decode_chunk(chat, &mut events);
        let mut items: Vec<Item> = Vec::new();
        let mut reason = None;
        for ev in events {
            match ev {
                ChatEvent::Error(m) => return self.failed(&m),
                ChatEvent::Reasoning(r) => items.push(Item::Reasoning(r)),
                ChatEvent::Text(t) => items.push(Item::Message(t)),
                ChatEvent::ToolCallStart { id, name, .. } => items.push(Item::Call {
                    call_id: id,
                    name,
                    args: String::new(),
                }),
                ChatEvent::ToolCallArgs { delta, .. } => {
                    if let Some(Item::Call { args, .. }) = items.last_mut() {
                        args.push_str(&delta);
                    }
                }
                ChatEvent::Finish(r) => reason = Some(r),
                ChatEvent::Usage(u) => self.usage = Some(u),
                ChatEvent::Start { .. } | ChatEvent::Done => {}
            }
        }
        if chat.get("choices").and_then(Value::as_array).is_none() {
            return self.failed("the upstream answer has no choices");
        }
        let output = items
            .iter()
            .enumerate()
            .map(|(i, it)| item_json(&self.meta, i, it, true))
            .collect();
        let reason = reason.unwrap_or_else(|| "stop".into());
        let resp = response_json(
            &self.meta,
            &End::Finished(&reason),
            output,
            self.usage.as_ref(),
        );
        self.final_response = Some(resp.clone());
        resp
    }
}

impl ResponseTranslator for NonStreamTranslator {
    fn feed(&mut self, chunk: &[u8]) -> Vec<u8> {
        if !self.done {
            self.body.extend_from_slice(chunk);
        }
        Vec::new()
    }

    fn finish(&mut self) -> Vec<u8> {
        if std::mem::replace(&mut self.done, true) {
            return Vec::new();
        }
        let body = std::mem::take(&mut self.body);
        let resp = match serde_json::from_slice::<Value>(&body) {
            Ok(chat) if chat.is_object() => self.translate(&chat),
            _ => self.failed("the upstream answer is not valid chat completion JSON"),
        };
        resp.to_string().into_bytes()
    }

    fn fail(&mut self, message: &str) -> Vec<u8> {
        if std::mem::replace(&mut self.done, true) {
            return Vec::new();
        }
        self.body.clear();
        self.failed(message).to_string().into_bytes()
    }

    fn usage(&self) -> Option<Usage> {
        self.usage
    }

    fn final_response(&self) -> Option<Value> {
        self.final_response.clone()
    }
}
