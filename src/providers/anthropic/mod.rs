//! Anthropic Messages as an upstream: chat → Messages request, Messages answer → chat.
//! (Placeholder until the conversion lands.)
use crate::protocol::{ResponseTranslator, TranslateError};
use serde_json::Value;

pub fn render(_chat: &Value) -> Result<Value, TranslateError> {
    Err(TranslateError {
        message: "not yet".into(),
        param: None,
    })
}
pub fn decoder(_stream: bool, _model: &str) -> Box<dyn ResponseTranslator> {
    unimplemented!()
}
pub fn error_to_chat(status: u16, body: &[u8]) -> (u16, Vec<u8>) {
    (status, body.to_vec())
}
