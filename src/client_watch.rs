//! Noticing that the client went away while its response is still being produced.
//!
//! Pingora's own proxy loop reads the client connection while it waits for the upstream and so
//! sees a close at once. A subrequest pipe with a preset body never reads the client, so a
//! client that leaves during a silence (a long SSE pause, a slow first token) would only be
//! noticed at the next write, and the upstream would keep generating until then. This watcher
//! peeks at a duplicate of the client socket: EOF means the client is gone.

use pingora::proxy::Session;
use std::os::fd::{BorrowedFd, FromRawFd, IntoRawFd, RawFd};
use std::time::Duration;

/// Most answers are done before this: they never pay for the duplicate socket's syscalls.
const WATCH_AFTER: Duration = Duration::from_millis(50);

/// Watches one client connection.
pub struct ClientWatch {
    fd: Option<RawFd>,
}

impl ClientWatch {
    /// A watcher for the session's client socket (none for HTTP/2 or subrequests). The socket
    /// must stay open while `gone` is polled: the request that owns it outlives the watcher.
    pub fn new(session: &Session) -> ClientWatch {
        ClientWatch {
            fd: session.downstream_session.stream().map(|s| s.id()),
        }
    }

    fn duplicate(&self) -> Option<tokio::net::TcpStream> {
        self.fd.and_then(|fd| {
            // SAFETY: `fd` is the client's socket, owned by the session, which outlives this
            // watcher (the watcher lives inside the request it watches). We only borrow it to
            // duplicate it; the duplicate is ours and is closed when the watcher drops.
            let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
            let owned = borrowed.try_clone_to_owned().ok()?;
            // SAFETY: `owned` is a fresh descriptor of a TCP socket that nothing else owns.
            let std = unsafe { std::net::TcpStream::from_raw_fd(owned.into_raw_fd()) };
            std.set_nonblocking(true).ok()?;
            tokio::net::TcpStream::from_std(std).ok()
        })
    }

    /// Resolves when the client has closed its connection; never resolves otherwise (also not
    /// when it sends more data, e.g. a pipelined request: that is not a close).
    pub async fn gone(&self) {
        tokio::time::sleep(WATCH_AFTER).await;
        let Some(stream) = self.duplicate() else {
            return std::future::pending().await;
        };
        let s = &stream;
        let mut b = [0u8; 1];
        loop {
            if s.readable().await.is_err() {
                return;
            }
            match s.peek(&mut b).await {
                Ok(0) => return,
                Ok(_) => return std::future::pending().await,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(_) => return,
            }
        }
    }
}
