#!/usr/bin/env python3
"""shmlink benchmark driver: shmlink beside its peers, measured in one run.

    python bench/run.py --quick        # smoke check, ~1-2 minutes
    python bench/run.py --full         # the published figures

(scripts/bench.sh sets up the environment and runs this.)

For every message size (8 B, 64 B, 1 KiB, 64 KiB, 1 MiB) and every
transport it measures, each time in a fresh pair of processes:
  * streaming throughput: a writer process sends WARMUP + N messages, the
    reader times the last N (messages/s and bytes/s);
  * round-trip latency: a pinger sends a message, the ponger sends it back;
    p50 and p99 over N round trips after WARMUP.
Both sides touch every payload (sequence number written at the start and end
by the sender, checked by the receiver). Counts depend on the size only, so
every transport moves the same messages. Each cell is repeated (--reps);
the table shows the median and the min-max spread. Repetitions are
interleaved (rep 1 of every cell, then rep 2, ...) so slow drifts in machine
load hit every transport alike.

Results: bench/results/<mode>.json (figures + machine), <mode>.csv,
<mode>.md (the tables, ready to paste) and throughput-<mode>.png.
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing
import os
import platform
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

from peers import common, transports  # noqa: E402
from peers.transports import Command, PyWorker  # noqa: E402

SIZES = [8, 64, 1024, 65536, 1 << 20]

# Per size: (stream messages, ping-pong round trips). The same for every
# transport. Quick mode is a smoke check; full mode is what gets published.
COUNTS = {
    "quick": {8: (20_000, 1_000), 64: (20_000, 1_000), 1024: (20_000, 1_000),
              65536: (2_000, 500), 1 << 20: (100, 100)},
    "full": {8: (400_000, 20_000), 64: (400_000, 20_000), 1024: (200_000, 20_000),
             65536: (20_000, 5_000), 1 << 20: (1_000, 1_000)},
}
REPS = {"quick": 1, "full": 5}
WARMUP_FRACTION = 10  # warm-up = count / 10 (at least 10 messages)

MQ_SYSCTL = "/proc/sys/fs/mqueue/msgsize_max"


# --------------------------------------------------------------------------
# Machine description
# --------------------------------------------------------------------------

def _cmd(argv):
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return None


def _pkg_version(name):
    from importlib import metadata
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def machine_info():
    cpu = None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mq = {}
    for k in ("msgsize_max", "msg_max"):
        try:
            with open(f"/proc/sys/fs/mqueue/{k}") as f:
                mq[k] = int(f.read())
        except OSError:
            pass
    import resource
    mq["rlimit_msgqueue"] = list(resource.getrlimit(resource.RLIMIT_MSGQUEUE))
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)),
        "kernel": platform.release(),
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "go": _cmd(["go", "version"]),
        "gcc": _cmd(["gcc", "--version"]),
        "packages": {n: _pkg_version(n) for n in
                     ("shmlink", "faster-fifo", "posix_ipc", "matplotlib", "iceoryx2")},
        "git_commit": _cmd(["git", "-C", ROOT, "rev-parse", "HEAD"]),
        "git_dirty": bool(_cmd(["git", "-C", ROOT, "status", "--porcelain", "--", "core", "bindings", "bench"])),
        "mqueue_limits_at_start": mq,
        "loadavg_start": os.getloadavg(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


# --------------------------------------------------------------------------
# POSIX message queue size limit (raised for the run, restored after)
# --------------------------------------------------------------------------

class MQLimit:
    def __init__(self, want):
        self.want, self.saved, self.note = want, None, None

    def __enter__(self):
        try:
            with open(MQ_SYSCTL) as f:
                cur = int(f.read())
        except OSError as exc:
            self.note = f"cannot read {MQ_SYSCTL}: {exc}"
            return self
        if cur >= self.want:
            return self
        try:
            with open(MQ_SYSCTL, "w") as f:
                f.write(str(self.want))
            self.saved = cur
            self.note = f"raised {MQ_SYSCTL} from {cur} to {self.want} for the run"
        except OSError as exc:
            self.note = f"could not raise {MQ_SYSCTL} ({exc}); larger messages are n/a"
        return self

    def __exit__(self, *exc):
        if self.saved is not None:
            with open(MQ_SYSCTL, "w") as f:
                f.write(str(self.saved))
            self.saved = None


# --------------------------------------------------------------------------
# One measurement
# --------------------------------------------------------------------------

_counter = itertools.count()


def _remove_address(addr):
    # The OS object itself, independent of the binding under test.
    if addr.startswith("posix:/"):
        try:
            os.unlink("/dev/shm/" + addr[len("posix:/"):])
        except FileNotFoundError:
            pass


def run_cell(tr, kind, size, count, warmup, ctx, tmpdir, timeout):
    """Runs one measurement; returns the measurer's result dict or raises."""
    tag = f"{os.getpid()}-{next(_counter)}"
    st = tr.setup(kind, size, tag)
    procs = []  # (name, handle)
    outs = []
    try:
        for i, w in enumerate(st.workers):
            out = os.path.join(tmpdir, f"{tag}-{i}.json")
            outs.append(out)
            if isinstance(w, PyWorker):
                p = ctx.Process(target=common.worker_main, name=f"{tr.key}-{w.loop}",
                                args=(w.loop, w.end, size, warmup, count, out), daemon=True)
                p.start()
                procs.append((w.loop, p))
            else:
                assert isinstance(w, Command)
                errf = open(os.path.join(tmpdir, f"{tag}-{i}.stderr"), "w+")
                p = subprocess.Popen(w.argv + ["-warmup", str(warmup), "-count", str(count),
                                               "-out", out],
                                     stdin=subprocess.DEVNULL, stdout=errf, stderr=errf,
                                     env={**os.environ, **w.env})
                p.errf = errf
                procs.append((os.path.basename(w.argv[0]), p))
        deadline = time.monotonic() + timeout
        failed = None
        while True:
            codes = [(n, p.exitcode if hasattr(p, "exitcode") else p.poll()) for n, p in procs]
            bad = [(n, c) for n, c in codes if c not in (None, 0)]
            if bad:
                failed = "worker {} exited with {}".format(*bad[0])
                break
            if all(c == 0 for _, c in codes):
                break
            if time.monotonic() > deadline:
                failed = f"timed out after {timeout} s"
                break
            time.sleep(0.005)
        if failed:
            details = []
            for (n, p), out in zip(procs, outs):
                if os.path.exists(out):
                    with open(out) as f:
                        r = json.load(f)
                    if not r.get("ok", True):
                        details.append(f"{n}: {r.get('error')}")
                if hasattr(p, "errf"):
                    p.errf.seek(0)
                    txt = p.errf.read().strip()
                    if txt:
                        details.append(f"{n}: {txt[-500:]}")
            raise RuntimeError(failed + ("; " + " | ".join(details) if details else ""))
        with open(outs[st.measurer]) as f:
            result = json.load(f)
        if not result.get("ok"):
            raise RuntimeError(result.get("error"))
        # Minor page faults per message: every worker's own count (its whole
        # loop, warm-up included), summed, when all of them report one.
        faults = []
        for out in outs:
            with open(out) as f:
                faults.append(json.load(f).get("minflt"))
        if "minflt_per_msg" not in result and faults and None not in faults:
            result["minflt_per_msg"] = sum(faults) / (warmup + count)
        return result
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
        for fn in st.cleanup:
            try:
                fn()
            except Exception:  # noqa: BLE001 - best effort, keep cleaning
                pass
        for a in st.addresses:
            _remove_address(a)


# --------------------------------------------------------------------------
# Aggregation
# --------------------------------------------------------------------------

def _median(xs):
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def summarize(kind, runs):
    if kind == "stream":
        rates = [r["messages"] / (r["ns"] / 1e9) for r in runs]
        bps = [r["bytes"] / (r["ns"] / 1e9) for r in runs]
        return _per_msg({"msgs_per_s": _median(rates), "msgs_per_s_min": min(rates),
                         "msgs_per_s_max": max(rates), "bytes_per_s": _median(bps),
                         "bytes_per_s_min": min(bps), "bytes_per_s_max": max(bps),
                         "reps": len(runs)}, runs)
    p50 = [r["p50_ns"] for r in runs]
    p99 = [r["p99_ns"] for r in runs]
    out = {"p50_ns": _median(p50), "p50_ns_min": min(p50), "p50_ns_max": max(p50),
           "p99_ns": _median(p99), "p99_ns_min": min(p99), "p99_ns_max": max(p99),
           "reps": len(runs)}
    p999 = [r["p999_ns"] for r in runs if r.get("p999_ns") is not None]
    if len(p999) == len(runs):
        out.update(p999_ns=_median(p999), p999_ns_min=min(p999), p999_ns_max=max(p999))
    return _per_msg(out, runs)


def _per_msg(out, runs):
    """Medians of the per-message counts the runs carry: minor page faults
    (both processes) and system calls (the C rows: futex calls counted in
    the core, both processes)."""
    for f in ("minflt_per_msg", "futex_calls_per_msg"):
        v = [r[f] for r in runs if r.get(f) is not None]
        if len(v) == len(runs):
            out[f] = _median(v)
    return out


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------

def build_transports(ctx, args):
    all_tr = [
        transports.ShmPy(), transports.ShmPy(batch=True),
        transports.ShmGoPy(args.go_bin), transports.ShmGoPy(args.go_bin, batch=True),
        transports.OsPipe(), transports.UnixSocket(), transports.MPQueue(ctx),
        transports.MPPipe(ctx), transports.FasterFifo(ctx),
        transports.FasterFifo(ctx, batch=True), transports.PosixMQ(),
        transports.Iceoryx2(),
    ]
    try:
        from peers import cbench
        all_tr = cbench.transports(args.c_build) + all_tr
    except ImportError:
        pass
    from peers import gogo
    all_tr += gogo.transports(args.go_bin)
    if args.only:
        keys = set(args.only.split(","))
        unknown = keys - {t.key for t in all_tr}
        if unknown:
            raise SystemExit(f"run.py: unknown transport(s) {', '.join(sorted(unknown))}; "
                             f"known: {', '.join(t.key for t in all_tr)}")
        all_tr = [t for t in all_tr if t.key in keys]
    return all_tr


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--quick", dest="mode", action="store_const", const="quick")
    mode.add_argument("--full", dest="mode", action="store_const", const="full")
    ap.add_argument("--reps", type=int, help="repetitions per cell (quick 1, full 5)")
    ap.add_argument("--sizes", help="comma-separated subset of " + ",".join(map(str, SIZES)))
    ap.add_argument("--only", help="comma-separated transport keys")
    ap.add_argument("--kinds", default="stream,latency", help="stream,latency")
    ap.add_argument("--go-bin", default=os.path.join(ROOT, "build-bench", "shmlink-bench-go"),
                    help="Go program of the Go→Python rows (built by scripts/bench.sh)")
    ap.add_argument("--c-build", default=os.path.join(ROOT, "build-bench", "cmake"),
                    help="CMake build tree holding the C benchmark (bench/c)")
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--name", help="result file stem (default: the mode)")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per cell")
    ap.set_defaults(mode="quick")
    args = ap.parse_args(argv)

    sizes = SIZES if not args.sizes else [int(s) for s in args.sizes.split(",")]
    for s in sizes:
        if s not in COUNTS[args.mode]:
            raise SystemExit(f"run.py: size {s} is not one of {SIZES}")
    kinds = args.kinds.split(",")
    for k in kinds:
        if k not in ("stream", "latency"):
            raise SystemExit(f"run.py: unknown kind {k!r} (stream, latency)")
    reps = args.reps or REPS[args.mode]
    ctx = multiprocessing.get_context("spawn")
    trs = build_transports(ctx, args)
    info = machine_info()
    os.makedirs(args.out, exist_ok=True)
    stem = args.name or args.mode

    runs, errors, unavailable = {}, {}, {}
    cells = [(kind, size, tr) for size in sizes for kind in kinds for tr in trs
             if kind == "stream" or tr.latency]
    t_start = time.monotonic()
    tmpdir = tempfile.mkdtemp(prefix="shmlink-bench-")
    mq = MQLimit(max(sizes) + 64)
    # SIGTERM behaves like Ctrl-C, so cleanup (finally blocks) runs.
    signal.signal(signal.SIGTERM, lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        with mq:
            for rep in range(reps):
                for kind, size, tr in cells:
                    key = (tr.key, kind, size)
                    why = tr.unavailable(kind, size)
                    if why:
                        unavailable[key] = why
                        continue
                    if key in errors:
                        continue
                    count = COUNTS[args.mode][size][0 if kind == "stream" else 1]
                    warmup = max(10, count // WARMUP_FRACTION)
                    t0 = time.monotonic()
                    try:
                        r = run_cell(tr, kind, size, count, warmup, ctx, tmpdir, args.timeout)
                        runs.setdefault(key, []).append(r)
                        status = _short(kind, r)
                    except KeyboardInterrupt:
                        raise
                    except Exception as exc:  # noqa: BLE001 - recorded, run goes on
                        errors[key] = str(exc)
                        status = f"ERROR {exc}"
                    print(f"[rep {rep + 1}/{reps}] {tr.label:28s} {kind:7s} {_size(size):>6s} "
                          f"{status}  ({time.monotonic() - t0:.1f} s)", flush=True)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    info["loadavg_end"] = os.getloadavg()
    info["seconds"] = round(time.monotonic() - t_start, 1)
    info["mqueue_note"] = mq.note

    cells_out = []
    for kind, size, tr in cells:
        key = (tr.key, kind, size)
        c = {"transport": tr.key, "label": tr.label, "group": tr.group, "kind": kind,
             "size": size, "count": COUNTS[args.mode][size][0 if kind == "stream" else 1]}
        if key in runs and key not in errors:
            c.update(summarize(kind, runs[key]))
            c["runs"] = runs[key]
            if getattr(tr, "own_counts", False):  # C rows: bench/c chose the counts
                own = sorted({r.get("messages", r.get("samples")) for r in runs[key]})
                c["count"] = own[0] if len(own) == 1 else own
        elif key in errors:
            c["error"] = errors[key]
        else:
            c["unavailable"] = unavailable.get(key, "not run")
        cells_out.append(c)
    doc = {"mode": args.mode, "reps": reps, "sizes": sizes, "counts": COUNTS[args.mode],
           "warmup_fraction": WARMUP_FRACTION, "machine": info,
           "transports": [{"key": t.key, "label": t.label, "group": t.group, "note": t.note}
                          for t in trs],
           "cells": cells_out}
    import report
    paths = report.write_all(doc, args.out, stem)
    print()
    print(report.markdown(doc))
    print("wrote " + ", ".join(os.path.relpath(p, ROOT) for p in paths))
    return 1 if errors else 0


def _size(n):
    return f"{n >> 20}MiB" if n >= 1 << 20 else f"{n >> 10}KiB" if n >= 1024 else f"{n}B"


def _short(kind, r):
    if kind == "stream":
        s = r["ns"] / 1e9
        return f"{r['messages'] / s:12,.0f} msg/s {r['bytes'] / s / 1e6:10,.1f} MB/s"
    p999 = f"  p99.9 {r['p999_ns'] / 1e3:8.1f} us" if r.get("p999_ns") is not None else ""
    return f"p50 {r['p50_ns'] / 1e3:8.1f} us  p99 {r['p99_ns'] / 1e3:8.1f} us{p999}"


if __name__ == "__main__":
    sys.exit(main())
