//! Sending a prepared request upstream through Pingora: a subrequest of the client's session
//! with the (rewritten) body preset, its response piped back to the client as it arrives.
//!
//! Why a subrequest: Pingora picks the peer and sends the request header before it would call
//! `request_body_filter`, and once `request_filter` has consumed the body Pingora never sends
//! one. A subrequest runs the normal proxy phases (`upstream_peer`, `upstream_request_filter`,
//! the response filters) with a body we choose. The parent watches the pipe so that the
//! first-byte and idle timeouts are enforced with the client's view of time.

use crate::config::Target;
use crate::error::GatewayError;
use bytes::Bytes;
use pingora::protocols::http::HttpTask;
use pingora::proxy::subrequest::pipe::{pipe_subrequest, InputBody, InputBodyType};
use pingora::proxy::subrequest::{BodyMode, Ctx as SubCtx};
use pingora::proxy::Session;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the subrequest needs from its parent, and what it reports back.
#[derive(Debug)]
pub struct Forward {
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
}

/// How the pipe ended, for the parent to finish the client's response.
#[derive(Debug)]
pub enum Outcome {
    /// The response went to the client completely.
    Done,
    /// Nothing reached the client yet: answer with this error.
    Failed(GatewayError),
    /// A response had started when the upstream failed or fell silent: end it visibly.
    Broken { reason: String },
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
    let filter = move |task: HttpTask| {
        w.seen(&task);
        Ok(Some(task))
    };
    let input = InputBodyType::Preset(InputBody::Bytes(vec![body]));
    let t = &fwd.target.pool.timeouts;
    let (first_byte, idle) = (
        Duration::from_millis(t.first_byte_ms),
        Duration::from_millis(t.idle_ms),
    );
    let pipe = pipe_subrequest(session, sub, handle, filter, input);
    tokio::pin!(pipe);
    loop {
        let deadline = watch.deadline(first_byte, idle);
        tokio::select! {
            res = &mut pipe => {
                return match res {
                    Ok(state) if state.header_received => Outcome::Done,
                    Ok(_) => Outcome::Failed(failure_of(&fwd, None)),
                    Err(e) if e.state.header_received || watch.header() => Outcome::Broken {
                        reason: format!("upstream failed mid-response: {}", e.error),
                    },
                    Err(e) => Outcome::Failed(failure_of(&fwd, Some(&e.error))),
                };
            }
            _ = tokio::time::sleep_until(deadline.into()) => {
                if Instant::now() < watch.deadline(first_byte, idle) {
                    continue; // activity moved the deadline while we slept
                }
                // Dropping the pipe closes the subrequest's channel: it stops and its
                // upstream connection is discarded, so nothing keeps generating tokens.
                return if watch.header() {
                    Outcome::Broken { reason: format!("upstream idle for more than {} ms", idle.as_millis()) }
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

/// Activity seen on the pipe, shared with the task filter (which must be `Send`).
struct Watch {
    start: Instant,
    header: AtomicBool,
    /// Microseconds since `start` of the last task.
    last_us: AtomicU64,
}

impl Watch {
    fn new() -> Watch {
        Watch {
            start: Instant::now(),
            header: AtomicBool::new(false),
            last_us: AtomicU64::new(0),
        }
    }

    fn seen(&self, task: &HttpTask) {
        if matches!(task, HttpTask::Header(..)) {
            self.header.store(true, Ordering::Relaxed);
        }
        let us = self.start.elapsed().as_micros() as u64;
        self.last_us.store(us, Ordering::Relaxed);
    }

    fn header(&self) -> bool {
        self.header.load(Ordering::Relaxed)
    }

    fn deadline(&self, first_byte: Duration, idle: Duration) -> Instant {
        if self.header() {
            self.start + Duration::from_micros(self.last_us.load(Ordering::Relaxed)) + idle
        } else {
            self.start + first_byte
        }
    }
}
