//! Upstream pools: members behind a base URL, load balanced over the healthy ones
//! (pingora-load-balancing), with host names resolved off the request path.
//!
//! A pool's members are discovered by [`DnsDiscovery`], which resolves each member's host with
//! tokio's resolver. It runs at start-up (and on reload) and then periodically from the
//! background refresher, so `upstream_peer` only ever picks an already-resolved address.

use crate::chat::fix::FixPolicy;
use crate::config::file::{HealthSection, RetrySection, TimeoutSection};
use async_trait::async_trait;

pub mod refresher;
use http::HeaderValue;
use pingora::lb::discovery::ServiceDiscovery;
use pingora::lb::selection::RoundRobin;
use pingora::lb::{Backend, Backends, LoadBalancer};
use pingora::upstreams::peer::HttpPeer;
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// The provider profile decides how chat bodies are rewritten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// Pass through untouched (besides the alias rename).
    OpenAi,
    /// Apply Hunyuan's message rules.
    Hunyuan,
}

/// Passive health of a member: consecutive failures and, once tripped, when it may be tried
/// again. Atomics, so the hot path never locks.
#[derive(Debug, Default)]
pub struct MemberHealth {
    failures: AtomicU32,
    /// Milliseconds since `epoch()` until which the member is out of rotation.
    down_until_ms: AtomicU64,
}

fn epoch() -> Instant {
    static E: OnceLock<Instant> = OnceLock::new();
    *E.get_or_init(Instant::now)
}

fn now_ms() -> u64 {
    epoch().elapsed().as_millis() as u64
}

impl MemberHealth {
    /// Out of rotation (tripped and still cooling down).
    pub fn is_down(&self) -> bool {
        self.down_until_ms.load(Ordering::Relaxed) > now_ms()
    }

    pub fn success(&self) {
        if self.failures.load(Ordering::Relaxed) != 0 {
            self.failures.store(0, Ordering::Relaxed);
        }
    }

    /// Counts a failure; returns true when this one trips the breaker.
    pub fn failure(&self, trip_after: u32, cooldown: Duration) -> bool {
        let n = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        if n >= trip_after.max(1) {
            self.failures.store(0, Ordering::Relaxed);
            let until = now_ms() + cooldown.as_millis() as u64;
            self.down_until_ms.store(until, Ordering::Relaxed);
            return true;
        }
        false
    }
}

/// One base URL of a pool, as parsed from the config.
#[derive(Debug, Clone)]
pub struct Member {
    pub health: Arc<MemberHealth>,
    pub host: String,
    pub port: u16,
    pub tls: bool,
    /// The path prefix of the base URL, without a trailing slash (`/v1`).
    pub base_path: String,
    /// The `Host` header value (`host` or `host:port` when not the scheme's default).
    pub authority: String,
}

impl Member {
    /// Parses `http(s)://host[:port][/base]`.
    pub fn parse(url: &str) -> Result<Member, String> {
        let (tls, rest) = if let Some(r) = url.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("http://") {
            (false, r)
        } else {
            return Err(format!("`{url}` must start with http:// or https://"));
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let uri: http::uri::Authority = authority
            .parse()
            .map_err(|e| format!("`{url}`: bad host: {e}"))?;
        let host = uri
            .host()
            .trim_matches(|c| c == '[' || c == ']')
            .to_string();
        if host.is_empty() {
            return Err(format!("`{url}` has no host"));
        }
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        Ok(Member {
            health: Arc::default(),
            host,
            port,
            tls,
            base_path: path.trim_end_matches('/').to_string(),
            authority: authority.to_string(),
        })
    }
}

/// Resolves members' host names (without blocking a worker thread).
pub struct DnsDiscovery {
    members: Vec<Arc<Member>>,
}

#[async_trait]
impl ServiceDiscovery for DnsDiscovery {
    async fn discover(&self) -> pingora::Result<(BTreeSet<Backend>, HashMap<u64, bool>)> {
        let mut set = BTreeSet::new();
        for m in &self.members {
            let addrs = match tokio::net::lookup_host((m.host.as_str(), m.port)).await {
                Ok(a) => a,
                Err(e) => {
                    // Keep the other members: one bad name must not empty the pool.
                    log::warn!("upstream {}: cannot resolve {}: {e}", m.authority, m.host);
                    continue;
                }
            };
            for addr in addrs {
                let mut b = Backend {
                    addr: pingora::protocols::l4::socket::SocketAddr::Inet(addr),
                    weight: 1,
                    ext: http::Extensions::new(),
                };
                b.ext.insert(m.clone());
                set.insert(b);
            }
        }
        Ok((set, HashMap::new()))
    }
}

/// A pool of upstream members with its credential, profile and timeouts.
pub struct Pool {
    pub name: String,
    pub profile: Profile,
    pub fix: FixPolicy,
    pub lb: Arc<LoadBalancer<RoundRobin>>,
    /// `Bearer <key>`, marked sensitive so it is never printed by `http`'s Debug.
    pub auth: Option<HeaderValue>,
    pub timeouts: TimeoutSection,
    /// Ask for usage on streams (see `pools.<name>.request_usage`).
    pub request_usage: bool,
    pub health: HealthSection,
    pub retry: RetrySection,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("name", &self.name)
            .field("profile", &self.profile)
            .finish_non_exhaustive()
    }
}

impl Pool {
    /// Builds the load balancer for `members`; call [`Pool::refresh`] before use.
    pub fn new(
        name: String,
        members: Vec<Member>,
        profile: Profile,
        fix: FixPolicy,
        auth: Option<HeaderValue>,
        timeouts: TimeoutSection,
    ) -> Pool {
        let discovery = DnsDiscovery {
            members: members.into_iter().map(Arc::new).collect(),
        };
        let mut backends = Backends::new(Box::new(discovery));
        backends.set_health_check(pingora::lb::health_check::TcpHealthCheck::new());
        let lb = LoadBalancer::from_backends(backends);
        Pool {
            name,
            profile,
            fix,
            lb: Arc::new(lb),
            auth,
            timeouts,
            request_usage: true,
            health: HealthSection::default(),
            retry: RetrySection::default(),
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
        let cooldown = Duration::from_millis(self.health.cooldown_ms);
        if member
            .health
            .failure(self.health.failures_to_trip, cooldown)
        {
            log::warn!(
                "pool {}: member {} failed {} times in a row; out of rotation for {} ms",
                self.name,
                member.authority,
                self.health.failures_to_trip,
                self.health.cooldown_ms
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

    /// Picks a healthy member and builds the peer with this pool's timeouts. `key` spreads
    /// retries; round robin ignores it.
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
        let member = backend.ext.get::<Arc<Member>>()?.clone();
        let mut peer = HttpPeer::new(backend.addr.clone(), member.tls, member.host.clone());
        let t = &self.timeouts;
        let o = &mut peer.options;
        o.connection_timeout = Some(Duration::from_millis(t.connect_ms));
        o.total_connection_timeout = Some(Duration::from_millis(t.connect_ms.saturating_mul(2)));
        // The gateway's watchdog enforces first-byte and idle separately; this is the backstop.
        o.read_timeout = Some(Duration::from_millis(
            t.first_byte_ms.max(t.idle_ms) + 1_000,
        ));
        o.write_timeout = Some(Duration::from_millis(t.idle_ms));
        o.idle_timeout = Some(Duration::from_secs(60));
        o.tcp_keepalive = None;
        Some((Box::new(peer), member))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_members() {
        let m = Member::parse("https://api.hunyuan.cloud.tencent.com/v1/").unwrap();
        assert_eq!(m.host, "api.hunyuan.cloud.tencent.com");
        assert_eq!(m.port, 443);
        assert!(m.tls);
        assert_eq!(m.base_path, "/v1");
        let m = Member::parse("http://127.0.0.1:9000").unwrap();
        assert_eq!(
            (m.port, m.base_path.as_str(), m.authority.as_str()),
            (9000, "", "127.0.0.1:9000")
        );
        assert!(Member::parse("ftp://x").is_err());
    }
}
