//! The types and small mappings the request and response sides share.

use serde_json::Value;

/// A Messages request expressed as a chat request, plus what the response side needs.
#[derive(Clone, Debug)]
pub struct Translated {
    /// The chat request body. `model` is the client's model (the gateway routes on it);
    /// when streaming it carries `stream: true` and `stream_options.include_usage: true`.
    pub chat: Value,
    /// Whether the client asked for an SSE answer.
    pub stream: bool,
    /// What the response translator must know about the request.
    pub meta: MessageMeta,
}

/// Facts about the request that the response needs (Chat Completions answers don't carry them).
#[derive(Clone, Debug, Default)]
pub struct MessageMeta {
    /// `msg_…`, chosen by the gateway (Anthropic ids are not derived from the upstream's).
    pub id: String,
    /// The model as the client named it: clients compare it with what they asked for.
    pub model: String,
    /// The client enabled extended thinking: upstream `reasoning_content` becomes `thinking`
    /// blocks. Otherwise reasoning is dropped, as Claude would not have shown any.
    pub thinking: bool,
    /// [`estimate_request`] of the request: `message_start` must state input tokens before the
    /// upstream's usage (which comes last) is known, and answers without usage fall back to it.
    pub input_tokens_estimate: u64,
    /// Names (or types, when unnamed) of Anthropic server tools (`web_search_20250305`,
    /// `bash_20250124`, …) that a chat upstream cannot run; the gateway reports them in a header.
    pub dropped_tools: Vec<String>,
    /// The client's `stop_sequences`, to recognise which one stopped the answer when the
    /// upstream says so (vLLM's `stop_reason`, SGLang's `matched_stop`).
    pub stop_sequences: Vec<String>,
}

/// Anthropic's `stop_reason` for a chat `finish_reason`.
///
/// `has_tool_use`: some upstreams finish a tool-calling answer with `stop`; Claude Code only
/// runs tools when the turn says `tool_use`, so tool calls win over `stop`.
/// `stop_sequence` is never produced here: chat's `stop` doesn't say whether a stop sequence
/// matched (see [`response`] for the upstreams that do).
pub(super) fn stop_reason(finish: &str, has_tool_use: bool) -> &'static str {
    match crate::core::finish::normalize(finish) {
        "length" => "max_tokens",
        "tool_calls" | "function_call" => "tool_use",
        "content_filter" => "refusal",
        _ if has_tool_use => "tool_use",
        _ => "end_turn",
    }
}

/// Anthropic's usage object from a chat usage (or the estimate when the upstream sent none).
///
/// Chat `prompt_tokens` includes cache reads and writes; Anthropic's `input_tokens` excludes
/// both (total input = input + cache_read + cache_creation), so they are moved over:
/// `prompt_tokens_details.cached_tokens` → `cache_read_input_tokens`, the gateway's
/// `prompt_tokens_details.cache_creation_tokens` → `cache_creation_input_tokens`.
pub(super) fn usage_json(
    usage: Option<crate::core::usage::Usage>,
    meta: &MessageMeta,
    output: u64,
) -> Value {
    let (input, cached, written, output) = match usage {
        Some(u) => (u.uncached(), u.cached, u.cache_write, u.completion),
        None => (meta.input_tokens_estimate, 0, 0, output),
    };
    serde_json::json!({
        "input_tokens": input,
        "output_tokens": output,
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": cached,
    })
}

/// A `toolu_…` id for a tool call the upstream sent without one (unique within the answer).
pub(super) fn tool_id(message_id: &str, n: usize) -> String {
    let tail = message_id.strip_prefix("msg_").unwrap_or(message_id);
    format!("toolu_{tail}_{n}")
}
