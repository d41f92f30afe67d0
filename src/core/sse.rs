//! SSE framing: finding events in a byte stream (one search for every reader of SSE: the
//! chat decoder, the providers' decoders, the proxy's scan) and writing events.

/// `event: <name>\ndata: <json>\n\n`
pub fn event(out: &mut Vec<u8>, name: &str, data: &serde_json::Value) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    write_json(out, data);
    out.extend_from_slice(b"\n\n");
}

/// `data: <json>\n\n` (Chat Completions and legacy Completions streams have no event names).
pub fn data(out: &mut Vec<u8>, data: &serde_json::Value) {
    out.extend_from_slice(b"data: ");
    write_json(out, data);
    out.extend_from_slice(b"\n\n");
}

/// Serialises straight into `out`: `Value::to_string` went through `fmt::Write` and a
/// temporary `String` (a tenth of a streamed answer's redaction). The same bytes.
fn write_json(out: &mut Vec<u8>, data: &serde_json::Value) {
    // Writing a `Value` into a `Vec` cannot fail (no I/O, string keys only).
    let _ = serde_json::to_writer(&mut *out, data);
}

/// Where to resume the search for an event's end in a buffer of `len` bytes whose first
/// `scanned` bytes held none: 3 bytes back, as a separator (up to 4 bytes) may straddle two
/// pieces. Searching the whole incomplete event again on every piece made a long event that
/// arrives in small pieces quadratic (a 1 MB event in 16-byte pieces: minutes of CPU).
pub(crate) fn resume_at(scanned: usize, len: usize) -> usize {
    scanned.min(len).saturating_sub(3)
}

/// The end of the first complete event in `buf` and the length of its separator (`\n\n` or
/// `\r\n\r\n`, whichever comes first). One pass over the line feeds: searching for each
/// separator in turn scanned to the end of the buffer for the one that was absent, on every
/// event, so a body of many events read at once (a non-streamed answer folded from SSE, one
/// large read) was quadratic (4,000 events in 700 KB: 0.4 s; 16,000: 7 s).
pub(crate) fn event_end(buf: &[u8]) -> Option<(usize, usize)> {
    memchr::memchr_iter(b'\n', buf).find_map(|i| {
        if i > 0 && buf[i - 1] == b'\r' && buf.get(i + 1..i + 3) == Some(b"\r\n") {
            Some((i - 1, 4))
        } else if buf.get(i + 1) == Some(&b'\n') {
            Some((i, 2))
        } else {
            None
        }
    })
}

/// The `data:` payload of an event; several `data:` lines are joined with `\n` (SSE rules).
pub(crate) fn data_of(event: &[u8]) -> Option<std::borrow::Cow<'_, [u8]>> {
    let mut lines = event
        .split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter_map(|l| l.strip_prefix(b"data:"))
        .map(|d| d.strip_prefix(b" ").unwrap_or(d));
    let first = lines.next()?;
    let rest: Vec<&[u8]> = lines.collect();
    if rest.is_empty() {
        return Some(std::borrow::Cow::Borrowed(first));
    }
    let mut joined = first.to_vec();
    for l in rest {
        joined.push(b'\n');
        joined.extend_from_slice(l);
    }
    Some(std::borrow::Cow::Owned(joined))
}

/// Longest event a [`Splitter`] holds; a longer one is dropped (memory stays bounded).
pub const MAX_EVENT: usize = 8 << 20;

/// Splits an SSE body that arrives in pieces (any split: mid-event, mid-separator) into whole
/// events, searching each byte for an event's end once (see [`resume_at`]). Every SSE reader
/// of the gateway (the chat decoder, the providers' stream decoders, the Completions
/// translator) holds one.
#[derive(Debug, Default)]
pub struct Splitter {
    carry: Vec<u8>,
    /// How much of `carry` was already searched for an event's end.
    scanned: usize,
}

impl Splitter {
    /// Takes one piece; calls `on_event` with each event it completes, in order, for as long as
    /// `on_event` returns `true`. On `false` (the reader has ended) the rest is dropped.
    pub fn feed(&mut self, chunk: &[u8], mut on_event: impl FnMut(&[u8]) -> bool) {
        let mut carry = std::mem::take(&mut self.carry);
        carry.extend_from_slice(chunk);
        let mut start = 0;
        let mut from = resume_at(self.scanned, carry.len());
        while let Some((end, sep)) = carry.get(from..).and_then(event_end) {
            let end = from + end;
            let go_on = carry.get(start..end).is_none_or(&mut on_event);
            start = end + sep;
            from = start;
            if !go_on {
                self.scanned = 0;
                return;
            }
        }
        carry.drain(..start.min(carry.len()));
        if carry.len() > MAX_EVENT {
            carry.clear();
        }
        self.scanned = carry.len();
        self.carry = carry;
    }

    /// The body ended: its unterminated last event, unless it is blank.
    pub fn finish(&mut self) -> Option<Vec<u8>> {
        self.scanned = 0;
        let rest = std::mem::take(&mut self.carry);
        (!rest.iter().all(u8::is_ascii_whitespace)).then_some(rest)
    }

    /// Drops what is held (the reader failed).
    pub fn clear(&mut self) {
        self.carry = Vec::new();
        self.scanned = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Any split of a body gives the same events as the whole body.
    #[test]
    fn a_splitter_finds_the_same_events_in_any_split() {
        let body = b"data: a\n\nevent: x\r\ndata: b\r\n\r\ndata: c\n\ndata: tail";
        let whole = {
            let mut sp = Splitter::default();
            let mut ev = Vec::new();
            sp.feed(body, |e| {
                ev.push(e.to_vec());
                true
            });
            ev.extend(sp.finish());
            ev
        };
        assert_eq!(whole.len(), 4);
        for size in 1..body.len() {
            let mut sp = Splitter::default();
            let mut ev = Vec::new();
            for piece in body.chunks(size) {
                sp.feed(piece, |e| {
                    ev.push(e.to_vec());
                    true
                });
            }
            ev.extend(sp.finish());
            assert_eq!(ev, whole, "pieces of {size}");
        }
        // A reader that stops takes no further event.
        let mut sp = Splitter::default();
        let mut n = 0;
        sp.feed(body, |_| {
            n += 1;
            false
        });
        assert_eq!((n, sp.finish()), (1, None));
    }

    /// The one-pass search finds what searching for each separator in turn found, on every
    /// string of `\r`, `\n` and `x` up to 8 bytes.
    #[test]
    fn event_end_finds_the_first_separator() {
        fn naive(buf: &[u8]) -> Option<(usize, usize)> {
            let find = |n: &[u8]| buf.windows(n.len()).position(|w| w == n);
            match (find(b"\n\n"), find(b"\r\n\r\n")) {
                (Some(a), Some(b)) => Some(if a <= b { (a, 2) } else { (b, 4) }),
                (a, b) => a.map(|a| (a, 2)).or(b.map(|b| (b, 4))),
            }
        }
        for len in 0..=8u32 {
            for mut code in 0..3usize.pow(len) {
                let buf: Vec<u8> = (0..len)
                    .map(|_| {
                        let b = [b'\r', b'\n', b'x'][code % 3];
                        code /= 3;
                        b
                    })
                    .collect();
                assert_eq!(event_end(&buf), naive(&buf), "{buf:?}");
            }
        }
    }
}
