//! Gemini API (`POST /v1beta/models/{model}:generateContent`, `:streamGenerateContent`,
//! `:countTokens`, `GET /v1beta/models[/{model}]`) over Chat Completions.
//!
//! Gemini CLI (`GOOGLE_GEMINI_BASE_URL` at the gateway) and the Google GenAI SDKs speak
//! this API; the gateway calls [`to_chat`] on the client's body (the model comes from the
//! path: [`decode_model`]), runs its ordinary chat pipeline on the result, and feeds the
//! upstream's answer through [`translator`]: one JSON object, SSE events (`alt=sse`), or a
//! JSON array streamed element by element (Gemini's default without `alt=sse`). Upstream
//! non-2xx answers go through [`translate_error`]; the gateway's own refusals through
//! [`error_body`]. Everything here is pure (no I/O) and never panics.

mod count;
mod errors;
mod meta;
mod models;
mod parts;
mod path;
mod request;
mod response;
mod stream;
mod tools;

pub use count::{count_tokens, counted, estimate};
pub use errors::{error_body, error_json, status_name, translate_error};
pub use meta::{Framing, GeminiMeta, Translated};
pub use models::{list as models_list, model as model_object};
pub use path::{decode_model, percent_decode, query_param};
pub use request::to_chat;

use crate::core::translate::ResponseTranslator;

/// The response translator for one request, by its framing.
pub fn translator(meta: GeminiMeta) -> Box<dyn ResponseTranslator> {
    if meta.framing.is_stream() {
        Box::new(stream::StreamTranslator::new(meta))
    } else {
        Box::new(response::BodyTranslator::new(meta))
    }
}

#[cfg(test)]
mod tests;
