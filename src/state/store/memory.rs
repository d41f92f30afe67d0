//! The in-process store: quick_cache weighed in bytes, with a TTL.

use super::{NotStored, Owner, ResponseStore, Sizing, Stored};
use async_trait::async_trait;
use quick_cache::sync::Cache;
use quick_cache::Weighter;
use std::time::Instant;

/// What an id holds.
#[derive(Clone)]
enum Kept {
    Response(Stored),
    /// A response over the entry cap: only who stored it and how large it was, so its
    /// follow-up hears why instead of a 404.
    TooLarge {
        owner: Option<String>,
        bytes: u64,
    },
}

#[derive(Clone)]
struct Entry {
    at: Instant,
    kept: Kept,
}

impl Entry {
    fn owner(&self) -> Option<&str> {
        match &self.kept {
            Kept::Response(s) => s.owner.as_deref(),
            Kept::TooLarge { owner, .. } => owner.as_deref(),
        }
    }
}

/// An entry's estimated bytes, at least `floor` (= `max_bytes / max_entries`: so the byte
/// bound also bounds the count).
#[derive(Clone)]
struct Weigh {
    floor: u64,
}

/// The key, the entry's own fields and quick_cache's bookkeeping.
const ENTRY_OVERHEAD: u64 = 160;

impl Weighter<String, Entry> for Weigh {
    fn weight(&self, id: &String, e: &Entry) -> u64 {
        let body = match &e.kept {
            Kept::Response(s) => s.bytes,
            Kept::TooLarge { .. } => 0,
        };
        (ENTRY_OVERHEAD + id.len() as u64 + body).max(self.floor)
    }
}

/// The in-process store.
pub struct MemoryStore {
    cache: Cache<String, Entry, Weigh>,
    sizing: Sizing,
}

impl MemoryStore {
    pub fn new(mut sizing: Sizing) -> MemoryStore {
        let max_bytes = sizing.max_bytes.max(2);
        let max_entries = sizing.max_entries.max(1);
        // Two of the largest entries fit (the config refuses more; this keeps the bound
        // honest when a caller does not validate).
        sizing.max_entry_bytes = sizing.max_entry_bytes.clamp(1, max_bytes / 2);
        let floor = (max_bytes / max_entries as u64).clamp(1, max_bytes / 2);
        let opts = quick_cache::OptionsBuilder::new()
            .estimated_items_capacity(max_entries)
            .weight_capacity(max_bytes)
            .shards(shards(max_bytes, sizing.max_entry_bytes.max(floor)))
            .build();
        let weigh = Weigh { floor };
        let cache = match opts {
            Ok(o) => Cache::with_options(o, weigh, Default::default(), Default::default()),
            Err(_) => Cache::with_weighter(max_entries, max_bytes, weigh),
        };
        MemoryStore { cache, sizing }
    }

    /// The estimated bytes held (tests, diagnostics).
    pub fn weight(&self) -> u64 {
        self.cache.weight()
    }

    pub fn len(&self) -> usize {
        self.cache.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cache.is_empty()
    }

    /// The store's bounds.
    pub fn sizing(&self) -> Sizing {
        self.sizing
    }

    /// What `put` keeps for `s`: the response, or the marker when it is over the entry cap.
    fn kept(&self, s: Stored) -> Kept {
        if s.bytes > self.sizing.max_entry_bytes {
            log::info!(
                "responses: {} not stored: {} bytes, over responses.max_entry_bytes ({})",
                s.id,
                s.bytes,
                self.sizing.max_entry_bytes
            );
            return Kept::TooLarge {
                owner: s.owner,
                bytes: s.bytes,
            };
        }
        Kept::Response(s)
    }
}

/// Shards for quick_cache: each holds `max_bytes / shards` and refuses an entry heavier than
/// about its share, so a shard must hold two of the heaviest entries (`heaviest`). A power of
/// two (what quick_cache uses), at most four per core (its default).
fn shards(max_bytes: u64, heaviest: u64) -> usize {
    let fit = (max_bytes / heaviest.max(1) / 2).max(1);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let n = fit.min((cores * 4) as u64).max(1);
    1 << (63 - n.leading_zeros())
}

#[async_trait]
impl ResponseStore for MemoryStore {
    async fn get(&self, id: &str, owner: Owner<'_>) -> Result<Stored, NotStored> {
        let e = self.cache.get(id).ok_or(NotStored::Missing)?;
        if e.at.elapsed() > self.sizing.ttl {
            self.cache.remove(id);
            return Err(NotStored::Missing);
        }
        if e.owner() != owner {
            return Err(NotStored::Missing);
        }
        match e.kept {
            Kept::Response(s) => Ok(s),
            Kept::TooLarge { bytes, .. } => Err(NotStored::TooLarge {
                bytes,
                max: self.sizing.max_entry_bytes,
            }),
        }
    }

    fn put(&self, s: Stored) {
        if s.id.is_empty() {
            return;
        }
        let id = s.id.clone();
        let e = Entry {
            at: Instant::now(),
            kept: self.kept(s),
        };
        self.cache.insert(id, e);
    }

    async fn delete(&self, id: &str, owner: Owner<'_>) -> bool {
        // Removed only when the owner matches: another key's DELETE deletes nothing.
        self.cache
            .remove_if(id, |e| {
                e.owner() == owner && e.at.elapsed() <= self.sizing.ttl
            })
            .is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::store::history::History;
    use serde_json::{json, Value};
    use std::time::Duration;

    fn stored(id: &str, owner: Option<&str>, text_bytes: usize) -> Stored {
        let input = History::after(
            None,
            vec![json!({"role": "user", "content": "x".repeat(text_bytes)})],
        );
        let response = json!({"id": id, "output": [{"type": "message", "content": "ok"}]});
        Stored::new(id.into(), owner.map(String::from), input, response)
    }

    fn sizing(max_bytes: u64, max_entry_bytes: u64) -> Sizing {
        Sizing {
            max_entries: 10_000,
            ttl: Duration::from_secs(60),
            max_bytes,
            max_entry_bytes,
        }
    }

    #[tokio::test]
    async fn put_get_delete_and_expiry() {
        let s = MemoryStore::new(Sizing::default());
        s.put(stored("resp_a", None, 2));
        let got = s.get("resp_a", None).await.unwrap();
        assert_eq!(got.history.len(), 2);
        assert_eq!(got.input.len(), 1);
        assert!(s.delete("resp_a", None).await);
        assert!(s.get("resp_a", None).await.is_err());
        let s = MemoryStore::new(Sizing {
            ttl: Duration::ZERO,
            ..Sizing::default()
        });
        s.put(stored("resp_b", None, 2));
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(s.get("resp_b", None).await.unwrap_err(), NotStored::Missing);
    }

    #[tokio::test]
    async fn only_the_owner_reads_or_deletes() {
        let s = MemoryStore::new(Sizing::default());
        s.put(stored("resp_a", Some("a"), 2));
        for other in [Some("b"), None] {
            assert_eq!(
                s.get("resp_a", other).await.unwrap_err(),
                NotStored::Missing
            );
            assert!(!s.delete("resp_a", other).await);
        }
        assert!(s.get("resp_a", Some("a")).await.is_ok());
        // A keyless entry is not a key's either.
        s.put(stored("resp_k", None, 2));
        assert!(s.get("resp_k", Some("a")).await.is_err());
        assert!(s.get("resp_k", None).await.is_ok());
    }

    /// The byte weight bounds the store: 100 entries of ~100 KB in a 1 MB store leave at most
    /// 1 MB, and the newest is there.
    #[tokio::test]
    async fn the_byte_weight_bounds_the_store() {
        let s = MemoryStore::new(sizing(1 << 20, 256 << 10));
        for i in 0..100 {
            s.put(stored(&format!("resp_{i}"), None, 100_000));
        }
        assert!(s.weight() <= 1 << 20, "{} bytes held", s.weight());
        assert!((5..=10).contains(&s.len()), "{} entries", s.len());
        assert!(s.get("resp_99", None).await.is_ok());
    }

    /// At most `max_entries`, however small the entries.
    #[tokio::test]
    async fn small_entries_are_bounded_by_count() {
        let s = MemoryStore::new(Sizing {
            max_entries: 50,
            ..Sizing::default()
        });
        for i in 0..500 {
            s.put(stored(&format!("resp_{i}"), None, 1));
        }
        assert!(s.len() <= 50, "{}", s.len());
    }

    /// An entry over the cap is not kept; its owner hears why, anyone else gets the 404.
    #[tokio::test]
    async fn an_entry_over_the_cap_leaves_a_marker_for_its_owner() {
        let s = MemoryStore::new(sizing(64 << 20, 1 << 20));
        s.put(stored("resp_big", Some("a"), 2 << 20));
        let Err(NotStored::TooLarge { bytes, max }) = s.get("resp_big", Some("a")).await else {
            panic!("a marker for the owner");
        };
        assert!(bytes > 2 << 20 && max == 1 << 20);
        // The marker weighs the floor (max_bytes / max_entries), not the conversation.
        assert!(s.weight() <= (64 << 20) / 10_000, "{}", s.weight());
        assert_eq!(
            s.get("resp_big", Some("b")).await.unwrap_err(),
            NotStored::Missing
        );
        let e = NotStored::TooLarge { bytes, max }.error("resp_big", Some("previous_response_id"));
        assert_eq!(e.status(), 400);
        assert!(e.message().contains("responses.max_entry_bytes"));
    }

    /// The largest entry the cap allows is admitted (quick_cache refuses an entry heavier
    /// than its shard's share: the shard count keeps room for it).
    #[tokio::test]
    async fn an_entry_at_the_cap_is_kept() {
        let s = MemoryStore::new(sizing(256 << 20, 32 << 20));
        s.put(stored("resp_max", None, (32 << 20) - 4096));
        assert!(s.get("resp_max", None).await.is_ok());
        let s = MemoryStore::new(sizing(2 << 20, 1 << 20));
        s.put(stored("resp_max", None, (1 << 20) - 4096));
        assert!(s.get("resp_max", None).await.is_ok());
    }

    /// A follow-up's entry weighs its whole conversation (the bound holds in the worst case)
    /// but holds only its new items.
    #[test]
    fn a_follow_up_shares_its_history() {
        let first = stored("resp_1", None, 100_000);
        let next_input = History::after(
            Some(&first.history),
            vec![json!({"role": "user", "content": "more"})],
        );
        let next = Stored::new("resp_2".into(), None, next_input, json!({"output": []}));
        assert!(next.bytes as usize > first.history.bytes());
        let a: Vec<*const Value> = first.history.iter().map(|v| v as *const Value).collect();
        let b: Vec<*const Value> = next.history.iter().map(|v| v as *const Value).collect();
        assert_eq!(a[..], b[..a.len()], "the same items, not copies");
    }
}
