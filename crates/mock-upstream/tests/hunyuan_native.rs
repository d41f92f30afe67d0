//! The native Hunyuan endpoint (`POST /`, `X-TC-Action: ChatCompletions`) of the real mock
//! binary: TC3 signatures, Tencent-shaped refusals (HTTP 200), the strict request rules,
//! answers, streams, knobs and stats.

mod common;

use common::mock::Mock;
use common::native::{call, call_with, error_code, now, send, Send};
use serde_json::{json, Value};

fn ask(text: &str) -> Value {
    json!({"Model": "hunyuan-turbos-latest", "Messages": [{"Role": "user", "Content": text}]})
}

fn tools() -> Value {
    json!([{"Type": "function", "Function": {"Name": "get_weather", "Description": "weather",
        "Parameters": "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}}"}}])
}

#[tokio::test]
async fn signatures_actions_and_versions() {
    let mock = Mock::start(false);
    let v = call(&mock, &ask("hi")).await;
    assert_eq!(error_code(&v), "none", "{v}");
    let other = br#"{"Model":"x"}"#;
    let v = call_with(
        &mock,
        &ask("hi"),
        Send {
            signed_body: Some(other),
            ..Send::default()
        },
    )
    .await;
    assert_eq!(error_code(&v), "AuthFailure.SignatureFailure");
    assert_eq!(
        v["Response"]["Error"]["Message"],
        "The provided credentials could not be validated. Please check your signature is correct."
    );
    assert_eq!(v["Response"]["RequestId"].as_str().map(str::len), Some(36));
    let stale = now() - 301;
    let v = call_with(
        &mock,
        &ask("hi"),
        Send {
            timestamp: stale,
            ..Send::default()
        },
    )
    .await;
    assert_eq!(error_code(&v), "AuthFailure.SignatureExpire");
    let v = call_with(
        &mock,
        &ask("hi"),
        Send {
            action: "GetEmbedding",
            ..Send::default()
        },
    )
    .await;
    assert_eq!(error_code(&v), "InvalidAction");
    let v = call_with(
        &mock,
        &ask("hi"),
        Send {
            version: "2023-01-01",
            ..Send::default()
        },
    )
    .await;
    assert_eq!(error_code(&v), "NoSuchVersion");
    // Unsigned: no Authorization at all.
    let r = reqwest::Client::new()
        .post(mock.url("/"))
        .header("x-tc-action", "ChatCompletions")
        .header("x-tc-version", "2023-09-01")
        .json(&ask("hi"))
        .send()
        .await
        .expect("send");
    let v: Value = r.json().await.expect("JSON");
    assert_eq!(error_code(&v), "AuthFailure.SignatureFailure");
}

#[tokio::test]
async fn strict_native_rules() {
    let mock = Mock::start(false);
    let with = |k: &str, val: Value| {
        let mut r = ask("hi");
        r[k] = val;
        r
    };
    let cases = [
        (with("max_tokens", json!(10)), "UnknownParameter"),
        (with("Temperature", Value::Null), "InvalidParameterValue"),
        (with("TopP", Value::Null), "InvalidParameterValue"),
        (
            with("Messages", json!([{"Role": "assistant", "Content": "x"}])),
            "InvalidParameter",
        ),
        (
            with("Messages", json!([{"Role": "user", "Content": ""}])),
            "InvalidParameter",
        ),
        (with("Model", json!("mock-limit")), "LimitExceeded"),
    ];
    for (req, code) in &cases {
        let v = call(&mock, req).await;
        assert_eq!(error_code(&v), *code, "{req}: {v}");
    }
    let many: Vec<Value> = (0..41)
        .map(|i| json!({"Role": if i % 2 == 0 { "user" } else { "assistant" }, "Content": "x"}))
        .collect();
    let v = call(&mock, &with("Messages", json!(many))).await;
    assert_eq!(error_code(&v), "InvalidParameter");
    let stats = mock.stats().await;
    // Every refusal by the checker (not mock-limit, which passed it) is counted.
    assert_eq!(stats["strict_rejections"], 6, "{stats}");
    assert_eq!(stats["requests"]["hunyuan_native"], 7);
}

#[tokio::test]
async fn answers_and_last_request() {
    let mock = Mock::start(false);
    let v = call(&mock, &ask("héllo")).await;
    let r = &v["Response"];
    assert_eq!(
        r["Choices"][0]["Message"]["Content"],
        "mock reply to: héllo"
    );
    assert_eq!(r["Choices"][0]["FinishReason"], "stop");
    assert_eq!(r["Id"], r["RequestId"]);
    assert!(r["Usage"]["TotalTokens"].as_u64() > Some(0));
    let stats = mock.stats().await;
    let last = &stats["last"]["hunyuan_native"];
    assert_eq!(last["path"], "/");
    assert_eq!(last["body"], ask("héllo"));
    assert_eq!(last["headers"]["x-tc-action"], "ChatCompletions");

    let mut req = ask("weather?");
    req["Tools"] = tools();
    let v = call(&mock, &req).await;
    let choice = &v["Response"]["Choices"][0];
    assert_eq!(choice["FinishReason"], "tool_calls");
    let tc = &choice["Message"]["ToolCalls"][0];
    assert_eq!(tc["Function"]["Name"], "get_weather");
    req["Messages"] = json!([
        {"Role": "user", "Content": "weather?"},
        {"Role": "assistant", "Content": "checking", "ToolCalls": [tc]},
        {"Role": "tool", "ToolCallId": tc["Id"], "Content": "sunny"},
    ]);
    let v = call(&mock, &req).await;
    assert_eq!(
        v["Response"]["Choices"][0]["Message"]["Content"],
        "The command printed: sunny"
    );
}

/// The `data:` payloads of a native SSE body.
fn events(body: &str) -> Vec<Value> {
    body.split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|e| serde_json::from_str(e.strip_prefix("data: ").expect("data event")).expect("JSON"))
        .collect()
}

#[tokio::test]
async fn streams_and_knobs() {
    let mock = Mock::start(false);
    let mut req = ask("stream me");
    req["Stream"] = json!(true);
    let r = send(&mock, &req, Send::default()).await;
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let ev = events(&r.text().await.expect("body"));
    let text: String = ev
        .iter()
        .filter_map(|e| {
            e.pointer("/Choices/0/Delta/Content")
                .and_then(Value::as_str)
        })
        .collect();
    assert_eq!(text, "mock reply to: stream me");
    let (last, rest) = ev.split_last().expect("events");
    assert_eq!(last["Choices"][0]["FinishReason"], "stop");
    assert!(rest.iter().all(|e| e["Choices"][0]["FinishReason"] == ""));
    assert!(ev
        .iter()
        .all(|e| e["Usage"].is_object() && e["Id"] == last["Id"]));

    // A tool call streams in two pieces of one Id.
    req["Tools"] = tools();
    let r = send(&mock, &req, Send::default()).await;
    let ev = events(&r.text().await.expect("body"));
    let ids: Vec<&Value> = ev
        .iter()
        .filter_map(|e| e.pointer("/Choices/0/Delta/ToolCalls/0/Id"))
        .collect();
    assert_eq!(ids.len(), 2);
    assert_eq!(ids[0], ids[1]);
    assert_eq!(
        ev.last().unwrap()["Choices"][0]["FinishReason"],
        "tool_calls"
    );

    // Knobs: a cut stream, a status as Tencent's error, moderation's stop.
    let r = send(
        &mock,
        &req,
        Send {
            extra: &[("x-mock-cut-after", "1")],
            ..Send::default()
        },
    )
    .await;
    // The connection is cut after the first event, without the chunked terminator.
    assert!(r.text().await.is_err(), "a cut stream reads as an error");
    let v = call_with(
        &mock,
        &ask("x"),
        Send {
            extra: &[("x-mock-status", "429")],
            ..Send::default()
        },
    )
    .await;
    assert_eq!(error_code(&v), "RequestLimitExceeded");
    let v = call_with(
        &mock,
        &ask("x"),
        Send {
            extra: &[("x-mock-body", "sensitive")],
            ..Send::default()
        },
    )
    .await;
    assert_eq!(v["Response"]["Choices"][0]["FinishReason"], "sensitive");
}
