//! Sending a prepared request with retries: before any byte reached the client, a failed try
//! that [`UpstreamError::is_retryable`] (connect failure, no member, or a status in
//! `retry.on_status`, held back from the client) is repeated on the next healthy member of the
//! pool, then once on the route's fallback pool, with the same buffered body and exponential
//! backoff with jitter. After the first byte there is no retry: a broken response is ended
//! visibly. A client that went away is never retried for, not even during the backoff.

use super::client_watch::ClientWatch;
use super::handoff::{self, Deadlines, Handoff, UpstreamError};
use crate::core::error::GatewayError;
use crate::observe::metrics::metrics;
use crate::proxy::record::RequestInfo;
use crate::request::prepare::{Prepared, ReRender};
use crate::upstream::gate::{Pass, Refused, SlotStore};
use crate::upstream::route::Target;
use crate::upstream::settings::RetryPolicy;
use crate::upstream::Pool;
use bytes::Bytes;
use pingora::proxy::Session;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

/// What the parent hands to every try besides the prepared request.
pub struct Send {
    /// The conversation's hash, for a pool with member affinity (`pools.<name>.affinity`).
    pub affinity: Option<u64>,
    pub path_and_query: String,
    /// Response headers for the client (rate-limit state).
    pub headers: Vec<(&'static str, String)>,
    /// When the client's request began: `timeouts.total_ms` counts from here.
    pub started: Instant,
    /// The `traceparent` naming the gateway's upstream span (tracing on).
    pub traceparent: Option<String>,
    /// Where pools' concurrency slots are shared with other instances (Redis configured).
    pub slots: Option<Arc<dyn SlotStore>>,
}

/// Forwards `prepared`, retrying as configured; `Err` is an error to answer the client with.
pub async fn send<P>(
    via: &handoff::Via<'_, P>,
    session: &mut Session,
    info: &mut RequestInfo,
    mut prepared: Prepared,
    s: Send,
) -> Result<(), GatewayError>
where
    P: pingora::proxy::ProxyHttp + Sync,
    P::CTX: handoff::TryCtx,
{
    let attempts = attempt_plan(&prepared.target);
    let mut last_error = None;
    // The body to send, for as long as another try may need it: a try that starts streaming
    // its answer to the client takes it (a held stream does not keep the request body).
    let mut own = Body::new(std::mem::take(&mut prepared.body), &s.path_and_query);
    own.strip_usage = prepared.strip_usage;
    // A body rendered for a pool of another provider (a fallback), made when first needed.
    let mut other: Option<Body> = None;
    // A pool whose slots are all busy (it already waited its queue) is not tried again.
    let mut saturated: Option<&str> = None;
    for (i, pool) in attempts.iter().enumerate() {
        let last = i + 1 == attempts.len();
        if saturated == Some(pool.name.as_str()) {
            continue;
        }
        if i > 0 {
            info.retries += 1;
            metrics().retries.with_label_values(&[&pool.name]).inc();
            if !Box::pin(backoff(session, &attempts[i - 1].retry, i)).await {
                return client_gone(session, info);
            }
        }
        let body = match prepared.rerender.as_ref() {
            Some(r) if pool.provider.kind != prepared.target.pool.provider.kind => {
                match other_body(&mut other, r, pool, info) {
                    Some(b) => b,
                    None => continue,
                }
            }
            _ => &mut own,
        };
        if body.bytes.is_none() {
            break; // taken by a try whose answer reached the client: nothing to retry
        }
        // Held until the try's answer has ended (streams included).
        // A pool without a limit (the common case) costs no wait and no allocation here.
        let gated = pool.gate.is_some();
        let waited = if gated {
            Box::pin(slot(session, pool, s.slots.as_ref())).await
        } else {
            Slot::Held(None)
        };
        let _slot = match waited {
            Slot::Held(pass) => pass,
            Slot::ClientGone => return client_gone(session, info),
            Slot::Refused(e) if !last => {
                log::warn!("request {}: {e}", info.request_id);
                saturated = Some(pool.name.as_str());
                last_error = Some(e);
                continue;
            }
            Slot::Refused(e) => return Err(e.into()),
        };
        let h = Arc::new(handoff_for(&prepared, body, pool, info, (&s, last, i == 0)));
        info.handoff = Some(h.clone());
        let deadlines = deadlines(&pool.timeouts, s.started);
        let pipe = handoff::pipe(via, session, h, &mut body.bytes, deadlines);
        match Box::pin(pipe).await {
            Ok(()) => return Ok(()),
            Err(UpstreamError::ClientGone) => return client_gone(session, info),
            Err(e) if e.response_started() => {
                info.broken = true;
                log::warn!("request {}: {e}", info.request_id);
                Box::pin(end_broken(session, info, &GatewayError::from(e))).await;
                return Ok(());
            }
            Err(e) if e.is_retryable() && !last => {
                log::warn!(
                    "request {}: try {} on pool {} failed ({e}); retrying",
                    info.request_id,
                    i + 1,
                    pool.name
                );
                last_error = Some(e);
            }
            Err(e) => {
                log::warn!("request {}: try {} failed ({e})", info.request_id, i + 1);
                return Err(e.into());
            }
        }
    }
    Err(last_error.map_or_else(
        || GatewayError::BadGateway {
            message: "The upstream could not be reached.".into(),
        },
        GatewayError::from,
    ))
}

/// A try's slot of its pool's concurrency limit.
enum Slot {
    Held(Option<Pass>),
    Refused(UpstreamError),
    ClientGone,
}

/// Waits for a slot of `pool`'s `max_concurrency` (none to wait for without one), as long
/// as the client is there.
async fn slot(session: &Session, pool: &Pool, shared: Option<&Arc<dyn SlotStore>>) -> Slot {
    let Some(gate) = pool.gate.as_ref() else {
        return Slot::Held(None);
    };
    if let Some(store) = shared {
        gate.share(store.clone());
    }
    let client = ClientWatch::new(session);
    let entered = tokio::select! {
        r = gate.enter() => r,
        _ = client.gone() => return Slot::ClientGone,
    };
    match entered {
        Ok(pass) => Slot::Held(Some(pass)),
        Err(why) => {
            let reason = match why {
                Refused::QueueFull => "queue_full",
                Refused::Deadline => "deadline",
            };
            metrics()
                .pool_saturated
                .with_label_values(&[&pool.name, reason])
                .inc();
            Slot::Refused(UpstreamError::Saturated {
                pool: pool.name.clone(),
                limit: gate.settings.limit,
                retry_after_s: gate.settings.wait.as_secs().clamp(1, 30),
            })
        }
    }
}

/// What one provider's tries send: the body (taken by a try whose answer reaches the client),
/// its path and whether the usage-only chunk is removed.
struct Body {
    bytes: Option<Bytes>,
    len: usize,
    path_and_query: String,
    strip_usage: bool,
}

impl Body {
    fn new(bytes: Bytes, path_and_query: &str) -> Body {
        Body {
            len: bytes.len(),
            bytes: Some(bytes),
            path_and_query: path_and_query.to_string(),
            strip_usage: false,
        }
    }
}

/// The body for a try on `pool`, a pool of another provider than the route's: rendered from
/// the kept chat request once. `None` (logged) when this provider cannot take the request:
/// the try is skipped and the client gets the previous try's error.
fn other_body<'a>(
    other: &'a mut Option<Body>,
    r: &ReRender,
    pool: &Pool,
    info: &RequestInfo,
) -> Option<&'a mut Body> {
    if other.is_none() {
        match r.render(pool) {
            Ok((rendered, strip)) => {
                let mut b = Body::new(rendered.body, &rendered.path);
                b.strip_usage = strip;
                *other = Some(b);
            }
            Err(e) => {
                log::warn!(
                    "request {}: pool {} cannot take this request: {}",
                    info.request_id,
                    pool.name,
                    e.message()
                );
                return None;
            }
        }
    }
    other.as_mut()
}

fn client_gone(session: &mut Session, info: &mut RequestInfo) -> Result<(), GatewayError> {
    // Whatever was or was not written, this connection cannot carry another request.
    session.set_keepalive(None);
    info.broken = true;
    log::info!("request {}: {}", info.request_id, UpstreamError::ClientGone);
    Ok(())
}

/// The handoff for one try on `pool`.
fn handoff_for(
    p: &Prepared,
    body: &Body,
    pool: &Arc<Pool>,
    info: &RequestInfo,
    (s, last, first): (&Send, bool, bool),
) -> Handoff {
    let mut target = p.target.clone();
    target.pool = pool.clone();
    Handoff {
        kind: p.kind,
        request_id: info.request_id.clone(),
        strip_usage: body.strip_usage,
        telemetry: Default::default(),
        target,
        path_and_query: body.path_and_query.clone(),
        body_len: body.len,
        stream: p.stream,
        headers: s.headers.clone(),
        failure: Default::default(),
        retry_on: if last {
            Vec::new()
        } else {
            pool.retry.on_status.clone()
        },
        translation: p.translation.clone(),
        cache: p.cache.clone(),
        traceparent: s.traceparent.clone(),
        member: OnceLock::new(),
        translator: Default::default(),
        expect: if p.native {
            super::expect::Expect::native(pool.provider.kind, p.stream)
        } else {
            super::expect::Expect::for_request(p.kind, p.stream)
        },
        native: p.native,
        // A retry leaves the conversation's member: it may be the one that failed.
        affinity: s.affinity.filter(|_| first),
        invalid: Default::default(),
        unchecked: Default::default(),
    }
}

fn deadlines(t: &crate::upstream::settings::Timeouts, started: Instant) -> Deadlines {
    Deadlines {
        first_byte: t.first_byte,
        idle: t.idle,
        total: t.total.map(|total| (total, started + total)),
    }
}

/// The pools to try in order: the routed pool `retry.attempts` times, then the route's
/// fallback pool once.
fn attempt_plan(target: &Target) -> Vec<Arc<Pool>> {
    let mut plan = vec![target.pool.clone(); target.pool.retry.attempts.max(1) as usize];
    if let Some(f) = &target.fallback {
        plan.push(f.clone());
    }
    plan
}

/// Exponential backoff with ±50% jitter (so synchronized clients do not retry in step).
/// Returns false when the client went away meanwhile: there is nobody left to retry for.
async fn backoff(session: &Session, policy: &RetryPolicy, attempt: usize) -> bool {
    let base = policy.backoff.saturating_mul(1 << (attempt - 1).min(6));
    let wait = base.mul_f64(0.5 + rand::random::<f64>());
    if wait.is_zero() {
        return true;
    }
    let client = ClientWatch::new(session);
    tokio::select! {
        _ = tokio::time::sleep(wait) => true,
        _ = client.gone() => false,
    }
}

/// A response is under way and cannot become an error status any more: end it with the
/// client protocol's error event (SSE), or by closing the connection, so the client never
/// takes a truncated answer for a complete one.
async fn end_broken(session: &mut Session, info: &RequestInfo, e: &GatewayError) {
    let sse = session
        .response_written()
        .is_some_and(|r| super::scan::is_sse(&r.headers));
    if sse {
        let event = match info
            .handoff
            .as_ref()
            .and_then(|h| h.fail_translated(&e.message()))
        {
            Some(bytes) => bytes,
            None => [b"data: ".as_slice(), &e.body(), b"\n\n"].concat(),
        };
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
