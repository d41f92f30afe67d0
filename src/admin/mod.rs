//! The admin listener: operational JSON endpoints on their own port, so they are never exposed
//! with the API, and guarded by the admin key (`auth.admin_key_sha256`) when one is set.
//!
//! - `GET /admin/stats`, `POST /admin/stats/reset`: statistics per kind and per key id (with
//!   each configured key's `limits`).
//! - `GET /admin/overview`: what the status page and `llm-relay status` show, in one call.
//! - `GET /admin/cascade`: the image-description cache and vision call counters.
//! - `GET /admin/alerts`: every alert rule, firing or not.
//! - `POST /admin/reload`: re-read relay.yaml (as SIGHUP does).
//! - `/admin/keys`, `/admin/teams`, `/admin/audit`, `/admin/spend`: keys and teams managed at
//!   run time, and spend per day (see `keys`, `auth.store`).
//!
//! Unauthenticated (for Prometheus and load balancers; the listener is private by default):
//! - `GET /metrics`: Prometheus text format.
//! - `GET /health/live`, `GET /health/ready`, `GET /health`.
//! - `GET /`: the status page (static HTML; it asks for the admin key and sends it on its
//!   polls of `/admin/overview`, and on its Keys view's calls of `/admin/keys`,
//!   `/admin/teams` and `/admin/spend`).

use crate::cascade::CascadeState;
use crate::core::error::GatewayError;
use crate::runtime::ConfigHandle;
use async_trait::async_trait;

pub mod cli;
pub mod guard;
pub mod keys;
pub mod overview;
pub mod reload;
pub mod status;
pub mod warm;
use http::Response;
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use std::sync::Arc;

/// The admin application.
pub struct Admin {
    pub config: ConfigHandle,
    /// The relay.yaml to re-read on `POST /admin/reload`.
    pub config_path: Option<String>,
    pub cascade: Arc<CascadeState>,
    /// The size the cascade cache was built with (reloads do not resize it).
    pub cache_capacity: crate::runtime::health::CacheCapacity,
    /// The shared Redis, when configured: a `/health` component of its own.
    pub shared: Option<Arc<crate::state::redis::SharedState>>,
    /// The limiter: each key's usage against its limits in `/admin/stats`.
    pub limiter: Arc<crate::policy::limit::Limiter>,
    /// Keys managed at run time (`auth.store`): `/admin/keys`, `/admin/audit`.
    pub managed: Option<Arc<crate::policy::managed::ManagedKeys>>,
}

/// The largest warm-up body (data URLs included).
const WARM_BODY_LIMIT: usize = 64 << 20;

/// An admin request's body, at most `limit` bytes.
async fn read_body(session: &mut ServerSession, limit: usize) -> Result<Vec<u8>, GatewayError> {
    let mut body = Vec::new();
    loop {
        match session.read_request_body().await {
            Ok(Some(chunk)) if body.len() + chunk.len() > limit => {
                return Err(GatewayError::BodyTooLarge { limit })
            }
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) => return Ok(body),
            Err(e) => {
                return Err(GatewayError::bad_request(format!(
                    "The body could not be read: {e}"
                )))
            }
        }
    }
}

fn json(status: u16, body: Vec<u8>) -> Response<Vec<u8>> {
    let mut r = Response::new(body);
    *r.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::OK);
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r
}

/// The status page: one self-contained file (no external resources), built into the binary.
const PAGE: &str = include_str!("page.html");

fn page() -> Response<Vec<u8>> {
    let mut r = Response::new(PAGE.as_bytes().to_vec());
    let h = r.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/html; charset=utf-8"),
    );
    // Everything is inline and fetches go to this origin only; the key never leaves the page.
    h.insert(
        http::header::CONTENT_SECURITY_POLICY,
        http::HeaderValue::from_static(
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
             connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'none'",
        ),
    );
    h.insert(
        http::header::REFERRER_POLICY,
        http::HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    r
}

fn error(e: GatewayError) -> Response<Vec<u8>> {
    json(e.status(), e.body().to_vec())
}

impl Admin {
    /// Copies the cascade's counters into their gauges (at scrape time: no hot-path cost).
    fn export_cascade(&self) {
        let snap = self.cascade.cache.snapshot();
        let g = &crate::observe::metrics::metrics().cascade_cache;
        for (stat, v) in [
            ("hits", snap.hits),
            ("misses", snap.misses),
            ("evictions", snap.evictions),
            ("joins", snap.single_flight_joins),
            ("expired", snap.expired),
            ("entries", snap.entries as u64),
            ("bytes", snap.bytes),
        ] {
            g.with_label_values(&[stat]).set(v as i64);
        }
    }
}

#[async_trait]
impl ServeHttp for Admin {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let req = session.req_header();
        let (method, path) = (req.method.as_str().to_string(), req.uri.path().to_string());
        let rt = self.config.load();
        match path.as_str() {
            "/metrics" => {
                self.export_cascade();
                let mut r = json(200, crate::observe::metrics::metrics().render());
                r.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static("text/plain; version=0.0.4"),
                );
                return r;
            }
            "/" | "/index.html" if method == "GET" => return page(),
            "/health/live" => return json(200, crate::proxy::local::LIVE.to_vec()),
            "/health/ready" => {
                let (status, body) = crate::runtime::health::readiness(&rt);
                return json(status, body.to_string().into_bytes());
            }
            "/health" => {
                let mut report =
                    crate::runtime::health::report(&rt, &self.cascade, self.cache_capacity);
                if let Some(shared) = &self.shared {
                    let redis = shared.health();
                    if !shared.is_up() && report["status"] == "healthy" {
                        report["status"] = "degraded".into();
                    }
                    report["components"]["redis"] = redis;
                }
                return json(200, report.to_string().into_bytes());
            }
            _ => {}
        }
        let loopback = crate::runtime::is_loopback(&rt.admin_listen);
        if let Err(e) = guard::check(&req.method, &req.headers, rt.keys.has_admin_key(), loopback) {
            return error(e);
        }
        if !rt.keys.is_admin(&req.headers) {
            return error(GatewayError::Unauthorized {
                message: "The admin endpoints need the admin key.".into(),
            });
        }
        if keys::owns(&path) {
            let body = match read_body(session, 64 << 10).await {
                Ok(b) => b,
                Err(e) => return error(e),
            };
            let query = session.req_header().uri.query().map(str::to_string);
            let (status, doc) = keys::handle(keys::Call {
                managed: self.managed.as_deref(),
                limiter: &self.limiter,
                rt: &rt,
                method: &method,
                path: &path,
                query: query.as_deref(),
                body: &body,
            })
            .await;
            return json(status, doc.to_string().into_bytes());
        }
        let stats = crate::observe::stats::global();
        match (method.as_str(), path.as_str()) {
            ("GET", "/admin/stats") => {
                let mut doc = overview::stats_with_limits(&rt);
                for key in rt.keys.iter() {
                    if let Some(entry) = doc["keys"].get_mut(&key.id) {
                        entry["usage"] = self.limiter.usage(key).await;
                    }
                }
                doc["spend_today"] = keys::spend_today_doc(self.managed.as_deref()).await;
                json(200, doc.to_string().into_bytes())
            }
            ("GET", "/admin/overview") => {
                let managed: std::collections::HashSet<String> = self
                    .managed
                    .as_ref()
                    .map(|m| m.ids().into_iter().collect())
                    .unwrap_or_default();
                let doc = overview::overview(&rt, &self.cascade, self.cache_capacity, &managed);
                let mut r = json(200, doc.to_string().into_bytes());
                r.headers_mut().insert(
                    http::header::CACHE_CONTROL,
                    http::HeaderValue::from_static("no-store"),
                );
                r
            }
            ("POST", "/admin/stats/reset") => {
                stats.reset();
                json(200, br#"{"reset":true}"#.to_vec())
            }
            ("POST", "/admin/reload") => {
                match crate::admin::reload::reload(
                    &self.config,
                    self.config_path.as_deref(),
                    self.managed.as_deref(),
                )
                .await
                {
                    Ok(summary) => json(
                        200,
                        serde_json::json!({"reloaded": true, "config": summary})
                            .to_string()
                            .into_bytes(),
                    ),
                    Err(e) => error(GatewayError::bad_request(format!(
                        "Reload refused, the running config stays: {e}"
                    ))),
                }
            }
            ("GET", "/admin/alerts") => json(
                200,
                crate::runtime::alerts::snapshot().to_string().into_bytes(),
            ),
            ("GET", "/admin/cascade") => {
                json(200, self.cascade.snapshot().to_string().into_bytes())
            }
            ("POST", "/admin/cascade/warm") => {
                let body = match read_body(session, WARM_BODY_LIMIT).await {
                    Ok(b) => b,
                    Err(e) => return error(e),
                };
                let rt = self.config.load_full();
                match warm::warm(&rt, &self.cascade, &body).await {
                    Ok(doc) => json(200, doc.to_string().into_bytes()),
                    Err(e) => error(e),
                }
            }
            (
                _,
                "/admin/stats"
                | "/admin/stats/reset"
                | "/admin/cascade"
                | "/admin/alerts"
                | "/admin/reload"
                | "/admin/overview"
                | "/admin/cascade/warm",
            ) => error(GatewayError::MethodNotAllowed { method, path }),
            _ => error(GatewayError::NotFound { path }),
        }
    }
}
