//! Gemini's request rules, checked strictly (a request this accepts should be one Google
//! accepts). Written from the API reference and Google's observed error messages, not from the
//! gateway's renderer, so that the gateway's tests judge what it renders against the rules.
//!
//! * Unknown fields are rejected at the top level, in `generationConfig`, `thinkingConfig` and
//!   in parts, as Google's proto parser does ("Unknown name ...: Cannot find field."). Both
//!   lowerCamelCase and the proto's snake_case names are accepted, as there.
//! * `contents` must be non-empty; each role `user` or `model` (a missing role is accepted,
//!   as Google does for single-turn requests); `parts` non-empty, each with exactly one data
//!   field.
//! * `functionCall` parts only in `model` turns. A turn of `functionResponse` parts must come
//!   right after a `model` turn of `functionCall` parts, one response per call, each named
//!   after one of the calls.
//! * A function declaration has a name and at most one of `parameters` and
//!   `parametersJsonSchema`; `thinkingConfig` has at most one of `thinkingBudget` and
//!   `thinkingLevel`.
//! * Gemini 3 models (`gemini-3...`): the first `functionCall` of each model turn carries a
//!   `thoughtSignature` (Google answers 400 without one).

use serde_json::{Map, Value};

const TOP: [&str; 8] = [
    "contents",
    "systemInstruction",
    "tools",
    "toolConfig",
    "safetySettings",
    "generationConfig",
    "cachedContent",
    "labels",
];

const GENERATION: [&str; 20] = [
    "stopSequences",
    "responseMimeType",
    "responseSchema",
    "responseJsonSchema",
    "responseModalities",
    "candidateCount",
    "maxOutputTokens",
    "temperature",
    "topP",
    "topK",
    "seed",
    "presencePenalty",
    "frequencyPenalty",
    "responseLogprobs",
    "logprobs",
    "enableEnhancedCivicAnswers",
    "speechConfig",
    "thinkingConfig",
    "mediaResolution",
    "imageConfig",
];

const THINKING: [&str; 3] = ["thinkingBudget", "includeThoughts", "thinkingLevel"];

/// The data fields of a `Part` (exactly one per part).
const DATA: [&str; 7] = [
    "text",
    "inlineData",
    "fileData",
    "functionCall",
    "functionResponse",
    "executableCode",
    "codeExecutionResult",
];

const PART_META: [&str; 4] = [
    "thought",
    "thoughtSignature",
    "videoMetadata",
    "partMetadata",
];

/// `snake_case` → `lowerCamelCase` (proto JSON accepts both).
fn camel(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut upper = false;
    for c in key.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// Every key of `obj` is in `known`; `at` names the object in the message.
fn known_fields(obj: &Map<String, Value>, known: &[&str], at: &str) -> Result<(), String> {
    match obj.keys().find(|k| !known.contains(&camel(k).as_str())) {
        Some(k) => Err(format!(
            "Invalid JSON payload received. Unknown name \"{k}\" at '{at}': Cannot find field."
        )),
        None => Ok(()),
    }
}

/// A member by its camelCase or snake_case name.
fn field<'a>(obj: &'a Map<String, Value>, camel_name: &str) -> Option<&'a Value> {
    obj.iter()
        .find(|(k, _)| camel(k) == camel_name)
        .map(|(_, v)| v)
}

/// Checks a `GenerateContentRequest` for `model`; `Err` is Google's message.
pub fn check(req: &Value, model: &str) -> Result<(), String> {
    let obj = req
        .as_object()
        .ok_or("Invalid JSON payload received. Expected an object.")?;
    known_fields(obj, &TOP, "request")?;
    if let Some(gc) = field(obj, "generationConfig") {
        generation_config(gc)?;
    }
    if let Some(tools) = field(obj, "tools") {
        declarations(tools)?;
    }
    let contents = match field(obj, "contents") {
        Some(Value::Array(c)) if !c.is_empty() => c,
        _ => return Err("* GenerateContentRequest.contents: contents is not specified".into()),
    };
    let gemini3 = model.starts_with("gemini-3");
    let mut previous: Option<(&str, Vec<&str>)> = None;
    for (i, content) in contents.iter().enumerate() {
        let (role, calls) = turn(content, i, previous.as_ref(), gemini3)?;
        previous = Some((role, calls));
    }
    Ok(())
}

fn generation_config(gc: &Value) -> Result<(), String> {
    let gc = gc
        .as_object()
        .ok_or("generation_config must be an object")?;
    known_fields(gc, &GENERATION, "generation_config")?;
    let Some(tc) = field(gc, "thinkingConfig") else {
        return Ok(());
    };
    let tc = tc.as_object().ok_or("thinking_config must be an object")?;
    known_fields(tc, &THINKING, "generation_config.thinking_config")?;
    if field(tc, "thinkingBudget").is_some() && field(tc, "thinkingLevel").is_some() {
        return Err(
            "You cannot use both thinking_level and the legacy thinking_budget parameter.".into(),
        );
    }
    Ok(())
}

fn declarations(tools: &Value) -> Result<(), String> {
    let tools = tools.as_array().ok_or("tools must be an array")?;
    let decls = tools
        .iter()
        .filter_map(|t| field(t.as_object()?, "functionDeclarations"))
        .filter_map(Value::as_array)
        .flatten();
    for (i, d) in decls.enumerate() {
        let d = d
            .as_object()
            .ok_or("a function declaration must be an object")?;
        let named = field(d, "name")
            .and_then(Value::as_str)
            .is_some_and(|n| !n.is_empty());
        if !named {
            return Err(format!(
                "* GenerateContentRequest.tools[0].function_declarations[{i}].name: \
                 [FIELD_INVALID] Invalid function name."
            ));
        }
        if field(d, "parameters").is_some() && field(d, "parametersJsonSchema").is_some() {
            return Err(format!(
                "function_declarations[{i}]: parameters and parameters_json_schema \
                 cannot both be set"
            ));
        }
    }
    Ok(())
}

/// One content: its role and the names of the functions it calls.
fn turn<'a>(
    content: &'a Value,
    i: usize,
    previous: Option<&(&str, Vec<&str>)>,
    gemini3: bool,
) -> Result<(&'a str, Vec<&'a str>), String> {
    let obj = content
        .as_object()
        .ok_or(format!("contents[{i}] must be an object"))?;
    let role = match field(obj, "role") {
        None => "user",
        Some(Value::String(r)) if r == "user" || r == "model" => r.as_str(),
        Some(_) => return Err("Please use a valid role: user, model.".into()),
    };
    let parts = match field(obj, "parts") {
        Some(Value::Array(p)) if !p.is_empty() => p,
        _ => {
            return Err(format!(
                "* GenerateContentRequest.contents[{i}].parts: contents.parts must not be empty."
            ))
        }
    };
    let (mut calls, mut responses) = (Vec::new(), Vec::new());
    for (j, p) in parts.iter().enumerate() {
        let p = p.as_object().ok_or("a part must be an object")?;
        let data = data_field(p, &format!("contents[{i}].parts[{j}]"))?;
        let name = || {
            field(p, data)
                .and_then(|d| d.get("name"))
                .and_then(Value::as_str)
                .unwrap_or("")
        };
        match data {
            "functionCall" if role != "model" => {
                return Err(format!(
                    "contents[{i}]: a function call must come from the model"
                ))
            }
            "functionCall" => {
                if gemini3 && calls.is_empty() && field(p, "thoughtSignature").is_none() {
                    return Err(format!(
                        "Function call is missing a thought_signature in functionCall parts. \
                         This is required for tools to work correctly. Additional data, \
                         function call `default_api:{}` , position {}.",
                        name(),
                        j + 1
                    ));
                }
                calls.push(name());
            }
            "functionResponse" => responses.push(name()),
            _ => {}
        }
    }
    if !responses.is_empty() {
        function_responses(role, &responses, previous)?;
    }
    Ok((role, calls))
}

/// The one data field of a part (unknown fields rejected).
fn data_field(p: &Map<String, Value>, at: &str) -> Result<&'static str, String> {
    let mut known: Vec<&str> = DATA.to_vec();
    known.extend(PART_META);
    known_fields(p, &known, at)?;
    let present: Vec<&'static str> = DATA
        .iter()
        .copied()
        .filter(|d| field(p, d).is_some())
        .collect();
    match present.as_slice() {
        [one] => Ok(one),
        [] => Err(format!(
            "{at}: required oneof field 'data' must have one initialized field"
        )),
        _ => Err(format!("{at}: oneof field 'data' is already set")),
    }
}

const RESPONSE_ORDER: &str = "Please ensure that function response turn comes immediately after \
     a function call turn. And the number of function response parts should be equal to number \
     of function call parts of the function call turn.";

fn function_responses(
    role: &str,
    responses: &[&str],
    previous: Option<&(&str, Vec<&str>)>,
) -> Result<(), String> {
    let calls = match previous {
        Some(("model", calls)) if role == "user" && !calls.is_empty() => calls,
        _ => return Err(RESPONSE_ORDER.into()),
    };
    if calls.len() != responses.len() {
        return Err(RESPONSE_ORDER.into());
    }
    match responses.iter().find(|r| !calls.contains(r)) {
        Some(r) => Err(format!(
            "function response `{r}` answers no function call of the previous turn"
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user(text: &str) -> Value {
        json!({"role": "user", "parts": [{"text": text}]})
    }

    fn call(name: &str) -> Value {
        json!({"functionCall": {"name": name, "args": {}}})
    }

    fn answer(name: &str) -> Value {
        json!({"functionResponse": {"name": name, "response": {"result": "ok"}}})
    }

    fn req(contents: Value) -> Value {
        json!({"contents": contents})
    }

    #[test]
    fn accepts_a_tool_round_trip() {
        let r = json!({
            "contents": [user("hi"),
                {"role": "model", "parts": [{"text": "sure"}, call("a"), call("b")]},
                {"role": "user", "parts": [answer("b"), answer("a"), {"text": "and?"}]},
                {"role": "model", "parts": [{"text": "done"}]}],
            "system_instruction": {"parts": [{"text": "s"}]},
            "generationConfig": {"max_output_tokens": 5, "thinkingConfig": {"thinkingBudget": 0}},
            "tools": [{"functionDeclarations": [{"name": "a", "parametersJsonSchema": {}}]}],
            "cachedContent": "cachedContents/x",
        });
        assert_eq!(check(&r, "gemini-2.5-flash"), Ok(()));
        let single = json!({"contents": [{"parts": [{"text": "no role"}]}]});
        assert_eq!(check(&single, "m"), Ok(()));
    }

    #[test]
    fn rejects_what_google_rejects() {
        let bad = |r: Value| check(&r, "gemini-2.5-flash").unwrap_err();
        assert!(bad(json!({})).contains("contents is not specified"));
        assert!(bad(req(json!([]))).contains("contents is not specified"));
        assert!(bad(req(
            json!([{"role": "assistant", "parts": [{"text": "x"}]}])
        ))
        .contains("valid role"));
        assert!(
            bad(req(json!([{"role": "system", "parts": [{"text": "x"}]}]))).contains("valid role")
        );
        assert!(bad(req(json!([{"role": "user", "parts": []}]))).contains("must not be empty"));
        assert!(bad(req(json!([{"role": "user"}]))).contains("must not be empty"));
        assert!(bad(req(json!([{"role": "user", "parts": [{}]}]))).contains("oneof"));
        assert!(bad(req(
            json!([{"role": "user", "parts": [{"text": "a", "inlineData": {}}]}])
        ))
        .contains("oneof"));
        assert!(bad(req(json!([{"role": "user", "parts": [{"txt": "a"}]}])))
            .contains("Unknown name \"txt\""));
        let mut r = req(json!([user("x")]));
        r["generationConfig"] = json!({"max_tokens": 5});
        assert!(bad(r.clone()).contains("Unknown name \"max_tokens\""));
        r["generationConfig"] =
            json!({"thinkingConfig": {"thinkingBudget": 1, "thinkingLevel": "low"}});
        assert!(bad(r.clone()).contains("cannot use both"));
        r["generationConfig"] = json!({"thinkingConfig": {"effort": 1}});
        assert!(bad(r.clone()).contains("Unknown name \"effort\""));
        r["generationConfig"] = Value::Null;
        r["messages"] = json!([]);
        assert!(bad(r).contains("Unknown name \"messages\""));
        let mut r = req(json!([user("x")]));
        r["tools"] = json!([{"functionDeclarations": [{"name": "f", "parameters": {},
            "parametersJsonSchema": {}}]}]);
        assert!(bad(r.clone()).contains("cannot both"));
        r["tools"] = json!([{"functionDeclarations": [{"description": "nameless"}]}]);
        assert!(bad(r).contains("function name"));
    }

    #[test]
    fn function_responses_follow_their_calls() {
        let bad = |c: Value| check(&req(c), "gemini-2.5-flash").unwrap_err();
        let model_calls = json!({"role": "model", "parts": [call("a")]});
        assert!(
            bad(json!([user("x"), {"role": "user", "parts": [answer("a")]}]))
                .contains("immediately after")
        );
        assert!(
            bad(json!([user("x"), model_calls, {"role": "user", "parts": [answer("b")]}]))
                .contains("answers no function call")
        );
        assert!(bad(json!([user("x"), model_calls,
            {"role": "user", "parts": [answer("a"), answer("a")]}]))
        .contains("number of function response parts"));
        assert!(bad(json!([{"role": "user", "parts": [call("a")]}])).contains("from the model"));
        assert!(
            bad(json!([user("x"), {"role": "model", "parts": [answer("a")]}]))
                .contains("immediately after")
        );
    }

    #[test]
    fn gemini_3_wants_thought_signatures() {
        let c = json!([user("x"), {"role": "model", "parts": [call("a")]},
            {"role": "user", "parts": [answer("a")]}]);
        assert_eq!(check(&req(c.clone()), "gemini-2.5-flash"), Ok(()));
        assert!(check(&req(c), "gemini-3-pro-preview")
            .unwrap_err()
            .contains("thought_signature"));
        let signed = json!([user("x"), {"role": "model", "parts": [
            {"functionCall": {"name": "a", "args": {}}, "thoughtSignature": "skip_thought_signature_validator"},
            call("b")]},
            {"role": "user", "parts": [answer("a"), answer("b")]}]);
        assert_eq!(check(&req(signed), "gemini-3-pro-preview"), Ok(()));
    }
}
