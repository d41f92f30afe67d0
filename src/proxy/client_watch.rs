//! Noticing that the client went away while its response is still being produced.
//!
//! Pingora's own proxy loop reads the client connection while it waits for the upstream and so
//! sees a close at once. The hand-off has read the whole body and never reads the client again,
//! so a client that leaves during a silence (a long SSE pause, a slow first token) would only be
//! noticed at the next write, and the upstream would keep generating until then. This watcher
//! peeks at the client socket every `EVERY` (one non-blocking syscall, no extra descriptor,
//! nothing registered with the reactor): EOF means the client is gone.

use pingora::proxy::Session;
use std::mem::ManuallyDrop;
use std::os::fd::{FromRawFd, RawFd};
use std::time::Duration;

/// Most answers are done before the first look: they pay nothing.
const FIRST: Duration = Duration::from_millis(50);
/// How often a long answer looks again: the longest a cancelled upstream keeps running.
const EVERY: Duration = Duration::from_millis(200);

/// Watches one client connection.
pub struct ClientWatch {
    fd: Option<RawFd>,
}

enum Seen {
    Closed,
    Open,
    /// The client sent more bytes (a pipelined request): not a close; stop looking.
    Data,
}

impl ClientWatch {
    /// A watcher for the session's client socket (none for HTTP/2). The socket
    /// must stay open while `gone` is polled: the request that owns it outlives the watcher.
    pub fn new(session: &Session) -> ClientWatch {
        ClientWatch {
            fd: session.downstream_session.stream().map(|s| s.id()),
        }
    }

    fn look(fd: RawFd) -> Seen {
        let mut b = [0u8; 1];
        match peek(fd, &mut b) {
            Ok(0) => Seen::Closed,
            Ok(_) => Seen::Data,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Seen::Open,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Seen::Open,
            Err(_) => Seen::Closed,
        }
    }

    /// Resolves when the client has closed its connection; never resolves otherwise.
    pub async fn gone(&self) {
        let Some(fd) = self.fd else {
            return std::future::pending().await;
        };
        tokio::time::sleep(FIRST).await;
        loop {
            match Self::look(fd) {
                Seen::Closed => return,
                Seen::Data => return std::future::pending().await,
                Seen::Open => tokio::time::sleep(EVERY).await,
            }
        }
    }
}

/// Peeks at a socket Pingora owns and made non-blocking: returns at once, consumes nothing,
/// registers nothing with the reactor.
pub(super) fn peek(fd: RawFd, buf: &mut [u8]) -> std::io::Result<usize> {
    // SAFETY: the caller's session owns `fd` and outlives this call; ManuallyDrop keeps this
    // view from closing it.
    let view = ManuallyDrop::new(unsafe { std::net::TcpStream::from_raw_fd(fd) });
    view.peek(buf)
}
