//! Answers the gateway gives itself: health on the API listener, `/`, `/v1/models` and
//! `/v1/models/{id}` (in Anthropic's shape for a client that sends `anthropic-version`), the
//! Gemini model list, stored responses, Anthropic's `count_tokens` and Gemini's `countTokens`.

use super::respond;
use crate::body::caps::ItemCaps;
use crate::core::error::GatewayError;
use crate::core::kind::{Endpoint, Kind};
use crate::core::protocol::Protocol;
use crate::policy::auth::ApiKey;
use crate::protocol::{anthropic, gemini, responses};
use crate::runtime::Runtime;
use crate::state::store::{Owner, ResponseStore};
use bytes::Bytes;
use pingora::proxy::Session;
use serde_json::{json, Value};
use std::sync::Arc;

/// The `/health/live` body (also served by the admin listener).
pub const LIVE: &[u8] = br#"{"status":"live"}"#;

/// The answer to `GET`/`HEAD /`.
pub const ROOT: &[u8] = br#"{"status":"ok"}"#;

/// `/health/live` and `/health/ready` on the API listener too: load balancers probe the port
/// they send traffic to.
pub fn health(rt: &Runtime, path: &str) -> Option<(u16, Bytes)> {
    match path {
        "/health/live" => Some((200, Bytes::from_static(LIVE))),
        "/health/ready" => {
            let (s, v) = crate::runtime::health::readiness(rt);
            Some((s, Bytes::from(v.to_string())))
        }
        _ => None,
    }
}

/// Endpoints without an upstream.
pub async fn answer(
    session: &mut Session,
    rt: &Runtime,
    store: &Arc<dyn ResponseStore>,
    (endpoint, protocol): (Endpoint, Protocol),
    (path, query): (&str, Option<&str>),
    key: Option<Arc<ApiKey>>,
) -> Result<(), GatewayError> {
    let anthropic = protocol == Protocol::Messages;
    // Stored responses are the key's own: another key's id answers as an unknown one.
    let owner = key.as_deref().map(|k| k.id.as_str());
    let body = match endpoint {
        Endpoint::Models if anthropic => {
            anthropic_models(&models_for(&rt.models_json, key.as_deref()))
        }
        Endpoint::Models => models_for(&rt.models_json, key.as_deref()),
        Endpoint::Model => {
            let id = Endpoint::model_id(path).unwrap_or_default();
            let m = model(rt, key.as_deref(), id)?;
            Bytes::from(if anthropic { anthropic_model(&m) } else { m }.to_string())
        }
        Endpoint::GeminiModels => {
            let all = models_for(&rt.models_json, key.as_deref());
            let list = gemini::models_list(&all, |id| rt.route(Kind::Chat, id).is_some());
            Bytes::from(list.to_string())
        }
        Endpoint::GeminiModel => {
            let id = crate::request::translate::gemini_model(path)?;
            let allowed = key.as_deref().is_none_or(|k| k.allows(&id));
            if !allowed || rt.route(Kind::Chat, &id).is_none() {
                return Err(GatewayError::ModelNotFound { model: id });
            }
            Bytes::from(gemini::model_object(&id).to_string())
        }
        Endpoint::StoredResponse => {
            let id = Endpoint::stored_response_id(path).unwrap_or_default();
            stored_response(session, (store, owner), id).await?
        }
        Endpoint::ResponseCancel => {
            let id = Endpoint::cancel_id(path).unwrap_or_default();
            store.get(id, owner).await.map_err(|e| e.error(id, None))?;
            return Err(GatewayError::bad_request(
                "Only background responses can be cancelled, and this gateway runs none \
                 (`background: true` is refused): this response has already completed.",
            ));
        }
        Endpoint::ResponseInputItems => {
            let id = Endpoint::input_items_id(path).unwrap_or_default();
            let stored = store.get(id, owner).await.map_err(|e| e.error(id, None))?;
            let page = responses::input_items(id, stored.input.iter(), query)?;
            Bytes::from(page.to_string())
        }
        _ => Bytes::from_static(ROOT),
    };
    send_json(session, 200, body).await
}

/// `GET` / `DELETE /v1/responses/{id}`. Ids are 96 random bits, so only whoever received an
/// id can name it; and another key's id answers exactly as an unknown id.
async fn stored_response(
    session: &Session,
    (store, owner): (&Arc<dyn ResponseStore>, Owner<'_>),
    id: &str,
) -> Result<Bytes, GatewayError> {
    if session.req_header().method == http::Method::DELETE {
        if !store.delete(id, owner).await {
            return Err(GatewayError::ResponseNotFound { id: id.to_string() });
        }
        let gone = json!({"id": id, "object": "response", "deleted": true});
        return Ok(Bytes::from(gone.to_string()));
    }
    let stored = store.get(id, owner).await.map_err(|e| e.error(id, None))?;
    Ok(Bytes::from(stored.response.to_string()))
}

/// `POST /v1/responses/input_tokens`: the estimate of `protocol::responses::input_tokens`,
/// over the stored conversation too when the request names a `previous_response_id` (the
/// key's own: another key's is an unknown id).
pub async fn input_tokens(
    session: &mut Session,
    caps: &ItemCaps,
    (store, owner): (&Arc<dyn ResponseStore>, Owner<'_>),
    body: &[u8],
) -> Result<(), GatewayError> {
    let req: Value =
        serde_json::from_slice(body).map_err(|e| crate::body::validate::parse_error(&e))?;
    let history = match req.get("previous_response_id").and_then(Value::as_str) {
        Some(id) => Some(
            store
                .get(id, owner)
                .await
                .map_err(|e| e.error(id, Some("previous_response_id")))?
                .history,
        ),
        None => None,
    };
    // Counted like a request to translate: the same caps, before the walk.
    caps.check(Endpoint::Responses, &req, history.as_deref())?;
    let n = responses::input_tokens(&req, history.iter().flat_map(|h| h.iter()))?;
    let answer = json!({"object": "response.input_tokens", "input_tokens": n});
    send_json(session, 200, Bytes::from(answer.to_string())).await
}

/// `POST /v1/messages/count_tokens`: the documented estimate of `protocol::anthropic`.
pub async fn count_tokens(
    session: &mut Session,
    caps: &ItemCaps,
    body: &[u8],
) -> Result<(), GatewayError> {
    let req: Value =
        serde_json::from_slice(body).map_err(|e| crate::body::validate::parse_error(&e))?;
    caps.check(Endpoint::Messages, &req, None)?;
    let n = anthropic::count_tokens(&req)?;
    let answer = json!({"input_tokens": n});
    send_json(session, 200, Bytes::from(answer.to_string())).await
}

/// `POST /v1beta/models/{model}:countTokens`: `{"totalTokens": N}`, the estimate of
/// `protocol::gemini::count_tokens` (the model in the path is checked like any model name;
/// the estimate does not depend on it).
pub async fn gemini_count_tokens(
    session: &mut Session,
    caps: &ItemCaps,
    path: &str,
    body: &[u8],
) -> Result<(), GatewayError> {
    crate::request::translate::gemini_model(path)?;
    let req: Value =
        serde_json::from_slice(body).map_err(|e| crate::body::validate::parse_error(&e))?;
    caps.check(Endpoint::GeminiCountTokens, &req, None)?;
    let n = gemini::count_tokens(&req)?;
    let answer = json!({"totalTokens": n});
    send_json(session, 200, Bytes::from(answer.to_string())).await
}

/// Answers from the response cache: a stream is sent again event by event.
pub async fn replay(
    session: &mut Session,
    c: &crate::state::response_cache::Cached,
    headers: &[(&'static str, String)],
) -> Result<(), GatewayError> {
    let failed = |e: pingora::BError| GatewayError::Internal {
        message: format!("replaying a cached answer: {e}"),
    };
    if !c.sse {
        return respond::send(session, 200, &c.content_type, c.body.clone(), headers)
            .await
            .map_err(failed);
    }
    let mut h =
        pingora::http::ResponseHeader::build(200, Some(4 + headers.len())).map_err(failed)?;
    h.insert_header(http::header::CONTENT_TYPE, c.content_type.as_str())
        .map_err(failed)?;
    h.insert_header(http::header::CACHE_CONTROL, "no-cache")
        .map_err(failed)?;
    for (k, v) in headers {
        h.insert_header(*k, v.as_str()).map_err(failed)?;
    }
    session
        .write_response_header(Box::new(h), false)
        .await
        .map_err(failed)?;
    let mut rest = c.body.clone();
    while !rest.is_empty() {
        let end = memchr::memmem::find(&rest, b"\n\n").map_or(rest.len(), |i| i + 2);
        let event = rest.split_to(end);
        session
            .write_response_body(Some(event), rest.is_empty())
            .await
            .map_err(failed)?;
    }
    Ok(())
}

/// `/v1/models`, filtered to what the key may use.
fn models_for(all: &Bytes, key: Option<&ApiKey>) -> Bytes {
    let Some(key) = key else {
        return all.clone();
    };
    let Ok(mut v) = serde_json::from_slice::<Value>(all) else {
        return all.clone();
    };
    if let Some(data) = v.get_mut("data").and_then(|d| d.as_array_mut()) {
        data.retain(|m| m["id"].as_str().is_some_and(|id| key.allows(id)));
    }
    Bytes::from(v.to_string())
}

/// `/v1/models/{id}`: a model some route serves (exact or glob) and the key may use; 404
/// otherwise, as for a model the key may not see (its name is not confirmed either).
fn model(rt: &Runtime, key: Option<&ApiKey>, id: &str) -> Result<Value, GatewayError> {
    let allowed = key.is_none_or(|k| k.allows(id));
    match Kind::ALL.into_iter().find_map(|k| rt.route(k, id)) {
        Some(t) if allowed => Ok(json!({
            "id": id, "object": "model", "created": 0, "owned_by": t.pool.name,
        })),
        _ => Err(GatewayError::ModelNotFound {
            model: id.to_string(),
        }),
    }
}

/// An OpenAI model object in Anthropic's shape (`GET /v1/models/{id}` with
/// `anthropic-version`). The gateway knows no release dates: `created_at` is the epoch, as
/// `created` is 0 in OpenAI's shape.
fn anthropic_model(m: &Value) -> Value {
    json!({
        "type": "model", "id": m["id"], "display_name": m["id"],
        "created_at": "1970-01-01T00:00:00Z",
    })
}

/// The model list in Anthropic's shape: one page with every model (`has_more: false`; the
/// pagination parameters are not needed for a list this short and are ignored).
fn anthropic_models(openai: &Bytes) -> Bytes {
    let v: Value = serde_json::from_slice(openai).unwrap_or(Value::Null);
    let data: Vec<Value> = v["data"]
        .as_array()
        .map(|d| d.iter().map(anthropic_model).collect())
        .unwrap_or_default();
    let first = data.first().map(|m| m["id"].clone());
    let last = data.last().map(|m| m["id"].clone());
    Bytes::from(
        json!({"data": data, "has_more": false, "first_id": first, "last_id": last}).to_string(),
    )
}

/// A JSON answer the gateway makes itself.
pub async fn send_json(
    session: &mut Session,
    status: u16,
    body: Bytes,
) -> Result<(), GatewayError> {
    respond::send(session, status, "application/json", body, &[])
        .await
        .map_err(|e| GatewayError::Internal {
            message: format!("writing a local answer: {e}"),
        })
}
