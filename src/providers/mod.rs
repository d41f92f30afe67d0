//! Upstream providers: how a chat request is rendered for a provider that does not speak
//! OpenAI chat, and how its answer (JSON, SSE and errors) is decoded back into chat.
//!
//! Each provider module is pure (no I/O): `render` turns the gateway's chat body into the
//! provider's request, `decoder` gives a [`crate::protocol::ResponseTranslator`] that turns the
//! provider's answer into a chat completion (or chat SSE), and `error_to_chat` maps its error
//! bodies onto OpenAI's error shape.

pub mod anthropic;
pub mod gemini;
