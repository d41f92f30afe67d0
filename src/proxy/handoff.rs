//! Sending a prepared request upstream through Pingora: a subrequest of the client's session
//! with the (rewritten) body preset, its response piped back to the client as it arrives.
//!
//! Why a subrequest: Pingora picks the peer and sends the request header before it would call
//! `request_body_filter`, and once `request_filter` has consumed the body Pingora never sends
//! one. A subrequest runs the normal proxy phases (`upstream_peer`, `upstream_request_filter`,
//! the response filters) with a body we choose. The parent watches the pipe so that the
//! first-byte and idle timeouts are enforced with the client's view of time.

use crate::proxy::client_watch::ClientWatch;
use crate::config::Target;
use crate::error::GatewayError;
use crate::request::kind::Kind;
use bytes::Bytes;
use pingora::protocols::http::HttpTask;
use pingora::proxy::subrequest::pipe::{pipe_subrequest, InputBody, InputBodyType};
use pingora::proxy::subrequest::{BodyMode, Ctx as SubCtx};
use pingora::proxy::Session;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::sync::Arc;
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
}

/// What the subrequest needs from its parent, and what it reports back.
#[derive(Debug)]
pub struct Forward {
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
    /// The status the subrequest would have answered with when it failed before a header.
    pub failure: AtomicU16,
    /// Set when the upstream's failure was a timeout (504 rather than 502).
    pub timed_out: AtomicBool,
    /// Set when the connection itself failed (nothing was sent: always safe to retry).
    pub connect_failed: AtomicBool,
    /// Upstream statuses to hold back from the client because another try follows.
    pub retry_on: Vec<u16>,
}

/// How the pipe ended, for the parent to finish the client's response.
#[derive(Debug)]
pub enum Outcome {
    /// The response went to the client completely.
    Done,
    /// Nothing reached the client yet: answer with this error.
    Failed(GatewayError),
    /// A response had started when the upstream failed or fell silent: end it visibly.
    /// `reason` is for the log; `error` (safe to show: no addresses) ends the client's stream.
    Broken { reason: String, error: GatewayError },
    /// Nothing reached the client and another try may succeed (connect failure, or a status in
    /// `retry_on`, held back).
    Retry { reason: String, error: GatewayError },
}

/// Runs the subrequest and pipes its response to the client.
pub async fn forward(session: &mut Session, fwd: Arc<Forward>, body: Bytes) -> Outcome {
    let Some(spawner) = session.subrequest_spawner.as_ref() else {
        return Outcome::Failed(GatewayError::Internal {
            message: "subrequests are not enabled".into(),
        });
    };
    let ctx = SubCtx::builder()
        .body_mode(BodyMode::ExpectBody)
        .user_ctx(Box::new(fwd.clone()))
        .build();
    let (sub, handle) = spawner.create_subrequest(session.downstream_session.as_ref(), ctx);
    let watch = Arc::new(Watch::new());
    let w = watch.clone();
    let retry_on = fwd.retry_on.clone();
    let filter = move |task: HttpTask| {
        if let HttpTask::Header(h, _) = &task {
            let status = h.status.as_u16();
            if retry_on.contains(&status) {
                // Held back: the client sees the next try's answer, not this one.
                w.held.store(status, Ordering::Relaxed);
            }
        }
        if w.held.load(Ordering::Relaxed) != 0 {
            return Ok(None);
        }
        w.seen(&task);
        Ok(Some(task))
    };
    let input = InputBodyType::Preset(InputBody::Bytes(vec![body]));
    let t = &fwd.target.pool.timeouts;
    let (first_byte, idle) = (
        Duration::from_millis(t.first_byte_ms),
        Duration::from_millis(t.idle_ms),
    );
    let client = ClientWatch::new(session);
    let pipe = pipe_subrequest(session, sub, handle, filter, input);
    tokio::pin!(pipe);
    let total = (t.total_ms > 0).then(|| Duration::from_millis(t.total_ms));
    let outcome = tokio::select! {
        o = watch_pipe(pipe, &fwd, &watch, (first_byte, idle, total)) => o,
        // Dropping the pipe here stops the subrequest and its upstream connection at once.
        _ = client.gone() => Outcome::Broken {
            reason: "the client went away; upstream request cancelled".into(),
            error: GatewayError::BadGateway { message: "client went away".into() },
        },
    };
    let held = watch.held.load(Ordering::Relaxed);
    let outcome = match outcome {
        _ if held != 0 => Outcome::Retry {
            reason: format!("upstream answered {held}"),
            error: GatewayError::BadGateway {
                message: format!(
                    "The upstream pool `{}` answered {held}.",
                    fwd.target.pool.name
                ),
            },
        },
        Outcome::Failed(e) if fwd.connect_failed.load(Ordering::Relaxed) => Outcome::Retry {
            reason: "connection to the upstream failed".into(),
            error: e,
        },
        other => other,
    };
    let t = &fwd.telemetry;
    t.upstream_us
        .store(watch.start.elapsed().as_micros() as u64, Ordering::Relaxed);
    if let Some(us) = watch.header_us() {
        t.ttfb_us.store(us, Ordering::Relaxed);
    }
    outcome
}

/// Awaits the pipe while enforcing the first-byte and idle timeouts.
async fn watch_pipe<F, T>(
    mut pipe: std::pin::Pin<&mut F>,
    fwd: &Forward,
    watch: &Watch,
    (first_byte, idle, total): (Duration, Duration, Option<Duration>),
) -> Outcome
where
    F: std::future::Future<
        Output = Result<T, pingora::proxy::subrequest::pipe::PipeSubrequestError>,
    >,
    T: HeaderSeen,
{
    let hard_stop = total.map(|t| watch.start + t);
    loop {
        let soft = watch.deadline(first_byte, idle);
        let deadline = hard_stop.map_or(soft, |h| h.min(soft));
        tokio::select! {
            res = &mut pipe => {
                return match res {
                    Ok(_) if watch.header() => Outcome::Done,
                    Ok(state) if state.header_seen() && watch.held.load(Ordering::Relaxed) == 0 => Outcome::Done,
                    Ok(_) => Outcome::Failed(failure_of(fwd, None)),
                    Err(e) if e.state.header_received || watch.header() => Outcome::Broken {
                        reason: format!("upstream failed mid-response: {}", e.error),
                        error: GatewayError::BadGateway {
                            message: "The upstream failed before finishing this response; it is incomplete.".into(),
                        },
                    },
                    Err(e) => Outcome::Failed(failure_of(fwd, Some(&e.error))),
                };
            }
            _ = tokio::time::sleep_until(deadline.into()) => {
                let over_total = hard_stop.is_some_and(|h| Instant::now() >= h);
                if !over_total && Instant::now() < watch.deadline(first_byte, idle) {
                    continue; // activity moved the deadline while we slept
                }
                if over_total {
                    let ms = total.map_or(0, |t| t.as_millis());
                    return if watch.header() {
                        Outcome::Broken {
                            reason: format!("request exceeded its total time limit of {ms} ms"),
                            error: GatewayError::GatewayTimeout {
                                message: format!("The request exceeded its total time limit of {ms} ms; the response is incomplete."),
                            },
                        }
                    } else {
                        Outcome::Failed(GatewayError::GatewayTimeout {
                            message: format!("The request exceeded its total time limit of {ms} ms."),
                        })
                    };
                }
                // Dropping the pipe closes the subrequest's channel: it stops and its
                // upstream connection is discarded, so nothing keeps generating tokens.
                return if watch.header() {
                    Outcome::Broken {
                        reason: format!("upstream idle for more than {} ms", idle.as_millis()),
                        error: GatewayError::GatewayTimeout {
                            message: format!("The upstream sent nothing for {} ms; the response is incomplete.", idle.as_millis()),
                        },
                    }
                } else {
                    Outcome::Failed(GatewayError::GatewayTimeout {
                        message: format!("The upstream did not answer within {} ms.", first_byte.as_millis()),
                    })
                };
            }
        }
    }
}

fn failure_of(fwd: &Forward, e: Option<&pingora::Error>) -> GatewayError {
    let pool = &fwd.target.pool.name;
    let detail = e.map(|e| e.to_string()).unwrap_or_default();
    if fwd.timed_out.load(Ordering::Relaxed) {
        return GatewayError::GatewayTimeout {
            message: format!("The upstream pool `{pool}` did not answer in time."),
        };
    }
    match fwd.failure.load(Ordering::Relaxed) {
        503 => GatewayError::Unavailable {
            message: format!("No healthy upstream in pool `{pool}`."),
        },
        504 => GatewayError::GatewayTimeout {
            message: format!("The upstream pool `{pool}` did not answer in time."),
        },
        _ => {
            log::warn!("pool {pool}: upstream failure: {detail}");
            GatewayError::BadGateway {
                message: format!("The upstream pool `{pool}` could not be reached."),
            }
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
struct Watch {
    start: Instant,
    header: AtomicBool,
    /// A retryable status whose response is being held back (0: none).
    held: AtomicU16,
    /// Microseconds since `start` when the header passed (u64::MAX: not yet).
    header_at_us: AtomicU64,
    /// Microseconds since `start` of the last task.
    last_us: AtomicU64,
}

impl Watch {
    fn new() -> Watch {
        Watch {
            start: Instant::now(),
            header: AtomicBool::new(false),
            held: AtomicU16::new(0),
            header_at_us: AtomicU64::new(u64::MAX),
            last_us: AtomicU64::new(0),
        }
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
        if self.header() {
            self.start + Duration::from_micros(self.last_us.load(Ordering::Relaxed)) + idle
        } else {
            self.start + first_byte
        }
    }
}
