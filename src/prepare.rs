//! From a whole request body to what is sent upstream: find the model, route it, and rewrite
//! the body (alias rename; for chat on a fixing profile, the provider's message rules).
//! Bodies that need no change are forwarded byte for byte, without a re-serialisation.

use crate::chat::cascade::{self, CascadeState, Report};
use crate::chat::fix::fix_hunyuan;
use crate::config::{Runtime, Target};

use crate::error::GatewayError;
use crate::kind::{BodyFormat, Endpoint, Kind};
use crate::multipart;
use crate::upstream::Profile;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::Value;
use std::borrow::Cow;

/// A request ready to forward.
#[derive(Debug)]
pub struct Prepared {
    pub target: Target,
    /// The model the client asked for.
    pub requested_model: String,
    pub body: Bytes,
    /// The client asked for an SSE stream.
    pub stream: bool,
    /// What the cascade did (chat only).
    pub cascade: Report,
}

/// Only what routing needs, borrowed from the body: far cheaper than a full `Value`.
#[derive(Deserialize)]
struct Peek<'a> {
    #[serde(borrow, default)]
    model: Option<Cow<'a, str>>,
    #[serde(default)]
    stream: Option<bool>,
}

/// Routes and rewrites one request.
pub async fn prepare(
    rt: &Runtime,
    cascade: &CascadeState,
    endpoint: Endpoint,
    kind: Kind,
    content_type: Option<&str>,
    body: Bytes,
) -> Result<Prepared, GatewayError> {
    match endpoint.body_format() {
        BodyFormat::Multipart => prepare_multipart(rt, kind, content_type, body).await,
        _ if kind == Kind::Chat => prepare_chat(rt, cascade, body).await,
        _ => prepare_json(rt, kind, body),
    }
}

fn route(rt: &Runtime, kind: Kind, model: &str) -> Result<Target, GatewayError> {
    rt.route(kind, model)
        .ok_or_else(|| GatewayError::ModelNotFound {
            model: model.to_string(),
        })
}

fn prepare_json(rt: &Runtime, kind: Kind, body: Bytes) -> Result<Prepared, GatewayError> {
    let peek: Peek = serde_json::from_slice(&body).map_err(|e| json_error(&e))?;
    let model = required_model(peek.model.as_deref())?;
    let target = route(rt, kind, &model)?;
    let stream = peek.stream.unwrap_or(false);
    let body = if target.model != model {
        let mut v = parse_object(&body)?;
        v["model"] = Value::String(target.model.clone());
        serialise(&v)?
    } else {
        body
    };
    Ok(Prepared {
        target,
        requested_model: model,
        body,
        stream,
        cascade: Report::default(),
    })
}

/// Chat: route, then (only when needed) parse once, describe images, fix, serialise once.
async fn prepare_chat(
    rt: &Runtime,
    state: &CascadeState,
    body: Bytes,
) -> Result<Prepared, GatewayError> {
    let peek: Peek = serde_json::from_slice(&body).map_err(|e| json_error(&e))?;
    let model = required_model(peek.model.as_deref())?;
    let mut target = route(rt, Kind::Chat, &model)?;
    let stream = peek.stream.unwrap_or(false);
    // A cheap byte scan keeps image-free requests off the cascade's full walk.
    let maybe_images = !target.caps.images && memchr::memmem::find(&body, b"image_url").is_some();
    let fixes = target.pool.profile == Profile::Hunyuan;
    if !fixes && !maybe_images && target.model == model {
        validate_chat_shape(&body)?;
        return Ok(Prepared {
            target,
            requested_model: model,
            body,
            stream,
            cascade: Report::default(),
        });
    }
    let mut v = parse_object(&body)?;
    validate_messages(&v)?;
    let mut report = Report::default();
    if maybe_images && cascade::has_images(&v) {
        let Some(settings) = rt.cascade.as_ref() else {
            return Err(GatewayError::bad_param(
                format!(
                    "The model `{model}` cannot read images and no image cascade is configured."
                ),
                "messages",
            ));
        };
        report = cascade::run(&mut v, settings, state).await?;
        if let Some(text_model) = &settings.text_model {
            target = route(rt, Kind::Chat, text_model)?;
        }
    }
    v["model"] = Value::String(target.model.clone());
    if target.pool.profile == Profile::Hunyuan {
        fix_hunyuan(&mut v, &target.pool.fix, target.caps);
    }
    Ok(Prepared {
        body: serialise(&v)?,
        target,
        requested_model: model,
        stream,
        cascade: report,
    })
}

fn required_model(m: Option<&str>) -> Result<String, GatewayError> {
    match m.map(str::trim) {
        Some(m) if !m.is_empty() => Ok(m.to_string()),
        _ => Err(GatewayError::bad_param(
            "You must provide a model parameter.",
            "model",
        )),
    }
}

/// A pass-through chat body still must be a chat request: `messages` a non-empty array.
fn validate_chat_shape(body: &[u8]) -> Result<(), GatewayError> {
    #[derive(Deserialize)]
    struct Shape {
        #[serde(default)]
        messages: Option<Vec<serde::de::IgnoredAny>>,
    }
    let s: Shape = serde_json::from_slice(body).map_err(|_| messages_error())?;
    match s.messages {
        Some(m) if !m.is_empty() => Ok(()),
        _ => Err(messages_error()),
    }
}

fn validate_messages(v: &Value) -> Result<(), GatewayError> {
    match v.get("messages").and_then(Value::as_array) {
        Some(m) if !m.is_empty() && m.iter().all(Value::is_object) => Ok(()),
        _ => Err(messages_error()),
    }
}

fn messages_error() -> GatewayError {
    GatewayError::bad_param(
        "`messages` must be a non-empty array of message objects.",
        "messages",
    )
}

fn parse_object(body: &[u8]) -> Result<Value, GatewayError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| json_error(&e))?;
    if v.is_object() {
        Ok(v)
    } else {
        Err(GatewayError::bad_request(
            "The request body must be a JSON object.",
        ))
    }
}

fn serialise(v: &Value) -> Result<Bytes, GatewayError> {
    serde_json::to_vec(v)
        .map(Bytes::from)
        .map_err(|e| GatewayError::Internal {
            message: format!("re-serialising the request: {e}"),
        })
}

fn json_error(e: &serde_json::Error) -> GatewayError {
    if e.is_data() {
        GatewayError::bad_request(format!(
            "The request body has a field of the wrong type: {e}"
        ))
    } else {
        GatewayError::bad_request(format!(
            "We could not parse the JSON body of your request: {e}"
        ))
    }
}

async fn prepare_multipart(
    rt: &Runtime,
    kind: Kind,
    content_type: Option<&str>,
    body: Bytes,
) -> Result<Prepared, GatewayError> {
    let form = multipart::summarize(content_type, body.clone()).await?;
    let model = match form.model {
        Some(m) if !m.is_empty() => m,
        _ => {
            return Err(GatewayError::bad_param(
                "You must provide a model parameter.",
                "model",
            ))
        }
    };
    let target = route(rt, kind, &model)?;
    if target.model != model {
        // Renaming inside a multipart body means rebuilding it; aliases are for JSON kinds.
        log::debug!(
            "alias {model} -> {} not applied to a multipart upload",
            target.model
        );
    }
    Ok(Prepared {
        target,
        requested_model: model,
        body,
        stream: false,
        cascade: Report::default(),
    })
}
