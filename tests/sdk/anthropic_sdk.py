"""The official Anthropic Python SDK against llm-relay in front of the Hunyuan-strict mock:
messages.create, messages.stream (text, and a tool_use -> tool_result round trip),
count_tokens, and errors mapped to the SDK's exception classes.
Usage: anthropic_sdk.py BASE_URL KEY"""
import sys

import anthropic

base, key = sys.argv[1], sys.argv[2]
c = anthropic.Anthropic(base_url=base, api_key=key, max_retries=0, timeout=30)
MODEL = "claude-sonnet-4-5"

m = c.messages.create(model=MODEL, max_tokens=256, system=[{"type": "text", "text": "Be brief.",
                      "cache_control": {"type": "ephemeral"}}],
                      messages=[{"role": "user", "content": "hello anthropic"}])
assert m.type == "message" and m.role == "assistant" and m.model == MODEL, m
assert m.stop_reason == "end_turn", m.stop_reason
assert "hello anthropic" in m.content[0].text, m.content
assert m.usage.input_tokens > 0 and m.usage.output_tokens > 0, m.usage

with c.messages.stream(model=MODEL, max_tokens=256,
                       messages=[{"role": "user", "content": "stream please"}]) as s:
    text = "".join(s.text_stream)
    final = s.get_final_message()
assert text.startswith("tok0") and final.stop_reason == "end_turn", (text, final)

tools = [{"name": "Bash", "description": "Run a shell command",
          "input_schema": {"type": "object", "properties": {"command": {"type": "string"}},
                           "required": ["command"]}}]
ask = [{"role": "user", "content": "Please run `echo claude-7` now"}]
with c.messages.stream(model=MODEL, max_tokens=256, tools=tools, messages=ask) as s:
    turn = s.get_final_message()
assert turn.stop_reason == "tool_use", turn
use = [b for b in turn.content if b.type == "tool_use"]
assert len(use) == 1 and use[0].name == "Bash" and use[0].input == {"command": "echo claude-7"}, turn.content
follow = ask + [{"role": "assistant", "content": turn.content},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use[0].id,
                                              "content": "claude-7"}]}]
done = c.messages.create(model=MODEL, max_tokens=256, tools=tools, messages=follow)
assert done.content[0].text == "The command printed: claude-7", done.content

n = c.messages.count_tokens(model=MODEL, messages=[{"role": "user", "content": "count these words"}])
assert 1 <= n.input_tokens < 50, n

# Models in Anthropic's shape (the SDK sends anthropic-version on the same path as OpenAI's).
page = c.models.list()
listed = {m.id: m for m in page.data}
assert "hunyuan-turbos-latest" in listed and not page.has_more, page
hy = listed["hunyuan-turbos-latest"]
assert hy.type == "model" and hy.display_name == hy.id and hy.created_at.year == 1970, hy
m = c.models.retrieve(MODEL)  # served by the `claude-*` route
assert (m.id, m.type) == (MODEL, "model"), m


def expect(exc, fn, etype):
    try:
        fn()
    except exc as e:
        assert e.body["type"] == "error" and e.body["error"]["type"] == etype, e.body
        return
    raise AssertionError(f"expected {exc.__name__}")

expect(anthropic.BadRequestError, lambda: c.messages.create(
    model=MODEL, max_tokens=10, messages=[]), "invalid_request_error")
expect(anthropic.BadRequestError, lambda: c.post("/v1/messages", cast_to=object, body={
    "model": MODEL, "messages": [{"role": "user", "content": "x"}]}), "invalid_request_error")
expect(anthropic.AuthenticationError, lambda: anthropic.Anthropic(
    base_url=base, api_key="sk-wrong", max_retries=0).messages.create(
    model=MODEL, max_tokens=10, messages=[{"role": "user", "content": "x"}]), "authentication_error")
expect(anthropic.NotFoundError, lambda: c.messages.create(
    model="no-such-model", max_tokens=10, messages=[{"role": "user", "content": "x"}]), "not_found_error")
expect(anthropic.NotFoundError, lambda: c.models.retrieve("no-such-model"), "not_found_error")
expect(anthropic.OverloadedError, lambda: c.messages.create(
    model=MODEL, max_tokens=10, messages=[{"role": "user", "content": "x"}],
    extra_headers={"x-mock-status": "503"}), "overloaded_error")
print("anthropic sdk: messages, stream, tools, count_tokens and errors OK")
