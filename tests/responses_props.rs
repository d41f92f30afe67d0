//! Streaming round trips split at every byte, and generated requests.

use llm_relay::protocol::responses::{to_chat, translator, ResponseMeta};
use proptest::prelude::*;
use serde_json::{json, Value};

fn meta() -> ResponseMeta {
    let req = json!({"model": "cm", "input": "x", "tools": [
        {"type": "function", "name": "get"}, {"type": "custom", "name": "exec"}]});
    to_chat(&req, None, "resp_s".into(), 3).unwrap().meta
}

fn chunk(delta: Value, finish: Option<&str>) -> String {
    let v = json!({"id": "c", "model": "up", "created": 1,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
    format!("data: {v}\n\n")
}

const USAGE: &str = "data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":4,\"total_tokens\":13}}\n\n";
const DONE: &str = "data: [DONE]\n\n";

fn text_stream() -> String {
    [
        chunk(json!({"role": "assistant", "content": ""}), None),
        chunk(json!({"content": "Hel"}), None),
        chunk(json!({"content": "lo é"}), None),
        chunk(json!({}), Some("stop")),
        USAGE.into(),
        DONE.into(),
    ]
    .concat()
}

fn reasoning_stream() -> String {
    [
        chunk(json!({"reasoning_content": "think "}), None),
        chunk(json!({"reasoning_content": "more"}), None),
        chunk(json!({"content": "answer"}), None),
        chunk(json!({}), Some("stop")),
        DONE.into(),
    ]
    .concat()
}

fn tools_stream() -> String {
    let call = |i: u64, id: Option<&str>, name: Option<&str>, args: &str| {
        let mut f = json!({"arguments": args});
        if let Some(n) = name {
            f["name"] = json!(n);
        }
        let mut c = json!({"index": i, "function": f});
        if let Some(id) = id {
            c["id"] = json!(id);
            c["type"] = json!("function");
        }
        chunk(json!({"tool_calls": [c]}), None)
    };
    [
        chunk(json!({"content": "calling"}), None),
        call(0, Some("call_a"), Some("get"), ""),
        call(1, Some("call_b"), Some("exec"), ""),
        call(0, None, None, "{\"q\":"),
        call(1, None, None, "{\"input\":\"ls"),
        call(0, None, None, "\"x\"}"),
        call(1, None, None, " -l\"}"),
        chunk(json!({}), Some("tool_calls")),
        USAGE.into(),
        DONE.into(),
    ]
    .concat()
}

fn length_stream() -> String {
    [
        chunk(json!({"content": "cut"}), None),
        chunk(json!({}), Some("length")),
        DONE.into(),
    ]
    .concat()
}

/// finish_reason seen, but the body ends without `[DONE]`: still a completion.
fn no_done_stream() -> String {
    [
        chunk(json!({"content": "x"}), None),
        chunk(json!({}), Some("stop")),
    ]
    .concat()
}

/// Neither finish_reason nor `[DONE]`: a truncated stream.
fn truncated_stream() -> String {
    chunk(json!({"content": "partial"}), None)
}

fn run(body: &[u8], split: usize) -> Vec<u8> {
    let mut t = translator(meta(), true);
    let mut out = Vec::new();
    for piece in body.chunks(split) {
        out.extend(t.feed(piece));
    }
    out.extend(t.finish());
    out.extend(t.feed(b"data: {\"choices\":[{\"delta\":{\"content\":\"late\"}}]}\n\n"));
    out.extend(t.fail("late failure"));
    out
}

/// Parses `event: X\ndata: Y\n\n` events, checking the name matches `type`.
fn events(out: &[u8]) -> Vec<Value> {
    let text = std::str::from_utf8(out).unwrap();
    text.split_terminator("\n\n")
        .map(|ev| {
            let (name, data) = ev.split_once('\n').unwrap();
            let name = name.strip_prefix("event: ").unwrap();
            let v: Value = serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap();
            assert_eq!(v["type"], name);
            v
        })
        .collect()
}

/// Same output at every split; sequence numbers 0,1,2…; every item added is done once, in
/// order; exactly one terminal event, last.
fn check(body: &str) -> Vec<Value> {
    let whole = run(body.as_bytes(), body.len());
    for split in 1..body.len() {
        assert_eq!(run(body.as_bytes(), split), whole, "split {split}");
    }
    let evs = events(&whole);
    for (i, e) in evs.iter().enumerate() {
        assert_eq!(e["sequence_number"], i as u64);
    }
    let added: Vec<&Value> = evs
        .iter()
        .filter(|e| e["type"] == "response.output_item.added")
        .map(|e| &e["output_index"])
        .collect();
    let done: Vec<&Value> = evs
        .iter()
        .filter(|e| e["type"] == "response.output_item.done")
        .map(|e| &e["output_index"])
        .collect();
    let terminal = evs.last().unwrap()["type"].as_str().unwrap();
    if terminal != "response.failed" {
        assert_eq!(added, done);
    }
    let n_terminal = evs
        .iter()
        .filter(|e| {
            matches!(
                e["type"].as_str(),
                Some("response.completed" | "response.incomplete" | "response.failed")
            )
        })
        .count();
    assert_eq!(n_terminal, 1);
    assert_eq!(evs[0]["type"], "response.created");
    assert_eq!(evs[0]["response"]["status"], "in_progress");
    assert_eq!(evs[1]["type"], "response.in_progress");
    evs
}

fn types(evs: &[Value]) -> Vec<&str> {
    evs.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

#[test]
fn text() {
    let evs = check(&text_stream());
    assert_eq!(
        types(&evs),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    assert_eq!(evs[4]["delta"], "Hel");
    assert_eq!(evs[4]["item_id"], "msg_s_0");
    assert_eq!(evs[6]["text"], "Hello é");
    let resp = &evs[9]["response"];
    assert_eq!(resp["status"], "completed");
    assert_eq!(resp["usage"]["total_tokens"], 13);
    assert_eq!(resp["output"][0]["content"][0]["text"], "Hello é");
    let mut t = translator(meta(), true);
    t.feed(text_stream().as_bytes());
    assert_eq!(t.final_response().as_ref(), Some(resp));
    assert_eq!(t.usage().map(|u| u.prompt), Some(9));
}

/// The stream's usage chunk's cache reads reach `response.completed` as
/// `input_tokens_details.cached_tokens` (input tokens stay the whole prompt).
#[test]
fn cached_tokens_in_the_completed_response() {
    let usage = "data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":90,\"completion_tokens\":4,\
\"prompt_tokens_details\":{\"cached_tokens\":64,\"cache_creation_tokens\":16}}}\n\n";
    let body = text_stream().replace(USAGE, usage);
    let evs = check(&body);
    let resp = &evs.last().unwrap()["response"];
    assert_eq!(resp["usage"]["input_tokens"], 90);
    assert_eq!(resp["usage"]["input_tokens_details"]["cached_tokens"], 64);
    assert_eq!(resp["usage"]["total_tokens"], 94);
}

#[test]
fn reasoning_then_text() {
    let evs = check(&reasoning_stream());
    assert_eq!(
        types(&evs),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.reasoning_summary_part.added",
            "response.reasoning_summary_text.delta",
            "response.reasoning_summary_text.delta",
            "response.reasoning_summary_text.done",
            "response.reasoning_summary_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    assert_eq!(evs[6]["text"], "think more");
    let out = &evs[15]["response"]["output"];
    assert_eq!(out[0]["type"], "reasoning");
    assert_eq!(out[0]["summary"][0]["text"], "think more");
    assert_eq!(out[1]["content"][0]["text"], "answer");
}

#[test]
fn parallel_tool_calls() {
    let evs = check(&tools_stream());
    let resp = &evs.last().unwrap()["response"];
    assert_eq!(resp["status"], "completed");
    assert_eq!(
        resp["output"][1],
        json!({"type": "function_call", "id": "fc_s_1", "call_id": "call_a", "name": "get",
            "arguments": "{\"q\":\"x\"}", "status": "completed"})
    );
    assert_eq!(
        resp["output"][2],
        json!({"type": "custom_tool_call", "id": "ctc_s_2", "call_id": "call_b", "name": "exec",
            "input": "ls -l", "status": "completed"})
    );
    // The message closes before the first call is added.
    let t = types(&evs);
    let msg_done = t
        .iter()
        .position(|x| *x == "response.output_item.done")
        .unwrap();
    let second_add = t
        .iter()
        .enumerate()
        .filter(|(_, x)| **x == "response.output_item.added")
        .nth(1)
        .unwrap()
        .0;
    assert!(msg_done < second_add);
    let deltas: String = evs
        .iter()
        .filter(|e| e["type"] == "response.function_call_arguments.delta")
        .map(|e| e["delta"].as_str().unwrap())
        .collect();
    assert_eq!(deltas, "{\"q\":\"x\"}");
    let input_done = evs
        .iter()
        .find(|e| e["type"] == "response.custom_tool_call_input.done")
        .unwrap();
    assert_eq!(input_done["input"], "ls -l");
}

#[test]
fn length_is_incomplete() {
    let evs = check(&length_stream());
    let last = evs.last().unwrap();
    assert_eq!(last["type"], "response.incomplete");
    assert_eq!(
        last["response"]["incomplete_details"],
        json!({"reason": "max_output_tokens"})
    );
}

#[test]
fn finish_without_done_completes() {
    let evs = check(&no_done_stream());
    assert_eq!(evs.last().unwrap()["type"], "response.completed");
}

#[test]
fn truncated_stream_fails() {
    let evs = check(&truncated_stream());
    let last = evs.last().unwrap();
    assert_eq!(last["type"], "response.failed");
    assert_eq!(last["response"]["status"], "failed");
    assert_eq!(last["response"]["error"]["code"], "server_error");
    let mut t = translator(meta(), true);
    t.feed(truncated_stream().as_bytes());
    t.finish();
    assert!(t.final_response().is_none());
}

#[test]
fn error_event_and_fail() {
    let body = [
        chunk(json!({"content": "a"}), None),
        "data: {\"error\":{\"message\":\"overloaded\"}}\n\n".to_string(),
    ]
    .concat();
    let evs = check(&body);
    assert_eq!(
        evs.last().unwrap()["response"]["error"]["message"],
        "overloaded"
    );

    let mut t = translator(meta(), true);
    let mut out = t.fail("upstream timed out");
    out.extend(t.finish());
    let evs = events(&out);
    assert_eq!(
        types(&evs),
        [
            "response.created",
            "response.in_progress",
            "response.failed"
        ]
    );
    assert_eq!(evs[2]["response"]["error"]["message"], "upstream timed out");
}

// ---------- generated requests ----------

fn words() -> impl Strategy<Value = String> {
    "[a-z ]{0,12}".prop_map(|s| s)
}

fn part() -> impl Strategy<Value = Value> {
    prop_oneof![
        words().prop_map(|t| json!({"type": "input_text", "text": format!("T{t}")})),
        words().prop_map(|t| json!({"type": "output_text", "text": t, "annotations": []})),
        words().prop_map(|t| json!({"type": "refusal", "refusal": t})),
        Just(json!({"type": "input_image", "image_url": "data:image/png;base64,AA"})),
        Just(json!({"type": "input_image", "image_url": "https://h/i.png", "detail": "high"})),
    ]
}

fn text_part() -> impl Strategy<Value = Value> {
    prop_oneof![
        words().prop_map(|t| json!({"type": "input_text", "text": format!("T{t}")})),
        words().prop_map(|t| json!({"type": "output_text", "text": t, "annotations": []})),
        words().prop_map(|t| json!({"type": "refusal", "refusal": t})),
    ]
}

/// Images only in user messages (elsewhere they are refused, checked separately).
fn message() -> impl Strategy<Value = Value> {
    let role = prop_oneof![
        Just("user"),
        Just("assistant"),
        Just("system"),
        Just("developer")
    ];
    (role, any::<bool>(), any::<bool>()).prop_flat_map(|(role, typed, as_string)| {
        let parts = if role == "user" {
            prop::collection::vec(part(), 0..4).boxed()
        } else {
            prop::collection::vec(text_part(), 0..4).boxed()
        };
        let content = if as_string {
            words().prop_map(|t| json!(format!("S{t}"))).boxed()
        } else {
            parts.prop_map(Value::Array).boxed()
        };
        content.prop_map(move |content| {
            if typed {
                json!({"type": "message", "role": role, "content": content})
            } else {
                json!({"role": role, "content": content})
            }
        })
    })
}

fn item() -> impl Strategy<Value = Value> {
    let id = "[a-c]{1}";
    prop_oneof![
        4 => message(),
        1 => (id, words()).prop_map(|(c, a)| json!({"type": "function_call", "call_id": c,
            "name": "get", "arguments": a})),
        1 => (id, words()).prop_map(|(c, o)| json!({"type": "function_call_output",
            "call_id": c, "output": o})),
        1 => (id, prop::collection::vec(part(), 0..3)).prop_map(|(c, parts)| json!({
            "type": "function_call_output", "call_id": c, "output": parts})),
        1 => (id, words()).prop_map(|(c, i)| json!({"type": "custom_tool_call", "call_id": c,
            "name": "exec", "input": i})),
        1 => (id, words()).prop_map(|(c, o)| json!({"type": "custom_tool_call_output",
            "call_id": c, "output": o})),
        1 => Just(json!({"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "e"})),
        1 => Just(json!({"type": "local_shell_call", "call_id": "l", "action": {"type": "exec", "command": ["ls"]}})),
        1 => Just(json!({"type": "local_shell_call_output", "call_id": "l", "output": "o"})),
        1 => Just(json!({"type": "additional_tools", "tools": [{"type": "namespace", "name": "ns",
            "tools": [{"type": "function", "name": "inner"}]}]})),
    ]
}

fn tool() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!({"type": "function", "name": "get", "parameters": {"type": "object"}})),
        Just(
            json!({"type": "custom", "name": "exec", "format": {"type": "grammar",
            "syntax": "lark", "definition": "start: /.+/"}})
        ),
        Just(json!({"type": "custom", "name": "patch"})),
        Just(json!({"type": "web_search"})),
        Just(json!({"type": "local_shell"})),
        Just(json!({"type": "file_search", "vector_store_ids": []})),
        Just(
            json!({"type": "namespace", "name": "clock", "tools": [{"type": "function", "name": "sleep"}]})
        ),
    ]
}

fn request() -> impl Strategy<Value = Value> {
    (
        prop::collection::vec(item(), 0..10),
        prop::option::of(words()),
        prop::collection::vec(tool(), 0..5),
        prop::option::of(prop_oneof![
            Just(json!("auto")),
            Just(json!("required")),
            Just(json!({"type": "function", "name": "get"})),
            Just(json!({"type": "web_search"}))
        ]),
        any::<bool>(),
    )
        .prop_map(|(mut input, instructions, tools, choice, stream)| {
            input.push(json!({"role": "user", "content": "last"}));
            let mut r = json!({"model": "m", "input": input, "tools": tools, "stream": stream});
            if let Some(i) = instructions {
                r["instructions"] = json!(i);
            }
            if let Some(c) = choice {
                r["tool_choice"] = c;
            }
            r
        })
}

fn all_input_texts(req: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for item in req["input"].as_array().into_iter().flatten() {
        let parts = item["content"]
            .as_array()
            .or_else(|| item["output"].as_array());
        for p in parts.into_iter().flatten() {
            if p["type"] == "input_text" {
                out.push(p["text"].as_str().unwrap_or_default().to_string());
            }
        }
        if let Some(s) = item["content"].as_str() {
            out.push(s.to_string());
        }
    }
    out
}

fn contents(chat: &Value) -> String {
    let mut all = String::new();
    for m in chat["messages"].as_array().into_iter().flatten() {
        match &m["content"] {
            Value::String(s) => all.push_str(s),
            Value::Array(parts) => {
                for p in parts {
                    all.push_str(p["text"].as_str().unwrap_or_default());
                }
            }
            _ => {}
        }
        all.push('\u{1}');
    }
    all
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn generated_requests_translate_to_valid_chat(req in request()) {
        let t = to_chat(&req, None, "resp_p".into(), 0);
        prop_assert!(t.is_ok(), "{:?}", t.as_ref().err());
        let Ok(t) = t else { return Ok(()) };
        let msgs = t.chat["messages"].as_array().expect("messages array");
        prop_assert!(!msgs.is_empty());
        for m in msgs {
            let role = m["role"].as_str().unwrap_or("");
            prop_assert!(["system", "user", "assistant", "tool"].contains(&role), "{m}");
            if role == "tool" {
                prop_assert!(m["tool_call_id"].is_string());
            }
            for call in m["tool_calls"].as_array().into_iter().flatten() {
                prop_assert!(call["id"].is_string());
                prop_assert_eq!(&call["type"], "function");
                prop_assert!(call["function"]["name"].is_string());
                prop_assert!(call["function"]["arguments"].is_string());
            }
        }
        let all = contents(&t.chat);
        for text in all_input_texts(&req) {
            prop_assert!(all.contains(&text), "lost {text:?}");
        }
        prop_assert_eq!(t.conversation.len(), req["input"].as_array().map_or(0, Vec::len));
        // The items replay as history.
        let replay = json!({"model": "m"});
        let replayed = to_chat(&replay, Some(&t.conversation.to_vec()), "r".into(), 0);
        prop_assert!(replayed.is_ok());
    }

    #[test]
    fn arbitrary_json_never_panics(s in "[\\[\\]{}\",:a-z0-9 ]{0,60}") {
        if let Ok(v) = serde_json::from_str::<Value>(&s) {
            let _ = to_chat(&v, None, "resp_q".into(), 0);
            let _ = to_chat(&json!({"model": "m", "input": v}), None, "resp_q".into(), 0);
        }
    }

    #[test]
    fn arbitrary_stream_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200),
                                          split in 1usize..20) {
        let mut body = tools_stream().into_bytes();
        body.extend(bytes);
        let mut t = translator(meta(), true);
        for piece in body.chunks(split) {
            let _ = t.feed(piece);
        }
        let _ = t.finish();
        let mut t = translator(meta(), false);
        for piece in body.chunks(split) {
            let _ = t.feed(piece);
        }
        let _ = t.finish();
    }
}

#[test]
fn images_outside_user_messages_are_refused() {
    for role in ["assistant", "system", "developer"] {
        let req = json!({"model": "m", "input": [{"role": role, "content": [
            {"type": "input_image", "image_url": "https://h/i.png"}]}]});
        let e = to_chat(&req, None, "r".into(), 0).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("input[0].content"));
    }
}
