//! Starts the real `mock-upstream` binary on a free loopback port; killed on drop.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

/// A running mock upstream. `addr` is `host:port` (no scheme).
pub struct Mock {
    pub addr: String,
    child: Child,
}

impl Mock {
    /// Starts the mock, Hunyuan-strict for every chat request when `strict`.
    pub fn start(strict: bool) -> Mock {
        let args: &[&str] = if strict { &["--strict"] } else { &[] };
        Mock::start_with(args)
    }

    /// Starts the mock with extra CLI arguments. It listens on port 0 and reports the port it
    /// got, so there is no window in which another process can take a pre-chosen port.
    pub fn start_with(args: &[&str]) -> Mock {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mock-upstream"))
            .args(["--listen", "127.0.0.1:0", "--threads", "2"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn mock-upstream");
        let stdout = child.stdout.take().expect("mock stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(l) => l,
            Err(_) => {
                let _ = child.kill();
                panic!("mock-upstream did not start in time");
            }
        };
        let addr = match line.trim().strip_prefix("mock-upstream listening on ") {
            Some(a) => a.to_string(),
            None => {
                let _ = child.kill();
                panic!("unexpected mock-upstream output: {line:?}");
            }
        };
        Mock { addr, child }
    }

    /// `http://addr` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// `GET /_stats`.
    pub async fn stats(&self) -> Value {
        reqwest::get(self.url("/_stats"))
            .await
            .expect("GET /_stats")
            .json()
            .await
            .expect("stats JSON")
    }

    /// `POST /_stats/reset`.
    pub async fn reset(&self) {
        reqwest::Client::new()
            .post(self.url("/_stats/reset"))
            .send()
            .await
            .expect("POST /_stats/reset");
    }

    /// `POST /_control` with knobs such as `{"vision_fail_status": 502}`; returns all knobs.
    pub async fn control(&self, knobs: Value) -> Value {
        reqwest::Client::new()
            .post(self.url("/_control"))
            .json(&knobs)
            .send()
            .await
            .expect("POST /_control")
            .json()
            .await
            .expect("control JSON")
    }
}

impl Drop for Mock {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
