//! The top level of a Messages request: which chat fields become which Anthropic fields, and
//! the rules that tie them (thinking budget within `max_tokens`, sampling with thinking).
//! Anthropic refuses unknown fields, so the body is built from scratch, never copied.

use super::tools::{self, Tools};
use super::turns;
use crate::core::translate::TranslateError;
use serde_json::{json, Map, Value};

/// `max_tokens` when the chat request names none (Anthropic requires one; chat defaults to
/// "as much as the model allows", which is not a number we know). The thinking budget is
/// added to it when thinking is on.
pub const DEFAULT_MAX_TOKENS: u64 = 4096;

/// Anthropic's smallest thinking budget.
const MIN_BUDGET: u64 = 1024;

/// What the client asked for in thinking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Think {
    Off,
    Budget(u64),
    Adaptive,
}

pub(super) fn render(chat: &Value) -> Result<Value, TranslateError> {
    let obj = chat
        .as_object()
        .ok_or_else(|| TranslateError::new("request body must be a JSON object", "body"))?;
    one_choice(obj)?;
    let conv = turns::convert(obj.get("messages"))?;
    let tools = tools::render(obj)?;
    let asked = asked_thinking(obj)?;
    let max_tokens = match max_tokens(obj)? {
        Some(n) => n,
        None => match asked {
            Think::Budget(b) => DEFAULT_MAX_TOKENS.saturating_add(b),
            _ => DEFAULT_MAX_TOKENS,
        },
    };
    let thinking = thinking(asked, max_tokens, &tools, conv.unsigned_tool_use);

    let mut out = Map::new();
    if let Some(m) = obj.get("model") {
        out.insert("model".into(), m.clone());
    }
    out.insert("max_tokens".into(), json!(max_tokens));
    if !conv.system.is_empty() {
        out.insert("system".into(), Value::Array(conv.system));
    }
    out.insert("messages".into(), Value::Array(conv.messages));
    sampling(obj, thinking.is_some(), &mut out);
    if let Some(stop) = stop_sequences(obj.get("stop")) {
        out.insert("stop_sequences".into(), stop);
    }
    if !tools.tools.is_empty() {
        out.insert("tools".into(), Value::Array(tools.tools));
    }
    if let Some(c) = tools.choice {
        out.insert("tool_choice".into(), c);
    }
    if let Some(user) = obj
        .get("user")
        .and_then(Value::as_str)
        .filter(|u| !u.is_empty())
    {
        out.insert("metadata".into(), json!({"user_id": user}));
    }
    if let Some(t) = thinking {
        out.insert("thinking".into(), t);
    }
    if obj.get("stream").and_then(Value::as_bool) == Some(true) {
        out.insert("stream".into(), Value::Bool(true));
    }
    Ok(Value::Object(out))
}

/// Messages answers with one message: `n` above 1 cannot be served.
fn one_choice(obj: &Map<String, Value>) -> Result<(), TranslateError> {
    match obj.get("n") {
        None | Some(Value::Null) => Ok(()),
        Some(v) if v.as_u64() == Some(1) => Ok(()),
        Some(_) => Err(TranslateError::new(
            "`n`: an Anthropic upstream gives one choice per request; send `n: 1`.",
            "n",
        )),
    }
}

/// `max_completion_tokens`, else `max_tokens` (a positive integer).
fn max_tokens(obj: &Map<String, Value>) -> Result<Option<u64>, TranslateError> {
    for key in ["max_completion_tokens", "max_tokens"] {
        match obj.get(key) {
            None | Some(Value::Null) => continue,
            Some(v) => {
                return match v.as_u64().filter(|n| *n > 0) {
                    Some(n) => Ok(Some(n)),
                    None => Err(TranslateError::new(
                        format!("`{key}` must be a positive integer."),
                        key,
                    )),
                }
            }
        }
    }
    Ok(None)
}

/// A chat-side `thinking` object (as LiteLLM and DeepSeek clients send), else
/// `reasoning_effort`.
fn asked_thinking(obj: &Map<String, Value>) -> Result<Think, TranslateError> {
    if let Some(t) = obj.get("thinking").filter(|t| t.is_object()) {
        return Ok(match t.get("type").and_then(Value::as_str) {
            Some("enabled") => Think::Budget(
                t.get("budget_tokens")
                    .and_then(Value::as_u64)
                    .unwrap_or(4096),
            ),
            Some("adaptive") => Think::Adaptive,
            _ => Think::Off,
        });
    }
    let effort = match obj.get("reasoning_effort") {
        None | Some(Value::Null) => return Ok(Think::Off),
        Some(v) => v.as_str().unwrap_or(""),
    };
    Ok(match effort {
        "none" | "minimal" => Think::Off,
        "low" => Think::Budget(1024),
        "medium" => Think::Budget(4096),
        "high" => Think::Budget(16384),
        "xhigh" => Think::Budget(32768),
        _ => {
            return Err(TranslateError::new(
                "`reasoning_effort` must be none, minimal, low, medium, high or xhigh.",
                "reasoning_effort",
            ))
        }
    })
}

/// The `thinking` field, if thinking can be on (see the module documentation of [`super`]).
fn thinking(asked: Think, max_tokens: u64, tools: &Tools, unsigned: bool) -> Option<Value> {
    if tools.forced() || unsigned {
        return None;
    }
    match asked {
        Think::Off => None,
        Think::Adaptive => Some(json!({"type": "adaptive"})),
        Think::Budget(b) => {
            let budget = b.min(max_tokens.saturating_sub(1));
            (budget >= MIN_BUDGET).then(|| json!({"type": "enabled", "budget_tokens": budget}))
        }
    }
}

/// `temperature` (capped at 1), `top_p` (not with `temperature`), `top_k`; with thinking only
/// a `top_p` from 0.95.
fn sampling(obj: &Map<String, Value>, thinking: bool, out: &mut Map<String, Value>) {
    let number = |k: &str| obj.get(k).and_then(Value::as_f64);
    let temperature = number("temperature").filter(|_| !thinking);
    let top_p = number("top_p").filter(|p| !thinking || *p >= 0.95);
    if let Some(t) = temperature {
        out.insert("temperature".into(), json!(t.clamp(0.0, 1.0)));
    } else if let Some(p) = top_p {
        out.insert("top_p".into(), json!(p));
    }
    if let Some(k) = obj
        .get("top_k")
        .and_then(Value::as_u64)
        .filter(|_| !thinking)
    {
        out.insert("top_k".into(), json!(k));
    }
}

/// `stop` (a string or a list) → `stop_sequences`, without the whitespace-only ones Anthropic
/// refuses.
fn stop_sequences(stop: Option<&Value>) -> Option<Value> {
    let list: Vec<&str> = match stop {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let kept: Vec<Value> = list
        .into_iter()
        .filter(|s| !s.trim().is_empty())
        .map(|s| json!(s))
        .collect();
    (!kept.is_empty()).then_some(Value::Array(kept))
}
