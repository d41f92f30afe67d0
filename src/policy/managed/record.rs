//! Managed records as stored: a key (its id, team, the SHA-256 of its secret, never the secret,
//! its models, limits and life) and a team (its limits, which cap the total of its keys).

use crate::policy::auth::{ApiKey, TeamRef};
use crate::policy::quota::{Quota, Window};
use crate::upstream::route::Pattern;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;

/// The old secret of a rotated key, valid until `valid_until` (Unix seconds).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Previous {
    pub sha256: String,
    pub valid_until: u64,
}

/// The period of a budget: a UTC day or a UTC calendar month.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    #[default]
    Day,
    Month,
}

/// What a key or a team may use (`None`: unlimited).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Limits {
    #[serde(default)]
    pub rpm: Option<u32>,
    #[serde(default)]
    pub rpd: Option<u32>,
    #[serde(default)]
    pub tpm: Option<u64>,
    #[serde(default)]
    pub tpd: Option<u64>,
    #[serde(default)]
    pub max_concurrency: Option<u32>,
    /// US dollars per `budget_period`.
    #[serde(default)]
    pub budget_usd: Option<f64>,
    #[serde(default)]
    pub budget_period: Period,
}

impl Limits {
    /// Applies the limits `f` sets (`null` clears one), checking them.
    fn apply(&mut self, f: &Fields) -> Result<(), String> {
        macro_rules! limit {
            ($field:ident) => {
                if let Some(v) = f.$field {
                    if v == Some(0) {
                        return Err(format!(
                            "`{}` must be > 0 (or null for none)",
                            stringify!($field)
                        ));
                    }
                    self.$field = v;
                }
            };
        }
        limit!(rpm);
        limit!(rpd);
        limit!(tpm);
        limit!(tpd);
        limit!(max_concurrency);
        if let Some(b) = f.budget_usd {
            if b.is_some_and(|b| !(b > 0.0 && b.is_finite())) {
                return Err("`budget_usd` must be > 0 (or null for none)".into());
            }
            self.budget_usd = b;
        }
        if let Some(p) = f.budget_period {
            self.budget_period = p;
        }
        Ok(())
    }

    /// The limiter's form.
    pub fn quota(&self) -> Quota {
        let window = match self.budget_period {
            Period::Day => Window::Day,
            Period::Month => Window::Month,
        };
        Quota {
            rpm: self.rpm,
            rpd: self.rpd,
            tpm: self.tpm,
            tpd: self.tpd,
            concurrency: self.max_concurrency,
            budget: self.budget_usd.map(|b| (window, (b * 1e6).round() as u64)),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct KeyRecord {
    pub id: String,
    #[serde(default)]
    pub team: Option<String>,
    /// SHA-256 hex of the secret.
    pub sha256: String,
    #[serde(default)]
    pub previous: Option<Previous>,
    #[serde(default)]
    pub models: Vec<String>,
    #[serde(flatten)]
    pub limits: Limits,
    /// RFC 3339.
    #[serde(default)]
    pub expires: Option<String>,
    #[serde(default)]
    pub metadata: Value,
    pub created: u64,
    pub updated: u64,
    #[serde(default)]
    pub revoked: bool,
}

/// A team: its limits and budget cap the total of all its keys.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TeamRecord {
    pub id: String,
    #[serde(flatten)]
    pub limits: Limits,
    #[serde(default)]
    pub metadata: Value,
    pub created: u64,
    pub updated: u64,
}

/// What a create or an update sets (absent: unchanged; JSON `null`: cleared). One shape for
/// keys and teams; a team refuses the key-only members (`team`, `models`, `expires`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fields {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "some")]
    pub team: Option<Option<String>>,
    #[serde(default, deserialize_with = "some")]
    pub models: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "some")]
    pub rpm: Option<Option<u32>>,
    #[serde(default, deserialize_with = "some")]
    pub rpd: Option<Option<u32>>,
    #[serde(default, deserialize_with = "some")]
    pub tpm: Option<Option<u64>>,
    #[serde(default, deserialize_with = "some")]
    pub tpd: Option<Option<u64>>,
    #[serde(default, deserialize_with = "some")]
    pub max_concurrency: Option<Option<u32>>,
    #[serde(default, deserialize_with = "some")]
    pub budget_usd: Option<Option<f64>>,
    #[serde(default)]
    pub budget_period: Option<Period>,
    #[serde(default, deserialize_with = "some")]
    pub expires: Option<Option<String>>,
    #[serde(default)]
    pub metadata: Option<Value>,
}

/// The name the first releases used.
pub type KeyFields = Fields;

/// A present member, `null` included, is `Some`: so `null` clears and absence keeps.
fn some<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

/// A key or team id: what logs and metrics show.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && !id.starts_with('.') // `.` and `..` are path segments URLs drop
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

const ID_RULE: &str = "is 1-64 letters, digits, `-`, `_` or `.`, not starting with `.`";

fn metadata(m: &Option<Value>, into: &mut Value) -> Result<(), String> {
    if let Some(m) = m {
        if !m.is_object() || m.to_string().len() > 8192 {
            return Err("`metadata` is a JSON object of at most 8 KiB".into());
        }
        *into = m.clone();
    }
    Ok(())
}

fn same_id(f: &Fields, id: &str) -> Result<(), String> {
    match &f.id {
        Some(given) if given != id => Err("`id` cannot change".into()),
        _ => Ok(()),
    }
}

impl KeyRecord {
    pub fn new(id: String, sha256: String, f: Fields, now: u64) -> Result<KeyRecord, String> {
        if !valid_id(&id) {
            return Err(format!("`id` {ID_RULE}"));
        }
        let mut r = KeyRecord {
            id,
            team: None,
            sha256,
            previous: None,
            models: Vec::new(),
            limits: Limits::default(),
            expires: None,
            metadata: Value::Object(Default::default()),
            created: now,
            updated: now,
            revoked: false,
        };
        r.apply(&f, now)?;
        Ok(r)
    }

    /// Applies the fields that are set, checking them.
    pub fn apply(&mut self, f: &Fields, now: u64) -> Result<(), String> {
        same_id(f, &self.id)?;
        if let Some(t) = &f.team {
            if t.as_deref().is_some_and(|t| !valid_id(t)) {
                return Err(format!("`team` {ID_RULE}"));
            }
            self.team = t.clone();
        }
        if let Some(m) = &f.models {
            self.models = m.clone().unwrap_or_default();
        }
        self.limits.apply(f)?;
        if let Some(e) = &f.expires {
            if let Some(t) = e {
                humantime::parse_rfc3339_weak(t)
                    .map_err(|err| format!("`expires`: `{t}` is not an RFC 3339 time: {err}"))?;
            }
            self.expires = e.clone();
        }
        metadata(&f.metadata, &mut self.metadata)?;
        self.updated = now;
        Ok(())
    }

    /// The key authentication uses: for the current secret, or for the rotated-out one
    /// (`previous`, valid until its grace ends), with its team's limits.
    pub fn api_key(
        &self,
        previous: Option<&Previous>,
        team: Option<Arc<TeamRef>>,
    ) -> Result<([u8; 32], ApiKey), String> {
        let hex_hash = previous.map_or(self.sha256.as_str(), |p| p.sha256.as_str());
        let mut hash = [0u8; 32];
        hex::decode_to_slice(hex_hash, &mut hash).map_err(|e| e.to_string())?;
        let mut expires = match &self.expires {
            Some(t) => Some(humantime::parse_rfc3339_weak(t).map_err(|e| e.to_string())?),
            None => None,
        };
        if let Some(p) = previous {
            let until = std::time::UNIX_EPOCH + std::time::Duration::from_secs(p.valid_until);
            expires = Some(expires.map_or(until, |e| e.min(until)));
        }
        let models = self.models.iter().map(|m| Pattern::new(m)).collect();
        let stats = crate::observe::stats::global().for_key(&self.id);
        let key = ApiKey::managed(
            self.id.clone(),
            hash,
            models,
            self.limits.quota(),
            expires,
            stats,
        )
        .in_team(team);
        Ok((hash, key))
    }

    /// The record as the admin API shows it: everything but the hashes.
    pub fn public(&self) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Some(o) = v.as_object_mut() {
            o.remove("sha256");
            if let Some(p) = &self.previous {
                o.insert("previous_valid_until".into(), Value::from(p.valid_until));
            }
            o.remove("previous");
            o.insert("source".into(), Value::from("managed"));
        }
        v
    }
}

impl TeamRecord {
    pub fn new(id: String, f: Fields, now: u64) -> Result<TeamRecord, String> {
        if !valid_id(&id) {
            return Err(format!("`id` {ID_RULE}"));
        }
        let mut t = TeamRecord {
            id,
            limits: Limits::default(),
            metadata: Value::Object(Default::default()),
            created: now,
            updated: now,
        };
        t.apply(&f, now)?;
        Ok(t)
    }

    pub fn apply(&mut self, f: &Fields, now: u64) -> Result<(), String> {
        same_id(f, &self.id)?;
        for (set, name) in [
            (f.team.is_some(), "team"),
            (f.models.is_some(), "models"),
            (f.expires.is_some(), "expires"),
        ] {
            if set {
                return Err(format!("`{name}` is a key's field, not a team's"));
            }
        }
        self.limits.apply(f)?;
        metadata(&f.metadata, &mut self.metadata)?;
        self.updated = now;
        Ok(())
    }

    /// What its keys carry: the team's id and limits.
    pub fn team_ref(&self) -> TeamRef {
        TeamRef {
            id: self.id.clone(),
            quota: self.limits.quota(),
        }
    }

    pub fn public(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(v: Value) -> Fields {
        serde_json::from_value(v).expect("fields")
    }

    #[test]
    fn records_written_before_limits_were_grouped_still_read() {
        let old = r#"{"id":"a","sha256":"00","rpm":5,"budget_usd":2.0,"created":1,"updated":1}"#;
        let r: KeyRecord = serde_json::from_str(old).expect("old record");
        assert_eq!(r.limits.rpm, Some(5));
        assert_eq!(r.limits.budget_period, Period::Day);
        let again: KeyRecord =
            serde_json::from_str(&serde_json::to_string(&r).expect("json")).expect("round trip");
        assert_eq!(again, r);
    }

    #[test]
    fn null_clears_and_absence_keeps() {
        let mut r = KeyRecord::new(
            "a".into(),
            "00".into(),
            fields(serde_json::json!({"rpm": 5, "tpm": 100})),
            1,
        )
        .expect("new");
        r.apply(&fields(serde_json::json!({"rpm": null})), 2)
            .expect("apply");
        assert_eq!((r.limits.rpm, r.limits.tpm), (None, Some(100)));
        assert!(r.apply(&fields(serde_json::json!({"tpm": 0})), 3).is_err());
    }

    #[test]
    fn a_team_refuses_key_fields_and_takes_a_monthly_budget() {
        let t = TeamRecord::new(
            "t".into(),
            fields(serde_json::json!({"budget_usd": 10.0, "budget_period": "month"})),
            1,
        )
        .expect("team");
        assert_eq!(t.team_ref().quota.budget, Some((Window::Month, 10_000_000)));
        let e = TeamRecord::new("t".into(), fields(serde_json::json!({"models": ["m"]})), 1);
        assert!(e.is_err_and(|e| e.contains("key's field")));
    }
}
