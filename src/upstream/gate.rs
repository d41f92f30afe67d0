//! A pool's concurrency limit (`pools.<name>.max_concurrency`): a provider limit such as
//! Hunyuan's default of 5 concurrent requests per account, which every user of the account
//! shares. A try takes a slot before it connects and gives it back when its answer ends
//! (streams included). When every slot is held the try waits in a bounded queue
//! (`queue.max` waiters) for at most `queue.wait_ms`; a full queue or the deadline refuses it,
//! and the client gets a 429 with `Retry-After` (after the route's fallback, if it has one).
//!
//! Across instances the slots are shared through Redis when `redis:` is configured (a
//! [`SlotStore`], implemented by the limiter's lease sets in `policy`); the local semaphore
//! still bounds this instance, so the fleet never holds more than the limit. Waiting for a
//! shared slot polls with a short backoff (another instance's release cannot wake this one);
//! a local release wakes a local waiter at once. If Redis cannot be reached the gate falls
//! back to its local slots (fail open per instance, like the other shared limits), logged.

use async_trait::async_trait;
use std::any::Any;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A slot held in a shared store, given back with [`SlotStore::give_back`].
pub struct SlotLease(pub Box<dyn Any + Send + Sync>);

/// Where slots shared by several instances live.
#[async_trait]
pub trait SlotStore: Send + Sync {
    /// Takes one of `limit` slots of `scope`: `Ok(Some)` taken, `Ok(None)` all held, `Err`
    /// the store cannot be reached.
    async fn take(&self, scope: &str, limit: u32) -> Result<Option<SlotLease>, String>;
    /// Gives a slot back (without waiting for the store).
    fn give_back(&self, lease: SlotLease);
}

/// The gate's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GateSettings {
    pub limit: u32,
    /// Tries waiting at most; one more is refused at once.
    pub queue: usize,
    pub wait: Duration,
}

/// Why a try got no slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    QueueFull,
    Deadline,
}

/// One pool's gate.
pub struct Gate {
    pub settings: GateSettings,
    pool: String,
    scope: String,
    local: Arc<Semaphore>,
    waiting: AtomicUsize,
    held: AtomicUsize,
    shared: OnceLock<Arc<dyn SlotStore>>,
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate")
            .field("settings", &self.settings)
            .field("held", &self.held.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// A held slot: given back when dropped.
pub struct Pass {
    gate: Arc<Gate>,
    _local: OwnedSemaphorePermit,
    shared: Option<SlotLease>,
}

impl Drop for Pass {
    fn drop(&mut self) {
        self.gate.held.fetch_sub(1, Ordering::Relaxed);
        self.gate.publish();
        if let (Some(lease), Some(store)) = (self.shared.take(), self.gate.shared.get()) {
            store.give_back(lease);
        }
    }
}

/// Counts a waiter for as long as it waits.
struct Waiting<'a>(&'a Gate);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::Relaxed);
        self.0.publish();
    }
}

/// Backoff between two polls of the shared store.
const POLL_MIN: Duration = Duration::from_millis(10);
const POLL_MAX: Duration = Duration::from_millis(200);

impl Gate {
    pub fn new(pool: &str, settings: GateSettings) -> Gate {
        Gate {
            settings,
            pool: pool.to_string(),
            scope: format!("pool:{pool}"),
            local: Arc::new(Semaphore::new(settings.limit.max(1) as usize)),
            waiting: AtomicUsize::new(0),
            held: AtomicUsize::new(0),
            shared: OnceLock::new(),
        }
    }

    /// Shares the slots with other instances through `store` (set once, at load).
    pub fn share(&self, store: Arc<dyn SlotStore>) {
        let _ = self.shared.set(store);
    }

    /// Slots held by this instance now, and tries waiting.
    pub fn load(&self) -> (usize, usize) {
        (
            self.held.load(Ordering::Relaxed),
            self.waiting.load(Ordering::Relaxed),
        )
    }

    /// `llm_relay_pool_slots{pool, state}` follows every change.
    fn publish(&self) {
        let (held, waiting) = self.load();
        let m = &crate::observe::metrics::metrics().pool_slots;
        m.with_label_values(&[&self.pool, "held"]).set(held as i64);
        m.with_label_values(&[&self.pool, "waiting"])
            .set(waiting as i64);
    }

    /// Joins the queue, or `false` when it is full.
    fn queue(&self) -> Option<Waiting<'_>> {
        if self.waiting.fetch_add(1, Ordering::Relaxed) >= self.settings.queue {
            self.waiting.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        self.publish();
        Some(Waiting(self))
    }

    /// A slot, waiting in the queue for at most `settings.wait`.
    pub async fn enter(self: &Arc<Gate>) -> Result<Pass, Refused> {
        let deadline = Instant::now() + self.settings.wait;
        let permit = match self.local.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => self.queue_for_local(deadline).await?,
        };
        let shared = match self.shared.get() {
            None => None,
            Some(store) => self.shared_slot(store.as_ref(), deadline).await?,
        };
        self.held.fetch_add(1, Ordering::Relaxed);
        self.publish();
        Ok(Pass {
            gate: self.clone(),
            _local: permit,
            shared,
        })
    }

    async fn queue_for_local(&self, deadline: Instant) -> Result<OwnedSemaphorePermit, Refused> {
        let Some(_w) = self.queue() else {
            return Err(Refused::QueueFull);
        };
        let acquire = self.local.clone().acquire_owned();
        match tokio::time::timeout_at(deadline.into(), acquire).await {
            Ok(Ok(p)) => Ok(p),
            // The semaphore is never closed; a timeout is the deadline.
            _ => Err(Refused::Deadline),
        }
    }

    async fn shared_slot(
        &self,
        store: &dyn SlotStore,
        deadline: Instant,
    ) -> Result<Option<SlotLease>, Refused> {
        let mut pause = POLL_MIN;
        let mut queued: Option<Waiting<'_>> = None;
        loop {
            match store.take(&self.scope, self.settings.limit).await {
                Ok(Some(lease)) => return Ok(Some(lease)),
                Ok(None) => {}
                Err(e) => {
                    log::warn!(
                        "pool gate {}: shared slots unreachable ({e}); local slots only",
                        self.scope
                    );
                    return Ok(None);
                }
            }
            if queued.is_none() {
                queued = Some(self.queue().ok_or(Refused::QueueFull)?);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Refused::Deadline);
            }
            tokio::time::sleep(pause.min(deadline - now)).await;
            pause = (pause * 2).min(POLL_MAX);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(limit: u32, queue: usize, wait_ms: u64) -> Arc<Gate> {
        Arc::new(Gate::new(
            "p",
            GateSettings {
                limit,
                queue,
                wait: Duration::from_millis(wait_ms),
            },
        ))
    }

    #[tokio::test]
    async fn a_waiter_gets_the_slot_a_pass_gives_back() {
        let g = gate(1, 4, 60_000);
        let first = g.enter().await.unwrap_or_else(|_| panic!("refused"));
        let g2 = g.clone();
        let waiter = tokio::spawn(async move { g2.enter().await.is_ok() });
        // The waiter is queued before the slot comes back.
        while g.load().1 == 0 {
            tokio::task::yield_now().await;
        }
        drop(first);
        assert!(waiter.await.unwrap_or(false));
        assert_eq!(g.load(), (0, 0));
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once() {
        let g = gate(1, 0, 60_000);
        let _held = g.enter().await.unwrap_or_else(|_| panic!("refused"));
        assert_eq!(g.enter().await.err(), Some(Refused::QueueFull));
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_refuses_a_waiter() {
        let g = gate(1, 4, 50);
        let _held = g.enter().await.unwrap_or_else(|_| panic!("refused"));
        assert_eq!(g.enter().await.err(), Some(Refused::Deadline));
        assert_eq!(g.load(), (1, 0));
    }
}
