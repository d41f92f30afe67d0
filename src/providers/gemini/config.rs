//! Chat request parameters → Gemini `tools`, `toolConfig`, `generationConfig`.
//!
//! * `tools` (function tools) → one `tools: [{functionDeclarations}]`, each schema as
//!   `parametersJsonSchema` (see the module docs of `gemini` for why); another tool type is a
//!   400. `tool_choice`: `auto` → AUTO, `none` → NONE, `required` → ANY, a named function →
//!   ANY + `allowedFunctionNames`; it is not sent without tools.
//! * `temperature`, `top_p` (`topP`), `top_k` (`topK`), `max_completion_tokens` or else
//!   `max_tokens` (`maxOutputTokens`), `stop` (`stopSequences`), `n` (`candidateCount`),
//!   `seed`, `presence_penalty`, `frequency_penalty`; `response_format` `json_object` →
//!   `responseMimeType: application/json`, `json_schema` → that plus `responseJsonSchema`.
//! * `reasoning_effort` → `thinkingConfig` with `includeThoughts` (the thoughts come back as
//!   `reasoning_content`, as a client asking for reasoning expects). Gemini 3 and later take a
//!   `thinkingLevel`: `none`/`minimal`/`low` → `low`, `medium`/`high`/`xhigh` → `high` (the
//!   two levels every Gemini 3 model accepts; Pro has no `minimal` nor `medium`). Older models
//!   (and names the gateway cannot read a version from) take a `thinkingBudget`: the tokens of
//!   Google's OpenAI layer (low 1024, medium 8192, high 24576; minimal 512), and `none` → 0,
//!   or 128 for a Pro model, which cannot stop thinking. `none` sends no `includeThoughts`.
//! * Google's own OpenAI-layer extras, `extra_body.google.{cached_content, thinking_config,
//!   safety_settings}` → `cachedContent`, `thinkingConfig` (overrides `reasoning_effort`),
//!   `safetySettings`.
//! * Everything else (`stream_options`, `user`, `metadata`, `logit_bias`, `logprobs`,
//!   `parallel_tool_calls`, `store`, `service_tier`, ...) is dropped.

use serde_json::{json, Map, Value};

use crate::core::translate::TranslateError;

type Obj = Map<String, Value>;

/// Adds the request's tools, tool config and generation config to the Gemini `body`.
pub(super) fn apply(chat: &Obj, model: &str, body: &mut Obj) -> Result<(), TranslateError> {
    let declared = tools(chat, body)?;
    if declared {
        tool_config(chat, body)?;
    }
    let mut gc = generation_config(chat, model)?;
    google_extras(chat, body, &mut gc);
    if !gc.is_empty() {
        body.insert("generationConfig".into(), Value::Object(gc));
    }
    Ok(())
}

/// `tools` → `functionDeclarations`; true when any were declared.
fn tools(chat: &Obj, body: &mut Obj) -> Result<bool, TranslateError> {
    let list = match chat.get("tools") {
        None | Some(Value::Null) => return Ok(false),
        Some(Value::Array(l)) => l,
        Some(_) => return Err(TranslateError::new("`tools` must be an array", "tools")),
    };
    let mut decls = Vec::with_capacity(list.len());
    for (i, t) in list.iter().enumerate() {
        let at = format!("tools[{i}]");
        match t.get("type").and_then(Value::as_str) {
            None | Some("function") => {}
            Some(other) => {
                return Err(TranslateError::new(
                    format!("tool type `{other}` cannot be sent to Gemini"),
                    format!("{at}.type"),
                ))
            }
        }
        let f = t.get("function").unwrap_or(&Value::Null);
        let name = f
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| {
                TranslateError::new("a tool needs a name", format!("{at}.function.name"))
            })?;
        let mut d = Map::new();
        d.insert("name".into(), json!(name));
        if let Some(desc) = f.get("description").and_then(Value::as_str) {
            d.insert("description".into(), json!(desc));
        }
        if let Some(p) = f.get("parameters").filter(|p| p.is_object()) {
            d.insert("parametersJsonSchema".into(), p.clone());
        }
        decls.push(Value::Object(d));
    }
    if decls.is_empty() {
        return Ok(false);
    }
    body.insert("tools".into(), json!([{"functionDeclarations": decls}]));
    Ok(true)
}

fn tool_config(chat: &Obj, body: &mut Obj) -> Result<(), TranslateError> {
    let bad = || TranslateError::new("unsupported `tool_choice`", "tool_choice");
    let config = match chat.get("tool_choice") {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::String(s)) => match s.as_str() {
            "auto" => json!({"mode": "AUTO"}),
            "none" => json!({"mode": "NONE"}),
            "required" => json!({"mode": "ANY"}),
            _ => return Err(bad()),
        },
        Some(v @ Value::Object(_)) => {
            let name = v
                .pointer("/function/name")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
                .ok_or_else(bad)?;
            json!({"mode": "ANY", "allowedFunctionNames": [name]})
        }
        Some(_) => return Err(bad()),
    };
    body.insert(
        "toolConfig".into(),
        json!({"functionCallingConfig": config}),
    );
    Ok(())
}

/// Number parameters: (chat name, Gemini name).
const NUMBERS: [(&str, &str); 7] = [
    ("temperature", "temperature"),
    ("top_p", "topP"),
    ("top_k", "topK"),
    ("n", "candidateCount"),
    ("seed", "seed"),
    ("presence_penalty", "presencePenalty"),
    ("frequency_penalty", "frequencyPenalty"),
];

fn generation_config(chat: &Obj, model: &str) -> Result<Obj, TranslateError> {
    let mut gc = Map::new();
    for (from, to) in NUMBERS {
        if let Some(v) = number(chat, from)? {
            gc.insert(to.into(), v.clone());
        }
    }
    let max = match number(chat, "max_completion_tokens")? {
        Some(v) => Some(v),
        None => number(chat, "max_tokens")?,
    };
    if let Some(v) = max {
        gc.insert("maxOutputTokens".into(), v.clone());
    }
    match chat.get("stop") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => {
            gc.insert("stopSequences".into(), json!([s]));
        }
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => {
            if !a.is_empty() {
                gc.insert("stopSequences".into(), Value::Array(a.clone()));
            }
        }
        Some(_) => {
            return Err(TranslateError::new(
                "`stop` must be a string or an array of strings",
                "stop",
            ))
        }
    }
    response_format(chat, &mut gc)?;
    match chat.get("reasoning_effort") {
        None | Some(Value::Null) => {}
        Some(Value::String(e)) => {
            gc.insert("thinkingConfig".into(), thinking(e, model)?);
        }
        Some(_) => return Err(effort_error()),
    }
    Ok(gc)
}

/// A number parameter, None when absent or null.
fn number<'a>(chat: &'a Obj, key: &str) -> Result<Option<&'a Value>, TranslateError> {
    match chat.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v @ Value::Number(_)) => Ok(Some(v)),
        Some(_) => Err(TranslateError::new(
            format!("`{key}` must be a number"),
            key,
        )),
    }
}

fn response_format(chat: &Obj, gc: &mut Obj) -> Result<(), TranslateError> {
    let Some(rf) = chat.get("response_format").filter(|v| !v.is_null()) else {
        return Ok(());
    };
    match rf.get("type").and_then(Value::as_str) {
        Some("text") => {}
        Some("json_object") => {
            gc.insert("responseMimeType".into(), json!("application/json"));
        }
        Some("json_schema") => {
            gc.insert("responseMimeType".into(), json!("application/json"));
            if let Some(s) = rf.pointer("/json_schema/schema").filter(|s| s.is_object()) {
                gc.insert("responseJsonSchema".into(), s.clone());
            }
        }
        _ => {
            return Err(TranslateError::new(
                "unsupported `response_format` type",
                "response_format.type",
            ))
        }
    }
    Ok(())
}

fn effort_error() -> TranslateError {
    TranslateError::new(
        "`reasoning_effort` must be one of none, minimal, low, medium, high, xhigh",
        "reasoning_effort",
    )
}

/// `reasoning_effort` → `thinkingConfig` for `model` (see the module docs).
fn thinking(effort: &str, model: &str) -> Result<Value, TranslateError> {
    let rank = match effort {
        "none" => 0,
        "minimal" => 1,
        "low" => 2,
        "medium" => 3,
        "high" | "xhigh" => 4,
        _ => return Err(effort_error()),
    };
    if major_version(model).is_some_and(|v| v >= 3) {
        let level = if rank <= 2 { "low" } else { "high" };
        return Ok(json!({"thinkingLevel": level, "includeThoughts": rank > 0}));
    }
    if rank == 0 {
        let budget = if model.contains("pro") { 128 } else { 0 };
        return Ok(json!({"thinkingBudget": budget}));
    }
    let budget = [0, 512, 1024, 8192, 24576][rank];
    Ok(json!({"thinkingBudget": budget, "includeThoughts": true}))
}

/// The major version in a `gemini-<major>...` model name.
fn major_version(model: &str) -> Option<u32> {
    let rest = model.strip_prefix("gemini-")?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    rest.get(..digits)?.parse().ok()
}

/// `extra_body.google` (Google's OpenAI-compatibility extras), snake_case as there.
fn google_extras(chat: &Obj, body: &mut Obj, gc: &mut Obj) {
    let Some(g) = chat.get("extra_body").and_then(|e| e.get("google")) else {
        return;
    };
    if let Some(c) = g.get("cached_content").and_then(Value::as_str) {
        body.insert("cachedContent".into(), json!(c));
    }
    if let Some(s) = g.get("safety_settings").filter(|s| s.is_array()) {
        body.insert("safetySettings".into(), s.clone());
    }
    if let Some(t) = g.get("thinking_config").and_then(Value::as_object) {
        let mut tc = Map::new();
        for (k, v) in t {
            let key = match k.as_str() {
                "thinking_budget" => "thinkingBudget",
                "include_thoughts" => "includeThoughts",
                "thinking_level" => "thinkingLevel",
                other => other,
            };
            tc.insert(key.to_string(), v.clone());
        }
        gc.insert("thinkingConfig".into(), Value::Object(tc));
    }
}
