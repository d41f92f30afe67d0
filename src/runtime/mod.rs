//! Configuration in two layers: [`crate::config::file`] is what users write, strict and documented;
//! [`Runtime`] is the validated form the hot path reads (compiled routes, pools with resolved
//! members, pre-rendered `/v1/models`). Each concern owns its validated settings type and
//! builds it from its own file section (`TryFrom<&config::file::…Section>`); this module is the only
//! one that sees both layers, and it checks what spans sections (pool names in routes, the
//! cascade's vision route). The runtime form sits behind one swappable handle,
//! [`ConfigHandle`], so a reload is one atomic pointer swap and requests in flight keep the
//! `Arc` they started with.

pub mod alerts;
pub mod health;
pub mod refresher;

use crate::body::read::BodyLimits;
use crate::cascade::vision::DEFAULT_PROMPT;
use crate::cascade::CascadeSettings;
use crate::chat::fix::ModelCaps;
use crate::config::file::{
    CacheSection, CascadeSection, FileConfig, PoolSection, ResponsesSection,
};
use crate::config::ConfigError;
use crate::core::kind::Kind;
use crate::observe::alert_rules::{AlertRule, Rule};
use crate::policy::auth::Keys;
use crate::policy::cors::Cors;
use crate::policy::limit::GlobalLimits;
use crate::providers::{Provider, ProviderKind};
use crate::state::redis::RedisSettings;
use crate::upstream::forward::Forward;
use crate::upstream::route::{CachePolicy, Pattern, Price, Route, Router, Target};
use crate::upstream::settings::{HealthPolicy, RetryPolicy, Timeouts};
use crate::upstream::{Member, Pool};
use arc_swap::ArcSwap;
use bytes::Bytes;
use http::HeaderValue;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

/// The config embedded in the binary: the demo, pointing at the bundled mock on 127.0.0.1:9000.
pub const EMBEDDED_DEMO: &str = include_str!("../../conf/demo.yaml");

/// Process-wide cascade sizing, read once at start-up: the cache and the vision-call
/// semaphore outlive reloads.
#[derive(Debug, Clone, Copy)]
pub struct CascadeSizing {
    pub entries: usize,
    pub bytes: u64,
    pub ttl: Duration,
    pub global_parallel: usize,
    /// One vision call's limit (the shared cache's lock lasts a little longer).
    pub vision_timeout: Duration,
}

/// The validated configuration the gateway runs on.
#[derive(Debug)]
pub struct Runtime {
    pub listen: Vec<String>,
    pub admin_listen: String,
    pub access_log: bool,
    pub keepalive_seconds: u64,
    /// Exact model names of the routes: the only values of the `model` metric label.
    pub known_models: HashSet<String>,
    pub body: BodyLimits,
    pub pools: BTreeMap<String, Arc<Pool>>,
    pub router: Router,
    /// The `/v1/models` answer, rendered once.
    pub models_json: Bytes,
    /// The image→text cascade, when configured.
    pub cascade: Option<CascadeSettings>,
    /// Client keys (empty: the gateway runs open).
    pub keys: Keys,
    /// Limits over all keys.
    pub global_limits: GlobalLimits,
    /// Alert rules and their evaluation period (seconds).
    pub alert_rules: Vec<AlertRule>,
    pub alert_every: u64,
    pub cascade_sizing: CascadeSizing,
    /// Stored Responses: how many, how many bytes, for how long (sized at start-up).
    pub responses_store: crate::state::store::Sizing,
    /// Shared state for several instances (start-up setting: a reload does not reconnect).
    pub redis: Option<RedisSettings>,
    /// The exact response cache's sizing (start-up setting), when configured.
    pub response_cache: Option<crate::config::file::ResponseCacheSection>,
    /// The managed keys' store (`auth.store`, start-up setting).
    pub key_store: Option<KeyStore>,
    /// OpenTelemetry export (start-up setting), when configured.
    pub otlp: Option<crate::observe::trace::OtlpSettings>,
    /// `server.cors` (none: off).
    pub cors: Option<Arc<Cors>>,
    /// `auth.open`: running without client keys is meant, also on a public address.
    pub open: bool,
    /// The addresses the listeners really have: this config's at start-up, the running
    /// ones after a reload (a reload does not rebind), which the exposure check is about.
    pub bound: Listeners,
}

/// The API and admin listeners' addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listeners {
    pub api: Vec<String>,
    pub admin: String,
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

    /// Finds where `model` goes for `kind`.
    pub fn route(&self, kind: Kind, model: &str) -> Option<Target> {
        self.router.route(kind, model)
    }

    /// Parses and validates YAML text. Provider keys are read from the environment here.
    pub fn from_yaml(text: &str) -> Result<Runtime, ConfigError> {
        let de = serde_yaml::Deserializer::from_str(text);
        let file: FileConfig = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            match path.as_str() {
                "." => ConfigError::whole(inner),
                _ => ConfigError::at(path, inner),
            }
        })?;
        Runtime::from_file(file)
    }

    /// Reads and validates a file (blocking: call it off the async workers).
    pub fn load(path: &str) -> Result<Runtime, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::at(path, e))?;
        Runtime::from_yaml(&text).map_err(|e| e.under_file(path))
    }

    fn from_file(f: FileConfig) -> Result<Runtime, ConfigError> {
        check_listen(&f)?;
        let pools = build_pools(&f)?;
        let router = build_router(&f, &pools)?;
        let mut rt = Runtime {
            listen: f.server.listen.clone(),
            admin_listen: f.server.admin_listen.clone(),
            access_log: f.server.access_log,
            keepalive_seconds: f.server.keepalive_seconds,
            known_models: exact_models(&f).map(str::to_owned).collect(),
            body: BodyLimits::try_from(&f.body).map_err(|e| e.under("body"))?,
            models_json: render_models(&f),
            pools,
            router,
            cascade: None,
            keys: Keys::try_from(&f.auth).map_err(|e| e.under("auth"))?,
            global_limits: GlobalLimits::try_from(&f.limits).map_err(|e| e.under("limits"))?,
            alert_rules: Vec::new(),
            alert_every: f.alerts.evaluate_seconds,
            cascade_sizing: sizing(f.cascade.as_ref()),
            response_cache: f.response_cache.clone(),
            key_store: f
                .auth
                .store
                .as_ref()
                .map(|s| KeyStore::try_from((s, f.redis.is_some())))
                .transpose()
                .map_err(|e| e.under("auth.store"))?,
            otlp: f
                .telemetry
                .otlp
                .as_ref()
                .map(crate::observe::trace::OtlpSettings::try_from)
                .transpose()
                .map_err(|e| e.under("telemetry.otlp"))?,
            redis: f
                .redis
                .as_ref()
                .map(RedisSettings::try_from)
                .transpose()
                .map_err(|e| e.under("redis"))?,
            responses_store: responses_sizing(&f.responses).map_err(|e| e.under("responses"))?,
            open: f.auth.open,
            bound: Listeners {
                api: f.server.listen.clone(),
                admin: f.server.admin_listen.clone(),
            },
            cors: match &f.server.cors {
                Some(c) => Some(Arc::new(
                    Cors::try_from(c).map_err(|e| e.under("server.cors"))?,
                )),
                None => None,
            },
        };
        rt.check_exposure()?;
        rt.alert_rules = build_alerts(&f, &rt.pools)?;
        if let Some(c) = &f.cascade {
            rt.cascade = Some(build_cascade(&rt, c).map_err(|e| e.under("cascade"))?);
        }
        Ok(rt)
    }

    /// Refuses to expose the provider keys or the admin endpoints: a listener on a
    /// non-loopback address (this config's or, after a reload, the one really bound) needs
    /// client keys (API) or the admin key (admin), unless `auth.open: true` says it is meant.
    pub fn check_exposure(&self) -> Result<(), ConfigError> {
        if self.open {
            return Ok(());
        }
        if self.keys.is_open() {
            let configured = self
                .listen
                .iter()
                .enumerate()
                .map(|(i, a)| (format!("server.listen[{i}]"), a));
            let running = self
                .bound
                .api
                .iter()
                .map(|a| ("server.listen (running)".to_string(), a));
            if let Some((path, a)) = configured.chain(running).find(|(_, a)| !is_loopback(a)) {
                return Err(ConfigError::at(
                    path,
                    format!(
                        "`{a}` is not a loopback address and auth.keys is empty: anyone who \
                         reaches it could use the provider keys. Add auth.keys (`llm-relay \
                         gen-key` prints a key and its sha256), listen on 127.0.0.1, or set \
                         auth.open: true to run open on purpose"
                    ),
                ));
            }
        }
        if !self.keys.has_admin_key() {
            if let Some(a) = [&self.admin_listen, &self.bound.admin]
                .into_iter()
                .find(|a| !is_loopback(a))
            {
                return Err(ConfigError::at(
                    "server.admin_listen",
                    format!(
                        "`{a}` is not a loopback address and auth.admin_key_sha256 is not \
                         set: anyone who reaches it could read the statistics and reload the \
                         config. Set auth.admin_key_sha256 (or admin_key_sha256_env), listen \
                         on 127.0.0.1, or set auth.open: true (without client keys) to run \
                         open on purpose"
                    ),
                ));
            }
        }
        Ok(())
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

impl ConfigError {
    /// The error as seen by someone who ran `-t` on `file`.
    fn under_file(self, file: &str) -> ConfigError {
        ConfigError::whole(format!("{file}: {self}"))
    }
}

fn check_listen(f: &FileConfig) -> Result<(), ConfigError> {
    if f.server.listen.is_empty() {
        return Err(ConfigError::at(
            "server.listen",
            "at least one address is needed",
        ));
    }
    let addrs = f
        .server
        .listen
        .iter()
        .enumerate()
        .map(|(i, a)| (format!("server.listen[{i}]"), a));
    for (path, a) in addrs.chain([("server.admin_listen".to_string(), &f.server.admin_listen)]) {
        a.parse::<std::net::SocketAddr>()
            .map_err(|e| ConfigError::at(path, format!("`{a}`: {e}")))?;
    }
    Ok(())
}

/// Whether `addr` (checked to be a socket address) is on the loopback interface only.
/// `0.0.0.0` and `[::]` listen on every interface; `[::ffff:127.0.0.1]` is loopback.
pub fn is_loopback(addr: &str) -> bool {
    addr.parse::<std::net::SocketAddr>()
        .is_ok_and(|a| a.ip().to_canonical().is_loopback())
}

/// Exact (non-glob) route model names, in config order.
fn exact_models(f: &FileConfig) -> impl Iterator<Item = &str> {
    f.routes
        .iter()
        .map(|r| r.model.as_str())
        .filter(|m| !Pattern::is_glob(m))
}

fn sizing(c: Option<&CascadeSection>) -> CascadeSizing {
    let default_cache = CacheSection::default();
    let cache = c.map_or(&default_cache, |c| &c.cache);
    CascadeSizing {
        entries: cache.max_entries,
        bytes: cache.max_bytes,
        ttl: Duration::from_secs(cache.ttl_seconds),
        global_parallel: c.map_or(32, |c| c.max_global_parallel),
        vision_timeout: Duration::from_millis(c.map_or(30_000, |c| c.timeout_ms)),
    }
}

/// `responses:` checked: positive bounds, and room for two of the largest entries (the
/// in-process store refuses an entry heavier than about its share of a shard).
fn responses_sizing(r: &ResponsesSection) -> Result<crate::state::store::Sizing, ConfigError> {
    if r.max_bytes == 0 || r.max_entry_bytes == 0 {
        return Err(ConfigError::whole(
            "max_bytes and max_entry_bytes must be > 0",
        ));
    }
    if r.max_entry_bytes > r.max_bytes / 2 {
        return Err(ConfigError::at(
            "max_entry_bytes",
            format!(
                "{} is over half of max_bytes ({}): the store must hold two of the largest entries",
                r.max_entry_bytes, r.max_bytes
            ),
        ));
    }
    Ok(crate::state::store::Sizing {
        max_entries: r.max_entries.max(1),
        ttl: Duration::from_secs(r.ttl_seconds.max(1)),
        max_bytes: r.max_bytes,
        max_entry_bytes: r.max_entry_bytes,
    })
}

fn build_alerts(
    f: &FileConfig,
    pools: &BTreeMap<String, Arc<Pool>>,
) -> Result<Vec<AlertRule>, ConfigError> {
    let mut out = Vec::new();
    for (i, r) in f.alerts.rules.iter().enumerate() {
        let path = format!("alerts.rules[{i}]");
        let rule = AlertRule::try_from(r).map_err(|e| e.under(&path))?;
        if let Rule::PoolUnhealthy { pool } = &rule.rule {
            if !pools.contains_key(pool) {
                return Err(ConfigError::at(
                    format!("{path}.pool"),
                    format!("unknown pool \"{pool}\""),
                ));
            }
        }
        out.push(rule);
    }
    Ok(out)
}

fn build_cascade(rt: &Runtime, c: &CascadeSection) -> Result<CascadeSettings, ConfigError> {
    let vision = rt.route(Kind::Chat, &c.vision_model).ok_or_else(|| {
        ConfigError::at(
            "vision_model",
            format!("no chat route for \"{}\"", c.vision_model),
        )
    })?;
    if !vision.caps.images {
        return Err(ConfigError::at(
            "vision_model",
            format!(
                "the route of \"{}\" does not set `vision: true`",
                c.vision_model
            ),
        ));
    }
    if let Some(t) = &c.text_model {
        if rt.route(Kind::Chat, t).is_none() {
            return Err(ConfigError::at(
                "text_model",
                format!("no chat route for \"{t}\""),
            ));
        }
    }
    let on_failure = c.on_failure;
    for (key, v) in [
        ("timeout_ms", c.timeout_ms as usize),
        ("max_parallel", c.max_parallel),
        ("max_global_parallel", c.max_global_parallel),
        ("max_images", c.max_images),
        ("cache.max_entries", c.cache.max_entries),
        ("cache.max_bytes", c.cache.max_bytes as usize),
        ("cache.ttl_seconds", c.cache.ttl_seconds as usize),
    ] {
        if v == 0 {
            return Err(ConfigError::at(key, "must be > 0"));
        }
    }
    Ok(CascadeSettings {
        vision,
        vision_model: c.vision_model.clone(),
        text_model: c.text_model.clone(),
        prompt: c
            .prompt
            .clone()
            .unwrap_or_else(|| DEFAULT_PROMPT.to_string()),
        prompt_version: c.prompt_version.clone(),
        timeout: Duration::from_millis(c.timeout_ms),
        on_failure,
        max_parallel: c.max_parallel,
        max_images: c.max_images,
    })
}

fn build_pools(f: &FileConfig) -> Result<BTreeMap<String, Arc<Pool>>, ConfigError> {
    let add = Forward::new(f.forward_headers_add.iter().map(String::as_str))
        .map_err(|e| e.under("forward_headers_add"))?;
    let mut pools = BTreeMap::new();
    for (name, p) in &f.pools {
        let mut pool = build_pool(name, p).map_err(|e| e.under(format!("pools.{name}")))?;
        pool.forward.extend(add.clone());
        pools.insert(name.clone(), Arc::new(pool));
    }
    Ok(pools)
}

fn build_pool(name: &str, p: &PoolSection) -> Result<Pool, ConfigError> {
    if p.urls.is_empty() {
        return Err(ConfigError::at("urls", "at least one URL is needed"));
    }
    let mut members = Vec::new();
    for (i, u) in p.urls.iter().enumerate() {
        members.push(Member::parse(u).map_err(|e| e.under(format!("urls[{i}]")))?);
    }
    let provider = build_provider(p)?;
    let timeouts = Timeouts::try_from(&p.timeouts).map_err(|e| e.under("timeouts"))?;
    let mut pool = Pool::new(name.to_string(), members, provider, timeouts);
    pool.request_usage = p.request_usage;
    pool.affinity = p.affinity;
    pool.health = HealthPolicy::try_from(&p.health).map_err(|e| e.under("health"))?;
    pool.retry = RetryPolicy::try_from(&p.retry).map_err(|e| e.under("retry"))?;
    if let Some(list) = &p.forward_headers {
        pool.forward = Forward::new(list.iter().map(String::as_str))
            .map_err(|e| e.under("forward_headers"))?;
    }
    if let Some(limit) = p.max_concurrency {
        if limit == 0 {
            return Err(ConfigError::at(
                "max_concurrency",
                "must be at least 1 (leave it out for no limit)",
            ));
        }
        let settings = crate::upstream::gate::GateSettings {
            limit,
            queue: p.queue.max,
            wait: std::time::Duration::from_millis(p.queue.wait_ms),
        };
        pool.gate = Some(Arc::new(crate::upstream::gate::Gate::new(name, settings)));
    }
    Ok(pool)
}

/// The pool's provider from `provider:` or the old `profile:` (never both), with its key.
fn build_provider(p: &PoolSection) -> Result<Provider, ConfigError> {
    use crate::config::file::ProviderSection as S;
    let (kind, key_env, fix, version) = match (&p.provider, p.profile.as_deref()) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::at(
                "profile",
                "`profile` is the old spelling of `provider`: write only \
                 `provider: {type: openai | hunyuan | anthropic | gemini}`",
            ))
        }
        (None, None | Some("openai")) => (ProviderKind::OpenAi, None, None, None),
        (None, Some("hunyuan")) => (ProviderKind::Hunyuan, None, None, None),
        (None, Some(other)) => {
            return Err(ConfigError::at(
                "profile",
                format!(
                    "unknown profile \"{other}\"; write `provider: {{type: openai | hunyuan | \
                     anthropic | gemini}}` instead"
                ),
            ))
        }
        (Some(S::Openai { api_key_env }), _) => {
            (ProviderKind::OpenAi, api_key_env.as_ref(), None, None)
        }
        (Some(S::Hunyuan { api_key_env, fix }), _) => (
            ProviderKind::Hunyuan,
            api_key_env.as_ref(),
            fix.as_deref(),
            None,
        ),
        (
            Some(S::Anthropic {
                api_key_env,
                version,
            }),
            _,
        ) => (
            ProviderKind::Anthropic,
            api_key_env.as_ref(),
            None,
            version.as_ref(),
        ),
        (Some(S::Gemini { api_key_env }), _) => {
            (ProviderKind::Gemini, api_key_env.as_ref(), None, None)
        }
        (
            Some(S::HunyuanNative {
                secret_id_env,
                secret_key_env,
                region,
                fix,
            }),
            _,
        ) => return native_provider(p, secret_id_env, secret_key_env, region.as_deref(), fix),
    };
    let key_env = match (key_env, p.api_key_env.as_ref()) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::at(
                "api_key_env",
                "set in `provider.api_key_env` too: keep one",
            ))
        }
        (a, b) => a.or(b),
    };
    let fix = match (fix, p.fix.as_ref()) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::at(
                "fix",
                "set in `provider.fix` too: keep one",
            ))
        }
        (a, b) => a.or(b).cloned().unwrap_or_default(),
    };
    let key = match key_env {
        None => None,
        Some(var) => {
            let (_, bearer) = Provider::key_header(kind);
            Some(provider_auth(var, bearer).map_err(|e| e.under("api_key_env"))?)
        }
    };
    let mut provider = Provider::new(kind, key, fix);
    if let Some(v) = version {
        provider.anthropic_version = HeaderValue::from_str(v)
            .map_err(|_| ConfigError::at("provider.version", "not a valid header value"))?;
    }
    Ok(provider)
}

/// The `hunyuan_native` provider: its SecretId and SecretKey from the environment (checked at
/// load, never logged), its region and its fixing policy.
fn native_provider(
    p: &PoolSection,
    id_env: &str,
    key_env: &str,
    region: Option<&str>,
    fix: &Option<Box<crate::chat::fix::FixPolicy>>,
) -> Result<Provider, ConfigError> {
    if p.api_key_env.is_some() {
        return Err(ConfigError::at(
            "api_key_env",
            "a `hunyuan_native` pool signs with `provider.secret_id_env` and \
             `provider.secret_key_env`, not an API key",
        ));
    }
    let fix = match (fix.as_deref(), p.fix.as_ref()) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::at(
                "fix",
                "set in `provider.fix` too: keep one",
            ))
        }
        (a, b) => a.or(b).cloned().unwrap_or_default(),
    };
    let read = |var: &str, field: &str| {
        let v = std::env::var(var).map_err(|_| {
            ConfigError::at(
                format!("provider.{field}"),
                format!("environment variable {var} is not set"),
            )
        })?;
        let v = v.trim().to_string();
        if v.is_empty() {
            return Err(ConfigError::at(
                format!("provider.{field}"),
                format!("environment variable {var} is empty"),
            ));
        }
        Ok(v)
    };
    let creds = crate::providers::hunyuan_native::Credentials {
        secret_id: read(id_env, "secret_id_env")?,
        secret_key: read(key_env, "secret_key_env")?,
    };
    if let Some(r) = region {
        HeaderValue::from_str(r)
            .map_err(|_| ConfigError::at("provider.region", "not a valid header value"))?;
    }
    let mut provider = Provider::new(ProviderKind::HunyuanNative, None, fix);
    provider.tc3 = Some(Arc::new(crate::providers::Tc3 {
        creds,
        region: region.map(str::to_owned),
    }));
    Ok(provider)
}

/// Reads a provider key from the environment into a sensitive header value (`Bearer <key>`
/// when `bearer`).
fn provider_auth(var: &str, bearer: bool) -> Result<HeaderValue, ConfigError> {
    let key = std::env::var(var)
        .map_err(|_| ConfigError::whole(format!("environment variable {var} is not set")))?;
    let key = key.trim();
    if key.is_empty() {
        return Err(ConfigError::whole(format!(
            "environment variable {var} is empty"
        )));
    }
    let value = if bearer {
        format!("Bearer {key}")
    } else {
        key.to_string()
    };
    let mut v = HeaderValue::from_str(&value).map_err(|_| {
        ConfigError::whole(format!(
            "environment variable {var} holds characters not allowed in a header"
        ))
    })?;
    v.set_sensitive(true);
    Ok(v)
}

fn pool_named(
    pools: &BTreeMap<String, Arc<Pool>>,
    path: impl std::fmt::Display,
    name: &str,
) -> Result<Arc<Pool>, ConfigError> {
    pools
        .get(name)
        .cloned()
        .ok_or_else(|| ConfigError::at(path, format!("unknown pool \"{name}\"")))
}

fn build_router(
    f: &FileConfig,
    pools: &BTreeMap<String, Arc<Pool>>,
) -> Result<Router, ConfigError> {
    let mut router = Router::default();
    let stages = crate::stage::build_stages(&f.stages)?;
    let default_pipeline = Arc::new(match &f.pipeline {
        Some(list) => crate::stage::build_pipeline(list, &stages, "pipeline")?,
        None => crate::stage::Pipeline::builtin(),
    });
    router.default_pipeline = default_pipeline.clone();
    for (i, r) in f.routes.iter().enumerate() {
        let path = format!("routes[{i}]");
        let pipeline = match &r.pipeline {
            Some(list) => Arc::new(crate::stage::build_pipeline(
                list,
                &stages,
                &format!("{path}.pipeline"),
            )?),
            None => default_pipeline.clone(),
        };
        if r.trim.is_some() && !pipeline.trim {
            return Err(ConfigError::at(
                format!("{path}.trim"),
                "the route's pipeline has no `trim` stage: add `trim` to it, or remove `trim:`",
            ));
        }
        if r.model.is_empty() {
            return Err(ConfigError::at(
                format!("{path}.model"),
                "must not be empty",
            ));
        }
        // A glob with `upstream_model` sends every matching name as that one model
        // (`claude-*` → `hunyuan-turbos-latest` for Claude Code's main and background models).
        let pattern = Pattern::new(&r.model);
        let kinds = r.kinds.clone();
        let fallback = match &r.fallback {
            None => None,
            Some(name) => Some(pool_named(pools, format!("{path}.fallback"), name)?),
        };
        router.routes.push(Route {
            pattern,
            pool: pool_named(pools, format!("{path}.pool"), &r.pool)?,
            fallback,
            upstream_model: r.upstream_model.clone(),
            kinds,
            caps: ModelCaps {
                images: r.vision,
                tools: r.tools,
            },
            trim: r.trim.unwrap_or_default(),
            pipeline,
            refuse_tools: !r.tools
                && r.tools_unsupported == crate::config::file::ToolsUnsupported::Refuse,
            cache: CachePolicy {
                mode: r.cache,
                shared: r.cache_shared,
            },
            price: match r.price {
                Some(p) if p.all().any(|v| v.is_nan() || v < 0.0) => {
                    return Err(ConfigError::at(
                        format!("{path}.price"),
                        "prices must be >= 0",
                    ))
                }
                Some(p) => Some(Price {
                    input_per_1m: p.input_per_1m,
                    output_per_1m: p.output_per_1m,
                    cached_input_per_1m: p.cached_input_per_1m,
                    cache_write_per_1m: p.cache_write_per_1m,
                }),
                None => None,
            },
        });
    }
    for (k, p) in &f.defaults {
        let path = format!("defaults.{}", k.name());
        router.defaults.insert(*k, pool_named(pools, &path, p)?);
    }
    Ok(router)
}

/// `/v1/models`: every exact (non-glob) route model, OpenAI list format.
fn render_models(f: &FileConfig) -> Bytes {
    let mut seen = std::collections::BTreeSet::new();
    let data: Vec<serde_json::Value> = f
        .routes
        .iter()
        .filter(|r| !Pattern::is_glob(&r.model) && seen.insert(r.model.clone()))
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
        let e = Runtime::from_yaml(&bad).unwrap_err().to_string();
        assert!(e.contains("pools.p"), "{e}");
        assert!(e.contains("url"), "{e}");
        let bad = format!("{MIN}    timeouts: {{conect_ms: 1}}\n");
        let e = Runtime::from_yaml(&bad.replace("routes:", "x: 1\nroutes:"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("x"), "{e}");
    }

    #[test]
    fn responses_store_bounds_in_bytes() {
        let rt = Runtime::from_yaml(MIN).unwrap();
        assert_eq!(rt.responses_store, crate::state::store::Sizing::default());
        assert_eq!(rt.responses_store.max_bytes, 256 << 20);
        assert_eq!(rt.responses_store.max_entry_bytes, 32 << 20);
        let set = format!("{MIN}responses:\n  max_bytes: 1000000\n  max_entry_bytes: 400000\n");
        let rt = Runtime::from_yaml(&set).unwrap();
        assert_eq!(rt.responses_store.max_bytes, 1_000_000);
        assert_eq!(rt.responses_store.max_entry_bytes, 400_000);
        let over = set.replace("400000", "600000");
        let e = Runtime::from_yaml(&over).unwrap_err().to_string();
        assert!(e.starts_with("responses.max_entry_bytes: "), "{e}");
        let zero = set.replace("1000000", "0");
        let e = Runtime::from_yaml(&zero).unwrap_err().to_string();
        assert!(e.starts_with("responses: "), "{e}");
    }

    #[test]
    fn unknown_pool_in_route() {
        let bad = MIN.replace("pool: p\n    upstream", "pool: q\n    upstream");
        let e = Runtime::from_yaml(&bad).unwrap_err().to_string();
        assert_eq!(e, "routes[0].pool: unknown pool \"q\"");
    }
    /// `price` with and without the cache prices; a negative or NaN price names its route.
    #[test]
    fn cache_prices() {
        let priced = |price: &str| {
            MIN.replace(
                "upstream_model",
                &format!("price: {price}\n    upstream_model"),
            )
        };
        let rt = Runtime::from_yaml(&priced("{input_per_1m: 2, output_per_1m: 8}")).unwrap();
        let p = rt.route(Kind::Chat, "a").unwrap().price.unwrap();
        assert_eq!((p.cached_input_per_1m, p.cache_write_per_1m), (None, None));
        let rt = Runtime::from_yaml(&priced(
            "{input_per_1m: 2, output_per_1m: 8, cached_input_per_1m: 0.5, cache_write_per_1m: 2.5}",
        ))
        .unwrap();
        let p = rt.route(Kind::Chat, "a").unwrap().price.unwrap();
        assert_eq!(
            (p.cached_input_per_1m, p.cache_write_per_1m),
            (Some(0.5), Some(2.5))
        );
        for bad in ["cached_input_per_1m: -1", "cache_write_per_1m: .nan"] {
            let e = Runtime::from_yaml(&priced(&format!(
                "{{input_per_1m: 2, output_per_1m: 8, {bad}}}"
            )))
            .unwrap_err()
            .to_string();
            assert_eq!(e, "routes[0].price: prices must be >= 0", "{bad}");
        }
    }
}

/// Where keys managed at run time are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyStore {
    /// An SQLite file.
    Sqlite(String),
    /// The shared `redis:`.
    Redis,
}

impl TryFrom<(&crate::config::file::KeyStoreSection, bool)> for KeyStore {
    type Error = ConfigError;

    /// The section, and whether `redis:` is configured.
    fn try_from(
        (s, redis): (&crate::config::file::KeyStoreSection, bool),
    ) -> Result<Self, ConfigError> {
        use crate::config::choices::StoreBackend as B;
        match (s.backend, &s.path) {
            (Some(B::Sqlite) | None, Some(p)) if !p.trim().is_empty() => {
                Ok(KeyStore::Sqlite(p.clone()))
            }
            (Some(B::Sqlite), _) => Err(ConfigError::at("path", "the SQLite file is required")),
            (Some(B::Redis) | None, None) if redis => Ok(KeyStore::Redis),
            (Some(B::Redis), Some(_)) => Err(ConfigError::at(
                "path",
                "is for the sqlite backend; the redis backend uses `redis:`",
            )),
            (Some(B::Redis), None) => Err(ConfigError::at(
                "backend",
                "`redis` needs the `redis:` section",
            )),
            (None, _) => Err(ConfigError::whole(
                "give `path` (an SQLite file) or configure `redis:` to keep the keys there",
            )),
        }
    }
}
