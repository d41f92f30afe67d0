//! Routing: from a request's kind and model name to the pool that serves it, the model id
//! sent upstream (aliases) and what the model can take (images, tools).

use super::Pool;
use crate::chat::fix::ModelCaps;
use crate::request::kind::Kind;
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
    pub cache: CachePolicy,
    pub price: Option<Price>,
}

/// US dollars per million tokens (so micro-dollars per token).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Price {
    pub input_per_1m: f64,
    pub output_per_1m: f64,
}

impl Price {
    /// The cost of an answer in micro-dollars, rounded up (a paid answer never costs zero).
    pub fn micros(&self, prompt: u64, completion: u64) -> u64 {
        (prompt as f64 * self.input_per_1m + completion as f64 * self.output_per_1m).ceil() as u64
    }
}

/// Which answers of a route the exact response cache keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CachePolicy {
    pub mode: CacheMode,
    /// Entries are shared between keys (else each key has its own).
    pub shared: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheMode {
    /// Embeddings, and chat at `temperature: 0` or with `x-llm-relay-cache: on`.
    #[default]
    Auto,
    /// Every chat too.
    Always,
    Never,
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
    pub cache: CachePolicy,
    pub price: Option<Price>,
}

/// The routes in config order, and the per-kind pools for models no route matches.
#[derive(Debug, Default)]
pub struct Router {
    pub routes: Vec<Route>,
    pub defaults: HashMap<Kind, Arc<Pool>>,
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
                cache: r.cache,
                price: r.price,
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
            cache: CachePolicy::default(),
            price: None,
        })
    }
}
