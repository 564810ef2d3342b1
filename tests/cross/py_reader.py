"""Python end of the cross-language suite: reads and checks a message stream.

Prints JSON lines on stdout: {"event": "ready", ...} once the channel is open
(with --ready), {"event": "consumed", "count": K} with --stop-after K (then
waits to be killed), and always a final {"event": "result", ...}.
Exit status: 0 when the stream ended as --expect-end says and every message
checked out, 1 otherwise, 2 for bad usage.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import shmlink
from crossfmt import HEADER, HEADER_SIZE, Checker, Mismatch


def emit(**kw) -> None:
    sys.stdout.write(json.dumps(kw) + "\n")
    sys.stdout.flush()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--addr", required=True)
    ap.add_argument("--create", action="store_true", help="create the channel (Reader.create)")
    ap.add_argument("--capacity", type=int, default=1 << 20)
    ap.add_argument("--api", default="recv", choices=["recv", "into", "batch", "peek", "iter"])
    ap.add_argument("--batch", type=int, default=256, help="messages per recv_batch call")
    ap.add_argument(
        "--expect-start", type=int, default=0, help="sequence number of the first message"
    )
    ap.add_argument("--expect-end", default="eof", choices=["eof", "peer_dead"])
    ap.add_argument("--expect-count", type=int, default=-1)
    ap.add_argument("--ready", action="store_true", help="print a ready event once open")
    ap.add_argument(
        "--stop-after",
        type=int,
        default=-1,
        help="after this many messages report and wait (to be killed)",
    )
    ap.add_argument(
        "--pause-after-first",
        type=float,
        default=0.0,
        help="sleep this long after the first message (slow reader)",
    )
    ap.add_argument(
        "--delay", type=float, default=0.0, help="sleep per message for --delay-count messages"
    )
    ap.add_argument("--delay-count", type=int, default=0)
    ap.add_argument(
        "--queue",
        action="store_true",
        help="a work-queue reader: sequence numbers rise with gaps (other readers took "
        "the rest); each is checked and the list is reported (messages >= 16 bytes)",
    )
    args = ap.parse_args()

    try:
        if args.create:
            r = shmlink.Reader.create(args.addr, capacity=args.capacity)
        else:
            r = shmlink.Reader.open(args.addr)
    except shmlink.BusyError as e:
        emit(event="result", ok=args.expect_end == "busy", end="busy", error=str(e))
        return 1
    except Exception as e:  # reported to the driver, which shows it
        emit(event="result", ok=False, end="open_failed", error=f"{type(e).__name__}: {e}")
        return 1

    if args.ready:
        emit(
            event="ready",
            address=r.address,
            capacity=r.capacity,
            max_message=r.max_message,
            pid=os.getpid(),
        )

    chk = Checker(args.expect_start)
    check = chk.check
    seqs: list[int] = []
    if args.queue:
        plain_check = chk.check

        def check(m) -> None:  # type: ignore[no-redef]
            if len(m) < HEADER_SIZE:
                raise Mismatch(f"queue reader: a {len(m)}-byte message carries no sequence number")
            s = HEADER.unpack_from(m)[0]
            if seqs and s <= seqs[-1]:
                raise Mismatch(f"queue reader: sequence {s} after {seqs[-1]}")
            chk.expect = s
            plain_check(m)
            seqs.append(s)

    end = None
    error = None
    t0 = time.monotonic()
    ended_at = None
    slow = args.pause_after_first > 0 or args.delay_count > 0 or args.stop_after >= 0

    def after_message() -> None:
        if chk.count == 1 and args.pause_after_first > 0:
            time.sleep(args.pause_after_first)
        if chk.count <= args.delay_count:
            time.sleep(args.delay)
        if chk.count == args.stop_after:
            emit(event="consumed", count=chk.count, next_seq=chk.expect, seqs=seqs)
            while True:
                time.sleep(3600)

    try:
        if args.api == "recv":
            recv = r.recv
            while True:
                check(recv())
                if slow:
                    after_message()
        elif args.api == "into":
            buf = bytearray(r.max_message)
            mv = memoryview(buf)
            recv_into = r.recv_into
            while True:
                n = recv_into(buf)
                check(mv[:n])
                if slow:
                    after_message()
        elif args.api == "batch":
            recv_batch = r.recv_batch
            nb = 1 if slow else args.batch
            while True:
                for m in recv_batch(nb):
                    check(m)
                    if slow:
                        after_message()
        elif args.api == "peek":
            while True:
                with r.peek() as view:
                    check(view)
                if slow:
                    after_message()
        else:  # iter: stops at end of stream
            for m in r:
                check(m)
                if slow:
                    after_message()
            end = "eof"
            ended_at = time.monotonic()
    except EOFError:
        end = "eof"
        ended_at = time.monotonic()
    except shmlink.PeerDeadError as e:
        end = "peer_dead"
        ended_at = time.monotonic()
        error = str(e)
    except Mismatch as e:
        end = "mismatch"
        error = str(e)
    except Exception as e:
        end = "error"
        error = f"{type(e).__name__}: {e}"
    finally:
        r.close()

    elapsed = time.monotonic() - t0
    ok = end == args.expect_end and (args.expect_count < 0 or chk.count == args.expect_count)
    emit(
        event="result",
        ok=ok,
        role="reader",
        lang="python",
        api=args.api,
        end=end,
        error=error,
        ended_at=ended_at,
        elapsed_s=round(elapsed, 4),
        msgs_per_s=round(chk.count / elapsed) if elapsed > 0 else None,
        **chk.report(),
        **({"seqs": seqs} if args.queue else {}),
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
