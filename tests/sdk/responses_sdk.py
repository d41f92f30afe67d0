"""The official OpenAI Python SDK's Responses API and legacy Completions against llm-relay in
front of the Hunyuan-strict mock: create, stream (text and a function-tool round trip),
previous_response_id, retrieve/delete, input_items, input_tokens, and completions (translated and passed through).
Usage: responses_sdk.py BASE_URL KEY"""
import json
import sys

import openai
from openai import OpenAI

base, key = sys.argv[1], sys.argv[2]
c = OpenAI(base_url=base, api_key=key, max_retries=0, timeout=30)
MODEL = "hunyuan-turbos-latest"

# --- responses.create, non-streaming, with instructions and a developer message
r = c.responses.create(model=MODEL, instructions="Be brief.",
                       input=[{"role": "developer", "content": "No markdown."},
                              {"role": "user", "content": "hello responses"}])
assert r.status == "completed", r
assert r.id.startswith("resp_"), r.id
assert "hello responses" in r.output_text, r.output_text
assert r.usage.input_tokens > 0 and r.usage.total_tokens >= r.usage.output_tokens, r.usage

# --- previous_response_id continues the stored conversation; retrieve and delete
r2 = c.responses.create(model=MODEL, previous_response_id=r.id, input="and again")
assert "and again" in r2.output_text, r2.output_text
got = c.responses.retrieve(r.id)
assert got.id == r.id and got.output_text == r.output_text
# --- input_items: r2's input is r's conversation and output, then "and again" (newest first)
items = c.responses.input_items.list(r2.id)
texts = [part.text for it in items.data if it.type == "message" for part in it.content]
assert texts[0] == "and again" and texts[-1] == "No markdown.", texts
assert all(it.id for it in items.data) and not items.has_more, items
paged = list(c.responses.input_items.list(r2.id, order="asc", limit=1))  # the SDK pages on
assert [p.id for p in paged] == [it.id for it in reversed(items.data)], paged
# --- input_tokens: an estimate that grows with the conversation it continues
alone = c.responses.input_tokens.count(model=MODEL, input="and again").input_tokens
more = c.responses.input_tokens.count(model=MODEL, previous_response_id=r.id,
                                      input="and again").input_tokens
assert 0 < alone < more, (alone, more)
# --- cancel: nothing runs in the background here (400 for a stored one, 404 for an unknown);
# compaction is not served (404)
for fn, exc in [(lambda: c.responses.cancel(r2.id), openai.BadRequestError),
                (lambda: c.responses.cancel("resp_unknown"), openai.NotFoundError),
                (lambda: c.responses.compact(model=MODEL, input="x"), openai.NotFoundError)]:
    try:
        fn()
        raise AssertionError(f"expected {exc.__name__}")
    except exc as e:
        assert isinstance(e.body, dict) and e.body.get("message"), e.body
c.responses.delete(r.id)
try:
    c.responses.retrieve(r.id)
    raise AssertionError("a deleted response must be gone")
except openai.NotFoundError as e:
    assert r.id in str(e.body), e.body
try:
    c.responses.create(model=MODEL, previous_response_id="resp_unknown", input="x")
    raise AssertionError("an unknown previous_response_id is a 404")
except openai.NotFoundError:
    pass

# --- responses.stream: text, events in order with sequence numbers
with c.responses.stream(model=MODEL, input="stream please") as s:
    events = list(s)
    final = s.get_final_response()
types = [e.type for e in events]
assert types[0] == "response.created" and types[-1] == "response.completed", types
assert "response.output_text.delta" in types, types
seq = [e.sequence_number for e in events]
assert seq == sorted(seq) and len(set(seq)) == len(seq), seq
assert final.output_text.startswith("tok0"), final.output_text

# --- a function-tool round trip, streamed: the strict mock calls the tool for a `command`
tools = [{"type": "function", "name": "run_command", "description": "Run a shell command",
          "parameters": {"type": "object", "properties": {"command": {"type": "string"}},
                         "required": ["command"]}},
         {"type": "web_search"}]
ask = [{"role": "user", "content": "Run `echo sdk-42` for me"}]
with c.responses.stream(model=MODEL, input=ask, tools=tools) as s:
    first = s.get_final_response()
calls = [o for o in first.output if o.type == "function_call"]
assert len(calls) == 1 and calls[0].name == "run_command", first.output
assert json.loads(calls[0].arguments) == {"command": "echo sdk-42"}, calls[0].arguments
raw = c.responses.with_raw_response.create(model=MODEL, input=ask, tools=tools)
assert raw.headers.get("x-llm-relay-dropped-tools") == "web_search", raw.headers
follow = ask + [{"type": "function_call", "call_id": calls[0].call_id, "name": calls[0].name,
                 "arguments": calls[0].arguments},
                {"type": "function_call_output", "call_id": calls[0].call_id, "output": "sdk-42"}]
with c.responses.stream(model=MODEL, input=follow, tools=tools) as s:
    done = s.get_final_response()
assert done.output_text == "The command printed: sdk-42", done.output_text

# --- errors in OpenAI's shape
try:
    c.responses.create(model=MODEL, input=[{"type": "item_reference", "id": "x"}])
    raise AssertionError("expected a 400")
except openai.BadRequestError as e:
    assert "message" in e.body, e.body
try:
    c.responses.create(model="no-such-model", input="x")
    raise AssertionError("expected a 404")
except openai.NotFoundError:
    pass

# --- legacy completions: translated for the chat-only pool, passed through to the openai pool
t = c.completions.create(model=MODEL, prompt="complete this", max_tokens=20)
assert t.object == "text_completion" and "complete this" in t.choices[0].text, t
parts = list(c.completions.create(model=MODEL, prompt="stream this", stream=True))
assert "".join(p.choices[0].text for p in parts if p.choices).startswith("tok0"), parts
p = c.completions.create(model="gpt-3.5-turbo-instruct", prompt="pass through")
assert p.choices[0].text == "mock completion of: pass through", p
try:
    c.completions.create(model=MODEL, prompt="x", echo=True)
    raise AssertionError("echo is refused when translated")
except openai.BadRequestError as e:
    assert e.body.get("param") == "echo", e.body
print("openai sdk: responses and completions OK")
