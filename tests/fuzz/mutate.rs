//! Mutators: bytes (flip, insert, delete, duplicate, splice two pool entries) and JSON trees
//! (replace a node with an odd value, drop or duplicate children, add protocol keys, graft a
//! subtree of another entry). JSON mutation keeps inputs parseable so they reach the
//! translators' logic instead of stopping at the parser.

use crate::engine::{Pool, Rng};
use serde_json::{Map, Value};

/// Words of the protocols: member names, types, roles. With the strings harvested from the
/// corpus they make generated inputs look like requests.
pub const WORDS: &[&str] = &[
    "model",
    "messages",
    "input",
    "instructions",
    "tools",
    "tool_choice",
    "role",
    "content",
    "type",
    "text",
    "image_url",
    "url",
    "detail",
    "function",
    "name",
    "arguments",
    "parameters",
    "call_id",
    "tool_call_id",
    "tool_calls",
    "id",
    "output",
    "stream",
    "store",
    "previous_response_id",
    "max_tokens",
    "max_output_tokens",
    "max_completion_tokens",
    "system",
    "stop_sequences",
    "thinking",
    "budget_tokens",
    "tool_use",
    "tool_result",
    "tool_use_id",
    "input_schema",
    "source",
    "media_type",
    "data",
    "base64",
    "cache_control",
    "metadata",
    "prompt",
    "suffix",
    "n",
    "logprobs",
    "echo",
    "best_of",
    "stop",
    "temperature",
    "top_p",
    "top_k",
    "seed",
    "reasoning",
    "effort",
    "summary",
    "encrypted_content",
    "function_call",
    "function_call_output",
    "custom",
    "custom_tool_call",
    "custom_tool_call_output",
    "format",
    "grammar",
    "namespace",
    "web_search",
    "local_shell",
    "local_shell_call",
    "local_shell_call_output",
    "user",
    "assistant",
    "developer",
    "tool",
    "input_text",
    "output_text",
    "input_image",
    "input_file",
    "refusal",
    "message",
    "stream_options",
    "include_usage",
    "parallel_tool_calls",
    "json_schema",
    "response_format",
    "reasoning_content",
    "choices",
    "delta",
    "finish_reason",
    "usage",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "index",
    "error",
    "auto",
    "required",
    "none",
    "any",
    "enabled",
    "disabled",
    "image",
    "document",
    "redacted_thinking",
    "signature",
    "is_error",
    "strict",
    "description",
    "properties",
    "additionalProperties",
    "object",
    "string",
    "array",
    "items",
    "enum",
    "file",
    "image[]",
    "filename",
    "whisper-1",
    "hunyuan-vision",
    "data:image/png;base64,iVBORw0KGgo=",
    "https://example.com/a.png",
    "[DONE]",
    "stop",
    "length",
    "tool_calls",
    "content_filter",
    "sensitive",
    "end_turn",
    "max_tokens",
    "additional_tools",
    "vector_store_ids",
    "file_search",
    "computer_use_preview",
    "text_editor_20250124",
    "bash_20250124",
    "web_search_20250305",
    "low",
    "high",
];

/// Strings that break things: empty, control characters, non-BMP, bidi, a lone combining
/// mark, JSON-looking text, an SSE separator, a number as text.
const ODD_STRINGS: &[&str] = &[
    "",
    " ",
    "\u{0}",
    "\n\n",
    "\r\n\r\n",
    "data: [DONE]",
    "é",
    "𝄞",
    "\u{202e}x",
    "\u{301}",
    "\u{2028}",
    "{}",
    "[]",
    "null",
    "-1",
    "1e999",
    "%00",
    "../../etc/passwd",
    "\"",
    "\\",
    "llm-relay-elided:0000000000000000:0",
];

/// The dictionary of a pool: [`WORDS`] plus member names and short strings of its entries.
pub fn harvest(entries: &[Vec<u8>]) -> Vec<String> {
    let mut out: Vec<String> = WORDS.iter().map(|s| s.to_string()).collect();
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) if s.len() <= 40 => out.push(s.clone()),
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            Value::Object(o) => o.iter().for_each(|(k, x)| {
                out.push(k.clone());
                walk(x, out)
            }),
            _ => {}
        }
    }
    for e in entries {
        if let Ok(v) = serde_json::from_slice::<Value>(e) {
            walk(&v, &mut out);
        }
    }
    out.sort();
    out.dedup();
    out
}

/// A value of any JSON type, biased to the edges.
pub fn odd(rng: &mut Rng, dict: &[String], depth: usize) -> Value {
    let leaf = depth == 0 || rng.one_in(2);
    match rng.below(if leaf { 10 } else { 13 }) {
        0 => Value::Null,
        1 => Value::Bool(rng.one_in(2)),
        2 => Value::from(*rng.pick(&[0i64, -1, 1, i64::MIN, i64::MAX, 4096, 100_000])),
        3 => Value::from(u64::MAX),
        4 => serde_json::Number::from_f64(*rng.pick(&[0.5, -0.0, 1e308, -1e-308, 2.5e9]))
            .map_or(Value::Null, Value::Number),
        5 | 6 => Value::String(word(rng, dict)),
        7 => Value::String(rng.pick(ODD_STRINGS).to_string()),
        // Long strings only at the top of a generated value: 40 x 30 leaves of up to 200 KB
        // each made inputs of hundreds of MB.
        8 if depth >= 2 => Value::String(long_string(rng)),
        8 => Value::String(word(rng, dict)),
        9 => Value::String(format!("{}{}", word(rng, dict), rng.below(10))),
        10 => Value::Array(
            (0..rng.len(3, 40))
                .map(|_| odd(rng, dict, depth - 1))
                .collect(),
        ),
        _ => Value::Object(
            (0..rng.len(4, 30))
                .map(|_| (word(rng, dict), odd(rng, dict, depth - 1)))
                .collect(),
        ),
    }
}

pub fn word(rng: &mut Rng, dict: &[String]) -> String {
    if dict.is_empty() {
        rng.pick(WORDS).to_string()
    } else {
        rng.pick(dict).clone()
    }
}

fn long_string(rng: &mut Rng) -> String {
    let unit = *rng.pick(&["a", "é", "𝄞", " ", "\\", "\"", "\n", "ab c", "data:"]);
    unit.repeat(rng.len(64, 200_000))
}

/// How many nodes a value has (itself included).
pub fn count(v: &Value) -> usize {
    1 + match v {
        Value::Array(a) => a.iter().map(count).sum(),
        Value::Object(o) => o.values().map(count).sum(),
        _ => 0,
    }
}

/// Serialised length: what copies of a value cost (a node count misses a 1 MB string).
pub fn size(v: &Value) -> usize {
    serde_json::to_vec(v).map_or(0, |b| b.len())
}

/// How many copies of `v` keep an input within about 4 MB.
fn copies(v: &Value) -> usize {
    (4 << 20) / size(v).max(1)
}

/// The `k`-th node in pre-order.
fn nth_mut<'a>(v: &'a mut Value, k: &mut usize) -> Option<&'a mut Value> {
    if *k == 0 {
        return Some(v);
    }
    *k -= 1;
    match v {
        Value::Array(a) => a.iter_mut().find_map(|x| nth_mut(x, k)),
        Value::Object(o) => o.values_mut().find_map(|x| nth_mut(x, k)),
        _ => None,
    }
}

fn nth(v: &Value, k: &mut usize) -> Option<Value> {
    if *k == 0 {
        return Some(v.clone());
    }
    *k -= 1;
    match v {
        Value::Array(a) => a.iter().find_map(|x| nth(x, k)),
        Value::Object(o) => o.values().find_map(|x| nth(x, k)),
        _ => None,
    }
}

/// A random subtree of a random parseable pool entry.
fn graft(rng: &mut Rng, pool: &Pool) -> Option<Value> {
    let other: Value = serde_json::from_slice(pool.any(rng)).ok()?;
    let mut k = rng.below(count(&other));
    nth(&other, &mut k)
}

/// One structural change somewhere in `v`.
pub fn mutate_tree(rng: &mut Rng, pool: &Pool, v: &mut Value) {
    let mut k = rng.below(count(v));
    let dict = &pool.dict;
    let op = rng.below(11);

    let graft_value = if op == 6 { graft(rng, pool) } else { None };
    let Some(node) = nth_mut(v, &mut k) else {
        return;
    };
    match op {
        0 | 1 => *node = odd(rng, dict, 2),
        2 => match node {
            Value::Array(a) if !a.is_empty() => {
                a.remove(rng.below(a.len()));
            }
            Value::Object(o) if !o.is_empty() => {
                let key = o
                    .keys()
                    .nth(rng.below(o.len()))
                    .cloned()
                    .unwrap_or_default();
                o.remove(&key);
            }
            _ => *node = Value::Null,
        },
        3 => match node {
            // Duplicates: repeated ids, and the counts where quadratic code shows.
            Value::Array(a) if !a.is_empty() => {
                let x = a[rng.below(a.len())].clone();
                let n = rng.len(2, 3000).min(copies(&x));
                let at = rng.below(a.len() + 1);
                a.splice(at..at, std::iter::repeat_n(x, n));
            }
            _ => *node = Value::Array(vec![node.clone(); rng.len(2, 50).min(copies(node))]),
        },
        10 => {
            // Many distinct copies (names, types, ids numbered): where a scan per item for
            // an earlier one with the same name makes a translator quadratic.
            if let Value::Array(a) = node {
                if let Some(x) = a.first().cloned() {
                    let n = rng.len(2, 20_000).min(copies(&x));
                    a.extend((0..n).map(|i| numbered(x.clone(), i)));
                }
            }
        }
        4 => match node {
            Value::Object(o) => {
                o.insert(word(rng, dict), odd(rng, dict, 2));
            }
            Value::Array(a) => a.push(odd(rng, dict, 2)),
            _ => *node = Value::String(word(rng, dict)),
        },
        5 => match node {
            Value::String(s) => *s = mutate_string(rng, dict, s),
            Value::Number(_) => *node = odd(rng, dict, 0),
            _ => *node = Value::String(word(rng, dict)),
        },
        6 => {
            if let Some(g) = graft_value {
                *node = g;
            }
        }
        7 => {
            // Deep nesting (serde_json stops parsing at 128 levels, which the round trip
            // through bytes keeps honest).
            let depth = rng.len(3, 140);
            for _ in 0..depth {
                let inner = std::mem::take(node);
                *node = if rng.one_in(2) {
                    Value::Array(vec![inner])
                } else {
                    let mut m = Map::new();
                    m.insert(word(rng, dict), inner);
                    Value::Object(m)
                };
            }
        }
        8 => {
            // The same value under another type.
            *node = match std::mem::take(node) {
                Value::String(s) => Value::Array(vec![Value::String(s)]),
                Value::Array(a) => a.into_iter().next().unwrap_or(Value::Null),
                Value::Object(o) => Value::Array(o.into_iter().map(|(_, x)| x).collect()),
                Value::Number(n) => Value::String(n.to_string()),
                Value::Bool(b) => Value::String(b.to_string()),
                Value::Null => Value::Object(Map::new()),
            }
        }
        _ => {
            if let Value::Object(o) = node {
                // Same key set in another order: the translators must not care.
                let mut entries: Vec<(String, Value)> = std::mem::take(o).into_iter().collect();
                entries.reverse();
                *o = entries.into_iter().collect();
            } else {
                *node = odd(rng, dict, 1);
            }
        }
    }
}

/// `v` with `_<i>` after each of its short strings.
fn numbered(mut v: Value, i: usize) -> Value {
    match &mut v {
        Value::String(s) if s.len() <= 40 => s.push_str(&format!("_{i}")),
        Value::Array(a) => {
            for x in a.iter_mut() {
                *x = numbered(std::mem::take(x), i);
            }
        }
        Value::Object(o) => {
            for x in o.values_mut() {
                *x = numbered(std::mem::take(x), i);
            }
        }
        _ => {}
    }
    v
}

fn mutate_string(rng: &mut Rng, dict: &[String], s: &str) -> String {
    match rng.below(4) {
        0 => word(rng, dict),
        1 => format!("{s}{}", rng.pick(ODD_STRINGS)),
        // Longer, up to about 1 MB (a long string repeated 2000 times was 400 MB).
        2 => s.repeat(rng.len(64, 1 << 20) / s.len().max(1) + 2),
        _ => s.chars().rev().collect(),
    }
}

/// A JSON input with a few tree mutations; falls back to bytes when it does not parse.
pub fn json(rng: &mut Rng, pool: &Pool, input: &[u8]) -> Vec<u8> {
    let Ok(mut v) = serde_json::from_slice::<Value>(input) else {
        return bytes(rng, pool, input);
    };
    if rng.one_in(8) {
        return bytes(rng, pool, input);
    }
    for _ in 0..1 + rng.below(4) {
        mutate_tree(rng, pool, &mut v);
    }
    serde_json::to_vec(&v).unwrap_or_default()
}

/// Interesting single bytes: JSON and SSE syntax, UTF-8 lead and continuation bytes.
const BYTES: &[u8] = b"\0\n\r\"\\{}[]:,- \x7f\x80\xc3\xe2\xf0\xff";

/// A byte-level mutation of `input` (1 to 4 edits).
pub fn bytes(rng: &mut Rng, pool: &Pool, input: &[u8]) -> Vec<u8> {
    let mut b = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        byte_edit(rng, pool, &mut b);
    }
    b
}

fn byte_edit(rng: &mut Rng, pool: &Pool, b: &mut Vec<u8>) {
    let at = rng.below(b.len() + 1);
    match rng.below(9) {
        0 if !b.is_empty() => {
            let i = rng.below(b.len());
            b[i] ^= 1 << rng.below(8);
        }
        1 if !b.is_empty() => {
            let i = rng.below(b.len());
            b[i] = *rng.pick(BYTES);
        }
        2 => {
            let n = 1 + rng.below(8);
            let ins: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
            b.splice(at..at, ins);
        }
        3 => {
            let w = word(rng, &pool.dict);
            let quoted = if rng.one_in(2) { format!("\"{w}\"") } else { w };
            b.splice(at..at, quoted.into_bytes());
        }
        4 => {
            let end = (at + rng.len(8, 4096)).min(b.len());
            b.drain(at..end);
        }
        5 if !b.is_empty() => {
            // Copy a range somewhere else, sometimes many times over.
            let from = rng.below(b.len());
            let end = (from + 1 + rng.len(16, 1024)).min(b.len());
            let piece = b[from..end].to_vec();
            let times = rng.len(1, 200);
            let to = rng.below(b.len() + 1);
            b.splice(
                to..to,
                piece.iter().copied().cycle().take(piece.len() * times),
            );
        }
        6 => {
            // Splice: this entry's head, another entry's tail.
            let other = pool.any(rng);
            let cut = rng.below(other.len() + 1);
            b.truncate(at);
            b.extend_from_slice(&other[cut..]);
        }
        7 => b.truncate(at),
        _ => b.insert(at, *rng.pick(BYTES)),
    }
}

/// An SSE body: a JSON-tree mutation of one event's data, or events dropped, repeated (up to
/// thousands of times) or swapped; otherwise bytes.
pub fn sse(rng: &mut Rng, pool: &Pool, input: &[u8]) -> Vec<u8> {
    let Ok(text) = std::str::from_utf8(input) else {
        return bytes(rng, pool, input);
    };
    let mut events: Vec<String> = text.split_inclusive("\n\n").map(str::to_string).collect();
    if events.len() < 2 || rng.one_in(4) {
        return bytes(rng, pool, input);
    }
    let i = rng.below(events.len());
    match rng.below(5) {
        0 | 1 => {
            let ev = &events[i];
            let json = ev.strip_prefix("data: ").map(str::trim_end);
            if let Some(Ok(mut v)) = json.map(serde_json::from_str::<Value>) {
                for _ in 0..1 + rng.below(3) {
                    mutate_tree(rng, pool, &mut v);
                }
                events[i] = format!("data: {v}\n\n");
            }
        }
        2 => {
            events.remove(i);
        }
        3 => {
            let ev = events[i].clone();
            let n = rng.len(2, 5000).min((2 << 20) / ev.len().max(1));
            events.splice(i..i, std::iter::repeat_n(ev, n));
        }
        _ => {
            let j = rng.below(events.len());
            events.swap(i, j);
        }
    }
    events.concat().into_bytes()
}
