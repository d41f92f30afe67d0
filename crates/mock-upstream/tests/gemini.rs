//! The Gemini endpoints of the real mock binary: auth, strict rules, answers, streams, stats.

mod common;

use std::time::Duration;

use common::mock::Mock;
use serde_json::{json, Value};

const KEY: (&str, &str) = ("x-goog-api-key", "test-key");

async fn post(
    mock: &Mock,
    path: &str,
    body: &Value,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut rb = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
        .post(mock.url(path))
        .json(body);
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    rb.send().await.expect("send")
}

async fn post_json(
    mock: &Mock,
    path: &str,
    body: &Value,
    headers: &[(&str, &str)],
) -> (u16, Value) {
    let r = post(mock, path, body, headers).await;
    (r.status().as_u16(), r.json().await.expect("JSON body"))
}

const GENERATE: &str = "/v1beta/models/gemini-2.5-flash:generateContent";

fn ask(text: &str) -> Value {
    json!({"contents": [{"role": "user", "parts": [{"text": text}]}]})
}

fn shell_tools() -> Value {
    json!([{"functionDeclarations": [{"name": "run_shell_command", "description": "run",
        "parametersJsonSchema": {"type": "object", "properties": {"command": {"type": "string"}},
            "required": ["command"]}}]}])
}

#[tokio::test]
async fn auth_is_google_shaped() {
    let mock = Mock::start(false);
    let (s, v) = post_json(&mock, GENERATE, &ask("hi"), &[]).await;
    assert_eq!(s, 403);
    assert_eq!(v["error"]["code"], 403);
    assert_eq!(v["error"]["status"], "PERMISSION_DENIED");
    let (s, v) = post_json(
        &mock,
        GENERATE,
        &ask("hi"),
        &[("authorization", "Bearer sk")],
    )
    .await;
    assert_eq!(
        (s, v["error"]["status"].as_str()),
        (401, Some("UNAUTHENTICATED"))
    );
    let (s, _) = post_json(&mock, &format!("{GENERATE}?key=k"), &ask("hi"), &[]).await;
    assert_eq!(s, 200);
    let (s, _) = post_json(&mock, GENERATE, &ask("hi"), &[KEY]).await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn text_answer_and_last_request() {
    let mock = Mock::start(false);
    let (s, v) = post_json(&mock, GENERATE, &ask("hello"), &[KEY]).await;
    assert_eq!(s, 200);
    let c = &v["candidates"][0];
    assert_eq!(
        c["content"],
        json!({"role": "model", "parts": [{"text": "mock reply to: hello"}]})
    );
    assert_eq!(c["finishReason"], "STOP");
    assert_eq!(v["modelVersion"], "gemini-2.5-flash");
    let u = &v["usageMetadata"];
    assert!(u["promptTokenCount"].as_u64().unwrap() > 0);
    assert!(u["candidatesTokenCount"].as_u64().unwrap() > 0);
    assert!(u.get("cachedContentTokenCount").is_none());
    let stats = mock.stats().await;
    assert_eq!(stats["requests"]["gemini"], 1);
    let last = &stats["last"]["gemini"];
    assert_eq!(last["body"], ask("hello"));
    assert_eq!(
        last["path"],
        "/v1beta/models/gemini-2.5-flash:generateContent"
    );
    assert_eq!(last["headers"]["x-goog-api-key"], "test-key");
}

#[tokio::test]
async fn cached_content_and_thoughts() {
    let mock = Mock::start(false);
    let mut req = ask("hello");
    req["cachedContent"] = json!("cachedContents/abc");
    req["generationConfig"] =
        json!({"thinkingConfig": {"includeThoughts": true, "thinkingBudget": 1024}});
    let (s, v) = post_json(&mock, GENERATE, &req, &[KEY]).await;
    assert_eq!(s, 200);
    let u = &v["usageMetadata"];
    assert!(u["cachedContentTokenCount"].as_u64().unwrap() > 0);
    assert!(u["thoughtsTokenCount"].as_u64().unwrap() > 0);
    let parts = &v["candidates"][0]["content"]["parts"];
    assert_eq!(parts[0]["thought"], true);
    assert_eq!(parts[1]["text"], "mock reply to: hello");
}

#[tokio::test]
async fn streams_sse_and_json_array() {
    let mock = Mock::start(false);
    let path = "/v1beta/models/gemini-2.5-flash:streamGenerateContent";
    let r = post(&mock, &format!("{path}?alt=sse"), &ask("stream me"), &[KEY]).await;
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let body = r.text().await.unwrap();
    assert!(body.ends_with("\r\n\r\n"));
    let events: Vec<Value> = body
        .split("\r\n\r\n")
        .filter(|e| !e.is_empty())
        .map(|e| serde_json::from_str(e.strip_prefix("data: ").unwrap()).unwrap())
        .collect();
    assert_eq!(events.len(), 2);
    let text: String = events
        .iter()
        .map(|e| {
            e["candidates"][0]["content"]["parts"][0]["text"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(text, "mock reply to: stream me");
    assert!(events[0]["candidates"][0].get("finishReason").is_none());
    assert_eq!(events[1]["candidates"][0]["finishReason"], "STOP");
    assert!(events[1]["usageMetadata"]["candidatesTokenCount"]
        .as_u64()
        .is_some());
    let (s, v) = post_json(&mock, path, &ask("stream me"), &[KEY]).await;
    assert_eq!(s, 200);
    assert_eq!(v.as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn function_call_round_trip() {
    let mock = Mock::start(false);
    let mut req = ask("Run `echo relay-ok` please");
    req["tools"] = shell_tools();
    let (s, v) = post_json(&mock, GENERATE, &req, &[KEY]).await;
    assert_eq!(s, 200, "{v}");
    let call = v["candidates"][0]["content"]["parts"][0].clone();
    assert_eq!(
        call["functionCall"],
        json!({"name": "run_shell_command", "args": {"command": "echo relay-ok"}})
    );
    assert!(call["thoughtSignature"].is_string());
    let contents = req["contents"].as_array_mut().unwrap();
    contents.push(json!({"role": "model", "parts": [call]}));
    contents.push(json!({"role": "user", "parts": [{"functionResponse": {
        "name": "run_shell_command", "response": {"output": "relay-ok\n"}}}]}));
    let (s, v) = post_json(&mock, GENERATE, &req, &[KEY]).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v["candidates"][0]["content"]["parts"][0]["text"],
        "The command printed: relay-ok"
    );
}

#[tokio::test]
async fn strict_rules_are_400_invalid_argument() {
    let mock = Mock::start(false);
    let user = json!({"role": "user", "parts": [{"text": "x"}]});
    let cases = [
        (
            json!({"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]}),
            "valid role",
        ),
        (
            json!({"contents": [user, {"role": "user", "parts": [{"functionResponse":
            {"name": "f", "response": {}}}]}]}),
            "function response",
        ),
        (
            json!({"contents": [{"role": "user", "parts": []}]}),
            "must not be empty",
        ),
        (
            json!({"contents": [user], "generationConfig": {"maxTokens": 3}}),
            "Unknown name",
        ),
        (json!({"contents": []}), "contents is not specified"),
    ];
    let n = cases.len();
    for (body, message) in cases {
        let (s, v) = post_json(&mock, GENERATE, &body, &[KEY]).await;
        assert_eq!(s, 400, "{body}");
        assert_eq!(v["error"]["status"], "INVALID_ARGUMENT");
        assert_eq!(v["error"]["code"], 400);
        let m = v["error"]["message"].as_str().unwrap();
        assert!(m.contains(message), "{m}");
    }
    let (s, v) = post_json(&mock, GENERATE, &json!("not an object"), &[KEY]).await;
    assert_eq!(
        (s, v["error"]["status"].as_str()),
        (400, Some("INVALID_ARGUMENT"))
    );
    assert_eq!(mock.stats().await["strict_rejections"], n + 1);
}

#[tokio::test]
async fn unknown_method_and_failure_knob() {
    let mock = Mock::start(false);
    let (s, v) = post_json(
        &mock,
        "/v1beta/models/gemini-2.5-flash:embedText",
        &ask("x"),
        &[KEY],
    )
    .await;
    assert_eq!((s, v["error"]["status"].as_str()), (404, Some("NOT_FOUND")));
    let (s, v) = post_json(&mock, "/v1beta/models/no-method", &ask("x"), &[KEY]).await;
    assert_eq!(s, 404, "{v}");
    let (s, v) = post_json(&mock, GENERATE, &ask("x"), &[KEY, ("x-mock-status", "429")]).await;
    assert_eq!(s, 429);
    assert_eq!(v["error"]["status"], "RESOURCE_EXHAUSTED");
}
