//! The fixing policy: YAML `pools.<name>.fix`. Every key is optional; the defaults below make
//! a request acceptable to Hunyuan.
//!
//! ```yaml
//! fix:
//!   max_messages: 40
//!   leading_non_user: insert          # or: drop
//!   drop_params: [frequency_penalty, presence_penalty, parallel_tool_calls, reasoning_effort]
//!   allow_params: null                # e.g. [temperature, top_p, seed, max_tokens, ...]
//!   strip_tool_strict: true
//!   temperature: { min: 0, max: 2, out_of_range: clamp }
//!   top_p: { min: 0, max: 1, out_of_range: clamp }
//!   seed: { min: 1, max: 10000, out_of_range: drop }
//!   placeholders: { empty_user: "(empty message)", ... }
//! ```
use serde::Deserialize;

/// Parameters always kept by `allow_params`: without them there is no chat request.
pub(crate) const ALWAYS_ALLOWED: [&str; 6] = [
    "model",
    "messages",
    "stream",
    "stream_options",
    "tools",
    "tool_choice",
];

/// The per-profile parameter and message policy (config: `pools.<name>.fix`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FixPolicy {
    /// Most messages sent upstream (Hunyuan documents 40). Older turns are cut at a user
    /// boundary; the system message is always kept. Values below 4 act as 4 (system, user,
    /// assistant, user is the smallest trimmed conversation). Default: 40.
    pub max_messages: usize,
    /// What to do when the first message after system is not a user message:
    /// `insert` (default) puts a short user turn (`placeholders.inserted_user`) before it, so
    /// nothing is lost (e.g. a chat UI's assistant greeting); `drop` removes the leading
    /// assistant turns (and their tool results) up to the first user message.
    pub leading_non_user: LeadingNonUser,
    /// Top-level request keys removed before forwarding. Default: `frequency_penalty`,
    /// `presence_penalty`, `parallel_tool_calls`, `reasoning_effort`.
    pub drop_params: Vec<String>,
    /// If set, only these top-level keys survive (plus `model`, `messages`, `stream`,
    /// `stream_options`, `tools`, `tool_choice`). Hunyuan extras (`enable_enhancement`,
    /// `search_info`, ...) must then be listed to pass. Default: unset (everything not in
    /// `drop_params` passes).
    pub allow_params: Option<Vec<String>>,
    /// Remove `tools[].function.strict` (Hunyuan rejects it). Default: true.
    pub strip_tool_strict: bool,
    /// Range of `temperature`. Default: 0..2, clamped. `null` disables the check.
    pub temperature: Option<ParamRange>,
    /// Range of `top_p`. Default: 0..1, clamped. `null` disables the check.
    pub top_p: Option<ParamRange>,
    /// Range of `seed`; a non-integer seed is always dropped. Default: 1..10000, dropped when
    /// out of range (a clamped seed would silently alias another seed). `null` disables it.
    pub seed: Option<ParamRange>,
    /// Texts the fixer inserts. A blank text falls back to its default (Hunyuan rejects blank
    /// content).
    pub placeholders: Placeholders,
}

impl Default for FixPolicy {
    fn default() -> Self {
        FixPolicy {
            max_messages: 40,
            leading_non_user: LeadingNonUser::Insert,
            drop_params: [
                "frequency_penalty",
                "presence_penalty",
                "parallel_tool_calls",
                "reasoning_effort",
            ]
            .map(String::from)
            .to_vec(),
            allow_params: None,
            strip_tool_strict: true,
            temperature: Some(ParamRange {
                min: 0.0,
                max: 2.0,
                out_of_range: OutOfRange::Clamp,
            }),
            top_p: Some(ParamRange {
                min: 0.0,
                max: 1.0,
                out_of_range: OutOfRange::Clamp,
            }),
            seed: Some(ParamRange {
                min: 1.0,
                max: 10000.0,
                out_of_range: OutOfRange::Drop,
            }),
            placeholders: Placeholders::default(),
        }
    }
}

/// Rule 5 choice: see [`FixPolicy::leading_non_user`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeadingNonUser {
    /// Insert a user turn before the leading assistant turn (default).
    #[default]
    Insert,
    /// Drop leading assistant/tool turns up to the first user message.
    Drop,
}

/// An inclusive numeric range for a sampling parameter.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamRange {
    /// Smallest accepted value.
    pub min: f64,
    /// Largest accepted value.
    pub max: f64,
    /// `clamp` (default) moves an out-of-range value to the nearest bound; `drop` removes the
    /// parameter so the upstream default applies. A non-numeric value is always dropped.
    #[serde(default)]
    pub out_of_range: OutOfRange,
}

/// What to do with an out-of-range parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutOfRange {
    /// Move the value to the nearest bound.
    #[default]
    Clamp,
    /// Remove the parameter.
    Drop,
}

/// Texts the fixer writes into the conversation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Placeholders {
    /// Content of an empty user message. Default: `(empty message)`.
    pub empty_user: String,
    /// Content of an empty assistant message without tool calls. Default: `(no content)`.
    pub empty_assistant: String,
    /// Content of an empty assistant message with tool calls; `{tools}` is replaced by the
    /// called tools' names, comma-separated. Default: `(calling tools: {tools})`.
    pub tool_calls: String,
    /// Content of an empty tool result. Default: `(empty tool result)`.
    pub empty_tool_result: String,
    /// Result added for a tool call that was never answered (rule 8).
    /// Default: `(no result: the tool call was not answered)`.
    pub missing_tool_result: String,
    /// User turn inserted before a leading assistant turn (rule 5, `insert`).
    /// Default: `(conversation start)`.
    pub inserted_user: String,
    /// Assistant turn inserted between a tool result and a user message (rule 7).
    /// Default: `(tool results received)`.
    pub inserted_assistant: String,
    /// User turn appended when the conversation ends with the assistant (rule 9).
    /// Default: `continue`.
    pub continue_prompt: String,
    /// Replaces an image part that reaches a model without vision (rule 2).
    /// Default: `[image omitted: the model cannot see images]`.
    pub image_omitted: String,
}

const EMPTY_USER: &str = "(empty message)";
const EMPTY_ASSISTANT: &str = "(no content)";
const TOOL_CALLS: &str = "(calling tools: {tools})";
const EMPTY_TOOL_RESULT: &str = "(empty tool result)";
const MISSING_TOOL_RESULT: &str = "(no result: the tool call was not answered)";
const INSERTED_USER: &str = "(conversation start)";
const INSERTED_ASSISTANT: &str = "(tool results received)";
const CONTINUE_PROMPT: &str = "continue";
const IMAGE_OMITTED: &str = "[image omitted: the model cannot see images]";

impl Default for Placeholders {
    fn default() -> Self {
        Placeholders {
            empty_user: EMPTY_USER.into(),
            empty_assistant: EMPTY_ASSISTANT.into(),
            tool_calls: TOOL_CALLS.into(),
            empty_tool_result: EMPTY_TOOL_RESULT.into(),
            missing_tool_result: MISSING_TOOL_RESULT.into(),
            inserted_user: INSERTED_USER.into(),
            inserted_assistant: INSERTED_ASSISTANT.into(),
            continue_prompt: CONTINUE_PROMPT.into(),
            image_omitted: IMAGE_OMITTED.into(),
        }
    }
}

/// The placeholder texts of one request, blank ones replaced by their defaults.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Texts<'a> {
    pub empty_user: &'a str,
    pub empty_assistant: &'a str,
    pub tool_calls: &'a str,
    pub empty_tool_result: &'a str,
    pub missing_tool_result: &'a str,
    pub inserted_user: &'a str,
    pub inserted_assistant: &'a str,
    pub continue_prompt: &'a str,
    pub image_omitted: &'a str,
}

/// `configured` unless it is blank (a blank placeholder would itself be rejected).
fn or_default<'a>(configured: &'a str, default: &'static str) -> &'a str {
    if configured.trim().is_empty() {
        default
    } else {
        configured
    }
}

impl Placeholders {
    pub(crate) fn resolved(&self) -> Texts<'_> {
        Texts {
            empty_user: or_default(&self.empty_user, EMPTY_USER),
            empty_assistant: or_default(&self.empty_assistant, EMPTY_ASSISTANT),
            tool_calls: or_default(&self.tool_calls, TOOL_CALLS),
            empty_tool_result: or_default(&self.empty_tool_result, EMPTY_TOOL_RESULT),
            missing_tool_result: or_default(&self.missing_tool_result, MISSING_TOOL_RESULT),
            inserted_user: or_default(&self.inserted_user, INSERTED_USER),
            inserted_assistant: or_default(&self.inserted_assistant, INSERTED_ASSISTANT),
            continue_prompt: or_default(&self.continue_prompt, CONTINUE_PROMPT),
            image_omitted: or_default(&self.image_omitted, IMAGE_OMITTED),
        }
    }
}
