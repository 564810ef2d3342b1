#!/usr/bin/env python3
"""Python -> Python hot-path throughput of a shmlink channel (64 B messages).

The reader (this process) creates a channel; a writer in a separate process
opens it and sends COUNT messages as fast as it can, then closes. Measured:
messages per second on the reader between the first message and end of
stream, for recv(), recv_into(), recv_batch() and iteration.

Writers: "py" sends with ``w.send(msg)`` in a Python loop (what a Python
program costs per message); "c" sends the same message COUNT times from C
(``Writer._send_repeat``), so the writer is as cheap as it gets.

While streaming both ends finish together, so the streaming rate alone does
not say which side limits it. Each side is therefore also measured alone, in
one process with a ring of the same size: fill the ring, drain it, repeat,
timing only the side being measured ("writer alone" = C or Python writer
filling it, "reader alone" = the reader mode draining it). The side with the
lower solo rate is the bottleneck; streaming adds the cost of the two cores
passing cache lines back and forth.

Usage: python bench/python_hotpath.py [--count N] [--size 64] [--writer c|py|both]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time

import shmlink

WRITER = r"""
import sys, time, shmlink
addr, count, size, kind = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
for _ in range(500):
    try:
        w = shmlink.Writer.open(addr)
        break
    except FileNotFoundError:
        time.sleep(0.01)
msg = bytes(range(size % 256)) * (size // 256) + bytes(size % 256)
msg = msg[:size].ljust(size, b"x")
t0 = time.perf_counter()
if kind == "c":
    w._send_repeat(msg, count)
else:
    send = w.send
    for _ in range(count):
        send(msg)
dt = time.perf_counter() - t0
w.close()
print(f"{count / dt:.0f}")
"""


def run(mode: str, writer: str, count: int, size: int, capacity: int) -> tuple[float, float]:
    addr = f"posix:/shmlink-bench-hotpath-{os.getpid()}-{mode}-{writer}"
    r = shmlink.Reader.create(addr, capacity=capacity)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, addr, str(count), str(size), writer],
            stdout=subprocess.PIPE,
            text=True,
        )
        got = 0
        nbytes = 0
        first = r.recv(timeout=30)
        got, nbytes = 1, len(first)
        t0 = time.perf_counter()
        try:
            if mode == "recv":
                recv = r.recv
                while True:
                    nbytes += len(recv())
                    got += 1
            elif mode == "recv_into":
                buf = bytearray(r.max_message)
                recv_into = r.recv_into
                while True:
                    nbytes += recv_into(buf)
                    got += 1
            elif mode == "recv_batch":
                recv_batch = r.recv_batch
                while True:
                    batch = recv_batch(1024)
                    got += len(batch)
            elif mode == "iter":
                for _ in r:
                    got += 1
                raise EOFError
        except EOFError:
            pass
        dt = time.perf_counter() - t0
        out, _ = proc.communicate(timeout=60)
        if got != count:
            raise SystemExit(f"{mode}: got {got} messages, expected {count}")
        return (got - 1) / dt, float(out.strip())
    finally:
        r.close()
        shmlink.remove(addr)


def solo(mode: str, count: int, size: int, capacity: int) -> tuple[float, float, float]:
    """(reader alone for mode, C writer alone, Python writer alone) in msg/s.

    One process, one ring of the streaming size (so the data stays in cache
    as it does while streaming): fill the ring, drain it, repeat; only the
    side being measured is timed.
    """
    addr = f"posix:/shmlink-bench-hotpath-{os.getpid()}-solo"
    w = shmlink.Writer.create(addr, capacity=capacity)
    try:
        r = shmlink.Reader.open(addr)
        try:
            per_round = capacity // (8 + (size + 7) // 8 * 8) - 1
            msg = bytes(size)
            t_read = t_c = t_py = 0.0
            done = 0
            buf = bytearray(r.max_message)
            while done < count:
                n = min(per_round, count - done)
                t0 = time.perf_counter()
                w._send_repeat(msg, n)
                t_c += time.perf_counter() - t0
                t_read += drain(r, mode, n, buf)
                send = w.send
                t0 = time.perf_counter()
                for _ in range(n):
                    send(msg)
                t_py += time.perf_counter() - t0
                left = n  # untimed; a batch holds at most ~256 KiB
                while left:
                    left -= len(r.recv_batch(left))
                done += n
        finally:
            r.close()
    finally:
        w.close()
        shmlink.remove(addr)
    return count / t_read, count / t_c, count / t_py


def drain(r: shmlink.Reader, mode: str, n: int, buf: bytearray) -> float:
    """Seconds to take n messages that are in the ring already."""
    t0 = time.perf_counter()
    if mode == "recv":
        recv = r.recv
        for _ in range(n):
            recv()
    elif mode == "recv_into":
        recv_into = r.recv_into
        for _ in range(n):
            recv_into(buf)
    elif mode == "recv_batch":
        recv_batch = r.recv_batch
        got = 0
        while got < n:
            got += len(recv_batch(1024))
    else:
        it = iter(r)
        for _ in range(n):
            next(it)
    return time.perf_counter() - t0


def _terminated(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM like Ctrl-C: the finally blocks remove the segments


def main() -> None:
    signal.signal(signal.SIGTERM, _terminated)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=3_000_000)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--capacity", type=int, default=1 << 20)
    ap.add_argument("--writer", choices=["c", "py", "both"], default="both")
    ap.add_argument("--repeat", type=int, default=3, help="runs per row; the best is shown")
    args = ap.parse_args()
    writers = ["c", "py"] if args.writer == "both" else [args.writer]
    print(
        f"Python -> Python, {args.size} B messages, {args.count} per run, best of "
        f"{args.repeat}, ring {args.capacity} B, {os.cpu_count()} CPUs"
    )
    print("(M msg/s; streaming = reader rate with the writer running at the same time)")
    print(
        f"{'reader':<11} {'writer':<7} {'streaming':>10} {'reader alone':>13} "
        f"{'writer alone':>13}  slower alone"
    )
    for mode in ("recv", "recv_into", "recv_batch", "iter"):
        alone = [solo(mode, args.count, args.size, args.capacity) for _ in range(args.repeat)]
        r_alone = max(a[0] for a in alone)
        w_alone = {"c": max(a[1] for a in alone), "py": max(a[2] for a in alone)}
        for writer in writers:
            rr = max(
                run(mode, writer, args.count, args.size, args.capacity)[0]
                for _ in range(args.repeat)
            )
            neck = "writer" if w_alone[writer] < r_alone else "reader"
            print(
                f"{mode:<11} {writer:<7} {rr / 1e6:>10.2f} {r_alone / 1e6:>13.2f} "
                f"{w_alone[writer] / 1e6:>13.2f}  {neck}"
            )


if __name__ == "__main__":
    main()
