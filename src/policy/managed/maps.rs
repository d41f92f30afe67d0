//! What authentication reads, built from the records without any storage access: the managed
//! keys by hash, and the same merged with the config file's keys of one generation, so a
//! request does one lookup whichever kind its key is. A new [`Maps`] is built whole and
//! swapped in: after a reload from the store, after this process's own write (one key
//! replaced, or every key rebuilt when a team changed), and after a config reload.

use super::now_secs;
use super::record::{KeyRecord, TeamRecord};
use crate::policy::auth::{ApiKey, Keys, TeamRef};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

pub type ByHash = HashMap<[u8; 32], Arc<ApiKey>>;
type Teams = HashMap<String, Arc<TeamRef>>;

#[derive(Default)]
pub struct Maps {
    /// Every managed key record, revoked ones included (their ids stay taken).
    pub records: Arc<HashMap<String, KeyRecord>>,
    pub teams: Arc<Teams>,
    /// The live managed keys by hash.
    pub managed: Arc<ByHash>,
    /// The config's keys, and their generation (0: none seen yet).
    pub config: Arc<ByHash>,
    pub generation: u64,
    /// `managed` and `config` in one map.
    pub merged: ByHash,
}

/// The hash-map entries of one record: none when revoked; its current secret, and its
/// rotated-out one while the grace lasts. A key whose team is missing gets none: refused
/// rather than let past its team's budget (writes check the team, so this is a safeguard).
fn entries(r: &KeyRecord, teams: &Teams, now: u64) -> Vec<([u8; 32], Arc<ApiKey>)> {
    if r.revoked {
        return Vec::new();
    }
    let team = match &r.team {
        None => None,
        Some(t) => match teams.get(t) {
            Some(t) => Some(t.clone()),
            None => {
                log::warn!("auth.store: key `{}` names a missing team `{t}`", r.id);
                return Vec::new();
            }
        },
    };
    let mut out = Vec::new();
    if let Some(p) = r.previous.as_ref().filter(|p| p.valid_until > now) {
        if let Ok((hash, key)) = r.api_key(Some(p), team.clone()) {
            out.push((hash, Arc::new(key)));
        }
    }
    if let Ok((hash, key)) = r.api_key(None, team) {
        out.push((hash, Arc::new(key)));
    }
    out
}

impl Maps {
    fn new(
        records: Arc<HashMap<String, KeyRecord>>,
        teams: Arc<Teams>,
        managed: Arc<ByHash>,
        config: Arc<ByHash>,
        generation: u64,
    ) -> Maps {
        let config_ids: HashSet<&str> = config.values().map(|k| k.id.as_str()).collect();
        let mut merged: ByHash = managed
            .iter()
            .filter(|(_, k)| {
                // A managed id the config file took (a reload refuses this; a safeguard):
                // the config's key keeps it, so two tenants never share counters or data.
                let clash = config_ids.contains(k.id.as_str());
                if clash {
                    log::warn!(
                        "auth.store: key `{}` is also in the config file: refused",
                        k.id
                    );
                }
                !clash
            })
            .map(|(h, k)| (*h, k.clone()))
            .collect();
        merged.extend(config.iter().map(|(h, k)| (*h, k.clone())));
        Maps {
            records,
            teams,
            managed,
            config,
            generation,
            merged,
        }
    }

    /// From every record (a reload from the store), keeping the config of `self`.
    pub fn from_records(&self, keys: Vec<KeyRecord>, teams: Vec<TeamRecord>) -> Maps {
        let teams: Teams = teams
            .into_iter()
            .map(|t| (t.id.clone(), Arc::new(t.team_ref())))
            .collect();
        let records: HashMap<String, KeyRecord> =
            keys.into_iter().map(|r| (r.id.clone(), r)).collect();
        self.rebuilt(Arc::new(records), Arc::new(teams))
    }

    fn rebuilt(&self, records: Arc<HashMap<String, KeyRecord>>, teams: Arc<Teams>) -> Maps {
        let now = now_secs();
        let managed: ByHash = records
            .values()
            .flat_map(|r| entries(r, &teams, now))
            .collect();
        Maps::new(
            records,
            teams,
            Arc::new(managed),
            self.config.clone(),
            self.generation,
        )
    }

    /// With one key record written by this process (created, changed, rotated, revoked).
    pub fn with_key(&self, r: &KeyRecord) -> Maps {
        self.replaced(&r.id, Some(r))
    }

    /// Without the key `id` (its record and secrets).
    pub fn without_key(&self, id: &str) -> Maps {
        self.replaced(id, None)
    }

    /// The key `id`'s record and secrets replaced by `r`'s (`None`: removed).
    fn replaced(&self, id: &str, r: Option<&KeyRecord>) -> Maps {
        let mut records = (*self.records).clone();
        let mut managed = (*self.managed).clone();
        managed.retain(|_, k| k.id != id);
        match r {
            Some(r) => {
                records.insert(id.to_string(), r.clone());
                managed.extend(entries(r, &self.teams, now_secs()));
            }
            None => {
                records.remove(id);
            }
        }
        Maps::new(
            Arc::new(records),
            self.teams.clone(),
            Arc::new(managed),
            self.config.clone(),
            self.generation,
        )
    }

    /// With one team written by this process (`None`: deleted): every key is rebuilt, as
    /// each carries its team's limits.
    pub fn with_team(&self, id: &str, t: Option<&TeamRecord>) -> Maps {
        let mut teams = (*self.teams).clone();
        match t {
            Some(t) => teams.insert(id.to_string(), Arc::new(t.team_ref())),
            None => teams.remove(id),
        };
        self.rebuilt(self.records.clone(), Arc::new(teams))
    }

    /// With the keys of a newer config.
    pub fn with_config(&self, config: &Keys) -> Maps {
        Maps::new(
            self.records.clone(),
            self.teams.clone(),
            self.managed.clone(),
            Arc::new(config.by_hash().clone()),
            config.generation(),
        )
    }
}
