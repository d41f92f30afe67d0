//! `POST /admin/cascade/warm`: describes a list of images ahead of time with the configured
//! vision model, so the first user request with one of them is a cache hit.
//!
//! Body: `{"images": ["https://…", "data:image/png;base64,…", …], "question": "…"?,
//! "concurrency": N?}`. Each image goes through the cascade exactly as a user's image does
//! (`cascade::run` on a one-message request): the same keys, the in-process cache, the shared
//! Redis level and its single flight, `cascade.max_global_parallel`. The description key
//! includes the whole vision prompt (see the README's cascade section), so a warmed entry
//! serves requests whose prompt is the same: with the default prompt, requests that ask the
//! same `question` (none given: images sent without text); with a prompt without
//! `{question}`, every request for that image.
//!
//! At most [`MAX_IMAGES`] images per call, `concurrency` at most [`MAX_CONCURRENCY`]
//! (default: `cascade.max_parallel`). Progress: `llm_relay_cascade_warm_pending` and
//! `llm_relay_cascade_warm_total{result="described|cached|failed"}`. The answer counts each.
//!
//! A fresh instance also starts with the fleet's descriptions: `cascade::fill` copies them
//! from Redis into the in-process level at start-up.

use crate::cascade::{self, CascadeState};
use crate::core::error::GatewayError;
use crate::observe::metrics::metrics;
use crate::runtime::Runtime;
use futures::stream::{self, StreamExt};
use serde_json::{json, Value};

pub const MAX_IMAGES: usize = 1000;
pub const MAX_CONCURRENCY: usize = 32;

/// One image's outcome.
enum Outcome {
    Described,
    Cached,
    Failed(String),
}

pub async fn warm(rt: &Runtime, st: &CascadeState, body: &[u8]) -> Result<Value, GatewayError> {
    let Some(s) = rt.cascade.as_ref() else {
        return Err(GatewayError::bad_request(
            "No cascade is configured (`cascade:`): there is no vision model to warm with.",
        ));
    };
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| GatewayError::bad_request(format!("The body is not JSON: {e}")))?;
    let images: Vec<String> = match v.get("images").and_then(Value::as_array) {
        Some(list) if !list.is_empty() && list.len() <= MAX_IMAGES => list
            .iter()
            .map(|u| u.as_str().map(str::to_owned))
            .collect::<Option<_>>()
            .ok_or_else(|| GatewayError::bad_param("`images` holds URLs (strings).", "images"))?,
        _ => {
            return Err(GatewayError::bad_param(
                format!("`images` is a list of 1 to {MAX_IMAGES} image URLs."),
                "images",
            ))
        }
    };
    let question = v.get("question").and_then(Value::as_str).unwrap_or("");
    let concurrency = v
        .get("concurrency")
        .and_then(Value::as_u64)
        .map_or(s.max_parallel, |n| n as usize)
        .clamp(1, MAX_CONCURRENCY);
    let m = metrics();
    m.cascade_warm_pending.add(images.len() as i64);
    // Items are indices, not borrowed URLs: a stream of borrowed items makes the future's
    // `Send` bound higher-ranked, which rustc cannot prove (as in `cascade::run`).
    let list = &images;
    let outcomes: Vec<(usize, Outcome)> = stream::iter(0..images.len())
        .map(|i| async move {
            let outcome = one(&list[i], question, s, st).await;
            let result = match &outcome {
                Outcome::Described => "described",
                Outcome::Cached => "cached",
                Outcome::Failed(_) => "failed",
            };
            let m = metrics();
            m.cascade_warm_pending.dec();
            m.cascade_warm.with_label_values(&[result]).inc();
            (i, outcome)
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let (mut described, mut cached, mut failed) = (0, 0, Vec::new());
    for (i, o) in outcomes {
        match o {
            Outcome::Described => described += 1,
            Outcome::Cached => cached += 1,
            Outcome::Failed(e) => failed.push(json!({"index": i, "error": e})),
        }
    }
    Ok(json!({
        "images": images.len(),
        "described": described,
        "cached": cached,
        "failed": failed,
        "vision_model": s.vision_model,
    }))
}

/// One image through the cascade, as a user's request would send it.
async fn one(
    url: &str,
    question: &str,
    s: &cascade::CascadeSettings,
    st: &CascadeState,
) -> Outcome {
    let mut parts = Vec::new();
    if !question.trim().is_empty() {
        parts.push(json!({"type": "text", "text": question}));
    }
    parts.push(json!({"type": "image_url", "image_url": {"url": url}}));
    let mut req = json!({"messages": [{"role": "user", "content": parts}]});
    match cascade::run(&mut req, None, s, st, None).await {
        Ok(r) if r.failures > 0 => Outcome::Failed("the vision model could not describe it".into()),
        Ok(r) if r.vision_calls > 0 => Outcome::Described,
        Ok(_) => Outcome::Cached,
        Err(e) => Outcome::Failed(e.message()),
    }
}
