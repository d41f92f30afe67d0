//! Legacy OpenAI Completions (`POST /v1/completions`) translated onto Chat Completions, for
//! pools whose upstream only speaks chat (the `hunyuan` profile).
//!
//! Request: the one prompt becomes one `user` message; sampling parameters pass through;
//! features chat cannot express (`suffix`, `echo`, `best_of` > 1, `logprobs`) are rejected
//! with a 400 naming the parameter rather than silently ignored.
//!
//! Decisions:
//! - `prompt` is a string, or an array holding exactly one string. An array of several
//!   prompts asks the legacy API for one completion *per prompt* (choices indexed per prompt);
//!   joining them into one message would silently change the meaning, so it is a 400
//!   ("only one prompt per request when translated"). Token-id prompts (`[1,2]`, `[[1,2]]`)
//!   are a 400 too: the gateway has no tokenizer. Missing, null and empty prompts are a 400
//!   (the legacy default `<|endoftext|>` prompt makes no sense as a chat message).
//! - `suffix: null|""`, `echo: null|false`, `best_of: null|1` and `logprobs: null` are
//!   accepted (they mean "off"); any other value is a 400.
//! - `max_tokens` passes only when the client set it (the legacy default of 16 is not
//!   imposed; the upstream's own default applies).
//! - Unknown request members are dropped (a chat-only upstream may reject them).
//! - `n` passes, also when streaming: the stream translator keeps each chat choice's `index`
//!   (it reads chunks itself rather than through `ChatStreamDecoder`, whose events only carry
//!   the first choice).
//! - Finish reasons: Hunyuan's `sensitive` becomes `content_filter`; an empty string counts
//!   as no finish; anything else passes as the upstream wrote it.
//! - A stream that ends after every started choice finished but without `[DONE]` is
//!   completed normally (usage chunk if asked, then `[DONE]`); one that ends with no finish
//!   is truncated: it gets an error event and no `[DONE]`.
//! - An upstream `[DONE]` always completes the stream (even with no finish seen). A chat chunk
//!   carrying both text and a finish reason becomes two completion chunks (text, then finish).

use rustc_hash::FxHashSet;
use serde_json::{json, Map, Value};

use crate::core::sse;
use crate::core::sse::{data_of, Splitter};
use crate::core::translate::{ResponseTranslator, TranslateError};
use crate::core::usage::Usage;

/// A legacy completions request expressed as a chat request.
#[derive(Clone, Debug)]
pub struct Translated {
    /// The Chat Completions request body.
    pub chat: Value,
    /// The client asked for a stream (and so does `chat`).
    pub stream: bool,
    /// What the response translator needs.
    pub meta: CompletionMeta,
}

/// What the response side writes into each completion object.
#[derive(Clone, Debug)]
pub struct CompletionMeta {
    /// `cmpl-…`, chosen by the gateway.
    pub id: String,
    pub created: u64,
    /// The model the client named.
    pub model: String,
    /// The client asked `stream_options.include_usage`: the usage chunk is sent to it.
    pub include_usage: bool,
}

/// Members copied unchanged from the completions request to the chat request (nulls dropped).
const PASSED: &[&str] = &[
    "n",
    "max_tokens",
    "temperature",
    "top_p",
    "stop",
    "presence_penalty",
    "frequency_penalty",
    "seed",
    "user",
    "logit_bias",
];

fn unsupported(param: &str) -> TranslateError {
    TranslateError::new(
        format!("`{param}` is not supported when translated to chat"),
        param,
    )
}

/// Translates a `/v1/completions` request body into a chat request.
pub fn to_chat(req: &Value, id: String, created: u64) -> Result<Translated, TranslateError> {
    let Some(obj) = req.as_object() else {
        return Err(TranslateError {
            message: "the request body must be a JSON object".into(),
            param: None,
        });
    };
    let model = match obj.get("model") {
        Some(Value::String(m)) if !m.is_empty() => m.clone(),
        _ => return Err(TranslateError::new("`model` is required", "model")),
    };
    let prompt = prompt_of(obj.get("prompt"))?;

    let present = |k: &str| obj.get(k).filter(|v| !v.is_null());
    match present("suffix") {
        None => {}
        Some(Value::String(s)) if s.is_empty() => {}
        Some(_) => return Err(unsupported("suffix")),
    }
    match present("echo") {
        None | Some(Value::Bool(false)) => {}
        Some(_) => return Err(unsupported("echo")),
    }
    if let Some(b) = present("best_of") {
        if b.as_u64() != Some(1) {
            return Err(unsupported("best_of"));
        }
    }
    if present("logprobs").is_some() {
        return Err(unsupported("logprobs"));
    }
    let stream = match present("stream") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(TranslateError::new("`stream` must be a boolean", "stream")),
    };
    let include_usage = stream
        && obj
            .get("stream_options")
            .and_then(|o| o.get("include_usage"))
            .and_then(Value::as_bool)
            .unwrap_or(false);

    let mut chat = Map::new();
    chat.insert("model".into(), Value::String(model.clone()));
    chat.insert(
        "messages".into(),
        json!([{ "role": "user", "content": prompt }]),
    );
    for key in PASSED {
        if let Some(v) = present(key) {
            chat.insert((*key).to_string(), v.clone());
        }
    }
    if stream {
        chat.insert("stream".into(), Value::Bool(true));
        // Always asked, so usage is known for metrics even when the client did not ask.
        chat.insert("stream_options".into(), json!({ "include_usage": true }));
    }
    Ok(Translated {
        chat: Value::Object(chat),
        stream,
        meta: CompletionMeta {
            id,
            created,
            model,
            include_usage,
        },
    })
}

/// The single prompt text of a request.
fn prompt_of(prompt: Option<&Value>) -> Result<String, TranslateError> {
    let err = |m: &str| TranslateError::new(m, "prompt");
    let text = match prompt {
        None | Some(Value::Null) => return Err(err("`prompt` is required")),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => match items.as_slice() {
            [] => return Err(err("`prompt` must not be empty")),
            [Value::String(s)] => s.clone(),
            _ if items.iter().all(Value::is_string) => {
                return Err(err("only one prompt per request when translated to chat"))
            }
            _ if items.iter().all(|i| i.is_number() || i.is_array()) => {
                return Err(err(
                    "token-id prompts are not supported when translated to chat",
                ))
            }
            _ => return Err(err("`prompt` must be a string or an array of strings")),
        },
        Some(_) => return Err(err("`prompt` must be a string or an array of strings")),
    };
    if text.is_empty() {
        return Err(err("`prompt` must not be empty"));
    }
    Ok(text)
}

/// The response translator for a translated request (`stream` as in [`Translated`]).
pub fn translator(meta: CompletionMeta, stream: bool) -> Box<dyn ResponseTranslator> {
    if stream {
        Box::new(StreamTranslator::new(meta))
    } else {
        Box::new(BodyTranslator {
            meta,
            buf: Vec::new(),
            usage: None,
            ended: false,
        })
    }
}

fn finish_reason(reason: &str) -> &str {
    crate::core::finish::normalize(reason)
}

/// The chat usage as it came (`prompt_tokens_details` with the cache counts included): the
/// legacy API's `usage` has the same shape.
fn usage_json(u: &Usage) -> Value {
    u.to_chat_json()
}

fn error_json(message: &str) -> Value {
    json!({ "error": { "message": message, "type": "server_error" } })
}

/// Text of a chat message's `content`: a string, or an array of text parts.
fn content_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect(),
        _ => String::new(),
    }
}

/// The index of the `pos`-th choice (its own `index` member when it has one).
fn choice_index(choice: &Value, pos: usize) -> u64 {
    choice
        .get("index")
        .and_then(Value::as_u64)
        .unwrap_or(pos as u64)
}

/// Non-streaming: buffers the chat completion, rewrites it at the end.
struct BodyTranslator {
    meta: CompletionMeta,
    buf: Vec<u8>,
    usage: Option<Usage>,
    ended: bool,
}

impl BodyTranslator {
    fn translate(&mut self, body: Vec<u8>) -> Vec<u8> {
        let Ok(v) = serde_json::from_slice::<Value>(&body) else {
            return body;
        };
        let Some(chat_choices) = v.get("choices").and_then(Value::as_array) else {
            return body;
        };
        let choices: Vec<Value> = chat_choices
            .iter()
            .enumerate()
            .map(|(pos, c)| {
                let message = c.get("message");
                let finish = c
                    .get("finish_reason")
                    .and_then(Value::as_str)
                    .filter(|r| !r.is_empty())
                    .map(finish_reason);
                json!({
                    "text": content_text(message.and_then(|m| m.get("content"))),
                    "index": choice_index(c, pos),
                    "logprobs": null,
                    "finish_reason": finish,
                })
            })
            .collect();
        let mut out = Map::new();
        out.insert("id".into(), Value::String(self.meta.id.clone()));
        out.insert("object".into(), Value::String("text_completion".into()));
        out.insert("created".into(), Value::from(self.meta.created));
        out.insert("model".into(), Value::String(self.meta.model.clone()));
        out.insert("choices".into(), Value::Array(choices));
        self.usage = Usage::of(&v);
        if let Some(u) = &self.usage {
            out.insert("usage".into(), usage_json(u));
        }
        Value::Object(out).to_string().into_bytes()
    }
}

impl ResponseTranslator for BodyTranslator {
    fn feed(&mut self, chunk: &[u8]) -> Vec<u8> {
        if !self.ended {
            self.buf.extend_from_slice(chunk);
        }
        Vec::new()
    }

    fn finish(&mut self) -> Vec<u8> {
        if self.ended {
            return Vec::new();
        }
        self.ended = true;
        let body = std::mem::take(&mut self.buf);
        self.translate(body)
    }

    fn fail(&mut self, message: &str) -> Vec<u8> {
        if self.ended {
            return Vec::new();
        }
        self.ended = true;
        self.buf = Vec::new();
        error_json(message).to_string().into_bytes()
    }

    fn usage(&self) -> Option<Usage> {
        self.usage
    }
}

#[derive(Debug, PartialEq, Eq)]
enum State {
    Open,
    /// `[DONE]` sent.
    Done,
    /// An error event sent.
    Failed,
}

/// Streaming: each chat chunk becomes completion chunks as soon as it is complete.
struct StreamTranslator {
    meta: CompletionMeta,
    events: Splitter,
    state: State,
    usage: Option<Usage>,
    /// Choice indexes that sent something and have not finished (sets: `n` choices per
    /// chunk are looked up in constant time each).
    open: FxHashSet<u64>,
    /// Choice indexes that finished.
    finished: FxHashSet<u64>,
}

impl StreamTranslator {
    fn new(meta: CompletionMeta) -> Self {
        StreamTranslator {
            meta,
            events: Splitter::default(),
            state: State::Open,
            usage: None,
            open: FxHashSet::default(),
            finished: FxHashSet::default(),
        }
    }

    fn chunk(&self, choices: Value) -> Value {
        json!({
            "id": self.meta.id,
            "object": "text_completion",
            "created": self.meta.created,
            "model": self.meta.model,
            "choices": choices,
        })
    }

    fn fail_with(&mut self, message: &str, out: &mut Vec<u8>) {
        if self.state == State::Open {
            self.state = State::Failed;
            self.events.clear();
            sse::data(out, &error_json(message));
        }
    }

    fn complete(&mut self, out: &mut Vec<u8>) {
        if self.state != State::Open {
            return;
        }
        self.state = State::Done;
        self.events.clear();
        if self.meta.include_usage {
            if let Some(u) = &self.usage {
                let mut c = self.chunk(json!([]));
                if let Some(o) = c.as_object_mut() {
                    o.insert("usage".into(), usage_json(u));
                }
                sse::data(out, &c);
            }
        }
        out.extend_from_slice(b"data: [DONE]\n\n");
    }

    fn event(&mut self, event: &[u8], out: &mut Vec<u8>) {
        if self.state != State::Open {
            return;
        }
        let Some(data) = data_of(event) else {
            return;
        };
        let data = data.trim_ascii();
        if data == b"[DONE]" {
            self.complete(out);
            return;
        }
        // Malformed events are skipped, as `ChatStreamDecoder` does.
        let Ok(v) = serde_json::from_slice::<Value>(data) else {
            return;
        };
        if let Some(err) = v.get("error").filter(|e| !e.is_null()) {
            let message = err
                .get("message")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .unwrap_or_else(|| err.to_string());
            self.fail_with(&message, out);
            return;
        }
        let choices = v.get("choices").and_then(Value::as_array);
        for (pos, choice) in choices.into_iter().flatten().enumerate() {
            self.choice(choice, pos, out);
        }
        if let Some(u) = Usage::of(&v) {
            self.usage = Some(u);
        }
    }

    fn choice(&mut self, choice: &Value, pos: usize, out: &mut Vec<u8>) {
        let index = choice_index(choice, pos);
        if !self.finished.contains(&index) {
            self.open.insert(index);
        }
        let delta = choice.get("delta").or_else(|| choice.get("message"));
        // Reasoning (`reasoning_content`) is dropped; there are no tools to call.
        let text = content_text(delta.and_then(|d| d.get("content")));
        if !text.is_empty() {
            let c = self.chunk(json!([{
                "text": text, "index": index, "logprobs": null, "finish_reason": null,
            }]));
            sse::data(out, &c);
        }
        let reason = choice
            .get("finish_reason")
            .and_then(Value::as_str)
            .filter(|r| !r.is_empty());
        if let Some(reason) = reason {
            if self.finished.contains(&index) {
                return;
            }
            self.open.remove(&index);
            self.finished.insert(index);
            let c = self.chunk(json!([{
                "text": "", "index": index, "logprobs": null,
                "finish_reason": finish_reason(reason),
            }]));
            sse::data(out, &c);
        }
    }
}

impl ResponseTranslator for StreamTranslator {
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
        if self.state == State::Open {
            if !self.finished.is_empty() && self.open.is_empty() {
                self.complete(&mut out);
            } else {
                self.fail_with(
                    "the upstream stream ended before the completion finished",
                    &mut out,
                );
            }
        }
        out
    }

    fn fail(&mut self, message: &str) -> Vec<u8> {
        let mut out = Vec::new();
        self.fail_with(message, &mut out);
        out
    }

    fn usage(&self) -> Option<Usage> {
        self.usage
    }
}
