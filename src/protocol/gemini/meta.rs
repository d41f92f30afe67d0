//! The types and small mappings the request and response sides share.

use crate::core::usage::Usage;
use crate::protocol::anthropic::count::tokens;
use serde_json::{json, Map, Value};

/// A Gemini request expressed as a chat request, plus what the response side needs.
#[derive(Clone, Debug)]
pub struct Translated {
    /// The chat body. `model` is the model of the path (the gateway routes on it); a stream
    /// carries `stream: true` and `stream_options.include_usage: true`.
    pub chat: Value,
    pub meta: GeminiMeta,
}

/// Facts about the request that the answer needs.
#[derive(Clone, Debug, Default)]
pub struct GeminiMeta {
    /// `responseId`, chosen by the gateway.
    pub response_id: String,
    /// The model as the path named it (without `models/`): the answer's `modelVersion`.
    pub model: String,
    /// Upstream reasoning becomes `thought: true` parts (off only with
    /// `thinkingConfig.includeThoughts: false`).
    pub thoughts: bool,
    /// The request's token estimate ([`super::count`]): `promptTokenCount` when the upstream
    /// reports no usage.
    pub prompt_estimate: u64,
    /// Built-in tools (`googleSearch`, `codeExecution`, ...) a chat upstream cannot run.
    pub dropped_tools: Vec<String>,
    /// How the answer is framed.
    pub framing: Framing,
}

/// How the answer goes to the client.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Framing {
    /// `generateContent`: one JSON object at the end.
    #[default]
    Json,
    /// `streamGenerateContent?alt=sse`: one `data:` event per chunk (what the Google SDKs
    /// and Gemini CLI ask for).
    Sse,
    /// `streamGenerateContent` without `alt=sse`: Gemini's default, a JSON array whose
    /// elements are sent as they come (`[` first, `,` between, `]` at the end).
    JsonArray,
}

impl Framing {
    /// The framing of a call: `stream` for `streamGenerateContent`, whose `alt` query parameter
    /// chooses SSE.
    pub fn of(stream: bool, alt: Option<&str>) -> Framing {
        match (stream, alt) {
            (false, _) => Framing::Json,
            (true, Some(a)) if a.eq_ignore_ascii_case("sse") => Framing::Sse,
            (true, _) => Framing::JsonArray,
        }
    }

    pub fn is_stream(self) -> bool {
        self != Framing::Json
    }

    /// The answer's content type.
    pub fn content_type(self) -> &'static str {
        match self {
            Framing::Sse => "text/event-stream",
            _ => "application/json",
        }
    }
}

/// A member by its camelCase name or its snake_case one: the REST API takes both (proto3
/// JSON), Google's curl examples use snake_case (`inline_data`, `system_instruction`), the
/// SDKs camelCase.
pub(super) fn field<'a>(v: &'a Value, camel: &str, snake: &str) -> Option<&'a Value> {
    let obj = v.as_object()?;
    obj.get(camel)
        .or_else(|| obj.get(snake))
        .filter(|v| !v.is_null())
}

/// Gemini's `finishReason` for a chat `finish_reason`. Tool calls end a turn with `STOP` in
/// Gemini (the client sees the `functionCall` parts); a reason chat does not define is a
/// natural end too.
pub(super) fn finish_reason(chat: &str) -> &'static str {
    match crate::core::finish::normalize(chat) {
        "length" => "MAX_TOKENS",
        "content_filter" => "SAFETY",
        _ => "STOP",
    }
}

/// `usageMetadata` from a chat usage, or from the estimates when the upstream sent none.
/// Chat's `completion_tokens` counts reasoning; Gemini's `candidatesTokenCount` does not
/// (`thoughtsTokenCount` does), and its total is prompt + candidates + thoughts.
pub(super) fn usage_metadata(usage: Option<Usage>, meta: &GeminiMeta, output_units: u64) -> Value {
    let u = usage.unwrap_or(Usage {
        prompt: meta.prompt_estimate,
        completion: tokens(output_units),
        ..Usage::default()
    });
    let reasoning = u.reasoning.min(u.completion);
    let mut m = Map::new();
    m.insert("promptTokenCount".into(), json!(u.prompt));
    m.insert(
        "candidatesTokenCount".into(),
        json!(u.completion - reasoning),
    );
    m.insert(
        "totalTokenCount".into(),
        json!(u.prompt.saturating_add(u.completion)),
    );
    if u.cached > 0 {
        m.insert("cachedContentTokenCount".into(), json!(u.cached));
    }
    if reasoning > 0 {
        m.insert("thoughtsTokenCount".into(), json!(reasoning));
    }
    Value::Object(m)
}

/// One `GenerateContentResponse`: a single candidate with `parts`, and the closing members
/// when `end` is given (`finishReason`, `usageMetadata`).
pub(super) fn response(meta: &GeminiMeta, parts: Vec<Value>, end: Option<(&str, Value)>) -> Value {
    let mut candidate = Map::new();
    candidate.insert("content".into(), json!({"role": "model", "parts": parts}));
    if let Some((finish, _)) = &end {
        candidate.insert("finishReason".into(), json!(finish));
    }
    candidate.insert("index".into(), json!(0));
    let mut r = Map::new();
    r.insert("candidates".into(), json!([candidate]));
    if let Some((_, usage)) = end {
        r.insert("usageMetadata".into(), usage);
    }
    r.insert("modelVersion".into(), json!(meta.model));
    r.insert("responseId".into(), json!(meta.response_id));
    Value::Object(r)
}

/// A `functionCall` part. `args` must be an object: the arguments text parsed, an object
/// encoded twice unwrapped, anything else kept whole as `{"_raw_arguments": text}` so the
/// client's validation shows what the model sent.
pub(super) fn function_call(id: &str, name: &str, arguments: &str) -> Value {
    let args = crate::protocol::anthropic::tool_input(arguments);
    let mut call = Map::new();
    if !id.is_empty() {
        call.insert("id".into(), json!(id));
    }
    call.insert("name".into(), json!(name));
    call.insert("args".into(), args);
    json!({"functionCall": call})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_from_the_call() {
        assert_eq!(Framing::of(false, Some("sse")), Framing::Json);
        assert_eq!(Framing::of(true, Some("SSE")), Framing::Sse);
        assert_eq!(Framing::of(true, Some("json")), Framing::JsonArray);
        assert_eq!(Framing::of(true, None), Framing::JsonArray);
        assert_eq!(Framing::Sse.content_type(), "text/event-stream");
        assert!(!Framing::Json.is_stream());
    }

    #[test]
    fn usage_moves_reasoning_and_keeps_cached() {
        let meta = GeminiMeta::default();
        let u = Usage {
            prompt: 100,
            completion: 30,
            cached: 40,
            cache_write: 0,
            reasoning: 10,
        };
        assert_eq!(
            usage_metadata(Some(u), &meta, 0),
            json!({"promptTokenCount": 100, "candidatesTokenCount": 20, "totalTokenCount": 130,
                "cachedContentTokenCount": 40, "thoughtsTokenCount": 10})
        );
        let est = GeminiMeta {
            prompt_estimate: 7,
            ..GeminiMeta::default()
        };
        assert_eq!(
            usage_metadata(None, &est, 8),
            json!({"promptTokenCount": 7, "candidatesTokenCount": 2, "totalTokenCount": 9})
        );
    }

    #[test]
    fn finish_reasons() {
        for (chat, gemini) in [
            ("stop", "STOP"),
            ("length", "MAX_TOKENS"),
            ("content_filter", "SAFETY"),
            ("sensitive", "SAFETY"),
            ("tool_calls", "STOP"),
            ("odd", "STOP"),
        ] {
            assert_eq!(finish_reason(chat), gemini);
        }
    }
}
