//! Alert rules evaluated by the gateway itself (seed 000's alert manager): error rate over a
//! window, p99 latency, cascade cache hit rate, an unhealthy pool. A background service takes
//! a snapshot of the counters every `evaluate_seconds`, computes each rule over its window from
//! the oldest snapshot still inside it, logs each firing and resolving once per transition,
//! sets a gauge per rule, and keeps the states for `GET /admin/alerts`.

use crate::chat::cascade::CascadeState;
use crate::config::file::AlertRuleSection;
use crate::config::{ConfigError, ConfigHandle, Runtime};
use crate::observe::metrics::metrics;
use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use prometheus::core::Collector;
use serde::Serialize;
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

/// A validated rule.
#[derive(Debug, Clone)]
pub enum Rule {
    ErrorRate { above: f64 },
    P99Latency { above_seconds: f64 },
    CacheHitRate { below: f64 },
    PoolUnhealthy { pool: String },
}

#[derive(Debug, Clone)]
pub struct AlertRule {
    pub name: String,
    pub rule: Rule,
    pub window: Duration,
    pub min_samples: u64,
}

/// Validates `alerts.rules`.
pub fn build_rules(
    rules: &[AlertRuleSection],
    rt: &Runtime,
) -> Result<Vec<AlertRule>, ConfigError> {
    let mut out = Vec::new();
    for (i, r) in rules.iter().enumerate() {
        let path = format!("alerts.rules[{i}]");
        let rule = match r.kind.as_str() {
            "error_rate" => Rule::ErrorRate { above: r.threshold },
            "p99_latency" => Rule::P99Latency { above_seconds: r.threshold },
            "cache_hit_rate" => Rule::CacheHitRate { below: r.threshold },
            "pool_unhealthy" => {
                let pool = r.pool.clone().ok_or_else(|| ConfigError(format!("{path}.pool: required for pool_unhealthy")))?;
                if !rt.pools.contains_key(&pool) {
                    return Err(ConfigError(format!("{path}.pool: unknown pool \"{pool}\"")));
                }
                Rule::PoolUnhealthy { pool }
            }
            k => {
                return Err(ConfigError(format!(
                    "{path}.kind: unknown kind \"{k}\" (error_rate, p99_latency, cache_hit_rate, pool_unhealthy)"
                )))
            }
        };
        if r.name.is_empty() || r.window_seconds == 0 {
            return Err(ConfigError(format!(
                "{path}: name and window_seconds are required"
            )));
        }
        out.push(AlertRule {
            name: r.name.clone(),
            rule,
            window: Duration::from_secs(r.window_seconds),
            min_samples: r.min_samples,
        });
    }
    Ok(out)
}

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

impl Evaluator {
    fn evaluate(
        &self,
        history: &VecDeque<Sample>,
        now: &Sample,
        since: &mut HashMap<String, SystemTime>,
    ) {
        let rt = self.config.load();
        let mut out = Vec::new();
        for r in &rt.alert_rules {
            // The window starts at the newest sample at least `window` old; before the process
            // is that old, at zero (everything counted so far is inside the window).
            let then = history
                .iter()
                .rev()
                .find(|s| s.at.is_some_and(|t| t.elapsed() >= r.window))
                .cloned()
                .unwrap_or_default();
            let (value, firing, threshold) = match &r.rule {
                Rule::ErrorRate { above } => {
                    let n = now.requests - then.requests;
                    let v = (n > 0.0).then(|| (now.errors - then.errors) / n);
                    (
                        v,
                        v.is_some_and(|v| v > *above) && n >= r.min_samples as f64,
                        format!("> {above}"),
                    )
                }
                Rule::P99Latency { above_seconds } => match p99(&now.buckets, &then.buckets) {
                    Some((q, n)) => (
                        Some(q),
                        q > *above_seconds && n >= r.min_samples as f64,
                        format!("> {above_seconds} s"),
                    ),
                    None => (None, false, format!("> {above_seconds} s")),
                },
                Rule::CacheHitRate { below } => {
                    let h = now.cache_hits - then.cache_hits;
                    let n = h + now.cache_misses - then.cache_misses;
                    let v = (n > 0.0).then(|| h / n);
                    (
                        v,
                        v.is_some_and(|v| v < *below) && n >= r.min_samples as f64,
                        format!("< {below}"),
                    )
                }
                Rule::PoolUnhealthy { pool } => {
                    let healthy = rt.pools.get(pool).is_some_and(|p| p.is_healthy());
                    (
                        Some(if healthy { 0.0 } else { 1.0 }),
                        !healthy,
                        "pool has no usable member".into(),
                    )
                }
            };
            let was = since.contains_key(&r.name);
            if firing && !was {
                since.insert(r.name.clone(), SystemTime::now());
                log::warn!(
                    "alert FIRING: {} (value {:?}, threshold {threshold})",
                    r.name,
                    value
                );
            } else if !firing && was {
                since.remove(&r.name);
                log::info!("alert resolved: {} (value {:?})", r.name, value);
            }
            metrics()
                .alerts_firing
                .with_label_values(&[&r.name])
                .set(i64::from(firing));
            out.push(AlertState {
                name: r.name.clone(),
                firing,
                value,
                threshold,
                since: since
                    .get(&r.name)
                    .map(|t| humantime::format_rfc3339_seconds(*t).to_string()),
                message: if firing {
                    format!("{} is firing", r.name)
                } else {
                    "ok".into()
                },
            });
        }
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
