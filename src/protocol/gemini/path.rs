//! What a Gemini URL carries besides the body: the model in the path
//! (`/v1beta/models/{model}:generateContent`) and the query parameters `alt` and `key`.

use crate::core::translate::TranslateError;

/// The model a path names, as the client meant it: percent-decoded (the SDKs encode what is
/// not URL-safe), without a leading `models/` (the resource name's prefix, which some clients
/// repeat). Empty names and control characters are refused; the length cap is the gateway's
/// usual one (`request::caps::model_name`), checked by the caller.
pub fn decode_model(raw: &str) -> Result<String, TranslateError> {
    let bad = |why: &str| TranslateError::new(format!("The model in the path {why}."), "model");
    let decoded = percent_decode(raw).ok_or_else(|| bad("is not valid percent-encoded UTF-8"))?;
    let model = decoded.strip_prefix("models/").unwrap_or(&decoded);
    if model.trim().is_empty() {
        return Err(bad("is empty"));
    }
    if model.chars().any(char::is_control) {
        return Err(bad("contains a control character"));
    }
    Ok(model.to_string())
}

/// The first value of query parameter `name`, percent-decoded (None when absent or invalid).
pub fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query?
        .split('&')
        .filter_map(|p| p.split_once('=').or(Some((p, ""))))
        .find(|(k, _)| *k == name)
        .and_then(|(_, v)| percent_decode(&v.replace('+', " ")))
}

/// RFC 3986 percent-decoding; None for a bad escape or bytes that are not UTF-8.
pub fn percent_decode(s: &str) -> Option<String> {
    if !s.contains('%') {
        return Some(s.to_string());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hi = hex(*bytes.get(i + 1)?)?;
            let lo = hex(*bytes.get(i + 2)?)?;
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn models_from_paths() {
        assert_eq!(
            decode_model("gemini-2.5-flash").unwrap(),
            "gemini-2.5-flash"
        );
        assert_eq!(decode_model("models/hy-1").unwrap(), "hy-1");
        assert_eq!(decode_model("models%2Fhy-1").unwrap(), "hy-1");
        assert_eq!(decode_model("org%2Fm%20x").unwrap(), "org/m x");
        assert_eq!(decode_model("%E4%B8%96").unwrap(), "世");
        for bad in [
            "", "models/", "%", "%4", "%zz", "%+1a", "%FF", "a%0Ab", "%20",
        ] {
            assert!(decode_model(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn query_parameters() {
        let q = Some("alt=sse&key=sk%2Dx&flag");
        assert_eq!(query_param(q, "alt").as_deref(), Some("sse"));
        assert_eq!(query_param(q, "key").as_deref(), Some("sk-x"));
        assert_eq!(query_param(q, "flag").as_deref(), Some(""));
        assert_eq!(query_param(q, "nope"), None);
        assert_eq!(query_param(None, "alt"), None);
        assert_eq!(query_param(Some("key=%"), "key"), None);
    }
}
