//! The request side of the client protocols: a Responses, Messages or legacy Completions body
//! becomes a Chat Completions body that then takes the chat path like any chat request, plus
//! the [`Translation`] its answer needs. Chat and the other kinds pass through unchanged.

use super::kind::{Endpoint, Kind};
use super::prepare::parse_object;
use crate::chat::elide::Elided;
use crate::config::Runtime;
use crate::error::GatewayError;
use crate::protocol::store::{Owner, ResponseStore};
use crate::protocol::{anthropic, completions, responses, Keep, Translation};
use crate::upstream::Profile;
use bytes::Bytes;
use serde_json::Value;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// A request as the chat path (or a pass-through kind) sees it.
#[derive(Debug)]
pub struct Incoming {
    /// `Endpoint::Chat` for translated requests.
    pub endpoint: Endpoint,
    /// The client's bytes (empty for a translated request: it exists only as `json`).
    pub body: Bytes,
    /// A chat body's one parse (chat and translated requests): validation, routing, the
    /// cascade and fixing all work on it, and it is serialised once, at the end.
    pub json: Option<Value>,
    /// Long image data URLs kept out of `json` (a large chat body only; see `chat::elide`).
    pub elided: Option<Elided>,
    pub translation: Option<Translation>,
    /// Built-in tools the upstream cannot run, removed from the request (reported in the
    /// `x-llm-relay-dropped-tools` header and the access log).
    pub dropped_tools: Vec<String>,
}

impl Incoming {
    fn unchanged(endpoint: Endpoint, body: Bytes, json: Option<Value>) -> Incoming {
        Incoming {
            endpoint,
            body,
            json,
            elided: None,
            translation: None,
            dropped_tools: Vec::new(),
        }
    }

    fn chat(chat: Value, translation: Translation, dropped_tools: Vec<String>) -> Incoming {
        Incoming {
            endpoint: Endpoint::Chat,
            body: Bytes::new(),
            json: Some(chat),
            elided: None,
            translation: Some(translation),
            dropped_tools,
        }
    }
}

/// Translates `body` of `endpoint` when the client spoke a protocol other than chat.
/// `owner` is the key's id (`None` without keys): a `previous_response_id` is looked up as
/// its, and what this request stores becomes its.
pub async fn incoming(
    rt: &Runtime,
    (store, owner): (&Arc<dyn ResponseStore>, Owner<'_>),
    endpoint: Endpoint,
    body: Bytes,
) -> Result<Incoming, GatewayError> {
    match endpoint {
        Endpoint::Responses => from_responses(store, owner, &parse_object(&body)?).await,
        Endpoint::Messages => from_messages(&parse_object(&body)?),
        Endpoint::Completions => from_completions(rt, body),
        Endpoint::Chat => {
            let cut = Elided::cut(&body);
            let json = parse_object(cut.as_ref().map_or(&body[..], |(rest, _)| rest))?;
            let mut i = Incoming::unchanged(endpoint, body, Some(json));
            i.elided = cut.map(|(_, e)| e);
            Ok(i)
        }
        _ => Ok(Incoming::unchanged(endpoint, body, None)),
    }
}

async fn from_responses(
    store: &Arc<dyn ResponseStore>,
    owner: Owner<'_>,
    req: &Value,
) -> Result<Incoming, GatewayError> {
    let history = match req.get("previous_response_id") {
        None | Some(Value::Null) => None,
        // Another key's id is an unknown id: nothing of it goes further.
        Some(Value::String(id)) => Some(
            store
                .get(id, owner)
                .await
                .map_err(|e| e.error(id, Some("previous_response_id")))?
                .history,
        ),
        Some(_) => {
            return Err(GatewayError::bad_param(
                "`previous_response_id` must be a string.",
                "previous_response_id",
            ))
        }
    };
    let t = responses::continue_chat(req, history.as_ref(), new_id("resp_"), now())?;
    let keep = t.store.then(|| Keep {
        store: store.clone(),
        conversation: t.conversation,
        owner: owner.map(str::to_string),
    });
    let translation = Translation::Responses {
        meta: t.meta,
        stream: t.stream,
        store: keep,
    };
    Ok(Incoming::chat(t.chat, translation, t.dropped_tools))
}

fn from_messages(req: &Value) -> Result<Incoming, GatewayError> {
    let t = anthropic::to_chat(req, new_id("msg_"))?;
    let dropped = t.meta.dropped_tools.clone();
    let translation = Translation::Messages {
        meta: t.meta,
        stream: t.stream,
    };
    Ok(Incoming::chat(t.chat, translation, dropped))
}

/// Legacy completions pass through to pools that serve them (the `openai` profile) and are
/// translated for chat-only pools (the `hunyuan` profile).
fn from_completions(rt: &Runtime, body: Bytes) -> Result<Incoming, GatewayError> {
    let req = parse_object(&body)?;
    let model = req.get("model").and_then(Value::as_str).unwrap_or_default();
    let chat_only = rt
        .route(Kind::Chat, model)
        .is_some_and(|t| t.pool.profile == Profile::Hunyuan);
    if !chat_only {
        // Passed through: validated from the bytes, forwarded as they came.
        return Ok(Incoming::unchanged(Endpoint::Completions, body, None));
    }
    let t = completions::to_chat(&req, new_id("cmpl-"), now())?;
    let translation = Translation::Completions {
        meta: t.meta,
        stream: t.stream,
    };
    Ok(Incoming::chat(t.chat, translation, Vec::new()))
}

/// `prefix` and 24 random hex digits (96 bits: unguessable, so a stored response is only
/// found by whoever received its id).
fn new_id(prefix: &str) -> String {
    format!("{prefix}{}", hex::encode(rand::random::<[u8; 12]>()))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
