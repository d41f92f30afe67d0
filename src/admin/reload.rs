//! Live configuration reload: SIGHUP or `POST /admin/reload` re-reads relay.yaml, validates it,
//! resolves its pools, and swaps the runtime config in one atomic store. Requests in flight
//! keep the `Arc<Runtime>` they started with; the cascade cache, the limiter counters and the
//! statistics live outside the runtime config and survive. An invalid file is refused with a
//! logged error naming the key path, and the old config stays.

use crate::config::ConfigError;
use crate::policy::managed::ManagedKeys;
use crate::runtime::{ConfigHandle, Runtime};
use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use std::sync::Arc;

/// What a reload may not change about keys: `auth.store` is a start-up setting (dropping it
/// would leave a loopback gateway with no keys at all, open), and a config key may not take
/// the id of a managed key, revoked ones included (the two would share limits, spend and
/// stored conversations).
fn same_key_store(
    old: &Runtime,
    new: &Runtime,
    managed: Option<&ManagedKeys>,
) -> Result<(), ConfigError> {
    if new.key_store != old.key_store {
        return Err(ConfigError::at(
            "auth.store",
            "is a start-up setting: restart or upgrade the gateway to change it",
        ));
    }
    if let Some(m) = managed {
        let taken: Vec<String> = m
            .ids()
            .into_iter()
            .filter(|id| new.keys.iter().any(|k| &k.id == id))
            .collect();
        if !taken.is_empty() {
            return Err(ConfigError::at(
                "auth.keys",
                format!(
                    "ids {} belong to keys managed at run time (auth.store): choose others",
                    taken.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// Re-reads `path` into `config` (`managed`: the keys managed at run time, whose ids the
/// config may not take). Returns a short summary on success.
pub async fn reload(
    config: &ConfigHandle,
    path: Option<&str>,
    managed: Option<&ManagedKeys>,
) -> Result<String, ConfigError> {
    let Some(path) = path else {
        return Err(ConfigError::whole(
            "running on the embedded demo config: start with --config FILE to reload",
        ));
    };
    // Reading (and parsing) the file is blocking work: on the blocking pool, not on the worker
    // thread that serves the admin listener or runs the SIGHUP service.
    let owned = path.to_string();
    let loaded = tokio::task::spawn_blocking(move || Runtime::load(&owned))
        .await
        .unwrap_or_else(|e| {
            Err(ConfigError::at(
                path,
                format!("reading the file failed: {e}"),
            ))
        });
    let old = config.load();
    // The listeners are not rebound: the new config is judged on the addresses they really
    // have too (a file that moved `listen` to loopback and dropped the keys stays refused).
    let checked = loaded.and_then(|mut rt| {
        rt.bound = old.bound.clone();
        rt.check_exposure()?;
        same_key_store(&old, &rt, managed)?;
        Ok(rt)
    });
    let new = match checked {
        Ok(rt) => rt,
        Err(e) => {
            log::error!("reload refused, the running config stays: {e}");
            return Err(e);
        }
    };
    new.resolve().await;
    if new.listen != old.listen || new.admin_listen != old.admin_listen {
        log::warn!(
            "reload: listen addresses changed; they take effect at the next restart or upgrade"
        );
    }
    let summary = format!(
        "{} pools, {} routes, {} keys",
        new.pools.len(),
        new.router.routes.len(),
        new.keys.len()
    );
    config.store(Arc::new(new));
    log::info!("configuration reloaded from {path}: {summary}");
    Ok(summary)
}

/// Reloads on SIGHUP.
pub struct HupReloader {
    pub config: ConfigHandle,
    pub path: Option<String>,
    pub managed: Option<Arc<ManagedKeys>>,
}

#[async_trait]
impl BackgroundService for HupReloader {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hup = match signal(SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                log::warn!("cannot watch SIGHUP, reload with POST /admin/reload: {e}");
                return;
            }
        };
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                got = hup.recv() => {
                    if got.is_none() {
                        return;
                    }
                    let _ = reload(&self.config, self.path.as_deref(), self.managed.as_deref()).await;
                }
            }
        }
    }
}
