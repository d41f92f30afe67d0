//! Writing SSE events.

/// `event: <name>\ndata: <json>\n\n`
pub fn event(out: &mut Vec<u8>, name: &str, data: &serde_json::Value) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    out.extend_from_slice(data.to_string().as_bytes());
    out.extend_from_slice(b"\n\n");
}

/// `data: <json>\n\n` (Chat Completions and legacy Completions streams have no event names).
pub fn data(out: &mut Vec<u8>, data: &serde_json::Value) {
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(data.to_string().as_bytes());
    out.extend_from_slice(b"\n\n");
}
