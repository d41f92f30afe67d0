//! The end of a request: metrics, statistics per kind and key, and the JSON access-log line,
//! recorded once per request (its tries are part of it).

use crate::cascade::Report;
use crate::core::kind::Kind;
use crate::core::protocol::Protocol;
use crate::core::usage::Usage;
use crate::observe::metrics::{metrics, status_class};
use crate::policy::auth::ApiKey;
use crate::proxy::handoff::Handoff;
use crate::runtime::Runtime;
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
    /// When the body read began.
    pub body_started: Option<std::time::Instant>,
    pub stream: bool,
    /// The response broke after it had started.
    pub broken: bool,
    pub rate_limited: bool,
    /// Tries after the first.
    pub retries: u32,
    pub cascade: Report,
    /// The request's trace (tracing on).
    pub trace: Option<crate::observe::trace::TraceCtx>,
    /// The wall-clock time the request began (span times).
    pub started_wall: Option<std::time::SystemTime>,
    pub method: String,
    pub path: String,
    /// When message fixing ran and how long it took.
    pub fixed: Option<(std::time::Instant, Duration)>,
    /// The upstream span: its id (sent as `traceparent`) and when the exchange began.
    pub upstream_span: Option<(opentelemetry::trace::SpanId, std::time::Instant)>,
    /// The prompt's size estimate (chat body bytes / 4): the spend of an answer whose usage
    /// never came.
    pub prompt_estimate: u64,
    /// The exact response cache: `Some(true)` answered from it, `Some(false)` a miss.
    pub cache_hit: Option<bool>,
    /// Set once the request was handed to the upstream (the last try).
    pub handoff: Option<Arc<Handoff>>,
    /// The configured stages that changed the request.
    pub stages: Vec<Arc<str>>,
    /// The stage that refused the request.
    pub refused_by: Option<Arc<str>>,
}

impl RequestInfo {
    /// Tokens the answer used (prompt + completion) when the upstream said so.
    pub fn tokens_used(&self) -> Option<u64> {
        if self.cache_hit == Some(true) {
            return Some(0); // answered from the cache: the upstream did no work
        }
        // Saturating: the counts are the upstream's word (u64::MAX overflowed; the fuzzer).
        let used = self.handoff.as_ref()?.telemetry.usage().total();
        (used > 0).then_some(used)
    }
}

impl RequestInfo {
    /// What the answer cost (micro-dollars) by its route's `price`: from the usage the
    /// upstream reported (cache reads and writes at their own prices), else (a stream cut early) from the prompt estimate and one token
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
        let usage = t.usage();
        if usage.total() > 0 {
            return price.micros_of(&usage);
        }
        let streamed = t.events.load(Ordering::Relaxed);
        price.micros(self.prompt_estimate.max(1), streamed)
    }
}

/// Records one finished request.
pub fn finish(rt: &Runtime, info: &RequestInfo, status: u16, bytes_out: u64, total: Duration) {
    let m = metrics();
    // Counted before the kind is known: admission refuses before the body is read.
    if info.rate_limited {
        let label = info.key.as_ref().map_or("anonymous", |k| k.label.as_str());
        m.rate_limited.with_label_values(&[label]).inc();
    }
    let Some(kind) = info.kind else {
        return; // local answers (/v1/models, 404s) are not traffic worth a series
    };
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
        let label = info.key.as_ref().map_or("anonymous", |k| k.label.as_str());
        m.spend
            .with_label_values(&[label, model])
            .inc_by(spend as f64 / 1e6);
        if let Some(key) = info.key.as_ref() {
            key.stats.add_spend(spend);
            let team = key.team.as_ref().map(|t| t.id.as_str());
            if let Some(team) = team {
                m.team_spend
                    .with_label_values(&[team])
                    .inc_by(spend as f64 / 1e6);
            }
            crate::policy::managed::spend::ledger().add(&key.id, team, spend);
        }
    }
    let (mut upstream, mut ttfb, mut tokens) = (Duration::ZERO, None, Usage::default());
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
        tokens = t.usage();
        if tokens.total() > 0 {
            record_tokens(info, kind, model, &tokens);
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
    if let Some(t) = info.trace.as_ref() {
        crate::observe::trace::emit(t, spans(info, status, total, tokens));
    }
    if rt.access_log {
        access_line(info, status, bytes_out, total, upstream, ttfb, tokens);
    }
}

/// Tokens of an answer: `llm_relay_tokens_total` (in, out), `llm_relay_cached_tokens_total`
/// (read, write; series only once a provider reported cache use), and the statistics of the
/// kind and of the key.
fn record_tokens(info: &RequestInfo, kind: Kind, model: &str, u: &Usage) {
    let m = metrics();
    m.tokens.with_label_values(&[model, "in"]).inc_by(u.prompt);
    m.tokens
        .with_label_values(&[model, "out"])
        .inc_by(u.completion);
    if u.cached > 0 {
        m.cached_tokens
            .with_label_values(&[model, "read"])
            .inc_by(u.cached);
    }
    if u.cache_write > 0 {
        m.cached_tokens
            .with_label_values(&[model, "write"])
            .inc_by(u.cache_write);
    }
    crate::observe::stats::global().kind(kind).add_tokens(u);
    if let Some(key) = info.key.as_ref() {
        key.stats.add_tokens(u);
    }
}

/// The span tree of one request, from the timings it recorded: the request (server) span with
/// the body read, fixing, the cascade (a child per image) and the upstream exchange (client).
fn spans(
    info: &RequestInfo,
    status: u16,
    total: Duration,
    tokens: Usage,
) -> Vec<crate::observe::trace::SpanRecord> {
    use crate::observe::trace::SpanRecord;
    use opentelemetry::trace::SpanKind;
    use opentelemetry::KeyValue;
    let (Some(t), Some(wall)) = (info.trace.as_ref(), info.started_wall) else {
        return Vec::new();
    };
    let end = wall + total;
    // Instants → wall time, relative to the request's start.
    let t0 = std::time::Instant::now() - total;
    let at = |i: std::time::Instant| wall + i.saturating_duration_since(t0);
    let op = match info.kind {
        Some(Kind::Chat) => "chat",
        Some(Kind::Embeddings) => "embeddings",
        Some(k) => k.name(),
        None => "other",
    };
    let model = info.requested_model.clone().unwrap_or_default();
    let mut attrs = vec![
        KeyValue::new("http.request.method", info.method.clone()),
        KeyValue::new("url.path", info.path.clone()),
        KeyValue::new("http.response.status_code", i64::from(status)),
        KeyValue::new("gen_ai.operation.name", op),
        KeyValue::new("llm_relay.protocol", info.protocol.label()),
        KeyValue::new("llm_relay.request_id", info.request_id.clone()),
    ];
    if !model.is_empty() {
        attrs.push(KeyValue::new("gen_ai.request.model", model.clone()));
    }
    if let Some(h) = info.handoff.as_ref() {
        attrs.push(KeyValue::new(
            "gen_ai.response.model",
            h.target.model.clone(),
        ));
        attrs.push(KeyValue::new("gen_ai.system", h.target.pool.name.clone()));
    }
    if tokens.total() > 0 {
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        attrs.push(KeyValue::new("gen_ai.usage.input_tokens", n(tokens.prompt)));
        attrs.push(KeyValue::new(
            "gen_ai.usage.output_tokens",
            n(tokens.completion),
        ));
        if tokens.cached > 0 {
            attrs.push(KeyValue::new(
                "gen_ai.usage.cache_read.input_tokens",
                n(tokens.cached),
            ));
        }
        if tokens.cache_write > 0 {
            attrs.push(KeyValue::new(
                "gen_ai.usage.cache_creation.input_tokens",
                n(tokens.cache_write),
            ));
        }
    }
    if let Some(k) = info.key.as_ref() {
        attrs.push(KeyValue::new("llm_relay.key_id", k.id.clone()));
    }
    let name = if model.is_empty() {
        op.to_string()
    } else {
        format!("{op} {model}")
    };
    let mut out = vec![SpanRecord {
        id: t.request_span,
        parent: t.parent,
        name,
        kind: SpanKind::Server,
        start: wall,
        end,
        attributes: attrs,
    }];
    let child = |id, name: &str, start, end, attributes| SpanRecord {
        id,
        parent: Some(t.request_span),
        name: name.to_string(),
        kind: SpanKind::Internal,
        start,
        end,
        attributes,
    };
    let new_id = crate::observe::trace::new_span_id;
    if info.body_time > Duration::ZERO {
        let start = at(info.body_started.unwrap_or(t0));
        let attrs = vec![KeyValue::new(
            "http.request.body.size",
            info.bytes_in as i64,
        )];
        out.push(child(
            new_id(),
            "read body",
            start,
            start + info.body_time,
            attrs,
        ));
    }
    if let Some((started, took)) = info.fixed {
        out.push(child(
            new_id(),
            "fix messages",
            at(started),
            at(started) + took,
            vec![],
        ));
    }
    if let Some((started, took)) = info.cascade.took {
        let cascade = new_id();
        let attrs = vec![KeyValue::new(
            "llm_relay.cascade.images",
            info.cascade.images as i64,
        )];
        out.push(child(
            cascade,
            "cascade",
            at(started),
            at(started) + took,
            attrs,
        ));
        for c in &info.cascade.calls {
            let mut s = child(
                c.span,
                "vision",
                at(c.started),
                at(c.started) + c.took,
                vec![
                    KeyValue::new("llm_relay.cache", c.cache),
                    KeyValue::new("gen_ai.operation.name", "chat"),
                ],
            );
            s.parent = Some(cascade);
            s.kind = SpanKind::Client;
            out.push(s);
        }
    }
    if let (Some((span, started)), Some(h)) = (info.upstream_span, info.handoff.as_ref()) {
        let tel = &h.telemetry;
        let mut attrs = vec![
            KeyValue::new("llm_relay.pool", h.target.pool.name.clone()),
            KeyValue::new("llm_relay.retries", i64::from(info.retries)),
            KeyValue::new(
                "http.response.status_code",
                i64::from(tel.status.load(Ordering::Relaxed)),
            ),
        ];
        let ttfb = tel.ttfb_us.load(Ordering::Relaxed);
        if ttfb > 0 {
            attrs.push(KeyValue::new("llm_relay.ttfb_ms", ttfb as f64 / 1e3));
        }
        if let Some(m) = h.member.get() {
            attrs.push(KeyValue::new("server.address", m.clone()));
        }
        let mut s = child(span, "upstream", at(started), end, attrs);
        s.kind = SpanKind::Client;
        out.push(s);
    }
    out
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// One access-log line: serialised straight from borrowed fields (a `json!` map cost a String
/// and a tree node per field on every request).
#[derive(serde::Serialize)]
struct AccessLine<'a> {
    request_id: &'a str,
    key_id: Option<&'a str>,
    kind: Option<&'static str>,
    protocol: &'static str,
    model: Option<&'a str>,
    model_sent: Option<&'a str>,
    status: u16,
    broken: bool,
    bytes_in: u64,
    bytes_out: u64,
    total_ms: f64,
    upstream_ms: f64,
    ttfb_ms: Option<f64>,
    tokens_in: u64,
    tokens_out: u64,
    /// Input tokens read from the provider's prompt cache (part of `tokens_in`).
    cached_tokens: u64,
    /// Input tokens written to the provider's prompt cache (part of `tokens_in`).
    cache_write_tokens: u64,
    images: usize,
    cache_hits: usize,
    vision_calls: usize,
    retries: u32,
    dropped_tools: &'a [String],
    cache: Option<&'static str>,
    /// The provider's own request id, when its answer names one (Tencent Cloud's `RequestId`).
    #[serde(skip_serializing_if = "Option::is_none")]
    upstream_request_id: Option<&'a str>,
    /// The configured stages that changed the request, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    stages: Vec<&'a str>,
    /// The configured stage that refused the request.
    #[serde(skip_serializing_if = "Option::is_none")]
    refused_by: Option<&'a str>,
}

fn access_line(
    info: &RequestInfo,
    status: u16,
    bytes_out: u64,
    total: Duration,
    upstream: Duration,
    ttfb: Option<Duration>,
    tokens: Usage,
) {
    let line = AccessLine {
        request_id: &info.request_id,
        key_id: info.key.as_ref().map(|k| k.id.as_str()),
        kind: info.kind.map(Kind::name),
        protocol: info.protocol.label(),
        model: info.requested_model.as_deref(),
        model_sent: info.handoff.as_ref().map(|f| f.target.model.as_str()),
        status,
        broken: info.broken,
        bytes_in: info.bytes_in,
        bytes_out,
        total_ms: ms(total),
        upstream_ms: ms(upstream),
        ttfb_ms: ttfb.map(ms),
        tokens_in: tokens.prompt,
        tokens_out: tokens.completion,
        cached_tokens: tokens.cached,
        cache_write_tokens: tokens.cache_write,
        images: info.cascade.images,
        cache_hits: info.cascade.hits,
        vision_calls: info.cascade.vision_calls,
        retries: info.retries,
        dropped_tools: &info.dropped_tools,
        cache: info.cache_hit.map(|h| if h { "hit" } else { "miss" }),
        upstream_request_id: info
            .handoff
            .as_ref()
            .and_then(|h| h.telemetry.upstream_request_id.get())
            .map(String::as_str),
        stages: info.stages.iter().map(|s| &**s).collect(),
        refused_by: info.refused_by.as_deref(),
    };
    if let Ok(line) = serde_json::to_string(&line) {
        crate::observe::access_log::write(line);
    }
}
