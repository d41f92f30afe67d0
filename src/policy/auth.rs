//! Client API keys: stored as SHA-256 hex, looked up by hash, compared in constant time.
//! Keys come from `Authorization: Bearer`, `x-api-key` or `x-goog-api-key` (the Gemini API;
//! its `?key=` query parameter is read by the caller and given as a fallback). Logs and metrics only ever see a
//! key's id.

use crate::config::error::ConfigError;
use crate::config::file::AuthSection;
use crate::core::error::GatewayError;
use crate::observe::stats::{Counters, StatsRegistry};
use crate::policy::quota::Quota;
use crate::upstream::route::Pattern;
use http::HeaderMap;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;
use subtle::ConstantTimeEq;

/// One client key, as the hot path needs it.
#[derive(Debug)]
pub struct ApiKey {
    pub id: String,
    hash: [u8; 32],
    models: Vec<Pattern>,
    /// Requests and tokens per minute and day, requests in flight.
    pub quota: Quota,
    expires: Option<SystemTime>,
    pub stats: Arc<Counters>,
    /// The team whose limits also apply (keys managed at run time).
    pub team: Option<Arc<TeamRef>>,
    /// The `key` label of Prometheus series: the id of a config-file key; `managed` or
    /// `managed:TEAM` for keys managed at run time, whose number has no bound.
    pub label: String,
}

/// A key's team: its id and limits (which cap the total of its keys).
#[derive(Debug, Clone, PartialEq)]
pub struct TeamRef {
    pub id: String,
    pub quota: Quota,
}

impl ApiKey {
    /// A key with no hash, models or expiry (unit tests of the limiter).
    #[doc(hidden)]
    pub fn for_tests(id: &str, quota: Quota) -> ApiKey {
        ApiKey {
            id: id.to_string(),
            hash: [0; 32],
            models: Vec::new(),
            quota,
            expires: None,
            stats: Arc::default(),
            team: None,
            label: id.to_string(),
        }
    }

    /// A key managed at run time (`policy::managed`).
    pub fn managed(
        id: String,
        hash: [u8; 32],
        models: Vec<Pattern>,
        quota: Quota,
        expires: Option<SystemTime>,
        stats: Arc<Counters>,
    ) -> ApiKey {
        ApiKey {
            id,
            hash,
            models,
            quota,
            expires,
            stats,
            team: None,
            label: "managed".into(),
        }
    }

    /// The key in `team` (whose limits then also apply).
    pub fn in_team(mut self, team: Option<Arc<TeamRef>>) -> ApiKey {
        if let Some(t) = &team {
            self.label = format!("managed:{}", t.id);
        }
        self.team = team;
        self
    }

    /// Whether this key may use `model` (the name the client asked for).
    pub fn allows(&self, model: &str) -> bool {
        self.models.is_empty() || self.models.iter().any(|m| m.matches(model))
    }
}

/// All keys of the current config.
#[derive(Debug, Default)]
pub struct Keys {
    by_hash: HashMap<[u8; 32], Arc<ApiKey>>,
    admin: Option<[u8; 32]>,
    /// Keys are also managed at run time (`auth.store`): never open.
    managed: bool,
    /// Which build of the config's keys this is (unique per process): the managed keys'
    /// merged map knows when it must take the config's keys again.
    generation: u64,
}

/// SHA-256 of a key, the form stored in config.
pub fn hash_key(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// A new random key: `sk-relay-` and 48 hex characters (192 bits).
pub fn generate_key() -> String {
    let bytes: [u8; 24] = rand::random();
    format!("sk-relay-{}", hex::encode(bytes))
}

fn parse_hash(path: &str, hex_str: &str) -> Result<[u8; 32], ConfigError> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_str.trim(), &mut out).map_err(|_| {
        ConfigError::at(
            path,
            "not a SHA-256 hex digest (64 hex characters); use `llm-relay hash-key`",
        )
    })?;
    Ok(out)
}

/// A hash given in the file (`path`) or by an environment variable (`path` + `_env`): a
/// Kubernetes Secret can hold key hashes without the ConfigMap naming them. The variable's
/// value is never echoed in an error.
fn configured_hash(
    path: &str,
    in_file: Option<&str>,
    env: Option<&str>,
) -> Result<Option<[u8; 32]>, ConfigError> {
    match (in_file, env) {
        (Some(_), Some(_)) => Err(ConfigError::at(
            path,
            format!("set either {path} or {path}_env, not both"),
        )),
        (Some(h), None) => parse_hash(path, h).map(Some),
        (None, Some(var)) => {
            let env_path = format!("{path}_env");
            let value = std::env::var(var).map_err(|_| {
                ConfigError::at(&env_path, format!("environment variable {var} is not set"))
            })?;
            parse_hash(&env_path, &value)
                .map_err(|_| {
                    ConfigError::at(
                        &env_path,
                        format!("environment variable {var} is not a SHA-256 hex digest (64 hex characters); use `llm-relay hash-key`"),
                    )
                })
                .map(Some)
        }
        (None, None) => Ok(None),
    }
}

/// `budget_usd: {amount, period}` in micro-dollars.
fn budget(
    path: &str,
    b: &crate::config::file::BudgetSection,
) -> Result<(crate::policy::quota::Window, u64), ConfigError> {
    let window = match b.period.as_str() {
        "day" => crate::policy::quota::Window::Day,
        "month" => crate::policy::quota::Window::Month,
        o => {
            return Err(ConfigError::at(
                format!("{path}.budget_usd.period"),
                format!("unknown period \"{o}\" (day, month)"),
            ))
        }
    };
    if !(b.amount > 0.0 && b.amount.is_finite()) {
        return Err(ConfigError::at(
            format!("{path}.budget_usd.amount"),
            "must be > 0",
        ));
    }
    Ok((window, (b.amount * 1e6).round() as u64))
}

impl TryFrom<&AuthSection> for Keys {
    type Error = ConfigError;

    /// Statistics counters come from the process-wide registry, so they survive reloads.
    fn try_from(a: &AuthSection) -> Result<Self, ConfigError> {
        Keys::build(a, crate::observe::stats::global())
    }
}

impl Keys {
    /// Validates the `auth:` section; statistics counters are kept across reloads by id.
    pub fn build(a: &AuthSection, registry: &StatsRegistry) -> Result<Keys, ConfigError> {
        let mut by_hash = HashMap::new();
        let mut ids = std::collections::HashSet::new();
        for (i, k) in a.keys.iter().enumerate() {
            let path = format!("keys[{i}]");
            if k.id.trim().is_empty() || !ids.insert(k.id.clone()) {
                return Err(ConfigError::at(
                    format!("{path}.id"),
                    "must be non-empty and unique",
                ));
            }
            let hash = configured_hash(
                &format!("{path}.sha256"),
                k.sha256.as_deref(),
                k.sha256_env.as_deref(),
            )?
            .ok_or_else(|| ConfigError::at(&path, "one of sha256 or sha256_env is required"))?;
            let expires = match &k.expires {
                None => None,
                Some(t) => Some(humantime::parse_rfc3339_weak(t).map_err(|e| {
                    ConfigError::at(
                        format!("{path}.expires"),
                        format!("`{t}` is not an RFC 3339 time: {e}"),
                    )
                })?),
            };
            let quota = Quota {
                rpm: k.rpm,
                rpd: k.rpd,
                tpm: k.tpm,
                tpd: k.tpd,
                concurrency: k.max_concurrency,
                budget: match &k.budget_usd {
                    None => None,
                    Some(b) => Some(budget(&path, b)?),
                },
            };
            if quota.has_zero() {
                return Err(ConfigError::at(
                    path,
                    "rpm, rpd, tpm, tpd and max_concurrency must be > 0 when set",
                ));
            }
            let key = ApiKey {
                id: k.id.clone(),
                hash,
                models: k.models.iter().map(|m| Pattern::new(m)).collect(),
                quota,
                expires,
                stats: registry.for_key(&k.id),
                team: None,
                label: k.id.clone(),
            };
            if by_hash.insert(hash, Arc::new(key)).is_some() {
                return Err(ConfigError::at(
                    format!("{path}.sha256"),
                    "the same key is configured twice",
                ));
            }
        }
        let admin = configured_hash(
            "admin_key_sha256",
            a.admin_key_sha256.as_deref(),
            a.admin_key_sha256_env.as_deref(),
        )?;
        if a.open && !a.keys.is_empty() {
            return Err(ConfigError::at(
                "open",
                "`open: true` means the gateway has no client keys, but `keys` are configured: remove one of the two",
            ));
        }
        if a.open && a.store.is_some() {
            return Err(ConfigError::at(
                "open",
                "`open: true` means the gateway has no client keys, but `store` manages them: remove one of the two",
            ));
        }
        static GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        Ok(Keys {
            by_hash,
            admin,
            managed: a.store.is_some(),
            generation: GENERATION.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        })
    }

    /// No keys configured: every client is admitted.
    pub fn is_open(&self) -> bool {
        self.by_hash.is_empty() && !self.managed
    }

    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    /// The key presented by the client: `Ok(None)` when the gateway runs open.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Option<Arc<ApiKey>>, GatewayError> {
        self.authenticate_with(headers, None)
    }

    /// [`Keys::authenticate`], with `fallback` (a key the URL carries: the Gemini API's
    /// `?key=`) when no header presents one.
    pub fn authenticate_with(
        &self,
        headers: &HeaderMap,
        fallback: Option<&str>,
    ) -> Result<Option<Arc<ApiKey>>, GatewayError> {
        self.authenticate_in(headers, fallback, None)
    }

    /// [`Keys::authenticate_with`], also among the keys managed at run time.
    pub fn authenticate_in(
        &self,
        headers: &HeaderMap,
        fallback: Option<&str>,
        managed: Option<&crate::policy::managed::ManagedKeys>,
    ) -> Result<Option<Arc<ApiKey>>, GatewayError> {
        if self.is_open() {
            return Ok(None);
        }
        let fallback = fallback.map(str::trim).filter(|k| !k.is_empty());
        let Some(presented) = presented_key(headers).or(fallback) else {
            return Err(GatewayError::Unauthorized {
                message: "You didn't provide an API key. Send it as `Authorization: Bearer <key>` or `x-api-key`.".into(),
            });
        };
        let hash = hash_key(presented);
        // With managed keys, one lookup in their map merged with this config's keys, so
        // both kinds cost the same.
        let found = match managed {
            Some(m) => m.lookup_with(&hash, self),
            None => self.by_hash.get(&hash).cloned(),
        }
        .filter(|k| bool::from(k.hash.ct_eq(&hash)));
        let Some(key) = found else {
            if managed.is_some_and(|m| !m.is_loaded()) {
                // The key may well exist: the store has not been read yet (Redis away at
                // start-up). Retryable, not a verdict on the key.
                return Err(GatewayError::Unavailable {
                    message: "The gateway has not loaded its keys yet (auth.store); retry shortly."
                        .into(),
                });
            }
            return Err(GatewayError::Unauthorized {
                message: "Incorrect API key provided.".into(),
            });
        };
        if key.expires.is_some_and(|t| SystemTime::now() >= t) {
            return Err(GatewayError::Unauthorized {
                message: format!("The API key `{}` has expired.", key.id),
            });
        }
        Ok(Some(key))
    }

    /// Whether the request carries the admin key (always true when none is configured: the
    /// admin listener is then protected only by where it listens).
    pub fn is_admin(&self, headers: &HeaderMap) -> bool {
        let Some(admin) = self.admin else {
            return true;
        };
        presented_key(headers).is_some_and(|k| bool::from(hash_key(k).ct_eq(&admin)))
    }

    pub fn has_admin_key(&self) -> bool {
        self.admin.is_some()
    }

    /// Which build of the config's keys this is (see [`Keys::iter`]'s users).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The config's keys by hash.
    pub fn by_hash(&self) -> &HashMap<[u8; 32], Arc<ApiKey>> {
        &self.by_hash
    }

    /// Every configured key, in no particular order (the admin listener lists their limits).
    pub fn iter(&self) -> impl Iterator<Item = &Arc<ApiKey>> {
        self.by_hash.values()
    }
}

/// `Authorization: Bearer <key>`, `x-api-key: <key>` or `x-goog-api-key: <key>`.
pub fn presented_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(v) = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let v = v.trim();
        if let Some(k) = v
            .strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))
        {
            return Some(k.trim()).filter(|k| !k.is_empty());
        }
    }
    ["x-api-key", "x-goog-api-key"]
        .into_iter()
        .find_map(|name| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|k| !k.is_empty())
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::file::KeySection;

    fn keys(expires: Option<&str>) -> Keys {
        let a = AuthSection {
            keys: vec![KeySection {
                id: "team-a".into(),
                sha256: Some(hex::encode(hash_key("sk-good"))),
                sha256_env: None,
                models: vec!["hy-*".into()],
                rpm: Some(10),
                max_concurrency: None,
                rpd: None,
                tpm: None,
                tpd: None,
                budget_usd: None,
                expires: expires.map(str::to_string),
            }],
            admin_key_sha256: Some(hex::encode(hash_key("sk-admin"))),
            admin_key_sha256_env: None,
            open: false,
            store: None,
        };
        Keys::build(&a, &StatsRegistry::default()).unwrap()
    }

    fn h(name: &str, v: &str) -> HeaderMap {
        let mut m = HeaderMap::new();
        m.insert(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
        m
    }

    #[test]
    fn bearer_and_x_api_key() {
        let k = keys(None);
        assert_eq!(
            k.authenticate(&h("authorization", "Bearer sk-good"))
                .unwrap()
                .unwrap()
                .id,
            "team-a"
        );
        assert!(k
            .authenticate(&h("x-api-key", "sk-good"))
            .unwrap()
            .is_some());
        assert_eq!(
            k.authenticate(&h("authorization", "Bearer sk-bad"))
                .unwrap_err()
                .status(),
            401
        );
        assert_eq!(k.authenticate(&HeaderMap::new()).unwrap_err().status(), 401);
        assert!(k.is_admin(&h("authorization", "Bearer sk-admin")));
        assert!(!k.is_admin(&h("authorization", "Bearer sk-good")));
    }

    #[test]
    fn gemini_header_and_query_key() {
        let k = keys(None);
        let by_header = k.authenticate(&h("x-goog-api-key", "sk-good")).unwrap();
        assert_eq!(by_header.unwrap().id, "team-a");
        let none = HeaderMap::new();
        assert!(k
            .authenticate_with(&none, Some("sk-good"))
            .unwrap()
            .is_some());
        assert_eq!(
            k.authenticate_with(&none, Some(" ")).unwrap_err().status(),
            401
        );
        // A header wins over the URL.
        let bad_header = h("x-goog-api-key", "sk-bad");
        assert_eq!(
            k.authenticate_with(&bad_header, Some("sk-good"))
                .unwrap_err()
                .status(),
            401
        );
    }

    #[test]
    fn expiry_and_models() {
        let k = keys(Some("2000-01-01T00:00:00Z"));
        assert_eq!(
            k.authenticate(&h("x-api-key", "sk-good"))
                .unwrap_err()
                .status(),
            401
        );
        let k = keys(Some("2999-01-01T00:00:00Z"));
        let key = k.authenticate(&h("x-api-key", "sk-good")).unwrap().unwrap();
        assert!(key.allows("hy-turbo") && !key.allows("gpt-4o"));
    }

    #[test]
    fn generated_keys_differ() {
        let (a, b) = (generate_key(), generate_key());
        assert_ne!(a, b);
        assert!(a.starts_with("sk-relay-") && a.len() == 9 + 48);
    }
}
