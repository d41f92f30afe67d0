//! Placeholder until the wasmi runtime lands (same API).
use std::time::Duration;

pub struct Limits {
    pub max_memory_bytes: usize,
    pub fuel: u64,
    pub timeout: Duration,
}

#[derive(Debug)]
pub struct Plugin;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PluginError {
    #[error("the plugin trapped: {0}")]
    Trap(String),
}

impl PluginError {
    pub fn label(&self) -> &'static str {
        "trap"
    }
}

impl Plugin {
    pub fn load(_path: &std::path::Path, _limits: Limits) -> Result<Plugin, String> {
        Err("not yet".into())
    }
    pub async fn call(&self, _input: &[u8]) -> Result<Vec<u8>, PluginError> {
        Err(PluginError::Trap("not yet".into()))
    }
}
