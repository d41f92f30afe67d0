//! Reading a request body whole, in `request_filter`, before anything is sent upstream: the
//! model inside the body picks the pool, and chat bodies are rewritten. Bounded in size (413)
//! and in total time (408), because a client that drips bytes beats any per-read timeout.

use crate::body::caps::ItemCaps;
use crate::config::error::ConfigError;
use crate::config::file::BodySection;
use crate::core::error::GatewayError;
use crate::core::kind::Kind;
use bytes::{Bytes, BytesMut};
use pingora::proxy::Session;
use std::time::Duration;

/// `body:`, resolved per kind.
#[derive(Debug)]
pub struct BodyLimits {
    /// The cap of each kind, indexed by [`Kind::index`].
    caps: [usize; Kind::ALL.len()],
    pub read_timeout: Duration,
    /// How many tools, messages and input items a request may carry.
    pub items: ItemCaps,
}

impl BodyLimits {
    pub fn cap(&self, kind: Kind) -> usize {
        self.caps[kind.index()]
    }
}

impl TryFrom<&BodySection> for BodyLimits {
    type Error = ConfigError;

    fn try_from(b: &BodySection) -> Result<Self, ConfigError> {
        let mut caps = Kind::ALL.map(|k| match k {
            Kind::Transcriptions | Kind::Translations => b.max_upload_bytes,
            _ => b.max_bytes,
        });
        for (k, v) in &b.max_bytes_by_kind {
            let kind = Kind::parse(k)
                .ok_or_else(|| ConfigError::at(format!("max_bytes_by_kind.{k}"), "unknown kind"))?;
            caps[kind.index()] = *v;
        }
        if b.read_timeout_ms == 0 {
            return Err(ConfigError::at("read_timeout_ms", "must be > 0"));
        }
        let items = ItemCaps::from_section(b).map_err(|(k, m)| ConfigError::at(k, m))?;
        Ok(BodyLimits {
            caps,
            read_timeout: Duration::from_millis(b.read_timeout_ms),
            items,
        })
    }
}

/// Why a body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    #[error("the request body is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("the request body did not arrive within {seconds} s")]
    Timeout { seconds: u64 },
    /// The client went away; there is no one to answer.
    #[error("the client went away")]
    ClientGone,
}

impl From<ReadError> for GatewayError {
    fn from(e: ReadError) -> GatewayError {
        match e {
            ReadError::TooLarge { limit } => GatewayError::BodyTooLarge { limit },
            ReadError::Timeout { seconds } => GatewayError::BodyTimeout { seconds },
            // Never answered (nobody is listening); a 400 if it ever is.
            ReadError::ClientGone => GatewayError::bad_request("The request body ended early."),
        }
    }
}

/// Reads the whole body, honouring `Expect: 100-continue`, `cap` bytes and `deadline`.
pub async fn read_whole(
    session: &mut Session,
    cap: usize,
    deadline: Duration,
) -> Result<Bytes, ReadError> {
    let declared = content_length(session);
    if declared.is_some_and(|n| n > cap) {
        return Err(ReadError::TooLarge { limit: cap });
    }
    if expects_continue(session) {
        // Without this, curl and most SDKs stall ~1 s before sending a large body.
        // A 100 is a response written before the body is read; without the toggle Pingora
        // would mark the connection to close after this request.
        let ds = &mut session.downstream_session;
        ds.set_close_on_response_before_downstream_finish(false);
        let sent = ds.write_continue_response().await;
        ds.set_close_on_response_before_downstream_finish(true);
        sent.map_err(|_| ReadError::ClientGone)?;
    }
    let work = read_capped(session, cap, declared.unwrap_or(0));
    match tokio::time::timeout(deadline, work).await {
        Ok(r) => r,
        Err(_) => Err(ReadError::Timeout {
            seconds: deadline.as_secs().max(1),
        }),
    }
}

async fn read_capped(session: &mut Session, cap: usize, hint: usize) -> Result<Bytes, ReadError> {
    let mut first: Option<Bytes> = None;
    let mut buf = BytesMut::new();
    loop {
        let chunk = match session.read_request_body().await {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(e) => {
                log::debug!("reading request body: {e}");
                return Err(ReadError::ClientGone);
            }
        };
        let have = first.as_ref().map_or(0, |f| f.len()) + buf.len();
        if have + chunk.len() > cap {
            return Err(ReadError::TooLarge { limit: cap });
        }
        // The common case is a body that arrives in one read: keep it without a copy.
        match (&first, buf.is_empty()) {
            (None, true) => first = Some(chunk),
            _ => {
                if buf.is_empty() {
                    buf.reserve(hint.max(have + chunk.len()));
                    if let Some(f) = first.take() {
                        buf.extend_from_slice(&f);
                    }
                }
                buf.extend_from_slice(&chunk);
            }
        }
    }
    Ok(match first {
        Some(f) if buf.is_empty() => f,
        _ => buf.freeze(),
    })
}

fn content_length(session: &Session) -> Option<usize> {
    let h = session
        .req_header()
        .headers
        .get(http::header::CONTENT_LENGTH)?;
    h.to_str().ok()?.trim().parse().ok()
}

fn expects_continue(session: &Session) -> bool {
    session
        .req_header()
        .headers
        .get(http::header::EXPECT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
}

/// Reads and discards the rest of a refused request's body so the connection can be kept
/// alive: only when the body is small (`cap`) and arrives promptly. Returns whether it is done.
pub async fn drain(session: &mut Session, cap: usize, deadline: Duration) -> bool {
    if session.is_body_done() {
        return true;
    }
    if content_length(session).is_some_and(|n| n > cap) {
        return false;
    }
    let work = async {
        let mut seen = 0usize;
        loop {
            match session.read_request_body().await {
                Ok(Some(c)) => {
                    seen += c.len();
                    if seen > cap {
                        return false;
                    }
                }
                Ok(None) => return true,
                Err(_) => return false,
            }
        }
    };
    tokio::time::timeout(deadline, work).await.unwrap_or(false)
}
