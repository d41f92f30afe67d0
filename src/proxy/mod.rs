//! The `ProxyHttp` implementation: the Pingora phases, in the order they run, each a few lines
//! that call the stage modules. The phase chart is in the README ("How a request flows").
//!
//! Pingora runs the request phases for the client's request (classify, read the body,
//! translate, prepare, hand off); `request_filter` always answers. The upstream phases
//! (`upstream_peer` to `response_body_filter`: pick the peer, set upstream headers, filter and
//! translate the response) are run by the hand-off (`handoff::pipe`) for each try, on the
//! client's task and session, with a per-try context: `ctx.handoff` is `Some` exactly there.

pub mod client_watch;
pub mod early_answer;
pub mod expect;
pub mod handoff;
pub mod images;
pub mod local;
pub mod record;
pub mod respond;
pub mod retry;
pub mod scan;

use crate::body::read::{self as body, ReadError};
use crate::cascade::CascadeState;
use crate::core::error::GatewayError;
use crate::core::kind::{Endpoint, Kind};
use crate::core::protocol::Protocol;
use crate::observe::metrics::metrics;
use crate::policy::auth::ApiKey;
use crate::policy::cors;
use crate::policy::limit::{Admission, Ask, Limiter};
use crate::policy::quota;
use crate::providers::ProviderKind;
use crate::proxy::record::RequestInfo;
use crate::request::{prepare, translate};
use crate::runtime::{ConfigHandle, Runtime};
use crate::state::response_cache::{self, ResponseCache};
use crate::state::store::ResponseStore;
use crate::upstream::Member;
use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use handoff::{Handoff, PeerFailure};
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorType, Result};
use scan::{is_sse, ResponseScan};
use std::sync::Arc;
use std::time::Instant;

impl Ctx {
    /// A request's context (`None`), or a try's.
    fn new(handoff: Option<Arc<Handoff>>) -> Ctx {
        Ctx {
            start: Instant::now(),
            handoff,
            member: None,
            scan: ResponseScan::Off,
            reply: Reply::AsIs,
            capture: None,
            req: None,
            admission: None,
            finish_map: None,
            check: None,
            decode: None,
            answer: None,
        }
    }
}

impl handoff::TryCtx for Ctx {
    fn for_try(handoff: Arc<Handoff>) -> Ctx {
        Ctx::new(Some(handoff))
    }

    fn member(&self) -> Option<&Arc<Member>> {
        self.member.as_ref()
    }
}

/// The gateway service.
pub struct Gateway {
    pub config: ConfigHandle,
    /// Request, token and concurrency limits: process-wide (or shared through Redis), they
    /// outlive config reloads.
    pub limiter: Arc<Limiter>,
    /// The cascade's cache and client: process-wide, they outlive config reloads.
    pub cascade: Arc<CascadeState>,
    /// Stored Responses (`previous_response_id`, `GET /v1/responses/{id}`).
    pub responses: Arc<dyn ResponseStore>,
    /// The exact response cache, when configured.
    pub response_cache: Option<Arc<ResponseCache>>,
    /// Pingora's connector and upstream connection pool, used by the hand-off.
    pub connector: pingora::connectors::http::Connector,
    /// Pools' concurrency slots shared with other instances (Redis configured).
    pub slots: Option<Arc<dyn crate::upstream::gate::SlotStore>>,
    /// Keys managed at run time (`auth.store`), served from memory.
    pub managed: Option<Arc<crate::policy::managed::ManagedKeys>>,
}

/// How a try turns the upstream's answer into the client's.
#[derive(Debug, Default)]
pub enum Reply {
    /// Chat (or another kind) as the upstream sent it.
    #[default]
    AsIs,
    /// Through the handoff's protocol translator.
    Translate,
    /// An upstream error, collected to be rewritten in the client's protocol at the end.
    TranslateError(BytesMut),
}

/// Per-request state.
pub struct Ctx {
    pub start: Instant,
    /// Try only: what to send upstream, shared with the request.
    pub handoff: Option<Arc<Handoff>>,
    /// Try only: the member `upstream_peer` picked.
    pub member: Option<Arc<Member>>,
    /// Try only: the response scanner (SSE events, usage).
    pub scan: ResponseScan,
    /// Try only: protocol translation of the response.
    pub reply: Reply,
    /// Try only: the answer being kept for the response cache.
    pub capture: Option<response_cache::Capture>,
    /// Request only: who asked for what, for statistics and the access log. Boxed, like
    /// `admission`: a try's context (alive for a whole stream) carries them as `None`, and
    /// inline they were 550 of its 850 bytes.
    pub req: Option<Box<RequestInfo>>,
    /// Request only: the limiter's guards, held until the response has ended.
    pub admission: Option<Box<Admission>>,
    /// Try only (hunyuan profile, chat): `finish_reason: "sensitive"` → `content_filter`.
    pub finish_map: Option<scan::FinishReasonMap>,
    /// Try only: the checked JSON answer (`Handoff::expect`) as it arrives.
    pub check: Option<BytesMut>,
    /// Try only: the provider's answer decoded into chat (a provider that does not answer
    /// chat), before anything else looks at it.
    pub decode: Option<Decode>,
    /// Try only: the route's response stages on the chat answer.
    pub answer: Option<Box<crate::stage::answer::AnswerFilter>>,
}

/// How a try decodes a provider's answer into chat.
pub enum Decode {
    /// A 2xx answer, through the provider's decoder.
    /// (In a mutex only because the context must be `Sync`; only its try touches it.)
    Answer(std::sync::Mutex<Box<dyn crate::core::translate::ResponseTranslator>>),
    /// An error answer, collected and mapped onto OpenAI's error shape at its end.
    Error(u16, BytesMut),
}

#[async_trait]
impl ProxyHttp for Gateway {
    type CTX = Ctx;

    fn new_ctx(&self) -> Ctx {
        Ctx::new(None)
    }

    /// Pingora's default (a disabled compression module) plus CORS, which adds its headers to
    /// every answer the client gets.
    fn init_downstream_modules(&self, modules: &mut pingora::modules::http::HttpModules) {
        modules
            .add_module(pingora::modules::http::compression::ResponseCompressionBuilder::enable(0));
        modules.add_module(Box::new(CorsBuilder {
            config: self.config.clone(),
        }));
    }

    /// Runs first: keep-alive policy, request id, trace.
    async fn early_request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<()> {
        let decided = session.get_keepalive();
        let draining = crate::observe::health::is_draining();
        let configured = self.config.load().keepalive_seconds;
        if let Some(k) = keepalive(decided, draining, configured) {
            session.set_keepalive(k);
        }
        metrics().in_flight.inc();
        let req = session.req_header();
        let trace = crate::observe::trace::TraceCtx::start(header_str(req, "traceparent"));
        // Method and path are copied for the span only: untraced requests pay nothing.
        let (method, path) = match trace {
            Some(_) => (
                req.method.to_string(),
                req.uri.path().chars().take(128).collect(),
            ),
            None => Default::default(),
        };
        ctx.req = Some(Box::new(RequestInfo {
            request_id: request_id(req),
            trace,
            started_wall: Some(std::time::SystemTime::now()),
            method,
            path,
            ..Default::default()
        }));
        Ok(())
    }

    /// Answers locally or prepares and hands off; always `Ok(true)` (the response is written
    /// here, by the hand-off for proxied requests).
    async fn request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        let mut info = ctx.req.take().unwrap_or_default();
        if let Err(e) = self.handle(session, ctx, &mut info).await {
            if let GatewayError::Refused { stage, .. } = &e {
                info.refused_by = Some(stage.clone());
            }
            // The answer is the gateway's own: free the concurrency slots before the client
            // can read it (and send its next request on a new connection).
            if let Some(adm) = ctx.admission.take() {
                adm.settle(info.tokens_used(), info.spend_micros());
            }
            let done = Box::pin(drain_refused(session, &e)).await;
            let id = [("x-request-id", info.request_id.clone())];
            Box::pin(respond::error(session, &e, done, info.protocol, &id)).await;
        }
        ctx.req = Some(info);
        Ok(true)
    }

    /// Try: a healthy member of the routed pool.
    async fn upstream_peer(&self, _session: &mut Session, ctx: &mut Ctx) -> Result<Box<HttpPeer>> {
        let Some(h) = ctx.handoff.as_ref() else {
            return Error::e_explain(ErrorType::InternalError, "upstream_peer outside a try");
        };
        match h.target.pool.select_for(h.affinity) {
            Some((peer, member)) => {
                if h.traceparent.is_some() {
                    let _ = h.member.set(member.authority.clone());
                }
                ctx.member = Some(member);
                Ok(peer)
            }
            None => {
                h.fail(PeerFailure::NoMember);
                Error::e_explain(ErrorType::HTTPStatus(503), "no healthy upstream")
            }
        }
    }

    /// Try: the provider's path, host and credential; of the client's headers only the pool's
    /// allow-list (`pools.<name>.forward_headers`), never its credentials.
    async fn upstream_request_filter(
        &self,
        _session: &mut Session,
        req: &mut RequestHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        let (Some(h), Some(member)) = (ctx.handoff.as_ref(), ctx.member.as_ref()) else {
            return Error::e_explain(ErrorType::InternalError, "upstream phase outside a try");
        };
        let uri = format!("{}{}", member.base_path, h.path_and_query);
        req.set_uri(
            uri.parse()
                .map_err(|e| Error::because(ErrorType::InternalError, "bad upstream uri", e))?,
        );
        // Only the pool's allow-list of client headers goes on (Content-Length describes the
        // body the hand-off sends); the gateway's own are set below.
        let forward = &h.target.pool.forward;
        let dropped: Vec<http::HeaderName> = req
            .headers
            .keys()
            .filter(|n| *n != http::header::CONTENT_LENGTH && !forward.allows(n.as_str()))
            .cloned()
            .collect();
        for name in &dropped {
            req.remove_header(name);
        }
        req.insert_header(http::header::HOST, member.authority.as_str())?;
        for name in CLIENT_CREDENTIALS {
            req.remove_header(name);
        }
        h.target.pool.provider.sign(req)?;
        req.insert_header("x-request-id", h.request_id.as_str())?;
        if let Some(tp) = h.traceparent.as_deref() {
            // The gateway's upstream span is the provider's parent.
            req.insert_header("traceparent", tp)?;
        }
        // Identity encoding keeps SSE scannable and lets the gateway count tokens.
        req.remove_header(&http::header::ACCEPT_ENCODING);
        req.remove_header(&http::header::CONNECTION);
        Ok(())
    }

    /// Try: passive health, streaming headers, the scanner and the protocol translator.
    async fn response_filter(
        &self,
        _session: &mut Session,
        resp: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        let Some(h) = ctx.handoff.clone() else {
            return Ok(());
        };
        ctx.decode = start_decode(&h, resp)?;
        ctx.check = start_check(&h, resp);
        if let Some(member) = ctx.member.as_ref() {
            // Passive health: an upstream that answers 502/503/504 is failing, others work; a
            // checked JSON answer is judged when it is complete.
            match resp.status.as_u16() {
                // A provider's rate limit (Hunyuan's `LimitExceeded`, a 429) counts against
                // the member like a failure: enough in a row trip its breaker.
                429 | 502..=504 => h.target.pool.report_failure(member),
                _ if h.invalid.get().is_some() => h.target.pool.report_failure(member),
                _ if ctx.check.is_some() => {}
                _ => member.health.success(),
            }
        }
        ctx.scan = ResponseScan::for_response(&h, resp);
        if ctx.check.is_some() && matches!(ctx.scan, ResponseScan::Json(_)) {
            // The check collects the same answer and reads its usage in the same parse.
            ctx.scan = ResponseScan::Off;
        }
        if h.target.pool.provider.kind == ProviderKind::Hunyuan
            && h.kind == Kind::Chat
            && !h.native
            && resp.status.is_success()
        {
            ctx.finish_map = Some(scan::FinishReasonMap::default());
            // `content_filter` is longer than `sensitive`.
            resp.remove_header(&http::header::CONTENT_LENGTH);
        }
        if h.kind == Kind::Chat
            && !h.native
            && resp.status.is_success()
            && !h.target.pipeline.response.is_empty()
        {
            ctx.answer =
                crate::stage::answer::AnswerFilter::new(&h.target.pipeline.response, h.stream)
                    .map(Box::new);
            // Redaction changes the answer's length.
            resp.remove_header(&http::header::CONTENT_LENGTH);
        }
        if is_sse(&resp.headers) {
            resp.insert_header("x-accel-buffering", "no")?;
            resp.insert_header(http::header::CACHE_CONTROL, "no-cache")?;
            if h.strip_usage {
                // The body changes length when the usage chunk is removed.
                resp.remove_header(&http::header::CONTENT_LENGTH);
            }
        }
        if resp.status == 429 && !resp.headers.contains_key(http::header::RETRY_AFTER) {
            // The provider said "too many" without saying when: the breaker's cooldown.
            let s = h.target.pool.health.cooldown.as_secs().max(1);
            resp.insert_header(http::header::RETRY_AFTER, s.to_string())?;
        }
        ctx.reply = translate_reply(&h, resp)?;
        if h.cache.is_some() && resp.status == 200 {
            ctx.capture = Some(response_cache::Capture::new(
                is_sse(&resp.headers),
                header_value(resp, http::header::CONTENT_TYPE),
            ));
        }
        for (k, v) in &h.headers {
            resp.insert_header(*k, v.as_str())?;
        }
        resp.insert_header("x-request-id", h.request_id.as_str())?;
        Ok(())
    }

    /// Try: count SSE events, read `usage`, drop the usage chunk the client did not ask
    /// for, and translate into the client's protocol.
    fn response_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        end: bool,
        ctx: &mut Ctx,
    ) -> Result<Option<std::time::Duration>> {
        let Some(h) = ctx.handoff.as_ref() else {
            return Ok(None);
        };
        if let Some(d) = ctx.decode.as_mut() {
            decode_body(h, d, body, end);
        }
        if let Some(buf) = ctx.check.as_mut() {
            check_body(h, ctx.member.as_deref(), buf, body.as_ref(), end);
            if end {
                ctx.check = None;
            }
        }
        if let Some(map) = ctx.finish_map.as_mut() {
            let before = map.rewrites;
            map.on_body(body, end);
            if map.rewrites > before {
                metrics()
                    .finish_reason_rewrites
                    .with_label_values(&["sensitive"])
                    .inc_by(map.rewrites - before);
            }
        }
        if let Some(a) = ctx.answer.as_mut() {
            a.on_body(body, end);
        }
        ctx.scan.on_body(body, end, &h.telemetry);
        keep_for_cache(h, &mut ctx.capture, body, end);
        match &mut ctx.reply {
            Reply::AsIs => {}
            Reply::Translate => translate_body(h, body, end),
            Reply::TranslateError(buf) => {
                if let Some(b) = body.take() {
                    buf.extend_from_slice(&b);
                }
                if end {
                    *body = h.translation.as_ref().and_then(|t| {
                        let status = h
                            .telemetry
                            .status
                            .load(std::sync::atomic::Ordering::Relaxed);
                        t.error_answer(status, buf).map(|(_, b)| Bytes::from(b))
                    });
                }
            }
        }
        Ok(None)
    }

    /// Metrics, statistics and the access log, once per request.
    async fn logging(&self, session: &mut Session, _e: Option<&Error>, ctx: &mut Ctx) {
        metrics().in_flight.dec();
        // The response has ended: settle the token reservation, free the in-flight slots.
        if let Some(adm) = ctx.admission.take() {
            let info = ctx.req.as_deref();
            let spend = info.map_or(0, RequestInfo::spend_micros);
            adm.settle(info.and_then(RequestInfo::tokens_used), spend);
        }
        let Some(info) = ctx.req.as_ref() else {
            return;
        };
        let status = session.response_written().map_or(0, |r| r.status.as_u16());
        let out = session.body_bytes_sent() as u64;
        let rt = self.config.load();
        record::finish(&rt, info, status, out, ctx.start.elapsed());
    }

    /// What Pingora's own error lines show: never the query string (it may carry secrets).
    fn request_summary(&self, session: &Session, _ctx: &Ctx) -> String {
        let h = session.req_header();
        format!("{} {}", h.method, h.uri.path())
    }

    /// Pingora-level failures (e.g. an unreadable header) get a plain error.
    async fn fail_to_proxy(&self, session: &mut Session, e: &Error, ctx: &mut Ctx) -> FailToProxy {
        let code = status_of(e);
        let err = GatewayError::bad_request(format!("Malformed request: {}", e.etype().as_str()));
        if code > 0 && session.response_written().is_none() {
            let protocol = ctx.req.as_ref().map(|i| i.protocol).unwrap_or_default();
            respond::error(session, &err, false, protocol, &[]).await;
        }
        FailToProxy {
            error_code: code,
            can_reuse_downstream: false,
        }
    }
}

/// Builds the CORS module's per-request context from the config of the moment (a reload
/// switches CORS on or off).
struct CorsBuilder {
    config: ConfigHandle,
}

impl pingora::modules::http::HttpModuleBuilder for CorsBuilder {
    fn init(&self) -> pingora::modules::http::Module {
        cors::module(self.config.load().cors.as_ref())
    }
}

/// Names the conversation for member affinity (`pools.<name>.affinity`).
const AFFINITY_HEADER: &str = "x-llm-relay-affinity";

/// Request headers that carry the client's credential to the gateway: never sent upstream.
const CLIENT_CREDENTIALS: [&str; 5] = [
    "authorization",
    "x-api-key",
    "api-key",
    "proxy-authorization",
    "x-goog-api-key",
];

impl Gateway {
    /// The request's work: everything the gateway decides before the upstream is involved.
    async fn handle(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        info: &mut RequestInfo,
    ) -> Result<(), GatewayError> {
        let rt = self.config.load_full();
        let req = session.req_header();
        let (path, query) = split_path(req.uri.path_and_query().map_or("/", |p| p.as_str()));
        let (path, query) = (path.to_string(), query.map(str::to_owned));
        if rt.cors.is_some() && cors::is_preflight(req) {
            // Before authentication: browsers send preflights without credentials.
            return Box::pin(cors::answer_preflight(session))
                .await
                .map_err(|e| GatewayError::Internal {
                    message: format!("writing a preflight answer: {e}"),
                });
        }
        if let Some((status, body)) = local::health(&rt, &path) {
            return Box::pin(local::send_json(session, status, body)).await;
        }
        if Endpoint::is_gemini_path(&path) {
            // Google's error shape from the start: a path or method refused here too.
            info.protocol = Protocol::Gemini;
        }
        let endpoint = Endpoint::classify(req.method.as_str(), &path)?;
        info.protocol = endpoint.protocol();
        if matches!(endpoint, Endpoint::Models | Endpoint::Model)
            && req.headers.contains_key("anthropic-version")
        {
            // The Anthropic SDK lists models on the same path: its shape, its errors.
            info.protocol = Protocol::Messages;
        }
        if endpoint == Endpoint::Root {
            // A probe of the base URL (Claude Code, load balancers) carries no credential.
            return Box::pin(local::send_json(
                session,
                200,
                Bytes::from_static(local::ROOT),
            ))
            .await;
        }
        // The Gemini API also takes the key as `?key=` (never sent upstream: a translated
        // request has no query there, and `key` is a credential parameter anyway).
        let url_key = (info.protocol == Protocol::Gemini)
            .then(|| crate::protocol::gemini::query_param(query.as_deref(), "key"))
            .flatten();
        let key =
            rt.keys
                .authenticate_in(&req.headers, url_key.as_deref(), self.managed.as_deref())?;
        info.key = key.clone();
        // Admission before any work: the request counts and takes its concurrency slots now,
        // so a refused or excess request costs no body read, parse or translation; the
        // body's tokens are reserved once it has been read.
        let ask = Ask {
            key: key.as_deref(),
            global: &rt.global_limits,
            tokens: 0,
        };
        let admission = Box::pin(self.limiter.admit(ask))
            .await
            .inspect_err(|_| info.rate_limited = true)?;
        let admission = ctx.admission.insert(Box::new(admission));
        let Some(kind) = endpoint.kind() else {
            return Box::pin(local::answer(
                session,
                &rt,
                &self.responses,
                (endpoint, info.protocol),
                (&path, query.as_deref()),
                key,
            ))
            .await;
        };
        info.kind = Some(kind);
        let content_type = header_str(session.req_header(), http::header::CONTENT_TYPE);
        let content_type = content_type.map(str::to_owned);
        let Some(body) = Box::pin(read_body(session, &rt, kind, info)).await? else {
            return Ok(()); // the client went away: nobody to answer
        };
        if endpoint == Endpoint::CountTokens {
            return Box::pin(local::count_tokens(session, &rt.body.items, &body)).await;
        }
        if endpoint == Endpoint::GeminiCountTokens {
            let caps = &rt.body.items;
            return Box::pin(local::gemini_count_tokens(session, caps, &path, &body)).await;
        }
        if endpoint == Endpoint::ResponseInputTokens {
            let owner = key.as_deref().map(|k| k.id.as_str());
            let store = (&self.responses, owner);
            return Box::pin(local::input_tokens(session, &rt.body.items, store, &body)).await;
        }
        // Token estimates count what the client sent (a translated body exists only parsed).
        let client_len = body.len();
        let store = (&self.responses, key.as_deref().map(|k| k.id.as_str()));
        let url = (path.as_str(), query.as_deref());
        let mut incoming = Box::pin(translate::incoming(&rt, store, (endpoint, url), body)).await?;
        let mut headers = Vec::new();
        if !incoming.dropped_tools.is_empty() {
            headers.push((
                "x-llm-relay-dropped-tools",
                incoming.dropped_tools.join(","),
            ));
            info.dropped_tools = incoming.dropped_tools.clone();
        }
        let peeked = match incoming.peeked.take() {
            Some(p) => p,
            None => {
                let peek = prepare::peek(
                    incoming.endpoint,
                    content_type.as_deref(),
                    &incoming.body,
                    incoming.json.as_ref(),
                );
                Box::pin(peek).await?
            }
        };
        info.requested_model = Some(peeked.model.clone());
        authorize(key.as_deref(), &peeked.model)?;
        let tokens = quota::reservation(
            client_len,
            peeked.max_tokens,
            rt.global_limits.reserve_output_tokens,
        );
        info.prompt_estimate = (client_len as u64).div_ceil(4);
        Box::pin(admission.reserve(tokens))
            .await
            .inspect_err(|_| info.rate_limited = true)?;
        headers.extend(admission.headers.iter().cloned());
        info.stream = peeked.stream || kind == Kind::Speech;
        let (endpoint, translated) = (incoming.endpoint, incoming.translation.is_some());
        let affinity = header_str(session.req_header(), AFFINITY_HEADER)
            .map(|v| translate::affinity_hash(v.as_bytes()))
            .or(incoming.affinity);
        let input = prepare::Input {
            endpoint,
            kind,
            peeked,
            body: incoming.body,
            json: incoming.json,
            elided: incoming.elided,
            translation: incoming.translation,
            trace: info.trace,
            key: key.clone(),
            started: ctx.start,
            protocol: info.protocol.label(),
        };
        let prepared = Box::pin(prepare::prepare(&rt, &self.cascade, input)).await?;
        if prepared.kind == Kind::Images
            && prepared.target.pool.provider.kind == ProviderKind::HunyuanNative
        {
            // The provider's image API is a job the gateway drives (see `images`).
            let client = &self.cascade.client;
            let job =
                images::generate(session, client, &prepared.target, &prepared.body, ctx.start);
            return match Box::pin(job).await? {
                Some((status, body)) => Box::pin(local::send_json(session, status, body)).await,
                None => {
                    session.set_keepalive(None);
                    info.broken = true;
                    Ok(())
                }
            };
        }
        info.cascade = prepared.cascade.clone();
        info.fixed = prepared.fixed;
        info.stages = prepared.stages.clone();
        // A translated request has no query of its own upstream.
        let mut prepared = prepared;
        let query = query.filter(|_| !translated);
        let path_and_query = match prepared.path.take() {
            Some(p) => upstream_path(&p, query.as_deref()),
            None if prepared.native => {
                let native = native_path(endpoint, &prepared.target.model);
                upstream_path(&native, query.as_deref())
            }
            None => upstream_path(endpoint.upstream_suffix(), query.as_deref()),
        };
        if let Some(cache) = &self.response_cache {
            let opt_in = header_str(session.req_header(), response_cache::HEADER);
            let id = key.as_deref().map(|k| k.id.as_str());
            if let Some(k) = crate::request::cache_key::key(&prepared, &path_and_query, opt_in, id)
            {
                if let Some(hit) = Box::pin(cache.get(&k)).await {
                    info.cache_hit = Some(true);
                    headers.push((response_cache::HEADER, "hit".into()));
                    return Box::pin(local::replay(session, &hit, &headers)).await;
                }
                info.cache_hit = Some(false);
                headers.push((response_cache::HEADER, "miss".into()));
                prepared.cache = Some((cache.clone(), k));
            }
        }
        let traceparent = info.trace.map(|t| {
            let span = crate::observe::trace::new_span_id();
            info.upstream_span = Some((span, Instant::now()));
            t.traceparent(span)
        });
        let send = retry::Send {
            affinity,
            path_and_query,
            headers,
            started: ctx.start,
            traceparent,
            slots: self.slots.clone(),
        };
        let via = handoff::Via {
            proxy: self,
            connector: &self.connector,
        };
        Box::pin(retry::send(&via, session, info, prepared, send)).await
    }
}

/// Reads the whole body within the kind's cap and the read deadline; `None` when the client
/// went away.
async fn read_body(
    session: &mut Session,
    rt: &Runtime,
    kind: Kind,
    info: &mut RequestInfo,
) -> Result<Option<Bytes>, GatewayError> {
    let t0 = Instant::now();
    let body = match body::read_whole(session, rt.body.cap(kind), rt.body.read_timeout).await {
        Ok(b) => b,
        Err(ReadError::ClientGone) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    info.body_time = t0.elapsed();
    info.body_started = Some(t0);
    info.bytes_in = body.len() as u64;
    Ok(Some(body))
}

/// The key may use the model it asked for.
fn authorize(key: Option<&ApiKey>, model: &str) -> Result<(), GatewayError> {
    match key {
        Some(k) if !k.allows(model) => Err(GatewayError::Forbidden {
            message: format!("The API key `{}` may not use the model `{model}`.", k.id),
        }),
        _ => Ok(()),
    }
}

/// The try's response filter decides whether and how the answer is translated; a
/// translated answer gets its own content type and no length (it changes size).
fn translate_reply(h: &Handoff, resp: &mut ResponseHeader) -> Result<Reply> {
    let Some(t) = h.translation.as_ref() else {
        return Ok(Reply::AsIs);
    };
    let status = resp.status.as_u16();
    h.telemetry
        .status
        .store(status, std::sync::atomic::Ordering::Relaxed);
    if resp.status.is_success() {
        let mut slot = h.translator.lock().unwrap_or_else(|p| p.into_inner());
        *slot = Some(t.translator());
        resp.remove_header(&http::header::CONTENT_LENGTH);
        if t.stream() {
            resp.insert_header(http::header::CONTENT_TYPE, t.stream_content_type())?;
            resp.insert_header("x-accel-buffering", "no")?;
            resp.insert_header(http::header::CACHE_CONTROL, "no-cache")?;
        } else {
            resp.insert_header(http::header::CONTENT_TYPE, "application/json")?;
        }
        return Ok(Reply::Translate);
    }
    let Some((status, _)) = t.error_answer(status, b"") else {
        return Ok(Reply::AsIs);
    };
    resp.set_status(status)?;
    resp.remove_header(&http::header::CONTENT_LENGTH);
    resp.insert_header(http::header::CONTENT_TYPE, "application/json")?;
    Ok(Reply::TranslateError(BytesMut::new()))
}

/// Try: whether the provider's answer is decoded into chat first (a provider that does not
/// answer chat, unless the client's protocol passed through to it). The answer changes
/// length and, for an error, its status may change (Anthropic's 529 is a 503).
fn start_decode(h: &Handoff, resp: &mut ResponseHeader) -> Result<Option<Decode>> {
    let provider = &h.target.pool.provider;
    if h.native || h.kind != Kind::Chat || provider.kind.answers_chat() {
        return Ok(None);
    }
    resp.remove_header(&http::header::CONTENT_LENGTH);
    let status = resp.status.as_u16();
    if resp.status.is_success() {
        let Some(d) = provider.decoder(h.stream, &h.target.model) else {
            return Ok(None);
        };
        let ct = if h.stream {
            "text/event-stream"
        } else {
            "application/json"
        };
        resp.insert_header(http::header::CONTENT_TYPE, ct)?;
        return Ok(Some(Decode::Answer(std::sync::Mutex::new(d))));
    }
    if let Some((mapped, _)) = provider.error_to_chat(status, b"") {
        resp.set_status(mapped)?;
    }
    resp.insert_header(http::header::CONTENT_TYPE, "application/json")?;
    Ok(Some(Decode::Error(status, BytesMut::new())))
}

/// Try: one piece of the provider's answer, decoded into chat (an error at its end).
fn decode_body(h: &Handoff, d: &mut Decode, body: &mut Option<Bytes>, end: bool) {
    let out = match d {
        Decode::Answer(t) => {
            let t = t.get_mut().unwrap_or_else(|p| p.into_inner());
            let mut out = body.take().map(|b| t.feed(&b)).unwrap_or_default();
            if end {
                out.extend(t.finish());
            }
            out
        }
        Decode::Error(status, buf) => {
            if let Some(b) = body.take() {
                if buf.len() + b.len() <= 1 << 20 {
                    buf.extend_from_slice(&b);
                }
            }
            if !end {
                return;
            }
            let provider = &h.target.pool.provider;
            provider
                .error_to_chat(*status, buf)
                .map(|(_, b)| b)
                .unwrap_or_default()
        }
    };
    // An empty chunk would read as the end of a chunked body: send nothing instead.
    *body = (!out.is_empty()).then(|| Bytes::from(out));
}

/// Try: whether and how the upstream's answer is checked before the client sees it (see
/// `Handoff::expect`). A wrong content type fails the try at once; a declared length over the
/// cap passes unchecked; otherwise the body is collected (`Some`) and judged at its end.
fn start_check(h: &Handoff, resp: &ResponseHeader) -> Option<BytesMut> {
    let e = h.expect.as_ref().filter(|_| resp.status.is_success())?;
    let declared = resp
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > e.cap) {
        h.unchecked
            .store(true, std::sync::atomic::Ordering::Relaxed);
        return None;
    }
    if let Err(why) = e.check_header(resp) {
        h.invalid(why);
        return None;
    }
    Some(BytesMut::new())
}

/// Try: collects the checked answer; at its end, judges it (passive health included).
fn check_body(
    h: &Handoff,
    member: Option<&Member>,
    buf: &mut BytesMut,
    chunk: Option<&Bytes>,
    end: bool,
) {
    let Some(e) = h.expect.as_ref() else {
        return;
    };
    if let Some(c) = chunk {
        if buf.len() + c.len() <= e.cap {
            buf.extend_from_slice(c);
        }
    }
    if !end {
        return;
    }
    let (judged, usage) = e.judge(buf);
    if let Some(u) = usage {
        h.telemetry.record_usage(&u);
    }
    match judged {
        Ok(()) => {
            if let Some(m) = member {
                m.health.success();
            }
        }
        Err(why) => {
            if let Some(m) = member {
                h.target.pool.report_failure(m);
            }
            h.invalid(why);
        }
    }
}

/// Feeds one piece of the upstream's chat answer to the translator; at the end, the final
/// answer is stored when the client asked for it (`store` on the Responses API).
fn translate_body(h: &Handoff, body: &mut Option<Bytes>, end: bool) {
    let mut slot = h.translator.lock().unwrap_or_else(|p| p.into_inner());
    let Some(t) = slot.as_mut() else {
        return;
    };
    let mut out = body.take().map(|b| t.feed(&b)).unwrap_or_default();
    if end {
        out.extend(t.finish());
        if let Some(tr) = h.translation.as_ref() {
            tr.remember(t.final_response());
        }
    }
    // An empty chunk would read as the end of a chunked body: send nothing instead.
    *body = (!out.is_empty()).then(|| Bytes::from(out));
}

/// Appends what goes to the client to the answer being kept; keeps it at the end of a
/// complete answer (a broken one never reaches `end`), drops it when it grows too large.
fn keep_for_cache(
    h: &Handoff,
    capture: &mut Option<response_cache::Capture>,
    body: &Option<Bytes>,
    end: bool,
) {
    let (Some(c), Some((cache, key))) = (capture.as_mut(), h.cache.as_ref()) else {
        return;
    };
    if let Some(b) = body {
        if !c.push(b.clone(), cache.max_entry_bytes) {
            *capture = None;
            return;
        }
    }
    if end {
        if let Some(c) = capture.take() {
            cache.put(*key, c.finish());
        }
    }
}

fn header_value(resp: &ResponseHeader, name: http::header::HeaderName) -> String {
    resp.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_string()
}

/// The keep-alive to set given what Pingora decided (`decided`: `None` = off, `Some(0)` =
/// no timeout), or `None` to leave it. It only ever lowers: when Pingora turned keep-alive
/// off (the client said `Connection: close`, HTTP/1.0 without keep-alive, or a request whose
/// framing is suspect such as `Content-Length` with `Transfer-Encoding`, RFC 9112 6.1), the
/// connection must end after this answer, or bytes the gateway never read as part of this
/// request would be taken for the next one (request smuggling).
fn keepalive(decided: Option<u64>, draining: bool, configured: u64) -> Option<Option<u64>> {
    match decided {
        None => None,
        // Move clients to the new process: this connection ends after this answer.
        Some(_) if draining => Some(None),
        Some(0) => Some(Some(configured)),
        Some(t) => Some(Some(if configured == 0 {
            t
        } else {
            t.min(configured)
        })),
    }
}

/// Before answering a refusal, read away a small unread body so the client's keep-alive
/// connection survives (an SDK retrying after a 429 reuses it). Large or slow bodies: close.
async fn drain_refused(session: &mut Session, e: &GatewayError) -> bool {
    const DRAIN_CAP: usize = 1 << 20;
    if !e.allows_keepalive() {
        return session.is_body_done();
    }
    body::drain(session, DRAIN_CAP, std::time::Duration::from_secs(2)).await
}

/// The client's `x-request-id` (if sane), else a new random one.
fn request_id(req: &RequestHeader) -> String {
    let given = req
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()));
    match given {
        Some(v) => v.to_string(),
        None => hex::encode(rand::random::<[u8; 12]>()),
    }
}

fn split_path(pq: &str) -> (&str, Option<&str>) {
    match pq.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (pq, None),
    }
}

/// Query parameters that carry credentials (`?api_key=…`, `?key=…`): dropped, so a key a
/// client put in the URL never reaches the provider.
const CREDENTIAL_PARAMS: [&str; 12] = [
    "api_key",
    "api-key",
    "apikey",
    "key",
    "access_token",
    "token",
    "auth",
    "authorization",
    "x-api-key",
    "password",
    "secret",
    "client_secret",
];

/// The provider's path for a request passed through in its own protocol: Messages, or the
/// Gemini method on the routed model (an alias renames the model in the path).
fn native_path(endpoint: Endpoint, model: &str) -> String {
    match endpoint {
        Endpoint::GeminiGenerate => crate::providers::gemini::method_path(model, "generateContent"),
        Endpoint::GeminiStream => {
            crate::providers::gemini::method_path(model, "streamGenerateContent")
        }
        _ => "/messages".to_string(),
    }
}

/// The upstream path with the client's query, minus credential-like parameters.
fn upstream_path(suffix: &str, query: Option<&str>) -> String {
    let kept: Vec<&str> = query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .filter(|p| {
            let name = p.split('=').next().unwrap_or_default();
            !CREDENTIAL_PARAMS
                .iter()
                .any(|c| name.eq_ignore_ascii_case(c))
        })
        .collect();
    let sep = if suffix.contains('?') { '&' } else { '?' };
    if kept.is_empty() {
        suffix.to_string()
    } else {
        format!("{suffix}{sep}{}", kept.join("&"))
    }
}

fn header_str(req: &RequestHeader, name: impl http::header::AsHeaderName) -> Option<&str> {
    req.headers.get(name).and_then(|v| v.to_str().ok())
}

/// The status a Pingora error maps to: timeouts are 504, other upstream failures 502.
fn status_of(e: &Error) -> u16 {
    use pingora::ErrorSource;
    match e.etype() {
        ErrorType::HTTPStatus(c) => *c,
        ErrorType::ConnectTimedout | ErrorType::ReadTimedout | ErrorType::WriteTimedout => {
            if *e.esource() == ErrorSource::Downstream {
                408
            } else {
                504
            }
        }
        _ => match e.esource() {
            ErrorSource::Upstream => 502,
            ErrorSource::Downstream => 0,
            _ => 500,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keepalive_is_only_ever_lowered() {
        assert_eq!(keepalive(None, false, 60), None, "off stays off");
        assert_eq!(keepalive(None, true, 60), None);
        assert_eq!(keepalive(Some(0), false, 60), Some(Some(60)));
        assert_eq!(keepalive(Some(5), false, 60), Some(Some(5)));
        assert_eq!(keepalive(Some(90), false, 60), Some(Some(60)));
        assert_eq!(keepalive(Some(0), true, 60), Some(None), "draining ends it");
    }

    #[test]
    fn credential_query_parameters_stay_here() {
        assert_eq!(
            upstream_path(
                "/chat/completions",
                Some("api_key=sk-1&api-version=2024&KEY=x&token")
            ),
            "/chat/completions?api-version=2024"
        );
        assert_eq!(upstream_path("/embeddings", Some("key=sk")), "/embeddings");
        assert_eq!(
            upstream_path("/chat/completions", None),
            "/chat/completions"
        );
    }
}
