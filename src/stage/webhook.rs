//! `stages.<n>: {type: webhook}`: the request is POSTed to the company's own policy service
//! (see [`super::decision`] for what is sent and answered). The whole exchange is bounded by
//! `timeout_ms`; a service that is down, slow, or answers anything but a decision is an error,
//! and `on_error` decides (fail open: the request goes on; fail closed: 503).

use super::decision::{self, Context, Reply};
use crate::config::stages::WebhookSection;
use std::time::Duration;

#[derive(Debug)]
pub struct Webhook {
    pub url: reqwest::Url,
    pub timeout: Duration,
    headers: reqwest::header::HeaderMap,
    client: reqwest::Client,
}

/// Longest answer read from the service.
const MAX_ANSWER: usize = 16 << 20;

impl Webhook {
    pub fn new(s: &WebhookSection) -> Result<Webhook, String> {
        let url = reqwest::Url::parse(&s.url).map_err(|e| format!("url: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err("url: only http and https".into());
        }
        let mut headers = reqwest::header::HeaderMap::new();
        for (k, v) in &s.headers {
            let value = match v.strip_prefix("env:") {
                Some(var) => std::env::var(var).map_err(|_| {
                    format!("headers.{k}: the environment variable {var} is not set")
                })?,
                None => v.clone(),
            };
            let name = reqwest::header::HeaderName::from_bytes(k.as_bytes())
                .map_err(|e| format!("headers.{k}: {e}"))?;
            let mut value = reqwest::header::HeaderValue::from_str(&value)
                .map_err(|e| format!("headers.{k}: {e}"))?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        let timeout = Duration::from_millis(s.timeout_ms.max(1));
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .pool_idle_timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Webhook {
            url,
            timeout,
            headers,
            client,
        })
    }

    /// One decision; `Err` says why there is none.
    pub async fn call(
        &self,
        stage: &str,
        cx: &Context<'_>,
        chat: &serde_json::Value,
    ) -> Result<Reply, String> {
        let body = decision::envelope(stage, cx, chat);
        let work = async {
            let resp = self
                .client
                .post(self.url.clone())
                .headers(self.headers.clone())
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body)
                .send()
                .await
                .map_err(describe)?;
            let status = resp.status();
            if !status.is_success() {
                return Err(format!("the service answered {status}"));
            }
            let bytes = read_capped(resp).await?;
            decision::parse(&bytes)
        };
        // reqwest's timeout covers the exchange; this one covers the body read too.
        tokio::time::timeout(self.timeout, work)
            .await
            .unwrap_or_else(|_| {
                Err(format!(
                    "no decision within {} ms",
                    self.timeout.as_millis()
                ))
            })
    }
}

async fn read_capped(mut resp: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(describe)? {
        if out.len() + chunk.len() > MAX_ANSWER {
            return Err("the answer is larger than 16 MiB".into());
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

fn describe(e: reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "could not connect".into()
    } else {
        // Without the URL (it may carry a credential in its query).
        e.without_url().to_string()
    }
}
