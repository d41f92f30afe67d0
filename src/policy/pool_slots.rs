//! A pool's concurrency slots shared through Redis (see `upstream::gate`): the limiter's lease
//! sets, one per pool (`pool:<name>`), renewed like the keys' concurrency leases while held.

use super::shared_limits::{Lease, SharedLimits, Verdict};
use crate::upstream::gate::{SlotLease, SlotStore};
use async_trait::async_trait;
use std::sync::Arc;

/// The shared side of every pool gate.
pub struct PoolSlots(pub Arc<SharedLimits>);

#[async_trait]
impl SlotStore for PoolSlots {
    async fn take(&self, scope: &str, limit: u32) -> Result<Option<SlotLease>, String> {
        match self.0.admit(&[], &[(scope.to_string(), limit)]).await {
            Ok(Verdict::Admitted {
                lease: Some(lease), ..
            }) => Ok(Some(SlotLease(Box::new(lease)))),
            Ok(_) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }

    fn give_back(&self, lease: SlotLease) {
        let Ok(lease) = lease.0.downcast::<Lease>() else {
            return;
        };
        let shared = self.0.clone();
        tokio::spawn(async move { shared.settle(Vec::new(), Some(*lease)).await });
    }
}
