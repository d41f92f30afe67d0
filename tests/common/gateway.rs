//! Starts the real `llm-relay` binary on free loopback ports with a given relay.yaml, and
//! `wait_until` for tests that wait for a condition.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A free loopback port: bound, then released for the gateway to bind. Another process can take
/// it in between; `Gateway::start*` notices (the gateway says the port is in use, or the port's
/// listener is not the gateway's) and starts again on new ports. Within this process no port is
/// handed out twice, so two tests running in parallel never draw the same one.
pub fn free_port() -> u16 {
    static GIVEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let mut given = GIVEN.lock().unwrap_or_else(|p| p.into_inner());
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// How often `wait_until` looks.
pub const POLL: Duration = Duration::from_millis(20);

/// Polls `cond` until it holds or `timeout` has passed; whether it held. The condition may make
/// requests: `wait_until(t, || async move { … }).await` (borrow what it needs outside).
pub async fn wait_until<F, Fut>(timeout: Duration, mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let t0 = Instant::now();
    loop {
        if cond().await {
            return true;
        }
        if t0.elapsed() >= timeout {
            return false;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// `wait_until` for synchronous code (it blocks the thread between looks).
/// How long after `since` the first probe that found `cond` true started (measured at the
/// probe's start, so a slow answer on a busy machine is not counted as propagation); `None`
/// when none did within `deadline` of `since`. For "visible within N" checks.
pub async fn first_seen<F, Fut>(since: Instant, deadline: Duration, mut cond: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    loop {
        let probe = Instant::now();
        if cond().await {
            return Some(probe.saturating_duration_since(since));
        }
        if since.elapsed() >= deadline {
            return None;
        }
        tokio::time::sleep(POLL).await;
    }
}

pub fn wait_until_blocking(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let t0 = Instant::now();
    loop {
        if cond() {
            return true;
        }
        if t0.elapsed() >= timeout {
            return false;
        }
        std::thread::sleep(POLL);
    }
}

/// Whether process `pid` itself has a listening TCP socket on `port` (Linux): the LISTEN
/// entries for the port in its network namespace's socket table, matched by inode against
/// its open files. A successful connect is not enough: the port may be someone else's.
fn listens(pid: u32, port: u16) -> bool {
    let Ok(table) = std::fs::read_to_string(format!("/proc/{pid}/net/tcp")) else {
        return false;
    };
    let local = format!(":{port:04X}");
    // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode …
    let sockets: Vec<String> = table
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let listening = f.get(1)?.ends_with(&local) && *f.get(3)? == "0A";
            let inode = f.get(9)?;
            listening.then(|| format!("socket:[{inode}]"))
        })
        .collect();
    if sockets.is_empty() {
        return false;
    }
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.filter_map(Result::ok)
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .any(|target| sockets.iter().any(|s| target.as_os_str() == s.as_str()))
}

/// A unique scratch directory for one test's files.
pub fn scratch(tag: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("llm-relay-test-{}-{tag}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Why a gateway did not start; each carries the gateway's log.
#[derive(Debug)]
pub enum StartError {
    /// One of its ports was taken (by another process, or another test).
    PortInUse(String),
    /// It exited.
    Exited(String),
    /// Its listeners did not come up in time.
    TimedOut(String),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::PortInUse(log) => write!(f, "gateway: a port is in use:\n{log}"),
            StartError::Exited(log) => write!(f, "gateway exited:\n{log}"),
            StartError::TimedOut(log) => write!(f, "gateway did not start: {log}"),
        }
    }
}

/// A running gateway; killed on drop. `log` collects its stderr.
pub struct Gateway {
    pub addr: String,
    pub admin: String,
    pub port: u16,
    pub dir: PathBuf,
    child: Child,
    pub log: Arc<Mutex<String>>,
}

/// A relay.yaml whose pools all point at `upstream` (http://host:port), with the common routes.
pub fn demo_config(upstream: &str, profile: &str) -> String {
    format!(
        r#"
pools:
  main:
    urls: ["{upstream}/v1"]
    profile: {profile}
    api_key_env: TEST_PROVIDER_KEY
    timeouts: {{connect_ms: 1000, first_byte_ms: 1500, idle_ms: 1500}}
  plain:
    urls: ["{upstream}/v1"]
    profile: openai
routes:
  - model: hunyuan-turbos-latest
    pool: main
    kinds: [chat]
  - model: hunyuan-vision
    pool: main
    kinds: [chat]
    vision: true
  - model: gpt-4o-mini
    pool: main
    upstream_model: hunyuan-turbos-latest
  - model: "hy-*"
    pool: main
  - model: "claude-*"
    pool: main
    upstream_model: hunyuan-turbos-latest
    kinds: [chat]
  - model: gpt-3.5-turbo-instruct
    pool: plain
    kinds: [chat]
  - model: text-embedding-3-small
    pool: plain
  - model: dall-e-3
    pool: plain
  - model: whisper-1
    pool: plain
  - model: tts-1
    pool: plain
"#
    )
}

pub const PROVIDER_KEY: &str = "sk-provider-test-0000";

/// Appended to every test config: the mock's knobs are client headers the gateway forwards.
pub const MOCK_KNOBS: &str = "forward_headers_add: [\"x-mock-*\"]\n";

impl Gateway {
    /// Starts the gateway with `yaml` (its `server.listen` is added here).
    pub fn start(yaml: &str) -> Gateway {
        Self::start_with(yaml, &[])
    }

    pub fn start_with(yaml: &str, env: &[(&str, &str)]) -> Gateway {
        Self::start_full(
            yaml,
            env,
            "grace_period_seconds: 1\ngraceful_shutdown_timeout_seconds: 1\n",
        )
    }

    /// Starts with extra lines for pingora.yaml (grace periods for upgrade tests).
    pub fn start_full(yaml: &str, env: &[(&str, &str)], pingora_extra: &str) -> Gateway {
        Self::start_retrying(yaml, env, pingora_extra, || (free_port(), free_port()))
    }

    /// Starts on the (API, admin) ports `ports` gives; when one was taken meanwhile (the race
    /// of `free_port`), again on new ones, up to 3 tries. Panics with the gateway's log when it
    /// does not come up.
    pub fn start_retrying(
        yaml: &str,
        env: &[(&str, &str)],
        pingora_extra: &str,
        mut ports: impl FnMut() -> (u16, u16),
    ) -> Gateway {
        let mut taken = Vec::new();
        for _ in 0..3 {
            let (port, admin_port) = ports();
            match Self::try_start_on(yaml, env, pingora_extra, port, admin_port) {
                Ok(gw) => return gw,
                Err(StartError::PortInUse(log)) => {
                    taken.push(format!("ports {port}/{admin_port}: {log}"))
                }
                Err(e) => panic!("{e}"),
            }
        }
        panic!(
            "gateway could not bind its ports in 3 tries:\n{}",
            taken.join("\n")
        )
    }

    /// Starts on the given ports.
    pub fn try_start_on(
        yaml: &str,
        env: &[(&str, &str)],
        pingora_extra: &str,
        port: u16,
        admin_port: u16,
    ) -> Result<Gateway, StartError> {
        let dir = scratch("gw");
        let cfg = dir.join("relay.yaml");
        // The mock's per-request knobs (`x-mock-*` headers) must reach it through the
        // gateway, which forwards only an allow-list of client headers.
        let full = format!(
            "server:\n  listen: [\"127.0.0.1:{port}\"]\n  admin_listen: \"127.0.0.1:{admin_port}\"\n{yaml}\n{MOCK_KNOBS}"
        );
        std::fs::write(&cfg, full).expect("write relay.yaml");
        let pconf = dir.join("pingora.yaml");
        std::fs::write(
            &pconf,
            format!(
                "---\nversion: 1\nthreads: 2\npid_file: {d}/pid\nupgrade_sock: {d}/upgrade.sock\n{pingora_extra}",
                d = dir.display()
            ),
        )
        .expect("write pingora.yaml");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_llm-relay"));
        cmd.arg("--config")
            .arg(&cfg)
            .arg("-c")
            .arg(&pconf)
            .env("TEST_PROVIDER_KEY", PROVIDER_KEY)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn llm-relay");
        let log = Arc::new(Mutex::new(String::new()));
        if let Some(err) = child.stderr.take() {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(err).lines().map_while(Result::ok) {
                    if let Ok(mut l) = log.lock() {
                        l.push_str(&line);
                        l.push('\n');
                    }
                }
            });
        }
        let mut gw = Gateway {
            addr: format!("127.0.0.1:{port}"),
            admin: format!("127.0.0.1:{admin_port}"),
            port,
            dir,
            child,
            log,
        };
        // Dropping `gw` on an error kills the process and removes its files.
        wait_listening(
            &mut gw.child,
            &gw.log,
            &[port, admin_port],
            Duration::from_secs(20),
        )?;
        Ok(gw)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{}", self.admin, path)
    }

    /// Sends a signal (e.g. "TERM", "QUIT", "HUP") to the gateway process.
    pub fn signal(&self, sig: &str) {
        let _ = Command::new("kill")
            .args(["-s", sig, &self.child.id().to_string()])
            .status();
    }

    /// The gateway's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log_text(&self) -> String {
        text(&self.log)
    }

    /// POSTs `body` (JSON text, sent as it is) to `path` without a key: the status and the
    /// answer as JSON (`Null` when it is not JSON).
    pub async fn post_bytes(&self, path: &str, body: Vec<u8>) -> (u16, serde_json::Value) {
        let r = reqwest::Client::new()
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("send");
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// The status of a plain `GET path` on the admin listener (0 when it does not answer).
    pub fn admin_status(&self, path: &str) -> u16 {
        use std::io::{Read, Write};
        let Ok(mut s) = std::net::TcpStream::connect(&self.admin) else {
            return 0;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let mut out = String::new();
        if s.write_all(req.as_bytes()).is_err() || s.read_to_string(&mut out).is_err() {
            return 0;
        }
        out.split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0)
    }

    /// Waits until `/health/ready` answers 200 (with Redis configured: once the first probe
    /// answered). Panics with the log otherwise.
    pub fn wait_ready(&self) {
        let ready = wait_until_blocking(Duration::from_secs(15), || {
            self.admin_status("/health/ready") == 200
        });
        assert!(ready, "not ready in 15 s:\n{}", self.log_text());
    }
}

fn text(log: &Mutex<String>) -> String {
    log.lock().map(|l| l.clone()).unwrap_or_default()
}

/// Waits until the gateway process `child` itself listens on every port in `ports` (the API and
/// the admin listener: a gateway whose admin listener is missing is not started).
fn wait_listening(
    child: &mut Child,
    log: &Mutex<String>,
    ports: &[u16],
    timeout: Duration,
) -> Result<(), StartError> {
    let pid = child.id();
    let mut failed = None;
    let up = wait_until_blocking(timeout, || {
        let now = text(log);
        // Pingora's "{addr} is in use, will try again" (it retries for 30 s), or the panic
        // after its last try.
        if now.contains("is in use") || now.contains("Address already in use") {
            failed = Some(StartError::PortInUse(now));
            return true;
        }
        if let Ok(Some(status)) = child.try_wait() {
            failed = Some(StartError::Exited(format!("{status}\n{now}")));
            return true;
        }
        ports.iter().all(|p| listens(pid, *p))
    });
    match failed {
        Some(e) => Err(e),
        None if up => Ok(()),
        None => {
            let missing: Vec<u16> = ports
                .iter()
                .copied()
                .filter(|p| !listens(pid, *p))
                .collect();
            Err(StartError::TimedOut(format!(
                "not listening on {missing:?} after {timeout:?}:\n{}",
                text(log)
            )))
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
