//! llm-relay: an edge gateway for LLM APIs on Pingora.
//!
//! The README's "How a request flows" is the phase chart and "Layout" the map of these
//! folders; `proxy/mod.rs` is the `ProxyHttp` implementation, phase by phase. Dependencies
//! point one way: a folder imports only folders below it in this list (no cycle, checked by
//! `cycles.py`):
//!
//! ```text
//! admin
//! proxy                  the Pingora edge: phases, hand-off, retry, the client's error shape
//! request                translate client protocols, prepare (route + rewrite), cache key
//! runtime                the validated config and what reads it whole (alerts, health, DNS)
//! cascade                image → text
//! policy                 keys, limits, CORS
//! body, upstream         the request body's checks; pools, members, routes
//! providers              render / sign / decode per upstream protocol
//! protocol               client protocols ⇄ chat
//! state                  Redis, stored responses, caches
//! observe                metrics, stats, trace, access log (plain values in)
//! config                 the file sections
//! chat                   chat-body transforms (fixer, elide, image keys)
//! core                   kind, protocol label, usage, SSE framing, translate seam, errors
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
pub mod stage;
pub mod state;
pub mod upstream;
