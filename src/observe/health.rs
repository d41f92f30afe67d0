//! Health and readiness. `/health/live`: the process answers. `/health/ready`: 200 while
//! serving; 503 while starting (Redis configured and its first probe not answered yet),
//! while draining (after SIGTERM/SIGQUIT/SIGINT) or when a required pool has no usable
//! member. `/health`: every component with its state, a message and the time of the
//! last check: the pools and their members (from the active health checks) and the cascade
//! cache's fill (read at each call).

use crate::chat::cascade::CascadeState;
use crate::config::Runtime;
use crate::observe::metrics::metrics;
use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static DRAINING: AtomicBool = AtomicBool::new(false);
/// Set at start-up when Redis is configured, cleared by the first probe's answer (up or down,
/// bounded by the probe's 2 s). Until then a new instance is not ready: traffic sent to it
/// would all wait for the connection, time out together and fall back to per-instance limits,
/// so a rolling deploy would over-admit at every new pod.
static WAITING_FOR_REDIS: AtomicBool = AtomicBool::new(false);

pub fn set_waiting_for_redis(waiting: bool) {
    WAITING_FOR_REDIS.store(waiting, Ordering::Relaxed);
}
/// Unix seconds of the last active health check round.
static LAST_CHECK: AtomicU64 = AtomicU64::new(0);

pub fn is_draining() -> bool {
    DRAINING.load(Ordering::Relaxed)
}

pub fn set_draining() {
    if !DRAINING.swap(true, Ordering::Relaxed) {
        metrics().draining.set(1);
        log::warn!("draining: readiness now answers 503; requests in flight finish");
    }
}

pub fn mark_checked() {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    LAST_CHECK.store(now, Ordering::Relaxed);
}

fn last_check() -> String {
    let s = LAST_CHECK.load(Ordering::Relaxed);
    if s == 0 {
        return "never".into();
    }
    humantime::format_rfc3339_seconds(UNIX_EPOCH + std::time::Duration::from_secs(s)).to_string()
}

/// `/health/ready`: the status and a short JSON reason.
pub fn readiness(rt: &Runtime) -> (u16, Value) {
    if is_draining() {
        return (503, json!({"status": "draining"}));
    }
    if WAITING_FOR_REDIS.load(Ordering::Relaxed) {
        return (503, json!({"status": "starting", "waiting_for": "redis"}));
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

/// Watches for the signals that start a shutdown or an upgrade, to fail readiness at once
/// (Pingora itself keeps serving through the grace period).
pub struct DrainWatcher;

#[async_trait]
impl BackgroundService for DrainWatcher {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        use tokio::signal::unix::{signal, SignalKind};
        let kinds = [
            SignalKind::terminate(),
            SignalKind::quit(),
            SignalKind::interrupt(),
        ];
        let mut streams = Vec::new();
        for k in kinds {
            match signal(k) {
                Ok(s) => streams.push(s),
                Err(e) => log::warn!("cannot watch a signal: {e}"),
            }
        }
        if streams.is_empty() {
            let _ = shutdown.changed().await;
            return set_draining();
        }
        let any = futures::future::select_all(streams.iter_mut().map(|s| Box::pin(s.recv())));
        tokio::select! {
            _ = any => set_draining(),
            _ = shutdown.changed() => set_draining(),
        }
    }
}
