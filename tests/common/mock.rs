//! Starts the bundled mock upstream on a free loopback port; stopped on drop.
#![allow(dead_code)]

use serde_json::Value;

/// A running mock upstream. `addr` is `host:port` (no scheme).
pub struct Mock {
    pub addr: String,
    _running: mock_upstream::Running,
}

impl Mock {
    /// Starts the mock (the `mock-upstream` crate's server, on its own thread and runtime in
    /// this process) on a port the OS picks, Hunyuan-strict for every chat request when
    /// `strict`. Binding port 0 leaves no window in which another process can take the port.
    pub fn start(strict: bool) -> Mock {
        let running = mock_upstream::spawn(strict).expect("start the mock upstream");
        Mock {
            addr: running.addr.to_string(),
            _running: running,
        }
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
