//! The embedded store of managed keys and of the admin audit: one SQLite file in WAL mode
//! with `synchronous=FULL`. Every change is one `BEGIN IMMEDIATE` transaction, committed
//! durably before the admin API answers, so an acknowledged change survives `kill -9`, and
//! concurrent changes to one key are serialised (each read-modify-write sees the one before
//! it), also across processes: during a zero-downtime upgrade the old and the new gateway
//! share the file, and each notices the other's commits through `PRAGMA data_version`.

use super::record::KeyRecord;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde_json::{json, Value};
use std::sync::Mutex;

pub struct Store {
    conn: Mutex<Connection>,
}

#[derive(Debug)]
pub enum Error {
    NotFound,
    Exists,
    Invalid(String),
    Io(String),
}

fn io(e: impl std::fmt::Display) -> Error {
    Error::Io(e.to_string())
}

impl Store {
    pub fn open(path: &std::path::Path) -> Result<Store, String> {
        let conn = Connection::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(|e| e.to_string())?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL;
             PRAGMA synchronous=FULL;
             CREATE TABLE IF NOT EXISTS keys (id TEXT PRIMARY KEY, record TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS audit (seq INTEGER PRIMARY KEY AUTOINCREMENT,
                                               entry TEXT NOT NULL);",
        )
        .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Store {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Changes when any connection (this process's or another's) commits.
    pub fn data_version(&self) -> Result<i64, String> {
        self.conn()
            .query_row("PRAGMA data_version", [], |r| r.get(0))
            .map_err(|e| e.to_string())
    }

    pub fn keys(&self) -> Result<Vec<KeyRecord>, String> {
        let conn = self.conn();
        let mut st = conn
            .prepare("SELECT record FROM keys ORDER BY id")
            .map_err(|e| e.to_string())?;
        let rows = st
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(|e| e.to_string())?;
        Ok(rows
            .filter_map(Result::ok)
            .filter_map(|s| serde_json::from_str(&s).ok())
            .collect())
    }

    pub fn get(&self, id: &str) -> Result<Option<KeyRecord>, Error> {
        let conn = self.conn();
        let s: Option<String> = conn
            .query_row("SELECT record FROM keys WHERE id = ?1", [id], |r| r.get(0))
            .optional()
            .map_err(io)?;
        Ok(s.and_then(|s| serde_json::from_str(&s).ok()))
    }

    /// Stores a new key (`Exists` when the id is taken, revoked ones included) and its audit.
    pub fn insert_new(&self, r: &KeyRecord) -> Result<(), Error> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(io)?;
        let taken: Option<i64> = tx
            .query_row("SELECT 1 FROM keys WHERE id = ?1", [&r.id], |r| r.get(0))
            .optional()
            .map_err(io)?;
        if taken.is_some() {
            return Err(Error::Exists);
        }
        let record = serde_json::to_string(r).map_err(io)?;
        tx.execute(
            "INSERT INTO keys (id, record) VALUES (?1, ?2)",
            params![r.id, record],
        )
        .map_err(io)?;
        audit(&tx, "create", &r.id, Value::Null, r.public())?;
        tx.commit().map_err(io)
    }

    /// Reads, changes and writes the key `id` in one transaction, with its audit entry;
    /// (before, after).
    pub fn modify(
        &self,
        id: &str,
        action: &str,
        f: impl FnOnce(&mut KeyRecord) -> Result<(), String>,
    ) -> Result<(KeyRecord, KeyRecord), Error> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(io)?;
        let s: Option<String> = tx
            .query_row("SELECT record FROM keys WHERE id = ?1", [id], |r| r.get(0))
            .optional()
            .map_err(io)?;
        let Some(s) = s else {
            return Err(Error::NotFound);
        };
        let before: KeyRecord = serde_json::from_str(&s).map_err(io)?;
        let mut after = before.clone();
        f(&mut after).map_err(Error::Invalid)?;
        let record = serde_json::to_string(&after).map_err(io)?;
        tx.execute(
            "UPDATE keys SET record = ?2 WHERE id = ?1",
            params![id, record],
        )
        .map_err(io)?;
        audit(&tx, action, id, before.public(), after.public())?;
        tx.commit().map_err(io)?;
        Ok((before, after))
    }

    /// The audit, newest first, at most `limit` entries.
    pub fn audit(&self, limit: usize) -> Result<Vec<Value>, String> {
        let conn = self.conn();
        let mut st = conn
            .prepare("SELECT entry FROM audit ORDER BY seq DESC LIMIT ?1")
            .map_err(|e| e.to_string())?;
        let rows = st
            .query_map([limit as i64], |r| r.get::<_, String>(0))
            .map_err(|e| e.to_string())?;
        Ok(rows
            .filter_map(Result::ok)
            .filter_map(|s| serde_json::from_str(&s).ok())
            .collect())
    }
}

/// One audit entry in the same transaction as the change: who (the admin key: there is one),
/// what, when, before and after (public records: never a secret or a hash).
fn audit(
    tx: &rusqlite::Transaction<'_>,
    action: &str,
    id: &str,
    before: Value,
    after: Value,
) -> Result<(), Error> {
    let at = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let entry = json!({"at": at, "actor": "admin", "action": action,
                       "key_id": id, "before": before, "after": after});
    tx.execute("INSERT INTO audit (entry) VALUES (?1)", [entry.to_string()])
        .map_err(io)?;
    Ok(())
}
