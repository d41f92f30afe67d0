//! `/admin/keys` and `/admin/audit` (issue 22): keys managed at run time.
//!
//! - `POST /admin/keys` `{id, team, models, rpm, rpd, tpm, tpd, max_concurrency, budget_usd,
//!   expires, metadata}` → 201 with `secret` (shown this once; only its SHA-256 is kept).
//! - `GET /admin/keys`: managed keys, and the config file's keys (read-only, `source:
//!   "config"`). `GET /admin/keys/{id}`: one.
//! - `PATCH /admin/keys/{id}`: the fields given (`null` clears a limit).
//! - `POST /admin/keys/{id}/rotate` `{grace_seconds}` (default 0) → a new `secret`; the old one
//!   is valid until the grace ends.
//! - `DELETE /admin/keys/{id}`: revoked (refused from then on; the record stays for the audit).
//! - `GET /admin/audit?limit=N`: every change, newest first: who, what, when, before and after
//!   (never a secret or a hash).

use crate::core::error::GatewayError;
use crate::policy::managed::record::KeyFields;
use crate::policy::managed::{store, ManagedKeys};
use crate::runtime::Runtime;
use serde_json::{json, Value};
use std::time::Duration;

/// Answers one request: (status, JSON body).
pub fn handle(
    managed: Option<&ManagedKeys>,
    rt: &Runtime,
    method: &str,
    path: &str,
    body: &[u8],
) -> (u16, Value) {
    let Some(m) = managed else {
        let e = GatewayError::NotFound {
            path: format!("{path} (keys are managed at run time only with `auth.store`)"),
        };
        return (404, body_of(&e));
    };
    let rest = path.strip_prefix("/admin/keys").unwrap_or("");
    let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let result = match (method, path, segs.as_slice()) {
        ("GET", "/admin/audit", _) => m
            .store()
            .audit(1000)
            .map(|entries| (200, json!({"entries": entries})))
            .map_err(internal),
        ("GET", _, []) => list(m, rt),
        ("POST", _, []) => create(m, rt, body),
        ("GET", _, [id]) => match m.store().get(id) {
            Ok(Some(r)) => Ok((200, r.public())),
            Ok(None) => config_key(rt, id).ok_or_else(|| not_found(id)),
            Err(e) => Err(store_error(e, id)),
        },
        ("PATCH", _, [id]) => fields(body).and_then(|f| {
            m.update(id, f)
                .map(|(_, after)| (200, after.public()))
                .map_err(|e| store_error(e, id))
        }),
        ("DELETE", _, [id]) => m
            .revoke(id)
            .map(|(_, after)| (200, after.public()))
            .map_err(|e| store_error(e, id)),
        ("POST", _, [id, "rotate"]) => {
            let grace = serde_json::from_slice::<Value>(body)
                .ok()
                .and_then(|v| v.get("grace_seconds").and_then(Value::as_u64))
                .unwrap_or(0);
            m.rotate(id, Duration::from_secs(grace.min(30 * 86400)))
                .map(|(after, secret)| {
                    let mut v = after.public();
                    v["secret"] = Value::from(secret);
                    (200, v)
                })
                .map_err(|e| store_error(e, id))
        }
        _ => Err(GatewayError::MethodNotAllowed {
            method: method.to_string(),
            path: path.to_string(),
        }),
    };
    match result {
        Ok(ok) => ok,
        Err(e) => (e.status(), body_of(&e)),
    }
}

fn body_of(e: &GatewayError) -> Value {
    serde_json::from_slice(&e.body()).unwrap_or(Value::Null)
}

fn internal(e: String) -> GatewayError {
    GatewayError::Internal {
        message: format!("the key store: {e}"),
    }
}

fn not_found(id: &str) -> GatewayError {
    GatewayError::NotFound {
        path: format!("/admin/keys/{id}"),
    }
}

fn store_error(e: store::Error, id: &str) -> GatewayError {
    match e {
        store::Error::NotFound => not_found(id),
        store::Error::Exists => GatewayError::bad_param(format!("The key `{id}` exists."), "id"),
        store::Error::Invalid(m) => GatewayError::bad_request(m),
        store::Error::Io(m) => internal(m),
    }
}

fn fields(body: &[u8]) -> Result<KeyFields, GatewayError> {
    serde_json::from_slice(body)
        .map_err(|e| GatewayError::bad_request(format!("The body is not a key's fields: {e}")))
}

fn config_key(rt: &Runtime, id: &str) -> Option<(u16, Value)> {
    rt.keys.iter().find(|k| k.id == id).map(|k| {
        (
            200,
            json!({"id": k.id, "source": "config", "read_only": true}),
        )
    })
}

fn list(m: &ManagedKeys, rt: &Runtime) -> Result<(u16, Value), GatewayError> {
    let mut keys: Vec<Value> = m
        .store()
        .keys()
        .map_err(internal)?
        .iter()
        .map(|r| r.public())
        .collect();
    keys.extend(
        rt.keys
            .iter()
            .map(|k| json!({"id": k.id, "source": "config", "read_only": true})),
    );
    Ok((200, json!({"keys": keys})))
}

fn create(m: &ManagedKeys, rt: &Runtime, body: &[u8]) -> Result<(u16, Value), GatewayError> {
    let f = fields(body)?;
    let Some(id) = f.id.clone() else {
        return Err(GatewayError::bad_param("`id` is required.", "id"));
    };
    if rt.keys.iter().any(|k| k.id == id) {
        return Err(GatewayError::bad_param(
            format!("The key `{id}` is in the config file (read-only)."),
            "id",
        ));
    }
    let (rec, secret) = m.create(f, id.clone()).map_err(|e| store_error(e, &id))?;
    let mut v = rec.public();
    v["secret"] = Value::from(secret);
    Ok((201, v))
}
