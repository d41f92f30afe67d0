//! Configuration in two layers (after River): [`file`] is what users write, strict and
//! documented; [`Runtime`] is the validated form the hot path reads (compiled routes, pools
//! with resolved members, pre-rendered `/v1/models`). The runtime form sits behind one
//! swappable handle, [`ConfigHandle`], so a reload is one atomic pointer swap and requests in
//! flight keep the `Arc` they started with.

pub mod file;

use crate::policy::auth::Keys;
use crate::chat::cascade::{CascadeSettings, OnFailure};
use crate::chat::fix::ModelCaps;
use crate::chat::vision::DEFAULT_PROMPT;
use crate::request::kind::Kind;
use crate::policy::limit::GlobalLimits;
use crate::upstream::{Member, Pool, Profile};
use arc_swap::ArcSwap;
use bytes::Bytes;
use file::FileConfig;
use http::HeaderValue;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use wildmatch::WildMatch;

/// The config embedded in the binary: the demo, pointing at the bundled mock on 127.0.0.1:9000.
pub const EMBEDDED_DEMO: &str = include_str!("../../conf/demo.yaml");

/// A config error that names the key path it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

fn err(path: impl std::fmt::Display, msg: impl std::fmt::Display) -> ConfigError {
    ConfigError(format!("{path}: {msg}"))
}

/// How a route matches a model name.
#[derive(Debug)]
pub enum Pattern {
    Exact(String),
    Glob(WildMatch),
}

impl Pattern {
    fn new(s: &str) -> Pattern {
        if s.contains('*') || s.contains('?') {
            Pattern::Glob(WildMatch::new(s))
        } else {
            Pattern::Exact(s.to_string())
        }
    }

    fn matches(&self, model: &str) -> bool {
        match self {
            Pattern::Exact(s) => s == model,
            Pattern::Glob(g) => g.matches(model),
        }
    }
}

/// A compiled route.
#[derive(Debug)]
pub struct Route {
    pub pattern: Pattern,
    pub pool: Arc<Pool>,
    pub fallback: Option<Arc<Pool>>,
    pub upstream_model: Option<String>,
    /// Empty: every kind.
    pub kinds: Vec<Kind>,
    pub caps: ModelCaps,
}

/// The outcome of routing one request.
#[derive(Debug, Clone)]
pub struct Target {
    pub pool: Arc<Pool>,
    /// Tried once when every try on `pool` failed before a response started.
    pub fallback: Option<Arc<Pool>>,
    /// The model id sent upstream (alias resolved).
    pub model: String,
    pub caps: ModelCaps,
}

/// Body limits, resolved per kind.
#[derive(Debug)]
pub struct BodyLimits {
    caps: HashMap<Kind, usize>,
    pub read_timeout: Duration,
}

impl BodyLimits {
    pub fn cap(&self, kind: Kind) -> usize {
        self.caps.get(&kind).copied().unwrap_or(20 * 1024 * 1024)
    }
}

/// The validated configuration the gateway runs on.
#[derive(Debug)]
pub struct Runtime {
    pub listen: Vec<String>,
    pub admin_listen: String,
    pub access_log: bool,
    pub keepalive_seconds: u64,
    /// Exact model names of the routes: the only values of the `model` metric label.
    pub known_models: std::collections::HashSet<String>,
    pub body: BodyLimits,
    pub pools: BTreeMap<String, Arc<Pool>>,
    pub routes: Vec<Route>,
    pub defaults: HashMap<Kind, Arc<Pool>>,
    /// The `/v1/models` answer, rendered once.
    pub models_json: Bytes,
    /// The image→text cascade, when configured.
    pub cascade: Option<CascadeSettings>,
    /// Client keys (empty: the gateway runs open).
    pub keys: Keys,
    /// Limits over all keys.
    pub global_limits: GlobalLimits,
    /// Alert rules and their evaluation period (seconds).
    pub alert_rules: Vec<crate::observe::alerts::AlertRule>,
    pub alert_every: u64,
    /// Cache sizing (entries, bytes, TTL), read once at start-up: the cache outlives reloads.
    pub cascade_cache: (usize, u64, Duration),
}

/// The one swappable handle to the runtime config.
pub type ConfigHandle = Arc<ArcSwap<Runtime>>;

impl Runtime {
    /// The metric label for a model: configured names only, so labels stay bounded.
    pub fn model_label<'a>(&self, model: &'a str) -> &'a str {
        if self.known_models.contains(model) {
            model
        } else {
            "other"
        }
    }

    /// Finds where `model` goes for `kind`: the first matching route, else the kind's default.
    pub fn route(&self, kind: Kind, model: &str) -> Option<Target> {
        for r in &self.routes {
            if (r.kinds.is_empty() || r.kinds.contains(&kind)) && r.pattern.matches(model) {
                return Some(Target {
                    pool: r.pool.clone(),
                    fallback: r.fallback.clone(),
                    model: r
                        .upstream_model
                        .clone()
                        .unwrap_or_else(|| model.to_string()),
                    caps: r.caps,
                });
            }
        }
        self.defaults.get(&kind).map(|p| Target {
            pool: p.clone(),
            fallback: None,
            model: model.to_string(),
            caps: ModelCaps {
                images: false,
                tools: true,
            },
        })
    }

    /// Parses and validates YAML text. Provider keys are read from the environment here.
    pub fn from_yaml(text: &str) -> Result<Runtime, ConfigError> {
        let de = serde_yaml::Deserializer::from_str(text);
        let file: FileConfig = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner().to_string();
            if path == "." {
                ConfigError(inner)
            } else {
                err(path, inner)
            }
        })?;
        Runtime::from_file(file)
    }

    /// Reads and validates a file.
    pub fn load(path: &str) -> Result<Runtime, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| err(path, e))?;
        Runtime::from_yaml(&text).map_err(|e| ConfigError(format!("{path}: {e}")))
    }

    fn from_file(f: FileConfig) -> Result<Runtime, ConfigError> {
        if f.server.listen.is_empty() {
            return Err(err("server.listen", "at least one address is needed"));
        }
        for (i, a) in f.server.listen.iter().enumerate() {
            a.parse::<std::net::SocketAddr>()
                .map_err(|e| err(format!("server.listen[{i}]"), format!("`{a}`: {e}")))?;
        }
        f.server
            .admin_listen
            .parse::<std::net::SocketAddr>()
            .map_err(|e| {
                err(
                    "server.admin_listen",
                    format!("`{}`: {e}", f.server.admin_listen),
                )
            })?;
        let pools = build_pools(&f)?;
        let routes = build_routes(&f, &pools)?;
        let mut defaults = HashMap::new();
        for (k, p) in &f.defaults {
            let kind =
                Kind::parse(k).ok_or_else(|| err(format!("defaults.{k}"), "unknown kind"))?;
            let pool = pools
                .get(p)
                .ok_or_else(|| err(format!("defaults.{k}"), format!("unknown pool \"{p}\"")))?;
            defaults.insert(kind, pool.clone());
        }
        let mut rt = Runtime {
            listen: f.server.listen.clone(),
            admin_listen: f.server.admin_listen.clone(),
            access_log: f.server.access_log,
            known_models: f
                .routes
                .iter()
                .filter(|r| !r.model.contains('*') && !r.model.contains('?'))
                .map(|r| r.model.clone())
                .collect(),
            keepalive_seconds: f.server.keepalive_seconds,
            body: build_body(&f)?,
            models_json: render_models(&f),
            pools,
            routes,
            defaults,
            cascade: None,
            keys: Keys::build(&f.auth, crate::observe::stats::global()).map_err(ConfigError)?,
            global_limits: GlobalLimits {
                rpm: f.limits.global_rpm,
                concurrency: f.limits.global_concurrency,
            },
            cascade_cache: (10_000, 64 << 20, Duration::from_secs(3600)),
            alert_rules: Vec::new(),
            alert_every: f.alerts.evaluate_seconds,
        };
        rt.alert_rules = crate::observe::alerts::build_rules(&f.alerts.rules, &rt)?;
        if let Some(c) = &f.cascade {
            rt.cascade_cache = (
                c.cache.max_entries,
                c.cache.max_bytes,
                Duration::from_secs(c.cache.ttl_seconds),
            );
            rt.cascade = Some(build_cascade(&rt, c)?);
        }
        Ok(rt)
    }

    /// Resolves every pool's members (start-up and reload; never on the request path). A pool
    /// that resolves to nothing is logged, not fatal: it answers 503 until its hosts resolve,
    /// and `-t` can validate a config on a machine that cannot reach the provider.
    pub async fn resolve(&self) {
        for (name, p) in &self.pools {
            p.refresh().await;
            if !p.has_members() {
                log::warn!("pools.{name}.urls: no member address could be resolved yet");
            }
        }
    }
}

fn build_cascade(rt: &Runtime, c: &file::CascadeSection) -> Result<CascadeSettings, ConfigError> {
    let vision = rt.route(Kind::Chat, &c.vision_model).ok_or_else(|| {
        err(
            "cascade.vision_model",
            format!("no chat route for \"{}\"", c.vision_model),
        )
    })?;
    if !vision.caps.images {
        return Err(err(
            "cascade.vision_model",
            format!(
                "the route of \"{}\" does not set `vision: true`",
                c.vision_model
            ),
        ));
    }
    if let Some(t) = &c.text_model {
        if rt.route(Kind::Chat, t).is_none() {
            return Err(err(
                "cascade.text_model",
                format!("no chat route for \"{t}\""),
            ));
        }
    }
    let on_failure = match c.on_failure.as_str() {
        "fail" => OnFailure::Fail,
        "placeholder" => OnFailure::Placeholder,
        o => {
            return Err(err(
                "cascade.on_failure",
                format!("unknown policy \"{o}\" (fail, placeholder)"),
            ))
        }
    };
    if c.timeout_ms == 0 || c.max_parallel == 0 {
        return Err(err("cascade", "timeout_ms and max_parallel must be > 0"));
    }
    if c.cache.ttl_seconds == 0 || c.cache.max_entries == 0 || c.cache.max_bytes == 0 {
        return Err(err(
            "cascade.cache",
            "max_entries, max_bytes and ttl_seconds must be > 0",
        ));
    }
    Ok(CascadeSettings {
        vision,
        text_model: c.text_model.clone(),
        prompt: c
            .prompt
            .clone()
            .unwrap_or_else(|| DEFAULT_PROMPT.to_string()),
        prompt_version: c.prompt_version.clone(),
        timeout: Duration::from_millis(c.timeout_ms),
        on_failure,
        max_parallel: c.max_parallel,
    })
}

fn build_body(f: &FileConfig) -> Result<BodyLimits, ConfigError> {
    let b = &f.body;
    let mut caps = HashMap::new();
    for k in Kind::ALL {
        let upload = matches!(k, Kind::Transcriptions | Kind::Translations);
        caps.insert(
            k,
            if upload {
                b.max_upload_bytes
            } else {
                b.max_bytes
            },
        );
    }
    for (k, v) in &b.max_bytes_by_kind {
        let kind = Kind::parse(k)
            .ok_or_else(|| err(format!("body.max_bytes_by_kind.{k}"), "unknown kind"))?;
        caps.insert(kind, *v);
    }
    if b.read_timeout_ms == 0 {
        return Err(err("body.read_timeout_ms", "must be > 0"));
    }
    Ok(BodyLimits {
        caps,
        read_timeout: Duration::from_millis(b.read_timeout_ms),
    })
}

fn build_pools(f: &FileConfig) -> Result<BTreeMap<String, Arc<Pool>>, ConfigError> {
    let mut pools = BTreeMap::new();
    for (name, p) in &f.pools {
        let path = format!("pools.{name}");
        if p.urls.is_empty() {
            return Err(err(format!("{path}.urls"), "at least one URL is needed"));
        }
        let mut members = Vec::new();
        for (i, u) in p.urls.iter().enumerate() {
            members.push(Member::parse(u).map_err(|e| err(format!("{path}.urls[{i}]"), e))?);
        }
        let profile = match p.profile.as_str() {
            "openai" => Profile::OpenAi,
            "hunyuan" => Profile::Hunyuan,
            other => {
                return Err(err(
                    format!("{path}.profile"),
                    format!("unknown profile \"{other}\" (openai, hunyuan)"),
                ))
            }
        };
        let auth = match &p.api_key_env {
            None => None,
            Some(var) => {
                Some(provider_auth(var).map_err(|e| err(format!("{path}.api_key_env"), e))?)
            }
        };
        let t = p.timeouts.clone();
        if t.connect_ms == 0 || t.first_byte_ms == 0 || t.idle_ms == 0 {
            return Err(err(format!("{path}.timeouts"), "timeouts must be > 0"));
        }
        let mut pool = Pool::new(name.clone(), members, profile, p.fix.clone(), auth, t);
        pool.request_usage = p.request_usage;
        pool.health = p.health.clone();
        if p.retry.attempts == 0 {
            return Err(err(format!("{path}.retry.attempts"), "must be at least 1"));
        }
        pool.retry = p.retry.clone();
        pools.insert(name.clone(), Arc::new(pool));
    }
    Ok(pools)
}

/// Reads a provider key from the environment into a sensitive header value.
fn provider_auth(var: &str) -> Result<HeaderValue, String> {
    let key = std::env::var(var).map_err(|_| format!("environment variable {var} is not set"))?;
    let key = key.trim();
    if key.is_empty() {
        return Err(format!("environment variable {var} is empty"));
    }
    let mut v = HeaderValue::from_str(&format!("Bearer {key}")).map_err(|_| {
        format!("environment variable {var} holds characters not allowed in a header")
    })?;
    v.set_sensitive(true);
    Ok(v)
}

fn build_routes(
    f: &FileConfig,
    pools: &BTreeMap<String, Arc<Pool>>,
) -> Result<Vec<Route>, ConfigError> {
    let mut routes = Vec::new();
    for (i, r) in f.routes.iter().enumerate() {
        let path = format!("routes[{i}]");
        let pool = pools.get(&r.pool).ok_or_else(|| {
            err(
                format!("{path}.pool"),
                format!("unknown pool \"{}\"", r.pool),
            )
        })?;
        if r.model.is_empty() {
            return Err(err(format!("{path}.model"), "must not be empty"));
        }
        let pattern = Pattern::new(&r.model);
        if r.upstream_model.is_some() && matches!(pattern, Pattern::Glob(_)) {
            return Err(err(
                format!("{path}.upstream_model"),
                "an alias needs an exact model name, not a glob",
            ));
        }
        let mut kinds = Vec::new();
        for (j, k) in r.kinds.iter().enumerate() {
            kinds.push(Kind::parse(k).ok_or_else(|| {
                err(
                    format!("{path}.kinds[{j}]"),
                    format!("unknown kind \"{k}\""),
                )
            })?);
        }
        let fallback = match &r.fallback {
            None => None,
            Some(name) => Some(pools.get(name).cloned().ok_or_else(|| {
                err(
                    format!("{path}.fallback"),
                    format!("unknown pool \"{name}\""),
                )
            })?),
        };
        routes.push(Route {
            pattern,
            pool: pool.clone(),
            fallback,
            upstream_model: r.upstream_model.clone(),
            kinds,
            caps: ModelCaps {
                images: r.vision,
                tools: r.tools,
            },
        });
    }
    Ok(routes)
}

/// `/v1/models`: every exact (non-glob) route model, OpenAI list format.
fn render_models(f: &FileConfig) -> Bytes {
    let mut seen = std::collections::BTreeSet::new();
    let data: Vec<serde_json::Value> = f
        .routes
        .iter()
        .filter(|r| !r.model.contains('*') && !r.model.contains('?'))
        .filter(|r| seen.insert(r.model.clone()))
        .map(|r| {
            serde_json::json!({
                "id": r.model, "object": "model", "created": 0, "owned_by": r.pool,
            })
        })
        .collect();
    Bytes::from(serde_json::json!({"object": "list", "data": data}).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: &str = "pools:\n  p:\n    urls: [\"http://127.0.0.1:1\"]\nroutes:\n  - model: a\n    pool: p\n    upstream_model: real-a\n  - model: \"hy-*\"\n    pool: p\n";

    #[test]
    fn routes_exact_alias_and_glob() {
        let rt = Runtime::from_yaml(MIN).unwrap();
        assert_eq!(rt.route(Kind::Chat, "a").unwrap().model, "real-a");
        assert_eq!(rt.route(Kind::Chat, "hy-turbo").unwrap().model, "hy-turbo");
        assert!(rt.route(Kind::Chat, "b").is_none());
        let v: serde_json::Value = serde_json::from_slice(&rt.models_json).unwrap();
        assert_eq!(v["data"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn typo_names_key_path() {
        let bad = MIN.replace("urls:", "url:");
        let e = Runtime::from_yaml(&bad).unwrap_err().0;
        assert!(e.contains("pools.p"), "{e}");
        assert!(e.contains("url"), "{e}");
        let bad = format!("{MIN}    timeouts: {{conect_ms: 1}}\n");
        let e = Runtime::from_yaml(&bad.replace("routes:", "x: 1\nroutes:"))
            .unwrap_err()
            .0;
        assert!(e.contains("x"), "{e}");
    }

    #[test]
    fn unknown_pool_in_route() {
        let bad = MIN.replace("pool: p\n    upstream", "pool: q\n    upstream");
        let e = Runtime::from_yaml(&bad).unwrap_err().0;
        assert_eq!(e, "routes[0].pool: unknown pool \"q\"");
    }
}
