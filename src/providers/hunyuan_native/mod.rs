//! STUB (replaced by the helper's module on merge).
pub mod sign {
    pub struct Credentials {
        pub secret_id: String,
        pub secret_key: String,
    }
    impl std::fmt::Debug for Credentials {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("Credentials")
        }
    }
    pub fn sign(
        _c: &Credentials,
        _host: &str,
        _payload: &[u8],
        _timestamp: u64,
        _region: Option<&str>,
    ) -> Vec<(&'static str, String)> {
        Vec::new()
    }
}
use crate::core::translate::{ResponseTranslator, TranslateError};
pub fn render(
    _chat: &crate::chat::model::ChatRequest,
) -> Result<serde_json::Value, TranslateError> {
    Err(TranslateError {
        message: String::new(),
        param: None,
    })
}
pub fn decoder(stream: bool, model: &str) -> Box<dyn ResponseTranslator> {
    crate::providers::gemini::decoder(stream, model)
}
pub fn error_in_body(_body: &[u8]) -> Option<(u16, Vec<u8>)> {
    None
}
pub fn error_to_chat(status: u16, _body: &[u8]) -> (u16, Vec<u8>) {
    (status, Vec::new())
}
pub fn request_id(_body: &[u8]) -> Option<String> {
    None
}
