//! What a key (or the whole gateway) may use: requests and tokens per minute and per day, and
//! requests in flight; and the counters one request is checked against.

use std::time::Duration;

/// The limits of one scope (a key, or `limits.global_*`); `None` is unlimited.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub rpm: Option<u32>,
    pub rpd: Option<u32>,
    pub tpm: Option<u64>,
    pub tpd: Option<u64>,
    pub concurrency: Option<u32>,
}

impl Quota {
    /// Whether any limit is set.
    pub fn is_limited(&self) -> bool {
        *self != Quota::default()
    }

    /// Whether a zero limit was configured (a config error: use no key instead).
    pub fn has_zero(&self) -> bool {
        self.rpm == Some(0)
            || self.rpd == Some(0)
            || self.tpm == Some(0)
            || self.tpd == Some(0)
            || self.concurrency == Some(0)
    }
}

/// What a counter counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unit {
    Requests,
    Tokens,
}

/// The window of a counter: a sliding minute (two fixed windows, the previous one weighted
/// by how much of it is still inside the last 60 s) or a fixed UTC day (resets at midnight,
/// so a day's budget survives restarts and is the same on every instance).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Window {
    Minute,
    Day,
}

impl Window {
    pub fn length(self) -> Duration {
        match self {
            Window::Minute => Duration::from_secs(60),
            Window::Day => Duration::from_secs(86_400),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Window::Minute => "m",
            Window::Day => "d",
        }
    }
}

/// One counter a request is checked against and, if admitted, adds `cost` to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counter {
    /// `g` for the global scope, `k:<key id>` for a key (separate from any key id).
    pub scope: String,
    pub unit: Unit,
    pub window: Window,
    pub limit: u64,
    pub cost: u64,
}

impl Counter {
    /// A stable name: `<scope>:<r|t><m|d>`.
    pub fn name(&self) -> String {
        let u = match self.unit {
            Unit::Requests => "r",
            Unit::Tokens => "t",
        };
        format!("{}:{u}{}", self.scope, self.window.name())
    }

    /// What the client is told: "requests per minute", "tokens per day".
    pub fn describe(&self) -> String {
        let u = match self.unit {
            Unit::Requests => "requests",
            Unit::Tokens => "tokens",
        };
        let w = match self.window {
            Window::Minute => "minute",
            Window::Day => "day",
        };
        format!("{u} per {w}")
    }
}

/// The counters of `quota` for scope `scope`, for a request reserving `tokens`.
pub fn counters(scope: &str, quota: &Quota, tokens: u64) -> Vec<Counter> {
    let mut out = Vec::new();
    let mut add = |unit, window, limit: Option<u64>, cost| {
        if let Some(limit) = limit {
            out.push(Counter {
                scope: scope.to_string(),
                unit,
                window,
                limit,
                cost,
            });
        }
    };
    add(Unit::Requests, Window::Minute, quota.rpm.map(u64::from), 1);
    add(Unit::Requests, Window::Day, quota.rpd.map(u64::from), 1);
    add(Unit::Tokens, Window::Minute, quota.tpm, tokens);
    add(Unit::Tokens, Window::Day, quota.tpd, tokens);
    out
}

/// How a request's token reservation is estimated before it is sent: the prompt as its JSON
/// body's bytes / 4 (JSON syntax makes this an overestimate for typical chat bodies), plus the
/// output it may produce: `max_tokens` (or `max_completion_tokens`) capped at
/// `reserve_output`, or `reserve_output` when the request names none. The reservation is
/// settled to the real usage when the response ends.
pub fn reservation(body_bytes: usize, max_tokens: Option<u64>, reserve_output: u64) -> u64 {
    let prompt = (body_bytes as u64).div_ceil(4);
    prompt + max_tokens.map_or(reserve_output, |m| m.min(reserve_output))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_only_for_set_limits() {
        let q = Quota {
            rpm: Some(10),
            tpd: Some(1000),
            ..Default::default()
        };
        let c = counters("k:a", &q, 77);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].name(), "k:a:rm");
        assert_eq!((c[1].name(), c[1].cost), ("k:a:td".to_string(), 77));
        assert_eq!(c[1].describe(), "tokens per day");
    }

    #[test]
    fn reservation_caps_the_output_part() {
        assert_eq!(reservation(400, None, 1024), 100 + 1024);
        assert_eq!(reservation(400, Some(64_000), 1024), 100 + 1024);
        assert_eq!(reservation(401, Some(50), 1024), 101 + 50);
    }
}
