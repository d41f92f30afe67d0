//! The configuration file as users write it (`conf/relay.yaml`). Every struct rejects unknown
//! keys so a typo is an error that names its key path, not a silently ignored setting. The
//! runtime form (`super::Runtime`) is built from this once, at start-up or reload; defaults
//! live here only.

use crate::chat::fix::FixPolicy;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Where the gateway listens.
    #[serde(default)]
    pub server: ServerSection,
    /// Request body limits.
    #[serde(default)]
    pub body: BodySection,
    /// Upstream pools by name.
    pub pools: BTreeMap<String, PoolSection>,
    /// Model routes, first match wins.
    #[serde(default)]
    pub routes: Vec<RouteSection>,
    /// Named stages of the chat pipeline (guardrails, webhooks, plugins), defined once and
    /// listed by name in `pipeline`.
    #[serde(default)]
    pub stages: BTreeMap<String, crate::config::stages::StageSection>,
    /// The default pipeline of every chat route: built-in (`validate`, `cascade`, `fix`,
    /// `trim`) and named stages, in order. Absent: `[validate, cascade, fix, trim]`.
    #[serde(default)]
    pub pipeline: Option<Vec<String>>,
    /// Default pool per request kind, used when no route matches the model.
    #[serde(default)]
    pub defaults: BTreeMap<crate::core::kind::Kind, String>,
    /// The image→text cascade for text-only models.
    #[serde(default)]
    pub cascade: Option<CascadeSection>,
    /// API keys of the gateway's clients.
    #[serde(default)]
    pub auth: AuthSection,
    /// Limits over all keys.
    #[serde(default)]
    pub limits: LimitsSection,
    /// Alert rules evaluated by the gateway itself.
    #[serde(default)]
    pub alerts: AlertsSection,
    #[serde(default)]
    pub responses: ResponsesSection,
    /// Shared state for several instances (limits, cascade cache, stored responses).
    #[serde(default)]
    pub redis: Option<RedisSection>,
    /// The exact response cache (opt-in): absent, nothing is cached.
    #[serde(default)]
    pub response_cache: Option<ResponseCacheSection>,
    /// OpenTelemetry traces (off when absent).
    #[serde(default)]
    pub telemetry: TelemetrySection,
    /// Client request headers every pool forwards on top of its own list (names, or
    /// prefixes ending in `*`): `x-mock-*` for the bundled mock's knobs, a tracing header.
    #[serde(default)]
    pub forward_headers_add: Vec<String>,
}

/// `telemetry:`
#[derive(Debug, Deserialize, Clone, Default)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetrySection {
    pub otlp: Option<OtlpSection>,
}

/// `telemetry.otlp:` — where spans go (an OTLP/HTTP collector).
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct OtlpSection {
    /// `http://collector:4318` (`/v1/traces` is added) or the full traces URL.
    pub endpoint: String,
    /// `http/protobuf` (the only one supported).
    #[serde(default = "default_otlp_protocol")]
    pub protocol: String,
    /// Headers sent to the collector (e.g. its auth).
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
    /// Headers whose values come from environment variables (header name → variable), so a
    /// collector's credential stays out of the file: `{authorization: OTLP_AUTH}`.
    #[serde(default)]
    pub headers_env: std::collections::BTreeMap<String, String>,
    /// Share of new traces recorded (a client's sampled `traceparent` is always followed).
    #[serde(default = "default_sampling_ratio")]
    pub sampling_ratio: f64,
    #[serde(default = "default_service_name")]
    pub service_name: String,
}

fn default_otlp_protocol() -> String {
    "http/protobuf".into()
}
fn default_sampling_ratio() -> f64 {
    1.0
}
fn default_service_name() -> String {
    "llm-relay".into()
}

/// `response_cache:` — answers to identical requests, in process (and in Redis when
/// `redis:` is configured). Sized at start-up.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields, default)]
pub struct ResponseCacheSection {
    pub max_entries: usize,
    pub max_bytes: u64,
    /// Answers larger than this are not cached.
    pub max_entry_bytes: usize,
    pub ttl_seconds: u64,
}

impl Default for ResponseCacheSection {
    fn default() -> Self {
        ResponseCacheSection {
            max_entries: 10_000,
            max_bytes: 64 << 20,
            max_entry_bytes: 1 << 20,
            ttl_seconds: 600,
        }
    }
}

/// `redis:` — several gateway instances share their limits, the cascade cache and stored
/// responses through Redis (or Valkey). Absent: everything stays in-process.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RedisSection {
    /// `redis://host:port[/db]` or `rediss://` (TLS); no password here.
    #[serde(default)]
    pub url: Option<String>,
    /// Redis Cluster node URLs (instead of `url`).
    #[serde(default)]
    pub cluster: Vec<String>,
    /// Environment variable holding the password (never the file).
    #[serde(default)]
    pub password_env: Option<String>,
    /// Prefix of every key the gateway writes.
    #[serde(default = "default_key_prefix")]
    pub key_prefix: String,
    /// Longest a request waits for Redis before the fallback applies.
    #[serde(default = "default_redis_timeout")]
    pub timeout_ms: u64,
    /// `local` (per-instance counters and caches while Redis is away) or `refuse` (503).
    #[serde(default)]
    pub on_failure: crate::config::choices::RedisOnFailure,
    /// How many instances share the limits: the local fallback enforces limit / instances.
    #[serde(default = "default_instances")]
    pub instances: u32,
    /// Lifetime of a concurrency slot, renewed while its request lives (a dead instance's
    /// slots free within this time).
    #[serde(default = "default_lease_ttl")]
    pub lease_ttl_ms: u64,
}

fn default_key_prefix() -> String {
    "llm-relay".into()
}
fn default_redis_timeout() -> u64 {
    50
}
fn default_instances() -> u32 {
    1
}
fn default_lease_ttl() -> u64 {
    15_000
}

/// Stored Responses (`previous_response_id`, `GET /v1/responses/{id}`): in-process (and in
/// Redis when configured), sized at start-up.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields, default)]
pub struct ResponsesSection {
    pub max_entries: usize,
    pub ttl_seconds: u64,
    /// The estimated bytes of all entries (each weighs its whole conversation).
    pub max_bytes: u64,
    /// One entry's conversation and response; a larger one is answered but not stored.
    pub max_entry_bytes: u64,
}

impl Default for ResponsesSection {
    fn default() -> Self {
        ResponsesSection {
            max_entries: 10_000,
            ttl_seconds: 3600,
            max_bytes: 256 << 20,
            max_entry_bytes: 32 << 20,
        }
    }
}

/// `alerts:`
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsSection {
    /// Seconds between evaluations.
    pub evaluate_seconds: u64,
    pub rules: Vec<AlertRuleSection>,
}

impl Default for AlertsSection {
    fn default() -> Self {
        AlertsSection {
            evaluate_seconds: 10,
            rules: Vec::new(),
        }
    }
}

/// `alerts.rules[i]:`
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct AlertRuleSection {
    pub name: String,
    /// `error_rate` (5xx and broken streams / all, above threshold), `p99_latency` (seconds,
    /// above threshold), `cache_hit_rate` (below threshold), `pool_unhealthy` (no usable member).
    pub kind: String,
    #[serde(default)]
    pub threshold: f64,
    /// The window the rate or quantile is computed over.
    #[serde(default = "default_window")]
    pub window_seconds: u64,
    /// Fewer requests (or cache lookups) than this in the window: the rule does not fire.
    #[serde(default = "default_min_samples")]
    pub min_samples: u64,
    /// For `pool_unhealthy`: the pool.
    #[serde(default)]
    pub pool: Option<String>,
}

fn default_window() -> u64 {
    300
}
fn default_min_samples() -> u64 {
    10
}

/// `auth:`
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSection {
    /// Client keys. None configured: the gateway runs open, which is refused on a
    /// non-loopback address unless `open: true` says it is meant.
    pub keys: Vec<KeySection>,
    /// Keys managed at run time through the admin API (`/admin/keys`), kept in this SQLite
    /// file (start-up setting). With it the gateway is never open.
    pub store: Option<KeyStoreSection>,
    /// SHA-256 hex of the key that guards `/admin/*` (`llm-relay hash-key`).
    pub admin_key_sha256: Option<String>,
    /// Environment variable holding `admin_key_sha256` (a Kubernetes Secret, say).
    pub admin_key_sha256_env: Option<String>,
    /// The gateway runs without client keys (and, without an admin key, with an open admin
    /// listener) on purpose, also on non-loopback addresses. Not allowed with `keys`.
    pub open: bool,
}

/// `auth.store:`
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct KeyStoreSection {
    /// `sqlite` or `redis`; when absent: `sqlite` with a `path`, else `redis` when `redis:` is
    /// configured.
    #[serde(default)]
    pub backend: Option<crate::config::choices::StoreBackend>,
    /// The SQLite file (created when missing).
    #[serde(default)]
    pub path: Option<String>,
}

/// `auth.keys[i]:`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySection {
    /// What logs, metrics and statistics show for this key.
    pub id: String,
    /// SHA-256 hex of the key (`llm-relay hash-key`); the key itself is never stored.
    #[serde(default)]
    pub sha256: Option<String>,
    /// Environment variable holding the SHA-256 hex instead (one of the two is required).
    #[serde(default)]
    pub sha256_env: Option<String>,
    /// Models this key may use (globs); empty means all.
    #[serde(default)]
    pub models: Vec<String>,
    /// Requests per minute (sliding estimate); none means unlimited.
    #[serde(default)]
    pub rpm: Option<u32>,
    /// Requests in flight at once, streams included; none means unlimited.
    #[serde(default)]
    pub max_concurrency: Option<u32>,
    /// Requests per UTC day.
    #[serde(default)]
    pub rpd: Option<u32>,
    /// Tokens (prompt + completion) per minute, reserved before and settled after a request.
    #[serde(default)]
    pub tpm: Option<u64>,
    /// Tokens per UTC day.
    #[serde(default)]
    pub tpd: Option<u64>,
    /// Spend limit in US dollars per period (with `routes[].price`).
    #[serde(default)]
    pub budget_usd: Option<BudgetSection>,
    /// RFC 3339 time after which the key is refused (`2027-01-01T00:00:00Z`).
    #[serde(default)]
    pub expires: Option<String>,
}

/// `limits:`
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsSection {
    /// Requests per minute over all clients.
    pub global_rpm: Option<u32>,
    /// Requests in flight over all clients.
    pub global_concurrency: Option<u32>,
    /// Requests per UTC day over all clients.
    pub global_rpd: Option<u32>,
    /// Tokens per minute over all clients.
    pub global_tpm: Option<u64>,
    /// Tokens per UTC day over all clients.
    pub global_tpd: Option<u64>,
    /// The output part of a token reservation when the request names no `max_tokens`, and
    /// the cap when it names more (a request reserves prompt estimate + this at most).
    pub reserve_output_tokens: Option<u64>,
}

/// `auth.keys[i].budget_usd:`
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct BudgetSection {
    pub amount: f64,
    /// `day` (UTC) or `month` (UTC calendar month).
    #[serde(default = "default_budget_period")]
    pub period: String,
}

fn default_budget_period() -> String {
    "month".into()
}

/// `routes[i].price:` US dollars per million tokens.
#[derive(Debug, Deserialize, Clone, Copy)]
#[serde(deny_unknown_fields)]
pub struct PriceSection {
    pub input_per_1m: f64,
    pub output_per_1m: f64,
    /// Input read from the provider's prompt cache (absent: `input_per_1m`).
    #[serde(default)]
    pub cached_input_per_1m: Option<f64>,
    /// Input written to the provider's prompt cache (absent: `input_per_1m`).
    #[serde(default)]
    pub cache_write_per_1m: Option<f64>,
}

impl PriceSection {
    /// Every price given, for the `>= 0` check.
    pub fn all(&self) -> impl Iterator<Item = f64> {
        [self.input_per_1m, self.output_per_1m]
            .into_iter()
            .chain(self.cached_input_per_1m)
            .chain(self.cache_write_per_1m)
    }
}

/// `cascade:`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CascadeSection {
    /// The vision model that describes images; routed like any chat model.
    pub vision_model: String,
    /// Send the described request to this model instead of the requested one (optional).
    #[serde(default)]
    pub text_model: Option<String>,
    /// The description prompt; `{question}` is replaced by the user's text.
    #[serde(default)]
    pub prompt: Option<String>,
    /// Part of the cache key: bump it when the prompt changes meaning.
    #[serde(default = "default_prompt_version")]
    pub prompt_version: String,
    /// One vision call's time limit, ms.
    #[serde(default = "default_vision_timeout")]
    pub timeout_ms: u64,
    /// `fail` (502 naming the vision failure) or `placeholder` (go on with a marked text).
    #[serde(default)]
    pub on_failure: crate::config::choices::CascadeOnFailure,
    /// Vision calls of one request running at once.
    #[serde(default = "default_parallel")]
    pub max_parallel: usize,
    /// Vision calls in flight across all requests (sized at start-up).
    #[serde(default = "default_global_parallel")]
    pub max_global_parallel: usize,
    /// Images one request may carry (more: 400).
    #[serde(default = "default_max_images")]
    pub max_images: usize,
    /// The description cache.
    #[serde(default)]
    pub cache: CacheSection,
}

fn default_prompt_version() -> String {
    "v1".into()
}
fn default_vision_timeout() -> u64 {
    30_000
}
fn default_parallel() -> usize {
    4
}
fn default_global_parallel() -> usize {
    32
}
fn default_max_images() -> usize {
    16
}

/// `cascade.cache:`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheSection {
    pub max_entries: usize,
    pub max_bytes: u64,
    pub ttl_seconds: u64,
}

impl Default for CacheSection {
    fn default() -> Self {
        CacheSection {
            max_entries: 10_000,
            max_bytes: 64 * 1024 * 1024,
            ttl_seconds: 3600,
        }
    }
}

/// `server:`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSection {
    /// Listening addresses of the OpenAI-compatible API.
    pub listen: Vec<String>,
    /// Seconds a downstream keep-alive connection may stay idle.
    pub keepalive_seconds: u64,
    /// The admin listener (stats, metrics, health); keep it off public interfaces.
    pub admin_listen: String,
    /// One JSON access-log line per request (log target `access`).
    pub access_log: bool,
    /// CORS for browser clients; off when absent.
    pub cors: Option<CorsSection>,
}

/// `server.cors:`
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields, default)]
pub struct CorsSection {
    /// Exact origins (`https://app.example`) or `*`.
    pub allow_origins: Vec<String>,
    /// Request headers a page may send: names, or prefixes ending in `*`.
    pub allow_headers: Vec<String>,
    /// Response headers a page may read.
    pub expose_headers: Vec<String>,
    /// How long a browser may cache a preflight answer.
    pub max_age_seconds: u64,
}

impl Default for CorsSection {
    fn default() -> Self {
        CorsSection {
            allow_origins: Vec::new(),
            allow_headers: DEFAULT_ALLOW_HEADERS.map(String::from).to_vec(),
            expose_headers: DEFAULT_EXPOSE_HEADERS.map(String::from).to_vec(),
            max_age_seconds: 600,
        }
    }
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection {
            listen: vec!["127.0.0.1:8080".into()],
            keepalive_seconds: 60,
            admin_listen: "127.0.0.1:9091".into(),
            access_log: true,
            cors: None,
        }
    }
}

/// Request headers the OpenAI and Anthropic JS SDKs (and fetch-based clients) send from a
/// browser. `x-stainless-*` covers the SDKs' platform headers (`x-stainless-lang`,
/// `-package-version`, `-os`, `-arch`, `-runtime`, `-runtime-version`, `-retry-count`,
/// `-timeout`, `-async`, `-helper-method`, `-poll-helper`, ...). The Google GenAI SDK sends
/// `x-goog-api-key` and `x-goog-api-client`.
const DEFAULT_ALLOW_HEADERS: [&str; 15] = [
    "authorization",
    "content-type",
    "x-api-key",
    "api-key",
    "anthropic-version",
    "anthropic-beta",
    "anthropic-dangerous-direct-browser-access",
    "openai-organization",
    "openai-project",
    "openai-beta",
    "idempotency-key",
    "x-request-id",
    "x-stainless-*",
    "x-goog-api-key",
    "x-goog-api-client",
];

/// Response headers the gateway sends that a page may read.
const DEFAULT_EXPOSE_HEADERS: [&str; 6] = [
    "x-ratelimit-limit-requests",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-reset-requests",
    "retry-after",
    "x-request-id",
    "x-llm-relay-dropped-tools",
];

/// `body:`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BodySection {
    /// Cap for JSON bodies (chat, embeddings, images, speech), bytes.
    pub max_bytes: usize,
    /// Cap for multipart uploads (audio transcription/translation, image edits), bytes.
    pub max_upload_bytes: usize,
    /// Per-kind overrides: `chat`, `embeddings`, `images`, `transcriptions`, `translations`,
    /// `speech`.
    pub max_bytes_by_kind: BTreeMap<String, usize>,
    /// The whole body must arrive within this many milliseconds (408 otherwise).
    pub read_timeout_ms: u64,
    /// Most tools a request may declare (400 above), counted before any translation. OpenAI
    /// documents 128 tools per request; coding agents with MCP servers send 20-200.
    pub max_tools: usize,
    /// Most chat or Anthropic `messages` (400 above). Long agent sessions reach a few
    /// thousand before their context window forces a compaction.
    pub max_messages: usize,
    /// Most Responses `input` items, the stored `previous_response_id` conversation included
    /// (400 above). Codex sends a few thousand in a long session.
    pub max_input_items: usize,
}

impl Default for BodySection {
    fn default() -> Self {
        BodySection {
            max_bytes: 20 * 1024 * 1024,
            max_upload_bytes: 25 * 1024 * 1024,
            max_bytes_by_kind: BTreeMap::new(),
            read_timeout_ms: 30_000,
            max_tools: 1024,
            max_messages: 10_000,
            max_input_items: 10_000,
        }
    }
}

/// `pools.<name>:`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolSection {
    /// Base URLs of the pool's members, e.g. `https://api.hunyuan.cloud.tencent.com/v1`.
    pub urls: Vec<String>,
    /// Name of the environment variable holding the provider key (sent as
    /// `Authorization: Bearer`). The key itself never goes in this file.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// What the pool speaks: `{type: openai | hunyuan | anthropic | gemini | hunyuan_native,
    /// ...}` (default `openai`).
    #[serde(default)]
    pub provider: Option<ProviderSection>,
    /// The provider's concurrency limit for this pool (e.g. Hunyuan's 5 per account): tries
    /// beyond it wait in `queue`, then get a 429 with `Retry-After`. Shared across instances
    /// through Redis when `redis:` is configured. Unset: no limit.
    #[serde(default)]
    pub max_concurrency: Option<u32>,
    /// How tries wait for a slot of `max_concurrency`.
    #[serde(default)]
    pub queue: QueueSection,
    /// The old spelling of `provider`: `openai` or `hunyuan`. Still read; `-t` refuses it
    /// next to `provider`.
    #[serde(default)]
    pub profile: Option<String>,
    /// The hunyuan provider's fixing policy (also `provider.fix`).
    #[serde(default)]
    pub fix: Option<FixPolicy>,
    /// Upstream timeouts.
    #[serde(default)]
    pub timeouts: TimeoutSection,
    /// Ask for `stream_options.include_usage` on streams (token metrics), removing the extra
    /// chunk before it reaches a client that did not ask for it.
    #[serde(default = "yes")]
    pub request_usage: bool,
    /// Active and passive health checking of the members.
    #[serde(default)]
    pub health: HealthSection,
    /// Retries before any byte reached the client.
    #[serde(default)]
    pub retry: RetrySection,
    /// The client request headers sent on to this pool (names, or prefixes ending in `*`),
    /// replacing the default list (`upstream::forward::DEFAULT_FORWARD`). The gateway's own
    /// headers (Host, Content-Length, the provider key, x-request-id, traceparent) are always
    /// set; the client's credentials never go.
    #[serde(default)]
    pub forward_headers: Option<Vec<String>>,
    /// Send one conversation to the same member, so provider-side prompt caches hit: the
    /// conversation is named by the `x-llm-relay-affinity` header, else the request's
    /// `prompt_cache_key`, `user` or `metadata.user_id`. An unhealthy member's
    /// conversations go to the others (normal balancing).
    #[serde(default)]
    pub affinity: bool,
}

/// `pools.<name>.retry:`
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields, default)]
pub struct RetrySection {
    /// Tries on this pool in all (1: no retry). Each try picks the next healthy member.
    pub attempts: u32,
    /// Base backoff between tries, ms; doubled each time, with ±50% jitter.
    pub backoff_ms: u64,
    /// Upstream statuses retried (connect failures always are). Add 429 to retry rate limits.
    pub on_status: Vec<u16>,
}

impl Default for RetrySection {
    fn default() -> Self {
        RetrySection {
            attempts: 2,
            backoff_ms: 50,
            on_status: vec![502, 503, 504],
        }
    }
}

/// `pools.<name>.health:`
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields, default)]
pub struct HealthSection {
    /// Seconds between active TCP checks of every member (0: off).
    pub check_seconds: u64,
    /// Consecutive failed requests that take a member out of rotation (circuit breaker).
    pub failures_to_trip: u32,
    /// How long a tripped member stays out before it is tried again, ms.
    pub cooldown_ms: u64,
    /// A pool that must have a healthy member for `/health/ready` to say 200.
    pub required: bool,
}

impl Default for HealthSection {
    fn default() -> Self {
        HealthSection {
            check_seconds: 5,
            failures_to_trip: 3,
            cooldown_ms: 10_000,
            required: true,
        }
    }
}

/// `pools.<name>.provider:` — a tagged enum, so a typo in `type` or a field is a load error.
#[derive(Debug, Deserialize, Clone)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ProviderSection {
    /// OpenAI or any OpenAI-compatible API: `Authorization: Bearer`, bodies pass through.
    Openai {
        #[serde(default)]
        api_key_env: Option<String>,
    },
    /// Hunyuan's OpenAI-compatible API: chat bodies are fixed to its rules (`fix`).
    Hunyuan {
        #[serde(default)]
        api_key_env: Option<String>,
        #[serde(default)]
        fix: Option<Box<FixPolicy>>,
    },
    /// The Anthropic Messages API: `x-api-key`, `anthropic-version` (`version`, default
    /// `2023-06-01`, when the client sent none); `/v1/messages` passes through natively.
    Anthropic {
        #[serde(default)]
        api_key_env: Option<String>,
        #[serde(default)]
        version: Option<String>,
    },
    /// Google Gemini's `generateContent`: `x-goog-api-key`.
    Gemini {
        #[serde(default)]
        api_key_env: Option<String>,
    },
    /// Hunyuan's native API (`hunyuan.tencentcloudapi.com`, action `ChatCompletions`), signed
    /// with TC3-HMAC-SHA256 from a SecretId and SecretKey read from the environment; chat
    /// bodies are fixed to Hunyuan's rules (`fix`) and rendered in its PascalCase shape.
    HunyuanNative {
        secret_id_env: String,
        secret_key_env: String,
        /// `X-TC-Region` (e.g. `ap-guangzhou`); not sent when unset.
        #[serde(default)]
        region: Option<String>,
        #[serde(default)]
        fix: Option<Box<FixPolicy>>,
    },
}

/// `routes[].tools_unsupported`: what a request with tools gets on a route without them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolsUnsupported {
    #[default]
    Text,
    Refuse,
}

/// `pools.<name>.queue:`
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields, default)]
pub struct QueueSection {
    /// Tries waiting at most; one more is refused at once.
    pub max: usize,
    /// The longest a try waits for a slot, ms.
    pub wait_ms: u64,
}

impl Default for QueueSection {
    fn default() -> Self {
        QueueSection {
            max: 64,
            wait_ms: 10_000,
        }
    }
}

/// `pools.<name>.timeouts:`
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields, default)]
pub struct TimeoutSection {
    /// TCP (and TLS) connect, ms.
    pub connect_ms: u64,
    /// From the request sent to the response header, ms.
    pub first_byte_ms: u64,
    /// Longest silence between two reads of a response body (SSE chunks), ms.
    pub idle_ms: u64,
    /// The whole upstream exchange, streams included, ms (0: no limit).
    pub total_ms: u64,
}

impl Default for TimeoutSection {
    fn default() -> Self {
        TimeoutSection {
            connect_ms: 5_000,
            first_byte_ms: 120_000,
            idle_ms: 120_000,
            total_ms: 0,
        }
    }
}

/// `routes[i]:`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSection {
    /// A model name, or a glob with `*` (e.g. `hunyuan-*`).
    pub model: String,
    /// The context policy of chat on this route (`{max_messages, max_input_tokens}`): the
    /// oldest whole turns go first, the system prompt and tool call/result pairs stay. Applies
    /// on pools that fix messages (`hunyuan`, `hunyuan_native`).
    #[serde(default)]
    pub trim: Option<crate::chat::fix::Trim>,
    /// The pool serving it.
    pub pool: String,
    /// This route's pipeline (instead of the top-level `pipeline`).
    #[serde(default)]
    pub pipeline: Option<Vec<String>>,
    /// The provider's model id when `model` is an alias (exact routes only).
    #[serde(default)]
    pub upstream_model: Option<String>,
    /// Kinds this route serves; empty means all.
    #[serde(default)]
    pub kinds: Vec<crate::core::kind::Kind>,
    /// Whether the model accepts image parts.
    #[serde(default)]
    pub vision: bool,
    /// Whether the model accepts tools.
    #[serde(default = "yes")]
    pub tools: bool,
    /// On a route with `tools: false`, a request that offers tools: `text` (default: they are
    /// left out and the conversation's tool calls and results become text) or `refuse` (a
    /// 400 that names `tools`).
    #[serde(default)]
    pub tools_unsupported: ToolsUnsupported,
    /// A pool tried once when every try on `pool` failed before a response started.
    #[serde(default)]
    pub fallback: Option<String>,
    /// The exact response cache for this route (with `response_cache:` configured): `auto`
    /// (embeddings, and chat at `temperature: 0` or with `x-llm-relay-cache: on`), `always`
    /// (every chat too), `never`.
    #[serde(default)]
    pub cache: crate::config::choices::CacheMode,
    /// Share cached answers between keys (by default each key has its own).
    #[serde(default)]
    pub cache_shared: bool,
    /// What the model costs: spend per key and model, and `budget_usd` enforcement.
    #[serde(default)]
    pub price: Option<PriceSection>,
}

fn yes() -> bool {
    true
}
