//! What users write: the file sections ([`file`], strict and documented serde structs), the
//! closed sets they name ([`choices`]) and the error that points at a key ([`error`]). The
//! validated form the gateway runs on is built from these in [`crate::runtime`]; this layer
//! imports nothing above `core` and `chat`, so every concern can build its settings from
//! its own section.
pub mod choices;
pub mod error;
pub mod file;
pub mod stages;

pub use error::ConfigError;
