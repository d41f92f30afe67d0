//! llm-relay: an edge gateway for LLM APIs on Pingora.
//!
//! The README's "How a request flows" is the phase chart and "Layout" the map of these
//! folders; `proxy/mod.rs` is the `ProxyHttp` implementation, phase by phase. Dependencies
//! point one way, from the request path down to the leaves:
//!
//! ```text
//! proxy ─► request ─► chat ─► upstream ─► config::file
//!   │         │                  ▲
//!   └─► policy, observe ─────────┘        config (runtime) builds every settings type
//! ```
pub mod admin;
pub mod body;
pub mod cascade;
pub mod chat;
pub mod config;
pub mod core;
pub mod observe;
pub mod policy;
pub mod protocol;
pub mod providers;
pub mod proxy;
pub mod request;
pub mod runtime;
pub mod state;
pub mod upstream;
