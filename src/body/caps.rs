//! Counts checked before any work: how many tools, messages and Responses input items a
//! request carries, and how long its model name is. A body within the byte cap can still
//! hold 100,000 tiny tools or messages; everything after this point (translation, validation,
//! fixing, token estimates) is linear in them, and this bounds them first, with a 400 in the
//! client's protocol that names the field (`body.max_tools`, `body.max_messages`,
//! `body.max_input_items`).
//!
//! The model name is capped at [`MAX_MODEL_BYTES`] on every endpoint ([`model_name`], called
//! by validation for every kind and here before a translation): it ends up in routing, logs,
//! metrics and error messages, and the refusal never echoes it whole.

use crate::config::file::BodySection;
use crate::core::error::GatewayError;
use crate::core::kind::Endpoint;
use crate::state::store::history::History;
use serde_json::Value;

/// Longest model name accepted, in bytes. Real names are under 64 (`hunyuan-turbos-latest`,
/// `claude-sonnet-4-5-20250929`, `accounts/fireworks/models/llama-v3p1-405b-instruct`).
pub const MAX_MODEL_BYTES: usize = 256;

/// How much of a refused model name the error shows.
const MODEL_SHOWN_CHARS: usize = 32;

/// `body.max_tools`, `body.max_messages`, `body.max_input_items`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemCaps {
    /// Tools per request (chat `tools` + `functions`, Responses `tools` with namespaces and
    /// `additional_tools` items, Anthropic `tools`).
    pub tools: usize,
    /// Chat and Anthropic `messages`.
    pub messages: usize,
    /// Responses `input` items, the stored conversation of `previous_response_id` included.
    pub input_items: usize,
}

impl ItemCaps {
    /// The caps of `body:`; a cap of 0 is refused (the key and why).
    pub fn from_section(b: &BodySection) -> Result<ItemCaps, (&'static str, &'static str)> {
        for (key, v) in [
            ("max_tools", b.max_tools),
            ("max_messages", b.max_messages),
            ("max_input_items", b.max_input_items),
        ] {
            if v == 0 {
                return Err((key, "must be > 0"));
            }
        }
        Ok(ItemCaps {
            tools: b.max_tools,
            messages: b.max_messages,
            input_items: b.max_input_items,
        })
    }

    /// Checks a parsed JSON body of `endpoint` before it is translated or validated: the
    /// model name, then the counts. `history` is the stored conversation a Responses request
    /// continues (empty otherwise). Endpoints without lists pass.
    pub fn check(
        &self,
        endpoint: Endpoint,
        req: &Value,
        history: Option<&History>,
    ) -> Result<(), GatewayError> {
        if let Some(m) = req.get("model").and_then(Value::as_str) {
            model_name(m)?;
        }
        match endpoint {
            Endpoint::Chat | Endpoint::Messages => {
                let mut tools = len(req.get("tools"));
                if endpoint == Endpoint::Chat {
                    tools = tools.saturating_add(len(req.get("functions"))); // legacy chat tools
                }
                at_most(tools, self.tools, "tools", "max_tools")?;
                let messages = len(req.get("messages"));
                at_most(messages, self.messages, "messages", "max_messages")
            }
            Endpoint::Responses => self.responses(req, history),
            Endpoint::GeminiGenerate | Endpoint::GeminiStream | Endpoint::GeminiCountTokens => {
                self.gemini(crate::protocol::gemini::counted(req))
            }
            _ => Ok(()),
        }
    }

    /// Gemini `contents` count as messages; each function declaration and each built-in
    /// tool (`googleSearch`, ...) of `tools` as a tool.
    fn gemini(&self, req: &Value) -> Result<(), GatewayError> {
        let tools = req
            .get("tools")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_object)
            .flat_map(|t| t.iter())
            .map(|(name, v)| match name.as_str() {
                "functionDeclarations" | "function_declarations" => len(Some(v)),
                _ => 1,
            })
            .fold(0, usize::saturating_add);
        at_most(tools, self.tools, "tools", "max_tools")?;
        let contents = len(req.get("contents"));
        at_most(contents, self.messages, "contents", "max_messages")
    }

    fn responses(&self, req: &Value, history: Option<&History>) -> Result<(), GatewayError> {
        let (input, own): (&[Value], usize) = match req.get("input") {
            Some(Value::Array(a)) => (a, a.len()),
            Some(Value::String(_)) => (&[], 1), // one user message
            _ => (&[], 0),
        };
        let items = own.saturating_add(history.map_or(0, |h| h.len()));
        at_most(items, self.input_items, "input", "max_input_items")?;
        fn listed<'a>(items: impl Iterator<Item = &'a Value>) -> usize {
            items
                .filter(|it| it.get("type").and_then(Value::as_str) == Some("additional_tools"))
                .map(|it| tool_leaves(it.get("tools")))
                .fold(0, usize::saturating_add)
        }
        let tools = tool_leaves(req.get("tools"))
            .saturating_add(listed(input.iter()))
            .saturating_add(history.map_or(0, |h| listed(h.iter())));
        at_most(tools, self.tools, "tools", "max_tools")
    }
}

/// A 400 naming `param` when `n` is over `cap` (the config key `body.<key>`).
fn at_most(n: usize, cap: usize, param: &str, key: &str) -> Result<(), GatewayError> {
    if n <= cap {
        return Ok(());
    }
    Err(GatewayError::bad_param(
        format!(
            "`{param}` has {n} entries; this gateway accepts at most {cap} per request \
             (body.{key})."
        ),
        param,
    ))
}

/// The length of a JSON array (anything else: 0, its type is judged later).
fn len(v: Option<&Value>) -> usize {
    v.and_then(Value::as_array).map_or(0, Vec::len)
}

/// Tools in a Responses tool list, the tools inside `namespace` entries counted one by one
/// (the translator flattens them). Nesting is bounded by the JSON parser's depth limit.
fn tool_leaves(v: Option<&Value>) -> usize {
    let Some(list) = v.and_then(Value::as_array) else {
        return 0;
    };
    list.iter()
        .map(|t| match t.get("type").and_then(Value::as_str) {
            Some("namespace") => tool_leaves(t.get("tools")),
            _ => 1,
        })
        .fold(0, usize::saturating_add)
}

/// A model name of at most [`MAX_MODEL_BYTES`]; the refusal shows its start and its length,
/// never the whole name (a 20 MB "model" must not come back in the answer or the log).
pub fn model_name(model: &str) -> Result<(), GatewayError> {
    if model.len() <= MAX_MODEL_BYTES {
        return Ok(());
    }
    let start: String = model.chars().take(MODEL_SHOWN_CHARS).collect();
    Err(GatewayError::bad_param(
        format!(
            "The model name is {} bytes long (it starts `{start}…`); at most {MAX_MODEL_BYTES} \
             bytes are accepted.",
            model.len()
        ),
        "model",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const CAPS: ItemCaps = ItemCaps {
        tools: 3,
        messages: 2,
        input_items: 4,
    };

    fn param(endpoint: Endpoint, req: Value, history: &[Value]) -> Option<String> {
        let h = (!history.is_empty()).then(|| History::after(None, history.to_vec()));
        match CAPS.check(endpoint, &req, h.as_deref()) {
            Ok(()) => None,
            Err(GatewayError::BadRequest { param, .. }) => param,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn chat_and_messages_count_messages_and_tools() {
        let m = json!({"role": "user", "content": "x"});
        for e in [Endpoint::Chat, Endpoint::Messages] {
            assert_eq!(param(e, json!({"messages": [m, m]}), &[]), None);
            assert_eq!(
                param(e, json!({"messages": [m, m, m]}), &[]).as_deref(),
                Some("messages")
            );
            assert_eq!(
                param(e, json!({"tools": [1, 2, 3, 4]}), &[]).as_deref(),
                Some("tools")
            );
        }
        // Legacy `functions` are tools too.
        let req = json!({"tools": [1, 2], "functions": [1, 2]});
        assert_eq!(param(Endpoint::Chat, req, &[]).as_deref(), Some("tools"));
        // Wrong types are left to validation.
        assert_eq!(
            param(Endpoint::Chat, json!({"messages": "x", "tools": 5}), &[]),
            None
        );
    }

    #[test]
    fn responses_count_history_namespaces_and_additional_tools() {
        let it = json!({"type": "message", "role": "user", "content": "x"});
        assert_eq!(
            param(Endpoint::Responses, json!({"input": "hi"}), &[]),
            None
        );
        let four = json!({"input": [it, it, it, it]});
        assert_eq!(param(Endpoint::Responses, four.clone(), &[]), None);
        assert_eq!(
            param(Endpoint::Responses, four, std::slice::from_ref(&it)).as_deref(),
            Some("input")
        );
        let f = json!({"type": "function", "name": "f"});
        let ns = json!({"type": "namespace", "name": "n", "tools": [f, f]});
        assert_eq!(
            param(Endpoint::Responses, json!({"tools": [f, ns]}), &[]),
            None
        );
        let extra = json!({"type": "additional_tools", "tools": [f]});
        let req = json!({"tools": [f, ns], "input": [extra]});
        assert_eq!(
            param(Endpoint::Responses, req, &[]).as_deref(),
            Some("tools")
        );
        let req = json!({"tools": [f, ns]});
        assert_eq!(
            param(Endpoint::Responses, req, &[extra]).as_deref(),
            Some("tools")
        );
    }

    #[test]
    fn model_names_are_capped_without_echo() {
        assert!(model_name(&"m".repeat(MAX_MODEL_BYTES)).is_ok());
        let long = format!("{}{}", "é".repeat(20), "m".repeat(300));
        let e = model_name(&long).unwrap_err();
        let msg = e.message();
        assert!(
            msg.contains(&long.len().to_string()) && !msg.contains(&long),
            "{msg}"
        );
        assert!(msg.contains(&"é".repeat(20)), "{msg}");
        let req = json!({"model": long, "messages": []});
        assert_eq!(
            param(Endpoint::Embeddings, req, &[]).as_deref(),
            Some("model")
        );
    }

    #[test]
    fn gemini_counts_contents_and_declarations() {
        let c = json!({"role": "user", "parts": []});
        for e in [Endpoint::GeminiGenerate, Endpoint::GeminiStream] {
            assert_eq!(param(e, json!({"contents": [c, c]}), &[]), None);
            assert_eq!(
                param(e, json!({"contents": [c, c, c]}), &[]).as_deref(),
                Some("contents")
            );
            let tools = json!([{"functionDeclarations": [{}, {}]}, {"googleSearch": {}}]);
            assert_eq!(param(e, json!({"tools": tools}), &[]), None);
            let tools = json!([{"functionDeclarations": [{}, {}], "codeExecution": {}},
                {"googleSearch": {}}]);
            assert_eq!(
                param(e, json!({"tools": tools}), &[]).as_deref(),
                Some("tools")
            );
        }
        let wrapped = json!({"generateContentRequest": {"contents": [c, c, c]}});
        assert_eq!(
            param(Endpoint::GeminiCountTokens, wrapped, &[]).as_deref(),
            Some("contents")
        );
    }

    #[test]
    fn zero_is_not_a_cap() {
        let mut b = BodySection::default();
        assert!(ItemCaps::from_section(&b).is_ok());
        b.max_tools = 0;
        assert_eq!(
            ItemCaps::from_section(&b),
            Err(("max_tools", "must be > 0"))
        );
    }
}
