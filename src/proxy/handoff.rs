//! Handing a prepared request to the upstream through Pingora: a subrequest of the client's
//! session with the (rewritten) body preset, its response piped back to the client as it
//! arrives.
//!
//! Why a subrequest: Pingora picks the peer and sends the request header before it would call
//! `request_body_filter`, and once `request_filter` has consumed the body Pingora never sends
//! one. A subrequest runs the normal proxy phases (`upstream_peer`, `upstream_request_filter`,
//! the response filters) with a body we choose. The parent watches the pipe so that the
//! first-byte, idle and total timeouts are enforced with the client's view of time.

use super::client_watch::ClientWatch;
use super::scan::Expect;
use crate::error::GatewayError;
use crate::protocol::{ResponseTranslator, Translation};
use crate::request::kind::Kind;
use crate::upstream::route::Target;
use bytes::{Bytes, BytesMut};
use pingora::http::ResponseHeader;
use pingora::protocols::http::HttpTask;
use pingora::proxy::subrequest::pipe::{pipe_subrequest, InputBody, InputBodyType};
use pingora::proxy::subrequest::{BodyMode, Ctx as SubCtx};
use pingora::proxy::Session;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// What the child saw of the upstream, for metrics and the access log.
#[derive(Debug, Default)]
pub struct Telemetry {
    /// Request sent to response header, µs (0: no header).
    pub ttfb_us: AtomicU64,
    /// The whole upstream exchange, µs.
    pub upstream_us: AtomicU64,
    pub prompt_tokens: AtomicU64,
    pub completion_tokens: AtomicU64,
    /// SSE events forwarded.
    pub events: AtomicU64,
    /// The upstream's response status (0: none yet).
    pub status: AtomicU16,
}

/// How the child failed before a response header, as `fail_to_proxy` / `upstream_peer` saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildFailure {
    /// No member address is known (nothing resolved).
    NoMember,
    /// The connection itself failed: nothing was sent, always safe to retry.
    Connect,
    /// A read or write timed out.
    Timeout,
    /// Any other failure, with the status Pingora would have answered.
    Other(u16),
}

/// What the subrequest needs from its parent, and what it reports back.
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
    /// The child's failure before a response header (first one wins).
    pub failure: OnceLock<ChildFailure>,
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
        Arc<super::response_cache::ResponseCache>,
        super::response_cache::CacheKey,
    )>,
    /// The translator of the response under way: the child feeds it; the parent ends it
    /// with the protocol's error event when the upstream breaks mid-response.
    pub translator: Mutex<Option<Box<dyn ResponseTranslator>>>,
    /// A JSON answer checked before the client sees it (chat without stream, embeddings,
    /// images); none: the answer passes as it arrives.
    pub expect: Option<Expect>,
    /// Set by the child: why the upstream's 2xx answer is not the expected JSON.
    pub invalid: OnceLock<String>,
    /// Set by the child: the answer declares a length over `expect.cap`; it passes unchecked.
    pub unchecked: AtomicBool,
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

    /// The child found the answer invalid (the first reason wins).
    pub fn invalid(&self, why: String) {
        let _ = self.invalid.set(why);
    }

    /// Records the child's failure (the first report is the cause; later ones are echoes).
    pub fn fail(&self, f: ChildFailure) {
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

/// The limits the parent enforces on one try.
#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    pub first_byte: Duration,
    pub idle: Duration,
    /// `timeouts.total_ms` and when it runs out: counted from the client's request, so the
    /// body read and the cascade count too.
    pub total: Option<(Duration, Instant)>,
}

/// Runs the subrequest and pipes its response to the client.
pub async fn pipe(
    session: &mut Session,
    handoff: Arc<Handoff>,
    body: Bytes,
    deadlines: Deadlines,
) -> Result<(), UpstreamError> {
    let Some(spawner) = session.subrequest_spawner.as_ref() else {
        return Err(UpstreamError::Unreachable {
            pool: handoff.target.pool.name.clone(),
            detail: "subrequests are not enabled".into(),
        });
    };
    let ctx = SubCtx::builder()
        .body_mode(BodyMode::ExpectBody)
        .user_ctx(Box::new(handoff.clone()))
        .build();
    let (sub, handle) = spawner.create_subrequest(session.downstream_session.as_ref(), ctx);
    let activity = Arc::new(PipeActivity::new());
    let filter = hold_back_filter(activity.clone(), handoff.clone());
    let input = InputBodyType::Preset(InputBody::Bytes(vec![body]));
    let client = ClientWatch::new(session);
    let result = {
        let pipe = pipe_subrequest(session, sub, handle, filter, input);
        tokio::pin!(pipe);
        tokio::select! {
            r = watch_pipe(pipe, &handoff, &activity, deadlines) => r,
            // Dropping the pipe here stops the subrequest and its upstream connection at once.
            _ = client.gone() => Err(UpstreamError::ClientGone),
        }
    };
    let result = match (result, activity.take_held_answer()) {
        (Ok(()), Some(answer)) => deliver(session, &handoff, answer).await,
        (r, _) => r,
    };
    let result = match activity.held.load(Ordering::Relaxed) {
        0 => result,
        // The client gone wins over a held status: nobody is left to retry for.
        _ if result == Err(UpstreamError::ClientGone) => result,
        status => Err(UpstreamError::HeldStatus {
            pool: handoff.target.pool.name.clone(),
            status,
        }),
    };
    record_timing(&handoff.telemetry, &activity);
    result
}

/// The pipe's task filter: holds back a retryable status (the client sees the next try's
/// answer instead), holds a whole checked JSON answer until it is known to be valid, and notes
/// activity for the watchdog.
fn hold_back_filter(
    activity: Arc<PipeActivity>,
    handoff: Arc<Handoff>,
) -> impl Fn(HttpTask) -> pingora::Result<Option<HttpTask>> + Send + Sync + 'static {
    move |task: HttpTask| {
        if let HttpTask::Header(h, _) = &task {
            let status = h.status.as_u16();
            if handoff.retry_on.contains(&status) {
                activity.held.store(status, Ordering::Relaxed);
            } else if let Some(e) = handoff.expect.as_ref() {
                if h.status.is_success() && !handoff.unchecked.load(Ordering::Relaxed) {
                    activity.hold_answer(h.clone(), e.cap);
                    return Ok(None);
                }
            }
        }
        if activity.held.load(Ordering::Relaxed) != 0 {
            return Ok(None);
        }
        if activity.holds_answer(&task) {
            return Ok(None);
        }
        activity.seen(&task);
        Ok(Some(task))
    }
}

/// A checked JSON answer, held whole.
struct HeldAnswer {
    header: Box<ResponseHeader>,
    body: BytesMut,
    cap: usize,
    /// Broken off, or longer than the cap.
    failed: Option<String>,
}

/// Sends a held answer when the child found it valid; otherwise the try failed (nothing
/// reached the client, so it is retried like a 502).
async fn deliver(
    session: &mut Session,
    handoff: &Handoff,
    answer: HeldAnswer,
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
    let sent = match session.write_response_header(header, false).await {
        Ok(()) => session.write_response_body(Some(body), true).await,
        Err(e) => Err(e),
    };
    sent.map_err(|e| {
        log::debug!(
            "request {}: writing a checked answer: {e}",
            handoff.request_id
        );
        UpstreamError::ClientGone
    })
}

fn record_timing(t: &Telemetry, activity: &PipeActivity) {
    t.upstream_us.store(
        activity.start.elapsed().as_micros() as u64,
        Ordering::Relaxed,
    );
    if let Some(us) = activity.header_us() {
        t.ttfb_us.store(us, Ordering::Relaxed);
    }
}

/// Awaits the pipe while enforcing the first-byte, idle and total limits. Dropping the pipe
/// (by returning) closes the subrequest's channel: it stops and its upstream connection is
/// discarded, so nothing keeps generating tokens.
async fn watch_pipe<F, T>(
    mut pipe: std::pin::Pin<&mut F>,
    handoff: &Handoff,
    activity: &PipeActivity,
    d: Deadlines,
) -> Result<(), UpstreamError>
where
    F: std::future::Future<
        Output = Result<T, pingora::proxy::subrequest::pipe::PipeSubrequestError>,
    >,
    T: HeaderSeen,
{
    loop {
        let soft = activity.deadline(d.first_byte, d.idle);
        let deadline = d.total.map_or(soft, |(_, h)| h.min(soft));
        tokio::select! {
            res = &mut pipe => return finished(res, handoff, activity),
            _ = tokio::time::sleep_until(deadline.into()) => {
                if let Some(e) = expired(activity, d, &handoff.target.pool.name) {
                    return Err(e);
                }
                // Activity moved the deadline while we slept: wait again.
            }
        }
    }
}

/// The outcome of a pipe that ended by itself.
fn finished<T: HeaderSeen>(
    res: Result<T, pingora::proxy::subrequest::pipe::PipeSubrequestError>,
    handoff: &Handoff,
    activity: &PipeActivity,
) -> Result<(), UpstreamError> {
    let held = activity.held.load(Ordering::Relaxed) != 0;
    match res {
        Ok(_) if activity.header() => Ok(()),
        Ok(state) if state.header_seen() && !held => Ok(()),
        Ok(_) => Err(child_failure(handoff, None)),
        Err(e) if e.state.header_received || activity.header() => Err(UpstreamError::Broken {
            detail: e.error.to_string(),
        }),
        Err(e) => Err(child_failure(handoff, Some(&e.error))),
    }
}

/// Which limit has passed, if any.
fn expired(activity: &PipeActivity, d: Deadlines, pool: &str) -> Option<UpstreamError> {
    let now = Instant::now();
    let started = activity.header();
    if let Some((total, _)) = d.total.filter(|(_, h)| now >= *h) {
        let ms = total.as_millis();
        return Some(UpstreamError::Total { ms, started });
    }
    if now < activity.deadline(d.first_byte, d.idle) {
        return None;
    }
    Some(if activity.holding.load(Ordering::Relaxed) {
        // Nothing reached the client yet: an answer, not a stream, timed out.
        UpstreamError::Timeout {
            pool: pool.to_string(),
        }
    } else if started {
        UpstreamError::Idle {
            ms: d.idle.as_millis(),
        }
    } else {
        UpstreamError::FirstByte {
            pool: pool.to_string(),
            ms: d.first_byte.as_millis(),
        }
    })
}

/// What the child reported when it failed before a header.
fn child_failure(handoff: &Handoff, e: Option<&pingora::Error>) -> UpstreamError {
    let pool = handoff.target.pool.name.clone();
    match handoff.failure.get() {
        Some(ChildFailure::NoMember) => UpstreamError::NoMember { pool },
        Some(ChildFailure::Connect) => UpstreamError::Connect { pool },
        Some(ChildFailure::Timeout) => UpstreamError::Timeout { pool },
        Some(ChildFailure::Other(504)) => UpstreamError::Timeout { pool },
        _ => {
            let detail = e.map(|e| e.to_string()).unwrap_or_default();
            log::warn!("pool {pool}: upstream failure: {detail}");
            UpstreamError::Unreachable { pool, detail }
        }
    }
}

/// Lets the watchdog ask the pipe's result whether a response header went out.
trait HeaderSeen {
    fn header_seen(&self) -> bool;
}

impl HeaderSeen for pingora::proxy::subrequest::pipe::PipeSubrequestState {
    fn header_seen(&self) -> bool {
        self.header_received
    }
}

/// Activity seen on the pipe, shared with the task filter (which must be `Send`).
struct PipeActivity {
    start: Instant,
    header: AtomicBool,
    /// A retryable status whose response is being held back (0: none).
    held: AtomicU16,
    /// Microseconds since `start` when the header passed (u64::MAX: not yet).
    header_at_us: AtomicU64,
    /// Microseconds since `start` of the last task.
    last_us: AtomicU64,
    /// A checked JSON answer being held (see [`hold_back_filter`]).
    answer: Mutex<Option<HeldAnswer>>,
    holding: AtomicBool,
}

impl PipeActivity {
    fn new() -> PipeActivity {
        PipeActivity {
            start: Instant::now(),
            header: AtomicBool::new(false),
            held: AtomicU16::new(0),
            header_at_us: AtomicU64::new(u64::MAX),
            last_us: AtomicU64::new(0),
            answer: Mutex::new(None),
            holding: AtomicBool::new(false),
        }
    }

    /// Starts holding a checked answer: its header now, its body as it comes.
    fn hold_answer(&self, header: Box<ResponseHeader>, cap: usize) {
        let us = self.start.elapsed().as_micros() as u64;
        self.header_at_us.store(us, Ordering::Relaxed);
        self.last_us.store(us, Ordering::Relaxed);
        self.holding.store(true, Ordering::Relaxed);
        let mut slot = self.answer.lock().unwrap_or_else(|p| p.into_inner());
        *slot = Some(HeldAnswer {
            header,
            body: BytesMut::new(),
            cap,
            failed: None,
        });
    }

    /// Takes a task of the held answer (false: no answer is held).
    fn holds_answer(&self, task: &HttpTask) -> bool {
        if !self.holding.load(Ordering::Relaxed) {
            return false;
        }
        let us = self.start.elapsed().as_micros() as u64;
        self.last_us.store(us, Ordering::Relaxed);
        let mut slot = self.answer.lock().unwrap_or_else(|p| p.into_inner());
        let Some(a) = slot.as_mut() else {
            return false;
        };
        match task {
            HttpTask::Body(Some(b), _) if a.failed.is_none() => {
                if a.body.len() + b.len() > a.cap {
                    a.failed = Some(format!(
                        "an answer over {} bytes without a declared length",
                        a.cap
                    ));
                    a.body = BytesMut::new();
                } else {
                    a.body.extend_from_slice(b);
                }
            }
            HttpTask::Failed(e) => a.failed = Some(format!("the answer broke off: {e}")),
            _ => {}
        }
        true
    }

    fn take_held_answer(&self) -> Option<HeldAnswer> {
        let mut slot = self.answer.lock().unwrap_or_else(|p| p.into_inner());
        slot.take()
    }

    fn seen(&self, task: &HttpTask) {
        let us = self.start.elapsed().as_micros() as u64;
        if matches!(task, HttpTask::Header(..)) {
            self.header.store(true, Ordering::Relaxed);
            self.header_at_us.store(us, Ordering::Relaxed);
        }
        self.last_us.store(us, Ordering::Relaxed);
    }

    fn header(&self) -> bool {
        self.header.load(Ordering::Relaxed)
    }

    fn header_us(&self) -> Option<u64> {
        let us = self.header_at_us.load(Ordering::Relaxed);
        (us != u64::MAX).then_some(us)
    }

    fn deadline(&self, first_byte: Duration, idle: Duration) -> Instant {
        if self.header() || self.holding.load(Ordering::Relaxed) {
            self.start + Duration::from_micros(self.last_us.load(Ordering::Relaxed)) + idle
        } else {
            self.start + first_byte
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
