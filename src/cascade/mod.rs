//! The image→text cascade: when the target model cannot see images, every unique image of the
//! request is described by the vision model (cached, single-flight, concurrently with a
//! bound) and the description replaces the image part in place, marked as such.
//!
//! A description is cached under the image and the whole vision prompt, the user's text
//! included (`image_key::description_key`): the prompt shapes the description, and a
//! description made for one tenant's text must not be served into another tenant's request.

pub mod fill;
pub mod vision;

use crate::chat::elide::{Elided, UrlText};
use crate::chat::image_key::{description_key, fast_key, image_key, ImageKey};
use crate::config::choices::CascadeOnFailure as OnFailure;
use crate::core::error::GatewayError;
use crate::observe::trace::TraceCtx;
use crate::policy::auth::ApiKey;
use crate::state::image_cache::{DescriptionCache, Source};
use crate::upstream::route::Target;
use futures::stream::{self, StreamExt};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use vision::VisionError;

/// The text that replaces an image that could not be described (policy `placeholder`).
pub const PLACEHOLDER: &str = "[image could not be described]";

/// Validated cascade settings (part of the reloadable runtime config).
#[derive(Debug)]
pub struct CascadeSettings {
    pub vision: Target,
    /// `cascade.vision_model` as configured: the name keys' `models` lists are matched with.
    pub vision_model: String,
    pub text_model: Option<String>,
    pub prompt: String,
    pub prompt_version: String,
    pub timeout: Duration,
    pub on_failure: OnFailure,
    /// Vision calls of one request at once.
    pub max_parallel: usize,
    /// Images one request may carry (more: 400), so one request cannot order hundreds of
    /// vision calls.
    pub max_images: usize,
}

/// Process-wide cascade state: survives reloads.
pub struct CascadeState {
    pub cache: DescriptionCache,
    /// Vision calls in flight across all requests (`cascade.max_global_parallel`, sized at
    /// start-up like the cache): many image requests at once queue here instead of
    /// multiplying the load on the vision model.
    pub slots: tokio::sync::Semaphore,
    /// The second level in the shared Redis (several instances), when configured.
    pub shared: Option<crate::state::shared_cache::SharedDescriptions>,
    pub client: reqwest::Client,
    pub vision_calls: AtomicU64,
    pub vision_failures: AtomicU64,
    /// Sum of vision call durations, microseconds.
    pub vision_micros: AtomicU64,
}

impl CascadeState {
    pub fn new(cache: DescriptionCache, max_global_parallel: usize) -> CascadeState {
        let client = reqwest::Client::builder()
            .pool_idle_timeout(Duration::from_secs(60))
            .tcp_nodelay(true)
            .build()
            .unwrap_or_default();
        CascadeState {
            cache,
            slots: tokio::sync::Semaphore::new(max_global_parallel.max(1)),
            shared: None,
            client,
            vision_calls: AtomicU64::new(0),
            vision_failures: AtomicU64::new(0),
            vision_micros: AtomicU64::new(0),
        }
    }

    pub fn snapshot(&self) -> Value {
        json!({
            "cache": self.cache.snapshot(),
            "vision_calls": self.vision_calls.load(Ordering::Relaxed),
            "vision_failures": self.vision_failures.load(Ordering::Relaxed),
            "vision_seconds_total": self.vision_micros.load(Ordering::Relaxed) as f64 / 1e6,
        })
    }
}

/// What the cascade did to one request.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub images: usize,
    pub hits: usize,
    pub vision_calls: usize,
    pub failures: usize,
    /// When the cascade began and how long it took (for the trace).
    pub took: Option<(Instant, Duration)>,
    /// One entry per unique image (for the trace's span per vision call).
    pub calls: Vec<VisionCall>,
}

/// One image's description: where it came from, when, and the span that names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisionCall {
    pub span: opentelemetry::trace::SpanId,
    pub started: Instant,
    pub took: Duration,
    /// `hit`, `joined`, `miss` (described now) or `error`.
    pub cache: &'static str,
}

/// Where an image part sits: (message index, part index).
type Spot = (usize, usize);

/// Whether any message has an image part. Stops at the first one and copies nothing.
pub fn has_images(req: &Value) -> bool {
    contents(req).any(|(_, parts)| parts.iter().any(|p| image_url_of(p).is_some()))
}

/// The cascade's models count as the tenant's: a key whose `models` list does not allow the
/// vision model (or the text model the described request is switched to) is refused with a
/// 403 that names the model and why the request needs it, before any vision call. An
/// operator who wants the cascade for a restricted key adds those models to its list.
pub fn authorize(
    key: Option<&ApiKey>,
    s: &CascadeSettings,
    requested: &str,
) -> Result<(), GatewayError> {
    let Some(k) = key else {
        return Ok(());
    };
    if !k.allows(&s.vision_model) {
        return Err(GatewayError::Forbidden {
            message: format!(
                "The API key `{}` may not use the model `{}`, which describes images for \
                 the model `{requested}` (it cannot read images).",
                k.id, s.vision_model
            ),
        });
    }
    match s.text_model.as_deref() {
        Some(t) if t != requested && !k.allows(t) => Err(GatewayError::Forbidden {
            message: format!(
                "The API key `{}` may not use the model `{t}`, which answers requests with \
                 images for the model `{requested}` once they are described.",
                k.id
            ),
        }),
        _ => Ok(()),
    }
}

/// Describes every image of `req` and replaces the parts in place. `elided` resolves the
/// images kept out of the parse (their URLs in `req` are tokens).
pub async fn run(
    req: &mut Value,
    elided: Option<&Elided>,
    s: &CascadeSettings,
    st: &CascadeState,
    trace: Option<&TraceCtx>,
) -> Result<Report, GatewayError> {
    let started = Instant::now();
    let (found, questions) = find_images(req, elided);
    if found.is_empty() {
        return Ok(Report::default());
    }
    if found.len() > s.max_images {
        return Err(GatewayError::bad_param(
            format!(
                "The request carries {} images; at most {} can be described for a text model.",
                found.len(),
                s.max_images
            ),
            "messages",
        ));
    }
    // The vision prompt of each message: the template with that message's text in it.
    let prompts: Vec<String> = questions
        .iter()
        .map(|q| s.prompt.replace("{question}", q))
        .collect();
    // One job per unique (image, prompt); each remembers every spot it fills. The URL is
    // borrowed from the request; a repeated URL text finds its image key by the fast key (no
    // decode, no SHA-256, and a URL cut from the parse is not even checked as text: the text
    // it repeats was). The description's key adds the whole prompt (see `description_key`).
    let (model, version) = (s.vision.model.as_str(), s.prompt_version.as_str());
    let mut jobs: HashMap<ImageKey, (usize, Vec<Spot>)> = HashMap::new();
    for (n, f) in found.iter().enumerate() {
        let image = st
            .cache
            .key_for(fast_key(f.url.bytes(), model, version), || {
                Ok::<_, GatewayError>(image_key(f.url.text()?, model, version))
            })?;
        let key = description_key(&image, &prompts[f.question]);
        jobs.entry(key)
            .or_insert_with(|| (n, Vec::new()))
            .1
            .push(f.spot);
    }
    // Jobs name their image by its index in `found`: stream items that borrow from the
    // request would make the future's `Send` bound higher-ranked, which rustc cannot prove.
    let (found_ref, prompts) = (&found, &prompts);
    let results: Vec<_> = stream::iter(jobs)
        .map(|(key, (n, spots))| async move {
            let f = &found_ref[n];
            let span = crate::observe::trace::new_span_id();
            let parent = trace.map(|t| t.traceparent(span));
            let t0 = Instant::now();
            let prompt = &prompts[f.question];
            let r = describe_one(key, f.url, prompt, (s, st, parent.as_deref())).await;
            let call = VisionCall {
                span,
                started: t0,
                took: t0.elapsed(),
                cache: match &r {
                    Ok((_, Source::Hit)) => "hit",
                    Ok((_, Source::Joined)) => "joined",
                    Ok(_) => "miss",
                    Err(_) => "error",
                },
            };
            (spots, r, call)
        })
        .buffer_unordered(s.max_parallel.max(1))
        .collect()
        .await;
    let mut report = Report {
        images: found.len(),
        ..Default::default()
    };
    let mut texts: HashMap<Spot, String> = HashMap::new();
    for (spots, r, call) in results {
        report.calls.push(call);
        let text = match r {
            Ok((t, src)) => {
                match src {
                    Source::Miss => report.vision_calls += 1,
                    _ => report.hits += 1,
                }
                format!("[Image description]\n{t}\n[End of image description]")
            }
            Err(e) if s.on_failure == OnFailure::Fail => {
                return Err(GatewayError::BadGateway {
                    message: format!(
                        "An image could not be described by the vision model `{}`: {e}",
                        s.vision.model
                    ),
                })
            }
            Err(e) => {
                log::warn!("cascade: image not described ({e}); placeholder sent");
                report.failures += 1;
                PLACEHOLDER.to_string()
            }
        };
        for spot in spots {
            texts.insert(spot, text.clone());
        }
    }
    replace(req, texts);
    report.took = Some((started, started.elapsed()));
    Ok(report)
}

async fn describe_one(
    key: ImageKey,
    url: UrlText<'_>,
    prompt: &str,
    (s, st, traceparent): (&CascadeSettings, &CascadeState, Option<&str>),
) -> Result<(Arc<str>, Source), VisionError> {
    st.cache
        .get_or_make(key, || async {
            // Checked when its key was made (here or by an earlier request of the same text).
            let url = url.text().map_err(|_| VisionError::BadUrl)?;
            let call = || call_vision(url, prompt, (s, st), traceparent);
            match &st.shared {
                Some(l2) => l2.get_or_make(&key, call).await,
                None => call().await,
            }
        })
        .await
}

/// One vision call, queued behind `cascade.max_global_parallel`, timed and counted.
async fn call_vision(
    url: &str,
    prompt: &str,
    (s, st): (&CascadeSettings, &CascadeState),
    traceparent: Option<&str>,
) -> Result<String, VisionError> {
    let queued = Instant::now();
    // Closed only if the semaphore is dropped, which never happens while `st` lives.
    let _slot = st.slots.acquire().await.ok();
    let m = crate::observe::metrics::metrics();
    m.vision_queue
        .with_label_values::<&str>(&[])
        .observe(queued.elapsed().as_secs_f64());
    st.vision_calls.fetch_add(1, Ordering::Relaxed);
    let t0 = Instant::now();
    let r = vision::describe(&st.client, &s.vision, prompt, url, (s.timeout, traceparent)).await;
    let took = t0.elapsed();
    st.vision_micros
        .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    m.vision_duration
        .with_label_values::<&str>(&[])
        .observe(took.as_secs_f64());
    let result = if r.is_ok() { "ok" } else { "error" };
    m.vision_calls.with_label_values(&[result]).inc();
    if r.is_err() {
        st.vision_failures.fetch_add(1, Ordering::Relaxed);
    }
    r
}

/// One image part, borrowed from the request.
struct Found<'a> {
    spot: Spot,
    url: UrlText<'a>,
    /// Index of its message's text (the user's question) in the list beside it.
    question: usize,
}

/// The content-part arrays of the messages, with the message index.
fn contents(req: &Value) -> impl Iterator<Item = (usize, &Vec<Value>)> {
    req.get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
        .filter_map(|(i, m)| Some((i, m.get("content")?.as_array()?)))
}

/// Every image part (its spot and URL, not copied) and the questions of their messages,
/// in one walk.
fn find_images<'a>(req: &'a Value, elided: Option<&'a Elided>) -> (Vec<Found<'a>>, Vec<String>) {
    let mut out = Vec::new();
    let mut questions = Vec::new();
    for (i, parts) in contents(req) {
        let mut question = None;
        for (j, p) in parts.iter().enumerate() {
            if let Some(url) = image_url_of(p) {
                let q = *question.get_or_insert_with(|| {
                    questions.push(question_of(parts));
                    questions.len() - 1
                });
                let url = match elided.and_then(|e| e.resolve(url)) {
                    Some(cut) => UrlText::Cut(cut),
                    None => UrlText::Parsed(url),
                };
                out.push(Found {
                    spot: (i, j),
                    url,
                    question: q,
                });
            }
        }
    }
    (out, questions)
}

/// The URL of an image part: `{"type":"image_url","image_url":{"url":…}}`, or the string form.
fn image_url_of(part: &Value) -> Option<&str> {
    if part.get("type").and_then(Value::as_str) != Some("image_url") {
        return None;
    }
    let iu = part.get("image_url")?;
    iu.get("url")
        .and_then(Value::as_str)
        .or_else(|| iu.as_str())
}

fn question_of(parts: &[Value]) -> String {
    let text: Vec<&str> = parts
        .iter()
        .filter(|p| p.get("type").and_then(Value::as_str) == Some("text"))
        .filter_map(|p| p.get("text").and_then(Value::as_str))
        .collect();
    let q = text.join("\n");
    let q = q.trim();
    if q.is_empty() {
        "(no question given)".into()
    } else {
        q.chars().take(1000).collect()
    }
}

fn replace(req: &mut Value, mut texts: HashMap<Spot, String>) {
    let Some(msgs) = req.get_mut("messages").and_then(Value::as_array_mut) else {
        return;
    };
    for (i, m) in msgs.iter_mut().enumerate() {
        let Some(parts) = m.get_mut("content").and_then(Value::as_array_mut) else {
            continue;
        };
        for (j, p) in parts.iter_mut().enumerate() {
            if let Some(t) = texts.remove(&(i, j)) {
                *p = json!({"type": "text", "text": t});
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_and_replaces_in_place() {
        let mut v = json!({"messages": [
            {"role": "system", "content": "s"},
            {"role": "user", "content": [
                {"type": "text", "text": "what is this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,aGk="}},
                {"type": "image_url", "image_url": "https://x/a.png"},
            ]},
        ]});
        let (f, q) = find_images(&v, None);
        assert_eq!(f.len(), 2);
        assert_eq!((f[0].spot, f[1].spot), ((1, 1), (1, 2)));
        assert_eq!(f[1].url.bytes(), b"https://x/a.png");
        assert_eq!((q.len(), q[f[0].question].as_str()), (1, "what is this?"));
        assert!(has_images(&v));
        let mut t = HashMap::new();
        t.insert((1, 1), "A".to_string());
        t.insert((1, 2), "B".to_string());
        replace(&mut v, t);
        assert_eq!(
            v["messages"][1]["content"][1],
            json!({"type": "text", "text": "A"})
        );
        assert_eq!(v["messages"][1]["content"][0]["text"], "what is this?");
        assert!(!has_images(&v));
    }
}
