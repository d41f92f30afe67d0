//! Handing a prepared request to the upstream: one try sends the (rewritten) body through
//! Pingora's connector and connection pool and streams the response to the client, on the
//! client's own task and session.
//!
//! Why not Pingora's own proxy loop: once `request_filter` has consumed the body (to validate,
//! fix and translate it), Pingora never sends one; and its retry buffer only holds 64 KiB.
//! Why not a subrequest (what this module did before): a second session, a task and two
//! channels per request, with a cross-thread wake-up for every piece of the response, cost
//! about a third of the gateway's CPU per request. Here the gateway's own upstream phases
//! (`upstream_peer`, `upstream_request_filter`, `response_filter`, `response_body_filter`)
//! run in order on a per-try context, so they stay the table of contents of the proxy.

use super::client_watch::ClientWatch;
use super::early_answer;
use super::expect::Expect;
use crate::core::error::GatewayError;
use crate::core::kind::Kind;
use crate::core::translate::ResponseTranslator;
use crate::core::usage::Usage;
use crate::protocol::Translation;
use crate::upstream::route::Target;
use crate::upstream::Member;
use bytes::{Bytes, BytesMut};
use pingora::connectors::http::Connector;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::protocols::http::client::HttpSession as ClientSession;
use pingora::proxy::{ProxyHttp, Session};
use pingora::upstreams::peer::HttpPeer;
use pingora::ErrorType;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// What the try saw of the upstream, for metrics and the access log.
#[derive(Debug, Default)]
pub struct Telemetry {
    /// Request sent to response header, µs (0: no header).
    pub ttfb_us: AtomicU64,
    /// The whole upstream exchange, µs.
    pub upstream_us: AtomicU64,
    /// Every input token (cache reads and writes included), from the answer's `usage`.
    pub prompt_tokens: AtomicU64,
    pub completion_tokens: AtomicU64,
    /// Input tokens read from the provider's prompt cache (part of `prompt_tokens`).
    pub cached_tokens: AtomicU64,
    /// Input tokens written to the provider's prompt cache (part of `prompt_tokens`).
    pub cache_write_tokens: AtomicU64,
    /// SSE events forwarded.
    pub events: AtomicU64,
    /// The upstream's response status (0: none yet).
    pub status: AtomicU16,
    /// The provider's own id of the request, when its answer names one (Tencent Cloud's
    /// `RequestId`): the access log keeps it, so an operator can quote it to the provider.
    pub upstream_request_id: std::sync::OnceLock<String>,
}

impl Telemetry {
    /// Keeps the counts of the answer's `usage` (the last one read wins).
    pub fn record_usage(&self, u: &Usage) {
        self.prompt_tokens.store(u.prompt, Ordering::Relaxed);
        self.completion_tokens
            .store(u.completion, Ordering::Relaxed);
        self.cached_tokens.store(u.cached, Ordering::Relaxed);
        self.cache_write_tokens
            .store(u.cache_write, Ordering::Relaxed);
    }

    /// The counts recorded so far (zeros when no usage was read).
    pub fn usage(&self) -> Usage {
        Usage {
            prompt: self.prompt_tokens.load(Ordering::Relaxed),
            completion: self.completion_tokens.load(Ordering::Relaxed),
            cached: self.cached_tokens.load(Ordering::Relaxed),
            cache_write: self.cache_write_tokens.load(Ordering::Relaxed),
            reasoning: 0,
        }
    }
}

/// Why `upstream_peer` could not give a try a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerFailure {
    /// No member address is known (nothing resolved).
    NoMember,
}

/// What a try needs from the request, and what it reports back.
pub struct Handoff {
    pub kind: Kind,
    pub request_id: String,
    /// Remove the usage-only SSE chunk (the gateway asked for it, the client did not).
    pub strip_usage: bool,
    pub telemetry: Telemetry,
    pub target: Target,
    /// Path and query to request upstream, below the member's base path.
    pub path_and_query: String,
    pub body_len: usize,
    pub stream: bool,
    /// Headers added to the response (rate-limit state).
    pub headers: Vec<(&'static str, String)>,
    /// Why the try got no peer (first one wins).
    pub failure: OnceLock<PeerFailure>,
    /// Upstream statuses to hold back from the client because another try follows.
    pub retry_on: Vec<u16>,
    /// The client-side protocol translation of the response (none: chat as is).
    pub translation: Option<Translation>,
    /// The `traceparent` sent upstream (the gateway's span as the parent), tracing on.
    pub traceparent: Option<String>,
    /// The member tried (for the trace), tracing on.
    pub member: OnceLock<String>,
    /// Where to keep a complete answer (the exact response cache).
    pub cache: Option<(
        Arc<crate::state::response_cache::ResponseCache>,
        crate::state::response_cache::CacheKey,
    )>,
    /// The translator of the response under way: the try feeds it; the retry loop ends it
    /// with the protocol's error event when the upstream breaks mid-response.
    pub translator: Mutex<Option<Box<dyn ResponseTranslator>>>,
    /// A JSON answer checked before the client sees it (chat without stream, embeddings,
    /// images); none: the answer passes as it arrives.
    pub expect: Option<Expect>,
    /// Set by the try: why the upstream's 2xx answer is not the expected JSON.
    pub invalid: OnceLock<String>,
    /// Set by the try: the answer declares a length over `expect.cap`; it passes unchecked.
    pub unchecked: AtomicBool,
    /// The client's protocol passed through to a provider that speaks it: its answer is
    /// neither decoded nor translated.
    pub native: bool,
    /// The conversation's hash: the member is chosen by it when the pool keeps affinity.
    pub affinity: Option<u64>,
}

impl std::fmt::Debug for Handoff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handoff")
            .field("kind", &self.kind)
            .field("request_id", &self.request_id)
            .field("pool", &self.target.pool.name)
            .field("translation", &self.translation)
            .finish_non_exhaustive()
    }
}

impl Handoff {
    /// The client protocol's terminal error event for a response that broke mid-way (None
    /// when the response is not translated).
    pub fn fail_translated(&self, message: &str) -> Option<Vec<u8>> {
        let mut t = self.translator.lock().unwrap_or_else(|p| p.into_inner());
        t.as_mut().map(|t| t.fail(message))
    }

    /// The try found the answer invalid (the first reason wins).
    pub fn invalid(&self, why: String) {
        let _ = self.invalid.set(why);
    }

    /// Records why the try got no peer (the first report wins).
    pub fn fail(&self, f: PeerFailure) {
        let _ = self.failure.set(f);
    }
}

/// Why a try did not deliver a whole response. [`UpstreamError::is_retryable`] drives the
/// retry loop; `From<UpstreamError> for GatewayError` is what the client sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    #[error("connection to the upstream of pool `{pool}` failed")]
    Connect { pool: String },
    #[error("no upstream member of pool `{pool}` is known")]
    NoMember { pool: String },
    #[error("pool `{pool}` answered {status}")]
    HeldStatus { pool: String, status: u16 },
    #[error("pool `{pool}` did not answer within {ms} ms")]
    FirstByte { pool: String, ms: u128 },
    #[error("pool `{pool}` timed out")]
    Timeout { pool: String },
    #[error("pool `{pool}` could not be reached: {detail}")]
    Unreachable { pool: String, detail: String },
    #[error("the request exceeded its total time limit of {ms} ms")]
    Total { ms: u128, started: bool },
    #[error("the upstream sent nothing for {ms} ms")]
    Idle { ms: u128 },
    #[error("the upstream failed mid-response: {detail}")]
    Broken { detail: String },
    #[error("the client went away; upstream request cancelled")]
    ClientGone,
    #[error("pool `{pool}` sent an invalid answer: {detail}")]
    Invalid { pool: String, detail: String },
    #[error("every slot of pool `{pool}` (max_concurrency {limit}) is busy")]
    Saturated {
        pool: String,
        limit: u32,
        retry_after_s: u64,
    },
}

impl UpstreamError {
    /// Nothing reached the client and another try may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            UpstreamError::Connect { .. }
                | UpstreamError::NoMember { .. }
                | UpstreamError::HeldStatus { .. }
                | UpstreamError::Invalid { .. }
                | UpstreamError::Saturated { .. }
        )
    }

    /// A response had started: it cannot become an error status any more, only end visibly.
    pub fn response_started(&self) -> bool {
        matches!(
            self,
            UpstreamError::Idle { .. }
                | UpstreamError::Broken { .. }
                | UpstreamError::Total { started: true, .. }
        )
    }
}

impl From<UpstreamError> for GatewayError {
    /// Client-safe messages: pool names, never addresses or the upstream's own error text.
    fn from(e: UpstreamError) -> GatewayError {
        let message = match &e {
            UpstreamError::Broken { .. } => {
                "The upstream failed before finishing this response; it is incomplete.".into()
            }
            UpstreamError::Idle { .. } | UpstreamError::Total { started: true, .. } => {
                format!("{}; the response is incomplete.", capitalised(&e))
            }
            UpstreamError::Unreachable { pool, .. } => {
                format!("The upstream pool `{pool}` could not be reached.")
            }
            UpstreamError::Invalid { pool, .. } => {
                format!("The upstream pool `{pool}` sent an answer that is not the expected JSON.")
            }
            _ => format!("{}.", capitalised(&e)),
        };
        match e {
            UpstreamError::Saturated { retry_after_s, .. } => GatewayError::RateLimited {
                message: format!("{message} Retry after {retry_after_s} s."),
                headers: vec![("retry-after", retry_after_s.to_string())],
            },
            UpstreamError::NoMember { .. } => GatewayError::Unavailable { message },
            UpstreamError::FirstByte { .. }
            | UpstreamError::Timeout { .. }
            | UpstreamError::Total { .. }
            | UpstreamError::Idle { .. } => GatewayError::GatewayTimeout { message },
            _ => GatewayError::BadGateway { message },
        }
    }
}

fn capitalised(e: &UpstreamError) -> String {
    let s = e.to_string();
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => s,
    }
}

/// The limits the hand-off enforces on one try.
#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    pub first_byte: Duration,
    pub idle: Duration,
    /// `timeouts.total_ms` and when it runs out: counted from the client's request, so the
    /// body read and the cascade count too.
    pub total: Option<(Duration, Instant)>,
}

/// The gateway's upstream phases, as a try runs them: the `ProxyHttp` implementation whose
/// context can be made for one try. (A trait, so this module does not depend on its parent.)
pub trait TryCtx: Send + Sync {
    /// A fresh context for one try of `handoff`.
    fn for_try(handoff: Arc<Handoff>) -> Self;
    /// The member `upstream_peer` picked.
    fn member(&self) -> Option<&Arc<Member>>;
}

/// What a try runs on: the gateway's phases and Pingora's connector (with its connection pool).
pub struct Via<'a, P> {
    pub proxy: &'a P,
    pub connector: &'a Connector,
}

/// A connection that came from the pool may have been closed by the upstream meanwhile. When
/// writing the request to it fails, the upstream cannot have processed it: it is sent again on
/// another connection, at most this many times. A pooled connection that fails after the whole
/// request was written is not retried (the request may have been processed; POST is not
/// idempotent, which is also Pingora's rule): that is a 502 like any broken exchange.
const STALE_REUSE_TRIES: usize = 4;

/// Sends the request of one try upstream and its response to the client, on the client's own
/// task: the upstream phases of the gateway (`upstream_peer`, `upstream_request_filter`,
/// `response_filter`, `response_body_filter`) run in order on a fresh per-try context. The
/// first-byte, idle and total limits are enforced here; a client that goes away cancels the
/// try at once (dropping it closes the upstream connection, so nothing keeps generating).
pub async fn pipe<P>(
    via: &Via<'_, P>,
    session: &mut Session,
    handoff: Arc<Handoff>,
    body: &mut Option<Bytes>,
    deadlines: Deadlines,
) -> Result<(), UpstreamError>
where
    P: ProxyHttp + Sync,
    P::CTX: TryCtx,
{
    let client = ClientWatch::new(session);
    let mut clock = Clock::new(handoff.target.pool.name.clone(), deadlines);
    let result = {
        let run = Box::pin(run(via, session, &handoff, body, &mut clock));
        tokio::select! {
            r = run => r,
            _ = client.gone() => Err(UpstreamError::ClientGone),
        }
    };
    record_timing(&handoff.telemetry, &clock);
    result
}

/// One try, from picking the member to the end of the response.
async fn run<P>(
    via: &Via<'_, P>,
    session: &mut Session,
    h: &Arc<Handoff>,
    body: &mut Option<Bytes>,
    clock: &mut Clock,
) -> Result<(), UpstreamError>
where
    P: ProxyHttp + Sync,
    P::CTX: TryCtx,
{
    let pool = || h.target.pool.name.clone();
    let mut ctx = P::CTX::for_try(h.clone());
    let peer = match via.proxy.upstream_peer(session, &mut ctx).await {
        Ok(peer) => peer,
        Err(e) => return Err(try_failure(h, Some(&e))),
    };
    let Some(payload) = body.as_ref() else {
        return Err(try_failure(h, None));
    };
    let mut req = upstream_header(session.req_header(), payload.len())?;
    via.proxy
        .upstream_request_filter(session, &mut req, &mut ctx)
        .await
        .map_err(|e| phase_failed(h, &e))?;
    let member = ctx.member().cloned();
    if let Some(m) = member.as_ref() {
        // A signature over the body and host (TC3) is made once both are final.
        h.target
            .pool
            .provider
            .sign_payload(&mut req, &m.authority, payload)
            .map_err(|e| phase_failed(h, &e))?;
    }
    let report = |failed: bool| {
        if let (true, Some(m)) = (failed, member.as_ref()) {
            h.target.pool.report_failure(m);
        }
    };
    let (mut up, sent) =
        match Box::pin(send_request(via.connector, &peer, req, payload, clock)).await {
            Ok(r) => r,
            Err(e) => {
                report(e.counts_against_member());
                return Err(e.into_upstream(h));
            }
        };
    let Some(header) = up.response_header() else {
        return Err(try_failure(h, None));
    };
    let mut resp = Box::new(header.clone());
    let ahead = read_ahead(h, &mut up, &mut resp, clock).await?;
    let mut up = Upstream { up, ahead };
    // Held back or not by the upstream's own status: the filter may rewrite it (a 503 is an
    // Anthropic client's 529).
    let status = resp.status.as_u16();
    clock.header();
    via.proxy
        .response_filter(session, &mut resp, &mut ctx)
        .await
        .map_err(|e| phase_failed(h, &e))?;
    if h.retry_on.contains(&status) {
        // Held back: the client sees the next try's answer. The connection is dropped.
        return Err(UpstreamError::HeldStatus {
            pool: pool(),
            status,
        });
    }
    let checked = h.expect.as_ref().filter(|_| {
        resp.status.is_success() && !h.unchecked.load(std::sync::atomic::Ordering::Relaxed)
    });
    let done = match checked {
        Some(e) => {
            let held = hold(via.proxy, session, &mut ctx, &mut up, resp, e.cap, clock);
            let answer = Box::pin(held).await?;
            report(answer.broke);
            Box::pin(deliver(session, h, answer, clock)).await?;
            true
        }
        None => {
            // Whatever happens from here, no other try follows (the answer starts reaching
            // the client, or the client is gone): a long stream does not keep the request.
            *body = None;
            let streamed = stream(via.proxy, session, &mut ctx, &mut up, resp, clock).await;
            // An upstream that breaks off mid-response is failing (passive health).
            report(matches!(streamed, Err(UpstreamError::Broken { .. })));
            streamed?
        }
    };
    if done && sent {
        let idle = peer.options.idle_timeout;
        Box::pin(via.connector.release_http_session(up.up, &*peer, idle)).await;
    }
    Ok(())
}

/// The request header sent upstream: the client's, as HTTP/1.1 without hop-by-hop headers,
/// describing the (rewritten) body. `upstream_request_filter` sets path, host and credential.
fn upstream_header(client: &RequestHeader, len: usize) -> Result<RequestHeader, UpstreamError> {
    let mut req = client.clone();
    req.set_version(http::Version::HTTP_11);
    // Headers the client's `Connection` names are about its connection too.
    let named: Vec<String> = client
        .headers
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty() && t != "host")
        .collect();
    for name in named.iter().map(String::as_str).chain(HOP_BY_HOP) {
        req.remove_header(name);
    }
    req.insert_header(http::header::CONTENT_LENGTH, len.to_string())
        .map_err(|e| UpstreamError::Unreachable {
            pool: String::new(),
            detail: e.to_string(),
        })?;
    Ok(req)
}

/// Request headers that describe the client's connection, not the request.
const HOP_BY_HOP: [&str; 11] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "http2-settings",
    "expect",
    "content-length",
];

/// How sending the request or waiting for the response header failed.
enum SendError {
    /// No connection could be made.
    Connect(Box<pingora::Error>),
    /// The limit on the first byte (or the total) passed.
    Deadline(UpstreamError),
    /// The connection failed after it was made.
    Io(Box<pingora::Error>),
}

impl SendError {
    /// Whether this says something about the member's health (passive health).
    fn counts_against_member(&self) -> bool {
        // A limit of ours passing says nothing about the member (the subrequest never did).
        !matches!(self, SendError::Deadline(_))
    }

    fn into_upstream(self, h: &Handoff) -> UpstreamError {
        let pool = h.target.pool.name.clone();
        match self {
            SendError::Connect(e) => match e.etype() {
                ErrorType::ConnectTimedout
                | ErrorType::ConnectRefused
                | ErrorType::ConnectNoRoute
                | ErrorType::ConnectError
                | ErrorType::BindError
                | ErrorType::SocketError
                | ErrorType::TLSHandshakeFailure
                | ErrorType::TLSHandshakeTimedout => UpstreamError::Connect { pool },
                _ => try_failure(h, Some(&e)),
            },
            SendError::Deadline(e) => e,
            SendError::Io(e) => match e.etype() {
                ErrorType::ReadTimedout | ErrorType::WriteTimedout => {
                    UpstreamError::Timeout { pool }
                }
                _ => try_failure(h, Some(&e)),
            },
        }
    }
}

/// Connects (or reuses a pooled connection), sends the request and reads the response header
/// (skipping informational ones) within the first-byte limit. The flag: the whole request was
/// sent (otherwise the connection must not go back to the pool: the upstream would read the
/// rest of this body as the next request).
async fn send_request(
    connector: &Connector,
    peer: &HttpPeer,
    req: RequestHeader,
    body: &Bytes,
    clock: &Clock,
) -> Result<(ClientSession, bool), SendError> {
    let mut tries = 0;
    loop {
        tries += 1;
        let deadline = clock.deadline();
        let connect = connector.get_http_session(peer);
        let (mut up, reused) = match before(deadline, connect).await {
            None => return Err(SendError::Deadline(clock.expired(false))),
            Some(Err(e)) => return Err(SendError::Connect(e)),
            Some(Ok(s)) => s,
        };
        // Pingora's own per-read and per-write limits stay as the backstop under ours.
        let exchange = async {
            let fd = early_answer::upstream_fd(&up, peer.is_tls());
            let write_failed = {
                let written = async {
                    up.write_request_header(Box::new(req.clone())).await?;
                    up.write_request_body(body.clone(), true).await?;
                    up.finish_request_body().await
                };
                // An upstream may answer (413, 401, 429) before it has read the whole body,
                // and then close or stop reading: its answer counts, not the write.
                tokio::select! {
                    biased;
                    r = written => r.err(),
                    () = early_answer::answered(fd) => Some(pingora::Error::explain(
                        ErrorType::WriteError,
                        "the upstream answered before it read the whole request body",
                    )),
                }
            };
            loop {
                if let Err(e) = up.read_response_header().await {
                    return Err(match write_failed {
                        Some(w) => (false, w),
                        None => (true, e),
                    });
                }
                match up.response_header().map(|r| r.status.as_u16()) {
                    Some(101) => {
                        let e = pingora::Error::explain(
                            ErrorType::InvalidHTTPHeader,
                            "the upstream switched protocols (101) for a request without an upgrade",
                        );
                        return Err((true, e));
                    }
                    Some(100..=199) => continue,
                    _ => return Ok::<bool, (bool, Box<pingora::Error>)>(write_failed.is_none()),
                }
            }
        };
        match before(deadline, exchange).await {
            None => return Err(SendError::Deadline(clock.expired(false))),
            Some(Ok(sent)) => return Ok((up, sent)),
            // The upstream had closed a pooled connection: the request never reached it.
            Some(Err((false, _))) if reused && tries < STALE_REUSE_TRIES => continue,
            Some(Err((_, e))) => return Err(SendError::Io(e)),
        }
    }
}

/// `f`'s output if it completes before `deadline`; `None` when the deadline passes first, or
/// has already passed (then `f` is never polled).
///
/// Not `tokio::time::timeout_at` alone: it polls the inner future before it looks at its
/// timer, so work that can progress at once runs even when the deadline is long gone. A try
/// that started after `timeouts.total_ms` ran out (the cascade took the time) still connected,
/// sent the whole request and, under load, often read the fast upstream's answer too: the
/// request reached the provider and the client got a 200 or a 504 at random.
async fn before<F: std::future::Future>(deadline: Instant, f: F) -> Option<F::Output> {
    if Instant::now() >= deadline {
        return None;
    }
    tokio::time::timeout_at(deadline.into(), f).await.ok()
}

/// Reads the next piece of the response body within the idle and total limits.
async fn next_chunk(
    up: &mut ClientSession,
    clock: &mut Clock,
    holding: bool,
) -> Result<Result<Option<Bytes>, Box<pingora::Error>>, UpstreamError> {
    let deadline = clock.deadline();
    match before(deadline, up.read_response_body()).await {
        None => Err(clock.expired(holding)),
        Some(r) => {
            clock.activity();
            Ok(r)
        }
    }
}

/// Streams the response to the client as it arrives, through `response_body_filter`. Returns
/// whether the upstream connection ended cleanly (and may go back to the pool).
async fn stream<P>(
    proxy: &P,
    session: &mut Session,
    ctx: &mut P::CTX,
    up: &mut Upstream,
    mut resp: Box<ResponseHeader>,
    clock: &mut Clock,
) -> Result<bool, UpstreamError>
where
    P: ProxyHttp + Sync,
    P::CTX: TryCtx,
{
    let no_body = matches!(resp.status.as_u16(), 204 | 304);
    frame(session, &mut resp, no_body);
    let written = clock
        .within(session.write_response_header(resp, no_body))
        .await?;
    written.map_err(|_| UpstreamError::ClientGone)?;
    let mut ended = no_body;
    while !ended {
        // An empty upstream body still passes the filters once, with its end: a translated
        // error answer, for one, is written there.
        let next = match up.done() {
            true => Ok(None),
            false => up.next(clock, false).await?,
        };
        let (mut data, end) = match next {
            Ok(Some(b)) => (Some(b), up.done()),
            Ok(None) => (None, true),
            Err(e) => {
                return Err(UpstreamError::Broken {
                    detail: e.to_string(),
                })
            }
        };
        ended = end;
        // The gateway's filter never delays (it returns `Ok(None)`).
        let _ = proxy.response_body_filter(session, &mut data, end, ctx);
        if data.is_none() && !end {
            continue;
        }
        let written = clock.within(session.write_response_body(data, end)).await?;
        written.map_err(|_| UpstreamError::ClientGone)?;
    }
    Ok(true)
}

/// Collects a checked JSON answer whole (through `response_body_filter`, which judges it at
/// its end); nothing reaches the client until it is known to be valid.
async fn hold<P>(
    proxy: &P,
    session: &mut Session,
    ctx: &mut P::CTX,
    up: &mut Upstream,
    header: Box<ResponseHeader>,
    cap: usize,
    clock: &mut Clock,
) -> Result<HeldAnswer, UpstreamError>
where
    P: ProxyHttp + Sync,
    P::CTX: TryCtx,
{
    let mut answer = HeldAnswer {
        header,
        body: BytesMut::new(),
        failed: None,
        broke: false,
    };
    let mut ended = up.done();
    if ended {
        let _ = proxy.response_body_filter(session, &mut None, true, ctx);
    }
    while !ended {
        let (mut data, end) = match up.next(clock, true).await? {
            Ok(Some(b)) => (Some(b), up.done()),
            Ok(None) => (None, true),
            Err(e) => {
                answer.failed = Some(format!("the answer broke off: {e}"));
                answer.broke = true;
                return Ok(answer);
            }
        };
        ended = end;
        let _ = proxy.response_body_filter(session, &mut data, end, ctx);
        if let Some(b) = data {
            if answer.body.len() + b.len() > cap {
                answer.failed = Some(format!(
                    "an answer over {cap} bytes without a declared length"
                ));
                return Ok(answer);
            }
            answer.body.extend_from_slice(&b);
        }
    }
    Ok(answer)
}

/// The upstream's answer body: what was read ahead of the filters (see [`read_ahead`]), then
/// the rest from the connection.
struct Upstream {
    up: ClientSession,
    ahead: Option<Bytes>,
}

impl Upstream {
    fn done(&mut self) -> bool {
        self.ahead.is_none() && self.up.response_done()
    }

    async fn next(
        &mut self,
        clock: &mut Clock,
        holding: bool,
    ) -> Result<Result<Option<Bytes>, Box<pingora::Error>>, UpstreamError> {
        match self.ahead.take() {
            Some(b) => Ok(Ok(Some(b))),
            None => next_chunk(&mut self.up, clock, holding).await,
        }
    }
}

/// Most of a 2xx answer read ahead to find an error in it (a longer one is not an error).
const AHEAD_CAP: usize = 8 << 20;

/// A provider that reports errors in a 2xx body (Tencent Cloud API: HTTP 200 with
/// `Response.Error`) has its non-SSE 2xx answer read whole before the filters see the header,
/// so the status the client gets is honest (`AuthFailure` is a 401, `LimitExceeded` a 429)
/// and a retryable one is retried. Also keeps the provider's request id for the access log.
async fn read_ahead(
    h: &Handoff,
    up: &mut ClientSession,
    resp: &mut ResponseHeader,
    clock: &mut Clock,
) -> Result<Option<Bytes>, UpstreamError> {
    let provider = &h.target.pool.provider;
    if !provider.kind.errors_in_ok_body()
        || !resp.status.is_success()
        || crate::proxy::scan::is_sse(&resp.headers)
    {
        return Ok(None);
    }
    let invalid = |detail: String| UpstreamError::Invalid {
        pool: h.target.pool.name.clone(),
        detail,
    };
    let mut buf = BytesMut::new();
    while !up.response_done() {
        match next_chunk(up, clock, true).await? {
            Ok(Some(b)) if buf.len() + b.len() > AHEAD_CAP => {
                return Err(invalid(format!("an answer over {AHEAD_CAP} bytes")))
            }
            Ok(Some(b)) => buf.extend_from_slice(&b),
            Ok(None) => break,
            Err(e) => return Err(invalid(format!("the answer broke off: {e}"))),
        }
    }
    let body = buf.freeze();
    if let Some(id) = provider.request_id_in(&body) {
        let _ = h.telemetry.upstream_request_id.set(id);
    }
    if let Some((status, _)) = provider.error_in_ok_body(&body) {
        resp.set_status(status)
            .map_err(|e| invalid(e.to_string()))?;
    }
    Ok(Some(body))
}

/// An HTTP/1.1 client needs a framed body to keep its connection: a response whose length is
/// unknown (translated, rewritten, or sent without one) goes out chunked.
fn frame(session: &Session, resp: &mut ResponseHeader, no_body: bool) {
    let has = |n| resp.headers.contains_key(n);
    if no_body
        || session.downstream_session.is_http2()
        || has(http::header::CONTENT_LENGTH)
        || has(http::header::TRANSFER_ENCODING)
    {
        return;
    }
    resp.set_version(http::Version::HTTP_11);
    let _ = resp.insert_header(http::header::TRANSFER_ENCODING, "chunked");
}

/// A checked JSON answer, held whole.
struct HeldAnswer {
    header: Box<ResponseHeader>,
    body: BytesMut,
    /// Broken off, or longer than the cap.
    failed: Option<String>,
    /// The upstream broke off (passive health).
    broke: bool,
}

/// Sends a held answer when the try found it valid; otherwise the try failed (nothing
/// reached the client, so it is retried like a 502).
async fn deliver(
    session: &mut Session,
    handoff: &Handoff,
    answer: HeldAnswer,
    clock: &mut Clock,
) -> Result<(), UpstreamError> {
    let pool = handoff.target.pool.name.clone();
    let empty = answer
        .body
        .is_empty()
        .then(|| "an empty answer".to_string());
    let failed = answer.failed.or_else(|| handoff.invalid.get().cloned());
    if let Some(detail) = failed.or(empty) {
        return Err(UpstreamError::Invalid { pool, detail });
    }
    let mut header = answer.header;
    let body = answer.body.freeze();
    header.remove_header(&http::header::TRANSFER_ENCODING);
    header
        .insert_header(http::header::CONTENT_LENGTH, body.len().to_string())
        .map_err(|e| UpstreamError::Broken {
            detail: e.to_string(),
        })?;
    let sent = clock
        .within(async {
            match session.write_response_header(header, false).await {
                Ok(()) => session.write_response_body(Some(body), true).await,
                Err(e) => Err(e),
            }
        })
        .await?;
    sent.map_err(|e| {
        log::debug!(
            "request {}: writing a checked answer: {e}",
            handoff.request_id
        );
        UpstreamError::ClientGone
    })
}

fn record_timing(t: &Telemetry, clock: &Clock) {
    t.upstream_us
        .store(clock.start.elapsed().as_micros() as u64, Ordering::Relaxed);
    if let Some(at) = clock.header_at {
        t.ttfb_us.store(
            at.duration_since(clock.start).as_micros() as u64,
            Ordering::Relaxed,
        );
    }
}

/// The limits of one try and what it has seen: the first byte is due `first_byte` after the
/// start, then each piece within `idle` of the last; everything before the total deadline.
struct Clock {
    pool: String,
    start: Instant,
    limits: Deadlines,
    header_at: Option<Instant>,
    last: Instant,
}

impl Clock {
    fn new(pool: String, limits: Deadlines) -> Clock {
        let start = Instant::now();
        Clock {
            pool,
            start,
            limits,
            header_at: None,
            last: start,
        }
    }

    fn header(&mut self) {
        let now = Instant::now();
        self.header_at = Some(now);
        self.last = now;
    }

    fn activity(&mut self) {
        self.last = Instant::now();
    }

    /// When the current wait runs out.
    fn deadline(&self) -> Instant {
        let soft = match self.header_at {
            Some(_) => self.last + self.limits.idle,
            None => self.start + self.limits.first_byte,
        };
        self.limits.total.map_or(soft, |(_, at)| at.min(soft))
    }

    /// Which limit has passed. `holding`: a checked answer is being collected (nothing has
    /// reached the client, so it is an answer that timed out, not a stream).
    fn expired(&self, holding: bool) -> UpstreamError {
        let started = self.header_at.is_some() && !holding;
        if let Some((total, at)) = self.limits.total {
            if Instant::now() >= at {
                let ms = total.as_millis();
                return UpstreamError::Total { ms, started };
            }
        }
        if started {
            UpstreamError::Idle {
                ms: self.limits.idle.as_millis(),
            }
        } else if holding {
            UpstreamError::Timeout {
                pool: self.pool.clone(),
            }
        } else {
            UpstreamError::FirstByte {
                pool: self.pool.clone(),
                ms: self.limits.first_byte.as_millis(),
            }
        }
    }

    /// A write to the client: a client that takes nothing for `idle` (or past the total
    /// limit) has stopped reading. It is treated as gone: the connection is closed without an
    /// epilogue (a half-written chunk cannot be followed by an error event), and the upstream
    /// connection with it. A write that completes counts as activity.
    async fn within<F: std::future::Future>(&mut self, f: F) -> Result<F::Output, UpstreamError> {
        let mut f = std::pin::pin!(f);
        // Most writes complete at once (the socket has room): no timer for those.
        if let std::task::Poll::Ready(out) = futures::poll!(f.as_mut()) {
            self.activity();
            return Ok(out);
        }
        let soft = Instant::now() + self.limits.idle;
        let deadline = self.limits.total.map_or(soft, |(_, at)| at.min(soft));
        let out = tokio::time::timeout_at(deadline.into(), f)
            .await
            .map_err(|_| {
                log::info!(
                    "the client took nothing for {:?}: closing",
                    self.limits.idle
                );
                UpstreamError::ClientGone
            })?;
        self.activity();
        Ok(out)
    }
}

/// A phase of the gateway failed on this try (e.g. a header it could not set).
fn phase_failed(h: &Handoff, e: &pingora::Error) -> UpstreamError {
    UpstreamError::Unreachable {
        pool: h.target.pool.name.clone(),
        detail: e.to_string(),
    }
}

/// How a try failed before a response header.
fn try_failure(handoff: &Handoff, e: Option<&pingora::Error>) -> UpstreamError {
    let pool = handoff.target.pool.name.clone();
    match handoff.failure.get() {
        Some(PeerFailure::NoMember) => UpstreamError::NoMember { pool },
        None => {
            let detail = e.map(|e| e.to_string()).unwrap_or_default();
            log::warn!("pool {pool}: upstream failure: {detail}");
            UpstreamError::Unreachable { pool, detail }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_failures_before_any_byte_are_retried() {
        let pool = "p".to_string();
        assert!(UpstreamError::Connect { pool: pool.clone() }.is_retryable());
        assert!(UpstreamError::HeldStatus {
            pool: pool.clone(),
            status: 503
        }
        .is_retryable());
        assert!(!UpstreamError::ClientGone.is_retryable());
        assert!(!UpstreamError::Broken { detail: "x".into() }.is_retryable());
        assert!(UpstreamError::Idle { ms: 1 }.response_started());
    }

    /// The cascade flake: work started after the deadline must not run at all. tokio's own
    /// `timeout_at` lets work that is ready at once complete (writing a request is).
    #[tokio::test]
    async fn a_passed_deadline_never_starts_the_work() {
        let passed = Instant::now() - Duration::from_millis(400);
        let ran = AtomicBool::new(false);
        let work = || async {
            ran.store(true, Ordering::SeqCst);
            "sent"
        };
        let tokio_says = tokio::time::timeout_at(passed.into(), work()).await;
        assert_eq!(tokio_says.ok(), Some("sent"), "tokio polls the work first");
        ran.store(false, Ordering::SeqCst);
        assert_eq!(before(passed, work()).await, None);
        assert!(!ran.load(Ordering::SeqCst), "the work never ran");
        let later = Instant::now() + Duration::from_secs(5);
        assert_eq!(before(later, work()).await, Some("sent"));
    }

    #[test]
    fn client_messages_name_the_pool_not_the_detail() {
        let e: GatewayError = UpstreamError::Unreachable {
            pool: "p".into(),
            detail: "10.0.0.1:443 refused".into(),
        }
        .into();
        assert_eq!(e.status(), 502);
        assert!(!e.message().contains("10.0.0.1"));
        let e: GatewayError = UpstreamError::FirstByte {
            pool: "p".into(),
            ms: 5,
        }
        .into();
        assert_eq!(e.status(), 504);
        assert_eq!(e.message(), "Pool `p` did not answer within 5 ms.");
    }
}
