//! The check of a JSON answer before the client sees any of it ([`Expect`]): its own file so
//! the hand-off (which holds it) and the scan (which reads the hand-off) do not import each
//! other.

use crate::core::kind::Kind;
use crate::core::usage::{Usage, UsageFields};
use crate::providers::ProviderKind;
use pingora::http::ResponseHeader;
use serde_json::value::RawValue;

/// A JSON answer the gateway checks before the client sees any of it: chat without stream,
/// embeddings, images. An upstream's 2xx that is not this JSON (an HTML error page, a cut-off
/// body, another content type) is a failed try: retried like a 502, then a 502 for the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expect {
    /// The top-level member the answer must have.
    pub key: &'static str,
    /// The most the gateway holds; a longer declared length passes unchecked, a longer
    /// undeclared one is refused.
    pub cap: usize,
}

impl Expect {
    /// A provider's own answer passed through to a client of its protocol: an Anthropic
    /// `message` has `content`, a Gemini answer `candidates`.
    pub fn native(provider: ProviderKind, stream: bool) -> Option<Expect> {
        let key = match provider {
            ProviderKind::Anthropic => "content",
            ProviderKind::Gemini => "candidates",
            _ => "choices",
        };
        (!stream).then_some(Expect { key, cap: 8 << 20 })
    }

    pub fn for_request(kind: Kind, stream: bool) -> Option<Expect> {
        const MIB: usize = 1 << 20;
        match kind {
            Kind::Chat if !stream => Some(Expect {
                key: "choices",
                cap: 8 * MIB,
            }),
            Kind::Embeddings | Kind::Images => Some(Expect {
                key: "data",
                cap: 32 * MIB,
            }),
            _ => None,
        }
    }

    /// The response header's part: a JSON content type.
    pub fn check_header(&self, resp: &ResponseHeader) -> Result<(), String> {
        let ct = resp
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let essence = ct.split(';').next().unwrap_or("").trim();
        if essence.eq_ignore_ascii_case("application/json") || essence.ends_with("+json") {
            Ok(())
        } else {
            Err(format!("content type `{ct}` instead of JSON"))
        }
    }

    /// The whole body: a complete JSON object with the expected member.
    pub fn check_body(&self, body: &[u8]) -> Result<(), String> {
        self.judge(body).0
    }

    /// The body's part, and its `usage` when it has one, from one borrowed parse of the top
    /// level (the answer is judged and counted without a second pass or a copy).
    pub fn judge(&self, body: &[u8]) -> (Result<(), String>, Option<Usage>) {
        type Top<'a> = std::collections::BTreeMap<std::borrow::Cow<'a, str>, &'a RawValue>;
        let top: Top = match serde_json::from_slice(body) {
            Ok(t) => t,
            Err(e) => return (Err(format!("not a complete JSON object ({e})")), None),
        };
        let usage = top.get("usage").and_then(|raw| usage_raw(raw));
        if top.contains_key(self.key) {
            (Ok(()), usage)
        } else {
            (Err(format!("a JSON object without `{}`", self.key)), usage)
        }
    }
}

/// Reads a `usage` object given as raw JSON.
fn usage_raw(raw: &RawValue) -> Option<Usage> {
    serde_json::from_str::<UsageFields>(raw.get()).ok()?.usage()
}
