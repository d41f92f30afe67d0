//! The embedded backend: one SQLite file in WAL mode with `synchronous=FULL`. Every write is
//! one `BEGIN IMMEDIATE` transaction with its audit entry, committed durably before the admin
//! API answers, so an acknowledged change survives `kill -9`; writers are serialised, also
//! across processes (the old and the new gateway of a zero-downtime upgrade share the file,
//! and each notices the other's commits through `PRAGMA data_version`).
//!
//! Why SQLite over redb or sled: those take an exclusive lock on their file, so the new
//! process of an upgrade could not open the store while the old one drains.

use super::store::{Backend, Error, Expect, Snapshot, Spend, Table, Write, SPEND_DAYS_KEPT};
use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::sync::{Arc, Mutex};

/// The connection, used on tokio's blocking pool: a write waits for its fsync, and for the
/// lock while the other process of an upgrade writes (up to the busy timeout), which must
/// not hold up the admin listener's health and metrics answers.
pub struct Sqlite {
    conn: Arc<Mutex<Connection>>,
}

/// A store error; `SQLITE_BUSY` (another process held the lock past the busy timeout) is
/// retryable: 503, not 500.
fn io(e: rusqlite::Error) -> Error {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            Error::Unavailable("the key store is busy (another process is writing)".into())
        }
        _ => Error::Io(e.to_string()),
    }
}

impl Sqlite {
    pub fn open(path: &std::path::Path) -> Result<Sqlite, String> {
        let conn = Connection::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(|e| e.to_string())?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL;
             PRAGMA synchronous=FULL;
             CREATE TABLE IF NOT EXISTS keys (id TEXT PRIMARY KEY, record TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS teams (id TEXT PRIMARY KEY, record TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS audit (seq INTEGER PRIMARY KEY AUTOINCREMENT,
                                               entry TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS spend (day INTEGER NOT NULL, scope TEXT NOT NULL,
                                               micros INTEGER NOT NULL,
                                               PRIMARY KEY (day, scope));",
        )
        .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Sqlite {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` on the connection, on the blocking pool.
    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut c = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut c)
        })
        .await
        .map_err(|e| Error::Io(format!("the store's task: {e}")))?
    }

    fn all(conn: &Connection, table: Table) -> Result<Vec<String>, Error> {
        let mut st = conn
            .prepare(&format!("SELECT record FROM {} ORDER BY id", table.name()))
            .map_err(io)?;
        let rows = st.query_map([], |r| r.get::<_, String>(0)).map_err(io)?;
        rows.collect::<Result<_, _>>().map_err(io)
    }
}

/// The record of `id` in `table` (read inside a write's transaction, or alone).
fn current(conn: &Connection, table: Table, id: &str) -> Result<Option<String>, Error> {
    conn.query_row(
        &format!("SELECT record FROM {} WHERE id = ?1", table.name()),
        [id],
        |r| r.get(0),
    )
    .optional()
    .map_err(io)
}

/// The conditions of `w` other than its [`Expect`].
fn check(
    tx: &rusqlite::Transaction<'_>,
    team_exists: Option<&str>,
    team_unused: Option<&str>,
) -> Result<(), Error> {
    if let Some(team) = team_exists {
        if current(tx, Table::Teams, team)?.is_none() {
            return Err(Error::NoTeam(team.to_string()));
        }
    }
    if let Some(team) = team_unused {
        let live: i64 = tx
            .query_row(
                "SELECT count(*) FROM keys WHERE json_extract(record, '$.team') = ?1
                 AND NOT json_extract(record, '$.revoked')",
                [team],
                |r| r.get(0),
            )
            .map_err(io)?;
        if live > 0 {
            return Err(Error::TeamInUse(team.to_string()));
        }
    }
    Ok(())
}

/// A [`Write`] that owns its parts (it moves to the blocking pool).
struct Owned {
    table: Table,
    id: String,
    expect: Expect,
    record: Option<String>,
    audit: String,
    team_exists: Option<String>,
    team_unused: Option<String>,
}

fn write(conn: &mut Connection, w: Owned) -> Result<(), Error> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(io)?;
    match (&w.expect, current(&tx, w.table, &w.id)?) {
        (Expect::Absent, Some(_)) => return Err(Error::Exists),
        (Expect::Equals(_), None) => return Err(Error::NotFound),
        (Expect::Equals(want), Some(now)) if *want != now => return Err(Error::Conflict),
        _ => {}
    }
    check(&tx, w.team_exists.as_deref(), w.team_unused.as_deref())?;
    let table = w.table.name();
    match &w.record {
        Some(r) => tx.execute(
            &format!("INSERT OR REPLACE INTO {table} (id, record) VALUES (?1, ?2)"),
            params![w.id, r],
        ),
        None => tx.execute(&format!("DELETE FROM {table} WHERE id = ?1"), [&w.id]),
    }
    .map_err(io)?;
    tx.execute("INSERT INTO audit (entry) VALUES (?1)", [&w.audit])
        .map_err(io)?;
    tx.commit().map_err(io)
}

fn add_spend(conn: &mut Connection, day: u64, adds: &[(String, u64)]) -> Result<(), Error> {
    let tx = conn.transaction().map_err(io)?;
    for (scope, micros) in adds {
        tx.execute(
            "INSERT INTO spend (day, scope, micros) VALUES (?1, ?2, ?3)
             ON CONFLICT (day, scope) DO UPDATE SET micros = micros + excluded.micros",
            params![day as i64, scope, *micros as i64],
        )
        .map_err(io)?;
    }
    tx.execute(
        "DELETE FROM spend WHERE day < ?1",
        [day.saturating_sub(SPEND_DAYS_KEPT) as i64],
    )
    .map_err(io)?;
    tx.commit().map_err(io)
}

fn spend(conn: &mut Connection, days: &[u64]) -> Result<Vec<Spend>, Error> {
    let mut st = conn
        .prepare("SELECT scope, micros FROM spend WHERE day = ?1")
        .map_err(io)?;
    days.iter()
        .map(|&day| {
            st.query_map([day as i64], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?.max(0) as u64))
            })
            .map_err(io)?
            .collect::<Result<Spend, _>>()
            .map_err(io)
        })
        .collect()
}

#[async_trait]
impl Backend for Sqlite {
    fn name(&self) -> &'static str {
        "sqlite"
    }

    async fn snapshot(&self) -> Result<Snapshot, Error> {
        self.with(|c| {
            Ok(Snapshot {
                keys: Self::all(c, Table::Keys)?,
                teams: Self::all(c, Table::Teams)?,
            })
        })
        .await
    }

    async fn get(&self, table: Table, id: &str) -> Result<Option<String>, Error> {
        let id = id.to_string();
        self.with(move |c| current(c, table, &id)).await
    }

    async fn write(&self, w: Write<'_>) -> Result<(), Error> {
        let owned = Owned {
            table: w.table,
            id: w.id.to_string(),
            expect: w.expect,
            record: w.record,
            audit: w.audit,
            team_exists: w.team_exists.map(str::to_string),
            team_unused: w.team_unused.map(str::to_string),
        };
        self.with(move |c| write(c, owned)).await
    }

    async fn audit(&self, limit: usize) -> Result<Vec<String>, Error> {
        self.with(move |c| {
            let mut st = c
                .prepare("SELECT entry FROM audit ORDER BY seq DESC LIMIT ?1")
                .map_err(io)?;
            let rows = st
                .query_map([limit as i64], |r| r.get::<_, String>(0))
                .map_err(io)?;
            rows.collect::<Result<_, _>>().map_err(io)
        })
        .await
    }

    /// `PRAGMA data_version` moves when another connection commits (this process's own
    /// writes are applied to the maps as they are made).
    async fn version(&self) -> Result<String, Error> {
        self.with(|c| {
            c.query_row("PRAGMA data_version", [], |r| r.get::<_, i64>(0))
                .map(|v| v.to_string())
                .map_err(io)
        })
        .await
    }

    async fn add_spend(&self, day: u64, adds: &[(String, u64)]) -> Result<(), Error> {
        let adds = adds.to_vec();
        self.with(move |c| add_spend(c, day, &adds)).await
    }

    async fn spend(&self, days: &[u64]) -> Result<Vec<Spend>, Error> {
        let days = days.to_vec();
        self.with(move |c| spend(c, &days)).await
    }
}
