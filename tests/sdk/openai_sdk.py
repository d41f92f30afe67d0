"""The official OpenAI Python SDK against a running llm-relay: every endpoint, and every
refusal mapped to the SDK's exception class. Usage: openai_sdk.py BASE_URL GOOD_KEY LIMITED_KEY"""
import sys

import openai
from openai import OpenAI

base, good, limited = sys.argv[1], sys.argv[2], sys.argv[3]
c = OpenAI(base_url=base, api_key=good, max_retries=0, timeout=30)

r = c.chat.completions.create(model="hunyuan-turbos-latest",
                              messages=[{"role": "assistant", "content": "hi"},
                                        {"role": "user", "content": "hello sdk"}])
assert "hello sdk" in r.choices[0].message.content, r

chunks = list(c.chat.completions.create(model="gpt-4o-mini", stream=True,
                                        stream_options={"include_usage": True},
                                        messages=[{"role": "user", "content": "stream"}]))
text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
assert text.startswith("tok0"), text
assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0

e = c.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
assert len(e.data) == 2 and len(e.data[0].embedding) > 0

assert c.images.generate(model="dall-e-3", prompt="a cat").data[0].b64_json
assert c.images.edit(model="dall-e-3", image=("a.png", b"\x89PNG0000"), prompt="x").data[0].b64_json
assert "8 bytes" in c.audio.transcriptions.create(model="whisper-1", file=("a.wav", b"RIFF0000")).text
assert c.audio.translations.create(model="whisper-1", file=("a.wav", b"RIFF0000")).text
assert len(c.audio.speech.create(model="tts-1", voice="alloy", input="hi").content) > 0
assert "hunyuan-turbos-latest" in [m.id for m in c.models.list().data]
m = c.models.retrieve("hunyuan-turbos-latest")
assert (m.id, m.object, m.owned_by) == ("hunyuan-turbos-latest", "model", "main"), m
assert c.models.retrieve("hy-anything").id == "hy-anything"  # served by the `hy-*` route


def expect(exc, fn):
    try:
        fn()
    except exc as e:
        assert isinstance(e.body, dict) and "message" in e.body, e.body
        return e
    raise AssertionError(f"expected {exc.__name__}")


expect(openai.AuthenticationError, lambda: OpenAI(base_url=base, api_key="sk-wrong", max_retries=0)
       .chat.completions.create(model="hunyuan-turbos-latest", messages=[{"role": "user", "content": "x"}]))
expect(openai.PermissionDeniedError, lambda: OpenAI(base_url=base, api_key=limited, max_retries=0)
       .chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]))
expect(openai.NotFoundError, lambda: c.chat.completions.create(
    model="no-such-model", messages=[{"role": "user", "content": "x"}]))
expect(openai.BadRequestError, lambda: c.chat.completions.create(model="hunyuan-turbos-latest", messages=[]))
assert expect(openai.NotFoundError, lambda: c.models.retrieve("no-such-model")).code == "model_not_found"
lim = OpenAI(base_url=base, api_key=limited, max_retries=0)
err = None
for _ in range(5):
    try:
        lim.embeddings.create(model="text-embedding-3-small", input="x")
    except openai.RateLimitError as e:
        err = e
        break
assert err is not None and err.response.headers.get("retry-after"), "RateLimitError with Retry-After"
expect(openai.InternalServerError, lambda: c.chat.completions.create(
    model="hunyuan-turbos-latest", messages=[{"role": "user", "content": "x"}],
    extra_headers={"x-mock-status": "503"}))
print("openai sdk: all endpoints and errors OK")
