//! The Responses API's read-only helpers, answered locally: a stored response's input items
//! (`GET /v1/responses/{id}/input_items`) and an input-token estimate
//! (`POST /v1/responses/input_tokens`).

use crate::core::translate::TranslateError;
use crate::protocol::anthropic::count::{
    text_units, BASE, IMAGE, PER_MESSAGE, PER_TOOL, TOOLS_PREAMBLE,
};
use serde_json::{json, Map, Value};

/// Items per page unless `limit` says otherwise (OpenAI's default), and the most.
const DEFAULT_LIMIT: usize = 20;
const MAX_LIMIT: usize = 100;

/// One page of a stored response's input items, as OpenAI lists them: newest first unless
/// `order=asc`, `limit` items (1-100, default 20) after the item `after`. Items get the shape
/// the SDK reads (message content as a list of parts) and an id; the stored items keep theirs.
pub fn input_items<'a>(
    response_id: &str,
    input: impl IntoIterator<Item = &'a Value>,
    query: Option<&str>,
) -> Result<Value, TranslateError> {
    let (mut limit, mut asc, mut after) = (DEFAULT_LIMIT, false, None);
    for (k, v) in query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .filter_map(|p| p.split_once('='))
    {
        match k {
            "limit" => {
                limit = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| {
                        TranslateError::new("limit must be between 1 and 100", "limit")
                    })?
            }
            "order" if v == "asc" || v == "desc" => asc = v == "asc",
            "order" => {
                return Err(TranslateError::new(
                    "order must be `asc` or `desc`",
                    "order",
                ))
            }
            "after" => after = Some(v.to_string()),
            _ => {}
        }
    }
    let suffix = response_id.strip_prefix("resp_").unwrap_or(response_id);
    // Items by reference with their index: only the page is copied (a conversation may be
    // megabytes; a page is at most 100 items).
    let mut items: Vec<(usize, &Value)> = input.into_iter().enumerate().collect();
    if !asc {
        items.reverse();
    }
    let start = match &after {
        Some(a) => {
            let at = items
                .iter()
                .position(|(i, it)| item_id(it, suffix, *i) == a.as_str());
            at.map(|i| i + 1)
                .ok_or_else(|| TranslateError::new(format!("no input item `{a}`"), "after"))?
        }
        None => 0,
    };
    let page: Vec<Value> = items
        .iter()
        .skip(start)
        .take(limit)
        .map(|(i, it)| listed(it, suffix, *i))
        .collect();
    let has_more = start + page.len() < items.len();
    let first = page.first().map(|it| it["id"].clone());
    let last = page.last().map(|it| it["id"].clone());
    Ok(
        json!({"object": "list", "data": page, "first_id": first, "last_id": last,
              "has_more": has_more}),
    )
}

/// A stored item's id as listed: its own, else `msg_…` for messages and `item_…` otherwise.
fn item_id(item: &Value, suffix: &str, i: usize) -> String {
    if let Some(id) = item.get("id").and_then(Value::as_str) {
        return id.to_string();
    }
    let message = item.get("type").and_then(Value::as_str) == Some("message");
    let prefix = if message { "msg" } else { "item" };
    format!("{prefix}_{suffix}_{i}")
}

/// A stored item as listed: an id ([`item_id`]) and a message's string content as one text
/// part.
fn listed(item: &Value, suffix: &str, i: usize) -> Value {
    let mut o: Map<String, Value> = item.as_object().cloned().unwrap_or_default();
    let message = o.get("type").and_then(Value::as_str) == Some("message");
    if !o.get("id").is_some_and(Value::is_string) {
        o.insert("id".into(), Value::String(item_id(item, suffix, i)));
    }
    if message {
        if let Some(Value::String(text)) = o.get("content") {
            let part = if o.get("role").and_then(Value::as_str) == Some("assistant") {
                "output_text"
            } else {
                "input_text"
            };
            let content = json!([{"type": part, "text": text}]);
            o.insert("content".into(), content);
        }
        o.entry("status")
            .or_insert_with(|| Value::String("completed".into()));
    }
    Value::Object(o)
}

/// `POST /v1/responses/input_tokens`: the estimate of `protocol::anthropic::count`'s method
/// (quarter-token units of text, framing per item and tool, images flat) over `instructions`,
/// the stored conversation `history` (a `previous_response_id`), `input` and `tools`.
pub fn input_tokens<'a>(
    req: &Value,
    history: impl IntoIterator<Item = &'a Value>,
) -> Result<u64, TranslateError> {
    let obj = req
        .as_object()
        .ok_or_else(|| TranslateError::new("request body must be a JSON object", "body"))?;
    let mut units = 0u64;
    let mut tokens = BASE;
    if let Some(Value::String(s)) = obj.get("instructions") {
        tokens += PER_MESSAGE;
        units += text_units(s);
    }
    let input: Vec<&Value> = match obj.get("input") {
        None | Some(Value::Null) => Vec::new(),
        Some(s @ Value::String(_)) => vec![s],
        Some(Value::Array(items)) => items.iter().collect(),
        Some(_) => {
            return Err(TranslateError::new(
                "`input` must be a string or an array of items",
                "input",
            ))
        }
    };
    for item in history {
        tokens += PER_MESSAGE;
        units += leaf_units(item, &mut tokens);
    }
    for item in input {
        tokens += PER_MESSAGE;
        units += leaf_units(item, &mut tokens);
    }
    if let Some(Value::Array(tools)) = obj.get("tools") {
        if !tools.is_empty() {
            tokens += TOOLS_PREAMBLE;
        }
        for t in tools {
            tokens += PER_TOOL;
            units += text_units(&t.to_string());
        }
    }
    Ok(tokens + units.div_ceil(4))
}

/// Text units of every string in `v` except ids, types and roles (framing, not content);
/// a data URL or an image part counts as one image.
fn leaf_units(v: &Value, tokens: &mut u64) -> u64 {
    match v {
        Value::String(s) if s.starts_with("data:") => {
            *tokens += IMAGE;
            0
        }
        Value::String(s) => text_units(s),
        Value::Array(a) => a.iter().map(|x| leaf_units(x, tokens)).sum(),
        Value::Object(o) => {
            if o.get("type").and_then(Value::as_str) == Some("input_image") {
                *tokens += IMAGE;
                return 0;
            }
            o.iter()
                .filter(|(k, _)| {
                    !matches!(k.as_str(), "id" | "type" | "role" | "status" | "call_id")
                })
                .map(|(_, x)| leaf_units(x, tokens))
                .sum()
        }
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conversation() -> Vec<Value> {
        vec![
            json!({"type": "message", "role": "user", "content": "one"}),
            json!({"type": "message", "role": "assistant", "content": "two"}),
            json!({"type": "function_call_output", "call_id": "c1", "output": "three"}),
        ]
    }

    #[test]
    fn pages_newest_first_by_default() {
        let v = input_items("resp_x", &conversation(), None).unwrap();
        let ids: Vec<&str> = v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["item_x_2", "msg_x_1", "msg_x_0"]);
        assert_eq!(v["has_more"], false);
        assert_eq!(
            v["data"][1]["content"][0],
            json!({"type": "output_text", "text": "two"})
        );
        assert_eq!(v["data"][2]["content"][0]["type"], "input_text");
        let asc = input_items("resp_x", &conversation(), Some("order=asc&limit=2")).unwrap();
        assert_eq!(asc["first_id"], "msg_x_0");
        assert_eq!(asc["last_id"], "msg_x_1");
        assert_eq!(asc["has_more"], true);
        let rest = input_items(
            "resp_x",
            &conversation(),
            Some("order=asc&limit=2&after=msg_x_1"),
        )
        .unwrap();
        assert_eq!(rest["data"].as_array().unwrap().len(), 1);
        assert_eq!(rest["has_more"], false);
    }

    #[test]
    fn bad_parameters_are_named() {
        for (q, param) in [
            ("limit=0", "limit"),
            ("limit=x", "limit"),
            ("order=up", "order"),
            ("after=nope", "after"),
        ] {
            let e = input_items("resp_x", &conversation(), Some(q)).unwrap_err();
            assert_eq!(e.param.as_deref(), Some(param), "{q}");
        }
    }

    #[test]
    fn estimate_grows_with_text_history_and_tools() {
        let base = input_tokens(&json!({"input": "hi"}), &[]).unwrap();
        let longer = input_tokens(&json!({"input": "hi ".repeat(100)}), &[]).unwrap();
        assert!(longer > base + 50, "{base} {longer}");
        let with_history = input_tokens(&json!({"input": "hi"}), &conversation()).unwrap();
        assert!(with_history > base);
        let tools = json!({"input": "hi", "tools": [{"type": "function", "name": "run", "parameters": {}}]});
        assert!(input_tokens(&tools, &[]).unwrap() > base + TOOLS_PREAMBLE);
        let image = json!({"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "data:image/png;base64,AAAA"}]}]});
        assert!(input_tokens(&image, &[]).unwrap() >= IMAGE);
        assert!(input_tokens(&json!({"input": 5}), &[]).is_err());
        assert!(input_tokens(&json!([]), &[]).is_err());
    }
}
