"""Typed-frame latency, Go writer -> Python reader: 64 B against 4 MiB.

The Go side is tests/cross/goframes in -mode pingpong: each frame (uint64,
one dimension) is filled in place (ReserveFrameOf), the reader is told a
frame is coming (a one-byte message on a second channel), the writer stamps
CLOCK_MONOTONIC into element 1 and calls CommitFrame. The Python reader
waits for that notice, then ``peek_frame`` -> a read-only numpy array in the
ring; it reads elements 0, 1 and the last (the sequence number, the stamp,
the sequence number again: the first and the last page of the frame),
takes the time, releases the frame and acknowledges it on a third channel,
and only then does the writer start the next frame. A frame's latency is
commit -> the reader holding the checked array; both sides are awake, so it
is the hand-off alone, which zero copy makes independent of the size.

Sizes are interleaved within each repetition (each a fresh Go process and
fresh channels, after a warm-up); the figures are the median over the
repetitions of each repetition's median, with the spread of those medians,
and the ratio of the 4 MiB median to the 64 B median.

    python bench/frames.py [--reps 5] [--count 2000] [--go-bin PATH] [--out PREFIX]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import shmlink

ROOT = Path(__file__).resolve().parents[1]
SIZES = (64, 4 << 20)


def one_run(go_bin: str, size: int, count: int, warmup: int, backend: str, tag: str) -> list[int]:
    """Latencies (ns) of `count` frames of `size` bytes after `warmup`."""
    base = f"shmlink-bench-frames-{os.getpid()}-{tag}"
    if backend == "posix":
        addrs = [f"posix:/{base}-{x}" for x in ("f", "a", "c")]
    else:
        k = (0x46 << 24) | ((os.getpid() & 0xFFFF) << 8) | (int(tag) & 0x3F) << 2
        addrs = [f"sysv:{k + i:#x}" for i in range(3)]
    frames = ack = ctl = None
    proc = None
    made: list[str] = []
    try:
        frames = shmlink.Reader.create(addrs[0], capacity=max(1 << 16, 4 * size))
        made.append(addrs[0])
        ack = shmlink.Writer.create(addrs[1], capacity=4096)
        made.append(addrs[1])
        ctl = shmlink.Reader.create(addrs[2], capacity=4096)
        made.append(addrs[2])
        proc = subprocess.Popen(
            [go_bin, "-mode", "pingpong", "-addr", addrs[0], "-ack", addrs[1], "-ctl", addrs[2]]
            + ["-size", str(size), "-count", str(count), "-warmup", str(warmup)],
            stdout=subprocess.PIPE,
            text=True,
        )
        out: list[int] = []
        for seq in range(warmup + count):
            ctl.recv(timeout=30)
            with frames.peek_frame(timeout=30) as a:
                first, stamp, last = int(a[0]), int(a[1]), int(a[-1])
                now = time.monotonic_ns()
            if first != seq or last != seq:
                raise AssertionError(f"frame {seq}: sequence numbers {first}, {last}")
            if seq >= warmup:
                out.append(now - stamp)
            ack.send(b"k")
        res = json.loads(proc.communicate(timeout=60)[0].strip().splitlines()[-1])
        if proc.returncode != 0 or not res.get("ok"):
            raise RuntimeError(f"goframes failed ({proc.returncode}): {res}")
        return out
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        for end in (frames, ack, ctl):
            if end is not None:
                end.close()
        for a in made:
            shmlink.remove(a)


def fmt_us(ns: float) -> str:
    return f"{ns / 1000:.1f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--count", type=int, default=2000, help="measured frames per run")
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--backend", choices=("posix", "sysv"), default="posix")
    ap.add_argument("--go-bin", help="goframes built beforehand (else built into a temp dir)")
    ap.add_argument("--out", help="write PREFIX.json and PREFIX.md")
    args = ap.parse_args()
    go_bin = args.go_bin
    if not go_bin:
        go_bin = f"/tmp/shmlink-goframes-{os.getpid()}"
        subprocess.run(
            ["go", "build", "-o", go_bin, "./tests/cross/goframes"], cwd=ROOT, check=True
        )
    runs: dict[int, list[dict[str, float]]] = {s: [] for s in SIZES}
    tag = 0
    for rep in range(args.reps):
        order = SIZES if rep % 2 == 0 else SIZES[::-1]  # interleaved, alternating
        for size in order:
            tag += 1
            lat = one_run(go_bin, size, args.count, args.warmup, args.backend, str(tag))
            q = statistics.quantiles(lat, n=100)
            runs[size].append({"p50": statistics.median(lat), "p10": q[9], "p90": q[89]})
            print(
                f"rep {rep + 1} size {size}: p50 {fmt_us(runs[size][-1]['p50'])} us "
                f"(p10 {fmt_us(q[9])}, p90 {fmt_us(q[89])})",
                file=sys.stderr,
            )
    med = {s: statistics.median(r["p50"] for r in runs[s]) for s in SIZES}
    ratios = [b["p50"] / a["p50"] for a, b in zip(runs[SIZES[0]], runs[SIZES[1]])]
    ratio = med[SIZES[1]] / med[SIZES[0]]
    result = {
        "what": "Go -> Python typed frame one-way latency (commit -> checked array), ns",
        "backend": args.backend,
        "reps": args.reps,
        "count": args.count,
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus, Linux {platform.release()}",
        "loadavg": os.getloadavg(),
        "runs": {str(s): runs[s] for s in SIZES},
        "median_p50_ns": {str(s): med[s] for s in SIZES},
        "ratio_4mib_over_64b": ratio,
        "ratio_per_rep": ratios,
    }
    lines = [
        "| frame | p50 latency, µs (median of reps) | spread of rep p50s | p90 (median) |",
        "|---|---:|---:|---:|",
    ]
    for s in SIZES:
        p50s = [r["p50"] for r in runs[s]]
        p90 = statistics.median(r["p90"] for r in runs[s])
        name = "64 B" if s == 64 else f"{s >> 20} MiB"
        lines.append(
            f"| {name} | {fmt_us(med[s])} | {fmt_us(min(p50s))}–{fmt_us(max(p50s))} | "
            f"{fmt_us(p90)} |"
        )
    lines.append("")
    lines.append(
        f"4 MiB / 64 B: {ratio:.2f}× (per repetition {min(ratios):.2f}–{max(ratios):.2f}×; "
        f"{args.reps} repetitions of {args.count} frames, {args.backend}, load average "
        f"{os.getloadavg()[0]:.1f})"
    )
    print("\n".join(lines))
    if args.out:
        Path(args.out + ".json").write_text(json.dumps(result, indent=2) + "\n")
        Path(args.out + ".md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
