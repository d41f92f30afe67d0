//! A `hunyuan_native` pool through the real binary against the mock's native endpoint (which
//! verifies TC3 signatures and answers errors with HTTP 200, as Tencent does): every client
//! protocol, streaming and tools; errors mapped to an honest status in the client's shape.

use crate::common::gateway::Gateway;
use crate::common::mock::Mock;
use crate::util::{post, shell_tool, tool_call_of};
use mock_upstream::{MOCK_SECRET_ID, MOCK_SECRET_KEY};
use serde_json::{json, Value};

fn start(mock: &Mock, secret: &str) -> Gateway {
    let yaml = format!(
        "pools:\n  native:\n    urls: [\"{}\"]\n    provider: {{type: hunyuan_native, secret_id_env: TC_ID, \
         secret_key_env: TC_KEY, region: ap-guangzhou}}\n    health: {{check_seconds: 0}}\n\
         routes:\n  - {{model: \"hunyuan-*\", pool: native}}\n  - {{model: mock-limit, pool: native}}\n",
        mock.url("")
    );
    Gateway::start_with(&yaml, &[("TC_ID", MOCK_SECRET_ID), ("TC_KEY", secret)])
}

fn chat(stream: bool) -> Value {
    // Two user turns in a row and a null temperature: the fixer merges them and the renderer
    // sends no null (the strict native checker refuses both).
    json!({"model": "hunyuan-turbos-latest", "stream": stream, "temperature": null,
           "messages": [{"role": "user", "content": "first"}, {"role": "user", "content": "say hi"}]})
}

#[tokio::test]
async fn chat_reaches_the_signed_native_api_plain_and_streamed() {
    let mock = Mock::start(true);
    let gw = start(&mock, MOCK_SECRET_KEY);
    let (status, body) = post(&gw, "/v1/chat/completions", &[], &chat(false)).await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["object"], "chat.completion");
    assert!(
        v["choices"][0]["message"]["content"]
            .as_str()
            .is_some_and(|s| !s.is_empty()),
        "{v}"
    );
    assert!(
        v["usage"]["prompt_tokens"].as_u64().is_some_and(|n| n > 0),
        "{v}"
    );
    let (status, sse) = post(&gw, "/v1/chat/completions", &[], &chat(true)).await;
    assert_eq!(status, 200, "{sse}");
    assert!(
        sse.contains("chat.completion.chunk") && sse.trim_end().ends_with("data: [DONE]"),
        "{sse}"
    );
}

#[tokio::test]
async fn a_tool_round_trip_through_the_native_api() {
    let mock = Mock::start(true);
    let gw = start(&mock, MOCK_SECRET_KEY);
    let mut req = json!({"model": "hunyuan-turbos-latest", "stream": true, "tools": [shell_tool()],
        "messages": [{"role": "user", "content": "list the files"}]});
    let (status, sse) = post(&gw, "/v1/chat/completions", &[], &req).await;
    assert_eq!(status, 200, "{sse}");
    let (id, args) = tool_call_of(&sse);
    req["stream"] = json!(false);
    req["messages"] = json!([
        {"role": "user", "content": "list the files"},
        {"role": "assistant", "content": null, "tool_calls": [
            {"id": id, "type": "function", "function": {"name": "shell", "arguments": args}}]},
        {"role": "tool", "tool_call_id": id, "content": "a.txt b.txt"},
    ]);
    let (status, body) = post(&gw, "/v1/chat/completions", &[], &req).await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["choices"][0]["finish_reason"], "stop", "{v}");
}

#[tokio::test]
async fn a_bad_signature_is_a_401_in_the_clients_protocol_never_a_200() {
    let mock = Mock::start(true);
    let gw = start(&mock, "not-the-secret");
    let (status, body) = post(&gw, "/v1/chat/completions", &[], &chat(false)).await;
    assert_eq!(status, 401, "{body}");
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["error"]["code"], "AuthFailure.SignatureFailure", "{v}");
    // A streaming client gets the same honest status (Tencent answers JSON, not SSE).
    let (status, _) = post(&gw, "/v1/chat/completions", &[], &chat(true)).await;
    assert_eq!(status, 401);
    // An Anthropic client gets Anthropic's error shape.
    let msg = json!({"model": "hunyuan-turbos-latest", "max_tokens": 64,
                     "messages": [{"role": "user", "content": "hi"}]});
    let (status, body) = post(&gw, "/v1/messages", &[], &msg).await;
    assert_eq!(status, 401, "{body}");
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["type"], "error", "{v}");
    // The RequestId Tencent gave is in the access log (written by its thread in batches).
    let logged = crate::common::gateway::wait_until(std::time::Duration::from_secs(10), || async {
        gw.log_text().contains("\"upstream_request_id\":\"")
    })
    .await;
    assert!(logged, "{}", gw.log_text());
    assert!(
        !gw.log_text().contains("not-the-secret"),
        "the SecretKey was logged"
    );
}

#[tokio::test]
async fn limit_exceeded_is_a_429_with_retry_after() {
    let mock = Mock::start(true);
    let gw = start(&mock, MOCK_SECRET_KEY);
    let r = reqwest::Client::new()
        .post(gw.url("/v1/chat/completions"))
        .json(&json!({"model": "mock-limit", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["error"]["type"], "rate_limit_error", "{v}");
}

#[tokio::test]
async fn responses_and_messages_clients_reach_it_too() {
    let mock = Mock::start(true);
    let gw = start(&mock, MOCK_SECRET_KEY);
    let (status, body) = post(
        &gw,
        "/v1/responses",
        &[],
        &json!({"model": "hunyuan-turbos-latest", "input": "say hi"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = post(
        &gw,
        "/v1/messages",
        &[],
        &json!({"model": "hunyuan-turbos-latest",
        "max_tokens": 64, "stream": true, "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("message_stop"), "{body}");
}

/// Hunyuan's `LimitExceeded` feeds the breaker: enough in a row take the member out of
/// rotation for its cooldown (a pool with other members stops sending there; a pool whose every
/// member is out fails open and tries one anyway, see `Pool::select`).
#[tokio::test]
async fn limit_exceeded_in_a_row_trips_the_breaker() {
    let mock = Mock::start(true);
    let yaml = format!(
        "pools:\n  native:\n    urls: [\"{}\"]\n    provider: {{type: hunyuan_native, secret_id_env: TC_ID, \
         secret_key_env: TC_KEY}}\n    health: {{check_seconds: 0, failures_to_trip: 2, cooldown_ms: 60000}}\n\
         routes:\n  - {{model: \"hunyuan-*\", pool: native}}\n  - {{model: mock-limit, pool: native}}\n",
        mock.url("")
    );
    let gw = Gateway::start_with(
        &yaml,
        &[("TC_ID", MOCK_SECRET_ID), ("TC_KEY", MOCK_SECRET_KEY)],
    );
    let limited = json!({"model": "mock-limit", "messages": [{"role": "user", "content": "hi"}]});
    for _ in 0..2 {
        let (status, body) = post(&gw, "/v1/chat/completions", &[], &limited).await;
        assert_eq!(status, 429, "{body}");
    }
    let tripped =
        crate::common::gateway::wait_until(std::time::Duration::from_secs(10), || async {
            gw.log_text().contains("out of rotation")
        })
        .await;
    assert!(tripped, "the breaker did not trip: {}", gw.log_text());
}
