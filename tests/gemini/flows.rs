//! Answers, streams, local answers and the function-calling round trip.

use super::common::gateway::PROVIDER_KEY;
use super::*;

#[tokio::test]
async fn generate_content_answers_in_gemini_shape_and_keeps_the_key_here() {
    let (mock, gw) = setup();
    let mut body = ask("hello there");
    body["systemInstruction"] = json!({"parts": [{"text": "Be brief."}]});
    body["generationConfig"] = json!({"temperature": 0.3, "maxOutputTokens": 64, "topK": 3});
    let a = call(
        &gw,
        &format!("{MODEL}:generateContent"),
        &body,
        &[("x-request-id", "gem-1")],
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.header("content-type"), Some("application/json"));
    let v = a.json();
    assert!(text_of(&v).contains("mock reply to: hello there"), "{v}");
    let c = &v["candidates"][0];
    assert_eq!(c["content"]["role"], "model");
    assert_eq!(c["finishReason"], "STOP");
    assert_eq!(c["index"], 0);
    let u = &v["usageMetadata"];
    assert!(u["promptTokenCount"].as_u64() > Some(0), "{v}");
    assert_eq!(
        u["totalTokenCount"].as_u64(),
        Some(
            u["promptTokenCount"].as_u64().unwrap_or(0)
                + u["candidatesTokenCount"].as_u64().unwrap_or(0)
        )
    );
    assert_eq!(v["modelVersion"], MODEL);
    assert!(
        v["responseId"].as_str().is_some_and(|id| id.len() >= 16),
        "{v}"
    );

    let stats = mock.stats().await;
    let last = &stats["last"]["chat"];
    assert_eq!(last["uri"], "/v1/chat/completions");
    let sent = &last["body"];
    assert_eq!(sent["model"], MODEL);
    assert_eq!(
        sent["messages"][0],
        json!({"role": "system", "content": "Be brief."})
    );
    assert_eq!(sent["temperature"], 0.3);
    assert_eq!(sent["max_tokens"], 64);
    assert!(sent.get("top_k").is_none(), "{sent}");
    let headers = &last["headers"];
    assert_eq!(headers["authorization"], format!("Bearer {PROVIDER_KEY}"));
    assert!(headers.get("x-goog-api-key").is_none(), "{headers}");
    assert!(!last.to_string().contains(KEY), "{last}");
    assert_eq!(stats["strict_rejections"], 0);
    let line = access_line(&gw, "gem-1").await;
    assert_eq!(line["protocol"], "gemini", "{line}");
    assert_eq!(line["model"], MODEL, "{line}");

    // The key in the URL (`?key=`), a `models/` prefix and a percent-encoded name.
    let path = format!("/v1beta/models/models%2F{MODEL}:generateContent?key={KEY}");
    let a = send(
        &gw,
        reqwest::Method::POST,
        &path,
        &[],
        Some(body.to_string().into_bytes()),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let last = &mock.stats().await["last"]["chat"];
    assert_eq!(last["uri"], "/v1/chat/completions", "no query upstream");
    assert!(!last.to_string().contains(KEY), "{last}");
}

#[tokio::test]
async fn stream_generate_content_as_sse_carries_usage_to_the_last_event() {
    let (mock, gw) = setup();
    let a = call(
        &gw,
        &format!("{MODEL}:streamGenerateContent?alt=sse"),
        &ask("hi"),
        &[],
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.header("content-type"), Some("text/event-stream"));
    let events = a.events();
    assert!(events.len() >= 4, "{}", a.text);
    let text: String = events.iter().map(text_of).collect();
    assert_eq!(text, "tok0 tok1 tok2 tok3 ");
    let last = events.last().cloned().unwrap_or_default();
    assert_eq!(last["candidates"][0]["finishReason"], "STOP", "{last}");
    assert_eq!(last["usageMetadata"]["candidatesTokenCount"], 4, "{last}");
    assert!(last["usageMetadata"]["promptTokenCount"].as_u64() > Some(0));
    assert!(events[..events.len() - 1]
        .iter()
        .all(|e| e["candidates"][0].get("finishReason").is_none()));
    assert!(!a.text.contains("[DONE]") && !a.text.contains("chat.completion"));
    let sent = &mock.stats().await["last"]["chat"]["body"];
    assert_eq!(sent["stream"], true);
    assert_eq!(sent["stream_options"]["include_usage"], true);
}

#[tokio::test]
async fn stream_generate_content_without_alt_is_a_json_array() {
    let (_mock, gw) = setup();
    let a = call(
        &gw,
        &format!("{MODEL}:streamGenerateContent"),
        &ask("hi"),
        &[],
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.header("content-type"), Some("application/json"));
    let v = a.json();
    let items = v.as_array().expect("a JSON array");
    let text: String = items.iter().map(text_of).collect();
    assert_eq!(text, "tok0 tok1 tok2 tok3 ");
    let last = items.last().cloned().unwrap_or_default();
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");
    assert!(last["usageMetadata"]["totalTokenCount"].as_u64() > Some(0));
}

#[tokio::test]
async fn count_tokens_and_models_are_answered_here() {
    let (mock, gw) = setup();
    let a = call(
        &gw,
        &format!("{MODEL}:countTokens"),
        &ask("hello world"),
        &[],
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let n = a.json()["totalTokens"].as_u64().unwrap_or(0);
    assert!(n > 0, "{}", a.text);
    let wrapped = json!({"generateContentRequest": {"model": format!("models/{MODEL}"),
        "contents": ask("hello world")["contents"],
        "tools": [{"functionDeclarations": [{"name": "f", "description": "a tool"}]}]}});
    let a = call(&gw, &format!("{MODEL}:countTokens"), &wrapped, &[]).await;
    assert!(a.json()["totalTokens"].as_u64() > Some(n), "{}", a.text);
    assert_eq!(
        mock.stats().await["requests"]["chat"],
        0,
        "nothing went upstream"
    );

    let a = get(&gw, "/v1beta/models", KEY).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let names: Vec<String> = a.json()["models"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["name"].as_str().map(str::to_owned))
        .collect();
    assert!(names.contains(&format!("models/{MODEL}")), "{names:?}");
    assert!(
        !names.iter().any(|n| n.contains('*')),
        "globs are not listed: {names:?}"
    );
    assert!(
        !names.iter().any(|n| n.contains("embedding")),
        "chat models only: {names:?}"
    );
    let m = &a.json()["models"][0];
    assert_eq!(
        m["supportedGenerationMethods"],
        json!(["generateContent", "streamGenerateContent", "countTokens"])
    );
    let a = get(&gw, &format!("/v1beta/models/{MODEL}"), KEY).await;
    assert_eq!(a.json()["name"], format!("models/{MODEL}"), "{}", a.text);
    let a = get(&gw, "/v1beta/models/gemini-2.5-pro", KEY).await;
    assert_eq!(
        a.json()["displayName"],
        "gemini-2.5-pro",
        "a glob route serves it"
    );
    get(&gw, "/v1beta/models/nope", KEY)
        .await
        .assert_google_error(404, "NOT_FOUND");
    // A key limited to `hy-*` sees none of these.
    let a = get(&gw, "/v1beta/models", KEY_HY).await;
    assert_eq!(a.json(), json!({"models": []}), "{}", a.text);
    get(&gw, &format!("/v1beta/models/{MODEL}"), KEY_HY)
        .await
        .assert_google_error(404, "NOT_FOUND");
}

fn shell_tools() -> Value {
    json!([{"functionDeclarations": [{"name": "run_shell_command",
        "description": "Runs a shell command",
        "parameters": {"type": "OBJECT",
            "properties": {"command": {"type": "STRING", "description": "the command"}},
            "required": ["command"]}}]},
        {"googleSearch": {}}])
}

/// The mock (Hunyuan-strict) calls the shell tool for a backticked command and quotes the
/// tool's output once it has it: the round trip a Gemini CLI turn makes.
#[tokio::test]
async fn function_calling_round_trip_against_strict_hunyuan() {
    let (mock, gw) = setup();
    let user = json!({"role": "user", "parts": [{"text": "Run `echo relay-ok-42` please"}]});
    let first = json!({"contents": [user], "tools": shell_tools(),
        "toolConfig": {"functionCallingConfig": {"mode": "AUTO"}}});
    let a = call(
        &gw,
        "gemini-2.5-pro:streamGenerateContent?alt=sse",
        &first,
        &[],
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.header("x-llm-relay-dropped-tools"), Some("googleSearch"));
    let events = a.events();
    let last = events.last().cloned().unwrap_or_default();
    let call_part = last["candidates"][0]["content"]["parts"][0]["functionCall"].clone();
    assert_eq!(call_part["name"], "run_shell_command", "{}", a.text);
    assert_eq!(call_part["args"], json!({"command": "echo relay-ok-42"}));
    assert!(call_part["id"].as_str().is_some_and(|id| !id.is_empty()));
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");
    let sent = &mock.stats().await["last"]["chat"]["body"];
    assert_eq!(sent["model"], MODEL, "the gemini-* alias");
    assert_eq!(
        sent["tools"][0]["function"]["parameters"]["properties"]["command"]["type"],
        "string"
    );
    assert_eq!(
        sent["tools"].as_array().map(Vec::len),
        Some(1),
        "googleSearch dropped"
    );

    // The client runs the tool and answers, with the call's id (as Gemini CLI does) and,
    // in a second try, with only its name (as Gemini's own ids are optional).
    let mut anonymous = call_part.clone();
    if let Some(o) = anonymous.as_object_mut() {
        o.remove("id");
    }
    for (fc, fr_id) in [
        (call_part.clone(), call_part["id"].clone()),
        (anonymous, Value::Null),
    ] {
        let mut response = json!({"name": "run_shell_command",
            "response": {"output": "relay-ok-42\n"}});
        if !fr_id.is_null() {
            response["id"] = fr_id;
        }
        let second = json!({"contents": [user,
                {"role": "model", "parts": [{"functionCall": fc}]},
                {"role": "user", "parts": [{"functionResponse": response}]}],
            "tools": shell_tools()});
        let a = call(&gw, "gemini-2.5-pro:generateContent", &second, &[]).await;
        assert_eq!(a.status, 200, "{}", a.text);
        assert!(
            text_of(&a.json()).contains("The command printed: relay-ok-42"),
            "{}",
            a.text
        );
        let sent = &mock.stats().await["last"]["chat"]["body"];
        let msgs = sent["messages"].as_array().cloned().unwrap_or_default();
        let tool = msgs
            .iter()
            .find(|m| m["role"] == "tool")
            .cloned()
            .unwrap_or_default();
        let asked = msgs
            .iter()
            .find(|m| m["role"] == "assistant")
            .cloned()
            .unwrap_or_default();
        assert_eq!(tool["tool_call_id"], asked["tool_calls"][0]["id"], "{sent}");
    }
    assert_eq!(mock.stats().await["strict_rejections"], 0);
}

#[tokio::test]
async fn reasoning_becomes_thought_parts() {
    let (_mock, gw) = setup();
    let a = call(&gw, "hunyuan-t1-latest:generateContent", &ask("why"), &[]).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let parts = a.json()["candidates"][0]["content"]["parts"].clone();
    assert_eq!(parts[0]["thought"], true, "{parts}");
    assert!(parts[0]["text"]
        .as_str()
        .is_some_and(|t| t.contains("messages")));
    let mut hidden = ask("why");
    hidden["generationConfig"] = json!({"thinkingConfig": {"includeThoughts": false}});
    let a = call(
        &gw,
        "hunyuan-t1-latest:streamGenerateContent?alt=sse",
        &hidden,
        &[],
    )
    .await;
    assert!(!a.text.contains("\"thought\""), "{}", a.text);
}
