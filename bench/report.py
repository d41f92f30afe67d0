#!/usr/bin/env python3
"""Turns the raw results of scripts/bench.sh (oha JSON, probe JSON, meta.txt) into one table,
the benchmark targets with met / missed, and the exact commands. Prints markdown; with
`--doc FILE` also replaces the part of FILE between `<!-- bench:results:begin -->` and
`<!-- bench:results:end -->` (the rest of the file is hand-written analysis).

  report.py RESULTS_DIR [--doc docs/benchmarks.md]
"""
import argparse
import json
from pathlib import Path

BEGIN = "<!-- bench:results:begin -->"
END = "<!-- bench:results:end -->"
TARGETS = ("direct", "nginx", "pingora", "relay")

SCENARIOS = [
    ("s1", "1 chat, 2.4 KB agent body, hunyuan fix"),
    ("s1b", "1b chat, same + leading assistant turn (fixer rewrites)"),
    ("s2", "2 embeddings, pass-through"),
    ("s3", "3 SSE chat, 20 events (whole stream)"),
    ("s4", "4 cascade cache hit, 1 MB data-URL image"),
]


def load_json(p: Path):
    try:
        txt = p.read_text().strip()
        return json.loads(txt) if txt else None
    except (OSError, ValueError):
        return None


class Oha:
    """One oha run: RPS, p50, p99 (ms), and anything that was not a 200."""

    def __init__(self, d):
        self.ok = d is not None
        self.rps = self.p50 = self.p99 = None
        self.good = self.bad = 0
        self.errors = {}
        if not self.ok:
            return
        s = d.get("summary", {})
        self.rps = s.get("requestsPerSec")
        lp = d.get("latencyPercentiles", {})
        self.p50 = lp.get("p50") * 1000 if lp.get("p50") is not None else None
        self.p99 = lp.get("p99") * 1000 if lp.get("p99") is not None else None
        codes = d.get("statusCodeDistribution", {}) or {}
        errs = d.get("errorDistribution", {}) or {}
        self.good = int(codes.get("200", 0))
        self.bad = sum(int(v) for k, v in codes.items() if k != "200") + sum(int(v) for v in errs.values())
        self.errors = {**{f"HTTP {k}": v for k, v in codes.items() if k != "200"}, **errs}


def fmt(v, unit="", digits=None):
    if v is None:
        return "–"
    if digits is None:
        digits = 0 if abs(v) >= 1000 else (1 if abs(v) >= 100 else 2)
    return f"{v:,.{digits}f}{unit}"


def ratio(a, b):
    if a is None or b in (None, 0):
        return None
    return a / b


def sub(a, b):
    if a is None or b is None:
        return None
    return a - b


def mark(o: "Oha"):
    if not o.ok:
        return " (no result)"
    if o.bad:
        share = o.bad / max(1, o.good + o.bad)
        return f" (**{share:.1%} failed**)"
    return ""


def cpu_us(res: Path, name, target, o: "Oha"):
    """CPU µs per request used by the target process(es) during the closed-loop run."""
    try:
        ticks, _mock, hz = (int(x) for x in (res / f"{name}.{target}.tp.cpu").read_text().split())
    except (OSError, ValueError):
        return None
    n = o.good + o.bad
    return ticks / hz * 1e6 / n if n else None


def build(res: Path) -> str:
    meta = {}
    for line in (res / "meta.txt").read_text().splitlines():
        k, _, v = line.partition("=")
        meta[k] = v
    cfg = dict(kv.split("=") for kv in meta.get("threads", "").split() if "=" in kv)
    cfg["threads"] = meta.get("threads", "").split()[0] if meta.get("threads") else "?"
    rate = cfg.get("rate", "?")
    rate_img = cfg.get("rate_image", "?")
    conc = cfg.get("conc", "?")

    def oha(name, target, mode):
        return Oha(load_json(res / f"{name}.{target}.{mode}.json"))

    max_foreign = int(cfg.get("max_foreign", "10"))

    def noise(name, target, mode):
        """% of the machine's CPU used by other work during the run."""
        try:
            return int((res / f"{name}.{target}.{mode}.noise").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def dag(name, target, mode):
        n = noise(name, target, mode)
        return " †" if n is not None and n > max_foreign else ""

    out = []
    out.append(f"Machine: {meta.get('cpu', '?')}, {meta.get('nproc', '?')} cores, "
               f"{meta.get('mem', '?')}, Linux {meta.get('kernel', '?')}. "
               f"Run {meta.get('date', '?')}, llm-relay {meta.get('llm_relay_commit', '?')}, "
               f"{'**quick run**' if meta.get('quick') == '1' else 'full run'} "
               f"({cfg.get('dur', '?')} per load run, {meta.get('elapsed_s', '?')} s in all).")
    out.append("")
    out.append(f"Tools: oha {meta.get('oha', '?').replace('oha ', '')}, nginx {meta.get('nginx', '?')}, "
               f"Python {meta.get('python', '?')}, {meta.get('rustc', '?')}. "
               f"Gateway threads = nginx workers = {cfg['threads']}; mock threads "
               f"{cfg.get('mock_threads', '?')}; open-file limit {meta.get('nofile', '?')}.")
    out.append("")
    out.append(f"RPS: closed loop, `oha -c {conc}`. p50/p99: open loop at a fixed rate, "
               f"`oha -c {conc} -q {rate} --latency-correction` (scenario 4 and its baseline "
               f"row: `-q {rate_img}`). Latencies in ms. *relay − direct* is the latency "
               f"llm-relay adds over calling the mock directly.")
    out.append("")
    out.append("| Scenario | Metric | direct | nginx | plain Pingora | llm-relay | relay/nginx | relay − direct |")
    out.append("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    R = {}
    for name, title in SCENARIOS:
        tp = {t: oha(name, t, "tp") for t in TARGETS}
        latmode = "lat-image" if name == "s4" else "lat"
        lat = {t: oha(name, t, latmode) for t in TARGETS}
        R[name] = (tp, lat)
        rps = {t: tp[t].rps if tp[t].ok else None for t in TARGETS}
        out.append(f"| {title} | RPS | " + " | ".join(fmt(rps[t]) + mark(tp[t]) + dag(name, t, "tp") for t in TARGETS)
                   + f" | {fmt(ratio(rps['relay'], rps['nginx']), '×')} | |")
        cpu = {t: cpu_us(res, name, t, tp[t]) for t in TARGETS}
        R[name] = (tp, lat, cpu)
        out.append("| | CPU µs/request (mock for direct, proxy otherwise) | "
                   + " | ".join(fmt(cpu[t]) for t in TARGETS)
                   + f" | {fmt(ratio(cpu['relay'], cpu['nginx']), '×')} | |")
        q = rate_img if name == "s4" else rate
        for p in ("p50", "p99"):
            v = {t: getattr(lat[t], p, None) if lat[t].ok else None for t in TARGETS}
            marks = {t: (mark(lat[t]) if p == "p50" else "") + dag(name, t, latmode) for t in TARGETS}
            out.append(f"| | {p} @ {q}/s | " + " | ".join(fmt(v[t]) + marks[t] for t in TARGETS)
                       + f" | {fmt(ratio(v['relay'], v['nginx']), '×')} | {fmt(sub(v['relay'], v['direct']), ' ms')} |")
    s1i = {t: oha("s1i", t, "lat-image") for t in ("direct", "relay")}
    for p in ("p50", "p99"):
        v = {t: getattr(s1i[t], p, None) if s1i[t].ok else None for t in ("direct", "relay")}
        label = "1 chat at scenario 4's rate (its baseline)" if p == "p50" else ""
        out.append(f"| {label} | {p} @ {rate_img}/s | {fmt(v['direct'])}{dag('s1i', 'direct', 'lat-image')} | | | "
                   f"{fmt(v['relay'])}{dag('s1i', 'relay', 'lat-image')} | | {fmt(sub(v['relay'], v['direct']), ' ms')} |")
    probe = {t: load_json(res / f"s3probe.{t}.json") for t in TARGETS}
    for p in ("p50", "p99"):
        v = {t: (probe[t] or {}).get(f"{p}_ms") for t in TARGETS}
        errs = {t: (probe[t] or {}).get("errors", 0) for t in TARGETS}
        cells = [fmt(v[t]) + (f" ({errs[t]} err)" if errs[t] else "") for t in TARGETS]
        label = "3 SSE per-event delay (probe, 10 streams × 20 events, 10 ms apart)" if p == "p50" else ""
        out.append(f"| {label} | {p} | "
                   + " | ".join(cells)
                   + f" | {fmt(ratio(v['relay'], v['nginx']), '×')} | {fmt(sub(v['relay'], v['direct']), ' ms')} |")
    s5 = {}
    P5 = ("nginx", "pingora", "relay")
    for f in sorted(res.glob("s5.*.json"), key=lambda p: (int(p.name.split(".")[1]), p.name)):
        _, n, t, _ = f.name.split(".")
        s5.setdefault(int(n), {})[t] = load_json(f) or {}
    for n, d in s5.items():
        rss = {t: (d.get(t, {}).get("rss_kb") or 0) / 1024 or None for t in P5}
        opened = {t: d.get(t, {}).get("open") for t in P5}
        per = {t: d.get(t, {}).get("per_stream_kb") for t in P5}
        note = {}
        for t in P5:
            req = d.get(t, {}).get("requested", n)
            note[t] = "" if opened[t] == n else (
                f" ({opened[t]:,} open; capped by the open-file limit)" if req < n and opened[t] == req
                else f" ({opened[t] or 0:,} of {req:,} open)")
        out.append(f"| 5 {n:,} SSE streams held open | RSS MB | | "
                   + " | ".join(fmt(rss[t]) + note[t] for t in P5)
                   + f" | {fmt(ratio(rss['relay'], rss['nginx']), '×')} | |")
        out.append("| | KB per stream: (RSS − idle RSS) / streams | | " + " | ".join(fmt(per[t]) for t in P5)
                   + f" | {fmt(ratio(per['relay'], per['nginx']), '×')} | |")
        left = {}
        for t in P5:
            try:
                left[t] = int((res / f"s5.{n}.{t}.left").read_text().strip() or 0)
            except (OSError, ValueError):
                left[t] = None
        out.append("| | upstream conns still open 2 s after the clients left | | "
                   + " | ".join('–' if left[t] is None else str(left[t]) for t in P5) + " | | |")
    out.append("")

    # targets
    out.append("Targets:")
    out.append("")
    out.append("| Target | Measured | Met? |")
    out.append("| --- | --- | --- |")

    def row(text, measured, ok):
        out.append(f"| {text} | {measured} | {'–' if ok is None else ('met' if ok else '**missed**')} |")

    tp2 = R["s2"][0]
    r = ratio(tp2["relay"].rps, tp2["nginx"].rps)
    row("scenario 2: relay RPS ≥ nginx RPS", f"{fmt(r, '×')} ({fmt(tp2['relay'].rps)} vs {fmt(tp2['nginx'].rps)})",
        None if r is None else r >= 1.0)
    for name in ("s1", "s1b"):
        tp1 = R[name][0]
        r = ratio(tp1["relay"].rps, tp2["nginx"].rps)
        row(f"scenario {name[1:]}: relay RPS ≥ 0.9× nginx's scenario-2 RPS",
            f"{fmt(r, '×')} ({fmt(tp1['relay'].rps)} vs {fmt(tp2['nginx'].rps)})",
            None if r is None else r >= 0.9)
    for name in ("s1", "s1b", "s2", "s3"):
        lat = R[name][1]
        a = sub(lat["relay"].p99 if lat["relay"].ok else None, lat["direct"].p99 if lat["direct"].ok else None)
        row(f"scenario {name[1:]}: p99 added at {rate}/s ≤ 0.5 ms", fmt(a, " ms"), None if a is None else a <= 0.5)
    a = sub((probe["relay"] or {}).get("p99_ms"), (probe["direct"] or {}).get("p99_ms"))
    row("SSE: per-event delay added, p99 ≤ 1 ms", fmt(a, " ms"), None if a is None else a <= 1.0)
    big = max(s5) if s5 else None
    if big:
        d = s5[big].get("relay", {})
        rss_mb = (d.get("rss_kb") or 0) / 1024 or None
        opened = d.get("open") or 0
        measured = f"{fmt(rss_mb, ' MB')} with {opened:,} streams open"
        est = None
        if opened and d.get("per_stream_kb") is not None and d.get("rss_idle_kb") is not None:
            est = (d["rss_idle_kb"] + d["per_stream_kb"] * 10_000) / 1024
            if opened != 10_000:
                measured += f" (→ {fmt(est, ' MB')} at 10,000)"
        label = "10k streams held with ≤ 100 MB RSS"
        if big != 10_000:
            label += f" (only {big:,} in this run)"
        row(label, measured, None if est is None else est <= 100)
    for name, limit, what in (("s2", 1.3, "embeddings pass-through"),
                              ("s1", 1.6, "chat with Hunyuan fixing")):
        cpu = R[name][2]
        r = ratio(cpu["relay"], cpu["pingora"])
        row(f"CPU per request, {what}: ≤ {limit}× plain Pingora passing the same body through",
            f"{fmt(r, '×')} ({fmt(cpu['relay'])} vs {fmt(cpu['pingora'])} µs)",
            None if r is None else r <= limit)
    if big:
        per = {t: s5[big].get(t, {}).get("per_stream_kb") for t in ("pingora", "relay")}
        extra = sub(per["relay"], per["pingora"])
        row(f"memory per held SSE stream ≤ plain Pingora + 10 KB ({big:,} streams)",
            f"+{fmt(extra, ' KB')} ({fmt(per['relay'])} vs {fmt(per['pingora'])} KB)",
            None if extra is None else extra <= 10)
    lat4 = R["s4"][1]["relay"]
    for p in ("p50", "p99"):
        a = sub(getattr(lat4, p, None) if lat4.ok else None, getattr(s1i["relay"], p, None) if s1i["relay"].ok else None)
        row(f"scenario 4: cache hit adds ≤ 1 ms over scenario 1 ({p}, both at {rate_img}/s)", fmt(a, " ms"),
            None if a is None else a <= 1.0)
    out.append("")
    vw, ve = meta.get("vision_calls_after_warmup"), meta.get("vision_calls_at_end")
    out.append(f"Vision calls made by the gateway: {vw} after the warm-up request, {ve} at the end "
               f"(equal: every measured scenario-4 request was a cache hit).")
    ns = sorted(x for x in (noise(f.name.split(".")[0], f.name.split(".")[1], f.name.split(".")[2])
                            for f in res.glob("*.noise")) if x is not None)
    if ns:
        out.append(f"Other work on the machine during the oha runs (CPU not used by the target, the mock "
                   f"or oha, in % of both cores): median {ns[len(ns) // 2]}%, max {ns[-1]}%. Runs above "
                   f"{max_foreign}% were repeated up to {cfg.get('tries', '?')} times (the quietest "
                   f"counts); † marks a figure still measured above {max_foreign}%.")
    out.append("")
    out.append("<details><summary>Exact commands of this run</summary>")
    out.append("")
    out.append("```")
    out.extend((res / "commands.txt").read_text().splitlines())
    out.append("```")
    out.append("</details>")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("--doc")
    args = ap.parse_args()
    text = build(Path(args.results))
    print(text)
    if args.doc:
        doc = Path(args.doc)
        old = doc.read_text() if doc.exists() else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
        if BEGIN not in old or END not in old:
            old = old.rstrip("\n") + f"\n\n{BEGIN}\n{END}\n"
        head, rest = old.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        doc.write_text(f"{head}{BEGIN}\n{text}{END}{tail}")
        print(f"(results written to {doc})")


if __name__ == "__main__":
    main()
