//! The fixture corpus: every client protocol × every provider, requests, answers, streams and
//! errors, each with a snapshot (`tests/snapshots/`, insta). A change in what the gateway sends
//! a provider, or in what a client receives, shows up as a snapshot diff to review
//! (`INSTA_UPDATE=always cargo test --test fixtures`, then read `git diff tests/snapshots`).
//!
//! - `tests/fixtures/requests/<protocol>/<case>.json`: a client's request. It is translated to
//!   chat (unless it passes through to a provider that speaks it) and rendered for each
//!   provider: the snapshot is what that provider would be sent (path and body).
//! - `tests/fixtures/answers/<provider>/<case>.{json,sse}`: a provider's answer (`error*`: an
//!   error answer with the status in `ERROR_STATUS`). It is decoded into chat (fed in small
//!   pieces, as the network splits it) and translated for each client protocol: the snapshot
//!   is what that client receives.

use llm_relay::chat::fix::{FixPolicy, ModelCaps};
use llm_relay::core::protocol::Protocol;
use llm_relay::protocol::{anthropic, completions, gemini, responses, Translation};
use llm_relay::providers::{Provider, ProviderKind};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

const PROVIDERS: [ProviderKind; 4] = [
    ProviderKind::OpenAi,
    ProviderKind::Hunyuan,
    ProviderKind::Anthropic,
    ProviderKind::Gemini,
];

const PROTOCOLS: [Protocol; 5] = [
    Protocol::Chat,
    Protocol::Responses,
    Protocol::Messages,
    Protocol::Completions,
    Protocol::Gemini,
];

/// The status each provider's `error` fixture comes with.
fn error_status(p: ProviderKind) -> u16 {
    match p {
        ProviderKind::Anthropic => 529,
        ProviderKind::Gemini => 429,
        _ => 400,
    }
}

fn dir(parts: &[&str]) -> PathBuf {
    let mut d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    for p in parts {
        d = d.join(p);
    }
    d
}

/// The files of a fixture folder, sorted (snapshot order is stable).
fn cases(d: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(d)
        .map(|r| r.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    v.sort();
    v
}

fn stem(p: &Path) -> String {
    p.file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("case")
        .to_string()
}

fn read_json(p: &Path) -> Value {
    let text = std::fs::read_to_string(p).expect("read fixture");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A client request as the chat request the gateway works on, with the response side's
/// translation (`None` for chat). A Gemini request names its model and stream in the path:
/// here the model is `m`, and `stream` asks for `:streamGenerateContent?alt=sse`.
fn to_chat(protocol: Protocol, req: &Value) -> Result<(Value, Option<Translation>), String> {
    to_chat_as(protocol, req, false)
}

fn to_chat_as(
    protocol: Protocol,
    req: &Value,
    stream: bool,
) -> Result<(Value, Option<Translation>), String> {
    const NOW: u64 = 1_700_000_000;
    match protocol {
        Protocol::Gemini => {
            let meta = gemini::GeminiMeta {
                response_id: "fixture".into(),
                framing: gemini::Framing::of(stream, Some("sse")),
                ..Default::default()
            };
            let t = gemini::to_chat(req, "m", meta).map_err(|e| e.message)?;
            Ok((t.chat, Some(Translation::Gemini { meta: t.meta })))
        }
        Protocol::Chat => Ok((req.clone(), None)),
        Protocol::Responses => {
            let t = responses::continue_chat(req, None, "resp_fixture".into(), NOW)
                .map_err(|e| e.message)?;
            let tr = Translation::Responses {
                meta: t.meta,
                stream: t.stream,
                store: None,
            };
            Ok((t.chat, Some(tr)))
        }
        Protocol::Messages => {
            let t = anthropic::to_chat(req, "msg_fixture".into()).map_err(|e| e.message)?;
            let tr = Translation::Messages {
                meta: t.meta,
                stream: t.stream,
            };
            Ok((t.chat, Some(tr)))
        }
        Protocol::Completions => {
            let t = completions::to_chat(req, "cmpl-fixture".into(), NOW).map_err(|e| e.message)?;
            let tr = Translation::Completions {
                meta: t.meta,
                stream: t.stream,
            };
            Ok((t.chat, Some(tr)))
        }
    }
}

fn provider(kind: ProviderKind) -> Provider {
    Provider::new(kind, None, FixPolicy::default())
}

/// What `kind` is sent for a client's request: the request as it came when it passes
/// through, else its chat translation rendered for the provider (or the refusal).
fn rendered(protocol: Protocol, req: &Value, kind: ProviderKind, stream_case: bool) -> Value {
    let p = provider(kind);
    if protocol != Protocol::Chat && p.speaks(protocol) {
        return json!({"passes_through": true, "body": req});
    }
    let (mut chat, _) = match to_chat_as(protocol, req, stream_case) {
        Ok(c) => c,
        Err(e) => return json!({"client_error": e}),
    };
    chat["model"] = json!("upstream-model");
    let caps = ModelCaps {
        images: true,
        tools: true,
    };
    match p.render_chat(chat, caps, Default::default(), 1024) {
        Ok(r) => {
            let body: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
            json!({"path": r.path, "body": body})
        }
        Err(e) => json!({"refused": e.message, "param": e.param}),
    }
}

#[test]
fn requests_rendered_for_every_provider() {
    let mut seen = 0;
    for protocol in PROTOCOLS {
        for case in cases(&dir(&["requests", protocol.label()])) {
            let req = read_json(&case);
            for kind in PROVIDERS {
                let name = format!(
                    "request__{}__{}__{}",
                    protocol.label(),
                    stem(&case),
                    kind.label()
                );
                let stream = stem(&case).starts_with("stream");
                insta::assert_json_snapshot!(name, rendered(protocol, &req, kind, stream));
                seen += 1;
            }
        }
    }
    assert!(seen >= 32, "the corpus shrank: {seen} cases");
}

/// Feeds `bytes` in pieces of `step` (a split may fall anywhere: mid-event, mid-character).
fn feed_all(
    t: &mut dyn llm_relay::core::translate::ResponseTranslator,
    bytes: &[u8],
    step: usize,
) -> Vec<u8> {
    let mut out = Vec::new();
    for piece in bytes.chunks(step) {
        out.extend(t.feed(piece));
    }
    out.extend(t.finish());
    out
}

/// The provider's answer as the chat answer the gateway works on: (status, bytes).
fn decoded(kind: ProviderKind, case: &Path, stream: bool) -> (u16, Vec<u8>) {
    let bytes = std::fs::read(case).expect("read answer");
    let p = provider(kind);
    if stem(case).starts_with("error") {
        let status = error_status(kind);
        return p.error_to_chat(status, &bytes).unwrap_or((status, bytes));
    }
    match p.decoder(stream, "upstream-model") {
        Some(mut d) => (200, feed_all(d.as_mut(), &bytes, 7)),
        None => (200, bytes),
    }
}

/// A body for a snapshot: JSON as JSON, SSE as its list of events.
fn readable(bytes: &[u8]) -> Value {
    if let Ok(v) = serde_json::from_slice::<Value>(bytes) {
        return scrub(v);
    }
    let text = String::from_utf8_lossy(bytes);
    let events: Vec<Value> = text
        .split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|e| {
            let mut out = serde_json::Map::new();
            for line in e.lines() {
                if let Some(name) = line.strip_prefix("event: ") {
                    out.insert("event".into(), json!(name));
                } else if let Some(data) = line.strip_prefix("data: ") {
                    let d = serde_json::from_str::<Value>(data).map_or_else(|_| json!(data), scrub);
                    out.insert("data".into(), d);
                }
            }
            Value::Object(out)
        })
        .collect();
    Value::Array(events)
}

/// Replaces what differs from run to run (times, generated ids) with placeholders.
fn scrub(mut v: Value) -> Value {
    fn walk(v: &mut Value) {
        match v {
            Value::Object(m) => {
                for (k, x) in m.iter_mut() {
                    match (k.as_str(), &*x) {
                        ("created" | "created_at", Value::Number(_)) => *x = json!("[time]"),
                        ("id", Value::String(s))
                            if s.starts_with("call_") || s.starts_with("chatcmpl-") =>
                        {
                            *x = json!("[id]")
                        }
                        _ => walk(x),
                    }
                }
            }
            Value::Array(a) => a.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut v);
    v
}

/// A client's view of a chat answer: through its protocol's translator (or as it is).
fn for_client(protocol: Protocol, stream: bool, status: u16, chat: &[u8]) -> Value {
    let fixture = match protocol {
        Protocol::Chat => return json!({"status": status, "body": readable(chat)}),
        Protocol::Responses => {
            json!({"model": "m", "input": "hi", "stream": stream, "store": false})
        }
        Protocol::Messages => {
            json!({"model": "m", "max_tokens": 64, "stream": stream, "messages": [{"role": "user", "content": "hi"}]})
        }
        _ => json!({"model": "m", "prompt": "hi", "stream": stream}),
    };
    let Ok((_, Some(t))) = to_chat(protocol, &fixture) else {
        return json!({"client_error": protocol.label()});
    };
    if status >= 400 {
        let (status, body) = t
            .error_answer(status, chat)
            .unwrap_or((status, chat.to_vec()));
        return json!({"status": status, "body": readable(&body)});
    }
    let mut tr = t.translator();
    json!({"status": status, "body": readable(&feed_all(tr.as_mut(), chat, 11))})
}

#[test]
fn answers_decoded_for_every_client() {
    let mut seen = 0;
    for kind in PROVIDERS {
        if kind == ProviderKind::Hunyuan {
            continue; // answers as openai does (its finish-reason map runs in the proxy)
        }
        for case in cases(&dir(&["answers", kind.label()])) {
            let stream = case.extension().is_some_and(|e| e == "sse");
            let (status, chat) = decoded(kind, &case, stream);
            for protocol in PROTOCOLS {
                let name = format!(
                    "answer__{}__{}__{}",
                    kind.label(),
                    stem(&case),
                    protocol.label()
                );
                insta::assert_json_snapshot!(name, for_client(protocol, stream, status, &chat));
                seen += 1;
            }
        }
    }
    assert!(seen >= 30, "the corpus shrank: {seen} cases");
}
