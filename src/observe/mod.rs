//! What the gateway tells its operators: Prometheus metrics, statistics, the access log,
//! alerts, health and readiness, and the per-request record that feeds them.
pub mod access_log;
pub mod alert_rules;
pub mod health;
pub mod metrics;
pub mod stats;
pub mod trace;
