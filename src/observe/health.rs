//! The process-wide health flags: draining (after SIGTERM/SIGQUIT/SIGINT), waiting for the
//! first Redis probe, and the time of the last active health check round. The answers built
//! from them and the running config (`/health/ready`, `/health`) are in
//! `crate::runtime::health`.

use crate::observe::metrics::metrics;
use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
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

static WAITING_FOR_KEYS: AtomicBool = AtomicBool::new(false);

/// The keys managed in Redis are not loaded yet (readiness answers 503 until the first try).
pub fn set_waiting_for_keys(waiting: bool) {
    WAITING_FOR_KEYS.store(waiting, Ordering::Relaxed);
}

pub fn is_waiting_for_keys() -> bool {
    WAITING_FOR_KEYS.load(Ordering::Relaxed)
}

/// Whether the first Redis probe has not answered yet (readiness then answers 503).
pub fn is_waiting_for_redis() -> bool {
    WAITING_FOR_REDIS.load(Ordering::Relaxed)
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

/// The time of the last active health check round (RFC 3339), or `never`.
pub fn last_check() -> String {
    let s = LAST_CHECK.load(Ordering::Relaxed);
    if s == 0 {
        return "never".into();
    }
    humantime::format_rfc3339_seconds(UNIX_EPOCH + std::time::Duration::from_secs(s)).to_string()
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
