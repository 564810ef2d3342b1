"""Python end of the cross-language suite: writes a checkable message stream.

Prints JSON lines on stdout: {"event": "ready", ...} once the channel is open
(with --ready), {"event": "hang", "count": N} with --hang-after N (then holds
a half-written reservation until killed), and always a final
{"event": "result", ...}. Exit status: 0 when the run ended as --expect-end
says, 1 otherwise, 2 for bad usage.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import shmlink
from crossfmt import Generator


def emit(**kw) -> None:
    sys.stdout.write(json.dumps(kw) + "\n")
    sys.stdout.flush()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--addr", required=True)
    ap.add_argument("--create", action="store_true", help="create the channel (Writer.create)")
    ap.add_argument("--capacity", type=int, default=1 << 20)
    ap.add_argument("--count", type=int, default=1000, help="messages to send (-1: until killed)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--start", type=int, default=0, help="sequence number of the first message")
    ap.add_argument("--pattern", default="random", help="random, edges or fixed:N")
    ap.add_argument("--min-size", type=int, default=0)
    ap.add_argument("--max-size", type=int, default=0, help="cap on random sizes (0: max_message)")
    ap.add_argument("--api", default="send", choices=["send", "reserve"])
    ap.add_argument("--expect-end", default="done", choices=["done", "peer_dead", "busy"])
    ap.add_argument("--ready", action="store_true")
    ap.add_argument(
        "--hang-after",
        type=int,
        default=-1,
        help="after this many messages, half-fill a reservation and wait to be killed",
    )
    ap.add_argument(
        "--no-close", action="store_true", help="exit without closing (no end of stream)"
    )
    ap.add_argument("--readers", type=int, default=1, help="reader slots for --create")
    ap.add_argument("--fanout", choices=["broadcast", "queue"], help="with --readers")
    ap.add_argument("--wait-file", help="before the first message, wait until this file exists")
    args = ap.parse_args()

    try:
        if args.create:
            w = shmlink.Writer.create(
                args.addr, capacity=args.capacity, readers=args.readers, fanout=args.fanout
            )
        else:
            w = shmlink.Writer.open(args.addr)
    except shmlink.BusyError as e:
        ok = args.expect_end == "busy"
        emit(event="result", ok=ok, role="writer", lang="python", end="busy", error=str(e))
        return 0 if ok else 1
    except Exception as e:
        emit(
            event="result",
            ok=False,
            role="writer",
            lang="python",
            end="open_failed",
            error=f"{type(e).__name__}: {e}",
        )
        return 1

    if args.ready:
        emit(
            event="ready",
            address=w.address,
            capacity=w.capacity,
            max_message=w.max_message,
            pid=os.getpid(),
        )

    gen = Generator(
        args.pattern, args.seed, w.max_message, args.max_size or None, args.min_size, args.start
    )
    oversize = None
    if args.pattern == "edges":
        try:
            w.send(bytes(w.max_message + 1))
            oversize = "accepted"
        except ValueError as e:
            oversize = f"ValueError: {e}"
        except OSError as e:
            oversize = f"{type(e).__name__}: {e}"

    if args.wait_file:
        emit(event="waiting", count=0)
        while not os.path.exists(args.wait_file):
            time.sleep(0.02)

    end = None
    error = None
    ended_at = None
    t0 = time.monotonic()
    try:
        count = args.count
        next_size = gen.next_size
        if args.api == "send":
            send = w.send
            make = gen.make
            while count < 0 or gen.count < count:
                if gen.count == args.hang_after:
                    break
                send(make(next_size()))
        else:
            while count < 0 or gen.count < count:
                if gen.count == args.hang_after:
                    break
                n = next_size()
                with w.reserve(n) as mv:
                    gen.fill(n, mv)
        if gen.count == args.hang_after:
            res = w.reserve(w.max_message)
            mv = res.__enter__()
            mv[: w.max_message // 2] = b"\xee" * (w.max_message // 2)
            emit(event="hang", count=gen.count)
            while True:
                time.sleep(3600)
        if args.no_close:
            emit(
                event="result",
                ok=True,
                role="writer",
                lang="python",
                end="exit_without_close",
                **gen.report(),
            )
            os._exit(0)
        w.close()
        end = "done"
    except shmlink.PeerDeadError as e:
        end = "peer_dead"
        ended_at = time.monotonic()
        error = str(e)
    except Exception as e:
        end = "error"
        error = f"{type(e).__name__}: {e}"
    finally:
        try:
            w.close()  # idempotent after the close above
        except Exception as e:
            if end in (None, "done"):
                end = "error"
                error = f"close: {type(e).__name__}: {e}"
    elapsed = time.monotonic() - t0
    ok = end == args.expect_end
    if oversize is not None:
        ok = ok and oversize.startswith("ValueError")
    emit(
        event="result",
        ok=ok,
        role="writer",
        lang="python",
        api=args.api,
        end=end,
        error=error,
        ended_at=ended_at,
        oversize=oversize,
        elapsed_s=round(elapsed, 4),
        msgs_per_s=round(gen.count / elapsed) if elapsed > 0 else None,
        **gen.report(),
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
