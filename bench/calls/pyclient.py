#!/usr/bin/env python3
"""Python client of the call benchmark, for the multiprocessing.connection
row that Python alone can speak in full (bench/calls/run.py starts it):

    python pyclient.py --addr SOCKET --size N --mode latency|throughput
                       [--callers 8] --warmup W --count C --out F

It calls the mpconn server of servers.py through
multiprocessing.connection.Client (send_bytes, then recv_bytes_into a
preallocated buffer) and checks every response like the Go client does: a
number unique to the call in the first and last 8 bytes of the request must
come back in the response, with the same length. latency: one caller, p50
and p99 of C timed calls after W; throughput: --callers threads (one
Connection each), W calls each, then all start together and make C calls
each. Writes JSON to F: {"ok": true, ...} or {"ok": false, "error": ...}.
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import sys
import threading
import time
from multiprocessing.connection import Client, Connection
from typing import Any, Optional

STAMP = struct.Struct("<Q")


def round_trip(conn: Connection, req: bytearray, resp: bytearray, call_id: int) -> None:
    STAMP.pack_into(req, 0, call_id)
    STAMP.pack_into(req, len(req) - 8, call_id)
    conn.send_bytes(req)
    n = conn.recv_bytes_into(resp)
    if n != len(req):
        raise RuntimeError(f"call {call_id:#x}: response of {n} bytes to a request of {len(req)}")
    a, b = STAMP.unpack_from(resp, 0)[0], STAMP.unpack_from(resp, n - 8)[0]
    if a != call_id or b != call_id:
        raise RuntimeError(f"call {call_id:#x}: response stamped {a:#x} / {b:#x}")


def latency(args: argparse.Namespace) -> dict[str, Any]:
    req, resp = bytearray(args.size), bytearray(args.size)
    with Client(args.addr, family="AF_UNIX") as conn:
        for i in range(args.warmup):
            round_trip(conn, req, resp, i)
        samples = []
        clock = time.perf_counter_ns
        for i in range(args.count):
            t0 = clock()
            round_trip(conn, req, resp, args.warmup + i)
            samples.append(clock() - t0)
    samples.sort()
    n = len(samples)
    return {"samples": n, "p50_ns": samples[n // 2], "p99_ns": samples[min(n - 1, n * 99 // 100)],
            "min_ns": samples[0], "max_ns": samples[-1]}


def throughput(args: argparse.Namespace) -> dict[str, Any]:
    conns = [Client(args.addr, family="AF_UNIX") for _ in range(args.callers)]
    warm = threading.Barrier(args.callers + 1)
    start = threading.Event()
    errors: list[Optional[BaseException]] = [None] * args.callers
    ends = [0] * args.callers

    def caller(i: int) -> None:
        req, resp = bytearray(args.size), bytearray(args.size)
        base = i << 40
        try:
            for k in range(args.warmup):
                round_trip(conns[i], req, resp, base | k)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors[i] = exc
        warm.wait()
        start.wait()
        try:
            if errors[i] is None:
                for k in range(args.count):
                    round_trip(conns[i], req, resp, base | (args.warmup + k))
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors[i] = exc
        ends[i] = time.perf_counter_ns()

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(args.callers)]
    try:
        for t in threads:
            t.start()
        warm.wait()
        t0 = time.perf_counter_ns()
        start.set()
        for t in threads:
            t.join()
    finally:
        for c in conns:
            c.close()
    bad = [f"caller {i}: {e}" for i, e in enumerate(errors) if e is not None]
    if bad:
        raise RuntimeError("; ".join(bad))
    return {"calls": args.count * args.callers, "callers": args.callers, "ns": max(ends) - t0}


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--addr", required=True)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--mode", choices=("latency", "throughput"), default="latency")
    ap.add_argument("--callers", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=1000)
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    if args.size < 16:
        ap.error(f"--size {args.size}: must be >= 16 (two 8-byte stamps)")
    if args.count < 1 or args.warmup < 0 or args.callers < 1:
        ap.error("need --count >= 1, --warmup >= 0, --callers >= 1")
    try:
        res = latency(args) if args.mode == "latency" else throughput(args)
        res["ok"] = True
        rc = 0
    except Exception as exc:  # noqa: BLE001 - the driver reads the error from the file
        res = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        rc = 1
    with open(args.out + ".tmp", "w") as f:
        json.dump(res, f)
    os.rename(args.out + ".tmp", args.out)
    if rc:
        print("pyclient.py:", res["error"], file=sys.stderr)
    return rc


if __name__ == "__main__":
    sys.exit(main())
