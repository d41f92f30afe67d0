//! Hearing an upstream that answers before it has read the whole request body.
//!
//! An upstream may refuse a large body (413, 401, 429) as soon as it has read the head. It may
//! then stop reading, without closing. The hand-off writes the body before it reads the
//! answer, and Pingora's client session cannot be written and read at the same time. So such
//! an upstream would stall the write until the first-byte limit, and the client would get a
//! 504 instead of the upstream's answer. While a body write is pending, this watcher peeks at
//! the upstream socket every `EVERY` (one non-blocking syscall). An answer, or a close, ends
//! the write. A write that completes on its first poll (every small body) never starts the
//! watcher's timer. Only plain-text HTTP/1 upstreams are watched (see [`upstream_fd`]).

use super::client_watch::peek;
use pingora::protocols::http::client::HttpSession as ClientSession;
use std::os::fd::RawFd;
use std::time::Duration;

/// How often a stalled body write looks for an answer.
const EVERY: Duration = Duration::from_millis(50);
/// How much of a waiting answer is looked at: enough for a few informational heads.
const LOOK: usize = 2048;

/// The socket of a plain-text HTTP/1 upstream session. Not watched: HTTP/2 (multiplexed) and
/// TLS, where bytes waiting on the socket may be a session ticket or a key update rather
/// than an answer, and stopping the body then would stall the exchange.
pub fn upstream_fd(up: &ClientSession, tls: bool) -> Option<RawFd> {
    if tls {
        return None;
    }
    up.as_http1().map(|h| h.stream().id())
}

/// Resolves once the upstream has sent a final answer (or closed) while the body is still
/// being written; never resolves for `None`.
pub async fn answered(fd: Option<RawFd>) {
    let Some(fd) = fd else {
        return std::future::pending().await;
    };
    tokio::time::sleep(EVERY).await;
    let mut buf = vec![0u8; LOOK];
    loop {
        match peek(fd, &mut buf) {
            Ok(0) => return,
            Ok(n) if has_final_answer(&buf[..n]) => return,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
        tokio::time::sleep(EVERY).await;
    }
}

/// Whether `bytes` (the start of what the upstream sent) holds more than informational (1xx)
/// heads: a `100 Continue` or `103 Early Hints` must not stop the body, since the upstream is
/// still reading it. Something that is not an HTTP/1 head counts as an answer too: the body
/// should stop, and the response reader will report it.
fn has_final_answer(mut bytes: &[u8]) -> bool {
    loop {
        if bytes.is_empty() {
            return false;
        }
        let informational = bytes.len() >= 10
            && (bytes.starts_with(b"HTTP/1.1 1") || bytes.starts_with(b"HTTP/1.0 1"));
        if !informational {
            // A partial status line may still turn out to be informational: wait for more.
            let prefix = b"HTTP/1.1 1".starts_with(bytes) || b"HTTP/1.0 1".starts_with(bytes);
            return bytes.len() >= 10 || !prefix;
        }
        match memchr::memmem::find(bytes, b"\r\n\r\n") {
            Some(end) => bytes = &bytes[end + 4..],
            None => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::has_final_answer;

    #[test]
    fn informational_heads_are_not_an_answer() {
        assert!(!has_final_answer(b""));
        assert!(!has_final_answer(b"HTTP/1.1 100 Continue\r\n\r\n"));
        assert!(!has_final_answer(b"HTTP/1.1 100 Contin"));
        assert!(!has_final_answer(b"HTTP/1."));
        assert!(!has_final_answer(b"HTTP/1.0 "));
        assert!(!has_final_answer(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: x\r\n\r\n"
        ));
    }

    #[test]
    fn a_final_head_or_anything_else_is() {
        assert!(has_final_answer(b"HTTP/1.1 413 Payload Too Large\r\n"));
        assert!(has_final_answer(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 429 Too Many"
        ));
        assert!(has_final_answer(b"HTTP/1.0 200 OK\r\n\r\n"));
        assert!(has_final_answer(b"garbage that is no head"));
        assert!(has_final_answer(b"x"));
    }
}
