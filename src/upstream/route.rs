//! Routing: from a request's kind and model name to the pool that serves it, the model id
//! sent upstream (aliases) and what the model can take (images, tools).

use super::Pool;
use crate::chat::fix::{ModelCaps, Trim};
use crate::config::choices::CacheMode;
use crate::core::kind::Kind;
use std::collections::HashMap;
use std::sync::Arc;
use wildmatch::WildMatch;

/// How a route matches a model name.
#[derive(Debug)]
pub enum Pattern {
    Exact(String),
    Glob(WildMatch),
}

impl Pattern {
    pub fn new(s: &str) -> Pattern {
        if Self::is_glob(s) {
            Pattern::Glob(WildMatch::new(s))
        } else {
            Pattern::Exact(s.to_string())
        }
    }

    /// Whether a configured model name is a glob (`hunyuan-*`) rather than an exact name.
    pub fn is_glob(s: &str) -> bool {
        s.contains(['*', '?'])
    }

    pub fn matches(&self, model: &str) -> bool {
        match self {
            Pattern::Exact(s) => s == model,
            Pattern::Glob(g) => g.matches(model),
        }
    }
}

/// A compiled route.
#[derive(Debug)]
pub struct Route {
    pub pattern: Pattern,
    pub pool: Arc<Pool>,
    pub fallback: Option<Arc<Pool>>,
    pub upstream_model: Option<String>,
    /// Empty: every kind.
    pub kinds: Vec<Kind>,
    pub caps: ModelCaps,
    /// The route's context policy (`routes[].trim`).
    pub trim: Trim,
    /// A request with tools on a route without them is refused (`tools_unsupported: refuse`).
    pub refuse_tools: bool,
    pub cache: CachePolicy,
    pub price: Option<Price>,
    /// The route's chat pipeline (its own, or the top-level default).
    pub pipeline: Arc<crate::stage::Pipeline>,
}

/// US dollars per million tokens (so micro-dollars per token).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Price {
    pub input_per_1m: f64,
    pub output_per_1m: f64,
    /// Input read from the provider's prompt cache; None: `input_per_1m`.
    pub cached_input_per_1m: Option<f64>,
    /// Input written to the provider's prompt cache; None: `input_per_1m`.
    pub cache_write_per_1m: Option<f64>,
}

impl Price {
    /// The cost of an answer in micro-dollars, rounded up (a paid answer never costs zero).
    pub fn micros(&self, prompt: u64, completion: u64) -> u64 {
        self.micros_of(&crate::core::usage::Usage {
            prompt,
            completion,
            ..Default::default()
        })
    }

    /// The cost of an answer from its usage: cache reads and writes at their own prices,
    /// the rest of the prompt at the input price, rounded up.
    pub fn micros_of(&self, u: &crate::core::usage::Usage) -> u64 {
        let input = self.input_per_1m;
        let cached = self.cached_input_per_1m.unwrap_or(input);
        let write = self.cache_write_per_1m.unwrap_or(input);
        (u.uncached() as f64 * input
            + u.cached as f64 * cached
            + u.cache_write as f64 * write
            + u.completion as f64 * self.output_per_1m)
            .ceil() as u64
    }
}

/// Which answers of a route the exact response cache keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CachePolicy {
    pub mode: CacheMode,
    /// Entries are shared between keys (else each key has its own).
    pub shared: bool,
}

/// The outcome of routing one request.
#[derive(Debug, Clone)]
pub struct Target {
    pub pool: Arc<Pool>,
    /// Tried once when every try on `pool` failed before a response started.
    pub fallback: Option<Arc<Pool>>,
    /// The model id sent upstream (alias resolved).
    pub model: String,
    pub caps: ModelCaps,
    pub trim: Trim,
    pub refuse_tools: bool,
    pub cache: CachePolicy,
    pub price: Option<Price>,
    pub pipeline: Arc<crate::stage::Pipeline>,
}

/// The routes in config order, and the per-kind pools for models no route matches.
#[derive(Debug, Default)]
pub struct Router {
    pub routes: Vec<Route>,
    pub defaults: HashMap<Kind, Arc<Pool>>,
    /// The pipeline of models no route matches (the top-level `pipeline:`).
    pub default_pipeline: Arc<crate::stage::Pipeline>,
}

impl Router {
    /// Finds where `model` goes for `kind`: the first matching route, else the kind's default.
    pub fn route(&self, kind: Kind, model: &str) -> Option<Target> {
        let matching = self
            .routes
            .iter()
            .find(|r| (r.kinds.is_empty() || r.kinds.contains(&kind)) && r.pattern.matches(model));
        if let Some(r) = matching {
            return Some(Target {
                pool: r.pool.clone(),
                fallback: r.fallback.clone(),
                model: r
                    .upstream_model
                    .clone()
                    .unwrap_or_else(|| model.to_string()),
                caps: r.caps,
                trim: r.trim,
                refuse_tools: r.refuse_tools,
                cache: r.cache,
                price: r.price,
                pipeline: r.pipeline.clone(),
            });
        }
        self.defaults.get(&kind).map(|p| Target {
            pool: p.clone(),
            fallback: None,
            model: model.to_string(),
            caps: ModelCaps {
                images: false,
                tools: true,
            },
            trim: Trim::default(),
            refuse_tools: false,
            cache: CachePolicy::default(),
            price: None,
            pipeline: self.default_pipeline.clone(),
        })
    }
}

#[cfg(test)]
mod price_tests {
    use super::Price;
    use crate::core::usage::Usage;

    /// (prompt - cached - write) × input + cached × cached_input + write × cache_write +
    /// completion × output; absent cache prices are the input price.
    #[test]
    fn cache_reads_and_writes_have_their_own_prices() {
        let u = Usage {
            prompt: 1_000_000,
            completion: 100_000,
            cached: 600_000,
            cache_write: 300_000,
            reasoning: 0,
        };
        let flat = Price {
            input_per_1m: 3.0,
            output_per_1m: 15.0,
            ..Default::default()
        };
        assert_eq!(flat.micros_of(&u), 3_000_000 + 1_500_000);
        assert_eq!(flat.micros_of(&u), flat.micros(u.prompt, u.completion));
        let cached = Price {
            cached_input_per_1m: Some(0.3),
            cache_write_per_1m: Some(3.75),
            ..flat
        };
        // 100k × 3 + 600k × 0.3 + 300k × 3.75 + 100k × 15 (micro-dollars per token = $ per 1M)
        assert_eq!(
            cached.micros_of(&u),
            300_000 + 180_000 + 1_125_000 + 1_500_000
        );
    }
}
