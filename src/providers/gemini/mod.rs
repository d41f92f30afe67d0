//! Gemini `generateContent` as an upstream: chat → Gemini request, Gemini answer → chat.
//!
//! * [`render`] turns a (validated) chat request into the path below the pool's base URL and
//!   the Gemini body ([`render`](self::render) and [`config`] say what maps to what);
//! * [`decoder`] turns the upstream's 2xx answer (JSON, or SSE with `alt=sse`) into a chat
//!   completion or a chat SSE stream;
//! * [`error_to_chat`] turns Google's error body into OpenAI's error shape.
//!
//! Decisions (the why is next to the code):
//! - Tool schemas go out as `parametersJsonSchema`, unchanged: it takes full JSON Schema
//!   (`additionalProperties`, `anyOf`, `$ref`, ...) where the older `parameters` field takes an
//!   OpenAPI subset and rejects those keywords ("Unknown name ... Cannot find field"). Stripping
//!   keywords would change what the model is told; the JSON-schema field needs no stripping.
//!   `response_format.json_schema` goes out as `responseJsonSchema` for the same reason.
//! - Thought signatures: a `functionCall`'s `thoughtSignature` comes back to the client as
//!   `tool_calls[].extra_content.google.thought_signature` (the shape of Google's own OpenAI
//!   compatibility layer) and goes back to Gemini from there; a history without one (another
//!   provider's, or a client that dropped it) gets Google's documented placeholder
//!   `skip_thought_signature_validator` on the first call of each assistant turn, as Gemini 3
//!   rejects a function-call turn without a signature.
//! - Tool-call ids: Gemini's `functionCall.id` when it sends one, else `call_<response>_<n>`;
//!   ids are sent back on `functionCall` and `functionResponse` parts (matching parallel calls
//!   of one function by id rather than by order).

mod config;
mod decode;
mod errors;
mod parts;
mod render;
mod stream;

#[cfg(test)]
mod decode_tests;
#[cfg(test)]
mod render_props;
#[cfg(test)]
mod render_tests;
#[cfg(test)]
mod stream_tests;

pub use errors::error_to_chat;
pub use render::render;

use crate::core::translate::ResponseTranslator;

/// The upstream's 2xx Gemini answer (JSON, or SSE when `stream`) → a chat completion JSON, or
/// chat SSE (`data: {chat.completion.chunk}\n\n` ... `data: [DONE]\n\n`). `model` is written
/// into the chat objects' `model` (Gemini's `modelVersion` when it is empty).
pub fn decoder(stream: bool, model: &str) -> Box<dyn ResponseTranslator> {
    if stream {
        Box::new(stream::StreamDecoder::new(model))
    } else {
        let model = model.to_string();
        Box::new(crate::providers::buffered::Buffered::new(
            move |b: &[u8]| decode::decode_body(&model, b),
        ))
    }
}

/// The path of a Gemini `method` on `model` below the pool's base URL (a request passed
/// through from a Gemini client): the model as one percent-encoded path segment.
pub fn method_path(model: &str, method: &str) -> String {
    format!("/models/{}:{method}", render::encode_segment(model))
}
