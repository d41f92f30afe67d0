//! The access log's writer: worker threads hand finished lines to one background thread over a
//! bounded channel, and that thread writes them to stderr in batches. Formatting a line and a
//! `try_send` is all the request path pays (measured: writing each line through env_logger
//! from the workers cost 25% of pass-through throughput). When the channel is full (stderr
//! cannot keep up) lines are dropped and counted (`llm_relay_access_log_dropped_total`), never
//! waited for.
//!
//! The lines go to the process's stderr, beside the logger's output but not through it: they
//! are bare JSON objects (they start with `{`), the logger's lines start with `[`, and
//! `RUST_LOG` does not filter them (`server.access_log: false` turns them off).

use std::io::Write;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError};
use std::sync::OnceLock;
use std::time::Duration;

/// Lines held between two writes (at `TICK`: about 300k lines per second).
const QUEUE: usize = 16 * 1024;
const TICK: Duration = Duration::from_millis(50);

static TX: OnceLock<SyncSender<String>> = OnceLock::new();

/// The writer thread's queue, started on first use: after Pingora has daemonized (a thread
/// started before the fork would not exist in the daemon).
fn sender() -> &'static SyncSender<String> {
    TX.get_or_init(|| {
        let (tx, rx) = sync_channel(QUEUE);
        let spawned = std::thread::Builder::new()
            .name("access-log".into())
            .spawn(move || write_loop(rx));
        if let Err(e) = spawned {
            // The receiver went with the closure: every line is dropped and counted.
            log::error!("access log thread: {e}; access lines are dropped");
        }
        tx
    })
}

/// Queues one line (without its newline).
pub fn write(line: String) {
    if sender().try_send(line).is_err() {
        crate::observe::metrics::metrics().access_log_dropped.inc();
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
