//! An upstream's error text as the client may see it: bounded, on a character boundary, and
//! only when it says something (one copy for every provider's and protocol's error mapping).

/// Longest upstream message kept (an HTML error page must not flood the client).
pub const MAX_MESSAGE: usize = 2000;

/// `s` cut to [`MAX_MESSAGE`] bytes on a character boundary, `…` marking a cut.
pub fn truncate(s: &str) -> String {
    truncate_to(s, MAX_MESSAGE)
}

/// `s` cut to `max` bytes on a character boundary, `…` marking a cut.
pub fn truncate_to(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", s.get(..end).unwrap_or_default())
}

/// An error body that is not JSON, as the message (JSON without a message says nothing
/// useful, so `was_json` gives `None`); a blank body gives `None` too.
pub fn plain_text(body: &[u8], was_json: bool) -> Option<String> {
    if was_json {
        return None;
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_on_a_character_boundary() {
        let s = "é".repeat(MAX_MESSAGE);
        let t = truncate(&s);
        assert!(t.ends_with('…') && t.len() <= MAX_MESSAGE + '…'.len_utf8());
        assert_eq!(truncate("short"), "short");
        assert_eq!(plain_text(b"  <html>  ", false).as_deref(), Some("<html>"));
        assert_eq!(plain_text(b"{}", true), None);
        assert_eq!(plain_text(b"   ", false), None);
    }
}
