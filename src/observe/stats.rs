//! Request statistics per kind and per key id: total, succeeded, failed, success
//! rate, bytes in and out, and whether the kind streams. Plain atomics: no lock on the hot
//! path. Per-key counters live in a registry keyed by id so they survive config reloads.

use crate::chat::fix::{FixReport, RULES};
use crate::core::kind::Kind;
use crate::core::usage::Usage;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// One set of counters.
#[derive(Debug, Default)]
pub struct Counters {
    pub total: AtomicU64,
    pub succeeded: AtomicU64,
    pub failed: AtomicU64,
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    pub streamed: AtomicU64,
    /// Spend in micro-dollars (routes with a price).
    pub spend_micros: AtomicU64,
    /// Prompt tokens (cache reads and writes included), from the answers' usage.
    pub tokens_in: AtomicU64,
    pub tokens_out: AtomicU64,
    /// Prompt tokens read from the provider's prompt cache.
    pub cached_tokens: AtomicU64,
    /// Prompt tokens written to the provider's prompt cache.
    pub cache_write_tokens: AtomicU64,
}

impl Counters {
    /// Records one finished request.
    pub fn record(&self, ok: bool, bytes_in: u64, bytes_out: u64, streamed: bool) {
        self.total.fetch_add(1, Ordering::Relaxed);
        if ok {
            self.succeeded.fetch_add(1, Ordering::Relaxed);
        } else {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
        self.bytes_in.fetch_add(bytes_in, Ordering::Relaxed);
        self.bytes_out.fetch_add(bytes_out, Ordering::Relaxed);
        if streamed {
            self.streamed.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Adds an answer's spend.
    pub fn add_spend(&self, micros: u64) {
        self.spend_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// Adds an answer's token counts.
    pub fn add_tokens(&self, u: &Usage) {
        self.tokens_in.fetch_add(u.prompt, Ordering::Relaxed);
        self.tokens_out.fetch_add(u.completion, Ordering::Relaxed);
        self.cached_tokens.fetch_add(u.cached, Ordering::Relaxed);
        self.cache_write_tokens
            .fetch_add(u.cache_write, Ordering::Relaxed);
    }

    pub fn reset(&self) {
        for c in [
            &self.tokens_in,
            &self.tokens_out,
            &self.cached_tokens,
            &self.cache_write_tokens,
            &self.spend_micros,
            &self.total,
            &self.succeeded,
            &self.failed,
            &self.bytes_in,
            &self.bytes_out,
            &self.streamed,
        ] {
            c.store(0, Ordering::Relaxed);
        }
    }

    pub fn to_json(&self) -> Value {
        let total = self.total.load(Ordering::Relaxed);
        let ok = self.succeeded.load(Ordering::Relaxed);
        json!({
            "total": total,
            "succeeded": ok,
            "failed": self.failed.load(Ordering::Relaxed),
            "success_rate": if total == 0 { 1.0 } else { ok as f64 / total as f64 },
            "bytes_in": self.bytes_in.load(Ordering::Relaxed),
            "bytes_out": self.bytes_out.load(Ordering::Relaxed),
            "streamed": self.streamed.load(Ordering::Relaxed),
            "spend_usd": self.spend_micros.load(Ordering::Relaxed) as f64 / 1e6,
            "tokens_in": self.tokens_in.load(Ordering::Relaxed),
            "tokens_out": self.tokens_out.load(Ordering::Relaxed),
            "cached_tokens": self.cached_tokens.load(Ordering::Relaxed),
            "cache_write_tokens": self.cache_write_tokens.load(Ordering::Relaxed),
        })
    }
}

/// Whether a kind can answer with a stream (SSE or audio).
pub fn kind_streams(kind: Kind) -> bool {
    matches!(kind, Kind::Chat | Kind::Speech)
}

/// The process-wide statistics (like Prometheus's default registry: one per process, so
/// counters survive config reloads and every worker thread shares them).
pub fn global() -> &'static StatsRegistry {
    static STATS: std::sync::OnceLock<StatsRegistry> = std::sync::OnceLock::new();
    STATS.get_or_init(StatsRegistry::default)
}

/// One set of counters per kind: a named field each, reached through an exhaustive match, so
/// a new `Kind` does not compile until it has its own counters (no index that could fall back
/// to another kind's slot).
#[derive(Debug, Default)]
struct PerKind {
    chat: Counters,
    embeddings: Counters,
    images: Counters,
    transcriptions: Counters,
    translations: Counters,
    speech: Counters,
}

impl PerKind {
    fn get(&self, kind: Kind) -> &Counters {
        match kind {
            Kind::Chat => &self.chat,
            Kind::Embeddings => &self.embeddings,
            Kind::Images => &self.images,
            Kind::Transcriptions => &self.transcriptions,
            Kind::Translations => &self.translations,
            Kind::Speech => &self.speech,
        }
    }

    fn reset(&self) {
        // Destructured without `..`: a new field cannot be left out.
        let PerKind {
            chat,
            embeddings,
            images,
            transcriptions,
            translations,
            speech,
        } = self;
        for c in [
            chat,
            embeddings,
            images,
            transcriptions,
            translations,
            speech,
        ] {
            c.reset();
        }
    }
}

/// Process-wide statistics.
#[derive(Debug, Default)]
pub struct StatsRegistry {
    kinds: PerKind,
    /// Read only when a config is built or stats are shown; the hot path holds the `Arc`.
    keys: Mutex<HashMap<String, Arc<Counters>>>,
    /// Requests each message-fixing rule changed, in the order of `fix::RULES`.
    fix_rules: [AtomicU64; RULES.len()],
}

impl StatsRegistry {
    pub fn kind(&self, kind: Kind) -> &Counters {
        self.kinds.get(kind)
    }

    /// The counters of key `id`, created on first use and kept across reloads.
    pub fn for_key(&self, id: &str) -> Arc<Counters> {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        keys.entry(id.to_string()).or_default().clone()
    }

    /// Counts the rules that changed a request (statistics and
    /// `llm_relay_fix_rewrites_total`).
    pub fn record_fix(&self, report: FixReport) {
        if report.is_empty() {
            return;
        }
        for (i, rule) in RULES.iter().enumerate() {
            if report.changed(i) {
                self.fix_rules[i].fetch_add(1, Ordering::Relaxed);
                crate::observe::metrics::metrics()
                    .fix_rewrites
                    .with_label_values(&[rule])
                    .inc();
            }
        }
    }

    pub fn to_json(&self) -> Value {
        let mut kinds = Map::new();
        for k in Kind::ALL {
            let mut v = self.kind(k).to_json();
            v["streams"] = json!(kind_streams(k));
            kinds.insert(k.name().to_string(), v);
        }
        let mut keys = Map::new();
        let map = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        for (id, c) in map.iter() {
            keys.insert(id.clone(), c.to_json());
        }
        let fix: Map<String, Value> = RULES
            .iter()
            .zip(&self.fix_rules)
            .map(|(r, c)| (r.to_string(), json!(c.load(Ordering::Relaxed))))
            .collect();
        json!({"kinds": kinds, "keys": keys, "fix_rules": fix})
    }

    pub fn reset(&self) {
        self.kinds.reset();
        let map = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        map.values().for_each(|c| c.reset());
        self.fix_rules
            .iter()
            .for_each(|c| c.store(0, Ordering::Relaxed));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Recording for one kind moves that kind's counters and no other kind's: no kind shares
    /// (or falls back to) another's slot.
    #[test]
    fn every_kind_has_its_own_counters() {
        for k in Kind::ALL {
            let stats = StatsRegistry::default();
            stats.kind(k).record(true, 10, 20, false);
            for other in Kind::ALL {
                let total = stats.kind(other).total.load(Ordering::Relaxed);
                let want = u64::from(other == k);
                assert_eq!(total, want, "recorded {k:?}, {other:?} shows {total}");
            }
            let json = stats.to_json();
            assert_eq!(json["kinds"][k.name()]["total"], 1, "{json}");
        }
    }

    #[test]
    fn reset_clears_every_kind() {
        let stats = StatsRegistry::default();
        for k in Kind::ALL {
            stats.kind(k).record(false, 1, 1, true);
        }
        stats.for_key("k").record(true, 1, 1, false);
        let u = Usage {
            prompt: 10,
            completion: 2,
            cached: 6,
            cache_write: 3,
            reasoning: 0,
        };
        stats.for_key("k").add_tokens(&u);
        stats.kind(Kind::Chat).add_tokens(&u);
        let json = stats.to_json();
        assert_eq!(json["keys"]["k"]["cached_tokens"], 6, "{json}");
        assert_eq!(json["kinds"]["chat"]["cache_write_tokens"], 3, "{json}");
        assert_eq!(json["kinds"]["chat"]["tokens_in"], 10, "{json}");
        stats.reset();
        for k in Kind::ALL {
            assert_eq!(stats.kind(k).total.load(Ordering::Relaxed), 0, "{k:?}");
        }
        assert_eq!(stats.for_key("k").total.load(Ordering::Relaxed), 0);
        assert_eq!(stats.for_key("k").cached_tokens.load(Ordering::Relaxed), 0);
    }
}
