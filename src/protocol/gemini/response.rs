//! Chat completion (non-streaming) → `GenerateContentResponse`, and the tool-call assembly
//! both translators share.
//!
//! The body is buffered and translated in `finish`: the completion is read with the same
//! decoder as a stream (its `message` is one big delta), so both sides map alike. An answer
//! that is not a chat completion (bad JSON, no choices, an `error` object) becomes Google's
//! error object: the upstream's 2xx status has already gone out, so only the body can say it.

use super::errors::error_json;
use super::meta::{finish_reason, function_call, response, usage_metadata, GeminiMeta};
use crate::core::translate::ResponseTranslator;
use crate::core::usage::Usage;
use crate::protocol::anthropic::count::text_units;
use crate::protocol::chat_stream::{ChatEvent, ChatStreamDecoder};
use rustc_hash::FxHashMap;
use serde_json::{json, Value};

/// A tool call being assembled from its chunks.
struct Call {
    id: String,
    name: String,
    arguments: String,
}

/// The tool calls of one answer, by the chat `index` their chunks carry (a new id at a known
/// index is a new call, which the decoder reports as a new start).
#[derive(Default)]
pub(super) struct Calls {
    calls: Vec<Call>,
    by_index: FxHashMap<usize, usize>,
}

impl Calls {
    pub(super) fn start(&mut self, index: usize, id: String, name: String) {
        self.by_index.insert(index, self.calls.len());
        self.calls.push(Call {
            id,
            name,
            arguments: String::new(),
        });
    }

    pub(super) fn args(&mut self, index: usize, delta: &str) {
        let call = self
            .by_index
            .get(&index)
            .and_then(|n| self.calls.get_mut(*n));
        if let Some(call) = call {
            call.arguments.push_str(delta);
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// The `functionCall` parts, each whole, in the order the calls started.
    pub(super) fn take_parts(&mut self) -> Vec<Value> {
        self.by_index.clear();
        std::mem::take(&mut self.calls)
            .into_iter()
            .map(|c| function_call(&c.id, &c.name, &c.arguments))
            .collect()
    }
}

/// Buffers a chat completion and answers with the translated response.
pub struct BodyTranslator {
    meta: GeminiMeta,
    body: Vec<u8>,
    usage: Option<Usage>,
    done: bool,
}

impl BodyTranslator {
    pub fn new(meta: GeminiMeta) -> Self {
        BodyTranslator {
            meta,
            body: Vec::new(),
            usage: None,
            done: false,
        }
    }

    fn translate(&mut self, events: Vec<ChatEvent>) -> Value {
        let (mut thought, mut text) = (String::new(), String::new());
        let mut calls = Calls::default();
        let mut finish = None;
        let mut units = 0;
        for e in events {
            match e {
                ChatEvent::Reasoning(r) => {
                    units += text_units(&r);
                    thought.push_str(&r);
                }
                ChatEvent::Text(t) => {
                    units += text_units(&t);
                    text.push_str(&t);
                }
                ChatEvent::ToolCallStart { index, id, name } => {
                    units += text_units(&name);
                    calls.start(index, id, name);
                }
                ChatEvent::ToolCallArgs { index, delta } => {
                    units += text_units(&delta);
                    calls.args(index, &delta);
                }
                ChatEvent::Finish(f) => finish = Some(f),
                ChatEvent::Usage(u) => self.usage = Some(u),
                ChatEvent::Error(m) => return error_json(500, &m),
                ChatEvent::Start { .. } | ChatEvent::Done => {}
            }
        }
        let mut parts = Vec::new();
        if self.meta.thoughts && !thought.is_empty() {
            parts.push(json!({"text": thought, "thought": true}));
        }
        if !text.is_empty() || calls.is_empty() {
            parts.push(json!({ "text": text }));
        }
        parts.extend(calls.take_parts());
        let finish = finish_reason(finish.as_deref().unwrap_or("stop"));
        let usage = usage_metadata(self.usage, &self.meta, units);
        response(&self.meta, parts, Some((finish, usage)))
    }
}

impl ResponseTranslator for BodyTranslator {
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
        let out = match completion_events(&body) {
            Ok(events) => self.translate(events),
            Err(message) => error_json(500, &message),
        };
        out.to_string().into_bytes()
    }

    fn fail(&mut self, message: &str) -> Vec<u8> {
        if std::mem::replace(&mut self.done, true) {
            return Vec::new();
        }
        error_json(500, message).to_string().into_bytes()
    }

    fn usage(&self) -> Option<Usage> {
        self.usage
    }
}

/// The events of the chat completion in `body`, or the message to report. An upstream that
/// answered with SSE although `stream` was off is read as the stream it is.
fn completion_events(body: &[u8]) -> Result<Vec<ChatEvent>, String> {
    let mut decoder = ChatStreamDecoder::new();
    let mut events = Vec::new();
    let v = match serde_json::from_slice::<Value>(body) {
        Ok(v) => v,
        Err(_) if body.trim_ascii_start().starts_with(b"data:") => {
            decoder.feed(body, &mut events);
            decoder.finish(&mut events);
            return Ok(events);
        }
        Err(e) => return Err(format!("upstream returned an invalid chat completion: {e}")),
    };
    let has_choice = v
        .get("choices")
        .and_then(Value::as_array)
        .is_some_and(|c| !c.is_empty());
    let has_error = v.get("error").is_some_and(|e| !e.is_null());
    if !has_choice && !has_error {
        return Err("upstream returned a chat completion without choices".into());
    }
    decoder.decode_chunk(&v, &mut events);
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> GeminiMeta {
        GeminiMeta {
            response_id: "r1".into(),
            model: "hy".into(),
            thoughts: true,
            prompt_estimate: 9,
            ..GeminiMeta::default()
        }
    }

    fn translate(body: &Value) -> Value {
        let mut t = BodyTranslator::new(meta());
        let text = body.to_string();
        let (a, b) = text.split_at(text.len() / 2);
        assert!(t.feed(a.as_bytes()).is_empty());
        assert!(t.feed(b.as_bytes()).is_empty());
        let out = t.finish();
        assert!(t.finish().is_empty());
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn text_answer_with_cached_usage() {
        let v = translate(&json!({"id": "c", "choices": [{"index": 0,
            "message": {"role": "assistant", "content": "Hi!"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 50, "completion_tokens": 7,
                "prompt_tokens_details": {"cached_tokens": 20}}}));
        assert_eq!(
            v,
            json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "Hi!"}]},
                "finishReason": "STOP", "index": 0}],
                "usageMetadata": {"promptTokenCount": 50, "candidatesTokenCount": 7,
                    "totalTokenCount": 57, "cachedContentTokenCount": 20},
                "modelVersion": "hy", "responseId": "r1"})
        );
    }

    #[test]
    fn reasoning_and_tool_calls() {
        let v = translate(&json!({"choices": [{"message": {"content": null,
            "reasoning_content": "ponder",
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "ls", "arguments": "{\"d\":\".\"}"}},
                {"id": "call_2", "type": "function", "function": {"name": "pwd", "arguments": ""}}]},
            "finish_reason": "tool_calls"}]}));
        let parts = v["candidates"][0]["content"]["parts"].as_array().unwrap();
        assert_eq!(parts[0], json!({"text": "ponder", "thought": true}));
        assert_eq!(
            parts[1],
            json!({"functionCall": {"id": "call_1", "name": "ls", "args": {"d": "."}}})
        );
        assert_eq!(
            parts[2],
            json!({"functionCall": {"id": "call_2", "name": "pwd", "args": {}}})
        );
        assert_eq!(parts.len(), 3);
        assert_eq!(v["candidates"][0]["finishReason"], "STOP");
        assert_eq!(v["usageMetadata"]["promptTokenCount"], 9, "the estimate");
    }

    #[test]
    fn finish_reasons_and_hidden_thoughts() {
        for (chat, gemini) in [("length", "MAX_TOKENS"), ("sensitive", "SAFETY")] {
            let v = translate(&json!({"choices": [{"message": {"content": "x"},
                "finish_reason": chat}]}));
            assert_eq!(v["candidates"][0]["finishReason"], gemini);
        }
        let mut t = BodyTranslator::new(GeminiMeta {
            thoughts: false,
            ..meta()
        });
        t.feed(br#"{"choices":[{"message":{"content":"a","reasoning_content":"r"}}]}"#);
        let v: Value = serde_json::from_slice(&t.finish()).unwrap();
        assert_eq!(
            v["candidates"][0]["content"]["parts"],
            json!([{"text": "a"}])
        );
    }

    #[test]
    fn bad_bodies_are_google_errors() {
        for body in [
            &b"not json"[..],
            b"{\"choices\":[]}",
            b"",
            b"{\"error\":{\"message\":\"quota\"}}",
        ] {
            let mut t = BodyTranslator::new(meta());
            t.feed(body);
            let v: Value = serde_json::from_slice(&t.finish()).unwrap();
            assert_eq!(v["error"]["status"], "INTERNAL", "{v}");
        }
        let mut t = BodyTranslator::new(meta());
        let v: Value = serde_json::from_slice(&t.fail("cut")).unwrap();
        assert_eq!(v["error"]["message"], "cut");
        assert!(t.finish().is_empty());
    }

    #[test]
    fn sse_body_is_folded() {
        let body = concat!(
            "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"content\":\"lo\"},\"finish_reason\":\"stop\"}]}\n\n",
            "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2}}\n\n",
            "data: [DONE]\n\n"
        );
        let mut t = BodyTranslator::new(meta());
        t.feed(body.as_bytes());
        let v: Value = serde_json::from_slice(&t.finish()).unwrap();
        assert_eq!(
            v["candidates"][0]["content"]["parts"],
            json!([{"text": "Hello"}])
        );
        assert_eq!(v["usageMetadata"]["totalTokenCount"], 5);
        assert_eq!(t.usage().map(|u| u.prompt), Some(3));
    }
}
