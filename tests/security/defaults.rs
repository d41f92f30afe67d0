//! Security: safe by default (issue 18, items 8-11; see docs/security.md).

use crate::common::gateway::{demo_config, Gateway};
use crate::common::mock::Mock;
use crate::common::raw::Conn;

fn setup() -> (Mock, Gateway) {
    let mock = Mock::start(false);
    let gw = Gateway::start(&demo_config(&format!("http://{}", mock.addr), "openai"));
    (mock, gw)
}

const CHAT: &str = r#"{"model":"hunyuan-turbos-latest","messages":[{"role":"user","content":"hi"}]}"#;

/// A well-formed chat request on its own connection-reuse test: a write of its own.
fn second_chat() -> Vec<u8> {
    format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{CHAT}",
        CHAT.len()
    )
    .into_bytes()
}

/// Sends `first` (a smuggling shape), reads its answer (if any), then, in a separate write, a
/// clean chat request on the same connection: `(first status, second status)`, `None` where
/// the connection was closed instead of answering.
async fn first_then_second(gw: &Gateway, first: Vec<u8>) -> (Option<u16>, Option<u16>) {
    let addr = gw.addr.clone();
    tokio::task::spawn_blocking(move || {
        let mut c = Conn::open(&addr);
        // The whole first answer is read before the second request goes out, so the second
        // arrives as a separate read on the server.
        let a = c.try_request(&first).map(|r| r.status);
        let b = c.try_request(&second_chat()).map(|r| r.status);
        (a, b)
    })
    .await
    .expect("raw client")
}

/// Item 10: `Content-Length` with `Transfer-Encoding` is answered (TE wins, RFC 9112), and
/// then the connection closes: a request sent afterwards in a write of its own is never
/// served (Pingora had turned keep-alive off; the gateway must not turn it back on).
#[tokio::test]
async fn cl_and_te_close_the_connection_even_when_the_next_request_comes_later() {
    let (mock, gw) = setup();
    let chunked = format!("{:x}\r\n{CHAT}\r\n0\r\n\r\n", CHAT.len());
    for extra in ["", "Connection: keep-alive\r\n"] {
        let first = format!(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n{extra}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n{chunked}"
        );
        let (a, b) = first_then_second(&gw, first.into_bytes()).await;
        assert_eq!(a, Some(200), "the first request is served ({extra:?})");
        assert_eq!(b, None, "the next request is not served ({extra:?})");
    }
    assert_eq!(mock.stats().await["requests"]["chat"], 2, "one per connection");
}

/// Item 10: the other framing shapes Pingora refuses (differing `Content-Length`s, a
/// `Transfer-Encoding` whose last coding is not chunked, TE on HTTP/1.0) never reach the
/// provider and leave no connection to reuse.
#[tokio::test]
async fn other_smuggling_shapes_are_refused_and_closed() {
    let (mock, gw) = setup();
    let shapes = [
        format!("POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\nContent-Length: 4\r\n\r\n{CHAT}", CHAT.len()),
        format!("POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {0}, 4\r\n\r\n{CHAT}", CHAT.len()),
        format!("POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nTransfer-Encoding: gzip\r\n\r\n{CHAT}"),
        format!("POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked, gzip\r\n\r\n{CHAT}"),
        format!("POST /v1/chat/completions HTTP/1.0\r\nHost: t\r\nConnection: keep-alive\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{CHAT}\r\n0\r\n\r\n", CHAT.len()),
    ];
    for shape in shapes {
        let (a, b) = first_then_second(&gw, shape.clone().into_bytes()).await;
        assert!(
            a.is_none_or(|s| s == 400),
            "refused with 400 or a close: {a:?} for {shape:?}"
        );
        assert_eq!(b, None, "nothing more is served after {shape:?}");
    }
    assert_eq!(mock.stats().await["requests"]["chat"], 0);
}
