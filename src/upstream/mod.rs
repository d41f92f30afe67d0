//! Upstream pools: members behind a base URL, load balanced over the healthy ones
//! (pingora-load-balancing), with host names resolved off the request path
//! ([`discovery`]), passive health per member ([`member`]), the settings each pool runs with
//! ([`settings`]) and routing from a model name to a pool ([`route`]).

pub mod discovery;
pub mod forward;
pub mod gate;
pub mod member;
pub mod route;
pub mod settings;

use crate::providers::Provider;
use discovery::DnsDiscovery;
pub use member::{Member, MemberHealth};
use pingora::lb::selection::RoundRobin;
use pingora::lb::{Backend, Backends, LoadBalancer};
use pingora::upstreams::peer::HttpPeer;
use settings::{HealthPolicy, RetryPolicy, Timeouts};
use std::sync::Arc;
use std::time::Duration;

/// A pool of upstream members with its provider (credential included) and timeouts.
pub struct Pool {
    pub name: String,
    /// What the pool speaks: rendering, signing and decoding (see `providers`).
    pub provider: Provider,
    pub lb: Arc<LoadBalancer<RoundRobin>>,
    pub timeouts: Timeouts,
    /// Ask for usage on streams (see `pools.<name>.request_usage`).
    pub request_usage: bool,
    pub health: HealthPolicy,
    pub retry: RetryPolicy,
    /// The client request headers sent on to this pool (`pools.<name>.forward_headers`).
    pub forward: forward::Forward,
    /// Send one conversation to the same member (`pools.<name>.affinity`), so the
    /// provider's prompt cache on that member hits.
    pub affinity: bool,
    /// The provider's concurrency limit (`pools.<name>.max_concurrency`).
    pub gate: Option<std::sync::Arc<gate::Gate>>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("name", &self.name)
            .field("provider", &self.provider.kind)
            .finish_non_exhaustive()
    }
}

impl Pool {
    /// Builds the load balancer for `members`; call [`Pool::refresh`] before use.
    pub fn new(name: String, members: Vec<Member>, provider: Provider, timeouts: Timeouts) -> Pool {
        let discovery = DnsDiscovery {
            members: members.into_iter().map(Arc::new).collect(),
        };
        let mut backends = Backends::new(Box::new(discovery));
        backends.set_health_check(pingora::lb::health_check::TcpHealthCheck::new());
        let lb = LoadBalancer::from_backends(backends);
        Pool {
            name,
            provider,
            lb: Arc::new(lb),
            timeouts,
            request_usage: true,
            health: HealthPolicy::default(),
            retry: RetryPolicy::default(),
            forward: forward::Forward::default(),
            affinity: false,
            gate: None,
        }
    }

    /// Runs the active TCP check of every member once.
    pub async fn check_health(&self) {
        self.lb.backends().run_health_check(true).await;
    }

    /// Each member address with whether it is usable now (active check and breaker).
    pub fn member_states(&self) -> Vec<(String, bool)> {
        let b = self.lb.backends();
        b.get_backend()
            .iter()
            .map(|be| {
                let down = be
                    .ext
                    .get::<Arc<Member>>()
                    .is_some_and(|m| m.health.is_down());
                (be.addr.to_string(), b.ready(be) && !down)
            })
            .collect()
    }

    /// Whether some member is usable now.
    pub fn is_healthy(&self) -> bool {
        self.member_states().iter().any(|(_, ok)| *ok)
    }

    /// Passive detection: a failed attempt on `member`.
    pub fn report_failure(&self, member: &Member) {
        let h = &self.health;
        if member.health.failure(h.failures_to_trip, h.cooldown) {
            log::warn!(
                "pool {}: member {} failed {} times in a row; out of rotation for {} ms",
                self.name,
                member.authority,
                h.failures_to_trip,
                h.cooldown.as_millis()
            );
        }
    }

    /// Re-resolves the members. Errors are logged by discovery; the old set stays.
    pub async fn refresh(&self) {
        if let Err(e) = self.lb.update().await {
            log::warn!("pool {}: discovery failed: {e}", self.name);
        }
    }

    /// Whether at least one member address is known.
    pub fn has_members(&self) -> bool {
        !self.lb.backends().get_backend().is_empty()
    }

    /// Picks a healthy member and builds the peer with this pool's timeouts: the
    /// conversation's member when the pool keeps affinity and `key` names a conversation
    /// (rendezvous hashing over the usable members: a member that leaves or fails moves only
    /// its own conversations), else round robin.
    pub fn select_for(&self, key: Option<u64>) -> Option<(Box<HttpPeer>, Arc<Member>)> {
        match key.filter(|_| self.affinity).and_then(|k| self.affine(k)) {
            Some(backend) => self.peer(&backend),
            None => self.select(),
        }
    }

    /// The usable member with the highest hash of (key, address), if any is usable.
    fn affine(&self, key: u64) -> Option<Backend> {
        let b = self.lb.backends();
        let all = b.get_backend();
        all.iter()
            .filter(|be| {
                b.ready(be)
                    && !be
                        .ext
                        .get::<Arc<Member>>()
                        .is_some_and(|m| m.health.is_down())
            })
            .max_by_key(|be| {
                xxhash_rust::xxh3::xxh3_64_with_seed(be.addr.to_string().as_bytes(), key)
            })
            .cloned()
    }

    /// Picks a healthy member (round robin) and builds the peer with this pool's timeouts.
    pub fn select(&self) -> Option<(Box<HttpPeer>, Arc<Member>)> {
        // Skip members that fail their checks or whose breaker is open. If none is left, fail
        // open: try one anyway, so the client gets the real error (502/504) promptly and a
        // member whose check is wrong still serves. 503 only when nothing resolved at all.
        let usable = |b: &Backend, healthy: bool| {
            healthy
                && !b
                    .ext
                    .get::<Arc<Member>>()
                    .is_some_and(|m| m.health.is_down())
        };
        let backend = self
            .lb
            .select_with(b"", 256, usable)
            .or_else(|| self.lb.select(b"", 256))
            .or_else(|| self.lb.backends().get_backend().iter().next().cloned())?;
        self.peer(&backend)
    }

    fn peer(&self, backend: &Backend) -> Option<(Box<HttpPeer>, Arc<Member>)> {
        let member = backend.ext.get::<Arc<Member>>()?.clone();
        let mut peer = HttpPeer::new(backend.addr.clone(), member.tls, member.host.clone());
        let t = &self.timeouts;
        let o = &mut peer.options;
        o.connection_timeout = Some(t.connect);
        o.total_connection_timeout = Some(t.connect.saturating_mul(2));
        // No per-read / per-write limits here: the hand-off bounds every wait itself (first
        // byte, idle, total, and the request's write within the first-byte limit); Pingora's
        // per-operation timers on top cost 4-7 µs per request (measured) and add nothing.
        o.idle_timeout = Some(Duration::from_secs(60));
        o.tcp_keepalive = None;
        Some((Box::new(peer), member))
    }
}
