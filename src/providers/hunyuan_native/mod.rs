//! Tencent Hunyuan's native API as an upstream: `POST /` on `hunyuan.tencentcloudapi.com`,
//! action [`ACTION`] of version [`VERSION`], signed with TC3-HMAC-SHA256. Pure functions (no
//! I/O, never a panic), linear in their input:
//!
//! * [`sign`] gives the headers that sign one request body (the key never leaves it);
//! * [`render`] turns the gateway's typed chat request (already fixed to Hunyuan's message
//!   rules) into the native PascalCase body (its module comment has the parameter table);
//! * [`decoder`] turns the 2xx answer (JSON, or SSE with `Stream: true`) into a chat completion
//!   or a chat SSE stream;
//! * [`error_in_body`] finds the error Tencent answers with HTTP 200 (`{"Response":{"Error"}}`)
//!   and gives the honest status; [`error_to_chat`] maps any error body onto OpenAI's shape;
//!   [`request_id`] reads Tencent's `RequestId` for logs.
//!
//! Why a provider of its own next to the OpenAI-compatible `hunyuan` one: the native API is
//! the one Tencent Cloud accounts without an OpenAI-compatible key can use (a SecretId and
//! SecretKey pair), and it takes switches the compatible endpoint does not (`EnableEnhancement`,
//! `SearchInfo`, `Citation`, ...).

mod decode;
mod errors;
mod render;
mod sign;
mod stream;

#[cfg(test)]
mod tests;

pub use errors::{error_in_body, error_to_chat, request_id};
pub use render::render;
pub use sign::{sign, sign_action, Credentials};

use crate::core::translate::ResponseTranslator;

/// The API action of a chat request (the `X-TC-Action` header).
pub const ACTION: &str = "ChatCompletions";
/// The API version (the `X-TC-Version` header).
pub const VERSION: &str = "2023-09-01";
/// The service name in the TC3 credential scope.
pub const SERVICE: &str = "hunyuan";

/// The translator of the upstream's 2xx answer: a chat completion JSON, or (with `stream`) chat
/// SSE ending in a usage chunk and `data: [DONE]`. `model` is the model named in the output
/// (the native answer does not name one).
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
