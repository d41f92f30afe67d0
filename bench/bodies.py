#!/usr/bin/env python3
"""Writes the request bodies of scripts/bench.sh into a directory.

  chat.json         scenario 1: ~2 KB agent-style chat request (system prompt, user turn,
                    assistant turn with tool_calls, tool result, trailing user turn, one tool)
  chat-lead.json    scenario 1b: the same with a leading assistant turn and a split user turn,
                    so the Hunyuan fixer has to rewrite the message list, not just re-serialise it
  embed.json        scenario 2: embeddings request
  sse.json          scenario 3: the chat request of scenario 1 with "stream": true
  vision.json       scenario 4: a chat request to the text model with a 1 MB data-URL image
                    (the cascade describes it once, then serves the description from its cache)

Deterministic: the same files every run (the image is pseudo-random bytes from a fixed seed, so
the cache key is stable and the base64 does not compress to nothing).
"""
import base64
import json
import random
import sys
from pathlib import Path

TEXT_MODEL = "hunyuan-turbos-latest"

SYSTEM = (
    "You are Relay Assistant, a careful software engineering agent working inside a customer's "
    "repository. You can read files, run shell commands in a sandbox and search the web through "
    "the tools provided. Rules: think step by step before acting; prefer small, reversible "
    "changes; never print secrets or tokens; when a command fails, read the error and explain it "
    "before retrying; cite file paths with line numbers; answer in the user's language; keep "
    "answers under 300 words unless the user asks for more. The current date is 2025-11-22 and "
    "the working directory is /srv/app. The project is a Python 3.11 web service using FastAPI "
    "and PostgreSQL, deployed with Docker Compose behind an nginx reverse proxy."
)

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "run_shell",
            "description": "Run a shell command in the sandbox and return stdout, stderr and the exit code.",
            "parameters": {
                "type": "object",
                "properties": {
                    "command": {"type": "string", "description": "The command line to run."},
                    "timeout_s": {"type": "integer", "description": "Time limit in seconds.", "default": 60},
                },
                "required": ["command"],
            },
        },
    }
]


def agent_messages(leading_assistant: bool) -> list:
    msgs = [{"role": "system", "content": SYSTEM}]
    if leading_assistant:
        # Hunyuan requires a user turn first: the fixer must move or drop this greeting.
        msgs.append({"role": "assistant", "content": "Hello! I am ready. What should I look at first?"})
    msgs.append({
        "role": "user",
        "content": "The /health endpoint returns 500 since this morning's deploy. "
                   "Can you find out why? The container is called api.",
    })
    msgs.append({
        "role": "assistant",
        "content": "Let me look at the recent logs of the api container first.",
        "tool_calls": [{
            "id": "call_7f3a9c21",
            "type": "function",
            "function": {
                "name": "run_shell",
                "arguments": json.dumps({"command": "docker compose logs --tail=20 api", "timeout_s": 30}),
            },
        }],
    })
    msgs.append({
        "role": "tool",
        "tool_call_id": "call_7f3a9c21",
        "content": (
            "api-1  | INFO:     Started server process [1]\n"
            "api-1  | INFO:     Waiting for application startup.\n"
            "api-1  | ERROR:    Exception in ASGI application\n"
            "api-1  | Traceback (most recent call last):\n"
            "api-1  |   File \"/srv/app/health.py\", line 41, in health\n"
            "api-1  |     await db.execute(\"SELECT 1\")\n"
            "api-1  | asyncpg.exceptions.InvalidPasswordError: password authentication failed for user \"app\"\n"
            "api-1  | INFO:     127.0.0.1:51234 - \"GET /health HTTP/1.1\" 500 Internal Server Error\n"
        ),
    })
    if leading_assistant:
        # Two consecutive user turns: the fixer merges them (and inserts an assistant turn
        # between the tool result and the user, Hunyuan's rule 7).
        msgs.append({"role": "user", "content": "We rotated the database password yesterday."})
        msgs.append({"role": "user", "content": "What exactly should I change, and where? Please be specific."})
    else:
        msgs.append({"role": "assistant", "content": "The database rejects the app's password."})
        msgs.append({
            "role": "user",
            "content": "We rotated the database password yesterday. What exactly should I change, "
                       "and where? Please be specific.",
        })
    return msgs


def chat_body(leading_assistant: bool, stream: bool = False) -> dict:
    body = {
        "model": TEXT_MODEL,
        "messages": agent_messages(leading_assistant),
        "tools": TOOLS,
        "tool_choice": "auto",
        "temperature": 0.2,
        "max_tokens": 1024,
    }
    if stream:
        body["stream"] = True
    return body


def vision_body(image_bytes: int) -> dict:
    rnd = random.Random(4)
    raw = bytes(rnd.getrandbits(8) for _ in range(image_bytes * 3 // 4))
    url = "data:image/png;base64," + base64.b64encode(raw).decode()
    return {
        "model": TEXT_MODEL,
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": [
                {"type": "text", "text": "What is shown in this screenshot? Is there an error message?"},
                {"type": "image_url", "image_url": {"url": url}},
            ]},
        ],
        "max_tokens": 512,
    }


def main() -> None:
    out = Path(sys.argv[1])
    image_bytes = int(sys.argv[2]) if len(sys.argv) > 2 else 1 << 20
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "chat.json": chat_body(False),
        "chat-lead.json": chat_body(True),
        "sse.json": chat_body(False, stream=True),
        "embed.json": {
            "model": "text-embedding-3-small",
            "input": "The /health endpoint returns 500 since this morning's deploy.",
        },
        "vision.json": vision_body(image_bytes),
    }
    for name, body in files.items():
        (out / name).write_text(json.dumps(body, separators=(",", ":")))
    for name in sorted(p.name for p in out.glob("*.json")):
        print(f"{name}\t{(out / name).stat().st_size}")


if __name__ == "__main__":
    main()
