//! Daily spend per key and per team. Each answer's spend is added in memory (one short lock,
//! after the response) and flushed to the store once a second by [`super::Watcher`], so every
//! instance adds to the same daily totals; a flush that fails is kept and retried, so Redis
//! being away loses nothing. Without a store the totals live in this process only.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use super::store::Spend;

/// Days of spend the process keeps in memory (without a store).
const LOCAL_DAYS: usize = 90;

#[derive(Default)]
pub struct Ledger {
    /// (day, scope) → micro-dollars not yet flushed to the store.
    pending: Mutex<HashMap<(u64, String), u64>>,
    /// day → scope → micro-dollars added by this process.
    local: Mutex<BTreeMap<u64, Spend>>,
    /// A store takes the flushes (else `pending` is not kept).
    flushed: AtomicBool,
}

/// The process-wide ledger.
pub fn ledger() -> &'static Ledger {
    static LEDGER: std::sync::OnceLock<Ledger> = std::sync::OnceLock::new();
    LEDGER.get_or_init(Ledger::default)
}

/// Today's UTC day (days since 1970-01-01).
pub fn today() -> u64 {
    super::now_secs() / 86_400
}

/// `YYYY-MM-DD` of a day.
pub fn day_name(day: u64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(day * 86_400);
    humantime::format_rfc3339_seconds(t).to_string()[..10].to_string()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Ledger {
    /// From now on, spend is flushed to a store.
    pub fn use_store(&self) {
        self.flushed.store(true, Ordering::Relaxed);
    }

    /// Adds an answer's spend to its key (`k:ID`) and team (`t:ID`).
    pub fn add(&self, key: &str, team: Option<&str>, micros: u64) {
        if micros == 0 {
            return;
        }
        let day = today();
        let scopes = std::iter::once(format!("k:{key}")).chain(team.map(|t| format!("t:{t}")));
        let scopes: Vec<String> = scopes.collect();
        {
            let mut local = lock(&self.local);
            let today = local.entry(day).or_default();
            for s in &scopes {
                *today.entry(s.clone()).or_default() += micros;
            }
            while local.len() > LOCAL_DAYS {
                local.pop_first();
            }
        }
        if self.flushed.load(Ordering::Relaxed) {
            let mut pending = lock(&self.pending);
            for s in scopes {
                *pending.entry((day, s)).or_default() += micros;
            }
        }
    }

    /// What is to be flushed, by day (the caller gives it back with [`Ledger::restore`] when
    /// the store refuses it).
    pub fn take(&self) -> Vec<(u64, Vec<(String, u64)>)> {
        let pending = std::mem::take(&mut *lock(&self.pending));
        let mut by_day: BTreeMap<u64, Vec<(String, u64)>> = BTreeMap::new();
        for ((day, scope), micros) in pending {
            by_day.entry(day).or_default().push((scope, micros));
        }
        by_day.into_iter().collect()
    }

    pub fn restore(&self, day: u64, adds: Vec<(String, u64)>) {
        let mut pending = lock(&self.pending);
        for (scope, micros) in adds {
            *pending.entry((day, scope)).or_default() += micros;
        }
    }

    /// This process's own totals of `days` (without a store).
    pub fn local(&self, days: &[u64]) -> Vec<Spend> {
        let local = lock(&self.local);
        days.iter()
            .map(|d| local.get(d).cloned().unwrap_or_default())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spend_goes_to_key_and_team_and_survives_a_failed_flush() {
        let l = Ledger::default();
        l.use_store();
        l.add("a", Some("t"), 5);
        l.add("a", None, 2);
        let taken = l.take();
        assert_eq!(taken.len(), 1);
        let (day, adds) = taken.into_iter().next().expect("one day");
        let total: HashMap<_, _> = adds.iter().cloned().collect();
        assert_eq!(total["k:a"], 7);
        assert_eq!(total["t:t"], 5);
        l.restore(day, adds);
        assert_eq!(l.take().len(), 1, "given back, flushed next time");
        assert_eq!(l.local(&[day])[0]["k:a"], 7);
    }

    #[test]
    fn day_names() {
        assert_eq!(day_name(0), "1970-01-01");
        assert_eq!(day_name(20_790), "2026-12-03");
    }
}
