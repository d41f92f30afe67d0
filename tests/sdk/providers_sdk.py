"""The official OpenAI Python SDK against a model served by a non-OpenAI provider (an
`anthropic` or `gemini` pool of llm-relay): a chat answer, a stream with usage, a tool round
trip (streamed call, result sent back), and a provider error as the SDK's exception.
Usage: providers_sdk.py BASE_URL KEY MODEL"""
import json
import sys

import openai
from openai import OpenAI

base, key, model = sys.argv[1], sys.argv[2], sys.argv[3]
c = OpenAI(base_url=base, api_key=key, max_retries=0, timeout=30)

r = c.chat.completions.create(model=model, messages=[{"role": "system", "content": "Be brief."},
                                                     {"role": "user", "content": "hello sdk"}])
assert r.choices[0].message.content, r
assert r.choices[0].finish_reason == "stop", r
assert r.usage and r.usage.prompt_tokens > 0, r

chunks = list(c.chat.completions.create(model=model, stream=True, stream_options={"include_usage": True},
                                        messages=[{"role": "user", "content": "stream please"}]))
text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
assert text, chunks
assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0, chunks[-1]

tools = [{"type": "function", "function": {"name": "shell", "description": "Run a shell command",
          "parameters": {"type": "object", "properties": {"command": {"type": "string"}},
                         "required": ["command"]}}}]
messages = [{"role": "user", "content": "Run `echo relay-ok-42`"}]
calls = {}
for ch in c.chat.completions.create(model=model, stream=True, tools=tools, messages=messages):
    for tc in (ch.choices[0].delta.tool_calls or []) if ch.choices else []:
        slot = calls.setdefault(tc.index, {"id": None, "name": None, "arguments": ""})
        slot["id"] = tc.id or slot["id"]
        if tc.function:
            slot["name"] = tc.function.name or slot["name"]
            slot["arguments"] += tc.function.arguments or ""
assert len(calls) == 1, calls
call = calls[0]
assert call["name"] == "shell" and json.loads(call["arguments"]) == {"command": "echo relay-ok-42"}, call
messages.append({"role": "assistant", "content": None, "tool_calls": [
    {"id": call["id"], "type": "function", "function": {"name": "shell", "arguments": call["arguments"]}}]})
messages.append({"role": "tool", "tool_call_id": call["id"], "content": "relay-ok-42"})
r = c.chat.completions.create(model=model, tools=tools, messages=messages)
assert "relay-ok-42" in r.choices[0].message.content, r

try:
    c.chat.completions.create(model=model, messages=[{"role": "user", "content": "x"}],
                              extra_headers={"x-mock-status": "429"})
    raise AssertionError("expected RateLimitError")
except openai.RateLimitError as e:
    assert isinstance(e.body, dict) and "message" in e.body, e.body
print(f"openai sdk via {model}: OK")
