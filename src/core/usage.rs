//! Token counts of one answer, in the gateway's hub format (a Chat Completions `usage`
//! object), and the one place that reads and writes them: the response scan (metrics, limits,
//! spend) and every client translator use this type, so a count added here is carried by all.
//!
//! The convention (documented in the README, "Prompt caching"):
//! - `prompt_tokens` is the whole input, cache reads and cache writes included (OpenAI's
//!   meaning; Anthropic's `input_tokens` excludes both, Gemini's `promptTokenCount` includes
//!   its `cachedContentTokenCount`);
//! - `prompt_tokens_details.cached_tokens`: input read from the provider's prompt cache
//!   (OpenAI's field; Anthropic `cache_read_input_tokens`, Gemini `cachedContentTokenCount`);
//!   DeepSeek's top-level `prompt_cache_hit_tokens` is read when it is absent;
//! - `prompt_tokens_details.cache_creation_tokens`: input written to the cache (the gateway's
//!   extension, for Anthropic's `cache_creation_input_tokens`; OpenAI has no such count).

use serde_json::{json, Map, Value};

/// Token counts from a chat `usage` object.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// `prompt_tokens`: every input token, cached and cache-written ones included.
    pub prompt: u64,
    pub completion: u64,
    /// `prompt_tokens_details.cached_tokens`: input tokens read from the prompt cache.
    pub cached: u64,
    /// `prompt_tokens_details.cache_creation_tokens`: input tokens written to the cache.
    pub cache_write: u64,
    /// `completion_tokens_details.reasoning_tokens`
    pub reasoning: u64,
}

impl Usage {
    /// Reads the `usage` member of a chat completion or chunk (None when absent or not an
    /// object); a missing count is 0. What the client translators read.
    pub fn of(v: &Value) -> Option<Usage> {
        let u = v.get("usage").filter(|u| u.is_object())?;
        Some(Self::read(u, num(u.get("prompt_tokens"))))
    }

    /// As the gateway counts an answer (metrics, limits, spend): None without a numeric
    /// `prompt_tokens`, which is what tells a real usage object from a stub.
    pub fn reported(v: &Value) -> Option<Usage> {
        Self::reported_object(v.get("usage")?)
    }

    /// [`Usage::reported`] of a `usage` object itself.
    pub fn reported_object(u: &Value) -> Option<Usage> {
        let prompt = u.get("prompt_tokens").and_then(Value::as_u64)?;
        Some(Self::read(u, prompt))
    }

    fn read(u: &Value, prompt: u64) -> Usage {
        let cached = u
            .pointer("/prompt_tokens_details/cached_tokens")
            .or_else(|| u.get("prompt_cache_hit_tokens"));
        Usage {
            prompt,
            completion: num(u.get("completion_tokens")),
            cached: num(cached),
            cache_write: num(u.pointer("/prompt_tokens_details/cache_creation_tokens")),
            reasoning: num(u.pointer("/completion_tokens_details/reasoning_tokens")),
        }
    }

    /// Input tokens neither read from nor written to the cache (Anthropic's `input_tokens`).
    /// Saturating: the counts are the upstream's word.
    pub fn uncached(&self) -> u64 {
        self.prompt
            .saturating_sub(self.cached)
            .saturating_sub(self.cache_write)
    }

    /// `prompt + completion`, saturating (u64::MAX overflowed; the fuzzer).
    pub fn total(&self) -> u64 {
        self.prompt.saturating_add(self.completion)
    }

    /// The chat `usage` object; `prompt_tokens_details` (`cached_tokens`, and
    /// `cache_creation_tokens` when non-zero) only when the cache was used, and
    /// `completion_tokens_details` only with reasoning tokens, so an answer without them
    /// reads as the upstream wrote it.
    pub fn to_chat_json(&self) -> Value {
        let mut u = Map::new();
        u.insert("prompt_tokens".into(), json!(self.prompt));
        u.insert("completion_tokens".into(), json!(self.completion));
        u.insert("total_tokens".into(), json!(self.total()));
        if self.cached > 0 || self.cache_write > 0 {
            let mut details = Map::new();
            details.insert("cached_tokens".into(), json!(self.cached));
            if self.cache_write > 0 {
                details.insert("cache_creation_tokens".into(), json!(self.cache_write));
            }
            u.insert("prompt_tokens_details".into(), Value::Object(details));
        }
        if self.reasoning > 0 {
            u.insert(
                "completion_tokens_details".into(),
                json!({"reasoning_tokens": self.reasoning}),
            );
        }
        Value::Object(u)
    }
}

/// The other providers' usage objects, in and out of the hub's counts: one place for the
/// arithmetic each of them does differently.
impl Usage {
    /// From an Anthropic `usage` (a Messages answer, `message_start` or `message_delta`):
    /// `input_tokens` excludes cache reads and writes, so the prompt is the sum of the three.
    pub fn from_anthropic(u: &Value) -> Usage {
        let (input, read, write) = (
            num(u.get("input_tokens")),
            num(u.get("cache_read_input_tokens")),
            num(u.get("cache_creation_input_tokens")),
        );
        Usage {
            prompt: input.saturating_add(read).saturating_add(write),
            completion: num(u.get("output_tokens")),
            cached: read,
            cache_write: write,
            reasoning: 0,
        }
    }

    /// From a Gemini `usageMetadata`: `promptTokenCount` already includes
    /// `cachedContentTokenCount` (and tool-use prompts are input too); thinking
    /// (`thoughtsTokenCount`) is output, billed as such, counted apart from the candidates.
    pub fn from_gemini(m: &Value) -> Usage {
        let thoughts = num(m.get("thoughtsTokenCount"));
        Usage {
            prompt: num(m.get("promptTokenCount"))
                .saturating_add(num(m.get("toolUsePromptTokenCount"))),
            completion: num(m.get("candidatesTokenCount")).saturating_add(thoughts),
            cached: num(m.get("cachedContentTokenCount")),
            cache_write: 0,
            reasoning: thoughts,
        }
    }

    /// A Gemini `usageMetadata` (the Gemini front door's answers).
    pub fn to_gemini_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("promptTokenCount".into(), json!(self.prompt));
        let candidates = self.completion.saturating_sub(self.reasoning);
        m.insert("candidatesTokenCount".into(), json!(candidates));
        if self.reasoning > 0 {
            m.insert("thoughtsTokenCount".into(), json!(self.reasoning));
        }
        if self.cached > 0 {
            m.insert("cachedContentTokenCount".into(), json!(self.cached));
        }
        m.insert("totalTokenCount".into(), json!(self.total()));
        Value::Object(m)
    }
}

fn num(v: Option<&Value>) -> u64 {
    v.and_then(Value::as_u64).unwrap_or(0)
}

/// A `usage` object read by a typed parse that skips everything around it (the response scan
/// reads whole answers without building a `Value` of them); reads what
/// [`Usage::reported_object`] reads.
#[derive(serde::Deserialize)]
pub struct UsageFields {
    #[serde(default)]
    prompt_tokens: Option<Value>,
    #[serde(default)]
    completion_tokens: Option<Value>,
    #[serde(default)]
    prompt_tokens_details: Option<Value>,
    #[serde(default)]
    completion_tokens_details: Option<Value>,
    #[serde(default)]
    prompt_cache_hit_tokens: Option<Value>,
}

impl UsageFields {
    pub fn usage(&self) -> Option<Usage> {
        let prompt = self.prompt_tokens.as_ref().and_then(Value::as_u64)?;
        let detail = |d: &Option<Value>, k: &str| d.as_ref().and_then(|d| d.get(k)).cloned();
        let cached = detail(&self.prompt_tokens_details, "cached_tokens")
            .or_else(|| self.prompt_cache_hit_tokens.clone());
        Some(Usage {
            prompt,
            completion: num(self.completion_tokens.as_ref()),
            cached: num(cached.as_ref()),
            cache_write: num(detail(&self.prompt_tokens_details, "cache_creation_tokens").as_ref()),
            reasoning: num(detail(&self.completion_tokens_details, "reasoning_tokens").as_ref()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cache_counts() {
        let v = json!({"usage": {"prompt_tokens": 100, "completion_tokens": 7,
            "prompt_tokens_details": {"cached_tokens": 60, "cache_creation_tokens": 30},
            "completion_tokens_details": {"reasoning_tokens": 2}}});
        let u = Usage::of(&v).unwrap();
        assert_eq!(
            u,
            Usage {
                prompt: 100,
                completion: 7,
                cached: 60,
                cache_write: 30,
                reasoning: 2
            }
        );
        assert_eq!(u.uncached(), 10);
        assert_eq!(Usage::reported(&v), Some(u));
        // The JSON it writes reads back the same.
        assert_eq!(Usage::of(&json!({"usage": u.to_chat_json()})), Some(u));
        // DeepSeek's field.
        let v = json!({"usage": {"prompt_tokens": 10, "prompt_cache_hit_tokens": 8}});
        assert_eq!(Usage::of(&v).unwrap().cached, 8);
        // Nonsense counts never underflow.
        let odd = Usage {
            prompt: 5,
            cached: 9,
            cache_write: 9,
            ..Default::default()
        };
        assert_eq!(odd.uncached(), 0);
    }

    /// The typed reader agrees with the `Value` reader on every shape.
    #[test]
    fn typed_reader_reads_like_the_value_reader() {
        for u in [
            json!({"prompt_tokens": 7, "completion_tokens": 3}),
            json!({"prompt_tokens": 7, "prompt_tokens_details": {"cached_tokens": 4, "cache_creation_tokens": 2}}),
            json!({"prompt_tokens": 7, "prompt_tokens_details": null}),
            json!({"prompt_tokens": 7, "prompt_tokens_details": 5}),
            json!({"prompt_tokens": 7, "prompt_tokens_details": {"cached_tokens": "4"}}),
            json!({"prompt_tokens": 7, "prompt_cache_hit_tokens": 6}),
            json!({"prompt_tokens": "7"}),
            json!({"completion_tokens": 3}),
            json!({"prompt_tokens": 7, "completion_tokens_details": {"reasoning_tokens": 1}}),
        ] {
            let typed: UsageFields = serde_json::from_value(u.clone()).unwrap();
            assert_eq!(typed.usage(), Usage::reported_object(&u), "{u}");
        }
    }
    #[test]
    fn anthropic_and_gemini_counts() {
        let a = Usage::from_anthropic(&json!({"input_tokens": 10, "output_tokens": 5,
            "cache_read_input_tokens": 60, "cache_creation_input_tokens": 30}));
        assert_eq!(
            (a.prompt, a.cached, a.cache_write, a.uncached()),
            (100, 60, 30, 10)
        );
        let g = Usage::from_gemini(
            &json!({"promptTokenCount": 100, "cachedContentTokenCount": 60,
            "candidatesTokenCount": 7, "thoughtsTokenCount": 3, "totalTokenCount": 110}),
        );
        assert_eq!(
            (g.prompt, g.cached, g.completion, g.reasoning),
            (100, 60, 10, 3)
        );
        assert_eq!(
            g.to_gemini_json(),
            json!({"promptTokenCount": 100, "candidatesTokenCount": 7, "thoughtsTokenCount": 3,
                "cachedContentTokenCount": 60, "totalTokenCount": 110})
        );
        assert_eq!(Usage::from_gemini(&g.to_gemini_json()), g);
    }
}
