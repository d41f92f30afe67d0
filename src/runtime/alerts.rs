//! Alert rules evaluated by the gateway itself: error rate over a window, p99 latency, cascade
//! cache hit rate, an unhealthy pool ([`rules`]). A background service takes
//! a snapshot of the counters every `evaluate_seconds`, computes each rule over its window from
//! the oldest snapshot still inside it, logs each firing and resolving once per transition,
//! sets a gauge per rule, and keeps the states for `GET /admin/alerts`.

use crate::cascade::CascadeState;
use crate::observe::alert_rules::{AlertRule, Rule};
use crate::observe::metrics::metrics;
use crate::runtime::{ConfigHandle, Runtime};
use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use prometheus::core::Collector;
use serde::Serialize;
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

/// One evaluation's view of a rule, for `/admin/alerts`.
#[derive(Debug, Clone, Serialize)]
pub struct AlertState {
    pub name: String,
    pub firing: bool,
    pub value: Option<f64>,
    pub threshold: String,
    pub since: Option<String>,
    pub message: String,
}

fn states() -> &'static Mutex<Vec<AlertState>> {
    static S: OnceLock<Mutex<Vec<AlertState>>> = OnceLock::new();
    S.get_or_init(Mutex::default)
}

/// `GET /admin/alerts`.
pub fn snapshot() -> Value {
    let s = states().lock().unwrap_or_else(|p| p.into_inner());
    serde_json::json!({ "alerts": *s })
}

/// Counters at one instant.
#[derive(Debug, Clone, Default)]
struct Sample {
    at: Option<Instant>,
    requests: f64,
    errors: f64,
    /// Cumulative latency buckets (upper bound, count) summed over kinds.
    buckets: Vec<(f64, f64)>,
    cache_hits: f64,
    cache_misses: f64,
}

fn sample(cascade: &CascadeState) -> Sample {
    let m = metrics();
    let (mut requests, mut errors) = (0.0, 0.0);
    for fam in m.requests.collect() {
        for metric in fam.get_metric() {
            let v = metric.get_counter().value();
            requests += v;
            let class = metric
                .get_label()
                .iter()
                .find(|l| l.name() == "status")
                .map(|l| l.value());
            if matches!(class, Some("5xx" | "broken" | "error")) {
                errors += v;
            }
        }
    }
    let mut buckets: Vec<(f64, f64)> = Vec::new();
    for fam in m.duration.collect() {
        for metric in fam.get_metric() {
            for (i, b) in metric.get_histogram().get_bucket().iter().enumerate() {
                if buckets.len() <= i {
                    buckets.push((b.upper_bound(), 0.0));
                }
                buckets[i].1 += b.cumulative_count() as f64;
            }
        }
    }
    let snap = cascade.cache.snapshot();
    Sample {
        at: Some(Instant::now()),
        requests,
        errors,
        buckets,
        cache_hits: (snap.hits + snap.single_flight_joins) as f64,
        cache_misses: snap.misses as f64,
    }
}

/// The p99 from the difference of two cumulative bucket sets (upper bound of the bucket).
fn p99(now: &[(f64, f64)], then: &[(f64, f64)]) -> Option<(f64, f64)> {
    let diff: Vec<(f64, f64)> = now
        .iter()
        .enumerate()
        .map(|(i, (ub, c))| (*ub, c - then.get(i).map_or(0.0, |t| t.1)))
        .collect();
    let total = diff
        .last()
        .map_or(0.0, |d| d.1)
        .max(diff.iter().map(|d| d.1).fold(0.0, f64::max));
    if total <= 0.0 {
        return None;
    }
    let target = total * 0.99;
    let q = diff
        .iter()
        .find(|(_, c)| *c >= target)
        .map_or(f64::INFINITY, |(ub, _)| *ub);
    Some((q, total))
}

/// The background evaluator.
pub struct Evaluator {
    pub config: ConfigHandle,
    pub cascade: Arc<CascadeState>,
}

/// One rule's reading: its value (if any samples), whether it fires, and the threshold text.
struct Reading {
    value: Option<f64>,
    firing: bool,
    threshold: String,
}

/// Reads `rule` over the counters between `then` and `now`.
fn read(rule: &AlertRule, rt: &Runtime, now: &Sample, then: &Sample) -> Reading {
    let enough = |n: f64| n >= rule.min_samples as f64;
    match &rule.rule {
        Rule::ErrorRate { above } => {
            let n = now.requests - then.requests;
            let value = (n > 0.0).then(|| (now.errors - then.errors) / n);
            Reading {
                value,
                firing: value.is_some_and(|v| v > *above) && enough(n),
                threshold: format!("> {above}"),
            }
        }
        Rule::P99Latency { above_seconds } => {
            let q = p99(&now.buckets, &then.buckets);
            Reading {
                value: q.map(|(q, _)| q),
                firing: q.is_some_and(|(q, n)| q > *above_seconds && enough(n)),
                threshold: format!("> {above_seconds} s"),
            }
        }
        Rule::CacheHitRate { below } => {
            let hits = now.cache_hits - then.cache_hits;
            let n = hits + now.cache_misses - then.cache_misses;
            let value = (n > 0.0).then(|| hits / n);
            Reading {
                value,
                firing: value.is_some_and(|v| v < *below) && enough(n),
                threshold: format!("< {below}"),
            }
        }
        Rule::RedisUnavailable => {
            let down = rt.redis.is_some() && metrics().redis_up.get() == 0;
            Reading {
                value: Some(if down { 1.0 } else { 0.0 }),
                firing: down,
                threshold: "Redis unreachable".into(),
            }
        }
        Rule::PoolUnhealthy { pool } => {
            let healthy = rt.pools.get(pool).is_some_and(|p| p.is_healthy());
            Reading {
                value: Some(if healthy { 0.0 } else { 1.0 }),
                firing: !healthy,
                threshold: "pool has no usable member".into(),
            }
        }
    }
}

/// Logs a transition once, keeps `since`, sets the gauge; returns the rule's state.
fn transition(rule: &AlertRule, r: Reading, since: &mut HashMap<String, SystemTime>) -> AlertState {
    let name = &rule.name;
    let was = since.contains_key(name);
    if r.firing && !was {
        since.insert(name.clone(), SystemTime::now());
        log::warn!(
            "alert FIRING: {name} (value {:?}, threshold {})",
            r.value,
            r.threshold
        );
    } else if !r.firing && was {
        since.remove(name);
        log::info!("alert resolved: {name} (value {:?})", r.value);
    }
    metrics()
        .alerts_firing
        .with_label_values(&[name])
        .set(i64::from(r.firing));
    AlertState {
        name: name.clone(),
        firing: r.firing,
        value: r.value,
        since: since
            .get(name)
            .map(|t| humantime::format_rfc3339_seconds(*t).to_string()),
        message: if r.firing {
            format!("{name} is firing")
        } else {
            "ok".into()
        },
        threshold: r.threshold,
    }
}

impl Evaluator {
    fn evaluate(
        &self,
        history: &VecDeque<Sample>,
        now: &Sample,
        since: &mut HashMap<String, SystemTime>,
    ) {
        let rt = self.config.load();
        let out = rt
            .alert_rules
            .iter()
            .map(|rule| {
                // The window starts at the newest sample at least `window` old; before the
                // process is that old, at zero (everything counted so far is inside it).
                let then = history
                    .iter()
                    .rev()
                    .find(|s| s.at.is_some_and(|t| t.elapsed() >= rule.window))
                    .cloned()
                    .unwrap_or_default();
                transition(rule, read(rule, &rt, now, &then), since)
            })
            .collect();
        *states().lock().unwrap_or_else(|p| p.into_inner()) = out;
    }
}

#[async_trait]
impl BackgroundService for Evaluator {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut history: VecDeque<Sample> = VecDeque::new();
        let mut since = HashMap::new();
        loop {
            let every = Duration::from_secs(self.config.load().alert_every.max(1));
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tokio::time::sleep(every) => {}
            }
            let now = sample(&self.cascade);
            let longest = self
                .config
                .load()
                .alert_rules
                .iter()
                .map(|r| r.window)
                .max()
                .unwrap_or_default();
            while history
                .front()
                .is_some_and(|s| s.at.is_some_and(|t| t.elapsed() > longest + every))
            {
                history.pop_front();
            }
            self.evaluate(&history, &now, &mut since);
            history.push_back(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p99_from_buckets() {
        let then = vec![(0.1, 0.0), (1.0, 0.0), (f64::INFINITY, 0.0)];
        let now = vec![(0.1, 50.0), (1.0, 100.0), (f64::INFINITY, 100.0)];
        assert_eq!(p99(&now, &then), Some((1.0, 100.0)));
        let now = vec![(0.1, 100.0), (1.0, 100.0), (f64::INFINITY, 100.0)];
        assert_eq!(p99(&now, &then).map(|x| x.0), Some(0.1));
    }
}
