//! Health and readiness. `/health/live`: the process answers. `/health/ready`: 200 while
//! serving; 503 while starting (Redis configured and its first probe not answered yet),
//! while draining (after SIGTERM/SIGQUIT/SIGINT) or when a required pool has no usable
//! member. `/health`: every component with its state, a message and the time of the
//! last check: the pools and their members (from the active health checks) and the cascade
//! cache's fill (read at each call). The flags these read are in `crate::observe::health`.

use super::Runtime;
use crate::cascade::CascadeState;
use crate::observe::health::{is_draining, is_waiting_for_keys, is_waiting_for_redis, last_check};
use serde_json::{json, Value};
use std::time::SystemTime;

/// `/health/ready`: the status and a short JSON reason.
pub fn readiness(rt: &Runtime) -> (u16, Value) {
    if is_draining() {
        return (503, json!({"status": "draining"}));
    }
    if is_waiting_for_redis() {
        return (503, json!({"status": "starting", "waiting_for": "redis"}));
    }
    if is_waiting_for_keys() {
        return (
            503,
            json!({"status": "starting", "waiting_for": "auth.store"}),
        );
    }
    let down: Vec<&str> = rt
        .pools
        .values()
        .filter(|p| p.health.required && !p.is_healthy())
        .map(|p| p.name.as_str())
        .collect();
    if down.is_empty() {
        (200, json!({"status": "ready"}))
    } else {
        (
            503,
            json!({"status": "unavailable", "pools_without_healthy_member": down}),
        )
    }
}

/// The bounds the cascade cache was built with at start-up (`cascade.cache.max_entries` and
/// `max_bytes`; a reload does not resize it, so the running config may say otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheCapacity {
    pub max_entries: usize,
    pub max_bytes: u64,
}

/// `/health`: components as healthy, degraded or unhealthy.
pub fn report(rt: &Runtime, cascade: &CascadeState, capacity: CacheCapacity) -> Value {
    let checked = last_check();
    let mut pools = serde_json::Map::new();
    let mut worst = 0;
    for (name, p) in &rt.pools {
        let members = p.member_states();
        let up = members.iter().filter(|(_, ok)| *ok).count();
        let (state, rank) = match (up, members.len()) {
            (0, _) => ("unhealthy", 2),
            (u, n) if u < n => ("degraded", 1),
            _ => ("healthy", 0),
        };
        if p.health.required {
            worst = worst.max(rank);
        }
        let list: Vec<Value> = members
            .iter()
            .map(|(addr, ok)| json!({"address": addr, "healthy": ok}))
            .collect();
        pools.insert(
            name.clone(),
            json!({
                "status": state,
                "message": format!("{up} of {} members usable", members.len()),
                "last_check": checked,
                "members": list,
            }),
        );
    }
    let status = if is_draining() {
        "draining"
    } else {
        ["healthy", "degraded", "unhealthy"][worst]
    };
    // No `limiter` component: in-process counters have nothing to check. With `redis:` the
    // admin listener adds a `redis` component that reports the connection.
    json!({
        "status": status,
        "components": {
            "pools": pools,
            "cascade_cache": cache_component(cascade, capacity),
        }
    })
}

/// The cascade cache's fill, read now from the cache's own counters. The cache is in-process
/// memory bounded by its capacity, so it is always usable ("healthy"); what an operator needs
/// is how full it is and whether it evicts.
fn cache_component(cascade: &CascadeState, capacity: CacheCapacity) -> Value {
    let snap = cascade.cache.snapshot();
    let fill = if capacity.max_bytes == 0 {
        0.0
    } else {
        snap.bytes as f64 / capacity.max_bytes as f64
    };
    json!({
        "status": "healthy",
        "message": format!(
            "{} of {} entries, {} of {} bytes ({:.1}% full), {} evictions, hit rate {:.2}",
            snap.entries,
            capacity.max_entries,
            snap.bytes,
            capacity.max_bytes,
            fill * 100.0,
            snap.evictions,
            snap.hit_rate
        ),
        "last_check": humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        "entries": snap.entries,
        "max_entries": capacity.max_entries,
        "bytes": snap.bytes,
        "max_bytes": capacity.max_bytes,
        "fill": fill,
        "evictions": snap.evictions,
        "expired": snap.expired,
        "hit_rate": snap.hit_rate,
    })
}
