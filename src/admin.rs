//! The admin listener: operational JSON endpoints on their own port, so they are never exposed
//! with the API, and guarded by the admin key (`auth.admin_key_sha256`) when one is set.
//!
//! - `GET /admin/stats`, `POST /admin/stats/reset`: statistics per kind and per key id.
//! - `GET /admin/cascade`: the image-description cache and vision call counters.

use crate::chat::cascade::CascadeState;
use crate::config::ConfigHandle;
use crate::error::GatewayError;
use async_trait::async_trait;
use http::Response;
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use std::sync::Arc;

/// The admin application.
pub struct Admin {
    pub config: ConfigHandle,
    pub cascade: Arc<CascadeState>,
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

fn error(e: GatewayError) -> Response<Vec<u8>> {
    json(e.status(), e.body().to_vec())
}

#[async_trait]
impl ServeHttp for Admin {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let req = session.req_header();
        let (method, path) = (req.method.as_str().to_string(), req.uri.path().to_string());
        if !self.config.load().keys.is_admin(&req.headers) {
            return error(GatewayError::Unauthorized {
                message: "The admin endpoints need the admin key.".into(),
            });
        }
        let stats = crate::stats::global();
        match (method.as_str(), path.as_str()) {
            ("GET", "/admin/stats") => json(200, stats.to_json().to_string().into_bytes()),
            ("POST", "/admin/stats/reset") => {
                stats.reset();
                json(200, br#"{"reset":true}"#.to_vec())
            }
            ("GET", "/admin/cascade") => {
                json(200, self.cascade.snapshot().to_string().into_bytes())
            }
            (_, "/admin/stats" | "/admin/stats/reset" | "/admin/cascade") => {
                error(GatewayError::MethodNotAllowed { method, path })
            }
            _ => error(GatewayError::NotFound { path }),
        }
    }
}
