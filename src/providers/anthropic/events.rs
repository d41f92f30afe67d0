//! Anthropic's answer as a sequence of semantic events, whether it came as SSE (decoded here,
//! split anywhere) or as one `message` JSON ([`message_events`]): the stream and the body
//! translators both consume [`Ev`]s, so the two paths cannot drift apart.

use super::usage::Tokens;
use crate::core::sse::{data_of, Splitter};
use rustc_hash::FxHashMap;
use serde_json::Value;

/// One meaningful thing the upstream said.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Ev {
    /// `message_start`: the message id.
    Start {
        id: String,
    },
    Text(String),
    Thinking(String),
    /// A thinking block's signature (streams send it at the end of the block).
    Signature(String),
    /// A `thinking` or `redacted_thinking` block begins (a signature covers one block only).
    ThinkingBlock {
        redacted: bool,
    },
    /// A `tool_use` block: `index` counts the answer's tool calls from 0.
    ToolStart {
        index: usize,
        id: String,
        name: String,
    },
    ToolArgs {
        index: usize,
        delta: String,
    },
    /// `message_delta`'s stop reason and matched stop sequence.
    Stop {
        reason: Option<String>,
        sequence: Option<String>,
    },
    /// The token counts so far (cumulative).
    Usage(Tokens),
    /// `message_stop`
    End,
    /// An `error` event: Anthropic's error type and message.
    Error {
        kind: String,
        message: String,
    },
}

/// What an open content block is, by its Anthropic index.
#[derive(Debug, Clone, Copy)]
enum Block {
    Text,
    Thinking,
    Tool(usize),
    Other,
}

/// Decodes Anthropic SSE (or message JSON) into [`Ev`]s.
#[derive(Debug, Default)]
pub(super) struct EventDecoder {
    events: Splitter,
    blocks: FxHashMap<u64, Block>,
    tools: usize,
    tokens: Tokens,
}

impl EventDecoder {
    /// Takes one piece of an SSE body; appends the events it completes to `out`.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<Ev>) {
        let mut events = std::mem::take(&mut self.events);
        events.feed(chunk, |e| {
            self.sse_event(e, out);
            true
        });
        self.events = events;
    }

    /// The body ended: decodes an unterminated last event, if any.
    pub fn finish(&mut self, out: &mut Vec<Ev>) {
        if let Some(rest) = self.events.finish() {
            self.sse_event(&rest, out);
        }
    }

    fn sse_event(&mut self, event: &[u8], out: &mut Vec<Ev>) {
        let Some(data) = data_of(event) else {
            return;
        };
        // A malformed event is skipped: one odd event must not fail a whole answer.
        if let Ok(v) = serde_json::from_slice::<Value>(data.trim_ascii()) {
            self.event(&v, out);
        }
    }

    /// One parsed event object (its `type` says which).
    pub fn event(&mut self, v: &Value, out: &mut Vec<Ev>) {
        match str_at(v, "type") {
            "message_start" => {
                let msg = v.get("message").unwrap_or(&Value::Null);
                out.push(Ev::Start {
                    id: str_at(msg, "id").to_string(),
                });
                self.usage(msg.get("usage"), out);
            }
            "content_block_start" => {
                let block = v.get("content_block").unwrap_or(&Value::Null);
                let kind = self.block_start(block, out);
                self.blocks.insert(index_of(v), kind);
            }
            "content_block_delta" => self.delta(v, out),
            "content_block_stop" => {
                self.blocks.remove(&index_of(v));
            }
            "message_delta" => {
                let d = v.get("delta").unwrap_or(&Value::Null);
                out.push(Ev::Stop {
                    reason: opt_str(d, "stop_reason"),
                    sequence: opt_str(d, "stop_sequence"),
                });
                self.usage(v.get("usage"), out);
            }
            "message_stop" => out.push(Ev::End),
            "error" => {
                let e = v.get("error").unwrap_or(&Value::Null);
                out.push(Ev::Error {
                    kind: str_at(e, "type").to_string(),
                    message: str_at(e, "message").to_string(),
                });
            }
            // `ping` and event types added later.
            _ => {}
        }
    }

    fn usage(&mut self, usage: Option<&Value>, out: &mut Vec<Ev>) {
        if let Some(u) = usage.filter(|u| u.is_object()) {
            self.tokens.merge(u);
            out.push(Ev::Usage(self.tokens));
        }
    }

    /// A block as `content_block_start` announces it, or whole (from a message JSON).
    fn block_start(&mut self, block: &Value, out: &mut Vec<Ev>) -> Block {
        match str_at(block, "type") {
            "text" => {
                push_text(out, Ev::Text, str_at(block, "text"));
                Block::Text
            }
            "thinking" => {
                out.push(Ev::ThinkingBlock { redacted: false });
                push_text(out, Ev::Thinking, str_at(block, "thinking"));
                push_text(out, Ev::Signature, str_at(block, "signature"));
                Block::Thinking
            }
            "redacted_thinking" => {
                out.push(Ev::ThinkingBlock { redacted: true });
                Block::Other
            }
            "tool_use" => {
                let index = self.tools;
                self.tools += 1;
                out.push(Ev::ToolStart {
                    index,
                    id: str_at(block, "id").to_string(),
                    name: str_at(block, "name").to_string(),
                });
                // Streams start with `input: {}` and send the input as deltas; a whole block
                // carries it here.
                let input = block.get("input").filter(|i| !is_empty_input(i));
                if let Some(i) = input {
                    out.push(Ev::ToolArgs {
                        index,
                        delta: i.to_string(),
                    });
                }
                Block::Tool(index)
            }
            // Server tools (`server_tool_use`, `web_search_tool_result`, …): nothing a chat
            // client can use.
            _ => Block::Other,
        }
    }

    fn delta(&mut self, v: &Value, out: &mut Vec<Ev>) {
        let d = v.get("delta").unwrap_or(&Value::Null);
        let block = self.blocks.get(&index_of(v)).copied();
        match (str_at(d, "type"), block) {
            ("text_delta", _) => push_text(out, Ev::Text, str_at(d, "text")),
            ("thinking_delta", _) => push_text(out, Ev::Thinking, str_at(d, "thinking")),
            ("signature_delta", _) => push_text(out, Ev::Signature, str_at(d, "signature")),
            ("input_json_delta", Some(Block::Tool(index))) => {
                let delta = str_at(d, "partial_json");
                if !delta.is_empty() {
                    out.push(Ev::ToolArgs {
                        index,
                        delta: delta.to_string(),
                    });
                }
            }
            _ => {}
        }
    }
}

/// A whole `message` JSON as the events its stream would have given.
pub(super) fn message_events(msg: &Value) -> Vec<Ev> {
    let mut d = EventDecoder::default();
    let mut out = vec![Ev::Start {
        id: str_at(msg, "id").to_string(),
    }];
    for block in msg
        .get("content")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        d.block_start(block, &mut out);
    }
    out.push(Ev::Stop {
        reason: opt_str(msg, "stop_reason"),
        sequence: opt_str(msg, "stop_sequence"),
    });
    d.usage(msg.get("usage"), &mut out);
    out.push(Ev::End);
    out
}

/// Chat's `finish_reason` for Anthropic's `stop_reason` (`tool_calls` when the answer called
/// tools and the upstream named no reason).
pub(super) fn finish_reason(stop: Option<&str>, called_tools: bool) -> &'static str {
    match stop {
        Some("max_tokens" | "model_context_window_exceeded") => "length",
        Some("tool_use") => "tool_calls",
        Some("refusal") => "content_filter",
        None if called_tools => "tool_calls",
        _ => "stop",
    }
}

fn push_text(out: &mut Vec<Ev>, ev: fn(String) -> Ev, s: &str) {
    if !s.is_empty() {
        out.push(ev(s.to_string()));
    }
}

fn is_empty_input(v: &Value) -> bool {
    v.is_null() || v.as_object().is_some_and(|o| o.is_empty())
}

fn index_of(v: &Value) -> u64 {
    v.get("index").and_then(Value::as_u64).unwrap_or(0)
}

fn str_at<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

fn opt_str(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}
