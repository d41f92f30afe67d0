//! The end of a request: metrics, statistics per kind and key, and the JSON access-log line,
//! recorded once (by the parent; the child's run is part of it).

use crate::chat::cascade::Report;
use crate::config::Runtime;
use crate::observe::metrics::{metrics, status_class};
use crate::policy::auth::ApiKey;
use crate::protocol::Protocol;
use crate::proxy::handoff::Handoff;
use crate::request::kind::Kind;
use serde_json::json;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// What the parent learned about one request.
#[derive(Debug, Default)]
pub struct RequestInfo {
    pub request_id: String,
    pub kind: Option<Kind>,
    /// The protocol the client spoke.
    pub protocol: Protocol,
    /// Built-in tools removed from a translated request.
    pub dropped_tools: Vec<String>,
    pub key: Option<Arc<ApiKey>>,
    pub requested_model: Option<String>,
    pub bytes_in: u64,
    /// Time spent receiving the body (the client's upload, not the gateway's work).
    pub body_time: Duration,
    pub stream: bool,
    /// The response broke after it had started.
    pub broken: bool,
    pub rate_limited: bool,
    /// Tries after the first.
    pub retries: u32,
    pub cascade: Report,
    /// The prompt's size estimate (chat body bytes / 4): the spend of an answer whose usage
    /// never came.
    pub prompt_estimate: u64,
    /// The exact response cache: `Some(true)` answered from it, `Some(false)` a miss.
    pub cache_hit: Option<bool>,
    /// Set once the request was handed to the upstream (the last try).
    pub handoff: Option<Arc<Handoff>>,
}

impl RequestInfo {
    /// Tokens the answer used (prompt + completion) when the upstream said so.
    pub fn tokens_used(&self) -> Option<u64> {
        if self.cache_hit == Some(true) {
            return Some(0); // answered from the cache: the upstream did no work
        }
        let t = &self.handoff.as_ref()?.telemetry;
        let used =
            t.prompt_tokens.load(Ordering::Relaxed) + t.completion_tokens.load(Ordering::Relaxed);
        (used > 0).then_some(used)
    }
}

impl RequestInfo {
    /// What the answer cost (micro-dollars) by its route's `price`: from the usage the
    /// upstream reported, else (a stream cut early) from the prompt estimate and one token
    /// per streamed event, so a priced answer that reached the upstream never costs zero.
    pub fn spend_micros(&self) -> u64 {
        let Some(h) = self.handoff.as_ref() else {
            return 0;
        };
        let Some(price) = h.target.price else {
            return 0;
        };
        if self.cache_hit == Some(true) {
            return 0;
        }
        let t = &h.telemetry;
        let (prompt, completion) = (
            t.prompt_tokens.load(Ordering::Relaxed),
            t.completion_tokens.load(Ordering::Relaxed),
        );
        if prompt + completion > 0 {
            return price.micros(prompt, completion);
        }
        let streamed = t.events.load(Ordering::Relaxed);
        price.micros(self.prompt_estimate.max(1), streamed)
    }
}

/// Records one finished request.
pub fn finish(rt: &Runtime, info: &RequestInfo, status: u16, bytes_out: u64, total: Duration) {
    let Some(kind) = info.kind else {
        return; // local answers (/v1/models, 404s) are not traffic worth a series
    };
    let m = metrics();
    let k = kind.name();
    let ok = (200..400).contains(&status) && !info.broken;
    let model = info
        .requested_model
        .as_deref()
        .map_or("none", |m| rt.model_label(m));
    let class = if info.broken {
        "broken"
    } else {
        status_class(status)
    };
    m.requests
        .with_label_values(&[k, model, class, info.protocol.label()])
        .inc();
    m.duration
        .with_label_values(&[k])
        .observe(total.as_secs_f64());
    m.bytes.with_label_values(&[k, "in"]).inc_by(info.bytes_in);
    m.bytes.with_label_values(&[k, "out"]).inc_by(bytes_out);
    let stats = crate::observe::stats::global();
    stats
        .kind(kind)
        .record(ok, info.bytes_in, bytes_out, info.stream);
    if let Some(key) = info.key.as_ref() {
        key.stats.record(ok, info.bytes_in, bytes_out, info.stream);
    }
    let spend = info.spend_micros();
    if spend > 0 {
        let id = info.key.as_ref().map_or("anonymous", |k| k.id.as_str());
        m.spend
            .with_label_values(&[id, model])
            .inc_by(spend as f64 / 1e6);
        if let Some(key) = info.key.as_ref() {
            key.stats.add_spend(spend);
        }
    }
    if info.rate_limited {
        let id = info.key.as_ref().map_or("anonymous", |k| k.id.as_str());
        m.rate_limited.with_label_values(&[id]).inc();
    }
    let (mut upstream, mut ttfb, mut tokens) = (Duration::ZERO, None, (0, 0));
    if let Some(h) = info.handoff.as_ref() {
        let t = &h.telemetry;
        upstream = Duration::from_micros(t.upstream_us.load(Ordering::Relaxed));
        let ttfb_us = t.ttfb_us.load(Ordering::Relaxed);
        if ttfb_us > 0 {
            ttfb = Some(Duration::from_micros(ttfb_us));
            m.upstream_ttfb
                .with_label_values(&[k])
                .observe(ttfb_us as f64 / 1e6);
        }
        tokens = (
            t.prompt_tokens.load(Ordering::Relaxed),
            t.completion_tokens.load(Ordering::Relaxed),
        );
        if tokens.0 + tokens.1 > 0 {
            m.tokens.with_label_values(&[model, "in"]).inc_by(tokens.0);
            m.tokens.with_label_values(&[model, "out"]).inc_by(tokens.1);
        }
        let events = t.events.load(Ordering::Relaxed);
        if events > 0 {
            m.sse_events.with_label_values(&[model]).inc_by(events);
        }
        if info.stream {
            m.stream_duration
                .with_label_values(&[k])
                .observe(total.as_secs_f64());
        }
        let own = total
            .saturating_sub(upstream)
            .saturating_sub(info.body_time);
        m.overhead
            .with_label_values(&[k])
            .observe(own.as_secs_f64());
    }
    if rt.access_log {
        access_line(info, status, bytes_out, total, upstream, ttfb, tokens);
    }
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

fn access_line(
    info: &RequestInfo,
    status: u16,
    bytes_out: u64,
    total: Duration,
    upstream: Duration,
    ttfb: Option<Duration>,
    tokens: (u64, u64),
) {
    let sent = info.handoff.as_ref().map(|f| f.target.model.as_str());
    let line = json!({
        "request_id": info.request_id,
        "key_id": info.key.as_ref().map(|k| k.id.as_str()),
        "kind": info.kind.map(Kind::name),
        "protocol": info.protocol.label(),
        "model": info.requested_model,
        "model_sent": sent,
        "status": status,
        "broken": info.broken,
        "bytes_in": info.bytes_in,
        "bytes_out": bytes_out,
        "total_ms": ms(total),
        "upstream_ms": ms(upstream),
        "ttfb_ms": ttfb.map(ms),
        "tokens_in": tokens.0,
        "tokens_out": tokens.1,
        "images": info.cascade.images,
        "cache_hits": info.cascade.hits,
        "vision_calls": info.cascade.vision_calls,
        "retries": info.retries,
        "dropped_tools": info.dropped_tools,
        "cache": info.cache_hit.map(|h| if h { "hit" } else { "miss" }),
    });
    crate::observe::access_log::write(line.to_string());
}
