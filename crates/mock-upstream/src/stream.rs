//! A streaming body that sends pre-built pieces one by one, paced and optionally cut.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;

const CUT_FLUSH_PAUSE: Duration = Duration::from_millis(20);

/// Streams being sent now, and streams whose client went away before the end: tests check
/// that the gateway cancels upstream streams promptly when its client disconnects. One per
/// mock (several mocks can run in one test process).
#[derive(Debug, Default)]
pub struct StreamCounters {
    pub open: AtomicI64,
    pub cancelled: AtomicU64,
}

/// Counts a stream as open until dropped; a drop before the end counts as a cancellation.
struct Open {
    finished: bool,
    counters: Arc<StreamCounters>,
}

impl Open {
    fn new(counters: Arc<StreamCounters>) -> Open {
        counters.open.fetch_add(1, Relaxed);
        Open {
            finished: false,
            counters,
        }
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.counters.open.fetch_sub(1, Relaxed);
        if !self.finished {
            self.counters.cancelled.fetch_add(1, Relaxed);
        }
    }
}

enum State {
    Next(std::vec::IntoIter<Bytes>, usize, Open),
    Done,
}

/// Sends `pieces` as separate frames with `interval` between them. With `cut_after = Some(n)`,
/// after `n` pieces (or at the end, if there are fewer) the stream yields an error, which makes
/// hyper abort the connection without the chunked terminator: an upstream dying mid-stream.
pub fn paced(
    pieces: Vec<Bytes>,
    interval: Duration,
    cut_after: Option<usize>,
    counters: Arc<StreamCounters>,
) -> Body {
    let stream = futures::stream::unfold(
        State::Next(pieces.into_iter(), 0, Open::new(counters)),
        move |st| async move {
            let State::Next(mut it, i, mut open) = st else {
                return None;
            };
            let next = if cut_after == Some(i) {
                None
            } else {
                it.next()
            };
            let Some(piece) = next else {
                open.finished = true;
                cut_after?;
                // hyper flushes what it has written only when the body is pending; without this
                // pause the error would discard the head and the first events along with the
                // connection, instead of cutting the stream after them.
                tokio::time::sleep(CUT_FLUSH_PAUSE).await;
                return Some((Err(std::io::Error::other("x-mock-cut-after")), State::Done));
            };
            if i > 0 && !interval.is_zero() {
                tokio::time::sleep(interval).await;
            }
            Some((Ok(piece), State::Next(it, i + 1, open)))
        },
    );
    Body::from_stream(stream)
}
