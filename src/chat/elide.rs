//! Large data-URL images kept out of the chat body's one parse.
//!
//! Parsing a 1 MB data URL costs the JSON parser a scan for escapes, a UTF-8 check and a copy
//! into a `String`: about a third of a cascade hit's CPU, for text a text-only route throws
//! away for its cached description. So before a large chat body is parsed, every long string
//! that starts with `data:`, is the value of a `url` or `image_url` member and holds no escape
//! is cut out of the bytes the parser sees and replaced by a short token. The cascade reads
//! such an image's bytes straight from the client's body; whatever the cascade does not
//! replace is put back, checked as the parser would have checked it, before anything else
//! reads the body (fixing, forwarding).
//!
//! Why this is exact: the cut spans an opening quote's content up to the next quote and holds
//! no backslash, so the parser sees the same quotes at the same places and only that string's
//! content differs. A token carries a per-process nonce and names a span of the same request
//! only: a client that wrote one could at most point at its own bytes.

use crate::core::error::GatewayError;
use bytes::Bytes;
use memchr::memmem;
use serde_json::Value;
use std::ops::Range;
use std::sync::OnceLock;

/// Bodies smaller than this are parsed as they are (nothing to gain).
pub const MIN_BODY: usize = 64 * 1024;
/// Strings shorter than this stay in the parse.
pub const MIN_STRING: usize = 16 * 1024;

/// The spans cut out of one request's body.
#[derive(Debug)]
pub struct Elided {
    body: Bytes,
    spans: Vec<Range<usize>>,
}

/// An image URL as the cascade sees it: parsed text, or bytes cut from the client's body
/// (not yet checked to be text: a cache hit never needs them as text).
#[derive(Debug, Clone, Copy)]
pub enum UrlText<'a> {
    Parsed(&'a str),
    Cut(&'a [u8]),
}

impl<'a> UrlText<'a> {
    pub fn bytes(self) -> &'a [u8] {
        match self {
            UrlText::Parsed(s) => s.as_bytes(),
            UrlText::Cut(b) => b,
        }
    }

    /// The URL as text, checked as the JSON parser checks a string (UTF-8, no raw control
    /// character).
    pub fn text(self) -> Result<&'a str, GatewayError> {
        match self {
            UrlText::Parsed(s) => Ok(s),
            UrlText::Cut(b) => checked_text(b),
        }
    }
}

fn checked_text(b: &[u8]) -> Result<&str, GatewayError> {
    match std::str::from_utf8(b) {
        Ok(s) if !has_control(b) => Ok(s),
        _ => Err(GatewayError::bad_request(
            "We could not parse the JSON body of your request: an image URL holds a control \
             character or invalid UTF-8.",
        )),
    }
}

/// Whether any byte is below 0x20, a whole block at a time (the compiler vectorises the fold).
fn has_control(b: &[u8]) -> bool {
    let mut blocks = b.chunks_exact(64);
    let found = blocks
        .by_ref()
        .any(|c| c.iter().fold(false, |acc, &x| acc | (x < 0x20)));
    found || blocks.remainder().iter().any(|&x| x < 0x20)
}

/// `llm-relay-elided:<nonce>:`: the prefix of every token of this process.
fn prefix() -> &'static str {
    static PREFIX: OnceLock<String> = OnceLock::new();
    PREFIX.get_or_init(|| {
        format!(
            "llm-relay-elided:{}:",
            hex::encode(rand::random::<[u8; 8]>())
        )
    })
}

impl Elided {
    /// Cuts the long data URLs out of `body`. `None` when there is nothing to cut: parse the
    /// body as it is. Otherwise the bytes to parse instead, and the spans to resolve tokens.
    pub fn cut(body: &Bytes) -> Option<(Vec<u8>, Elided)> {
        if body.len() < MIN_BODY {
            return None;
        }
        let mut out: Vec<u8> = Vec::new();
        let mut spans = Vec::new();
        let mut copied = 0;
        let mut at = 0;
        while let Some(i) = memmem::find(&body[at..], b"\"data:") {
            let start = at + i + 1;
            let Some(j) = memchr::memchr2(b'"', b'\\', &body[start..]) else {
                break;
            };
            let end = start + j;
            at = end + 1;
            if body[end] != b'"' || j < MIN_STRING || !is_url_value(&body[..start - 1]) {
                continue;
            }
            if out.capacity() == 0 {
                out.reserve(MIN_BODY); // the rest of a body this large, about
            }
            out.extend_from_slice(&body[copied..start]);
            out.extend_from_slice(prefix().as_bytes());
            out.extend_from_slice(spans.len().to_string().as_bytes());
            copied = end;
            spans.push(start..end);
        }
        if spans.is_empty() {
            return None;
        }
        out.extend_from_slice(&body[copied..]);
        let body = body.clone();
        Some((out, Elided { body, spans }))
    }

    /// The bytes a token stands for; `None` for any other string.
    pub fn resolve(&self, s: &str) -> Option<&[u8]> {
        let n: usize = s.strip_prefix(prefix())?.parse().ok()?;
        self.spans.get(n).map(|r| &self.body[r.clone()])
    }

    /// Bytes cut out (what the rewritten body will not carry).
    pub fn cut_len(&self) -> usize {
        self.spans.iter().map(|r| r.len()).sum()
    }

    /// Puts back every token still in `v` (the cascade replaced the others), as the text the
    /// client sent; 400 where that text is not a valid JSON string. Returns the bytes put back.
    pub fn restore(&self, v: &mut Value) -> Result<usize, GatewayError> {
        match v {
            Value::String(s) => match self.resolve(s) {
                Some(b) => {
                    *s = checked_text(b)?.to_owned();
                    Ok(b.len())
                }
                None => Ok(0),
            },
            Value::Array(a) => a.iter_mut().try_fold(0, |n, x| Ok(n + self.restore(x)?)),
            Value::Object(o) => o.values_mut().try_fold(0, |n, x| Ok(n + self.restore(x)?)),
            _ => Ok(0),
        }
    }

    /// Checks every cut span as the parser would have (for a body forwarded as it came).
    pub fn check(&self) -> Result<(), GatewayError> {
        self.spans
            .iter()
            .try_for_each(|r| checked_text(&self.body[r.clone()]).map(|_| ()))
    }
}

/// Whether the text before an opening quote ends with `"url":` or `"image_url":` (whitespace
/// allowed around the colon), and the quote is not escaped.
fn is_url_value(before: &[u8]) -> bool {
    let trimmed = trim_end(before);
    let Some(key) = trimmed.strip_suffix(b":") else {
        return false;
    };
    let key = trim_end(key);
    key.ends_with(b"\"url\"") || key.ends_with(b"\"image_url\"")
}

fn trim_end(b: &[u8]) -> &[u8] {
    let n = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(0, |i| i + 1);
    &b[..n]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn image(n: usize) -> String {
        format!("data:image/png;base64,{}", "QUJD".repeat(n / 4))
    }

    fn body(v: &Value) -> Bytes {
        Bytes::from(serde_json::to_vec(v).unwrap())
    }

    /// Cut, parse, restore: the same value as parsing the body whole.
    fn round_trip(b: &Bytes) -> Option<Value> {
        let (small, e) = Elided::cut(b)?;
        let mut v: Value = serde_json::from_slice(&small).unwrap();
        e.restore(&mut v).unwrap();
        Some(v)
    }

    #[test]
    fn long_image_urls_are_cut_and_restored_exactly() {
        let v = json!({"model": "m", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "what?"},
            {"type": "image_url", "image_url": {"url": image(100_000)}},
            {"type": "image_url", "image_url": image(40_000)},
            {"type": "image_url", "image_url": {"url": image(100)}},
        ]}]});
        let b = body(&v);
        let (small, e) = Elided::cut(&b).unwrap();
        assert_eq!(e.spans.len(), 2, "the short one stays");
        assert!(small.len() < 1000, "{}", small.len());
        assert_eq!(e.cut_len(), image(100_000).len() + image(40_000).len());
        let parsed: Value = serde_json::from_slice(&small).unwrap();
        let tok = parsed["messages"][0]["content"][1]["image_url"]["url"]
            .as_str()
            .unwrap();
        assert_eq!(e.resolve(tok).unwrap(), image(100_000).as_bytes());
        assert_eq!(round_trip(&b).unwrap(), v);
    }

    #[test]
    fn what_is_not_a_plain_url_value_is_left_in_the_parse() {
        let big = image(80_000);
        // An escaped slash, a data URL in text, a key, pretty-printed whitespace.
        let escaped = big.replacen('/', "\\/", 1);
        let text = format!(
            r#"{{"messages":[{{"role":"user","content":[{{"type":"text","text":"{big}"}},{{"type":"image_url","image_url":{{"url":"{escaped}"}}}}]}}],"{big}":1}}"#
        );
        assert!(Elided::cut(&Bytes::from(text)).is_none());
        let spaced = format!(
            r#"{{"messages":[{{"content":[{{"image_url" :  {{ "url"  :  "{big}"}}}}]}}]}}"#
        );
        let b = Bytes::from(spaced.clone());
        let v: Value = serde_json::from_str(&spaced).unwrap();
        assert_eq!(round_trip(&b).unwrap(), v);
        // An escaped quote before `data:` is inside a string.
        let inner = format!(r#"{{"x":"\"url\":\"{big}","y":1}}"#);
        assert!(Elided::cut(&Bytes::from(inner)).is_none());
    }

    #[test]
    fn text_the_parser_would_refuse_is_refused_on_restore() {
        for bad in [
            format!("{}\u{1}", image(70_000)),
            image(70_000).replacen('Q', "\u{7f}\u{0}", 1),
        ] {
            let raw =
                format!(r#"{{"messages":[{{"content":[{{"image_url":{{"url":"{bad}"}}}}]}}]}}"#);
            assert!(serde_json::from_str::<Value>(&raw).is_err());
            let (small, e) = Elided::cut(&Bytes::from(raw)).unwrap();
            let mut v: Value = serde_json::from_slice(&small).unwrap();
            let err = e.restore(&mut v).unwrap_err();
            assert_eq!(err.status(), 400);
            assert!(e.check().is_err());
        }
        let mut raw = br#"{"messages":[{"content":[{"image_url":{"url":"data:"#.to_vec();
        raw.extend(std::iter::repeat_n(0xffu8, 70_000));
        raw.extend_from_slice(br#""}}]}]}"#);
        let (small, e) = Elided::cut(&Bytes::from(raw)).unwrap();
        let mut v: Value = serde_json::from_slice(&small).unwrap();
        assert!(e.restore(&mut v).is_err(), "invalid UTF-8");
    }

    #[test]
    fn tokens_of_another_nonce_or_index_are_plain_strings() {
        let v = json!({"messages": [{"content": [{"image_url": {"url": image(70_000)}}]}]});
        let (_, e) = Elided::cut(&body(&v)).unwrap();
        assert!(e.resolve("llm-relay-elided:0000000000000000:0").is_none());
        assert!(e.resolve(&format!("{}1", prefix())).is_none());
        assert!(e.resolve(&format!("{}0", prefix())).is_some());
        assert!(e.resolve("data:image/png;base64,AAAA").is_none());
    }

    #[test]
    fn small_bodies_are_not_touched() {
        let v = json!({"messages": [{"content": [{"image_url": {"url": image(20_000)}}]}]});
        assert!(Elided::cut(&body(&v)).is_none());
    }

    fn part() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        prop_oneof![
            "[ -~]{0,40}".prop_map(|t| json!({"type": "text", "text": t})),
            // Text that quotes a data URL (escaped quotes in the JSON).
            (0usize..40_000)
                .prop_map(|n| json!({"type": "text", "text": format!("\"url\":\"{}\"", image(n))})),
            (0usize..90_000)
                .prop_map(|n| json!({"type": "image_url", "image_url": {"url": image(n)}})),
            (0usize..90_000).prop_map(|n| json!({"type": "image_url", "image_url": image(n)})),
            (0usize..90_000).prop_map(|n| json!({"type": "file", "url": image(n), "data:": n})),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 64, ..Default::default() })]
        /// Whatever the layout (compact, pretty, `\/` escapes), cutting, parsing and restoring
        /// gives what parsing the whole body gives, and no token is left.
        #[test]
        fn cut_parse_restore_is_a_plain_parse(
            parts in proptest::collection::vec(part(), 1..6),
            pretty: bool,
            escape_slashes: bool,
        ) {
            let v = json!({"model": "m", "messages": [{"role": "user", "content": parts}]});
            let mut text = if pretty { serde_json::to_string_pretty(&v).unwrap() } else { v.to_string() };
            if escape_slashes {
                text = text.replace('/', "\\/");
            }
            let b = Bytes::from(text);
            if let Some(back) = round_trip(&b) {
                proptest::prop_assert_eq!(&back, &v);
                proptest::prop_assert!(!back.to_string().contains(prefix()));
            }
        }
    }

    #[test]
    fn control_scan_sees_every_position() {
        for n in [0, 1, 63, 64, 65, 200] {
            for at in 0..n {
                let mut b = vec![b'A'; n];
                b[at] = b'\n';
                assert!(has_control(&b), "{n} {at}");
            }
            assert!(!has_control(&vec![b'A'; n]));
        }
    }
}
