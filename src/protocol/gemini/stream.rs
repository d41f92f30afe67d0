//! Chat SSE stream → Gemini stream: SSE (`alt=sse`) or Gemini's default JSON array.
//!
//! Every chat chunk with text becomes one `GenerateContentResponse` as it comes: answer
//! text as a `text` part, reasoning as a `thought: true` part (unless the client turned
//! thoughts off). Tool calls are held until the answer ends and sent whole (Gemini streams
//! a `functionCall` only complete), with `finishReason` and `usageMetadata` in the last
//! response; the usage chunk the gateway asked for comes after the chat `finish_reason`, so
//! the end is `[DONE]`, or the body ending after a `finish_reason`.
//!
//! Failure (an in-stream error object, a body that ends with neither `finish_reason` nor
//! `[DONE]`, or `fail`) is Google's error object as the last element: an SSE event, or the
//! array's last element; no `finishReason` is sent, so a client never takes a cut answer
//! for a whole one.

use super::errors::error_json;
use super::meta::{finish_reason, response, usage_metadata, Framing, GeminiMeta};
use super::response::Calls;
use crate::core::translate::ResponseTranslator;
use crate::core::usage::Usage;
use crate::protocol::anthropic::count::text_units;
use crate::protocol::chat_stream::{ChatEvent, ChatStreamDecoder};
use serde_json::{json, Value};

/// Translates one streamed answer.
pub struct StreamTranslator {
    meta: GeminiMeta,
    decoder: ChatStreamDecoder,
    calls: Calls,
    finish: Option<String>,
    usage: Option<Usage>,
    /// Output in estimate units, for `usageMetadata` when the upstream sends no usage.
    output_units: u64,
    /// Elements written so far (the JSON array needs `[` before the first, `,` between).
    sent: usize,
    over: bool,
}

impl StreamTranslator {
    pub fn new(meta: GeminiMeta) -> Self {
        StreamTranslator {
            meta,
            decoder: ChatStreamDecoder::new(),
            calls: Calls::default(),
            finish: None,
            usage: None,
            output_units: 0,
            sent: 0,
            over: false,
        }
    }

    /// One element of the stream, framed.
    fn emit(&mut self, v: &Value, out: &mut Vec<u8>) {
        match self.meta.framing {
            Framing::Sse => crate::core::sse::data(out, v),
            _ => {
                out.extend_from_slice(if self.sent == 0 { b"[" } else { b",\r\n" });
                out.extend_from_slice(v.to_string().as_bytes());
            }
        }
        self.sent += 1;
    }

    /// Closes the array (nothing to do for SSE).
    fn close(&mut self, out: &mut Vec<u8>) {
        if self.meta.framing == Framing::JsonArray {
            out.extend_from_slice(if self.sent == 0 { b"[]" } else { b"]" });
        }
        self.over = true;
    }

    fn handle(&mut self, e: ChatEvent, out: &mut Vec<u8>) {
        match e {
            ChatEvent::Text(t) => {
                self.output_units += text_units(&t);
                self.part(json!({ "text": t }), out);
            }
            ChatEvent::Reasoning(r) => {
                self.output_units += text_units(&r);
                if self.meta.thoughts {
                    self.part(json!({"text": r, "thought": true}), out);
                }
            }
            ChatEvent::ToolCallStart { index, id, name } => {
                self.output_units += text_units(&name);
                self.calls.start(index, id, name);
            }
            ChatEvent::ToolCallArgs { index, delta } => {
                self.output_units += text_units(&delta);
                self.calls.args(index, &delta);
            }
            ChatEvent::Finish(f) => self.finish = Some(f),
            ChatEvent::Usage(u) => self.usage = Some(u),
            ChatEvent::Error(m) => self.fail_with(&m, out),
            ChatEvent::Done => self.end(out),
            ChatEvent::Start { .. } => {}
        }
    }

    fn part(&mut self, part: Value, out: &mut Vec<u8>) {
        let r = response(&self.meta, vec![part], None);
        self.emit(&r, out);
    }

    /// The last response: the tool calls, `finishReason`, `usageMetadata`.
    fn end(&mut self, out: &mut Vec<u8>) {
        let mut parts = self.calls.take_parts();
        if parts.is_empty() {
            // As Gemini ends a stream: an empty text, which clients concatenate harmlessly.
            parts.push(json!({"text": ""}));
        }
        let finish = finish_reason(self.finish.as_deref().unwrap_or("stop"));
        let usage = usage_metadata(self.usage, &self.meta, self.output_units);
        let r = response(&self.meta, parts, Some((finish, usage)));
        self.emit(&r, out);
        self.close(out);
    }

    fn fail_with(&mut self, message: &str, out: &mut Vec<u8>) {
        if self.over {
            return;
        }
        self.emit(&error_json(500, message), out);
        self.close(out);
    }

    fn run(&mut self, events: Vec<ChatEvent>, out: &mut Vec<u8>) {
        for e in events {
            if self.over {
                return;
            }
            self.handle(e, out);
        }
    }
}

impl ResponseTranslator for StreamTranslator {
    fn feed(&mut self, chunk: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        if self.over {
            return out;
        }
        let mut events = Vec::new();
        self.decoder.feed(chunk, &mut events);
        self.run(events, &mut out);
        out
    }

    fn finish(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.over {
            return out;
        }
        let mut events = Vec::new();
        self.decoder.finish(&mut events);
        self.run(events, &mut out);
        if !self.over {
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

    fn meta(framing: Framing) -> GeminiMeta {
        GeminiMeta {
            response_id: "r1".into(),
            model: "hy".into(),
            thoughts: true,
            prompt_estimate: 5,
            framing,
            ..GeminiMeta::default()
        }
    }

    fn chunk(delta: Value) -> String {
        format!(
            "data: {}\n\n",
            json!({"id": "c", "choices": [{"index": 0, "delta": delta}]})
        )
    }

    fn stream() -> String {
        [
            chunk(json!({"role": "assistant", "content": ""})),
            chunk(json!({"reasoning_content": "hmm"})),
            chunk(json!({"content": "Hel"})),
            chunk(json!({"content": "lo"})),
            chunk(json!({"tool_calls": [{"index": 0, "id": "call_1", "function": {"name": "run", "arguments": ""}}]})),
            chunk(json!({"tool_calls": [{"index": 1, "id": "call_2", "function": {"name": "two", "arguments": "{\"b\""}}]})),
            chunk(json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"a\":1}"}}]})),
            chunk(json!({"tool_calls": [{"index": 1, "function": {"arguments": ":2}"}}]})),
            format!("data: {}\n\n", json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})),
            "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":4,\"prompt_tokens_details\":{\"cached_tokens\":6}}}\n\n".into(),
            "data: [DONE]\n\n".into(),
        ]
        .concat()
    }

    fn run(framing: Framing, input: &str, split: usize) -> String {
        let mut t = StreamTranslator::new(meta(framing));
        let mut out = Vec::new();
        for piece in input.as_bytes().chunks(split.max(1)) {
            out.extend(t.feed(piece));
        }
        out.extend(t.finish());
        String::from_utf8(out).unwrap()
    }

    fn sse(out: &str) -> Vec<Value> {
        out.split("\n\n")
            .filter(|e| !e.is_empty())
            .map(|e| serde_json::from_str(e.strip_prefix("data: ").unwrap()).unwrap())
            .collect()
    }

    #[test]
    fn sse_events_at_every_split() {
        let whole = run(Framing::Sse, &stream(), usize::MAX);
        let events = sse(&whole);
        let parts: Vec<&Value> = events
            .iter()
            .map(|e| &e["candidates"][0]["content"]["parts"][0])
            .collect();
        assert_eq!(*parts[0], json!({"text": "hmm", "thought": true}));
        assert_eq!(*parts[1], json!({"text": "Hel"}));
        assert_eq!(*parts[2], json!({"text": "lo"}));
        let last = events.last().unwrap();
        assert_eq!(
            last["candidates"][0]["content"]["parts"],
            json!([{"functionCall": {"id": "call_1", "name": "run", "args": {"a": 1}}},
                   {"functionCall": {"id": "call_2", "name": "two", "args": {"b": 2}}}])
        );
        assert_eq!(last["candidates"][0]["finishReason"], "STOP");
        assert_eq!(
            last["usageMetadata"],
            json!({"promptTokenCount": 10, "candidatesTokenCount": 4, "totalTokenCount": 14,
                "cachedContentTokenCount": 6})
        );
        assert_eq!(last["responseId"], "r1");
        assert!(events[..events.len() - 1]
            .iter()
            .all(|e| e["candidates"][0].get("finishReason").is_none()));
        for split in [1, 2, 7, 64] {
            assert_eq!(run(Framing::Sse, &stream(), split), whole, "split {split}");
        }
    }

    #[test]
    fn json_array_is_one_array() {
        let out = run(Framing::JsonArray, &stream(), 3);
        let v: Value = serde_json::from_str(&out).unwrap();
        let sse_events = sse(&run(Framing::Sse, &stream(), 3));
        assert_eq!(v, Value::Array(sse_events));
    }

    #[test]
    fn text_only_ends_with_an_empty_text_and_estimates() {
        let input = [
            chunk(json!({"content": "abcdefgh"})),
            format!(
                "data: {}\n\n",
                json!({"choices": [{"delta": {}, "finish_reason": "length"}]})
            ),
        ]
        .concat();
        let events = sse(&run(Framing::Sse, &input, 5));
        let last = events.last().unwrap();
        assert_eq!(
            last["candidates"][0]["content"]["parts"],
            json!([{"text": ""}])
        );
        assert_eq!(last["candidates"][0]["finishReason"], "MAX_TOKENS");
        assert_eq!(last["usageMetadata"]["promptTokenCount"], 5);
        assert_eq!(last["usageMetadata"]["candidatesTokenCount"], 2);
    }

    #[test]
    fn failures_end_with_an_error_element() {
        let cut = chunk(json!({"content": "par"}));
        let events = sse(&run(Framing::Sse, &cut, 4));
        assert_eq!(events.len(), 2);
        assert_eq!(events[1]["error"]["status"], "INTERNAL");
        let v: Value = serde_json::from_str(&run(Framing::JsonArray, &cut, 4)).unwrap();
        assert_eq!(v[1]["error"]["code"], 500);
        let inline = format!("{cut}data: {{\"error\":{{\"message\":\"boom\"}}}}\n\n");
        let events = sse(&run(Framing::Sse, &inline, 9));
        assert_eq!(events[1]["error"]["message"], "boom");
        let mut t = StreamTranslator::new(meta(Framing::JsonArray));
        let out = String::from_utf8(t.fail("idle")).unwrap();
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v[0]["error"]["message"], "idle");
        assert!(t.finish().is_empty() && t.fail("again").is_empty());
    }

    #[test]
    fn done_without_finish_is_a_normal_end() {
        let input = [
            chunk(json!({"content": "x"})),
            "data: [DONE]\n\n".to_string(),
        ]
        .concat();
        let events = sse(&run(Framing::Sse, &input, 2));
        assert_eq!(
            events.last().unwrap()["candidates"][0]["finishReason"],
            "STOP"
        );
    }
}
