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
    /// Spend per period, in micro-dollars (needs `routes[].price`).
    pub budget: Option<(Window, u64)>,
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
            || self.budget.is_some_and(|(_, b)| b == 0)
    }
}

/// What a counter counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unit {
    Requests,
    Tokens,
    /// Spend in micro-dollars.
    MicroUsd,
}

/// The window of a counter: a sliding minute (two fixed windows, the previous one weighted
/// by how much of it is still inside the last 60 s) or a fixed UTC day (resets at midnight,
/// so a day's budget survives restarts and is the same on every instance).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Window {
    Minute,
    Day,
    /// The UTC calendar month.
    Month,
}

impl Window {
    /// The window holding `now_ms`: its index, how far into it we are (0..1; only the
    /// sliding minute uses it), and the milliseconds until it ends.
    pub fn position(self, now_ms: u64) -> (u64, f64, u64) {
        let fixed = |len: u64| {
            let into = now_ms % len;
            (now_ms / len, into as f64 / len as f64, len - into)
        };
        match self {
            Window::Minute => fixed(60_000),
            Window::Day => fixed(86_400_000),
            Window::Month => {
                let (y, m) = year_month(now_ms / 86_400_000);
                let next = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                let end = days_from_civil(next.0, next.1) * 86_400_000;
                (y * 12 + m - 1, 0.0, end.saturating_sub(now_ms))
            }
        }
    }

    /// How long a window's count must be kept (two windows for the sliding minute).
    pub fn keep(self) -> Duration {
        match self {
            Window::Minute => Duration::from_secs(120),
            Window::Day => Duration::from_secs(2 * 86_400),
            Window::Month => Duration::from_secs(32 * 86_400),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Window::Minute => "m",
            Window::Day => "d",
            Window::Month => "mo",
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
            Unit::MicroUsd => "usd",
        };
        format!("{}:{u}{}", self.scope, self.window.name())
    }

    /// What the client is told: "requests per minute", "tokens per day".
    pub fn describe(&self) -> String {
        let u = match self.unit {
            Unit::Requests => "requests",
            Unit::Tokens => "tokens",
            Unit::MicroUsd => "budget (micro-USD)",
        };
        let w = match self.window {
            Window::Minute => "minute",
            Window::Day => "day",
            Window::Month => "month",
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
    // A budget is checked, not reserved: one micro-dollar now (refused once spent), the real
    // spend when the answer has ended.
    if let Some((window, limit)) = quota.budget {
        add(Unit::MicroUsd, window, Some(limit), 1);
    }
    out
}

/// The UTC (year, month 1..=12) of a day count since 1970-01-01 (Howard Hinnant's
/// civil-from-days).
fn year_month(days: u64) -> (u64, u64) {
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y.max(0) as u64, m as u64)
}

/// Days since 1970-01-01 of the first day of (year, month).
fn days_from_civil(y: u64, m: u64) -> u64 {
    let y = y as i64 - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe - 719_468).max(0) as u64
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
    fn calendar_months() {
        // 2026-11-29T12:00:00Z → November 2026, ends 2026-12-01T00:00:00Z.
        let now = 1_795_953_600_000;
        let (idx, _, left) = Window::Month.position(now);
        assert_eq!(idx, 2026 * 12 + 10);
        assert_eq!(left, (2 * 86_400 - 12 * 3600) * 1000);
        assert_eq!(year_month(0), (1970, 1));
        assert_eq!(days_from_civil(2024, 3), 19_783);
    }

    #[test]
    fn reservation_caps_the_output_part() {
        assert_eq!(reservation(400, None, 1024), 100 + 1024);
        assert_eq!(reservation(400, Some(64_000), 1024), 100 + 1024);
        assert_eq!(reservation(401, Some(50), 1024), 101 + 50);
    }
}
