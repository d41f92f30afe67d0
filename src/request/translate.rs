//! The request side of the client protocols: a Responses, Messages, legacy Completions or
//! Gemini body becomes a Chat Completions body that then takes the chat path like any chat request, plus
//! the [`Translation`] its answer needs. Chat and the other kinds pass through unchanged.

use super::prepare::parse_object;
use crate::body::caps::ItemCaps;
use crate::body::validate::Peeked;
use crate::chat::elide::Elided;
use crate::core::error::GatewayError;
use crate::core::kind::{Endpoint, Kind};
use crate::core::protocol::Protocol;
use crate::protocol::{anthropic, completions, gemini, responses, Keep, Translation};
use crate::runtime::Runtime;
use crate::state::store::{Owner, ResponseStore};
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
    /// `x-llm-relay-dropped-tools` header and the access log). Bounded by
    /// [`bounded_dropped`]: header-safe names up to [`DROPPED_BYTES`], then one
    /// `... (+N more)` entry.
    pub dropped_tools: Vec<String>,
    /// The conversation the request names (`prompt_cache_key`, `user`, `metadata.user_id`),
    /// hashed: pools with `affinity` send it to the same member.
    pub affinity: Option<u64>,
    /// What routing needs, when the body does not say it (a Gemini request passed through:
    /// its model is in the path).
    pub peeked: Option<Peeked>,
}

/// The conversation a request names, for member affinity: the first of `prompt_cache_key`
/// (Codex CLI, the OpenAI SDKs), `user`, `metadata.user_id` (Claude Code) that is a string.
pub fn affinity_of(req: &Value) -> Option<u64> {
    let named = req
        .get("prompt_cache_key")
        .or_else(|| req.get("user"))
        .or_else(|| req.get("metadata").and_then(|m| m.get("user_id")))
        .and_then(Value::as_str)?;
    Some(affinity_hash(named.as_bytes()))
}

/// The affinity hash of a conversation's name (also of the `x-llm-relay-affinity` header).
pub fn affinity_hash(name: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(name)
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
            affinity: None,
            peeked: None,
        }
    }

    fn chat(chat: Value, translation: Translation, dropped_tools: Vec<String>) -> Incoming {
        Incoming {
            endpoint: Endpoint::Chat,
            body: Bytes::new(),
            json: Some(chat),
            elided: None,
            translation: Some(translation),
            dropped_tools: bounded_dropped(dropped_tools),
            affinity: None,
            peeked: None,
        }
    }
}

/// The most bytes of dropped tool names reported (the header joins them with `,`).
pub const DROPPED_BYTES: usize = 2048;
/// The most bytes of one name reported (tool names and types are identifiers of ~10-64).
const DROPPED_NAME_BYTES: usize = 64;

/// The dropped tools as reported: each name cut to [`DROPPED_NAME_BYTES`] with anything but
/// visible ASCII replaced by `?` (it becomes a header value, and a client chose it), as many
/// as fit in [`DROPPED_BYTES`] joined by commas, then `... (+N more)` for the rest. A request
/// with 100,000 distinct built-in tool types once got a multi-megabyte header.
pub fn bounded_dropped(names: Vec<String>) -> Vec<String> {
    let total = names.len();
    let mut out = Vec::new();
    let mut used = 0;
    for name in names {
        let safe = header_safe(&name);
        if used + safe.len() + 1 > DROPPED_BYTES {
            break;
        }
        used += safe.len() + 1;
        out.push(safe);
    }
    if out.len() < total {
        out.push(format!("... (+{} more)", total - out.len()));
    }
    out
}

fn header_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .scan(0, |bytes, c| {
            *bytes += c.len_utf8();
            (*bytes <= DROPPED_NAME_BYTES).then_some(c)
        })
        .collect()
}

/// Translates `body` of `endpoint` when the client spoke a protocol other than chat.
/// `owner` is the key's id (`None` without keys): a `previous_response_id` is looked up as
/// its, and what this request stores becomes its. `url` is the request's path and query:
/// the Gemini API names the model in the path and the framing in the query.
pub async fn incoming(
    rt: &Runtime,
    (store, owner): (&Arc<dyn ResponseStore>, Owner<'_>),
    (endpoint, url): (Endpoint, (&str, Option<&str>)),
    body: Bytes,
) -> Result<Incoming, GatewayError> {
    // Each parsed body is counted (`rt.body.items`) before it is translated or validated.
    let caps = &rt.body.items;
    match endpoint {
        Endpoint::Responses => {
            let req = parse_object(&body)?;
            let mut i = from_responses(caps, store, owner, &req).await?;
            i.affinity = affinity_of(&req);
            Ok(i)
        }
        Endpoint::Messages => {
            let req = parse_object(&body)?;
            caps.check(endpoint, &req, None)?;
            let mut i = if passes_through(rt, &req, Protocol::Messages) {
                // Validated from the bytes and forwarded as they came (thinking signatures,
                // `cache_control` and unknown fields kept).
                Incoming::unchanged(Endpoint::Messages, body, None)
            } else {
                from_messages(&req)?
            };
            i.affinity = affinity_of(&req);
            Ok(i)
        }
        Endpoint::Completions => from_completions(rt, body),
        Endpoint::GeminiGenerate | Endpoint::GeminiStream => {
            let req = parse_object(&body)?;
            caps.check(endpoint, &req, None)?;
            let model = gemini_model(url.0)?;
            if routes_speak(rt, &model, Protocol::Gemini) {
                // Forwarded as it came, to the path of the routed model (see `native_path`).
                let peeked = gemini_peek(endpoint, model, &req);
                let mut i = Incoming::unchanged(endpoint, body, None);
                i.peeked = Some(peeked);
                return Ok(i);
            }
            from_gemini(endpoint, url, &req)
        }
        Endpoint::Chat => {
            let cut = Elided::cut(&body);
            let json = parse_object(cut.as_ref().map_or(&body[..], |(rest, _)| rest))?;
            caps.check(endpoint, &json, None)?;
            let affinity = affinity_of(&json);
            let mut i = Incoming::unchanged(endpoint, body, Some(json));
            i.elided = cut.map(|(_, e)| e);
            i.affinity = affinity;
            Ok(i)
        }
        _ => Ok(Incoming::unchanged(endpoint, body, None)),
    }
}

async fn from_responses(
    caps: &ItemCaps,
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
    caps.check(Endpoint::Responses, req, history.as_deref())?;
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

/// A Gemini request: the model from the path (decoded, capped like any model name), the
/// framing from the method and `alt`.
fn from_gemini(
    endpoint: Endpoint,
    (path, query): (&str, Option<&str>),
    req: &Value,
) -> Result<Incoming, GatewayError> {
    let model = gemini_model(path)?;
    let alt = gemini::query_param(query, "alt");
    let meta = gemini::GeminiMeta {
        response_id: new_id(""),
        framing: gemini::Framing::of(endpoint == Endpoint::GeminiStream, alt.as_deref()),
        ..Default::default()
    };
    let t = gemini::to_chat(req, &model, meta)?;
    let dropped = t.meta.dropped_tools.clone();
    Ok(Incoming::chat(
        t.chat,
        Translation::Gemini { meta: t.meta },
        dropped,
    ))
}

/// What routing needs from a Gemini request passed through: the model is the path's, the
/// stream the method's, the output cap `generationConfig.maxOutputTokens`; its usage comes
/// with every stream (nothing to ask for or strip).
fn gemini_peek(endpoint: Endpoint, model: String, req: &Value) -> Peeked {
    Peeked {
        model,
        stream: endpoint == Endpoint::GeminiStream,
        max_tokens: req
            .pointer("/generationConfig/maxOutputTokens")
            .and_then(Value::as_u64),
        stream_options: false,
        include_usage: true,
    }
}

/// The model a Gemini path names (`/v1beta/models/{model}:…` or `/v1beta/models/{model}`).
pub fn gemini_model(path: &str) -> Result<String, GatewayError> {
    let raw = Endpoint::gemini_call(path)
        .map(|(m, _)| m)
        .or_else(|| Endpoint::gemini_model_id(path))
        .unwrap_or_default();
    let model = gemini::decode_model(raw)?;
    crate::body::caps::model_name(&model)?;
    Ok(model)
}

/// Legacy completions pass through to pools that serve them (the `openai` provider) and are
/// translated for chat-only pools (the others).
fn from_completions(rt: &Runtime, body: Bytes) -> Result<Incoming, GatewayError> {
    let caps = &rt.body.items;
    let req = parse_object(&body)?;
    caps.check(Endpoint::Completions, &req, None)?;
    if passes_through(rt, &req, Protocol::Completions) {
        // Passed through: validated from the bytes, forwarded as they came.
        let mut i = Incoming::unchanged(Endpoint::Completions, body, None);
        i.affinity = affinity_of(&req);
        return Ok(i);
    }
    let t = completions::to_chat(&req, new_id("cmpl-"), now())?;
    let translation = Translation::Completions {
        meta: t.meta,
        stream: t.stream,
    };
    let mut i = Incoming::chat(t.chat, translation, Vec::new());
    i.affinity = affinity_of(&req);
    Ok(i)
}

/// The pass-through table: a request passes through untranslated when every pool it may be
/// tried on (the route's, and its fallback) speaks the client's protocol; otherwise it is
/// translated to chat, and each try renders it for its own provider. An unknown model is
/// translated (and then refused by routing, in the client's protocol).
fn passes_through(rt: &Runtime, req: &Value, protocol: Protocol) -> bool {
    let model = req.get("model").and_then(Value::as_str).unwrap_or_default();
    routes_speak(rt, model, protocol)
}

/// Whether every pool a request for `model` may be tried on speaks `protocol`.
fn routes_speak(rt: &Runtime, model: &str, protocol: Protocol) -> bool {
    rt.route(Kind::Chat, model).is_some_and(|t| {
        // Configured stages see the chat request and answer: a route with them translates.
        !t.pipeline.has_stages()
            && t.pool.provider.speaks(protocol)
            && t.fallback
                .as_ref()
                .is_none_or(|f| f.provider.speaks(protocol))
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropped_tools_are_bounded_and_header_safe() {
        let few = vec!["web_search".to_string(), "local_shell".to_string()];
        assert_eq!(bounded_dropped(few.clone()), few);
        let many: Vec<String> = (0..100_000).map(|i| format!("builtin_{i}")).collect();
        let out = bounded_dropped(many);
        let joined = out.join(",");
        assert!(joined.len() <= DROPPED_BYTES + 32, "{}", joined.len());
        let shown = out.len() - 1;
        assert_eq!(
            out[..shown],
            (0..shown)
                .map(|i| format!("builtin_{i}"))
                .collect::<Vec<_>>()
        );
        assert_eq!(out[shown], format!("... (+{} more)", 100_000 - shown));
        let odd = bounded_dropped(vec![format!("a\r\nb\u{e9}{}", "x".repeat(500))]);
        assert_eq!(odd[0].len(), DROPPED_NAME_BYTES);
        assert!(odd[0].starts_with("a??b?x"), "{odd:?}");
        assert!(http::HeaderValue::from_str(&odd.join(",")).is_ok());
        assert_eq!(bounded_dropped(vec![]), Vec::<String>::new());
    }
}
