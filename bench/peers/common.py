"""Worker loops shared by every transport.

Each measurement runs in two separate processes. An "end" object (see
transports.py) is pickled into each process and opened there; it exposes
``send(buf)`` and ``recv() -> bytes`` (and ``recv_batch(n)`` for batch
variants). The loops below are the same for every transport, so the per-
message Python overhead outside the transport is identical.

Payloads are touched on both sides: the writer stamps the message sequence
number into the first and the last 8 bytes of every message, the reader
checks both and fails loudly on a mismatch (a lost, duplicated, reordered or
torn message).
"""

from __future__ import annotations

import json
import os
import resource
import struct
import sys
import time
import traceback

U64 = struct.Struct("<Q")
FRAME = struct.Struct("<I")


def stamp(buf: bytearray, size: int, seq: int) -> None:
    U64.pack_into(buf, 0, seq)
    if size >= 16:
        U64.pack_into(buf, size - 8, seq)


def check(msg, size: int, seq: int) -> None:
    if len(msg) != size:
        raise AssertionError(f"message {seq}: length {len(msg)}, expected {size}")
    got = U64.unpack_from(msg, 0)[0]
    if got != seq:
        raise AssertionError(f"message {seq}: sequence number at start is {got}")
    if size >= 16:
        got = U64.unpack_from(msg, size - 8)[0]
        if got != seq:
            raise AssertionError(f"message {seq}: sequence number at end is {got}")


def percentile(sorted_values, q: float):
    """Nearest-rank percentile of an ascending list (q in 0..100, steps of 0.1)."""
    if not sorted_values:
        raise ValueError("no samples")
    per_mille = round(q * 10)  # integer arithmetic: 99.9 is exactly 999/1000
    k = max(0, min(len(sorted_values) - 1, -(-per_mille * len(sorted_values) // 1000) - 1))
    return sorted_values[k]


def _write_result(out: str, result: dict) -> None:
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f)
    os.replace(tmp, out)


# --------------------------------------------------------------------------
# Loops
# --------------------------------------------------------------------------

def stream_writer(end, size: int, warmup: int, count: int) -> dict:
    send = end.send
    buf = bytearray(size)
    for i in range(warmup + count):
        stamp(buf, size, i)
        send(buf)
    return {}


def stream_reader(end, size: int, warmup: int, count: int) -> dict:
    recv = end.recv
    for i in range(warmup):
        check(recv(), size, i)
    t0 = time.perf_counter_ns()
    for i in range(warmup, warmup + count):
        check(recv(), size, i)
    t1 = time.perf_counter_ns()
    return {"ns": t1 - t0, "messages": count, "bytes": count * size}


# Batch rows check every message too, but for small messages a Python call
# per message (check()) costs ~0.5 us and would measure the harness instead
# of the transport: up to this size the whole batch is checked at once
# (joined, then both stamps of every message compared with numpy).
VECTOR_CHECK_MAX = 1024


def check_batch(batch, size: int, seq: int) -> None:
    """Length and both sequence stamps of every message of a batch that
    starts at message seq, in a few vectorized operations."""
    import numpy as np

    n = len(batch)
    if min(map(len, batch)) != size or max(map(len, batch)) != size:
        raise AssertionError(f"messages {seq}..{seq + n - 1}: a length is not {size}")
    words = np.frombuffer(b"".join(batch), dtype="<u8").reshape(n, size // 8)
    expected = np.arange(seq, seq + n, dtype=np.uint64)
    for col, where in ((0, "start"), (-1, "end")):
        bad = np.flatnonzero(words[:, col] != expected)
        if bad.size:
            k = int(bad[0])
            raise AssertionError(
                f"message {seq + k}: sequence number at {where} is {int(words[k, col])}")


def stream_reader_batch(end, size: int, warmup: int, count: int) -> dict:
    recv_batch = end.recv_batch
    vector = size <= VECTOR_CHECK_MAX and size % 8 == 0
    total = warmup + count
    i = 0
    t0 = None
    calls = 0
    while i < total:
        # Never ask for more than what remains, so the measured window ends
        # exactly at the last message.
        batch = recv_batch(min(end.batch_max, total - i))
        if vector and (t0 is not None or i + len(batch) < warmup):
            check_batch(batch, size, i)
            i += len(batch)
        else:
            for msg in batch:
                check(msg, size, i)
                i += 1
                if i == warmup:
                    t0 = time.perf_counter_ns()
                    calls = 0
        calls += 1
    t1 = time.perf_counter_ns()
    if t0 is None:
        raise AssertionError("warm-up never completed")
    return {"ns": t1 - t0, "messages": count, "bytes": count * size,
            "calls": calls}


def ping(end, size: int, warmup: int, count: int) -> dict:
    send, recv = end.send, end.recv
    clock = time.perf_counter_ns
    buf = bytearray(size)
    samples = []
    append = samples.append
    for i in range(warmup + count):
        stamp(buf, size, i)
        t0 = clock()
        send(buf)
        msg = recv()
        t1 = clock()
        check(msg, size, i)
        if i >= warmup:
            append(t1 - t0)
    samples.sort()
    return {"p50_ns": percentile(samples, 50), "p99_ns": percentile(samples, 99),
            "p999_ns": percentile(samples, 99.9), "min_ns": samples[0], "max_ns": samples[-1],
            "mean_ns": sum(samples) / len(samples), "samples": len(samples)}


def pong(end, size: int, warmup: int, count: int) -> dict:
    send, recv = end.send, end.recv
    for i in range(warmup + count):
        msg = recv()
        check(msg, size, i)
        send(msg)
    return {}


LOOPS = {
    "stream_writer": stream_writer,
    "stream_reader": stream_reader,
    "stream_reader_batch": stream_reader_batch,
    "ping": ping,
    "pong": pong,
}


def worker_main(loop: str, end, size: int, warmup: int, count: int,
                out: str) -> None:
    """Entry point of a spawned worker process. Writes its result (or the
    error) as JSON to ``out`` and exits non-zero on failure."""
    try:
        end.open()
        try:
            f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            result = LOOPS[loop](end, size, warmup, count)
            # minor page faults of this process over its whole loop
            result["minflt"] = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0
        finally:
            end.close()
        result["ok"] = True
        _write_result(out, result)
    except BaseException as exc:  # noqa: BLE001 - reported to the driver
        _write_result(out, {"ok": False, "error": f"{type(exc).__name__}: {exc}",
                            "traceback": traceback.format_exc()})
        sys.stderr.write(traceback.format_exc())
        sys.stderr.flush()
        os._exit(1)
