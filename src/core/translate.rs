//! What a translator says when a client request cannot be expressed as a chat request.

/// A client error (HTTP 400 in the client's own protocol): `message` is shown to the client,
/// `param` names the offending field (`messages[2].content[0].source`), when there is one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TranslateError {
    pub message: String,
    pub param: Option<String>,
}

impl TranslateError {
    pub fn new(message: impl Into<String>, param: impl Into<String>) -> Self {
        TranslateError {
            message: message.into(),
            param: Some(param.into()),
        }
    }
}

/// The response side of a translation, driven by the gateway's response body filter.
///
/// The gateway calls `feed` with each piece of the upstream's (2xx) chat body as it arrives,
/// (any split: a piece may end mid-event or mid-UTF-8 character), then exactly one of `finish`
/// (the upstream body ended) or `fail` (the upstream broke after the response started, or
/// timed out). Each returns the bytes to send to the client now (possibly empty).
/// A streaming translator emits events as soon as it can; a non-streaming one buffers the chat
/// JSON and emits the whole translated body from `finish`.
pub trait ResponseTranslator: Send {
    fn feed(&mut self, chunk: &[u8]) -> Vec<u8>;
    fn finish(&mut self) -> Vec<u8>;
    fn fail(&mut self, message: &str) -> Vec<u8>;
    /// The usage seen so far (prompt, completion tokens), for metrics.
    fn usage(&self) -> Option<crate::core::usage::Usage>;
    /// The final protocol-level response object, once complete (the Responses API stores it
    /// for `previous_response_id`); None for protocols or states that have none.
    fn final_response(&self) -> Option<serde_json::Value> {
        None
    }
}
