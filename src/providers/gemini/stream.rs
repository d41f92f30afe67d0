//! Gemini SSE (`streamGenerateContent?alt=sse`) → chat SSE.
//!
//! Each Gemini event (`data: {GenerateContentResponse}`, separated by `\r\n\r\n` or `\n\n`)
//! becomes at most one chat chunk per candidate: its thought text as `reasoning_content`, its
//! text as `content`, its function calls as `tool_calls`, each call whole in one delta (Gemini
//! sends a call whole) with the next `index` of its choice; the first chunk of a choice
//! carries `role`. The chunk with Gemini's `finishReason` carries `finish_reason` (mapped as
//! in [`super::decode`]). Gemini repeats `usageMetadata` on every event; the last one is sent
//! at the end as a chunk with `"choices": []` (like OpenAI's `include_usage`), then
//! `data: [DONE]`.
//!
//! Gemini sends no end marker: the stream is complete when the body ends after every started
//! choice finished (or the prompt was blocked). A body that ends earlier, an in-stream `error`
//! object, or `fail` is truncation: one `data: {"error": ...}` event and no `[DONE]`, so a
//! client raises instead of taking a cut answer for a whole one. Malformed events are
//! skipped. Input may be split anywhere; each byte is searched for an event end once.

use serde_json::{json, Map, Value};

use super::decode::{
    blocked, candidates, error_json, error_message, finish_reason, model_name, now_secs,
    read_parts, usage_of, Ids,
};
use crate::core::sse;
use crate::core::sse::{data_of, Splitter};
use crate::core::translate::ResponseTranslator;
use crate::core::usage::Usage;

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum State {
    Open,
    /// `[DONE]` sent.
    Done,
    /// An error event sent.
    Failed,
}

/// One chat choice (one Gemini candidate).
struct Choice {
    index: u64,
    /// A chunk was sent (the first one carries `role`).
    started: bool,
    /// Tool calls sent so far (the next call's `index`).
    calls: usize,
    finished: bool,
}

/// Translates one streamed answer.
pub struct StreamDecoder {
    model: String,
    created: u64,
    events: Splitter,
    state: State,
    /// Set by the first response (its `responseId`).
    ids: Option<Ids>,
    choices: Vec<Choice>,
    blocked: bool,
    usage: Option<(Value, Usage)>,
}

impl StreamDecoder {
    pub fn new(model: &str) -> Self {
        StreamDecoder {
            model: model.to_string(),
            created: now_secs(),
            events: Splitter::default(),
            state: State::Open,
            ids: None,
            choices: Vec::new(),
            blocked: false,
            usage: None,
        }
    }

    fn event(&mut self, event: &[u8], out: &mut Vec<u8>) {
        let Some(data) = data_of(event) else {
            return;
        };
        if let Ok(v) = serde_json::from_slice::<Value>(data.trim_ascii()) {
            self.response(&v, out);
        }
    }

    fn response(&mut self, v: &Value, out: &mut Vec<u8>) {
        if self.state != State::Open {
            return;
        }
        if let Some(m) = error_message(v) {
            self.fail_with(&m, out);
            return;
        }
        let mut ids = match self.ids.take() {
            Some(ids) => ids,
            None => {
                self.model = model_name(&self.model, Some(v));
                Ids::new(v.get("responseId").and_then(Value::as_str))
            }
        };
        for (index, cand) in candidates(v) {
            self.candidate(index, cand, &mut ids, out);
        }
        if blocked(v) && self.choices.is_empty() && !self.blocked {
            self.blocked = true;
            let delta = json!({"role": "assistant", "content": ""});
            let c = self.chunk(&ids, 0, delta, Some("content_filter"));
            sse::data(out, &c);
        }
        self.ids = Some(ids);
        if let Some(u) = usage_of(v) {
            self.usage = Some(u);
        }
    }

    fn candidate(&mut self, index: u64, cand: &Value, ids: &mut Ids, out: &mut Vec<u8>) {
        let said = read_parts(cand, ids);
        let pos = match self.choices.iter().position(|c| c.index == index) {
            Some(p) => p,
            None => {
                self.choices.push(Choice {
                    index,
                    started: false,
                    calls: 0,
                    finished: false,
                });
                self.choices.len() - 1
            }
        };
        let Some(choice) = self.choices.get_mut(pos) else {
            return;
        };
        let mut delta = Map::new();
        if !choice.started {
            delta.insert("role".into(), json!("assistant"));
        }
        if !said.reasoning.is_empty() {
            delta.insert("reasoning_content".into(), json!(said.reasoning));
        }
        if !said.text.is_empty() {
            delta.insert("content".into(), json!(said.text));
        }
        if !said.calls.is_empty() {
            let calls: Vec<Value> = said
                .calls
                .into_iter()
                .enumerate()
                .map(|(k, mut c)| {
                    c["index"] = json!(choice.calls + k);
                    c
                })
                .collect();
            choice.calls += calls.len();
            delta.insert("tool_calls".into(), Value::Array(calls));
        }
        let finish = cand
            .get("finishReason")
            .and_then(Value::as_str)
            .filter(|_| !choice.finished)
            .map(|r| finish_reason(r, choice.calls > 0));
        choice.finished |= finish.is_some();
        if delta.len() == usize::from(!choice.started) && finish.is_none() {
            // Nothing said (a role alone is not worth a chunk).
            return;
        }
        choice.started = true;
        let c = self.chunk(ids, index, Value::Object(delta), finish);
        sse::data(out, &c);
    }

    fn chunk(&self, ids: &Ids, index: u64, delta: Value, finish: Option<&str>) -> Value {
        json!({
            "id": ids.completion_id(),
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": index, "delta": delta, "logprobs": null,
                "finish_reason": finish}],
        })
    }

    /// The normal end: the usage chunk, then `[DONE]`.
    fn complete(&mut self, out: &mut Vec<u8>) {
        self.state = State::Done;
        if let (Some((usage, _)), Some(ids)) = (&self.usage, &self.ids) {
            let c = json!({
                "id": ids.completion_id(),
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.model,
                "choices": [],
                "usage": usage,
            });
            sse::data(out, &c);
        }
        out.extend_from_slice(b"data: [DONE]\n\n");
    }

    fn fail_with(&mut self, message: &str, out: &mut Vec<u8>) {
        if self.state == State::Open {
            self.state = State::Failed;
            self.events.clear();
            sse::data(out, &error_json(message));
        }
    }
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
        let started = !self.choices.is_empty();
        if self.blocked || (started && self.choices.iter().all(|c| c.finished)) {
            self.complete(&mut out);
        } else {
            self.fail_with(
                "upstream stream ended before the answer was complete",
                &mut out,
            );
        }
        out
    }

    fn fail(&mut self, message: &str) -> Vec<u8> {
        let mut out = Vec::new();
        self.fail_with(message, &mut out);
        out
    }

    fn usage(&self) -> Option<Usage> {
        self.usage.as_ref().map(|(_, u)| *u)
    }
}
