//! Decoding an upstream Chat Completions SSE stream into semantic events that the protocol
//! translators (Responses, Anthropic Messages, legacy Completions) turn into their own events.
//!
//! Input arrives in pieces split anywhere (mid-line, mid-UTF-8 character): the decoder keeps
//! the incomplete tail between calls. Events are separated by a blank line (`\n\n` or
//! `\r\n\r\n`); only `data:` lines matter. Malformed JSON events are skipped (a proxy must not
//! fail a stream because of one odd chunk), `choices` may be null, missing or empty.

use serde_json::Value;

use crate::core::sse::{data_of, Splitter};
use crate::core::usage::Usage;

/// One meaningful thing the upstream said.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatEvent {
    /// The first chunk: the upstream's completion id, model and creation time.
    Start {
        id: String,
        model: String,
        created: u64,
    },
    /// Answer text (`delta.content`).
    Text(String),
    /// Reasoning text (`delta.reasoning_content`, as hunyuan-t1 and DeepSeek send it).
    Reasoning(String),
    /// A new tool call at `index` (its first chunk names it).
    ToolCallStart {
        index: usize,
        id: String,
        name: String,
    },
    /// More argument text for the tool call at `index`.
    ToolCallArgs { index: usize, delta: String },
    /// `finish_reason` as the upstream wrote it (`stop`, `length`, `tool_calls`,
    /// `content_filter`, Hunyuan's `sensitive`, ...).
    Finish(String),
    /// The usage chunk (or usage on any chunk).
    Usage(Usage),
    /// An in-stream error object (`data: {"error": {...}}`): the message.
    Error(String),
    /// `data: [DONE]`
    Done,
}

/// Decodes one response's chat SSE stream.
#[derive(Debug, Default)]
pub struct ChatStreamDecoder {
    events: Splitter,
    started: bool,
    /// Tool-call indexes already announced, with their ids (a repeated id on a later chunk is
    /// the same call; a new id at a known index is a new call, which some upstreams do).
    tools: Vec<(usize, String)>,
}

impl ChatStreamDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes one piece of the body; appends the events it completes to `out`.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<ChatEvent>) {
        let mut events = std::mem::take(&mut self.events);
        events.feed(chunk, |e| {
            self.decode_event(e, out);
            true
        });
        self.events = events;
    }

    /// The body ended: decodes an unterminated last event, if any.
    pub fn finish(&mut self, out: &mut Vec<ChatEvent>) {
        if let Some(rest) = self.events.finish() {
            self.decode_event(&rest, out);
        }
    }

    fn decode_event(&mut self, event: &[u8], out: &mut Vec<ChatEvent>) {
        let Some(data) = data_of(event) else {
            return;
        };
        let data = data.trim_ascii();
        if data == b"[DONE]" {
            out.push(ChatEvent::Done);
            return;
        }
        let Ok(v) = serde_json::from_slice::<Value>(data) else {
            return;
        };
        self.decode_chunk(&v, out);
    }

    /// One parsed chunk object.
    pub fn decode_chunk(&mut self, v: &Value, out: &mut Vec<ChatEvent>) {
        if let Some(err) = v.get("error").filter(|e| !e.is_null()) {
            let message = err
                .get("message")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .unwrap_or_else(|| err.to_string());
            out.push(ChatEvent::Error(message));
            return;
        }
        if !self.started {
            self.started = true;
            out.push(ChatEvent::Start {
                id: str_of(v, "id"),
                model: str_of(v, "model"),
                created: v.get("created").and_then(Value::as_u64).unwrap_or(0),
            });
        }
        let choice = v
            .get("choices")
            .and_then(Value::as_array)
            .and_then(|c| c.first());
        if let Some(choice) = choice {
            if let Some(delta) = choice.get("delta").or_else(|| choice.get("message")) {
                self.decode_delta(delta, out);
            }
            if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
                out.push(ChatEvent::Finish(reason.to_string()));
            }
        }
        if let Some(u) = Usage::of(v) {
            out.push(ChatEvent::Usage(u));
        }
    }

    fn decode_delta(&mut self, delta: &Value, out: &mut Vec<ChatEvent>) {
        if let Some(r) = delta.get("reasoning_content").and_then(Value::as_str) {
            if !r.is_empty() {
                out.push(ChatEvent::Reasoning(r.to_string()));
            }
        }
        if let Some(t) = delta.get("content").and_then(Value::as_str) {
            if !t.is_empty() {
                out.push(ChatEvent::Text(t.to_string()));
            }
        }
        let Some(calls) = delta.get("tool_calls").and_then(Value::as_array) else {
            return;
        };
        for (pos, call) in calls.iter().enumerate() {
            let index = call
                .get("index")
                .and_then(Value::as_u64)
                .map_or(pos, |i| i as usize);
            let id = call.get("id").and_then(Value::as_str).unwrap_or("");
            let f = call.get("function");
            let name = f.and_then(|f| f.get("name")).and_then(Value::as_str);
            let known = self.tools.iter().find(|(i, _)| *i == index);
            let is_new = match known {
                None => true,
                Some((_, known_id)) => !id.is_empty() && id != known_id,
            };
            if is_new {
                let id = if id.is_empty() {
                    format!("call_{index}")
                } else {
                    id.to_string()
                };
                self.tools.retain(|(i, _)| *i != index);
                self.tools.push((index, id.clone()));
                out.push(ChatEvent::ToolCallStart {
                    index,
                    id,
                    name: name.unwrap_or("").to_string(),
                });
            }
            let args = f.and_then(|f| f.get("arguments"));
            let args = match args {
                Some(Value::String(s)) => s.clone(),
                // Some upstreams send the arguments as an object: keep them as JSON text.
                Some(v) if v.is_object() => v.to_string(),
                _ => String::new(),
            };
            if !args.is_empty() {
                out.push(ChatEvent::ToolCallArgs { index, delta: args });
            }
        }
    }
}

fn str_of(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREAM: &str = concat!(
        "data: {\"id\":\"c1\",\"model\":\"m\",\"created\":5,\"choices\":[{\"delta\":{\"role\":\"assistant\",\"reasoning_content\":\"think\"}}]}\n\n",
        "data: {\"id\":\"c1\",\"choices\":[{\"delta\":{\"content\":\"héllo\"}}]}\r\n\r\n",
        "data: {\"id\":\"c1\",\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_a\",\"type\":\"function\",\"function\":{\"name\":\"shell\",\"arguments\":\"\"}}]}}]}\n\n",
        "data: {\"id\":\"c1\",\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"a\\\":\"}}]}}]}\n\n",
        "data: {\"id\":\"c1\",\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"1}\"}}]}}]}\n\n",
        ": keep-alive\n\n",
        "data: {\"id\":\"c1\",\"choices\":[{\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n",
        "data: {\"id\":\"c1\",\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":3,\"total_tokens\":10}}\n\n",
        "data: [DONE]\n\n",
    );

    fn expected() -> Vec<ChatEvent> {
        vec![
            ChatEvent::Start {
                id: "c1".into(),
                model: "m".into(),
                created: 5,
            },
            ChatEvent::Reasoning("think".into()),
            ChatEvent::Text("héllo".into()),
            ChatEvent::ToolCallStart {
                index: 0,
                id: "call_a".into(),
                name: "shell".into(),
            },
            ChatEvent::ToolCallArgs {
                index: 0,
                delta: "{\"a\":".into(),
            },
            ChatEvent::ToolCallArgs {
                index: 0,
                delta: "1}".into(),
            },
            ChatEvent::Finish("tool_calls".into()),
            ChatEvent::Usage(Usage {
                prompt: 7,
                completion: 3,
                ..Default::default()
            }),
            ChatEvent::Done,
        ]
    }

    #[test]
    fn same_events_at_every_split() {
        let bytes = STREAM.as_bytes();
        for split in 1..bytes.len() {
            let mut d = ChatStreamDecoder::new();
            let mut out = Vec::new();
            for piece in bytes.chunks(split) {
                d.feed(piece, &mut out);
            }
            d.finish(&mut out);
            assert_eq!(out, expected(), "split {split}");
        }
    }

    /// A 2 MB event in 64-byte pieces (32,768 of them). Searched from its start on every
    /// piece this was ~64 GB of scanning (the fuzzer's hang); now each byte is searched once.
    /// The bound is ~100 times what it takes.
    #[test]
    fn a_long_event_in_small_pieces_is_searched_once() {
        let text = "a".repeat(2 << 20);
        let body = format!(
            "data: {{\"choices\":[{{\"delta\":{{\"content\":\"{text}\"}}}}]}}\r\n\r\ndata: [DONE]\n\n"
        );
        let start = std::time::Instant::now();
        let mut d = ChatStreamDecoder::new();
        let mut out = Vec::new();
        for piece in body.as_bytes().chunks(64) {
            d.feed(piece, &mut out);
        }
        d.finish(&mut out);
        assert!(
            matches!(&out[..], [ChatEvent::Start { .. }, ChatEvent::Text(t), ChatEvent::Done] if *t == text)
        );
        let mut t = crate::protocol::completions::translator(
            crate::protocol::completions::CompletionMeta {
                id: "cmpl-1".into(),
                created: 1,
                model: "m".into(),
                include_usage: false,
            },
            true,
        );
        let mut sent = Vec::new();
        for piece in body.as_bytes().chunks(64) {
            sent.extend(t.feed(piece));
        }
        sent.extend(t.finish());
        assert!(sent.len() > text.len() && sent.ends_with(b"data: [DONE]\n\n"));
        let took = start.elapsed();
        assert!(took.as_secs() < 20, "{took:?}");
    }

    /// 40,000 events in one read (a non-streamed answer folded from SSE reads the body at
    /// once): the search for `\r\n\r\n` went to the end of the buffer for every event.
    #[test]
    fn many_events_in_one_read_are_linear() {
        let event = "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n";
        let body = event.repeat(40_000);
        let start = std::time::Instant::now();
        let mut d = ChatStreamDecoder::new();
        let mut out = Vec::new();
        d.feed(body.as_bytes(), &mut out);
        assert_eq!(out.len(), 40_001);
        let took = start.elapsed();
        assert!(took.as_secs() < 20, "{took:?}");
    }

    /// A usage chunk's cache reads and writes (`prompt_tokens_details`) are decoded.
    #[test]
    fn usage_chunk_with_cache_counts() {
        let mut d = ChatStreamDecoder::new();
        let mut out = Vec::new();
        d.feed(
            b"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":1,\"prompt_tokens_details\":{\"cached_tokens\":5,\"cache_creation_tokens\":3}}}\n\n",
            &mut out,
        );
        let usage = out.iter().find_map(|e| match e {
            ChatEvent::Usage(u) => Some(*u),
            _ => None,
        });
        let u = usage.unwrap();
        assert_eq!(
            (u.prompt, u.cached, u.cache_write, u.uncached()),
            (9, 5, 3, 1)
        );
    }

    #[test]
    fn error_event_and_garbage() {
        let mut d = ChatStreamDecoder::new();
        let mut out = Vec::new();
        d.feed(
            b"data: {not json\n\ndata: {\"error\":{\"message\":\"boom\"}}\n\n",
            &mut out,
        );
        assert_eq!(out, vec![ChatEvent::Error("boom".into())]);
    }
}
