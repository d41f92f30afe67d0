//! Anthropic Messages API (`POST /v1/messages`, `/v1/messages/count_tokens`) over Chat
//! Completions.
//!
//! Claude Code (`claude -p` with `ANTHROPIC_BASE_URL` at the gateway) and the `anthropic` SDKs
//! speak Messages; providers such as Tencent Hunyuan only serve Chat Completions. The gateway
//! calls [`to_chat`] on the client's body, runs its ordinary chat pipeline on
//! [`Translated::chat`], and feeds the upstream's answer through [`translator`]. Upstream
//! non-2xx answers go through [`translate_error`]; the gateway's own refusals through
//! [`error_body`]. Everything here is pure (no I/O) and never panics.

pub(crate) mod count;
mod errors;
mod meta;
mod request;
mod response;
mod stream;

pub use count::{count_tokens, estimate_request};
/// Shared with the Gemini translator: the same upstream-error reading and tool-argument rule.
pub(crate) use errors::upstream_message;
pub use errors::{error_body, error_type, translate_error};
pub use meta::{MessageMeta, Translated};
pub use request::to_chat;
pub(crate) use response::tool_input;

use crate::core::translate::ResponseTranslator;

/// The response translator for one request: [`stream::StreamTranslator`] when the client asked
/// for SSE, else [`response::BodyTranslator`] (buffers the chat JSON, answers from `finish`).
pub fn translator(meta: MessageMeta, stream: bool) -> Box<dyn ResponseTranslator> {
    if stream {
        Box::new(stream::StreamTranslator::new(meta))
    } else {
        Box::new(response::BodyTranslator::new(meta))
    }
}
