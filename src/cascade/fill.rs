//! At start-up, the in-process description cache is filled from the shared Redis level (one
//! node; see `SharedDescriptions::fill`), so a fresh instance's first requests for images the
//! fleet has already described are served without a Redis round trip. It runs once, in the
//! background, retrying while Redis is not reachable yet (at most a minute); serving does not
//! wait for it.

use super::CascadeState;
use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use std::sync::Arc;
use std::time::Duration;

pub struct CascadeFill {
    pub cascade: Arc<CascadeState>,
    /// At most this many entries (the in-process cache's size).
    pub max: usize,
}

#[async_trait]
impl BackgroundService for CascadeFill {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let Some(shared) = self.cascade.shared.as_ref() else {
            return;
        };
        for _ in 0..60 {
            match shared.fill(&self.cascade.cache, self.max).await {
                Ok(n) => {
                    log::info!("cascade: {n} descriptions copied from the shared cache");
                    return;
                }
                Err(e) => log::debug!("cascade: filling from Redis: {e}; retrying"),
            }
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
        log::warn!("cascade: Redis unreachable for a minute; the in-process cache starts empty");
    }
}
