//! The configurable pipeline of a chat route (issue 21): named stages defined once under
//! `stages:` and listed, in order, in `pipeline:` (the default of every route) or in a route's
//! own `pipeline:`. Request stages see the chat request (every client protocol reaches them
//! translated); response stages see the chat answer, streamed answers included.
//!
//! Where the built-in steps run:
//! - `validate` always runs first: the model it finds picks the route, so the route's pipeline
//!   can only start after it.
//! - `cascade` runs where it is listed: stages before it see the client's images, stages
//!   after it see their descriptions. A pipeline without it has no cascade (an image sent to
//!   a text-only model is then refused).
//! - `fix` and `trim` are the provider's rules: they run when the request is rendered for the
//!   provider of each try, after every request stage, wherever they are listed, so whatever a
//!   stage changes still reaches a strict provider in the shape it accepts (and a fallback on
//!   another provider gets its own rendering). `fix` cannot be left out (the provider would
//!   refuse the request); `trim` can, and then the route's `trim:` is refused at load.
//!
//! The validated form is built once per config load, so a reload (SIGHUP or
//! `POST /admin/reload`) swaps every stage at once, plugins recompiled; requests in flight
//! keep the pipeline they started with.

pub mod answer;
pub mod decision;
pub mod guard;
pub mod run;
pub mod text;
pub mod wasm;
pub mod webhook;

use crate::config::stages::{OnError, Phase, StageSection};
use crate::config::ConfigError;
use crate::core::error::GatewayError;
use std::collections::BTreeMap;
use std::sync::Arc;

/// What a stage did.
#[derive(Debug)]
pub enum Outcome {
    Pass,
    Modified,
    Refused(GatewayError),
}

/// One configured stage.
#[derive(Debug)]
pub struct Stage {
    pub name: Arc<str>,
    pub kind: Kind,
}

/// The stage types.
#[derive(Debug)]
pub enum Kind {
    Redact {
        guard: guard::Redact,
        on_request: bool,
        on_response: bool,
    },
    Deny(guard::Deny),
    SystemPrompt(guard::SystemPrompt),
    InputLimit(guard::InputLimit),
    Webhook(webhook::Webhook, OnError),
    Wasm(wasm::Plugin, OnError),
}

impl Stage {
    /// `type` as written in the config.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            Kind::Redact { .. } => "redact",
            Kind::Deny(_) => "deny",
            Kind::SystemPrompt(_) => "system_prompt",
            Kind::InputLimit(_) => "input_limit",
            Kind::Webhook(..) => "webhook",
            Kind::Wasm(..) => "wasm",
        }
    }

    fn on_request(&self) -> bool {
        !matches!(
            self.kind,
            Kind::Redact {
                on_request: false,
                ..
            }
        )
    }

    /// The redaction this stage applies to answers, if any.
    pub fn answer_redact(&self) -> Option<&guard::Redact> {
        match &self.kind {
            Kind::Redact {
                guard,
                on_response: true,
                ..
            } => Some(guard),
            _ => None,
        }
    }
}

/// A route's pipeline, validated.
#[derive(Debug, Default)]
pub struct Pipeline {
    /// Request stages that run before the cascade (all of them when there is none).
    pub before_cascade: Vec<Arc<Stage>>,
    /// Request stages that run on the described request.
    pub after_cascade: Vec<Arc<Stage>>,
    pub cascade: bool,
    pub trim: bool,
    /// Stages that see the answer, in order.
    pub response: Vec<Arc<Stage>>,
}

impl Pipeline {
    /// `[validate, cascade, fix, trim]`: what every route ran before pipelines existed.
    pub fn builtin() -> Pipeline {
        Pipeline {
            cascade: true,
            trim: true,
            ..Pipeline::default()
        }
    }

    /// It has configured stages: the request is translated (not passed through) so they
    /// can see it, and always re-serialised.
    pub fn has_stages(&self) -> bool {
        !self.before_cascade.is_empty()
            || !self.after_cascade.is_empty()
            || !self.response.is_empty()
    }

    pub fn has_request_stages(&self) -> bool {
        !self.before_cascade.is_empty() || !self.after_cascade.is_empty()
    }
}

const BUILTIN: [&str; 4] = ["validate", "cascade", "fix", "trim"];

/// Builds every `stages:` entry (plugins compiled, regexes built, clients made).
pub fn build_stages(
    defs: &BTreeMap<String, StageSection>,
) -> Result<BTreeMap<String, Arc<Stage>>, ConfigError> {
    let mut out = BTreeMap::new();
    for (name, def) in defs {
        let at = |m: String| ConfigError::at(format!("stages.{name}"), m);
        if BUILTIN.contains(&name.as_str()) {
            return Err(at(format!(
                "`{name}` is a built-in stage; choose another name"
            )));
        }
        if name.is_empty()
            || name.len() > 64
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(at("a stage name is 1-64 letters, digits, `_` or `-`".into()));
        }
        let kind = match def {
            StageSection::Redact(s) => {
                if s.on.is_empty() {
                    return Err(at("`on` lists request, response or both".into()));
                }
                if s.window_bytes == 0 || s.window_bytes > 4096 {
                    return Err(at("`window_bytes` is 1-4096".into()));
                }
                Kind::Redact {
                    guard: guard::Redact::new(s),
                    on_request: s.on.contains(&Phase::Request),
                    on_response: s.on.contains(&Phase::Response),
                }
            }
            StageSection::Deny(s) => Kind::Deny(guard::Deny::new(s).map_err(at)?),
            StageSection::SystemPrompt(s) => {
                Kind::SystemPrompt(guard::SystemPrompt::new(s).map_err(at)?)
            }
            StageSection::InputLimit(s) => Kind::InputLimit(guard::InputLimit(s.clone())),
            StageSection::Webhook(s) => {
                Kind::Webhook(webhook::Webhook::new(s).map_err(at)?, s.on_error)
            }
            StageSection::Wasm(s) => {
                let limits = wasm::Limits {
                    max_memory_bytes: (s.max_memory_mb as usize).saturating_mul(1 << 20),
                    fuel: s.fuel,
                    timeout: std::time::Duration::from_millis(s.timeout_ms.max(1)),
                };
                let plugin = wasm::Plugin::load(std::path::Path::new(&s.module), limits)
                    .map_err(|e| at(format!("module {}: {e}", s.module)))?;
                Kind::Wasm(plugin, s.on_error)
            }
        };
        for status in [status_of(def)].into_iter().flatten() {
            if !(400..500).contains(&status) {
                return Err(at(format!(
                    "status {status}: a refusal's status is 400-499"
                )));
            }
        }
        out.insert(
            name.clone(),
            Arc::new(Stage {
                name: Arc::from(name.as_str()),
                kind,
            }),
        );
    }
    Ok(out)
}

fn status_of(def: &StageSection) -> Option<u16> {
    match def {
        StageSection::Redact(s) => s.status,
        StageSection::Deny(s) => s.status,
        _ => None,
    }
}

/// Validates one `pipeline:` list (`path` names it for errors).
pub fn build_pipeline(
    list: &[String],
    stages: &BTreeMap<String, Arc<Stage>>,
    path: &str,
) -> Result<Pipeline, ConfigError> {
    let mut p = Pipeline::default();
    let mut seen = std::collections::HashSet::new();
    for (i, name) in list.iter().enumerate() {
        let at = |m: String| ConfigError::at(format!("{path}[{i}]"), m);
        if !seen.insert(name.as_str()) {
            return Err(at(format!("`{name}` is listed twice")));
        }
        match name.as_str() {
            "validate" if i != 0 => {
                return Err(at("`validate` always runs first (the model it reads picks the route): list it first or leave it out".into()))
            }
            "validate" => {}
            "cascade" => p.cascade = true,
            "fix" => {} // always runs at render (see the module doc)
            "trim" => p.trim = true,
            _ => {
                let Some(stage) = stages.get(name) else {
                    let known: Vec<&str> = BUILTIN.iter().copied().chain(stages.keys().map(String::as_str)).collect();
                    return Err(at(format!("unknown stage `{name}` (known: {})", known.join(", "))));
                };
                if stage.on_request() {
                    if p.cascade {
                        p.after_cascade.push(stage.clone());
                    } else {
                        p.before_cascade.push(stage.clone());
                    }
                }
                if stage.answer_redact().is_some() {
                    p.response.push(stage.clone());
                }
            }
        }
    }
    Ok(p)
}
