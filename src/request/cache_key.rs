//! The exact response cache's key: which requests are cached (the route's `cache` mode, the
//! `x-llm-relay-cache` opt-in, `temperature: 0`) and under what (the path, the pool, the
//! model, the key or `*` when shared, and the body with sorted keys). The cache itself is
//! `crate::state::response_cache`.

use crate::config::choices::CacheMode;
use crate::core::kind::Kind;
use crate::request::prepare::Prepared;
use crate::state::response_cache::CacheKey;
use serde::Deserialize;
use sha2::{Digest, Sha256};

#[derive(Deserialize)]
struct Temperature {
    #[serde(default)]
    temperature: Option<f64>,
}

/// The key of a cacheable request, `None` when this request is not cached.
pub fn key(
    p: &Prepared,
    path: &str,
    opt_in: Option<&str>,
    key_id: Option<&str>,
) -> Option<CacheKey> {
    let policy = p.target.cache;
    if policy.mode == CacheMode::Never || opt_in == Some("off") || p.translation.is_some() {
        return None;
    }
    let cacheable = match p.kind {
        Kind::Embeddings => true,
        Kind::Chat => {
            policy.mode == CacheMode::Always
                || opt_in == Some("on")
                || serde_json::from_slice::<Temperature>(&p.body)
                    .is_ok_and(|t| t.temperature == Some(0.0))
        }
        _ => false,
    };
    if !cacheable {
        return None;
    }
    // One key order: serde_json's maps are sorted.
    let body: serde_json::Value = serde_json::from_slice(&p.body).ok()?;
    let mut h = Sha256::new();
    for part in [path, &p.target.pool.name, &p.target.model] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    h.update(
        if policy.shared {
            "*"
        } else {
            key_id.unwrap_or("-")
        }
        .as_bytes(),
    );
    h.update([0]);
    h.update(body.to_string().as_bytes());
    Some(h.finalize().into())
}
