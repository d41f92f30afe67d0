//! Structured generators: plausible-but-odd inputs built from the corpus and the protocols'
//! shapes (requests recombined from other requests' items, chat SSE streams, multipart forms,
//! large chat bodies with data URLs), each then bent by a few mutations.

use crate::engine::{Pool, Rng};
use crate::mutate::{mutate_tree, odd, word};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// Every array element of `v`, by the member name of its array (one walk of the donors).
fn fragments<'a>(v: &'a Value, out: &mut HashMap<&'a str, Vec<&'a Value>>) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                if let Value::Array(a) = x {
                    out.entry(k.as_str()).or_default().extend(a.iter());
                }
                fragments(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| fragments(x, out)),
        _ => {}
    }
}

/// A request recombined from the pool: a seed's top level, its arrays (`input`, `messages`,
/// `tools`, `content`, ...) refilled with elements of the same arrays in other entries, in
/// any number (none, one, thousands: repeated ids and the sizes where quadratic code shows),
/// then a few tree mutations. Sometimes a document of protocol words and odd values instead.
pub fn request(rng: &mut Rng, pool: &Pool) -> Vec<u8> {
    // Donors up to 256 KB: parsing multi-MB pool entries for every input took most of a
    // long run's time; large inputs still come from refilling and mutation.
    let parsed: Vec<Value> = (0..3)
        .map(|_| pool.any(rng))
        .filter(|e| e.len() <= 256 << 10)
        .filter_map(|e| serde_json::from_slice::<Value>(e).ok())
        .collect();
    let Some(mut base) = parsed.first().cloned().filter(|_| !rng.one_in(10)) else {
        let doc: Map<String, Value> = (0..rng.len(5, 20))
            .map(|_| (word(rng, &pool.dict), odd(rng, &pool.dict, 3)))
            .collect();
        return serde_json::to_vec(&Value::Object(doc)).unwrap_or_default();
    };
    let mut by_key = HashMap::new();
    parsed.iter().for_each(|d| fragments(d, &mut by_key));
    refill(rng, &by_key, &mut base, 0, &mut (4 << 20));
    for _ in 0..rng.below(4) {
        mutate_tree(rng, pool, &mut base);
    }
    serde_json::to_vec(&base).unwrap_or_default()
}

/// Refills the arrays of `v` (two levels down) from the same-named arrays of `donors`, with
/// at most `budget` bytes (serialised) in all (inputs stay in the megabytes).
fn refill(
    rng: &mut Rng,
    donors: &HashMap<&str, Vec<&Value>>,
    v: &mut Value,
    depth: usize,
    budget: &mut usize,
) {
    let Value::Object(o) = v else { return };
    for (k, x) in o.iter_mut() {
        if let Value::Array(a) = x {
            if rng.one_in(2) {
                let pool = donors.get(k.as_str()).map_or(&[][..], Vec::as_slice);
                if !pool.is_empty() {
                    let n = rng.len(6, 2500);
                    a.clear();
                    for _ in 0..n {
                        let x = *rng.pick(pool);
                        let cost = crate::mutate::size(x);
                        if cost > *budget {
                            break;
                        }
                        *budget -= cost;
                        a.push(x.clone());
                    }
                }
            }
            if depth < 2 {
                for item in a.iter_mut() {
                    refill(rng, donors, item, depth + 1, budget);
                }
            }
        }
    }
}

/// One chat chunk object of a stream.
fn text(rng: &mut Rng, dict: &[String]) -> Value {
    if rng.one_in(6) {
        odd(rng, dict, 1)
    } else {
        let t = ["Hel", "lo é", "", " ", "𝄞", "{\"q\":", "\"x\"}", "\n"];
        Value::String(rng.pick(&t).to_string())
    }
}

fn chunk(rng: &mut Rng, pool: &Pool) -> Value {
    let dict = &pool.dict;
    let text = |rng: &mut Rng| text(rng, dict);
    let delta = match rng.below(8) {
        0 | 1 => json!({"content": text(rng)}),
        2 => json!({"reasoning_content": text(rng)}),
        3 => {
            let index = rng
                .pick(&[
                    json!(0),
                    json!(1),
                    json!(2),
                    json!(-1),
                    json!(u64::MAX),
                    json!("0"),
                    json!(null),
                ])
                .clone();
            let mut call = json!({"index": index, "function": {"arguments": text(rng)}});
            if rng.one_in(2) {
                call["id"] = json!(rng.pick(&["call_a", "call_b", "", "call_a"]).to_string());
                call["type"] = json!("function");
                call["function"]["name"] = json!(rng
                    .pick(&["get", "exec", "", "ns__inner", "Read"])
                    .to_string());
            }
            json!({"tool_calls": [call]})
        }
        4 => json!({"role": "assistant", "content": null}),
        5 => json!({}),
        6 => json!({"content": text(rng), "tool_calls": null}),
        _ => odd(rng, dict, 2),
    };
    let finish = if rng.one_in(4) {
        json!(rng
            .pick(&[
                "stop",
                "length",
                "tool_calls",
                "content_filter",
                "sensitive",
                "function_call",
                ""
            ])
            .to_string())
    } else {
        Value::Null
    };
    let mut c = json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
        "model": "up", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
    match rng.below(12) {
        0 => {
            c["choices"] = json!([]);
            c["usage"] = json!({"prompt_tokens": odd(rng, dict, 0), "completion_tokens": 4,
                "total_tokens": 13, "prompt_tokens_details": {"cached_tokens": 2}});
        }
        1 => c = json!({"error": {"message": text(rng), "type": "server_error"}}),
        2 => c["choices"] = odd(rng, dict, 2),
        3 => {
            c.as_object_mut().map(|o| o.remove("id"));
        }
        4 => c["usage"] = Value::Null,
        _ => {}
    }
    c
}

/// A chat SSE stream (or, sometimes, a whole chat completion: what a non-streamed answer or
/// an upstream ignoring `stream` sends).
pub fn chat_stream(rng: &mut Rng, pool: &Pool) -> Vec<u8> {
    if rng.one_in(6) {
        let mut v = json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "up",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi",
                "reasoning_content": "think",
                "tool_calls": [{"id": "call_a", "type": "function", "function": {"name": "get", "arguments": "{\"q\":1}"}}]},
                "finish_reason": "tool_calls"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}});
        for _ in 0..rng.below(4) {
            mutate_tree(rng, pool, &mut v);
        }
        return serde_json::to_vec(&v).unwrap_or_default();
    }
    let mut out = Vec::new();
    for _ in 0..rng.len(8, 300) {
        let sep: &[u8] = match rng.below(10) {
            0 => b"\r\n\r\n",
            1 => b"\n",
            2 => b"\r\r",
            _ => b"\n\n",
        };
        match rng.below(16) {
            0 => out.extend_from_slice(b"data: [DONE]"),
            1 => out.extend_from_slice(b": keep-alive"),
            2 => out.extend_from_slice(b"event: ping\ndata: {}"),
            3 => {
                // Multi-line data: the two lines join with `\n`.
                let s = chunk(rng, pool).to_string();
                let cut = s.find(',').unwrap_or(s.len());
                out.extend_from_slice(
                    format!("data: {}\ndata: {}", &s[..cut], &s[cut..]).as_bytes(),
                );
            }
            4 => out.extend_from_slice(b"data:"),
            _ => {
                let mut c = chunk(rng, pool);
                if rng.one_in(8) {
                    mutate_tree(rng, pool, &mut c);
                }
                out.extend_from_slice(b"data: ");
                out.extend_from_slice(c.to_string().as_bytes());
            }
        }
        out.extend_from_slice(sep);
    }
    out
}

/// A multipart form as the `multipart` target reads it: the Content-Type, a newline, the body.
pub fn multipart(rng: &mut Rng, pool: &Pool) -> Vec<u8> {
    let boundary = rng
        .pick(&[
            "XX",
            "----WebKitFormBoundary7MA4YWxkTrZu0gW",
            "a b",
            "\"q\"",
            "",
            "-",
            "é",
        ])
        .to_string();
    let ct = match rng.below(8) {
        0 => "application/json".to_string(),
        1 => "multipart/form-data".to_string(),
        2 => format!("multipart/form-data; boundary=\"{boundary}\""),
        _ => format!("multipart/form-data; boundary={boundary}"),
    };
    let nl = if rng.one_in(6) { "\n" } else { "\r\n" };
    let mut body = Vec::new();
    for _ in 0..rng.len(4, 60) {
        let name = rng
            .pick(&[
                "model", "model", "file", "image", "image[]", "prompt", "mask", "", "mo\"del", "é",
            ])
            .to_string();
        body.extend_from_slice(format!("--{boundary}{nl}").as_bytes());
        let file = rng.one_in(3);
        let disposition = match rng.below(8) {
            0 => "Content-Disposition: attachment".to_string(),
            1 => format!("Content-Disposition: form-data; name={name}"),
            _ if file => {
                format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"a.wav\"")
            }
            _ => format!("Content-Disposition: form-data; name=\"{name}\""),
        };
        body.extend_from_slice(disposition.as_bytes());
        body.extend_from_slice(nl.as_bytes());
        if rng.one_in(4) {
            body.extend_from_slice(
                format!("Content-Type: text/plain; charset=utf-8{nl}").as_bytes(),
            );
        }
        body.extend_from_slice(nl.as_bytes());
        let value: Vec<u8> = match rng.below(6) {
            0 => b"whisper-1".to_vec(),
            1 => vec![0xff, 0xfe, 0x00, 0x80],
            2 => "x".repeat(rng.len(16, 100_000)).into_bytes(),
            3 => b"RIFF....WAVEfmt ".to_vec(),
            4 => format!("--{boundary}").into_bytes(),
            _ => word(rng, &pool.dict).into_bytes(),
        };
        body.extend_from_slice(&value);
        body.extend_from_slice(nl.as_bytes());
    }
    if !rng.one_in(5) {
        body.extend_from_slice(format!("--{boundary}--{nl}").as_bytes());
    }
    let mut out = ct.into_bytes();
    out.push(b'\n');
    out.extend_from_slice(&body);
    out
}

/// A chat body over `Elided`'s 64 KB threshold with long data URLs in every position the
/// cutter looks at (and some it must not touch): `url` and `image_url` values with spacing
/// variants, escapes inside, `"data:` in other strings, keys and escaped quotes.
pub fn elide_body(rng: &mut Rng, _pool: &Pool) -> Vec<u8> {
    let long = |rng: &mut Rng| -> String {
        let n = 16 * 1024 + rng.below(40 * 1024) - 64;
        let mut s = "A".repeat(n);
        match rng.below(8) {
            0 => s.insert_str(rng.below(n), "\\\""),
            1 => s.insert(rng.below(n), '\u{1}'),
            2 => s.insert(rng.below(n), 'é'),
            3 => s.insert_str(rng.below(n), "\\u0041"),
            _ => {}
        }
        format!("data:image/png;base64,{s}")
    };
    let mut body = String::from("{\"model\":\"m\",\"messages\":[");
    let parts = 2 + rng.below(8);
    for i in 0..parts {
        if i > 0 {
            body.push(',');
        }
        let piece = match rng.below(9) {
            0 => format!(
                "{{\"type\":\"image_url\",\"image_url\":{{\"url\":\"{}\"}}}}",
                long(rng)
            ),
            1 => format!(
                "{{\"type\":\"image_url\",\"image_url\" :  \"{}\"}}",
                long(rng)
            ),
            2 => format!(
                "{{\"type\":\"image_url\",\"image_url\":{{\"url\"\n:\t\"{}\"}}}}",
                long(rng)
            ),
            3 => format!("{{\"type\":\"text\",\"text\":\"{}\"}}", long(rng)),
            4 => format!(
                "{{\"type\":\"text\",\"text\":\"\\\"url\\\":\\\"{}\"}}",
                long(rng)
            ),
            5 => format!("{{\"url\":\"{}\":1}}", long(rng)),
            6 => format!("{{\"k\\\"url\":\"{}\"}}", long(rng)),
            7 => format!("{{\"url\":{{\"{}\":1}}}}", long(rng)),
            _ => format!(
                "{{\"type\":\"text\",\"text\":\"{}\"}}",
                "é".repeat(rng.below(100))
            ),
        };
        body.push_str(&format!("{{\"role\":\"user\",\"content\":[{piece}]}}"));
    }
    body.push_str("]}");
    body.into_bytes()
}
