#!/usr/bin/env python3
"""SSE per-event delay probe (scenario 3): an SSE upstream that stamps every event with its send
time, and a client that subtracts that stamp from the event's arrival time.

Why not time the mock's events against their expected schedule: on this kind of machine a
10 ms sleep takes 10-16 ms (coarse timers), so the mock's own schedule drifts by several ms per
stream, far more than the 1 ms the gateway is allowed to add. Stamping at the source measures
the path alone: `delay = arrival - send`, both read from CLOCK_MONOTONIC on the same machine.

  sse_probe.py serve --port P
      OpenAI-shaped SSE upstream: POST anything, get `x-mock-events` chunk events (default 20)
      `x-mock-interval-ms` apart (default 10), then `data: [DONE]`. Each chunk carries
      `"t": <send time, ns>`. HTTP/1.1 keep-alive, chunked. Runs until killed.
  sse_probe.py client --port P --body FILE [--duration S] [--concurrency C] ...
      C loops for S seconds, each: connect, send the request, read the stream. Prints JSON:
      streams, events, errors, p50/p90/p99/max of the per-event delay in ms.

Run the client direct to the server, then through nginx and llm-relay (both routed to the same
server): the difference of the distributions is what the proxy adds to each event.
"""
import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from httpraw import SseReader, request_bytes  # noqa: E402


def now_ns() -> int:
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


# ---------------------------------------------------------------- server


async def serve_conn(reader, writer):
    try:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            lines = head.decode("latin-1").split("\r\n")
            hdr = {}
            for line in lines[1:]:
                k, _, v = line.partition(":")
                hdr[k.strip().lower()] = v.strip()
            length = int(hdr.get("content-length", "0"))
            if length:
                await reader.readexactly(length)
            events = int(hdr.get("x-mock-events", "20"))
            interval = int(hdr.get("x-mock-interval-ms", "10")) / 1000.0
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                         b"Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n")
            for i in range(events):
                if i:
                    await asyncio.sleep(interval)
                text = "" if i == 0 else f"tok{i - 1} "
                data = ('data: {"id":"chatcmpl-probe","object":"chat.completion.chunk",'
                        '"created":1763790000,"model":"hunyuan-sse-probe","choices":[{"index":0,'
                        '"delta":{"content":"%s"},"finish_reason":%s}],"t":%d}\n\n'
                        % (text, '"stop"' if i + 1 == events else "null", now_ns())).encode()
                writer.write(b"%x\r\n%s\r\n" % (len(data), data))
                await writer.drain()
            done = b"data: [DONE]\n\n"
            writer.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(done), done))
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def serve(args):
    server = await asyncio.start_server(serve_conn, args.host, args.port, backlog=1024)
    print(f"sse-probe listening on {args.host}:{args.port}", flush=True)
    async with server:
        await server.serve_forever()


# ---------------------------------------------------------------- client


def pct(xs, p):
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]


class Events:
    """Like SseReader.events(), but yields the raw text of each complete event."""

    def __init__(self, sse):
        self.sse = sse

    async def __aiter__(self):
        buf = b""
        async for data in self.sse._pieces():
            buf += data
            while True:
                i = buf.find(b"\n\n")
                if i < 0:
                    break
                yield buf[:i]
                buf = buf[i + 2:]


async def one_stream(args, req, delays, stats):
    reader, writer = await asyncio.wait_for(asyncio.open_connection(args.host, args.port), 10)
    try:
        writer.write(req)
        await writer.drain()
        sse = SseReader(reader)
        status = await asyncio.wait_for(sse.head(), 10)
        if status != 200:
            stats["errors"] += 1
            stats["last_error"] = f"status {status}"
            return
        n = 0
        it = Events(sse).__aiter__()
        while True:
            try:
                ev = await asyncio.wait_for(it.__anext__(), 10)
            except StopAsyncIteration:
                break
            arrived = now_ns()
            j = ev.rfind(b'"t":')
            if j >= 0:
                sent = int(ev[j + 4:].rstrip(b"}").split(b",")[0])
                delays.append((arrived - sent) / 1e6)
                n += 1
        if n != args.events:
            stats["errors"] += 1
            stats["last_error"] = f"{n} stamped events, expected {args.events}"
        stats["streams"] += 1
    finally:
        writer.close()


async def worker(args, req, deadline, delays, stats):
    while time.monotonic() < deadline:
        try:
            await one_stream(args, req, delays, stats)
        except Exception as e:  # counted; the loop goes on until the deadline
            stats["errors"] += 1
            stats["last_error"] = repr(e)
            await asyncio.sleep(0.05)


async def client(args):
    body = Path(args.body).read_bytes()
    req = request_bytes(args.host, args.port, args.path, body, {
        "x-mock-events": str(args.events),
        "x-mock-interval-ms": str(args.interval_ms),
    })
    warm = {"streams": 0, "errors": 0}
    await asyncio.gather(*(one_stream(args, req, [], warm) for _ in range(args.concurrency)),
                         return_exceptions=True)
    delays = []
    stats = {"streams": 0, "errors": 0}
    deadline = time.monotonic() + args.duration
    await asyncio.gather(*(worker(args, req, deadline, delays, stats)
                           for _ in range(args.concurrency)))
    out = {"streams": stats["streams"], "events": len(delays), "errors": stats["errors"],
           "concurrency": args.concurrency, "events_per_stream": args.events,
           "interval_ms": args.interval_ms}
    for p in (50, 90, 99):
        out[f"p{p}_ms"] = pct(delays, p)
    out["max_ms"] = max(delays) if delays else None
    if "last_error" in stats:
        out["last_error"] = stats["last_error"]
    print(json.dumps(out))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, required=True)
    c = sub.add_parser("client")
    c.add_argument("--host", default="127.0.0.1")
    c.add_argument("--port", type=int, required=True)
    c.add_argument("--path", default="/v1/chat/completions")
    c.add_argument("--body", required=True)
    c.add_argument("--events", type=int, default=20)
    c.add_argument("--interval-ms", type=int, default=10)
    c.add_argument("--concurrency", type=int, default=10)
    c.add_argument("--duration", type=float, default=5.0)
    args = ap.parse_args()
    asyncio.run(serve(args) if args.cmd == "serve" else client(args))


if __name__ == "__main__":
    main()
