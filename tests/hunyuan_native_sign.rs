//! The native Hunyuan provider's TC3 signature against Tencent Cloud's official Python SDK
//! (tencentcloud-sdk-python-common; scripts/test.sh installs it): `sign()` must give the
//! Authorization the SDK's signing code gives for the same request, and the mock's verifier
//! must accept the official `HunyuanClient`'s requests and `sign()`'s alike. Without the SDK
//! these tests fail (they do not skip).

use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use llm_relay::providers::hunyuan_native::{self, sign, Credentials};
use mock_upstream::hunyuan_native::sign::signature as mock_signature;
use mock_upstream::{MOCK_SECRET_ID, MOCK_SECRET_KEY};
use serde_json::{json, Value};

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/hunyuan_native/sign_reference.py"
);

/// Runs the reference script; its stdout, failing the test with everything on error.
fn script(args: &[&str]) -> String {
    let out = Command::new("python3")
        .arg(SCRIPT)
        .args(args)
        .output()
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "sign_reference.py {args:?} failed (pip install tencentcloud-sdk-python-common \
         tencentcloud-sdk-python-hunyuan; scripts/test.sh does):\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn text<'a>(case: &'a Value, key: &str) -> &'a str {
    case[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} in {case}"))
}

#[test]
fn sign_matches_the_official_sdk() {
    let cases: Vec<Value> = script(&["reference"])
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(cases.len(), 5, "{cases:?}");
    for case in &cases {
        let c = Credentials {
            secret_id: text(case, "secret_id").into(),
            secret_key: text(case, "secret_key").into(),
        };
        let (host, payload) = (text(case, "host"), text(case, "payload"));
        let ts = case["timestamp"].as_u64().expect("timestamp");
        let region = Some(text(case, "region"));
        let headers = sign(&c, host, payload.as_bytes(), ts, region);
        let auth = &headers[0];
        assert_eq!(auth.0, "Authorization");
        assert_eq!(auth.1, text(case, "authorization"), "{}", case["name"]);
        assert!(headers.contains(&("X-TC-Timestamp", ts.to_string())));
        assert_eq!(
            headers.iter().any(|(n, _)| *n == "X-TC-Region"),
            !text(case, "region").is_empty()
        );
        // The mock's verifier computes the SDK's own two-header signature the same way.
        let sdk = text(case, "sdk_authorization");
        let signed = [("content-type", "application/json"), ("host", host)];
        let mine = mock_signature(&c.secret_key, &signed, payload.as_bytes(), ts);
        assert!(
            sdk.ends_with(&format!("Signature={mine}")),
            "{sdk} vs {mine}"
        );
    }
}

#[test]
fn the_official_client_is_accepted_by_the_mock() {
    let mock = mock_upstream::spawn(false).expect("start the mock");
    let addr = mock.addr.to_string();
    let out = script(&["client", &addr, MOCK_SECRET_ID, MOCK_SECRET_KEY]);
    assert!(out.contains("client OK"), "{out}");
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

async fn post(addr: &str, c: &Credentials, body: &[u8], sent: &[u8]) -> Value {
    let host = addr.to_string();
    let mut rb = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
        .post(format!("http://{addr}/"))
        .body(sent.to_vec());
    for (name, value) in sign(c, &host, body, now(), Some("ap-guangzhou")) {
        rb = rb.header(name, value);
    }
    let r = rb.send().await.expect("send");
    assert_eq!(r.status(), 200);
    r.json().await.expect("JSON")
}

/// The gateway's own pieces end to end: `render`, `sign`, the mock, `decoder`.
#[tokio::test]
async fn sign_render_and_decode_against_the_mock() {
    let mock = mock_upstream::spawn(false).expect("start the mock");
    let addr = mock.addr.to_string();
    let c = Credentials {
        secret_id: MOCK_SECRET_ID.into(),
        secret_key: MOCK_SECRET_KEY.into(),
    };
    let chat = json!({"model": "hunyuan-turbos-latest", "temperature": null, "max_tokens": 9,
        "messages": [{"role": "user", "content": "héllo native"}]});
    let Value::Object(o) = chat else { panic!() };
    let typed = llm_relay::chat::model::ChatRequest::from_map(o).expect("messages");
    let body = hunyuan_native::render(&typed).expect("render").to_string();
    let answer = post(&addr, &c, body.as_bytes(), body.as_bytes()).await;
    assert!(
        hunyuan_native::error_in_body(answer.to_string().as_bytes()).is_none(),
        "{answer}"
    );
    let mut d = hunyuan_native::decoder(false, "hunyuan-turbos-latest");
    d.feed(answer.to_string().as_bytes());
    let chat: Value = serde_json::from_slice(&d.finish()).expect("chat JSON");
    assert_eq!(
        chat["choices"][0]["message"]["content"],
        "mock reply to: héllo native"
    );
    // A body changed after signing is refused the way Tencent refuses it (HTTP 200).
    let tampered = body.replace("native", "nativf");
    let refused = post(&addr, &c, body.as_bytes(), tampered.as_bytes()).await;
    let (status, err) =
        hunyuan_native::error_in_body(refused.to_string().as_bytes()).expect("an error body");
    let err: Value = serde_json::from_slice(&err).expect("error JSON");
    assert_eq!(status, 401);
    assert_eq!(err["error"]["code"], "AuthFailure.SignatureFailure");
}
