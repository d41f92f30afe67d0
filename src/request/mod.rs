//! From a client request to what goes upstream: its kind (method + path), validation, the
//! `model` of multipart uploads, the client protocols translated onto chat, and the routed,
//! rewritten body.
pub mod cache_key;
pub mod prepare;
pub mod translate;
