#!/usr/bin/env python3
"""Call benchmark: request/response calls, Go client -> Python echo server.

    python bench/calls/run.py --quick      # smoke check, ~2 minutes
    python bench/calls/run.py --full       # the published figures

(scripts/bench.sh --full runs it after the streaming benchmark, in .venv.)

For 64 B and 64 KiB requests (the response is the request, echoed) and
every transport it measures, each time with a fresh server process
(servers.py) and a fresh client process (go/, or pyclient.py for the
Python-only row):
  * latency: one caller, round trip p50 and p99 over N calls after a warm-up;
  * throughput: 8 concurrent callers (goroutines; threads for the Python
    client), calls per second over N calls each after a warm-up each.
Every response is checked (a number unique to the call in the first and
last 8 bytes comes back, length equal). Each cell is repeated (--reps) and
repetitions are interleaved (rep 1 of every cell, then rep 2, ...); the
tables show the median and the min-max spread.

shmlink cells need calls in both bindings (shmlink.Server in Python,
shmlink.Dial in Go); while either is missing they are reported as not
measured, with the reason, and the other transports run as usual.

Results: bench/results/calls-<mode>.json (every repetition, the machine),
calls-<mode>.csv and calls-<mode>.md (tables, targets, notes).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.dirname(HERE)
ROOT = os.path.dirname(BENCH)
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import report  # noqa: E402  (bench/calls/report.py)

SIZES = [64, 65536]
KINDS = ["latency", "throughput"]
CALLERS = 8
# Per size: (latency calls, throughput calls per caller).
COUNTS = {
    "quick": {64: (2_000, 250), 65536: (500, 60)},
    "full": {64: (10_000, 2_000), 65536: (3_000, 500)},
}
REPS = {"quick": 1, "full": 5}
WARMUP_FRACTION = 10  # warm-up = count / 10 (at least 10 calls)
READY_TIMEOUT_S = 30.0


@dataclass
class Transport:
    key: str
    label: str
    server: str            # servers.py KIND
    client: str            # Go -transport, or "py" for pyclient.py
    note: str

    @property
    def shm(self) -> bool:
        return self.server == "shmlink"


TRANSPORTS = [
    Transport("shmlink", "shmlink calls", "shmlink", "shmlink",
              "Python shmlink.Server.create(addr, capacity=1 MiB, clients=8).serve(echo); "
              "Go shmlink.Dial(addr), one client shared by the goroutines, Client.Call "
              "into a preallocated response buffer."),
    Transport("grpc", "gRPC, grpcio server (thread pool)", "grpc", "grpc",
              "grpcio synchronous server, ThreadPoolExecutor(8), bound to unix:PATH; "
              "grpc-go client (one ClientConn for all goroutines). Raw bytes both ways: "
              "a pass-through codec in grpc-go (ForceCodec) and a generic handler with no "
              "(de)serializer in grpcio, so gRPC pays no protobuf cost here (favours gRPC)."),
    Transport("grpc_aio", "gRPC, grpc.aio server", "grpc-aio", "grpc",
              "as above, on grpcio's asyncio server (grpc.aio.server())."),
    Transport("unix", "Unix socket, asyncio server", "asyncio", "unix",
              "asyncio.start_unix_server, 4-byte length + payload, readexactly and one "
              "write per response; the Go client opens one connection per caller "
              "(8 connections for 8 callers: what a user writes without a multiplexing "
              "protocol), one write per request."),
    Transport("unix_uvloop", "Unix socket, asyncio server on uvloop", "uvloop", "unix",
              "the same server on uvloop's event loop (uvloop.run)."),
    Transport("mpconn", "multiprocessing.connection server, Go client", "mpconn", "mpconn",
              "multiprocessing.connection.Listener (AF_UNIX, no authkey, backlog 64), a "
              "thread per Connection doing recv_bytes/send_bytes; the Go client speaks its "
              "framing (4-byte big-endian length + payload), one connection per caller."),
    Transport("mpconn_py", "multiprocessing.connection Py→Py", "mpconn", "py",
              "the same server, called from Python with multiprocessing.connection.Client "
              "(send_bytes, recv_bytes_into); 8 callers are 8 threads, one Connection "
              "each. Python client, so not comparable with the Go-client rows as such."),
]


# --------------------------------------------------------------------------
# Build and availability
# --------------------------------------------------------------------------

def _run(argv: list[str], **kw: Any) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, **kw)


def build_go(out: str) -> tuple[Optional[str], Optional[str]]:
    """Builds the Go client into out; with -tags shmlinkcalls when the Python
    package has shmlink.Server. Returns (why shmlink cells are not measured,
    why no Go cell is measured) - None when they can be."""
    gomod = os.path.join(HERE, "go")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    shm_why = _shmlink_python_missing()
    if shm_why is None:
        r = _run(["go", "build", "-tags", "shmlinkcalls", "-o", out, "."], cwd=gomod)
        if r.returncode == 0:
            return None, None
        shm_why = ("the Go client does not build with -tags shmlinkcalls (shmlink.Dial / "
                   "Client.Call): " + " ".join(r.stderr.split())[:300])
    r = _run(["go", "build", "-o", out, "."], cwd=gomod)
    if r.returncode != 0:
        return shm_why, "the Go client did not build: " + " ".join(r.stderr.split())[:300]
    return shm_why, None


def _shmlink_python_missing() -> Optional[str]:
    try:
        import shmlink
    except ImportError as exc:
        return f"the shmlink Python package does not import ({exc})"
    if not hasattr(shmlink, "Server"):
        return "calls are not served yet: the shmlink Python package has no shmlink.Server"
    return None


# --------------------------------------------------------------------------
# One measurement
# --------------------------------------------------------------------------

_counter = itertools.count()


def _remove_shm(name: str) -> None:
    """Removes the POSIX segments of one shmlink cell: the name this run
    chose and what the server derived from it (name.*)."""
    try:
        entries = os.listdir("/dev/shm")
    except OSError:
        return
    for e in entries:
        if e == name or e.startswith(name + "."):
            try:
                os.unlink(os.path.join("/dev/shm", e))
            except FileNotFoundError:
                pass


def _stop(p: subprocess.Popen) -> None:
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)


def _tail(path: str) -> str:
    try:
        with open(path) as f:
            return " ".join(f.read().split())[-400:]
    except OSError:
        return ""


def run_cell(tr: Transport, kind: str, size: int, count: int, warmup: int,
             go_bin: str, tmpdir: str, timeout: float) -> dict:
    tag = f"{os.getpid()}-{next(_counter)}"
    shm_name = f"shmlink-calls-{tag}"
    addr = f"posix:/{shm_name}" if tr.shm else os.path.join(tmpdir, f"{tag}.sock")
    ready = os.path.join(tmpdir, f"{tag}.ready")
    out = os.path.join(tmpdir, f"{tag}.json")
    srv_log = os.path.join(tmpdir, f"{tag}.server.log")
    cli_log = os.path.join(tmpdir, f"{tag}.client.log")
    server = client = None
    try:
        with open(srv_log, "w") as log:
            server = subprocess.Popen(
                [sys.executable, os.path.join(HERE, "servers.py"), tr.server, addr, ready,
                 "--threads", str(CALLERS)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not os.path.exists(ready):
            if server.poll() is not None:
                raise RuntimeError(f"server exited with {server.returncode}: {_tail(srv_log)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"server not ready after {READY_TIMEOUT_S:.0f} s")
            time.sleep(0.01)
        if tr.client == "py":
            argv = [sys.executable, os.path.join(HERE, "pyclient.py"), "--addr", addr,
                    "--size", str(size), "--mode", kind, "--callers", str(CALLERS),
                    "--warmup", str(warmup), "--count", str(count), "--out", out]
        else:
            argv = [go_bin, "-transport", tr.client, "-addr", addr, "-size", str(size),
                    "-mode", kind, "-callers", str(CALLERS), "-warmup", str(warmup),
                    "-count", str(count), "-out", out]
        with open(cli_log, "w") as log:
            client = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        try:
            client.wait(timeout)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"client timed out after {timeout:.0f} s") from None
        if server.poll() is not None:
            raise RuntimeError(f"server exited with {server.returncode} during the "
                               f"measurement: {_tail(srv_log)}")
        if not os.path.exists(out):
            raise RuntimeError(f"client exited with {client.returncode} and no result: "
                               f"{_tail(cli_log)}")
        with open(out) as f:
            res = json.load(f)
        if not res.get("ok"):
            raise RuntimeError(str(res.get("error")))
        return res
    finally:
        if client is not None and client.poll() is None:
            client.kill()
            client.wait(5)
        if server is not None:
            _stop(server)
        if tr.shm:
            _remove_shm(shm_name)


# --------------------------------------------------------------------------
# Aggregation
# --------------------------------------------------------------------------

def _median(xs: list) -> float:
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def summarize(kind: str, runs: list[dict]) -> dict:
    if kind == "throughput":
        rates = [r["calls"] / (r["ns"] / 1e9) for r in runs]
        return {"calls_per_s": _median(rates), "calls_per_s_min": min(rates),
                "calls_per_s_max": max(rates), "reps": len(runs)}
    p50 = [r["p50_ns"] for r in runs]
    p99 = [r["p99_ns"] for r in runs]
    return {"p50_ns": _median(p50), "p50_ns_min": min(p50), "p50_ns_max": max(p50),
            "p99_ns": _median(p99), "p99_ns_min": min(p99), "p99_ns_max": max(p99),
            "reps": len(runs)}


def machine_info() -> dict:
    import platform
    from importlib import metadata

    def cmd(argv: list[str]) -> Optional[str]:
        try:
            r = _run(argv, timeout=30)
            return (r.stdout or r.stderr).strip().splitlines()[0]
        except (OSError, subprocess.SubprocessError, IndexError):
            return None

    def version(name: str) -> Optional[str]:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    cpu = None
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f
                        if ln.startswith("model name")), None)
    except OSError:
        pass
    gomod = os.path.join(HERE, "go")
    return {
        "cpu": cpu, "cores": os.cpu_count(), "affinity": len(os.sched_getaffinity(0)),
        "kernel": platform.release(), "python": sys.version.split()[0],
        "go": cmd(["go", "version"]),
        "grpc_go": cmd(["go", "list", "-C", gomod, "-m", "-f", "{{.Version}}",
                        "google.golang.org/grpc"]),
        "packages": {n: version(n) for n in ("shmlink", "grpcio")},
        "git_commit": cmd(["git", "-C", ROOT, "rev-parse", "HEAD"]),
        "git_dirty": bool(cmd(["git", "-C", ROOT, "status", "--porcelain", "--",
                               "core", "bindings", "bench"])),
        "loadavg_start": os.getloadavg(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------

def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--quick", dest="mode", action="store_const", const="quick")
    mode.add_argument("--full", dest="mode", action="store_const", const="full")
    ap.add_argument("--reps", type=int, help="repetitions per cell (quick 1, full 5)")
    ap.add_argument("--sizes", help="comma-separated subset of " + ",".join(map(str, SIZES)))
    ap.add_argument("--kinds", default=",".join(KINDS), help="latency,throughput")
    ap.add_argument("--only", help="comma-separated transport keys: " +
                    ",".join(t.key for t in TRANSPORTS))
    ap.add_argument("--go-bin", default=os.path.join(ROOT, "build-bench", "callbench-go"),
                    help="where the Go client is built")
    ap.add_argument("--out", default=os.path.join(BENCH, "results"))
    ap.add_argument("--name", help="result file stem (default: calls-<mode>)")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per cell")
    ap.set_defaults(mode="quick")
    args = ap.parse_args(argv)

    sizes = SIZES if not args.sizes else [int(s) for s in args.sizes.split(",")]
    bad = [s for s in sizes if s not in SIZES]
    if bad:
        ap.error(f"--sizes: {bad} not among {SIZES}")
    kinds = args.kinds.split(",")
    if any(k not in KINDS for k in kinds):
        ap.error(f"--kinds {args.kinds!r}: each must be one of {KINDS}")
    trs = TRANSPORTS
    if args.only:
        keys = args.only.split(",")
        unknown = set(keys) - {t.key for t in TRANSPORTS}
        if unknown:
            ap.error(f"--only: unknown transport(s) {', '.join(sorted(unknown))}; known: "
                     f"{', '.join(t.key for t in TRANSPORTS)}")
        trs = [t for t in TRANSPORTS if t.key in keys]
    reps = args.reps or REPS[args.mode]
    if reps < 1:
        ap.error("--reps must be >= 1")

    # Built in the Go module's directory, run from here: one absolute path.
    args.go_bin = os.path.abspath(args.go_bin)
    shm_why, go_why = build_go(args.go_bin)
    if shm_why:
        print(f"calls: shmlink cells skipped: {shm_why}", file=sys.stderr)
    if go_why:
        print(f"calls: Go-client cells skipped: {go_why}", file=sys.stderr)
    try:
        import grpc  # noqa: F401
        grpc_why = None
    except ImportError:
        grpc_why = "grpcio is not installed (pip install -r bench/requirements-optional.txt)"

    try:
        import uvloop  # noqa: F401
        uvloop_why = None
    except ImportError:
        uvloop_why = "uvloop is not installed (pip install -r bench/requirements-optional.txt)"

    def unavailable(tr: Transport) -> Optional[str]:
        if tr.shm and shm_why:
            return shm_why
        if tr.client != "py" and go_why:
            return go_why
        if tr.server.startswith("grpc"):
            return grpc_why
        if tr.server == "uvloop":
            return uvloop_why
        return None

    info = machine_info()
    cells = [(kind, size, tr) for size in sizes for kind in kinds for tr in trs]
    runs: dict = {}
    errors: dict = {}
    t_start = time.monotonic()
    tmpdir = tempfile.mkdtemp(prefix=f"shmlink-calls-{os.getpid()}-")
    signal.signal(signal.SIGTERM, lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        for rep in range(reps):
            for kind, size, tr in cells:
                key = (tr.key, kind, size)
                if unavailable(tr) or key in errors:
                    continue
                count = COUNTS[args.mode][size][0 if kind == "latency" else 1]
                warmup = max(10, count // WARMUP_FRACTION)
                t0 = time.monotonic()
                try:
                    r = run_cell(tr, kind, size, count, warmup, args.go_bin, tmpdir,
                                 args.timeout)
                    runs.setdefault(key, []).append(r)
                    status = _short(kind, r)
                except KeyboardInterrupt:
                    raise
                except Exception as exc:  # noqa: BLE001 - recorded, the run goes on
                    errors[key] = str(exc)
                    status = f"ERROR {exc}"
                print(f"[rep {rep + 1}/{reps}] {tr.label:46s} {kind:10s} "
                      f"{report.size_text(size):>6s} {status}  "
                      f"({time.monotonic() - t0:.1f} s)", flush=True)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    info["loadavg_end"] = os.getloadavg()
    info["seconds"] = round(time.monotonic() - t_start, 1)

    cells_out = []
    for kind, size, tr in cells:
        key = (tr.key, kind, size)
        count = COUNTS[args.mode][size][0 if kind == "latency" else 1]
        c: dict = {"transport": tr.key, "label": tr.label, "kind": kind, "size": size,
                   "count": count, "callers": 1 if kind == "latency" else CALLERS}
        if key in errors:
            c["error"] = errors[key]
        elif key in runs:
            c.update(summarize(kind, runs[key]))
            c["runs"] = runs[key]
        else:
            c["unavailable"] = unavailable(tr) or "not run"
        cells_out.append(c)
    doc = {"mode": args.mode, "reps": reps, "sizes": sizes, "callers": CALLERS,
           "counts": {str(k): v for k, v in COUNTS[args.mode].items()},
           "warmup_fraction": WARMUP_FRACTION, "machine": info,
           "transports": [{"key": t.key, "label": t.label, "note": t.note} for t in trs],
           "cells": cells_out}
    paths = report.write_all(doc, args.out, args.name or f"calls-{args.mode}")
    print()
    print(report.markdown(doc))
    print("wrote " + ", ".join(os.path.relpath(p, ROOT) for p in paths))
    return 1 if errors else 0


def _short(kind: str, r: dict) -> str:
    if kind == "throughput":
        return f"{r['calls'] / (r['ns'] / 1e9):12,.0f} calls/s ({r['callers']} callers)"
    return f"p50 {r['p50_ns'] / 1e3:8.1f} us  p99 {r['p99_ns'] / 1e3:8.1f} us"


if __name__ == "__main__":
    sys.exit(main())
