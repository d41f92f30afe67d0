//! `llm-relay`: the gateway binary. Pingora's own flags (`-u` upgrade, `-d` daemon, `-t` test,
//! `-c` pingora.yaml) plus `--config` for the gateway's relay.yaml. Without `--config` the
//! embedded demo config is used (all pools on the bundled mock at 127.0.0.1:9000).

use arc_swap::ArcSwap;
use clap::Parser;
use llm_relay::admin::reload::HupReloader;
use llm_relay::admin::Admin;
use llm_relay::cascade::CascadeState;
use llm_relay::observe::health::DrainWatcher;
use llm_relay::policy::limit::Limiter;
use llm_relay::policy::shared_limits::{LeaseRenewer, SharedLimits};
use llm_relay::proxy::Gateway;
use llm_relay::runtime::alerts::Evaluator;
use llm_relay::runtime::health::CacheCapacity;
use llm_relay::runtime::refresher::Refresher;
use llm_relay::runtime::{ConfigHandle, Runtime, EMBEDDED_DEMO};
use llm_relay::state::image_cache::DescriptionCache;
use llm_relay::state::redis::{RedisProbe, SharedState};
use llm_relay::state::response_cache::ResponseCache;
use llm_relay::state::shared_cache::SharedDescriptions;
use llm_relay::state::store::{MemoryStore, RedisStore, ResponseStore};
use pingora::apps::http_app::HttpServer;
use pingora::server::configuration::Opt;
use pingora::server::Server;
use pingora::services::background::background_service;
use pingora::services::listening::Service;
use std::sync::Arc;
use std::time::Duration;

/// jemalloc instead of glibc's malloc: under a peak of held SSE streams glibc grew to ~2 GB and
/// never gave it back (docs/benchmarks.md, "Memory after load").
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read when it starts (before `main`): a background thread returns
/// freed pages to the system within about a second, even when no thread allocates any more
/// (idle after a burst, which is when it matters). `_RJEM_MALLOC_CONF` in the environment
/// overrides them.
#[export_name = "_rjem_malloc_conf"]
pub static MALLOC_CONF: &[u8; 60] =
    b"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0\0";

#[derive(Parser, Debug)]
#[command(
    name = "llm-relay",
    version,
    about = "Edge gateway for OpenAI-compatible LLM APIs"
)]
struct Cli {
    /// Take over the listening sockets of a running instance (zero-downtime upgrade).
    #[arg(short, long)]
    upgrade: bool,
    /// Run in the background (pid file from the pingora config).
    #[arg(short, long)]
    daemon: bool,
    /// Validate the configuration and exit (non-zero with the error on failure).
    #[arg(short, long)]
    test: bool,
    /// Pingora server settings (threads, pid file, upgrade socket, grace periods).
    #[arg(short = 'c', long = "conf")]
    conf: Option<String>,
    /// The gateway configuration (relay.yaml). Default: the embedded demo config.
    #[arg(long = "config", env = "LLM_RELAY_CONFIG", global = true)]
    config: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Print the SHA-256 to put in `auth.keys[].sha256` for a key (read from stdin when not
    /// given, so it stays out of the shell history).
    HashKey { key: Option<String> },
    /// Make a new random key and print it with its hash.
    GenKey,
    /// Show a running gateway's pools, keys, cascade cache, firing alerts and top models, read
    /// from its admin listener (the admin key from LLM_RELAY_ADMIN_KEY).
    Status {
        /// The admin listener, host:port. Default: `server.admin_listen` of --config, else
        /// 127.0.0.1:9091.
        #[arg(long)]
        admin: Option<String>,
        /// Print the overview as JSON instead of tables.
        #[arg(long)]
        json: bool,
    },
    /// Manage the keys of a running gateway (`auth.store`) through its admin listener: create,
    /// list, show, update, rotate, revoke (the admin key from LLM_RELAY_ADMIN_KEY).
    Keys {
        #[command(flatten)]
        target: llm_relay::admin::cli::Target,
        #[command(subcommand)]
        command: llm_relay::admin::cli::KeysCommand,
    },
    /// Manage the teams of a running gateway (their limits and budget cap their keys' total):
    /// create, list, show, update, delete.
    Teams {
        #[command(flatten)]
        target: llm_relay::admin::cli::Target,
        #[command(subcommand)]
        command: llm_relay::admin::cli::TeamsCommand,
    },
}

/// The subcommands; they never start the server.
fn run_command(cmd: Command, config: Option<&str>) -> i32 {
    use llm_relay::policy::auth::{generate_key, hash_key};
    match cmd {
        Command::HashKey { key } => {
            let key = match key {
                Some(k) => k,
                None => {
                    let mut line = String::new();
                    if std::io::stdin().read_line(&mut line).is_err() {
                        eprintln!("llm-relay: could not read a key from stdin");
                        return 1;
                    }
                    line.trim().to_string()
                }
            };
            if key.is_empty() {
                eprintln!("llm-relay: empty key");
                return 1;
            }
            println!("{}", hex::encode(hash_key(&key)));
        }
        Command::GenKey => {
            let key = generate_key();
            println!("key:    {key}\nsha256: {}", hex::encode(hash_key(&key)));
        }
        Command::Status { admin, json } => return status(admin, config, json),
        Command::Keys { target, command } => {
            return llm_relay::admin::cli::keys(&command, &target, config)
        }
        Command::Teams { target, command } => {
            return llm_relay::admin::cli::teams(&command, &target, config)
        }
    }
    0
}

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let cli = Cli::parse();
    if let Some(cmd) = cli.command {
        std::process::exit(run_command(cmd, cli.config.as_deref()));
    }
    let runtime = match load(cli.config.as_deref()) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("llm-relay: invalid configuration: {e}");
            std::process::exit(1);
        }
    };
    if cli.test {
        println!("llm-relay: configuration OK");
    }
    announce_security(&runtime);
    let _ = llm_relay::observe::metrics::metrics(); // declare every metric at start-up
    if let Some(otlp) = &runtime.otlp {
        if let Err(e) = llm_relay::observe::trace::init(otlp) {
            eprintln!("llm-relay: {e}");
            std::process::exit(1);
        }
    }
    let listen = runtime.listen.clone();
    let admin_listen = runtime.admin_listen.clone();
    let sizing = runtime.cascade_sizing;
    let shared = runtime.redis.clone().map(|s| Arc::new(SharedState::new(s)));
    let mut cascade = CascadeState::new(
        DescriptionCache::new(sizing.entries, sizing.bytes, sizing.ttl),
        sizing.global_parallel,
    );
    cascade.shared = shared.clone().map(|shared| SharedDescriptions {
        shared,
        ttl: sizing.ttl,
        lock_ttl: sizing.vision_timeout + Duration::from_secs(5),
    });
    let cascade = Arc::new(cascade);
    let stored = runtime.responses_store;
    let responses: Arc<dyn ResponseStore> = match &shared {
        Some(s) => Arc::new(RedisStore::new(s.clone(), stored)),
        None => Arc::new(MemoryStore::new(stored)),
    };
    let shared_limits = shared.clone().map(|s| Arc::new(SharedLimits::new(s)));
    let limiter = Arc::new(Limiter::new(shared_limits.clone()));
    let response_cache = runtime
        .response_cache
        .as_ref()
        .map(|c| Arc::new(ResponseCache::new(c, shared.clone())));
    let config_ids: Vec<String> = runtime.keys.iter().map(|k| k.id.clone()).collect();
    let managed = match managed_keys(runtime.key_store.as_ref(), shared.as_ref(), &config_ids) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("llm-relay: auth.store: {e}");
            std::process::exit(1);
        }
    };
    let config: ConfigHandle = Arc::new(ArcSwap::from_pointee(runtime));

    let opt = Opt {
        upgrade: cli.upgrade,
        daemon: cli.daemon,
        nocapture: false,
        test: cli.test,
        conf: cli.conf,
    };
    let mut server = match Server::new(Some(opt)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("llm-relay: invalid pingora configuration: {e}");
            std::process::exit(1);
        }
    };
    server.bootstrap();

    let gateway = Gateway {
        config: config.clone(),
        limiter: limiter.clone(),
        cascade: cascade.clone(),
        responses,
        response_cache,
        slots: shared_limits.clone().map(|s| {
            Arc::new(llm_relay::policy::pool_slots::PoolSlots(s))
                as Arc<dyn llm_relay::upstream::gate::SlotStore>
        }),
        connector: pingora::connectors::http::Connector::new(Some(
            pingora::connectors::ConnectorOptions::from_server_conf(&server.configuration),
        )),
        managed: managed.clone(),
    };
    let mut proxy = pingora::proxy::http_proxy_service(&server.configuration, gateway);
    for addr in &listen {
        proxy.add_tcp(addr);
    }
    server.add_service(proxy);
    let mut admin = Service::new(
        "admin".into(),
        HttpServer::new_app(Admin {
            config: config.clone(),
            config_path: cli.config.clone(),
            cascade: cascade.clone(),
            cache_capacity: CacheCapacity {
                max_entries: sizing.entries,
                max_bytes: sizing.bytes,
            },
            shared: shared.clone(),
            limiter: limiter.clone(),
            managed: managed.clone(),
        }),
    );
    admin.add_tcp(&admin_listen);
    server.add_service(admin);
    server.add_service(background_service(
        "upstream refresher",
        Refresher {
            config: config.clone(),
            resolve_every: Duration::from_secs(30),
        },
    ));
    server.add_service(background_service("drain watcher", DrainWatcher));
    if let Some(m) = &managed {
        server.add_service(background_service(
            "key store watcher",
            llm_relay::policy::managed::Watcher(m.clone()),
        ));
    }
    if cascade.shared.is_some() {
        server.add_service(background_service(
            "cascade fill",
            llm_relay::cascade::fill::CascadeFill {
                cascade: cascade.clone(),
                max: sizing.entries,
            },
        ));
    }
    if let (Some(shared), Some(limits)) = (shared, shared_limits) {
        llm_relay::observe::health::set_waiting_for_redis(true);
        server.add_service(background_service("redis probe", RedisProbe { shared }));
        server.add_service(background_service("lease renewer", LeaseRenewer { limits }));
    }
    server.add_service(background_service(
        "reload on SIGHUP",
        HupReloader {
            config: config.clone(),
            path: cli.config.clone(),
            managed: managed.clone(),
        },
    ));
    server.add_service(background_service(
        "alert evaluator",
        Evaluator { config, cascade },
    ));
    log::info!(
        "llm-relay listening on {} (admin on {admin_listen})",
        listen.join(", ")
    );
    server.run_forever();
}

/// The keys managed at run time, in their store: an SQLite file is opened and loaded now (an
/// error stops the start); keys in Redis are loaded by the watcher, on the server's runtime
/// (readiness waits for its first try).
fn managed_keys(
    store: Option<&llm_relay::runtime::KeyStore>,
    shared: Option<&Arc<SharedState>>,
    config_ids: &[String],
) -> Result<Option<Arc<llm_relay::policy::managed::ManagedKeys>>, String> {
    use llm_relay::policy::managed::{redis::RedisStore, spend, ManagedKeys};
    use llm_relay::runtime::KeyStore;
    let keys = match (store, shared) {
        (None, _) => return Ok(None),
        (Some(KeyStore::Sqlite(path)), _) => {
            let tokio = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("start-up runtime: {e}"))?;
            let keys = tokio.block_on(ManagedKeys::open(std::path::Path::new(path)))?;
            let taken: Vec<String> = keys
                .ids()
                .into_iter()
                .filter(|id| config_ids.contains(id))
                .collect();
            if !taken.is_empty() {
                return Err(format!(
                    "auth.keys ids {} belong to keys managed in {path}: choose others",
                    taken.join(", ")
                ));
            }
            keys
        }
        (Some(KeyStore::Redis), Some(shared)) => {
            llm_relay::observe::health::set_waiting_for_keys(true);
            ManagedKeys::new(Box::new(RedisStore::new(shared.clone())))
        }
        (Some(KeyStore::Redis), None) => return Err("the redis backend needs `redis:`".into()),
    };
    spend::ledger().use_store();
    Ok(Some(Arc::new(keys)))
}

/// `llm-relay status`: 0 when the overview was shown, 1 with the reason otherwise.
fn status(admin: Option<String>, config: Option<&str>, as_json: bool) -> i32 {
    use llm_relay::admin::status::{admin_address, admin_key, fetch, render};
    let key = admin_key();
    match admin_address(admin, config).and_then(|a| fetch(&a, key.as_deref()).map(|o| (a, o))) {
        Ok((_, overview)) if as_json => {
            println!("{overview:#}");
            0
        }
        Ok((admin, overview)) => {
            print!("{}", render(&admin, &overview));
            0
        }
        Err(e) => {
            eprintln!("llm-relay status: {e}");
            1
        }
    }
}

/// Says loudly when the gateway admits everyone.
fn announce_security(rt: &Runtime) {
    if rt.keys.is_open() {
        // Reached only on loopback, or with `auth.open: true` (the config check refuses the rest).
        log::warn!(
            "*** NO API KEYS CONFIGURED: the gateway is OPEN to every client that reaches {} (set auth.keys) ***",
            rt.listen.join(", ")
        );
    } else {
        log::info!("{} API keys configured", rt.keys.len());
    }
    if !rt.keys.has_admin_key() {
        log::warn!(
            "no auth.admin_key_sha256: the admin listener {} is unauthenticated",
            rt.admin_listen
        );
    }
}

/// Reads and validates the gateway config, then resolves its pools once (start-up only).
fn load(path: Option<&str>) -> Result<Runtime, String> {
    let rt = match path {
        Some(p) => Runtime::load(p),
        None => Runtime::from_yaml(EMBEDDED_DEMO),
    }
    .map_err(|e| e.to_string())?;
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("start-up runtime: {e}"))?;
    tokio.block_on(rt.resolve());
    Ok(rt)
}
