"""The official OpenAI Python SDK against a `hunyuan_native` pool of llm-relay (Tencent
Cloud API 3.0, TC3-signed by the gateway): chat, a stream with usage, a tool round trip,
image generation as a job (url and b64_json), the lite image model, and a provider error
(a failed image job) as the SDK's exception.
Usage: native_sdk.py BASE_URL"""
import base64
import json
import sys

import openai
from openai import OpenAI

c = OpenAI(base_url=sys.argv[1], api_key="sk-any", max_retries=0, timeout=60)

r = c.chat.completions.create(model="hunyuan-turbos-latest",
                              messages=[{"role": "system", "content": "Be brief."},
                                        {"role": "user", "content": "hello native"}])
assert r.choices[0].message.content and r.usage.prompt_tokens > 0, r

chunks = list(c.chat.completions.create(model="hunyuan-turbos-latest", stream=True,
                                        stream_options={"include_usage": True},
                                        messages=[{"role": "user", "content": "stream please"}]))
assert "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices), chunks
assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0, chunks[-1]

tools = [{"type": "function", "function": {"name": "shell", "description": "Run a shell command",
          "parameters": {"type": "object", "properties": {"command": {"type": "string"}},
                         "required": ["command"]}}}]
messages = [{"role": "user", "content": "Run `echo native-ok`"}]
r = c.chat.completions.create(model="hunyuan-turbos-latest", tools=tools, messages=messages)
call = r.choices[0].message.tool_calls[0]
assert call.function.name == "shell", r
assert json.loads(call.function.arguments) == {"command": "echo native-ok"}, call
messages += [r.choices[0].message.model_dump(exclude_none=True),
             {"role": "tool", "tool_call_id": call.id, "content": "native-ok"}]
r = c.chat.completions.create(model="hunyuan-turbos-latest", tools=tools, messages=messages)
assert "native-ok" in (r.choices[0].message.content or ""), r

img = c.images.generate(model="hunyuan-image", prompt="a red fox", n=2, size="1024x1024")
assert len(img.data) == 2 and img.data[0].url.startswith("http"), img
img = c.images.generate(model="hunyuan-image", prompt="a red fox", response_format="b64_json")
assert base64.b64decode(img.data[0].b64_json).startswith(b"\x89PNG"), img
img = c.images.generate(model="hunyuan-image-lite", prompt="a cat", response_format="b64_json")
assert base64.b64decode(img.data[0].b64_json).startswith(b"\x89PNG"), img

try:
    c.images.generate(model="hunyuan-image", prompt="[fail] a fox")
    raise AssertionError("a failed job answered 200")
except openai.APIStatusError as e:
    assert e.status_code >= 400 and e.message, e

print("native: OK")
