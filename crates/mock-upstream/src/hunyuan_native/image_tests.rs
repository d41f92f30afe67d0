//! The image actions' checkers, job progression, bound and counts.

use base64::Engine;
use serde_json::{json, Value};

use super::image::*;

fn submit_code(req: &Value) -> &'static str {
    check_submit(req).err().map_or("ok", |r| r.code)
}

fn with(k: &str, v: Value) -> Value {
    let mut r = json!({"Prompt": "a cat"});
    r[k] = v;
    r
}

#[test]
fn the_png_is_the_base64_one() {
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(crate::media::PNG_1X1_B64)
        .unwrap();
    assert_eq!(decoded, PNG_1X1);
}

#[test]
fn submit_members_and_values() {
    assert_eq!(
        check_submit(&json!({"Prompt": "a cat", "Num": 3})).unwrap(),
        Submit {
            prompt: "a cat",
            num: 3
        }
    );
    assert_eq!(check_submit(&json!({"Prompt": "x"})).unwrap().num, 1);
    let full = json!({"Prompt": "a cat", "NegativePrompt": "dog", "Style": "201",
        "Resolution": "768:1024", "Num": 4, "Seed": 42, "Clarity": "x2", "Revise": 0,
        "LogoAdd": 1, "LogoParam": {}, "ContentImage": {"ImageUrl": "http://x/y.png"}});
    assert_eq!(submit_code(&full), "ok");
    assert_eq!(submit_code(&json!({})), "MissingParameter");
    assert_eq!(submit_code(&json!("a cat")), "InvalidParameter");
    let cases = [
        ("prompt", json!("x"), "UnknownParameter"),
        ("RspImgType", json!("url"), "UnknownParameter"),
        ("Prompt", json!(""), "InvalidParameterValue"),
        ("Prompt", json!(7), "InvalidParameterValue"),
        ("Num", json!(0), "InvalidParameterValue"),
        ("Num", json!(5), "InvalidParameterValue"),
        ("Num", json!("2"), "InvalidParameterValue"),
        ("Revise", json!(2), "InvalidParameterValue"),
        ("LogoAdd", json!(true), "InvalidParameterValue"),
        ("Seed", json!(-1), "InvalidParameterValue"),
        ("Style", json!(201), "InvalidParameterValue"),
        ("Resolution", json!("1024x1024"), "InvalidParameterValue"),
    ];
    for (k, v, code) in cases {
        assert_eq!(submit_code(&with(k, v.clone())), code, "{k}: {v}");
    }
}

#[test]
fn resolutions() {
    for ok in ["1024:1024", "768:1280", "1:1"] {
        assert!(resolution_ok(ok), "{ok}");
    }
    for bad in [
        "1024",
        "1024:",
        ":1024",
        "0:1024",
        "+5:5",
        "1024:1024:1",
        "a:b",
        " 1:1",
    ] {
        assert!(!resolution_ok(bad), "{bad}");
    }
}

#[test]
fn query_and_lite_checks() {
    assert_eq!(check_query(&json!({"JobId": "j"})).unwrap(), "j");
    let code = |v: Value| check_query(&v).err().map_or("ok", |r| r.code);
    assert_eq!(code(json!({})), "MissingParameter");
    assert_eq!(code(json!({"JobId": 1})), "InvalidParameterValue");
    assert_eq!(code(json!({"JobId": "j", "X": 1})), "UnknownParameter");
    assert_eq!(
        check_lite(&json!({"Prompt": "p"})).unwrap(),
        Lite { url: false }
    );
    assert_eq!(
        check_lite(&json!({"Prompt": "p", "RspImgType": "url", "LogoAdd": 0})).unwrap(),
        Lite { url: true }
    );
    let code = |v: Value| check_lite(&v).err().map_or("ok", |r| r.code);
    assert_eq!(
        code(json!({"Prompt": "p", "RspImgType": "png"})),
        "InvalidParameterValue"
    );
    assert_eq!(code(json!({"Prompt": "p", "Num": 1})), "UnknownParameter");
    assert_eq!(code(json!({"Prompt": " "})), "InvalidParameterValue");
}

#[test]
fn progression() {
    let seq = |p: &str| (1..=5).map(|n| Status::at(p, n)).collect::<Vec<_>>();
    use Status::*;
    assert_eq!(seq("a cat"), [Waiting, Running, Done, Done, Done]);
    assert_eq!(
        seq("a [fail] cat"),
        [Waiting, Failed, Failed, Failed, Failed]
    );
    assert_eq!(
        seq("[never]"),
        [Waiting, Running, Running, Running, Running]
    );
    assert_eq!(seq("[never][fail]"), seq("[never]"));
}

#[test]
fn answers() {
    let seen = |status| Seen {
        status,
        prompt: "a cat".into(),
        num: 2,
    };
    let done = Value::Object(query_answer("j1", &seen(Status::Done), "h:1"));
    assert_eq!(
        done,
        json!({"JobStatusCode": "5", "JobStatusMsg": "处理完成", "JobErrorCode": "",
            "JobErrorMsg": "", "ResultImage": ["http://h:1/_hy_images/j1-1.png",
            "http://h:1/_hy_images/j1-2.png"], "ResultDetails": ["Success", "Success"],
            "RevisedPrompt": ["a cat"]})
    );
    let running = Value::Object(query_answer("j1", &seen(Status::Running), "h:1"));
    assert_eq!(running["JobStatusCode"], "2");
    assert_eq!(running["ResultImage"], json!([]));
    assert_eq!(running["RevisedPrompt"], json!([]));
    let failed = Value::Object(query_answer("j1", &seen(Status::Failed), "h:1"));
    assert_eq!(failed["JobStatusCode"], "4");
    assert_eq!(
        failed["JobErrorCode"],
        "FailedOperation.ImageGenerateFailed"
    );
    assert_eq!(
        lite_answer(&Lite { url: true }, "h:1", "rid")["ResultImage"],
        "http://h:1/_hy_images/lite-rid.png"
    );
}

#[test]
fn jobs_count_reset_and_stay_bounded() {
    let jobs = Jobs::default();
    jobs.submit("a".into(), "a cat", 1);
    assert_eq!(jobs.query("a").map(|s| s.status), Some(Status::Waiting));
    assert_eq!(jobs.query("b"), None);
    assert_eq!(
        jobs.to_json(),
        json!({"submitted": 1, "queries": 1, "jobs": {"a": 1}})
    );
    jobs.reset();
    assert_eq!(
        jobs.to_json(),
        json!({"submitted": 0, "queries": 0, "jobs": {}})
    );
    // The job goes on where it was.
    assert_eq!(jobs.query("a").map(|s| s.status), Some(Status::Running));
    assert_eq!(jobs.to_json()["jobs"], json!({"a": 1}));
    for i in 0..MAX_JOBS {
        jobs.submit(format!("j{i}"), "p", 1);
    }
    assert_eq!(jobs.query("a"), None, "the oldest is dropped");
    assert!(jobs.query("j0").is_some());
    assert_eq!(
        jobs.to_json()["jobs"].as_object().map(|m| m.len()),
        Some(MAX_JOBS)
    );
}
