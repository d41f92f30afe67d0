//! The chat pipeline: message fixing for picky providers and the image→text cascade.
pub mod fix;
