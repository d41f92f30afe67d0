//! The `ProxyHttp` implementation: the Pingora phases, in the order they run, each a few lines
//! that call the stage modules. The phase chart is in the README ("How a request flows").
//!
//! Every proxied request runs twice through these phases: once as the client's request (the
//! *parent*: classify, read the body, prepare, pipe) and once as a subrequest carrying the
//! prepared body (the *child*: pick the peer, set upstream headers, filter the response).
//! `ctx.fwd` is `Some` exactly in the child.

use crate::policy::auth::ApiKey;
use body::BodyError;
use crate::chat::cascade::CascadeState;
use crate::config::ConfigHandle;
use crate::error::GatewayError;
use crate::proxy::handoff::Forward;
use crate::request::kind::{Endpoint, Kind};
use crate::policy::limit::{Admission, Limiter};
use crate::observe::metrics::metrics;
use crate::observe::record::{self, RequestInfo};
use crate::request::prepare;
use crate::proxy::scan::{Scan, SseScanner};
use crate::upstream::Member;
use async_trait::async_trait;

pub mod body;
pub mod client_watch;
pub mod handoff;
pub mod respond;
pub mod retry;
pub mod scan;
use bytes::{Bytes, BytesMut};
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorType, Result};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

/// The gateway service.
pub struct Gateway {
    pub config: ConfigHandle,
    /// Rate and concurrency counters: process-wide, they outlive config reloads.
    pub limiter: Limiter,
    /// The cascade's cache and client: process-wide, they outlive config reloads.
    pub cascade: Arc<CascadeState>,
}

/// Per-request state.
pub struct Ctx {
    pub start: Instant,
    /// Child only: what to send upstream.
    pub fwd: Option<Arc<Forward>>,
    /// Child only: the member `upstream_peer` picked.
    pub member: Option<Arc<Member>>,
    /// Child only: the upstream answered with an SSE stream.
    pub sse: bool,
    /// Child only: the response scanner.
    pub scan: Scan,
    /// Parent only: who asked for what, for statistics and the access log.
    pub req: Option<RequestInfo>,
    /// Parent only: the limiter's guards, held until the response has ended.
    pub admission: Option<Admission>,
}

#[async_trait]
impl ProxyHttp for Gateway {
    type CTX = Ctx;

    fn new_ctx(&self) -> Ctx {
        Ctx {
            start: Instant::now(),
            fwd: None,
            member: None,
            sse: false,
            scan: Scan::Off,
            req: None,
            admission: None,
        }
    }

    /// Runs first. Child: adopt the parent's `Forward` and make the rebuilt request header
    /// describe the preset body. Parent: keep-alive policy.
    async fn early_request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<()> {
        if let Some(fwd) = child_forward(session) {
            let h = session.req_header_mut();
            h.remove_header(&http::header::TRANSFER_ENCODING);
            h.remove_header(&http::header::EXPECT);
            h.insert_header(http::header::CONTENT_LENGTH, fwd.body_len.to_string())?;
            ctx.fwd = Some(fwd);
            return Ok(());
        }
        if crate::observe::health::is_draining() {
            // Move clients to the new process: this connection ends after this answer.
            session.set_keepalive(None);
        } else {
            session.set_keepalive(Some(self.config.load().keepalive_seconds));
        }
        metrics().in_flight.inc();
        let id = request_id(session.req_header());
        ctx.req = Some(RequestInfo {
            request_id: id,
            ..Default::default()
        });
        Ok(())
    }

    /// Only client requests spawn subrequests; a child never does.
    fn allow_spawning_subrequest(&self, session: &Session, _ctx: &Ctx) -> bool {
        session.subrequest_ctx.is_none()
    }

    /// Parent: answer locally or prepare and forward; always `Ok(true)` (the response is
    /// written here). Child: `Ok(false)`, go on to the upstream.
    async fn request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        if ctx.fwd.is_some() {
            return Ok(false);
        }
        let mut info = ctx.req.take().unwrap_or_default();
        if let Err(e) = self.handle(session, ctx, &mut info).await {
            let done = drain_refused(session, &e).await;
            let id = [("x-request-id", info.request_id.clone())];
            respond::error(session, &e, done, &id).await;
        }
        ctx.req = Some(info);
        Ok(true)
    }

    /// Child: a healthy member of the routed pool.
    async fn upstream_peer(&self, _session: &mut Session, ctx: &mut Ctx) -> Result<Box<HttpPeer>> {
        let Some(fwd) = ctx.fwd.as_ref() else {
            return Error::e_explain(
                ErrorType::InternalError,
                "upstream_peer outside a subrequest",
            );
        };
        match fwd.target.pool.select() {
            Some((peer, member)) => {
                ctx.member = Some(member);
                Ok(peer)
            }
            None => {
                fwd.failure.store(503, Ordering::Relaxed);
                Error::e_explain(ErrorType::HTTPStatus(503), "no healthy upstream")
            }
        }
    }

    /// Child: the provider's path, host and credential; the client's credentials never leave.
    async fn upstream_request_filter(
        &self,
        _session: &mut Session,
        req: &mut RequestHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        let (Some(fwd), Some(member)) = (ctx.fwd.as_ref(), ctx.member.as_ref()) else {
            return Error::e_explain(ErrorType::InternalError, "no forward in subrequest");
        };
        let uri = format!("{}{}", member.base_path, fwd.path_and_query);
        req.set_uri(
            uri.parse()
                .map_err(|e| Error::because(ErrorType::InternalError, "bad upstream uri", e))?,
        );
        req.insert_header(http::header::HOST, member.authority.as_str())?;
        for h in [
            "authorization",
            "x-api-key",
            "api-key",
            "proxy-authorization",
        ] {
            req.remove_header(h);
        }
        if let Some(auth) = fwd.target.pool.auth.as_ref() {
            req.insert_header(http::header::AUTHORIZATION, auth.clone())?;
        }
        req.insert_header("x-request-id", fwd.request_id.as_str())?;
        // Identity encoding keeps SSE scannable and lets the gateway count tokens.
        req.remove_header(&http::header::ACCEPT_ENCODING);
        req.remove_header(&http::header::CONNECTION);
        Ok(())
    }

    /// Child: streaming responses must not be buffered by anything downstream of us.
    async fn response_filter(
        &self,
        _session: &mut Session,
        resp: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        let sse = resp
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        let Some(fwd) = ctx.fwd.as_ref() else {
            return Ok(());
        };
        if let Some(member) = ctx.member.as_ref() {
            // Passive health: an upstream that answers 502/503/504 is failing, others work.
            match resp.status.as_u16() {
                502..=504 => fwd.target.pool.report_failure(member),
                _ => member.health.success(),
            }
        }
        if sse {
            ctx.sse = true;
            resp.insert_header("x-accel-buffering", "no")?;
            resp.insert_header(http::header::CACHE_CONTROL, "no-cache")?;
            if fwd.strip_usage {
                // The body changes length when the usage chunk is removed.
                resp.remove_header(&http::header::CONTENT_LENGTH);
            }
            ctx.scan = Scan::Sse(SseScanner::new(fwd.strip_usage));
        } else if matches!(fwd.kind, Kind::Chat | Kind::Embeddings) && resp.status.is_success() {
            ctx.scan = Scan::Json(BytesMut::new());
        }
        for (k, v) in &fwd.headers {
            resp.insert_header(*k, v.as_str())?;
        }
        resp.insert_header("x-request-id", fwd.request_id.as_str())?;
        Ok(())
    }

    /// Child: count SSE events, read `usage`, drop the usage chunk the client did not ask for.
    fn response_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        end: bool,
        ctx: &mut Ctx,
    ) -> Result<Option<std::time::Duration>> {
        let Some(fwd) = ctx.fwd.as_ref() else {
            return Ok(None);
        };
        ctx.scan.on_body(body, end, &fwd.telemetry);
        Ok(None)
    }

    /// Parent: metrics, statistics and the access log, once per request.
    async fn logging(&self, session: &mut Session, _e: Option<&Error>, ctx: &mut Ctx) {
        if ctx.fwd.is_some() {
            return; // the child's run is part of the parent's request
        }
        metrics().in_flight.dec();
        ctx.admission = None; // release the in-flight slots now that the response has ended
        let Some(info) = ctx.req.as_ref() else {
            return;
        };
        let status = session.response_written().map_or(0, |r| r.status.as_u16());
        let out = session.body_bytes_sent() as u64;
        let rt = self.config.load();
        record::finish(&rt, info, status, out, ctx.start.elapsed());
    }

    /// A child whose parent stopped listening (timeout, client gone) fails with a downstream
    /// error by design: not worth an ERROR line. Everything else is logged.
    fn suppress_error_log(&self, _session: &Session, ctx: &Ctx, e: &Error) -> bool {
        ctx.fwd.is_some() && *e.esource() == pingora::ErrorSource::Downstream
    }

    /// What Pingora's own error lines show: never the query string (it may carry secrets).
    fn request_summary(&self, session: &Session, _ctx: &Ctx) -> String {
        let h = session.req_header();
        format!("{} {}", h.method, h.uri.path())
    }

    /// Child: report the failure to the parent, which answers the client (OpenAI-shaped).
    /// Parent: Pingora-level failures (e.g. an unreadable header) get a plain error.
    async fn fail_to_proxy(&self, session: &mut Session, e: &Error, ctx: &mut Ctx) -> FailToProxy {
        let code = status_of(e);
        if let Some(fwd) = ctx.fwd.as_ref() {
            if let Some(member) = ctx.member.as_ref() {
                if code >= 500 {
                    fwd.target.pool.report_failure(member);
                }
            }
            fwd.failure.store(code, Ordering::Relaxed);
            if is_connect_error(e) {
                fwd.connect_failed.store(true, Ordering::Relaxed);
            }
            if code == 504 {
                fwd.timed_out.store(true, Ordering::Relaxed);
            }
            return FailToProxy {
                error_code: code,
                can_reuse_downstream: false,
            };
        }
        let err = GatewayError::bad_request(format!("Malformed request: {}", e.etype().as_str()));
        if code > 0 && session.response_written().is_none() {
            respond::error(session, &err, false, &[]).await;
        }
        FailToProxy {
            error_code: code,
            can_reuse_downstream: false,
        }
    }
}

impl Gateway {
    /// The parent's work: everything the gateway decides before the upstream is involved.
    async fn handle(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        info: &mut RequestInfo,
    ) -> Result<(), GatewayError> {
        let rt = self.config.load_full();
        let req = session.req_header();
        let (path, query) = split_path(req.uri.path_and_query().map_or("/", |p| p.as_str()));
        if let Some((status, body)) = local_health(&rt, path) {
            return send_local(session, status, body).await;
        }
        let endpoint = Endpoint::classify(req.method.as_str(), path)?;
        let key = rt.keys.authenticate(&req.headers)?;
        info.key = key.clone();
        let Some(kind) = endpoint.kind() else {
            let models = models_for(&rt.models_json, key.as_deref());
            return send_local(session, 200, models).await;
        };
        info.kind = Some(kind);
        let admission = match self.limiter.admit(key.as_deref(), rt.global_limits) {
            Ok(a) => a,
            Err(r) => {
                info.rate_limited = true;
                let done = drain_refused(session, &r.error).await;
                let mut headers = r.headers;
                headers.push(("x-request-id", info.request_id.clone()));
                respond::error(session, &r.error, done, &headers).await;
                return Ok(());
            }
        };
        let headers = admission.headers.clone();
        ctx.admission = Some(admission);
        let content_type = header_str(req, http::header::CONTENT_TYPE).map(str::to_owned);
        let path_and_query = match query {
            Some(q) => format!("{}?{q}", endpoint.upstream_suffix()),
            None => endpoint.upstream_suffix().to_string(),
        };
        let t_body = Instant::now();
        let body = match body::read_whole(session, rt.body.cap(kind), rt.body.read_timeout).await {
            Ok(b) => b,
            Err(BodyError::Refuse(e)) => return Err(e),
            Err(BodyError::Gone) => return Ok(()),
        };
        info.body_time = t_body.elapsed();
        info.bytes_in = body.len() as u64;
        let peeked = prepare::peek(endpoint, content_type.as_deref(), &body).await?;
        info.requested_model = Some(peeked.model.clone());
        if let Some(k) = key.as_deref() {
            if !k.allows(&peeked.model) {
                return Err(GatewayError::Forbidden {
                    message: format!(
                        "The API key `{}` may not use the model `{}`.",
                        k.id, peeked.model
                    ),
                });
            }
        }
        info.stream = peeked.stream || kind == Kind::Speech;
        let prepared = prepare::prepare(&rt, &self.cascade, endpoint, kind, peeked, body).await?;
        info.cascade = prepared.cascade;
        retry::send(session, info, kind, prepared, path_and_query, headers).await
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

/// `/health/live` and `/health/ready` on the API listener too: load balancers probe the port
/// they send traffic to.
fn local_health(rt: &crate::config::Runtime, path: &str) -> Option<(u16, Bytes)> {
    match path {
        "/health/live" => Some((200, Bytes::from_static(br#"{"status":"live"}"#))),
        "/health/ready" => {
            let (s, v) = crate::observe::health::readiness(rt);
            Some((s, Bytes::from(v.to_string())))
        }
        _ => None,
    }
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

/// `/v1/models`, filtered to what the key may use.
fn models_for(all: &Bytes, key: Option<&ApiKey>) -> Bytes {
    let Some(key) = key else {
        return all.clone();
    };
    let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(all) else {
        return all.clone();
    };
    if let Some(data) = v.get_mut("data").and_then(|d| d.as_array_mut()) {
        data.retain(|m| m["id"].as_str().is_some_and(|id| key.allows(id)));
    }
    Bytes::from(v.to_string())
}

/// A JSON answer the gateway makes itself (models list, health).
async fn send_local(session: &mut Session, status: u16, body: Bytes) -> Result<(), GatewayError> {
    respond::send(session, status, "application/json", body, &[])
        .await
        .map_err(|e| GatewayError::Internal {
            message: format!("writing a local answer: {e}"),
        })
}

/// The parent's `Forward`, when this session is a child.
fn child_forward(session: &Session) -> Option<Arc<Forward>> {
    let user = session.subrequest_ctx.as_ref()?.user_ctx()?;
    user.downcast_ref::<Arc<Forward>>().cloned()
}

fn split_path(pq: &str) -> (&str, Option<&str>) {
    match pq.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (pq, None),
    }
}

fn header_str(req: &RequestHeader, name: http::header::HeaderName) -> Option<&str> {
    req.headers.get(name).and_then(|v| v.to_str().ok())
}

/// Errors that happened before anything was sent upstream.
fn is_connect_error(e: &Error) -> bool {
    matches!(
        e.etype(),
        ErrorType::ConnectTimedout
            | ErrorType::ConnectRefused
            | ErrorType::ConnectNoRoute
            | ErrorType::ConnectError
            | ErrorType::BindError
            | ErrorType::SocketError
            | ErrorType::TLSHandshakeFailure
            | ErrorType::TLSHandshakeTimedout
    )
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
