//! Embeddings, images, audio and models: the non-chat OpenAI endpoints.

use std::sync::{Arc, LazyLock};

use axum::body::to_bytes;
use axum::extract::{Multipart, Request, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::app::{now_secs, App, Kind, Last, LastBody};
use crate::knobs::{invalid_request, json_bytes, json_value, ReqKnobs};
use crate::stream::paced;
use crate::BODY_LIMIT;

/// A valid 1x1 transparent PNG.
pub(crate) const PNG_1X1_B64: &str =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";
/// Upper bound on `n` images per request.
const MAX_IMAGES: u64 = 16;

/// Reads a JSON request, records it, applies the header knobs. `Err` is the response to send.
async fn json_request(app: &App, kind: Kind, req: Request) -> Result<(Value, ReqKnobs), Response> {
    let (parts, body) = req.into_parts();
    let knobs = ReqKnobs::from_headers(&parts.headers);
    let bytes = to_bytes(body, BODY_LIMIT)
        .await
        .map_err(|e| invalid_request(format!("cannot read body: {e}")))?;
    let parsed = serde_json::from_slice::<Value>(&bytes);
    record(app, kind, parts, LastBody::Json(bytes));
    knobs.gate(0).await?;
    match parsed {
        Ok(v) if v.is_object() => Ok((v, knobs)),
        Ok(_) => Err(invalid_request("body must be a JSON object")),
        Err(e) => Err(invalid_request(format!("invalid JSON body: {e}"))),
    }
}

fn record(app: &App, kind: Kind, parts: Parts, body: LastBody) {
    let last = Last {
        uri: parts.uri,
        headers: parts.headers,
        body,
    };
    app.stats.record(kind, Arc::new(last));
}

/// A multipart part: text value, or raw bytes for file parts.
enum Part {
    Text(String),
    File(Bytes),
}

/// Reads a multipart request (fields recorded as text or `"<file N bytes>"`), records it and
/// applies the header knobs.
async fn multipart_request(
    app: &Arc<App>,
    kind: Kind,
    req: Request,
) -> Result<(Vec<(String, Part)>, ReqKnobs), Response> {
    use axum::extract::FromRequest;
    let (parts, body) = req.into_parts();
    let knobs = ReqKnobs::from_headers(&parts.headers);
    // Multipart needs the content-type header; these endpoints are not hot, so copy the parts.
    let req = Request::from_parts(clone_parts(&parts), body);
    let read = async {
        let mut mp = Multipart::from_request(req, app)
            .await
            .map_err(|e| e.into_response())?;
        let mut fields = Vec::new();
        while let Some(f) = mp.next_field().await.map_err(|e| e.into_response())? {
            let name = f.name().unwrap_or("").to_string();
            let is_file = f.file_name().is_some();
            let data = f.bytes().await.map_err(|e| e.into_response())?;
            let part = match (is_file, std::str::from_utf8(&data)) {
                (false, Ok(s)) => Part::Text(s.to_string()),
                _ => Part::File(data),
            };
            fields.push((name, part));
        }
        Ok::<_, Response>(fields)
    };
    let fields = read.await;
    let summary: Map<String, Value> = fields
        .as_ref()
        .map(|fs| {
            fs.iter()
                .map(|(n, p)| {
                    let v = match p {
                        Part::Text(s) => Value::String(s.clone()),
                        Part::File(b) => Value::String(format!("<file {} bytes>", b.len())),
                    };
                    (n.clone(), v)
                })
                .collect()
        })
        .unwrap_or_default();
    record(app, kind, parts, LastBody::Fields(summary));
    knobs.gate(0).await?;
    Ok((fields?, knobs))
}

fn clone_parts(p: &Parts) -> Parts {
    let mut b = Request::builder()
        .method(p.method.clone())
        .uri(p.uri.clone())
        .version(p.version);
    if let Some(h) = b.headers_mut() {
        *h = p.headers.clone();
    }
    // Building from a valid request's own pieces cannot fail.
    let (parts, ()) = b.body(()).unwrap_or_default().into_parts();
    parts
}

fn text_field<'a>(fields: &'a [(String, Part)], name: &str) -> Option<&'a str> {
    fields.iter().find_map(|(n, p)| match p {
        Part::Text(s) if n == name => Some(s.as_str()),
        _ => None,
    })
}

/// Eight deterministic floats in [-1, 1] derived from the input.
fn embed(input: &[u8]) -> Vec<f32> {
    let d = Sha256::digest(input);
    d.chunks(2)
        .take(8)
        .map(|c| f32::from(u16::from_be_bytes([c[0], c[1]])) / 32767.5 - 1.0)
        .collect()
}

pub async fn embeddings(State(app): State<Arc<App>>, req: Request) -> Response {
    let (body, _) = match json_request(&app, Kind::Embeddings, req).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    // A string, an array of strings, one token array, or an array of token arrays.
    let inputs: Vec<Vec<u8>> = match body.get("input") {
        Some(Value::String(s)) => vec![s.as_bytes().to_vec()],
        Some(Value::Array(a)) if !a.is_empty() && a.iter().all(Value::is_number) => {
            vec![Value::Array(a.clone()).to_string().into_bytes()]
        }
        Some(Value::Array(a)) if !a.is_empty() => a
            .iter()
            .map(|v| match v {
                Value::String(s) => s.as_bytes().to_vec(),
                other => other.to_string().into_bytes(),
            })
            .collect(),
        _ => return invalid_request("input must be a non-empty string or array"),
    };
    let tokens: usize = inputs.iter().map(|i| i.len().div_ceil(4)).sum();
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, input)| json!({"object": "embedding", "index": i, "embedding": embed(input)}))
        .collect();
    let model = body
        .get("model")
        .cloned()
        .unwrap_or(json!("mock-embedding"));
    json_value(
        StatusCode::OK,
        &json!({
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }),
    )
}

fn images_response(n: u64) -> Response {
    let data: Vec<Value> = (0..n.clamp(1, MAX_IMAGES))
        .map(|_| json!({"b64_json": PNG_1X1_B64}))
        .collect();
    json_value(
        StatusCode::OK,
        &json!({"created": now_secs(), "data": data}),
    )
}

pub async fn image_generations(State(app): State<Arc<App>>, req: Request) -> Response {
    match json_request(&app, Kind::Images, req).await {
        Ok((body, _)) => images_response(body.get("n").and_then(Value::as_u64).unwrap_or(1)),
        Err(r) => r,
    }
}

/// `/v1/images/edits` and `/v1/images/variations`.
pub async fn image_multipart(State(app): State<Arc<App>>, req: Request) -> Response {
    match multipart_request(&app, Kind::Images, req).await {
        Ok((fields, _)) => {
            let n = text_field(&fields, "n").and_then(|s| s.trim().parse().ok());
            images_response(n.unwrap_or(1))
        }
        Err(r) => r,
    }
}

async fn audio_text(app: Arc<App>, kind: Kind, req: Request) -> Response {
    let fields = match multipart_request(&app, kind, req).await {
        Ok((f, _)) => f,
        Err(r) => return r,
    };
    let size = fields.iter().find_map(|(n, p)| match p {
        Part::File(b) if n == "file" => Some(b.len()),
        Part::Text(s) if n == "file" => Some(s.len()),
        _ => None,
    });
    let Some(size) = size else {
        return invalid_request("multipart part 'file' is required");
    };
    let text = format!("mock transcript of {size} bytes");
    match text_field(&fields, "response_format") {
        Some("text" | "srt" | "vtt") => {
            ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
        }
        _ => json_value(StatusCode::OK, &json!({ "text": text })),
    }
}

pub async fn transcriptions(State(app): State<Arc<App>>, req: Request) -> Response {
    audio_text(app, Kind::Transcriptions, req).await
}

pub async fn translations(State(app): State<Arc<App>>, req: Request) -> Response {
    audio_text(app, Kind::Translations, req).await
}

/// Eight deterministic 4 KiB "MP3" chunks, built once and shared by reference count.
static SPEECH_CHUNKS: LazyLock<Vec<Bytes>> = LazyLock::new(|| {
    (0..8u32)
        .map(|c| {
            let mut chunk: Vec<u8> = (0..4096u32)
                .map(|i| (i.wrapping_mul(31).wrapping_add(c * 7) % 251) as u8)
                .collect();
            // An MPEG audio frame sync at the start, so players and sniffers see "mp3".
            chunk[0] = 0xFF;
            chunk[1] = 0xFB;
            Bytes::from(chunk)
        })
        .collect()
});

pub async fn speech(State(app): State<Arc<App>>, req: Request) -> Response {
    let (body, knobs) = match json_request(&app, Kind::Speech, req).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    if body.get("input").and_then(Value::as_str).is_none() {
        return invalid_request("input must be a string");
    }
    (
        [(header::CONTENT_TYPE, "audio/mpeg")],
        paced(
            SPEECH_CHUNKS.clone(),
            knobs.interval,
            knobs.cut_after,
            app.stats.streams.clone(),
        ),
    )
        .into_response()
}

static MODELS: LazyLock<Bytes> = LazyLock::new(|| {
    let ids = [
        "mock-model",
        "hunyuan-turbos-latest",
        "hunyuan-vision-1.5-instruct",
        "mock-embedding",
        "whisper-1",
        "tts-1",
        "gpt-image-1",
    ];
    let data: Vec<Value> = ids
        .iter()
        .map(|id| json!({"id": id, "object": "model", "created": 1_700_000_000u64, "owned_by": "mock"}))
        .collect();
    Bytes::from(json!({"object": "list", "data": data}).to_string())
});

pub async fn models(State(app): State<Arc<App>>, req: Request) -> Response {
    let (parts, _) = req.into_parts();
    let knobs = ReqKnobs::from_headers(&parts.headers);
    record(&app, Kind::Models, parts, LastBody::None);
    match knobs.gate(0).await {
        Ok(()) => json_bytes(StatusCode::OK, MODELS.clone()),
        Err(r) => r,
    }
}
