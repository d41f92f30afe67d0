//! Chat `tools`, `tool_choice` and `parallel_tool_calls` → Anthropic `tools` and
//! `tool_choice`.

use crate::core::translate::TranslateError;
use serde_json::{json, Map, Value};

/// What the tools render to.
#[derive(Debug, Default)]
pub(super) struct Tools {
    pub tools: Vec<Value>,
    pub choice: Option<Value>,
}

impl Tools {
    /// `tool_choice` makes the model call a tool (`any` or a named `tool`): Anthropic refuses
    /// thinking then.
    pub fn forced(&self) -> bool {
        self.choice
            .as_ref()
            .and_then(|c| c.get("type"))
            .and_then(Value::as_str)
            .is_some_and(|t| t == "any" || t == "tool")
    }
}

/// Renders the function tools; `tool_choice` only when some tool is given (Anthropic refuses
/// a choice without tools).
pub(super) fn render(obj: &Map<String, Value>) -> Result<Tools, TranslateError> {
    let list = match obj.get("tools") {
        None | Some(Value::Null) => return Ok(Tools::default()),
        Some(Value::Array(a)) => a,
        Some(_) => return Err(TranslateError::new("`tools` must be a list.", "tools")),
    };
    let tools = list
        .iter()
        .enumerate()
        .map(|(k, t)| tool(k, t))
        .collect::<Result<Vec<_>, _>>()?;
    if tools.is_empty() {
        return Ok(Tools::default());
    }
    let no_parallel = obj.get("parallel_tool_calls").and_then(Value::as_bool) == Some(false);
    let choice = choice(obj.get("tool_choice"), no_parallel)?;
    Ok(Tools { tools, choice })
}

/// `{type: function, function: {name, description, parameters}}` → `{name, description,
/// input_schema}` (`strict` has no Anthropic field and is dropped).
fn tool(k: usize, t: &Value) -> Result<Value, TranslateError> {
    let kind = t.get("type").and_then(Value::as_str).unwrap_or("function");
    if kind != "function" {
        return Err(TranslateError::new(
            format!("`tools[{k}]`: a `{kind}` tool cannot be sent to an Anthropic upstream."),
            format!("tools[{k}].type"),
        ));
    }
    let f = t.get("function").unwrap_or(&Value::Null);
    let name = f
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            TranslateError::new(
                format!("`tools[{k}].function.name` is required."),
                format!("tools[{k}].function.name"),
            )
        })?;
    let mut schema = match f.get("parameters") {
        Some(Value::Object(p)) => p.clone(),
        _ => Map::new(),
    };
    // Anthropic requires an object schema; chat allows leaving it out.
    schema
        .entry("type")
        .or_insert_with(|| Value::String("object".into()));
    let mut out = Map::new();
    out.insert("name".into(), json!(name));
    if let Some(d) = f.get("description").and_then(Value::as_str) {
        out.insert("description".into(), json!(d));
    }
    out.insert("input_schema".into(), Value::Object(schema));
    if let Some(c) = t.get("cache_control").filter(|c| c.is_object()) {
        out.insert("cache_control".into(), c.clone());
    }
    Ok(Value::Object(out))
}

/// auto / none / required / a named function → `{type: auto | none | any | tool}`;
/// `parallel_tool_calls: false` → `disable_parallel_tool_use` (not on `none`).
fn choice(c: Option<&Value>, no_parallel: bool) -> Result<Option<Value>, TranslateError> {
    let bad = || {
        TranslateError::new(
            "`tool_choice` must be auto, none, required or a function.",
            "tool_choice",
        )
    };
    let mut choice = match c {
        None | Some(Value::Null) => {
            if !no_parallel {
                return Ok(None);
            }
            json!({"type": "auto"})
        }
        Some(Value::String(s)) => match s.as_str() {
            "auto" => json!({"type": "auto"}),
            "none" => return Ok(Some(json!({"type": "none"}))),
            "required" => json!({"type": "any"}),
            _ => return Err(bad()),
        },
        Some(v) => {
            let name = v
                .pointer("/function/name")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
                .ok_or_else(bad)?;
            json!({"type": "tool", "name": name})
        }
    };
    if no_parallel {
        choice["disable_parallel_tool_use"] = Value::Bool(true);
    }
    Ok(Some(choice))
}
