//! A streamed Messages answer (SSE) → a chat completion stream.
//!
//! Anthropic sends one content block at a time; each becomes chat deltas as it arrives:
//! `message_start` → the role chunk, text → `content`, thinking → `reasoning_content`,
//! `tool_use` → a `tool_calls` entry (index = its rank among the answer's calls) whose
//! `input_json_delta`s are `arguments` deltas. `message_stop` (or the body's end after
//! `message_delta`) → the chunk with `finish_reason` (and `reasoning_signature`, see
//! [`super::decode::Signature`]), the usage chunk (`choices: []`) and `data: [DONE]`.
//!
//! Failure (an `error` event, a stream cut before `message_delta`, or `fail`) is one
//! `data: {"error": …}` event without `[DONE]`, so chat clients raise instead of keeping a
//! silently truncated answer. An upstream that answered a stream request with a `message`
//! JSON is translated into the same chunks.

use super::decode::{now_secs, Signature};
use super::errors::{message_of, openai_error, openai_type};
use super::events::{finish_reason, message_events, Ev, EventDecoder};
use super::usage::Tokens;
use crate::core::sse;
use crate::core::text::truncate;
use crate::core::translate::ResponseTranslator;
use crate::core::usage::Usage;
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Running,
    Ended,
    Failed,
}

/// What the body turned out to be, from its first non-blank byte.
#[derive(Debug)]
enum Body {
    Unknown,
    Sse,
    /// A JSON answer, buffered until the end.
    Json(Vec<u8>),
}

pub(super) struct StreamDecoder {
    model: String,
    created: u64,
    id: String,
    body: Body,
    events: EventDecoder,
    started: bool,
    called_tools: bool,
    signature: Signature,
    stop: Option<(Option<String>, Option<String>)>,
    tokens: Option<Tokens>,
    phase: Phase,
}

impl StreamDecoder {
    pub fn new(model: &str) -> Self {
        StreamDecoder {
            model: model.to_string(),
            created: now_secs(),
            id: String::new(),
            body: Body::Unknown,
            events: EventDecoder::default(),
            started: false,
            called_tools: false,
            signature: Signature::default(),
            stop: None,
            tokens: None,
            phase: Phase::Running,
        }
    }

    fn handle_all(&mut self, evs: Vec<Ev>, out: &mut Vec<u8>) {
        for ev in evs {
            if self.phase != Phase::Running {
                return;
            }
            self.handle(ev, out);
        }
    }

    fn handle(&mut self, ev: Ev, out: &mut Vec<u8>) {
        match ev {
            Ev::Start { id } => {
                if !self.started {
                    self.id = id;
                }
                self.start(out);
            }
            Ev::Text(t) => self.delta(json!({"content": t}), out),
            Ev::Thinking(t) => self.delta(json!({"reasoning_content": t}), out),
            Ev::Signature(s) => self.signature.text.push_str(&s),
            Ev::ThinkingBlock { redacted } => self.signature.block(redacted),
            Ev::ToolStart { index, id, name } => {
                self.called_tools = true;
                let call = json!({"index": index, "id": id, "type": "function",
                    "function": {"name": name, "arguments": ""}});
                self.delta(json!({"tool_calls": [call]}), out);
            }
            Ev::ToolArgs { index, delta } => {
                let call = json!({"index": index, "function": {"arguments": delta}});
                self.delta(json!({"tool_calls": [call]}), out);
            }
            Ev::Stop { reason, sequence } => self.stop = Some((reason, sequence)),
            Ev::Usage(t) => self.tokens = Some(t),
            Ev::End => self.end(out),
            Ev::Error { kind, message } => {
                let kind = (!kind.is_empty()).then_some(kind);
                self.error(&message, kind.as_deref(), out);
            }
        }
    }

    /// The role chunk, once, before anything else.
    fn start(&mut self, out: &mut Vec<u8>) {
        if std::mem::replace(&mut self.started, true) {
            return;
        }
        let chunk = self.chunk(json!({"role": "assistant", "content": ""}), None);
        sse::data(out, &chunk);
    }

    fn delta(&mut self, delta: Value, out: &mut Vec<u8>) {
        self.start(out);
        let chunk = self.chunk(delta, None);
        sse::data(out, &chunk);
    }

    fn chunk(&self, delta: Value, finish: Option<&str>) -> Value {
        json!({"id": self.id, "object": "chat.completion.chunk", "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    }

    /// The finishing chunk, the usage chunk and `[DONE]`.
    fn end(&mut self, out: &mut Vec<u8>) {
        self.start(out);
        let (reason, sequence) = self.stop.take().unwrap_or_default();
        let mut delta = json!({});
        if let Some(s) = self.signature.kept() {
            delta["reasoning_signature"] = json!(s);
        }
        let finish = finish_reason(reason.as_deref(), self.called_tools);
        let mut chunk = self.chunk(delta, Some(finish));
        if let Some(seq) = sequence {
            chunk["choices"][0]["stop_reason"] = json!(seq);
        }
        sse::data(out, &chunk);
        if let Some(t) = &self.tokens {
            let usage = json!({"id": self.id, "object": "chat.completion.chunk",
                "created": self.created, "model": self.model, "choices": [],
                "usage": t.chat_json()});
            sse::data(out, &usage);
        }
        out.extend_from_slice(b"data: [DONE]\n\n");
        self.phase = Phase::Ended;
    }

    fn error(&mut self, message: &str, kind: Option<&str>, out: &mut Vec<u8>) {
        let message = if message.is_empty() {
            "upstream error"
        } else {
            message
        };
        let body = openai_error(&truncate(message), openai_type(kind, None), kind);
        sse::data(out, &body);
        self.phase = Phase::Failed;
    }

    /// Decides what the body is on its first non-blank byte.
    fn classify(&mut self, chunk: &[u8]) {
        if let Body::Unknown = self.body {
            match chunk.iter().find(|b| !b.is_ascii_whitespace()) {
                Some(b'{') => self.body = Body::Json(Vec::new()),
                Some(_) => self.body = Body::Sse,
                None => {}
            }
        }
    }

    /// The end of a body that was a JSON answer.
    fn finish_json(&mut self, body: &[u8], out: &mut Vec<u8>) {
        let v = match serde_json::from_slice::<Value>(body) {
            Ok(v) if v.get("content").is_some_and(Value::is_array) => v,
            Ok(v) => {
                let kind = v.pointer("/error/type").and_then(Value::as_str);
                let message = message_of(&v)
                    .unwrap_or_else(|| "upstream returned an invalid Messages answer".into());
                return self.error(&message, kind, out);
            }
            Err(e) => {
                let message = format!("upstream returned an invalid Messages answer: {e}");
                return self.error(&message, None, out);
            }
        };
        self.handle_all(message_events(&v), out);
    }
}

impl ResponseTranslator for StreamDecoder {
    fn feed(&mut self, chunk: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        if self.phase != Phase::Running {
            return out;
        }
        self.classify(chunk);
        match &mut self.body {
            Body::Json(buf) => buf.extend_from_slice(chunk),
            // Blank bytes before the first event are kept by the decoder like any other.
            Body::Sse | Body::Unknown => {
                let mut evs = Vec::new();
                self.events.feed(chunk, &mut evs);
                self.handle_all(evs, &mut out);
            }
        }
        out
    }

    fn finish(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.phase != Phase::Running {
            return out;
        }
        if let Body::Json(buf) = std::mem::replace(&mut self.body, Body::Sse) {
            self.finish_json(&buf, &mut out);
        } else {
            let mut evs = Vec::new();
            self.events.finish(&mut evs);
            self.handle_all(evs, &mut out);
        }
        if self.phase == Phase::Running {
            if self.stop.is_some() {
                self.end(&mut out);
            } else {
                self.error(
                    "upstream stream ended before the answer was complete",
                    None,
                    &mut out,
                );
            }
        }
        out
    }

    fn fail(&mut self, message: &str) -> Vec<u8> {
        let mut out = Vec::new();
        if self.phase == Phase::Running {
            self.error(message, None, &mut out);
        }
        out
    }

    fn usage(&self) -> Option<Usage> {
        self.tokens.map(|t| t.usage())
    }
}
