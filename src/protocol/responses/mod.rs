//! OpenAI Responses API on top of Chat Completions.
//!
//! Codex CLI, the Agents SDK and `client.responses` speak only the Responses API, while the
//! providers behind the gateway (Tencent Hunyuan) serve only Chat Completions. The gateway
//! turns a Responses request into a chat request with [`to_chat`], runs it through its chat
//! pipeline, and turns the chat answer back with [`translator`] (streaming or not).

mod items;
mod meta;
mod output;
mod request;
mod stream;

use crate::core::translate::ResponseTranslator;

pub use items::{input_items, input_tokens};
pub use meta::{ResponseMeta, Translated};
pub use output::NonStreamTranslator;
pub use request::{continue_chat, to_chat};
pub use stream::StreamTranslator;

/// The response translator for a request: `stream` as [`Translated::stream`].
pub fn translator(meta: ResponseMeta, stream: bool) -> Box<dyn ResponseTranslator> {
    if stream {
        Box::new(StreamTranslator::new(meta))
    } else {
        Box::new(NonStreamTranslator::new(meta))
    }
}

#[cfg(test)]
mod tests;
