//! Stored responses in the shared Redis, so `previous_response_id` works on any instance.
//!
//! One key per id (`{prefix:resp:<id>}:v`, its own cluster slot: ids spread over the
//! cluster), a hash with the owner and either the entry (`body`: the whole conversation and
//! the response, as JSON) or `too_large` (its size, for an entry over the cap). Each entry
//! holds its whole conversation rather than its new items and its parent's id: a follow-up
//! then never depends on a parent that expired or was evicted first, and the entry cap bounds
//! each key. The sharing happens in process: this instance keeps what it stored or read in
//! its own [`MemoryStore`], and a lookup that Redis confirms (the owner, cheaply) is answered
//! from there, so follow-ups on the same instance share their history. The local copy also
//! answers while Redis is away (`redis.on_failure: local`). Writing and reading a body allow
//! `redis.timeout_ms` plus a second per 8 MiB: a large conversation is not a dead Redis.

use super::memory::MemoryStore;
use super::{NotStored, Owner, ResponseStore, Sizing, Stored};
use crate::state::redis::SharedState;
use crate::state::store::history::History;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The owner field of a keyless entry (key ids are never empty).
const KEYLESS: &str = "";

/// Deletes the entry only when the owner matches: another key's DELETE deletes nothing.
const DELETE: &str = r"
if redis.call('HGET', KEYS[1], 'owner') == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

#[derive(Serialize)]
struct BodyOut<'a> {
    input: &'a History,
    response: &'a Value,
}

#[derive(Deserialize)]
struct BodyIn {
    input: Vec<Value>,
    response: Value,
}

pub struct RedisStore {
    shared: Arc<SharedState>,
    local: MemoryStore,
    ttl: Duration,
    delete: redis::Script,
    /// Ids this instance stored whose write to Redis has not finished, and whether they were
    /// deleted meanwhile: a client that continues at once (faster than a large write) is
    /// answered from the local copy, and a delete is not undone by the write landing after it.
    writing: Arc<Writing>,
}

type Writing = Mutex<HashMap<String, bool>>;

fn lock(w: &Writing) -> std::sync::MutexGuard<'_, HashMap<String, bool>> {
    w.lock().unwrap_or_else(|p| p.into_inner())
}

impl RedisStore {
    pub fn new(shared: Arc<SharedState>, sizing: Sizing) -> RedisStore {
        RedisStore {
            shared,
            local: MemoryStore::new(sizing),
            ttl: sizing.ttl,
            delete: redis::Script::new(DELETE),
            writing: Arc::default(),
        }
    }

    /// The id is in the hash tag: every entry has its own slot.
    fn key(&self, id: &str) -> String {
        self.shared.key(&format!("resp:{id}"), "v")
    }

    fn max_entry_bytes(&self) -> u64 {
        self.local.sizing().max_entry_bytes
    }

    /// The entry's body from Redis, kept locally too (its follow-ups then share it).
    async fn fetch(&self, id: &str, owner: Owner<'_>, len: usize) -> Result<Stored, NotStored> {
        let key = self.key(id);
        let text: Option<String> = self
            .shared
            .run_sized("responses", len, |mut c| async move {
                redis::cmd("HGET")
                    .arg(key)
                    .arg("body")
                    .query_async(&mut c)
                    .await
            })
            .await
            .map_err(|_| NotStored::Missing)?;
        let body: BodyIn = text
            .and_then(|t| serde_json::from_str(&t).ok())
            .ok_or(NotStored::Missing)?;
        let input = History::after(None, body.input);
        let s = Stored::new(
            id.to_string(),
            owner.map(str::to_string),
            input,
            body.response,
        );
        self.local.put(s.clone());
        Ok(s)
    }
}

#[async_trait]
impl ResponseStore for RedisStore {
    async fn get(&self, id: &str, owner: Owner<'_>) -> Result<Stored, NotStored> {
        if lock(&self.writing).get(id) == Some(&false) {
            return self.local.get(id, owner).await;
        }
        let key = self.key(id);
        // The owner, the marker and the body's length: one round trip, no body.
        let head: Result<((Option<String>, Option<u64>), usize), _> = self
            .shared
            .run("responses", |mut c| async move {
                redis::pipe()
                    .cmd("HMGET")
                    .arg(&key)
                    .arg("owner")
                    .arg("too_large")
                    .cmd("HSTRLEN")
                    .arg(&key)
                    .arg("body")
                    .query_async(&mut c)
                    .await
            })
            .await;
        let len = match head {
            // Redis is away: what this instance stored or read itself.
            Err(_) => return self.local.get(id, owner).await,
            Ok(((Some(o), too_large), len)) if o == owner.unwrap_or(KEYLESS) => {
                if let Some(bytes) = too_large {
                    let max = self.max_entry_bytes();
                    return Err(NotStored::TooLarge { bytes, max });
                }
                len
            }
            // Unknown, expired, deleted (on any instance) or another key's.
            Ok(_) => return Err(NotStored::Missing),
        };
        match self.local.get(id, owner).await {
            Ok(s) => Ok(s),
            Err(_) => self.fetch(id, owner, len).await,
        }
    }

    fn put(&self, s: Stored) {
        if s.id.is_empty() {
            return;
        }
        self.local.put(s.clone());
        let shared = self.shared.clone();
        let key = self.key(&s.id);
        let ttl = self.ttl.as_millis() as u64;
        let too_large = (s.bytes > self.max_entry_bytes()).then_some(s.bytes);
        let writing = self.writing.clone();
        let id = s.id.clone();
        lock(&writing).insert(id.clone(), false);
        tokio::spawn(async move {
            write(&shared, (&key, ttl), s, too_large).await;
            let deleted = lock(&writing).remove(&id) == Some(true);
            if deleted {
                let _ = shared
                    .run("responses", |mut c| async move {
                        redis::cmd("DEL").arg(&key).query_async::<()>(&mut c).await
                    })
                    .await;
            }
        });
    }

    async fn delete(&self, id: &str, owner: Owner<'_>) -> bool {
        let here = self.local.delete(id, owner).await;
        if here {
            if let Some(deleted) = lock(&self.writing).get_mut(id) {
                *deleted = true;
            }
        }
        let mut inv = self.delete.key(self.key(id));
        inv.arg(owner.unwrap_or(KEYLESS));
        let there: Result<i64, _> = self
            .shared
            .run("responses", |mut c| async move {
                inv.invoke_async(&mut c).await
            })
            .await;
        here || there.is_ok_and(|n| n > 0)
    }
}

/// Writes one entry (its body, or the marker of an entry over the cap) with its TTL.
async fn write(shared: &SharedState, (key, ttl): (&str, u64), s: Stored, too_large: Option<u64>) {
    let owner = s.owner.clone().unwrap_or_default();
    let (field, value) = match too_large {
        Some(bytes) => ("too_large", bytes.to_string()),
        // Serialising megabytes is CPU work: off the request threads.
        None => match tokio::task::spawn_blocking(move || {
            serde_json::to_string(&BodyOut {
                input: &s.input,
                response: &s.response,
            })
        })
        .await
        {
            Ok(Ok(text)) => ("body", text),
            _ => return,
        },
    };
    let _ = shared
        .run_sized("responses", value.len(), |mut c| async move {
            redis::pipe()
                .atomic()
                .hset_multiple(key, &[("owner", owner), (field, value)])
                .ignore()
                .pexpire(key, ttl as i64)
                .ignore()
                .query_async::<()>(&mut c)
                .await
        })
        .await;
}
