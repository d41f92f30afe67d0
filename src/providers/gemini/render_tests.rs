//! `render`: one test per rule, and a property test over random conversations.

use serde_json::{json, Value};

use super::parts::{guess_mime, SKIP_SIGNATURE};
use super::render;
use super::render::encode_segment;

fn body(chat: Value) -> Value {
    render(&chat).unwrap().1
}

fn chat(messages: Value) -> Value {
    json!({"model": "gemini-2.5-flash", "messages": messages})
}

fn err_param(chat: Value) -> String {
    render(&chat).unwrap_err().param.unwrap()
}

#[test]
fn paths_and_model_encoding() {
    let c = chat(json!([{"role": "user", "content": "hi"}]));
    assert_eq!(
        render(&c).unwrap().0,
        "/models/gemini-2.5-flash:generateContent"
    );
    let mut s = c.clone();
    s["stream"] = json!(true);
    assert_eq!(
        render(&s).unwrap().0,
        "/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    );
    let mut evil = c.clone();
    evil["model"] = json!("../x/y?key=1#f:z%");
    assert_eq!(
        render(&evil).unwrap().0,
        "/models/..%2Fx%2Fy%3Fkey%3D1%23f%3Az%25:generateContent"
    );
    let mut prefixed = c;
    prefixed["model"] = json!("models/gemini-2.0-flash");
    assert_eq!(
        render(&prefixed).unwrap().0,
        "/models/gemini-2.0-flash:generateContent"
    );
    assert_eq!(encode_segment("a b~é"), "a%20b~%C3%A9");
    assert_eq!(err_param(json!({"messages": []})), "model");
    assert!(render(&json!([])).is_err());
}

#[test]
fn system_user_assistant_and_merging() {
    let b = body(chat(json!([
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "one"},
        {"role": "user", "content": [{"type": "text", "text": "two"}, {"type": "text", "text": ""}]},
        {"role": "developer", "content": [{"type": "text", "text": "and kind"}]},
        {"role": "assistant", "content": "ok", "reasoning_content": "hmm"},
        {"role": "assistant", "content": ""},
        {"role": "assistant", "content": null},
        {"role": "user", "content": "three"},
    ])));
    assert_eq!(
        b["systemInstruction"],
        json!({"parts": [{"text": "be brief"}, {"text": "and kind"}]})
    );
    assert_eq!(
        b["contents"],
        json!([
            {"role": "user", "parts": [{"text": "one"}, {"text": "two"}]},
            {"role": "model", "parts": [{"text": "ok"}]},
            {"role": "user", "parts": [{"text": "three"}]},
        ])
    );
    let only_system = body(chat(json!([{"role": "system", "content": "hello"}])));
    assert_eq!(
        only_system["contents"],
        json!([{"role": "user", "parts": [{"text": "hello"}]}])
    );
    assert!(only_system.get("systemInstruction").is_none());
    assert_eq!(
        err_param(chat(json!([{"role": "user", "content": ""}]))),
        "messages"
    );
    assert_eq!(
        err_param(chat(json!([{"role": "robot", "content": "x"}]))),
        "messages[0].role"
    );
    assert_eq!(
        err_param(chat(json!([{"content": "x"}]))),
        "messages[0].role"
    );
    assert_eq!(
        err_param(chat(json!([{"role": "user", "content": 5}]))),
        "messages[0].content"
    );
}

#[test]
fn images_and_media() {
    let b = body(chat(json!([{"role": "user", "content": [
        {"type": "text", "text": "what?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBOR"}},
        {"type": "image_url", "image_url": {"url": "https://x.test/a/cat.JPG?s=1#f", "detail": "high"}},
        {"type": "image_url", "image_url": {"url": "http://x.test/noext"}},
        {"type": "image_url", "image_url": "gs://bucket/doc.pdf"},
        {"type": "input_audio", "input_audio": {"data": "UklG", "format": "wav"}},
        {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBE", "filename": "a.pdf"}},
    ]}])));
    assert_eq!(
        b["contents"][0]["parts"],
        json!([
            {"text": "what?"},
            {"inlineData": {"mimeType": "image/png", "data": "iVBOR"}},
            {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://x.test/a/cat.JPG?s=1#f"}},
            {"fileData": {"mimeType": "image/*", "fileUri": "http://x.test/noext"}},
            {"fileData": {"mimeType": "application/pdf", "fileUri": "gs://bucket/doc.pdf"}},
            {"inlineData": {"mimeType": "audio/wav", "data": "UklG"}},
            {"inlineData": {"mimeType": "application/pdf", "data": "JVBE"}},
        ])
    );
    let bad = |part: Value| err_param(chat(json!([{"role": "user", "content": [part]}])));
    assert_eq!(
        bad(json!({"type": "image_url", "image_url": {"url": "data:image/png,abc"}})),
        "messages[0].content[0].image_url.url"
    );
    assert_eq!(
        bad(json!({"type": "image_url", "image_url": {"url": "ftp://x/a.png"}})),
        "messages[0].content[0].image_url.url"
    );
    assert_eq!(
        bad(json!({"type": "image_url"})),
        "messages[0].content[0].image_url"
    );
    assert_eq!(
        bad(json!({"type": "file", "file": {"file_id": "file-1"}})),
        "messages[0].content[0].file.file_data"
    );
    assert_eq!(bad(json!({"type": "video"})), "messages[0].content[0].type");
    let sys_image = chat(json!([{"role": "system", "content": [
        {"type": "image_url", "image_url": {"url": "https://x/a.png"}}]}, {"role": "user", "content": "x"}]));
    assert_eq!(err_param(sys_image), "messages[0].content[0].type");
    assert_eq!(guess_mime("https://h/x.webp"), "image/webp");
    assert_eq!(guess_mime("https://h.png/x"), "image/*");
}

#[test]
fn tool_calls_and_results() {
    let b = body(chat(json!([
        {"role": "user", "content": "run ls and pwd"},
        {"role": "assistant", "content": "sure", "tool_calls": [
            {"id": "call_a", "type": "function", "function": {"name": "shell", "arguments": "{\"cmd\":\"ls\"}"}},
            {"id": "call_b", "type": "function", "function": {"name": "pwd", "arguments": ""},
             "extra_content": {"google": {"thought_signature": "sig-b"}}},
        ]},
        {"role": "tool", "tool_call_id": "call_a", "content": "a.txt"},
        {"role": "tool", "tool_call_id": "call_b", "content": "{\"dir\":\"/tmp\"}"},
        {"role": "user", "content": "thanks"},
        {"role": "assistant", "tool_calls": [
            {"id": "call_c", "type": "function", "function": {"name": "shell", "arguments": "{}"},
             "extra_content": {"google": {"thought_signature": "sig-c"}}}]},
        {"role": "tool", "tool_call_id": "call_c", "content": [{"type": "text", "text": "[1, 2]"}]},
        {"role": "function", "name": "legacy", "content": "42"},
    ])));
    assert_eq!(
        b["contents"],
        json!([
            {"role": "user", "parts": [{"text": "run ls and pwd"}]},
            {"role": "model", "parts": [
                {"text": "sure"},
                {"functionCall": {"id": "call_a", "name": "shell", "args": {"cmd": "ls"}},
                 "thoughtSignature": SKIP_SIGNATURE},
                {"functionCall": {"id": "call_b", "name": "pwd", "args": {}},
                 "thoughtSignature": "sig-b"},
            ]},
            {"role": "user", "parts": [
                {"functionResponse": {"id": "call_a", "name": "shell", "response": {"result": "a.txt"}}},
                {"functionResponse": {"id": "call_b", "name": "pwd", "response": {"dir": "/tmp"}}},
                {"text": "thanks"},
            ]},
            {"role": "model", "parts": [
                {"functionCall": {"id": "call_c", "name": "shell", "args": {}}, "thoughtSignature": "sig-c"},
            ]},
            {"role": "user", "parts": [
                {"functionResponse": {"id": "call_c", "name": "shell", "response": {"result": "[1, 2]"}}},
                {"functionResponse": {"name": "legacy", "response": {"result": "42"}}},
            ]},
        ])
    );
}

#[test]
fn bad_tool_calls_name_the_field() {
    let with_call = |call: Value| {
        chat(json!([{"role": "user", "content": "x"},
            {"role": "assistant", "tool_calls": [call]}]))
    };
    let at = "messages[1].tool_calls[0]";
    let args = |a: Value| {
        with_call(json!({"id": "c", "type": "function", "function": {"name": "f", "arguments": a}}))
    };
    assert_eq!(
        err_param(args(json!("{oops"))),
        format!("{at}.function.arguments")
    );
    assert_eq!(
        err_param(args(json!("[1]"))),
        format!("{at}.function.arguments")
    );
    assert_eq!(
        err_param(args(json!(7))),
        format!("{at}.function.arguments")
    );
    let ok = body(args(json!({"a": 1})));
    assert_eq!(
        ok["contents"][1]["parts"][0]["functionCall"]["args"],
        json!({"a": 1})
    );
    assert_eq!(
        err_param(with_call(
            json!({"id": "c", "function": {"arguments": "{}"}})
        )),
        format!("{at}.function.name")
    );
    assert_eq!(
        err_param(with_call(
            json!({"id": "c", "type": "custom", "custom": {}})
        )),
        format!("{at}.type")
    );
    let orphan = chat(json!([{"role": "user", "content": "x"},
        {"role": "tool", "tool_call_id": "nope", "content": "r"}]));
    assert_eq!(err_param(orphan), "messages[1].tool_call_id");
}

#[test]
fn tools_and_tool_choice() {
    let mut c = chat(json!([{"role": "user", "content": "x"}]));
    let schema = json!({"type": "object", "properties": {"cmd": {"type": "string"}},
        "required": ["cmd"], "additionalProperties": false});
    c["tools"] = json!([
        {"type": "function", "function": {"name": "shell", "description": "run", "parameters": schema, "strict": true}},
        {"type": "function", "function": {"name": "now"}},
    ]);
    let b = body(c.clone());
    assert_eq!(
        b["tools"],
        json!([{"functionDeclarations": [
            {"name": "shell", "description": "run", "parametersJsonSchema": schema},
            {"name": "now"},
        ]}])
    );
    assert!(b.get("toolConfig").is_none());
    for (choice, config) in [
        (json!("auto"), json!({"mode": "AUTO"})),
        (json!("none"), json!({"mode": "NONE"})),
        (json!("required"), json!({"mode": "ANY"})),
        (
            json!({"type": "function", "function": {"name": "now"}}),
            json!({"mode": "ANY", "allowedFunctionNames": ["now"]}),
        ),
    ] {
        c["tool_choice"] = choice;
        assert_eq!(
            body(c.clone())["toolConfig"]["functionCallingConfig"],
            config
        );
    }
    c["tool_choice"] = json!("sometimes");
    assert_eq!(err_param(c.clone()), "tool_choice");
    c["tools"] = json!([{"type": "web_search"}]);
    assert_eq!(err_param(c.clone()), "tools[0].type");
    c["tools"] = json!([]);
    c["tool_choice"] = json!("auto");
    let b = body(c);
    assert!(b.get("tools").is_none() && b.get("toolConfig").is_none());
}

#[test]
fn generation_config_and_dropped_fields() {
    let mut c = chat(json!([{"role": "user", "content": "x"}]));
    let extra = json!({"temperature": 0.5, "top_p": 0.9, "top_k": 40, "max_tokens": 100,
        "max_completion_tokens": 200, "stop": "END", "n": 2, "seed": 7,
        "presence_penalty": 0.1, "frequency_penalty": 0.2,
        "response_format": {"type": "json_object"},
        "stream_options": {"include_usage": true}, "user": "u1", "metadata": {"a": "b"},
        "logit_bias": {}, "parallel_tool_calls": false, "store": true});
    for (k, v) in extra.as_object().unwrap() {
        c[k] = v.clone();
    }
    let b = body(c.clone());
    assert_eq!(
        b["generationConfig"],
        json!({"temperature": 0.5, "topP": 0.9, "topK": 40, "maxOutputTokens": 200,
            "stopSequences": ["END"], "candidateCount": 2, "seed": 7,
            "presencePenalty": 0.1, "frequencyPenalty": 0.2,
            "responseMimeType": "application/json"})
    );
    let keys: Vec<&String> = b.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["contents", "generationConfig"]);
    c["max_completion_tokens"] = Value::Null;
    c["stop"] = json!(["a", "b"]);
    let schema = json!({"type": "object", "properties": {"x": {"type": "integer"}}});
    c["response_format"] =
        json!({"type": "json_schema", "json_schema": {"name": "s", "schema": schema}});
    let gc = body(c.clone())["generationConfig"].clone();
    assert_eq!(gc["maxOutputTokens"], 100);
    assert_eq!(gc["stopSequences"], json!(["a", "b"]));
    assert_eq!(gc["responseJsonSchema"], schema);
    c["response_format"] = json!({"type": "text"});
    assert!(body(c.clone())["generationConfig"]
        .get("responseMimeType")
        .is_none());
    c["response_format"] = json!({"type": "xml"});
    assert_eq!(err_param(c.clone()), "response_format.type");
    c["response_format"] = Value::Null;
    c["stop"] = json!([1]);
    assert_eq!(err_param(c.clone()), "stop");
    c["stop"] = Value::Null;
    c["temperature"] = json!("hot");
    assert_eq!(err_param(c), "temperature");
    let plain = body(chat(json!([{"role": "user", "content": "x"}])));
    assert!(plain.get("generationConfig").is_none());
}

#[test]
fn reasoning_effort_to_thinking_config() {
    let thinking = |model: &str, effort: &str| {
        let mut c = chat(json!([{"role": "user", "content": "x"}]));
        c["model"] = json!(model);
        c["reasoning_effort"] = json!(effort);
        body(c)["generationConfig"]["thinkingConfig"].clone()
    };
    let f = "gemini-2.5-flash";
    assert_eq!(thinking(f, "none"), json!({"thinkingBudget": 0}));
    assert_eq!(
        thinking("gemini-2.5-pro", "none"),
        json!({"thinkingBudget": 128})
    );
    for (effort, budget) in [
        ("minimal", 512),
        ("low", 1024),
        ("medium", 8192),
        ("high", 24576),
    ] {
        assert_eq!(
            thinking(f, effort),
            json!({"thinkingBudget": budget, "includeThoughts": true})
        );
    }
    assert_eq!(
        thinking("my-alias", "low"),
        json!({"thinkingBudget": 1024, "includeThoughts": true})
    );
    for (effort, level, include) in [
        ("none", "low", false),
        ("minimal", "low", true),
        ("low", "low", true),
        ("medium", "high", true),
        ("xhigh", "high", true),
    ] {
        assert_eq!(
            thinking("gemini-3-pro-preview", effort),
            json!({"thinkingLevel": level, "includeThoughts": include})
        );
    }
    let mut c = chat(json!([{"role": "user", "content": "x"}]));
    c["reasoning_effort"] = json!("max");
    assert_eq!(err_param(c), "reasoning_effort");
}

#[test]
fn google_extra_body() {
    let mut c = chat(json!([{"role": "user", "content": "x"}]));
    c["reasoning_effort"] = json!("high");
    c["extra_body"] = json!({"google": {
        "cached_content": "cachedContents/abc",
        "thinking_config": {"thinking_budget": 99, "include_thoughts": true},
        "safety_settings": [{"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_NONE"}],
    }});
    let b = body(c);
    assert_eq!(b["cachedContent"], "cachedContents/abc");
    assert_eq!(
        b["generationConfig"]["thinkingConfig"],
        json!({"thinkingBudget": 99, "includeThoughts": true})
    );
    assert_eq!(b["safetySettings"][0]["threshold"], "BLOCK_NONE");
}
