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
}

/// A one-purpose upstream on loopback; `heads` collects every request head it received.
struct RawUpstream {
    url: String,
    heads: Arc<Mutex<Vec<String>>>,
}

impl RawUpstream {
    fn start(shape: Shape) -> RawUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let heads = Arc::new(Mutex::new(Vec::new()));
        let seen = heads.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let seen = seen.clone();
                std::thread::spawn(move || serve(conn, shape, &seen));
            }
        });
        RawUpstream { url, heads }
    }
}

/// Answers requests on one connection until the client closes it (or the shape closes it).
fn serve(conn: TcpStream, shape: Shape, seen: &Mutex<Vec<String>>) {
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
            ("X-Kept", "yes"),
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
    ] {
        assert!(!head.contains(gone), "{gone} reached the upstream: {head}");
    }
    assert!(head.contains("x-kept: yes"), "{head}");
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
