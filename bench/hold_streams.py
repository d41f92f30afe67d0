#!/usr/bin/env python3
"""Holds many SSE streams open at once (scenario 5) and reports the proxy's memory.

Opens `--streams` connections (at most `--connect-parallel` connecting at a time), sends on
each the SSE chat request with a long `x-mock-interval-ms`, so after the first event a stream
stays open and idle; once every stream has its first event (or `--ramp-timeout` passed) it
samples the resident memory (VmRSS from /proc/PID/status, summed over `--pid`, repeatable: the
nginx master and workers) for `--hold` seconds, then closes everything.

Prints one JSON object: requested, open (streams that got their first event), errors, ramp
seconds, rss_idle_kb (before connecting), rss_kb (median while holding), rss_peak_kb,
per_stream_kb ((rss - idle) / open). Bounded: ramp timeout + hold + a few seconds.
"""
import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from httpraw import SseReader, request_bytes  # noqa: E402


def rss_kb(pids):
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


async def hold_one(args, req, sem, ready, stats, writers):
    try:
        async with sem:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(args.host, args.port), 10)
            writers.append(writer)
            writer.write(req)
            await writer.drain()
            sse = SseReader(reader)
            status = await asyncio.wait_for(sse.head(), 30)
            if status != 200:
                stats["errors"] += 1
                stats["last_error"] = f"status {status}"
                return
            agen = sse.events()
            await asyncio.wait_for(agen.__anext__(), 30)
        stats["open"] += 1
        if stats["open"] + stats["errors"] >= args.streams:
            ready.set()
        # Drain whatever else comes until cancelled at the end of the hold.
        async for _ in agen:
            pass
        stats["ended_early"] += 1
    except asyncio.CancelledError:
        raise
    except Exception as e:
        stats["errors"] += 1
        stats["last_error"] = repr(e)
        if stats["open"] + stats["errors"] >= args.streams:
            ready.set()


async def main_async(args):
    body = Path(args.body).read_bytes()
    req = request_bytes(args.host, args.port, args.path, body, {
        "x-mock-events": str(args.events),
        "x-mock-interval-ms": str(args.interval_ms),
    })
    stats = {"open": 0, "errors": 0, "ended_early": 0}
    idle = rss_kb(args.pid)
    sem = asyncio.Semaphore(args.connect_parallel)
    ready = asyncio.Event()
    writers = []
    t0 = time.monotonic()
    tasks = [asyncio.ensure_future(hold_one(args, req, sem, ready, stats, writers))
             for _ in range(args.streams)]
    try:
        await asyncio.wait_for(ready.wait(), args.ramp_timeout)
    except asyncio.TimeoutError:
        pass
    ramp = time.monotonic() - t0
    samples = []
    end = time.monotonic() + args.hold
    while time.monotonic() < end:
        samples.append(rss_kb(args.pid))
        await asyncio.sleep(0.5)
    open_now = stats["open"]
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for w in writers:
        w.close()
    await asyncio.sleep(0.2)
    samples.sort()
    rss = samples[len(samples) // 2] if samples else None
    out = {
        "requested": args.streams, "open": open_now, "errors": stats["errors"],
        "ended_early": stats["ended_early"], "ramp_s": round(ramp, 2),
        "rss_idle_kb": idle, "rss_kb": rss, "rss_peak_kb": samples[-1] if samples else None,
        "per_stream_kb": round((rss - idle) / open_now, 2) if rss and open_now else None,
    }
    if "last_error" in stats:
        out["last_error"] = stats["last_error"]
    print(json.dumps(out))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--path", default="/v1/chat/completions")
    ap.add_argument("--body", required=True, help="JSON file with \"stream\": true")
    ap.add_argument("--streams", type=int, default=1000)
    ap.add_argument("--events", type=int, default=100)
    ap.add_argument("--interval-ms", type=int, default=5000)
    ap.add_argument("--hold", type=float, default=5.0)
    ap.add_argument("--ramp-timeout", type=float, default=60.0)
    ap.add_argument("--connect-parallel", type=int, default=256)
    ap.add_argument("--pid", type=int, action="append", default=[],
                    help="process whose VmRSS is summed (repeatable)")
    args = ap.parse_args()
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
