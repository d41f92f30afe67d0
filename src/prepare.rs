//! From a whole request body to what is sent upstream: find the model, route it, and rewrite
//! the body (alias rename; for chat on a fixing profile, the provider's message rules).
//! Bodies that need no change are forwarded byte for byte, without a re-serialisation.

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
    endpoint: Endpoint,
    kind: Kind,
    content_type: Option<&str>,
    body: Bytes,
) -> Result<Prepared, GatewayError> {
    match endpoint.body_format() {
        BodyFormat::Multipart => prepare_multipart(rt, kind, content_type, body).await,
        _ => prepare_json(rt, kind, body),
    }
}

fn route(rt: &Runtime, kind: Kind, model: &str) -> Result<Target, GatewayError> {
    rt.route(kind, model).ok_or_else(|| GatewayError::ModelNotFound {
        model: model.to_string(),
    })
}

fn prepare_json(rt: &Runtime, kind: Kind, body: Bytes) -> Result<Prepared, GatewayError> {
    let peek: Peek = serde_json::from_slice(&body).map_err(|e| json_error(&e))?;
    let model = match peek.model.as_deref().map(str::trim) {
        Some(m) if !m.is_empty() => m.to_string(),
        _ => return Err(GatewayError::bad_param("You must provide a model parameter.", "model")),
    };
    let target = route(rt, kind, &model)?;
    let stream = peek.stream.unwrap_or(false);
    let fixes = kind == Kind::Chat && target.pool.profile == Profile::Hunyuan;
    let body = if fixes || target.model != model {
        rewrite(&body, &target, fixes)?
    } else {
        body
    };
    Ok(Prepared {
        target,
        requested_model: model,
        body,
        stream,
    })
}

/// Full parse, rename, fix, serialise.
fn rewrite(body: &[u8], target: &Target, fixes: bool) -> Result<Bytes, GatewayError> {
    let mut v: Value = serde_json::from_slice(body).map_err(|e| json_error(&e))?;
    let Some(obj) = v.as_object_mut() else {
        return Err(GatewayError::bad_request("The request body must be a JSON object."));
    };
    obj.insert("model".into(), Value::String(target.model.clone()));
    if fixes {
        fix_hunyuan(&mut v, &target.pool.fix, target.caps);
    }
    serde_json::to_vec(&v)
        .map(Bytes::from)
        .map_err(|e| GatewayError::Internal {
            message: format!("re-serialising the request: {e}"),
        })
}

fn json_error(e: &serde_json::Error) -> GatewayError {
    if e.is_data() {
        GatewayError::bad_request(format!("The request body has a field of the wrong type: {e}"))
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
        _ => return Err(GatewayError::bad_param("You must provide a model parameter.", "model")),
    };
    let target = route(rt, kind, &model)?;
    if target.model != model {
        // Renaming inside a multipart body means rebuilding it; aliases are for JSON kinds.
        log::debug!("alias {model} -> {} not applied to a multipart upload", target.model);
    }
    Ok(Prepared {
        target,
        requested_model: model,
        body,
        stream: false,
    })
}
