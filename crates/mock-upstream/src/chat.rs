//! `POST /v1/chat/completions`: plain replies, SSE streams, vision descriptions, strict mode.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use crate::strict;
use axum::body::to_bytes;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::app::{now_secs, App, Kind, Last, LastBody};
use crate::knobs::{invalid_request, json_bytes, json_value, mock_failure, ReqKnobs};
use crate::stream::paced;
use crate::BODY_LIMIT;

#[derive(Serialize, Clone, Copy)]
struct Usage {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
}

impl Usage {
    fn new(prompt_tokens: u64, completion_tokens: u64) -> Self {
        Usage {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens + completion_tokens,
        }
    }
}

#[derive(Serialize)]
struct Message<'a> {
    role: &'static str,
    content: &'a str,
}

#[derive(Serialize)]
struct Choice<'a> {
    index: u32,
    message: Message<'a>,
    finish_reason: &'static str,
}

#[derive(Serialize)]
struct Completion<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: [Choice<'a>; 1],
    usage: Usage,
}

#[derive(Serialize)]
struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a str>,
}

#[derive(Serialize)]
struct ChunkChoice<'a> {
    index: u32,
    delta: Delta<'a>,
    finish_reason: Option<&'static str>,
}

#[derive(Serialize)]
struct Chunk<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: Vec<ChunkChoice<'a>>,
    /// Absent without include_usage; `null` on ordinary chunks with it; set on the last one.
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Option<Usage>>,
}

/// Tokens are approximated as 4 bytes each, at least 1.
fn tokens(bytes: usize) -> u64 {
    (bytes as u64 / 4).max(1)
}

pub async fn chat(State(app): State<Arc<App>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let knobs = ReqKnobs::from_headers(&parts.headers);
    let bytes = match to_bytes(body, BODY_LIMIT).await {
        Ok(b) => b,
        Err(e) => return invalid_request(format!("cannot read body: {e}")),
    };
    let parsed: Result<Value, _> = serde_json::from_slice(&bytes);
    let model = parsed
        .as_ref()
        .ok()
        .and_then(|v| v.get("model"))
        .and_then(Value::as_str)
        .unwrap_or("mock-model")
        .to_string();
    let vision = model.contains("vision");
    let last = Arc::new(Last {
        uri: parts.uri,
        headers: parts.headers,
        body: LastBody::Json(bytes.clone()),
    });
    app.stats.record(Kind::Chat, last.clone());
    // Vision calls and text calls get separate delay/failure knobs because the gateway makes
    // vision calls on its own, where a test cannot add headers.
    let extra_delay = if vision {
        app.stats.vision_calls.fetch_add(1, Relaxed);
        app.stats.remember(Kind::Vision, last);
        app.knobs.vision_delay_ms.load(Relaxed)
    } else {
        app.knobs.chat_delay_ms.load(Relaxed)
    };
    if let Err(resp) = knobs.gate(extra_delay).await {
        return resp;
    }
    if vision {
        let fail = app.knobs.vision_fail_status.load(Relaxed);
        if let Some(s) = (fail != 0)
            .then(|| StatusCode::from_u16(fail).ok())
            .flatten()
        {
            return mock_failure(s);
        }
    }
    let req = match parsed {
        Ok(v) if v.is_object() => v,
        Ok(_) => return invalid_request("body must be a JSON object"),
        Err(e) => return invalid_request(format!("invalid JSON body: {e}")),
    };
    if app.strict || knobs.strict {
        if let Err(v) = strict::check_chat(&req, vision) {
            app.stats.strict_rejections.fetch_add(1, Relaxed);
            let status = StatusCode::from_u16(v.status).unwrap_or(StatusCode::BAD_REQUEST);
            return json_value(status, &strict::error_body(&v));
        }
    }
    let id = format!("chatcmpl-mock-{}", app.next_id());
    let prompt_tokens = tokens(bytes.len());
    if req.get("stream").and_then(Value::as_bool) == Some(true) {
        let include_usage = req
            .pointer("/stream_options/include_usage")
            .and_then(Value::as_bool)
            == Some(true);
        return stream(&app, &id, &model, &knobs, include_usage, prompt_tokens);
    }
    let mut content = if vision {
        describe_images(&req)
    } else {
        format!("mock reply to: {}", prefix(&last_user_text(&req), 200))
    };
    pad(&mut content, knobs.chunk_bytes);
    let completion = Completion {
        id: &id,
        object: "chat.completion",
        created: now_secs(),
        model: &model,
        choices: [Choice {
            index: 0,
            message: Message {
                role: "assistant",
                content: &content,
            },
            finish_reason: "stop",
        }],
        usage: Usage::new(prompt_tokens, tokens(content.len())),
    };
    match serde_json::to_vec(&completion) {
        Ok(b) => json_bytes(StatusCode::OK, b),
        Err(e) => invalid_request(format!("cannot serialise: {e}")),
    }
}

/// The SSE answer: `events` chunks (role first, then "tokN " pieces, `finish_reason` on the
/// last), the usage chunk when asked for, then `[DONE]`.
fn stream(
    app: &App,
    id: &str,
    model: &str,
    knobs: &ReqKnobs,
    include_usage: bool,
    prompt: u64,
) -> Response {
    let n = knobs.events.max(1);
    let created = now_secs();
    let usage_field = include_usage.then_some(None);
    let mut pieces = Vec::with_capacity(n + 2);
    for i in 0..n {
        let text = if i == 0 {
            String::new()
        } else {
            format!("tok{} ", i - 1)
        };
        let chunk = Chunk {
            id,
            object: "chat.completion.chunk",
            created,
            model,
            choices: vec![ChunkChoice {
                index: 0,
                delta: Delta {
                    role: (i == 0).then_some("assistant"),
                    content: Some(&text),
                },
                finish_reason: (i + 1 == n).then_some("stop"),
            }],
            usage: usage_field,
        };
        pieces.push(sse(&chunk));
    }
    if include_usage {
        let chunk = Chunk {
            id,
            object: "chat.completion.chunk",
            created,
            model,
            choices: Vec::new(),
            usage: Some(Some(Usage::new(prompt, n as u64 - 1))),
        };
        pieces.push(sse(&chunk));
    }
    pieces.push(Bytes::from_static(b"data: [DONE]\n\n"));
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        paced(
            pieces,
            knobs.interval,
            knobs.cut_after,
            app.stats.streams.clone(),
        ),
    )
        .into_response()
}

fn sse(chunk: &Chunk) -> Bytes {
    let mut out = b"data: ".to_vec();
    // Serialising plain structs into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut out, chunk);
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

/// The first `n` characters of `s`.
fn prefix(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Text of a content value: the string, or the text parts joined by a space.
fn content_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter(|p| p.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

fn messages(req: &Value) -> &[Value] {
    req.get("messages")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn last_user_text(req: &Value) -> String {
    messages(req)
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .map(|m| content_text(m.get("content")))
        .unwrap_or_default()
}

/// Deterministic description of every image part, so tests can predict the gateway's cascade
/// output: `mock description of N image(s): [img sha256:<16 hex>]... | question: <text>`.
fn describe_images(req: &Value) -> String {
    let urls: Vec<&str> = messages(req)
        .iter()
        .filter_map(|m| m.get("content").and_then(Value::as_array))
        .flatten()
        .filter(|p| p.get("type").and_then(Value::as_str) == Some("image_url"))
        .filter_map(|p| {
            let iu = p.get("image_url")?;
            // Some clients send the URL directly instead of `{"url": ...}`.
            iu.get("url")
                .and_then(Value::as_str)
                .or_else(|| iu.as_str())
        })
        .collect();
    let mut out = format!("mock description of {} image(s): ", urls.len());
    for url in &urls {
        let digest = hex::encode(Sha256::digest(url.as_bytes()));
        out.push_str("[img sha256:");
        out.push_str(&digest[..16]);
        out.push(']');
    }
    out.push_str(" | question: ");
    out.push_str(prefix(&last_user_text(req), 100));
    out
}

/// Pads `s` with ASCII filler up to `target` bytes (bandwidth tests).
fn pad(s: &mut String, target: usize) {
    const FILLER: &str = " lorem ipsum dolor sit amet";
    while s.len() < target {
        let need = target - s.len();
        s.push_str(&FILLER[..need.min(FILLER.len())]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn describes_images_in_order() {
        let req = json!({"model": "hunyuan-vision", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "what is"},
            {"type": "image_url", "image_url": {"url": "a"}},
            {"type": "image_url", "image_url": {"url": "b"}},
            {"type": "text", "text": "this?"},
        ]}]});
        let a = &hex::encode(Sha256::digest(b"a"))[..16];
        let b = &hex::encode(Sha256::digest(b"b"))[..16];
        assert_eq!(
            describe_images(&req),
            format!("mock description of 2 image(s): [img sha256:{a}][img sha256:{b}] | question: what is this?")
        );
    }

    #[test]
    fn pads_and_prefixes() {
        let mut s = "héllo".to_string();
        pad(&mut s, 100);
        assert_eq!(s.len(), 100);
        assert_eq!(prefix("héllo", 2), "hé");
        assert_eq!(prefix("hi", 5), "hi");
    }
}
