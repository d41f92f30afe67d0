//! Leaf types every layer uses and that use nothing of the crate: what a request is
//! ([`kind`]), which protocol the client spoke ([`protocol`]), token counts ([`usage`]), SSE
//! framing ([`sse`]), finish reasons ([`finish`]), the response translator seam ([`translate`]) and the gateway's error
//! ([`error`]).
pub mod error;
pub mod finish;
pub mod kind;
pub mod protocol;
pub mod sse;
pub mod text;
pub mod translate;
pub mod usage;
