//! In-process counters: the limits of a single instance, and the fallback of several when
//! their Redis is away. The same windows as the shared script (see `shared_limits.rs`): a
//! sliding minute over two fixed windows and a fixed UTC day.

use super::quota::{Counter, Window};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// One counter's two most recent windows.
#[derive(Debug, Default, Clone, Copy)]
struct Slot {
    idx: u64,
    prev: u64,
    cur: u64,
}

impl Slot {
    /// Moves the slot to window `idx`.
    fn roll(&mut self, idx: u64) {
        if idx == self.idx {
            return;
        }
        self.prev = if idx == self.idx + 1 { self.cur } else { 0 };
        self.cur = 0;
        self.idx = idx;
    }
}

/// What a counter read at admission: how much was used, and when its window resets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    pub used: f64,
    pub reset_ms: u64,
    /// The window the cost went into (settlement adjusts that one).
    pub idx: u64,
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Process-wide counters (limits hold across worker threads and survive reloads). Keys are
/// counter names, bounded by the configured keys.
#[derive(Debug, Default)]
pub struct LocalCounters {
    slots: Mutex<HashMap<String, Slot>>,
}

impl LocalCounters {
    /// Checks every counter with its limit divided by `share` (the fallback's per-instance
    /// part), and only if all admit, adds their costs. `Err(i)` names the refusing counter.
    pub fn admit(
        &self,
        counters: &[Counter],
        share: u32,
    ) -> Result<Vec<Reading>, (usize, Reading)> {
        let now = now_ms();
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let mut readings = Vec::with_capacity(counters.len());
        for (i, c) in counters.iter().enumerate() {
            let (idx, frac, reset_ms) = c.window.position(now);
            let slot = slots.entry(c.name()).or_default();
            slot.roll(idx);
            let used = match c.window {
                Window::Minute => slot.prev as f64 * (1.0 - frac) + slot.cur as f64,
                Window::Day | Window::Month => slot.cur as f64,
            };
            let reading = Reading {
                used,
                reset_ms,
                idx,
            };
            let limit = c.limit.div_ceil(u64::from(share.max(1)));
            if used + c.cost as f64 > limit as f64 {
                return Err((i, reading));
            }
            readings.push(reading);
        }
        for c in counters {
            if let Some(slot) = slots.get_mut(&c.name()) {
                slot.cur += c.cost;
            }
        }
        Ok(readings)
    }

    /// What each counter has used in its current window (nothing is added).
    pub fn peek(&self, counters: &[Counter]) -> Vec<Reading> {
        let now = now_ms();
        let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        counters
            .iter()
            .map(|c| {
                let (idx, frac, reset_ms) = c.window.position(now);
                let mut slot = slots.get(&c.name()).copied().unwrap_or_default();
                slot.roll(idx);
                let used = match c.window {
                    Window::Minute => slot.prev as f64 * (1.0 - frac) + slot.cur as f64,
                    Window::Day | Window::Month => slot.cur as f64,
                };
                Reading {
                    used,
                    reset_ms,
                    idx,
                }
            })
            .collect()
    }

    /// Adds `delta` (negative: returns tokens) to the window `idx` of a counter.
    pub fn settle(&self, name: &str, idx: u64, delta: i64) {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let Some(slot) = slots.get_mut(name) else {
            return;
        };
        let target = if slot.idx == idx {
            &mut slot.cur
        } else if slot.idx == idx + 1 {
            &mut slot.prev
        } else {
            return; // the window is gone: nothing left to correct
        };
        *target = target.saturating_add_signed(delta);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::quota::Unit;

    fn c(limit: u64, cost: u64) -> Counter {
        Counter {
            scope: "k:a".into(),
            unit: Unit::Tokens,
            window: Window::Minute,
            limit,
            cost,
        }
    }

    #[test]
    fn admits_until_the_limit_then_settles() {
        let l = LocalCounters::default();
        let r = l.admit(&[c(100, 60)], 1).unwrap();
        assert!(l.admit(&[c(100, 60)], 1).is_err(), "60 + 60 > 100");
        // The request used only 10: 50 come back, and 60 more fit.
        l.settle("k:a:tm", r[0].idx, -50);
        assert!(l.admit(&[c(100, 60)], 1).is_ok());
    }

    #[test]
    fn a_refusal_counts_nothing_and_share_divides() {
        let l = LocalCounters::default();
        let tight = Counter {
            scope: "g".into(),
            unit: Unit::Requests,
            window: Window::Minute,
            limit: 1,
            cost: 1,
        };
        assert!(l.admit(&[c(100, 10), tight.clone()], 1).is_ok());
        assert!(l.admit(&[c(100, 10), tight], 1).is_err());
        // Only the admitted request's 10 tokens count.
        let r = l.admit(&[c(100, 10)], 1).unwrap();
        assert_eq!(r[0].used, 10.0);
        // A quarter of 100 per instance: 20 used + 10 > 25.
        assert!(l.admit(&[c(100, 10)], 4).is_err());
    }
}
