//! Native SSE (`Stream: true`) → chat SSE.
//!
//! Each native event, `data: {"Id", "Created", "Choices": [{"Index", "Delta": {"Role",
//! "Content", "ReasoningContent", "ToolCalls"}, "FinishReason"}], "Usage", "Note"}`, becomes at
//! most one chat chunk per choice: `ReasoningContent` → `reasoning_content`, `Content` →
//! `content`, `ToolCalls` → `tool_calls`; the first chunk of a choice carries `role`.
//! Tencent's rule for tool calls is to merge the pieces of one call by `Id` (`Index` is not
//! always sent): the first piece of a call gets the next `index` of its choice with `id`,
//! `type` and `name`, later pieces of the same call (same `Id`, else same `Index`, else no id
//! at all: the last call) only their `arguments`, so a client that concatenates deltas gets
//! the name once. `FinishReason` (mapped as in [`super::decode`]) goes on the chunk of the
//! event that carries it.
//!
//! Every event repeats `Usage`; the last one is sent at the end as a chunk with
//! `"choices": []` (like OpenAI's `include_usage`), then `data: [DONE]`. The native stream
//! has no end marker: it is complete when the body ends after every started choice finished.
//! A body that ends earlier, an event carrying Tencent's `Error` (or a stream's `ErrorMsg`),
//! or `fail` is truncation: one `data: {"error": ...}` event and no `[DONE]`, so a client
//! raises instead of taking a cut answer for a whole one. Malformed events are skipped.
//! Input may be split anywhere; each byte is searched for an event end once.

use serde_json::{json, Map, Value};

use super::decode::{
    answer_id, created, error_of, finish_reason, index_of, random_id, str_at, usage_of,
};
use crate::core::sse;
use crate::core::sse::{data_of, Splitter};
use crate::core::translate::ResponseTranslator;
use crate::core::usage::Usage;
use crate::providers::buffered::server_error;

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum State {
    Open,
    /// `[DONE]` sent.
    Done,
    /// An error event sent.
    Failed,
}

/// One tool call of a choice, as the native stream names it.
struct Call {
    id: String,
    upstream_index: Option<u64>,
    named: bool,
}

/// One chat choice.
struct Choice {
    index: u64,
    /// A chunk was sent (the first one carries `role`).
    started: bool,
    calls: Vec<Call>,
    finished: bool,
}

impl Choice {
    /// The position of the call a piece belongs to, a new one for a new `Id`.
    fn call_for(&mut self, id: &str, upstream_index: Option<u64>) -> (usize, bool) {
        let known = if !id.is_empty() {
            self.calls.iter().position(|c| c.id == id)
        } else if upstream_index.is_some() {
            self.calls
                .iter()
                .position(|c| c.upstream_index == upstream_index)
        } else {
            self.calls.len().checked_sub(1)
        };
        match known {
            Some(k) => (k, false),
            None => {
                self.calls.push(Call {
                    id: id.to_string(),
                    upstream_index,
                    named: false,
                });
                (self.calls.len() - 1, true)
            }
        }
    }
}

/// Translates one streamed answer.
pub struct StreamDecoder {
    model: String,
    events: Splitter,
    state: State,
    /// The chunks' `id` and `created`, from the first event.
    head: Option<(String, u64)>,
    choices: Vec<Choice>,
    usage: Option<Usage>,
}

impl StreamDecoder {
    pub fn new(model: &str) -> Self {
        StreamDecoder {
            model: model.to_string(),
            events: Splitter::default(),
            state: State::Open,
            head: None,
            choices: Vec::new(),
            usage: None,
        }
    }

    fn event(&mut self, event: &[u8], out: &mut Vec<u8>) {
        // A bare JSON body (Tencent's error answer to a stream request) has no `data:` line.
        let data = data_of(event).unwrap_or(std::borrow::Cow::Borrowed(event));
        if let Ok(v) = serde_json::from_slice::<Value>(data.trim_ascii()) {
            self.response(&v, out);
        }
    }

    fn response(&mut self, v: &Value, out: &mut Vec<u8>) {
        if self.state != State::Open {
            return;
        }
        let r = v.get("Response").unwrap_or(v);
        if let Some(err) = error_of(r) {
            self.fail_with(&err, out);
            return;
        }
        if self.head.is_none() {
            self.head = Some((answer_id(r).unwrap_or_else(random_id), created(r)));
        }
        let list = r.get("Choices").and_then(Value::as_array);
        for (pos, c) in list.into_iter().flatten().enumerate() {
            self.choice(index_of(c, pos), c, out);
        }
        // An event may carry usage alone (no choices).
        if let Some(u) = usage_of(r) {
            self.usage = Some(u);
        }
    }

    fn choice(&mut self, index: u64, c: &Value, out: &mut Vec<u8>) {
        let pos = match self.choices.iter().position(|ch| ch.index == index) {
            Some(p) => p,
            None => {
                self.choices.push(Choice {
                    index,
                    started: false,
                    calls: Vec::new(),
                    finished: false,
                });
                self.choices.len() - 1
            }
        };
        let Some(choice) = self.choices.get_mut(pos) else {
            return;
        };
        let d = c.get("Delta").unwrap_or(&Value::Null);
        let mut delta = Map::new();
        if !choice.started {
            delta.insert("role".into(), json!("assistant"));
        }
        for (from, to) in [
            ("ReasoningContent", "reasoning_content"),
            ("Content", "content"),
        ] {
            let text = str_at(d, from);
            if !text.is_empty() {
                delta.insert(to.into(), json!(text));
            }
        }
        let calls = tool_call_deltas(choice, d);
        if !calls.is_empty() {
            delta.insert("tool_calls".into(), Value::Array(calls));
        }
        let finish = finish_reason(c.get("FinishReason"));
        let finish = if choice.finished { Value::Null } else { finish };
        choice.finished |= !finish.is_null();
        if delta.len() == usize::from(!choice.started) && finish.is_null() {
            // Nothing said (a role alone is not worth a chunk).
            return;
        }
        choice.started = true;
        let chunk = self.chunk(json!([{"index": index, "delta": delta, "logprobs": null,
            "finish_reason": finish}]));
        sse::data(out, &chunk);
    }

    fn chunk(&self, choices: Value) -> Value {
        let (id, created) = self
            .head
            .as_ref()
            .map_or(("", 0), |(id, created)| (id.as_str(), *created));
        json!({"id": id, "object": "chat.completion.chunk", "created": created,
            "model": self.model, "choices": choices})
    }

    /// The normal end: the usage chunk, then `[DONE]`.
    fn complete(&mut self, out: &mut Vec<u8>) {
        self.state = State::Done;
        if let Some(u) = self.usage {
            let mut c = self.chunk(json!([]));
            c["usage"] = u.to_chat_json();
            sse::data(out, &c);
        }
        out.extend_from_slice(b"data: [DONE]\n\n");
    }

    fn fail_with(&mut self, err: &Value, out: &mut Vec<u8>) {
        if self.state == State::Open {
            self.state = State::Failed;
            self.events.clear();
            sse::data(out, err);
        }
    }
}

/// A delta's `ToolCalls` → chat tool-call deltas (see the module comment).
fn tool_call_deltas(choice: &mut Choice, d: &Value) -> Vec<Value> {
    let list = d.get("ToolCalls").and_then(Value::as_array);
    let mut out = Vec::new();
    for tc in list.into_iter().flatten() {
        let f = tc.get("Function").unwrap_or(&Value::Null);
        let (name, arguments) = (str_at(f, "Name"), str_at(f, "Arguments"));
        let (k, new) = choice.call_for(str_at(tc, "Id"), tc.get("Index").and_then(Value::as_u64));
        let Some(call) = choice.calls.get_mut(k) else {
            continue;
        };
        let mut delta = Map::new();
        delta.insert("index".into(), json!(k));
        let mut function = Map::new();
        if new || (!call.named && !name.is_empty()) {
            if !call.id.is_empty() {
                delta.insert("id".into(), json!(call.id));
            }
            delta.insert("type".into(), json!("function"));
            function.insert("name".into(), json!(name));
            call.named = !name.is_empty();
        }
        if !arguments.is_empty() || new {
            function.insert("arguments".into(), json!(arguments));
        }
        if function.is_empty() {
            continue;
        }
        delta.insert("function".into(), Value::Object(function));
        out.push(Value::Object(delta));
    }
    out
}

impl ResponseTranslator for StreamDecoder {
    fn feed(&mut self, chunk: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        if self.state != State::Open {
            return out;
        }
        let mut events = std::mem::take(&mut self.events);
        events.feed(chunk, |e| {
            self.event(e, &mut out);
            self.state == State::Open
        });
        self.events = events;
        out
    }

    fn finish(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.state != State::Open {
            return out;
        }
        if let Some(rest) = self.events.finish() {
            self.event(&rest, &mut out);
        }
        if self.state != State::Open {
            return out;
        }
        if !self.choices.is_empty() && self.choices.iter().all(|c| c.finished) {
            self.complete(&mut out);
        } else {
            let err = server_error("upstream stream ended before the answer was complete");
            self.fail_with(&err, &mut out);
        }
        out
    }

    fn fail(&mut self, message: &str) -> Vec<u8> {
        let mut out = Vec::new();
        self.fail_with(&server_error(message), &mut out);
        out
    }

    fn usage(&self) -> Option<Usage> {
        self.usage
    }
}
