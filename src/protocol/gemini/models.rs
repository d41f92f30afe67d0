//! `GET /v1beta/models` and `GET /v1beta/models/{model}` in Gemini's shape, from the
//! OpenAI-shaped list the gateway renders from its routes. The gateway knows no token limits
//! or versions of the models behind it, so those members are left out rather than made up.

use serde_json::{json, Value};

/// What every model served here supports: generation (the chat routes) and the estimate.
const METHODS: [&str; 3] = ["generateContent", "streamGenerateContent", "countTokens"];

/// One model object.
pub fn model(id: &str) -> Value {
    json!({
        "name": format!("models/{id}"),
        "baseModelId": id,
        "displayName": id,
        "description": format!("{id}, served by llm-relay"),
        "supportedGenerationMethods": METHODS,
    })
}

/// The list: the models of `openai` (`{"data": [{"id"}]}`) for which `serves` holds (the
/// chat routes), one page.
pub fn list(openai: &[u8], serves: impl Fn(&str) -> bool) -> Value {
    let v: Value = serde_json::from_slice(openai).unwrap_or(Value::Null);
    let models: Vec<Value> = v["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["id"].as_str())
        .filter(|id| serves(id))
        .map(model)
        .collect();
    json!({ "models": models })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_keeps_served_models() {
        let openai = br#"{"object":"list","data":[{"id":"hy"},{"id":"emb"}]}"#;
        let v = list(openai, |id| id == "hy");
        assert_eq!(v["models"].as_array().unwrap().len(), 1);
        assert_eq!(v["models"][0]["name"], "models/hy");
        assert_eq!(
            v["models"][0]["supportedGenerationMethods"],
            json!(["generateContent", "streamGenerateContent", "countTokens"])
        );
        assert_eq!(list(b"junk", |_| true), json!({"models": []}));
    }
}
