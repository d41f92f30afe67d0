//! OpenTelemetry traces (`telemetry.otlp`, off by default): one span tree per sampled request,
//! exported over OTLP http/protobuf by the SDK's batch processor on its own thread, off the
//! request path.
//!
//! The ids are decided when the request starts: the client's W3C `traceparent` is continued
//! (its sampled flag decides) or a trace is started (sampled at `sampling_ratio`), and the
//! spans the gateway sends as parents — the upstream exchange's, each vision call's — get
//! their ids before the call, so the `traceparent` sent upstream names them. The spans
//! themselves are built when the request has ended, from the timings the gateway records
//! anyway, with those ids: nothing about a span is kept on the hot path, and when tracing is
//! off a request pays one `Option` check.
//!
//! Attributes follow OpenTelemetry's GenAI and HTTP conventions; never a prompt, never a key
//! (key ids only). A collector that is down costs nothing but the dropped spans, which are
//! counted (`llm_relay_trace_spans_dropped_total`).

use crate::config::error::ConfigError;
use crate::config::file::OtlpSection;
use crate::observe::metrics::metrics;
use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, TraceContextExt, TraceFlags, TraceId, TraceState, Tracer,
    TracerProvider,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, IdGenerator, SdkTracer, SdkTracerProvider, SpanData,
    SpanExporter,
};
use std::cell::Cell;
use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

/// Validated `telemetry.otlp`.
#[derive(Clone)]
pub struct OtlpSettings {
    pub endpoint: String,
    /// `headers` and `headers_env` merged; the standard `OTEL_EXPORTER_OTLP_TRACES_HEADERS` /
    /// `OTEL_EXPORTER_OTLP_HEADERS` are added over them by the exporter itself.
    pub headers: HashMap<String, String>,
    pub sampling_ratio: f64,
    pub service_name: String,
}

/// Header names only: the values are a collector's credentials.
impl std::fmt::Debug for OtlpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&str> = self.headers.keys().map(String::as_str).collect();
        names.sort_unstable();
        f.debug_struct("OtlpSettings")
            .field("endpoint", &self.endpoint)
            .field("headers", &names)
            .field("sampling_ratio", &self.sampling_ratio)
            .field("service_name", &self.service_name)
            .finish()
    }
}

/// The standard variables the exporter reads (the signal's first), `name=value,...` with
/// values percent-encoded.
const STANDARD_HEADER_VARS: [&str; 2] = [
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
    "OTEL_EXPORTER_OTLP_HEADERS",
];

/// Checks a header for the collector; errors name the header, never the value.
fn check_header(path: &str, name: &str, value: &str) -> Result<(), ConfigError> {
    if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
        return Err(ConfigError::at(
            path,
            format!("`{name}` is not a header name"),
        ));
    }
    if value.is_empty() || http::HeaderValue::from_str(value).is_err() {
        return Err(ConfigError::at(
            path,
            format!("the value of `{name}` is empty or not a valid header value"),
        ));
    }
    Ok(())
}

/// `headers` and `headers_env` merged and checked (the exporter would drop a bad header
/// silently). The standard variables are checked too: the exporter reads them itself.
fn collector_headers(o: &OtlpSection) -> Result<HashMap<String, String>, ConfigError> {
    let mut out = HashMap::new();
    for (name, value) in &o.headers {
        check_header(&format!("headers.{name}"), name, value)?;
        out.insert(name.to_ascii_lowercase(), value.clone());
    }
    for (name, var) in &o.headers_env {
        let path = format!("headers_env.{name}");
        let value = std::env::var(var).map_err(|_| {
            ConfigError::at(&path, format!("environment variable {var} is not set"))
        })?;
        check_header(&path, name, value.trim()).map_err(|_| {
            ConfigError::at(
                &path,
                format!("environment variable {var} is empty or not a valid header value"),
            )
        })?;
        if out
            .insert(name.to_ascii_lowercase(), value.trim().to_string())
            .is_some()
        {
            return Err(ConfigError::at(
                &path,
                format!("`{name}` is also in headers: keep one"),
            ));
        }
    }
    for var in STANDARD_HEADER_VARS {
        let Ok(list) = std::env::var(var) else {
            continue;
        };
        for (i, entry) in list.split_terminator(',').map(str::trim).enumerate() {
            let checked = entry
                .split_once('=')
                .and_then(|(name, value)| check_header("", name.trim(), value.trim()).ok());
            if checked.is_none() {
                return Err(ConfigError::whole(format!(
                    "environment variable {var}: entry {i} is not `name=value` with a header name and a non-empty value"
                )));
            }
        }
        // The exporter reads the traces variable when it is set, else the general one.
        break;
    }
    Ok(out)
}

impl TryFrom<&OtlpSection> for OtlpSettings {
    type Error = ConfigError;

    fn try_from(o: &OtlpSection) -> Result<Self, ConfigError> {
        if !(o.endpoint.starts_with("http://") || o.endpoint.starts_with("https://")) {
            return Err(ConfigError::at("endpoint", "an http(s):// URL is needed"));
        }
        if o.protocol != "http/protobuf" {
            return Err(ConfigError::at(
                "protocol",
                format!("unsupported \"{}\" (http/protobuf)", o.protocol),
            ));
        }
        if !(0.0..=1.0).contains(&o.sampling_ratio) {
            return Err(ConfigError::at("sampling_ratio", "must be within 0..1"));
        }
        let endpoint = if o.endpoint.ends_with("/v1/traces") {
            o.endpoint.clone()
        } else {
            format!("{}/v1/traces", o.endpoint.trim_end_matches('/'))
        };
        Ok(OtlpSettings {
            endpoint,
            headers: collector_headers(o)?,
            sampling_ratio: o.sampling_ratio,
            service_name: o.service_name.clone(),
        })
    }
}

struct Tracing {
    /// Kept alive: dropping the provider would stop the batch exporter.
    _provider: SdkTracerProvider,
    tracer: SdkTracer,
    ratio: f64,
}

static TRACING: OnceLock<Tracing> = OnceLock::new();

thread_local! {
    /// The ids the next span gets (set just before it is started on this thread).
    static NEXT: Cell<Option<(TraceId, SpanId)>> = const { Cell::new(None) };
}

/// Hands the SDK the ids the gateway chose (and random ones otherwise).
#[derive(Debug)]
struct ChosenIds;

impl IdGenerator for ChosenIds {
    fn new_trace_id(&self) -> TraceId {
        NEXT.with(|n| n.get().map(|(t, _)| t))
            .unwrap_or_else(|| TraceId::from_bytes(rand::random()))
    }

    fn new_span_id(&self) -> SpanId {
        NEXT.with(|n| n.get().map(|(_, s)| s))
            .unwrap_or_else(|| SpanId::from_bytes(rand::random()))
    }
}

/// Counts the spans a failed export loses.
#[derive(Debug)]
struct Counting<E>(E);

impl<E: SpanExporter> SpanExporter for Counting<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let n = batch.len() as u64;
        let r = self.0.export(batch).await;
        if r.is_err() {
            metrics().trace_spans_dropped.inc_by(n);
        }
        r
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        self.0.set_resource(resource);
    }
}

/// Starts the exporter (start-up; a second call is ignored).
pub fn init(s: &OtlpSettings) -> Result<(), String> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(&s.endpoint)
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_headers(s.headers.clone())
        .with_timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| format!("telemetry.otlp: {e}"))?;
    let batch = BatchConfigBuilder::default()
        .with_max_queue_size(8192)
        .with_scheduled_delay(Duration::from_millis(500))
        .build();
    let processor = BatchSpanProcessor::builder(Counting(exporter))
        .with_batch_config(batch)
        .build();
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(s.service_name.clone())
        .build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_id_generator(ChosenIds)
        .with_resource(resource)
        .build();
    let tracer = provider.tracer("llm-relay");
    let _ = TRACING.set(Tracing {
        _provider: provider,
        tracer,
        ratio: s.sampling_ratio,
    });
    Ok(())
}

/// The trace of one request, decided when it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceCtx {
    pub trace_id: TraceId,
    /// The client's span (the request span's parent), when it sent a `traceparent`.
    pub parent: Option<SpanId>,
    pub request_span: SpanId,
    pub sampled: bool,
}

impl TraceCtx {
    /// `None` when tracing is off.
    pub fn start(traceparent: Option<&str>) -> Option<TraceCtx> {
        let t = TRACING.get()?;
        let new_span = SpanId::from_bytes(rand::random());
        if let Some((trace_id, parent, sampled)) = traceparent.and_then(parse_traceparent) {
            return Some(TraceCtx {
                trace_id,
                parent: Some(parent),
                request_span: new_span,
                sampled,
            });
        }
        Some(TraceCtx {
            trace_id: TraceId::from_bytes(rand::random()),
            parent: None,
            request_span: new_span,
            sampled: rand::random::<f64>() < t.ratio,
        })
    }

    /// The `traceparent` that names `span` of this trace as the parent.
    pub fn traceparent(&self, span: SpanId) -> String {
        format!(
            "00-{}-{}-{}",
            self.trace_id,
            span,
            if self.sampled { "01" } else { "00" }
        )
    }
}

/// A new span id (for a span the gateway announces before it is built).
pub fn new_span_id() -> SpanId {
    SpanId::from_bytes(rand::random())
}

/// `00-<32 hex>-<16 hex>-<2 hex>` → (trace, parent span, sampled).
fn parse_traceparent(v: &str) -> Option<(TraceId, SpanId, bool)> {
    let mut parts = v.trim().split('-');
    let (ver, trace, span, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if ver.len() != 2 || ver == "ff" || trace.len() != 32 || span.len() != 16 || flags.len() != 2 {
        return None;
    }
    let trace = TraceId::from_hex(trace)
        .ok()
        .filter(|t| *t != TraceId::INVALID)?;
    let span = SpanId::from_hex(span)
        .ok()
        .filter(|s| *s != SpanId::INVALID)?;
    let flags = u8::from_str_radix(flags, 16).ok()?;
    Some((trace, span, flags & 1 == 1))
}

/// One span to build: its id, parent, name, kind, times and attributes.
pub struct SpanRecord {
    pub id: SpanId,
    pub parent: Option<SpanId>,
    pub name: String,
    pub kind: SpanKind,
    pub start: SystemTime,
    pub end: SystemTime,
    pub attributes: Vec<KeyValue>,
}

/// Builds and ends the spans of a finished, sampled request (for the batch exporter).
pub fn emit(ctx: &TraceCtx, spans: Vec<SpanRecord>) {
    let Some(t) = TRACING.get() else {
        return;
    };
    if !ctx.sampled {
        return;
    }
    for s in spans {
        let parent = match s.parent {
            Some(p) => Context::new().with_remote_span_context(SpanContext::new(
                ctx.trace_id,
                p,
                TraceFlags::SAMPLED,
                true,
                TraceState::default(),
            )),
            None => Context::new(),
        };
        NEXT.with(|n| n.set(Some((ctx.trace_id, s.id))));
        let mut span = t
            .tracer
            .span_builder(s.name)
            .with_kind(s.kind)
            .with_start_time(s.start)
            .with_attributes(s.attributes)
            .start_with_context(&t.tracer, &parent);
        NEXT.with(|n| n.set(None));
        opentelemetry::trace::Span::end_with_timestamp(&mut span, s.end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collector_headers_are_checked_and_never_printed() {
        let yaml = "endpoint: http://127.0.0.1:4318\nheaders: {authorization: Bearer s3cret}\n";
        let o: OtlpSection = serde_yaml::from_str(yaml).unwrap();
        let s = OtlpSettings::try_from(&o).unwrap();
        assert_eq!(s.headers["authorization"], "Bearer s3cret");
        let shown = format!("{s:?}");
        assert!(
            shown.contains("authorization") && !shown.contains("s3cret"),
            "{shown}"
        );
        let bad = yaml.replace("Bearer s3cret", "\"Bearer s3cret\\n\"");
        let o: OtlpSection = serde_yaml::from_str(&bad).unwrap();
        let e = OtlpSettings::try_from(&o).unwrap_err().to_string();
        assert!(
            e.contains("headers.authorization") && !e.contains("s3cret"),
            "{e}"
        );
    }

    #[test]
    fn traceparent_parsing() {
        let (t, s, sampled) =
            parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        assert_eq!(t.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(s.to_string(), "00f067aa0ba902b7");
        assert!(sampled);
        assert!(
            parse_traceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01").is_none()
        );
        assert!(parse_traceparent("garbage").is_none());
        assert!(
            !parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")
                .unwrap()
                .2
        );
    }
}
