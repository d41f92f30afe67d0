//! Chat SSE stream → Anthropic Messages SSE stream.
//!
//! Anthropic streams are a sequence of content blocks, each `content_block_start`, deltas,
//! `content_block_stop`, one at a time, between `message_start` (+ one `ping`) and
//! `message_delta` + `message_stop`. Chat streams interleave freely: reasoning, text and the
//! argument chunks of several tool calls (by `index`). The mapping:
//!
//! * `reasoning_content` → a `thinking` block when the client enabled thinking, else dropped;
//!   `content` → a `text` block; each tool call → its own `tool_use` block with
//!   `input_json_delta`s. A change of kind closes the open block and opens the next.
//! * A tool call that starts while another tool call's block is open is queued: its argument
//!   chunks are buffered and sent as one delta when its block opens (when no tool block is
//!   open any more, or at the end), so parallel calls whose chunks interleave never mix.
//!   Argument chunks for a call whose block was already closed (text came in between — no
//!   known upstream does this) are dropped.
//! * The end: `message_delta` (stop reason, usage) and `message_stop` on `[DONE]`, or when the
//!   body ends after a `finish_reason`. `[DONE]` without `finish_reason` is a normal end
//!   (`end_turn`): the upstream said it was complete.
//! * Failure — an in-stream error object, a body that ends with neither `finish_reason` nor
//!   `[DONE]`, or `fail` — is one `error` event (`api_error`), as Anthropic sends it: the
//!   open block is left open and no `message_stop` follows, so the SDKs raise instead of
//!   returning a silently truncated answer.

use super::count::{text_units, tokens};
use super::errors::error_json;
use super::meta::{stop_reason, usage_json, MessageMeta};
use crate::core::sse;
use crate::core::translate::ResponseTranslator;
use crate::core::usage::Usage;
use crate::protocol::chat_stream::{ChatEvent, ChatStreamDecoder};
use serde_json::{json, Value};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Text,
    Thinking,
    /// The position of the call in `calls`.
    Tool(usize),
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum CallState {
    /// Started upstream, waiting for its block; argument text goes to `pending`.
    Queued,
    Open,
    Closed,
}

#[derive(Debug)]
struct Call {
    index: usize,
    id: String,
    name: String,
    pending: String,
    state: CallState,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    Running,
    Ended,
    Failed,
}

/// Translates one streamed answer.
pub struct StreamTranslator {
    meta: MessageMeta,
    decoder: ChatStreamDecoder,
    started: bool,
    /// The open block: its kind and Anthropic index.
    open: Option<(Kind, usize)>,
    next_index: usize,
    calls: Vec<Call>,
    finish: Option<String>,
    usage: Option<Usage>,
    /// Output size in estimate units, for `output_tokens` when the upstream sends no usage.
    output_units: u64,
    phase: Phase,
}

impl StreamTranslator {
    pub fn new(meta: MessageMeta) -> Self {
        StreamTranslator {
            meta,
            decoder: ChatStreamDecoder::new(),
            started: false,
            open: None,
            next_index: 0,
            calls: Vec::new(),
            finish: None,
            usage: None,
            output_units: 0,
            phase: Phase::Running,
        }
    }

    fn handle_all(&mut self, events: Vec<ChatEvent>, out: &mut Vec<u8>) {
        for e in events {
            if self.phase != Phase::Running {
                return;
            }
            self.handle(e, out);
        }
    }

    fn handle(&mut self, event: ChatEvent, out: &mut Vec<u8>) {
        match event {
            ChatEvent::Start { .. } => self.start(out),
            ChatEvent::Text(t) => self.text(Kind::Text, &t, out),
            ChatEvent::Reasoning(r) if self.meta.thinking => self.text(Kind::Thinking, &r, out),
            ChatEvent::Reasoning(r) => self.output_units += text_units(&r),
            ChatEvent::ToolCallStart { index, id, name } => self.tool_start(index, id, name, out),
            ChatEvent::ToolCallArgs { index, delta } => self.tool_args(index, &delta, out),
            ChatEvent::Finish(f) => self.finish = Some(f),
            ChatEvent::Usage(u) => self.usage = Some(u),
            ChatEvent::Error(m) => self.fail_with(&m, out),
            ChatEvent::Done => self.end(out),
        }
    }

    /// `message_start` and one `ping`, once, before anything else.
    fn start(&mut self, out: &mut Vec<u8>) {
        if std::mem::replace(&mut self.started, true) {
            return;
        }
        let message = json!({
            "id": self.meta.id,
            "type": "message",
            "role": "assistant",
            "model": self.meta.model,
            "content": [],
            "stop_reason": Value::Null,
            "stop_sequence": Value::Null,
            "usage": usage_json(None, &self.meta, 0),
        });
        sse::event(
            out,
            "message_start",
            &json!({"type": "message_start", "message": message}),
        );
        sse::event(out, "ping", &json!({"type": "ping"}));
    }

    /// Text or thinking: into the open block of that kind, or a new one.
    fn text(&mut self, kind: Kind, s: &str, out: &mut Vec<u8>) {
        self.start(out);
        self.output_units += text_units(s);
        let index = match self.open {
            Some((k, index)) if k == kind => index,
            _ => {
                self.close(out);
                let block = match kind {
                    Kind::Thinking => json!({"type": "thinking", "thinking": "", "signature": ""}),
                    _ => json!({"type": "text", "text": ""}),
                };
                self.open_block(kind, block, out)
            }
        };
        let delta = match kind {
            Kind::Thinking => json!({"type": "thinking_delta", "thinking": s}),
            _ => json!({"type": "text_delta", "text": s}),
        };
        delta_event(out, index, delta);
    }

    fn tool_start(&mut self, index: usize, id: String, name: String, out: &mut Vec<u8>) {
        self.start(out);
        self.output_units += text_units(&name);
        self.calls.push(Call {
            index,
            id,
            name,
            pending: String::new(),
            state: CallState::Queued,
        });
        if !matches!(self.open, Some((Kind::Tool(_), _))) {
            self.close(out);
            self.open_next_call(out);
        }
    }

    fn tool_args(&mut self, index: usize, delta: &str, out: &mut Vec<u8>) {
        self.output_units += text_units(delta);
        let Some(pos) = self.calls.iter().rposition(|c| c.index == index) else {
            return;
        };
        let open_index = match self.open {
            Some((Kind::Tool(p), block)) if p == pos => Some(block),
            _ => None,
        };
        match (open_index, self.calls.get_mut(pos)) {
            (Some(block), _) => json_delta(out, block, delta),
            (None, Some(call)) if call.state == CallState::Queued => call.pending.push_str(delta),
            _ => {}
        }
    }

    /// Opens the first queued call's block, sending what it buffered; false if none.
    fn open_next_call(&mut self, out: &mut Vec<u8>) -> bool {
        let Some(pos) = self.calls.iter().position(|c| c.state == CallState::Queued) else {
            return false;
        };
        let Some(call) = self.calls.get_mut(pos) else {
            return false;
        };
        call.state = CallState::Open;
        let pending = std::mem::take(&mut call.pending);
        let block = json!({"type": "tool_use", "id": call.id, "name": call.name, "input": {}});
        let index = self.open_block(Kind::Tool(pos), block, out);
        if !pending.is_empty() {
            json_delta(out, index, &pending);
        }
        true
    }

    fn open_block(&mut self, kind: Kind, block: Value, out: &mut Vec<u8>) -> usize {
        let index = self.next_index;
        self.next_index += 1;
        sse::event(
            out,
            "content_block_start",
            &json!({"type": "content_block_start", "index": index, "content_block": block}),
        );
        self.open = Some((kind, index));
        index
    }

    /// Closes the open block, if any.
    fn close(&mut self, out: &mut Vec<u8>) {
        let Some((kind, index)) = self.open.take() else {
            return;
        };
        if let Kind::Tool(pos) = kind {
            if let Some(call) = self.calls.get_mut(pos) {
                call.state = CallState::Closed;
            }
        }
        sse::event(
            out,
            "content_block_stop",
            &json!({"type": "content_block_stop", "index": index}),
        );
    }

    /// The normal end: remaining blocks, `message_delta`, `message_stop`.
    fn end(&mut self, out: &mut Vec<u8>) {
        self.start(out);
        self.close(out);
        while self.open_next_call(out) {
            self.close(out);
        }
        let finish = self.finish.as_deref().unwrap_or("stop");
        let stop = stop_reason(finish, !self.calls.is_empty());
        let usage = usage_json(self.usage, &self.meta, tokens(self.output_units));
        sse::event(
            out,
            "message_delta",
            &json!({"type": "message_delta",
                "delta": {"stop_reason": stop, "stop_sequence": Value::Null},
                "usage": usage}),
        );
        sse::event(out, "message_stop", &json!({"type": "message_stop"}));
        self.phase = Phase::Ended;
    }

    fn fail_with(&mut self, message: &str, out: &mut Vec<u8>) {
        if self.phase != Phase::Running {
            return;
        }
        sse::event(out, "error", &error_json("api_error", message));
        self.phase = Phase::Failed;
    }
}

fn delta_event(out: &mut Vec<u8>, index: usize, delta: Value) {
    sse::event(
        out,
        "content_block_delta",
        &json!({"type": "content_block_delta", "index": index, "delta": delta}),
    );
}

fn json_delta(out: &mut Vec<u8>, index: usize, partial: &str) {
    delta_event(
        out,
        index,
        json!({"type": "input_json_delta", "partial_json": partial}),
    );
}

impl ResponseTranslator for StreamTranslator {
    fn feed(&mut self, chunk: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        if self.phase != Phase::Running {
            return out;
        }
        let mut events = Vec::new();
        self.decoder.feed(chunk, &mut events);
        self.handle_all(events, &mut out);
        out
    }

    fn finish(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.phase != Phase::Running {
            return out;
        }
        let mut events = Vec::new();
        self.decoder.finish(&mut events);
        self.handle_all(events, &mut out);
        if self.phase == Phase::Running {
            if self.finish.is_some() {
                self.end(&mut out);
            } else {
                let msg = "upstream stream ended before the answer was complete";
                self.fail_with(msg, &mut out);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(thinking: bool) -> MessageMeta {
        MessageMeta {
            id: "msg_1".into(),
            model: "claude-sonnet-4-5".into(),
            thinking,
            input_tokens_estimate: 42,
            ..Default::default()
        }
    }

    fn chunk(delta: Value) -> String {
        format!(
            "data: {}\n\n",
            json!({"id": "c1", "model": "hunyuan", "created": 1, "choices": [{"index": 0, "delta": delta}]})
        )
    }

    fn finish(reason: &str) -> String {
        format!(
            "data: {}\n\n",
            json!({"id": "c1", "choices": [{"index": 0, "delta": {}, "finish_reason": reason}]})
        )
    }

    const USAGE: &str = "data: {\"id\":\"c1\",\"choices\":[],\"usage\":{\"prompt_tokens\":100,\"completion_tokens\":20,\"total_tokens\":120,\"prompt_tokens_details\":{\"cached_tokens\":30,\"cache_creation_tokens\":10}}}\n\n";
    const DONE: &str = "data: [DONE]\n\n";

    fn call(index: usize, id: Option<&str>, name: Option<&str>, args: &str) -> String {
        let mut c = json!({"index": index, "function": {"arguments": args}});
        if let Some(id) = id {
            c["id"] = json!(id);
            c["type"] = json!("function");
        }
        if let Some(name) = name {
            c["function"]["name"] = json!(name);
        }
        chunk(json!({"tool_calls": [c]}))
    }

    fn run(m: MessageMeta, input: &[u8], split: usize) -> String {
        let mut t = StreamTranslator::new(m);
        let mut out = Vec::new();
        for piece in input.chunks(split.max(1)) {
            out.extend(t.feed(piece));
        }
        out.extend(t.finish());
        String::from_utf8(out).unwrap()
    }

    fn events(out: &str) -> Vec<(String, Value)> {
        out.split("\n\n")
            .filter(|e| !e.is_empty())
            .map(|e| {
                let (name, data) = e.split_once('\n').unwrap();
                let name = name.strip_prefix("event: ").unwrap().to_string();
                let data: Value =
                    serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap();
                assert_eq!(data["type"], name.as_str());
                (name, data)
            })
            .collect()
    }

    /// Every split gives the unsplit output; blocks are sequential, indexed 0.., started once,
    /// deltas only inside the open block, stopped once (all of them unless the stream failed).
    fn check(m: MessageMeta, input: &str) -> Vec<(String, Value)> {
        let bytes = input.as_bytes();
        let whole = run(m.clone(), bytes, bytes.len());
        for split in 1..bytes.len() {
            assert_eq!(run(m.clone(), bytes, split), whole, "split {split}");
        }
        let evs = events(&whole);
        let mut open: Option<u64> = None;
        let mut next = 0u64;
        for (i, (name, data)) in evs.iter().enumerate() {
            match name.as_str() {
                "message_start" => assert_eq!(i, 0),
                "ping" => assert_eq!(i, 1),
                "content_block_start" => {
                    assert_eq!(open, None);
                    assert_eq!(data["index"], next);
                    open = Some(next);
                    next += 1;
                }
                "content_block_delta" => assert_eq!(Some(data["index"].as_u64().unwrap()), open),
                "content_block_stop" => {
                    assert_eq!(Some(data["index"].as_u64().unwrap()), open);
                    open = None;
                }
                "message_delta" => assert_eq!(open, None),
                "message_stop" => assert_eq!(i, evs.len() - 1),
                "error" => assert_eq!(i, evs.len() - 1),
                other => panic!("unexpected event {other}"),
            }
        }
        evs
    }

    fn names(evs: &[(String, Value)]) -> Vec<&str> {
        evs.iter().map(|(n, _)| n.as_str()).collect()
    }

    fn concat_deltas(evs: &[(String, Value)], index: u64, field: &str) -> String {
        evs.iter()
            .filter(|(n, d)| n == "content_block_delta" && d["index"] == index)
            .map(|(_, d)| d["delta"][field].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn text_stream() {
        let input = [
            chunk(json!({"role": "assistant", "content": ""})),
            chunk(json!({"content": "Hel"})),
            chunk(json!({"content": "lo 世界"})),
            finish("stop"),
            USAGE.to_string(),
            DONE.to_string(),
        ]
        .concat();
        let evs = check(meta(false), &input);
        assert_eq!(
            names(&evs),
            [
                "message_start",
                "ping",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        let start = &evs[0].1["message"];
        assert_eq!(start["id"], "msg_1");
        assert_eq!(start["model"], "claude-sonnet-4-5");
        assert_eq!(start["content"], json!([]));
        assert_eq!(start["usage"]["input_tokens"], 42);
        assert_eq!(start["usage"]["output_tokens"], 0);
        assert_eq!(
            evs[2].1["content_block"],
            json!({"type": "text", "text": ""})
        );
        assert_eq!(concat_deltas(&evs, 0, "text"), "Hello 世界");
        let md = &evs[6].1;
        assert_eq!(
            md["delta"],
            json!({"stop_reason": "end_turn", "stop_sequence": null})
        );
        assert_eq!(md["usage"]["output_tokens"], 20);
        // Cache reads and writes are out of `input_tokens` (100 - 30 - 10), in their own fields.
        assert_eq!(md["usage"]["input_tokens"], 60);
        assert_eq!(md["usage"]["cache_read_input_tokens"], 30);
        assert_eq!(md["usage"]["cache_creation_input_tokens"], 10);
        assert_eq!(start["usage"]["cache_read_input_tokens"], 0);
    }

    fn reasoning_input() -> String {
        [
            chunk(json!({"role": "assistant", "reasoning_content": "Let me "})),
            chunk(json!({"reasoning_content": "think."})),
            chunk(json!({"content": "Answer"})),
            finish("stop"),
            DONE.to_string(),
        ]
        .concat()
    }

    #[test]
    fn reasoning_with_thinking_on() {
        let evs = check(meta(true), &reasoning_input());
        assert_eq!(
            evs[2].1["content_block"],
            json!({"type": "thinking", "thinking": "", "signature": ""})
        );
        assert_eq!(concat_deltas(&evs, 0, "thinking"), "Let me think.");
        assert_eq!(evs[3].1["delta"]["type"], "thinking_delta");
        assert_eq!(concat_deltas(&evs, 1, "text"), "Answer");
        let starts = evs
            .iter()
            .filter(|(n, _)| n == "content_block_start")
            .count();
        assert_eq!(starts, 2);
        // No usage from upstream: the estimate for output, the request's for input.
        let md = &evs[evs.len() - 2].1;
        assert_eq!(md["usage"]["input_tokens"], 42);
        assert!(md["usage"]["output_tokens"].as_u64().unwrap() > 0);
    }

    #[test]
    fn reasoning_with_thinking_off() {
        let evs = check(meta(false), &reasoning_input());
        let starts: Vec<_> = evs
            .iter()
            .filter(|(n, _)| n == "content_block_start")
            .collect();
        assert_eq!(starts.len(), 1);
        assert_eq!(starts[0].1["content_block"]["type"], "text");
        assert_eq!(concat_deltas(&evs, 0, "text"), "Answer");
    }

    #[test]
    fn two_tool_calls_split_arguments() {
        let input = [
            chunk(json!({"role": "assistant", "content": "Checking."})),
            call(0, Some("call_a"), Some("Read"), ""),
            call(0, None, None, "{\"file_"),
            call(0, None, None, "path\":\"/a\"}"),
            call(1, Some("call_b"), Some("Bash"), "{\"comm"),
            call(1, None, None, "and\":\"ls\"}"),
            finish("tool_calls"),
            USAGE.to_string(),
            DONE.to_string(),
        ]
        .concat();
        let evs = check(meta(false), &input);
        let starts: Vec<_> = evs
            .iter()
            .filter(|(n, _)| n == "content_block_start")
            .collect();
        assert_eq!(starts.len(), 3);
        assert_eq!(
            starts[1].1["content_block"],
            json!({"type": "tool_use", "id": "call_a", "name": "Read", "input": {}})
        );
        assert_eq!(starts[2].1["content_block"]["id"], "call_b");
        assert_eq!(
            concat_deltas(&evs, 1, "partial_json"),
            "{\"file_path\":\"/a\"}"
        );
        assert_eq!(
            concat_deltas(&evs, 2, "partial_json"),
            "{\"command\":\"ls\"}"
        );
        let md = &evs[evs.len() - 2].1;
        assert_eq!(md["delta"]["stop_reason"], "tool_use");
    }

    #[test]
    fn interleaved_tool_calls_get_separate_blocks() {
        let input = [
            call(0, Some("call_a"), Some("Read"), "{\"a\":"),
            call(1, Some("call_b"), Some("Bash"), "{\"b\":"),
            call(0, None, None, "1}"),
            call(1, None, None, "2}"),
            finish("stop"),
            DONE.to_string(),
        ]
        .concat();
        let evs = check(meta(false), &input);
        assert_eq!(concat_deltas(&evs, 0, "partial_json"), "{\"a\":1}");
        assert_eq!(concat_deltas(&evs, 1, "partial_json"), "{\"b\":2}");
        let md = &evs[evs.len() - 2].1;
        assert_eq!(
            md["delta"]["stop_reason"], "tool_use",
            "tool calls win over stop"
        );
    }

    #[test]
    fn length() {
        let input = [
            chunk(json!({"content": "abc"})),
            finish("length"),
            DONE.to_string(),
        ]
        .concat();
        let evs = check(meta(false), &input);
        assert_eq!(evs[evs.len() - 2].1["delta"]["stop_reason"], "max_tokens");
    }

    #[test]
    fn sensitive_is_refusal() {
        let input = [
            chunk(json!({"content": "abc"})),
            finish("sensitive"),
            DONE.to_string(),
        ]
        .concat();
        let evs = check(meta(false), &input);
        assert_eq!(evs[evs.len() - 2].1["delta"]["stop_reason"], "refusal");
    }

    #[test]
    fn finish_without_done_ends_normally() {
        let input = [
            chunk(json!({"content": "abc"})),
            finish("stop"),
            USAGE.to_string(),
        ]
        .concat();
        let evs = check(meta(false), &input);
        assert_eq!(names(&evs).last(), Some(&"message_stop"));
    }

    #[test]
    fn truncated_stream_is_an_error() {
        // Cut mid-event too: the partial event is garbage and dropped.
        let input = [
            chunk(json!({"content": "abc"})),
            "data: {\"id\":\"c1\",\"cho".into(),
        ]
        .concat();
        let evs = check(meta(false), &input);
        let (name, data) = evs.last().unwrap();
        assert_eq!(name, "error");
        assert_eq!(data["error"]["type"], "api_error");
        assert!(!names(&evs).contains(&"message_stop"));
        assert!(!names(&evs).contains(&"message_delta"));
    }

    #[test]
    fn in_stream_error() {
        let input = [
            chunk(json!({"content": "abc"})),
            "data: {\"error\":{\"message\":\"boom\",\"type\":\"server_error\"}}\n\n".into(),
            chunk(json!({"content": "ignored"})),
            DONE.to_string(),
        ]
        .concat();
        let evs = check(meta(false), &input);
        assert_eq!(
            names(&evs),
            [
                "message_start",
                "ping",
                "content_block_start",
                "content_block_delta",
                "error"
            ]
        );
        assert_eq!(evs[4].1["error"]["message"], "boom");
    }

    #[test]
    fn fail_after_start_and_after_end() {
        let mut t = StreamTranslator::new(meta(false));
        t.feed(chunk(json!({"content": "a"})).as_bytes());
        let out = String::from_utf8(t.fail("timeout")).unwrap();
        assert_eq!(names(&events(&out)), ["error"]);
        assert!(t.finish().is_empty());
        assert!(t.fail("again").is_empty());

        let mut t = StreamTranslator::new(meta(false));
        t.feed([finish("stop"), DONE.to_string()].concat().as_bytes());
        assert!(t.fail("late").is_empty());
        assert!(t.finish().is_empty());
    }

    #[test]
    fn empty_body_is_an_error_and_done_alone_is_an_empty_message() {
        let evs = events(&run(meta(false), b"", 1));
        assert_eq!(names(&evs), ["error"]);
        let evs = check(meta(false), DONE);
        assert_eq!(
            names(&evs),
            ["message_start", "ping", "message_delta", "message_stop"]
        );
    }

    #[test]
    fn new_call_at_same_index_is_a_new_block() {
        let input = [
            call(0, Some("call_a"), Some("Read"), "{}"),
            call(0, Some("call_b"), Some("Read"), "{\"x\":1}"),
            finish("tool_calls"),
            DONE.to_string(),
        ]
        .concat();
        let evs = check(meta(false), &input);
        assert_eq!(concat_deltas(&evs, 0, "partial_json"), "{}");
        assert_eq!(concat_deltas(&evs, 1, "partial_json"), "{\"x\":1}");
    }
}
