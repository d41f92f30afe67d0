#!/usr/bin/env python3
"""SSE per-event delay probe (scenario 3).

Runs `--concurrency` loops for `--duration` seconds; each loop connects, then sends the SSE
chat request with `x-mock-events: N` and `x-mock-interval-ms: I` and records when each event
arrives, relative to the moment the request was sent. The mock sends event 0 at once and event
i after i more intervals, so the delay of event i is `arrival_i - i*I`: the request's own latency
plus whatever the path adds to each event. Comparing the distribution through a proxy with the
one direct to the mock (same probe, same load) gives the delay the proxy adds per event.

Prints one JSON object: streams, events, errors, p50/p90/p99/max of the per-event delay (ms),
and the same for events after the first (`tail_*`, the pure per-event part). Bounded in time:
`--duration` plus one stream's length plus a 10 s timeout per read.
"""
import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from httpraw import SseReader, request_bytes  # noqa: E402


def pct(xs, p):
    if not xs:
        return None
    xs = sorted(xs)
    i = min(len(xs) - 1, max(0, int(round(p / 100 * len(xs) + 0.5)) - 1))
    return xs[i]


async def one_stream(args, req, delays, tail, stats):
    reader, writer = await asyncio.open_connection(args.host, args.port)
    try:
        t0 = time.perf_counter()
        writer.write(req)
        await writer.drain()
        sse = SseReader(reader)
        status = await asyncio.wait_for(sse.head(), 10)
        if status != 200:
            stats["errors"] += 1
            return
        seen = 0
        agen = sse.events()
        while True:
            try:
                count = await asyncio.wait_for(agen.__anext__(), 10)
            except StopAsyncIteration:
                break
            now = time.perf_counter()
            for i in range(seen, count):
                d = (now - t0) * 1000.0 - i * args.interval_ms
                delays.append(d)
                if i > 0:
                    tail.append(d)
            seen = count
        # N chunk events plus [DONE]
        if seen != args.events + 1:
            stats["errors"] += 1
        stats["streams"] += 1
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except Exception:
            pass


async def worker(args, req, deadline, delays, tail, stats):
    while time.perf_counter() < deadline:
        try:
            await one_stream(args, req, delays, tail, stats)
        except Exception as e:  # counted, the loop goes on until the deadline
            stats["errors"] += 1
            stats["last_error"] = repr(e)
            await asyncio.sleep(0.05)


async def main_async(args):
    body = Path(args.body).read_bytes()
    req = request_bytes(args.host, args.port, args.path, body, {
        "x-mock-events": str(args.events),
        "x-mock-interval-ms": str(args.interval_ms),
    })
    delays, tail = [], []
    stats = {"streams": 0, "errors": 0}
    # warm-up: one stream per loop, not recorded
    await asyncio.gather(*(one_stream(args, req, [], [], {"streams": 0, "errors": 0})
                           for _ in range(args.concurrency)), return_exceptions=True)
    deadline = time.perf_counter() + args.duration
    await asyncio.gather(*(worker(args, req, deadline, delays, tail, stats)
                           for _ in range(args.concurrency)))
    out = {
        "streams": stats["streams"], "events": len(delays), "errors": stats["errors"],
        "concurrency": args.concurrency, "events_per_stream": args.events,
        "interval_ms": args.interval_ms,
    }
    for p in (50, 90, 99):
        out[f"p{p}_ms"] = pct(delays, p)
        out[f"tail_p{p}_ms"] = pct(tail, p)
    out["max_ms"] = max(delays) if delays else None
    if "last_error" in stats:
        out["last_error"] = stats["last_error"]
    print(json.dumps(out))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--path", default="/v1/chat/completions")
    ap.add_argument("--body", required=True, help="JSON file with \"stream\": true")
    ap.add_argument("--events", type=int, default=20)
    ap.add_argument("--interval-ms", type=int, default=10)
    ap.add_argument("--concurrency", type=int, default=10)
    ap.add_argument("--duration", type=float, default=5.0)
    args = ap.parse_args()
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
