//! Who may ask for what, and how much: client keys and the request/concurrency limits.
pub mod auth;
pub mod limit;
