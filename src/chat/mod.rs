//! The chat pipeline: message fixing for picky providers and the image→text cascade.
pub mod elide;
pub mod fix;
pub mod guard;
pub mod image_key;
pub mod model;
