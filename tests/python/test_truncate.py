"""A peer that shrinks a POSIX channel's object (ftruncate) never kills this
process with SIGBUS: send, recv and reads through a peeked view go on, and
the calls fail with shmlink.ProtocolError (the core's truncation guard
replaces the lost pages with private zero pages)."""

from __future__ import annotations

import os
from typing import Callable

import pytest

import shmlink


def _truncate(address: str, size: int) -> None:
    fd = os.open("/dev/shm/" + address.split("/", 1)[1], os.O_RDWR)
    try:
        os.ftruncate(fd, size)
    finally:
        os.close(fd)


def _until_error(call: Callable[[], object]) -> tuple[list[object], BaseException]:
    """Calls until it raises; returns the results and the exception."""
    results = []
    for _ in range(10000):
        try:
            results.append(call())
        except (shmlink.ProtocolError, TimeoutError) as exc:
            return results, exc
    raise AssertionError("no error after 10000 calls")


@pytest.mark.parametrize("size", [0, 4096])
def test_truncated_channel_fails_calls_instead_of_crashing(names, size):
    address = names.posix()
    with shmlink.Writer.create(address, capacity=1 << 16) as w, shmlink.Reader.open(address) as r:
        w.send(b"before")
        assert r.recv(timeout=0) == b"before"
        _truncate(address, size)
        _, exc = _until_error(lambda: w.send(b"x" * 1000, timeout=0))
        assert isinstance(exc, shmlink.ProtocolError)
        # what the writer committed into pages that survived arrives intact
        got, exc = _until_error(lambda: r.recv(timeout=0))
        assert all(m == b"x" * 1000 for m in got)
        assert isinstance(exc, shmlink.ProtocolError if size == 0 else TimeoutError)


def test_peeked_view_survives_truncation(names):
    address = names.posix()
    with shmlink.Writer.create(address, capacity=1 << 16) as w, shmlink.Reader.open(address) as r:
        w.send(b"y" * 3000)
        msg = r.peek(timeout=0)
        _truncate(address, 0)
        with msg.buf as view:
            data = bytes(view)  # reads the lost pages: zeros, no SIGBUS
        assert data == bytes(3000)
        with pytest.raises(shmlink.ProtocolError):
            msg.release()
        with pytest.raises(shmlink.ProtocolError):
            r.recv(timeout=0)
