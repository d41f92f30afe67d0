//! Request validation per kind, before any upstream work, yielding what routing needs
//! (`model`, `stream`): for chat from the body's one parse (a `Value` that fixing and the
//! cascade then rewrite), for the other kinds from one borrowed parse of the bytes (they are
//! forwarded as they came). Each failure is a 400 whose `param` names the field and whose
//! message a person understands.

use crate::body::caps;
use crate::body::multipart::FormSummary;
use crate::core::error::GatewayError;
use crate::core::kind::Endpoint;
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

/// What routing needs from a valid request.
#[derive(Debug, PartialEq, Eq)]
pub struct Peeked {
    pub model: String,
    pub stream: bool,
    /// `max_tokens` (or `max_completion_tokens`): the output part of a token reservation.
    pub max_tokens: Option<u64>,
    /// `stream_options` is present; `include_usage` is its value.
    pub stream_options: bool,
    pub include_usage: bool,
}

const ROLES: [&str; 6] = [
    "system",
    "user",
    "assistant",
    "tool",
    "developer",
    "function",
];

#[derive(Deserialize)]
struct Body<'a> {
    #[serde(borrow, default)]
    model: Option<Cow<'a, str>>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(borrow, default)]
    messages: Option<Vec<Message<'a>>>,
    #[serde(borrow, default)]
    input: Option<&'a RawValue>,
    #[serde(borrow, default)]
    prompt: Option<&'a RawValue>,
    #[serde(borrow, default)]
    voice: Option<&'a RawValue>,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
    // Numbers of any form: a lenient read for the token reservation, not validation (the
    // upstream judges the value).
    #[serde(default)]
    max_tokens: Option<serde_json::Value>,
    #[serde(default)]
    max_completion_tokens: Option<serde_json::Value>,
}

/// The fields of a chat body that validation and routing read, from its parsed `Value`. Not
/// `Body`: its `&RawValue` members cannot be read from a `Value`, only from bytes.
#[derive(Deserialize)]
struct ChatBody<'a> {
    #[serde(borrow, default)]
    model: Option<Cow<'a, str>>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(borrow, default)]
    messages: Option<Vec<Message<'a>>>,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
    #[serde(default)]
    max_tokens: Option<serde_json::Value>,
    #[serde(default)]
    max_completion_tokens: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: Option<bool>,
}

#[derive(Deserialize)]
struct Message<'a> {
    #[serde(borrow, default)]
    role: Option<Cow<'a, str>>,
    #[serde(default, rename = "content")]
    _content: Option<IgnoredAny>,
}

/// Validates a JSON body for `endpoint`.
pub fn json(endpoint: Endpoint, body: &[u8]) -> Result<Peeked, GatewayError> {
    let b: Body = serde_json::from_slice(body).map_err(|e| parse_error(&e))?;
    let model = model_of(b.model.as_deref())?;
    match endpoint {
        Endpoint::Chat => chat(b.messages.as_deref())?,
        Endpoint::Embeddings => embeddings(b.input)?,
        Endpoint::ImagesGenerations => non_empty_string(b.prompt, "prompt")?,
        Endpoint::AudioSpeech => {
            non_empty_string(b.input, "input")?;
            voice(b.voice)?;
        }
        _ => {}
    }
    Ok(peeked(
        model,
        b.stream,
        [b.max_completion_tokens, b.max_tokens],
        b.stream_options,
    ))
}

/// Validates a chat body from its parse (the chat path parses once; see `prepare`).
pub fn chat_value(v: &serde_json::Value) -> Result<Peeked, GatewayError> {
    let b = ChatBody::deserialize(v).map_err(|e| parse_error(&e))?;
    let model = model_of(b.model.as_deref())?;
    chat(b.messages.as_deref())?;
    Ok(peeked(
        model,
        b.stream,
        [b.max_completion_tokens, b.max_tokens],
        b.stream_options,
    ))
}

fn peeked(
    model: String,
    stream: Option<bool>,
    max_tokens: [Option<serde_json::Value>; 2],
    options: Option<StreamOptions>,
) -> Peeked {
    Peeked {
        model,
        stream: stream.unwrap_or(false),
        max_tokens: max_tokens.into_iter().flatten().find_map(|v| v.as_u64()),
        stream_options: options.is_some(),
        include_usage: options.and_then(|o| o.include_usage).unwrap_or(false),
    }
}

/// Validates a multipart form for `endpoint`.
pub fn form(endpoint: Endpoint, f: &FormSummary) -> Result<Peeked, GatewayError> {
    let model = model_of(f.model.as_deref())?;
    let has_file = |names: &[&str]| f.files.iter().any(|n| names.contains(&n.as_str()));
    match endpoint {
        Endpoint::AudioTranscriptions | Endpoint::AudioTranslations if !has_file(&["file"]) => {
            return Err(GatewayError::bad_param(
                "A `file` part with the audio to transcribe is required.",
                "file",
            ));
        }
        Endpoint::ImagesEdits | Endpoint::ImagesVariations if !has_file(&["image", "image[]"]) => {
            return Err(GatewayError::bad_param(
                "An `image` file part is required.",
                "image",
            ));
        }
        Endpoint::ImagesEdits if !f.fields.iter().any(|n| n == "prompt") => {
            return Err(GatewayError::bad_param(
                "A `prompt` field is required to edit an image.",
                "prompt",
            ));
        }
        _ => {}
    }
    Ok(Peeked {
        model,
        stream: false,
        max_tokens: None,
        stream_options: false,
        include_usage: false,
    })
}

/// The 400 for a body serde_json could not read (shared with `prepare`).
pub(crate) fn parse_error(e: &serde_json::Error) -> GatewayError {
    if e.is_data() {
        GatewayError::bad_request(format!(
            "A field of the request body has the wrong type: {e}"
        ))
    } else {
        GatewayError::bad_request(format!(
            "We could not parse the JSON body of your request: {e}"
        ))
    }
}

/// The model to route on: present, not blank, at most [`caps::MAX_MODEL_BYTES`] (every
/// endpoint's model passes here, multipart forms included).
fn model_of(m: Option<&str>) -> Result<String, GatewayError> {
    if let Some(m) = m {
        caps::model_name(m)?;
    }
    match m.map(str::trim) {
        Some(m) if !m.is_empty() => Ok(m.to_string()),
        _ => Err(GatewayError::bad_param(
            "You must provide a model parameter.",
            "model",
        )),
    }
}

fn chat(messages: Option<&[Message]>) -> Result<(), GatewayError> {
    let msgs = match messages {
        Some(m) if !m.is_empty() => m,
        Some(_) => {
            return Err(GatewayError::bad_param(
                "`messages` must contain at least one message.",
                "messages",
            ))
        }
        None => {
            return Err(GatewayError::bad_param(
                "`messages` is required: an array of message objects.",
                "messages",
            ))
        }
    };
    for (i, m) in msgs.iter().enumerate() {
        match m.role.as_deref() {
            Some(r) if ROLES.contains(&r) => {}
            Some(r) => {
                return Err(GatewayError::bad_param(
                    format!("`messages[{i}].role` is `{r}`; expected one of system, user, assistant, tool, developer."),
                    &format!("messages[{i}].role"),
                ))
            }
            None => {
                return Err(GatewayError::bad_param(
                    format!("`messages[{i}]` has no `role`."),
                    &format!("messages[{i}].role"),
                ))
            }
        }
    }
    Ok(())
}

fn embeddings(input: Option<&RawValue>) -> Result<(), GatewayError> {
    let Some(raw) = input.map(|r| r.get().trim_start()) else {
        return Err(GatewayError::bad_param(
            "`input` is required (the text to embed).",
            "input",
        ));
    };
    let non_empty_array =
        || serde_json::from_str::<Vec<IgnoredAny>>(raw).is_ok_and(|v| !v.is_empty());
    if (raw.starts_with('"') && raw != "\"\"") || non_empty_array() {
        return Ok(());
    }
    Err(GatewayError::bad_param(
        "`input` must be a non-empty string, or a non-empty array of strings or token arrays.",
        "input",
    ))
}

fn non_empty_string(v: Option<&RawValue>, param: &str) -> Result<(), GatewayError> {
    match v.map(|r| serde_json::from_str::<Cow<str>>(r.get())) {
        Some(Ok(s)) if !s.trim().is_empty() => Ok(()),
        Some(_) => Err(GatewayError::bad_param(
            format!("`{param}` must be a non-empty string."),
            param,
        )),
        None => Err(GatewayError::bad_param(
            format!("`{param}` is required."),
            param,
        )),
    }
}

fn voice(v: Option<&RawValue>) -> Result<(), GatewayError> {
    let raw = v.map(|r| r.get().trim_start()).unwrap_or("");
    if raw.starts_with('{') || raw.starts_with('"') && raw != "\"\"" {
        return Ok(());
    }
    Err(GatewayError::bad_param(
        "`voice` is required (e.g. \"alloy\").",
        "voice",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn param(e: Endpoint, body: &str) -> Option<String> {
        match json(e, body.as_bytes()) {
            Ok(_) => None,
            Err(GatewayError::BadRequest { param, .. }) => Some(param.unwrap_or_default()),
            Err(other) => panic!("{other}"),
        }
    }

    #[test]
    fn chat_rules() {
        assert_eq!(
            param(
                Endpoint::Chat,
                r#"{"model":"m","messages":[{"role":"user","content":"x"}]}"#
            ),
            None
        );
        assert_eq!(
            param(Endpoint::Chat, r#"{"model":"m"}"#).as_deref(),
            Some("messages")
        );
        assert_eq!(
            param(Endpoint::Chat, r#"{"model":"m","messages":[]}"#).as_deref(),
            Some("messages")
        );
        assert_eq!(
            param(
                Endpoint::Chat,
                r#"{"model":"m","messages":[{"role":"robot"}]}"#
            )
            .as_deref(),
            Some("messages[0].role")
        );
        assert_eq!(
            param(Endpoint::Chat, r#"{"messages":[{"role":"user"}]}"#).as_deref(),
            Some("model")
        );
        assert!(param(Endpoint::Chat, r#"{"model":"m","messages":"hi"}"#).is_some());
    }

    #[test]
    fn chat_from_a_value_is_judged_as_from_bytes() {
        for body in [
            r#"{"model":"m","messages":[{"role":"user","content":"x"}],"stream":true,"max_tokens":9}"#,
            r#"{"model":"m"}"#,
            r#"{"model":"m","messages":[]}"#,
            r#"{"model":"m","messages":[{"role":"robot"}]}"#,
            r#"{"messages":[{"role":"user"}]}"#,
            r#"{"model":"m","messages":"hi"}"#,
            r#"{"model":"m","messages":[{"role":"user"}],"stream":"yes"}"#,
            r#"{"model":5,"messages":[{"role":"user"}]}"#,
            r#"{"model":"m","messages":[{"role":"user"}],"stream_options":{"include_usage":true}}"#,
        ] {
            let v: serde_json::Value = serde_json::from_str(body).unwrap();
            let (a, b) = (json(Endpoint::Chat, body.as_bytes()), chat_value(&v));
            match (a, b) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "{body}"),
                (Err(a), Err(b)) => assert_eq!(a.status(), b.status(), "{body}"),
                (a, b) => panic!("{body}: {a:?} vs {b:?}"),
            }
        }
    }

    #[test]
    fn other_kinds() {
        assert_eq!(
            param(Endpoint::Embeddings, r#"{"model":"m","input":["a"]}"#),
            None
        );
        assert_eq!(
            param(Endpoint::Embeddings, r#"{"model":"m","input":"a"}"#),
            None
        );
        assert_eq!(
            param(Endpoint::Embeddings, r#"{"model":"m"}"#).as_deref(),
            Some("input")
        );
        assert_eq!(
            param(Endpoint::Embeddings, r#"{"model":"m","input":5}"#).as_deref(),
            Some("input")
        );
        assert_eq!(
            param(Endpoint::ImagesGenerations, r#"{"model":"m","prompt":" "}"#).as_deref(),
            Some("prompt")
        );
        assert_eq!(
            param(Endpoint::AudioSpeech, r#"{"model":"m","input":"hi"}"#).as_deref(),
            Some("voice")
        );
        assert_eq!(
            param(
                Endpoint::AudioSpeech,
                r#"{"model":"m","input":"hi","voice":"alloy"}"#
            ),
            None
        );
    }

    #[test]
    fn forms() {
        let f = FormSummary {
            model: Some("whisper-1".into()),
            files: vec![],
            fields: vec!["model".into()],
        };
        assert!(form(Endpoint::AudioTranscriptions, &f).is_err());
        let f = FormSummary {
            model: Some("w".into()),
            files: vec!["file".into()],
            fields: vec![],
        };
        assert_eq!(form(Endpoint::AudioTranscriptions, &f).unwrap().model, "w");
        let f = FormSummary {
            model: Some("w".repeat(caps::MAX_MODEL_BYTES + 1)),
            files: vec!["file".into()],
            fields: vec![],
        };
        let e = form(Endpoint::AudioTranscriptions, &f).unwrap_err();
        assert!(e.message().contains("257 bytes"), "{e}");
    }

    #[test]
    fn long_model_names_are_refused_on_every_json_kind() {
        let model = "m".repeat(300);
        for e in [
            Endpoint::Chat,
            Endpoint::Embeddings,
            Endpoint::ImagesGenerations,
            Endpoint::AudioSpeech,
            Endpoint::Completions,
        ] {
            let body = format!(r#"{{"model":"{model}","messages":[{{"role":"user"}}]}}"#);
            assert_eq!(param(e, &body).as_deref(), Some("model"), "{e:?}");
        }
    }
}
