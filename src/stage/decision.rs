//! The decision protocol shared by webhook and plugin stages: what they receive (an envelope
//! around the chat request) and what they answer (allow, modify or deny), as JSON.
//!
//! Sent:
//! ```json
//! {"phase":"request","stage":"policy","model":"hunyuan-turbos-latest","key_id":"team-a",
//!  "protocol":"messages","request":{"model":"…","messages":[…],…}}
//! ```
//! `request` is always the last member (a plugin without a JSON parser can find it); `key_id`
//! is the client key's id, never its secret (`null` when the gateway runs open).
//!
//! Answered: `{"action":"allow"}`, `{"action":"modify","request":{…}}` (the whole request,
//! changed; its `model`, `stream` and `stream_options` are the gateway's and stay as they
//! were), or `{"action":"deny","message":"…","status":403}` (status 400-499, default 403).

use super::guard::refusal;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What a stage is told besides the request.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub model: &'a str,
    pub key_id: Option<&'a str>,
    /// The client's protocol (`chat`, `responses`, `messages`, `completions`, `gemini`).
    pub protocol: &'a str,
}

#[derive(Serialize)]
struct Envelope<'a> {
    phase: &'static str,
    stage: &'a str,
    model: &'a str,
    key_id: Option<&'a str>,
    protocol: &'a str,
    request: &'a Value,
}

/// The envelope's bytes.
pub fn envelope(stage: &str, cx: &Context<'_>, request: &Value) -> Vec<u8> {
    let e = Envelope {
        phase: "request",
        stage,
        model: cx.model,
        key_id: cx.key_id,
        protocol: cx.protocol,
        request,
    };
    serde_json::to_vec(&e).unwrap_or_default()
}

/// A stage's answer.
#[derive(Debug)]
pub enum Reply {
    Allow,
    Modify(Value),
    Deny { status: u16, message: String },
}

#[derive(Deserialize)]
struct Wire {
    action: String,
    #[serde(default)]
    request: Option<Value>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    status: Option<u16>,
}

/// Reads an answer; `Err` says why it is not one (the stage's `on_error` then decides).
pub fn parse(bytes: &[u8]) -> Result<Reply, String> {
    // The error names where the answer broke, never its text (it may echo the request).
    let w: Wire =
        serde_json::from_slice(bytes).map_err(|e| format!("the answer is not a decision ({e})"))?;
    match w.action.as_str() {
        "allow" | "pass" => Ok(Reply::Allow),
        "modify" => match w.request {
            Some(v @ Value::Object(_)) if v.get("messages").is_some_and(Value::is_array) => {
                Ok(Reply::Modify(v))
            }
            _ => Err("`modify` without a `request` object that has `messages`".into()),
        },
        "deny" | "refuse" => Ok(Reply::Deny {
            status: w.status.filter(|s| (400..500).contains(s)).unwrap_or(403),
            message: w
                .message
                .filter(|m| !m.trim().is_empty())
                .map(|m| crate::core::text::truncate_to(&m, 1000))
                .unwrap_or_else(|| "The request was refused by the gateway's policy.".into()),
        }),
        other => Err(format!(
            "unknown action `{}` (allow, modify or deny)",
            crate::core::text::truncate_to(other, 40)
        )),
    }
}

/// Applies a `modify`: the new request replaces the old, but keeps the gateway's members.
pub fn apply_modify(chat: &mut Value, mut new: Value) {
    for key in ["model", "stream", "stream_options"] {
        match chat.get(key) {
            Some(v) => new[key] = v.clone(),
            None => {
                if let Some(o) = new.as_object_mut() {
                    o.remove(key);
                }
            }
        }
    }
    *chat = new;
}

/// A deny as the client's error.
pub fn deny(stage: &str, status: u16, message: String) -> crate::core::error::GatewayError {
    refusal(stage, status, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_request_is_last_and_the_key_is_an_id() {
        let cx = Context {
            model: "m",
            key_id: Some("team-a"),
            protocol: "chat",
        };
        let e = envelope("p", &cx, &json!({"messages": []}));
        let s = String::from_utf8(e).unwrap();
        assert!(s.ends_with(r#""request":{"messages":[]}}"#), "{s}");
        assert!(s.contains(r#""key_id":"team-a""#));
    }

    #[test]
    fn answers() {
        assert!(matches!(parse(br#"{"action":"allow"}"#), Ok(Reply::Allow)));
        match parse(br#"{"action":"deny","status":451,"message":"no"}"#) {
            Ok(Reply::Deny { status, message }) => {
                assert_eq!((status, message.as_str()), (451, "no"))
            }
            r => panic!("{r:?}"),
        }
        // A status outside 4xx is the default 403.
        assert!(matches!(
            parse(br#"{"action":"deny","status":200}"#),
            Ok(Reply::Deny { status: 403, .. })
        ));
        assert!(parse(b"<html>").is_err());
        assert!(parse(br#"{"action":"explode"}"#).is_err());
        assert!(parse(br#"{"action":"modify","request":[1]}"#).is_err());
        let mut chat = json!({"model": "m", "stream": true, "messages": []});
        apply_modify(
            &mut chat,
            json!({"model": "other", "messages": [{"role": "user", "content": "x"}]}),
        );
        assert_eq!(chat["model"], "m");
        assert_eq!(chat["stream"], true);
        assert_eq!(chat["messages"][0]["content"], "x");
    }
}
