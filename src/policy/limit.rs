//! Per-key and global limits with pingora-limits: requests per minute as a sliding estimate
//! over two fixed windows (`prev × (1 − elapsed fraction) + current`, so a burst at a window
//! edge is not doubled) and requests in flight (`Inflight` guards held in the request context
//! until the response has ended, streams included). The counters are process-wide: limits hold
//! across worker threads and survive config reloads.
//!
//! Every limit is checked, then (only if all admit) counted: two threads admitted at the same
//! instant can each see the last free slot, so a burst may pass the limit by at most the
//! number of worker threads. Refused requests are not counted by any limit, so a client
//! hammering a limit is admitted again as soon as its rate falls, and a request one key's
//! limit refuses takes nothing from the global budget.

use crate::config::error::ConfigError;
use crate::config::file::LimitsSection;
use crate::error::GatewayError;
use crate::policy::auth::ApiKey;
use pingora_limits::inflight::{Guard, Inflight};
use pingora_limits::rate::Rate;
use std::time::Duration;

const WINDOW: Duration = Duration::from_secs(60);

/// Limits over all keys (from `limits:`).
#[derive(Debug, Default, Clone, Copy)]
pub struct GlobalLimits {
    pub rpm: Option<u32>,
    pub concurrency: Option<u32>,
}

impl TryFrom<&LimitsSection> for GlobalLimits {
    type Error = ConfigError;

    fn try_from(l: &LimitsSection) -> Result<Self, ConfigError> {
        if l.global_rpm == Some(0) || l.global_concurrency == Some(0) {
            return Err(ConfigError::whole(
                "global_rpm and global_concurrency must be > 0 when set",
            ));
        }
        Ok(GlobalLimits {
            rpm: l.global_rpm,
            concurrency: l.global_concurrency,
        })
    }
}

/// Process-wide limiter state. Global and per-key counters live in separate maps, so no key
/// id (not even one named `global`) can share the global buckets.
pub struct Limiter {
    global_rate: Rate,
    key_rate: Rate,
    global_inflight: Inflight,
    key_inflight: Inflight,
}

/// The one id of the global maps.
const GLOBAL: &str = "";

impl Default for Limiter {
    fn default() -> Self {
        Limiter {
            global_rate: Rate::new(WINDOW),
            key_rate: Rate::new(WINDOW),
            global_inflight: Inflight::new(),
            key_inflight: Inflight::new(),
        }
    }
}

/// An admitted request: hold it until the response has ended.
#[derive(Default)]
pub struct Admission {
    _guards: Vec<Guard>,
    /// OpenAI's `x-ratelimit-*` headers for the key's RPM limit.
    pub headers: Vec<(&'static str, String)>,
}

/// One rate check's reading: what is used of the limit, and when the window resets.
struct RateState {
    used: f64,
    reset_s: u64,
}

impl Limiter {
    /// Admits one request of `key` (None when the gateway runs open) or refuses it with a 429.
    /// Every limit is checked before anything is counted, so a request refused by one limit
    /// uses up none of the others.
    pub fn admit(
        &self,
        key: Option<&ApiKey>,
        global: GlobalLimits,
    ) -> Result<Admission, GatewayError> {
        let global_rpm = global
            .rpm
            .map(|l| (l, rate_state(&self.global_rate, GLOBAL)));
        if let Some((limit, st)) = &global_rpm {
            refuse_over(*limit, st, "the gateway's global")?;
        }
        let key_rpm = key.and_then(|k| k.rpm.map(|l| (k, l, rate_state(&self.key_rate, &k.id))));
        if let Some((k, limit, st)) = &key_rpm {
            refuse_over(*limit, st, &format!("key `{}`", k.id))?;
        }
        let mut adm = Admission::default();
        if let Some(limit) = global.concurrency {
            adm._guards.push(hold(
                &self.global_inflight,
                GLOBAL,
                limit,
                "the gateway's global",
            )?);
        }
        if let Some(k) = key {
            if let Some(limit) = k.max_concurrency {
                adm._guards.push(hold(
                    &self.key_inflight,
                    &k.id,
                    limit,
                    &format!("key `{}`", k.id),
                )?);
            }
        }
        // Admitted: only now count the request against the rates.
        if global_rpm.is_some() {
            self.global_rate.observe(&GLOBAL, 1);
        }
        if let Some((k, limit, st)) = key_rpm {
            self.key_rate.observe(&k.id.as_str(), 1);
            let remaining = (f64::from(limit) - st.used - 1.0).max(0.0).floor() as u64;
            adm.headers = vec![
                ("x-ratelimit-limit-requests", limit.to_string()),
                ("x-ratelimit-remaining-requests", remaining.to_string()),
                ("x-ratelimit-reset-requests", format!("{}s", st.reset_s)),
            ];
        }
        Ok(adm)
    }
}

/// The sliding estimate for `id`: `prev × (1 − elapsed fraction) + current`.
fn rate_state(rate: &Rate, id: &str) -> RateState {
    let (used, fraction) = rate.rate_with(&id, |c| {
        let prev = c.prev_samples as f64;
        let curr = c.curr_samples as f64;
        (
            prev * (1.0 - c.current_interval_fraction) + curr,
            c.current_interval_fraction,
        )
    });
    let reset_s = (WINDOW.as_secs_f64() * (1.0 - fraction)).ceil().max(1.0) as u64;
    RateState { used, reset_s }
}

fn refuse_over(limit: u32, st: &RateState, who: &str) -> Result<(), GatewayError> {
    if st.used < f64::from(limit) {
        return Ok(());
    }
    let reset_s = st.reset_s;
    Err(GatewayError::RateLimited {
        message: format!(
            "Rate limit reached for {who} requests per minute: limit {limit}. Retry after {reset_s} s."
        ),
        headers: vec![
            ("retry-after", reset_s.to_string()),
            ("x-ratelimit-limit-requests", limit.to_string()),
            ("x-ratelimit-remaining-requests", "0".into()),
            ("x-ratelimit-reset-requests", format!("{reset_s}s")),
        ],
    })
}

fn hold(inflight: &Inflight, id: &str, limit: u32, who: &str) -> Result<Guard, GatewayError> {
    let (guard, now) = inflight.incr(id, 1);
    if now > i64::from(limit) as isize {
        drop(guard);
        return Err(GatewayError::RateLimited {
            message: format!(
                "Too many requests in flight for {who}: limit {limit}. Retry when one finishes."
            ),
            headers: vec![("retry-after", "1".into())],
        });
    }
    Ok(guard)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_rpm_counts_admitted_only() {
        let l = Limiter::default();
        let g = GlobalLimits {
            rpm: Some(5),
            concurrency: None,
        };
        let ok = (0..20).filter(|_| l.admit(None, g).is_ok()).count();
        assert_eq!(ok, 5);
    }

    fn key(id: &str, rpm: Option<u32>) -> ApiKey {
        ApiKey::for_tests(id, rpm, None)
    }

    #[test]
    fn a_key_named_global_has_its_own_buckets() {
        let l = Limiter::default();
        let g = GlobalLimits {
            rpm: Some(3),
            concurrency: None,
        };
        let k = key("global", Some(100));
        for _ in 0..3 {
            assert!(l.admit(Some(&k), g).is_ok());
        }
        // The global budget is spent, and the key's own count is 3 of 100, not 6.
        let other = key("other", None);
        assert!(l.admit(Some(&other), g).is_err());
        let open = GlobalLimits::default();
        let adm = l.admit(Some(&k), open).ok().unwrap();
        assert!(adm
            .headers
            .contains(&("x-ratelimit-remaining-requests", "96".to_string())));
    }

    #[test]
    fn refused_requests_take_nothing_from_the_global_budget() {
        let l = Limiter::default();
        let g = GlobalLimits {
            rpm: Some(5),
            concurrency: None,
        };
        let tight = key("tight", Some(1));
        let admitted = (0..10).filter(|_| l.admit(Some(&tight), g).is_ok()).count();
        assert_eq!(admitted, 1);
        // 9 refusals by the key's own limit: the global budget still has 4 of 5.
        let other = key("other", None);
        let ok = (0..10).filter(|_| l.admit(Some(&other), g).is_ok()).count();
        assert_eq!(ok, 4);
    }

    #[test]
    fn concurrency_released_on_drop() {
        let l = Limiter::default();
        let g = GlobalLimits {
            rpm: None,
            concurrency: Some(2),
        };
        let a = l.admit(None, g).ok();
        let b = l.admit(None, g).ok();
        assert!(a.is_some() && b.is_some());
        assert!(l.admit(None, g).is_err());
        drop(a);
        assert!(l.admit(None, g).is_ok());
    }
}
