"""Python half of the shmlink demo: receives the Go writer's sensor frames.

Creates the channel (default posix:/shmlink-demo), checks every frame
(magic, sequence, CRC-32 of the samples), shows live progress - updated in
place about five times a second on a terminal, one line a second otherwise -
and a final summary when the writer closes the stream. Removes the channel's
name at the end. Exit status: 0 when every frame arrived intact and the
stream ended normally, 1 otherwise, 130 on Ctrl-C.

Frame layout: see examples/demo/writer/main.go.
"""

from __future__ import annotations

import argparse
import signal
import struct
import sys
import time
import zlib

import shmlink

HEADER = struct.Struct("<4sHHQqII")  # magic, version, sensors, seq, t_ns, samples, crc
MAGIC = b"SHMF"


class Stats:
    def __init__(self) -> None:
        self.frames = 0
        self.bytes = 0
        self.bad = 0
        self.first_error: str | None = None
        self.expect = 0
        self.lag_ms = 0.0
        self.start = time.monotonic()

    def error(self, text: str) -> None:
        self.bad += 1
        if self.first_error is None:
            self.first_error = text


def check(frame, st: Stats) -> None:
    n = len(frame)
    if n < HEADER.size:
        st.error(f"frame #{st.frames}: {n} bytes, shorter than the header")
        return
    magic, version, sensors, seq, t_ns, samples, crc = HEADER.unpack_from(frame)
    if magic != MAGIC or version != 1:
        st.error(f"frame #{st.frames}: magic {magic!r} version {version}")
        return
    if seq != st.expect:
        st.error(f"frame #{st.frames}: sequence {seq}, expected {st.expect}")
    st.expect = seq + 1
    if HEADER.size + 4 * samples != n:
        st.error(f"frame {seq}: {samples} samples do not fill {n} bytes")
    elif zlib.crc32(memoryview(frame)[HEADER.size :]) != crc:
        st.error(f"frame {seq}: CRC-32 of the samples does not match")
    st.lag_ms = (time.time_ns() - t_ns) / 1e6


def progress(st: Stats, now: float) -> str:
    el = max(now - st.start, 1e-9)
    return (
        f"{st.frames:>10,} frames  {st.bytes / 1e6:>9.1f} MB  {st.bytes / 1e6 / el:>8.1f} MB/s"
        f"  {st.frames / el:>10,.0f} frames/s  lag {st.lag_ms:6.1f} ms  bad {st.bad}"
    )


def open_reader(addr: str, capacity: int) -> shmlink.Reader:
    try:
        return shmlink.Reader.create(addr, capacity=capacity)
    except FileExistsError:
        raise SystemExit(
            f"reader: {addr} exists already (another demo running? if not, remove it with"
            f" `shmlink rm {addr}` or python -c 'import shmlink; shmlink.remove(\"{addr}\")')"
        ) from None


def main() -> int:
    ap = argparse.ArgumentParser(description="shmlink demo reader (Python)")
    ap.add_argument("--addr", default="posix:/shmlink-demo", help="channel address")
    ap.add_argument("--capacity", type=int, default=4 << 20, help="ring size in bytes")
    ap.add_argument(
        "--idle-timeout",
        type=float,
        default=30.0,
        help="give up if no frame arrives for this many seconds",
    )
    args = ap.parse_args()

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)  # also when started in the background
    tty = sys.stdout.isatty()
    every = 0.2 if tty else 1.0
    r = open_reader(args.addr, args.capacity)
    st = Stats()
    end = "eof"
    try:
        print(
            f"reader: listening on {r.address} (ring {r.capacity // 1024} KiB,"
            f" largest message {r.max_message // 1024} KiB)",
            flush=True,
        )
        recv_batch = r.recv_batch
        last_show = time.monotonic()
        last_frame = last_show
        started = False
        while True:
            try:
                batch = recv_batch(256, timeout=0.2)
            except TimeoutError:
                batch = ()
            now = time.monotonic()
            if batch:
                if not started:  # the clock starts with the first frame
                    started = True
                    st.start = now
                last_frame = now
                for frame in batch:
                    check(frame, st)
                    st.frames += 1
                    st.bytes += len(frame)
            elif now - last_frame > args.idle_timeout:
                end = "idle"
                break
            if started and now - last_show >= every:
                last_show = now
                if tty:
                    sys.stdout.write("\r" + progress(st, now) + "\x1b[K")
                else:
                    sys.stdout.write(progress(st, now) + "\n")
                sys.stdout.flush()
    except EOFError:
        end = "eof"
    except shmlink.PeerDeadError:
        end = "writer died"
    except KeyboardInterrupt:
        end = "interrupted"
    finally:
        r.close()
        try:
            shmlink.remove(args.addr)
        except FileNotFoundError:
            pass
    now = time.monotonic()
    if tty:
        sys.stdout.write("\r\x1b[K")
    el = max(now - st.start, 1e-9) if st.frames else 0.0
    if tty or not st.frames:  # a terminal's last in-place line was just cleared
        print(progress(st, now) if st.frames else "no frames received")
    verdict = "all intact" if st.bad == 0 else f"{st.bad} BAD (first: {st.first_error})"
    mbps = st.bytes / 1e6 / el if el else 0.0
    print(
        f"summary: {st.frames:,} frames, {st.bytes / 1e6:.1f} MB in {el:.2f} s"
        f" = {mbps:.1f} MB/s; frames {verdict}; end: {end}"
    )
    if end == "interrupted":
        return 130
    return 0 if end == "eof" and st.bad == 0 and st.frames > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
