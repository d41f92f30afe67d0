//! From a whole request body to what is sent upstream: validate it and find the model, route
//! it, and rewrite the body only when needed (alias rename; for chat, the image cascade and
//! the provider's message rules). A chat body is parsed once (by `translate::incoming`):
//! validation, routing, the cascade and fixing share that `Value`, serialised once at the end.
//! Other kinds are validated by one borrowed parse and forwarded byte for byte; only an alias
//! on such a route parses the body again to rename its model. Bodies that need no change are
//! forwarded without a re-serialisation.

use crate::body::multipart;
use crate::body::validate;
use crate::body::validate::Peeked;
use crate::cascade;
use crate::cascade::{CascadeState, Report};
use crate::chat::elide::Elided;
use crate::chat::fix::{ModelCaps, Trim};
use crate::core::error::GatewayError;
use crate::core::kind::{BodyFormat, Endpoint, Kind};
use crate::observe::trace::TraceCtx;
use crate::policy::auth::ApiKey;
use crate::protocol::Translation;
use crate::providers::Rendered;
use crate::runtime::Runtime;
use crate::upstream::route::Target;
use crate::upstream::Pool;
use bytes::Bytes;
use serde_json::Value;
use std::sync::Arc;
use std::time::Instant;

/// A request ready to forward.
#[derive(Debug)]
pub struct Prepared {
    pub kind: Kind,
    pub target: Target,
    /// The model the client asked for.
    pub requested_model: String,
    pub body: Bytes,
    /// The client asked for an SSE stream.
    pub stream: bool,
    /// What the cascade did (chat only).
    pub cascade: Report,
    /// When message fixing ran and how long it took (for the trace).
    pub fixed: Option<(std::time::Instant, std::time::Duration)>,
    /// The gateway asked for the usage chunk: remove it before the client sees it.
    pub strip_usage: bool,
    /// The client's protocol, when it is not chat: how to translate the answer back.
    pub translation: Option<Translation>,
    /// Path and query below the member's base URL, when the provider decided it (a rendered
    /// chat request); `None`: the endpoint's own path with the client's query.
    pub path: Option<String>,
    /// The chat request before the provider rendered it, kept when a try may go to a pool of
    /// another provider (a fallback): that try renders its own body from it.
    pub rerender: Option<Arc<ReRender>>,
    /// The client's protocol passes through to a provider that speaks it (`/v1/messages` to
    /// an `anthropic` pool): the answer is neither decoded nor translated.
    pub native: bool,
    /// The configured stages that changed the request (the access log's `stages`).
    pub stages: Vec<Arc<str>>,
    /// Where to keep the answer (the exact response cache), when it is cacheable.
    pub cache: Option<(
        std::sync::Arc<crate::state::response_cache::ResponseCache>,
        crate::state::response_cache::CacheKey,
    )>,
}

/// What a try on a pool of another provider needs to render its own body.
#[derive(Debug)]
pub struct ReRender {
    pub chat: Value,
    /// The client streams and did not ask for the usage chunk.
    pub wants_usage: bool,
    pub caps: ModelCaps,
    pub trim: Trim,
    pub hint: usize,
    /// Translated: cache breakpoints in it came from the client's protocol.
    pub translated: bool,
}

impl ReRender {
    /// The body, path and usage stripping of a try on `pool`.
    pub fn render(&self, pool: &Pool) -> Result<(Rendered, bool), GatewayError> {
        let c = self.chat.clone();
        render(
            pool,
            (self.caps, self.trim),
            c,
            (self.wants_usage, self.translated),
            self.hint,
        )
    }
}

/// A try may go to a pool of another provider (the route's fallback): it renders its own
/// body from the chat request, which is then kept.
fn needs_rerender(t: &Target) -> bool {
    t.fallback
        .as_ref()
        .is_some_and(|f| f.provider.kind != t.pool.provider.kind)
}

/// Renders a chat request for `pool`'s provider (the per-try step): the usage option for a
/// provider that answers chat (when the pool asks for usage), its rules and its shape. The
/// bool: the try removes the usage-only chunk before the client sees it.
pub fn render(
    pool: &Pool,
    (caps, trim): (ModelCaps, Trim),
    mut chat: Value,
    (wants_usage, translated): (bool, bool),
    hint: usize,
) -> Result<(Rendered, bool), GatewayError> {
    if translated && !pool.provider.caches_by_hints() {
        // Cache breakpoints a translated Messages request kept (`cache_control` on parts,
        // tool calls, tools) are for providers that cache by them: the others get the body
        // without them (strict OpenAI-compatible servers refuse unknown members of parts).
        crate::protocol::cache_hint::strip(&mut chat);
    }
    let strip = if pool.provider.kind.answers_chat() {
        let add = wants_usage && pool.request_usage;
        if add {
            add_usage_option(&mut chat);
        }
        add
    } else {
        // Its decoder always ends a stream with the usage chunk.
        wants_usage
    };
    let rendered = pool
        .provider
        .render_chat(chat, caps, trim, hint)
        .map_err(GatewayError::from)?;
    Ok((rendered, strip))
}

fn add_usage_option(v: &mut Value) {
    if let Some(obj) = v.as_object_mut() {
        let opts = obj
            .entry("stream_options")
            .or_insert_with(|| Value::Object(Default::default()));
        if !opts.is_object() {
            *opts = Value::Object(Default::default());
        }
        opts["include_usage"] = Value::Bool(true);
    }
}

/// The chat request offers at least one tool.
fn offers_tools(json: Option<&Value>) -> bool {
    json.and_then(|v| v.get("tools"))
        .and_then(Value::as_array)
        .is_some_and(|t| !t.is_empty())
}

/// Validates the request and finds its model (`Peeked`), before any routing.
pub async fn peek(
    endpoint: Endpoint,
    content_type: Option<&str>,
    body: &Bytes,
    json: Option<&Value>,
) -> Result<Peeked, GatewayError> {
    if let Some(v) = json {
        return validate::chat_value(v);
    }
    match endpoint.body_format() {
        BodyFormat::Multipart => {
            let form = multipart::summarize(content_type, body.clone()).await?;
            validate::form(endpoint, &form)
        }
        _ => validate::json(endpoint, body),
    }
}

/// Routes and rewrites one validated request.
/// What [`prepare`] works on.
pub struct Input {
    pub endpoint: Endpoint,
    pub kind: Kind,
    pub peeked: Peeked,
    pub body: Bytes,
    /// The chat body's parse, when there is one (see the module comment).
    pub json: Option<Value>,
    /// Image data URLs kept out of `json` (see `chat::elide`).
    pub elided: Option<Elided>,
    pub translation: Option<Translation>,
    /// The request's trace: vision calls carry it as their parent.
    pub trace: Option<TraceCtx>,
    /// The client's key: the cascade's models must be in its `models` list too.
    pub key: Option<Arc<ApiKey>>,
    /// When the client's request began: the cascade runs within `timeouts.total_ms` from here.
    pub started: Instant,
    /// The client's protocol, as stages are told it (`chat`, `responses`, `messages`…).
    pub protocol: &'static str,
}

/// What the chat rewrite needs besides the body.
struct ChatFlags<'a> {
    /// The client streams and did not ask for the usage chunk: the gateway asks for it (and
    /// strips it before the client sees it).
    wants_usage: bool,
    /// Render for the provider (chat); else serialise as it is (a passed-through protocol).
    render: bool,
    has_stream_options: bool,
    trace: Option<TraceCtx>,
    key: Option<&'a ApiKey>,
    started: Instant,
    protocol: &'static str,
}

pub async fn prepare(
    rt: &Runtime,
    cascade: &CascadeState,
    input: Input,
) -> Result<Prepared, GatewayError> {
    let Input {
        endpoint,
        kind,
        peeked,
        body,
        json,
        elided,
        translation,
        trace,
        key,
        started,
        protocol,
    } = input;
    let target = route(rt, kind, &peeked.model)?;
    let native_images = endpoint == Endpoint::ImagesGenerations
        && target.pool.provider.kind == crate::providers::ProviderKind::HunyuanNative;
    if kind != Kind::Chat && !target.pool.provider.kind.answers_chat() && !native_images {
        // Anthropic's and Gemini's native APIs serve chat only (embeddings, images and audio
        // have other APIs there): say so instead of forwarding to a path they do not have.
        let serves = match target.pool.provider.kind {
            crate::providers::ProviderKind::HunyuanNative => "chat and image generations only",
            _ => "chat only",
        };
        return Err(GatewayError::bad_param(
            format!(
                "The model `{}` is served by a {} pool, which serves {serves}, not {}.",
                peeked.model,
                target.pool.provider.kind.label(),
                endpoint.upstream_suffix().trim_start_matches('/'),
            ),
            "model",
        ));
    }
    if target.refuse_tools && kind == Kind::Chat && offers_tools(json.as_ref()) {
        return Err(GatewayError::bad_param(
            format!(
                "The model `{}` takes no tools; send the request without `tools`, or to a model \
                 that has them.",
                peeked.model
            ),
            "tools",
        ));
    }
    let wants_usage = kind == Kind::Chat && peeked.stream && !peeked.include_usage;
    let mut p = Prepared {
        kind,
        translation,
        cache: None,
        stages: Vec::new(),
        target,
        requested_model: peeked.model,
        body,
        stream: peeked.stream,
        cascade: Report::default(),
        fixed: None,
        strip_usage: false,
        path: None,
        rerender: None,
        native: matches!(
            endpoint,
            Endpoint::Messages | Endpoint::GeminiGenerate | Endpoint::GeminiStream
        ),
    };
    if kind == Kind::Chat && !p.native {
        let flags = ChatFlags {
            // Legacy completions reach here only for a pool that speaks them: no rendering.
            render: endpoint == Endpoint::Chat,
            wants_usage,
            has_stream_options: peeked.stream_options,
            trace,
            key: key.as_deref(),
            started,
            protocol,
        };
        prepare_chat(rt, cascade, &mut p, (json, elided), flags).await?;
    } else if p.target.model != p.requested_model
        && endpoint.body_format() == BodyFormat::Json
        && !endpoint.is_gemini()
    {
        let mut v = parse_object(&p.body)?;
        v["model"] = Value::String(p.target.model.clone());
        p.body = serialise(&v, p.body.len())?;
    }
    Ok(p)
}

/// Runs the cascade within what is left of the route's `timeouts.total_ms` (counted from the
/// client's request): a slow vision call is cut there with the same 504 the hand-off gives,
/// instead of running on to `cascade.timeout_ms`. A cut in-process single flight lets its
/// waiters describe again; a cut Redis lock expires after its TTL.
async fn within_total<T>(
    total: Option<std::time::Duration>,
    started: Instant,
    work: impl std::future::Future<Output = Result<T, GatewayError>>,
) -> Result<T, GatewayError> {
    let Some(total) = total else {
        return work.await;
    };
    let left = total.saturating_sub(started.elapsed());
    tokio::time::timeout(left, work).await.unwrap_or_else(|_| {
        Err(GatewayError::GatewayTimeout {
            message: format!(
                "The request exceeded its total time limit of {} ms while its images were \
                     being described.",
                total.as_millis()
            ),
        })
    })
}

fn route(rt: &Runtime, kind: Kind, model: &str) -> Result<Target, GatewayError> {
    rt.route(kind, model)
        .ok_or_else(|| GatewayError::ModelNotFound {
            model: model.to_string(),
        })
}

/// Chat: describe images, render for the provider, serialise once; a body that needs none of
/// it goes as it came.
async fn prepare_chat(
    rt: &Runtime,
    state: &CascadeState,
    p: &mut Prepared,
    (json, elided): (Option<Value>, Option<Elided>),
    flags: ChatFlags<'_>,
) -> Result<(), GatewayError> {
    let ChatFlags {
        wants_usage,
        render: renders,
        has_stream_options,
        trace,
        key,
        started,
        protocol,
    } = flags;
    let pipeline = p.target.pipeline.clone();
    let maybe_images = !p.target.caps.images
        && match &json {
            Some(v) => cascade::has_images(v),
            // A cheap byte scan keeps image-free requests off the cascade's full walk.
            None => memchr::memmem::find(&p.body, b"image_url").is_some(),
        };
    let pool = p.target.pool.clone();
    // A try on a pool of another provider (a fallback) renders its own body from the chat
    // request: keep it.
    let keep = needs_rerender(&p.target);
    // A translated request exists only as a Value: it is always serialised.
    let raw = p.translation.is_none();
    let rewrites = keep
        || maybe_images
        || pipeline.has_request_stages()
        || (renders && pool.provider.rewrites_chat());
    if raw && !rewrites && p.target.model == p.requested_model {
        if let Some(e) = &elided {
            e.check()?; // forwarded as it came: check what the parse skipped
        }
        let add_usage = wants_usage && pool.request_usage;
        if !add_usage {
            return Ok(());
        }
        // `"stream_options": null` deserialises as absent: look at the bytes before injecting.
        if !has_stream_options && memchr::memmem::find(&p.body, b"\"stream_options\"").is_none() {
            p.body = inject_usage_option(&p.body);
            p.strip_usage = true;
            return Ok(());
        }
    }
    let mut v = match json {
        Some(v) => v,
        None => parse_object(&p.body)?,
    };
    let mut elided = elided;
    let mut hint = p.body.len();
    if pipeline.has_request_stages() {
        if let Some(e) = elided.take() {
            // Stages see the request whole, images included.
            hint = hint - e.cut_len() + e.restore(&mut v)?;
        }
    }
    let cx = crate::stage::decision::Context {
        model: &p.requested_model,
        key_id: key.map(|k| k.id.as_str()),
        protocol,
    };
    run_stages(&pipeline.before_cascade, &mut v, &cx, &mut p.stages).await?;
    if maybe_images && cascade::has_images(&v) {
        let settings = rt.cascade.as_ref().filter(|_| pipeline.cascade);
        let Some(settings) = settings else {
            return Err(GatewayError::bad_param(
                format!(
                    "The model `{}` cannot read images and no image cascade is configured.",
                    p.requested_model
                ),
                "messages",
            ));
        };
        cascade::authorize(key, settings, &p.requested_model)?;
        let run = cascade::run(&mut v, elided.as_ref(), settings, state, trace.as_ref());
        p.cascade = within_total(p.target.pool.timeouts.total, started, run).await?;
        if let Some(text_model) = &settings.text_model {
            p.target = route(rt, Kind::Chat, text_model)?;
        }
    }
    run_stages(&pipeline.after_cascade, &mut v, &cx, &mut p.stages).await?;
    // Images the cascade did not replace go on as the client sent them; the rewritten body
    // is sized without the ones it did.
    if let Some(e) = &elided {
        hint = hint - e.cut_len() + e.restore(&mut v)?;
    }
    v["model"] = Value::String(p.target.model.clone());
    let hint = hint.max(1024);
    let caps = p.target.caps;
    let pool = p.target.pool.clone();
    let keep = needs_rerender(&p.target);
    if !renders {
        if wants_usage && pool.request_usage {
            add_usage_option(&mut v);
            p.strip_usage = true;
        }
        p.body = serialise(&v, hint)?;
        return Ok(());
    }
    if keep {
        p.rerender = Some(Arc::new(ReRender {
            chat: v.clone(),
            wants_usage,
            caps,
            trim: p.target.trim,
            hint,
            translated: p.translation.is_some(),
        }));
    }
    let flags = (wants_usage, p.translation.is_some());
    let (rendered, strip) = render(&pool, (caps, p.target.trim), v, flags, hint)?;
    p.strip_usage = strip;
    p.fixed = rendered.fixed;
    p.body = rendered.body;
    p.path = Some(rendered.path);
    Ok(())
}

/// Runs configured request stages; a route without them pays one check (no future is made).
async fn run_stages(
    stages: &[Arc<crate::stage::Stage>],
    v: &mut Value,
    cx: &crate::stage::decision::Context<'_>,
    changed: &mut Vec<Arc<str>>,
) -> Result<(), GatewayError> {
    if stages.is_empty() {
        return Ok(());
    }
    Box::pin(crate::stage::run::request(stages, v, cx, changed)).await
}

/// Adds `"stream_options":{"include_usage":true}` to a JSON object without re-serialising
/// it (the body is known to be an object without that key).
fn inject_usage_option(body: &Bytes) -> Bytes {
    let Some(open) = body.iter().position(|b| *b == b'{') else {
        return body.clone();
    };
    let rest = &body[open + 1..];
    let empty = rest.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'}');
    let mut out = Vec::with_capacity(body.len() + 48);
    out.extend_from_slice(&body[..=open]);
    out.extend_from_slice(br#""stream_options":{"include_usage":true}"#);
    if !empty {
        out.push(b',');
    }
    out.extend_from_slice(rest);
    Bytes::from(out)
}

/// Parses a body that must be a JSON object (400 otherwise).
pub fn parse_object(body: &[u8]) -> Result<Value, GatewayError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| validate::parse_error(&e))?;
    if v.is_object() {
        Ok(v)
    } else {
        Err(GatewayError::bad_request(
            "The request body must be a JSON object.",
        ))
    }
}

/// `hint`: the size it is expected to have (the client's body): one allocation, no regrowth.
fn serialise(v: &Value, hint: usize) -> Result<Bytes, GatewayError> {
    let mut out = Vec::with_capacity(hint + hint / 8 + 64);
    serde_json::to_writer(&mut out, v)
        .map(|()| Bytes::from(out))
        .map_err(|e| GatewayError::Internal {
            message: format!("re-serialising the request: {e}"),
        })
}
