//! The provider seam through the real binary: `pools.<name>.provider`, rendering per try
//! (a fallback to a pool of another provider), native pass-through, and the non-chat
//! providers (Anthropic, Gemini) against the bundled mock's native endpoints.

#[path = "../common/mod.rs"]
mod common;

mod affinity;
mod anthropic;
mod concurrency;
mod config;
mod fallback;
mod gemini;
mod hunyuan_native;
mod images;
mod util;
