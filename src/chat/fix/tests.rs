//! One test per rule: the input is rejected by the independent checker (`crate::strict`, which
//! mimics Hunyuan's 400 answers) and the fixed output is accepted.
use serde_json::{json, Value};

use super::{fix_hunyuan, FixPolicy, LeadingNonUser, ModelCaps};
use mock_upstream::strict::{check_chat, MSG_ALTERNATION, MSG_CONTENT_EMPTY, MSG_SYSTEM_FIRST};

const TEXT: ModelCaps = ModelCaps {
    images: false,
    tools: true,
};
const VISION: ModelCaps = ModelCaps {
    images: true,
    tools: true,
};
const NO_TOOLS: ModelCaps = ModelCaps {
    images: false,
    tools: false,
};

fn req(messages: Value) -> Value {
    json!({"model": "hunyuan-turbos-latest", "messages": messages})
}

fn fixed_with(mut r: Value, policy: &FixPolicy, caps: ModelCaps) -> Value {
    fix_hunyuan(&mut r, policy, caps);
    r
}

/// Asserts Hunyuan's checker rejects `input` with a message containing `error`, fixes it, and
/// asserts the result is accepted and a fixed point. Returns the fixed `messages`.
fn prevents(input: Value, error: &str, policy: &FixPolicy, caps: ModelCaps) -> Vec<Value> {
    match check_chat(&input, caps.images) {
        Err(v) => assert!(v.message.contains(error), "{} vs {error}", v.message),
        Ok(()) => panic!("checker accepts the input already: {input}"),
    }
    let out = fixed_with(input, policy, caps);
    assert_eq!(check_chat(&out, caps.images), Ok(()), "{out:#}");
    assert_eq!(fixed_with(out.clone(), policy, caps), out, "not idempotent");
    match out.get("messages") {
        Some(Value::Array(m)) => m.clone(),
        _ => panic!("no messages: {out}"),
    }
}

fn prevents_default(input: Value, error: &str) -> Vec<Value> {
    prevents(input, error, &FixPolicy::default(), TEXT)
}

fn roles(msgs: &[Value]) -> Vec<&str> {
    msgs.iter()
        .map(|m| m["role"].as_str().unwrap_or("?"))
        .collect()
}

fn call(id: &str, name: &str) -> Value {
    json!({"id": id, "type": "function", "function": {"name": name, "arguments": "{}"}})
}

#[test]
fn rule1_drops_reasoning_content() {
    // Hunyuan: "messages 中不支持 reasoning_content 字段"
    let m = prevents_default(
        req(json!([
            {"role": "user", "content": "a"},
            {"role": "assistant", "content": "b", "reasoning_content": "thinking..."},
            {"role": "user", "content": "c"},
        ])),
        "reasoning_content",
    );
    assert!(m.iter().all(|m| m.get("reasoning_content").is_none()));
}

#[test]
fn rule2_flattens_arrays_for_a_text_model() {
    // Text model: array content is rejected; images left over become marked text.
    let m = prevents_default(
        req(json!([{"role": "user", "content": [
            {"type": "text", "text": "what is in"},
            {"type": "text", "text": "  "},
            {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
            {"type": "text", "text": "this picture?"},
        ]}])),
        "数组",
    );
    assert_eq!(
        m[0]["content"],
        "what is in\n[image omitted: the model cannot see images]\nthis picture?"
    );
}

#[test]
fn rule2_keeps_images_for_a_vision_model() {
    // Vision model: blank text parts would make Hunyuan count the part as empty; a string
    // image_url is not the documented shape.
    let input = req(json!([{"role": "user", "content": [
        {"type": "text", "text": "look"},
        {"type": "image_url", "image_url": "data:image/png;base64,AAAA"},
        {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
    ]}]));
    let m = prevents(input, "image_url", &FixPolicy::default(), VISION);
    assert_eq!(
        m[0]["content"],
        json!([
            {"type": "text", "text": "look"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
            {"type": "text", "text": "[input_audio content omitted]"},
        ])
    );
    // Without any image left the array becomes a plain string.
    let out = fixed_with(
        req(
            json!([{"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "text", "text": ""}]}]),
        ),
        &FixPolicy::default(),
        VISION,
    );
    assert_eq!(out["messages"][0]["content"], "hi");
}

#[test]
fn rule3_one_system_message_first() {
    // Hunyuan: "messages 中 system 角色必须位于列表的最开始"
    let m = prevents_default(
        req(json!([
            {"role": "user", "content": "hi"},
            {"role": "system", "content": "be brief"},
            {"role": "system", "content": "use metric units"},
            {"role": "user", "content": "weather?"},
        ])),
        MSG_SYSTEM_FIRST,
    );
    assert_eq!(roles(&m), ["system", "user"]);
    assert_eq!(m[0]["content"], "be brief\n\nuse metric units");
    assert_eq!(m[1]["content"], "hi\n\nweather?");
    // A blank system message is dropped rather than filled.
    let out = fixed_with(
        req(json!([{"role": "system", "content": " "}, {"role": "user", "content": "hi"}])),
        &FixPolicy::default(),
        TEXT,
    );
    assert_eq!(out["messages"], json!([{"role": "user", "content": "hi"}]));
}

#[test]
fn rule4_no_empty_content() {
    // Hunyuan: "messages 中 content 不能为空"
    let m = prevents_default(
        req(json!([
            {"role": "user", "content": " \n"},
            {"role": "assistant", "content": null, "tool_calls": [call("c1", "get_weather"), call("c2", "read_file")]},
            {"role": "tool", "tool_call_id": "c1", "content": ""},
            {"role": "tool", "tool_call_id": "c2", "content": "ok"},
        ])),
        MSG_CONTENT_EMPTY,
    );
    assert_eq!(m[0]["content"], "(empty message)");
    assert_eq!(m[1]["content"], "(calling tools: get_weather, read_file)");
    assert_eq!(m[2]["content"], "(empty tool result)");
}

#[test]
fn rule5_inserts_a_user_turn_before_a_leading_assistant() {
    // Hunyuan: "... 以 user 提问开始 ..."
    let input = req(json!([
        {"role": "system", "content": "s"},
        {"role": "assistant", "content": "Hello! How can I help?"},
        {"role": "user", "content": "hi"},
    ]));
    let m = prevents_default(input.clone(), MSG_ALTERNATION);
    assert_eq!(roles(&m), ["system", "user", "assistant", "user"]);
    assert_eq!(m[1]["content"], "(conversation start)");

    let drop = FixPolicy {
        leading_non_user: LeadingNonUser::Drop,
        ..FixPolicy::default()
    };
    let m = prevents(input, MSG_ALTERNATION, &drop, TEXT);
    assert_eq!(roles(&m), ["system", "user"]);
}

#[test]
fn rule6_merges_consecutive_turns() {
    // Hunyuan: "user（tool） 和 assistant 角色需交替出现"
    let m = prevents_default(
        req(json!([
            {"role": "user", "content": "first"},
            {"role": "user", "content": "second"},
            {"role": "assistant", "content": "let me look", "tool_calls": [call("a", "ls")]},
            {"role": "assistant", "content": "and", "tool_calls": [call("b", "cat")]},
            {"role": "tool", "tool_call_id": "a", "content": "x"},
            {"role": "tool", "tool_call_id": "b", "content": "y"},
        ])),
        MSG_ALTERNATION,
    );
    assert_eq!(roles(&m), ["user", "assistant", "tool", "tool"]);
    assert_eq!(m[0]["content"], "first\n\nsecond");
    assert_eq!(m[1]["tool_calls"].as_array().map(Vec::len), Some(2));
}

#[test]
fn rule7_assistant_between_tool_and_user() {
    // Hunyuan: alternation error (tool and user are the same side).
    let m = prevents_default(
        req(json!([
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": "listing", "tool_calls": [call("a", "ls")]},
            {"role": "tool", "tool_call_id": "a", "content": "files"},
            {"role": "user", "content": "and now?"},
        ])),
        MSG_ALTERNATION,
    );
    assert_eq!(
        roles(&m),
        ["user", "assistant", "tool", "assistant", "user"]
    );
    assert_eq!(m[3]["content"], "(tool results received)");
}

#[test]
fn rule8_pairs_tool_results_with_calls() {
    // Hunyuan: tool_call_id must answer the previous assistant's tool_calls, every call
    // must be answered.
    let m = prevents_default(
        req(json!([
            {"role": "tool", "tool_call_id": "old", "content": "stale result"},
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": "calling", "tool_calls": [call("a", "ls"), call("b", "cat")]},
            {"role": "tool", "tool_call_id": "a", "content": "files"},
            {"role": "tool", "tool_call_id": "zzz", "content": "mystery"},
        ])),
        "tool",
    );
    assert_eq!(roles(&m), ["user", "assistant", "tool", "tool"]);
    assert_eq!(m[0]["content"], "[tool result old]: stale result\n\nq");
    assert_eq!(m[2]["content"], "files");
    assert_eq!(m[3]["tool_call_id"], "b");
    assert_eq!(
        m[3]["content"],
        "(no result: the tool call was not answered)\n\n[tool result zzz]: mystery"
    );
}

#[test]
fn rule9_ends_with_user_or_tool() {
    // Hunyuan: "... user（tool）提问结束 ..."
    let m = prevents_default(
        req(json!([
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": "partial answer"},
        ])),
        MSG_ALTERNATION,
    );
    assert_eq!(roles(&m), ["user", "assistant", "user"]);
    assert_eq!(m[2]["content"], "continue");
}

fn chat_turns(n: usize) -> Vec<Value> {
    let mut v = vec![json!({"role": "system", "content": "sys"})];
    for i in 0..n {
        v.push(json!({"role": "user", "content": format!("u{i}")}));
        v.push(json!({"role": "assistant", "content": format!("a{i}")}));
    }
    v.push(json!({"role": "user", "content": "last"}));
    v
}

#[test]
fn rule10_keeps_system_and_newest_turns() {
    // Hunyuan: at most 40 messages.
    let m = prevents_default(req(Value::Array(chat_turns(30))), "40");
    assert_eq!(m.len(), 40);
    assert_eq!(m[0]["content"], "sys");
    assert_eq!(m[1]["content"], "u11");
    assert_eq!(m[39]["content"], "last");
}

#[test]
fn rule10_keeps_the_task_of_a_long_agent_loop() {
    let mut v = vec![
        json!({"role": "system", "content": "sys"}),
        json!({"role": "user", "content": "the task"}),
    ];
    for i in 0..30 {
        let id = format!("c{i}");
        v.push(json!({"role": "assistant", "content": "step", "tool_calls": [call(&id, "run")]}));
        v.push(json!({"role": "tool", "tool_call_id": id, "content": format!("r{i}")}));
    }
    let m = prevents_default(req(Value::Array(v)), "40");
    assert_eq!(m.len(), 40);
    assert_eq!(m[1]["content"], "the task");
    assert_eq!(m[2]["role"], "assistant");
    assert_eq!(m[39]["content"], "r29");
}

#[test]
fn rule10_compacts_a_round_larger_than_the_limit() {
    let calls: Vec<Value> = (0..50).map(|i| call(&format!("c{i}"), "f")).collect();
    let mut v = vec![
        json!({"role": "user", "content": "go"}),
        json!({"role": "assistant", "content": "fan out", "tool_calls": calls}),
    ];
    v.extend((0..50).map(
        |i| json!({"role": "tool", "tool_call_id": format!("c{i}"), "content": format!("r{i}")}),
    ));
    let m = prevents_default(req(Value::Array(v)), "40");
    assert_eq!(roles(&m), ["user", "assistant", "user"]);
    let results = m[2]["content"].as_str().unwrap_or("");
    assert!(results.contains("[tool result c0]: r0") && results.contains("[tool result c49]: r49"));
}

#[test]
fn rule11_parameters() {
    // Hunyuan rejects unsupported parameters, `strict`, and out-of-range values.
    let input = json!({
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "frequency_penalty": 0.5, "presence_penalty": 0, "parallel_tool_calls": true,
        "reasoning_effort": "low",
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {}, "strict": true}}],
        "tool_choice": "auto",
        "temperature": 3.5, "top_p": -1, "seed": 0,
        "enable_enhancement": false, "max_tokens": 100,
    });
    let out = fixed_with(input.clone(), &FixPolicy::default(), TEXT);
    assert!(check_chat(&input, false).is_err());
    assert_eq!(check_chat(&out, false), Ok(()));
    assert_eq!(
        out,
        json!({
            "model": "m",
            "messages": [{"role": "user", "content": "hi"}],
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
            "tool_choice": "auto",
            "temperature": 2.0, "top_p": 0.0,
            "enable_enhancement": false, "max_tokens": 100,
        })
    );
    // An allow-list keeps only the listed keys and the essential ones.
    let allow = FixPolicy {
        allow_params: Some(vec!["max_tokens".into()]),
        ..FixPolicy::default()
    };
    let out = fixed_with(input, &allow, TEXT);
    let keys: Vec<&String> = out
        .as_object()
        .map(|o| o.keys().collect())
        .unwrap_or_default();
    assert_eq!(
        keys,
        ["max_tokens", "messages", "model", "tool_choice", "tools"]
    );
    // Integral float seeds become integers; fractional ones are dropped.
    let out = fixed_with(
        json!({"messages": [{"role": "user", "content": "x"}], "seed": 42.0, "top_p": 0.5}),
        &FixPolicy::default(),
        TEXT,
    );
    assert_eq!(out["seed"], json!(42));
    assert!(out["seed"].is_i64() && out["top_p"] == json!(0.5));
    let out = fixed_with(
        json!({"messages": [{"role": "user", "content": "x"}], "seed": 4.5, "temperature": "hot"}),
        &FixPolicy::default(),
        TEXT,
    );
    assert!(out.get("seed").is_none() && out.get("temperature").is_none());
}

#[test]
fn model_without_tools_gets_text() {
    let input = json!({
        "model": "hunyuan-vision",
        "tools": [{"type": "function", "function": {"name": "ls"}}],
        "tool_choice": "auto",
        "messages": [
            {"role": "user", "content": "list"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "a", "type": "function", "function": {"name": "ls", "arguments": "{\"dir\":\".\"}"}}]},
            {"role": "tool", "tool_call_id": "a", "content": "x.txt"},
            {"role": "user", "content": "thanks"},
        ],
    });
    let out = fixed_with(input, &FixPolicy::default(), NO_TOOLS);
    assert_eq!(check_chat(&out, false), Ok(()));
    assert!(out.get("tools").is_none() && out.get("tool_choice").is_none());
    assert_eq!(
        out["messages"],
        json!([
            {"role": "user", "content": "list"},
            {"role": "assistant", "content": "[tool call a: ls({\"dir\":\".\"})]"},
            {"role": "user", "content": "[tool result a]: x.txt\n\nthanks"},
        ])
    );
}

#[test]
fn roles_are_mapped() {
    let m = prevents_default(
        req(json!([
            "not an object",
            {"role": "developer", "content": "dev rules"},
            {"role": 7, "content": "numeric role"},
            {"role": "assistant", "content": "", "function_call": {"name": "lookup", "arguments": "{}"}},
            {"role": "function", "name": "lookup", "content": "42"},
            {"role": "model", "content": "unknown role"},
            {"content": 12},
        ])),
        "",
    );
    assert_eq!(
        Value::Array(m),
        json!([
            {"role": "system", "content": "dev rules"},
            {"role": "user", "content": "numeric role"},
            {"role": "assistant", "content": "[tool call lookup({})]"},
            {"role": "user", "content": "[tool result lookup]: 42\n\nunknown role\n\n12"},
        ])
    );
}

#[test]
fn invalid_tool_calls_become_text() {
    let m = prevents_default(
        req(json!([
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": "hm", "tool_calls": [
                {"type": "function", "function": {"name": "no_id"}},
                {"id": "ok", "function": {"name": "f", "arguments": {"x": 1}}},
                3,
            ]},
            {"role": "tool", "tool_call_id": "ok", "content": "done"},
            {"role": "user", "content": "thanks", "tool_calls": []},
        ])),
        "",
    );
    assert_eq!(m[1]["content"], "hm\n\n[tool call no_id()]\n[tool call: 3]");
    assert_eq!(
        m[1]["tool_calls"],
        json!([{"id": "ok", "type": "function", "function": {"name": "f", "arguments": "{\"x\":1}"}}])
    );
    assert!(m[4].get("tool_calls").is_none());
}

#[test]
fn leaves_malformed_requests_alone() {
    for v in [
        json!("text"),
        json!(null),
        json!({"model": "m"}),
        json!({"messages": "hi", "frequency_penalty": 1}),
        json!({"messages": null}),
    ] {
        assert_eq!(fixed_with(v.clone(), &FixPolicy::default(), TEXT), v);
    }
    let out = fixed_with(
        json!({"messages": [], "seed": 0}),
        &FixPolicy::default(),
        TEXT,
    );
    assert_eq!(out, json!({"messages": []}));
}

#[test]
fn policy_from_yaml() {
    let p: FixPolicy = serde_yaml::from_str(
        "max_messages: 20\nleading_non_user: drop\nseed: null\ntemperature: {min: 0, max: 1}\nplaceholders: {continue_prompt: go on}\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.max_messages, 20);
    assert_eq!(p.leading_non_user, LeadingNonUser::Drop);
    assert!(p.seed.is_none());
    assert_eq!(p.temperature.map(|t| t.max), Some(1.0));
    assert_eq!(p.placeholders.continue_prompt, "go on");
    assert_eq!(p.drop_params.len(), 4);
    assert!(serde_yaml::from_str::<FixPolicy>("max_msgs: 3\n").is_err());
    assert!(serde_yaml::from_str::<FixPolicy>("placeholders: {nope: x}\n").is_err());
}

#[test]
fn blank_placeholders_fall_back_to_defaults() {
    let mut p = FixPolicy::default();
    p.placeholders.continue_prompt = " ".into();
    let out = fixed_with(
        req(json!([{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}])),
        &p,
        TEXT,
    );
    assert_eq!(out["messages"][2]["content"], "continue");
}
