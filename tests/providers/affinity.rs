//! Member affinity (`pools.<name>.affinity`): one conversation goes to one member, so the
//! provider's prompt cache on that member hits; an unusable member's conversations go to the
//! others.

use crate::common::gateway::{free_port, Gateway};
use crate::common::mock::Mock;
use serde_json::json;

fn config(urls: &[String], affinity: bool) -> String {
    let list = urls
        .iter()
        .map(|u| format!("\"{u}/v1\""))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "pools:\n  p:\n    urls: [{list}]\n    affinity: {affinity}\n    \
         health: {{check_seconds: 0, failures_to_trip: 1, cooldown_ms: 60000}}\n\
         routes:\n  - {{model: m, pool: p}}\n"
    )
}

async fn chat(gw: &Gateway, user: Option<&str>, header: Option<&str>) -> u16 {
    let mut body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    if let Some(u) = user {
        body["user"] = json!(u);
    }
    let mut req = reqwest::Client::new().post(gw.url("/v1/chat/completions"));
    if let Some(h) = header {
        req = req.header("x-llm-relay-affinity", h);
    }
    req.json(&body)
        .send()
        .await
        .expect("send")
        .status()
        .as_u16()
}

async fn chats(m: &Mock) -> u64 {
    m.stats().await["requests"]["chat"].as_u64().unwrap_or(0)
}

#[tokio::test]
async fn one_conversation_stays_on_one_member() {
    let (a, b) = (Mock::start(false), Mock::start(false));
    let gw = Gateway::start(&config(&[a.url(""), b.url("")], true));
    for _ in 0..8 {
        assert_eq!(chat(&gw, Some("conversation-1"), None).await, 200);
    }
    let (na, nb) = (chats(&a).await, chats(&b).await);
    assert!(
        (na, nb) == (8, 0) || (na, nb) == (0, 8),
        "one conversation, one member: {na} / {nb}"
    );
    // The header names the conversation too, and beats the body.
    a.reset().await;
    b.reset().await;
    for i in 0..8 {
        let user = format!("someone-{i}");
        assert_eq!(chat(&gw, Some(&user), Some("session-7")).await, 200);
    }
    let (na, nb) = (chats(&a).await, chats(&b).await);
    assert!((na, nb) == (8, 0) || (na, nb) == (0, 8), "{na} / {nb}");
    // Many conversations spread over both members.
    a.reset().await;
    b.reset().await;
    for i in 0..40 {
        assert_eq!(chat(&gw, Some(&format!("c-{i}")), None).await, 200);
    }
    let (na, nb) = (chats(&a).await, chats(&b).await);
    assert_eq!(na + nb, 40);
    assert!(
        na > 0 && nb > 0,
        "40 conversations all on one member: {na} / {nb}"
    );
}

/// Without `affinity`, the same conversation is balanced round robin as before.
#[tokio::test]
async fn without_affinity_requests_are_balanced() {
    let (a, b) = (Mock::start(false), Mock::start(false));
    let gw = Gateway::start(&config(&[a.url(""), b.url("")], false));
    for _ in 0..8 {
        assert_eq!(chat(&gw, Some("conversation-1"), None).await, 200);
    }
    let (na, nb) = (chats(&a).await, chats(&b).await);
    assert_eq!((na, nb), (4, 4));
}

/// A member that cannot be reached: its conversations are served by the other member (the
/// retry leaves the affine member; then the breaker takes it out of the hash).
#[tokio::test]
async fn an_unusable_members_conversations_move() {
    let live = Mock::start(false);
    let dead = format!("http://127.0.0.1:{}", free_port());
    let gw = Gateway::start(&config(&[dead, live.url("")], true));
    for i in 0..20 {
        assert_eq!(chat(&gw, Some(&format!("c-{i}")), None).await, 200, "c-{i}");
    }
    assert_eq!(chats(&live).await, 20);
}
