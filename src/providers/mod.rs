//! Upstream providers: what a pool speaks, how a request is rendered and signed for it, and
//! how its answer is decoded back into chat.
//!
//! The gateway's hub is OpenAI chat: every client protocol becomes a chat request (or passes
//! through untranslated when the pool speaks it natively, see [`Provider::speaks`]), and a
//! [`Provider`] turns that chat request into its own (`render`), sets its credential
//! (`sign`), and turns its answer back into chat (`decoder`, `error_to_chat`). Rendering
//! happens per try ([`crate::proxy::retry`]), so a fallback to a pool of another provider gets
//! a body made for it.
//!
//! The provider modules ([`anthropic`], [`gemini`]) are pure (no I/O). Adding a provider is a
//! variant of [`ProviderKind`], its module, and one arm in each `match` below (and a `type`
//! in `config::file::ProviderSection`).
//!
//! Why an enum and not a trait object: the set of providers is closed (each is code in this
//! crate, and config names it by `type`), so dispatch is a `match` the compiler checks for
//! every provider, with no allocation or vtable on the request path; the open seams are the
//! provider modules' three functions (`render`, `decoder`, `error_to_chat`), which have the
//! same shape for every provider.

pub mod anthropic;
pub mod buffered;
pub mod gemini;
pub mod hunyuan_native;

use crate::chat::fix::ModelCaps;
use crate::chat::fix::{fix_chat, FixPolicy, FixReport, Trim};
use crate::chat::model::ChatRequest;
use crate::core::protocol::Protocol;
use crate::core::translate::{ResponseTranslator, TranslateError};
use http::HeaderValue;
use pingora::http::RequestHeader;
use serde_json::Value;

/// What a pool speaks: a closed set, chosen by `pools.<name>.provider.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ProviderKind {
    /// OpenAI chat and everything OpenAI-compatible: bodies pass through.
    #[default]
    OpenAi,
    /// Hunyuan's OpenAI-compatible endpoint: chat bodies are fixed to its rules.
    Hunyuan,
    /// The Anthropic Messages API (Anthropic, Hunyuan's and TokenHub's compatible endpoints).
    Anthropic,
    /// Google Gemini's `generateContent`.
    Gemini,
    /// Hunyuan's native API (TC3-signed, PascalCase bodies): fixed like `Hunyuan`, then
    /// rendered and decoded by [`hunyuan_native`].
    HunyuanNative,
}

impl ProviderKind {
    pub fn label(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "openai",
            ProviderKind::Hunyuan => "hunyuan",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::Gemini => "gemini",
            ProviderKind::HunyuanNative => "hunyuan_native",
        }
    }

    /// Whether its chat requests go through Hunyuan's message rules.
    pub fn fixes(self) -> bool {
        matches!(self, ProviderKind::Hunyuan | ProviderKind::HunyuanNative)
    }

    /// Whether it reports errors in a 2xx body (Tencent Cloud API answers them with HTTP 200):
    /// such an answer is read whole before its status is decided.
    pub fn errors_in_ok_body(self) -> bool {
        self == ProviderKind::HunyuanNative
    }

    /// Whether its chat answers are OpenAI chat as they come (no decoding).
    pub fn answers_chat(self) -> bool {
        matches!(self, ProviderKind::OpenAi | ProviderKind::Hunyuan)
    }
}

/// What a provider's API can take (see [`Provider::capabilities`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// Image parts in user messages.
    pub vision: bool,
    /// Function tools and tool calls.
    pub tools: bool,
    /// Answers carry the model's reasoning.
    pub reasoning: bool,
    /// Prompt caching by explicit breakpoints (`cache_control`); providers without it cache
    /// implicitly (OpenAI, Gemini's implicit cache) or not at all.
    pub caching: bool,
}

/// The Anthropic API version sent when the client did not choose one.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// A pool's provider, compiled from config: its kind, its credential and its fixing policy.
#[derive(Clone)]
pub struct Provider {
    pub kind: ProviderKind,
    /// The provider key as the header value it is sent in (`Bearer <key>` for OpenAI-style
    /// providers, the bare key for `x-api-key` / `x-goog-api-key`), marked sensitive so
    /// `http`'s Debug never prints it.
    pub key: Option<HeaderValue>,
    /// Hunyuan's message rules (the `hunyuan` provider).
    pub fix: FixPolicy,
    /// `anthropic-version` sent when the client sent none.
    pub anthropic_version: HeaderValue,
    /// The `hunyuan_native` provider's signing credentials and region.
    pub tc3: Option<std::sync::Arc<Tc3>>,
}

/// TC3-HMAC-SHA256 signing material of a `hunyuan_native` pool.
#[derive(Debug)]
pub struct Tc3 {
    pub creds: hunyuan_native::Credentials,
    pub region: Option<String>,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("kind", &self.kind)
            .field("key", &self.key.as_ref().map(|_| "<set>"))
            .finish_non_exhaustive()
    }
}

/// A request rendered for one provider.
#[derive(Debug)]
pub struct Rendered {
    /// Path and query below the member's base URL.
    pub path: String,
    pub body: bytes::Bytes,
    /// What the fixer did (the `hunyuan` provider), for statistics.
    pub fixed: Option<(std::time::Instant, std::time::Duration)>,
}

impl Provider {
    pub fn new(kind: ProviderKind, key: Option<HeaderValue>, fix: FixPolicy) -> Provider {
        Provider {
            kind,
            key,
            fix,
            anthropic_version: HeaderValue::from_static(ANTHROPIC_VERSION),
            tc3: None,
        }
    }

    /// The header the key goes in, and whether it is a bearer token.
    pub fn key_header(kind: ProviderKind) -> (&'static str, bool) {
        match kind {
            ProviderKind::OpenAi | ProviderKind::Hunyuan => ("authorization", true),
            // Signed per request (`sign_payload`), no key header.
            ProviderKind::HunyuanNative => ("authorization", false),
            ProviderKind::Anthropic => ("x-api-key", false),
            ProviderKind::Gemini => ("x-goog-api-key", false),
        }
    }

    /// Whether a client of `protocol` can be passed through to this provider untranslated
    /// (the pass-through table). Chat to Hunyuan passes through the fixer, which is not a
    /// translation.
    pub fn speaks(&self, protocol: Protocol) -> bool {
        matches!(
            (self.kind, protocol),
            (ProviderKind::OpenAi | ProviderKind::Hunyuan, Protocol::Chat)
                | (ProviderKind::OpenAi, Protocol::Completions)
                | (ProviderKind::Anthropic, Protocol::Messages)
                | (ProviderKind::Gemini, Protocol::Gemini)
        )
    }

    /// What the provider's API can take. Per-model limits (a text-only model, a model
    /// without tools) are the route's (`routes[].vision`, `routes[].tools`); these are the
    /// API's own.
    pub fn capabilities(&self) -> Capabilities {
        let k = self.kind;
        Capabilities {
            vision: true,
            tools: true,
            // Reasoning comes back as `reasoning_content` (Hunyuan's t1, Anthropic's thinking,
            // Gemini's thoughts); OpenAI's chat API does not return it.
            reasoning: k != ProviderKind::OpenAi,
            caching: k == ProviderKind::Anthropic,
        }
    }

    /// Whether it caches prompts by the client's `cache_control` breakpoints (which are then
    /// kept on the way through chat).
    pub fn caches_by_hints(&self) -> bool {
        self.capabilities().caching
    }

    /// Whether a chat body must be rewritten for this provider (a chat body that needs no
    /// rewrite goes upstream byte for byte).
    pub fn rewrites_chat(&self) -> bool {
        self.kind != ProviderKind::OpenAi
    }

    /// Renders the gateway's chat request for this provider. `chat` is the request as the
    /// client's protocol gave it (cascade done, model set to the upstream's); the `hunyuan`
    /// provider fixes it on the typed model (`chat::model`) and serialises that directly.
    /// `hint`: the expected body size.
    pub fn render_chat(
        &self,
        mut chat: Value,
        caps: ModelCaps,
        trim: Trim,
        hint: usize,
    ) -> Result<Rendered, TranslateError> {
        match self.kind {
            ProviderKind::OpenAi => Ok(Rendered {
                path: "/chat/completions".into(),
                body: serialise(&chat, hint)?,
                fixed: None,
            }),
            ProviderKind::Hunyuan | ProviderKind::HunyuanNative => {
                let started = std::time::Instant::now();
                let Value::Object(obj) = std::mem::take(&mut chat) else {
                    return Ok(Rendered {
                        path: "/chat/completions".into(),
                        body: serialise(&chat, hint)?,
                        fixed: None,
                    });
                };
                let native = self.kind == ProviderKind::HunyuanNative;
                let body = match ChatRequest::from_map(obj) {
                    Ok(mut typed) => {
                        let mut report = FixReport::default();
                        fix_chat(&mut typed, &self.fix, caps, trim, &mut report);
                        crate::observe::stats::global().record_fix(report);
                        if native {
                            serialise(&hunyuan_native::render(&typed)?, hint)?
                        } else {
                            serialise(&typed, hint)?
                        }
                    }
                    // No messages: validation refuses it first; sent as it is otherwise.
                    Err(obj) => serialise(&obj, hint)?,
                };
                let path = if native { "/" } else { "/chat/completions" };
                Ok(Rendered {
                    path: path.into(),
                    body,
                    fixed: Some((started, started.elapsed())),
                })
            }
            ProviderKind::Anthropic => Ok(Rendered {
                path: "/messages".into(),
                body: serialise(&anthropic::render(&chat)?, hint)?,
                fixed: None,
            }),
            ProviderKind::Gemini => {
                let (path, body) = gemini::render(&chat)?;
                Ok(Rendered {
                    path,
                    body: serialise(&body, hint)?,
                    fixed: None,
                })
            }
        }
    }

    /// Sets the provider's credential (and version headers) on an upstream request whose
    /// client credentials were already removed.
    pub fn sign(&self, req: &mut RequestHeader) -> pingora::Result<()> {
        if let Some(key) = self.key.as_ref() {
            let (name, _) = Provider::key_header(self.kind);
            req.insert_header(name, key.clone())?;
        }
        if self.kind == ProviderKind::Anthropic && !req.headers.contains_key("anthropic-version") {
            req.insert_header("anthropic-version", self.anthropic_version.clone())?;
        }
        Ok(())
    }

    /// A decoder of this provider's 2xx chat answer into OpenAI chat (`None`: it is chat).
    pub fn decoder(&self, stream: bool, model: &str) -> Option<Box<dyn ResponseTranslator>> {
        match self.kind {
            ProviderKind::OpenAi | ProviderKind::Hunyuan => None,
            ProviderKind::Anthropic => Some(anthropic::decoder(stream, model)),
            ProviderKind::Gemini => Some(gemini::decoder(stream, model)),
            ProviderKind::HunyuanNative => Some(hunyuan_native::decoder(stream, model)),
        }
    }

    /// This provider's error answer as OpenAI's error shape (`None`: it already is).
    pub fn error_to_chat(&self, status: u16, body: &[u8]) -> Option<(u16, Vec<u8>)> {
        match self.kind {
            ProviderKind::OpenAi | ProviderKind::Hunyuan => None,
            ProviderKind::Anthropic => Some(anthropic::error_to_chat(status, body)),
            ProviderKind::Gemini => Some(gemini::error_to_chat(status, body)),
            ProviderKind::HunyuanNative => Some(hunyuan_native::error_to_chat(status, body)),
        }
    }

    /// A 2xx body that is really an error (see [`ProviderKind::errors_in_ok_body`]): the
    /// status it stands for and OpenAI's error body.
    pub fn error_in_ok_body(&self, body: &[u8]) -> Option<(u16, Vec<u8>)> {
        match self.kind {
            ProviderKind::HunyuanNative => hunyuan_native::error_in_body(body),
            _ => None,
        }
    }

    /// The TC3 signature headers of a `hunyuan_native` request of `action` (none for other
    /// providers), signed now.
    pub fn tc3_headers(
        &self,
        action: &str,
        host: &str,
        payload: &[u8],
    ) -> Vec<(&'static str, String)> {
        let Some(tc3) = self.tc3.as_ref() else {
            return Vec::new();
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let region = tc3.region.as_deref();
        hunyuan_native::sign_action(&tc3.creds, (host, action), payload, now, region)
    }

    /// The provider's own id of the request named in its answer body, if any.
    pub fn request_id_in(&self, body: &[u8]) -> Option<String> {
        match self.kind {
            ProviderKind::HunyuanNative => hunyuan_native::request_id(body),
            _ => None,
        }
    }

    /// Signs a request whose signature covers its body and host (TC3 for `hunyuan_native`):
    /// called once the body of the try is known. Other providers were signed by [`sign`].
    pub fn sign_payload(
        &self,
        req: &mut RequestHeader,
        host: &str,
        payload: &[u8],
    ) -> pingora::Result<()> {
        for (name, value) in self.tc3_headers(hunyuan_native::ACTION, host, payload) {
            let mut v = HeaderValue::from_str(&value).map_err(|e| {
                pingora::Error::because(pingora::ErrorType::InternalError, "signing", e)
            })?;
            v.set_sensitive(name.eq_ignore_ascii_case("authorization"));
            req.insert_header(name, v)?;
        }
        Ok(())
    }
}

/// `hint`: the size it is expected to have (the client's body): one allocation, no regrowth.
fn serialise(v: &impl serde::Serialize, hint: usize) -> Result<bytes::Bytes, TranslateError> {
    let mut out = Vec::with_capacity(hint + hint / 8 + 64);
    serde_json::to_writer(&mut out, v)
        .map(|()| bytes::Bytes::from(out))
        .map_err(|e| TranslateError {
            message: format!("re-serialising the request: {e}"),
            param: None,
        })
}
