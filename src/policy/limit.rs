//! Per-key and global limits: requests and tokens per minute and per day, and requests in
//! flight. One instance keeps its counters in-process ([`LocalCounters`], pingora-limits'
//! `Inflight` for concurrency); several share them through Redis ([`SharedLimits`], one
//! script per request). When Redis is away, `redis.on_failure: local` falls back to the
//! in-process counters with each limit divided by `redis.instances`; `refuse` answers 503.
//!
//! Every limit is checked, then (only if all admit) counted, so a request one limit refuses
//! takes nothing from the others, and global and per-key counters never share a name. In
//! process, two worker threads admitted at the same instant are serialised by one lock; in
//! Redis the script is atomic.
//!
//! A request is admitted before its body is read (requests, concurrency, and a check that no
//! token window is spent); its tokens are reserved once the body is read
//! ([`Admission::reserve`], [`quota::reservation`]) and settled to the real
//! usage when the response has ended, streams included; an answer whose usage is unknown
//! keeps its reservation (never zero).

use super::local::{now_ms, LocalCounters, Reading};
use super::quota::{self, Counter, Quota, Unit, Window};
use super::shared_limits::{Lease, SharedLimits, Verdict};
use crate::config::choices::RedisOnFailure as OnFailure;
use crate::config::error::ConfigError;
use crate::config::file::LimitsSection;
use crate::core::error::GatewayError;
use crate::policy::auth::ApiKey;
use pingora_limits::inflight::{Guard, Inflight};
use std::sync::Arc;

/// Limits over all keys (from `limits:`), and how tokens are reserved.
#[derive(Debug, Clone, Copy)]
pub struct GlobalLimits {
    pub quota: Quota,
    /// See [`quota::reservation`].
    pub reserve_output_tokens: u64,
}

impl Default for GlobalLimits {
    fn default() -> Self {
        GlobalLimits {
            quota: Quota::default(),
            reserve_output_tokens: DEFAULT_RESERVE_OUTPUT,
        }
    }
}

/// The output part of a reservation when the file sets none.
const DEFAULT_RESERVE_OUTPUT: u64 = 1024;

impl TryFrom<&LimitsSection> for GlobalLimits {
    type Error = ConfigError;

    fn try_from(l: &LimitsSection) -> Result<Self, ConfigError> {
        let quota = Quota {
            rpm: l.global_rpm,
            rpd: l.global_rpd,
            tpm: l.global_tpm,
            tpd: l.global_tpd,
            concurrency: l.global_concurrency,
            budget: None,
        };
        if quota.has_zero() || l.reserve_output_tokens == Some(0) {
            return Err(ConfigError::whole("limits must be > 0 when set"));
        }
        Ok(GlobalLimits {
            quota,
            reserve_output_tokens: l.reserve_output_tokens.unwrap_or(DEFAULT_RESERVE_OUTPUT),
        })
    }
}

/// Process-wide limiter state: survives config reloads.
pub struct Limiter {
    local: LocalCounters,
    global_inflight: Inflight,
    key_inflight: Inflight,
    /// Set when `redis:` is configured.
    pub shared: Option<Arc<SharedLimits>>,
}

impl Default for Limiter {
    fn default() -> Self {
        Limiter {
            local: LocalCounters::default(),
            global_inflight: Inflight::new(),
            key_inflight: Inflight::new(),
            shared: None,
        }
    }
}

impl Limiter {
    /// A limiter whose counters live in `shared` (Redis) when given, else in-process.
    pub fn new(shared: Option<Arc<SharedLimits>>) -> Limiter {
        Limiter {
            shared,
            ..Default::default()
        }
    }
}

/// What one request asks of the limits. The proxy admits with `tokens: 0` before reading the
/// body (the request, the concurrency slot, and a check that no token window is already
/// spent), then reserves the body's tokens with [`Admission::reserve`].
pub struct Ask<'a> {
    pub key: Option<&'a ApiKey>,
    pub global: &'a GlobalLimits,
    /// The token reservation ([`quota::reservation`]).
    pub tokens: u64,
}

/// Where a counter's count went: settlement corrects it there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Shared,
    Local,
}

/// An admitted request: hold it until the response has ended, then [`Admission::settle`].
#[derive(Default)]
pub struct Admission {
    _guards: Vec<Guard>,
    /// OpenAI's `x-ratelimit-*` headers for the key's limits.
    pub headers: Vec<(&'static str, String)>,
    /// Token and budget counters with the window their count went into, and where.
    reserved: Vec<(Counter, u64, Place)>,
    /// The Redis side, when the concurrency lease lives there.
    shared: Option<Arc<SharedLimits>>,
    lease: Option<Lease>,
    /// The limiter that admitted (the token reservation and local settlement use it).
    limiter: Option<Arc<Limiter>>,
}

impl Drop for Admission {
    fn drop(&mut self) {
        // Not settled (a panic, an early return): the Redis lease expires by itself.
        if let (Some(s), Some(l)) = (&self.shared, &self.lease) {
            s.abandon(l);
        }
    }
}

impl Admission {
    /// After the body is read: reserves `tokens` in every token window the admission checked
    /// (429 when one has no room; the request itself stays counted, as it was made).
    pub async fn reserve(&mut self, tokens: u64) -> Result<(), GatewayError> {
        let at: Vec<usize> = (0..self.reserved.len())
            .filter(|&i| self.reserved[i].0.unit == Unit::Tokens)
            .collect();
        let Some(limiter) = self
            .limiter
            .clone()
            .filter(|_| tokens > 0 && !at.is_empty())
        else {
            return Ok(());
        };
        let counters: Vec<Counter> = at
            .iter()
            .map(|&i| Counter {
                cost: tokens,
                ..self.reserved[i].0.clone()
            })
            .collect();
        let (readings, place) = limiter.count(&counters).await?;
        self.headers.retain(|(h, _)| !h.ends_with("-tokens"));
        for ((&i, c), r) in at.iter().zip(counters).zip(readings) {
            if c.scope.starts_with("k:") && c.window == Window::Minute {
                let remaining = (c.limit as f64 - r.used - c.cost as f64).max(0.0) as u64;
                self.headers
                    .extend(headers(c.unit, c.limit, remaining, r.reset_ms));
            }
            self.reserved[i] = (c, r.idx, place);
        }
        Ok(())
    }

    /// The response has ended: correct the token reservation to `used` (prompt + completion;
    /// `None` when unknown keeps the reservation), add the answer's spend (micro-dollars) to
    /// the budgets, and free the concurrency slots.
    pub fn settle(mut self, used: Option<u64>, spend_micros: u64) {
        let mut shared_fix = Vec::new();
        let mut local_fix = Vec::new();
        for (c, idx, place) in &self.reserved {
            let actual = match c.unit {
                Unit::Tokens => match used {
                    Some(u) => u,
                    None => continue,
                },
                _ => spend_micros,
            };
            let fix = (c.clone(), *idx, actual as i64 - c.cost as i64);
            match place {
                Place::Shared => shared_fix.push(fix),
                Place::Local => local_fix.push(fix),
            }
        }
        if let Some(limiter) = &self.limiter {
            for (c, idx, delta) in local_fix {
                limiter.local.settle(&c.name(), idx, delta);
            }
        }
        let lease = self.lease.take();
        if let Some(shared) = self.shared.clone() {
            if !shared_fix.is_empty() || lease.is_some() {
                tokio::spawn(async move { shared.settle(shared_fix, lease).await });
            }
        }
    }
}

impl Limiter {
    /// Admits one request or refuses it (429, or 503 when shared limits are required and
    /// Redis is away).
    pub async fn admit(self: &Arc<Self>, ask: Ask<'_>) -> Result<Admission, GatewayError> {
        // The scopes: the gateway, the key, and the key's team (whose limits cap the total
        // of its keys).
        let mut scopes = vec![("g".to_string(), ask.global.quota)];
        if let Some(k) = ask.key {
            scopes.push((format!("k:{}", k.id), k.quota));
            if let Some(t) = &k.team {
                scopes.push((format!("t:{}", t.id), t.quota));
            }
        }
        let mut counters = Vec::new();
        let mut leases = Vec::new();
        for (scope, q) in &scopes {
            counters.extend(quota::counters(scope, q, ask.tokens));
            if let Some(c) = q.concurrency {
                leases.push((scope.clone(), c));
            }
        }
        if counters.is_empty() && leases.is_empty() {
            return Ok(Admission::default());
        }
        if let Some(shared) = &self.shared {
            match shared.admit(&counters, &leases).await {
                Ok(Verdict::Admitted { readings, lease }) => {
                    let mut adm = admitted(&counters, &readings, Place::Shared);
                    adm.shared = Some(shared.clone());
                    adm.lease = lease;
                    adm.limiter = Some(self.clone());
                    return Ok(adm);
                }
                Ok(Verdict::Refused { index, reading }) => {
                    return Err(refusal(&counters, &leases, index, reading));
                }
                Err(e) if shared.state.settings.on_failure == OnFailure::Refuse => {
                    return Err(unavailable(&e));
                }
                Err(_) => {} // fall back to this instance's share
            }
        }
        self.admit_locally(&counters, &leases, self.share())
    }

    /// Each instance's part of a limit when counting locally: 1, or `redis.instances` when
    /// this is the fallback of a shared limiter.
    fn share(&self) -> u32 {
        self.shared
            .as_ref()
            .map_or(1, |s| s.state.settings.instances)
    }

    /// Counts `counters` (no concurrency leases): in Redis when shared and reachable, else
    /// in-process (the fallback rules of [`Limiter::admit`]).
    async fn count(&self, counters: &[Counter]) -> Result<(Vec<Reading>, Place), GatewayError> {
        if let Some(shared) = &self.shared {
            match shared.admit(counters, &[]).await {
                Ok(Verdict::Admitted { readings, .. }) => return Ok((readings, Place::Shared)),
                Ok(Verdict::Refused { index, reading }) => {
                    return Err(refusal(counters, &[], index, reading));
                }
                Err(e) if shared.state.settings.on_failure == OnFailure::Refuse => {
                    return Err(unavailable(&e));
                }
                Err(_) => {}
            }
        }
        self.local
            .admit(counters, self.share())
            .map(|r| (r, Place::Local))
            .map_err(|(i, r)| refusal(counters, &[], i, r))
    }

    fn admit_locally(
        self: &Arc<Self>,
        counters: &[Counter],
        leases: &[(String, u32)],
        share: u32,
    ) -> Result<Admission, GatewayError> {
        let readings = self
            .local
            .admit(counters, share)
            .map_err(|(i, r)| refusal(counters, leases, i, r))?;
        let mut guards = Vec::new();
        for (i, (scope, limit)) in leases.iter().enumerate() {
            let inflight = if scope == "g" {
                &self.global_inflight
            } else {
                &self.key_inflight
            };
            let limit = limit.div_ceil(share.max(1));
            let (guard, now) = inflight.incr(scope, 1);
            if now > i64::from(limit) as isize {
                drop(guard);
                // Undo the counts this request already made.
                for (c, r) in counters.iter().zip(&readings) {
                    self.local.settle(&c.name(), r.idx, -(c.cost as i64));
                }
                let reading = Reading {
                    used: limit as f64,
                    reset_ms: 1000,
                    idx: 0,
                };
                return Err(refusal(counters, leases, counters.len() + i, reading));
            }
            guards.push(guard);
        }
        let mut adm = admitted(counters, &readings, Place::Local);
        adm._guards = guards;
        adm.limiter = Some(self.clone());
        Ok(adm)
    }
}

fn unavailable(e: &impl std::fmt::Display) -> GatewayError {
    GatewayError::Unavailable {
        message: format!("Shared limits are unavailable: {e}."),
    }
}

impl Limiter {
    /// A key's usage against each of its limits in the current windows (for `/admin/stats`):
    /// from Redis when shared (this instance's fallback counters when Redis is away).
    pub async fn usage(&self, key: &ApiKey) -> serde_json::Value {
        self.usage_of(&format!("k:{}", key.id), &key.quota).await
    }

    /// A scope's usage against `quota` (`k:ID` a key, `t:ID` a team).
    pub async fn usage_of(&self, scope: &str, quota: &Quota) -> serde_json::Value {
        let mut one = self.usage_many(&[(scope.to_string(), *quota)]).await;
        one.pop().unwrap_or_default()
    }

    /// [`Limiter::usage_of`] of many scopes, with one Redis round trip for all of them (a
    /// listing of every key): each counter is read as an admission of nothing under no limit,
    /// so none is refused and nothing is counted.
    pub async fn usage_many(&self, scopes: &[(String, Quota)]) -> Vec<serde_json::Value> {
        let per: Vec<Vec<Counter>> = scopes
            .iter()
            .map(|(scope, q)| quota::counters(scope, q, 0))
            .map(|mut cs| {
                cs.iter_mut().for_each(|c| c.cost = 0);
                cs
            })
            .collect();
        let all: Vec<Counter> = per.iter().flatten().cloned().collect();
        let mut readings = self.local.peek(&all);
        if let (Some(shared), false) = (&self.shared, all.is_empty()) {
            let peek: Vec<Counter> = all
                .iter()
                .map(|c| Counter {
                    limit: u64::MAX,
                    ..c.clone()
                })
                .collect();
            if let Ok(Verdict::Admitted { readings: r, .. }) = shared.admit(&peek, &[]).await {
                if r.len() == readings.len() {
                    readings = r;
                }
            }
        }
        let mut at = 0;
        scopes
            .iter()
            .zip(per)
            .map(|((scope, q), counters)| {
                let here = readings.get(at..at + counters.len()).unwrap_or(&[]);
                at += counters.len();
                self.usage_doc(scope, q, &counters, here)
            })
            .collect()
    }

    /// One scope's usage document: each limit with its use, and the requests in flight here.
    fn usage_doc(
        &self,
        scope: &str,
        quota: &Quota,
        counters: &[Counter],
        readings: &[Reading],
    ) -> serde_json::Value {
        let mut out = serde_json::Map::new();
        for (c, r) in counters.iter().zip(readings) {
            let (limit, used) = match c.unit {
                Unit::MicroUsd => (
                    serde_json::json!(c.limit as f64 / 1e6),
                    serde_json::json!(r.used / 1e6),
                ),
                _ => (
                    serde_json::json!(c.limit),
                    serde_json::json!(r.used.round() as u64),
                ),
            };
            let name = match (c.unit, c.window) {
                (Unit::Requests, Window::Minute) => "rpm",
                (Unit::Requests, _) => "rpd",
                (Unit::Tokens, Window::Minute) => "tpm",
                (Unit::Tokens, _) => "tpd",
                (Unit::MicroUsd, _) => "budget_usd",
            };
            out.insert(
                name.into(),
                serde_json::json!({"limit": limit, "used": used,
                    "resets_in_seconds": r.reset_ms.div_ceil(1000)}),
            );
        }
        if let Some(limit) = quota.concurrency {
            let (_guard, now) = self.key_inflight.incr(scope, 0);
            out.insert(
                "max_concurrency".into(),
                serde_json::json!({"limit": limit, "in_flight_here": now}),
            );
        }
        serde_json::Value::Object(out)
    }
}

/// The admission: the key's rate-limit headers and the token and budget counters to settle.
fn admitted(counters: &[Counter], readings: &[Reading], place: Place) -> Admission {
    let mut adm = Admission::default();
    for (c, r) in counters.iter().zip(readings) {
        if c.unit != Unit::Requests {
            adm.reserved.push((c.clone(), r.idx, place));
        }
        if c.scope.starts_with("k:") && c.window == Window::Minute {
            let remaining = (c.limit as f64 - r.used - c.cost as f64).max(0.0) as u64;
            adm.headers
                .extend(headers(c.unit, c.limit, remaining, r.reset_ms));
        }
    }
    adm
}

/// OpenAI's `x-ratelimit-{limit,remaining,reset}-{requests,tokens}` (budgets have none).
fn headers(unit: Unit, limit: u64, remaining: u64, reset_ms: u64) -> Vec<(&'static str, String)> {
    let reset = format!("{}s", reset_ms.div_ceil(1000).max(1));
    match unit {
        Unit::MicroUsd => Vec::new(),
        Unit::Requests => vec![
            ("x-ratelimit-limit-requests", limit.to_string()),
            ("x-ratelimit-remaining-requests", remaining.to_string()),
            ("x-ratelimit-reset-requests", reset),
        ],
        Unit::Tokens => vec![
            ("x-ratelimit-limit-tokens", limit.to_string()),
            ("x-ratelimit-remaining-tokens", remaining.to_string()),
            ("x-ratelimit-reset-tokens", reset),
        ],
    }
}

/// The 429 for the counter (or lease set, past the counters) at `index`.
fn refusal(
    counters: &[Counter],
    leases: &[(String, u32)],
    index: usize,
    r: Reading,
) -> GatewayError {
    let reset_s = r.reset_ms.div_ceil(1000).max(1);
    let Some(c) = counters.get(index) else {
        let lease = leases.get(index.saturating_sub(counters.len()));
        let limit = lease.map_or(0, |l| l.1);
        let whom = whom(lease.map_or("g", |l| l.0.as_str()));
        return GatewayError::RateLimited {
            message: format!(
                "Too many requests in flight for {whom}: limit {limit}. Retry when one finishes."
            ),
            headers: vec![("retry-after", "1".into())],
        };
    };
    let mut headers = vec![("retry-after", reset_s.to_string())];
    headers.extend(self::headers(c.unit, c.limit, 0, r.reset_ms));
    if c.unit == Unit::MicroUsd {
        return GatewayError::RateLimited {
            message: format!(
                "The budget of {} is spent: {:.6} of {:.6} USD this {}. Retry after {reset_s} s.",
                whom(&c.scope),
                r.used / 1e6,
                c.limit as f64 / 1e6,
                if c.window == Window::Day {
                    "day"
                } else {
                    "month"
                },
            ),
            headers,
        };
    }
    let ask = if c.unit == Unit::Tokens {
        format!(" (this request reserves {} tokens)", c.cost)
    } else {
        String::new()
    };
    GatewayError::RateLimited {
        message: format!(
            "Rate limit reached for {} {}: limit {}, used {}{ask}. Retry after {reset_s} s.",
            whom(&c.scope),
            c.describe(),
            c.limit,
            r.used.floor() as u64
        ),
        headers,
    }
}

/// Who a counter's scope belongs to, for the client: `g` is the gateway's, `k:<id>` a key's.
fn whom(scope: &str) -> String {
    if let Some(id) = scope.strip_prefix("k:") {
        format!("key `{id}`")
    } else if let Some(id) = scope.strip_prefix("t:") {
        format!("team `{id}`")
    } else {
        "the gateway's global".to_string()
    }
}

/// Milliseconds since the Unix epoch (the windows are aligned to it).
pub fn clock_ms() -> u64 {
    now_ms()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str, rpm: Option<u32>) -> ApiKey {
        ApiKey::for_tests(
            id,
            Quota {
                rpm,
                ..Default::default()
            },
        )
    }

    fn global(rpm: Option<u32>, concurrency: Option<u32>) -> GlobalLimits {
        GlobalLimits {
            quota: Quota {
                rpm,
                concurrency,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    async fn admit(l: &Arc<Limiter>, k: Option<&ApiKey>, g: &GlobalLimits) -> Option<Admission> {
        l.admit(Ask {
            key: k,
            global: g,
            tokens: 0,
        })
        .await
        .ok()
    }

    #[tokio::test]
    async fn global_rpm_counts_admitted_only() {
        let l = Arc::new(Limiter::default());
        let g = global(Some(5), None);
        let mut ok = 0;
        for _ in 0..20 {
            ok += usize::from(admit(&l, None, &g).await.is_some());
        }
        assert_eq!(ok, 5);
    }

    #[tokio::test]
    async fn a_key_named_global_has_its_own_buckets() {
        let l = Arc::new(Limiter::default());
        let g = global(Some(3), None);
        let k = key("global", Some(100));
        for _ in 0..3 {
            assert!(admit(&l, Some(&k), &g).await.is_some());
        }
        // The global budget is spent, and the key's own count is 3 of 100, not 6.
        let other = key("other", None);
        assert!(admit(&l, Some(&other), &g).await.is_none());
        let adm = admit(&l, Some(&k), &GlobalLimits::default()).await.unwrap();
        assert!(adm
            .headers
            .contains(&("x-ratelimit-remaining-requests", "96".to_string())));
    }

    #[tokio::test]
    async fn refused_requests_take_nothing_from_the_global_budget() {
        let l = Arc::new(Limiter::default());
        let g = global(Some(5), None);
        let tight = key("tight", Some(1));
        let mut admitted = 0;
        for _ in 0..10 {
            admitted += usize::from(admit(&l, Some(&tight), &g).await.is_some());
        }
        assert_eq!(admitted, 1);
        // 9 refusals by the key's own limit: the global budget still has 4 of 5.
        let other = key("other", None);
        let mut ok = 0;
        for _ in 0..10 {
            ok += usize::from(admit(&l, Some(&other), &g).await.is_some());
        }
        assert_eq!(ok, 4);
    }

    #[tokio::test]
    async fn concurrency_released_on_drop() {
        let l = Arc::new(Limiter::default());
        let g = global(None, Some(2));
        let a = admit(&l, None, &g).await;
        let b = admit(&l, None, &g).await;
        assert!(a.is_some() && b.is_some());
        assert!(admit(&l, None, &g).await.is_none());
        drop(a);
        assert!(admit(&l, None, &g).await.is_some());
    }

    #[tokio::test]
    async fn requests_are_admitted_before_their_tokens_are_reserved() {
        let l = Arc::new(Limiter::default());
        let k = ApiKey::for_tests(
            "t",
            Quota {
                tpm: Some(1000),
                ..Default::default()
            },
        );
        let g = GlobalLimits::default();
        let ask = || Ask {
            key: Some(&k),
            global: &g,
            tokens: 0,
        };
        let mut a = l.admit(ask()).await.unwrap();
        a.reserve(600).await.unwrap();
        assert!(a
            .headers
            .contains(&("x-ratelimit-remaining-tokens", "400".to_string())));
        // Admitted (400 left), but its body's 600 tokens do not fit.
        let mut b = l.admit(ask()).await.unwrap();
        assert_eq!(b.reserve(600).await.err().unwrap().status(), 429);
        // The first used 1200: the window is over its limit, so the next request is refused
        // before its body is read.
        a.settle(Some(1200), 0);
        assert_eq!(l.admit(ask()).await.err().unwrap().status(), 429);
    }

    #[tokio::test]
    async fn tokens_are_reserved_then_settled() {
        let l = Arc::new(Limiter::default());
        let k = ApiKey::for_tests(
            "t",
            Quota {
                tpm: Some(1000),
                ..Default::default()
            },
        );
        let g = GlobalLimits::default();
        let ask = |tokens| Ask {
            key: Some(&k),
            global: &g,
            tokens,
        };
        let a = l.admit(ask(600)).await.unwrap();
        assert!(a
            .headers
            .contains(&("x-ratelimit-remaining-tokens", "400".to_string())));
        let refused = l.admit(ask(600)).await.err().unwrap();
        assert_eq!(refused.status(), 429);
        assert!(refused
            .headers()
            .iter()
            .any(|(h, _)| *h == "x-ratelimit-reset-tokens"));
        a.settle(Some(100), 0); // used 100 of the 600 reserved
        let b = l.admit(ask(600)).await.unwrap();
        assert!(b
            .headers
            .contains(&("x-ratelimit-remaining-tokens", "300".to_string())));
    }
}
