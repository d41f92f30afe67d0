//! Per-key and global limits with pingora-limits: requests per minute as a sliding estimate
//! over two fixed windows (`prev × (1 − elapsed fraction) + current`, so a burst at a window
//! edge is not doubled) and requests in flight (`Inflight` guards held in the request context
//! until the response has ended, streams included). The counters are process-wide: limits hold
//! across worker threads and survive config reloads.
//!
//! The estimate is checked, then incremented: two threads admitted at the same instant can
//! each see the last free slot, so a burst may pass the limit by at most the number of worker
//! threads. Refused requests are not counted, so a client hammering a limit is admitted again
//! as soon as its rate falls.

use crate::policy::auth::ApiKey;
use crate::error::GatewayError;
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

/// Process-wide limiter state.
pub struct Limiter {
    rate: Rate,
    inflight: Inflight,
}

impl Default for Limiter {
    fn default() -> Self {
        Limiter {
            rate: Rate::new(WINDOW),
            inflight: Inflight::new(),
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

/// A refusal: the 429 and its headers.
pub struct Refusal {
    pub error: GatewayError,
    pub headers: Vec<(&'static str, String)>,
}

impl Limiter {
    /// Admits one request of `key` (None when the gateway runs open) or refuses it.
    pub fn admit(&self, key: Option<&ApiKey>, global: GlobalLimits) -> Result<Admission, Refusal> {
        let mut adm = Admission::default();
        if let Some(limit) = global.rpm {
            self.check_rate("global", limit, "the gateway's global")?;
        }
        if let Some(k) = key {
            if let Some(limit) = k.rpm {
                adm.headers = self.check_rate(&k.id, limit, &format!("key `{}`", k.id))?;
            }
        }
        if let Some(limit) = global.concurrency {
            adm._guards
                .push(self.hold("global", limit, "the gateway's global")?);
        }
        if let Some(k) = key {
            if let Some(limit) = k.max_concurrency {
                adm._guards
                    .push(self.hold(&k.id, limit, &format!("key `{}`", k.id))?);
            }
        }
        Ok(adm)
    }

    /// Sliding-window check; on admission counts the request and returns the headers.
    fn check_rate(
        &self,
        id: &str,
        limit: u32,
        who: &str,
    ) -> Result<Vec<(&'static str, String)>, Refusal> {
        let (used, fraction) = self.rate.rate_with(&id, |c| {
            let prev = c.prev_samples as f64;
            let curr = c.curr_samples as f64;
            (
                prev * (1.0 - c.current_interval_fraction) + curr,
                c.current_interval_fraction,
            )
        });
        let reset_s = (WINDOW.as_secs_f64() * (1.0 - fraction)).ceil().max(1.0) as u64;
        let limit_f = f64::from(limit);
        if used >= limit_f {
            return Err(Refusal {
                error: GatewayError::RateLimited {
                    message: format!(
                        "Rate limit reached for {who} requests per minute: limit {limit}. Retry after {reset_s} s."
                    ),
                },
                headers: vec![
                    ("retry-after", reset_s.to_string()),
                    ("x-ratelimit-limit-requests", limit.to_string()),
                    ("x-ratelimit-remaining-requests", "0".into()),
                    ("x-ratelimit-reset-requests", format!("{reset_s}s")),
                ],
            });
        }
        self.rate.observe(&id, 1);
        let remaining = (limit_f - used - 1.0).max(0.0).floor() as u64;
        Ok(vec![
            ("x-ratelimit-limit-requests", limit.to_string()),
            ("x-ratelimit-remaining-requests", remaining.to_string()),
            ("x-ratelimit-reset-requests", format!("{reset_s}s")),
        ])
    }

    fn hold(&self, id: &str, limit: u32, who: &str) -> Result<Guard, Refusal> {
        let (guard, now) = self.inflight.incr(id, 1);
        if now > i64::from(limit) as isize {
            drop(guard);
            return Err(Refusal {
                error: GatewayError::RateLimited {
                    message: format!(
                        "Too many requests in flight for {who}: limit {limit}. Retry when one finishes."
                    ),
                },
                headers: vec![("retry-after", "1".into())],
            });
        }
        Ok(guard)
    }
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
