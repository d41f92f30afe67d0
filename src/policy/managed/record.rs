//! One managed key as stored: its id, team, the SHA-256 of its secret (never the secret), its
//! models and limits, and its life (created, updated, expiry, rotation grace, revoked).

use crate::policy::auth::ApiKey;
use crate::policy::quota::{Quota, Window};
use crate::upstream::route::Pattern;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The old secret of a rotated key, valid until `valid_until` (Unix seconds).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Previous {
    pub sha256: String,
    pub valid_until: u64,
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
    /// US dollars per UTC day.
    #[serde(default)]
    pub budget_usd: Option<f64>,
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

/// What a create or an update sets (absent: unchanged; JSON `null`: cleared, for the
/// optional limits).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyFields {
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
    #[serde(default, deserialize_with = "some")]
    pub expires: Option<Option<String>>,
    #[serde(default)]
    pub metadata: Option<Value>,
}

/// A present member, `null` included, is `Some`: so `null` clears and absence keeps.
fn some<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

/// A key id: what logs and metrics show.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

impl KeyRecord {
    pub fn new(id: String, sha256: String, f: KeyFields, now: u64) -> Result<KeyRecord, String> {
        if !valid_id(&id) {
            return Err("`id` is 1-64 letters, digits, `-`, `_` or `.`".into());
        }
        let mut r = KeyRecord {
            id,
            team: None,
            sha256,
            previous: None,
            models: Vec::new(),
            rpm: None,
            rpd: None,
            tpm: None,
            tpd: None,
            max_concurrency: None,
            budget_usd: None,
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
    pub fn apply(&mut self, f: &KeyFields, now: u64) -> Result<(), String> {
        if let Some(id) = &f.id {
            if *id != self.id {
                return Err("`id` cannot change".into());
            }
        }
        if let Some(t) = &f.team {
            if t.as_deref().is_some_and(|t| !valid_id(t)) {
                return Err("`team` is 1-64 letters, digits, `-`, `_` or `.`".into());
            }
            self.team = t.clone();
        }
        if let Some(m) = &f.models {
            self.models = m.clone().unwrap_or_default();
        }
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
        if let Some(e) = &f.expires {
            if let Some(t) = e {
                humantime::parse_rfc3339_weak(t)
                    .map_err(|err| format!("`expires`: `{t}` is not an RFC 3339 time: {err}"))?;
            }
            self.expires = e.clone();
        }
        if let Some(m) = &f.metadata {
            if !m.is_object() || m.to_string().len() > 8192 {
                return Err("`metadata` is a JSON object of at most 8 KiB".into());
            }
            self.metadata = m.clone();
        }
        self.updated = now;
        Ok(())
    }

    /// The key authentication uses: for the current secret, or for the rotated-out one
    /// (`previous`, valid until its grace ends).
    pub fn api_key(&self, previous: Option<&Previous>) -> Result<([u8; 32], ApiKey), String> {
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
        let quota = Quota {
            rpm: self.rpm,
            rpd: self.rpd,
            tpm: self.tpm,
            tpd: self.tpd,
            concurrency: self.max_concurrency,
            budget: self
                .budget_usd
                .map(|b| (Window::Day, (b * 1e6).round() as u64)),
        };
        let models = self.models.iter().map(|m| Pattern::new(m)).collect();
        let stats = crate::observe::stats::global().for_key(&self.id);
        Ok((
            hash,
            ApiKey::managed(self.id.clone(), hash, models, quota, expires, stats),
        ))
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
