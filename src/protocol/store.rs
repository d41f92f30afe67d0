//! Stored Responses: what a `previous_response_id` names (its input items and the response),
//! and what `GET`/`DELETE /v1/responses/{id}` serve. In-process by default ([`MemoryStore`]:
//! bounded in entries, with a TTL); the trait is async so that a shared store (Redis) can
//! take its place without touching the request path.

use async_trait::async_trait;
use quick_cache::sync::Cache;
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One stored response.
#[derive(Debug, Clone)]
pub struct Stored {
    pub id: String,
    /// The conversation as Responses input items, up to this response's input.
    pub input: Arc<Vec<Value>>,
    /// The response object as the client received it.
    pub response: Arc<Value>,
}

impl Stored {
    /// The conversation a follow-up continues: the input items, then this response's output.
    pub fn history(&self) -> Vec<Value> {
        let mut items: Vec<Value> = self.input.as_ref().clone();
        if let Some(out) = self.response.get("output").and_then(Value::as_array) {
            items.extend(out.iter().cloned());
        }
        items
    }
}

/// Where stored responses live.
#[async_trait]
pub trait ResponseStore: Send + Sync {
    async fn get(&self, id: &str) -> Option<Stored>;
    /// Called when a response has ended (from a response filter: must not block; a store that
    /// does I/O spawns it).
    fn put(&self, s: Stored);
    async fn delete(&self, id: &str) -> bool;
}

/// The in-process store: at most `capacity` responses, each for `ttl`.
pub struct MemoryStore {
    cache: Cache<String, (Instant, Stored)>,
    ttl: Duration,
}

impl MemoryStore {
    pub fn new(capacity: usize, ttl: Duration) -> MemoryStore {
        MemoryStore {
            cache: Cache::new(capacity.max(1)),
            ttl,
        }
    }
}

#[async_trait]
impl ResponseStore for MemoryStore {
    async fn get(&self, id: &str) -> Option<Stored> {
        let (at, s) = self.cache.get(id)?;
        if at.elapsed() > self.ttl {
            self.cache.remove(id);
            return None;
        }
        Some(s)
    }

    fn put(&self, s: Stored) {
        if !s.id.is_empty() {
            self.cache.insert(s.id.clone(), (Instant::now(), s));
        }
    }

    async fn delete(&self, id: &str) -> bool {
        self.cache.remove(id).is_some()
    }
}

/// Stored responses in the shared Redis, so `previous_response_id` works on any instance.
/// This instance also keeps its own in memory: a follow-up still finds its history while
/// Redis is away (`redis.on_failure: local`).
pub struct RedisStore {
    shared: Arc<crate::policy::shared::SharedState>,
    local: MemoryStore,
    ttl: Duration,
}

impl RedisStore {
    pub fn new(
        shared: Arc<crate::policy::shared::SharedState>,
        capacity: usize,
        ttl: Duration,
    ) -> RedisStore {
        RedisStore {
            shared,
            local: MemoryStore::new(capacity, ttl),
            ttl,
        }
    }

    fn key(&self, id: &str) -> String {
        self.shared.key("resp", id)
    }
}

#[async_trait]
impl ResponseStore for RedisStore {
    async fn get(&self, id: &str) -> Option<Stored> {
        let key = self.key(id);
        let found: Result<Option<String>, _> = self
            .shared
            .run("responses", |mut c| async move {
                redis::cmd("GET").arg(key).query_async(&mut c).await
            })
            .await;
        match found {
            Ok(Some(text)) => {
                let v: Value = serde_json::from_str(&text).ok()?;
                Some(Stored {
                    id: id.to_string(),
                    input: Arc::new(v.get("input")?.as_array()?.clone()),
                    response: Arc::new(v.get("response")?.clone()),
                })
            }
            Ok(None) => None,
            Err(_) => self.local.get(id).await,
        }
    }

    fn put(&self, s: Stored) {
        self.local.put(s.clone());
        let shared = self.shared.clone();
        let key = self.key(&s.id);
        let ttl = self.ttl.as_millis() as u64;
        let body = serde_json::json!({"input": s.input.as_ref(), "response": s.response.as_ref()})
            .to_string();
        tokio::spawn(async move {
            let _ = shared
                .run("responses", |mut c| async move {
                    redis::cmd("SET")
                        .arg(key)
                        .arg(body)
                        .arg("PX")
                        .arg(ttl)
                        .query_async::<()>(&mut c)
                        .await
                })
                .await;
        });
    }

    async fn delete(&self, id: &str) -> bool {
        let here = self.local.delete(id).await;
        let key = self.key(id);
        let there: Result<i64, _> = self
            .shared
            .run("responses", |mut c| async move {
                redis::cmd("DEL").arg(key).query_async(&mut c).await
            })
            .await;
        here || there.is_ok_and(|n| n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stored(id: &str) -> Stored {
        Stored {
            id: id.into(),
            input: Arc::new(vec![json!({"role": "user", "content": "hi"})]),
            response: Arc::new(json!({"id": id, "output": [{"type": "message"}]})),
        }
    }

    #[tokio::test]
    async fn put_get_delete_and_expiry() {
        let s = MemoryStore::new(10, Duration::from_secs(60));
        s.put(stored("resp_a"));
        let got = s.get("resp_a").await.unwrap();
        assert_eq!(got.history().len(), 2);
        assert!(s.delete("resp_a").await);
        assert!(s.get("resp_a").await.is_none());
        let s = MemoryStore::new(10, Duration::ZERO);
        s.put(stored("resp_b"));
        std::thread::sleep(Duration::from_millis(2));
        assert!(s.get("resp_b").await.is_none());
    }
}
