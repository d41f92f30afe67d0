//! CORS for browser clients (`server.cors`). One downstream module adds the headers to every
//! answer the client gets, whoever wrote it: local answers and errors (`respond.rs`), the
//! piped upstream answer (JSON and SSE), Pingora's own error pages. The preflight itself is
//! answered by the parent before authentication (browsers send it without credentials), see
//! [`is_preflight`] and [`answer_preflight`].
//!
//! Off (no `server.cors`): the module's per-request context is a zero-sized type, so a request
//! pays one config load and one `Option` check. The config is read per request, so a reload
//! switches CORS on or off.
//!
//! Allowed request headers: the preflight answer lists the headers the browser asked for
//! (`Access-Control-Request-Headers`) that match `allow_headers` (exact names, or prefixes
//! ending in `*` such as `x-stainless-*`; a lone `*` allows any). Echoing the matching subset
//! instead of a fixed list keeps the answer short and lets one prefix cover the SDKs' changing
//! `x-stainless-*` family; `Access-Control-Allow-Headers: *` would not do, as it never covers
//! `Authorization`.

use crate::config::error::ConfigError;
use crate::config::file::CorsSection;
use async_trait::async_trait;
use http::{HeaderMap, HeaderValue, Method};
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::modules::http::{HttpModule, Module};
use pingora::proxy::Session;
use std::any::Any;
use std::sync::Arc;

const ALLOW_METHODS: &str = "GET, POST, DELETE, HEAD, OPTIONS";

/// The validated `server.cors`.
#[derive(Debug)]
pub struct Cors {
    /// Exact origins (lower-case scheme and host, as browsers send them).
    origins: Vec<String>,
    any_origin: bool,
    /// Lower-case names; entries ending in `*` are prefixes.
    allow_headers: Vec<String>,
    expose: HeaderValue,
    max_age: HeaderValue,
}

impl TryFrom<&CorsSection> for Cors {
    type Error = ConfigError;

    fn try_from(s: &CorsSection) -> Result<Cors, ConfigError> {
        if s.allow_origins.is_empty() {
            return Err(ConfigError::at(
                "allow_origins",
                "at least one origin is needed",
            ));
        }
        let mut origins = Vec::new();
        let mut any_origin = false;
        for (i, o) in s.allow_origins.iter().enumerate() {
            if o == "*" {
                any_origin = true;
                continue;
            }
            let ok = (o.starts_with("http://") || o.starts_with("https://"))
                && !o.ends_with('/')
                && o.split("://")
                    .nth(1)
                    .is_some_and(|h| !h.is_empty() && !h.contains('/'));
            if !ok {
                return Err(ConfigError::at(
                    format!("allow_origins[{i}]"),
                    format!("`{o}`: an origin is `scheme://host[:port]` (no path) or `*`"),
                ));
            }
            origins.push(o.to_ascii_lowercase());
        }
        let allow_headers = s
            .allow_headers
            .iter()
            .map(|h| h.trim().to_ascii_lowercase())
            .collect();
        let expose = HeaderValue::from_str(&s.expose_headers.join(", "))
            .map_err(|_| ConfigError::at("expose_headers", "not a valid header list"))?;
        Ok(Cors {
            origins,
            any_origin,
            allow_headers,
            expose,
            max_age: HeaderValue::from(s.max_age_seconds),
        })
    }
}

impl Cors {
    /// Whether a page from `origin` may read answers.
    fn allows(&self, origin: &[u8]) -> bool {
        self.any_origin
            || self
                .origins
                .iter()
                .any(|o| o.as_bytes().eq_ignore_ascii_case(origin))
    }

    fn allows_header(&self, name: &str) -> bool {
        self.allow_headers
            .iter()
            .any(|a| match a.strip_suffix('*') {
                Some(prefix) => name.starts_with(prefix),
                None => a == name,
            })
    }

    /// The requested headers that are allowed, as the preflight answer lists them.
    fn allowed_request_headers(&self, requested: &str) -> String {
        requested
            .split(',')
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty() && self.allows_header(h))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A CORS preflight: `OPTIONS` with `Origin` and `Access-Control-Request-Method`.
pub fn is_preflight(req: &RequestHeader) -> bool {
    req.method == Method::OPTIONS
        && req.headers.contains_key(http::header::ORIGIN)
        && req
            .headers
            .contains_key(http::header::ACCESS_CONTROL_REQUEST_METHOD)
}

/// Answers a preflight: 204 with no body; the module adds the CORS headers when the origin is
/// allowed (a disallowed origin gets none, and the browser blocks the request).
pub async fn answer_preflight(session: &mut Session) -> pingora::Result<()> {
    let h = ResponseHeader::build(204, Some(4))?;
    session.write_response_header(Box::new(h), true).await
}

/// The module's context for one request (`HttpModuleBuilder::init`): with CORS off a
/// zero-sized no-op, so boxing it allocates nothing. (Pingora indexes modules by the type of the
/// first request's context; nothing looks this module up by type.)
pub fn module(cors: Option<&Arc<Cors>>) -> Module {
    match cors {
        None => Box::new(CorsOff),
        Some(c) => Box::new(CorsOn {
            cors: c.clone(),
            seen: None,
        }),
    }
}

/// The module's context when CORS is off: does nothing.
struct CorsOff;

#[async_trait]
impl HttpModule for CorsOff {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// What the request said, kept for its answer.
struct Seen {
    origin: HeaderValue,
    allowed: bool,
    /// Preflight only: the allowed subset of `Access-Control-Request-Headers`.
    preflight_headers: Option<String>,
}

struct CorsOn {
    cors: Arc<Cors>,
    seen: Option<Seen>,
}

#[async_trait]
impl HttpModule for CorsOn {
    async fn request_header_filter(&mut self, req: &mut RequestHeader) -> pingora::Result<()> {
        let Some(origin) = req.headers.get(http::header::ORIGIN) else {
            return Ok(());
        };
        let allowed = self.cors.allows(origin.as_bytes());
        let preflight_headers = is_preflight(req).then(|| {
            header(&req.headers, http::header::ACCESS_CONTROL_REQUEST_HEADERS)
                .map(|h| self.cors.allowed_request_headers(h))
                .unwrap_or_default()
        });
        self.seen = Some(Seen {
            origin: origin.clone(),
            allowed,
            preflight_headers,
        });
        Ok(())
    }

    async fn response_header_filter(
        &mut self,
        resp: &mut ResponseHeader,
        _end_of_stream: bool,
    ) -> pingora::Result<()> {
        // The gateway owns CORS: an upstream's own CORS headers never reach the client.
        for name in &UPSTREAM_CORS {
            resp.remove_header(name);
        }
        if !self.cors.any_origin {
            add_vary_origin(resp)?;
        }
        let Some(seen) = self.seen.as_ref().filter(|s| s.allowed) else {
            return Ok(());
        };
        if self.cors.any_origin {
            resp.insert_header(http::header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")?;
        } else {
            resp.insert_header(
                http::header::ACCESS_CONTROL_ALLOW_ORIGIN,
                seen.origin.clone(),
            )?;
        }
        match &seen.preflight_headers {
            Some(allowed) => {
                resp.insert_header(http::header::ACCESS_CONTROL_ALLOW_METHODS, ALLOW_METHODS)?;
                if !allowed.is_empty() {
                    resp.insert_header(
                        http::header::ACCESS_CONTROL_ALLOW_HEADERS,
                        allowed.as_str(),
                    )?;
                }
                resp.insert_header(
                    http::header::ACCESS_CONTROL_MAX_AGE,
                    self.cors.max_age.clone(),
                )?;
            }
            None if !self.cors.expose.is_empty() => {
                resp.insert_header(
                    http::header::ACCESS_CONTROL_EXPOSE_HEADERS,
                    self.cors.expose.clone(),
                )?;
            }
            None => {}
        }
        Ok(())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

const UPSTREAM_CORS: [http::header::HeaderName; 6] = [
    http::header::ACCESS_CONTROL_ALLOW_ORIGIN,
    http::header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
    http::header::ACCESS_CONTROL_ALLOW_HEADERS,
    http::header::ACCESS_CONTROL_ALLOW_METHODS,
    http::header::ACCESS_CONTROL_EXPOSE_HEADERS,
    http::header::ACCESS_CONTROL_MAX_AGE,
];

/// `Vary: Origin`, once (the module runs for the subrequest's answer and again for the
/// client's).
fn add_vary_origin(resp: &mut ResponseHeader) -> pingora::Result<()> {
    let present = resp
        .headers
        .get_all(http::header::VARY)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|v| v.trim().eq_ignore_ascii_case("origin"));
    if !present {
        resp.append_header(http::header::VARY, "Origin")?;
    }
    Ok(())
}

fn header(h: &HeaderMap, name: http::header::HeaderName) -> Option<&str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cors(origins: &[&str]) -> Cors {
        let s = CorsSection {
            allow_origins: origins.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        Cors::try_from(&s).unwrap()
    }

    #[test]
    fn origins_are_exact_or_any() {
        let c = cors(&["https://app.example"]);
        assert!(c.allows(b"https://app.example"));
        assert!(c.allows(b"HTTPS://APP.example"));
        assert!(!c.allows(b"https://app.example.evil"));
        assert!(!c.allows(b"http://app.example"));
        assert!(cors(&["*"]).allows(b"http://x"));
        let bad = CorsSection {
            allow_origins: vec!["https://app.example/".into()],
            ..Default::default()
        };
        let e = Cors::try_from(&bad).unwrap_err();
        assert_eq!(e.path, "allow_origins[0]");
        let none = CorsSection::default();
        assert!(Cors::try_from(&none).is_err());
    }

    #[test]
    fn preflight_lists_the_allowed_requested_headers() {
        let c = cors(&["*"]);
        assert_eq!(
            c.allowed_request_headers(
                "Authorization, content-type,x-stainless-os, X-Stainless-Retry-Count, x-evil"
            ),
            "authorization, content-type, x-stainless-os, x-stainless-retry-count"
        );
        let any = CorsSection {
            allow_origins: vec!["*".into()],
            allow_headers: vec!["*".into()],
            ..Default::default()
        };
        let any = Cors::try_from(&any).unwrap();
        assert_eq!(any.allowed_request_headers("x-evil"), "x-evil");
    }
}
