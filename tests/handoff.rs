//! The hand-off's own HTTP handling against a raw upstream that speaks shapes the mock does not:
//! a close-delimited stream (no length, no chunking), informational responses before the
//! real one, and hop-by-hop request headers. The gateway sends upstream through Pingora's
//! connector itself (no Pingora proxy loop), so these are its responsibility.

mod common;

use common::gateway::{demo_config, Gateway};
use common::raw::Conn;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the raw upstream answers.
#[derive(Clone, Copy)]
enum Shape {
    /// SSE with neither Content-Length nor Transfer-Encoding; the body ends at the close.
    CloseDelimitedSse,
    /// `103 Early Hints`, then a JSON chat answer with a length.
    EarlyHintsThenJson,
    /// A 429 with an empty body (`Content-Length: 0`).
    EmptyTooManyRequests,
    /// An SSE stream of 16 KB events that never ends; `closed` is set when a write fails.
    EndlessSse,
    /// Reads the head and at most 1 KB of the body, answers 413 and then neither reads nor
    /// closes for 15 s (an upstream refusing a large body early).
    AnswersEarly,
}

/// A one-purpose upstream on loopback; `heads` collects every request head it received.
struct RawUpstream {
    url: String,
    heads: Arc<Mutex<Vec<String>>>,
    /// Set when the gateway closed a stream of `EndlessSse`.
    closed: Arc<std::sync::atomic::AtomicBool>,
}

impl RawUpstream {
    fn start(shape: Shape) -> RawUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let heads = Arc::new(Mutex::new(Vec::new()));
        let closed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (seen, gone) = (heads.clone(), closed.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (seen, gone) = (seen.clone(), gone.clone());
                std::thread::spawn(move || serve(conn, shape, &seen, &gone));
            }
        });
        RawUpstream { url, heads, closed }
    }
}

/// Answers requests on one connection until the client closes it (or the shape closes it).
fn serve(
    conn: TcpStream,
    shape: Shape,
    seen: &Mutex<Vec<String>>,
    closed: &std::sync::atomic::AtomicBool,
) {
    conn.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let mut w = conn.try_clone().expect("clone");
    let mut r = BufReader::new(conn);
    loop {
        let mut head = String::new();
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" {
                break;
            }
            head.push_str(&line);
        }
        let len = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse::<usize>().ok())?
            })
            .unwrap_or(0);
        if let Shape::AnswersEarly = shape {
            let mut some = vec![0; len.min(1024)];
            let _ = r.read_exact(&mut some);
            seen.lock().expect("lock").push(head);
            let body =
                r#"{"error":{"message":"request body too large","type":"invalid_request_error"}}"#;
            let out = format!(
                "HTTP/1.1 413 Payload Too Large\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            let _ = w.write_all(out.as_bytes());
            std::thread::sleep(Duration::from_secs(15));
            return;
        }
        let mut body = vec![0; len];
        if r.read_exact(&mut body).is_err() {
            return;
        }
        seen.lock().expect("lock").push(head);
        match shape {
            Shape::CloseDelimitedSse => {
                let mut out = String::from(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n",
                );
                for i in 0..5 {
                    out.push_str(&format!(
                        "data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"tok{i}\"}}}}]}}\n\n"
                    ));
                }
                out.push_str("data: [DONE]\n\n");
                let _ = w.write_all(out.as_bytes());
                return; // the close ends the body
            }
            Shape::EndlessSse => {
                let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";
                if w.write_all(head.as_bytes()).is_err() {
                    return;
                }
                let event = format!(
                    "data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{}\"}}}}]}}\n\n",
                    "x".repeat(16 * 1024)
                );
                let chunk = format!("{:x}\r\n{event}\r\n", event.len());
                // Bounded: at most 60 s of events.
                for _ in 0..12_000 {
                    if w.write_all(chunk.as_bytes()).is_err() {
                        closed.store(true, std::sync::atomic::Ordering::SeqCst);
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                return;
            }
            Shape::AnswersEarly => return,
            Shape::EmptyTooManyRequests => {
                let out = "HTTP/1.1 429 Too Many Requests\r\nContent-Length: 0\r\n\r\n";
                if w.write_all(out.as_bytes()).is_err() {
                    return;
                }
            }
            Shape::EarlyHintsThenJson => {
                let body = r#"{"id":"c1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hinted"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1}}"#;
                let out = format!(
                    "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n\
                     HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                if w.write_all(out.as_bytes()).is_err() {
                    return;
                }
            }
        }
    }
}

fn chat(stream: bool) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "model": "gpt-3.5-turbo-instruct",
        "stream": stream,
        "messages": [{"role": "user", "content": "hi"}],
    }))
    .expect("json")
}

fn addr(gw: &Gateway) -> String {
    format!("127.0.0.1:{}", gw.port)
}

/// An upstream stream that ends by closing its connection reaches an HTTP/1.1 client framed
/// (chunked), complete, and on a connection the client can use again.
#[test]
fn a_close_delimited_stream_is_framed_for_the_client() {
    let up = RawUpstream::start(Shape::CloseDelimitedSse);
    let gw = Gateway::start(&demo_config(&up.url, "hunyuan"));
    let mut c = Conn::open(&addr(&gw));
    for round in 0..2 {
        let r = c.request("POST", "/v1/chat/completions", &[], &chat(true));
        assert_eq!(r.status, 200, "round {round}");
        assert_eq!(
            r.header("transfer-encoding"),
            Some("chunked"),
            "round {round}: {:?}",
            r.headers
        );
        let text = String::from_utf8_lossy(&r.body);
        for i in 0..5 {
            assert!(text.contains(&format!("tok{i}")), "round {round}: {text}");
        }
        assert!(text.contains("[DONE]"), "round {round}: {text}");
    }
    assert!(!c.is_closed(), "the client's connection stays usable");
    assert_eq!(up.heads.lock().expect("lock").len(), 2);
}

/// Informational answers (103) before the real one are skipped; the client sees the 200.
#[test]
fn informational_answers_before_the_real_one_are_skipped() {
    let up = RawUpstream::start(Shape::EarlyHintsThenJson);
    let gw = Gateway::start(&demo_config(&up.url, "hunyuan"));
    let mut c = Conn::open(&addr(&gw));
    let r = c.request("POST", "/v1/chat/completions", &[], &chat(false));
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["choices"][0]["message"]["content"], "hinted");
    // The same pooled upstream connection serves the next request.
    let r = c.request("POST", "/v1/chat/completions", &[], &chat(false));
    assert_eq!(r.status, 200);
}

/// The request sent upstream is HTTP/1.1 with the rewritten body's length and without the
/// client's hop-by-hop headers or credential.
#[test]
fn hop_by_hop_headers_and_the_client_key_stay_here() {
    let up = RawUpstream::start(Shape::EarlyHintsThenJson);
    let gw = Gateway::start(&demo_config(&up.url, "hunyuan"));
    let mut c = Conn::open(&addr(&gw));
    let body = chat(false);
    let r = c.request(
        "POST",
        "/v1/chat/completions",
        &[
            ("Connection", "keep-alive, x-hop"),
            ("Keep-Alive", "timeout=5"),
            ("TE", "trailers"),
            ("Proxy-Authorization", "Basic c2VjcmV0"),
            ("Authorization", "Bearer sk-client-secret"),
            ("X-Stainless-Lang", "yes"),
            // Not on the forwarded allow-list (issue 18 item 9).
            ("X-Dropped", "yes"),
        ],
        &body,
    );
    assert_eq!(r.status, 200);
    let heads = up.heads.lock().expect("lock");
    let head = heads.last().expect("a request").to_ascii_lowercase();
    assert!(
        head.starts_with("post /v1/chat/completions http/1.1"),
        "{head}"
    );
    for gone in [
        "keep-alive:",
        "\nte:",
        "proxy-authorization:",
        "sk-client-secret",
        "x-dropped:",
    ] {
        assert!(!head.contains(gone), "{gone} reached the upstream: {head}");
    }
    assert!(head.contains("x-stainless-lang: yes"), "{head}");
    let len = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map(|v| v.trim().parse::<usize>().expect("length"));
    assert!(len.is_some_and(|n| n > 0), "{head}");
}

/// An upstream error without a body still becomes a whole error in the client's protocol: the
/// Anthropic client gets Anthropic's error object, framed, on a connection it can reuse.
#[test]
fn an_empty_upstream_error_is_answered_in_the_clients_protocol() {
    let up = RawUpstream::start(Shape::EmptyTooManyRequests);
    let gw = Gateway::start(&demo_config(&up.url, "hunyuan"));
    let mut c = Conn::open(&addr(&gw));
    let body = serde_json::to_vec(&serde_json::json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "hi"}],
    }))
    .expect("json");
    for round in 0..2 {
        let r = c.request(
            "POST",
            "/v1/messages",
            &[("anthropic-version", "2023-06-01")],
            &body,
        );
        assert_eq!(r.status, 429, "round {round}");
        let v = r.json();
        assert_eq!(v["type"], "error", "round {round}: {v}");
        assert_eq!(v["error"]["type"], "rate_limit_error", "round {round}: {v}");
    }
    assert!(!c.is_closed());
}

/// A client that stops reading a stream does not hold the upstream forever: once a write to it
/// has made no progress for `idle_ms` (1.5 s here) the try ends and the upstream connection is
/// closed.
#[test]
fn a_client_that_stops_reading_releases_the_upstream() {
    let up = RawUpstream::start(Shape::EndlessSse);
    let gw = Gateway::start(&demo_config(&up.url, "hunyuan"));
    let mut s = TcpStream::connect(addr(&gw)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    // A model of the pool with `idle_ms: 1500`.
    let body = serde_json::to_vec(&serde_json::json!({
        "model": "hunyuan-turbos-latest",
        "stream": true,
        "messages": [{"role": "user", "content": "hi"}],
    }))
    .expect("json");
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).expect("write");
    s.write_all(&body).expect("write");
    let mut first = [0u8; 1024];
    assert!(s.read(&mut first).expect("read") > 0, "the stream started");
    // Now read nothing more, with the connection open.
    let released = common::gateway::wait_until_blocking(Duration::from_secs(20), || {
        up.closed.load(std::sync::atomic::Ordering::SeqCst)
    });
    assert!(
        released,
        "the upstream stream was still held for a client that reads nothing"
    );
    drop(s);
}

/// An upstream 503 is held back and retried for an Anthropic client too, although that
/// client's answer would say 529.
#[tokio::test]
async fn a_held_status_is_judged_before_the_clients_protocol_rewrites_it() {
    let mock = common::mock::Mock::start(false);
    let gw = Gateway::start(&demo_config(&mock.url(""), "hunyuan"));
    let chats = |v: serde_json::Value| v["requests"]["chat"].as_u64().unwrap_or(0);
    let before = chats(mock.stats().await);
    let r = reqwest::Client::new()
        .post(gw.url("/v1/messages"))
        .header("anthropic-version", "2023-06-01")
        .header("x-mock-status", "503")
        .json(&serde_json::json!({
            "model": "claude-sonnet-4-5",
            "max_tokens": 64,
            "messages": [{"role": "user", "content": "hi"}],
        }))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 529);
    assert_eq!(
        chats(mock.stats().await),
        before + 2,
        "retry.attempts defaults to 2: the 503 was held and tried again"
    );
}

/// An upstream that answers 413 after reading 1 KB of an 8 MB body, and then neither reads nor
/// closes: its answer reaches the client at once (not a 504 at the first-byte limit), and the
/// connection, whose request was cut short, is not used again.
#[tokio::test]
async fn an_upstream_that_answers_before_reading_the_body_is_heard() {
    let up = RawUpstream::start(Shape::AnswersEarly);
    let gw = Gateway::start(&demo_config(&up.url, "hunyuan"));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let big = serde_json::json!({
        "model": "gpt-3.5-turbo-instruct",
        "messages": [{"role": "user", "content": "x".repeat(8 << 20)}],
    });
    for body in [
        big,
        serde_json::json!({"model": "gpt-3.5-turbo-instruct",
        "messages": [{"role": "user", "content": "small"}]}),
    ] {
        let r = client
            .post(gw.url("/v1/chat/completions"))
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("no answer: {e}\n{}", gw.log_text()));
        assert_eq!(r.status(), 413);
        let v: serde_json::Value = r.json().await.expect("json");
        assert_eq!(v["error"]["message"], "request body too large", "{v}");
    }
    assert_eq!(up.heads.lock().expect("lock").len(), 2, "one try each");
}
