//! Anthropic Messages as an upstream: chat → Messages request, Messages answer → chat.
//!
//! Three pure functions (no I/O, never a panic): [`render`] turns the gateway's chat body into
//! a `POST /v1/messages` body, [`decoder`] gives the [`ResponseTranslator`] for a 2xx answer
//! (JSON, or SSE when streaming) and [`error_to_chat`] maps an error answer onto OpenAI's
//! shape. Everything runs in time linear in the size of its input.
//!
//! # Request (`render`)
//! * `system` / `developer` messages, wherever they are, become the top-level `system` (text
//!   blocks, in order): Messages has no system role inside `messages`.
//! * Turns alternate and start with `user` (Anthropic refuses anything else): consecutive
//!   messages of one side are merged into one turn; `tool` messages are `tool_result` blocks of
//!   the user turn after the calls, first in that turn (Anthropic wants results before text).
//!   A conversation that starts with the assistant (or has no turn) gets a leading user turn
//!   [`PLACEHOLDER`]. Empty and whitespace-only text is left out (Anthropic refuses it).
//! * A `tool` message whose `tool_call_id` is not a call of the assistant turn just before is
//!   sent as user text naming the id (Anthropic refuses such a result); a call left without a
//!   result when the next assistant turn (or the end) comes gets a `tool_result` with
//!   `is_error: true` saying so. Tool ids are made to fit Anthropic's `^[a-zA-Z0-9_-]+$`
//!   (other characters become `_`), the same way in calls and results.
//! * `cache_control` on a content part (system, user, assistant text, tool output) or on a
//!   message with string content is kept on the block; on a tool it is kept on the tool.
//! * `reasoning_content` of an assistant message is dropped unless it comes with
//!   `reasoning_signature` (what [`decoder`] writes): then it is a signed `thinking` block
//!   first in that turn, so an Anthropic tool loop with thinking can be replayed.
//! * `max_completion_tokens` (else `max_tokens`) → `max_tokens`; absent: [`DEFAULT_MAX_TOKENS`]
//!   plus the thinking budget, if any (Anthropic requires the field; it counts thinking too).
//! * `reasoning_effort` low / medium / high / xhigh → `thinking` with a budget of 1024 / 4096
//!   / 16384 / 32768 tokens (none / minimal: no thinking); a chat-side `thinking` object
//!   (`{type: enabled, budget_tokens}` or `adaptive`) is taken as is. The budget is cut to
//!   `max_tokens - 1`; below Anthropic's minimum (1024) thinking is left off. Thinking is also
//!   left off when `tool_choice` forces a tool, and when the last assistant turn called tools
//!   without a signed thinking block (Anthropic refuses both). With thinking on, `temperature`
//!   and `top_k` are dropped and `top_p` is kept only from 0.95 (Anthropic's rules).
//! * `temperature` is capped at 1 (Anthropic's range is 0–1); with both `temperature` and
//!   `top_p`, `top_p` is dropped (newer Claude models refuse both). `top_k` passes.
//! * `stop` → `stop_sequences` (whitespace-only ones dropped); `user` → `metadata.user_id`;
//!   `tools` → `{name, description, input_schema}`; `tool_choice` auto / none / required /
//!   a function → `{type: auto | none | any | tool}`, `parallel_tool_calls: false` →
//!   `disable_parallel_tool_use`; both only when a tool is given.
//! * Dropped: `response_format` (no portable structured-output field), `n` (more than 1 is a
//!   [`TranslateError`]), `logprobs`, `stream_options`, and every other field Anthropic does
//!   not know (it refuses unknown fields).
//!
//! # Answer (`decoder`)
//! `text` → `content`, `thinking` → `reasoning_content`, `tool_use` → `tool_calls` (arguments
//! as JSON text; streamed `input_json_delta`s become argument deltas with a stable `index`).
//! The thinking signature is written as `message.reasoning_signature` (in a stream: on the
//! delta of the finishing chunk) when the answer had exactly one thinking block and no
//! `redacted_thinking`: a signature only verifies its own block, so with several there is
//! nothing a client could send back. `stop_reason` end_turn / stop_sequence / pause_turn →
//! `stop`, max_tokens → `length`, tool_use → `tool_calls`, refusal → `content_filter`; the
//! matched stop sequence is kept as the choice's `stop_reason` (vLLM's convention). Usage:
//! `prompt_tokens = input + cache_read + cache_creation`, `completion_tokens = output`,
//! `prompt_tokens_details.cached_tokens = cache_read` and
//! `prompt_tokens_details.cache_creation_tokens = cache_creation` (our extension). A stream
//! ends with a usage chunk (`choices: []`) and `[DONE]`; an upstream `error` event or a stream
//! cut before `message_delta` is one `data: {"error": …}` event and no `[DONE]`.

mod decode;
mod errors;
mod events;
mod parts;
mod render;
mod stream;
mod tools;
mod turns;
mod usage;

#[cfg(test)]
mod tests;

use crate::core::translate::{ResponseTranslator, TranslateError};

pub use errors::error_to_chat;
pub use render::DEFAULT_MAX_TOKENS;
pub use turns::PLACEHOLDER;

/// OpenAI chat request body (validated; `model` already the upstream's model) → Anthropic
/// Messages request body. See the module documentation for the rules.
pub fn render(chat: &serde_json::Value) -> Result<serde_json::Value, TranslateError> {
    render::render(chat)
}

/// The translator of the upstream's 2xx Messages answer: a chat completion JSON, or (with
/// `stream`) chat SSE ending in `data: [DONE]`. `model` is the model named in the output.
pub fn decoder(stream: bool, model: &str) -> Box<dyn ResponseTranslator> {
    if stream {
        Box::new(stream::StreamDecoder::new(model))
    } else {
        let model = model.to_string();
        Box::new(crate::providers::buffered::Buffered::new(
            move |b: &[u8]| decode::decode_body(&model, b),
        ))
    }
}
