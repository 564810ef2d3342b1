#!/usr/bin/env python3
"""The native anchor: shmlink C → C beside iceoryx2 (Rust), measured in one run.

    python bench/native/anchor.py --quick          # smoke check, ~1 minute
    python bench/native/anchor.py --full           # the published figures

(scripts/bench.sh builds both programs and runs this after bench/run.py.)

Both sides are native programs doing the same work per message: the sender
copies its buffer into the channel, the receiver copies the message out
into its own buffer and checks the sequence number stamped into its first
and last 8 bytes; nothing is dropped (a full channel makes the sender wait).

  shmlink   bench/c/bench_channel --cell: shmlink_channel_send/recv, ring
            4 MiB (8 MiB for 1 MiB messages)
  iceoryx2  bench/native (Rust, iceoryx2 0.10): publish-subscribe, [u8]
            payload, enable_safe_overflow(false) + publisher
            BackpressureStrategy::RetryUntilDelivered, subscriber buffer of
            about 4 MiB of payload

Two pairs, compared like with like:
  spinning   shmlink "spin" (the receiver polls with timeout 0) beside
             iceoryx2 "poll" (the receiver spins on Subscriber::receive)
  sleeping   shmlink "default" (spins 50 µs, then sleeps on a futex) beside
             iceoryx2 "event" (Notifier::notify after each send, the reader
             blocks in Listener::timed_wait when nothing is buffered)

Cells: throughput (one-way stream, messages/s over COUNT messages after a
warm-up of a tenth) and round trip (ping → pong, p50/p99/p99.9 nearest rank)
at 64 B, 4 KiB, 64 KiB and 1 MiB. Each cell is a fresh pair of processes;
repetitions are interleaved (rep 1 of every cell, then rep 2, ...) and the
tables show medians with the min–max spread. Per message: minor page faults
(getrusage of both processes, whole loop), futex calls counted inside the
shmlink core (both processes; a cheap counter, timings unchanged), and with
--strace every system call of both processes counted by `strace -f -c`, as
the difference between a run of 2N and one of N messages divided by N (so
start-up and teardown cancel out); strace slows every system call down,
which can change how often a waiting side ends up sleeping.

Results: bench/results/native-<mode>.json and .md.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.dirname(HERE)
ROOT = os.path.dirname(BENCH)

SIZES = [64, 4096, 65536, 1 << 20]
# Per size: (stream messages, round trips).
COUNTS = {
    "quick": {64: (200_000, 2_000), 4096: (50_000, 2_000), 65536: (5_000, 500),
              1 << 20: (300, 100)},
    "full": {64: (2_000_000, 20_000), 4096: (400_000, 20_000), 65536: (40_000, 5_000),
             1 << 20: (3_000, 1_000)},
}
REPS = {"quick": 1, "full": 5}
STRACE_FRACTION = 10  # stream: the strace runs move count/10 and 2*count/10 messages

# (key, label, program, wait mode); pairs: (iceoryx2 key, shmlink key)
TRANSPORTS = [
    ("shm_spin", "shmlink C→C, spinning (poll)", "c", "spin"),
    ("iox2_poll", "iceoryx2 Rust, spinning (poll)", "rust", "poll"),
    ("shm_default", "shmlink C→C, default (spin 50 µs, then futex)", "c", "default"),
    ("iox2_event", "iceoryx2 Rust, event (notify + listener wait)", "rust", "event"),
]
PAIRS = [("iox2_poll", "shm_spin"), ("iox2_event", "shm_default")]
KINDS = ["stream", "rtt"]


def size_text(n):
    return f"{n >> 20} MiB" if n >= 1 << 20 else f"{n >> 10} KiB" if n >= 1024 else f"{n} B"


def _num(x):
    if x >= 1e6:
        return f"{x / 1e6:.2f} M"
    if x >= 1e3:
        return f"{x / 1e3:.1f} k"
    return f"{x:.0f}"


def _median(xs):
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def _sweep(pid):
    """Removes what a killed run left: shmlink channels named
    shmlink-bench-<pid>-* and iceoryx2 files with the prefix
    iox2_slb14_<pid>_ (in /dev/shm and under /tmp/iceoryx2)."""
    pats = [f"/dev/shm/shmlink-bench-{pid}-*", f"/dev/shm/iox2_slb14_{pid}_*",
            f"/tmp/iceoryx2/**/iox2_slb14_{pid}_*"]
    for pat in pats:
        for p in glob.glob(pat, recursive=True):
            try:
                os.unlink(p)
            except OSError:
                pass


def argv_of(tr, kind, size, count, bins):
    _key, _label, prog, wait = tr
    if prog == "c":
        return [bins["c"], "--cell", kind, str(size), str(count), wait]
    warm = max(10, count // 10)  # as bench_channel's warm_of
    return [bins["rust"], kind, str(size), str(count), str(warm), wait]


def run_one(argv, timeout, prefix=None):
    """Runs one cell program; returns its JSON result or raises."""
    cmd = (prefix or []) + argv
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        raise RuntimeError(f"{' '.join(cmd)}: timed out after {timeout:.0f} s") from None
    finally:
        _sweep(p.pid)
    lines = [ln for ln in out.splitlines() if ln.startswith("{")]
    if p.returncode != 0 or not lines:
        tail = " | ".join(err.strip().splitlines()[-3:])
        raise RuntimeError(f"{' '.join(cmd)} exited with {p.returncode}: {tail}")
    r = json.loads(lines[-1])
    if not r.get("ok"):
        raise RuntimeError(f"{' '.join(cmd)}: {r.get('error')}")
    return r


def strace_calls(argv, timeout, tmpdir):
    """Every system call of the program and its children: {name: calls}."""
    out = os.path.join(tmpdir, "strace.txt")
    run_one(argv, timeout, ["strace", "-f", "-c", "-q", "-o", out])
    calls = {}
    with open(out) as f:
        for line in f:
            fields = line.split()
            # % time, seconds, usecs/call, calls, [errors,] syscall
            if len(fields) >= 5 and re.fullmatch(r"[\d.]+", fields[0]) and fields[-1] != "total":
                calls[fields[-1]] = int(fields[3])
    return calls


def summarize(kind, runs):
    s = {"reps": len(runs)}
    if kind == "stream":
        rates = [r["messages"] / (r["ns"] / 1e9) for r in runs]
        s.update(msgs_per_s=_median(rates), msgs_per_s_min=min(rates),
                 msgs_per_s_max=max(rates))
    else:
        for q in ("p50_ns", "p99_ns", "p999_ns"):
            v = [r[q] for r in runs]
            s.update({q: _median(v), q + "_min": min(v), q + "_max": max(v)})
    for f in ("minflt_per_msg", "futex_calls_per_msg"):
        v = [r[f] for r in runs if r.get(f) is not None]
        if v:
            s[f] = _median(v)
    return s


def machine():
    cpu = None
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f
                        if ln.startswith("model name")), None)
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release(),
            "loadavg_start": os.getloadavg(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def markdown(doc):
    idx = {(c["transport"], c["kind"], c["size"]): c for c in doc["cells"]}
    labels = {t[0]: t[1] for t in TRANSPORTS}
    m = doc["machine"]
    out = [f"Native anchor, mode **{doc['mode']}**, {doc['reps']} interleaved repetition(s) "
           f"per cell, median [min–max]. Machine: {m.get('cpu')}, {m.get('cores')} cores, "
           f"Linux {m.get('kernel')}, load average {m['loadavg_start'][0]:.2f} at start, "
           f"{m['loadavg_end'][0]:.2f} at end. iceoryx2 {doc['iceoryx2']} (Rust crate).", ""]

    def cell(key, kind, size):
        c = idx.get((key, kind, size))
        if c is None:
            return None, "–"
        if "error" in c:
            return None, "error"
        return c, None

    out += ["Throughput, messages per second (writer process → reader process); "
            "×: iceoryx2 ÷ shmlink of the same waiting kind (< 1: shmlink is faster).", "",
            "| size | transport | msgs/s | MB/s | × | faults/msg | futex/msg | syscalls/msg (strace) |",
            "|---:|---|---:|---:|---:|---:|---:|---:|"]
    pair_of = {a: b for a, b in PAIRS}
    for size in doc["sizes"]:
        for key, *_ in TRANSPORTS:
            c, na = cell(key, "stream", size)
            if na:
                out.append(f"| {size_text(size)} | {labels[key]} | {na} | | | | | |")
                continue
            ref, _ = cell(pair_of.get(key, ""), "stream", size)
            ratio = f"{c['msgs_per_s'] / ref['msgs_per_s']:.2f}×" if ref else ""
            out.append(
                f"| {size_text(size)} | {labels[key]} | {_num(c['msgs_per_s'])} "
                f"[{_num(c['msgs_per_s_min'])}–{_num(c['msgs_per_s_max'])}] | "
                f"{c['msgs_per_s'] * size / 1e6:,.1f} | {ratio} | {_fmt(c.get('minflt_per_msg'))} | "
                f"{_fmt(c.get('futex_calls_per_msg'))} | {_sys(c)} |")
    out += ["", "Round trip (ping → pong), µs; ×: iceoryx2 p50 ÷ shmlink p50 of the same "
            "waiting kind (> 1: shmlink is faster).", "",
            "| size | transport | p50 | p99 | p99.9 | × p50 | faults/trip | futex/trip | "
            "syscalls/trip (strace) |",
            "|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for size in doc["sizes"]:
        for key, *_ in TRANSPORTS:
            c, na = cell(key, "rtt", size)
            if na:
                out.append(f"| {size_text(size)} | {labels[key]} | {na} | | | | | | |")
                continue
            ref, _ = cell(pair_of.get(key, ""), "rtt", size)
            ratio = f"{c['p50_ns'] / ref['p50_ns']:.2f}×" if ref else ""
            out.append(
                f"| {size_text(size)} | {labels[key]} | {c['p50_ns'] / 1e3:.2f} "
                f"[{c['p50_ns_min'] / 1e3:.2f}–{c['p50_ns_max'] / 1e3:.2f}] | "
                f"{c['p99_ns'] / 1e3:.2f} | {c['p999_ns'] / 1e3:.2f} | {ratio} | "
                f"{_fmt(c.get('minflt_per_msg'))} | {_fmt(c.get('futex_calls_per_msg'))} | "
                f"{_sys(c)} |")
    out += ["", "faults: minor page faults (getrusage) of both processes over their whole "
            "loops, warm-up included, per message or round trip. futex: futex calls counted "
            "inside the shmlink core, both processes. syscalls (strace): every system call "
            "of both processes under `strace -f -c`, (calls of a 2N run − calls of an N run) "
            "÷ N, with the three most frequent; strace slows each call, so a waiting side "
            "sleeps more often than in the timed runs (N: a tenth of the stream count, the "
            "whole round-trip count). ¹ the 2N run made fewer calls than the N run: "
            "start-up and teardown vary more than the per-message count. – : not counted."]
    errs = [c for c in doc["cells"] if "error" in c]
    if errs:
        out += ["", "Errors:"]
        out += [f"- {labels[c['transport']]} {c['kind']} {size_text(c['size'])}: {c['error']}"
                for c in errs]
    return "\n".join(out) + "\n"


def _fmt(x):
    if x is None:
        return "–"
    return f"{x:.3g}" if x >= 0.001 or x == 0 else f"{x:.1e}"


def _sys(c):
    s = c.get("strace")
    if not s:
        return "–"
    if "error" in s:
        return "error"
    if s["per_msg"] < 0:
        return "≈ 0 ¹"
    top = ", ".join(f"{n} {v:.2g}" for n, v in s["top"])
    return f"{s['per_msg']:.3g} ({top})" if top else f"{s['per_msg']:.3g}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--quick", dest="mode", action="store_const", const="quick")
    mode.add_argument("--full", dest="mode", action="store_const", const="full")
    ap.add_argument("--reps", type=int, help="repetitions per cell (quick 1, full 5)")
    ap.add_argument("--sizes", help="comma-separated subset of " + ",".join(map(str, SIZES)))
    ap.add_argument("--kinds", default="stream,rtt", help="stream,rtt")
    ap.add_argument("--c-bin", default=os.path.join(ROOT, "build-bench", "cmake", "bench",
                                                    "bench_channel"))
    ap.add_argument("--rust-bin", default=os.path.join(ROOT, "build-bench", "native", "release",
                                                       "shmlink-native-bench"))
    ap.add_argument("--no-strace", action="store_true", help="skip the system-call counts")
    ap.add_argument("--out", default=os.path.join(BENCH, "results"))
    ap.add_argument("--name", help="result file stem (default: native-<mode>)")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per cell")
    ap.set_defaults(mode="quick")
    a = ap.parse_args(argv)

    sizes = SIZES if not a.sizes else [int(s) for s in a.sizes.split(",")]
    for s in sizes:
        if s not in SIZES:
            raise SystemExit(f"anchor.py: size {s} is not one of {SIZES}")
    kinds = a.kinds.split(",")
    for k in kinds:
        if k not in KINDS:
            raise SystemExit(f"anchor.py: unknown kind {k!r} (stream, rtt)")
    bins = {"c": a.c_bin, "rust": a.rust_bin}
    for prog, path in bins.items():
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            what = "bench/c/bench_channel (cmake)" if prog == "c" else "bench/native (cargo)"
            raise SystemExit(f"anchor.py: {path} is missing; build {what}, "
                             "or run scripts/bench.sh, which builds both")
    trace = not a.no_strace and shutil.which("strace") is not None
    reps = a.reps or REPS[a.mode]
    info = machine()
    cells = [(kind, size, tr) for size in sizes for kind in kinds for tr in TRANSPORTS]
    runs, errors = {}, {}
    t_start = time.monotonic()
    for rep in range(reps):
        for kind, size, tr in cells:
            key = (tr[0], kind, size)
            if key in errors:
                continue
            count = COUNTS[a.mode][size][0 if kind == "stream" else 1]
            t0 = time.monotonic()
            try:
                r = run_one(argv_of(tr, kind, size, count, bins), a.timeout)
                runs.setdefault(key, []).append(r)
                if kind == "stream":
                    status = f"{r['messages'] / (r['ns'] / 1e9):12,.0f} msg/s"
                else:
                    status = (f"p50 {r['p50_ns'] / 1e3:8.2f} p99 {r['p99_ns'] / 1e3:8.2f} "
                              f"p99.9 {r['p999_ns'] / 1e3:8.2f} us")
            except RuntimeError as exc:
                errors[key] = str(exc)
                status = f"ERROR {exc}"
            print(f"[rep {rep + 1}/{reps}] {tr[1]:48s} {kind:6s} {size_text(size):>6s} "
                  f"{status}  ({time.monotonic() - t0:.1f} s)", flush=True)

    straced = {}
    if trace:
        tmpdir = tempfile.mkdtemp(prefix="shmlink-anchor-")
        try:
            for kind, size, tr in cells:
                key = (tr[0], kind, size)
                if key in errors:
                    continue
                c = COUNTS[a.mode][size][0 if kind == "stream" else 1]
                n = max(20, c // STRACE_FRACTION if kind == "stream" else c)
                try:
                    one = strace_calls(argv_of(tr, kind, size, n, bins), a.timeout, tmpdir)
                    two = strace_calls(argv_of(tr, kind, size, 2 * n, bins), a.timeout, tmpdir)
                    # each run also moves a warm-up of a tenth of its count
                    moved = (2 * n + max(10, 2 * n // 10)) - (n + max(10, n // 10))
                    diff = {k: (two.get(k, 0) - one.get(k, 0)) / moved for k in two}
                    per = sum(two.values()) - sum(one.values())
                    top = sorted(diff.items(), key=lambda kv: -kv[1])[:3]
                    straced[key] = {"per_msg": per / moved, "n": n, "calls_n": sum(one.values()),
                                    "calls_2n": sum(two.values()),
                                    "top": [(k, v) for k, v in top if v > 0]}
                    print(f"[strace] {tr[1]:48s} {kind:6s} {size_text(size):>6s} "
                          f"{per / moved:.3g} system calls per message", flush=True)
                except RuntimeError as exc:
                    straced[key] = {"error": str(exc)}
                    print(f"[strace] {tr[1]} {kind} {size_text(size)}: ERROR {exc}", flush=True)
        finally:
            shutil.rmtree(tmpdir, ignore_errors=True)
    elif not a.no_strace:
        print("anchor.py: strace not found; system calls per message not counted "
              "(apt-get install strace)", file=sys.stderr)

    info["loadavg_end"] = os.getloadavg()
    info["seconds"] = round(time.monotonic() - t_start, 1)
    out_cells = []
    for kind, size, tr in cells:
        key = (tr[0], kind, size)
        c = {"transport": tr[0], "label": tr[1], "kind": kind, "size": size,
             "count": COUNTS[a.mode][size][0 if kind == "stream" else 1]}
        if key in errors:
            c["error"] = errors[key]
        elif key in runs:
            c.update(summarize(kind, runs[key]))
            c["runs"] = runs[key]
        if key in straced:
            c["strace"] = straced[key]
        out_cells.append(c)
    iox = next((r.get("iceoryx2") for k, v in runs.items() if k[0].startswith("iox2")
                for r in v), "0.10")
    doc = {"mode": a.mode, "reps": reps, "sizes": sizes, "counts": COUNTS[a.mode],
           "iceoryx2": iox, "machine": info, "pairs": PAIRS,
           "transports": [{"key": t[0], "label": t[1], "program": t[2], "wait": t[3]}
                          for t in TRANSPORTS],
           "method": __doc__, "cells": out_cells}
    os.makedirs(a.out, exist_ok=True)
    stem = a.name or f"native-{a.mode}"
    jp, mp = os.path.join(a.out, stem + ".json"), os.path.join(a.out, stem + ".md")
    with open(jp, "w") as f:
        json.dump(doc, f, indent=1, ensure_ascii=False)
        f.write("\n")
    md = markdown(doc)
    with open(mp, "w") as f:
        f.write(md)
    print()
    print(md)
    print("wrote " + ", ".join(os.path.relpath(p, ROOT) for p in (jp, mp)))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
