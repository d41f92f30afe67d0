//! Chat SSE stream → Responses SSE stream.
//!
//! Items open and close in order: reasoning, then the message, then tool calls (which stay
//! open until the end because parallel calls interleave their argument chunks). A clean
//! `response.completed` needs the upstream's finish reason plus `[DONE]` or the body's end;
//! anything else is `response.failed`, so a client never mistakes a cut stream for an answer.

use serde_json::{json, Map, Value};

use super::meta::ResponseMeta;
use super::output::{
    custom_input, is_custom, item_id, item_json, response_json, terminal_event, End, Item,
};
use crate::core::sse;
use crate::core::translate::ResponseTranslator;
use crate::core::usage::Usage;
use crate::protocol::chat_stream::{ChatEvent, ChatStreamDecoder};

struct Slot {
    item: Item,
    done: bool,
}

/// Streaming translator: one per response.
pub struct StreamTranslator {
    meta: ResponseMeta,
    decoder: ChatStreamDecoder,
    seq: u64,
    started: bool,
    terminal: bool,
    items: Vec<Slot>,
    /// The open reasoning or message item.
    open_text: Option<usize>,
    /// Chat tool-call index → output index of its item.
    calls: Vec<(usize, usize)>,
    finish_reason: Option<String>,
    usage: Option<Usage>,
    final_response: Option<Value>,
}

impl StreamTranslator {
    pub fn new(meta: ResponseMeta) -> Self {
        StreamTranslator {
            meta,
            decoder: ChatStreamDecoder::new(),
            seq: 0,
            started: false,
            terminal: false,
            items: Vec::new(),
            open_text: None,
            calls: Vec::new(),
            finish_reason: None,
            usage: None,
            final_response: None,
        }
    }

    /// The response object once the stream completed (or ended incomplete).
    pub fn final_response(&self) -> Option<Value> {
        self.final_response.clone()
    }

    fn emit(&mut self, out: &mut Vec<u8>, kind: &str, fields: Value) {
        let mut data = Map::new();
        data.insert("type".into(), json!(kind));
        data.insert("sequence_number".into(), json!(self.seq));
        if let Value::Object(f) = fields {
            data.extend(f);
        }
        self.seq += 1;
        sse::event(out, kind, &Value::Object(data));
    }

    fn start(&mut self, out: &mut Vec<u8>) {
        if std::mem::replace(&mut self.started, true) {
            return;
        }
        let resp = response_json(&self.meta, &End::InProgress, Vec::new(), None);
        self.emit(out, "response.created", json!({"response": resp}));
        let resp = response_json(&self.meta, &End::InProgress, Vec::new(), None);
        self.emit(out, "response.in_progress", json!({"response": resp}));
    }

    fn handle(&mut self, ev: ChatEvent, out: &mut Vec<u8>) {
        if self.terminal {
            return;
        }
        match ev {
            ChatEvent::Reasoning(t) => self.text(true, &t, out),
            ChatEvent::Text(t) => self.text(false, &t, out),
            ChatEvent::ToolCallStart { index, id, name } => self.call_start(index, id, name, out),
            ChatEvent::ToolCallArgs { index, delta } => self.call_args(index, &delta, out),
            ChatEvent::Finish(r) => self.finish_reason = Some(r),
            ChatEvent::Usage(u) => self.usage = Some(u),
            ChatEvent::Done => self.complete(out),
            ChatEvent::Error(m) => self.failed(&m, out),
            ChatEvent::Start { .. } => {}
        }
    }

    /// Reasoning or answer text: continues the open item of that kind, else opens one.
    fn text(&mut self, reasoning: bool, t: &str, out: &mut Vec<u8>) {
        let index = match self.open_text {
            Some(i) if self.is_reasoning(i) == reasoning => i,
            _ => self.open_text_item(reasoning, out),
        };
        let id = match self.items.get_mut(index).map(|s| &mut s.item) {
            Some(Item::Reasoning(s)) => {
                s.push_str(t);
                item_id(&self.meta, "rs", index)
            }
            Some(Item::Message(s)) => {
                s.push_str(t);
                item_id(&self.meta, "msg", index)
            }
            _ => return,
        };
        if reasoning {
            let f = json!({"item_id": id, "output_index": index, "summary_index": 0, "delta": t});
            self.emit(out, "response.reasoning_summary_text.delta", f);
        } else {
            let f = json!({"item_id": id, "output_index": index, "content_index": 0,
                "delta": t, "logprobs": []});
            self.emit(out, "response.output_text.delta", f);
        }
    }

    fn is_reasoning(&self, i: usize) -> bool {
        matches!(self.items.get(i).map(|s| &s.item), Some(Item::Reasoning(_)))
    }

    fn open_text_item(&mut self, reasoning: bool, out: &mut Vec<u8>) -> usize {
        if let Some(i) = self.open_text.take() {
            self.close(i, out);
        }
        let item = if reasoning {
            Item::Reasoning(String::new())
        } else {
            Item::Message(String::new())
        };
        let index = self.add_item(item, out);
        if reasoning {
            let f = json!({"item_id": item_id(&self.meta, "rs", index), "output_index": index,
                "summary_index": 0, "part": {"type": "summary_text", "text": ""}});
            self.emit(out, "response.reasoning_summary_part.added", f);
        } else {
            let f = json!({"item_id": item_id(&self.meta, "msg", index), "output_index": index,
                "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": []}});
            self.emit(out, "response.content_part.added", f);
        }
        self.open_text = Some(index);
        index
    }

    fn add_item(&mut self, item: Item, out: &mut Vec<u8>) -> usize {
        let index = self.items.len();
        let json = item_json(&self.meta, index, &item, false);
        self.items.push(Slot { item, done: false });
        self.emit(
            out,
            "response.output_item.added",
            json!({"output_index": index, "item": json}),
        );
        index
    }

    fn call_start(&mut self, chat_index: usize, call_id: String, name: String, out: &mut Vec<u8>) {
        if let Some(i) = self.open_text.take() {
            self.close(i, out);
        }
        // A new id at a known chat index is a new call: the old one is complete.
        if let Some(pos) = self.calls.iter().position(|(c, _)| *c == chat_index) {
            let (_, old) = self.calls.remove(pos);
            self.close(old, out);
        }
        let item = Item::Call {
            call_id,
            name,
            args: String::new(),
        };
        let index = self.add_item(item, out);
        self.calls.push((chat_index, index));
    }

    fn call_args(&mut self, chat_index: usize, delta: &str, out: &mut Vec<u8>) {
        let Some(&(_, index)) = self.calls.iter().find(|(c, _)| *c == chat_index) else {
            return;
        };
        let custom = match self.items.get_mut(index).map(|s| &mut s.item) {
            Some(Item::Call { name, args, .. }) => {
                args.push_str(delta);
                is_custom(&self.meta, name)
            }
            _ => return,
        };
        // Custom tool input is the `input` string inside JSON arguments: it is only known
        // once the arguments are complete, so it is sent whole at the item's end.
        if !custom {
            let f = json!({"item_id": item_id(&self.meta, "fc", index), "output_index": index,
                "delta": delta});
            self.emit(out, "response.function_call_arguments.delta", f);
        }
    }

    /// Emits the closing events of item `index` (once).
    fn close(&mut self, index: usize, out: &mut Vec<u8>) {
        let Some(slot) = self.items.get_mut(index) else {
            return;
        };
        if std::mem::replace(&mut slot.done, true) {
            return;
        }
        let item = slot.item.clone();
        match &item {
            Item::Reasoning(text) => {
                let id = item_id(&self.meta, "rs", index);
                let f =
                    json!({"item_id": id, "output_index": index, "summary_index": 0, "text": text});
                self.emit(out, "response.reasoning_summary_text.done", f);
                let f = json!({"item_id": id, "output_index": index, "summary_index": 0,
                    "part": {"type": "summary_text", "text": text}});
                self.emit(out, "response.reasoning_summary_part.done", f);
            }
            Item::Message(text) => {
                let id = item_id(&self.meta, "msg", index);
                let f = json!({"item_id": id, "output_index": index, "content_index": 0,
                    "text": text, "logprobs": []});
                self.emit(out, "response.output_text.done", f);
                let f = json!({"item_id": id, "output_index": index, "content_index": 0,
                    "part": {"type": "output_text", "text": text, "annotations": []}});
                self.emit(out, "response.content_part.done", f);
            }
            Item::Call { name, args, .. } if is_custom(&self.meta, name) => {
                let f = json!({"item_id": item_id(&self.meta, "ctc", index), "output_index": index,
                    "input": custom_input(args)});
                self.emit(out, "response.custom_tool_call_input.done", f);
            }
            Item::Call { args, .. } => {
                let f = json!({"item_id": item_id(&self.meta, "fc", index), "output_index": index,
                    "arguments": args});
                self.emit(out, "response.function_call_arguments.done", f);
            }
        }
        let json = item_json(&self.meta, index, &item, true);
        self.emit(
            out,
            "response.output_item.done",
            json!({"output_index": index, "item": json}),
        );
    }

    fn output(&self) -> Vec<Value> {
        self.items
            .iter()
            .enumerate()
            .map(|(i, s)| item_json(&self.meta, i, &s.item, s.done))
            .collect()
    }

    /// The upstream is done: completes when it said why it stopped, else fails.
    fn complete(&mut self, out: &mut Vec<u8>) {
        let Some(reason) = self.finish_reason.clone() else {
            self.failed("the upstream stream ended without a finish reason", out);
            return;
        };
        for i in 0..self.items.len() {
            self.close(i, out);
        }
        let resp = response_json(
            &self.meta,
            &End::Finished(&reason),
            self.output(),
            self.usage.as_ref(),
        );
        self.final_response = Some(resp.clone());
        self.terminal = true;
        self.emit(out, terminal_event(&resp), json!({"response": resp}));
    }

    fn failed(&mut self, message: &str, out: &mut Vec<u8>) {
        if self.terminal {
            return;
        }
        self.start(out);
        let resp = response_json(
            &self.meta,
            &End::Failed(message),
            self.output(),
            self.usage.as_ref(),
        );
        self.terminal = true;
        self.emit(out, "response.failed", json!({"response": resp}));
    }

    fn run(&mut self, events: Vec<ChatEvent>, out: &mut Vec<u8>) {
        for ev in events {
            self.handle(ev, out);
        }
    }
}

impl ResponseTranslator for StreamTranslator {
    fn feed(&mut self, chunk: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        if self.terminal {
            return out;
        }
        self.start(&mut out);
        let mut events = Vec::new();
        self.decoder.feed(chunk, &mut events);
        self.run(events, &mut out);
        out
    }

    fn finish(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.terminal {
            return out;
        }
        self.start(&mut out);
        let mut events = Vec::new();
        self.decoder.finish(&mut events);
        self.run(events, &mut out);
        if !self.terminal {
            self.complete(&mut out);
        }
        out
    }

    fn fail(&mut self, message: &str) -> Vec<u8> {
        let mut out = Vec::new();
        self.failed(message, &mut out);
        out
    }

    fn usage(&self) -> Option<Usage> {
        self.usage
    }

    fn final_response(&self) -> Option<Value> {
        self.final_response.clone()
    }
}
