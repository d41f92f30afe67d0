//! Every refusal on the Gemini paths in Google's shape, the gateway's own and the upstream's,
//! and a stream that breaks mid-way.

use super::*;

#[tokio::test]
async fn gateway_refusals_are_google_shaped() {
    let (mock, gw) = setup();
    let path = format!("/v1beta/models/{MODEL}:generateContent");
    let body = ask("hi").to_string().into_bytes();
    let post = |headers: Vec<(&'static str, &'static str)>, path: String, body: Vec<u8>| {
        let gw = &gw;
        async move { send(gw, reqwest::Method::POST, &path, &headers, Some(body)).await }
    };
    post(vec![], path.clone(), body.clone())
        .await
        .assert_google_error(401, "UNAUTHENTICATED");
    post(
        vec![("x-goog-api-key", "sk-wrong")],
        path.clone(),
        body.clone(),
    )
    .await
    .assert_google_error(401, "UNAUTHENTICATED");
    let wrong_query = format!("{path}?key=sk-wrong");
    post(vec![], wrong_query, body.clone())
        .await
        .assert_google_error(401, "UNAUTHENTICATED");
    // The other headers keep working.
    let bearer: &'static str = Box::leak(format!("Bearer {KEY}").into_boxed_str());
    for h in [("authorization", bearer), ("x-api-key", KEY)] {
        let a = post(vec![h], path.clone(), body.clone()).await;
        assert_eq!(a.status, 200, "{h:?}: {}", a.text);
    }
    call(&gw, "no-such-model:generateContent", &ask("hi"), &[])
        .await
        .assert_google_error(404, "NOT_FOUND");
    let a = call(
        &gw,
        &format!("{MODEL}:generateContent"),
        &json!({"contents": []}),
        &[],
    )
    .await;
    a.assert_google_error(400, "INVALID_ARGUMENT");
    let a = post(
        vec![("x-goog-api-key", KEY)],
        path.clone(),
        b"{not json".to_vec(),
    )
    .await;
    a.assert_google_error(400, "INVALID_ARGUMENT");
    let a = call(&gw, &format!("{MODEL}:embedContent"), &ask("hi"), &[]).await;
    a.assert_google_error(404, "NOT_FOUND");
    let long = "m".repeat(300);
    let a = call(&gw, &format!("{long}:generateContent"), &ask("hi"), &[]).await;
    a.assert_google_error(400, "INVALID_ARGUMENT");
    let a = call(&gw, "%FF:generateContent", &ask("hi"), &[]).await;
    a.assert_google_error(400, "INVALID_ARGUMENT");
    // A key limited to hy-* may not use this model.
    let a = post(vec![("x-goog-api-key", KEY_HY)], path.clone(), body.clone()).await;
    a.assert_google_error(403, "PERMISSION_DENIED");
    let a = send(
        &gw,
        reqwest::Method::GET,
        &path,
        &[("x-goog-api-key", KEY)],
        None,
    )
    .await;
    assert_eq!(a.status, 405, "{}", a.text);
    assert!(a.json()["error"]["status"].is_string(), "{}", a.text);
    let a = call(&gw, &format!("{MODEL}:countTokens"), &json!({"x": 1}), &[]).await;
    a.assert_google_error(400, "INVALID_ARGUMENT");
    // `contents` are capped like messages (body.max_messages, 10,000 by default), before
    // any translation; nothing reaches the upstream.
    let before = mock.stats().await["requests"]["chat"].clone();
    let many = json!({"contents": vec![json!({"role": "user", "parts": [{"text": "x"}]}); 10_001]});
    for method in ["generateContent", "countTokens"] {
        let a = call(&gw, &format!("{MODEL}:{method}"), &many, &[]).await;
        a.assert_google_error(400, "INVALID_ARGUMENT");
        assert!(a.text.contains("max_messages"), "{}", a.text);
    }
    assert_eq!(mock.stats().await["requests"]["chat"], before);
    assert_eq!(mock.stats().await["strict_rejections"], 0);
}

#[tokio::test]
async fn upstream_errors_are_google_shaped() {
    let (_mock, gw) = setup();
    let target = format!("{MODEL}:generateContent");
    for (status, name) in [
        ("503", "UNAVAILABLE"),
        ("429", "RESOURCE_EXHAUSTED"),
        ("500", "INTERNAL"),
        ("400", "INVALID_ARGUMENT"),
    ] {
        let a = call(&gw, &target, &ask("hi"), &[("x-mock-status", status)]).await;
        a.assert_google_error(status.parse().unwrap_or(0), name);
        assert!(
            a.text.contains("mock failure"),
            "the upstream's message: {}",
            a.text
        );
    }
    let stream = format!("{MODEL}:streamGenerateContent?alt=sse");
    let a = call(&gw, &stream, &ask("hi"), &[("x-mock-status", "429")]).await;
    a.assert_google_error(429, "RESOURCE_EXHAUSTED");
}

#[tokio::test]
async fn a_stream_that_breaks_ends_with_an_error_event() {
    let (_mock, gw) = setup();
    let cut = [("x-mock-events", "6"), ("x-mock-cut-after", "3")];
    let stream = format!("{MODEL}:streamGenerateContent?alt=sse");
    let a = call(&gw, &stream, &ask("hi"), &cut).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let events = a.events();
    let last = events.last().cloned().unwrap_or_default();
    assert!(last["error"]["message"].is_string(), "{}", a.text);
    assert!(last["error"]["code"].is_u64(), "{}", a.text);
    assert!(
        !events
            .iter()
            .any(|e| e["candidates"][0].get("finishReason").is_some()),
        "no clean end: {}",
        a.text
    );
    // The JSON array cannot end cleanly either: the client sees it cut.
    let array = format!("{MODEL}:streamGenerateContent");
    let r = reqwest::Client::new()
        .post(gw.url(&format!("/v1beta/models/{array}")))
        .header("x-goog-api-key", KEY)
        .header("x-mock-events", "6")
        .header("x-mock-cut-after", "3")
        .json(&ask("hi"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 200);
    let text: String = r.text().await.unwrap_or_default();
    assert!(
        serde_json::from_str::<Value>(&text)
            .map(|v| v
                .as_array()
                .and_then(|a| a.last())
                .is_some_and(|l| l.get("error").is_some()))
            .unwrap_or(true),
        "either cut or ended by an error element: {text}"
    );
}
