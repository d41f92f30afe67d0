//! Response stages on the chat answer (issue 21): redaction of the answer's text, on a JSON
//! answer and on a stream. A streamed answer arrives a few characters per event, so a phone
//! number or an e-mail address may be split over several; each choice's text is therefore
//! held back by up to `window_bytes` (the longest find redacted across events) and released
//! once nothing held can still turn into a find. The events keep their framing: each goes on
//! as an event with the text that may be released now (possibly none), and what is held when
//! a choice finishes goes out with its finishing event; when the stream ends without one,
//! with one more chunk before `[DONE]`.
//!
//! The answer's text is its `content` and `reasoning_content`. Tool call arguments are not
//! redacted: the client's agent runs them, and a redacted argument would break the call.

use super::Stage;
use crate::core::sse::Splitter;
use bytes::Bytes;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Longest non-streamed answer redacted (a larger one passes as it came, counted as `error`).
const MAX_JSON: usize = 32 << 20;

const FIELDS: [&str; 2] = ["content", "reasoning_content"];

/// The answer filter of one try.
pub struct AnswerFilter {
    stages: Vec<Arc<Stage>>,
    window: usize,
    mode: Mode,
    /// Each stage's latency series, looked up once (not per piece of the answer).
    timers: Vec<prometheus::Histogram>,
}

enum Mode {
    Json(Vec<u8>),
    Sse {
        split: Splitter,
        /// Text held back per (choice, field).
        held: BTreeMap<(u64, usize), String>,
        /// `id`, `created`, `model` of the stream (for a closing chunk of our own).
        meta: Option<Value>,
    },
}

impl AnswerFilter {
    /// The filter of an answer on a route whose pipeline has response stages.
    pub fn new(stages: &[Arc<Stage>], stream: bool) -> Option<AnswerFilter> {
        let stages: Vec<Arc<Stage>> = stages
            .iter()
            .filter(|s| s.answer_redact().is_some())
            .cloned()
            .collect();
        if stages.is_empty() {
            return None;
        }
        let window = stages
            .iter()
            .filter_map(|s| s.answer_redact().map(|r| r.window))
            .max()
            .unwrap_or(128);
        let mode = if stream {
            Mode::Sse {
                split: Splitter::default(),
                held: BTreeMap::new(),
                meta: None,
            }
        } else {
            Mode::Json(Vec::new())
        };
        let m = crate::observe::metrics::metrics();
        let timers = stages
            .iter()
            .map(|s| m.stage_seconds.with_label_values(&[&s.name, "response"]))
            .collect();
        Some(AnswerFilter {
            stages,
            window,
            mode,
            timers,
        })
    }

    /// One piece of the answer (`None` when the piece gives nothing yet).
    pub fn on_body(&mut self, body: &mut Option<Bytes>, end: bool) {
        let t0 = std::time::Instant::now();
        let out = match &mut self.mode {
            Mode::Json(buf) => {
                if let Some(b) = body.take() {
                    if buf.len() + b.len() <= MAX_JSON {
                        buf.extend_from_slice(&b);
                    }
                }
                if !end {
                    return;
                }
                let whole = std::mem::take(buf);
                redact_json(&self.stages, whole)
            }
            Mode::Sse { split, held, meta } => {
                let mut out = Vec::new();
                let mut sse = Sse {
                    stages: &self.stages,
                    window: self.window,
                    held,
                    meta,
                    out: &mut out,
                };
                if let Some(b) = body.take() {
                    split.feed(&b, |event| {
                        sse.event(event);
                        true
                    });
                }
                if end {
                    if let Some(rest) = split.finish() {
                        sse.event(&rest);
                    }
                    sse.flush_all();
                }
                out
            }
        };
        let took = t0.elapsed().as_secs_f64();
        for t in &self.timers {
            t.observe(took);
        }
        // An empty chunk would read as the end of a chunked body: send nothing instead.
        *body = (!out.is_empty()).then(|| Bytes::from(out));
    }
}

fn redact_text(stages: &[Arc<Stage>], s: &str) -> Option<String> {
    let mut cur: Option<String> = None;
    for st in stages {
        if let Some(r) = st.answer_redact() {
            let text = cur.as_deref().unwrap_or(s);
            if let Some(out) = r.text(text) {
                count(st, "modify");
                cur = Some(out);
            }
        }
    }
    cur
}

fn count(st: &Stage, decision: &str) {
    crate::observe::metrics::metrics()
        .stage_decisions
        .with_label_values(&[&st.name, "response", decision])
        .inc();
}

/// A JSON chat completion, its messages' text redacted; anything else goes as it came.
fn redact_json(stages: &[Arc<Stage>], whole: Vec<u8>) -> Vec<u8> {
    let Ok(mut v) = serde_json::from_slice::<Value>(&whole) else {
        return whole;
    };
    let mut changed = false;
    if let Some(choices) = v.get_mut("choices").and_then(Value::as_array_mut) {
        for c in choices {
            let Some(m) = c.get_mut("message").and_then(Value::as_object_mut) else {
                continue;
            };
            for f in FIELDS {
                if let Some(Value::String(s)) = m.get_mut(f) {
                    if let Some(out) = redact_text(stages, s) {
                        *s = out;
                        changed = true;
                    }
                }
            }
        }
    }
    if !changed {
        for s in stages {
            count(s, "pass");
        }
        return whole;
    }
    serde_json::to_vec(&v).unwrap_or(whole)
}

struct Sse<'a> {
    stages: &'a [Arc<Stage>],
    window: usize,
    held: &'a mut BTreeMap<(u64, usize), String>,
    meta: &'a mut Option<Value>,
    out: &'a mut Vec<u8>,
}

impl Sse<'_> {
    fn event(&mut self, event: &[u8]) {
        let data = crate::core::sse::data_of(event);
        let Some(data) = data else {
            self.pass(event);
            return;
        };
        if data.as_ref() == b"[DONE]" {
            self.flush_all();
            self.pass(event);
            return;
        }
        let Ok(mut v) = serde_json::from_slice::<Value>(&data) else {
            self.pass(event);
            return;
        };
        let Some(choices) = v.get_mut("choices").and_then(Value::as_array_mut) else {
            self.pass(event);
            return;
        };
        if choices.is_empty() {
            self.pass(event); // the usage chunk
            return;
        }
        for c in choices.iter_mut() {
            let index = c.get("index").and_then(Value::as_u64).unwrap_or(0);
            let finished = c.get("finish_reason").is_some_and(|f| !f.is_null());
            let Some(delta) = c.get_mut("delta").and_then(Value::as_object_mut) else {
                continue;
            };
            for (fi, f) in FIELDS.iter().enumerate() {
                let incoming = match delta.get(*f) {
                    Some(Value::String(s)) => Some(s.as_str()),
                    _ => None,
                };
                let key = (index, fi);
                if incoming.is_none() && !(finished && self.held.contains_key(&key)) {
                    continue;
                }
                let buf = self.held.entry(key).or_default();
                if let Some(s) = incoming {
                    buf.push_str(s);
                }
                let release = take_safe(buf, self.window, finished, self.stages);
                if finished {
                    self.held.remove(&key);
                }
                let text = redact_text(self.stages, &release).unwrap_or(release);
                delta.insert((*f).to_string(), Value::String(text));
            }
        }
        if self.meta.is_none() {
            // A stream's id, created and model are the same in every chunk.
            let mut meta = serde_json::Map::new();
            for k in ["id", "object", "created", "model"] {
                if let Some(x) = v.get(k) {
                    meta.insert(k.to_string(), x.clone());
                }
            }
            *self.meta = Some(Value::Object(meta));
        }
        crate::core::sse::data(self.out, &v);
    }

    fn pass(&mut self, event: &[u8]) {
        self.out.extend_from_slice(event);
        self.out.extend_from_slice(b"\n\n");
    }

    /// Releases every held text, in a chunk of our own per choice.
    fn flush_all(&mut self) {
        let held = std::mem::take(self.held);
        let mut by_choice: BTreeMap<u64, serde_json::Map<String, Value>> = BTreeMap::new();
        for ((index, fi), text) in held {
            if text.is_empty() {
                continue;
            }
            let text = redact_text(self.stages, &text).unwrap_or(text);
            by_choice
                .entry(index)
                .or_default()
                .insert(FIELDS[fi].to_string(), Value::String(text));
        }
        for (index, delta) in by_choice {
            let mut chunk = self.meta.clone().unwrap_or_else(|| json!({}));
            chunk["object"] = json!("chat.completion.chunk");
            chunk["choices"] = json!([{"index": index, "delta": delta, "finish_reason": null}]);
            crate::core::sse::data(self.out, &chunk);
        }
    }
}

/// What of `buf` can go now: all of it when the choice has finished; else all but the last
/// `window` bytes, cut after a space or a non-ASCII character (so the released text ends, and
/// the held text starts, where a find may start or end as in the whole text: `x13800138000`
/// is no phone number, and it must not become one when `x` has gone before), and never inside
/// a find that reaches into what is held. A run of ASCII without a space that grows past four
/// windows is cut where it must be (memory stays bounded).
fn take_safe(buf: &mut String, window: usize, finished: bool, stages: &[Arc<Stage>]) -> String {
    if finished {
        return std::mem::take(buf);
    }
    if buf.len() <= window {
        return String::new();
    }
    let mut limit = buf.len() - window;
    while !buf.is_char_boundary(limit) {
        limit -= 1;
    }
    let after_gap = buf[..limit]
        .char_indices()
        .rev()
        .find(|(_, c)| c.is_whitespace() || !c.is_ascii())
        .map(|(i, c)| i + c.len_utf8());
    let mut cut = match after_gap {
        Some(c) => c,
        None if buf.len() > 4 * window => limit,
        None => return String::new(),
    };
    for st in stages {
        if let Some(r) = st.answer_redact() {
            for f in crate::chat::guard::pii::find(buf, &r.kinds) {
                if f.range.start < cut && f.range.end > cut {
                    cut = f.range.start;
                }
            }
        }
    }
    let rest = buf.split_off(cut);
    std::mem::replace(buf, rest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::guard::pii;
    use crate::config::stages::PiiAction;
    use crate::stage::guard::Redact;
    use proptest::prelude::*;

    fn stage() -> Arc<Stage> {
        Arc::new(Stage {
            name: "pii".into(),
            kind: super::super::Kind::Redact {
                guard: Redact {
                    kinds: pii::Kind::ALL.to_vec(),
                    action: PiiAction::Redact,
                    status: 400,
                    window: 64,
                },
                on_request: false,
                on_response: true,
            },
        })
    }

    /// A chat stream of `pieces` as content deltas, then a finish and `[DONE]`.
    fn stream(pieces: &[&str], finish: bool) -> Vec<u8> {
        let mut out = Vec::new();
        for p in pieces {
            let c = json!({"id": "c1", "object": "chat.completion.chunk", "model": "m",
                "choices": [{"index": 0, "delta": {"content": p}, "finish_reason": null}]});
            crate::core::sse::data(&mut out, &c);
        }
        if finish {
            let c = json!({"id": "c1", "object": "chat.completion.chunk", "model": "m",
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]});
            crate::core::sse::data(&mut out, &c);
        }
        out.extend_from_slice(b"data: [DONE]\n\n");
        out
    }

    /// The filter's output for `body` fed in pieces cut at `cuts`.
    fn run(body: &[u8], cuts: &[usize]) -> Vec<u8> {
        let mut f = AnswerFilter::new(&[stage()], true).unwrap();
        let mut out = Vec::new();
        let mut at = 0;
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (body.len() + 1)).collect();
        points.sort_unstable();
        points.push(body.len());
        for (i, p) in points.iter().enumerate() {
            let mut b = Some(Bytes::copy_from_slice(&body[at..*p]));
            f.on_body(&mut b, i + 1 == points.len());
            if let Some(b) = b {
                out.extend_from_slice(&b);
            }
            at = *p;
        }
        out
    }

    /// The content the client reads, and whether every event is a JSON chunk or `[DONE]`.
    fn content(out: &[u8]) -> (String, bool) {
        let mut text = String::new();
        let mut ok = true;
        let mut split = Splitter::default();
        split.feed(out, |e| {
            let d = crate::core::sse::data_of(e).unwrap_or_default();
            if d.as_ref() == b"[DONE]" {
                return true;
            }
            match serde_json::from_slice::<Value>(&d) {
                Ok(v) => {
                    if let Some(s) = v
                        .pointer("/choices/0/delta/content")
                        .and_then(Value::as_str)
                    {
                        text.push_str(s);
                    }
                }
                Err(_) => ok = false,
            }
            true
        });
        (text, ok && out.ends_with(b"data: [DONE]\n\n"))
    }

    #[test]
    fn an_address_split_over_events_is_redacted() {
        let pieces = [
            "Write to jane",
            ".doe@exa",
            "mple.com or call +86 138",
            "0013 8000 today.",
        ];
        for finish in [true, false] {
            let out = run(&stream(&pieces, finish), &[]);
            let (text, framed) = content(&out);
            assert!(framed, "{}", String::from_utf8_lossy(&out));
            assert_eq!(
                text,
                "Write to [REDACTED:email] or call [REDACTED:phone] today."
            );
            let raw = String::from_utf8_lossy(&out);
            assert!(!raw.contains("exa") && !raw.contains("8000"), "{raw}");
        }
    }

    #[test]
    fn a_json_answer_is_redacted() {
        let mut f = AnswerFilter::new(&[stage()], false).unwrap();
        let body = json!({"choices": [{"index": 0, "message": {"role": "assistant",
            "content": "key sk-abcdefghijklmnopqrstuvwx1234"}}]});
        let mut b = Some(Bytes::from(body.to_string()));
        f.on_body(&mut b, true);
        let v: Value = serde_json::from_slice(&b.unwrap()).unwrap();
        assert_eq!(
            v["choices"][0]["message"]["content"],
            "key [REDACTED:api_key]"
        );
    }

    proptest! {
        /// Whatever the split of the stream into reads and of the text into deltas, the
        /// client reads the whole answer, redacted as if it had come in one piece, in valid
        /// events.
        #[test]
        fn any_split_reads_as_one_piece(
            words in proptest::collection::vec(prop_oneof![
                // Finds end with ". ": two card numbers in a row would be one run of
                // digits, grouped differently depending on where it is read from.
                Just("hello "), Just("jane.doe@example.com. "), Just("13800138000. "),
                Just("4111 1111 1111 1111. "), Just("你好 "), Just("x"),
            ], 0..30),
            delta_cuts in proptest::collection::vec(0usize..400, 0..20),
            read_cuts in proptest::collection::vec(0usize..4000, 0..20),
            finish in any::<bool>(),
        ) {
            let whole: String = words.concat();
            let mut cuts: Vec<usize> = delta_cuts
                .iter()
                .map(|c| c % (whole.len() + 1))
                .filter(|c| whole.is_char_boundary(*c))
                .collect();
            cuts.sort_unstable();
            cuts.dedup();
            let mut pieces = Vec::new();
            let mut at = 0;
            for c in cuts.into_iter().chain([whole.len()]) {
                pieces.push(&whole[at..c]);
                at = c;
            }
            let out = run(&stream(&pieces, finish), &read_cuts);
            let (text, framed) = content(&out);
            prop_assert!(framed);
            let expected = pii::redact(&whole, &pii::Kind::ALL)
                .map_or(whole.clone(), |(s, _)| s);
            prop_assert_eq!(text, expected);
        }
    }
}
