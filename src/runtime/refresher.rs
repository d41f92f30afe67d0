//! Background work that keeps the runtime config's pools fresh, off the request path:
//! periodic re-resolution of upstream host names, active health checks, and the health gauges.

use crate::observe::health;
use crate::observe::metrics::metrics;
use crate::runtime::ConfigHandle;
use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use std::time::{Duration, Instant};

/// Re-resolves every pool of the current config every `resolve_every`, and health-checks each
/// pool at its own `health.check_seconds`.
pub struct Refresher {
    pub config: ConfigHandle,
    pub resolve_every: Duration,
}

#[async_trait]
impl BackgroundService for Refresher {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut last_resolve = Instant::now();
        let mut seconds: u64 = 0;
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tick.tick() => {}
            }
            let rt = self.config.load_full();
            if last_resolve.elapsed() >= self.resolve_every {
                last_resolve = Instant::now();
                for p in rt.pools.values() {
                    p.refresh().await;
                }
            }
            for p in rt.pools.values() {
                metrics().retries.with_label_values(&[&p.name]); // a zero series per pool
                let every = p.health.check_seconds;
                if every > 0 && seconds.is_multiple_of(every) {
                    p.check_health().await;
                }
                for (member, ok) in p.member_states() {
                    metrics()
                        .upstream_healthy
                        .with_label_values(&[&p.name, &member])
                        .set(i64::from(ok));
                }
            }
            health::mark_checked();
            seconds += 1;
        }
    }
}
