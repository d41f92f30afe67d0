//! Where managed keys, teams, the audit and daily spend are kept: a [`Backend`]. Two exist,
//! chosen by `auth.store.backend`:
//!
//! - [`super::sqlite`]: one embedded SQLite file (the default; survives `kill -9`, no server
//!   to run, shared by the old and new process of a zero-downtime upgrade);
//! - [`super::redis`]: the `redis:` every instance already shares, so instances on different
//!   hosts see the same keys.
//!
//! Records travel as JSON text: the backends store and compare it, [`super::ManagedKeys`]
//! gives it its types. Every write is conditional ([`Expect`]) and carries its audit entry, so
//! a read-modify-write that lost a race is retried instead of overwriting the other change.

use async_trait::async_trait;
use std::collections::HashMap;

/// What a record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Keys,
    Teams,
}

impl Table {
    pub fn name(self) -> &'static str {
        match self {
            Table::Keys => "keys",
            Table::Teams => "teams",
        }
    }
}

/// The condition a write needs: no record yet (a create), or the record as it was read.
#[derive(Debug, Clone)]
pub enum Expect {
    Absent,
    Equals(String),
}

/// One conditional write and its audit entry.
#[derive(Debug)]
pub struct Write<'a> {
    pub table: Table,
    pub id: &'a str,
    pub expect: Expect,
    /// The new record (`None` deletes it).
    pub record: Option<String>,
    pub audit: String,
    /// A team that must exist (a key joining it).
    pub team_exists: Option<&'a str>,
    /// A team no live key may belong to (the team being deleted).
    pub team_unused: Option<&'a str>,
}

/// Every record, as JSON text.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub keys: Vec<String>,
    pub teams: Vec<String>,
}

#[derive(Debug)]
pub enum Error {
    NotFound,
    Exists,
    /// The record changed since it was read: read again and retry.
    Conflict,
    /// The key names a team that does not exist.
    NoTeam(String),
    /// The team still has live keys.
    TeamInUse(String),
    Invalid(String),
    /// The backend could not be reached (Redis away).
    Unavailable(String),
    Io(String),
}

/// Spend per scope (`k:ID`, `t:ID`) in micro-dollars.
pub type Spend = HashMap<String, u64>;

#[async_trait]
pub trait Backend: Send + Sync {
    /// `sqlite` or `redis` (for `/health` and logs).
    fn name(&self) -> &'static str;
    async fn snapshot(&self) -> Result<Snapshot, Error>;
    async fn get(&self, table: Table, id: &str) -> Result<Option<String>, Error>;
    async fn write(&self, w: Write<'_>) -> Result<(), Error>;
    /// The audit, newest first.
    async fn audit(&self, limit: usize) -> Result<Vec<String>, Error>;
    /// Changes whenever any process commits a write.
    async fn version(&self) -> Result<String, Error>;
    /// Adds spend to the UTC day `day` (days since 1970-01-01).
    async fn add_spend(&self, day: u64, adds: &[(String, u64)]) -> Result<(), Error>;
    /// The spend of each of `days`.
    async fn spend(&self, days: &[u64]) -> Result<Vec<Spend>, Error>;
}

/// How many days of spend are kept.
pub const SPEND_DAYS_KEPT: u64 = 400;
/// How many audit entries Redis keeps (SQLite keeps all): at most ~17 KiB each (two 8 KiB
/// metadata copies), so the audit stays under ~170 MB of the shared Redis.
pub const AUDIT_KEPT: usize = 10_000;
