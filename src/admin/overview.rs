//! `GET /admin/overview`: everything the status page and `llm-relay status` show, in one call.
//! Counters are cumulative since start (or the last `POST /admin/stats/reset` for the per-key
//! statistics); the page turns them into rates and windowed percentiles from the difference of
//! two polls, the CLI shows them as they are.

use crate::cascade::CascadeState;
use crate::observe::metrics::metrics;
use crate::policy::quota::{Quota, Window};
use crate::runtime::health::CacheCapacity;
use crate::runtime::Runtime;
use prometheus::core::Collector;
use prometheus::proto::Metric;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

/// A key's configured limits (absent ones left out; `{}` for an unlimited key).
pub fn limits_json(q: &Quota) -> Value {
    let mut m = Map::new();
    let mut put = |name: &str, v: Option<u64>| {
        if let Some(v) = v {
            m.insert(name.into(), json!(v));
        }
    };
    put("rpm", q.rpm.map(u64::from));
    put("rpd", q.rpd.map(u64::from));
    put("tpm", q.tpm);
    put("tpd", q.tpd);
    put("max_concurrency", q.concurrency.map(u64::from));
    if let Some((window, micros)) = q.budget {
        let period = match window {
            Window::Minute => "minute",
            Window::Day => "day",
            Window::Month => "month",
        };
        m.insert(
            "budget_usd".into(),
            json!({"amount": micros as f64 / 1e6, "period": period}),
        );
    }
    Value::Object(m)
}

/// `/admin/stats` with each configured key's `limits` added to its entry.
pub fn stats_with_limits(rt: &Runtime) -> Value {
    let mut stats = crate::observe::stats::global().to_json();
    for key in rt.keys.iter() {
        if let Some(entry) = stats["keys"].get_mut(&key.id) {
            entry["limits"] = limits_json(&key.quota);
        }
    }
    stats
}

fn label<'a>(m: &'a Metric, name: &str) -> &'a str {
    m.get_label()
        .iter()
        .find(|l| l.name() == name)
        .map_or("", |l| l.value())
}

/// Cumulative buckets `[upper bound, count]` summed over every series of `h`, with the total
/// count and sum (seconds). The last bucket is `+Inf` (as `null` in JSON: the count).
fn histogram(h: &prometheus::HistogramVec) -> (Vec<(f64, f64)>, f64, f64) {
    let mut buckets: Vec<(f64, f64)> = Vec::new();
    let (mut count, mut sum) = (0.0, 0.0);
    for fam in h.collect() {
        for metric in fam.get_metric() {
            let hist = metric.get_histogram();
            for (i, b) in hist.get_bucket().iter().enumerate() {
                if buckets.len() <= i {
                    buckets.push((b.upper_bound(), 0.0));
                }
                buckets[i].1 += b.cumulative_count() as f64;
            }
            count += hist.get_sample_count() as f64;
            sum += hist.get_sample_sum();
        }
    }
    (buckets, count, sum)
}

/// The `q` quantile of cumulative `buckets` holding `count` samples, interpolated linearly
/// inside its bucket (as Prometheus's `histogram_quantile`); `None` without samples. Past the
/// last finite bound it is that bound.
pub fn quantile(buckets: &[(f64, f64)], count: f64, q: f64) -> Option<f64> {
    if count <= 0.0 {
        return None;
    }
    let rank = q * count;
    let (mut lower, mut below) = (0.0, 0.0);
    for (ub, c) in buckets {
        if *c >= rank {
            if !ub.is_finite() {
                return Some(lower);
            }
            let inside = c - below;
            let frac = if inside > 0.0 {
                (rank - below) / inside
            } else {
                1.0
            };
            return Some(lower + (ub - lower) * frac);
        }
        lower = *ub;
        below = *c;
    }
    Some(lower)
}

fn histogram_json(h: &prometheus::HistogramVec) -> Value {
    let (buckets, count, sum) = histogram(h);
    json!({
        "buckets": buckets.iter().map(|(ub, c)| json!([ub, c])).collect::<Vec<_>>(),
        "count": count,
        "sum": sum,
        "p50": quantile(&buckets, count, 0.5),
        "p99": quantile(&buckets, count, 0.99),
    })
}

/// The overview document (`managed`: the ids of keys managed at run time, shown when they
/// have had traffic, as `source: "managed"`, their limits on the Keys view).
pub fn overview(
    rt: &Runtime,
    cascade: &CascadeState,
    capacity: CacheCapacity,
    managed: &std::collections::HashSet<String>,
) -> Value {
    let m = metrics();
    let health = crate::runtime::health::report(rt, cascade, capacity);
    let pools: Vec<Value> = health["components"]["pools"]
        .as_object()
        .map(|p| {
            p.iter()
                .map(|(name, v)| {
                    json!({
                        "name": name,
                        "status": v["status"],
                        "message": v["message"],
                        "members": v["members"],
                    })
                })
                .collect()
        })
        .unwrap_or_default();

    let stats = stats_with_limits(rt);
    let mut keys: Vec<Value> = stats["keys"]
        .as_object()
        .map(|k| {
            k.iter()
                .filter(|(id, v)| !managed.contains(*id) || v["total"].as_u64().unwrap_or(0) > 0)
                .map(|(id, v)| {
                    let mut v = v.clone();
                    v["id"] = json!(id);
                    if managed.contains(id) {
                        v["source"] = json!("managed");
                    } else if v.get("limits").is_none() {
                        // Seen since start but no longer configured (removed by a reload).
                        v["configured"] = json!(false);
                    }
                    v
                })
                .collect()
        })
        .unwrap_or_default();
    keys.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));

    let mut by_status: BTreeMap<String, f64> = BTreeMap::new();
    let mut by_model: BTreeMap<String, f64> = BTreeMap::new();
    for fam in m.requests.collect() {
        for metric in fam.get_metric() {
            let v = metric.get_counter().value();
            *by_status
                .entry(label(metric, "status").to_string())
                .or_default() += v;
            *by_model
                .entry(label(metric, "model").to_string())
                .or_default() += v;
        }
    }
    let mut models: Vec<(String, f64)> = by_model.into_iter().collect();
    models.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));

    let mut tokens: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    for fam in m.tokens.collect() {
        for metric in fam.get_metric() {
            tokens
                .entry(label(metric, "model").to_string())
                .or_default()
                .insert(
                    label(metric, "direction").to_string(),
                    json!(metric.get_counter().value()),
                );
        }
    }
    let mut vision = Map::new();
    for fam in m.vision_calls.collect() {
        for metric in fam.get_metric() {
            vision.insert(
                label(metric, "result").to_string(),
                json!(metric.get_counter().value()),
            );
        }
    }
    let cache = cascade.cache.snapshot();
    let alerts = crate::runtime::alerts::snapshot();
    let firing: Vec<Value> = alerts["alerts"]
        .as_array()
        .map(|a| a.iter().filter(|s| s["firing"] == true).cloned().collect())
        .unwrap_or_default();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    json!({
        "time": now,
        "status": health["status"],
        "pools": pools,
        "keys": keys,
        "requests": {
            "total": by_status.values().sum::<f64>(),
            "by_status": by_status,
            "in_flight": m.in_flight.get(),
        },
        "models": models
            .iter()
            .map(|(model, n)| json!({"model": model, "requests": n}))
            .collect::<Vec<_>>(),
        "tokens": tokens,
        "latency": histogram_json(&m.duration),
        "overhead": histogram_json(&m.overhead),
        "cascade": {
            "configured": rt.cascade.is_some(),
            "entries": cache.entries,
            "max_entries": capacity.max_entries,
            "bytes": cache.bytes,
            "hits": cache.hits,
            "misses": cache.misses,
            "joins": cache.single_flight_joins,
            "evictions": cache.evictions,
            "hit_rate": cache.hit_rate,
            "vision_calls": vision,
        },
        "alerts": {
            "rules": alerts["alerts"].as_array().map_or(0, Vec::len),
            "firing": firing,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_inside_the_bucket() {
        // 10 samples ≤ 0.1, 10 more ≤ 0.2, none above.
        let b = [(0.1, 10.0), (0.2, 20.0), (f64::INFINITY, 20.0)];
        assert_eq!(quantile(&b, 20.0, 0.5), Some(0.1));
        let p99 = quantile(&b, 20.0, 0.99).unwrap();
        assert!((p99 - 0.198).abs() < 1e-9, "{p99}");
        assert_eq!(quantile(&b, 0.0, 0.5), None);
        // Everything past the last finite bound: that bound.
        let b = [(0.1, 0.0), (f64::INFINITY, 5.0)];
        assert_eq!(quantile(&b, 5.0, 0.5), Some(0.1));
    }

    #[test]
    fn limits_list_only_what_is_set() {
        let q = Quota {
            rpm: Some(60),
            budget: Some((Window::Month, 5_000_000)),
            ..Quota::default()
        };
        assert_eq!(
            limits_json(&q),
            json!({"rpm": 60, "budget_usd": {"amount": 5.0, "period": "month"}})
        );
        assert_eq!(limits_json(&Quota::default()), json!({}));
    }
}
