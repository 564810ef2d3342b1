"""The message stream shared by the cross-language test programs.

The Go side mirrors this file in tests/cross/internal/stream/stream.go; keep
the two in step.

Message number ``seq`` (counting from the writer's start sequence) of length
``n`` is:

* ``n >= 16``: a 16-byte header ``<QII`` = (seq, n, crc32(payload)) followed
  by ``n - 16`` payload bytes (anything; the writers take them from a random
  pool). crc32 is zlib's (IEEE), the same as Go's ``hash/crc32.ChecksumIEEE``.
* ``n < 16`` (including 0): byte ``j`` is ``(seq * 7 + j * 13 + 1) & 0xff``.

The reader knows which sequence number comes next, so every byte of every
message is checked, and a lost, repeated, reordered, torn or truncated
message is reported with its position.

Both sides report ``count``, ``bytes`` and ``crcsum`` (the sum mod 2**64 of
the header crc of every message of 16 bytes or more), so the test driver can
compare what was sent with what arrived.
"""

from __future__ import annotations

import random
import struct
import zlib

HEADER = struct.Struct("<QII")
HEADER_SIZE = HEADER.size  # 16
MASK64 = (1 << 64) - 1


class Mismatch(Exception):
    """A received message is not the one the stream says comes next."""


def tiny(seq: int, n: int) -> bytes:
    """The content of message ``seq`` when it is shorter than the header."""
    return bytes(((seq * 7 + j * 13 + 1) & 0xFF) for j in range(n))


_TINY_CACHE: dict[tuple[int, int], bytes] = {}


def edge_sizes(max_message: int) -> list[int]:
    """The sizes the "edges" pattern cycles through (zero and maximum sizes)."""
    sizes = [
        0,
        1,
        15,
        16,
        17,
        max_message - 1,
        max_message,
        0,
        max_message,
        4095,
        4096,
        4097,
        0,
        0,
        max_message,
    ]
    return [min(s, max_message) for s in sizes]


def random_size(x: float, max_size: int) -> int:
    """Maps a uniform x in [0, 1) to a message size: mostly small, a few
    medium, one in a thousand up to max_size (same split as the Go side)."""
    if x < 0.02:
        n = int(x / 0.02 * 16)
    elif x < 0.92:
        n = 16 + int((x - 0.02) / 0.90 * 496)
    elif x < 0.999:
        n = 512 + int((x - 0.92) / 0.079 * 3584)
    else:
        n = 4096 + int((x - 0.999) / 0.001 * (max_size - 4096 + 1))
    return min(n, max_size)


def payload_pool(seed: int, max_message: int) -> bytes:
    """Random bytes to cut payloads from (at least one maximum message)."""
    return random.Random(seed ^ 0x5EED).randbytes(max(max_message, 1 << 16) + (1 << 16))


class Checker:
    """Verifies a received stream message by message."""

    __slots__ = ("expect", "count", "bytes", "crcsum", "start", "max_len")

    def __init__(self, start: int = 0) -> None:
        self.start = start
        self.expect = start
        self.count = 0
        self.bytes = 0
        self.crcsum = 0
        self.max_len = -1

    def check(self, m) -> None:
        """Checks one message (any bytes-like object); raises Mismatch."""
        n = len(m)
        seq = self.expect
        if n >= HEADER_SIZE:
            s, ln, c = HEADER.unpack_from(m)
            if s != seq:
                raise Mismatch(
                    f"message #{self.count}: sequence number {s}, expected {seq} (length {n})"
                )
            if ln != n:
                raise Mismatch(f"message seq {seq}: length {n}, header says {ln}")
            got = zlib.crc32(memoryview(m)[HEADER_SIZE:])
            if got != c:
                raise Mismatch(
                    f"message seq {seq} (length {n}): payload crc32 {got:#010x},"
                    f" header says {c:#010x}"
                )
            self.crcsum = (self.crcsum + c) & MASK64
        else:
            key = (seq & 0xFF, n)
            want = _TINY_CACHE.get(key)
            if want is None:
                want = _TINY_CACHE[key] = tiny(seq, n)
            if bytes(m) != want:
                raise Mismatch(
                    f"message seq {seq}: {n}-byte message {bytes(m).hex()}, expected {want.hex()}"
                )
        self.expect = seq + 1
        self.count += 1
        self.bytes += n
        if n > self.max_len:
            self.max_len = n

    def report(self) -> dict:
        return {
            "count": self.count,
            "bytes": self.bytes,
            "crcsum": self.crcsum,
            "max_len": self.max_len,
            "first_seq": self.start,
            "next_seq": self.expect,
        }


class Generator:
    """Produces the writer's side of the stream."""

    def __init__(
        self,
        pattern: str,
        seed: int,
        max_message: int,
        max_size: int | None = None,
        min_size: int = 0,
        start: int = 0,
    ) -> None:
        self.max_message = max_message
        self.max_size = min(max_size or max_message, max_message)
        self.min_size = min_size
        self.pattern = pattern
        self.rng = random.Random(seed)
        self.pool = memoryview(payload_pool(seed, max_message))
        self.seq = start
        self.count = 0
        self.bytes = 0
        self.crcsum = 0
        self._edges = edge_sizes(max_message)
        if pattern.startswith("fixed:"):
            self._fixed = int(pattern[6:])
            if not 0 <= self._fixed <= max_message:
                raise ValueError(f"fixed size {self._fixed} outside 0..{max_message}")
        elif pattern not in ("random", "edges"):
            raise ValueError(f"unknown pattern {pattern!r} (random, edges, fixed:N)")

    def next_size(self) -> int:
        if self.pattern == "random":
            n = random_size(self.rng.random(), self.max_size)
        elif self.pattern == "edges":
            n = self._edges[self.count % len(self._edges)]
        else:
            n = self._fixed
        return max(n, self.min_size)

    def fill(self, n: int, out) -> None:
        """Writes message self.seq of length n into the writable buffer out."""
        seq = self.seq
        if n >= HEADER_SIZE:
            plen = n - HEADER_SIZE
            off = (seq * 104729) % (len(self.pool) - plen + 1)
            payload = self.pool[off : off + plen]
            c = zlib.crc32(payload)
            HEADER.pack_into(out, 0, seq, n, c)
            out[HEADER_SIZE:n] = payload
            self.crcsum = (self.crcsum + c) & MASK64
        else:
            out[:n] = tiny(seq, n)
        self._advance(n)

    def make(self, n: int) -> bytes:
        """Returns message self.seq of length n as bytes."""
        seq = self.seq
        if n >= HEADER_SIZE:
            plen = n - HEADER_SIZE
            off = (seq * 104729) % (len(self.pool) - plen + 1)
            payload = self.pool[off : off + plen]
            c = zlib.crc32(payload)
            self.crcsum = (self.crcsum + c) & MASK64
            msg = HEADER.pack(seq, n, c) + payload
        else:
            msg = tiny(seq, n)
        self._advance(n)
        return msg

    def _advance(self, n: int) -> None:
        self.seq += 1
        self.count += 1
        self.bytes += n

    def report(self) -> dict:
        return {"count": self.count, "bytes": self.bytes, "crcsum": self.crcsum}
