"""Reference TC3-HMAC-SHA256 signatures from Tencent Cloud's official Python SDK
(tencentcloud-sdk-python-common), and a real HunyuanClient call against the mock.

  sign_reference.py reference
      One JSON object a line: {"name", "host", "timestamp", "region", "secret_id",
      "secret_key", "payload", "authorization"} for fixed requests. For each, the SDK's own
      signing code (AbstractClient._build_req_with_tc3_signature / _get_tc3_signature, which
      signs `content-type;host`) is run first, and the canonical request below must give the
      very same Authorization: that proves it is the SDK's. The printed authorization is then
      the same canonical request with `x-tc-action` also signed (what Tencent's signing
      documentation does, and the gateway), keyed by the SDK's Sign.sign_tc3.

  sign_reference.py client <host:port> <secret_id> <secret_key>
      HunyuanClient (HttpProfile(protocol="http", endpoint=...)) sends ChatCompletions to the
      mock, non-streamed, streamed, with a tool round trip, then with a wrong key (which must
      fail with AuthFailure.SignatureFailure). Prints "client OK".

Exits non-zero, with the reason, when the SDK is not installed: the Rust test fails then.
"""

import datetime
import hashlib
import json
import sys
import time

try:
    from tencentcloud.common import credential
    from tencentcloud.common.exception.tencent_cloud_sdk_exception import (
        TencentCloudSDKException,
    )
    from tencentcloud.common.http.request import RequestInternal
    from tencentcloud.common.profile.client_profile import ClientProfile
    from tencentcloud.common.profile.http_profile import HttpProfile
    from tencentcloud.common.sign import Sign
    from tencentcloud.hunyuan.v20230901 import hunyuan_client, models
except ImportError as e:  # the test must fail, not skip
    sys.exit(
        "tencentcloud SDK missing (%s): python3 -m pip install "
        "tencentcloud-sdk-python-common tencentcloud-sdk-python-hunyuan" % e
    )

SERVICE = "hunyuan"
ACTION = "ChatCompletions"


def utc_date(ts):
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%Y-%m-%d")


def authorization(secret_id, secret_key, host, payload, ts, signed):
    """TC3 over the headers in `signed` (lowercase names), built as the SDK builds it."""
    values = {"content-type": "application/json", "host": host, "x-tc-action": ACTION}
    canonical_headers = "".join(
        "%s:%s\n" % (name, values[name].strip().lower()) for name in signed
    )
    signed_headers = ";".join(signed)
    canonical = "POST\n/\n\n%s\n%s\n%s" % (
        canonical_headers,
        signed_headers,
        hashlib.sha256(payload.encode("utf-8")).hexdigest(),
    )
    date = utc_date(ts)
    scope = "%s/%s/tc3_request" % (date, SERVICE)
    to_sign = "TC3-HMAC-SHA256\n%d\n%s\n%s" % (
        ts,
        scope,
        hashlib.sha256(canonical.encode("utf-8")).hexdigest(),
    )
    signature = Sign.sign_tc3(secret_key, date, SERVICE, to_sign)
    return "TC3-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (
        secret_id,
        scope,
        signed_headers,
        signature,
    )


def sdk_client(secret_id, secret_key, endpoint, scheme="https", region=""):
    http = HttpProfile(protocol=scheme, endpoint=endpoint, reqTimeout=20)
    profile = ClientProfile(httpProfile=http)
    return hunyuan_client.HunyuanClient(
        credential.Credential(secret_id, secret_key), region, profile
    )


def sdk_sign_params(client, params, ts):
    """The SDK's whole signing path for `params` at time `ts`: (payload, Authorization)."""
    real_time = time.time
    time.time = lambda: ts
    try:
        req = RequestInternal(client._get_endpoint(), "POST", "/")
        client._build_req_with_tc3_signature(ACTION, params, req)
    finally:
        time.time = real_time
    return req.data, req.header["Authorization"]


def sdk_sign_payload(client, secret_id, secret_key, host, payload, ts):
    """The SDK's canonical request and signature for exact payload bytes (UTF-8 included)."""
    req = RequestInternal(host, "POST", "/")
    req.header["Content-Type"] = "application/json"
    req.header["Host"] = host
    req.header["X-TC-Timestamp"] = str(ts)
    req.data = payload
    date = utc_date(ts)
    signature = client._get_tc3_signature(None, req, date, SERVICE, secret_key)
    return "TC3-HMAC-SHA256 Credential=%s/%s/%s/tc3_request, SignedHeaders=content-type;host, Signature=%s" % (
        secret_id,
        date,
        SERVICE,
        signature,
    )


CASES = [
    # name, host, timestamp, region, secret id, secret key, params or raw payload
    ("docs-example", "hunyuan.tencentcloudapi.com", 1551113065, "",
     "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE", "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE",
     {"Model": "hunyuan-turbos-latest", "Messages": [{"Role": "user", "Content": "hi"}]}),
    ("before-midnight", "hunyuan.tencentcloudapi.com", 1704067199, "ap-guangzhou",
     "AKIDmockllmrelay", "mock-secret-key-llm-relay",
     {"Model": "hunyuan-t1-latest", "Stream": True, "Temperature": 0.5,
      "Messages": [{"Role": "system", "Content": "s"}, {"Role": "user", "Content": "q"}]}),
    ("after-midnight", "hunyuan.tencentcloudapi.com", 1704067200, "ap-guangzhou",
     "AKIDmockllmrelay", "mock-secret-key-llm-relay",
     {"Model": "hunyuan-t1-latest", "Stream": True, "Temperature": 0.5,
      "Messages": [{"Role": "system", "Content": "s"}, {"Role": "user", "Content": "q"}]}),
    ("leap-day-empty-body", "127.0.0.1:8080", 1709164800, "",
     "AKIDother", "another key/with+symbols=", {}),
    ("unicode-payload", "hunyuan.tencentcloudapi.com", 1767225599, "",
     "AKIDmockllmrelay", "mock-secret-key-llm-relay",
     '{"Model":"hunyuan-turbos-latest","Messages":[{"Role":"user","Content":"你好，混元 🌏 é"}]}'),
]


def reference():
    for name, host, ts, region, sid, skey, body in CASES:
        client = sdk_client(sid, skey, host, region=region)
        if isinstance(body, dict):
            payload, sdk_auth = sdk_sign_params(client, body, ts)
        else:
            payload = body
            sdk_auth = sdk_sign_payload(client, sid, skey, host, payload, ts)
        mine = authorization(sid, skey, host, payload, ts, ["content-type", "host"])
        if mine != sdk_auth:
            sys.exit("%s: the canonical request is not the SDK's:\n%s\n%s" % (name, mine, sdk_auth))
        print(json.dumps({
            "name": name, "host": host, "timestamp": ts, "region": region,
            "secret_id": sid, "secret_key": skey, "payload": payload,
            "authorization": authorization(
                sid, skey, host, payload, ts, ["content-type", "host", "x-tc-action"]),
            "sdk_authorization": sdk_auth,
        }, ensure_ascii=False))


def message(role, content=None, **extra):
    m = models.Message()
    m.Role = role
    if content is not None:
        m.Content = content
    for k, v in extra.items():
        setattr(m, k, v)
    return m


def weather_tool():
    t = models.Tool()
    t.Type = "function"
    t.Function = models.ToolFunction()
    t.Function.Name = "get_weather"
    t.Function.Description = "Weather of a city"
    t.Function.Parameters = json.dumps(
        {"type": "object", "properties": {"city": {"type": "string"}}})
    return t


def client(addr, secret_id, secret_key):
    c = sdk_client(secret_id, secret_key, addr, scheme="http")
    req = models.ChatCompletionsRequest()
    req.Model = "hunyuan-turbos-latest"
    req.Messages = [message("user", "hello from the official SDK")]
    resp = c.ChatCompletions(req)
    text = resp.Choices[0].Message.Content
    assert text == "mock reply to: hello from the official SDK", text
    assert resp.Usage.TotalTokens > 0 and resp.RequestId, resp

    req.Stream = True
    pieces = []
    finish = None
    for event in c.ChatCompletions(req):
        data = json.loads(event["data"])
        choice = data["Choices"][0]
        pieces.append(choice["Delta"].get("Content", ""))
        finish = choice["FinishReason"] or finish
    assert "".join(pieces) == "mock reply to: hello from the official SDK", pieces
    assert finish == "stop", finish

    # A tool round trip: the mock calls the tool, then answers the tool's result.
    req = models.ChatCompletionsRequest()
    req.Model = "hunyuan-turbos-latest"
    req.Tools = [weather_tool()]
    req.Messages = [message("user", "weather in Shenzhen?")]
    resp = c.ChatCompletions(req)
    assert resp.Choices[0].FinishReason == "tool_calls", resp
    call = resp.Choices[0].Message.ToolCalls[0]
    assert call.Function.Name == "get_weather", call
    answered = models.ToolCall()
    answered.Id = call.Id
    answered.Type = "function"
    answered.Function = models.ToolCallFunction()
    answered.Function.Name = call.Function.Name
    answered.Function.Arguments = call.Function.Arguments
    req.Messages = [
        message("user", "weather in Shenzhen?"),
        message("assistant", "checking", ToolCalls=[answered]),
        message("tool", "sunny, 26 C", ToolCallId=call.Id),
    ]
    resp = c.ChatCompletions(req)
    assert resp.Choices[0].Message.Content == "The command printed: sunny, 26 C", resp

    bad = sdk_client(secret_id, secret_key + "x", addr, scheme="http")
    req = models.ChatCompletionsRequest()
    req.Model = "hunyuan-turbos-latest"
    req.Messages = [message("user", "hi")]
    try:
        bad.ChatCompletions(req)
        sys.exit("a wrong key was accepted")
    except TencentCloudSDKException as e:
        assert e.get_code() == "AuthFailure.SignatureFailure", e
        assert e.get_request_id(), e
    print("client OK")


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "reference":
        reference()
    elif len(sys.argv) == 5 and sys.argv[1] == "client":
        client(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit(__doc__)
