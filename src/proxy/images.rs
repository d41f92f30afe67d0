//! `/v1/images/generations` served by Hunyuan's native image API (a `hunyuan_native` pool):
//! the gateway drives the provider's job itself and answers OpenAI's images shape.
//!
//! - The route's upstream model chooses the API: a name containing `lite` is the synchronous
//!   `TextToImageLite` (one image; `url` or `b64_json` straight from the provider); any other
//!   is HY-Image's asynchronous `SubmitHunyuanImageJob`, then `QueryHunyuanImageJob` polled with
//!   backoff (0.5 s, ×1.5, at most 5 s apart) until the job is done (`5`), failed (`4`), or the
//!   pool's `timeouts.total_ms` (default here 300 s: a job is minutes at most) has passed (504).
//! - A client that goes away stops the polling at once (nothing keeps querying for nobody).
//! - `response_format: b64_json` on a job downloads its images (32 MiB each at most): the
//!   provider's URLs expire after an hour, so a client that wants the bytes gets them now.
//! - Jobs in flight: `llm_relay_image_jobs{pool}`; ends: `llm_relay_image_jobs_total{pool,result}`.
//! - Every call is signed (TC3) for its own action; an error in a 200 body is mapped like the
//!   chat API's (`hunyuan_native::error_in_body`) to an honest status in OpenAI's shape.

use super::client_watch::ClientWatch;
use crate::core::error::GatewayError;
use crate::observe::metrics::metrics;
use crate::providers::hunyuan_native;
use crate::upstream::route::Target;
use base64::Engine;
use bytes::Bytes;
use pingora::proxy::Session;
use serde_json::{json, Map, Value};
use std::time::{Duration, Instant};

const SUBMIT: &str = "SubmitHunyuanImageJob";
const QUERY: &str = "QueryHunyuanImageJob";
const LITE: &str = "TextToImageLite";
const POLL_FIRST: Duration = Duration::from_millis(500);
const POLL_MAX: Duration = Duration::from_secs(5);
const DEFAULT_DEADLINE: Duration = Duration::from_secs(300);
/// Largest provider answer or downloaded image held.
const MAX_BYTES: usize = 32 << 20;

/// Why a job gives no images: the gateway's own error, or the provider's, already in OpenAI's
/// shape with its honest status.
enum Fail {
    Gateway(GatewayError),
    Provider(u16, Bytes),
}

impl From<GatewayError> for Fail {
    fn from(e: GatewayError) -> Fail {
        Fail::Gateway(e)
    }
}

/// What the OpenAI request asks for.
struct Ask {
    prompt: String,
    n: u64,
    /// `W:H`, from OpenAI's `WxH`.
    resolution: Option<String>,
    b64: bool,
    extra: Map<String, Value>,
}

fn ask_of(body: &[u8]) -> Result<Ask, GatewayError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| GatewayError::bad_param(format!("The body is not JSON: {e}"), "body"))?;
    let prompt = v["prompt"].as_str().unwrap_or("").trim().to_string();
    if prompt.is_empty() {
        return Err(GatewayError::bad_param("`prompt` is required.", "prompt"));
    }
    let n = v["n"].as_u64().unwrap_or(1);
    if !(1..=4).contains(&n) {
        return Err(GatewayError::bad_param(
            "Hunyuan's image API makes 1 to 4 images per request (`n`).",
            "n",
        ));
    }
    let resolution = match v["size"].as_str() {
        None | Some("auto") => None,
        Some(s) => match s.split_once('x') {
            Some((w, h)) if w.parse::<u32>().is_ok() && h.parse::<u32>().is_ok() => {
                Some(format!("{w}:{h}"))
            }
            _ => {
                return Err(GatewayError::bad_param(
                    format!("`size` must be WIDTHxHEIGHT, e.g. 1024x1024, not `{s}`."),
                    "size",
                ))
            }
        },
    };
    let b64 = match v["response_format"].as_str() {
        None | Some("url") => false,
        Some("b64_json") => true,
        Some(other) => {
            return Err(GatewayError::bad_param(
                format!("`response_format` is `url` or `b64_json`, not `{other}`."),
                "response_format",
            ))
        }
    };
    // Hunyuan's own knobs, when a client sends them (the OpenAI SDK's `extra_body`).
    let mut extra = Map::new();
    for (from, to) in [
        ("negative_prompt", "NegativePrompt"),
        ("style", "Style"),
        ("seed", "Seed"),
    ] {
        if let Some(x) = v.get(from).filter(|x| !x.is_null()) {
            extra.insert(to.into(), x.clone());
        }
    }
    Ok(Ask {
        prompt,
        n,
        resolution,
        b64,
        extra,
    })
}

/// Calls one action of the pool's native API: the `Response` object of a 200 answer that is
/// not an error, else the error for the client.
async fn call(
    client: &reqwest::Client,
    target: &Target,
    action: &str,
    body: &Value,
) -> Result<Value, Fail> {
    let pool = &target.pool;
    let unreachable = || {
        Fail::Gateway(GatewayError::BadGateway {
            message: format!("The upstream pool `{}` could not be reached.", pool.name),
        })
    };
    let (_, member) = pool.select().ok_or_else(|| GatewayError::Unavailable {
        message: format!("No upstream member of pool `{}` is usable.", pool.name),
    })?;
    let scheme = if member.tls { "https" } else { "http" };
    let url = format!("{scheme}://{}{}/", member.authority, member.base_path);
    let payload = serde_json::to_vec(body).map_err(|_| unreachable())?;
    let signed = pool
        .provider
        .tc3_headers(action, &member.authority, &payload);
    let mut req = client.post(url).body(payload);
    for (name, value) in signed {
        req = req.header(name, value);
    }
    let resp = req.send().await.map_err(|_| unreachable())?;
    let status = resp.status().as_u16();
    let bytes = read_capped(resp).await.ok_or_else(unreachable)?;
    if let Some((status, body)) = pool.provider.error_in_ok_body(&bytes) {
        return Err(Fail::Provider(status, Bytes::from(body)));
    }
    if !(200..300).contains(&status) {
        let (status, body) = hunyuan_native::error_to_chat(status, &bytes);
        return Err(Fail::Provider(status, Bytes::from(body)));
    }
    let v: Value = serde_json::from_slice(&bytes).map_err(|_| {
        Fail::Gateway(GatewayError::BadGateway {
            message: format!(
                "The upstream pool `{}` sent an answer that is not JSON.",
                pool.name
            ),
        })
    })?;
    Ok(v.get("Response").cloned().unwrap_or(Value::Null))
}

async fn read_capped(resp: reqwest::Response) -> Option<Vec<u8>> {
    use futures::StreamExt;
    let mut body = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.ok()?;
        if body.len() + chunk.len() > MAX_BYTES {
            return None;
        }
        body.extend_from_slice(&chunk);
    }
    Some(body)
}

/// Counts a job in flight for as long as it runs.
struct InFlight<'a>(&'a str);

impl<'a> InFlight<'a> {
    fn new(pool: &'a str) -> Self {
        metrics().image_jobs.with_label_values(&[pool]).inc();
        InFlight(pool)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        metrics().image_jobs.with_label_values(&[self.0]).dec();
    }
}

fn ended(pool: &str, result: &str) {
    metrics()
        .image_jobs_total
        .with_label_values(&[pool, result])
        .inc();
}

/// Serves one images request: the status and OpenAI body to answer with (the provider's
/// errors included); `Ok(None)`: the client went away (nobody to answer).
pub async fn generate(
    session: &Session,
    client: &reqwest::Client,
    target: &Target,
    body: &[u8],
    started: Instant,
) -> Result<Option<(u16, Bytes)>, GatewayError> {
    let ask = ask_of(body)?;
    let pool = target.pool.name.as_str();
    let lite = target.model.to_ascii_lowercase().contains("lite");
    let watch = ClientWatch::new(session);
    let _flight = InFlight::new(pool);
    let work = async {
        if lite {
            run_lite(client, target, &ask).await
        } else {
            run_job(client, target, &ask, started).await
        }
    };
    let answer = tokio::select! {
        r = work => r,
        _ = watch.gone() => {
            ended(pool, "client_gone");
            return Ok(None);
        }
    };
    ended(pool, if answer.is_ok() { "done" } else { "failed" });
    match answer {
        Ok(b) => Ok(Some((200, b))),
        Err(Fail::Provider(status, body)) => Ok(Some((status, body))),
        Err(Fail::Gateway(e)) => Err(e),
    }
}

async fn run_lite(client: &reqwest::Client, target: &Target, ask: &Ask) -> Result<Bytes, Fail> {
    let mut req = ask.extra.clone();
    req.remove("Seed"); // not a parameter of the lite API
    req.insert("Prompt".into(), json!(ask.prompt));
    req.insert(
        "RspImgType".into(),
        json!(if ask.b64 { "base64" } else { "url" }),
    );
    if let Some(r) = &ask.resolution {
        req.insert("Resolution".into(), json!(r));
    }
    let r = call(client, target, LITE, &Value::Object(req)).await?;
    let image = r["ResultImage"].as_str().unwrap_or_default().to_string();
    let item = if ask.b64 {
        json!({"b64_json": image})
    } else {
        json!({"url": image})
    };
    Ok(answer(vec![item]))
}

async fn run_job(
    client: &reqwest::Client,
    target: &Target,
    ask: &Ask,
    started: Instant,
) -> Result<Bytes, Fail> {
    let deadline = started + target.pool.timeouts.total.unwrap_or(DEFAULT_DEADLINE);
    let mut req = ask.extra.clone();
    req.insert("Prompt".into(), json!(ask.prompt));
    req.insert("Num".into(), json!(ask.n));
    if let Some(r) = &ask.resolution {
        req.insert("Resolution".into(), json!(r));
    }
    let submitted = call(client, target, SUBMIT, &Value::Object(req)).await?;
    let Some(job) = submitted["JobId"].as_str().map(str::to_owned) else {
        return Err(Fail::Gateway(GatewayError::BadGateway {
            message: "The image job was not accepted (no JobId).".into(),
        }));
    };
    let mut pause = POLL_FIRST;
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Err(Fail::Gateway(GatewayError::GatewayTimeout {
                message: format!("The image job {job} did not finish in time; it was abandoned."),
            }));
        }
        tokio::time::sleep(pause.min(deadline - now)).await;
        pause = (pause.mul_f32(1.5)).min(POLL_MAX);
        let r = call(client, target, QUERY, &json!({"JobId": job})).await?;
        match r["JobStatusCode"].as_str().unwrap_or("") {
            "5" => return done(client, &r, ask.b64).await,
            "4" => return Err(job_failed(&r)),
            _ => {}
        }
    }
}

/// A failed job's error, mapped as Tencent's errors are (`JobErrorCode`).
fn job_failed(r: &Value) -> Fail {
    let code = r["JobErrorCode"].as_str().filter(|c| !c.is_empty());
    let message = r["JobErrorMsg"].as_str().unwrap_or("the image job failed");
    let err = json!({"Response": {"Error": {
        "Code": code.unwrap_or("FailedOperation"), "Message": message},
        "RequestId": r["RequestId"]}});
    let bytes = serde_json::to_vec(&err).unwrap_or_default();
    match hunyuan_native::error_in_body(&bytes) {
        Some((status, body)) => Fail::Provider(status, Bytes::from(body)),
        None => Fail::Gateway(GatewayError::BadGateway {
            message: message.to_string(),
        }),
    }
}

async fn done(client: &reqwest::Client, r: &Value, b64: bool) -> Result<Bytes, Fail> {
    let urls: Vec<&str> = r["ResultImage"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let revised = r["RevisedPrompt"].as_array();
    let mut data = Vec::with_capacity(urls.len());
    for (i, url) in urls.iter().enumerate() {
        let mut item = if b64 {
            json!({"b64_json": download(client, url).await?})
        } else {
            json!({"url": url})
        };
        if let Some(p) = revised.and_then(|a| a.get(i)).and_then(Value::as_str) {
            item["revised_prompt"] = json!(p);
        }
        data.push(item);
    }
    Ok(answer(data))
}

async fn download(client: &reqwest::Client, url: &str) -> Result<String, GatewayError> {
    let failed = || GatewayError::BadGateway {
        message: "An image of the finished job could not be downloaded.".into(),
    };
    let resp = client.get(url).send().await.map_err(|_| failed())?;
    if !resp.status().is_success() {
        return Err(failed());
    }
    let bytes = read_capped(resp).await.ok_or_else(failed)?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

fn answer(data: Vec<Value>) -> Bytes {
    let created = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    Bytes::from(json!({"created": created, "data": data}).to_string())
}
