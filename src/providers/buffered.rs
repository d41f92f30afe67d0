//! The non-streamed answer of a provider that does not answer chat: buffered whole, decoded
//! into a chat completion at its end (both providers' decoders are this, with their own
//! `decode`).

use crate::core::translate::ResponseTranslator;
use crate::core::usage::Usage;
use serde_json::{json, Value};

/// What a provider's body becomes: the chat completion and its usage, or the OpenAI-shaped
/// error body to answer with (the gateway already sent the 2xx status: only the body can say).
pub type Decoded = Result<(Value, Option<Usage>), Value>;

/// Buffers the body; `decode` turns it into chat at the end.
pub struct Buffered<F> {
    body: Vec<u8>,
    usage: Option<Usage>,
    done: bool,
    decode: F,
}

impl<F: FnMut(&[u8]) -> Decoded + Send> Buffered<F> {
    pub fn new(decode: F) -> Self {
        Buffered {
            body: Vec::new(),
            usage: None,
            done: false,
            decode,
        }
    }
}

/// OpenAI's error body for a broken or unreadable upstream answer.
pub fn server_error(message: &str) -> Value {
    json!({"error": {"message": message, "type": "server_error", "param": null, "code": null}})
}

impl<F: FnMut(&[u8]) -> Decoded + Send> ResponseTranslator for Buffered<F> {
    fn feed(&mut self, chunk: &[u8]) -> Vec<u8> {
        if !self.done {
            self.body.extend_from_slice(chunk);
        }
        Vec::new()
    }

    fn finish(&mut self) -> Vec<u8> {
        if std::mem::replace(&mut self.done, true) {
            return Vec::new();
        }
        let body = std::mem::take(&mut self.body);
        let out = match (self.decode)(&body) {
            Ok((v, usage)) => {
                self.usage = usage;
                v
            }
            Err(e) => e,
        };
        out.to_string().into_bytes()
    }

    fn fail(&mut self, message: &str) -> Vec<u8> {
        if std::mem::replace(&mut self.done, true) {
            return Vec::new();
        }
        self.body = Vec::new();
        server_error(message).to_string().into_bytes()
    }

    fn usage(&self) -> Option<Usage> {
        self.usage
    }
}
