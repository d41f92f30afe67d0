//! Scanning responses on their way to the client, without holding them back: SSE events are
//! counted, `usage` is read from the final chunk (and from JSON bodies), and the usage-only
//! chunk the gateway asked for on the client's behalf is removed before the client sees it.
//!
//! Response body filters are synchronous and called per socket read, not per event, so the
//! scanner keeps the incomplete tail of the last event between calls. When nothing has to be
//! removed, every chunk is forwarded as it came; only the stripping mode holds back a partial
//! event (until its end arrives, typically within the same read).

use crate::core::kind::Kind;
use crate::core::sse::event_end;
pub use crate::core::usage::Usage;
use crate::core::usage::UsageFields;
use crate::providers::ProviderKind;
use crate::proxy::handoff::{Handoff, Telemetry};
use bytes::{Bytes, BytesMut};
use memchr::memmem;
use pingora::http::ResponseHeader;
use serde_json::Value;
use std::sync::atomic::Ordering;

/// Whether a response is an SSE stream.
pub fn is_sse(headers: &http::HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"))
}

/// How the child reads the upstream's response body on its way to the client.
#[derive(Debug, Default)]
pub enum ResponseScan {
    #[default]
    Off,
    Sse(SseEvents),
    /// A JSON answer with `usage` (chat, embeddings), kept up to a bound to read the tokens.
    Json(BytesMut),
    /// A provider's own JSON answer passed through (Anthropic `usage`, Gemini
    /// `usageMetadata`), kept up to the same bound.
    Native(ProviderKind, BytesMut),
}

/// JSON answers longer than this are not scanned for usage.
const JSON_SCAN_CAP: usize = 2 << 20;

impl ResponseScan {
    /// The scan for a response: SSE events, or a successful chat/embeddings JSON answer.
    pub fn for_response(h: &Handoff, resp: &ResponseHeader) -> ResponseScan {
        let dialect = match h.target.pool.provider.kind {
            k @ (ProviderKind::Anthropic | ProviderKind::Gemini) if h.native => k,
            _ => ProviderKind::OpenAi,
        };
        if is_sse(&resp.headers) {
            let mut s = SseEvents::new(h.strip_usage);
            s.dialect = dialect;
            ResponseScan::Sse(s)
        } else if matches!(h.kind, Kind::Chat | Kind::Embeddings) && resp.status.is_success() {
            if dialect != ProviderKind::OpenAi {
                return ResponseScan::Native(dialect, BytesMut::new());
            }
            ResponseScan::Json(BytesMut::new())
        } else {
            ResponseScan::Off
        }
    }

    /// One piece of the response body (`end`: the last); results go to `t` at the end.
    pub fn on_body(&mut self, body: &mut Option<Bytes>, end: bool, t: &Telemetry) {
        let usage = match self {
            ResponseScan::Off => return,
            ResponseScan::Sse(scanner) => {
                if let Some(chunk) = body.take() {
                    *body = Some(scanner.feed(chunk));
                }
                if !end {
                    return;
                }
                let rest = scanner.finish();
                if !rest.is_empty() {
                    let mut all = BytesMut::from(&body.take().unwrap_or_default()[..]);
                    all.extend_from_slice(&rest);
                    *body = Some(all.freeze());
                }
                t.events.store(scanner.events, Ordering::Relaxed);
                scanner.usage
            }
            ResponseScan::Native(dialect, buf) => {
                if let Some(chunk) = body.as_ref() {
                    if buf.len() + chunk.len() > JSON_SCAN_CAP {
                        *self = ResponseScan::Off;
                        return;
                    }
                    buf.extend_from_slice(chunk);
                }
                if !end {
                    return;
                }
                serde_json::from_slice::<Value>(buf)
                    .ok()
                    .and_then(|v| native_usage(*dialect, &v, None))
            }
            ResponseScan::Json(buf) => {
                if let Some(chunk) = body.as_ref() {
                    if buf.len() + chunk.len() > JSON_SCAN_CAP {
                        *self = ResponseScan::Off;
                        return;
                    }
                    buf.extend_from_slice(chunk);
                }
                if !end {
                    return;
                }
                usage_in(buf)
            }
        };
        if let Some(u) = usage {
            t.record_usage(&u);
        }
    }
}

/// Longest event the scanner follows (stripping mode forwards a longer one as it is).
const MAX_EVENT: usize = 4 << 20;

/// Reads `usage` from a whole JSON answer: a typed parse that skips everything else (a `Value`
/// of the answer allocated every string in it).
fn usage_in(body: &[u8]) -> Option<Usage> {
    #[derive(serde::Deserialize)]
    struct Answer {
        #[serde(default)]
        usage: Option<UsageFields>,
    }
    serde_json::from_slice::<Answer>(body).ok()?.usage?.usage()
}

/// Reads `usage` from a response or chunk object: no prompt count, no usage.
pub fn usage_of(v: &Value) -> Option<Usage> {
    Usage::reported(v)
}

/// The SSE events of one response: counted, usage read, the usage-only chunk removable.
#[derive(Debug, Default)]
pub struct SseEvents {
    carry: BytesMut,
    /// How much of `carry` was already searched for an event's end: a long event arriving in
    /// small reads is not searched again from its start on every read (that was quadratic:
    /// a 1 MB event in 16-byte reads took minutes).
    scanned: usize,
    /// Remove the usage-only chunk (`choices: []`): the client did not ask for it.
    pub strip_usage: bool,
    pub events: u64,
    pub usage: Option<Usage>,
    pub done: bool,
    /// Whose events these are: chat (the gateway's hub), or a provider's own stream passed
    /// through to a client of its protocol.
    pub dialect: ProviderKind,
}

impl SseEvents {
    pub fn new(strip_usage: bool) -> SseEvents {
        SseEvents {
            strip_usage,
            ..Default::default()
        }
    }

    /// Takes one read of the body; returns what to send to the client now.
    pub fn feed(&mut self, chunk: Bytes) -> Bytes {
        if !self.strip_usage {
            // A pathological event that never ends must not grow memory: stop scanning it.
            if self.carry.len() > MAX_EVENT {
                self.carry.clear();
                self.scanned = 0;
            }
            self.carry.extend_from_slice(&chunk);
            self.scan_complete(false);
            return chunk;
        }
        self.carry.extend_from_slice(&chunk);
        let out = self.scan_complete(true);
        if self.carry.len() > MAX_EVENT {
            let mut all = BytesMut::from(&out[..]);
            all.extend_from_slice(&self.carry.split());
            self.scanned = 0;
            return all.freeze();
        }
        out
    }

    /// End of the body: whatever is left (an unterminated last event) goes out as is.
    pub fn finish(&mut self) -> Bytes {
        let rest = self.carry.split().freeze();
        self.scanned = 0;
        if !rest.is_empty() {
            self.inspect(&rest);
        }
        if self.strip_usage {
            rest
        } else {
            Bytes::new()
        }
    }

    /// Consumes the complete events of `carry`; with `emit`, returns the ones to forward.
    fn scan_complete(&mut self, emit: bool) -> Bytes {
        let mut out = BytesMut::new();
        // 3 bytes back: a separator (up to 4 bytes) may straddle two reads.
        let mut from = self.scanned.min(self.carry.len()).saturating_sub(3);
        while let Some((end, sep)) = event_end(&self.carry[from..]) {
            let end = from + end;
            let event = self.carry.split_to(end + sep).freeze();
            let keep = self.inspect(&event[..end]);
            if emit && keep {
                out.extend_from_slice(&event);
            }
            from = 0;
        }
        self.scanned = self.carry.len();
        out.freeze()
    }

    /// Looks at one event; returns false when it must not reach the client.
    fn inspect(&mut self, event: &[u8]) -> bool {
        let Some(data) = data_of(event) else {
            return true; // comments, `event:` lines, keep-alives
        };
        self.events += 1;
        if self.dialect != ProviderKind::OpenAi {
            // A provider's own stream passed through: its usage, never stripped.
            if memmem::find(data, b"sage").is_some() {
                if let Ok(v) = serde_json::from_slice::<Value>(data) {
                    if let Some(u) = native_usage(self.dialect, &v, self.usage) {
                        self.usage = Some(u);
                    }
                }
            }
            return true;
        }
        if data.trim_ascii() == b"[DONE]" {
            self.done = true;
            return true;
        }
        // Every chunk says `"usage":null` once usage was requested: only the final one counts.
        if memmem::find(data, b"\"usage\"").is_none()
            || memmem::find(data, b"\"usage\":null").is_some()
            || memmem::find(data, b"\"usage\": null").is_some()
        {
            return true;
        }
        let Ok(v) = serde_json::from_slice::<Value>(data) else {
            return true;
        };
        if let Some(u) = usage_of(&v) {
            self.usage = Some(u);
            let usage_only = v
                .get("choices")
                .is_none_or(|c| c.as_array().is_some_and(|a| a.is_empty()));
            if self.strip_usage && usage_only {
                self.events -= 1;
                return false;
            }
        }
        true
    }
}

/// The usage in a provider's own answer or event, merged with what an earlier event said:
/// Anthropic's `message_start` has the input counts and `message_delta` the output; a Gemini
/// event's `usageMetadata` is the total so far.
fn native_usage(dialect: ProviderKind, v: &Value, before: Option<Usage>) -> Option<Usage> {
    match dialect {
        ProviderKind::Anthropic => {
            let u = v
                .get("usage")
                .or_else(|| v.get("message").and_then(|m| m.get("usage")))?;
            let now = Usage::from_anthropic(u);
            Some(match before {
                // `message_delta` repeats no input counts (or only some): keep the start's.
                Some(b) if u.get("input_tokens").is_none() => Usage {
                    completion: now.completion,
                    ..b
                },
                _ => now,
            })
        }
        ProviderKind::Gemini => v.get("usageMetadata").map(Usage::from_gemini),
        _ => None,
    }
}

/// The joined `data:` payload of an event (single-line data is the common case: no copy).
fn data_of(event: &[u8]) -> Option<&[u8]> {
    let mut found = None;
    for line in event.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(d) = line.strip_prefix(b"data:") {
            if found.is_some() {
                // Multi-line data: rare in LLM APIs; the first line is what we need.
                break;
            }
            found = Some(d.strip_prefix(b" ").unwrap_or(d));
        }
    }
    found
}

/// Hunyuan's `finish_reason: "sensitive"` (its moderation stopped the output) rewritten to
/// OpenAI's `content_filter`, which typed clients (Vercel AI SDK, the Go and TS SDKs) accept.
/// Works on JSON bodies and SSE streams alike, split anywhere: a read is forwarded at once,
/// except a tail that could begin `"sensitive"` (at most 10 bytes, never the end of a complete
/// event or JSON body), held until the next read. A read without a match goes out as it came.
#[derive(Debug, Default)]
pub struct FinishReasonMap {
    /// A tail that may be the start of `"sensitive"`.
    held: Vec<u8>,
    /// The last bytes sent: what precedes a match that starts a read.
    before: Vec<u8>,
    /// Values rewritten so far.
    pub rewrites: u64,
}

const SENSITIVE: &[u8] = b"\"sensitive\"";
const CONTENT_FILTER: &[u8] = b"\"content_filter\"";
const FINISH_KEY: &[u8] = b"\"finish_reason\"";
/// Enough context for `"finish_reason"` with some whitespace around the colon.
const CONTEXT: usize = 48;

impl FinishReasonMap {
    /// One read of the body (`end`: the last); rewrites it in place.
    pub fn on_body(&mut self, body: &mut Option<Bytes>, end: bool) {
        let chunk = body.take().unwrap_or_default();
        let mut out = self.feed(chunk);
        if end && !self.held.is_empty() {
            let mut all = BytesMut::from(&out[..]);
            all.extend_from_slice(&std::mem::take(&mut self.held));
            out = all.freeze();
        }
        // An empty chunk would read as the end of a chunked body: send nothing instead.
        *body = (!out.is_empty()).then_some(out);
    }

    /// Takes one read; returns what to send now.
    pub fn feed(&mut self, chunk: Bytes) -> Bytes {
        if self.held.is_empty()
            && memmem::find(&chunk, b"\"sensitive").is_none()
            && partial_tail(&chunk) == 0
        {
            self.remember(&chunk);
            return chunk;
        }
        let mut input = std::mem::take(&mut self.held);
        input.extend_from_slice(&chunk);
        let mut out = Vec::with_capacity(input.len() + 8);
        let (mut from, mut last_end) = (0, 0);
        for pos in memmem::find_iter(&input, SENSITIVE) {
            last_end = pos + SENSITIVE.len();
            if self.follows_key(&input[..pos]) {
                out.extend_from_slice(&input[from..pos]);
                out.extend_from_slice(CONTENT_FILTER);
                from = last_end;
                self.rewrites += 1;
            }
        }
        // Hold what may begin a match, but never part of one already found.
        let keep = (input.len() - partial_tail(&input)).max(last_end);
        out.extend_from_slice(&input[from..keep]);
        self.held = input[keep..].to_vec();
        self.remember(&out);
        Bytes::from(out)
    }

    /// Whether `head` (after the bytes already sent) ends with `"finish_reason"` and a colon.
    fn follows_key(&self, head: &[u8]) -> bool {
        let mut ctx: Vec<u8> = Vec::with_capacity(CONTEXT * 2);
        if head.len() < CONTEXT {
            ctx.extend_from_slice(&self.before);
        }
        ctx.extend_from_slice(&head[head.len().saturating_sub(CONTEXT)..]);
        let t = ctx.trim_ascii_end();
        let Some(t) = t.strip_suffix(b":") else {
            return false;
        };
        t.trim_ascii_end().ends_with(FINISH_KEY)
    }

    fn remember(&mut self, sent: &[u8]) {
        let tail = &sent[sent.len().saturating_sub(CONTEXT)..];
        if tail.len() == CONTEXT {
            self.before.clear();
        } else if self.before.len() + tail.len() > CONTEXT {
            self.before
                .drain(..self.before.len() + tail.len() - CONTEXT);
        }
        self.before.extend_from_slice(tail);
    }
}

/// The length of the longest proper prefix of `"sensitive"` that `buf` ends with.
fn partial_tail(buf: &[u8]) -> usize {
    (1..SENSITIVE.len())
        .rev()
        .find(|&k| buf.ends_with(&SENSITIVE[..k]))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::expect::Expect;

    #[test]
    fn usage_in_a_whole_answer_reads_like_usage_of() {
        for body in [
            r#"{"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":3}}"#,
            r#"{"usage":{"prompt_tokens":7}}"#,
            r#"{"usage":{"prompt_tokens":"7","completion_tokens":3}}"#,
            r#"{"usage":{"prompt_tokens":7,"completion_tokens":"3"}}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":9,"prompt_tokens_details":{"cached_tokens":5,"cache_creation_tokens":2}}}"#,
            r#"{"usage":{"prompt_tokens":9,"prompt_tokens_details":null}}"#,
            r#"{"usage":null}"#,
            r#"{"usage":5}"#,
            r#"{"data":[{"embedding":[0.1]}]}"#,
        ] {
            let v: Value = serde_json::from_str(body).unwrap();
            assert_eq!(usage_in(body.as_bytes()), usage_of(&v), "{body}");
            let judged = Expect::for_request(Kind::Chat, false)
                .unwrap()
                .judge(body.as_bytes());
            assert_eq!(judged.1, usage_of(&v), "{body}");
            assert_eq!(judged.0.is_ok(), body.contains("\"choices\""), "{body}");
        }
    }

    const STREAM: &str = "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}],\"usage\":null}\n\n\
data: {\"choices\":[{\"delta\":{\"content\":\"b\"}}],\"usage\":null}\n\n\
data: {\"choices\":[],\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":2,\"total_tokens\":13}}\n\n\
data: [DONE]\n\n";

    fn run(strip: bool, split: usize) -> (String, SseEvents) {
        let mut s = SseEvents::new(strip);
        let mut out = Vec::new();
        for piece in STREAM.as_bytes().chunks(split) {
            out.extend_from_slice(&s.feed(Bytes::copy_from_slice(piece)));
        }
        out.extend_from_slice(&s.finish());
        (String::from_utf8(out).unwrap(), s)
    }

    #[test]
    fn counts_and_reads_usage_at_any_split() {
        for split in [1, 3, 7, 64, 1000] {
            let (out, s) = run(false, split);
            assert_eq!(out, STREAM);
            assert_eq!(
                s.usage,
                Some(Usage {
                    prompt: 11,
                    completion: 2,
                    ..Default::default()
                })
            );
            assert_eq!(s.events, 4);
            assert!(s.done);
        }
    }

    /// The scan reads cache reads and writes from a stream's usage chunk and a JSON answer.
    #[test]
    fn reads_cache_counts() {
        let stream = STREAM.replace(
            "\"total_tokens\":13}",
            "\"total_tokens\":13,\"prompt_tokens_details\":{\"cached_tokens\":8,\"cache_creation_tokens\":2}}",
        );
        let mut s = SseEvents::new(false);
        s.feed(Bytes::from(stream));
        s.finish();
        let u = s.usage.unwrap();
        assert_eq!((u.prompt, u.cached, u.cache_write), (11, 8, 2));
        let body = br#"{"choices":[],"usage":{"prompt_tokens":11,"prompt_tokens_details":{"cached_tokens":8}}}"#;
        assert_eq!(usage_in(body).map(|u| u.cached), Some(8));
    }

    #[test]
    fn strips_the_usage_only_chunk() {
        for split in [1, 5, 33, 1000] {
            let (out, s) = run(true, split);
            assert!(!out.contains("prompt_tokens"), "{out}");
            assert!(
                out.contains("\"a\"") && out.contains("\"b\"") && out.ends_with("data: [DONE]\n\n")
            );
            assert_eq!(s.usage.unwrap().prompt, 11);
        }
    }

    /// A 2 MB event in 64-byte reads: searched from its start on every read this was
    /// quadratic (the fuzzer's hang); the bound is ~100 times what it takes now.
    #[test]
    fn a_long_event_in_small_reads_is_searched_once() {
        let body = format!(
            "data: {{\"choices\":[{{\"delta\":{{\"content\":\"{}\"}}}}]}}\r\n\r\n{}",
            "a".repeat(2 << 20),
            STREAM
        );
        let start = std::time::Instant::now();
        for strip in [false, true] {
            let mut s = SseEvents::new(strip);
            let mut out = Vec::new();
            for piece in body.as_bytes().chunks(64) {
                out.extend_from_slice(&s.feed(Bytes::copy_from_slice(piece)));
            }
            out.extend_from_slice(&s.finish());
            assert_eq!(s.events, if strip { 4 } else { 5 });
            assert_eq!(s.usage.map(|u| u.prompt), Some(11));
            assert_eq!(out.len() == body.len(), !strip);
        }
        let took = start.elapsed();
        assert!(took.as_secs() < 20, "{took:?}");
    }

    #[test]
    fn crlf_events() {
        let mut s = SseEvents::new(true);
        let out = s.feed(Bytes::from_static(
            b"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1}}\r\n\r\ndata: [DONE]\r\n\r\n",
        ));
        assert_eq!(&out[..], b"data: [DONE]\r\n\r\n");
    }

    #[test]
    fn sensitive_becomes_content_filter_at_any_split() {
        let stream = "data: {\"choices\":[{\"delta\":{\"content\":\"\\\"sensitive\\\" word\"},\"finish_reason\":null}]}\n\n\
data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"sensitive\"}]}\n\n\
data: {\"choices\":[{\"delta\":{},\"finish_reason\" : \"sensitive\"}],\"note\":\"sensitive\"}\n\n\
data: [DONE]\n\n";
        let want = stream.replace(
            "\"finish_reason\":\"sensitive\"",
            "\"finish_reason\":\"content_filter\"",
        );
        let want = want.replace(
            "\"finish_reason\" : \"sensitive\"",
            "\"finish_reason\" : \"content_filter\"",
        );
        for split in [1, 2, 3, 5, 7, 11, 64, 1000] {
            let mut m = FinishReasonMap::default();
            let mut out = Vec::new();
            let pieces: Vec<&[u8]> = stream.as_bytes().chunks(split).collect();
            for (i, piece) in pieces.iter().enumerate() {
                let mut body = Some(Bytes::copy_from_slice(piece));
                m.on_body(&mut body, i + 1 == pieces.len());
                out.extend_from_slice(&body.unwrap_or_default());
            }
            assert_eq!(String::from_utf8(out).unwrap(), want, "split {split}");
            assert_eq!(m.rewrites, 2, "split {split}");
        }
    }

    #[test]
    fn other_bodies_pass_byte_for_byte() {
        let mut m = FinishReasonMap::default();
        let body = Bytes::from_static(b"{\"choices\":[{\"finish_reason\":\"stop\"}]}");
        let out = m.feed(body.clone());
        assert_eq!(out.as_ptr(), body.as_ptr(), "forwarded without a copy");
        // A complete SSE event never ends in a held tail.
        let ev = Bytes::from_static(b"data: {\"finish_reason\":\"sens\"}\n\n");
        assert_eq!(m.feed(ev.clone()), ev);
        assert_eq!(m.rewrites, 0);
    }

    #[test]
    fn expected_json_answers() {
        let chat = Expect::for_request(Kind::Chat, false).unwrap();
        assert!(Expect::for_request(Kind::Chat, true).is_none());
        assert!(chat.check_body(br#"{"choices":[],"x":1}"#).is_ok());
        assert!(chat.check_body(br#"{"choices":[{"ind"#).is_err());
        assert!(chat.check_body(b"<html></html>").is_err());
        assert!(chat.check_body(b"{}").is_err());
        let mut h = ResponseHeader::build(200, None).unwrap();
        h.insert_header("content-type", "text/html").unwrap();
        assert!(chat.check_header(&h).is_err());
        h.insert_header("content-type", "application/json; charset=utf-8")
            .unwrap();
        assert!(chat.check_header(&h).is_ok());
    }
}
