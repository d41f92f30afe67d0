//! The image-description cache: bounded by entries and bytes (quick_cache), with a TTL, and
//! single-flight: concurrent requests for the same uncached image share one vision call
//! (quick_cache's placeholder guard: the first caller computes, the others wait for its value).
//! Shared by all worker threads; it outlives config reloads.

use crate::chat::image_key::{FastKey, ImageKey};
use quick_cache::sync::Cache;
use quick_cache::Lifecycle;
use serde::Serialize;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A cached description and when it was made.
#[derive(Clone)]
pub struct Entry {
    pub text: Arc<str>,
    made: Instant,
}

#[derive(Clone)]
struct Weigh;

impl quick_cache::Weighter<ImageKey, Entry> for Weigh {
    fn weight(&self, _k: &ImageKey, v: &Entry) -> u64 {
        // Key, timestamps and the Arc header, plus the text.
        96 + v.text.len() as u64
    }
}

/// Counters, also exported as metrics.
#[derive(Default, Debug)]
pub struct CacheStats {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    pub evictions: AtomicU64,
    pub joins: AtomicU64,
    pub expired: AtomicU64,
    /// Image keys found by their first-level (fast) key: no decoding, no SHA-256.
    pub fast_key_hits: AtomicU64,
}

#[derive(Clone)]
struct CountEvictions(Arc<CacheStats>);

impl Lifecycle<ImageKey, Entry> for CountEvictions {
    type RequestState = ();
    fn begin_request(&self) {}
    fn on_evict(&self, _s: &mut (), _k: ImageKey, _v: Entry) {
        self.0.evictions.fetch_add(1, Ordering::Relaxed);
    }
}

type Inner = Cache<ImageKey, Entry, Weigh, quick_cache::DefaultHashBuilder, CountEvictions>;

/// How a description was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Hit,
    /// Waited for another request's vision call.
    Joined,
    /// Made the vision call.
    Miss,
}

/// The shared description cache.
pub struct DescriptionCache {
    inner: Inner,
    /// First-level keys (XXH3 of the URL text) → image keys, as many as descriptions.
    aliases: Cache<FastKey, ImageKey>,
    ttl: Duration,
    pub stats: Arc<CacheStats>,
}

/// A JSON snapshot for the admin endpoint.
#[derive(Serialize)]
pub struct Snapshot {
    pub hits: u64,
    pub misses: u64,
    pub evictions: u64,
    pub single_flight_joins: u64,
    pub expired: u64,
    pub fast_key_hits: u64,
    pub entries: usize,
    pub bytes: u64,
    pub hit_rate: f64,
}

impl DescriptionCache {
    pub fn new(max_entries: usize, max_bytes: u64, ttl: Duration) -> DescriptionCache {
        let stats = Arc::new(CacheStats::default());
        let opts = quick_cache::OptionsBuilder::new()
            .estimated_items_capacity(max_entries.max(1))
            .weight_capacity(max_bytes.max(1))
            .build();
        let inner = match opts {
            Ok(o) => {
                Cache::with_options(o, Weigh, Default::default(), CountEvictions(stats.clone()))
            }
            Err(_) => Cache::with(
                max_entries.max(1),
                max_bytes.max(1),
                Weigh,
                Default::default(),
                CountEvictions(stats.clone()),
            ),
        };
        DescriptionCache {
            inner,
            aliases: Cache::new(max_entries.max(1)),
            ttl,
            stats,
        }
    }

    /// Puts a description made elsewhere (the shared level, at start-up) `age` ago; an older
    /// entry than the TTL is not kept. Entries already here stay.
    pub fn preload(&self, key: ImageKey, text: &str, age: Duration) {
        if age >= self.ttl || self.inner.get(&key).is_some() {
            return;
        }
        let made = Instant::now().checked_sub(age).unwrap_or_else(Instant::now);
        self.inner.insert(
            key,
            Entry {
                text: Arc::from(text),
                made,
            },
        );
    }

    /// The image key of a URL whose first-level key is `fast`: remembered, or made by
    /// `canonical` (decode + SHA-256) and remembered. Aliases are a pure function of the URL
    /// text, so one is never stale; evicting one only costs the next request a decode.
    pub fn key_for<E>(
        &self,
        fast: FastKey,
        canonical: impl FnOnce() -> Result<ImageKey, E>,
    ) -> Result<ImageKey, E> {
        if let Some(k) = self.aliases.get(&fast) {
            self.stats.fast_key_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(k);
        }
        let k = canonical()?;
        self.aliases.insert(fast, k);
        Ok(k)
    }

    fn fresh(&self, key: &ImageKey) -> Option<Entry> {
        let e = self.inner.get(key)?;
        if e.made.elapsed() <= self.ttl {
            return Some(e);
        }
        self.stats.expired.fetch_add(1, Ordering::Relaxed);
        self.inner.remove(key);
        None
    }

    /// The description for `key`, computing it with `make` when absent. Only one `make` runs
    /// per key at a time; a failed `make` caches nothing (the next waiter tries again).
    pub async fn get_or_make<F, Fut, E>(
        &self,
        key: ImageKey,
        make: F,
    ) -> Result<(Arc<str>, Source), E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<String, E>>,
    {
        if let Some(e) = self.fresh(&key) {
            self.stats.hits.fetch_add(1, Ordering::Relaxed);
            return Ok((e.text, Source::Hit));
        }
        match self.inner.get_value_or_guard_async(&key).await {
            Ok(e) if e.made.elapsed() <= self.ttl => {
                self.stats.joins.fetch_add(1, Ordering::Relaxed);
                Ok((e.text, Source::Joined))
            }
            Ok(_) => {
                // Expired between the two looks: describe again, without single-flight.
                self.stats.misses.fetch_add(1, Ordering::Relaxed);
                let text: Arc<str> = make().await?.into();
                self.inner.insert(
                    key,
                    Entry {
                        text: text.clone(),
                        made: Instant::now(),
                    },
                );
                Ok((text, Source::Miss))
            }
            Err(guard) => {
                self.stats.misses.fetch_add(1, Ordering::Relaxed);
                let text: Arc<str> = make().await?.into();
                let _ = guard.insert(Entry {
                    text: text.clone(),
                    made: Instant::now(),
                });
                Ok((text, Source::Miss))
            }
        }
    }

    pub fn snapshot(&self) -> Snapshot {
        let s = &self.stats;
        let hits = s.hits.load(Ordering::Relaxed) + s.joins.load(Ordering::Relaxed);
        let misses = s.misses.load(Ordering::Relaxed);
        Snapshot {
            hits: s.hits.load(Ordering::Relaxed),
            misses,
            evictions: s.evictions.load(Ordering::Relaxed),
            single_flight_joins: s.joins.load(Ordering::Relaxed),
            expired: s.expired.load(Ordering::Relaxed),
            fast_key_hits: s.fast_key_hits.load(Ordering::Relaxed),
            entries: self.inner.len(),
            bytes: self.inner.weight(),
            hit_rate: if hits + misses == 0 {
                0.0
            } else {
                hits as f64 / (hits + misses) as f64
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn single_flight_and_ttl() {
        let c = Arc::new(DescriptionCache::new(
            100,
            1 << 20,
            Duration::from_millis(200),
        ));
        let calls = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (c, calls) = (c.clone(), calls.clone());
            tasks.push(tokio::spawn(async move {
                c.get_or_make([7; 32], || async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Ok::<_, ()>("desc".to_string())
                })
                .await
            }));
        }
        for t in tasks {
            assert_eq!(&*t.await.unwrap().unwrap().0, "desc");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(c.snapshot().single_flight_joins, 19);
        tokio::time::sleep(Duration::from_millis(250)).await;
        let (_, src) = c
            .get_or_make([7; 32], || async { Ok::<_, ()>("new".into()) })
            .await
            .unwrap();
        assert_eq!(src, Source::Miss, "expired entries are described again");
    }

    #[tokio::test]
    async fn failures_are_not_cached() {
        let c = DescriptionCache::new(10, 1 << 20, Duration::from_secs(60));
        let r = c
            .get_or_make([1; 32], || async { Err::<String, _>("down") })
            .await;
        assert!(r.is_err());
        let (t, src) = c
            .get_or_make([1; 32], || async { Ok::<_, &str>("ok".into()) })
            .await
            .unwrap();
        assert_eq!((&*t, src), ("ok", Source::Miss));
    }

    #[test]
    fn fast_key_aliases_skip_the_canonical_key() {
        let c = DescriptionCache::new(10, 1 << 20, Duration::from_secs(60));
        let calls = AtomicU64::new(0);
        let make = || {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok::<_, ()>([9; 32])
        };
        assert_eq!(c.key_for(42, make), Ok([9; 32]));
        assert_eq!(c.key_for(42, make), Ok([9; 32]));
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "the second look is an alias hit"
        );
        assert_eq!(c.snapshot().fast_key_hits, 1);
        assert_eq!(c.key_for(43, || Ok::<_, ()>([8; 32])), Ok([8; 32]));
        assert_eq!(c.key_for(44, || Err("bad text")), Err("bad text"));
        assert_eq!(
            c.key_for(44, || Ok::<_, &str>([7; 32])),
            Ok([7; 32]),
            "an error is not remembered"
        );
    }

    #[test]
    fn bounded_by_bytes() {
        let c = DescriptionCache::new(1000, 10_000, Duration::from_secs(60));
        for i in 0..200u8 {
            c.inner.insert(
                [i; 32],
                Entry {
                    text: "x".repeat(400).into(),
                    made: Instant::now(),
                },
            );
        }
        assert!(c.inner.weight() <= 10_000);
        assert!(c.stats.evictions.load(Ordering::Relaxed) > 0);
    }
}
