//! Resolving members' host names with tokio's resolver, as pingora-load-balancing's service
//! discovery: it runs at start-up, on reload and from the background refresher, so
//! `upstream_peer` only ever picks an already-resolved address.

use super::member::Member;
use async_trait::async_trait;
use pingora::lb::discovery::ServiceDiscovery;
use pingora::lb::Backend;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// Resolves members' host names (without blocking a worker thread).
pub struct DnsDiscovery {
    pub members: Vec<Arc<Member>>,
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
