//! What the admin key does not stop: a web page in the operator's browser reaching the admin
//! listener. A cross-site `POST` with a `text/plain` body needs no preflight, so without this a
//! page could rotate a key (cutting its owner off), reset statistics or reload the config; and
//! when no admin key is set (a loopback listener), a DNS-rebinding page could read it all.
//!
//! - A request that changes something and carries an `Origin` must come from the listener's
//!   own origin (the status page's fetches do; `curl`, the CLI and SDKs send none).
//! - Without an admin key, on a loopback listener, the `Host` must be a loopback name
//!   (`localhost`, `127.0.0.0/8`, `[::1]`), which a rebinding page cannot send.

use crate::core::error::GatewayError;
use http::{HeaderMap, Method};

/// Refuses a browser-borne request to the admin listener (403), or lets it through.
pub fn check(
    method: &Method,
    headers: &HeaderMap,
    has_admin_key: bool,
    loopback: bool,
) -> Result<(), GatewayError> {
    let host = headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if !has_admin_key && loopback && !is_loopback_host(host) {
        return Err(refused(format!(
            "The admin listener answers only `localhost`, `127.0.0.1` or `[::1]` without an \
             admin key (Host `{host}`)."
        )));
    }
    let changes = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    if let Some(origin) = headers.get(http::header::ORIGIN) {
        let same = origin
            .to_str()
            .ok()
            .and_then(|o| o.split_once("://"))
            .is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(host));
        if changes && !same {
            return Err(refused(
                "A cross-origin change to the admin listener is refused.".into(),
            ));
        }
    }
    Ok(())
}

fn refused(message: String) -> GatewayError {
    GatewayError::Forbidden { message }
}

/// `localhost`, `127.x.y.z` or `[::1]`, with or without a port.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.to_canonical().is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().expect("value"));
        }
        h
    }

    #[test]
    fn cross_origin_changes_are_refused_same_origin_ones_pass() {
        let evil = headers(&[
            ("host", "127.0.0.1:9091"),
            ("origin", "https://evil.example"),
        ]);
        assert!(check(&Method::POST, &evil, true, true).is_err());
        assert!(
            check(&Method::GET, &evil, true, true).is_ok(),
            "reads need the key"
        );
        let page = headers(&[
            ("host", "127.0.0.1:9091"),
            ("origin", "http://127.0.0.1:9091"),
        ]);
        assert!(check(&Method::DELETE, &page, true, true).is_ok());
        let cli = headers(&[("host", "10.0.0.5:9091")]);
        assert!(check(&Method::POST, &cli, true, false).is_ok());
        let null = headers(&[("host", "127.0.0.1:9091"), ("origin", "null")]);
        assert!(check(&Method::POST, &null, true, true).is_err());
    }

    #[test]
    fn without_an_admin_key_only_loopback_names_are_answered() {
        for ok in [
            "localhost:9091",
            "127.0.0.1:9091",
            "[::1]:9091",
            "127.0.0.2",
            "LOCALHOST",
        ] {
            assert!(
                check(&Method::GET, &headers(&[("host", ok)]), false, true).is_ok(),
                "{ok}"
            );
        }
        for bad in ["rebind.evil.example:9091", "10.0.0.5:9091", ""] {
            assert!(
                check(&Method::GET, &headers(&[("host", bad)]), false, true).is_err(),
                "{bad}"
            );
        }
        // With a key, or on a listener that is not loopback (auth.open), the key is the guard.
        let lan = headers(&[("host", "10.0.0.5:9091")]);
        assert!(check(&Method::GET, &lan, true, true).is_ok());
        assert!(check(&Method::GET, &lan, false, false).is_ok());
    }
}
