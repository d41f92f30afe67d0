//! The exact response cache (opt-in with `response_cache:`): the answer to an identical
//! request, in process (quick_cache, bounded by entries and bytes, with a TTL) and, with
//! `redis:`, in Redis so that every instance shares it.
//!
//! What is cached: embeddings, and chat at `temperature: 0` or with the request header
//! `x-llm-relay-cache: on` (route `cache: auto`, the default); every chat with `cache:
//! always`; nothing with `never`; `x-llm-relay-cache: off` bypasses it. Only answers in the
//! chat protocols (Chat Completions, embeddings) are cached; translated protocols pass by.
//! The key is SHA-256 of the request as sent upstream (after aliasing and fixing, with its JSON
//! keys in one order), the upstream path, pool and model, and the key id unless the route
//! shares entries (`cache_shared: true`). Streams are kept as their event bytes and replayed as
//! a stream; only complete 200 answers are kept.

use crate::config::file::ResponseCacheSection;
use crate::observe::metrics::metrics;
use crate::state::redis::SharedState;
use bytes::Bytes;
use quick_cache::sync::Cache;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A cache key.
pub type CacheKey = [u8; 32];

/// One kept answer.
#[derive(Debug, Clone)]
pub struct Cached {
    pub made: Instant,
    pub sse: bool,
    pub content_type: String,
    pub body: Bytes,
}

/// An answer on its way to the client, kept piece by piece (no copy until it is complete).
#[derive(Debug)]
pub struct Capture {
    sse: bool,
    content_type: String,
    pieces: Vec<Bytes>,
    len: usize,
}

impl Capture {
    pub fn new(sse: bool, content_type: String) -> Capture {
        Capture {
            sse,
            content_type,
            pieces: Vec::new(),
            len: 0,
        }
    }

    /// Adds a piece; false when the answer outgrew `max` (it will not be kept).
    pub fn push(&mut self, piece: Bytes, max: usize) -> bool {
        self.len += piece.len();
        self.pieces.push(piece);
        self.len <= max
    }

    pub fn finish(self) -> Cached {
        let mut body = Vec::with_capacity(self.len);
        for p in &self.pieces {
            body.extend_from_slice(p);
        }
        Cached {
            made: Instant::now(),
            sse: self.sse,
            content_type: self.content_type,
            body: Bytes::from(body),
        }
    }
}

#[derive(Clone)]
struct Weigh;

impl quick_cache::Weighter<CacheKey, Arc<Cached>> for Weigh {
    fn weight(&self, _k: &CacheKey, v: &Arc<Cached>) -> u64 {
        v.body.len() as u64 + 64
    }
}

/// The cache (process-wide, sized at start-up).
pub struct ResponseCache {
    l1: Cache<CacheKey, Arc<Cached>, Weigh>,
    ttl: Duration,
    pub max_entry_bytes: usize,
    shared: Option<Arc<SharedState>>,
}

/// The opt-in header.
pub const HEADER: &str = "x-llm-relay-cache";

impl std::fmt::Debug for ResponseCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseCache")
            .field("entries", &self.l1.len())
            .finish_non_exhaustive()
    }
}

impl ResponseCache {
    pub fn new(c: &ResponseCacheSection, shared: Option<Arc<SharedState>>) -> ResponseCache {
        ResponseCache {
            l1: Cache::with_weighter(c.max_entries.max(1), c.max_bytes.max(1), Weigh),
            ttl: Duration::from_secs(c.ttl_seconds.max(1)),
            max_entry_bytes: c.max_entry_bytes,
            shared,
        }
    }

    fn redis_key(shared: &SharedState, key: &CacheKey) -> String {
        shared.key(&format!("rc:{}", hex::encode(key)), "v")
    }

    /// A fresh answer for `key`, from this instance or (with Redis) any instance.
    pub async fn get(&self, key: &CacheKey) -> Option<Arc<Cached>> {
        if let Some(c) = self.l1.get(key) {
            if c.made.elapsed() <= self.ttl {
                metrics().response_cache.with_label_values(&["hit"]).inc();
                return Some(c);
            }
            self.l1.remove(key);
        }
        let found = self.get_shared(key).await;
        let result = if found.is_some() { "hit" } else { "miss" };
        metrics().response_cache.with_label_values(&[result]).inc();
        found
    }

    async fn get_shared(&self, key: &CacheKey) -> Option<Arc<Cached>> {
        let shared = self.shared.as_ref()?;
        let rk = Self::redis_key(shared, key);
        let raw: Vec<u8> = shared
            .run("response_cache", |mut c| async move {
                redis::cmd("GET")
                    .arg(rk)
                    .query_async::<Option<Vec<u8>>>(&mut c)
                    .await
            })
            .await
            .ok()??;
        let cached = Arc::new(decode(&raw)?);
        self.l1.insert(*key, cached.clone());
        Some(cached)
    }

    /// Keeps a complete answer.
    pub fn put(&self, key: CacheKey, c: Cached) {
        if c.body.len() > self.max_entry_bytes {
            return;
        }
        metrics().response_cache.with_label_values(&["store"]).inc();
        let c = Arc::new(c);
        self.l1.insert(key, c.clone());
        let Some(shared) = self.shared.clone() else {
            return;
        };
        let rk = Self::redis_key(&shared, &key);
        let ttl = self.ttl.as_millis() as u64;
        tokio::spawn(async move {
            let value = encode(&c);
            let _ = shared
                .run("response_cache", |mut conn| async move {
                    redis::cmd("SET")
                        .arg(rk)
                        .arg(value)
                        .arg("PX")
                        .arg(ttl)
                        .query_async::<()>(&mut conn)
                        .await
                })
                .await;
        });
    }
}

/// `<sse 0|1>\n<content type>\n<body>` (the body is opaque bytes).
fn encode(c: &Cached) -> Vec<u8> {
    let mut out = Vec::with_capacity(c.body.len() + 64);
    out.extend_from_slice(if c.sse { b"1\n" } else { b"0\n" });
    out.extend_from_slice(c.content_type.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(&c.body);
    out
}

fn decode(raw: &[u8]) -> Option<Cached> {
    let (flag, rest) = raw.split_first()?;
    let rest = rest.strip_prefix(b"\n")?;
    let nl = rest.iter().position(|b| *b == b'\n')?;
    Some(Cached {
        made: Instant::now(),
        sse: *flag == b'1',
        content_type: String::from_utf8_lossy(&rest[..nl]).into_owned(),
        body: Bytes::copy_from_slice(&rest[nl + 1..]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_survive_the_round_trip_through_redis_bytes() {
        let c = Cached {
            made: Instant::now(),
            sse: true,
            content_type: "text/event-stream".into(),
            body: Bytes::from_static(b"data: {\"a\":1}\n\ndata: [DONE]\n\n"),
        };
        let d = decode(&encode(&c)).unwrap();
        assert_eq!(
            (d.sse, d.content_type.as_str(), &d.body),
            (true, "text/event-stream", &c.body)
        );
        assert!(decode(b"").is_none());
    }
}
