//! The stream decoder: native SSE → chat SSE, the same output for every split of the input.

use proptest::prelude::*;
use serde_json::{json, Value};

use super::super::decoder;

fn event(delta: Value, finish: &str, completion: u64) -> String {
    let v = json!({"Id": "sse-1", "Created": 1700000000, "Note": "AI",
        "Choices": [{"Index": 0, "Delta": delta, "FinishReason": finish}],
        "Usage": {"PromptTokens": 9, "CompletionTokens": completion, "TotalTokens": 9 + completion}});
    format!("data: {v}\n\n")
}

/// Reasoning, text in two events, a tool call in two pieces merged by `Id` (the name repeated),
/// a second call, a keep-alive and a malformed event, the finish with the last usage.
fn agent_stream() -> String {
    let call = |args: &str| {
        json!({"ToolCalls": [{"Id": "call_a", "Type": "function",
        "Function": {"Name": "shell", "Arguments": args}}]})
    };
    [
        event(
            json!({"Role": "assistant", "ReasoningContent": "hmm"}),
            "",
            1,
        ),
        event(json!({"Role": "assistant", "Content": "Héllo "}), "", 2),
        event(json!({"Role": "assistant", "Content": "wörld"}), "", 3),
        ": ping\n\ndata: {not json\n\n".to_string(),
        event(call("{\"cmd\":"), "", 4),
        event(call("\"ls\"}"), "", 5),
        event(
            json!({"ToolCalls": [{"Id": "call_b", "Index": 1, "Type": "function",
            "Function": {"Name": "pwd", "Arguments": "{}"}}]}),
            "",
            6,
        ),
        event(json!({"Role": "assistant", "Content": ""}), "tool_calls", 7),
    ]
    .concat()
    .replace("\n\n", "\r\n\r\n")
}

fn run(input: &[u8], cuts: &[usize]) -> String {
    let mut d = decoder(true, "hunyuan-turbos-latest");
    let mut out = Vec::new();
    let mut at = 0;
    for &c in cuts {
        let c = c.clamp(at, input.len());
        out.extend(d.feed(&input[at..c]));
        at = c;
    }
    out.extend(d.feed(&input[at..]));
    out.extend(d.finish());
    assert!(d.finish().is_empty(), "finish twice");
    String::from_utf8(out).unwrap()
}

/// The `data:` payloads (`[DONE]` as the string "[DONE]").
fn payloads(out: &str) -> Vec<Value> {
    out.split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| {
            let d = e.strip_prefix("data: ").unwrap();
            serde_json::from_str(d).unwrap_or_else(|_| json!(d))
        })
        .collect()
}

#[test]
fn agent_stream_becomes_chat_chunks() {
    let out = run(agent_stream().as_bytes(), &[]);
    let p = payloads(&out);
    let deltas: Vec<Value> = p
        .iter()
        .take(6)
        .map(|c| c["choices"][0]["delta"].clone())
        .collect();
    assert_eq!(
        deltas,
        vec![
            json!({"role": "assistant", "reasoning_content": "hmm"}),
            json!({"content": "Héllo "}),
            json!({"content": "wörld"}),
            json!({"tool_calls": [{"index": 0, "id": "call_a", "type": "function",
                "function": {"name": "shell", "arguments": "{\"cmd\":"}}]}),
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "\"ls\"}"}}]}),
            json!({"tool_calls": [{"index": 1, "id": "call_b", "type": "function",
                "function": {"name": "pwd", "arguments": "{}"}}]}),
        ]
    );
    for c in &p[..7] {
        assert_eq!(c["id"], "sse-1");
        assert_eq!(c["object"], "chat.completion.chunk");
        assert_eq!(c["created"], 1700000000);
        assert_eq!(c["model"], "hunyuan-turbos-latest");
    }
    assert_eq!(p[6]["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(p[6]["choices"][0]["delta"], json!({}));
    assert_eq!(p[7]["choices"], json!([]));
    assert_eq!(
        p[7]["usage"],
        json!({"prompt_tokens": 9, "completion_tokens": 7, "total_tokens": 16})
    );
    assert_eq!(p[8], json!("[DONE]"));
    assert_eq!(p.len(), 9);
}

#[test]
fn every_split_gives_the_same_output() {
    let input = agent_stream();
    let bytes = input.as_bytes();
    let whole = run(bytes, &[]);
    let one_by_one: Vec<usize> = (1..bytes.len()).collect();
    assert_eq!(run(bytes, &one_by_one), whole, "one byte at a time");
    for split in 1..bytes.len() {
        assert_eq!(run(bytes, &[split]), whole, "split at {split}");
    }
}

proptest! {
    #[test]
    fn any_split_gives_the_same_output(mut cuts in prop::collection::vec(0usize..2000, 0..12)) {
        let input = agent_stream();
        cuts.sort_unstable();
        prop_assert_eq!(run(input.as_bytes(), &cuts), run(input.as_bytes(), &[]));
    }
}

#[test]
fn truncation_is_an_error_event_without_done() {
    let cut = event(json!({"Role": "assistant", "Content": "partial"}), "", 1);
    let p = payloads(&run(cut.as_bytes(), &[]));
    assert_eq!(p.len(), 2);
    assert_eq!(p[0]["choices"][0]["delta"]["content"], "partial");
    assert!(p[1]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("ended before"));
    // Nothing at all.
    let p = payloads(&run(b"", &[]));
    assert_eq!(p.len(), 1);
    assert!(p[0].get("error").is_some());
    // `fail` mid-way, then nothing more.
    let mut d = decoder(true, "m");
    d.feed(cut.as_bytes());
    let failed = String::from_utf8(d.fail("upstream timed out")).unwrap();
    assert_eq!(
        payloads(&failed)[0]["error"]["message"],
        "upstream timed out"
    );
    assert!(d.finish().is_empty() && d.feed(cut.as_bytes()).is_empty());
}

#[test]
fn errors_in_the_stream() {
    let err = json!({"Response": {"Error": {"Code": "InternalError", "Message": "boom"},
        "RequestId": "r7"}});
    let input = format!(
        "{}data: {err}\n\n{}",
        event(json!({"Content": "a"}), "", 1),
        event(json!({"Content": "b"}), "stop", 2)
    );
    let p = payloads(&run(input.as_bytes(), &[]));
    assert_eq!(p.len(), 2, "{p:?}");
    assert_eq!(
        p[1],
        json!({"error": {"message": "boom (request id r7)", "type": "server_error", "param": null,
            "code": "InternalError"}})
    );
    // The stream's own ErrorMsg.
    let em = json!({"Choices": [], "ErrorMsg": {"Msg": "timeout", "Code": 4001}});
    let p = payloads(&run(format!("data: {em}\n\n").as_bytes(), &[]));
    assert_eq!(p[0]["error"]["code"], 4001);
    // A bare JSON error body answered to a stream request.
    let p = payloads(&run(err.to_string().as_bytes(), &[]));
    assert_eq!(p.len(), 1);
    assert_eq!(p[0]["error"]["code"], "InternalError");
}

#[test]
fn sensitive_stop_and_usage_without_choices() {
    let input = [
        event(json!({"Role": "assistant", "Content": "x"}), "", 1),
        event(json!({"Role": "assistant", "Content": ""}), "sensitive", 2),
        // A second finish is not repeated.
        event(json!({"Content": ""}), "stop", 2),
        // Usage alone, after the finish, is the one reported.
        format!(
            "data: {}\n\n",
            json!({"Id": "sse-1", "Usage": {"PromptTokens": 9, "CompletionTokens": 3}})
        ),
    ]
    .concat();
    let p = payloads(&run(input.as_bytes(), &[]));
    assert_eq!(p[1]["choices"][0]["finish_reason"], "content_filter");
    assert_eq!(p[2]["choices"], json!([]));
    assert_eq!(p[3], json!("[DONE]"));
    let mut d = decoder(true, "m");
    d.feed(input.as_bytes());
    d.finish();
    assert_eq!(d.usage().map(|u| (u.prompt, u.completion)), Some((9, 3)));
}
