//! `/admin/keys`, `/admin/teams`, `/admin/audit` and `/admin/spend` (issue 22): keys and teams
//! managed at run time.
//!
//! - `POST /admin/keys` `{id, team, models, rpm, rpd, tpm, tpd, max_concurrency, budget_usd,
//!   budget_period, expires, metadata}` → 201 with `secret` (shown this once; only its SHA-256
//!   is kept). A `team` must exist.
//! - `GET /admin/keys`: managed keys, and the config file's keys (read-only, `source:
//!   "config"`), each with its `usage` against its limits and `spend_today_usd`.
//!   `GET /admin/keys/{id}`: one.
//! - `PATCH /admin/keys/{id}`: the fields given (`null` clears a limit).
//! - `POST /admin/keys/{id}/rotate` `{grace_seconds}` (default 0) → a new `secret`; the old one
//!   is valid until the grace ends.
//! - `DELETE /admin/keys/{id}`: revoked (refused from then on; the record stays for the audit).
//! - `POST/GET /admin/teams`, `GET/PATCH/DELETE /admin/teams/{id}`: teams, whose limits and
//!   budget cap the total of their keys; a team with live keys is not deleted (409).
//! - `GET /admin/audit?limit=N`: every change, newest first: who, what, when, before and after
//!   (never a secret or a hash).
//! - `GET /admin/spend?days=N`: spend per key and team per UTC day, newest first.

use crate::core::error::GatewayError;
use crate::policy::limit::Limiter;
use crate::policy::managed::record::{Fields, KeyRecord, TeamRecord};
use crate::policy::managed::spend::{self, day_name, today};
use crate::policy::managed::store::{Error, Spend};
use crate::policy::managed::ManagedKeys;
use crate::runtime::Runtime;
use serde_json::{json, Map, Value};
use std::time::Duration;

/// One admin request about keys, teams, the audit or spend.
pub struct Call<'a> {
    pub managed: Option<&'a ManagedKeys>,
    pub limiter: &'a Limiter,
    pub rt: &'a Runtime,
    pub method: &'a str,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub body: &'a [u8],
}

/// Whether `path` is one of this module's.
pub fn owns(path: &str) -> bool {
    ["/admin/keys", "/admin/teams"]
        .iter()
        .any(|p| path == *p || path.strip_prefix(p).is_some_and(|r| r.starts_with('/')))
        || path == "/admin/audit"
        || path == "/admin/spend"
}

/// Answers one request: (status, JSON body).
pub async fn handle(c: Call<'_>) -> (u16, Value) {
    let result = match c.managed {
        None if c.path == "/admin/spend" => spend_days(&c, None).await,
        None => Err(GatewayError::NotFound {
            path: format!(
                "{} (keys are managed at run time only with `auth.store`)",
                c.path
            ),
        }),
        Some(m) => route(&c, m).await,
    };
    match result {
        Ok(ok) => ok,
        Err(e) => (e.status(), body_of(&e)),
    }
}

type Answer = Result<(u16, Value), GatewayError>;

async fn route(c: &Call<'_>, m: &ManagedKeys) -> Answer {
    if c.path == "/admin/audit" {
        return match c.method {
            "GET" => {
                let limit = query_num(c.query, "limit").unwrap_or(1000).clamp(1, 10_000);
                let entries = m.audit(limit as usize).await.map_err(|e| fail(e, ""))?;
                Ok((200, json!({"entries": entries})))
            }
            _ => Err(not_allowed(c)),
        };
    }
    if c.path == "/admin/spend" {
        return match c.method {
            "GET" => spend_days(c, Some(m)).await,
            _ => Err(not_allowed(c)),
        };
    }
    let (teams, rest) = match c.path.strip_prefix("/admin/teams") {
        Some(rest) => (true, rest),
        None => (false, c.path.strip_prefix("/admin/keys").unwrap_or("")),
    };
    let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    match (teams, c.method, segs.as_slice()) {
        (false, "GET", []) => list_keys(c, m).await,
        (false, "POST", []) => create_key(c, m).await,
        (false, "GET", [id]) => show_key(c, m, id).await,
        (false, "PATCH", [id]) => {
            let r = m.update_key(id, fields(c.body)?).await;
            Ok((200, one_key_view(c, &r.map_err(|e| fail(e, id))?).await))
        }
        (false, "DELETE", [id]) => {
            let r = m.revoke(id).await.map_err(|e| fail(e, id))?;
            Ok((200, one_key_view(c, &r).await))
        }
        (false, "POST", [id, "rotate"]) => rotate(c, m, id).await,
        (true, "GET", []) => list_teams(c, m).await,
        (true, "POST", []) => create_team(c, m).await,
        (true, "GET", [id]) => match m.team(id).await.map_err(|e| fail(e, id))? {
            Some(t) => Ok((200, one_team_view(c, m, &t).await?)),
            None => Err(missing(id)),
        },
        (true, "PATCH", [id]) => {
            let t = m.update_team(id, fields(c.body)?).await;
            let t = t.map_err(|e| fail(e, id))?;
            Ok((200, one_team_view(c, m, &t).await?))
        }
        (true, "DELETE", [id]) => {
            let t = m.delete_team(id).await.map_err(|e| fail(e, id))?;
            Ok((200, t.public()))
        }
        _ => Err(not_allowed(c)),
    }
}

fn not_allowed(c: &Call<'_>) -> GatewayError {
    GatewayError::MethodNotAllowed {
        method: c.method.to_string(),
        path: c.path.to_string(),
    }
}

fn body_of(e: &GatewayError) -> Value {
    serde_json::from_slice(&e.body()).unwrap_or(Value::Null)
}

/// A 404 naming what is missing (not "Unknown request URL": the path is right, the id is not).
fn missing(id: &str) -> GatewayError {
    GatewayError::Refused {
        status: 404,
        message: format!("No key or team `{id}` (ids are case-sensitive; list them with GET)."),
        code: "not_found",
        stage: "admin".into(),
    }
}

/// A store error as the admin API answers it (`id`: the record concerned).
fn fail(e: Error, id: &str) -> GatewayError {
    match e {
        Error::NotFound => missing(id),
        Error::Exists => GatewayError::bad_param(format!("`{id}` exists."), "id"),
        Error::NoTeam(t) => GatewayError::bad_param(
            format!("There is no team `{t}`: create it first (POST /admin/teams)."),
            "team",
        ),
        Error::TeamInUse(t) => GatewayError::Refused {
            status: 409,
            message: format!(
                "The team `{t}` has live keys: revoke them or move them to another team first."
            ),
            code: "team_in_use",
            stage: "admin".into(),
        },
        Error::Invalid(m) => GatewayError::bad_request(m),
        Error::Unavailable(m) => GatewayError::Unavailable {
            message: format!("The key store is unavailable: {m}."),
        },
        Error::Conflict => GatewayError::Unavailable {
            message: "The record changed concurrently; retry.".into(),
        },
        Error::Io(m) => GatewayError::Internal {
            message: format!("The key store: {m}"),
        },
    }
}

fn fields(body: &[u8]) -> Result<Fields, GatewayError> {
    serde_json::from_slice(body).map_err(|e| {
        GatewayError::bad_request(format!("The body is not a key's or team's fields: {e}"))
    })
}

fn query_num(query: Option<&str>, name: &str) -> Option<u64> {
    query?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .and_then(|(_, v)| v.parse().ok())
}

/// Today's spend by scope (`k:ID`, `t:ID`), micro-dollars: every instance's with a store.
async fn today_spend(m: Option<&ManagedKeys>) -> Spend {
    let day = [today()];
    let spent = match m {
        Some(m) => m.spend(&day).await.ok(),
        None => Some(spend::ledger().local(&day)),
    };
    spent.and_then(|s| s.into_iter().next()).unwrap_or_default()
}

fn usd(spent: &Spend, scope: &str) -> Value {
    json!(spent.get(scope).copied().unwrap_or(0) as f64 / 1e6)
}

/// A key as the API shows it: its record, its `usage` against its limits, its spend today
/// (`spent`: [`today_spend`], read once per answer).
fn key_view(r: &KeyRecord, usage: Value, spent: &Spend) -> Value {
    let mut v = r.public();
    v["usage"] = usage;
    v["spend_today_usd"] = usd(spent, &format!("k:{}", r.id));
    v
}

/// [`key_view`] of one key.
async fn one_key_view(c: &Call<'_>, r: &KeyRecord) -> Value {
    let usage = c
        .limiter
        .usage_of(&format!("k:{}", r.id), &r.limits.quota())
        .await;
    key_view(r, usage, &today_spend(c.managed).await)
}

/// A config file's key (read-only).
fn config_key_view(id: &str, usage: Value, spent: &Spend) -> Value {
    json!({"id": id, "source": "config", "read_only": true, "usage": usage,
        "spend_today_usd": usd(spent, &format!("k:{id}"))})
}

async fn show_key(c: &Call<'_>, m: &ManagedKeys, id: &str) -> Answer {
    if let Some(r) = m.key(id).await.map_err(|e| fail(e, id))? {
        return Ok((200, one_key_view(c, &r).await));
    }
    let Some(key) = c.rt.keys.iter().find(|k| k.id == id) else {
        return Err(missing(id));
    };
    let usage = c.limiter.usage(key).await;
    let spent = today_spend(c.managed).await;
    Ok((200, config_key_view(id, usage, &spent)))
}

/// Every key, managed then the config file's, with their usage read in one go.
async fn list_keys(c: &Call<'_>, m: &ManagedKeys) -> Answer {
    let records = m.keys().await.map_err(|e| fail(e, ""))?;
    let mut config: Vec<_> = c.rt.keys.iter().collect();
    config.sort_unstable_by(|a, b| a.id.cmp(&b.id));
    let scopes: Vec<(String, crate::policy::quota::Quota)> = records
        .iter()
        .map(|r| (format!("k:{}", r.id), r.limits.quota()))
        .chain(config.iter().map(|k| (format!("k:{}", k.id), k.quota)))
        .collect();
    let mut usage = c.limiter.usage_many(&scopes).await.into_iter();
    let spent = today_spend(Some(m)).await;
    let mut keys: Vec<Value> = records
        .iter()
        .map(|r| key_view(r, usage.next().unwrap_or_default(), &spent))
        .collect();
    keys.extend(
        config
            .iter()
            .map(|k| config_key_view(&k.id, usage.next().unwrap_or_default(), &spent)),
    );
    Ok((200, json!({"keys": keys})))
}

async fn create_key(c: &Call<'_>, m: &ManagedKeys) -> Answer {
    let f = fields(c.body)?;
    let Some(id) = f.id.clone() else {
        return Err(GatewayError::bad_param("`id` is required.", "id"));
    };
    if c.rt.keys.iter().any(|k| k.id == id) {
        return Err(GatewayError::bad_param(
            format!("The key `{id}` is in the config file (read-only)."),
            "id",
        ));
    }
    let (rec, secret) = m
        .create_key(f, id.clone())
        .await
        .map_err(|e| fail(e, &id))?;
    let mut v = one_key_view(c, &rec).await;
    v["secret"] = Value::from(secret);
    Ok((201, v))
}

async fn rotate(c: &Call<'_>, m: &ManagedKeys, id: &str) -> Answer {
    let grace = match c.body.iter().all(u8::is_ascii_whitespace) {
        true => 0,
        false => serde_json::from_slice::<Value>(c.body)
            .map_err(|e| GatewayError::bad_request(format!("The body is not JSON: {e}")))?
            .get("grace_seconds")
            .map(|g| {
                g.as_u64().ok_or_else(|| {
                    GatewayError::bad_param(
                        "`grace_seconds` is a whole number ≥ 0.",
                        "grace_seconds",
                    )
                })
            })
            .transpose()?
            .unwrap_or(0),
    };
    let (after, secret) = m
        .rotate(id, Duration::from_secs(grace.min(30 * 86_400)))
        .await
        .map_err(|e| fail(e, id))?;
    let mut v = one_key_view(c, &after).await;
    v["secret"] = Value::from(secret);
    Ok((200, v))
}

/// A team as the API shows it: its record, its live keys (`keys`: every key record), its
/// `usage` against its limits and its spend today.
fn team_view(t: &TeamRecord, keys: &[KeyRecord], usage: Value, spent: &Spend) -> Value {
    let members: Vec<&str> = keys
        .iter()
        .filter(|k| !k.revoked && k.team.as_deref() == Some(t.id.as_str()))
        .map(|k| k.id.as_str())
        .collect();
    let mut v = t.public();
    v["keys"] = json!(members);
    v["usage"] = usage;
    v["spend_today_usd"] = usd(spent, &format!("t:{}", t.id));
    v
}

/// [`team_view`] of one team.
async fn one_team_view(
    c: &Call<'_>,
    m: &ManagedKeys,
    t: &TeamRecord,
) -> Result<Value, GatewayError> {
    let keys = m.keys().await.map_err(|e| fail(e, ""))?;
    let usage = c
        .limiter
        .usage_of(&format!("t:{}", t.id), &t.limits.quota())
        .await;
    Ok(team_view(t, &keys, usage, &today_spend(Some(m)).await))
}

async fn list_teams(c: &Call<'_>, m: &ManagedKeys) -> Answer {
    let keys = m.keys().await.map_err(|e| fail(e, ""))?;
    let teams = m.teams().await.map_err(|e| fail(e, ""))?;
    let scopes: Vec<_> = teams
        .iter()
        .map(|t| (format!("t:{}", t.id), t.limits.quota()))
        .collect();
    let usage = c.limiter.usage_many(&scopes).await;
    let spent = today_spend(Some(m)).await;
    let teams: Vec<Value> = teams
        .iter()
        .zip(usage)
        .map(|(t, u)| team_view(t, &keys, u, &spent))
        .collect();
    Ok((200, json!({"teams": teams})))
}

async fn create_team(c: &Call<'_>, m: &ManagedKeys) -> Answer {
    let f = fields(c.body)?;
    let Some(id) = f.id.clone() else {
        return Err(GatewayError::bad_param("`id` is required.", "id"));
    };
    let t = m
        .create_team(f, id.clone())
        .await
        .map_err(|e| fail(e, &id))?;
    Ok((201, one_team_view(c, m, &t).await?))
}

/// Spend per UTC day, newest first: `{"days": [{"day", "keys": {id: usd}, "teams": {…}}]}`.
async fn spend_days(c: &Call<'_>, m: Option<&ManagedKeys>) -> Answer {
    let n = query_num(c.query, "days").unwrap_or(7).clamp(1, 90);
    let today = today();
    let days: Vec<u64> = (0..n).map(|i| today.saturating_sub(i)).collect();
    let spent = match m {
        Some(m) => m.spend(&days).await.map_err(|e| fail(e, ""))?,
        None => spend::ledger().local(&days),
    };
    let days: Vec<Value> = days
        .iter()
        .zip(spent)
        .map(|(&d, s)| {
            let (keys, teams) = split(&s);
            json!({"day": day_name(d), "keys": keys, "teams": teams})
        })
        .collect();
    Ok((200, json!({"days": days})))
}

/// Spend by scope → (keys, teams) in dollars.
pub fn split(s: &Spend) -> (Map<String, Value>, Map<String, Value>) {
    let mut keys = Map::new();
    let mut teams = Map::new();
    let mut scopes: Vec<_> = s.iter().collect();
    scopes.sort();
    for (scope, micros) in scopes {
        let usd = json!(*micros as f64 / 1e6);
        if let Some(id) = scope.strip_prefix("k:") {
            keys.insert(id.to_string(), usd);
        } else if let Some(id) = scope.strip_prefix("t:") {
            teams.insert(id.to_string(), usd);
        }
    }
    (keys, teams)
}

/// `/admin/stats`'s `spend_today`.
pub async fn spend_today_doc(m: Option<&ManagedKeys>) -> Value {
    let (keys, teams) = split(&today_spend(m).await);
    json!({"day": day_name(today()), "keys": keys, "teams": teams})
}
