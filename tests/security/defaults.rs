//! Security: safe by default (issue 18, items 8-11; see docs/security.md).

use crate::common::gateway::{demo_config, Gateway};
use crate::common::mock::Mock;
use crate::common::raw::Conn;

fn setup() -> (Mock, Gateway) {
    let mock = Mock::start(false);
    let gw = Gateway::start(&demo_config(&format!("http://{}", mock.addr), "openai"));
    (mock, gw)
}

const CHAT: &str =
    r#"{"model":"hunyuan-turbos-latest","messages":[{"role":"user","content":"hi"}]}"#;

/// A well-formed chat request on its own connection-reuse test: a write of its own.
fn second_chat() -> Vec<u8> {
    format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{CHAT}",
        CHAT.len()
    )
    .into_bytes()
}

/// Sends `first` (a smuggling shape), reads its answer (if any), then, in a separate write, a
/// clean chat request on the same connection: `(first status, second status)`, `None` where
/// the connection was closed instead of answering.
async fn first_then_second(gw: &Gateway, first: Vec<u8>) -> (Option<u16>, Option<u16>) {
    let addr = gw.addr.clone();
    tokio::task::spawn_blocking(move || {
        let mut c = Conn::open(&addr);
        // The whole first answer is read before the second request goes out, so the second
        // arrives as a separate read on the server.
        let a = c.try_request(&first).map(|r| r.status);
        let b = c.try_request(&second_chat()).map(|r| r.status);
        (a, b)
    })
    .await
    .expect("raw client")
}

/// Item 10: `Content-Length` with `Transfer-Encoding` is answered (TE wins, RFC 9112), and
/// then the connection closes: a request sent afterwards in a write of its own is never
/// served (Pingora had turned keep-alive off; the gateway must not turn it back on).
#[tokio::test]
async fn cl_and_te_close_the_connection_even_when_the_next_request_comes_later() {
    let (mock, gw) = setup();
    let chunked = format!("{:x}\r\n{CHAT}\r\n0\r\n\r\n", CHAT.len());
    for extra in ["", "Connection: keep-alive\r\n"] {
        let first = format!(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n{extra}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n{chunked}"
        );
        let (a, b) = first_then_second(&gw, first.into_bytes()).await;
        assert_eq!(a, Some(200), "the first request is served ({extra:?})");
        assert_eq!(b, None, "the next request is not served ({extra:?})");
    }
    assert_eq!(
        mock.stats().await["requests"]["chat"],
        2,
        "one per connection"
    );
}

/// Item 10: an HTTP/1.0 request without `Connection: keep-alive` gets no keep-alive from
/// Pingora; the gateway must not give it one (the configured `keepalive_seconds` only lowers).
#[tokio::test]
async fn http_1_0_without_keep_alive_is_not_kept() {
    let (mock, gw) = setup();
    let first = format!(
        "POST /v1/chat/completions HTTP/1.0\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{CHAT}",
        CHAT.len()
    );
    let (a, b) = first_then_second(&gw, first.into_bytes()).await;
    assert_eq!(a, Some(200));
    assert_eq!(b, None, "the connection ends with the answer");
    assert_eq!(mock.stats().await["requests"]["chat"], 1);
}

/// Item 10: the other framing shapes Pingora refuses (differing `Content-Length`s, a
/// `Transfer-Encoding` whose last coding is not chunked, TE on HTTP/1.0) never reach the
/// provider and leave no connection to reuse.
#[tokio::test]
async fn other_smuggling_shapes_are_refused_and_closed() {
    let (mock, gw) = setup();
    let shapes = [
        format!("POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\nContent-Length: 4\r\n\r\n{CHAT}", CHAT.len()),
        format!("POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {0}, 4\r\n\r\n{CHAT}", CHAT.len()),
        format!("POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nTransfer-Encoding: gzip\r\n\r\n{CHAT}"),
        format!("POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked, gzip\r\n\r\n{CHAT}"),
        format!("POST /v1/chat/completions HTTP/1.0\r\nHost: t\r\nConnection: keep-alive\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{CHAT}\r\n0\r\n\r\n", CHAT.len()),
    ];
    for shape in shapes {
        let (a, b) = first_then_second(&gw, shape.clone().into_bytes()).await;
        assert!(
            a.is_none_or(|s| s == 400),
            "refused with 400 or a close: {a:?} for {shape:?}"
        );
        assert_eq!(b, None, "nothing more is served after {shape:?}");
    }
    assert_eq!(mock.stats().await["requests"]["chat"], 0);
}

// ---- Item 8: no open relay on a public address ----------------------------------------------

const POOL: &str =
    "pools:\n  p:\n    urls: [\"http://127.0.0.1:1/v1\"]\nroutes:\n  - model: m\n    pool: p\n";

/// Environment variables the configs below read: removed unless a test gives them.
const ENV: [&str; 4] = [
    "HUNYUAN_API_KEY",
    "RELAY_KEY_SHA256",
    "RELAY_ADMIN_KEY_SHA256",
    "LLM_RELAY_CONFIG",
];

/// `llm-relay -t --config <file>`: whether it passed, and its stderr.
fn dash_t(path: &std::path::Path, env: &[(&str, &str)]) -> (bool, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_llm-relay"));
    cmd.arg("-t").arg("--config").arg(path);
    for k in ENV {
        cmd.env_remove(k);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run llm-relay -t");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn dash_t_yaml(yaml: &str) -> (bool, String) {
    let path = crate::common::gateway::scratch("dash-t").join("relay.yaml");
    std::fs::write(&path, yaml).expect("write relay.yaml");
    dash_t(&path, &[])
}

fn sha(key: &str) -> String {
    hex::encode(llm_relay::policy::auth::hash_key(key))
}

#[test]
fn a_public_listener_without_keys_is_refused_unless_open_is_said() {
    // Keyless on every interface: refused, naming the address, the key and the fixes.
    let (ok, err) = dash_t_yaml(&format!("server:\n  listen: [\"0.0.0.0:8080\"]\n{POOL}"));
    assert!(!ok, "refused: {err}");
    for part in [
        "server.listen[0]",
        "0.0.0.0:8080",
        "auth.keys",
        "auth.open: true",
        "gen-key",
    ] {
        assert!(err.contains(part), "the message names {part}: {err}");
    }
    // The second address, IPv6 any, and a LAN address are public too.
    for addr in ["[::]:8080", "10.1.2.3:8080", "[::ffff:10.0.0.1]:80"] {
        let (ok, err) = dash_t_yaml(&format!(
            "server:\n  listen: [\"127.0.0.1:8080\", \"{addr}\"]\n{POOL}"
        ));
        assert!(!ok && err.contains("server.listen[1]"), "{addr}: {err}");
    }
    // Said on purpose: passes.
    let (ok, err) = dash_t_yaml(&format!(
        "server:\n  listen: [\"0.0.0.0:8080\"]\nauth:\n  open: true\n{POOL}"
    ));
    assert!(ok, "auth.open: true passes: {err}");
    // With a key: passes.
    let (ok, err) = dash_t_yaml(&format!(
        "server:\n  listen: [\"0.0.0.0:8080\"]\nauth:\n  keys:\n    - id: a\n      sha256: \"{}\"\n{POOL}",
        sha("sk-a")
    ));
    assert!(ok, "keys pass: {err}");
    // `open` with keys contradicts itself.
    let (ok, err) = dash_t_yaml(&format!(
        "auth:\n  open: true\n  keys:\n    - id: a\n      sha256: \"{}\"\n{POOL}",
        sha("sk-a")
    ));
    assert!(!ok && err.contains("auth.open"), "{err}");
}

#[test]
fn loopback_without_keys_still_runs() {
    // The demo's shape: loopback (IPv4, IPv6, mapped), no keys, no admin key.
    let (ok, err) = dash_t_yaml(&format!(
        "server:\n  listen: [\"127.0.0.1:8080\", \"[::1]:8080\", \"[::ffff:127.0.0.1]:8081\"]\n  admin_listen: \"[::1]:9091\"\n{POOL}"
    ));
    assert!(ok, "{err}");
    // The defaults (127.0.0.1:8080 and :9091).
    let (ok, err) = dash_t_yaml(POOL);
    assert!(ok, "{err}");
}

#[test]
fn a_public_admin_listener_needs_the_admin_key() {
    let keys = format!(
        "auth:\n  keys:\n    - id: a\n      sha256: \"{}\"\n",
        sha("sk-a")
    );
    let (ok, err) = dash_t_yaml(&format!(
        "server:\n  admin_listen: \"0.0.0.0:9091\"\n{keys}{POOL}"
    ));
    assert!(!ok, "refused: {err}");
    for part in [
        "server.admin_listen",
        "0.0.0.0:9091",
        "auth.admin_key_sha256",
    ] {
        assert!(err.contains(part), "the message names {part}: {err}");
    }
    let (ok, err) = dash_t_yaml(&format!(
        "server:\n  admin_listen: \"0.0.0.0:9091\"\n{keys}  admin_key_sha256: \"{}\"\n{POOL}",
        sha("sk-admin")
    ));
    assert!(ok, "with the admin key: {err}");
}

#[test]
fn shipped_relay_yaml_passes_with_its_environment() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("conf/relay.yaml");
    let (client, admin) = (sha("sk-client"), sha("sk-admin"));
    let env = [
        ("HUNYUAN_API_KEY", "sk-provider"),
        ("RELAY_KEY_SHA256", client.as_str()),
        ("RELAY_ADMIN_KEY_SHA256", admin.as_str()),
    ];
    let (ok, err) = dash_t(&path, &env);
    assert!(ok, "conf/relay.yaml with its environment: {err}");
    // A missing key hash names its variable; a wrong one is not echoed.
    let (ok, err) = dash_t(&path, &env[..2]);
    assert!(!ok && err.contains("RELAY_ADMIN_KEY_SHA256"), "{err}");
    let (ok, err) = dash_t(
        &path,
        &[
            env[0],
            env[1],
            ("RELAY_ADMIN_KEY_SHA256", "sk-admin-by-mistake"),
        ],
    );
    assert!(!ok && err.contains("auth.admin_key_sha256_env"), "{err}");
    assert!(
        !err.contains("sk-admin-by-mistake"),
        "the value is never shown: {err}"
    );
}

/// A gateway started by hand (the harness binds loopback only); killed on drop.
struct Public {
    child: std::process::Child,
    dir: std::path::PathBuf,
    api: String,
    admin: String,
    log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Public {
    /// Starts on new free ports; again (up to 3 tries) when one was taken meanwhile.
    fn start(auth: &str, upstream: &str) -> Public {
        let mut logs = Vec::new();
        for _ in 0..3 {
            match Public::try_start(auth, upstream) {
                Ok(gw) => return gw,
                Err(log) => logs.push(log),
            }
        }
        panic!("the gateway did not start:\n{}", logs.join("\n---\n"))
    }

    fn try_start(auth: &str, upstream: &str) -> Result<Public, String> {
        use crate::common::gateway::{free_port, scratch, wait_until_blocking};
        use std::io::BufRead;
        let (port, admin_port) = (free_port(), free_port());
        let dir = scratch("public");
        let yaml = format!(
            "server:\n  listen: [\"0.0.0.0:{port}\"]\n  admin_listen: \"127.0.0.1:{admin_port}\"\n{auth}pools:\n  p:\n    urls: [\"{upstream}/v1\"]\nroutes:\n  - model: hunyuan-turbos-latest\n    pool: p\n"
        );
        std::fs::write(dir.join("relay.yaml"), yaml).expect("write relay.yaml");
        std::fs::write(
            dir.join("pingora.yaml"),
            format!(
                "---\nversion: 1\nthreads: 1\npid_file: {d}/pid\nupgrade_sock: {d}/upgrade.sock\ngrace_period_seconds: 1\ngraceful_shutdown_timeout_seconds: 1\n",
                d = dir.display()
            ),
        )
        .expect("write pingora.yaml");
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_llm-relay"))
            .arg("--config")
            .arg(dir.join("relay.yaml"))
            .arg("-c")
            .arg(dir.join("pingora.yaml"))
            .env("RUST_LOG", "info")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn llm-relay");
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        if let Some(err) = child.stderr.take() {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
                    if let Ok(mut l) = log.lock() {
                        l.push_str(&line);
                        l.push('\n');
                    }
                }
            });
        }
        let gw = Public {
            child,
            dir,
            api: format!("127.0.0.1:{port}"),
            admin: format!("127.0.0.1:{admin_port}"),
            log,
        };
        let mut gw = gw;
        let mut failed = false;
        let up = wait_until_blocking(std::time::Duration::from_secs(20), || {
            let log = gw.log_text();
            if log.contains("is in use") || !matches!(gw.child.try_wait(), Ok(None)) {
                failed = true;
                return true;
            }
            log.contains("listening on")
                && std::net::TcpStream::connect(&gw.api).is_ok()
                && std::net::TcpStream::connect(&gw.admin).is_ok()
        });
        if up && !failed {
            Ok(gw)
        } else {
            Err(gw.log_text())
        }
    }

    fn log_text(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

impl Drop for Public {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Item 8, reload: a file that would expose the running listeners is refused by
/// `POST /admin/reload` and by SIGHUP, the old config (with its keys) stays, and the log says
/// why. The listener is not rebound by a reload, so moving `listen` to loopback in the same
/// file does not make dropping the keys safe.
#[tokio::test]
async fn reload_refuses_a_config_that_would_expose_the_running_listener() {
    use crate::common::gateway::wait_until;
    let mock = Mock::start(false);
    let upstream = format!("http://{}", mock.addr);
    let auth = format!(
        "auth:\n  keys:\n    - id: a\n      sha256: \"{}\"\n",
        sha("sk-a")
    );
    let gw = Public::start(&auth, &upstream);
    let chat = |key: Option<&'static str>| {
        let url = format!("http://{}/v1/chat/completions", gw.api);
        async move {
            let mut r = reqwest::Client::new()
                .post(url)
                .header("content-type", "application/json")
                .body(CHAT);
            if let Some(k) = key {
                r = r.bearer_auth(k);
            }
            r.send().await.map_or(0, |r| r.status().as_u16())
        }
    };
    assert_eq!(chat(None).await, 401);
    assert_eq!(chat(Some("sk-a")).await, 200);

    let admin_port = gw.admin.rsplit(':').next().unwrap_or_default().to_string();
    let keyless = |listen: &str| {
        format!(
            "server:\n  listen: [\"{listen}\"]\n  admin_listen: \"127.0.0.1:{admin_port}\"\npools:\n  p:\n    urls: [\"{upstream}/v1\"]\nroutes:\n  - model: hunyuan-turbos-latest\n    pool: p\n"
        )
    };
    let reload = || async {
        let r = reqwest::Client::new()
            .post(format!("http://{}/admin/reload", gw.admin))
            .send()
            .await
            .expect("POST /admin/reload");
        (r.status().as_u16(), r.text().await.unwrap_or_default())
    };
    let cfg = gw.dir.join("relay.yaml");
    for listen in ["0.0.0.0:1", "127.0.0.1:1"] {
        std::fs::write(&cfg, keyless(listen)).expect("rewrite relay.yaml");
        let (status, body) = reload().await;
        assert_eq!(status, 400, "{body}");
        assert!(
            body.contains("auth.keys") && body.contains("not a loopback address"),
            "{body}"
        );
        assert_eq!(chat(None).await, 401, "the keys stay ({listen})");
    }
    // SIGHUP takes the same path and logs why.
    let _ = std::process::Command::new("kill")
        .args(["-s", "HUP", &gw.child.id().to_string()])
        .status();
    let g = &gw;
    let logged = wait_until(std::time::Duration::from_secs(10), || async move {
        g.log_text()
            .lines()
            .filter(|l| l.contains("reload refused") && l.contains("not a loopback address"))
            .count()
            >= 3
    })
    .await;
    assert!(logged, "{}", gw.log_text());
    assert_eq!(chat(None).await, 401);
    assert_eq!(chat(Some("sk-a")).await, 200);
}

/// Item 8: the shipped deployment configs pass the check: the Kubernetes ConfigMap's
/// relay.yaml (keys and admin key from the Secret's variables; refused without them) and the
/// container image's demo (on 0.0.0.0, open on purpose with the mock only).
#[test]
fn shipped_deployment_configs_pass_the_check() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = std::fs::read_to_string(root.join("deploy/kubernetes/configmap.yaml"))
        .expect("configmap.yaml");
    let doc: serde_yaml::Value = serde_yaml::from_str(&manifest).expect("configmap YAML");
    let relay = doc["data"]["relay.yaml"].as_str().expect("data.relay.yaml");
    let path = crate::common::gateway::scratch("configmap").join("relay.yaml");
    std::fs::write(&path, relay).expect("write relay.yaml");
    let (client, admin) = (sha("sk-client"), sha("sk-admin"));
    let env = [
        ("HUNYUAN_API_KEY", "sk-provider"),
        ("RELAY_KEY_SHA256", client.as_str()),
        ("RELAY_ADMIN_KEY_SHA256", admin.as_str()),
    ];
    let (ok, err) = dash_t(&path, &env);
    assert!(ok, "the ConfigMap's relay.yaml: {err}");
    // The Secret's placeholders are not hashes: a pod started with them refuses to start.
    let (ok, err) = dash_t(
        &path,
        &[
            env[0],
            (
                "RELAY_KEY_SHA256",
                "replace-with-the-sha256-of-the-client-key",
            ),
            env[2],
        ],
    );
    assert!(!ok && err.contains("RELAY_KEY_SHA256"), "{err}");

    let (ok, err) = dash_t(&root.join("deploy/container/demo.yaml"), &[]);
    assert!(ok, "the container demo: {err}");
    let (ok, err) = dash_t(&root.join("conf/demo.yaml"), &[]);
    assert!(ok, "the embedded demo: {err}");
}

// ---- Item 9: an allow-list of client headers ------------------------------------------------

/// The header names the mock saw on the last chat request.
async fn seen_headers(mock: &Mock) -> std::collections::BTreeSet<String> {
    let stats = mock.stats().await;
    stats["last"]["chat"]["headers"]
        .as_object()
        .map(|h| h.keys().cloned().collect())
        .unwrap_or_default()
}

/// What a client may send: SDK and tracing headers, and things that choose or leak something
/// under the operator's provider key.
const SENT: [(&str, &str); 16] = [
    ("user-agent", "OpenAI/Python 1.99.0"),
    ("accept", "application/json"),
    ("x-stainless-lang", "python"),
    ("x-stainless-retry-count", "0"),
    ("openai-beta", "assistants=v2"),
    ("anthropic-version", "2023-06-01"),
    ("tracestate", "vendor=1"),
    ("idempotency-key", "idem-1"),
    ("cookie", "session=tenant-a-secret"),
    ("openai-organization", "org-attacker"),
    ("openai-project", "proj-attacker"),
    ("x-forwarded-for", "10.9.8.7"),
    ("forwarded", "for=10.9.8.7"),
    ("x-llm-relay-cache", "off"),
    ("x-tenant", "a"),
    ("x-api-key", "sk-client-key"),
];

async fn send_chat(gw: &Gateway, extra: &[(&str, &str)]) -> u16 {
    let mut r = reqwest::Client::new()
        .post(gw.url("/v1/chat/completions"))
        .header("content-type", "application/json")
        .header("x-request-id", "req-forward-1")
        .body(CHAT);
    for (k, v) in SENT.iter().chain(extra) {
        r = r.header(*k, *v);
    }
    r.send().await.map_or(0, |r| r.status().as_u16())
}

fn set(names: &[&str]) -> std::collections::BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// Item 9: by default the provider gets what the SDKs and tracing need and nothing that
/// chooses an organisation or leaks the client (Cookie, OpenAI-Organization, OpenAI-Project,
/// X-Forwarded-For, ...); the gateway's own headers are set.
#[tokio::test]
async fn only_the_default_allow_list_of_client_headers_reaches_the_provider() {
    let (mock, gw) = setup();
    assert_eq!(send_chat(&gw, &[]).await, 200);
    let seen = seen_headers(&mock).await;
    let expected = set(&[
        // the gateway's own
        "host",
        "content-length",
        "authorization",
        "x-request-id",
        // the client's, allowed
        "content-type",
        "user-agent",
        "accept",
        "x-stainless-lang",
        "x-stainless-retry-count",
        "openai-beta",
        "anthropic-version",
        "tracestate",
        "idempotency-key",
    ]);
    assert_eq!(seen, expected);
    let last = &mock.stats().await["last"]["chat"]["headers"];
    assert_eq!(
        last["authorization"],
        format!("Bearer {}", crate::common::gateway::PROVIDER_KEY)
    );
    assert_eq!(last["x-request-id"], "req-forward-1");
}

/// Item 9: a pool with `forward_headers` forwards exactly that list (plus the gateway's own
/// headers and `forward_headers_add`); a client credential can never be listed.
#[tokio::test]
async fn a_pool_with_a_list_forwards_exactly_that() {
    let mock = Mock::start(false);
    let yaml = format!(
        "pools:\n  p:\n    urls: [\"http://{}/v1\"]\n    forward_headers: [x-tenant, \"x-stainless-*\", Content-Type]\nroutes:\n  - model: hunyuan-turbos-latest\n    pool: p\n",
        mock.addr
    );
    let gw = Gateway::start(&yaml);
    assert_eq!(send_chat(&gw, &[("x-mock-events", "1")]).await, 200);
    let seen = seen_headers(&mock).await;
    assert_eq!(
        seen,
        set(&[
            "host",
            "content-length",
            "x-request-id",
            "x-tenant",
            "x-stainless-lang",
            "x-stainless-retry-count",
            "content-type",
            "x-mock-events",
        ])
    );
    let (ok, err) = dash_t_yaml(&yaml.replace("x-tenant,", "x-api-key,"));
    assert!(
        !ok && err.contains("pools.p.forward_headers[0]") && err.contains("credential"),
        "{err}"
    );
    let (ok, err) = dash_t_yaml(&yaml.replace("x-tenant,", "\"*\","));
    assert!(!ok && err.contains("pools.p.forward_headers[0]"), "{err}");
}

// ---- Item 11: collector credentials from the environment ------------------------------------

const COLLECTOR_AUTH: &str = "Bearer s3cret-collector-token";

/// An OTLP/HTTP collector that requires `authorization: COLLECTOR_AUTH`: each export is
/// recorded as (authorized, the body names `service`), and answered 200 or 401.
struct Collector {
    port: u16,
    seen: std::sync::Arc<std::sync::Mutex<Vec<(bool, bool)>>>,
}

impl Collector {
    fn start(service: &'static str) -> Collector {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind collector");
        let port = listener
            .local_addr()
            .map(|a| a.port())
            .expect("collector port");
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let record = seen.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().map_while(Result::ok) {
                let record = record.clone();
                std::thread::spawn(move || {
                    let Ok(mut writer) = conn.try_clone() else {
                        return;
                    };
                    let mut reader = BufReader::new(conn);
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let (mut len, mut authorized) = (0usize, false);
                        loop {
                            let mut h = String::new();
                            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                                return;
                            }
                            let h = h.trim_end();
                            if h.is_empty() {
                                break;
                            }
                            if let Some((k, v)) = h.split_once(':') {
                                let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
                                if k == "content-length" {
                                    len = v.parse().unwrap_or(0);
                                }
                                if k == "authorization" && v == COLLECTOR_AUTH {
                                    authorized = true;
                                }
                            }
                        }
                        let mut body = vec![0; len];
                        if reader.read_exact(&mut body).is_err() {
                            return;
                        }
                        let names = body.windows(service.len()).any(|w| w == service.as_bytes());
                        if let Ok(mut s) = record.lock() {
                            s.push((authorized, names));
                        }
                        let status = if authorized {
                            "200 OK"
                        } else {
                            "401 Unauthorized"
                        };
                        let answer = format!("HTTP/1.1 {status}\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n");
                        if writer.write_all(answer.as_bytes()).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Collector { port, seen }
    }

    fn exports(&self) -> Vec<(bool, bool)> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

fn traced(mock: &Mock, port: u16, service: &str, otlp_extra: &str) -> String {
    format!(
        "telemetry:\n  otlp:\n    endpoint: \"http://127.0.0.1:{port}\"\n    service_name: {service}\n{otlp_extra}pools:\n  p:\n    urls: [\"http://{}/v1\"]\nroutes:\n  - model: hunyuan-turbos-latest\n    pool: p\n",
        mock.addr
    )
}

/// Sends a chat and waits until the collector saw an export matching `want`.
async fn export_seen(gw: &Gateway, c: &Collector, want: (bool, bool)) -> bool {
    let r = reqwest::Client::new()
        .post(gw.url("/v1/chat/completions"))
        .header("content-type", "application/json")
        .body(CHAT)
        .send()
        .await
        .map_or(0, |r| r.status().as_u16());
    assert_eq!(r, 200);
    crate::common::gateway::wait_until(std::time::Duration::from_secs(15), || async {
        c.exports().contains(&want)
    })
    .await
}

/// Item 11: a collector that requires a credential receives the spans when the credential
/// comes from the environment: a variable named in `telemetry.otlp.headers_env`, or the
/// standard `OTEL_EXPORTER_OTLP_TRACES_HEADERS`. Without it the collector refuses them (so it
/// really checks). The value is never logged.
#[tokio::test]
async fn collector_credentials_come_from_the_environment() {
    let mock = Mock::start(false);

    let c = Collector::start("relay-named-env");
    let yaml = traced(
        &mock,
        c.port,
        "relay-named-env",
        "    headers_env: {authorization: OTLP_AUTH}\n",
    );
    let gw = Gateway::start_with(&yaml, &[("OTLP_AUTH", COLLECTOR_AUTH)]);
    assert!(
        export_seen(&gw, &c, (true, true)).await,
        "{:?}",
        c.exports()
    );
    assert!(c.exports().iter().all(|(authorized, _)| *authorized));
    assert!(!gw.log_text().contains("s3cret"), "{}", gw.log_text());
    drop(gw);

    let c = Collector::start("relay-standard-env");
    let yaml = traced(&mock, c.port, "relay-standard-env", "");
    let gw = Gateway::start_with(
        &yaml,
        &[(
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
            "authorization=Bearer%20s3cret-collector-token",
        )],
    );
    assert!(
        export_seen(&gw, &c, (true, true)).await,
        "{:?}",
        c.exports()
    );
    assert!(!gw.log_text().contains("s3cret"), "{}", gw.log_text());
    drop(gw);

    let c = Collector::start("relay-no-auth");
    let gw = Gateway::start(&traced(&mock, c.port, "relay-no-auth", ""));
    assert!(
        export_seen(&gw, &c, (false, true)).await,
        "{:?}",
        c.exports()
    );
}

/// Item 11: a named variable that is missing, or a malformed standard variable, is a clear
/// `-t` error naming the variable, never showing a value.
#[test]
fn collector_credential_errors_name_the_variable() {
    let mock_addr = "127.0.0.1:1";
    let yaml = format!(
        "telemetry:\n  otlp:\n    endpoint: \"http://127.0.0.1:4318\"\n    headers_env: {{authorization: OTLP_AUTH_UNSET_FOR_TEST}}\npools:\n  p:\n    urls: [\"http://{mock_addr}/v1\"]\n"
    );
    let (ok, err) = dash_t_yaml(&yaml);
    assert!(
        !ok && err.contains("telemetry.otlp.headers_env.authorization")
            && err.contains("OTLP_AUTH_UNSET_FOR_TEST"),
        "{err}"
    );
    let path = crate::common::gateway::scratch("otlp-t").join("relay.yaml");
    std::fs::write(
        &path,
        yaml.replace(
            "    headers_env: {authorization: OTLP_AUTH_UNSET_FOR_TEST}\n",
            "",
        ),
    )
    .expect("write");
    let (ok, err) = dash_t(&path, &[("OTEL_EXPORTER_OTLP_HEADERS", "authorization")]);
    assert!(!ok && err.contains("OTEL_EXPORTER_OTLP_HEADERS"), "{err}");
    let (ok, err) = dash_t(
        &path,
        &[("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20x")],
    );
    assert!(ok, "{err}");
}
