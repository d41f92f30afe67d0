//! Starts the real `llm-relay` binary on a free loopback port with a given relay.yaml.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A free loopback port (bound then released: a tiny race, acceptable in tests).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A unique scratch directory for one test's files.
pub fn scratch(tag: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("llm-relay-test-{}-{tag}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
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
        let port = free_port();
        let admin_port = free_port();
        let dir = scratch("gw");
        let cfg = dir.join("relay.yaml");
        let full = format!(
            "server:\n  listen: [\"127.0.0.1:{port}\"]\n  admin_listen: \"127.0.0.1:{admin_port}\"\n{yaml}"
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
        let addr = format!("127.0.0.1:{port}");
        let t0 = Instant::now();
        while TcpStream::connect(&addr).is_err() {
            if t0.elapsed() > Duration::from_secs(20) {
                panic!(
                    "gateway did not start: {}",
                    log.lock().map(|l| l.clone()).unwrap_or_default()
                );
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "gateway exited ({status}): {}",
                    log.lock().map(|l| l.clone()).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let admin = format!("127.0.0.1:{admin_port}");
        while TcpStream::connect(&admin).is_err() && t0.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(20));
        }
        Gateway {
            addr,
            admin,
            port,
            dir,
            child,
            log,
        }
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
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
