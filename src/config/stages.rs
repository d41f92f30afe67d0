//! `stages:` and `pipeline:`, as users write them (issue 21). The validated form, with compiled
//! patterns, loaded plugins and built clients, is `crate::stage::Pipeline`.

use crate::chat::guard::pii;
use serde::Deserialize;
use std::collections::BTreeMap;

/// One named stage (`stages.<name>`), by its `type`.
#[derive(Debug, Deserialize, Clone)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StageSection {
    /// Personal data and secrets, found by shape and checksum: replaced by
    /// `[REDACTED:<kind>]` (`action: redact`) or the request refused (`action: refuse`).
    #[serde(alias = "pii")]
    Redact(RedactSection),
    /// Words and regular expressions (the `regex` crate: linear time) that refuse a request.
    Deny(DenySection),
    /// A system prompt required, or enforced (prepended, or replacing the client's).
    SystemPrompt(SystemPromptSection),
    /// Limits on the input's size: its text and its messages.
    InputLimit(InputLimitSection),
    /// The company's own policy service: the request is POSTed to it, it answers allow,
    /// modify or deny.
    Webhook(WebhookSection),
    /// A sandboxed WebAssembly plugin (see the README, "Write your own stage").
    Wasm(WasmSection),
}

/// Where a stage applies.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Request,
    Response,
}

fn request_only() -> Vec<Phase> {
    vec![Phase::Request]
}

/// What a redaction stage does with a find.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum PiiAction {
    #[default]
    Redact,
    Refuse,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RedactSection {
    /// Which kinds (default: all of them).
    #[serde(default = "all_kinds")]
    pub patterns: Vec<pii::Kind>,
    #[serde(default)]
    pub action: PiiAction,
    /// `[request]` (default), `[response]` or both. On a streamed answer the text is held
    /// back by at most `window_bytes` so that a find split across events is still found.
    #[serde(default = "request_only")]
    pub on: Vec<Phase>,
    /// The longest find a streamed answer is redacted across events for (default 128).
    #[serde(default = "default_window")]
    pub window_bytes: usize,
    /// The refusal's status (`action: refuse`; default 400).
    #[serde(default)]
    pub status: Option<u16>,
}

fn all_kinds() -> Vec<pii::Kind> {
    pii::Kind::ALL.to_vec()
}

fn default_window() -> usize {
    128
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct DenySection {
    /// Words or phrases, matched whole (at word boundaries), case-insensitively unless
    /// `case_sensitive`.
    #[serde(default)]
    pub words: Vec<String>,
    /// Regular expressions (Rust `regex` syntax).
    #[serde(default)]
    pub regex: Vec<String>,
    #[serde(default)]
    pub case_sensitive: bool,
    /// The refusal's message (default: names the stage, never the matched text).
    #[serde(default)]
    pub message: Option<String>,
    /// The refusal's status (default 400).
    #[serde(default)]
    pub status: Option<u16>,
}

/// How a system prompt is enforced.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SystemPromptMode {
    /// The request must have a system (or developer) message; refused otherwise.
    Require,
    /// `text` goes first, before the client's own system prompt (which stays).
    Prepend,
    /// `text` is the only system prompt: the client's system and developer messages go.
    Replace,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct SystemPromptSection {
    pub mode: SystemPromptMode,
    /// The enforced prompt (`prepend`, `replace`).
    #[serde(default)]
    pub text: Option<String>,
    /// The refusal's message (`require`).
    #[serde(default)]
    pub message: Option<String>,
}

#[derive(Debug, Deserialize, Clone, Default)]
#[serde(deny_unknown_fields)]
pub struct InputLimitSection {
    /// The most characters of text over all messages (content, tool call arguments).
    #[serde(default)]
    pub max_chars: Option<usize>,
    /// The most messages.
    #[serde(default)]
    pub max_messages: Option<usize>,
    /// The most characters of one message's text.
    #[serde(default)]
    pub max_message_chars: Option<usize>,
}

/// What a webhook or plugin stage does when it cannot decide (down, slow, garbage, trap).
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// Fail open: the request goes on unchanged (counted as `error`).
    Allow,
    /// Fail closed: the request is refused with a 503.
    #[default]
    Deny,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct WebhookSection {
    /// `http://host:port/path` (or https).
    pub url: String,
    /// The whole exchange's limit (default 200 ms).
    #[serde(default = "default_webhook_timeout")]
    pub timeout_ms: u64,
    #[serde(default)]
    pub on_error: OnError,
    /// Headers sent with each call (the service's own credential); values that start with
    /// `env:` are read from that environment variable at load.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

fn default_webhook_timeout() -> u64 {
    200
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct WasmSection {
    /// The `.wasm` file (relative paths: from the working directory).
    pub module: String,
    /// Linear memory the plugin may grow to (default 16 MiB).
    #[serde(default = "default_wasm_memory")]
    pub max_memory_mb: u32,
    /// How long a request waits for the plugin (default 50 ms).
    #[serde(default = "default_wasm_timeout")]
    pub timeout_ms: u64,
    /// Instructions (wasmi fuel units) one call may run (default 100 million): a plugin that
    /// loops forever stops there.
    #[serde(default = "default_wasm_fuel")]
    pub fuel: u64,
    #[serde(default)]
    pub on_error: OnError,
}

fn default_wasm_memory() -> u32 {
    16
}

fn default_wasm_timeout() -> u64 {
    50
}

fn default_wasm_fuel() -> u64 {
    100_000_000
}
