//! The limits of several instances, kept in Redis by one Lua script per request: every counter
//! (requests and tokens, per minute and per day, per key and global) and every concurrency
//! lease is checked, and only if all admit is anything added, atomically, in one round trip.
//! The gateway never reads, modifies and writes a counter itself.
//!
//! Concurrency slots are leases: members of a sorted set scored by their expiry. An instance
//! renews its live leases every third of `lease_ttl_ms` (one script call for all of them), so
//! a stream may outlive the TTL; an instance that dies stops renewing and its slots expire
//! within the TTL. All limiter keys share one cluster hash tag, so a script's keys live in one
//! slot of a Redis Cluster.

use super::local::Reading;
use super::quota::{Counter, Window};
use crate::state::redis::{SharedError, SharedState};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// KEYS: counter bases, then lease sets. ARGV: number of counters, the lease member, the
/// lease TTL (ms), then (window, limit, cost) per counter, then the limit per lease set. A
/// window is `S:<ms>` (a sliding window on the server's clock) or `F:<index>:<ms left>:<ms to
/// keep>` (a fixed calendar window the gateway computed: a UTC day or month). Returns
/// `{1, used, reset_ms, idx, ...}` or `{0, i, used, reset_ms}` (KEYS[i] refused).
const ADMIT: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local nc = tonumber(ARGV[1])
local member, ttl = ARGV[2], tonumber(ARGV[3])
local res, idxs, keeps = {1}, {}, {}
for i = 1, nc do
  local a = 3 + (i - 1) * 3
  local spec, limit, cost = ARGV[a + 1], tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  local idx, used, reset, keep
  if string.sub(spec, 1, 2) == 'F:' then
    local fi, fr, fk = string.match(spec, 'F:(%d+):(%d+):(%d+)')
    idx, reset, keep = tonumber(fi), tonumber(fr), tonumber(fk)
    used = tonumber(redis.call('GET', KEYS[i] .. ':' .. fi) or '0')
  else
    local win = tonumber(string.sub(spec, 3))
    idx = math.floor(now / win)
    local prev = tonumber(redis.call('GET', KEYS[i] .. ':' .. (idx - 1)) or '0')
    used = prev * (1 - (now % win) / win) + tonumber(redis.call('GET', KEYS[i] .. ':' .. idx) or '0')
    reset, keep = win - (now % win), win * 2
  end
  if used + cost > limit then return {0, i, math.floor(used), reset} end
  idxs[i], keeps[i] = idx, keep
  res[#res + 1] = math.floor(used)
  res[#res + 1] = reset
  res[#res + 1] = idx
end
local base = 3 + nc * 3
for j = nc + 1, #KEYS do
  redis.call('ZREMRANGEBYSCORE', KEYS[j], '-inf', now)
  if redis.call('ZCARD', KEYS[j]) >= tonumber(ARGV[base + j - nc]) then
    return {0, j, redis.call('ZCARD', KEYS[j]), 1000}
  end
end
for i = 1, nc do
  local a = 3 + (i - 1) * 3
  local k = KEYS[i] .. ':' .. string.format('%d', idxs[i])
  redis.call('INCRBY', k, tonumber(ARGV[a + 3]))
  redis.call('PEXPIRE', k, keeps[i])
end
for j = nc + 1, #KEYS do
  redis.call('ZADD', KEYS[j], now + ttl, member)
  redis.call('PEXPIRE', KEYS[j], ttl * 2)
end
return res
"#;

/// KEYS: counter windows to correct, then lease sets to leave. ARGV: number of corrections,
/// the lease member, then one delta per correction. A count never goes below zero.
const SETTLE: &str = r#"
local n = tonumber(ARGV[1])
for i = 1, n do
  local v = redis.call('INCRBY', KEYS[i], tonumber(ARGV[2 + i]))
  if v < 0 then redis.call('SET', KEYS[i], 0, 'KEEPTTL') end
end
for j = n + 1, #KEYS do redis.call('ZREM', KEYS[j], ARGV[2]) end
return 1
"#;

/// KEYS: lease sets; ARGV: TTL (ms), then the member per key. Extends live leases only.
const RENEW: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[1])
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], 'XX', now + ttl, ARGV[1 + i])
  redis.call('PEXPIRE', KEYS[i], ttl * 2)
end
return 1
"#;

/// Concurrency slots held in Redis by one request.
#[derive(Debug)]
pub struct Lease {
    pub member: String,
    pub keys: Vec<String>,
}

/// What the script said.
#[derive(Debug)]
pub enum Verdict {
    Admitted {
        readings: Vec<Reading>,
        lease: Option<Lease>,
    },
    /// Refused by `counters[i]` (or, for `i >= counters.len()`, by lease set
    /// `i - counters.len()`).
    Refused { index: usize, reading: Reading },
}

/// The limiter's Redis side.
pub struct SharedLimits {
    pub state: Arc<SharedState>,
    admit: redis::Script,
    settle: redis::Script,
    renew: redis::Script,
    /// Leases held by this instance, renewed in the background.
    held: Mutex<HashMap<String, Vec<String>>>,
    next: AtomicU64,
}

impl SharedLimits {
    pub fn new(state: Arc<SharedState>) -> SharedLimits {
        SharedLimits {
            state,
            admit: redis::Script::new(ADMIT),
            settle: redis::Script::new(SETTLE),
            renew: redis::Script::new(RENEW),
            held: Mutex::default(),
            next: AtomicU64::new(0),
        }
    }

    fn counter_key(&self, c: &Counter) -> String {
        self.state.key("limits", &c.name())
    }

    /// The lease set of a scope.
    pub fn lease_key(&self, scope: &str) -> String {
        self.state.key("limits", &format!("{scope}:c"))
    }

    /// Checks and, if all admit, counts `counters` and takes a slot in each lease set.
    pub async fn admit(
        &self,
        counters: &[Counter],
        leases: &[(String, u32)],
    ) -> Result<Verdict, SharedError> {
        let member = format!(
            "{}:{}",
            self.state.instance_id,
            self.next.fetch_add(1, Ordering::Relaxed)
        );
        let ttl = self.state.settings.lease_ttl.as_millis() as u64;
        let mut inv = self.admit.prepare_invoke();
        for c in counters {
            inv.key(self.counter_key(c));
        }
        let lease_keys: Vec<String> = leases.iter().map(|(s, _)| self.lease_key(s)).collect();
        for k in &lease_keys {
            inv.key(k);
        }
        inv.arg(counters.len()).arg(&member).arg(ttl);
        let now = super::local::now_ms();
        for c in counters {
            let spec = match c.window {
                Window::Minute => "S:60000".to_string(),
                w => {
                    let (idx, _, left) = w.position(now);
                    format!("F:{idx}:{left}:{}", w.keep().as_millis())
                }
            };
            inv.arg(spec).arg(c.limit).arg(c.cost);
        }
        for (_, limit) in leases {
            inv.arg(*limit);
        }
        let reply: Vec<i64> = self
            .state
            .run("limits", |mut conn| async move {
                inv.invoke_async(&mut conn).await
            })
            .await?;
        Ok(self.verdict(&reply, member, lease_keys))
    }

    fn verdict(&self, reply: &[i64], member: String, lease_keys: Vec<String>) -> Verdict {
        let num = |i: usize| reply.get(i).copied().unwrap_or(0).max(0) as u64;
        if reply.first() != Some(&1) {
            return Verdict::Refused {
                index: num(1).saturating_sub(1) as usize,
                reading: Reading {
                    used: num(2) as f64,
                    reset_ms: num(3),
                    idx: 0,
                },
            };
        }
        let readings = reply[1..]
            .chunks(3)
            .map(|c| Reading {
                used: c.first().copied().unwrap_or(0).max(0) as f64,
                reset_ms: c.get(1).copied().unwrap_or(0).max(0) as u64,
                idx: c.get(2).copied().unwrap_or(0).max(0) as u64,
            })
            .collect();
        let lease = (!lease_keys.is_empty()).then(|| {
            let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
            held.insert(member.clone(), lease_keys.clone());
            Lease {
                member,
                keys: lease_keys,
            }
        });
        Verdict::Admitted { readings, lease }
    }

    /// Settles token reservations (`(counter, window index, delta)`) and leaves the lease, in
    /// one round trip. A failure leaves the reservation standing and the lease to expire.
    pub async fn settle(&self, corrections: Vec<(Counter, u64, i64)>, lease: Option<Lease>) {
        if let Some(l) = &lease {
            self.held
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&l.member);
        }
        let corrections: Vec<_> = corrections.into_iter().filter(|c| c.2 != 0).collect();
        if corrections.is_empty() && lease.is_none() {
            return;
        }
        let mut inv = self.settle.prepare_invoke();
        for (c, idx, _) in &corrections {
            inv.key(format!("{}:{idx}", self.counter_key(c)));
        }
        let member = lease.as_ref().map_or(String::new(), |l| l.member.clone());
        for k in lease.iter().flat_map(|l| &l.keys) {
            inv.key(k);
        }
        inv.arg(corrections.len()).arg(member);
        for (_, _, delta) in &corrections {
            inv.arg(*delta);
        }
        let _ = self
            .state
            .run("settle", |mut conn| async move {
                inv.invoke_async::<i64>(&mut conn).await
            })
            .await;
    }

    /// Forgets a lease without telling Redis (it expires by itself).
    pub fn abandon(&self, lease: &Lease) {
        self.held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&lease.member);
    }

    /// Extends every lease this instance holds.
    pub async fn renew(&self) {
        let held: Vec<(String, String)> = {
            let held = self.held.lock().unwrap_or_else(|p| p.into_inner());
            held.iter()
                .flat_map(|(m, keys)| keys.iter().map(move |k| (k.clone(), m.clone())))
                .collect()
        };
        if held.is_empty() {
            return;
        }
        let mut inv = self.renew.prepare_invoke();
        for (k, _) in &held {
            inv.key(k);
        }
        inv.arg(self.state.settings.lease_ttl.as_millis() as u64);
        for (_, m) in &held {
            inv.arg(m);
        }
        let _ = self
            .state
            .run("renew", |mut conn| async move {
                inv.invoke_async::<i64>(&mut conn).await
            })
            .await;
    }
}

/// Renews this instance's concurrency leases every third of their TTL.
pub struct LeaseRenewer {
    pub limits: Arc<SharedLimits>,
}

#[async_trait::async_trait]
impl pingora::services::background::BackgroundService for LeaseRenewer {
    async fn start(&self, mut shutdown: pingora::server::ShutdownWatch) {
        let every = self.limits.state.settings.lease_ttl / 3;
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tokio::time::sleep(every) => self.limits.renew().await,
            }
        }
    }
}
