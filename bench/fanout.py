#!/usr/bin/env python3
"""Fan-out benchmark: one writer process, 4 reader processes, side by side.

    python bench/fanout.py --quick      # smoke check, well under a minute
    python bench/fanout.py --full       # the published figures
    python bench/fanout.py --report bench/results/fanout-full.json   # redraw only

(scripts/bench.sh runs it after bench/run.py, in the same mode.)

For 64 B and 64 KiB messages, in broadcast mode (every reader gets every
message) and in queue mode (each message goes to one reader), it measures:
  * shmlink C→C: bench/c/bench_channel --fanout --json, one run per
    repetition (recv per message; C picks its counts by time). The same run
    gives broadcast to 1 and 2 readers at 64 KiB and the 1:1 channel, for
    the "broadcast ×2 / 1:1" ratio;
  * shmlink Go→Py: the Go writer (bench/go fanout-writer, SendBatch of 256)
    creates the channel with 4 reader slots; 4 Python processes join with
    Reader.open and read with recv_batch(1024);
  * faster-fifo (queue): a Python writer, put_many; 4 consumers, get_many;
  * multiprocessing.Queue (queue): a Python writer, put; 4 consumers, get;
  * iceoryx2 (broadcast): a Python publisher, 4 subscribers (blocking
    back-pressure, nothing dropped; see bench/peers/fanout.py).
Each reader checks what it gets (broadcast: every message, in order; queue:
each message whole, and the driver checks that the readers together took
every message exactly once). The figure is messages delivered per second:
queue: all readers together (aggregate); broadcast: per reader (every
reader got that many). Both come from the readers' clocks: the measured
messages delivered from the first reader's first measured call to the last
reader's last one (broadcast: divided by the number of readers).

Repetitions are interleaved (rep 1 of every cell, then rep 2, ...); the
tables show the median and the min–max spread. Results:
bench/results/fanout-<mode>.json, fanout-<mode>.md and fanout-<mode>.png.
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from peers import fanout as fo  # noqa: E402

SIZES = [64, 65536]
MODES = ["broadcast", "queue"]
READERS = 4
COUNTS = {"quick": {64: 20_000, 65536: 1_000}, "full": {64: 400_000, 65536: 20_000}}
REPS = {"quick": 1, "full": 5}
C_SECONDS = {"quick": 0.1, "full": 0.5}
WARMUP_FRACTION = 10
GO_BATCH = 256  # messages per SendBatch

# (numerator key, mode, size, denominator key, target, text)
TARGETS = [
    ("shmlink_gopy", "queue", 64, "fasterfifo", 10,
     "queue, Go→4 Py recv_batch vs faster-fifo get_many, 64 B (aggregate)"),
    ("shmlink_gopy", "queue", 64, "mpqueue", 20,
     "queue, Go→4 Py recv_batch vs multiprocessing.Queue, 64 B (aggregate)"),
]


# --------------------------------------------------------------------------
# Rows
# --------------------------------------------------------------------------

class Row:
    key = label = note = ""
    modes = MODES

    def unavailable(self, mode, size):
        return None


class ShmGoPy(Row):
    key, label = "shmlink_gopy", "shmlink Go→4 Py recv_batch"
    note = (f"Go Writer.SendBatch({GO_BATCH}) into a channel created with Readers(4) and "
            "Broadcast()/Queue(), 4 MiB ring; 4 Python processes Reader.open + "
            "recv_batch(1024)")

    def __init__(self, go_bin):
        self.go_bin = go_bin

    def unavailable(self, mode, size):
        if not self.go_bin or not os.access(self.go_bin, os.X_OK):
            return f"Go benchmark program not built ({self.go_bin})"
        try:
            import shmlink  # noqa: F401
        except ImportError as exc:
            return f"shmlink Python package not installed ({exc})"
        return None

    def setup(self, mode, size, tag, ctx, paths):
        addr = f"posix:/shmlink-bench-fan-{tag}"
        writer = ["cmd", [self.go_bin, "fanout-writer", "-addr", addr, "-readers",
                          str(READERS), "-mode", mode, "-capacity", str(fo.CAPACITY),
                          "-size", str(size), "-batch", str(GO_BATCH),
                          "-ready", paths["ready"]]]
        readers = [fo.ShmFanReader(addr) for _ in range(READERS)]
        return writer, readers, {}, [lambda: _unlink_shm(addr)]


class FasterFifo(Row):
    key, label = "fasterfifo", "faster-fifo get_many"
    modes = ["queue"]
    note = ("one faster_fifo.Queue (4 MiB buffer); writer put_many (batches of up to 256 "
            "messages and 1 MiB), 4 consumers get_many(max_messages_to_get=1024); "
            "pickled bytes")

    def unavailable(self, mode, size):
        if mode not in self.modes:
            return "no broadcast: each message goes to one consumer"
        try:
            import faster_fifo  # noqa: F401
        except ImportError as exc:
            return f"faster-fifo not installed ({exc})"
        return None

    def setup(self, mode, size, tag, ctx, paths):
        import faster_fifo
        q = faster_fifo.Queue(max_size_bytes=max(fo.CAPACITY, 4 * size + 4096))
        batch = max(1, min(256, (1 << 20) // size))
        return (["py", fo.FFWriter(q, READERS), batch],
                [fo.FFReader(q) for _ in range(READERS)], {}, [q.close])


class MPQueue(Row):
    key, label = "mpqueue", "multiprocessing.Queue"
    modes = ["queue"]
    note = "one multiprocessing.Queue; writer put(bytes) per message, 4 consumers get()"

    def __init__(self, ctx):
        self.ctx = ctx

    def unavailable(self, mode, size):
        return None if mode in self.modes else "no broadcast: each message goes to one consumer"

    def setup(self, mode, size, tag, ctx, paths):
        q = self.ctx.Queue()
        return (["py", fo.MPQWriter(q, READERS), 256],
                [fo.MPQReader(q) for _ in range(READERS)], {}, [q.close])


class Iceoryx2(Row):
    key, label = "iceoryx2", "iceoryx2 (Python) 4 subscribers"
    modes = ["broadcast"]
    note = ("publish-subscribe service with max_subscribers(4), payload Slice[c_uint8]; "
            "enable_safe_overflow(False) + publisher BackpressureStrategy.RetryUntilDelivered "
            "(a full subscriber buffer makes send() wait, nothing is dropped; every send is "
            "checked to reach all 4 subscribers), subscriber buffer of about 4 MiB of payload; "
            "an event service whose Notifier wakes the 4 Listeners after each send; readers "
            "drain receive() and block in Listener.timed_wait when empty. Before the stream "
            "the publisher sends probe messages (skipped by the readers) until one reaches "
            "all 4 subscribers, since a subscriber connects only in its first receive()")

    def unavailable(self, mode, size):
        if mode not in self.modes:
            return "publish-subscribe: every subscriber gets every sample (no queue)"
        try:
            import iceoryx2 as iox2
        except Exception as exc:  # noqa: BLE001 - any failure means absent
            return f"iceoryx2 Python package not importable ({exc})"
        if not hasattr(iox2, "BackpressureStrategy"):
            return "iceoryx2 lacks BackpressureStrategy (written against the 0.10 API)"
        return None

    def setup(self, mode, size, tag, ctx, paths):
        from peers.transports import _iox2_cleanup, _iox2_config
        prefix = f"iox2_slfan_{tag}_"
        root = _iox2_config(prefix).global_cfg.root_path.to_string().rstrip("/")
        made = [p for p in (root, f"{root}/services", f"{root}/nodes")
                if not os.path.exists(p)]
        name = f"shmlink-bench-fan/{tag}"
        return (["py", fo.Iox2Fan(prefix, name, size, READERS, True), 256],
                [fo.Iox2Fan(prefix, name, size, READERS, False) for _ in range(READERS)],
                {"wait_done": True}, [_iox2_cleanup(prefix, root, made)])


def _unlink_shm(addr):
    try:
        os.unlink("/dev/shm/" + addr[len("posix:/"):])
    except FileNotFoundError:
        pass


# --------------------------------------------------------------------------
# One cell
# --------------------------------------------------------------------------

_counter = itertools.count()


def run_cell(row, mode, size, count, warmup, ctx, tmpdir, timeout):
    """Runs one measurement; returns its figures or raises."""
    tag = f"{os.getpid()}-{next(_counter)}"
    paths = {"ready": os.path.join(tmpdir, f"{tag}-ready")}
    writer, readers, wextra, cleanup = row.setup(mode, size, tag, ctx, paths)
    procs, outs = [], []
    try:
        wout = os.path.join(tmpdir, f"{tag}-w.json")
        if writer[0] == "cmd":
            errf = open(os.path.join(tmpdir, f"{tag}-w.stderr"), "w+")
            p = subprocess.Popen(writer[1] + ["-warmup", str(warmup), "-count", str(count),
                                              "-out", wout],
                                 stdin=subprocess.DEVNULL, stdout=errf, stderr=errf)
            p.errf = errf
        else:
            extra = {"ready": paths["ready"], "readers": len(readers), "batch": writer[2],
                     **wextra}
            p = ctx.Process(target=fo.worker_main, name=f"{row.key}-writer", daemon=True,
                            args=("writer", writer[1], mode, size, warmup, count, wout, extra))
            p.start()
        procs.append(("writer", p))
        outs.append(wout)
        for i, end in enumerate(readers):
            out = os.path.join(tmpdir, f"{tag}-r{i}.json")
            extra = {"ready": paths["ready"], "index": i,
                     "seq_file": os.path.join(tmpdir, f"{tag}-r{i}.npy")}
            p = ctx.Process(target=fo.worker_main, name=f"{row.key}-reader{i}", daemon=True,
                            args=("reader", end, mode, size, warmup, count, out, extra))
            p.start()
            procs.append((f"reader {i}", p))
            outs.append(out)
        _wait(procs, outs, timeout)
        results = [fo.load_result(o) for o in outs]
        return _figure(mode, size, warmup, count, results)
    finally:
        for _n, p in procs:
            if hasattr(p, "exitcode"):
                if p.is_alive():
                    p.kill()
                p.join(5)
            else:
                if p.poll() is None:
                    p.kill()
                p.wait(5)
                p.errf.close()
        for fn in cleanup:
            try:
                fn()
            except Exception:  # noqa: BLE001 - best effort, keep cleaning
                pass


def _wait(procs, outs, timeout):
    deadline = time.monotonic() + timeout
    failed = None
    while True:
        codes = [(n, p.exitcode if hasattr(p, "exitcode") else p.poll()) for n, p in procs]
        bad = [(n, c) for n, c in codes if c not in (None, 0)]
        if bad:
            failed = "{} exited with {}".format(*bad[0])
            break
        if all(c == 0 for _, c in codes):
            return
        if time.monotonic() > deadline:
            failed = f"timed out after {timeout} s"
            break
        time.sleep(0.005)
    details = []
    for (n, p), out in zip(procs, outs):
        if os.path.exists(out):
            r = fo.load_result(out)
            if not r.get("ok", True):
                details.append(f"{n}: {r.get('error')}")
        if hasattr(p, "errf"):
            p.errf.seek(0)
            txt = p.errf.read().strip()
            if txt:
                details.append(f"{n}: {txt[-500:]}")
    raise RuntimeError(failed + ("; " + " | ".join(details) if details else ""))


def _figure(mode, size, warmup, count, results):
    import numpy as np

    for r in results:
        if not r.get("ok"):
            raise RuntimeError(r.get("error"))
    rd = results[1:]
    total = warmup + count
    if mode == "queue":
        seqs = np.concatenate([np.load(r["seq_file"]) for r in rd])
        if seqs.size != total:
            raise RuntimeError(f"queue: the readers took {seqs.size} messages, "
                               f"{total} were sent")
        seqs.sort()
        bad = np.flatnonzero(seqs != np.arange(total, dtype=np.uint64))
        if bad.size:
            k = int(bad[0])
            raise RuntimeError(f"queue: message {k} was not taken exactly once "
                               f"(sorted position {k} holds {int(seqs[k])})")
    else:
        for i, r in enumerate(rd):
            if r["got"] != total:
                raise RuntimeError(f"broadcast: reader {i} got {r['got']} of {total}")
    timed = [r for r in rd if r["t_first"] is not None]
    t0 = min(r["t_first"] for r in timed)
    t1 = max(r["t_last"] for r in timed)
    delivered = sum(r["after_n"] + (r["first_n"] if r["t_first"] > t0 else 0) for r in timed)
    if t1 <= t0 or delivered == 0:
        raise RuntimeError("too few messages to time; raise the count")
    ns = t1 - t0
    rate = delivered / (ns / 1e9)
    if mode == "broadcast":
        rate /= len(rd)
    return {"msgs_per_s": rate, "bytes_per_s": rate * size, "ns": ns, "delivered": delivered,
            "readers": len(rd), "per_reader_taken": [r["got"] for r in rd],
            "calls": [r["calls"] for r in rd],
            "writer_ns": results[0].get("writer_ns")}


# --------------------------------------------------------------------------
# C rows: bench_channel --fanout --json
# --------------------------------------------------------------------------

def c_binary(build_dir):
    exe = os.path.join(build_dir, "bench", "bench_channel")
    return exe if os.access(exe, os.X_OK) else None


def run_c(binary, seconds, timeout):
    """One run of bench_channel --fanout --json --reps 1: its cells."""
    argv = [binary, "--fanout", "--json", "--reps", "1", str(seconds)]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited with {p.returncode}: "
                           + " | ".join(p.stderr.strip().splitlines()[-3:]))
    doc = json.loads(p.stdout)
    return [{"fanout": c["fanout"], "readers": c["readers"], "size": c["size"],
             "msgs_per_s": c["msgs_per_s"][0]} for c in doc["cells"]]


# --------------------------------------------------------------------------
# Aggregation and report
# --------------------------------------------------------------------------

def _median(xs):
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def _num(x):
    if x >= 1e6:
        return f"{x / 1e6:.2f} M"
    if x >= 1e3:
        return f"{x / 1e3:.1f} k"
    return f"{x:.0f}"


def size_text(n):
    return f"{n >> 10} KiB" if n >= 1024 else f"{n} B"


def _cell(doc, key, mode, size):
    for c in doc["cells"]:
        if (c["transport"], c["mode"], c["size"]) == (key, mode, size):
            return c
    return None


def _text(c):
    if c is None:
        return "–"
    if "error" in c:
        return "error"
    if "unavailable" in c:
        return "n/a"
    return _num(c["msgs_per_s"])


def c_ratios(doc):
    """broadcast ×1 and ×2 at 64 KiB over the 1:1 channel, per C run."""
    out = {}
    for readers in (1, 2):
        per = []
        for run in doc.get("c_runs", []):
            one = [c for c in run if c["fanout"] == "one" and c["size"] == 65536]
            bc = [c for c in run if c["fanout"] == "broadcast" and c["size"] == 65536
                  and c["readers"] == readers]
            if one and bc:
                per.append(bc[0]["msgs_per_s"] / one[0]["msgs_per_s"])
        if per:
            out[readers] = {"median": _median(per), "min": min(per), "max": max(per),
                            "runs": per}
    return out


def summary(doc):
    """The fan-out tables for the README (medians only)."""
    out = ["| transport (1 writer → 4 readers) | broadcast 64 B | broadcast 64 KiB "
           "| queue 64 B | queue 64 KiB |", "|---|---:|---:|---:|---:|"]
    for t in doc["transports"]:
        cells = [_text(_cell(doc, t["key"], m, s)) for m in MODES for s in SIZES]
        out.append(f"| {t['label']} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def targets(doc):
    out = ["| goal (throughput ratio) | measured | target | |", "|---|---:|---:|---|"]
    for num, mode, size, den, target, text in TARGETS:
        a, b = _cell(doc, num, mode, size), _cell(doc, den, mode, size)
        if a and b and "msgs_per_s" in a and "msgs_per_s" in b:
            r = a["msgs_per_s"] / b["msgs_per_s"]
            met = "met" if r >= target else "not met"
            out.append(f"| {text} | {r:.1f}× | ≥ {target}× | {met} |")
        else:
            out.append(f"| {text} | – | ≥ {target}× | not measured |")
    cr = c_ratios(doc)
    if 2 in cr:
        r = cr[2]
        out.append(f"| broadcast C→C, 2 readers vs the 1:1 channel, 64 KiB (per reader) | "
                   f"{r['median']:.2f}× | ≥ 0.6× | {'met' if r['median'] >= 0.6 else 'not met'} |")
    return "\n".join(out) + "\n"


def markdown(doc):
    m = doc["machine"]
    out = [f"Fan-out, mode **{doc['mode']}**: 1 writer process → {READERS} reader processes, "
           f"{doc['reps']} repetition(s) per cell (interleaved), median [min–max] messages/s. "
           "**queue**: messages taken by all readers together per second (aggregate); "
           "**broadcast**: messages each reader got per second (every reader got every "
           "message). Machine: "
           f"{m.get('cpu')}, {m.get('cores')} cores, Linux {m.get('kernel')}, Python "
           f"{m.get('python')}, {m.get('go') or 'no Go'}, load average "
           f"{m['loadavg_start'][0]:.2f} at start, {m['loadavg_end'][0]:.2f} at end.", ""]
    out.append("| mode | size | transport | msgs/s | spread | MB/s per reader |")
    out.append("|---|---:|---|---:|---:|---:|")
    for mode in MODES:
        for size in SIZES:
            for t in doc["transports"]:
                c = _cell(doc, t["key"], mode, size)
                if c is None or "unavailable" in c:
                    continue
                if "error" in c:
                    out.append(f"| {mode} | {size_text(size)} | {t['label']} | error | "
                               f"{c['error'][:120]} | |")
                    continue
                per = c["msgs_per_s"] / (READERS if mode == "queue" else 1)
                out.append(f"| {mode} | {size_text(size)} | {t['label']} | "
                           f"{_num(c['msgs_per_s'])} | {_num(c['min'])}–{_num(c['max'])} | "
                           f"{per * size / 1e6:,.1f} |")
    out += ["", "Targets:", "", targets(doc)]
    cr = c_ratios(doc)
    if cr:
        out.append("shmlink C→C broadcast at 64 KiB over the 1:1 channel (same C run, per "
                   "repetition): " + "; ".join(
                       f"{k} reader{'s' if k > 1 else ''} {v['median']:.2f}× "
                       f"[{v['min']:.2f}–{v['max']:.2f}]" for k, v in sorted(cr.items())))
        out.append("")
    out.append("Rows:")
    out.append("")
    for t in doc["transports"]:
        out.append(f"- **{t['label']}**: {t['note']}")
    na = sorted({(c["transport"], c["mode"], c["unavailable"]) for c in doc["cells"]
                 if "unavailable" in c})
    if na:
        out += ["", "Not measured:", ""]
        labels = {t["key"]: t["label"] for t in doc["transports"]}
        out += [f"- {labels[k]}, {mode}: {why}" for k, mode, why in na]
    return "\n".join(out) + "\n"


def chart(doc, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    for ax, mode in zip(axes, MODES):
        rows = [t for t in doc["transports"]
                if any("msgs_per_s" in (_cell(doc, t["key"], mode, s) or {}) for s in SIZES)]
        width = 0.8 / max(1, len(rows))
        for i, t in enumerate(rows):
            xs, ys, lo, hi = [], [], [], []
            for j, s in enumerate(SIZES):
                c = _cell(doc, t["key"], mode, s)
                if c and "msgs_per_s" in c:
                    xs.append(j + (i - (len(rows) - 1) / 2) * width)
                    ys.append(c["msgs_per_s"])
                    lo.append(c["msgs_per_s"] - c["min"])
                    hi.append(c["max"] - c["msgs_per_s"])
            ax.bar(xs, ys, width, yerr=[lo, hi], capsize=2, label=t["label"])
        ax.set_yscale("log")
        ax.set_xticks(range(len(SIZES)), [size_text(s) for s in SIZES])
        ax.set_title(f"{mode}: " + ("messages/s per reader" if mode == "broadcast"
                                    else "messages/s, all readers together"))
        ax.grid(axis="y", which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"1 writer → {READERS} readers (median of {doc['reps']}, bars: min–max)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_all(doc, outdir, stem):
    paths = []
    p = os.path.join(outdir, f"{stem}.json")
    with open(p, "w") as f:
        json.dump(doc, f, indent=1)
    paths.append(p)
    p = os.path.join(outdir, f"{stem}.md")
    with open(p, "w") as f:
        f.write(markdown(doc))
        f.write("\nREADME tables:\n\n" + summary(doc) + "\n" + targets(doc))
    paths.append(p)
    try:
        p = os.path.join(outdir, f"{stem}.png")
        chart(doc, p)
        paths.append(p)
    except ImportError as exc:
        print(f"fanout: no chart ({exc})", file=sys.stderr)
    return paths


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--quick", dest="mode", action="store_const", const="quick")
    mode.add_argument("--full", dest="mode", action="store_const", const="full")
    ap.add_argument("--reps", type=int, help="repetitions per cell (quick 1, full 5)")
    ap.add_argument("--sizes", help="comma-separated subset of 64,65536")
    ap.add_argument("--modes", default="broadcast,queue", help="broadcast,queue")
    ap.add_argument("--only", help="comma-separated row keys (shmlink_c, shmlink_gopy, "
                                   "fasterfifo, mpqueue, iceoryx2)")
    ap.add_argument("--go-bin", default=os.path.join(ROOT, "build-bench", "shmlink-bench-go"))
    ap.add_argument("--c-build", default=os.path.join(ROOT, "build-bench", "cmake"))
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--name", help="result file stem (default: fanout-<mode>)")
    ap.add_argument("--timeout", type=float, default=180.0, help="seconds per cell")
    ap.add_argument("--report", metavar="JSON", help="only redraw the tables and chart of "
                                                     "an earlier result file")
    ap.set_defaults(mode="quick")
    args = ap.parse_args(argv)
    if args.report:
        with open(args.report) as f:
            doc = json.load(f)
        stem = os.path.splitext(os.path.basename(args.report))[0]
        paths = write_all(doc, os.path.dirname(os.path.abspath(args.report)), stem)
        print(markdown(doc))
        print("wrote " + ", ".join(os.path.relpath(p, ROOT) for p in paths))
        return 0

    try:
        sizes = SIZES if not args.sizes else [int(s) for s in args.sizes.split(",")]
    except ValueError:
        raise SystemExit(f"fanout.py: --sizes wants numbers among {SIZES}, "
                         f"got {args.sizes!r}") from None
    for s in sizes:
        if s not in SIZES:
            raise SystemExit(f"fanout.py: size {s} is not one of {SIZES}")
    modes = args.modes.split(",")
    for m in modes:
        if m not in MODES:
            raise SystemExit(f"fanout.py: unknown mode {m!r} (broadcast, queue)")
    if args.reps is not None and args.reps < 1:
        raise SystemExit(f"fanout.py: --reps must be >= 1, got {args.reps}")
    reps = args.reps or REPS[args.mode]
    ctx = multiprocessing.get_context("spawn")
    rows = [ShmGoPy(args.go_bin), FasterFifo(), MPQueue(ctx), Iceoryx2()]
    keys = ["shmlink_c"] + [r.key for r in rows]
    only = set(args.only.split(",")) if args.only else set(keys)
    unknown = only - set(keys)
    if unknown:
        raise SystemExit(f"fanout.py: unknown row(s) {', '.join(sorted(unknown))}; "
                         f"known: {', '.join(keys)}")
    rows = [r for r in rows if r.key in only]
    cbin = c_binary(args.c_build) if "shmlink_c" in only else None

    sys.path.insert(0, HERE)
    import run as runmod
    info = runmod.machine_info()
    os.makedirs(args.out, exist_ok=True)
    stem = args.name or f"fanout-{args.mode}"
    runs, errors, unavailable, c_runs = {}, {}, {}, []
    cells = [(m, s, r) for s in sizes for m in modes for r in rows]
    tmpdir = tempfile.mkdtemp(prefix="shmlink-fanbench-")
    signal.signal(signal.SIGTERM, lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    t_start = time.monotonic()
    c_error = None
    try:
        for rep in range(reps):
            if "shmlink_c" in only:
                t0 = time.monotonic()
                if cbin is None:
                    c_error = f"C benchmark not built in {args.c_build}/bench"
                elif c_error is None:
                    try:
                        c_runs.append(run_c(cbin, C_SECONDS[args.mode], args.timeout))
                        status = ", ".join(f"{c['fanout']} x{c['readers']} {size_text(c['size'])} "
                                           f"{_num(c['msgs_per_s'])}" for c in c_runs[-1])
                    except (RuntimeError, OSError, ValueError,
                            subprocess.SubprocessError) as exc:
                        c_error = str(exc)
                print(f"[rep {rep + 1}/{reps}] shmlink C→C (bench_channel --fanout) "
                      f"{c_error or status}  ({time.monotonic() - t0:.1f} s)", flush=True)
            for mode_, size, row in cells:
                key = (row.key, mode_, size)
                why = row.unavailable(mode_, size)
                if why:
                    unavailable[key] = why
                    continue
                if key in errors:
                    continue
                count = COUNTS[args.mode][size]
                warmup = max(10, count // WARMUP_FRACTION)
                t0 = time.monotonic()
                try:
                    r = run_cell(row, mode_, size, count, warmup, ctx, tmpdir, args.timeout)
                    runs.setdefault(key, []).append(r)
                    status = f"{r['msgs_per_s']:12,.0f} msg/s"
                except KeyboardInterrupt:
                    raise
                except Exception as exc:  # noqa: BLE001 - recorded, the run goes on
                    errors[key] = str(exc)
                    status = f"ERROR {exc}"
                print(f"[rep {rep + 1}/{reps}] {row.label:34s} {mode_:9s} {size_text(size):>6s} "
                      f"{status}  ({time.monotonic() - t0:.1f} s)", flush=True)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    info["loadavg_end"] = os.getloadavg()
    info["seconds"] = round(time.monotonic() - t_start, 1)

    transports = []
    out_cells = []
    if "shmlink_c" in only:
        transports.append({"key": "shmlink_c", "label": "shmlink C→C recv",
                           "note": "bench/c/bench_channel --fanout --json (one run per "
                                   "repetition): C writer shmlink_channel_send, 4 forked C "
                                   "readers shmlink_channel_recv, 4 MiB ring, "
                                   f"{C_SECONDS[args.mode]} s per cell; queue readers' "
                                   "sequence numbers checked by count, sum and sum of squares"})
        for mode_ in modes:
            for size in sizes:
                c = {"transport": "shmlink_c", "mode": mode_, "size": size}
                vals = [x["msgs_per_s"] for run in c_runs for x in run
                        if x["fanout"] == mode_ and x["size"] == size and x["readers"] == READERS]
                if vals:
                    c.update(msgs_per_s=_median(vals), min=min(vals), max=max(vals), runs=vals)
                else:
                    c["error" if c_error else "unavailable"] = c_error or "not run"
                out_cells.append(c)
    for row in rows:
        transports.append({"key": row.key, "label": row.label, "note": row.note})
        for mode_ in modes:
            for size in sizes:
                key = (row.key, mode_, size)
                c = {"transport": row.key, "mode": mode_, "size": size,
                     "count": COUNTS[args.mode][size]}
                if key in errors:
                    c["error"] = errors[key]
                elif key in runs:
                    vals = [r["msgs_per_s"] for r in runs[key]]
                    c.update(msgs_per_s=_median(vals), min=min(vals), max=max(vals),
                             runs=runs[key])
                else:
                    c["unavailable"] = unavailable.get(key, "not run")
                out_cells.append(c)
    doc = {"mode": args.mode, "reps": reps, "readers": READERS, "sizes": sizes,
           "modes": modes, "counts": COUNTS[args.mode], "warmup_fraction": WARMUP_FRACTION,
           "machine": info, "transports": transports, "cells": out_cells, "c_runs": c_runs}
    paths = write_all(doc, args.out, stem)
    print()
    print(markdown(doc))
    print("wrote " + ", ".join(os.path.relpath(p, ROOT) for p in paths))
    return 1 if errors or c_error else 0


if __name__ == "__main__":
    sys.exit(main())
