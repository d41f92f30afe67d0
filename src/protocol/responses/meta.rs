//! The types the request and response sides share.

use crate::state::store::history::History;
use serde_json::{Map, Value};
use std::sync::Arc;

/// The translated request, plus what the answer needs.
#[derive(Clone, Debug)]
pub struct Translated {
    /// A Chat Completions request object.
    pub chat: Value,
    pub stream: bool,
    /// `store` as the client asked (default true per OpenAI).
    pub store: bool,
    /// What the response translator needs.
    pub meta: ResponseMeta,
    /// Types of built-in tools removed (`web_search`, `local_shell`, ...).
    pub dropped_tools: Vec<String>,
    /// The history, then this request's input, as Responses input items: what is stored for
    /// `previous_response_id` (sharing the history's memory).
    pub conversation: Arc<History>,
}

/// What the response side needs to know about the request.
#[derive(Clone, Debug, Default)]
pub struct ResponseMeta {
    /// `resp_…`, given by the gateway.
    pub id: String,
    pub created_at: u64,
    /// The model as the client asked for it.
    pub model: String,
    /// Names (as sent to chat) of `custom` tools: their calls come back as `custom_tool_call`.
    pub custom_tools: Vec<String>,
    /// Tools that came in a `namespace`: (chat name, namespace, name in the namespace), so
    /// calls come back under the name the client declared.
    pub namespaced: Vec<(String, String, String)>,
    /// Request fields echoed in the response object.
    pub echo: Map<String, Value>,
}
