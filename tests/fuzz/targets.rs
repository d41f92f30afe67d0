//! What each target runs on one input, and the invariants it asserts beyond "no panic".
//! Each returns an outcome (error messages without their digits, the shape of a success) for
//! the engine's novelty pool.

use bytes::Bytes;
use llm_relay::body::multipart::summarize;
use llm_relay::body::validate;
use llm_relay::chat::elide::Elided;
use llm_relay::chat::fix::{fix_hunyuan, FixPolicy, LeadingNonUser, ModelCaps};
use llm_relay::core::error::GatewayError;
use llm_relay::core::kind::{Endpoint, Kind};
use llm_relay::core::protocol::Protocol;
use llm_relay::protocol::chat_stream::ChatStreamDecoder;
use llm_relay::protocol::{anthropic, completions, responses, Translation};
use llm_relay::proxy::expect::Expect;
use llm_relay::proxy::scan::{usage_of, FinishReasonMap, SseEvents};
use llm_relay::request::prepare::parse_object;
use mock_upstream::strict::check_chat;
use serde_json::{json, Value};

use crate::engine::{hash, Rng};

/// An outcome label: digits removed, so `input[3]` and `input[7]` count as one.
fn label(kind: &str, text: &str) -> String {
    let t: String = text
        .chars()
        .filter(|c| !c.is_ascii_digit())
        .take(160)
        .collect();
    format!("{kind}:{t}")
}

/// A gateway error must be a client error with a JSON body in the client's protocol.
fn client_error(e: &GatewayError, protocol: Protocol) -> String {
    let status = e.status();
    assert!(
        (400..500).contains(&status),
        "status {status} for bad input: {e:?}"
    );
    let body = llm_relay::proxy::respond::body_for(e, protocol);
    let v: Value = serde_json::from_slice(&body).expect("error body is JSON");
    assert!(v["error"].is_object(), "error body {v}");
    label("error", &e.message())
}

fn translate_error(e: &llm_relay::core::translate::TranslateError) -> String {
    assert!(
        !e.message.is_empty(),
        "a translation error without a message"
    );
    label(
        "refused",
        &format!("{} {}", e.message, e.param.as_deref().unwrap_or("")),
    )
}

// ---------- requests ----------

/// A translated request goes down the chat path: validation and the Hunyuan fixer.
fn chat_path(chat: &Value) -> String {
    assert!(chat.is_object(), "translated chat is not an object: {chat}");
    if let Err(e) = validate::chat_value(chat) {
        // The chat path judges `model` (a blank one is a 400 naming `model`, which the client
        // did send); any other refusal would be a 400 about a field the client never sent.
        let GatewayError::BadRequest { param, .. } = &e else {
            panic!("translated chat fails validation: {e:?}\n{chat}");
        };
        assert!(
            param.as_deref() == Some("model"),
            "translated chat fails validation: {e:?}\n{chat}"
        );
    }
    fix(chat);
    let shape: Vec<&str> = chat["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| m["role"].as_str().unwrap_or("?"))
        .take(6)
        .collect();
    format!("ok:{}", shape.join(","))
}

/// The fixer under every capability and a few policies: no panic; with the default policy
/// and at least one object message, the result is accepted by the independent checker and
/// fixing it again changes nothing.
fn fix(req: &Value) {
    let has_message = req["messages"]
        .as_array()
        .is_some_and(|m| m.iter().any(Value::is_object));
    for (images, tools) in [(false, false), (true, true), (false, true), (true, false)] {
        let caps = ModelCaps { images, tools };
        let mut once = req.clone();
        fix_hunyuan(&mut once, &FixPolicy::default(), caps);
        if has_message {
            if let Err(v) = check_chat(&once, images) {
                panic!(
                    "fixed request rejected: {}\ninput: {req}\noutput: {once}",
                    v.message
                );
            }
        }
        let mut twice = once.clone();
        fix_hunyuan(&mut twice, &FixPolicy::default(), caps);
        assert_eq!(twice, once, "fixing is not idempotent (caps {caps:?})");
    }
    for (max, leading) in [(0, LeadingNonUser::Drop), (5, LeadingNonUser::Insert)] {
        let policy = FixPolicy {
            max_messages: max,
            leading_non_user: leading,
            ..FixPolicy::default()
        };
        let mut v = req.clone();
        fix_hunyuan(&mut v, &policy, ModelCaps::default());
    }
}

/// `POST /v1/responses`: the translation, the history replay of `previous_response_id`,
/// `input_items` pages and the `input_tokens` estimate.
pub fn responses_request(input: &[u8]) -> String {
    let Ok(req) = parse_object(input) else {
        return "not an object".into();
    };
    let _ = responses::input_tokens(&req, &[]);
    let t = match responses::to_chat(&req, None, "resp_f".into(), 1) {
        Ok(t) => t,
        Err(e) => return translate_error(&e),
    };
    let outcome = chat_path(&t.chat);
    for q in [
        None,
        Some("order=asc&limit=2"),
        Some("after=x&limit=0"),
        Some("limit=100&order=desc"),
    ] {
        let _ = responses::input_items("resp_f", t.conversation.iter(), q);
    }
    // A stored conversation must stay continuable: the follow-up replays its items.
    let next = json!({"model": "m", "input": "next"});
    match responses::continue_chat(&next, Some(&t.conversation), "resp_g".into(), 2) {
        Ok(again) => {
            chat_path(&again.chat);
        }
        Err(e) => panic!("stored items do not replay: {e:?}"),
    }
    let _ = responses::input_tokens(&next, t.conversation.iter());
    outcome
}

/// `POST /v1/messages` and `/v1/messages/count_tokens`.
pub fn messages_request(input: &[u8]) -> String {
    let Ok(req) = parse_object(input) else {
        return "not an object".into();
    };
    let _ = anthropic::count_tokens(&req);
    let _ = anthropic::estimate_request(&req);
    match anthropic::to_chat(&req, "msg_f".into()) {
        Ok(t) => chat_path(&t.chat),
        Err(e) => translate_error(&e),
    }
}

/// `POST /v1/completions` translated for a chat-only pool.
pub fn completions_request(input: &[u8]) -> String {
    let Ok(req) = parse_object(input) else {
        return "not an object".into();
    };
    match completions::to_chat(&req, "cmpl-f".into(), 1) {
        Ok(t) => chat_path(&t.chat),
        Err(e) => translate_error(&e),
    }
}

/// `POST /v1/chat/completions`: the body's one parse, validation, then the fixer.
pub fn chat_fix(input: &[u8]) -> String {
    let req = match parse_object(input) {
        Ok(v) => v,
        Err(e) => return client_error(&e, Protocol::Chat),
    };
    match validate::chat_value(&req) {
        Ok(_) => {
            fix(&req);
            "valid".into()
        }
        Err(e) => {
            client_error(&e, Protocol::Chat);
            // Invalid requests are refused before fixing, but the fixer must still not panic.
            fix_no_checks(&req);
            label("invalid", &e.message())
        }
    }
}

fn fix_no_checks(req: &Value) {
    let mut v = req.clone();
    fix_hunyuan(&mut v, &FixPolicy::default(), ModelCaps::default());
}

/// Validation of every JSON endpoint from the bytes, and path classification.
pub fn validate(input: &[u8]) -> String {
    let mut outcome = String::new();
    for ep in [
        Endpoint::Chat,
        Endpoint::Embeddings,
        Endpoint::ImagesGenerations,
        Endpoint::AudioSpeech,
        Endpoint::Responses,
        Endpoint::Completions,
    ] {
        match validate::json(ep, input) {
            Ok(p) => outcome.push_str(&format!("ok{};", p.stream)),
            Err(e) => outcome.push_str(&client_error(&e, Protocol::Chat)),
        }
    }
    if let Ok(path) = std::str::from_utf8(&input[..input.len().min(512)]) {
        for method in ["GET", "POST", "DELETE"] {
            if let Err(e) = Endpoint::classify(method, path) {
                client_error(&e, Protocol::Chat);
            }
        }
    }
    label("", &outcome)
}

/// `Elided::cut` keeps long data URLs out of the parse: parsing what it leaves and putting
/// the spans back must give exactly what parsing the body gives, and a body the parser
/// refuses must still be refused.
pub fn elide(input: &[u8]) -> String {
    let body = Bytes::copy_from_slice(input);
    let original = serde_json::from_slice::<Value>(input);
    let Some((rest, cut)) = Elided::cut(&body) else {
        return format!("uncut:{}", original.is_ok());
    };
    let parsed = serde_json::from_slice::<Value>(&rest);
    match (original, parsed) {
        (Ok(o), Ok(mut p)) => {
            let restored = cut.restore(&mut p);
            assert!(
                restored.is_ok(),
                "restore refused a valid body: {restored:?}"
            );
            assert!(p == o, "cut and restored body differs from the parse");
            assert!(cut.check().is_ok(), "check refused a valid body");
            "same".into()
        }
        (Err(_), Ok(mut p)) => {
            // Only a cut string can hide the parse error: restoring or checking must say so.
            let refused = cut.restore(&mut p).is_err() || cut.check().is_err();
            assert!(
                refused,
                "a body the parser refuses was accepted after cutting"
            );
            "refused after restore".into()
        }
        (Ok(_), Err(e)) => panic!("cutting made a valid body unparseable: {e}"),
        (Err(_), Err(_)) => "both refused".into(),
    }
}

/// The multipart reader, and validation of each multipart endpoint.
pub fn multipart(input: &[u8]) -> String {
    let (ct, body) = match input.iter().position(|b| *b == b'\n') {
        Some(i) => (
            String::from_utf8_lossy(&input[..i]).into_owned(),
            &input[i + 1..],
        ),
        None => (String::new(), input),
    };
    let ct = (!ct.is_empty()).then_some(ct.as_str());
    let summary = futures::executor::block_on(summarize(ct, Bytes::copy_from_slice(body)));
    match summary {
        Err(e) => client_error(&e, Protocol::Chat),
        Ok(form) => {
            let mut outcome = format!("form:{}:{}", form.model.is_some(), form.files.len().min(3));
            for ep in [
                Endpoint::AudioTranscriptions,
                Endpoint::AudioTranslations,
                Endpoint::ImagesEdits,
                Endpoint::ImagesVariations,
            ] {
                if let Err(e) = validate::form(ep, &form) {
                    outcome.push_str(&client_error(&e, Protocol::Chat));
                }
            }
            label("", &outcome)
        }
    }
}

// ---------- responses (the upstream's chat answer) ----------

/// Ways to split one body: whole, and three splits chosen by the body's hash (one byte at a
/// time when it is short), so a saved input replays with the same splits.
fn splits(input: &[u8]) -> Vec<Vec<usize>> {
    let mut rng = Rng::new(hash(input));
    let mut plans = vec![vec![input.len()]];
    if input.len() <= 1500 {
        plans.push(vec![1; input.len()]);
    }
    for max in [16, input.len() / 3 + 1] {
        let mut plan = Vec::new();
        let mut left = input.len();
        while left > 0 {
            let n = (1 + rng.below(max)).min(left);
            plan.push(n);
            left -= n;
        }
        plans.push(plan);
    }
    plans
}

fn pieces<'a>(input: &'a [u8], plan: &'a [usize]) -> impl Iterator<Item = &'a [u8]> + 'a {
    let mut at = 0;
    plan.iter().map(move |n| {
        let p = &input[at..at + n];
        at += n;
        p
    })
}

/// The translations of a response, for every client protocol, streamed or not. The
/// Responses request declares a custom and a namespaced tool, the Messages request thinking
/// and a stop sequence, so the translators' special paths are reachable.
fn translations() -> Vec<Translation> {
    let mut out = Vec::new();
    let rq = json!({"model": "m", "input": "x", "tools": [
        {"type": "function", "name": "get"}, {"type": "custom", "name": "exec"},
        {"type": "namespace", "name": "ns", "tools": [{"type": "function", "name": "inner"}]}]});
    let ar = json!({"model": "m", "max_tokens": 9, "messages": [{"role": "user", "content": "x"}],
        "thinking": {"type": "enabled", "budget_tokens": 1024}, "stop_sequences": ["END"],
        "tools": [{"name": "Read", "input_schema": {"type": "object"}}]});
    let cr = json!({"model": "m", "prompt": "x", "stream_options": {"include_usage": true}});
    for stream in [true, false] {
        if let Ok(t) = responses::to_chat(&rq, None, "resp_s".into(), 3) {
            out.push(Translation::Responses {
                meta: t.meta,
                stream,
                store: None,
            });
        }
        if let Ok(t) = anthropic::to_chat(&ar, "msg_s".into()) {
            out.push(Translation::Messages {
                meta: t.meta,
                stream,
            });
        }
        if let Ok(t) = completions::to_chat(&cr, "cmpl-s".into(), 3) {
            out.push(Translation::Completions {
                meta: t.meta,
                stream,
            });
        }
    }
    assert_eq!(out.len(), 6, "a response-side meta no longer translates");
    out
}

/// Every event a streaming translator writes carries JSON (or `[DONE]`); a non-streaming
/// translator writes one JSON document.
fn well_formed(out: &[u8], stream: bool, what: &str) {
    if !stream {
        if !out.is_empty() {
            let v = serde_json::from_slice::<Value>(out);
            assert!(
                v.is_ok(),
                "{what}: the answer is not JSON: {}",
                String::from_utf8_lossy(out)
            );
        }
        return;
    }
    let text = std::str::from_utf8(out).expect("translated stream is UTF-8");
    for event in text.split_terminator("\n\n") {
        let data = event
            .lines()
            .find_map(|l| l.strip_prefix("data: "))
            .unwrap_or_else(|| panic!("{what}: an event without data: {event:?}"));
        if data != "[DONE]" {
            assert!(
                serde_json::from_str::<Value>(data).is_ok(),
                "{what}: event data is not JSON: {data:?}"
            );
        }
    }
}

/// The upstream's chat answer through every response translator (and the decoder they share):
/// no panic, well-formed output, and the same output however the body was split.
pub fn chat_stream(input: &[u8]) -> String {
    let plans = splits(input);
    let decode = |plan: &[usize]| {
        let mut d = ChatStreamDecoder::new();
        let mut events = Vec::new();
        for p in pieces(input, plan) {
            d.feed(p, &mut events);
        }
        d.finish(&mut events);
        events
    };
    let events = decode(&plans[0]);
    for plan in &plans[1..] {
        assert_eq!(decode(plan), events, "decoder: events depend on the split");
    }
    for t in translations() {
        let what = format!("{:?} stream={}", t.protocol(), t.stream());
        let run = |plan: &[usize]| {
            let mut tr = t.translator();
            let mut out = Vec::new();
            for p in pieces(input, plan) {
                out.extend(tr.feed(p));
            }
            out.extend(tr.finish());
            (out, tr.usage(), tr.final_response())
        };
        let whole = run(&plans[0]);
        // Legacy completions pass a non-streamed body without `choices` through as it came
        // (the proxy's answer check refuses such a body before it gets here).
        let translated = t.protocol() == Protocol::Completions
            && !t.stream()
            && serde_json::from_slice::<Value>(input)
                .ok()
                .is_some_and(|v| v.get("choices").is_some_and(Value::is_array));
        if t.protocol() != Protocol::Completions || t.stream() || translated {
            well_formed(&whole.0, t.stream(), &what);
        }
        for plan in &plans[1..] {
            assert!(run(plan) == whole, "{what}: output depends on the split");
        }
        // The upstream broke halfway: `fail` instead of `finish`.
        let mut tr = t.translator();
        let mut out = tr.feed(&input[..input.len() / 2]);
        out.extend(tr.fail("upstream timed out"));
        if t.stream() {
            well_formed(&out, true, &what);
        }
    }
    let (_, err) = anthropic::translate_error(503, input);
    assert!(
        serde_json::from_slice::<Value>(&err).is_ok(),
        "translate_error wrote non-JSON"
    );
    format!("events:{}", events.len().min(40))
}

/// The proxy's scanners on a raw upstream body: SSE event counting and usage (forwarding
/// unchanged, or stripping the usage-only chunk), `sensitive` rewriting, and the JSON answer
/// check. Same results at every split.
pub fn sse_scan(input: &[u8]) -> String {
    let plans = splits(input);
    for strip in [false, true] {
        let run = |plan: &[usize]| {
            let mut s = SseEvents::new(strip);
            let mut out = Vec::new();
            for p in pieces(input, plan) {
                out.extend_from_slice(&s.feed(Bytes::copy_from_slice(p)));
            }
            out.extend_from_slice(&s.finish());
            (out, s.events, s.usage, s.done)
        };
        let whole = run(&plans[0]);
        if !strip {
            assert!(
                whole.0 == input,
                "the scanner changed a stream it only counts"
            );
        }
        for plan in &plans[1..] {
            assert!(
                run(plan) == whole,
                "scanner (strip {strip}): result depends on the split"
            );
        }
    }
    let map = |plan: &[usize]| {
        let mut m = FinishReasonMap::default();
        let mut out = Vec::new();
        let n = plan.len();
        for (i, p) in pieces(input, plan).enumerate() {
            let mut body = Some(Bytes::copy_from_slice(p));
            m.on_body(&mut body, i + 1 == n);
            out.extend_from_slice(&body.unwrap_or_default());
        }
        (out, m.rewrites)
    };
    let mapped = map(&plans[0]);
    if memchr::memmem::find(input, b"\"sensitive\"").is_none() {
        assert!(
            mapped.0 == input,
            "finish-reason map changed a body without `sensitive`"
        );
    }
    for plan in &plans[1..] {
        assert!(
            map(plan) == mapped,
            "finish-reason map depends on the split"
        );
    }
    if let Some(expect) = Expect::for_request(Kind::Chat, false) {
        let (verdict, usage) = expect.judge(input);
        if let Ok(v) = serde_json::from_slice::<Value>(input) {
            if v.is_object() {
                assert_eq!(usage, usage_of(&v), "judge reads usage unlike usage_of");
            }
        }
        return format!("rewrites:{}:{}", mapped.1.min(3), verdict.is_ok());
    }
    format!("rewrites:{}", mapped.1.min(3))
}
