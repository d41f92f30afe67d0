//! The typed chat request: the fields the gateway's rules read are typed, every other field is
//! kept as it came (`rest`), so nothing a client sends is lost unless a rule removes it.
//!
//! Why not `#[serde(flatten)]` on a derived struct: serde buffers every field of a flattened
//! struct into an intermediate tree before splitting it, which costs more than the whole fixer.
//! The chat body is already parsed once into a `Value` (validation and routing read it), so the
//! typed model is made from that parse by *moving* the known fields out of each object (no
//! copy, no second parse) and turned back the same way. `serde_json::Map` keeps keys sorted,
//! so the round trip of a request that no rule changed gives the very same body.
//!
//! A field whose shape the typed model does not accept stays raw in `rest` (a `tool_calls`
//! that is not a list of well-formed calls, a non-string `tool_call_id`); the rule that deals
//! with it (`fix::tools::sanitize_tool_calls`) reads it there. So the typed fields always hold
//! the valid shape, and a rule can tell "already fine" from "needs work" by the type alone.
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

/// The canonical roles. Others are mapped when the message is made (see [`Message::from_value`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    System,
    User,
    Assistant,
    Tool,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        }
    }
}

/// A message's content.
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    /// No `content` member.
    Missing,
    Text(String),
    /// Content parts as the client sent them (text, images, anything else).
    Parts(Vec<Value>),
    /// `null`, a number, a boolean or a lone part object.
    Other(Value),
}

impl Content {
    fn from_value(v: Option<Value>) -> Content {
        match v {
            None => Content::Missing,
            Some(Value::String(s)) => Content::Text(s),
            Some(Value::Array(p)) => Content::Parts(p),
            Some(other) => Content::Other(other),
        }
    }

    fn into_value(self) -> Option<Value> {
        match self {
            Content::Missing => None,
            Content::Text(s) => Some(Value::String(s)),
            Content::Parts(p) => Some(Value::Array(p)),
            Content::Other(v) => Some(v),
        }
    }

    pub fn as_text(&self) -> Option<&str> {
        match self {
            Content::Text(s) => Some(s),
            _ => None,
        }
    }
}

/// A well-formed function call: a non-blank string `id` and `function.name`, `arguments` a
/// string, `type: "function"`. Other members of the call and of its `function` are kept.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
    /// Other members of the call (`index`, vendor extensions).
    pub rest: Map<String, Value>,
    /// Other members of `function`.
    pub function_rest: Map<String, Value>,
}

fn non_blank(s: &str) -> bool {
    !s.trim().is_empty()
}

impl ToolCall {
    /// The call when it is already well-formed (nothing to normalise), else `None` and the
    /// value untouched.
    fn exact(v: &Value) -> bool {
        let f = v.get("function");
        v.get("id").and_then(Value::as_str).is_some_and(non_blank)
            && v.get("type").and_then(Value::as_str) == Some("function")
            && f.and_then(|f| f.get("name"))
                .and_then(Value::as_str)
                .is_some_and(non_blank)
            && f.and_then(|f| f.get("arguments"))
                .is_some_and(Value::is_string)
    }

    /// A call from a client's value, normalised: missing or null `arguments` become `"{}"`,
    /// other non-string arguments their JSON text, `type` becomes `function`. `Err` gives the
    /// value back when it cannot be a call (no id or no name).
    pub fn normalise(v: Value) -> Result<ToolCall, Value> {
        let Value::Object(mut o) = v else {
            return Err(v);
        };
        let str_of =
            |o: &Map<String, Value>, k: &str| o.get(k).and_then(Value::as_str).map(str::to_owned);
        let name = o
            .get("function")
            .and_then(|f| f.get("name"))
            .and_then(Value::as_str)
            .filter(|s| non_blank(s))
            .map(str::to_owned);
        let (Some(id), Some(name)) = (str_of(&o, "id").filter(|s| non_blank(s)), name) else {
            return Err(Value::Object(o));
        };
        o.remove("id");
        o.remove("type");
        let mut function_rest = match o.remove("function") {
            Some(Value::Object(f)) => f,
            _ => Map::new(),
        };
        function_rest.remove("name");
        let arguments = match function_rest.remove("arguments") {
            Some(Value::String(s)) => s,
            None | Some(Value::Null) => "{}".to_owned(),
            Some(other) => other.to_string(),
        };
        Ok(ToolCall {
            id,
            name,
            arguments,
            rest: o,
            function_rest,
        })
    }

    pub fn into_value(self) -> Value {
        let ToolCall {
            id,
            name,
            arguments,
            mut rest,
            mut function_rest,
        } = self;
        function_rest.insert("name".into(), Value::String(name));
        function_rest.insert("arguments".into(), Value::String(arguments));
        rest.insert("id".into(), Value::String(id));
        rest.insert("type".into(), Value::String("function".into()));
        rest.insert("function".into(), Value::Object(function_rest));
        Value::Object(rest)
    }
}

/// One chat message.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub role: Role,
    pub content: Content,
    /// Well-formed calls of an assistant message; empty when it has none. Anything else a
    /// client sent as `tool_calls` (or `function_call`) is in `rest`.
    pub tool_calls: Vec<ToolCall>,
    /// The string `tool_call_id` (another type stays in `rest`).
    pub tool_call_id: Option<String>,
    pub rest: Map<String, Value>,
}

impl Message {
    pub fn new(role: Role, text: &str) -> Message {
        Message {
            role,
            content: Content::Text(text.into()),
            tool_calls: Vec::new(),
            tool_call_id: None,
            rest: Map::new(),
        }
    }

    /// A message from a client's value, and whether its role had to be mapped: `developer`
    /// becomes system; `function` (a legacy function result) becomes a tool result without
    /// id, so it is never paired; a missing, non-string or unknown role becomes user. `None`
    /// for a value that is not an object.
    pub fn from_value(v: Value) -> Option<(Message, bool)> {
        let Value::Object(mut rest) = v else {
            return None;
        };
        let (role, mapped) = match rest.remove("role") {
            Some(Value::String(r)) => match r.as_str() {
                "system" => (Role::System, false),
                "user" => (Role::User, false),
                "assistant" => (Role::Assistant, false),
                "tool" => (Role::Tool, false),
                "developer" => (Role::System, true),
                "function" => {
                    rest.remove("tool_call_id");
                    (Role::Tool, true)
                }
                _ => (Role::User, true),
            },
            _ => (Role::User, true),
        };
        let content = Content::from_value(rest.remove("content"));
        let tool_call_id = match rest.remove("tool_call_id") {
            Some(Value::String(id)) => Some(id),
            Some(other) => {
                rest.insert("tool_call_id".into(), other);
                None
            }
            None => None,
        };
        let tool_calls = if role == Role::Assistant && exact_calls(&rest) {
            match rest.remove("tool_calls") {
                Some(Value::Array(calls)) => calls
                    .into_iter()
                    .filter_map(|c| ToolCall::normalise(c).ok())
                    .collect(),
                _ => Vec::new(),
            }
        } else {
            Vec::new()
        };
        let m = Message {
            role,
            content,
            tool_calls,
            tool_call_id,
            rest,
        };
        Some((m, mapped))
    }

    pub fn into_value(self) -> Value {
        let Message {
            role,
            content,
            tool_calls,
            tool_call_id,
            mut rest,
        } = self;
        rest.insert("role".into(), Value::String(role.as_str().into()));
        if let Some(c) = content.into_value() {
            rest.insert("content".into(), c);
        }
        if !tool_calls.is_empty() {
            let calls = tool_calls.into_iter().map(ToolCall::into_value).collect();
            rest.insert("tool_calls".into(), Value::Array(calls));
        }
        if let Some(id) = tool_call_id {
            rest.insert("tool_call_id".into(), Value::String(id));
        }
        Value::Object(rest)
    }

    /// Raw call members the typed fields did not take (see the module comment).
    pub fn has_raw_calls(&self) -> bool {
        self.rest.contains_key("tool_calls") || self.rest.contains_key("function_call")
    }
}

/// A non-empty `tool_calls` of calls that need no normalising, and no `function_call`: the
/// typed fields take them as they are.
fn exact_calls(rest: &Map<String, Value>) -> bool {
    match rest.get("tool_calls") {
        Some(Value::Array(calls)) => {
            !calls.is_empty()
                && !rest.contains_key("function_call")
                && calls.iter().all(ToolCall::exact)
        }
        _ => false,
    }
}

/// A chat request: its messages typed, every other member (model, parameters, tools) in
/// `params`.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    pub messages: Vec<Message>,
    pub params: Map<String, Value>,
    /// Messages were dropped (not objects) or had their role mapped on the way in.
    pub normalised: bool,
}

impl ChatRequest {
    /// Takes the request apart; `None` (and the object untouched) when it has no `messages`
    /// array.
    pub fn from_map(mut params: Map<String, Value>) -> Result<ChatRequest, Map<String, Value>> {
        let raw = match params.remove("messages") {
            Some(Value::Array(raw)) => raw,
            Some(other) => {
                params.insert("messages".into(), other);
                return Err(params);
            }
            None => return Err(params),
        };
        let n = raw.len();
        let mut normalised = false;
        let mut messages = Vec::with_capacity(n);
        for v in raw {
            match Message::from_value(v) {
                Some((m, mapped)) => {
                    normalised |= mapped;
                    messages.push(m);
                }
                None => normalised = true,
            }
        }
        Ok(ChatRequest {
            messages,
            params,
            normalised,
        })
    }

    pub fn into_map(self) -> Map<String, Value> {
        let ChatRequest {
            messages,
            mut params,
            ..
        } = self;
        let msgs = messages.into_iter().map(Message::into_value).collect();
        params.insert("messages".into(), Value::Array(msgs));
        params
    }
}

// Serialising the typed request directly (no `Value` rebuilt on the way out), with the members
// in the order a `Map` would write them (sorted), so the body is byte for byte what the `Value`
// of the same request gives.

/// A typed member's value.
enum Field<'a> {
    Str(&'a str),
    Content(&'a Content),
    Calls(&'a [ToolCall]),
    Messages(&'a [Message]),
    Function(&'a ToolCall),
}

impl Serialize for Field<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Field::Str(v) => s.serialize_str(v),
            Field::Content(Content::Text(t)) => s.serialize_str(t),
            Field::Content(Content::Parts(p)) => p.serialize(s),
            Field::Content(Content::Other(v)) => v.serialize(s),
            Field::Content(Content::Missing) => s.serialize_unit(),
            Field::Calls(c) => s.collect_seq(c.iter()),
            Field::Messages(m) => s.collect_seq(m.iter()),
            Field::Function(c) => merged(
                s,
                &[
                    ("arguments", Field::Str(&c.arguments)),
                    ("name", Field::Str(&c.name)),
                ],
                &c.function_rest,
            ),
        }
    }
}

/// A map of `typed` members (sorted by key) and `rest`, in key order; a key of `rest` that a
/// typed member also has is written once, from the typed member.
fn merged<S: Serializer>(
    s: S,
    typed: &[(&str, Field<'_>)],
    rest: &Map<String, Value>,
) -> Result<S::Ok, S::Error> {
    let dup = typed.iter().filter(|(k, _)| rest.contains_key(*k)).count();
    let mut map = s.serialize_map(Some(typed.len() + rest.len() - dup))?;
    let mut t = typed.iter().peekable();
    for (k, v) in rest {
        while let Some((tk, tv)) = t.next_if(|(tk, _)| *tk <= k.as_str()) {
            map.serialize_entry(tk, tv)?;
        }
        if !typed.iter().any(|(tk, _)| tk == k) {
            map.serialize_entry(k, v)?;
        }
    }
    for (tk, tv) in t {
        map.serialize_entry(tk, tv)?;
    }
    map.end()
}

impl Serialize for ToolCall {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let typed = [
            ("function", Field::Function(self)),
            ("id", Field::Str(&self.id)),
            ("type", Field::Str("function")),
        ];
        merged(s, &typed, &self.rest)
    }
}

impl Serialize for Message {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut typed: [Option<(&str, Field<'_>)>; 4] = [
            (!matches!(self.content, Content::Missing))
                .then_some(("content", Field::Content(&self.content))),
            Some(("role", Field::Str(self.role.as_str()))),
            self.tool_call_id
                .as_deref()
                .map(|id| ("tool_call_id", Field::Str(id))),
            (!self.tool_calls.is_empty()).then_some(("tool_calls", Field::Calls(&self.tool_calls))),
        ];
        let typed: Vec<(&str, Field<'_>)> = typed.iter_mut().filter_map(Option::take).collect();
        merged(s, &typed, &self.rest)
    }
}

impl Serialize for ChatRequest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        merged(
            s,
            &[("messages", Field::Messages(&self.messages))],
            &self.params,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn round_trip(v: Value) -> Value {
        let Value::Object(o) = v else {
            panic!("not an object")
        };
        match ChatRequest::from_map(o) {
            Ok(r) => Value::Object(r.into_map()),
            Err(o) => Value::Object(o),
        }
    }

    #[test]
    fn a_request_round_trips_with_every_member_kept() {
        let v = json!({
            "model": "m", "temperature": 0.3, "x_vendor": {"a": [1]},
            "messages": [
                {"role": "system", "content": "s", "name": "sys", "cache_control": {"type": "ephemeral"}},
                {"role": "user", "content": [{"type": "text", "text": "hi", "extra": 1}]},
                {"role": "assistant", "content": null, "reasoning_content": "r",
                 "tool_calls": [{"id": "c1", "type": "function", "index": 0,
                                 "function": {"name": "f", "arguments": "{}", "x": true}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "ok"},
                {"role": "tool", "tool_call_id": 7, "content": "odd"},
            ]
        });
        assert_eq!(round_trip(v.clone()), v);
    }

    #[test]
    fn serialising_the_typed_request_gives_the_bytes_of_its_value() {
        let v = json!({
            "a": 1, "model": "m", "n": null, "z": [1],
            "messages": [
                {"role": "user", "content": "x", "aaa": 1, "name": "n", "zzz": {}},
                {"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "a": 0,
                  "function": {"name": "f", "arguments": "{}", "b": 1, "z": 2}}]},
                {"role": "tool", "tool_call_id": "c", "content": [{"type": "text", "text": "t"}]},
                {"role": "user"},
            ]
        });
        let Value::Object(o) = v.clone() else {
            panic!()
        };
        let r = ChatRequest::from_map(o).unwrap_or_else(|_| panic!("no messages"));
        let typed = serde_json::to_string(&r).unwrap_or_default();
        assert_eq!(typed, serde_json::to_string(&v).unwrap_or_default());
    }

    #[test]
    fn malformed_calls_stay_raw_and_roles_are_mapped() {
        let v = json!({"messages": [
            {"role": "assistant", "tool_calls": [{"id": "c1", "function": {"name": "f"}}]},
            {"role": "developer", "content": "d"},
            {"role": "function", "name": "f", "tool_call_id": "x", "content": "r"},
            3,
        ]});
        let Value::Object(o) = v else { panic!() };
        let r = ChatRequest::from_map(o).unwrap_or_else(|_| panic!("no messages"));
        assert!(r.normalised);
        assert_eq!(r.messages.len(), 3);
        assert!(r.messages[0].tool_calls.is_empty() && r.messages[0].has_raw_calls());
        assert_eq!(r.messages[1].role, Role::System);
        assert_eq!(r.messages[2].role, Role::Tool);
        assert_eq!(r.messages[2].tool_call_id, None);
    }

    #[test]
    fn a_call_is_normalised_or_given_back() {
        let c = ToolCall::normalise(
            json!({"id": "a", "function": {"name": "f", "arguments": {"x": 1}}}),
        );
        let c = c.unwrap_or_else(|v| panic!("refused {v}"));
        assert_eq!(c.arguments, r#"{"x":1}"#);
        assert_eq!(
            c.into_value(),
            json!({"id": "a", "type": "function", "function": {"name": "f", "arguments": "{\"x\":1}"}})
        );
        assert!(ToolCall::normalise(json!({"id": " ", "function": {"name": "f"}})).is_err());
        assert!(ToolCall::normalise(json!("call")).is_err());
    }
}
