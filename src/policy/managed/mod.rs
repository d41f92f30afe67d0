//! Keys managed at run time (issue 22): created, updated, rotated and revoked through the
//! admin API, kept in a durable store ([`store`]: one redb file by default), and served from
//! memory: authentication looks a presented key's hash up in a map swapped whole after each
//! change, so a managed key costs what a configured one does. Only the SHA-256 of a key is
//! stored; its secret is shown once, when it is created or rotated.

pub mod record;
pub mod store;

use crate::policy::auth::ApiKey;
use arc_swap::ArcSwap;
use record::{KeyRecord, Previous};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use store::Store;

/// The managed keys: the store, and the in-memory map authentication reads.
pub struct ManagedKeys {
    store: Store,
    by_hash: ArcSwap<HashMap<[u8; 32], Arc<ApiKey>>>,
}

impl std::fmt::Debug for ManagedKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagedKeys")
            .field("keys", &self.by_hash.load().len())
            .finish_non_exhaustive()
    }
}

pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl ManagedKeys {
    /// Opens (or creates) the store at `path` and loads every key into memory.
    pub fn open(path: &std::path::Path) -> Result<ManagedKeys, String> {
        let store = Store::open(path)?;
        let keys = ManagedKeys {
            store,
            by_hash: ArcSwap::from_pointee(HashMap::new()),
        };
        keys.refresh()?;
        Ok(keys)
    }

    /// The key whose SHA-256 is `hash`, if it is managed, live, and not revoked.
    pub fn lookup(&self, hash: &[u8; 32]) -> Option<Arc<ApiKey>> {
        self.by_hash.load().get(hash).cloned()
    }

    /// Rebuilds the in-memory map from the store (after a change).
    pub fn refresh(&self) -> Result<(), String> {
        let records = self.store.keys()?;
        let now = now_secs();
        let mut map = HashMap::new();
        for r in records.into_iter().filter(|r| !r.revoked) {
            let Ok(key) = r.api_key(None) else {
                continue; // a record the store holds but this build cannot read
            };
            if let Some(p) = r.previous.as_ref().filter(|p| p.valid_until > now) {
                if let Ok(old) = r.api_key(Some(p)) {
                    map.insert(old.0, Arc::new(old.1));
                }
            }
            map.insert(key.0, Arc::new(key.1));
        }
        self.by_hash.store(Arc::new(map));
        Ok(())
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Creates a key from `req`; its secret, shown once.
    pub fn create(
        &self,
        req: record::KeyFields,
        id: String,
    ) -> Result<(KeyRecord, String), store::Error> {
        let secret = crate::policy::auth::generate_key();
        let hash = hex::encode(crate::policy::auth::hash_key(&secret));
        let now = now_secs();
        let rec = KeyRecord::new(id, hash, req, now).map_err(store::Error::Invalid)?;
        self.store.insert_new(&rec)?;
        self.refresh().map_err(store::Error::Io)?;
        Ok((rec, secret))
    }

    /// Applies `patch` to the key `id` (in one transaction: concurrent updates each apply).
    pub fn update(
        &self,
        id: &str,
        patch: record::KeyFields,
    ) -> Result<(KeyRecord, KeyRecord), store::Error> {
        let out = self
            .store
            .modify(id, "update", |r| r.apply(&patch, now_secs()))?;
        self.refresh().map_err(store::Error::Io)?;
        Ok(out)
    }

    /// A new secret for `id`; the old one stays valid for `grace`.
    pub fn rotate(&self, id: &str, grace: Duration) -> Result<(KeyRecord, String), store::Error> {
        let secret = crate::policy::auth::generate_key();
        let hash = hex::encode(crate::policy::auth::hash_key(&secret));
        let now = now_secs();
        let (_, after) = self.store.modify(id, "rotate", |r| {
            if r.revoked {
                return Err("the key is revoked".into());
            }
            r.previous = (!grace.is_zero()).then(|| Previous {
                sha256: r.sha256.clone(),
                valid_until: now + grace.as_secs(),
            });
            r.sha256 = hash.clone();
            r.updated = now;
            Ok(())
        })?;
        self.refresh().map_err(store::Error::Io)?;
        Ok((after, secret))
    }

    /// Revokes `id`: refused from now on (its record stays, for the audit).
    pub fn revoke(&self, id: &str) -> Result<(KeyRecord, KeyRecord), store::Error> {
        let out = self.store.modify(id, "revoke", |r| {
            r.revoked = true;
            r.previous = None;
            r.updated = now_secs();
            Ok(())
        })?;
        self.refresh().map_err(store::Error::Io)?;
        Ok(out)
    }
}

/// Keeps the in-memory keys in step with the store when another process changes it (the
/// other gateway of a zero-downtime upgrade, sharing the file): its commits move
/// `PRAGMA data_version`, checked twice a second.
pub struct Watcher(pub Arc<ManagedKeys>);

#[async_trait::async_trait]
impl pingora::services::background::BackgroundService for Watcher {
    async fn start(&self, mut shutdown: pingora::server::ShutdownWatch) {
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        let mut seen = self.0.store.data_version().ok();
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tick.tick() => {}
            }
            let now = self.0.store.data_version().ok();
            if now != seen {
                seen = now;
                if let Err(e) = self.0.refresh() {
                    log::warn!("auth.store: reloading the keys: {e}");
                }
            }
        }
    }
}
