//! Hunyuan's image actions on `POST /` (service `hunyuan`, version 2023-09-01, signed and
//! refused like `ChatCompletions`):
//! * `SubmitHunyuanImageJob` `{Prompt, NegativePrompt?, Style?, Resolution? ("W:H"), Num?
//!   (1-4), Seed?, Clarity?, ContentImage?, Revise? (0/1), LogoAdd? (0/1), LogoParam?}` →
//!   `{JobId}`. Jobs live in [`Jobs`], at most [`MAX_JOBS`] of them (the oldest go first).
//! * `QueryHunyuanImageJob` `{JobId}` → `{JobStatusCode, JobStatusMsg, JobErrorCode,
//!   JobErrorMsg, ResultImage, ResultDetails, RevisedPrompt}`. The status follows the number
//!   of queries of that job, so tests can predict it: "1" (waiting) on the first, "2"
//!   (running) on the second, "5" (done) from the third on. A prompt with `[fail]` is "4"
//!   (failed, `FailedOperation.ImageGenerateFailed`) from the second query on; one with
//!   `[never]` stays "2" (and wins over `[fail]`). Done, `ResultImage` holds `Num` URLs
//!   `http://<Host>/_hy_images/<JobId>-<n>.png` (n from 1) and `RevisedPrompt` the prompt.
//!   An unknown `JobId` is `ResourceNotFound`.
//! * `TextToImageLite` `{Prompt, NegativePrompt?, Style?, Resolution?, LogoAdd?, LogoParam?,
//!   RspImgType? ("base64" | "url")}` → `{ResultImage}`: the PNG in base64, or its URL
//!   `http://<Host>/_hy_images/lite-<RequestId>.png`.
//!
//! `GET /_hy_images/{name}` serves [`PNG_1X1`] for any name. Unknown members are
//! `UnknownParameter`, bad values `InvalidParameterValue`, a missing one `MissingParameter`
//! (all counted in `strict_rejections`). `/_stats` shows `hunyuan_image`: jobs submitted,
//! queries, and the queries of each job ([`Jobs::to_json`]).

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};

use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use super::check::{invalid_value, missing, refuse, unknown};
use super::Refusal;
use crate::app::{now_secs, App};
use crate::media::PNG_1X1_B64;

pub const SUBMIT: &str = "SubmitHunyuanImageJob";
pub const QUERY: &str = "QueryHunyuanImageJob";
pub const LITE: &str = "TextToImageLite";

/// Where the mock serves the images it names in its answers.
pub const IMAGES_PATH: &str = "/_hy_images/";

/// Jobs kept; a long benchmark must not grow the mock without bound.
pub const MAX_JOBS: usize = 10_000;

/// A valid 1x1 transparent PNG (the bytes of [`PNG_1X1_B64`]).
pub const PNG_1X1: [u8; 70] = [
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0x64, 0x60, 0xf8, 0x5f,
    0x0f, 0x00, 0x02, 0x87, 0x01, 0x80, 0xeb, 0x47, 0xba, 0x92, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

/// The members of `SubmitHunyuanImageJobRequest` (Tencent's SDK).
const SUBMIT_MEMBERS: [&str; 11] = [
    "Prompt",
    "NegativePrompt",
    "Style",
    "Resolution",
    "Num",
    "Seed",
    "Clarity",
    "ContentImage",
    "Revise",
    "LogoAdd",
    "LogoParam",
];

/// The members of `TextToImageLiteRequest`.
const LITE_MEMBERS: [&str; 7] = [
    "Prompt",
    "NegativePrompt",
    "Style",
    "Resolution",
    "LogoAdd",
    "LogoParam",
    "RspImgType",
];

/// `GET /_hy_images/{name}`.
pub async fn png() -> Response {
    (
        [(header::CONTENT_TYPE, "image/png")],
        bytes::Bytes::from_static(&PNG_1X1),
    )
        .into_response()
}

/// A job's state, as `QueryHunyuanImageJob` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Waiting,
    Running,
    Failed,
    Done,
}

impl Status {
    /// The state at the `polls`-th query (from 1) of a job asked for `prompt`.
    pub fn at(prompt: &str, polls: u64) -> Status {
        match polls {
            0 | 1 => Status::Waiting,
            _ if prompt.contains("[never]") => Status::Running,
            _ if prompt.contains("[fail]") => Status::Failed,
            2 => Status::Running,
            _ => Status::Done,
        }
    }

    fn code(self) -> &'static str {
        match self {
            Status::Waiting => "1",
            Status::Running => "2",
            Status::Failed => "4",
            Status::Done => "5",
        }
    }

    fn message(self) -> &'static str {
        match self {
            Status::Waiting => "排队中",
            Status::Running => "处理中",
            Status::Failed => "处理失败",
            Status::Done => "处理完成",
        }
    }
}

struct Job {
    prompt: String,
    num: u64,
    /// Queries so far; drives the status and survives `/_stats/reset`.
    polls: u64,
}

#[derive(Default)]
struct Book {
    jobs: HashMap<String, Job>,
    /// Job ids oldest first, to drop the oldest beyond [`MAX_JOBS`].
    order: VecDeque<String>,
    /// Since the last reset: jobs submitted, queries, and queries per job.
    submitted: u64,
    queries: u64,
    counted: HashMap<String, u64>,
}

/// The submitted jobs (shared App state).
#[derive(Default)]
pub struct Jobs {
    book: Mutex<Book>,
}

/// What a query saw.
#[derive(Debug, PartialEq, Eq)]
pub struct Seen {
    pub status: Status,
    pub prompt: String,
    pub num: u64,
}

impl Jobs {
    fn book(&self) -> MutexGuard<'_, Book> {
        // A panic elsewhere cannot leave the book half-written: every update is one step.
        self.book.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn submit(&self, id: String, prompt: &str, num: u64) {
        let mut b = self.book();
        b.submitted += 1;
        b.counted.insert(id.clone(), 0);
        b.order.push_back(id.clone());
        let job = Job {
            prompt: prompt.to_string(),
            num,
            polls: 0,
        };
        b.jobs.insert(id, job);
        while b.order.len() > MAX_JOBS {
            if let Some(old) = b.order.pop_front() {
                b.jobs.remove(&old);
                b.counted.remove(&old);
            }
        }
    }

    /// Counts a query of `id`; `None` for a job the mock does not know.
    pub fn query(&self, id: &str) -> Option<Seen> {
        let mut b = self.book();
        let job = b.jobs.get_mut(id)?;
        job.polls += 1;
        let seen = Seen {
            status: Status::at(&job.prompt, job.polls),
            prompt: job.prompt.clone(),
            num: job.num,
        };
        b.queries += 1;
        *b.counted.entry(id.to_string()).or_insert(0) += 1;
        Some(seen)
    }

    /// `{"submitted": N, "queries": N, "jobs": {<JobId>: <queries>}}`, since the last reset.
    pub fn to_json(&self) -> Value {
        let b = self.book();
        json!({"submitted": b.submitted, "queries": b.queries, "jobs": b.counted})
    }

    /// Zeroes the counts; the jobs themselves go on (a test may reset between polls).
    pub fn reset(&self) {
        let mut b = self.book();
        b.submitted = 0;
        b.queries = 0;
        b.counted.clear();
    }
}

/// What a checked submit asks for.
#[derive(Debug, PartialEq, Eq)]
pub struct Submit<'a> {
    pub prompt: &'a str,
    pub num: u64,
}

/// What a checked lite request asks for.
#[derive(Debug, PartialEq, Eq)]
pub struct Lite {
    pub url: bool,
}

fn object(req: &Value) -> Result<&Map<String, Value>, Refusal> {
    req.as_object().ok_or_else(|| {
        refuse(
            "InvalidParameter",
            "The request body must be a JSON object.",
        )
    })
}

fn only(obj: &Map<String, Value>, members: &[&str]) -> Result<(), Refusal> {
    match obj.keys().find(|k| !members.contains(&k.as_str())) {
        Some(k) => Err(unknown(k)),
        None => Ok(()),
    }
}

fn prompt(obj: &Map<String, Value>) -> Result<&str, Refusal> {
    match obj.get("Prompt") {
        Some(Value::String(p)) if !p.trim().is_empty() => Ok(p),
        Some(_) => Err(invalid_value("Prompt")),
        None => Err(missing("Prompt")),
    }
}

/// `W:H`, both positive decimal integers.
pub fn resolution_ok(s: &str) -> bool {
    let side = |x: &str| {
        !x.is_empty()
            && x.bytes().all(|b| b.is_ascii_digit())
            && x.parse::<u32>().is_ok_and(|n| n > 0)
    };
    s.split_once(':').is_some_and(|(w, h)| side(w) && side(h))
}

/// The members both actions share: strings, the resolution, the logo switch and settings.
fn common(obj: &Map<String, Value>) -> Result<(), Refusal> {
    let string = |k: &str| obj.get(k).is_none_or(Value::is_string);
    let bad = [
        ("NegativePrompt", string("NegativePrompt")),
        ("Style", string("Style")),
        (
            "Resolution",
            obj.get("Resolution")
                .is_none_or(|r| r.as_str().is_some_and(resolution_ok)),
        ),
        ("LogoAdd", switch(obj.get("LogoAdd"))),
        (
            "LogoParam",
            obj.get("LogoParam").is_none_or(Value::is_object),
        ),
    ];
    match bad.iter().find(|(_, ok)| !ok) {
        Some((name, _)) => Err(invalid_value(name)),
        None => Ok(()),
    }
}

/// Absent, 0 or 1.
fn switch(v: Option<&Value>) -> bool {
    v.is_none_or(|v| matches!(v.as_u64(), Some(0 | 1)))
}

/// Checks a `SubmitHunyuanImageJob` request.
pub fn check_submit(req: &Value) -> Result<Submit<'_>, Refusal> {
    let obj = object(req)?;
    only(obj, &SUBMIT_MEMBERS)?;
    let prompt = prompt(obj)?;
    common(obj)?;
    let num = match obj.get("Num") {
        None => 1,
        Some(n) => n
            .as_u64()
            .filter(|n| (1..=4).contains(n))
            .ok_or_else(|| invalid_value("Num"))?,
    };
    let bad = [
        (
            "Seed",
            obj.get("Seed")
                .is_none_or(|s| s.as_u64().is_some_and(|s| s <= u64::from(u32::MAX))),
        ),
        ("Clarity", obj.get("Clarity").is_none_or(Value::is_string)),
        (
            "ContentImage",
            obj.get("ContentImage").is_none_or(Value::is_object),
        ),
        ("Revise", switch(obj.get("Revise"))),
    ];
    match bad.iter().find(|(_, ok)| !ok) {
        Some((name, _)) => Err(invalid_value(name)),
        None => Ok(Submit { prompt, num }),
    }
}

/// Checks a `QueryHunyuanImageJob` request; gives the `JobId`.
pub fn check_query(req: &Value) -> Result<&str, Refusal> {
    let obj = object(req)?;
    only(obj, &["JobId"])?;
    match obj.get("JobId") {
        Some(Value::String(id)) if !id.is_empty() => Ok(id),
        Some(_) => Err(invalid_value("JobId")),
        None => Err(missing("JobId")),
    }
}

/// Checks a `TextToImageLite` request.
pub fn check_lite(req: &Value) -> Result<Lite, Refusal> {
    let obj = object(req)?;
    only(obj, &LITE_MEMBERS)?;
    prompt(obj)?;
    common(obj)?;
    match obj.get("RspImgType").map(Value::as_str) {
        None | Some(Some("base64")) => Ok(Lite { url: false }),
        Some(Some("url")) => Ok(Lite { url: true }),
        Some(_) => Err(invalid_value("RspImgType")),
    }
}

/// The URL of an image the mock names, on the host the client called.
pub fn image_url(host: &str, name: &str) -> String {
    format!("http://{host}{IMAGES_PATH}{name}.png")
}

/// A query's answer (without `RequestId`).
pub fn query_answer(job_id: &str, seen: &Seen, host: &str) -> Map<String, Value> {
    let done = seen.status == Status::Done;
    let failed = seen.status == Status::Failed;
    let images: Vec<String> = if done {
        (1..=seen.num)
            .map(|n| image_url(host, &format!("{job_id}-{n}")))
            .collect()
    } else {
        Vec::new()
    };
    let details = vec!["Success"; images.len()];
    let revised: Vec<&str> = if done { vec![&seen.prompt] } else { Vec::new() };
    let (err_code, err_msg) = if failed {
        (
            "FailedOperation.ImageGenerateFailed",
            "图片生成失败 (mock: the prompt asked for [fail])",
        )
    } else {
        ("", "")
    };
    let answer = json!({"JobStatusCode": seen.status.code(), "JobStatusMsg": seen.status.message(),
        "JobErrorCode": err_code, "JobErrorMsg": err_msg, "ResultImage": images,
        "ResultDetails": details, "RevisedPrompt": revised});
    match answer {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// A lite answer (without `RequestId`).
pub fn lite_answer(lite: &Lite, host: &str, request_id: &str) -> Map<String, Value> {
    let image = if lite.url {
        image_url(host, &format!("lite-{request_id}"))
    } else {
        PNG_1X1_B64.to_string()
    };
    let mut m = Map::new();
    m.insert("ResultImage".into(), Value::String(image));
    m
}

/// Runs an image `action` on a signed request: the answer's members (without `RequestId`).
/// The checker's refusals count in `strict_rejections`; an unknown job does not.
pub fn run(
    app: &App,
    action: &str,
    req: &Value,
    host: &str,
    request_id: &str,
) -> Result<Map<String, Value>, Refusal> {
    match action {
        SUBMIT => {
            let s = counted(app, check_submit(req))?;
            let id = format!("{}-{}", now_secs(), super::request_id(app.next_id()));
            app.hunyuan_images.submit(id.clone(), s.prompt, s.num);
            let mut m = Map::new();
            m.insert("JobId".into(), Value::String(id));
            Ok(m)
        }
        QUERY => {
            let id = counted(app, check_query(req))?;
            let seen = app.hunyuan_images.query(id).ok_or_else(|| {
                refuse(
                    "ResourceNotFound",
                    format!("The job `{id}` does not exist."),
                )
            })?;
            Ok(query_answer(id, &seen, host))
        }
        LITE => {
            let lite = counted(app, check_lite(req))?;
            Ok(lite_answer(&lite, host, request_id))
        }
        _ => Err(refuse(
            "InvalidAction",
            format!("The action `{action}` is not an image action."),
        )),
    }
}

fn counted<T>(app: &App, checked: Result<T, Refusal>) -> Result<T, Refusal> {
    if checked.is_err() {
        app.stats
            .strict_rejections
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    checked
}
