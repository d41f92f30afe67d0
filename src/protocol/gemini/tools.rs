//! `tools`, `toolConfig` and `generationConfig` → their chat equivalents.
//!
//! * `functionDeclarations` → function tools; `parameters` (Gemini's OpenAPI subset, whose
//!   types are upper-case: `OBJECT`, `STRING`) has its types lower-cased into JSON Schema;
//!   `parametersJsonSchema` is JSON Schema already. Built-in tools (`googleSearch`,
//!   `codeExecution`, `urlContext`, …: any other member of a tool) are dropped and named.
//! * `functionCallingConfig.mode`: `AUTO` → `auto`, `ANY` → `required` (or the one allowed
//!   function), `NONE` → `none`, `VALIDATED` → `auto`; with `ANY` / `VALIDATED`,
//!   `allowedFunctionNames` limits the tools sent.
//! * `generationConfig`: `temperature`, `topP` → `top_p`, `maxOutputTokens` → `max_tokens`,
//!   `stopSequences` → `stop`, `seed`, `presencePenalty`, `frequencyPenalty`;
//!   `responseMimeType: application/json` with `responseSchema` / `responseJsonSchema` →
//!   `response_format` (`json_schema`, or `json_object` without a schema);
//!   `thinkingConfig.thinkingLevel` → `reasoning_effort`, `thinkingBudget` → `low` (≤ 1024),
//!   `medium` (≤ 8192) or `high` (0 and -1, "off" and "dynamic", are left to the model), and
//!   `includeThoughts: false` hides reasoning. Dropped: `topK`, `candidateCount` (one candidate
//!   is answered), `responseModalities`, `speechConfig`, `mediaResolution`, logprobs; and
//!   the request's `safetySettings` and `cachedContent`.

use super::meta::field;
use crate::core::translate::TranslateError;
use serde_json::{json, Map, Value};

/// Adds `tools` and `tool_choice`; returns the dropped built-in tools.
pub(super) fn tools(
    req: &Value,
    chat: &mut Map<String, Value>,
) -> Result<Vec<String>, TranslateError> {
    let mut dropped = Vec::new();
    let mut functions = Vec::new();
    let list = match field(req, "tools", "tools") {
        None => return Ok(dropped),
        Some(Value::Array(l)) => l,
        Some(_) => return Err(TranslateError::new("tools: must be a list", "tools")),
    };
    for (k, tool) in list.iter().enumerate() {
        let Some(members) = tool.as_object() else {
            return Err(TranslateError::new(
                format!("tools[{k}]: must be an object"),
                format!("tools[{k}]"),
            ));
        };
        for (name, value) in members {
            if name == "functionDeclarations" || name == "function_declarations" {
                declarations(k, value, &mut functions)?;
            } else if !value.is_null() {
                dropped.push(name.clone());
            }
        }
    }
    let config = field(req, "toolConfig", "tool_config")
        .and_then(|c| field(c, "functionCallingConfig", "function_calling_config"));
    let choice = config.map(|c| tool_choice(c, &mut functions));
    if functions.is_empty() {
        return Ok(dropped);
    }
    chat.insert("tools".into(), Value::Array(functions));
    if let Some(Some(c)) = choice {
        chat.insert("tool_choice".into(), c);
    }
    Ok(dropped)
}

fn declarations(k: usize, list: &Value, out: &mut Vec<Value>) -> Result<(), TranslateError> {
    let Some(list) = list.as_array() else {
        return Err(TranslateError::new(
            format!("tools[{k}].functionDeclarations: must be a list"),
            format!("tools[{k}].functionDeclarations"),
        ));
    };
    for (j, d) in list.iter().enumerate() {
        let at = format!("tools[{k}].functionDeclarations[{j}]");
        let name = match d.get("name").and_then(Value::as_str) {
            Some(n) if !n.is_empty() => n,
            _ => {
                return Err(TranslateError::new(
                    format!("{at}.name: Field required"),
                    format!("{at}.name"),
                ))
            }
        };
        let schema = field(d, "parametersJsonSchema", "parameters_json_schema")
            .cloned()
            .or_else(|| d.get("parameters").map(openapi_to_json_schema))
            .filter(Value::is_object)
            .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
        let mut f = Map::new();
        f.insert("name".into(), json!(name));
        if let Some(desc) = d.get("description").and_then(Value::as_str) {
            f.insert("description".into(), json!(desc));
        }
        f.insert("parameters".into(), schema);
        out.push(json!({"type": "function", "function": f}));
    }
    Ok(())
}

/// Gemini's OpenAPI schema as JSON Schema: `type` lower-cased wherever a schema can sit
/// (`properties`, `items`, `anyOf`, …) and the Gemini-only `propertyOrdering` removed. One
/// pass; the nesting is bounded by the JSON parser's depth limit.
pub(super) fn openapi_to_json_schema(schema: &Value) -> Value {
    let Some(obj) = schema.as_object() else {
        return schema.clone();
    };
    let mut out = Map::new();
    for (k, v) in obj {
        let v = match (k.as_str(), v) {
            ("propertyOrdering", _) => continue,
            ("type", Value::String(t)) => Value::String(t.to_ascii_lowercase()),
            ("properties" | "$defs" | "definitions", Value::Object(props)) => Value::Object(
                props
                    .iter()
                    .map(|(name, s)| (name.clone(), openapi_to_json_schema(s)))
                    .collect(),
            ),
            ("items" | "additionalProperties" | "not", s @ Value::Object(_)) => {
                openapi_to_json_schema(s)
            }
            ("anyOf" | "oneOf" | "allOf" | "prefixItems", Value::Array(list)) => {
                Value::Array(list.iter().map(openapi_to_json_schema).collect())
            }
            _ => v.clone(),
        };
        out.insert(k.clone(), v);
    }
    Value::Object(out)
}

/// `functionCallingConfig` → `tool_choice` (None: the upstream's default), limiting
/// `functions` to `allowedFunctionNames` for `ANY` and `VALIDATED`.
fn tool_choice(config: &Value, functions: &mut Vec<Value>) -> Option<Value> {
    let mode = config
        .get("mode")
        .and_then(Value::as_str)
        .unwrap_or("AUTO")
        .to_ascii_uppercase();
    let allowed: Vec<&str> = field(config, "allowedFunctionNames", "allowed_function_names")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let limit = |functions: &mut Vec<Value>| {
        if !allowed.is_empty() {
            let names: rustc_hash::FxHashSet<&str> = allowed.iter().copied().collect();
            functions.retain(|f| {
                f.pointer("/function/name")
                    .and_then(Value::as_str)
                    .is_some_and(|n| names.contains(n))
            });
        }
    };
    match mode.as_str() {
        "NONE" => Some(json!("none")),
        "ANY" => {
            limit(functions);
            match functions.as_slice() {
                [only] => Some(json!({"type": "function",
                    "function": {"name": only.pointer("/function/name")}})),
                _ => Some(json!("required")),
            }
        }
        "VALIDATED" => {
            limit(functions);
            Some(json!("auto"))
        }
        _ => None,
    }
}

/// Adds the sampling and output parameters; returns whether reasoning is shown (see the
/// module comment for what is mapped and what is dropped).
pub(super) fn generation(
    req: &Value,
    chat: &mut Map<String, Value>,
) -> Result<bool, TranslateError> {
    let Some(g) = field(req, "generationConfig", "generation_config") else {
        return Ok(true);
    };
    if !g.is_object() {
        return Err(TranslateError::new(
            "generationConfig: must be an object",
            "generationConfig",
        ));
    }
    let numbers = [
        ("temperature", "temperature", "temperature"),
        ("topP", "top_p", "top_p"),
        ("maxOutputTokens", "max_output_tokens", "max_tokens"),
        ("seed", "seed", "seed"),
        ("presencePenalty", "presence_penalty", "presence_penalty"),
        ("frequencyPenalty", "frequency_penalty", "frequency_penalty"),
    ];
    for (camel, snake, to) in numbers {
        if let Some(v) = field(g, camel, snake).filter(|v| v.is_number()) {
            chat.insert(to.into(), v.clone());
        }
    }
    let stop: Vec<&Value> = field(g, "stopSequences", "stop_sequences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|s| s.is_string())
        .collect();
    if !stop.is_empty() {
        chat.insert("stop".into(), json!(stop));
    }
    if let Some(format) = response_format(g) {
        chat.insert("response_format".into(), format);
    }
    let thinking = field(g, "thinkingConfig", "thinking_config");
    if let Some(effort) = thinking.and_then(reasoning_effort) {
        chat.insert("reasoning_effort".into(), json!(effort));
    }
    let shown = thinking
        .and_then(|t| field(t, "includeThoughts", "include_thoughts"))
        .and_then(Value::as_bool);
    Ok(shown != Some(false))
}

/// `responseMimeType: application/json` → `response_format`.
fn response_format(g: &Value) -> Option<Value> {
    let mime = field(g, "responseMimeType", "response_mime_type").and_then(Value::as_str)?;
    if !mime.eq_ignore_ascii_case("application/json") {
        return None;
    }
    let schema = field(g, "responseJsonSchema", "response_json_schema")
        .or_else(|| g.get("_responseJsonSchema"))
        .cloned()
        .or_else(|| field(g, "responseSchema", "response_schema").map(openapi_to_json_schema))
        .filter(Value::is_object);
    Some(match schema {
        Some(schema) => json!({"type": "json_schema",
            "json_schema": {"name": "response", "schema": schema}}),
        None => json!({"type": "json_object"}),
    })
}

/// `thinkingLevel` (`LOW`, `MEDIUM`, `HIGH`, `MINIMAL`) or `thinkingBudget` → an effort.
fn reasoning_effort(t: &Value) -> Option<&'static str> {
    if let Some(level) = field(t, "thinkingLevel", "thinking_level").and_then(Value::as_str) {
        return match level.to_ascii_lowercase().as_str() {
            "minimal" => Some("minimal"),
            "low" => Some("low"),
            "medium" => Some("medium"),
            "high" => Some("high"),
            _ => None,
        };
    }
    match field(t, "thinkingBudget", "thinking_budget")?.as_i64()? {
        b if b <= 0 => None,
        1..=1024 => Some("low"),
        1025..=8192 => Some("medium"),
        _ => Some("high"),
    }
}
