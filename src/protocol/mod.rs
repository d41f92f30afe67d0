//! Client protocols that providers don't speak, translated onto Chat Completions and back:
//! the OpenAI Responses API ([`responses`]), the Anthropic Messages API ([`anthropic`]),
//! legacy Completions ([`completions`]) and the Gemini API ([`gemini`]). The request side turns the client's body into a chat
//! request that then takes the chat path (routing, fixing, cascade, limits, retries); the
//! response side is a [`ResponseTranslator`] the proxy's response body filter feeds with the
//! upstream's chat answer, streaming included.
//!
//! Everything here is pure (no I/O) except [`store`], the stored Responses.

pub mod anthropic;
pub mod cache_hint;
pub mod chat_stream;
pub mod completions;
pub mod gemini;
pub mod responses;

use crate::core::protocol::Protocol;
use crate::core::translate::ResponseTranslator;
use crate::state::store;
use serde_json::Value;
use std::sync::Arc;

/// Where a finished Responses answer is kept, with the conversation it answered and the key
/// it belongs to.
#[derive(Clone)]
pub struct Keep {
    pub store: Arc<dyn store::ResponseStore>,
    /// The stored history (if any), then this request's input.
    pub conversation: Arc<crate::state::store::history::History>,
    /// The id of the key that asked (`None` without keys).
    pub owner: Option<String>,
}

/// What the response of a translated request needs: built once per request, handed to every
/// try, turned into a fresh [`ResponseTranslator`] when a response starts.
#[derive(Clone)]
pub enum Translation {
    Responses {
        meta: responses::ResponseMeta,
        stream: bool,
        /// Where to keep the finished response (`store: true`), with its input items.
        store: Option<Keep>,
    },
    Messages {
        meta: anthropic::MessageMeta,
        stream: bool,
    },
    Completions {
        meta: completions::CompletionMeta,
        stream: bool,
    },
    /// The framing (JSON, SSE, JSON array) is in the meta.
    Gemini { meta: gemini::GeminiMeta },
}

impl std::fmt::Debug for Translation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Translation")
            .field(&self.protocol())
            .finish()
    }
}

impl Translation {
    pub fn protocol(&self) -> Protocol {
        match self {
            Translation::Responses { .. } => Protocol::Responses,
            Translation::Messages { .. } => Protocol::Messages,
            Translation::Completions { .. } => Protocol::Completions,
            Translation::Gemini { .. } => Protocol::Gemini,
        }
    }

    /// Whether the client asked for a stream (the response is SSE in its protocol).
    pub fn stream(&self) -> bool {
        match self {
            Translation::Responses { stream, .. }
            | Translation::Messages { stream, .. }
            | Translation::Completions { stream, .. } => *stream,
            Translation::Gemini { meta } => meta.framing.is_stream(),
        }
    }

    /// The content type of a streamed answer: SSE, except Gemini's JSON array.
    pub fn stream_content_type(&self) -> &'static str {
        match self {
            Translation::Gemini { meta } => meta.framing.content_type(),
            _ => "text/event-stream",
        }
    }

    /// A translator for one response.
    pub fn translator(&self) -> Box<dyn ResponseTranslator> {
        match self {
            Translation::Responses { meta, stream, .. } => {
                responses::translator(meta.clone(), *stream)
            }
            Translation::Messages { meta, stream } => anthropic::translator(meta.clone(), *stream),
            Translation::Completions { meta, stream } => {
                completions::translator(meta.clone(), *stream)
            }
            Translation::Gemini { meta } => gemini::translator(meta.clone()),
        }
    }

    /// An upstream error answer (non-2xx) in the client's protocol: Anthropic's shape on
    /// `/v1/messages` (503 becomes 529 `overloaded_error`), Google's on the Gemini API;
    /// OpenAI's shape passes through.
    pub fn error_answer(&self, status: u16, body: &[u8]) -> Option<(u16, Vec<u8>)> {
        match self {
            Translation::Messages { .. } => Some(anthropic::translate_error(status, body)),
            Translation::Gemini { .. } => Some(gemini::translate_error(status, body)),
            _ => None,
        }
    }

    /// Keeps a finished Responses answer for `previous_response_id` (when `store` is on).
    pub fn remember(&self, response: Option<Value>) {
        let (
            Translation::Responses {
                store: Some(keep), ..
            },
            Some(r),
        ) = (self, response)
        else {
            return;
        };
        let id = r
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        keep.store.put(store::Stored::new(
            id,
            keep.owner.clone(),
            keep.conversation.clone(),
            r,
        ));
    }
}
