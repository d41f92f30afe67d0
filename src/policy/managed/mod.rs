//! Keys and teams managed at run time (issue 22): created, updated, rotated, revoked and
//! deleted through the admin API, kept in a [`store::Backend`] (an SQLite file, or the shared
//! Redis), and served from memory: authentication looks a presented key's hash up in a map
//! swapped whole after each change, so no request reads the store. Only the SHA-256 of a key
//! is stored; its secret is shown once, when it is created or rotated.
//!
//! Every instance polls the store's version four times a second ([`Watcher`]) and reloads
//! when another process wrote, so a change or revocation reaches all of them within a
//! second. The same service flushes the daily spend ([`spend`]).

pub mod maps;
pub mod record;
pub mod redis;
pub mod spend;
pub mod sqlite;
pub mod store;

use crate::policy::auth::ApiKey;
use arc_swap::ArcSwap;
use maps::Maps;
use record::{Fields, KeyRecord, Previous, TeamRecord};
use serde::{de::DeserializeOwned, Serialize};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use store::{Backend, Error, Expect, Table, Write};

/// The managed keys: the store, and the in-memory map authentication reads.
pub struct ManagedKeys {
    backend: Box<dyn Backend>,
    maps: ArcSwap<Maps>,
    /// Held while a new [`Maps`] is built from the current one and swapped in, so no swap
    /// loses another's change.
    swapping: std::sync::Mutex<()>,
    /// Held across a reload's read and swap, and across a write and its swap, so a reload
    /// that read the store before a write never swaps in after it (a revocation undone).
    reloading: tokio::sync::Mutex<()>,
    /// The store has been read once (until then an unknown key is answered 503, not 401).
    loaded: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for ManagedKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagedKeys")
            .field("backend", &self.backend.name())
            .field("keys", &self.maps.load().managed.len())
            .finish_non_exhaustive()
    }
}

pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A stored record: its table, and what the audit shows of it.
trait Record: Serialize + DeserializeOwned + Clone {
    const TABLE: Table;
    const ID_FIELD: &'static str;
    fn public(&self) -> Value;
    /// A team this record, as changed from `before`, needs to exist.
    fn joins<'a>(&'a self, before: Option<&Self>) -> Option<&'a str>;
    /// The maps with this process's write of `id` (`after`; `None`: deleted) applied.
    fn applied(maps: &Maps, id: &str, after: Option<&Self>) -> Maps;
}

impl Record for KeyRecord {
    const TABLE: Table = Table::Keys;
    const ID_FIELD: &'static str = "key_id";
    fn public(&self) -> Value {
        KeyRecord::public(self)
    }
    fn joins<'a>(&'a self, before: Option<&Self>) -> Option<&'a str> {
        let team = self.team.as_deref()?;
        (before.and_then(|b| b.team.as_deref()) != Some(team)).then_some(team)
    }
    fn applied(maps: &Maps, id: &str, after: Option<&Self>) -> Maps {
        match after {
            Some(r) => maps.with_key(r),
            None => maps.without_key(id), // keys are revoked, not deleted; for completeness
        }
    }
}

impl Record for TeamRecord {
    const TABLE: Table = Table::Teams;
    const ID_FIELD: &'static str = "team_id";
    fn public(&self) -> Value {
        TeamRecord::public(self)
    }
    fn joins<'a>(&'a self, _: Option<&Self>) -> Option<&'a str> {
        None
    }
    fn applied(maps: &Maps, id: &str, after: Option<&Self>) -> Maps {
        maps.with_team(id, after)
    }
}

fn parse<R: DeserializeOwned>(s: &str) -> Result<R, Error> {
    serde_json::from_str(s).map_err(|e| Error::Io(format!("a stored record: {e}")))
}

fn text(r: &impl Serialize) -> Result<String, Error> {
    serde_json::to_string(r).map_err(|e| Error::Io(e.to_string()))
}

/// One audit entry: who (the admin key: there is one), what, when, before and after (public
/// records: never a secret or a hash).
fn audit_entry<R: Record>(action: &str, id: &str, before: Option<&R>, after: Option<&R>) -> String {
    let at = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let mut e = json!({"at": at, "actor": "admin", "action": action,
        "before": before.map_or(Value::Null, R::public),
        "after": after.map_or(Value::Null, R::public)});
    e[R::ID_FIELD] = Value::from(id);
    e.to_string()
}

/// How often a write that lost a race to another writer is retried.
const RETRIES: usize = 16;

impl ManagedKeys {
    /// Managed keys in `backend`; empty until [`ManagedKeys::reload`].
    pub fn new(backend: Box<dyn Backend>) -> ManagedKeys {
        ManagedKeys {
            backend,
            maps: ArcSwap::from_pointee(Maps::default()),
            swapping: std::sync::Mutex::new(()),
            reloading: tokio::sync::Mutex::new(()),
            loaded: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Whether the store has been read (at least once).
    pub fn is_loaded(&self) -> bool {
        self.loaded.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Every managed key id, revoked ones included (a config key may not take one).
    pub fn ids(&self) -> Vec<String> {
        self.maps.load().records.keys().cloned().collect()
    }

    /// Swaps in `f(current)`.
    fn swap(&self, f: impl FnOnce(&Maps) -> Maps) {
        let _one = self.swapping.lock().unwrap_or_else(|p| p.into_inner());
        let next = f(&self.maps.load());
        self.maps.store(Arc::new(next));
    }

    /// [`ManagedKeys::new`] on the SQLite file at `path`, loaded.
    pub async fn open(path: &std::path::Path) -> Result<ManagedKeys, String> {
        let keys = ManagedKeys::new(Box::new(sqlite::Sqlite::open(path)?));
        keys.reload().await.map_err(|e| describe(&e))?;
        Ok(keys)
    }

    /// The key whose SHA-256 is `hash` among the managed keys and `config`'s: one lookup in
    /// the merged map (rebuilt once after a config reload, by the first request to see it).
    pub fn lookup_with(
        &self,
        hash: &[u8; 32],
        config: &crate::policy::auth::Keys,
    ) -> Option<Arc<ApiKey>> {
        let maps = self.maps.load();
        let generation = config.generation();
        if maps.generation == generation {
            return maps.merged.get(hash).cloned();
        }
        if generation < maps.generation {
            // A request still on an older config: its own keys, then the managed ones (whose
            // ids it does not hold), without rebuilding anything.
            return config.by_hash().get(hash).cloned().or_else(|| {
                let k = maps.managed.get(hash)?;
                (!config.iter().any(|c| c.id == k.id)).then(|| k.clone())
            });
        }
        drop(maps);
        {
            let _one = self.swapping.lock().unwrap_or_else(|p| p.into_inner());
            let cur = self.maps.load();
            if cur.generation < generation {
                self.maps.store(Arc::new(cur.with_config(config)));
            }
        }
        // Now as new as `config` (or newer): answered above without coming back here.
        self.lookup_with(hash, config)
    }

    /// Rebuilds the in-memory maps from the store.
    pub async fn reload(&self) -> Result<(), Error> {
        let _one = self.reloading.lock().await;
        let snap = self.backend.snapshot().await?;
        let teams = snap.teams.iter().filter_map(|s| parse(s).ok()).collect();
        let keys = snap.keys.iter().filter_map(|s| parse(s).ok()).collect();
        self.swap(|cur| cur.from_records(keys, teams));
        self.loaded
            .store(true, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    async fn all<R: Record>(&self) -> Result<Vec<R>, Error> {
        let snap = self.backend.snapshot().await?;
        let rows = match R::TABLE {
            Table::Keys => snap.keys,
            Table::Teams => snap.teams,
        };
        rows.iter().map(|s| parse(s)).collect()
    }

    async fn one<R: Record>(&self, id: &str) -> Result<Option<R>, Error> {
        match self.backend.get(R::TABLE, id).await? {
            Some(s) => parse(&s).map(Some),
            None => Ok(None),
        }
    }

    pub async fn keys(&self) -> Result<Vec<KeyRecord>, Error> {
        self.all().await
    }

    pub async fn teams(&self) -> Result<Vec<TeamRecord>, Error> {
        self.all().await
    }

    pub async fn key(&self, id: &str) -> Result<Option<KeyRecord>, Error> {
        self.one(id).await
    }

    pub async fn team(&self, id: &str) -> Result<Option<TeamRecord>, Error> {
        self.one(id).await
    }

    /// Stores a new record, then applies it to the maps.
    async fn insert<R: Record>(&self, id: &str, r: &R) -> Result<(), Error> {
        let _one = self.reloading.lock().await;
        self.backend
            .write(Write {
                table: R::TABLE,
                id,
                expect: Expect::Absent,
                record: Some(text(r)?),
                audit: audit_entry("create", id, None, Some(r)),
                team_exists: r.joins(None),
                team_unused: None,
            })
            .await?;
        self.swap(|cur| R::applied(cur, id, Some(r)));
        Ok(())
    }

    /// Reads, changes (`f`; `None` deletes) and conditionally writes the record `id`,
    /// retried when another writer got there first, then applies it to the maps (no store
    /// read: a write that committed is in force here even if the store went away after it);
    /// (before, after).
    async fn modify<R: Record>(
        &self,
        id: &str,
        action: &str,
        f: impl Fn(&R) -> Result<Option<R>, String>,
    ) -> Result<(R, Option<R>), Error> {
        for _ in 0..RETRIES {
            let Some(was) = self.backend.get(R::TABLE, id).await? else {
                return Err(Error::NotFound);
            };
            let before: R = parse(&was)?;
            let after = f(&before).map_err(Error::Invalid)?;
            let write = Write {
                table: R::TABLE,
                id,
                expect: Expect::Equals(was),
                record: after.as_ref().map(text).transpose()?,
                audit: audit_entry(action, id, Some(&before), after.as_ref()),
                team_exists: after.as_ref().and_then(|a| a.joins(Some(&before))),
                team_unused: (R::TABLE == Table::Teams && after.is_none()).then_some(id),
            };
            // The write and its swap, with no reload in between (see `reloading`).
            let _one = self.reloading.lock().await;
            match self.backend.write(write).await {
                Err(Error::Conflict) => continue,
                Err(e) => return Err(e),
                Ok(()) => {
                    self.swap(|cur| R::applied(cur, id, after.as_ref()));
                    return Ok((before, after));
                }
            }
        }
        Err(Error::Unavailable(
            "the record keeps changing under concurrent writers; retry".into(),
        ))
    }

    /// Creates a key from `f`; its secret, shown once.
    pub async fn create_key(&self, f: Fields, id: String) -> Result<(KeyRecord, String), Error> {
        let secret = crate::policy::auth::generate_key();
        let hash = hex::encode(crate::policy::auth::hash_key(&secret));
        let rec = KeyRecord::new(id, hash, f, now_secs()).map_err(Error::Invalid)?;
        self.insert(&rec.id.clone(), &rec).await?;
        Ok((rec, secret))
    }

    /// Applies `patch` to the key `id` (concurrent updates each apply).
    pub async fn update_key(&self, id: &str, patch: Fields) -> Result<KeyRecord, Error> {
        let (_, after) = self
            .modify(id, "update", |r: &KeyRecord| {
                let mut r = r.clone();
                r.apply(&patch, now_secs())?;
                Ok(Some(r))
            })
            .await?;
        after.ok_or(Error::NotFound)
    }

    /// A new secret for `id`; the old one stays valid for `grace`.
    pub async fn rotate(&self, id: &str, grace: Duration) -> Result<(KeyRecord, String), Error> {
        let secret = crate::policy::auth::generate_key();
        let hash = hex::encode(crate::policy::auth::hash_key(&secret));
        let (_, after) = self
            .modify(id, "rotate", |r: &KeyRecord| {
                if r.revoked {
                    return Err("the key is revoked".into());
                }
                let now = now_secs();
                let mut r = r.clone();
                r.previous = (!grace.is_zero()).then(|| Previous {
                    sha256: r.sha256.clone(),
                    valid_until: now + grace.as_secs(),
                });
                r.sha256 = hash.clone();
                r.updated = now;
                Ok(Some(r))
            })
            .await?;
        Ok((after.ok_or(Error::NotFound)?, secret))
    }

    /// Revokes `id`: refused from now on (its record stays, for the audit).
    pub async fn revoke(&self, id: &str) -> Result<KeyRecord, Error> {
        let (_, after) = self
            .modify(id, "revoke", |r: &KeyRecord| {
                let mut r = r.clone();
                r.revoked = true;
                r.previous = None;
                r.updated = now_secs();
                Ok(Some(r))
            })
            .await?;
        after.ok_or(Error::NotFound)
    }

    pub async fn create_team(&self, f: Fields, id: String) -> Result<TeamRecord, Error> {
        let team = TeamRecord::new(id, f, now_secs()).map_err(Error::Invalid)?;
        self.insert(&team.id.clone(), &team).await?;
        Ok(team)
    }

    pub async fn update_team(&self, id: &str, patch: Fields) -> Result<TeamRecord, Error> {
        let (_, after) = self
            .modify(id, "update", |t: &TeamRecord| {
                let mut t = t.clone();
                t.apply(&patch, now_secs())?;
                Ok(Some(t))
            })
            .await?;
        after.ok_or(Error::NotFound)
    }

    /// Deletes the team `id` (refused while live keys belong to it).
    pub async fn delete_team(&self, id: &str) -> Result<TeamRecord, Error> {
        let (before, _) = self.modify(id, "delete", |_: &TeamRecord| Ok(None)).await?;
        Ok(before)
    }

    /// The audit, newest first.
    pub async fn audit(&self, limit: usize) -> Result<Vec<Value>, Error> {
        let rows = self.backend.audit(limit).await?;
        Ok(rows
            .iter()
            .filter_map(|s| serde_json::from_str(s).ok())
            .collect())
    }

    /// The spend of `days`, every instance's as flushed (each flushes once a second).
    pub async fn spend(&self, days: &[u64]) -> Result<Vec<store::Spend>, Error> {
        self.backend.spend(days).await
    }

    /// Flushes this process's spend to the store (given back to the ledger on failure).
    pub async fn flush_spend(&self) {
        for (day, adds) in spend::ledger().take() {
            if let Err(e) = self.backend.add_spend(day, &adds).await {
                log::debug!(
                    "auth.store: spend kept for the next flush: {}",
                    describe(&e)
                );
                spend::ledger().restore(day, adds);
            }
        }
    }
}

/// An error as the operator reads it.
pub fn describe(e: &Error) -> String {
    match e {
        Error::NotFound => "not found".into(),
        Error::Exists => "exists".into(),
        Error::Conflict => "changed concurrently".into(),
        Error::NoTeam(t) => format!("no team `{t}`"),
        Error::TeamInUse(t) => format!("team `{t}` has live keys"),
        Error::Invalid(m) | Error::Unavailable(m) | Error::Io(m) => m.clone(),
    }
}

/// Keeps the in-memory keys in step with the store when another process changes it (another
/// instance on the same Redis, or the other gateway of an upgrade sharing the file): its
/// writes move the store's version, checked four times a second. Also flushes the spend once
/// a second, and a last time at shutdown.
pub struct Watcher(pub Arc<ManagedKeys>);

#[async_trait::async_trait]
impl pingora::services::background::BackgroundService for Watcher {
    async fn start(&self, mut shutdown: pingora::server::ShutdownWatch) {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut seen: Option<String> = None;
        let mut n: u64 = 0;
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                _ = tick.tick() => {}
            }
            n += 1;
            if n.is_multiple_of(4) {
                self.0.flush_spend().await;
            }
            let Ok(now) = self.0.backend.version().await else {
                continue; // away: keep serving the keys last loaded
            };
            if seen.as_ref() != Some(&now) {
                match self.0.reload().await {
                    Ok(()) => {
                        seen = Some(now);
                        // Ready once the keys are known (an unknown key is 503 until then).
                        crate::observe::health::set_waiting_for_keys(false);
                    }
                    Err(e) => log::warn!("auth.store: reloading the keys: {}", describe(&e)),
                }
            }
        }
        // Draining: requests still finishing add spend; flush it once a second until the
        // process ends (bounded, should the runtime outlive the drain).
        for _ in 0..600 {
            self.0.flush_spend().await;
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::store::{Snapshot, Spend};
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// SQLite whose first write of an existing record loses a race: another writer changes the
    /// record between this one's read and its write.
    struct Racing {
        inner: sqlite::Sqlite,
        raced: AtomicUsize,
    }

    #[async_trait::async_trait]
    impl Backend for Racing {
        fn name(&self) -> &'static str {
            "racing"
        }
        async fn snapshot(&self) -> Result<Snapshot, Error> {
            self.inner.snapshot().await
        }
        async fn get(&self, table: Table, id: &str) -> Result<Option<String>, Error> {
            self.inner.get(table, id).await
        }
        async fn write(&self, w: Write<'_>) -> Result<(), Error> {
            if matches!(w.expect, Expect::Equals(_))
                && self.raced.fetch_add(1, Ordering::SeqCst) == 0
            {
                // The other writer: sets rpm, and its write lands first.
                let was = self.inner.get(Table::Keys, w.id).await?.unwrap_or_default();
                let mut r: KeyRecord = parse(&was)?;
                r.limits.rpm = Some(7);
                self.inner
                    .write(Write {
                        table: Table::Keys,
                        id: w.id,
                        expect: Expect::Equals(was),
                        record: Some(text(&r)?),
                        audit: "{}".into(),
                        team_exists: None,
                        team_unused: None,
                    })
                    .await?;
            }
            self.inner.write(w).await
        }
        async fn audit(&self, limit: usize) -> Result<Vec<String>, Error> {
            self.inner.audit(limit).await
        }
        async fn version(&self) -> Result<String, Error> {
            self.inner.version().await
        }
        async fn add_spend(&self, day: u64, adds: &[(String, u64)]) -> Result<(), Error> {
            self.inner.add_spend(day, adds).await
        }
        async fn spend(&self, days: &[u64]) -> Result<Vec<Spend>, Error> {
            self.inner.spend(days).await
        }
    }

    #[tokio::test]
    async fn a_write_that_lost_a_race_is_retried_and_keeps_the_other_change() {
        let dir = std::env::temp_dir().join(format!("llm-relay-race-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let backend = Racing {
            inner: sqlite::Sqlite::open(&dir.join("keys.db")).expect("open"),
            raced: AtomicUsize::new(0),
        };
        let keys = ManagedKeys::new(Box::new(backend));
        keys.reload().await.expect("load");
        let (_, secret) = keys
            .create_key(Fields::default(), "k".into())
            .await
            .expect("create");
        let patch: Fields = serde_json::from_value(json!({"tpm": 500})).expect("fields");
        let after = keys.update_key("k", patch).await.expect("update");
        assert_eq!((after.limits.rpm, after.limits.tpm), (Some(7), Some(500)));
        let stored = keys.key("k").await.expect("read").expect("there");
        assert_eq!((stored.limits.rpm, stored.limits.tpm), (Some(7), Some(500)));
        // The maps hold the retried write, not the first read.
        let hash = crate::policy::auth::hash_key(&secret);
        let live = keys
            .lookup_with(&hash, &crate::policy::auth::Keys::default())
            .expect("live");
        assert_eq!((live.quota.rpm, live.quota.tpm), (Some(7), Some(500)));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
