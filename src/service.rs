//! Background work that keeps the runtime config's pools fresh: periodic re-resolution of
//! upstream host names (DNS changes, provider failover) off the request path.

use crate::config::ConfigHandle;
use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use std::time::Duration;

/// Re-resolves every pool of the current config every `every`.
pub struct Refresher {
    pub config: ConfigHandle,
    pub every: Duration,
}

#[async_trait]
impl BackgroundService for Refresher {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut tick = tokio::time::interval(self.every);
        tick.tick().await; // the first tick is immediate; start-up already resolved
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tick.tick() => {
                    let rt = self.config.load_full();
                    for p in rt.pools.values() {
                        p.refresh().await;
                    }
                }
            }
        }
    }
}
