//! The request side of the client protocols: a Responses, Messages, legacy Completions or
//! Gemini body becomes a Chat Completions body that then takes the chat path like any chat request, plus
//! the [`Translation`] its answer needs. Chat and the other kinds pass through unchanged.

use super::caps::ItemCaps;
use super::kind::{Endpoint, Kind};
use super::prepare::parse_object;
use crate::chat::elide::Elided;
use crate::config::Runtime;
use crate::error::GatewayError;
use crate::protocol::store::{Owner, ResponseStore};
use crate::protocol::{anthropic, completions, gemini, responses, Keep, Translation};
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
    /// `x-llm-relay-dropped-tools` header and the access log). Bounded by
    /// [`bounded_dropped`]: header-safe names up to [`DROPPED_BYTES`], then one
    /// `... (+N more)` entry.
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
            dropped_tools: bounded_dropped(dropped_tools),
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
        Endpoint::Responses => from_responses(caps, store, owner, &parse_object(&body)?).await,
        Endpoint::Messages => {
            let req = parse_object(&body)?;
            caps.check(endpoint, &req, None)?;
            from_messages(&req)
        }
        Endpoint::Completions => from_completions(rt, body),
        Endpoint::GeminiGenerate | Endpoint::GeminiStream => {
            let req = parse_object(&body)?;
            caps.check(endpoint, &req, None)?;
            from_gemini(endpoint, url, &req)
        }
        Endpoint::Chat => {
            let cut = Elided::cut(&body);
            let json = parse_object(cut.as_ref().map_or(&body[..], |(rest, _)| rest))?;
            caps.check(endpoint, &json, None)?;
            let mut i = Incoming::unchanged(endpoint, body, Some(json));
            i.elided = cut.map(|(_, e)| e);
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

/// The model a Gemini path names (`/v1beta/models/{model}:…` or `/v1beta/models/{model}`).
pub fn gemini_model(path: &str) -> Result<String, GatewayError> {
    let raw = Endpoint::gemini_call(path)
        .map(|(m, _)| m)
        .or_else(|| Endpoint::gemini_model_id(path))
        .unwrap_or_default();
    let model = gemini::decode_model(raw)?;
    super::caps::model_name(&model)?;
    Ok(model)
}

/// Legacy completions pass through to pools that serve them (the `openai` profile) and are
/// translated for chat-only pools (the `hunyuan` profile).
fn from_completions(rt: &Runtime, body: Bytes) -> Result<Incoming, GatewayError> {
    let caps = &rt.body.items;
    let req = parse_object(&body)?;
    caps.check(Endpoint::Completions, &req, None)?;
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
