//! The cascade cache's second level, in the shared Redis: an image described by any instance
//! is a hit on every instance, and concurrent requests for a new image over several instances
//! make one vision call. Same key and TTL as the first level (quick_cache, in-process), and a
//! size bound per entry.
//!
//! Single flight across instances: the first instance takes a short lock (`SET NX PX`) and
//! describes; the others wait for the value. If the lock holder dies, its lock expires and
//! one waiter takes over. When Redis is away every call goes straight to the vision model (the
//! first level still deduplicates within the instance).

use crate::observe::metrics::metrics;
use crate::state::redis::SharedState;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The image key named by a description's Redis key (`<prefix><hex><suffix>`).
fn parse_key(k: &str, prefix: &str, suffix: &str) -> Option<[u8; 32]> {
    let hex_id = k.strip_prefix(prefix)?.strip_suffix(suffix)?;
    let bytes = hex::decode(hex_id).ok()?;
    bytes.try_into().ok()
}

/// Descriptions larger than this are not shared (they stay in the first level).
pub const MAX_ENTRY_BYTES: usize = 256 * 1024;

/// How often a waiter looks for the value.
const POLL: Duration = Duration::from_millis(25);

/// The shared second level.
pub struct SharedDescriptions {
    pub shared: Arc<SharedState>,
    pub ttl: Duration,
    /// How long one instance may hold the lock: the vision call's own limit plus a margin.
    pub lock_ttl: Duration,
}

enum Lookup {
    Hit(String),
    Locked,
    Mine,
}

impl SharedDescriptions {
    /// Copies up to `max` shared descriptions into the in-process level (a fresh instance's
    /// first requests for images the fleet described then skip even the Redis round trip).
    /// One node only: in a cluster the keys are spread over every node and a scan would have
    /// to visit each; there the first miss of each image reads Redis as usual. Returns how
    /// many entries were copied.
    pub async fn fill(
        &self,
        cache: &crate::state::image_cache::DescriptionCache,
        max: usize,
    ) -> Result<usize, crate::state::redis::SharedError> {
        if self.shared.settings.cluster {
            return Ok(0);
        }
        // `{<prefix>:img:<hex>}:v`: the pattern of every description's value key.
        let pattern = self.shared.key("img:*", "v");
        let (prefix, suffix) = pattern.split_once('*').unwrap_or((&pattern, ""));
        let (prefix, suffix) = (prefix.to_string(), suffix.to_string());
        let mut cursor: u64 = 0;
        let mut copied = 0;
        loop {
            let (next, keys): (u64, Vec<String>) = self
                .shared
                .run("cascade_fill", |mut conn| {
                    let pattern = pattern.clone();
                    async move {
                        redis::cmd("SCAN")
                            .arg(cursor)
                            .arg("MATCH")
                            .arg(pattern)
                            .arg("COUNT")
                            .arg(500)
                            .query_async(&mut conn)
                            .await
                    }
                })
                .await?;
            for k in keys {
                if copied >= max {
                    return Ok(copied);
                }
                let Some(key) = parse_key(&k, &prefix, &suffix) else {
                    continue;
                };
                let (text, pttl): (Option<String>, i64) = self
                    .shared
                    .run("cascade_fill", |mut conn| async move {
                        redis::pipe().get(&k).pttl(&k).query_async(&mut conn).await
                    })
                    .await?;
                let (Some(text), Ok(left)) = (text, u64::try_from(pttl)) else {
                    continue;
                };
                let age = self.ttl.saturating_sub(Duration::from_millis(left));
                cache.preload(key, &text, age);
                copied += 1;
            }
            if next == 0 {
                return Ok(copied);
            }
            cursor = next;
        }
    }

    fn keys(&self, key: &[u8; 32]) -> (String, String) {
        let id = hex::encode(key);
        (
            self.shared.key(&format!("img:{id}"), "v"),
            self.shared.key(&format!("img:{id}"), "lock"),
        )
    }

    /// The description of `key`: from Redis, from the instance describing it now, or made by
    /// `make` here (and shared). `make`'s error (the vision call's) is handed back as it is.
    pub async fn get_or_make<F, Fut, E>(&self, key: &[u8; 32], make: F) -> Result<String, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<String, E>>,
    {
        let (value_key, lock_key) = self.keys(key);
        let deadline = Instant::now() + self.lock_ttl + self.lock_ttl;
        loop {
            match self.lookup(&value_key, &lock_key).await {
                Some(Lookup::Hit(text)) => {
                    metrics().cascade_l2.with_label_values(&["hit"]).inc();
                    return Ok(text);
                }
                Some(Lookup::Mine) => {
                    metrics().cascade_l2.with_label_values(&["miss"]).inc();
                    let made = make().await;
                    self.publish(&value_key, &lock_key, made.as_ref().ok())
                        .await;
                    return made;
                }
                Some(Lookup::Locked) if Instant::now() < deadline => {
                    if let Some(text) = self.wait(&value_key, &lock_key).await {
                        metrics().cascade_l2.with_label_values(&["join"]).inc();
                        return Ok(text);
                    }
                    // The holder let go without a value (it failed or died): try again.
                }
                // Redis away, or waited too long: describe here.
                _ => return make().await,
            }
        }
    }

    /// One round trip: the value, or the lock taken by us, or someone else's lock.
    async fn lookup(&self, value_key: &str, lock_key: &str) -> Option<Lookup> {
        let (vk, lk) = (value_key.to_string(), lock_key.to_string());
        let owner = self.shared.instance_id.clone();
        let lock_ms = self.lock_ttl.as_millis() as u64;
        let (value, locked): (Option<String>, Option<String>) = self
            .shared
            .run("cascade", |mut c| async move {
                redis::pipe()
                    .cmd("GET")
                    .arg(vk)
                    .cmd("SET")
                    .arg(lk)
                    .arg(owner)
                    .arg("NX")
                    .arg("PX")
                    .arg(lock_ms)
                    .query_async(&mut c)
                    .await
            })
            .await
            .ok()?;
        Some(match (value, locked) {
            (Some(v), _) => Lookup::Hit(v),
            (None, Some(_)) => Lookup::Mine,
            (None, None) => Lookup::Locked,
        })
    }

    /// Waits while the lock is held; the value once it appears, `None` when the lock is gone
    /// without one (or Redis went away).
    async fn wait(&self, value_key: &str, lock_key: &str) -> Option<String> {
        let until = Instant::now() + self.lock_ttl;
        while Instant::now() < until {
            tokio::time::sleep(POLL).await;
            let (vk, lk) = (value_key.to_string(), lock_key.to_string());
            let (value, held): (Option<String>, i64) = self
                .shared
                .run("cascade", |mut c| async move {
                    redis::pipe()
                        .cmd("GET")
                        .arg(vk)
                        .cmd("EXISTS")
                        .arg(lk)
                        .query_async(&mut c)
                        .await
                })
                .await
                .ok()?;
            if value.is_some() || held == 0 {
                return value;
            }
        }
        None
    }

    /// Shares a description (if any and not too large) and lets go of the lock.
    async fn publish(&self, value_key: &str, lock_key: &str, text: Option<&String>) {
        let ttl = self.ttl.as_millis() as u64;
        let value = text.filter(|t| t.len() <= MAX_ENTRY_BYTES).cloned();
        let (vk, lk) = (value_key.to_string(), lock_key.to_string());
        let _ = self
            .shared
            .run("cascade", |mut c| async move {
                let mut p = redis::pipe();
                if let Some(v) = value {
                    p.cmd("SET").arg(vk).arg(v).arg("PX").arg(ttl).ignore();
                }
                p.cmd("DEL").arg(lk).ignore();
                p.query_async::<()>(&mut c).await
            })
            .await;
    }
}
