//! The shared backend: the `redis:` every instance already uses, so instances on different
//! hosts manage one set of keys. Everything lives under one cluster hash tag (`{PREFIX:keys}`),
//! so the one script that makes a write (check, write, audit, version) is atomic on a Redis
//! Cluster as well:
//!
//! - `{PREFIX:keys}:keys`, `{PREFIX:keys}:teams`: hashes of id → record (JSON);
//! - `{PREFIX:keys}:audit`: a list, newest first, trimmed to [`AUDIT_KEPT`];
//! - `{PREFIX:keys}:version`: incremented by every write; instances poll it to reload;
//! - `{PREFIX:keys}:spend:DAY`: a hash of scope → micro-dollars, expiring after
//!   [`SPEND_DAYS_KEPT`] days.
//!
//! Durability is Redis's own (`appendonly yes` keeps acknowledged writes across a Redis
//! restart), and so is eviction: these keys have no TTL, so a `maxmemory-policy` of
//! `noeviction` or `volatile-*` keeps them (an `allkeys-*` policy could evict a key's record). While Redis is away every instance keeps serving the keys it
//! last loaded, and admin writes answer 503.

use super::store::{
    Backend, Error, Expect, Snapshot, Spend, Table, Write, AUDIT_KEPT, SPEND_DAYS_KEPT,
};
use crate::state::redis::{SharedError, SharedState};
use async_trait::async_trait;
use std::sync::Arc;

pub struct RedisStore {
    shared: Arc<SharedState>,
    script: redis::Script,
}

/// KEYS: the record's hash, teams, keys, audit, version. ARGV: id, expect (`absent` or
/// `equals`), the expected record, the new record (empty deletes), the audit entry, a team
/// that must exist, a team no live key may belong to (empty: none).
const WRITE: &str = r#"
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if ARGV[2] == 'absent' then
  if cur then return 'exists' end
else
  if not cur then return 'missing' end
  if cur ~= ARGV[3] then return 'conflict' end
end
if ARGV[6] ~= '' and redis.call('HEXISTS', KEYS[2], ARGV[6]) == 0 then return 'no_team' end
if ARGV[7] ~= '' then
  for _, v in ipairs(redis.call('HVALS', KEYS[3])) do
    local ok, r = pcall(cjson.decode, v)
    if ok and r.team == ARGV[7] and r.revoked ~= true then return 'team_in_use' end
  end
end
if ARGV[4] == '' then
  redis.call('HDEL', KEYS[1], ARGV[1])
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[4])
end
redis.call('LPUSH', KEYS[4], ARGV[5])
redis.call('LTRIM', KEYS[4], 0, tonumber(ARGV[8]) - 1)
redis.call('INCR', KEYS[5])
return 'ok'
"#;

fn down(e: SharedError) -> Error {
    Error::Unavailable(e.to_string())
}

impl RedisStore {
    pub fn new(shared: Arc<SharedState>) -> RedisStore {
        RedisStore {
            shared,
            script: redis::Script::new(WRITE),
        }
    }

    fn key(&self, rest: &str) -> String {
        self.shared.key("keys", rest)
    }

    async fn all(&self, table: Table) -> Result<Vec<String>, Error> {
        let key = self.key(table.name());
        let mut map: Vec<(String, String)> = self
            .shared
            .run("keys_load", |mut c| async move {
                redis::cmd("HGETALL").arg(&key).query_async(&mut c).await
            })
            .await
            .map_err(down)?;
        map.sort();
        Ok(map.into_iter().map(|(_, v)| v).collect())
    }
}

#[async_trait]
impl Backend for RedisStore {
    fn name(&self) -> &'static str {
        "redis"
    }

    async fn snapshot(&self) -> Result<Snapshot, Error> {
        Ok(Snapshot {
            keys: self.all(Table::Keys).await?,
            teams: self.all(Table::Teams).await?,
        })
    }

    async fn get(&self, table: Table, id: &str) -> Result<Option<String>, Error> {
        let key = self.key(table.name());
        let id = id.to_string();
        self.shared
            .run("keys_get", |mut c| async move {
                redis::cmd("HGET")
                    .arg(&key)
                    .arg(&id)
                    .query_async(&mut c)
                    .await
            })
            .await
            .map_err(down)
    }

    async fn write(&self, w: Write<'_>) -> Result<(), Error> {
        let (mode, expected) = match &w.expect {
            Expect::Absent => ("absent", ""),
            Expect::Equals(s) => ("equals", s.as_str()),
        };
        let mut inv = self.script.prepare_invoke();
        inv.key(self.key(w.table.name()))
            .key(self.key("teams"))
            .key(self.key("keys"))
            .key(self.key("audit"))
            .key(self.key("version"))
            .arg(w.id)
            .arg(mode)
            .arg(expected)
            .arg(w.record.as_deref().unwrap_or(""))
            .arg(&w.audit)
            .arg(w.team_exists.unwrap_or(""))
            .arg(w.team_unused.unwrap_or(""))
            .arg(AUDIT_KEPT);
        let bytes = w.audit.len() + w.record.as_ref().map_or(0, String::len);
        let answer: String = self
            .shared
            .run_sized("keys_write", bytes, |mut c| async move {
                inv.invoke_async(&mut c).await
            })
            .await
            .map_err(down)?;
        match answer.as_str() {
            "ok" => Ok(()),
            "exists" => Err(Error::Exists),
            "missing" => Err(Error::NotFound),
            "conflict" => Err(Error::Conflict),
            "no_team" => Err(Error::NoTeam(w.team_exists.unwrap_or("").to_string())),
            "team_in_use" => Err(Error::TeamInUse(w.team_unused.unwrap_or("").to_string())),
            other => Err(Error::Io(format!("unexpected answer `{other}`"))),
        }
    }

    async fn audit(&self, limit: usize) -> Result<Vec<String>, Error> {
        let key = self.key("audit");
        let last = limit.saturating_sub(1) as isize;
        self.shared
            .run("keys_audit", |mut c| async move {
                redis::cmd("LRANGE")
                    .arg(&key)
                    .arg(0)
                    .arg(last)
                    .query_async(&mut c)
                    .await
            })
            .await
            .map_err(down)
    }

    async fn version(&self) -> Result<String, Error> {
        let key = self.key("version");
        let v: Option<String> = self
            .shared
            .run("keys_version", |mut c| async move {
                redis::cmd("GET").arg(&key).query_async(&mut c).await
            })
            .await
            .map_err(down)?;
        Ok(v.unwrap_or_else(|| "0".into()))
    }

    async fn add_spend(&self, day: u64, adds: &[(String, u64)]) -> Result<(), Error> {
        let key = self.key(&format!("spend:{day}"));
        // All or nothing (MULTI/EXEC): a flush that fails is retried whole. One whose answer
        // is lost after it applied is added again: spend reports are at-least-once (budgets
        // are the limiter's counters, not these).
        let mut pipe = redis::pipe();
        pipe.atomic();
        for (scope, micros) in adds {
            pipe.cmd("HINCRBY")
                .arg(&key)
                .arg(scope)
                .arg(*micros)
                .ignore();
        }
        pipe.cmd("EXPIRE")
            .arg(&key)
            .arg(SPEND_DAYS_KEPT * 86_400)
            .ignore();
        self.shared
            .run("spend_add", |mut c| async move {
                pipe.query_async::<()>(&mut c).await
            })
            .await
            .map_err(down)
    }

    async fn spend(&self, days: &[u64]) -> Result<Vec<Spend>, Error> {
        let mut pipe = redis::pipe();
        for day in days {
            pipe.cmd("HGETALL").arg(self.key(&format!("spend:{day}")));
        }
        self.shared
            .run("spend_read", |mut c| async move {
                pipe.query_async::<Vec<Spend>>(&mut c).await
            })
            .await
            .map_err(down)
    }
}
