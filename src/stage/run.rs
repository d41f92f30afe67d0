//! Running a route's request stages in order, with their metrics: each stage passes, modifies
//! the request, or refuses it in the client's protocol; a webhook or plugin that cannot decide
//! is counted as `error` and its `on_error` applies.

use super::decision::{self, Context, Reply};
use super::{Kind, Outcome, Stage};
use crate::config::stages::OnError;
use crate::core::error::GatewayError;
use crate::observe::metrics::metrics;
use serde_json::Value;
use std::sync::Arc;
use std::time::Instant;

/// Runs `stages` on `chat`; the names of the stages that changed it are pushed on `changed`.
pub async fn request(
    stages: &[Arc<Stage>],
    chat: &mut Value,
    cx: &Context<'_>,
    changed: &mut Vec<Arc<str>>,
) -> Result<(), GatewayError> {
    for stage in stages {
        let t0 = Instant::now();
        let outcome = one(stage, chat, cx).await;
        let decision = match &outcome {
            Decided::Done(Outcome::Pass) => "pass",
            Decided::Done(Outcome::Modified) => "modify",
            Decided::Done(Outcome::Refused(_)) => "refuse",
            Decided::Failed(..) => "error",
        };
        let m = metrics();
        m.stage_seconds
            .with_label_values(&[&stage.name, "request"])
            .observe(t0.elapsed().as_secs_f64());
        m.stage_decisions
            .with_label_values(&[&stage.name, "request", decision])
            .inc();
        match outcome {
            Decided::Done(Outcome::Pass) => {}
            Decided::Done(Outcome::Modified) => changed.push(stage.name.clone()),
            Decided::Done(Outcome::Refused(e)) => return Err(e),
            Decided::Failed(why, OnError::Allow) => {
                log::warn!(
                    "stage {}: {why}; the request goes on (on_error: allow)",
                    stage.name
                );
            }
            Decided::Failed(why, OnError::Deny) => {
                log::warn!(
                    "stage {}: {why}; the request is refused (on_error: deny)",
                    stage.name
                );
                return Err(GatewayError::Refused {
                    status: 503,
                    message: format!(
                        "The gateway's `{}` stage could not check the request ({why}); try \
                         again later.",
                        stage.name
                    ),
                    code: "stage_unavailable",
                    stage: stage.name.clone(),
                });
            }
        }
    }
    Ok(())
}

enum Decided {
    Done(Outcome),
    /// The stage could not decide: why, and what its policy says.
    Failed(String, OnError),
}

async fn one(stage: &Stage, chat: &mut Value, cx: &Context<'_>) -> Decided {
    let name = &*stage.name;
    match &stage.kind {
        Kind::Redact { guard, .. } => Decided::Done(guard.request(name, chat)),
        Kind::Deny(d) => Decided::Done(d.request(name, chat)),
        Kind::SystemPrompt(s) => Decided::Done(s.request(name, chat)),
        Kind::InputLimit(l) => Decided::Done(l.request(name, chat)),
        Kind::Webhook(hook, on_error) => match hook.call(name, cx, chat).await {
            Ok(reply) => apply(name, reply, chat, *on_error),
            Err(why) => Decided::Failed(why, *on_error),
        },
        Kind::Wasm(plugin, on_error) => {
            let input = decision::envelope(name, cx, chat);
            let reply = match plugin.call(&input).await {
                Ok(out) => decision::parse(&out),
                Err(e) => Err(e.to_string()),
            };
            match reply {
                Ok(reply) => apply(name, reply, chat, *on_error),
                Err(why) => Decided::Failed(why, *on_error),
            }
        }
    }
}

/// A webhook's or plugin's decision applied. A modified request must still be a valid chat
/// request (else the stage failed, and its `on_error` decides).
fn apply(name: &str, reply: Reply, chat: &mut Value, on_error: OnError) -> Decided {
    match reply {
        Reply::Allow => Decided::Done(Outcome::Pass),
        Reply::Deny { status, message } => {
            Decided::Done(Outcome::Refused(decision::deny(name, status, message)))
        }
        Reply::Modify(new) => {
            // On a copy: with `on_error: allow`, an invalid change leaves the request as it was.
            let mut probe = chat.clone();
            decision::apply_modify(&mut probe, new);
            match crate::body::validate::chat_value(&probe) {
                Ok(_) => {
                    *chat = probe;
                    Decided::Done(Outcome::Modified)
                }
                Err(e) => Decided::Failed(
                    format!("its modified request is invalid: {}", e.message()),
                    on_error,
                ),
            }
        }
    }
}
