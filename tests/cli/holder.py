"""Helper process for the command-line tool's tests: makes real segments and
channels through the shmlink package, then either exits (the segment stays)
or holds its channel role until it is killed (the tests use SIGKILL to make
dead peers).

  holder.py segment ADDRESS SIZE MODE
      creates a plain segment filled with 0xa5 bytes (not a channel), prints
      its canonical address and exits 0.
  holder.py channel ADDRESS CAPACITY writer|reader [options]
      --open         open the existing channel instead of creating it
      --mode OCTAL   mode of a created channel (default 600)
      --send N       writer: send N messages of --size bytes (default 100)
      --recv N       reader: receive N messages
      --close        close the channel (the writer marks end of stream), exit 0
      --writers N    a created channel has N writer slots
      otherwise prints "ready ADDRESS" and waits until killed (SIGTERM
      closes the channel first, SIGKILL leaves a dead holder).
  holder.py server ADDRESS CAPACITY [--clients N]
      creates a call server (one worker, N client slots, default 8) and
      holds it as above without serving.
  holder.py client ADDRESS
      connects to the call server at ADDRESS (a client slot and a reply
      channel) and holds it as above.

Addresses may hold any byte (os.fsdecode). Errors: a message on stderr and
exit 1. Nothing here removes anything: the tests own the cleanup.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

import shmlink


def say(word: str, address: str) -> None:
    prefix = f"{word} ".encode() if word else b""
    sys.stdout.buffer.write(prefix + os.fsencode(address) + b"\n")
    sys.stdout.flush()


def segment(args: argparse.Namespace) -> int:
    seg = shmlink.Segment.create(args.address, args.size, int(args.mode, 8))
    seg.buf[:] = b"\xa5" * seg.size
    say("", seg.address)
    seg.close()
    return 0


def channel(args: argparse.Namespace) -> int:
    cls = shmlink.Writer if args.role == "writer" else shmlink.Reader
    if args.open:
        ch = cls.open(args.address)
    else:
        ch = cls.create(args.address, args.capacity, int(args.mode, 8), writers=args.writers)
    timeout = 30.0
    if isinstance(ch, shmlink.Writer):
        for i in range(args.send):
            ch.send(bytes([ord("a") + i % 26]) * args.size, timeout=timeout)
    else:
        for _ in range(args.recv):
            ch.recv(timeout=timeout)
    if args.close:
        say("closed", ch.address)
        ch.close()
        return 0
    return hold(ch, ch.address)


def hold(
    obj: shmlink.Writer | shmlink.Reader | shmlink.Server | shmlink.Client, address: str
) -> int:
    """Says "ready ADDRESS" and holds obj until killed. SIGTERM: close it
    cleanly (the tests' cleanup); SIGKILL (the tests' dead peers) leaves it
    to the kernel."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    say("ready", address)
    try:
        while True:
            signal.pause()
    finally:
        obj.close()


def server(args: argparse.Namespace) -> int:
    srv = shmlink.Server.create(args.address, args.capacity, clients=args.clients)
    return hold(srv, srv.address)


def client(args: argparse.Namespace) -> int:
    return hold(shmlink.Client.open(args.address), args.address)


def main() -> int:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="what", required=True)
    s = sub.add_parser("segment")
    s.add_argument("address", type=os.fsdecode)
    s.add_argument("size", type=int)
    s.add_argument("mode")
    c = sub.add_parser("channel")
    c.add_argument("address", type=os.fsdecode)
    c.add_argument("capacity", type=int)
    c.add_argument("role", choices=["writer", "reader"])
    c.add_argument("--open", action="store_true")
    c.add_argument("--mode", default="600")
    c.add_argument("--send", type=int, default=0)
    c.add_argument("--recv", type=int, default=0)
    c.add_argument("--size", type=int, default=100)
    c.add_argument("--close", action="store_true")
    c.add_argument("--writers", type=int, default=1)
    v = sub.add_parser("server")
    v.add_argument("address", type=os.fsdecode)
    v.add_argument("capacity", type=int)
    v.add_argument("--clients", type=int, default=8)
    k = sub.add_parser("client")
    k.add_argument("address", type=os.fsdecode)
    args = ap.parse_args()
    run = {"segment": segment, "channel": channel, "server": server, "client": client}
    try:
        return run[args.what](args)
    except (OSError, ValueError) as exc:
        print(f"holder: {args.what} {args.address!r}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
