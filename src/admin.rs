//! The admin listener: operational JSON endpoints, on their own port so they are never exposed
//! with the API. `GET /admin/cascade`: the image-description cache and vision call counters.

use crate::chat::cascade::CascadeState;
use async_trait::async_trait;
use http::Response;
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use std::sync::Arc;

/// The admin application.
pub struct Admin {
    pub cascade: Arc<CascadeState>,
}

fn json(status: u16, body: String) -> Response<Vec<u8>> {
    let mut r = Response::new(body.into_bytes());
    *r.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::OK);
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r
}

#[async_trait]
impl ServeHttp for Admin {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let path = session.req_header().uri.path().to_string();
        match path.as_str() {
            "/admin/cascade" => json(200, self.cascade.snapshot().to_string()),
            _ => {
                let e = crate::error::GatewayError::NotFound { path };
                json(404, String::from_utf8_lossy(&e.body()).into_owned())
            }
        }
    }
}
