//! The Redis (or Valkey) that several gateway instances share: one client for the limits, the
//! cascade cache and stored responses, with the failure policy in one place.
//!
//! Every call is bounded by `redis.timeout_ms`. A failed call marks Redis down; while it is
//! down no request waits for it (calls fail at once and the caller falls back), and a
//! background probe ([`RedisProbe`]) reconnects with backoff and marks it up again. So a slow
//! or dead Redis costs a request at most one timeout, and then the fallback applies.

use crate::config::choices::RedisOnFailure as OnFailure;
use crate::config::error::ConfigError;
use crate::config::file::RedisSection;
use crate::observe::metrics::metrics;
use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, IntoConnectionInfo, Pipeline, RedisFuture, Value};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::OnceCell;

/// Validated `redis:` settings.
#[derive(Debug, Clone)]
pub struct RedisSettings {
    /// One node, or the nodes of a Redis Cluster.
    pub nodes: Vec<redis::ConnectionInfo>,
    pub cluster: bool,
    pub prefix: String,
    pub timeout: Duration,
    pub on_failure: OnFailure,
    pub instances: u32,
    pub lease_ttl: Duration,
}

impl TryFrom<&RedisSection> for RedisSettings {
    type Error = ConfigError;

    fn try_from(r: &RedisSection) -> Result<Self, ConfigError> {
        let (urls, cluster) = match (&r.url, r.cluster.is_empty()) {
            (Some(u), true) => (vec![u.clone()], false),
            (None, false) => (r.cluster.clone(), true),
            _ => {
                return Err(ConfigError::whole(
                    "give either `url` or `cluster` (a list of node URLs)",
                ))
            }
        };
        let password = match &r.password_env {
            None => None,
            Some(var) => Some(std::env::var(var).map_err(|_| {
                ConfigError::at(
                    "password_env",
                    format!("environment variable {var} is not set"),
                )
            })?),
        };
        let mut nodes = Vec::new();
        for (i, u) in urls.iter().enumerate() {
            let path = if cluster {
                format!("cluster[{i}]")
            } else {
                "url".into()
            };
            let mut info = u
                .as_str()
                .into_connection_info()
                .map_err(|e| ConfigError::at(&path, format!("`{u}`: {e}")))?;
            if info.redis.password.is_some() {
                return Err(ConfigError::at(
                    path,
                    "put the password in the environment variable named by `password_env`",
                ));
            }
            info.redis.password = password.clone();
            nodes.push(info);
        }
        let on_failure = r.on_failure;
        if r.timeout_ms == 0 || r.instances == 0 || r.lease_ttl_ms < 1000 {
            return Err(ConfigError::whole(
                "timeout_ms and instances must be > 0, lease_ttl_ms at least 1000",
            ));
        }
        Ok(RedisSettings {
            nodes,
            cluster,
            prefix: r.key_prefix.clone(),
            timeout: Duration::from_millis(r.timeout_ms),
            on_failure,
            instances: r.instances,
            lease_ttl: Duration::from_millis(r.lease_ttl_ms),
        })
    }
}

/// A connection to one node or to a cluster (both multiplexed and cheap to clone).
#[derive(Clone)]
pub enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(cmd, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// Why a shared-state call did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SharedError {
    #[error("Redis is unavailable (retrying in the background)")]
    Down,
    #[error("Redis did not answer within {0} ms")]
    Timeout(u128),
    #[error("Redis error: {0}")]
    Redis(String),
}

/// The shared Redis, process-wide (it outlives config reloads; its settings are start-up
/// settings).
pub struct SharedState {
    pub settings: RedisSettings,
    conn: OnceCell<Conn>,
    up: AtomicBool,
    /// Consecutive failures (for the probe's backoff).
    failures: AtomicU32,
    /// Unix ms of the last failure.
    failed_at_ms: AtomicU64,
    /// Distinguishes this instance's leases from other instances'.
    pub instance_id: String,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl SharedState {
    pub fn new(settings: RedisSettings) -> SharedState {
        metrics().redis_up.set(0);
        SharedState {
            settings,
            conn: OnceCell::new(),
            // Optimistic until the first call says otherwise: start-up must not wait.
            up: AtomicBool::new(true),
            failures: AtomicU32::new(0),
            failed_at_ms: AtomicU64::new(0),
            instance_id: hex::encode(rand::random::<[u8; 6]>()),
        }
    }

    /// A key under the configured prefix. `{…}` is a cluster hash tag: keys that one script
    /// touches together share a tag, so they live in one slot.
    pub fn key(&self, tag: &str, rest: &str) -> String {
        format!("{{{}:{tag}}}:{rest}", self.settings.prefix)
    }

    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Runs `f` on the connection within the timeout; marks Redis down on failure.
    pub async fn run<T, F, Fut>(&self, what: &'static str, f: F) -> Result<T, SharedError>
    where
        F: FnOnce(Conn) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        self.run_sized(what, 0, f).await
    }

    /// [`run`](Self::run) for a call that moves `bytes` of payload: the timeout grows by one
    /// second per 8 MiB, so a large value (a stored conversation) is not taken for a dead Redis
    /// (which would send every instance's limits to the fallback).
    pub async fn run_sized<T, F, Fut>(
        &self,
        what: &'static str,
        bytes: usize,
        f: F,
    ) -> Result<T, SharedError>
    where
        F: FnOnce(Conn) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        if !self.is_up() {
            metrics().redis_fallbacks.with_label_values(&[what]).inc();
            return Err(SharedError::Down);
        }
        let t0 = Instant::now();
        let timeout =
            self.settings.timeout + Duration::from_millis(bytes as u64 * 1000 / (8 << 20));
        let result = tokio::time::timeout(timeout, async {
            let conn = self.connection().await?;
            f(conn).await
        })
        .await;
        metrics()
            .redis_seconds
            .with_label_values(&[what])
            .observe(t0.elapsed().as_secs_f64());
        let err = match result {
            Ok(Ok(v)) => {
                self.failures.store(0, Ordering::Relaxed);
                return Ok(v);
            }
            Ok(Err(e)) => SharedError::Redis(e.to_string()),
            Err(_) => SharedError::Timeout(timeout.as_millis()),
        };
        self.mark_down(&err);
        metrics().redis_fallbacks.with_label_values(&[what]).inc();
        Err(err)
    }

    fn mark_down(&self, e: &SharedError) {
        metrics().redis_errors.inc();
        self.failures.fetch_add(1, Ordering::Relaxed);
        self.failed_at_ms.store(now_ms(), Ordering::Relaxed);
        if self.up.swap(false, Ordering::Relaxed) {
            log::warn!(
                "redis: {e}; shared state falls back to {:?}",
                self.settings.on_failure
            );
            metrics().redis_up.set(0);
        }
    }

    async fn connection(&self) -> redis::RedisResult<Conn> {
        let c = self.conn.get_or_try_init(|| self.connect()).await?;
        Ok(c.clone())
    }

    async fn connect(&self) -> redis::RedisResult<Conn> {
        let s = &self.settings;
        if s.cluster {
            let client = redis::cluster::ClusterClient::builder(s.nodes.clone())
                .connection_timeout(s.timeout.max(Duration::from_millis(500)))
                .response_timeout(s.timeout.max(Duration::from_millis(500)))
                .build()?;
            return Ok(Conn::Cluster(client.get_async_connection().await?));
        }
        let node = s.nodes.first().cloned().ok_or_else(|| {
            redis::RedisError::from((redis::ErrorKind::InvalidClientConfig, "no node"))
        })?;
        let client = redis::Client::open(node)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(s.timeout.max(Duration::from_millis(500)))
            .set_number_of_retries(1);
        Ok(Conn::Single(
            ConnectionManager::new_with_config(client, config).await?,
        ))
    }

    /// One PING outside the request path: marks Redis up when it answers.
    async fn probe(&self) -> bool {
        let ok = tokio::time::timeout(Duration::from_secs(2), async {
            let mut c = self.connection().await?;
            redis::cmd("PING").query_async::<String>(&mut c).await
        })
        .await
        .is_ok_and(|r| r.is_ok());
        if ok && !self.up.swap(true, Ordering::Relaxed) {
            log::info!("redis: reachable again; shared state resumes");
        }
        if ok {
            self.failures.store(0, Ordering::Relaxed);
            metrics().redis_up.set(1);
        } else if self.is_up() {
            self.mark_down(&SharedError::Down);
        }
        ok
    }

    /// `/health`'s `redis` component.
    pub fn health(&self) -> serde_json::Value {
        let up = self.is_up();
        serde_json::json!({
            "status": if up { "healthy" } else { "degraded" },
            "message": if up {
                "shared state in Redis".to_string()
            } else {
                format!(
                    "Redis unavailable; {}",
                    match self.settings.on_failure {
                        OnFailure::Local => "per-instance limits and caches",
                        OnFailure::Refuse => "requests that need shared state get 503",
                    }
                )
            },
            "consecutive_failures": self.failures.load(Ordering::Relaxed),
        })
    }
}

/// Probes Redis every second while it is down (backing off to 10 s after repeated
/// failures) and every 5 s while it is up, so recovery is automatic.
pub struct RedisProbe {
    pub shared: Arc<SharedState>,
}

#[async_trait]
impl BackgroundService for RedisProbe {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        loop {
            let ok = self.shared.probe().await;
            crate::observe::health::set_waiting_for_redis(false);
            let failures = self.shared.failures.load(Ordering::Relaxed).min(4);
            let wait = if ok {
                Duration::from_secs(5)
            } else {
                Duration::from_millis(500 << failures).min(Duration::from_secs(10))
            };
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }
}
