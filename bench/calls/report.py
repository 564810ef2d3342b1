#!/usr/bin/env python3
"""Tables from a call benchmark result file (bench/calls/run.py writes it).

    python bench/calls/report.py bench/results/calls-full.json   # rewrites .md and .csv

Ratios against shmlink calls (> 1 when shmlink is faster): latency = row
p50 ÷ shmlink p50, throughput = shmlink calls/s ÷ row calls/s.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from typing import Any, Optional

REF = "shmlink"
# Targets compare with the better of each peer's server variants.
GRPC = ("grpc", "grpc_aio")
UNIX = ("unix", "unix_uvloop")
# (what, peer keys, size, target, text)
TARGETS = [
    ("p50", GRPC, 64, 20, "round trip p50, 1 caller: shmlink vs gRPC (better server)"),
    ("p50", UNIX, 64, 3, "round trip p50, 1 caller: shmlink vs Unix socket (better server)"),
    ("thr", GRPC, 64, 10, "calls/s, 8 callers: shmlink vs gRPC (better server)"),
    ("p50", GRPC, 65536, None, "round trip p50, 1 caller: shmlink vs gRPC (better server)"),
    ("thr", GRPC, 65536, None, "calls/s, 8 callers: shmlink vs gRPC (better server)"),
]


def size_text(n: int) -> str:
    return f"{n >> 20} MiB" if n >= 1 << 20 else f"{n >> 10} KiB" if n >= 1024 else f"{n} B"


def _num(x: float) -> str:
    if x >= 1e6:
        return f"{x / 1e6:.2f} M"
    if x >= 1e3:
        return f"{x / 1e3:.1f} k"
    return f"{x:.0f}"


def _us(ns: float) -> str:
    return f"{ns / 1e3:.1f}"


def _index(doc: dict) -> dict:
    return {(c["transport"], c["kind"], c["size"]): c for c in doc["cells"]}


def _na(c: Optional[dict]) -> Optional[str]:
    if c is None:
        return "–"
    if "error" in c:
        return "error"
    if "unavailable" in c:
        return "n/a"
    return None


def _value(idx: dict, key: str, what: str, size: int) -> Optional[float]:
    c = idx.get((key, "latency" if what == "p50" else "throughput", size))
    if c is None or _na(c):
        return None
    return c["p50_ns"] if what == "p50" else c["calls_per_s"]


def _ratio(what: str, shm: Optional[float], peer: Optional[float]) -> Optional[float]:
    if not shm or not peer:
        return None
    return peer / shm if what == "p50" else shm / peer


def markdown(doc: dict) -> str:
    idx = _index(doc)
    m = doc["machine"]
    out = [f"Mode **{doc['mode']}**, {doc['reps']} repetition(s) per cell, median "
           f"[min–max]. Machine: {m.get('cpu')}, {m.get('cores')} cores, Linux "
           f"{m.get('kernel')}, Python {m.get('python')}, {m.get('go') or 'no Go'}, "
           f"grpcio {m.get('packages', {}).get('grpcio')}, grpc-go {m.get('grpc_go')}, "
           f"load average {m['loadavg_start'][0]:.2f} at start, "
           f"{m['loadavg_end'][0]:.2f} at end.", "",
           "Request/response calls, the server echoes the request. Latency: one caller, "
           "round trip p50/p99 in µs. Throughput: "
           f"{doc['callers']} concurrent callers (goroutines; threads in the Python "
           "client), calls per second. ×shmlink: row p50 ÷ shmlink p50 and shmlink calls/s "
           "÷ row calls/s (> 1 when shmlink is faster).", ""]
    out.append("| size | transport | p50 µs | p99 µs | calls/s, "
               f"{doc['callers']} callers | ×shmlink p50 | ×shmlink calls/s |")
    out.append("|---:|---|---:|---:|---:|---:|---:|")
    notes: dict = {}
    for size in doc["sizes"]:
        for t in doc["transports"]:
            key = t["key"]
            lat = idx.get((key, "latency", size))
            thr = idx.get((key, "throughput", size))
            if lat is None and thr is None:
                continue
            for what, c in (("latency", lat), ("throughput", thr)):
                if c is not None and _na(c) not in (None, "–"):
                    notes.setdefault((t["label"], c.get("error") or c.get("unavailable")),
                                     []).append(f"{what} {size_text(size)}")
            if _na(lat):
                p50 = p99 = _na(lat)
            else:
                p50 = f"{_us(lat['p50_ns'])} [{_us(lat['p50_ns_min'])}–{_us(lat['p50_ns_max'])}]"
                p99 = f"{_us(lat['p99_ns'])} [{_us(lat['p99_ns_min'])}–{_us(lat['p99_ns_max'])}]"
            if _na(thr):
                cps = _na(thr)
            else:
                cps = (f"{_num(thr['calls_per_s'])} [{_num(thr['calls_per_s_min'])}–"
                       f"{_num(thr['calls_per_s_max'])}]")
            rl = rt = "–"
            if key == REF:
                rl = rt = "ref"
            else:
                r = _ratio("p50", _value(idx, REF, "p50", size), _value(idx, key, "p50", size))
                rl = f"{r:.1f}×" if r else "–"
                r = _ratio("thr", _value(idx, REF, "thr", size), _value(idx, key, "thr", size))
                rt = f"{r:.1f}×" if r else "–"
            out.append(f"| {size_text(size)} | {t['label']} | {p50} | {p99} | {cps} "
                       f"| {rl} | {rt} |")
    out.append("")
    out.extend(targets_table(idx))
    if notes:
        out.append("")
        out.append("Not measured:")
        out.extend(f"- {label} ({', '.join(what)}): {why}"
                   for (label, why), what in notes.items())
    out.append("")
    out.append("How each transport is used:")
    out.extend(f"- {t['label']}: {t['note']}" for t in doc["transports"])
    return "\n".join(out) + "\n"


def targets_table(idx: dict) -> list[str]:
    out = ["| goal | size | measured | target | |", "|---|---:|---:|---:|---|"]
    for what, peers, size, target, text in TARGETS:
        want = f"≥ {target}×" if target else "–"
        shm = _value(idx, REF, what, size)
        vals = [v for v in (_value(idx, k, what, size) for k in peers) if v]
        best = (min(vals) if what == "p50" else max(vals)) if vals else None
        r = _ratio(what, shm, best)
        if r is None:
            why = "shmlink not measured" if not shm else "peer not measured"
            out.append(f"| {text} | {size_text(size)} | {why} | {want} | – |")
            continue
        verdict = "–" if target is None else ("met" if r >= target else "missed")
        out.append(f"| {text} | {size_text(size)} | {r:.1f}× | {want} | {verdict} |")
    return out


def write_csv(doc: dict, path: str) -> None:
    cols = ["transport", "label", "kind", "size", "callers", "count", "reps",
            "p50_ns", "p50_ns_min", "p50_ns_max", "p99_ns", "p99_ns_min", "p99_ns_max",
            "calls_per_s", "calls_per_s_min", "calls_per_s_max", "error", "unavailable"]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        for c in doc["cells"]:
            w.writerow(c)


def write_all(doc: dict, outdir: str, stem: str) -> list[str]:
    os.makedirs(outdir, exist_ok=True)
    paths = []
    p = os.path.join(outdir, f"{stem}.json")
    with open(p, "w") as f:
        json.dump(doc, f, indent=1, ensure_ascii=False)
        f.write("\n")
    paths.append(p)
    p = os.path.join(outdir, f"{stem}.csv")
    write_csv(doc, p)
    paths.append(p)
    p = os.path.join(outdir, f"{stem}.md")
    with open(p, "w") as f:
        f.write(markdown(doc))
    paths.append(p)
    return paths


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        raise SystemExit("usage: report.py RESULT.json")
    with open(argv[0]) as f:
        doc: Any = json.load(f)
    stem = os.path.splitext(os.path.basename(argv[0]))[0]
    for q in write_all(doc, os.path.dirname(os.path.abspath(argv[0])), stem):
        print("wrote", q)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
