//! One member of a pool (a base URL) and its passive health (the circuit breaker).

use crate::config::error::ConfigError;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

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
    pub fn parse(url: &str) -> Result<Member, ConfigError> {
        let (tls, rest) = if let Some(r) = url.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("http://") {
            (false, r)
        } else {
            return Err(ConfigError::whole(format!(
                "`{url}` must start with http:// or https://"
            )));
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let uri: http::uri::Authority = authority
            .parse()
            .map_err(|e| ConfigError::whole(format!("`{url}`: bad host: {e}")))?;
        let host = uri
            .host()
            .trim_matches(|c| c == '[' || c == ']')
            .to_string();
        if host.is_empty() {
            return Err(ConfigError::whole(format!("`{url}` has no host")));
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
