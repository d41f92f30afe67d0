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
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::agent;
use crate::app::{now_secs, App, Kind, Last, LastBody};
use crate::knobs::{invalid_request, json_bytes, json_value, mock_failure, ReqKnobs};
use crate::stream::paced;
use crate::BODY_LIMIT;

#[derive(Serialize, Clone, Copy)]
struct Usage {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    prompt_tokens_details: Option<PromptDetails>,
}

/// Prompt-cache counts (`x-mock-cached-tokens`, `x-mock-cache-write-tokens`), in the gateway's
/// convention: `cached_tokens` is OpenAI's field, `cache_creation_tokens` its extension.
#[derive(Serialize, Clone, Copy)]
struct PromptDetails {
    cached_tokens: u64,
    #[serde(skip_serializing_if = "is_zero")]
    cache_creation_tokens: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Usage {
    fn new(prompt_tokens: u64, completion_tokens: u64) -> Self {
        Usage {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens + completion_tokens,
            prompt_tokens_details: None,
        }
    }

    /// With the request's cache knobs: the cached and written tokens are added to the prompt
    /// (which includes them) and reported in `prompt_tokens_details`.
    fn cached(mut self, knobs: &ReqKnobs) -> Self {
        let (read, write) = (knobs.cached_tokens, knobs.cache_write_tokens);
        let extra = read.saturating_add(write);
        if extra > 0 {
            self.prompt_tokens = self.prompt_tokens.saturating_add(extra);
            self.total_tokens = self.total_tokens.saturating_add(extra);
            self.prompt_tokens_details = Some(PromptDetails {
                cached_tokens: read,
                cache_creation_tokens: write,
            });
        }
        self
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
    let streamed = req.get("stream").and_then(Value::as_bool) == Some(true);
    let include_usage = req
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        == Some(true);
    let agent = agent::reply(&req, app.next_id());
    let reasoning = agent::reasoning_for(&model, &req);
    if agent.is_some() || reasoning.is_some() {
        let reply = agent.unwrap_or_else(|| {
            agent::Reply::Text(format!(
                "mock reply to: {}",
                prefix(&last_user_text(&req), 200)
            ))
        });
        let a = Answer {
            id: &id,
            model: &model,
            reply,
            reasoning,
            prompt_tokens,
            knobs,
        };
        return if streamed {
            a.stream(&app, &knobs, include_usage)
        } else {
            json_value(StatusCode::OK, &a.completion())
        };
    }
    if streamed {
        let echo = (knobs.echo > 0).then(|| {
            let text = format!("mock reply to: {}", prefix(&last_user_text(&req), 200));
            let chars: Vec<char> = text.chars().collect();
            chars
                .chunks(knobs.echo)
                .map(|c| c.iter().collect::<String>())
                .collect::<Vec<String>>()
        });
        let ids = (id.as_str(), model.as_str());
        return stream(&app, ids, &knobs, include_usage, prompt_tokens, echo);
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
            finish_reason: finish(&knobs),
        }],
        usage: Usage::new(prompt_tokens, tokens(content.len())).cached(&knobs),
    };
    match serde_json::to_vec(&completion) {
        Ok(b) => json_bytes(StatusCode::OK, b),
        Err(e) => invalid_request(format!("cannot serialise: {e}")),
    }
}

/// `stop`, or Hunyuan's `sensitive` (moderation stopped the output) with `x-mock-body: sensitive`.
fn finish(knobs: &ReqKnobs) -> &'static str {
    if knobs.body == Some(crate::knobs::BadBody::Sensitive) {
        "sensitive"
    } else {
        "stop"
    }
}

/// The SSE answer: `events` chunks (role first, then "tokN " pieces, `finish_reason` on the
/// last), the usage chunk when asked for, then `[DONE]`.
fn stream(
    app: &App,
    (id, model): (&str, &str),
    knobs: &ReqKnobs,
    include_usage: bool,
    prompt: u64,
    echo: Option<Vec<String>>,
) -> Response {
    let n = echo.as_ref().map_or(knobs.events.max(1), |e| e.len() + 1);
    let created = now_secs();
    let usage_field = include_usage.then_some(None);
    let mut pieces = Vec::with_capacity(n + 2);
    for i in 0..n {
        let text = match (&echo, i) {
            (_, 0) => String::new(),
            (Some(e), i) => e[i - 1].clone(),
            (None, i) => format!("tok{} ", i - 1),
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
                finish_reason: (i + 1 == n).then_some(finish(knobs)),
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
            usage: Some(Some(Usage::new(prompt, n as u64 - 1).cached(knobs))),
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

/// An agent-shaped answer (a tool call, or text after reasoning), built as JSON values: rare
/// enough that the typed fast path above is not worth sharing.
struct Answer<'a> {
    id: &'a str,
    model: &'a str,
    reply: agent::Reply,
    reasoning: Option<String>,
    prompt_tokens: u64,
    knobs: ReqKnobs,
}

impl Answer<'_> {
    fn finish_reason(&self) -> &'static str {
        match self.reply {
            agent::Reply::ToolCall { .. } => "tool_calls",
            agent::Reply::Text(_) => "stop",
        }
    }

    fn usage(&self) -> Value {
        let out = match &self.reply {
            agent::Reply::Text(t) => tokens(t.len()),
            agent::Reply::ToolCall { arguments, .. } => tokens(arguments.len()),
        };
        let usage = Usage::new(self.prompt_tokens, out).cached(&self.knobs);
        serde_json::to_value(usage).unwrap_or(Value::Null)
    }

    fn completion(&self) -> Value {
        let mut message = json!({"role": "assistant", "content": null});
        match &self.reply {
            agent::Reply::Text(t) => message["content"] = json!(t),
            agent::Reply::ToolCall {
                id,
                name,
                arguments,
            } => {
                message["tool_calls"] = json!([{"id": id, "type": "function",
                    "function": {"name": name, "arguments": arguments}}]);
            }
        }
        if let Some(r) = &self.reasoning {
            message["reasoning_content"] = json!(r);
        }
        json!({"id": self.id, "object": "chat.completion", "created": now_secs(),
               "model": self.model,
               "choices": [{"index": 0, "message": message, "finish_reason": self.finish_reason()}],
               "usage": self.usage()})
    }

    fn chunk(&self, delta: Value, finish: Option<&str>, usage: bool) -> Bytes {
        let mut c = json!({"id": self.id, "object": "chat.completion.chunk", "created": now_secs(),
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
        if usage {
            c["usage"] = Value::Null;
        }
        Bytes::from(format!("data: {c}\n\n"))
    }

    fn stream(&self, app: &App, knobs: &ReqKnobs, include_usage: bool) -> Response {
        let mut pieces = vec![self.chunk(
            json!({"role": "assistant", "content": ""}),
            None,
            include_usage,
        )];
        if let Some(r) = &self.reasoning {
            for part in halves(r) {
                pieces.push(self.chunk(json!({"reasoning_content": part}), None, include_usage));
            }
        }
        match &self.reply {
            agent::Reply::Text(t) => {
                for part in halves(t) {
                    pieces.push(self.chunk(json!({"content": part}), None, include_usage));
                }
            }
            agent::Reply::ToolCall {
                id,
                name,
                arguments,
            } => {
                pieces.push(self.chunk(
                    json!({"tool_calls": [{"index": 0, "id": id, "type": "function",
                    "function": {"name": name, "arguments": ""}}]}),
                    None,
                    include_usage,
                ));
                for part in halves(arguments) {
                    pieces.push(self.chunk(
                        json!({"tool_calls": [{"index": 0,
                        "function": {"arguments": part}}]}),
                        None,
                        include_usage,
                    ));
                }
            }
        }
        pieces.push(self.chunk(json!({}), Some(self.finish_reason()), include_usage));
        if include_usage {
            let u = json!({"id": self.id, "object": "chat.completion.chunk", "created": now_secs(),
                "model": self.model, "choices": [], "usage": self.usage()});
            pieces.push(Bytes::from(format!("data: {u}\n\n")));
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
}

/// `s` in two pieces split at a character boundary (streams deliver text in parts).
fn halves(s: &str) -> Vec<&str> {
    let mid = s
        .char_indices()
        .nth(s.chars().count() / 2)
        .map_or(s.len(), |(i, _)| i);
    [&s[..mid], &s[mid..]]
        .into_iter()
        .filter(|p| !p.is_empty())
        .collect()
}

/// `POST /v1/completions` (legacy): a `text_completion` answering the prompt.
pub async fn completions(State(app): State<Arc<App>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = match to_bytes(body, BODY_LIMIT).await {
        Ok(b) => b,
        Err(e) => return invalid_request(format!("cannot read body: {e}")),
    };
    let last = Arc::new(Last {
        uri: parts.uri,
        headers: parts.headers,
        body: LastBody::Json(bytes.clone()),
    });
    app.stats.record(Kind::Completions, last);
    let req: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => return invalid_request(format!("invalid JSON body: {e}")),
    };
    let prompt = match req.get("prompt") {
        Some(Value::String(p)) => p.clone(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join("\n"),
        _ => return invalid_request("`prompt` is required"),
    };
    let text = format!("mock completion of: {}", prefix(&prompt, 200));
    let (p, c) = (tokens(prompt.len()), tokens(text.len()));
    json_value(
        StatusCode::OK,
        &json!({"id": format!("cmpl-mock-{}", app.next_id()), "object": "text_completion",
            "created": now_secs(), "model": req.get("model").cloned().unwrap_or(Value::Null),
            "choices": [{"text": text, "index": 0, "logprobs": null, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}}),
    )
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
