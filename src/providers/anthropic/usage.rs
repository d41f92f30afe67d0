//! Anthropic token counts and their chat form.
//!
//! Anthropic's `input_tokens` excludes the prompt tokens read from or written to the cache
//! (total input = input + cache_read + cache_creation); chat's `prompt_tokens` is the whole
//! prompt, with the cached part in `prompt_tokens_details.cached_tokens`. Cache writes have no
//! OpenAI field: `prompt_tokens_details.cache_creation_tokens` is our documented extension
//! (they are priced apart, so they must not be lost).

use crate::core::usage::Usage;
use serde_json::{json, Value};

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Tokens {
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    pub cache_creation: u64,
}

impl Tokens {
    /// Takes the counts present in an Anthropic `usage` object. A stream's `message_delta`
    /// usage is cumulative and may repeat or update any of them, so present fields replace.
    pub fn merge(&mut self, usage: &Value) {
        let fields = [
            ("input_tokens", &mut self.input),
            ("output_tokens", &mut self.output),
            ("cache_read_input_tokens", &mut self.cache_read),
            ("cache_creation_input_tokens", &mut self.cache_creation),
        ];
        for (name, slot) in fields {
            if let Some(n) = usage.get(name).and_then(Value::as_u64) {
                *slot = n;
            }
        }
    }

    pub fn prompt(&self) -> u64 {
        self.input
            .saturating_add(self.cache_read)
            .saturating_add(self.cache_creation)
    }

    /// The gateway's usage (metrics, limits).
    pub fn usage(&self) -> Usage {
        Usage {
            prompt: self.prompt(),
            completion: self.output,
            cached: self.cache_read,
            cache_write: self.cache_creation,
            reasoning: 0,
        }
    }

    /// The chat `usage` object.
    pub fn chat_json(&self) -> Value {
        json!({
            "prompt_tokens": self.prompt(),
            "completion_tokens": self.output,
            "total_tokens": self.prompt().saturating_add(self.output),
            "prompt_tokens_details": {
                "cached_tokens": self.cache_read,
                "cache_creation_tokens": self.cache_creation,
            },
        })
    }
}
