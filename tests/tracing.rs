//! OpenTelemetry traces against a real OTLP/HTTP receiver (tests/sdk/otlp_receiver.py decodes
//! the protobuf with the official opentelemetry-proto definitions): the span tree, parent/child
//! links, `traceparent` continuation (client → gateway → upstream and vision calls), the
//! GenAI attributes, no prompt text, and a collector that is down costing nothing but spans.

mod common;

use common::gateway::{free_port, wait_until, Gateway};
use common::mock::Mock;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Receiver {
    port: u16,
    out: std::path::PathBuf,
    child: Child,
}

impl Receiver {
    fn start() -> Receiver {
        let port = free_port();
        let out = common::gateway::scratch("otlp").join("spans.jsonl");
        let mut child = Command::new("python3")
            .arg(format!(
                "{}/tests/sdk/otlp_receiver.py",
                env!("CARGO_MANIFEST_DIR")
            ))
            .arg(port.to_string())
            .arg(&out)
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 (pip install opentelemetry-proto; scripts/test.sh does)");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout");
        let _ = BufReader::new(stdout).read_line(&mut line);
        assert_eq!(line.trim(), "listening", "the OTLP receiver did not start");
        Receiver { port, out, child }
    }

    fn spans(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const PNG: &str = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
const CLIENT_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN: &str = "00f067aa0ba902b7";

fn config(mock: &Mock, otlp_port: u16) -> String {
    format!(
        r#"telemetry:
  otlp:
    endpoint: "http://127.0.0.1:{otlp_port}"
    service_name: relay-under-test
pools:
  main:
    urls: ["http://{mock}/v1"]
    profile: hunyuan
routes:
  - model: hunyuan-turbos-latest
    pool: main
  - model: hunyuan-vision
    pool: main
    vision: true
cascade:
  vision_model: hunyuan-vision
"#,
        mock = mock.addr
    )
}

#[tokio::test]
async fn spans_form_a_tree_that_continues_the_clients_trace() {
    let receiver = Receiver::start();
    let mock = Mock::start(true);
    let gw = Gateway::start(&config(&mock, receiver.port));
    let secret_prompt = "the launch code is tango-seven";
    let body = json!({"model": "hunyuan-turbos-latest", "messages": [
        {"role": "assistant", "content": "hi"},
        {"role": "user", "content": [{"type": "text", "text": secret_prompt},
                                      {"type": "image_url", "image_url": {"url": PNG}}]}]});
    let r = reqwest::Client::new()
        .post(gw.url("/v1/chat/completions"))
        .header("traceparent", format!("00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let done = wait_until(Duration::from_secs(10), || async {
        receiver.spans().iter().any(|s| s["name"] == "upstream")
    })
    .await;
    assert!(
        done,
        "spans arrive at the collector: {:?}",
        receiver.spans()
    );
    let spans = receiver.spans();
    let by_name = |n: &str| {
        spans
            .iter()
            .find(|s| s["name"] == n)
            .cloned()
            .unwrap_or(Value::Null)
    };
    let root = spans
        .iter()
        .find(|s| s["parent_span_id"] == CLIENT_SPAN)
        .expect("the request span's parent is the client's span");
    assert!(
        spans.iter().all(|s| s["trace_id"] == CLIENT_TRACE),
        "one trace: the client's"
    );
    assert_eq!(root["name"], "chat hunyuan-turbos-latest");
    assert_eq!(root["kind"], 2, "server");
    assert_eq!(root["service"], "relay-under-test", "{root}");
    let a = &root["attributes"];
    assert_eq!(a["gen_ai.operation.name"], "chat");
    assert_eq!(a["gen_ai.request.model"], "hunyuan-turbos-latest");
    assert_eq!(a["gen_ai.response.model"], "hunyuan-turbos-latest");
    assert_eq!(a["http.response.status_code"], 200);
    assert!(a["gen_ai.usage.input_tokens"].as_i64() > Some(0));
    let root_id = root["span_id"].as_str().unwrap();
    for name in ["read body", "fix messages", "cascade", "upstream"] {
        assert_eq!(
            by_name(name)["parent_span_id"],
            root_id,
            "{name} is a child of the request"
        );
    }
    let vision = by_name("vision");
    assert_eq!(vision["parent_span_id"], by_name("cascade")["span_id"]);
    assert_eq!(vision["attributes"]["llm_relay.cache"], "miss");
    let upstream = by_name("upstream");
    assert_eq!(upstream["kind"], 3, "client");
    assert!(upstream["attributes"]["server.address"].as_str().is_some());
    // The provider and the vision model got the gateway's spans as their parents.
    let stats = mock.stats().await;
    let sent = stats["last"]["chat"]["headers"]["traceparent"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        sent,
        format!(
            "00-{CLIENT_TRACE}-{}-01",
            upstream["span_id"].as_str().unwrap()
        )
    );
    let vision_sent = stats["last"]["vision"]["headers"]["traceparent"]
        .as_str()
        .unwrap();
    assert_eq!(
        vision_sent,
        format!(
            "00-{CLIENT_TRACE}-{}-01",
            vision["span_id"].as_str().unwrap()
        )
    );
    // Never a prompt (nor a key) in any attribute.
    let all = serde_json::to_string(&spans).unwrap();
    assert!(!all.contains("tango-seven"), "no prompt text in spans");
}

/// A collector that is down: requests are unaffected, the lost spans are counted.
#[tokio::test]
async fn a_collector_that_is_down_costs_only_spans() {
    let mock = Mock::start(true);
    let dead = free_port();
    let gw = Gateway::start(&config(&mock, dead));
    let client = reqwest::Client::new();
    for _ in 0..5 {
        let r = client
            .post(gw.url("/v1/chat/completions"))
            .json(&json!({"model": "hunyuan-turbos-latest",
                          "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let metrics = format!("http://{}/metrics", gw.admin);
    let counted = wait_until(Duration::from_secs(15), || async {
        let m = reqwest::get(&metrics).await.unwrap().text().await.unwrap();
        m.lines()
            .find(|l| l.starts_with("llm_relay_trace_spans_dropped_total "))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .is_some_and(|v| v > 0.0)
    })
    .await;
    assert!(counted, "dropped spans are counted");
}
