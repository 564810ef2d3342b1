#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets under tests/fuzz/corpus/.

    python3 tests/fuzz/make_corpus.py

Each seed is a small, valid starting point the fuzzer mutates; the input
layouts are described at the top of each target. fuzz_channel's seeds (one,
three, wrap) were made by hand and are left alone.
"""

import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")

MAGIC = b"SHMLCHAN"
MSG1 = 0x3147534D
PAD1 = 0x31444150


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---------------------------------------------------------------------------
# fuzz_address: the text up to the first NUL; the same bytes laid over the
# struct that format takes
# ---------------------------------------------------------------------------
def struct_bytes(kind, backend, name=b"", key=0, ident=0):
    # shmlink_address: int kind, int backend, char name[257], pad to 4,
    # uint32 key, int32 id
    return struct.pack("<ii257s3xIi", kind, backend, name, key, ident)


def address_seeds():
    texts = {
        "posix": b"posix:/shmlink-demo",
        "posix-short": b"/a",
        "posix-long": b"posix:/" + b"n" * 255,
        "posix-dotdot": b"/..",
        "posix-slash": b"posix:/a/b",
        "sysv-hex": b"sysv:0x1234abcd",
        "sysv-dec": b"sysv:4294967295",
        "sysv-zeros": b"sysv:000017",
        "sysv-private": b"sysv:private",
        "sysv-id": b"sysv-id:2147483647",
        "sysv-id-big": b"sysv-id:2147483648",
        "sysv-empty-hex": b"sysv:0X",
    }
    for name, text in texts.items():
        write("fuzz_address", name, text)
    # Inputs whose text is empty and whose bytes make a struct to format.
    write("fuzz_address", "struct-posix", struct_bytes(1, 1, b"/named"))
    write("fuzz_address", "struct-key", struct_bytes(2, 2, key=0xCAFE))
    write("fuzz_address", "struct-private", struct_bytes(3, 2))
    write("fuzz_address", "struct-id", struct_bytes(4, 2, ident=77))


# ---------------------------------------------------------------------------
# Channel images (fuzz_open)
# ---------------------------------------------------------------------------
def header(version=2, cap=4096, lock_kind=1, lock_id=0, wp=0, rp=0, closed=0,
           gone=0, wo=0, ro=0, flags=0, header_size=512, align=8,
           max_message=None, magic=MAGIC):
    h = bytearray(512)
    h[0:8] = magic
    struct.pack_into("<IIQQII", h, 8, version, header_size, cap,
                     cap // 2 - 8 if max_message is None else max_message,
                     flags, align)
    struct.pack_into("<QQI", h, 128, wp, 0, closed)
    struct.pack_into("<QQI", h, 256, rp, 0, gone)
    struct.pack_into("<QQIIII", h, 384, wo, ro, 0, 0, lock_kind, lock_id)
    return h


def ring(cap, lengths, start=0):
    """Records for messages of the given lengths, written from position
    start as a writer would (with padding at the end of the ring). Returns
    the ring and the end position."""
    r = bytearray(cap)
    pos = start
    for n in lengths:
        rec = 8 + (n + 7) // 8 * 8
        off = pos % cap
        if off + rec > cap:
            struct.pack_into("<II", r, off, cap - off - 8, PAD1)
            pos += cap - off
            off = 0
        struct.pack_into("<II", r, off, n, MSG1)
        for i in range(n):
            r[off + 8 + i] = (i * 7 + n) & 0xFF
        pos += rec
    return r, pos


def ops(*items):
    """Operations of fuzz_open: (which, argument) pairs, eight in all."""
    b = bytes((w | (a << 3)) & 0xFF for w, a in items)
    return (b + bytes(8))[:8]


OPEN_OPS = ops((0, 31), (1, 0), (3, 20), (4, 3), (5, 4), (6, 2), (7, 0), (2, 0))


def open_input(flags, image, size=0, op_bytes=OPEN_OPS):
    return bytes([flags]) + struct.pack("<H", size) + op_bytes + bytes(image)


def open_seeds():
    cap = 4096
    r, end = ring(cap, [10, 0, 100])
    write("fuzz_open", "posix-v2-three", open_input(0x08, header(wp=end) + r))
    write("fuzz_open", "posix-v2-empty", open_input(0x08, header()))
    r, end = ring(cap, [1500, 1500, 1000], start=3000)
    write("fuzz_open", "posix-v2-wrap",
          open_input(0x08, header(wp=end, rp=3000) + r))
    r, end = ring(cap, [2040, 2040])
    write("fuzz_open", "posix-v2-full-gone",
          open_input(0x08, header(wp=end, gone=1) + r))
    r, end = ring(cap, [5, 6])
    write("fuzz_open", "posix-v2-closed",
          open_input(0x08, header(wp=end, closed=1) + r))
    write("fuzz_open", "posix-v2-dead-writer",
          open_input(0x08, header(wo=0x7FFFFFF0) + r))
    write("fuzz_open", "posix-v2-attach",
          open_input(0x08 | 0x20 | 0x40, header(wp=end) + r))
    write("fuzz_open", "posix-v2-any-owner",
          open_input(0x08 | 0x80, header(wp=end) + r))
    r, end = ring(cap, [40, 50])
    write("fuzz_open", "posix-v1",
          open_input(0x00, header(version=1, lock_kind=0, wp=end) + r))
    write("fuzz_open", "posix-v1-init-owner",
          open_input(0x00, header(version=1, lock_kind=0, wo=1, wp=end) + r))
    r8, end8 = ring(8192, [3000, 3000, 3000], start=4096)
    write("fuzz_open", "posix-v2-8k",
          open_input(0x02 | 0x08, header(cap=8192, wp=end8, rp=4096) + r8))
    write("fuzz_open", "posix-v2-page-size",
          open_input(0x04 | 0x08, header(wp=end) + r))
    write("fuzz_open", "posix-small",
          open_input(0x06, header()[:200], size=199))
    write("fuzz_open", "posix-short-ring",
          open_input(0x06 | 0x08, header(), size=3999))
    write("fuzz_open", "posix-pending",
          open_input(0x08, header(version=0)))
    write("fuzz_open", "posix-v3", open_input(0x08, header(version=3)))
    write("fuzz_open", "posix-flags", open_input(0x08, header(flags=1)))
    write("fuzz_open", "posix-bad-positions",
          open_input(0x08, header(wp=4104, rp=0) + r))
    r, end = ring(cap, [10, 0, 100])
    write("fuzz_open", "sysv-v2-three",
          open_input(0x01 | 0x08, header(lock_kind=2, wp=end) + r))
    write("fuzz_open", "sysv-v2-wrong-tag",
          open_input(0x01 | 0x08 | 0x10, header(lock_kind=2, wp=end) + r))
    write("fuzz_open", "sysv-v2-raw-lock",
          open_input(0x01, header(lock_kind=2, lock_id=1, wp=end) + r))
    write("fuzz_open", "sysv-v2-attach",
          open_input(0x01 | 0x08 | 0x20 | 0x40, header(lock_kind=2, wp=end) + r))
    write("fuzz_open", "sysv-v1",
          open_input(0x01, header(version=1, lock_kind=0, wp=end) + r))


if __name__ == "__main__":
    address_seeds()
    open_seeds()
