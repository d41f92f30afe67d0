//! Shared state: request counters, "last request" snapshots and the global knobs.
//!
//! Counters are relaxed atomics. A snapshot keeps the request's own `HeaderMap` and body `Bytes`
//! (moved, not copied) behind an `ArcSwapOption`, so recording is one allocation and a pointer
//! swap, and the JSON rendering happens only when `/_stats` is read.

use std::sync::atomic::{AtomicU16, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwapOption;
use axum::http::{HeaderMap, Uri};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// What a request was; `Vision` has a snapshot slot but is counted as `Chat` (plus
/// `vision_calls`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Chat,
    Embeddings,
    Images,
    Transcriptions,
    Translations,
    Speech,
    Models,
    Completions,
    /// Anthropic `POST /v1/messages`.
    Messages,
    /// Gemini `generateContent` / `streamGenerateContent`.
    Gemini,
    /// Hunyuan's native API (`POST /`, any `X-TC-Action`).
    HunyuanNative,
    /// `POST /_policy` (the webhook stage's test service).
    Policy,
    Vision,
}

const KIND_NAMES: [&str; 13] = [
    "chat",
    "embeddings",
    "images",
    "transcriptions",
    "translations",
    "speech",
    "models",
    "completions",
    "messages",
    "gemini",
    "hunyuan_native",
    "policy",
    "vision",
];
const COUNTED: usize = 12;

/// The body of a recorded request.
pub enum LastBody {
    None,
    /// Raw JSON bytes, parsed only when `/_stats` is read.
    Json(Bytes),
    /// Multipart fields: text value, or `"<file N bytes>"`.
    Fields(Map<String, Value>),
}

pub struct Last {
    pub uri: Uri,
    pub headers: HeaderMap,
    pub body: LastBody,
}

impl Last {
    fn to_json(&self) -> Value {
        let mut headers = Map::new();
        for name in self.headers.keys() {
            let joined = self
                .headers
                .get_all(name)
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .collect::<Vec<_>>()
                .join(", ");
            headers.insert(name.as_str().to_string(), Value::String(joined));
        }
        let body = match &self.body {
            LastBody::None => Value::Null,
            LastBody::Json(b) if b.is_empty() => Value::Null,
            LastBody::Json(b) => serde_json::from_slice(b)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(b).into_owned())),
            LastBody::Fields(f) => json!({ "fields": f }),
        };
        json!({"path": self.uri.path(), "uri": self.uri.to_string(), "headers": headers, "body": body})
    }
}

#[derive(Default)]
pub struct Stats {
    requests: [AtomicU64; COUNTED],
    pub vision_calls: AtomicU64,
    pub strict_rejections: AtomicU64,
    pub streams: Arc<crate::stream::StreamCounters>,
    last: [ArcSwapOption<Last>; 13],
}

impl Stats {
    /// Counts a request of `kind` and keeps it as the last one of that kind.
    pub fn record(&self, kind: Kind, last: Arc<Last>) {
        let i = kind as usize;
        if i < COUNTED {
            self.requests[i].fetch_add(1, Relaxed);
        }
        self.last[i].store(Some(last));
    }

    /// Keeps a snapshot without counting (a vision call is also stored as the last chat).
    pub fn remember(&self, kind: Kind, last: Arc<Last>) {
        self.last[kind as usize].store(Some(last));
    }

    pub fn to_json(&self) -> Value {
        let mut requests = Map::new();
        let mut last = Map::new();
        for (i, name) in KIND_NAMES.iter().enumerate() {
            if i < COUNTED {
                requests.insert(name.to_string(), json!(self.requests[i].load(Relaxed)));
            }
            if let Some(l) = self.last[i].load_full() {
                last.insert(name.to_string(), l.to_json());
            }
        }
        json!({
            "requests": requests,
            "vision_calls": self.vision_calls.load(Relaxed),
            "streams_open": self.streams.open.load(Relaxed),
            "streams_cancelled": self.streams.cancelled.load(Relaxed),
            "strict_rejections": self.strict_rejections.load(Relaxed),
            "last": last,
        })
    }

    pub fn reset(&self) {
        for c in &self.requests {
            c.store(0, Relaxed);
        }
        self.vision_calls.store(0, Relaxed);
        self.streams.cancelled.store(0, Relaxed);
        self.strict_rejections.store(0, Relaxed);
        for l in &self.last {
            l.store(None);
        }
    }
}

/// Global knobs for calls a test cannot add headers to (the gateway's own vision calls).
#[derive(Default)]
pub struct Knobs {
    pub vision_delay_ms: AtomicU64,
    pub vision_fail_status: AtomicU16,
    pub chat_delay_ms: AtomicU64,
}

/// `/_control` body: every field optional, a missing one leaves the knob unchanged.
#[derive(Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct KnobsPatch {
    pub vision_delay_ms: Option<u64>,
    pub vision_fail_status: Option<u16>,
    pub chat_delay_ms: Option<u64>,
}

impl Knobs {
    pub fn apply(&self, p: &KnobsPatch) {
        if let Some(v) = p.vision_delay_ms {
            self.vision_delay_ms.store(v, Relaxed);
        }
        if let Some(v) = p.vision_fail_status {
            self.vision_fail_status.store(v, Relaxed);
        }
        if let Some(v) = p.chat_delay_ms {
            self.chat_delay_ms.store(v, Relaxed);
        }
    }

    pub fn to_json(&self) -> Value {
        json!({
            "vision_delay_ms": self.vision_delay_ms.load(Relaxed),
            "vision_fail_status": self.vision_fail_status.load(Relaxed),
            "chat_delay_ms": self.chat_delay_ms.load(Relaxed),
        })
    }
}

pub struct App {
    /// `--strict`: Hunyuan rules on every chat request.
    pub strict: bool,
    pub stats: Stats,
    pub knobs: Knobs,
    /// Hunyuan's image jobs (`SubmitHunyuanImageJob`), with their counts for `/_stats`.
    pub hunyuan_images: crate::hunyuan_native::Jobs,
    next_id: AtomicU64,
}

impl App {
    pub fn new(strict: bool) -> Self {
        App {
            strict,
            stats: Stats::default(),
            knobs: Knobs::default(),
            hunyuan_images: Default::default(),
            next_id: AtomicU64::new(1),
        }
    }

    /// A fresh response id suffix.
    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Relaxed)
    }
}

/// Unix seconds, for `created` fields.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
