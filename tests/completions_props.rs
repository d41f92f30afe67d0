//! Legacy Completions ⇄ Chat translation: request mapping, rejections, response translation.

use llm_relay::protocol::completions::{to_chat, translator, CompletionMeta};
use proptest::prelude::*;
use serde_json::{json, Value};

fn tr(
    req: Value,
) -> Result<llm_relay::protocol::completions::Translated, llm_relay::core::translate::TranslateError>
{
    to_chat(&req, "cmpl-1".into(), 42)
}

fn meta(include_usage: bool) -> CompletionMeta {
    CompletionMeta {
        id: "cmpl-1".into(),
        created: 42,
        model: "client-model".into(),
        include_usage,
    }
}

// ---------------------------------------------------------------- requests

#[test]
fn maps_a_full_request() {
    let t = tr(json!({
        "model": "hunyuan-turbos", "prompt": "Say hi", "max_tokens": 7, "temperature": 0.2,
        "top_p": 0.9, "stop": ["\n"], "presence_penalty": 0.1, "frequency_penalty": 0.3,
        "seed": 9, "user": "u1", "logit_bias": {"50256": -100}, "n": 2,
        "echo": false, "best_of": 1, "logprobs": null, "suffix": null, "unknown": 1,
    }))
    .unwrap();
    assert!(!t.stream);
    assert_eq!(
        t.chat,
        json!({
            "model": "hunyuan-turbos",
            "messages": [{"role": "user", "content": "Say hi"}],
            "max_tokens": 7, "temperature": 0.2, "top_p": 0.9, "stop": ["\n"],
            "presence_penalty": 0.1, "frequency_penalty": 0.3, "seed": 9, "user": "u1",
            "logit_bias": {"50256": -100}, "n": 2,
        })
    );
    assert_eq!(t.meta.id, "cmpl-1");
    assert_eq!(t.meta.created, 42);
    assert_eq!(t.meta.model, "hunyuan-turbos");
    assert!(!t.meta.include_usage);
}

#[test]
fn minimal_request_sets_no_max_tokens_and_drops_nulls() {
    let t = tr(json!({"model": "m", "prompt": ["only one"], "temperature": null})).unwrap();
    assert_eq!(
        t.chat,
        json!({"model": "m", "messages": [{"role": "user", "content": "only one"}]})
    );
}

#[test]
fn stream_always_asks_usage_but_records_the_clients_wish() {
    let t = tr(json!({"model": "m", "prompt": "p", "stream": true})).unwrap();
    assert!(t.stream);
    assert_eq!(t.chat["stream"], json!(true));
    assert_eq!(t.chat["stream_options"], json!({"include_usage": true}));
    assert!(!t.meta.include_usage);

    let t = tr(json!({"model": "m", "prompt": "p", "stream": true,
        "stream_options": {"include_usage": true}}))
    .unwrap();
    assert!(t.meta.include_usage);

    let t = tr(json!({"model": "m", "prompt": "p", "stream": false,
        "stream_options": {"include_usage": true}}))
    .unwrap();
    assert!(!t.stream && !t.meta.include_usage);
    assert!(t.chat.get("stream").is_none() && t.chat.get("stream_options").is_none());
}

fn rejected(req: Value, param: &str, needle: &str) {
    let e = tr(req.clone()).expect_err(&req.to_string());
    assert_eq!(e.param.as_deref(), Some(param), "{req}");
    assert!(e.message.contains(needle), "{req}: {}", e.message);
}

#[test]
fn rejects_what_chat_cannot_do() {
    let base = |k: &str, v: Value| {
        let mut r = json!({"model": "m", "prompt": "p"});
        r.as_object_mut().unwrap().insert(k.into(), v);
        r
    };
    let ns = "not supported when translated to chat";
    rejected(base("suffix", json!("end")), "suffix", ns);
    rejected(base("echo", json!(true)), "echo", ns);
    rejected(base("best_of", json!(2)), "best_of", ns);
    rejected(base("best_of", json!("3")), "best_of", ns);
    rejected(base("logprobs", json!(0)), "logprobs", ns);
    rejected(base("logprobs", json!(5)), "logprobs", ns);
    rejected(base("stream", json!("yes")), "stream", "boolean");
    // "off" values are fine
    for (k, v) in [
        ("suffix", json!("")),
        ("echo", json!(false)),
        ("best_of", json!(1)),
    ] {
        assert!(tr(base(k, v)).is_ok(), "{k}");
    }
}

#[test]
fn rejects_bad_model_and_prompts() {
    rejected(json!({"prompt": "p"}), "model", "required");
    rejected(json!({"model": "", "prompt": "p"}), "model", "required");
    rejected(json!({"model": 3, "prompt": "p"}), "model", "required");
    rejected(json!({"model": "m"}), "prompt", "required");
    rejected(json!({"model": "m", "prompt": null}), "prompt", "required");
    rejected(json!({"model": "m", "prompt": ""}), "prompt", "empty");
    rejected(json!({"model": "m", "prompt": []}), "prompt", "empty");
    rejected(json!({"model": "m", "prompt": [""]}), "prompt", "empty");
    rejected(
        json!({"model": "m", "prompt": ["a", "b"]}),
        "prompt",
        "only one prompt",
    );
    rejected(
        json!({"model": "m", "prompt": [1, 2, 3]}),
        "prompt",
        "token-id",
    );
    rejected(
        json!({"model": "m", "prompt": [[1, 2]]}),
        "prompt",
        "token-id",
    );
    rejected(
        json!({"model": "m", "prompt": ["a", 1]}),
        "prompt",
        "string",
    );
    rejected(
        json!({"model": "m", "prompt": {"a": 1}}),
        "prompt",
        "string",
    );
    let e = tr(json!([1])).unwrap_err();
    assert_eq!(e.param, None);
}

// ---------------------------------------------------------------- non-stream responses

fn body(t: &mut dyn llm_relay::core::translate::ResponseTranslator, pieces: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in pieces {
        out.extend(t.feed(p));
    }
    out.extend(t.finish());
    out
}

#[test]
fn non_stream_response() {
    let chat = json!({
        "id": "chatcmpl-up", "object": "chat.completion", "created": 1, "model": "hunyuan-t1",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "Hello", "reasoning_content": "hmm"}, "finish_reason": "stop"},
            {"index": 1, "message": {"role": "assistant", "content": null}, "finish_reason": "sensitive"},
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
    })
    .to_string();
    let mut t = translator(meta(false), false);
    let (a, b) = chat.as_bytes().split_at(10);
    let out = body(t.as_mut(), &[a, b]);
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        v,
        json!({
            "id": "cmpl-1", "object": "text_completion", "created": 42, "model": "client-model",
            "choices": [
                {"text": "Hello", "index": 0, "logprobs": null, "finish_reason": "stop"},
                {"text": "", "index": 1, "logprobs": null, "finish_reason": "content_filter"},
            ],
            "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
        })
    );
    let u = t.usage().unwrap();
    assert_eq!((u.prompt, u.completion), (5, 2));
}

/// The cache counts of the chat usage (`prompt_tokens_details`) stay in the completion's
/// usage, in a JSON answer and in the stream's usage chunk.
#[test]
fn cache_counts_are_kept() {
    let usage = json!({"prompt_tokens": 50, "completion_tokens": 2, "total_tokens": 52,
        "prompt_tokens_details": {"cached_tokens": 40, "cache_creation_tokens": 8}});
    let chat = json!({"id": "c", "choices": [{"index": 0, "message": {"content": "Hi"},
        "finish_reason": "stop"}], "usage": usage});
    let mut t = translator(meta(false), false);
    let v: Value =
        serde_json::from_slice(&body(t.as_mut(), &[chat.to_string().as_bytes()])).unwrap();
    assert_eq!(v["usage"], usage);
    let u = t.usage().unwrap();
    assert_eq!((u.cached, u.cache_write), (40, 8));
    let stream = format!(
        "data: {}\n\ndata: {}\n\ndata: [DONE]\n\n",
        json!({"id": "c", "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": "stop"}]}),
        json!({"id": "c", "choices": [], "usage": usage}),
    );
    let out = run(meta(true), &[stream.as_bytes()]);
    let ev = events(&out);
    let last: Value = serde_json::from_str(&ev[ev.len() - 2]).unwrap();
    assert_eq!(last["usage"], usage);
}

#[test]
fn non_stream_invalid_json_passes_unchanged() {
    for raw in [
        &b"{not json"[..],
        b"",
        b"{\"error\":{\"message\":\"x\"}}",
        "caf\u{e9}".as_bytes(),
    ] {
        let mut t = translator(meta(false), false);
        assert_eq!(body(t.as_mut(), &[raw]), raw);
        assert_eq!(t.usage(), None);
    }
}

#[test]
fn non_stream_fail_gives_an_error_body() {
    let mut t = translator(meta(false), false);
    assert!(t.feed(b"{\"choi").is_empty());
    let v: Value = serde_json::from_slice(&t.fail("timed out")).unwrap();
    assert_eq!(
        v,
        json!({"error": {"message": "timed out", "type": "server_error"}})
    );
    assert!(t.finish().is_empty());
}

// ---------------------------------------------------------------- stream responses

const STREAM: &str = concat!(
    "data: {\"id\":\"c1\",\"model\":\"up\",\"created\":5,\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"reasoning_content\":\"think\"}}]}\n\n",
    ": keep-alive\n\n",
    "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"h\u{e9}llo\"}}]}\r\n\r\n",
    "data: {not json}\n\n",
    "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" \u{1f600}\"},\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"sensitive\"}]}\n\n",
    "data: {\"id\":\"c1\",\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":3,\"total_tokens\":10}}\n\n",
    "data: [DONE]\n\n",
);

fn events(out: &[u8]) -> Vec<String> {
    let s = std::str::from_utf8(out).unwrap();
    assert!(s.is_empty() || s.ends_with("\n\n"), "{s}");
    s.split_terminator("\n\n")
        .map(|e| e.strip_prefix("data: ").unwrap().to_string())
        .collect()
}

fn text_chunk(text: &str, index: u64, finish: Value) -> Value {
    json!({"id": "cmpl-1", "object": "text_completion", "created": 42, "model": "client-model",
        "choices": [{"text": text, "index": index, "logprobs": null, "finish_reason": finish}]})
}

fn run(m: CompletionMeta, pieces: &[&[u8]]) -> Vec<u8> {
    let mut t = translator(m, true);
    body(t.as_mut(), pieces)
}

#[test]
fn stream_translation() {
    let out = run(meta(true), &[STREAM.as_bytes()]);
    let ev = events(&out);
    assert_eq!(ev.len(), 5, "{ev:?}");
    let parsed: Vec<Value> = ev[..4]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    assert_eq!(parsed[0], text_chunk("h\u{e9}llo", 0, Value::Null));
    assert_eq!(parsed[1], text_chunk(" \u{1f600}", 0, Value::Null));
    assert_eq!(parsed[2], text_chunk("", 0, json!("content_filter")));
    assert_eq!(
        parsed[3],
        json!({"id": "cmpl-1", "object": "text_completion", "created": 42, "model": "client-model",
            "choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}})
    );
    assert_eq!(ev[4], "[DONE]");
}

#[test]
fn stream_without_include_usage_hides_usage_but_counts_it() {
    let mut t = translator(meta(false), true);
    let out = body(t.as_mut(), &[STREAM.as_bytes()]);
    let ev = events(&out);
    assert_eq!(ev.len(), 4);
    assert!(!ev.iter().any(|e| e.contains("usage")));
    assert_eq!(ev[3], "[DONE]");
    let u = t.usage().unwrap();
    assert_eq!((u.prompt, u.completion), (7, 3));
}

#[test]
fn stream_same_output_at_every_split() {
    for m in [meta(true), meta(false)] {
        let whole = run(m.clone(), &[STREAM.as_bytes()]);
        let bytes = STREAM.as_bytes();
        for split in 1..bytes.len() {
            let pieces: Vec<&[u8]> = bytes.chunks(split).collect();
            assert_eq!(run(m.clone(), &pieces), whole, "chunks of {split}");
            let (a, b) = bytes.split_at(split);
            assert_eq!(run(m.clone(), &[a, b]), whole, "split at {split}");
        }
    }
}

fn is_error_event(e: &str, message: &str) -> bool {
    let v: Value = serde_json::from_str(e).unwrap();
    v == json!({"error": {"message": message, "type": "server_error"}})
}

#[test]
fn truncated_stream_ends_with_an_error_and_no_done() {
    let cut = STREAM
        .find("data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{},")
        .unwrap();
    let out = run(meta(true), &[&STREAM.as_bytes()[..cut]]);
    let ev = events(&out);
    assert_eq!(ev.len(), 3);
    let last: Value = serde_json::from_str(&ev[2]).unwrap();
    assert_eq!(last["error"]["type"], "server_error");
    assert!(!out.windows(6).any(|w| w == b"[DONE]"));
    // an empty body is truncated too
    let ev = events(&run(meta(true), &[]));
    assert_eq!(ev.len(), 1);
    assert!(ev[0].contains("server_error"));
}

#[test]
fn finished_stream_without_done_completes() {
    let cut = STREAM.find("data: [DONE]").unwrap();
    let out = run(meta(true), &[&STREAM.as_bytes()[..cut]]);
    assert_eq!(out, run(meta(true), &[STREAM.as_bytes()]));
    // and an unterminated last event is still read
    let out2 = run(meta(true), &[STREAM.trim_end().as_bytes()]);
    assert_eq!(out2, out);
}

#[test]
fn in_stream_error_stops_the_stream() {
    let s = concat!(
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\n",
        "data: {\"error\":{\"message\":\"overloaded\"}}\n\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"b\"},\"finish_reason\":\"stop\"}]}\n\n",
        "data: [DONE]\n\n",
    );
    let mut t = translator(meta(true), true);
    let out = body(t.as_mut(), &[s.as_bytes()]);
    let ev = events(&out);
    assert_eq!(ev.len(), 2);
    assert!(is_error_event(&ev[1], "overloaded"));
    assert!(t.fail("later").is_empty());
}

#[test]
fn fail_mid_stream_and_after_done() {
    let mut t = translator(meta(true), true);
    let mut out = t
        .feed(b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\ndata: {\"cho");
    out.extend(t.fail("upstream timed out"));
    out.extend(t.finish());
    let ev = events(&out);
    assert_eq!(ev.len(), 2);
    assert!(is_error_event(&ev[1], "upstream timed out"));

    let mut t = translator(meta(true), true);
    assert!(!t.feed(STREAM.as_bytes()).is_empty());
    assert!(t.fail("late").is_empty());
    assert!(t.finish().is_empty());
}

#[test]
fn stream_keeps_choice_indexes_for_n() {
    let s = concat!(
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\n",
        "data: {\"choices\":[{\"index\":1,\"delta\":{\"content\":\"b\"}}]}\n\n",
        "data: {\"choices\":[{\"index\":1,\"delta\":{},\"finish_reason\":\"length\"}]}\n\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
        "data: [DONE]\n\n",
    );
    let ev = events(&run(meta(true), &[s.as_bytes()]));
    let v: Vec<Value> = ev[..4]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    assert_eq!(v[0], text_chunk("a", 0, Value::Null));
    assert_eq!(v[1], text_chunk("b", 1, Value::Null));
    assert_eq!(v[2], text_chunk("", 1, json!("length")));
    assert_eq!(v[3], text_chunk("", 0, json!("stop")));
    assert_eq!(ev[4], "[DONE]");
    // one choice finished, the other cut off: truncated
    let cut = s
        .find("data: {\"choices\":[{\"index\":0,\"delta\":{},")
        .unwrap();
    let ev = events(&run(meta(true), &[&s.as_bytes()[..cut]]));
    assert!(ev.last().unwrap().contains("server_error"));
}

// ---------------------------------------------------------------- properties

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e6f64..1e6).prop_map(Value::from),
        ".{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((".{0,6}", inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

const KEYS: &[&str] = &[
    "model",
    "prompt",
    "suffix",
    "echo",
    "best_of",
    "logprobs",
    "n",
    "max_tokens",
    "temperature",
    "top_p",
    "stop",
    "presence_penalty",
    "frequency_penalty",
    "seed",
    "user",
    "logit_bias",
    "stream",
    "stream_options",
    "other",
];

fn arb_request() -> impl Strategy<Value = Value> {
    prop::collection::vec((prop::sample::select(KEYS), arb_json()), 0..10).prop_map(|kv| {
        let mut m: serde_json::Map<String, Value> =
            kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        // often valid enough to reach the deeper checks
        m.entry("model").or_insert(json!("m"));
        Value::Object(m)
    })
}

proptest! {
    #[test]
    fn arbitrary_requests_never_panic(req in arb_request()) {
        if let Ok(t) = to_chat(&req, "cmpl-x".into(), 1) {
            let msgs = t.chat["messages"].as_array().unwrap();
            prop_assert_eq!(msgs.len(), 1);
            prop_assert!(msgs[0]["content"].as_str().is_some_and(|s| !s.is_empty()));
            prop_assert_eq!(&t.chat["model"], &req["model"]);
            prop_assert_eq!(t.stream, t.chat.get("stream") == Some(&json!(true)));
        }
    }

    #[test]
    fn arbitrary_values_never_panic(v in arb_json()) {
        let _ = to_chat(&v, "cmpl-x".into(), 1);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400),
                                   split in 1usize..50, stream in any::<bool>()) {
        let mut t = translator(meta(true), stream);
        for p in bytes.chunks(split) { let _ = t.feed(p); }
        let _ = t.finish();
        let _ = t.fail("x");
        let _ = t.usage();
    }

    #[test]
    fn arbitrary_chunks_never_panic(chunks in prop::collection::vec(arb_json(), 0..6)) {
        let mut s = Vec::new();
        for c in &chunks { s.extend_from_slice(format!("data: {c}\n\n").as_bytes()); }
        let mut t = translator(meta(true), true);
        let out = [t.feed(&s), t.finish()].concat();
        let text = String::from_utf8(out).unwrap();
        prop_assert!(text.is_empty() || text.ends_with("\n\n"));
    }
}
