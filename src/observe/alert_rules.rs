//! Alert rules as configured (`alerts.rules[]`), validated.

use crate::config::error::ConfigError;
use crate::config::file::AlertRuleSection;
use std::time::Duration;

/// What a rule watches.
#[derive(Debug, Clone)]
pub enum Rule {
    ErrorRate {
        above: f64,
    },
    P99Latency {
        above_seconds: f64,
    },
    CacheHitRate {
        below: f64,
    },
    PoolUnhealthy {
        pool: String,
    },
    /// The shared Redis is unreachable (`redis:` configured).
    RedisUnavailable,
}

/// A validated rule. That its pool exists is checked by the config, which knows the pools.
#[derive(Debug, Clone)]
pub struct AlertRule {
    pub name: String,
    pub rule: Rule,
    pub window: Duration,
    pub min_samples: u64,
}

impl TryFrom<&AlertRuleSection> for AlertRule {
    type Error = ConfigError;

    fn try_from(r: &AlertRuleSection) -> Result<Self, ConfigError> {
        let rule = match r.kind.as_str() {
            "error_rate" => Rule::ErrorRate { above: r.threshold },
            "p99_latency" => Rule::P99Latency {
                above_seconds: r.threshold,
            },
            "cache_hit_rate" => Rule::CacheHitRate { below: r.threshold },
            "pool_unhealthy" => Rule::PoolUnhealthy {
                pool: r
                    .pool
                    .clone()
                    .ok_or_else(|| ConfigError::at("pool", "required for pool_unhealthy"))?,
            },
            "redis_unavailable" => Rule::RedisUnavailable,
            k => {
                return Err(ConfigError::at(
                    "kind",
                    format!(
                        "unknown kind \"{k}\" (error_rate, p99_latency, cache_hit_rate, pool_unhealthy, redis_unavailable)"
                    ),
                ))
            }
        };
        if r.name.is_empty() || r.window_seconds == 0 {
            return Err(ConfigError::whole("name and window_seconds are required"));
        }
        Ok(AlertRule {
            name: r.name.clone(),
            rule,
            window: Duration::from_secs(r.window_seconds),
            min_samples: r.min_samples,
        })
    }
}
