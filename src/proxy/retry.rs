//! Sending a prepared request with retries: before any byte reached the client, a failed try
//! (connect failure, or a status in `retry.on_status`, held back from the client) is repeated
//! on the next healthy member of the pool, then once on the route's fallback pool, with the
//! same buffered body and exponential backoff with jitter. After the first byte there is no
//! retry: a broken response is ended visibly.

use crate::error::GatewayError;
use crate::proxy::handoff::{self, Forward, Outcome};
use crate::request::kind::Kind;
use crate::observe::metrics::metrics;
use crate::observe::record::RequestInfo;
use crate::request::prepare::Prepared;
use bytes::Bytes;
use pingora::proxy::Session;
use std::sync::Arc;

/// Forwards `prepared`, retrying as configured; `Err` is an error to answer the client with.
pub async fn send(
    session: &mut Session,
    info: &mut RequestInfo,
    kind: Kind,
    prepared: Prepared,
    path_and_query: String,
    headers: Vec<(&'static str, String)>,
) -> Result<(), GatewayError> {
    let attempts = attempt_plan(&prepared.target);
    let mut last_error = None;
    for (i, pool) in attempts.iter().enumerate() {
        let last = i + 1 == attempts.len();
        if i > 0 {
            info.retries += 1;
            metrics().retries.with_label_values(&[&pool.name]).inc();
            backoff(&attempts[i - 1].retry, i).await;
        }
        let mut target = prepared.target.clone();
        target.pool = pool.clone();
        let fwd = Arc::new(Forward {
            kind,
            request_id: info.request_id.clone(),
            strip_usage: prepared.strip_usage,
            telemetry: Default::default(),
            target,
            path_and_query: path_and_query.clone(),
            body_len: prepared.body.len(),
            stream: prepared.stream,
            headers: headers.clone(),
            failure: Default::default(),
            timed_out: Default::default(),
            connect_failed: Default::default(),
            retry_on: if last {
                Vec::new()
            } else {
                pool.retry.on_status.clone()
            },
        });
        info.fwd = Some(fwd.clone());
        match handoff::forward(session, fwd, prepared.body.clone()).await {
            Outcome::Done => return Ok(()),
            Outcome::Failed(e) => return Err(e),
            Outcome::Broken { reason, error } => {
                info.broken = true;
                log::warn!("request {}: {reason}", info.request_id);
                end_broken(session, &error).await;
                return Ok(());
            }
            Outcome::Retry { reason, error } => {
                log::warn!(
                    "request {}: try {} on pool {} failed ({reason}){}",
                    info.request_id,
                    i + 1,
                    pool.name,
                    if last { "" } else { "; retrying" }
                );
                last_error = Some(error);
            }
        }
    }
    Err(last_error.unwrap_or(GatewayError::BadGateway {
        message: "The upstream could not be reached.".into(),
    }))
}

/// The pools to try in order: the routed pool `retry.attempts` times, then the route's
/// fallback pool once.
fn attempt_plan(target: &crate::config::Target) -> Vec<Arc<crate::upstream::Pool>> {
    let mut plan = vec![target.pool.clone(); target.pool.retry.attempts.max(1) as usize];
    if let Some(f) = &target.fallback {
        plan.push(f.clone());
    }
    plan
}

/// Exponential backoff with ±50% jitter (so synchronized clients do not retry in step).
async fn backoff(policy: &crate::config::file::RetrySection, attempt: usize) {
    let base = policy.backoff_ms.saturating_mul(1 << (attempt - 1).min(6));
    let jitter = 0.5 + rand::random::<f64>();
    tokio::time::sleep(std::time::Duration::from_millis(
        (base as f64 * jitter) as u64,
    ))
    .await;
}

/// A response is under way and cannot become an error status any more: end an SSE stream
/// with an explicit error event, and anything else by closing the connection, so the client
/// never takes a truncated answer for a complete one.
async fn end_broken(session: &mut Session, e: &GatewayError) {
    let sse = session
        .response_written()
        .and_then(|r| r.headers.get(http::header::CONTENT_TYPE))
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    if sse {
        let mut event = b"data: ".to_vec();
        event.extend_from_slice(&e.body());
        event.extend_from_slice(b"\n\n");
        if session
            .write_response_body(Some(Bytes::from(event)), true)
            .await
            .is_ok()
        {
            return; // the stream ended with proper framing: the connection stays usable
        }
    }
    session.set_keepalive(None);
    session.downstream_session.shutdown().await;
}
