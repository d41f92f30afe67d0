//! Hunyuan's native image actions on the real mock binary: `SubmitHunyuanImageJob` and the
//! deterministic progression of `QueryHunyuanImageJob`, the images it names, `TextToImageLite`,
//! refusals, knobs and the `hunyuan_image` stats.

mod common;

use std::time::{Duration, Instant};

use base64::Engine;
use common::mock::Mock;
use common::native::{act, call_with, error_code, Send};
use serde_json::{json, Value};

const SUBMIT: &str = "SubmitHunyuanImageJob";
const QUERY: &str = "QueryHunyuanImageJob";
const LITE: &str = "TextToImageLite";
const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

async fn submit(mock: &Mock, body: Value) -> String {
    let v = act(mock, SUBMIT, &body).await;
    assert_eq!(error_code(&v), "none", "{v}");
    assert_eq!(v["Response"]["RequestId"].as_str().map(str::len), Some(36));
    v["Response"]["JobId"]
        .as_str()
        .expect("a JobId")
        .to_string()
}

async fn query(mock: &Mock, job: &str) -> Value {
    let v = act(mock, QUERY, &json!({"JobId": job})).await;
    assert_eq!(error_code(&v), "none", "{v}");
    v["Response"].clone()
}

/// The status codes of `n` queries of `job`.
async fn statuses(mock: &Mock, job: &str, n: usize) -> Vec<String> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let r = query(mock, job).await;
        out.push(r["JobStatusCode"].as_str().unwrap_or("?").to_string());
    }
    out
}

async fn get_png(url: &str) -> Vec<u8> {
    let r = reqwest::get(url).await.expect("GET image");
    assert_eq!(r.status(), 200, "{url}");
    assert_eq!(r.headers()["content-type"], "image/png");
    let bytes = r.bytes().await.expect("image bytes").to_vec();
    assert!(bytes.starts_with(PNG_SIGNATURE), "{url} is a PNG");
    bytes
}

#[tokio::test]
async fn submit_query_until_done_and_fetch_the_images() {
    let mock = Mock::start(false);
    let job = submit(
        &mock,
        json!({"Prompt": "一只猫", "Num": 2, "Resolution": "768:1024"}),
    )
    .await;
    let stats = mock.stats().await;
    assert_eq!(
        stats["hunyuan_image"],
        json!({"submitted": 1, "queries": 0, "jobs": {&job: 0}})
    );

    let waiting = query(&mock, &job).await;
    assert_eq!(waiting["JobStatusCode"], "1");
    assert_eq!(waiting["JobStatusMsg"], "排队中");
    assert_eq!(waiting["ResultImage"], json!([]));
    assert_eq!(waiting["JobErrorCode"], "");
    assert_eq!(waiting["JobErrorMsg"], "");
    let running = query(&mock, &job).await;
    assert_eq!(running["JobStatusCode"], "2");
    assert_eq!(running["ResultImage"], json!([]));

    let done = query(&mock, &job).await;
    assert_eq!(done["JobStatusCode"], "5");
    assert_eq!(done["JobStatusMsg"], "处理完成");
    assert_eq!(done["ResultDetails"], json!(["Success", "Success"]));
    assert_eq!(done["RevisedPrompt"], json!(["一只猫"]));
    let urls: Vec<String> = (1..=2)
        .map(|n| format!("http://{}/_hy_images/{job}-{n}.png", mock.addr))
        .collect();
    assert_eq!(done["ResultImage"], json!(urls));
    for u in &urls {
        get_png(u).await;
    }
    assert_eq!(statuses(&mock, &job, 1).await, ["5"], "done stays done");

    let stats = mock.stats().await;
    assert_eq!(
        stats["hunyuan_image"],
        json!({"submitted": 1, "queries": 4, "jobs": {&job: 4}})
    );
    assert_eq!(stats["requests"]["hunyuan_native"], 5);
    let last = &stats["last"]["hunyuan_native"];
    assert_eq!(last["headers"]["x-tc-action"], QUERY);
    assert_eq!(last["body"], json!({"JobId": job}));
}

#[tokio::test]
async fn fail_never_and_unknown_jobs() {
    let mock = Mock::start(false);
    let failing = submit(&mock, json!({"Prompt": "a [fail] cat"})).await;
    let first = query(&mock, &failing).await;
    assert_eq!(first["JobStatusCode"], "1");
    let failed = query(&mock, &failing).await;
    assert_eq!(failed["JobStatusCode"], "4");
    assert_eq!(failed["JobStatusMsg"], "处理失败");
    assert_eq!(
        failed["JobErrorCode"],
        "FailedOperation.ImageGenerateFailed"
    );
    assert!(failed["JobErrorMsg"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));
    assert_eq!(failed["ResultImage"], json!([]));
    assert_eq!(statuses(&mock, &failing, 2).await, ["4", "4"]);

    let never = submit(&mock, json!({"Prompt": "[never] a cat"})).await;
    assert_eq!(
        statuses(&mock, &never, 6).await,
        ["1", "2", "2", "2", "2", "2"]
    );

    let v = act(&mock, QUERY, &json!({"JobId": "no-such-job"})).await;
    assert_eq!(error_code(&v), "ResourceNotFound");
    let stats = mock.stats().await;
    assert_eq!(stats["hunyuan_image"]["jobs"][&never], 6);
    assert_eq!(stats["hunyuan_image"]["queries"], 10, "{stats}");
    assert_eq!(
        stats["strict_rejections"], 0,
        "an unknown job is no rule broken"
    );
}

#[tokio::test]
async fn strict_members_and_values() {
    let mock = Mock::start(false);
    let cases = [
        (
            SUBMIT,
            json!({"Prompt": "x", "prompt": "x"}),
            "UnknownParameter",
        ),
        (
            SUBMIT,
            json!({"Prompt": "x", "Size": "1024x1024"}),
            "UnknownParameter",
        ),
        (SUBMIT, json!({"NegativePrompt": "x"}), "MissingParameter"),
        (SUBMIT, json!({"Prompt": ""}), "InvalidParameterValue"),
        (
            SUBMIT,
            json!({"Prompt": "x", "Resolution": "1024x1024"}),
            "InvalidParameterValue",
        ),
        (
            SUBMIT,
            json!({"Prompt": "x", "Num": 5}),
            "InvalidParameterValue",
        ),
        (
            SUBMIT,
            json!({"Prompt": "x", "Revise": 2}),
            "InvalidParameterValue",
        ),
        (QUERY, json!({}), "MissingParameter"),
        (
            LITE,
            json!({"Prompt": "x", "RspImgType": "png"}),
            "InvalidParameterValue",
        ),
        (LITE, json!({"Prompt": "x", "Num": 1}), "UnknownParameter"),
    ];
    for (action, body, code) in &cases {
        let v = act(&mock, action, body).await;
        assert_eq!(error_code(&v), *code, "{action} {body}: {v}");
    }
    let stats = mock.stats().await;
    assert_eq!(stats["strict_rejections"], cases.len());
    assert_eq!(stats["hunyuan_image"]["submitted"], 0);
}

#[tokio::test]
async fn lite_in_base64_and_as_a_url() {
    let mock = Mock::start(false);
    let v = act(
        &mock,
        LITE,
        &json!({"Prompt": "a cat", "Resolution": "1024:1024"}),
    )
    .await;
    let b64 = v["Response"]["ResultImage"].as_str().expect("base64 image");
    let png = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("valid base64");
    assert!(png.starts_with(PNG_SIGNATURE));

    let v = act(
        &mock,
        LITE,
        &json!({"Prompt": "a cat", "RspImgType": "url"}),
    )
    .await;
    let url = v["Response"]["ResultImage"].as_str().expect("a URL");
    let rid = v["Response"]["RequestId"].as_str().expect("RequestId");
    assert_eq!(
        url,
        format!("http://{}/_hy_images/lite-{rid}.png", mock.addr)
    );
    assert_eq!(get_png(url).await, png, "the same PNG both ways");
    assert_eq!(mock.stats().await["hunyuan_image"]["submitted"], 0);
}

#[tokio::test]
async fn signatures_versions_and_knobs() {
    let mock = Mock::start(false);
    let body = json!({"Prompt": "a cat"});
    let other = br#"{"Prompt":"a dog"}"#;
    let v = call_with(
        &mock,
        &body,
        Send {
            action: SUBMIT,
            signed_body: Some(other),
            ..Send::default()
        },
    )
    .await;
    assert_eq!(error_code(&v), "AuthFailure.SignatureFailure");
    let unsigned: Value = reqwest::Client::new()
        .post(mock.url("/"))
        .header("x-tc-action", QUERY)
        .header("x-tc-version", "2023-09-01")
        .json(&json!({"JobId": "x"}))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("JSON");
    assert_eq!(error_code(&unsigned), "AuthFailure.SignatureFailure");
    let v = call_with(
        &mock,
        &body,
        Send {
            action: LITE,
            version: "2022-12-29",
            ..Send::default()
        },
    )
    .await;
    assert_eq!(error_code(&v), "NoSuchVersion");
    let v = call_with(
        &mock,
        &body,
        Send {
            action: SUBMIT,
            extra: &[("x-mock-status", "429")],
            ..Send::default()
        },
    )
    .await;
    assert_eq!(error_code(&v), "RequestLimitExceeded");
    assert_eq!(mock.stats().await["hunyuan_image"]["submitted"], 0);

    let job = submit(&mock, body).await;
    let started = Instant::now();
    let v = call_with(
        &mock,
        &json!({"JobId": job}),
        Send {
            action: QUERY,
            extra: &[("x-mock-delay-ms", "300")],
            ..Send::default()
        },
    )
    .await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(v["Response"]["JobStatusCode"], "1");

    // A reset zeroes the counts, not the job's progress.
    mock.reset().await;
    assert_eq!(
        mock.stats().await["hunyuan_image"],
        json!({"submitted": 0, "queries": 0, "jobs": {}})
    );
    assert_eq!(statuses(&mock, &job, 2).await, ["2", "5"]);
    assert_eq!(
        mock.stats().await["hunyuan_image"]["jobs"],
        json!({&job: 2})
    );
}
