//! llm-relay: an edge gateway for OpenAI-compatible LLM APIs on Pingora.
//!
//! One request through the Pingora phases (see `gateway.rs`):
//!
//! ```text
//! client ─► early_request_filter   keep-alive policy; a subrequest adopts its Forward
//!           request_filter         classify (kind from method+path) ─► local answers (/v1/models)
//!                                  read the WHOLE body (cap ─► 413, deadline ─► 408)
//!                                  parse (─► 400), route by model (─► 404), rewrite (alias,
//!                                  message fixing), then pipe a subrequest with that body
//!           upstream_peer          (subrequest) a healthy member of the routed pool
//!           upstream_request_filter  (subrequest) provider path, Host, provider key
//!           response_filter        (subrequest) no-buffering headers for SSE
//!           response body          streamed through as it arrives
//!           fail_to_proxy          (subrequest) report 502/503/504 to the parent
//! ```
pub mod access_log;
pub mod admin;
pub mod alerts;
pub mod auth;
pub mod body;
pub mod chat;
pub mod client_watch;
pub mod config;
pub mod error;
pub mod forward;
pub mod gateway;
pub mod health;
pub mod kind;
pub mod limit;
pub mod metrics;
pub mod multipart;
pub mod observe;
pub mod prepare;
pub mod reload;
pub mod respond;
pub mod retry;
pub mod service;
pub mod stats;
pub mod stream;
pub mod strict;
pub mod upstream;
pub mod validate;
