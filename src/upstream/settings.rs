//! A pool's validated timing, retry and health settings, built from their file sections.

use crate::config::error::ConfigError;
use crate::config::file::{HealthSection, RetrySection, TimeoutSection};
use std::time::Duration;

/// `pools.<name>.timeouts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Duration,
    pub first_byte: Duration,
    pub idle: Duration,
    /// The whole exchange, streams included (`None`: no limit).
    pub total: Option<Duration>,
}

impl TryFrom<&TimeoutSection> for Timeouts {
    type Error = ConfigError;

    fn try_from(t: &TimeoutSection) -> Result<Self, ConfigError> {
        for (key, v) in [
            ("connect_ms", t.connect_ms),
            ("first_byte_ms", t.first_byte_ms),
            ("idle_ms", t.idle_ms),
        ] {
            if v == 0 {
                return Err(ConfigError::at(key, "must be > 0"));
            }
        }
        Ok(Timeouts {
            connect: Duration::from_millis(t.connect_ms),
            first_byte: Duration::from_millis(t.first_byte_ms),
            idle: Duration::from_millis(t.idle_ms),
            total: (t.total_ms > 0).then(|| Duration::from_millis(t.total_ms)),
        })
    }
}

/// `pools.<name>.retry`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries on the pool before any byte reached the client (at least 1).
    pub attempts: u32,
    /// Base backoff, doubled per try, ±50% jitter.
    pub backoff: Duration,
    /// Upstream statuses that are held back from the client and retried.
    pub on_status: Vec<u16>,
}

impl TryFrom<&RetrySection> for RetryPolicy {
    type Error = ConfigError;

    fn try_from(r: &RetrySection) -> Result<Self, ConfigError> {
        if r.attempts == 0 {
            return Err(ConfigError::at("attempts", "must be at least 1"));
        }
        if let Some((i, s)) = r
            .on_status
            .iter()
            .enumerate()
            .find(|(_, s)| !(400..=599).contains(*s))
        {
            return Err(ConfigError::at(
                format!("on_status[{i}]"),
                format!("{s} is not an error status (400-599)"),
            ));
        }
        Ok(RetryPolicy {
            attempts: r.attempts,
            backoff: Duration::from_millis(r.backoff_ms),
            on_status: r.on_status.clone(),
        })
    }
}

impl Default for RetryPolicy {
    /// The file's defaults (one place for them: `config::file`).
    fn default() -> Self {
        let d = RetrySection::default();
        RetryPolicy {
            attempts: d.attempts,
            backoff: Duration::from_millis(d.backoff_ms),
            on_status: d.on_status,
        }
    }
}

/// `pools.<name>.health`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthPolicy {
    /// Active TCP check period in seconds (0: off).
    pub check_seconds: u64,
    /// Consecutive failures that take a member out (circuit breaker).
    pub failures_to_trip: u32,
    /// How long a tripped member stays out.
    pub cooldown: Duration,
    /// Readiness needs a usable member in this pool.
    pub required: bool,
}

impl TryFrom<&HealthSection> for HealthPolicy {
    type Error = ConfigError;

    fn try_from(h: &HealthSection) -> Result<Self, ConfigError> {
        if h.failures_to_trip == 0 {
            return Err(ConfigError::at("failures_to_trip", "must be at least 1"));
        }
        Ok(HealthPolicy {
            check_seconds: h.check_seconds,
            failures_to_trip: h.failures_to_trip,
            cooldown: Duration::from_millis(h.cooldown_ms),
            required: h.required,
        })
    }
}

impl Default for HealthPolicy {
    /// The file's defaults (one place for them: `config::file`).
    fn default() -> Self {
        let d = HealthSection::default();
        HealthPolicy {
            check_seconds: d.check_seconds,
            failures_to_trip: d.failures_to_trip.max(1),
            cooldown: Duration::from_millis(d.cooldown_ms),
            required: d.required,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_timeouts_name_their_key() {
        let t = TimeoutSection {
            idle_ms: 0,
            ..Default::default()
        };
        let e = Timeouts::try_from(&t).unwrap_err();
        assert_eq!(e.path, "idle_ms");
        let t = Timeouts::try_from(&TimeoutSection::default()).unwrap();
        assert_eq!(t.total, None);
    }

    #[test]
    fn retry_needs_an_attempt_and_error_statuses() {
        let r = RetrySection {
            attempts: 0,
            ..Default::default()
        };
        assert_eq!(RetryPolicy::try_from(&r).unwrap_err().path, "attempts");
        let r = RetrySection {
            on_status: vec![502, 200],
            ..Default::default()
        };
        assert_eq!(RetryPolicy::try_from(&r).unwrap_err().path, "on_status[1]");
    }
}
