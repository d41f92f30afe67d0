//! The one config error: what is wrong, and the key path it is about.

use std::fmt::Display;

/// A config error that names its key path (`pools.hunyuan.timeouts.connect_ms`). Settings
/// types validate their own section and report paths relative to it; the caller puts the
/// section's own path in front with [`ConfigError::under`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub struct ConfigError {
    /// Dotted key path; empty for errors about the whole file (YAML syntax, I/O).
    pub path: String,
    pub message: String,
}

impl ConfigError {
    pub fn at(path: impl Display, message: impl Display) -> Self {
        ConfigError {
            path: path.to_string(),
            message: message.to_string(),
        }
    }

    /// An error about the whole file.
    pub fn whole(message: impl Display) -> Self {
        Self::at("", message)
    }

    /// The same error seen from the enclosing section `prefix`.
    pub fn under(mut self, prefix: impl Display) -> Self {
        self.path = match self.path.as_str() {
            "" => prefix.to_string(),
            p if p.starts_with('[') => format!("{prefix}{p}"),
            p => format!("{prefix}.{p}"),
        };
        self
    }

    fn render(&self) -> String {
        if self.path.is_empty() {
            self.message.clone()
        } else {
            format!("{}: {}", self.path, self.message)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_nest() {
        let e = ConfigError::at("connect_ms", "must be > 0").under("pools.p.timeouts");
        assert_eq!(e.to_string(), "pools.p.timeouts.connect_ms: must be > 0");
        assert_eq!(ConfigError::at("[2]", "x").under("urls").path, "urls[2]");
        assert_eq!(ConfigError::whole("bad yaml").to_string(), "bad yaml");
    }
}
