//! Every Prometheus metric of the gateway, declared in one place with its help text.
//! Labels stay bounded: `model` is a configured model name or `other`, `key` a configured key
//! id (or `anonymous`), never a key.

use prometheus::{
    exponential_buckets, CounterVec, Encoder, HistogramOpts, HistogramVec, IntCounter,
    IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};
use std::sync::OnceLock;

pub struct Metrics {
    pub registry: Registry,
    pub requests: IntCounterVec,
    pub duration: HistogramVec,
    pub upstream_ttfb: HistogramVec,
    pub overhead: HistogramVec,
    pub sse_events: IntCounterVec,
    pub stream_duration: HistogramVec,
    pub tokens: IntCounterVec,
    pub cached_tokens: IntCounterVec,
    pub vision_calls: IntCounterVec,
    pub vision_duration: HistogramVec,
    pub vision_queue: HistogramVec,
    pub redis_up: IntGauge,
    pub redis_errors: IntCounter,
    pub redis_fallbacks: IntCounterVec,
    pub redis_seconds: HistogramVec,
    pub cascade_l2: IntCounterVec,
    pub response_cache: IntCounterVec,
    pub spend: CounterVec,
    pub team_spend: CounterVec,
    pub trace_spans_dropped: IntCounter,
    pub rate_limited: IntCounterVec,
    pub in_flight: IntGauge,
    pub upstream_healthy: IntGaugeVec,
    pub bytes: IntCounterVec,
    pub cascade_cache: IntGaugeVec,
    pub retries: IntCounterVec,
    pub alerts_firing: IntGaugeVec,
    pub draining: IntGauge,
    pub access_log_dropped: IntCounter,
    pub finish_reason_rewrites: IntCounterVec,
    pub fix_rewrites: IntCounterVec,
    pub pool_slots: IntGaugeVec,
    pub image_jobs: IntGaugeVec,
    pub cascade_warm: IntCounterVec,
    pub cascade_warm_pending: IntGauge,
    pub image_jobs_total: IntCounterVec,
    pub pool_saturated: IntCounterVec,
    pub stage_seconds: HistogramVec,
    pub stage_decisions: IntCounterVec,
}

fn hist(name: &str, help: &str, labels: &[&str], buckets: Vec<f64>) -> HistogramVec {
    HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets), labels)
        .unwrap_or_else(|e| panic!("metric {name}: {e}"))
}

fn counter(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help), labels)
        .unwrap_or_else(|e| panic!("metric {name}: {e}"))
}

fn gauge_vec(name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    IntGaugeVec::new(Opts::new(name, help), labels).unwrap_or_else(|e| panic!("metric {name}: {e}"))
}

impl Metrics {
    /// Declares and registers everything (start-up only: a bad declaration is a bug, so it
    /// panics at the first scrape or request in tests rather than at runtime in production).
    fn new() -> Metrics {
        // 100 µs … ~100 s for requests; 10 µs … ~10 ms for the gateway's own overhead.
        let secs = exponential_buckets(0.0001, 2.5, 16).unwrap_or_default();
        let fine = exponential_buckets(0.00001, 2.0, 14).unwrap_or_default();
        let m = Metrics {
            registry: Registry::new(),
            requests: counter("llm_relay_requests_total", "Requests by kind, model, status class and the protocol the client spoke (chat, responses, messages, completions).", &["kind", "model", "status", "protocol"]),
            duration: hist("llm_relay_request_duration_seconds", "Whole request duration, first byte of the request to the last byte of the response.", &["kind"], secs.clone()),
            upstream_ttfb: hist("llm_relay_upstream_ttfb_seconds", "Upstream time to first byte (request sent to response header).", &["kind"], secs.clone()),
            overhead: hist("llm_relay_overhead_seconds", "Time the gateway itself spent: total minus body upload and upstream time.", &["kind"], fine),
            sse_events: counter("llm_relay_sse_events_total", "SSE events forwarded.", &["model"]),
            stream_duration: hist("llm_relay_stream_duration_seconds", "Duration of streamed responses.", &["kind"], secs.clone()),
            tokens: counter("llm_relay_tokens_total", "Tokens by model and direction (in = prompt, out = completion), from usage.", &["model", "direction"]),
            cached_tokens: counter("llm_relay_cached_tokens_total", "Prompt tokens the provider's prompt cache served (type=read) or stored (type=write), by model, from usage; part of llm_relay_tokens_total{direction=\"in\"}.", &["model", "type"]),
            vision_calls: counter("llm_relay_vision_calls_total", "Cascade vision calls by result.", &["result"]),
            vision_duration: hist("llm_relay_vision_call_seconds", "Cascade vision call latency.", &[], secs.clone()),
            redis_up: IntGauge::new("llm_relay_redis_up", "1 while the shared Redis answers (0 when down or not configured).").unwrap_or_else(|e| panic!("metric: {e}")),
            redis_errors: IntCounter::new("llm_relay_redis_errors_total", "Redis calls that failed or timed out.").unwrap_or_else(|e| panic!("metric: {e}")),
            redis_fallbacks: counter("llm_relay_redis_fallbacks_total", "Shared-state operations that fell back to this instance (Redis down or failing), by operation.", &["op"]),
            redis_seconds: hist("llm_relay_redis_seconds", "Redis round-trip time by operation.", &["op"], exponential_buckets(0.00005, 2.0, 14).unwrap_or_default()),
            trace_spans_dropped: IntCounter::new("llm_relay_trace_spans_dropped_total", "Trace spans lost because the OTLP collector did not take them.").unwrap_or_else(|e| panic!("metric: {e}")),
            spend: CounterVec::new(Opts::new("llm_relay_spend_usd_total", "Spend in US dollars by key and model (routes with a price): a config-file key by its id, a key managed at run time as `managed:TEAM` (or `managed`), so the series stay bounded."), &["key", "model"]).unwrap_or_else(|e| panic!("metric: {e}")),
            team_spend: CounterVec::new(Opts::new("llm_relay_team_spend_usd_total", "Spend in US dollars by team (keys managed at run time)."), &["team"]).unwrap_or_else(|e| panic!("metric: {e}")),
            response_cache: counter("llm_relay_response_cache_total", "The exact response cache: hit, miss, store.", &["result"]),
            cascade_l2: counter("llm_relay_cascade_l2_total", "The cascade's shared (Redis) cache: hit, miss (this instance describes), join (waited for another instance).", &["result"]),
            vision_queue: hist("llm_relay_vision_queue_seconds", "Time a vision call waited for a free slot of cascade.max_global_parallel.", &[], secs),
            rate_limited: counter("llm_relay_rate_limited_total", "Requests refused by a rate or concurrency limit, by key (labelled as llm_relay_spend_usd_total's).", &["key"]),
            in_flight: IntGauge::new("llm_relay_requests_in_flight", "Requests being served.").unwrap_or_else(|e| panic!("{e}")),
            upstream_healthy: gauge_vec("llm_relay_upstream_healthy", "1 when an upstream member passes its health checks.", &["pool", "member"]),
            bytes: counter("llm_relay_bytes_total", "Body bytes by kind and direction (in = from clients, out = to clients).", &["kind", "direction"]),
            cascade_cache: gauge_vec("llm_relay_cascade_cache", "Image-description cache: hits, misses, evictions, joins (single-flight), expired (counts since start), entries and bytes (current).", &["stat"]),
            retries: counter("llm_relay_upstream_retries_total", "Retried upstream attempts by pool.", &["pool"]),
            alerts_firing: gauge_vec("llm_relay_alert_firing", "1 while an alert rule fires.", &["rule"]),
            draining: IntGauge::new("llm_relay_draining", "1 while the process drains before exit or upgrade.").unwrap_or_else(|e| panic!("{e}")),
            access_log_dropped: IntCounter::new("llm_relay_access_log_dropped_total", "Access-log lines dropped because the writer thread fell behind (or could not start).").unwrap_or_else(|e| panic!("{e}")),
            finish_reason_rewrites: counter("llm_relay_finish_reason_rewrites_total", "Upstream finish_reason values rewritten for strict clients (hunyuan profile), by the upstream's value.", &["reason"]),
            cascade_warm: counter("llm_relay_cascade_warm_total", "Images described ahead of time (POST /admin/cascade/warm), by result: described, cached, failed.", &["result"]),
            cascade_warm_pending: IntGauge::new("llm_relay_cascade_warm_pending", "Images of warm-up calls not yet described.").unwrap_or_else(|e| panic!("{e}")),
            image_jobs: gauge_vec("llm_relay_image_jobs", "Image generation jobs the gateway is driving on a provider (hunyuan_native pools), by pool.", &["pool"]),
            image_jobs_total: counter("llm_relay_image_jobs_total", "Image generation jobs ended, by pool and result: done, failed, client_gone.", &["pool", "result"]),
            pool_slots: gauge_vec("llm_relay_pool_slots", "A pool's concurrency slots (pools.<name>.max_concurrency) on this instance: held, waiting.", &["pool", "state"]),
            pool_saturated: counter("llm_relay_pool_saturated_total", "Tries refused a slot of their pool's max_concurrency, by reason: queue_full, deadline.", &["pool", "reason"]),
            stage_seconds: hist("llm_relay_stage_seconds", "Time a configured stage of the pipeline took per request (or per answer), by stage and phase.", &["stage", "phase"], exponential_buckets(0.000005, 2.5, 16).unwrap_or_default()),
            stage_decisions: counter("llm_relay_stage_decisions_total", "Decisions of configured stages, by stage, phase and decision: pass, modify, refuse, error (the stage could not decide; its on_error applied).", &["stage", "phase", "decision"]),
            fix_rewrites: counter("llm_relay_fix_rewrites_total", "Requests a message-fixing rule changed (hunyuan profile), by rule: client habits the provider would have refused.", &["rule"]),
        };
        let r = &m.registry;
        let all: Vec<Box<dyn prometheus::core::Collector>> = vec![
            Box::new(m.requests.clone()),
            Box::new(m.duration.clone()),
            Box::new(m.upstream_ttfb.clone()),
            Box::new(m.overhead.clone()),
            Box::new(m.sse_events.clone()),
            Box::new(m.stream_duration.clone()),
            Box::new(m.tokens.clone()),
            Box::new(m.cached_tokens.clone()),
            Box::new(m.vision_calls.clone()),
            Box::new(m.vision_duration.clone()),
            Box::new(m.vision_queue.clone()),
            Box::new(m.redis_up.clone()),
            Box::new(m.redis_errors.clone()),
            Box::new(m.redis_fallbacks.clone()),
            Box::new(m.redis_seconds.clone()),
            Box::new(m.cascade_l2.clone()),
            Box::new(m.response_cache.clone()),
            Box::new(m.spend.clone()),
            Box::new(m.team_spend.clone()),
            Box::new(m.trace_spans_dropped.clone()),
            Box::new(m.rate_limited.clone()),
            Box::new(m.in_flight.clone()),
            Box::new(m.upstream_healthy.clone()),
            Box::new(m.bytes.clone()),
            Box::new(m.cascade_cache.clone()),
            Box::new(m.retries.clone()),
            Box::new(m.alerts_firing.clone()),
            Box::new(m.draining.clone()),
            Box::new(m.access_log_dropped.clone()),
            Box::new(m.finish_reason_rewrites.clone()),
            Box::new(m.fix_rewrites.clone()),
            Box::new(m.pool_slots.clone()),
            Box::new(m.image_jobs.clone()),
            Box::new(m.cascade_warm.clone()),
            Box::new(m.cascade_warm_pending.clone()),
            Box::new(m.image_jobs_total.clone()),
            Box::new(m.pool_saturated.clone()),
            Box::new(m.stage_seconds.clone()),
            Box::new(m.stage_decisions.clone()),
        ];
        for c in all {
            if let Err(e) = r.register(c) {
                panic!("registering a metric: {e}");
            }
        }
        // Series with fixed labels exist from the start, so dashboards and rate() see zeros
        // rather than gaps.
        for result in ["ok", "error"] {
            m.vision_calls.with_label_values(&[result]);
        }
        m.vision_duration.with_label_values::<&str>(&[]);
        m.vision_queue.with_label_values::<&str>(&[]);
        m.rate_limited.with_label_values(&["anonymous"]);
        m.finish_reason_rewrites.with_label_values(&["sensitive"]);
        for rule in crate::chat::fix::RULES {
            m.fix_rewrites.with_label_values(&[rule]);
        }
        m
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 * 1024);
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            log::warn!("encoding metrics: {e}");
        }
        out
    }
}

/// The process-wide metrics.
pub fn metrics() -> &'static Metrics {
    static M: OnceLock<Metrics> = OnceLock::new();
    M.get_or_init(Metrics::new)
}

/// `1xx`…`5xx`, or `error` when no response was written.
pub fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "error",
    }
}
