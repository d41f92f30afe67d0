//! Which client request headers go upstream: an allow-list per pool (`pools.<name>.
//! forward_headers`, else [`DEFAULT_FORWARD`], plus the top-level `forward_headers_add`).
//! Everything else the client sent stays here: `Cookie`, `OpenAI-Organization` and
//! `OpenAI-Project` (which choose or bill an organisation under the operator's provider key),
//! `X-Forwarded-*`, the gateway's own controls. The list is compiled at config load; on the
//! request path a header is one hash lookup, then a scan of the few prefixes.

use crate::config::error::ConfigError;
use std::collections::HashSet;

/// What the SDKs and tracing need. `x-stainless-*` are the OpenAI and Anthropic SDKs'
/// descriptions of themselves (language, version, OS, arch, runtime, retry count, timeout):
/// harmless, and some OpenAI-compatible servers read the timeout. `openai-beta` and
/// `anthropic-version` / `anthropic-beta` select API versions and features of the request
/// itself (needed by a pass-through to a provider that speaks them), never an account.
pub const DEFAULT_FORWARD: [&str; 11] = [
    "accept",
    "content-type",
    "user-agent",
    "x-stainless-*",
    "openai-beta",
    "anthropic-version",
    "anthropic-beta",
    "traceparent",
    "tracestate",
    "x-request-id",
    "idempotency-key",
];

/// Headers that are never forwarded, whatever a list says: the client's credentials for the
/// gateway (the provider key takes their place).
const NEVER: [&str; 5] = [
    "authorization",
    "x-api-key",
    "api-key",
    "proxy-authorization",
    "x-goog-api-key",
];

/// A compiled allow-list: exact lowercase names and name prefixes (`x-stainless-*`).
#[derive(Debug, Clone)]
pub struct Forward {
    exact: HashSet<Box<str>>,
    prefixes: Vec<Box<str>>,
}

impl Default for Forward {
    fn default() -> Self {
        Forward::new(DEFAULT_FORWARD.iter().copied()).unwrap_or_else(|_| Forward {
            exact: HashSet::new(),
            prefixes: Vec::new(),
        })
    }
}

impl Forward {
    /// Compiles `entries` (header names, or prefixes ending in `*`); a bad entry is an error
    /// naming its index.
    pub fn new<'a>(entries: impl IntoIterator<Item = &'a str>) -> Result<Forward, ConfigError> {
        let mut f = Forward {
            exact: HashSet::new(),
            prefixes: Vec::new(),
        };
        for (i, e) in entries.into_iter().enumerate() {
            let lower = e.trim().to_ascii_lowercase();
            let (name, glob) = match lower.strip_suffix('*') {
                Some(prefix) => (prefix, true),
                None => (lower.as_str(), false),
            };
            if name.is_empty() || http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                return Err(ConfigError::at(
                    format!("[{i}]"),
                    format!("`{e}` is not a header name or a prefix ending in `*` (a bare `*` is not allowed)"),
                ));
            }
            if NEVER.iter().any(|n| {
                if glob {
                    n.starts_with(name)
                } else {
                    *n == name
                }
            }) {
                return Err(ConfigError::at(
                    format!("[{i}]"),
                    format!("`{e}` would match the client's credential, which is never forwarded"),
                ));
            }
            if glob {
                f.prefixes.push(name.into());
            } else {
                f.exact.insert(name.into());
            }
        }
        Ok(f)
    }

    /// Adds `other`'s entries (`forward_headers_add`).
    pub fn extend(&mut self, other: Forward) {
        self.exact.extend(other.exact);
        self.prefixes.extend(other.prefixes);
    }

    /// Whether a header (its lowercase name, as `http::HeaderName` keeps it) goes upstream.
    pub fn allows(&self, name: &str) -> bool {
        self.exact.contains(name) || self.prefixes.iter().any(|p| name.starts_with(&**p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_list_keeps_sdk_and_tracing_headers_only() {
        let f = Forward::default();
        for ok in [
            "content-type",
            "x-stainless-os",
            "traceparent",
            "anthropic-version",
        ] {
            assert!(f.allows(ok), "{ok}");
        }
        for no in [
            "cookie",
            "openai-organization",
            "openai-project",
            "x-forwarded-for",
            "authorization",
            "x-llm-relay-cache",
        ] {
            assert!(!f.allows(no), "{no}");
        }
    }

    #[test]
    fn entries_are_checked() {
        assert!(Forward::new(["X-Tenant", "x-b3-*"])
            .is_ok_and(|f| f.allows("x-tenant") && f.allows("x-b3-traceid")));
        let bad_ones = [
            "*",
            "",
            "bad header",
            "authorization",
            "x-api-*",
            "a*",
            "x-goog-api-key",
            "x-goog-*",
        ];
        for bad in bad_ones {
            let e = Forward::new([bad]);
            assert!(e.is_err(), "{bad:?} is refused");
        }
    }
}
