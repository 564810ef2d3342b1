#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets under tests/fuzz/corpus/.

    python3 tests/fuzz/make_corpus.py

Each seed is a small, valid starting point the fuzzer mutates: addresses of
every kind, channel images of both protocol versions and both backends, and
scripts that walk a channel through wrap-around, padding, a full ring, end
of stream, a reader gone, reopen, waits ended by a thread, corruption,
truncation, fork and removal, and channels with reader and writer slots
(broadcast, queue, many writers) with messages in flight, orphaned peeks
and data in a second ring. The input layouts are described at the top of
each target. fuzz_channel's seeds (one, three, wrap) were made by hand and
are left alone.
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


# ---------------------------------------------------------------------------
# Scripts (fuzz_script)
# ---------------------------------------------------------------------------
(SEND, RESERVE, COMMIT, ABORT, RECV, PEEK, RELEASE, BATCH, WAIT_R, WAIT_W,
 INTERRUPT, CLOSE_W, CLOSE_R, OPEN_W, OPEN_R, POKE, NUDGE, RECORD, INFO,
 STAT, TRUNCATE, REMOVE, THREAD, OWNER, CREATOR, BADARGS, FORK,
 RMSET) = range(28)
# helper threads (THREAD) and creator races (CREATOR)
H_INTERRUPT, H_SIGNAL, H_PEER = range(3)
SHORT, SPIN, MISUSE = 0x20, 0x40, 0x80

# setup flags
SYSV, READER_CREATES, CAP8K, OPEN_OTHER, OTHER_ATTACHED = 1, 2, 4, 8, 16

# fields of NUDGE
(F_WRITE_POS, F_READ_POS, F_CLOSED, F_READER_GONE, F_WRITER_OWNER,
 F_READER_OWNER, F_READER_SLEEP, F_WRITER_SLEEP, F_VERSION, F_LOCK_KIND,
 F_LOCK_ID, F_CAPACITY, F_MAX_MESSAGE, F_FLAGS, F_HEADER_SIZE,
 F_RECORD_ALIGN, F_SENT, F_RECEIVED) = range(18)
SET = 0x80


def u16(v):
    return struct.pack("<H", v & 0xFFFF)


def send(n, flags=0):
    return bytes([SEND | flags]) + u16(n)


def reserve(n, flags=0):
    return bytes([RESERVE | flags]) + u16(n)


def commit(n):
    return bytes([COMMIT]) + u16(n)


def recv(cap=2040, flags=0):
    return bytes([RECV | flags]) + u16(cap)


def batch(cap=4000, mx=19, flags=0):
    return bytes([BATCH | flags]) + u16(cap) + bytes([mx])


def wait_r(a=0, flags=0):
    return bytes([WAIT_R | flags, a])


def wait_w(n, a=0, flags=0):
    return bytes([WAIT_W | flags, a]) + u16(n)


def open_(role_op, mode):
    return bytes([role_op, mode])


def poke(off, data):
    return bytes([POKE]) + u16(off) + bytes([len(data) - 1]) + data


def nudge(field, delta):
    return bytes([field]) + u16(delta)


def op(code, *args):
    return bytes([code]) + b"".join(args)


def thread(kind, delay_us=20, n=0):
    return bytes([THREAD, kind, delay_us]) + u16(n)


def creator(variant, reader, mode, delay=50):
    return bytes([CREATOR, variant | (8 if reader else 0) | (mode << 4), delay])


def script_seeds():
    basic = (send(100) + recv() + send(0) + send(2040) + op(PEEK) + op(RELEASE) +
             batch() + op(INFO) + op(INFO | MISUSE) + op(STAT) + wait_r() +
             wait_w(50) + op(CLOSE_W) + recv() + wait_r() + open_(OPEN_W, 0) +
             send(7) + recv(3) + recv() + op(CLOSE_R) + open_(OPEN_R, 1) +
             op(STAT))
    write("fuzz_script", "posix-basic", bytes([OPEN_OTHER]) + basic)
    write("fuzz_script", "sysv-basic", bytes([SYSV | OPEN_OTHER]) + basic)

    wrap = b"".join(send(1000) + recv() for _ in range(5)) + \
        send(1000) + send(1000) + send(1000) + batch(2500, 5) + batch()
    write("fuzz_script", "posix-wrap", bytes([OPEN_OTHER]) + wrap)
    write("fuzz_script", "sysv-wrap-attached",
          bytes([SYSV | OPEN_OTHER | OTHER_ATTACHED]) + wrap)

    full = (send(2040) + send(2040) + send(1) + wait_w(1) + op(CLOSE_R) +
            send(1) + wait_w(8) + open_(OPEN_R, 2) + send(1) + recv() +
            send(1) + op(PEEK) + op(CLOSE_R) + open_(OPEN_R, 0) + op(PEEK) +
            recv() + recv() + op(RELEASE) + recv(0) + wait_r())
    write("fuzz_script", "posix-full", bytes([OPEN_OTHER]) + full)
    write("fuzz_script", "sysv-full", bytes([SYSV | OPEN_OTHER]) + full)

    zero_copy = (reserve(500) + commit(100) + reserve(300) + op(ABORT) +
                 reserve(2040) + commit(2041) + commit(2040) + op(ABORT) +
                 commit(1) + reserve(10) + send(1) + wait_w(1) + reserve(1) +
                 op(CLOSE_W) + open_(OPEN_W, 2) + send(5) + batch(4000, 0) +
                 batch(10, 3) + batch(4000, 3) + op(SEND | MISUSE) + u16(1) +
                 op(RECV | MISUSE) + u16(1) + op(RELEASE | MISUSE) +
                 op(ABORT | MISUSE) + op(RESERVE | MISUSE) + u16(1) +
                 op(COMMIT | MISUSE) + u16(1) + op(PEEK | MISUSE) +
                 op(BATCH | MISUSE) + u16(1) + b"\x01" + send(3000))
    write("fuzz_script", "posix-zero-copy", bytes([OPEN_OTHER]) + zero_copy)

    reader_first = (recv() + wait_r() + open_(OPEN_W, 0) + send(9) + recv() +
                    open_(OPEN_W, 0) + open_(OPEN_R, 2) + op(CLOSE_W) + recv() +
                    op(CLOSE_R) + send(1) + op(INFO))
    write("fuzz_script", "posix-reader-creates",
          bytes([READER_CREATES]) + reader_first)
    write("fuzz_script", "sysv-reader-creates",
          bytes([SYSV | READER_CREATES]) + reader_first)

    big = b"".join(send(500) for _ in range(15)) + batch(8000, 19) + \
        b"".join(send(3000) for _ in range(2)) + batch(8000, 1) + batch()
    write("fuzz_script", "posix-8k-batch", bytes([CAP8K | OPEN_OTHER]) + big)

    waits = (op(INTERRUPT) + op(INTERRUPT | MISUSE) + wait_r(1) + wait_w(1, 1) +
             wait_r(8, SHORT) + recv(100, SHORT | SPIN) + op(PEEK | SHORT) +
             send(2040) + send(2040) + send(100, SHORT) +
             wait_w(100, 40, SHORT | SPIN) + reserve(100, SHORT | SPIN) +
             poke(400, b"\x01\x00\x00\x00") + op(INTERRUPT | MISUSE) +
             poke(404, b"\x01\x00\x00\x00") + recv() +
             poke(400, b"\x01\x00\x00\x00") + send(8))
    write("fuzz_script", "posix-waits", bytes([OPEN_OTHER]) + waits)
    write("fuzz_script", "sysv-waits", bytes([SYSV | OPEN_OTHER]) + waits)

    corrupt = (send(10) + send(20) + send(30) +
               op(NUDGE, nudge(F_WRITE_POS, 1)) + recv() +
               op(NUDGE, nudge(F_WRITE_POS, -1)) + recv() +
               op(RECORD, b"\x00\x00" + u16(2050)) + recv() + op(PEEK) +
               op(RECORD, b"\x00\x01" + u16(0)) + recv() +
               op(RECORD, b"\x00\x03" + u16(5) + u16(7)) + batch() +
               op(NUDGE, nudge(F_READ_POS, 8)) + send(1) + wait_w(1) +
               op(NUDGE, nudge(F_READER_GONE, 1)) + send(2040) + send(2040) +
               op(NUDGE, nudge(F_READER_OWNER | SET, 0)) + send(2040) +
               op(STAT) + op(INFO))
    write("fuzz_script", "posix-corrupt", bytes([OPEN_OTHER]) + corrupt)

    reopen = (send(5) + op(NUDGE, nudge(F_VERSION, -1)) +
              op(NUDGE, nudge(F_LOCK_KIND | SET, 0)) + op(CLOSE_R) +
              open_(OPEN_R, 0) + recv() + op(CLOSE_W) + open_(OPEN_W, 0) +
              send(6) + recv() + op(CLOSE_W) + recv() + wait_r() +
              open_(OPEN_W, 2) +
              op(NUDGE, nudge(F_WRITER_OWNER | SET, 32000)) + op(CLOSE_W) +
              recv() + op(NUDGE, nudge(F_VERSION, 5)) + op(STAT) +
              open_(OPEN_W, 0) + op(NUDGE, nudge(F_VERSION | SET, 2)) +
              op(NUDGE, nudge(F_LOCK_ID, 1)) + open_(OPEN_W, 0) +
              op(NUDGE, nudge(F_CAPACITY, 4096)) + open_(OPEN_W, 0) +
              op(NUDGE, nudge(F_MAX_MESSAGE, 8)) + open_(OPEN_W, 0))
    write("fuzz_script", "posix-reopen-v1", bytes([OPEN_OTHER]) + reopen)
    v1_gone = (op(NUDGE, nudge(F_VERSION, -1)) + op(CLOSE_W) + op(CLOSE_R) +
               open_(OPEN_W, 0) + open_(OPEN_R, 0) + send(2040) + send(2040) +
               send(1) + op(CLOSE_R) + send(1) + wait_w(1) + op(INFO))
    write("fuzz_script", "posix-v1-reader-gone", bytes([OPEN_OTHER]) + v1_gone)
    write("fuzz_script", "sysv-reopen-v1", bytes([SYSV | OPEN_OTHER]) + reopen)

    truncate = (send(100) + send(200) + op(TRUNCATE, u16(0), bytes([RECV]), u16(500)) +
                recv() + op(TRUNCATE, u16(1000), bytes([SEND]), u16(2000)) +
                send(2000) + send(2000) + op(CLOSE_R) + open_(OPEN_R, 2) +
                op(TRUNCATE, u16(600), bytes([WAIT_W | SHORT, 2]), u16(1)) +
                op(CLOSE_W) + op(CLOSE_R) + open_(OPEN_R, 0) + op(INFO | MISUSE))
    write("fuzz_script", "posix-truncate", bytes([OPEN_OTHER]) + truncate)

    remove = (send(1) + op(REMOVE) + op(STAT) + recv() + open_(OPEN_R, 0) +
              op(CLOSE_W) + open_(OPEN_W, 0) + open_(OPEN_W, 2) + send(2) +
              recv() + op(CLOSE_R) + op(CLOSE_W) + open_(OPEN_R, 2) + op(REMOVE))
    write("fuzz_script", "posix-remove", bytes([OPEN_OTHER]) + remove)
    write("fuzz_script", "sysv-remove", bytes([SYSV | OPEN_OTHER]) + remove)
    lock_gone = (op(NUDGE, nudge(F_LOCK_ID, 3)) + op(REMOVE) + op(CLOSE_R) +
                 op(CLOSE_W))
    write("fuzz_script", "sysv-remove-corrupt-lock",
          bytes([SYSV | OPEN_OTHER]) + lock_gone)


    edges = (send(1000) + send(1000) + send(1000) + recv() + recv() +
             send(1000) + recv() + op(RECORD, b"\x00\x00" + u16(2000)) + recv() +
             op(CLOSE_R) + op(CLOSE_W))
    write("fuzz_script", "posix-record-past-end", bytes([OPEN_OTHER]) + edges)
    two_pads = (send(2040) + recv() + send(1500) + recv() + send(1000) +
                poke(512 + 4, struct.pack("<I", PAD1)) + recv() + op(INFO))
    write("fuzz_script", "posix-two-pads", bytes([OPEN_OTHER]) + two_pads)
    broken = (send(10) + op(PEEK) +
              op(TRUNCATE, u16(0), bytes([RECV]), u16(100)) + op(RELEASE) +
              op(TRUNCATE, u16(0), bytes([INTERRUPT])) + op(INFO) +
              op(INFO | MISUSE) + op(FORK, b"\xff") + op(CLOSE_R) +
              open_(OPEN_R, 0) + recv())
    write("fuzz_script", "posix-broken-handles", bytes([OPEN_OTHER]) + broken)
    fork = (send(10) + reserve(20) + op(FORK, b"\xff") + commit(20) + recv() +
            recv())
    write("fuzz_script", "posix-fork", bytes([OPEN_OTHER]) + fork)
    write("fuzz_script", "sysv-fork", bytes([SYSV | OPEN_OTHER]) + fork)
    gone_but_alive = (send(2040) + send(2040) +
                      op(NUDGE, nudge(F_READER_GONE | SET, 1)) +
                      send(100, SHORT) + send(100, SHORT | SPIN))
    write("fuzz_script", "posix-gone-flag-live-reader",
          bytes([OPEN_OTHER]) + gone_but_alive)
    write("fuzz_script", "sysv-set-removed",
          bytes([SYSV | OPEN_OTHER]) + send(5) + op(RMSET) + op(INFO) +
          op(INFO | MISUSE) + send(2040) + send(2040) + send(9, SHORT) +
          recv() + op(STAT) + op(CLOSE_R) + open_(OPEN_R, 2) +
          op(CLOSE_W) + recv(100, SHORT) + op(REMOVE))
    write("fuzz_script", "sysv-remove-lock-kind",
          bytes([SYSV | OPEN_OTHER]) + op(NUDGE, nudge(F_LOCK_KIND | SET, 1)) +
          op(CLOSE_W) + op(CLOSE_R) + op(REMOVE))
    write("fuzz_script", "sysv-remove-lock-id-negative",
          bytes([SYSV | OPEN_OTHER]) + op(NUDGE, nudge(F_LOCK_ID | SET, -1)) +
          op(REMOVE) + op(CLOSE_W) + op(CLOSE_R))

    threads = (thread(H_INTERRUPT) + recv() + thread(H_SIGNAL, 30) + recv() +
               thread(H_PEER, 20, 100) + recv() + thread(H_PEER, 0, 9) + op(PEEK) +
               op(RELEASE) + thread(H_PEER, 100, 30) + batch() +
               thread(H_INTERRUPT, 5) + wait_r() + send(2040) + send(2040) +
               thread(H_PEER, 20) + send(100) + thread(H_PEER, 60) +
               wait_w(2040) + thread(H_SIGNAL, 10) + reserve(2040) +
               thread(H_INTERRUPT, 80) + send(2040) + op(CLOSE_R) +
               thread(H_INTERRUPT) + send(2040) +
               send(2039, SHORT | SPIN) + op(CLOSE_W) + open_(OPEN_R, 0) +
               recv(2047, SHORT | SPIN) + wait_r(15, SHORT | SPIN))
    write("fuzz_script", "posix-threads", bytes([OPEN_OTHER]) + threads)
    write("fuzz_script", "sysv-threads", bytes([SYSV | OPEN_OTHER]) + threads)

    owner = (op(OWNER) + open_(OPEN_R, 0) + op(CLOSE_R) + open_(OPEN_R, 0) +
             open_(OPEN_R, 1) + op(CLOSE_W) + open_(OPEN_W, 2) + op(OWNER) +
             op(CLOSE_W) + open_(OPEN_W, 0) + send(3) + recv() + op(STAT))
    write("fuzz_script", "posix-owner", bytes([OPEN_OTHER]) + owner)
    write("fuzz_script", "sysv-owner", bytes([SYSV | OPEN_OTHER]) + owner)

    race = (send(10) + op(CLOSE_R) + creator(0, True, 0) + recv() +
            op(CLOSE_R) + creator(1, True, 2, 200) + recv() + send(20) +
            op(CLOSE_R) + creator(2, True, 1, 100) + recv() + op(CLOSE_W) +
            creator(2, False, 0, 10) + send(30) + recv() + creator(0, False, 2))
    write("fuzz_script", "posix-creator", bytes([OPEN_OTHER]) + race)
    write("fuzz_script", "sysv-creator", bytes([SYSV | OPEN_OTHER]) + race)

    bad = b"".join(bytes([BADARGS, i]) for i in range(20))
    write("fuzz_script", "posix-badargs", bytes([OPEN_OTHER]) + bad)
    write("fuzz_script", "sysv-badargs",
          bytes([SYSV | OPEN_OTHER]) + bad + op(REMOVE) +
          bytes([BADARGS, 2, BADARGS, 6]))
    write("fuzz_script", "posix-badargs-removed",
          bytes([0]) + op(REMOVE) + bytes([BADARGS, 2, BADARGS, 6, BADARGS, 7]))


# ---------------------------------------------------------------------------
# fuzz_slots: byte 0 the geometry, then a script (see fuzz_slots.c)
# ---------------------------------------------------------------------------
(S_PATCH, S_OPEN_R, S_OPEN_W, S_CLOSE_R, S_CLOSE_W, S_SEND, S_RESERVE,
 S_COMMIT, S_RECV, S_PEEK, S_RELEASE, S_BATCH, S_WAIT, S_INFO, S_FILL,
 S_DRAIN) = range(16)
# geometries: (readers, writers) by index
SLOT_GEOMS = {
    "bcast2": (0, 2, 1), "bcast3": (1, 3, 1), "queue2": (2, 2, 1),
    "queue3": (3, 3, 1), "fanin2": (4, 1, 2), "fanin3": (5, 1, 3),
    "queue2w2": (6, 2, 2), "queue3w3": (7, 3, 3),
}
SLOT_PAGE = 4096
SLOT_CAP = 4096
DEAD_OWNER = 0x7FFFFFF0 | (1 << 32)  # a pid that holds no lock


def sop(code, h=0, v=0, *operands):
    return bytes([code | ((h | v << 2) << 4)]) + bytes(operands)


def spatch(off, value, size=8):
    kind = {1: 0, 4: 1, 8: 2}[size]
    return (bytes([S_PATCH, kind]) + struct.pack("<H", off) +
            value.to_bytes(size, "little"))


def spatch_block(off, data):
    out = b""
    for i in range(0, len(data), 64):
        chunk = data[i:i + 64]
        out += (bytes([S_PATCH, 3 | (len(chunk) - 1) << 2]) +
                struct.pack("<H", off + i) + chunk)
    return out


# FIELD (PATCH with a non-zero argument): f = kind << 6 | slot << 3 | field
F_READER, F_WRITER, F_HEADER = 0, 1, 2
RF_OWNER, RF_POS, RF_END, RF_STATE, RF_RECEIVED, RF_GONE, RF_UNUSED, \
    RF_RING = range(8)
WF_OWNER, WF_WRITE_POS, WF_SENT, WF_CLOSED, WF_REPLY_KIND, WF_REPLY_ID, \
    WF_SLEEP, WF_HEAD = range(8)


def sfield(kind, slot, field, value, add=False):
    return (bytes([S_PATCH | (2 if not add else 1) << 4,
                   kind << 6 | slot << 3 | field]) +
            (value & (2**64 - 1)).to_bytes(8, "little"))


def rslot(s):
    return 512 + 128 * s


def wslot(readers, w):
    return 512 + 128 * readers + 128 * w


def ring_off(w):
    return SLOT_PAGE + SLOT_CAP * w


def sring(w, lengths):
    """Patches that put committed messages of the given lengths in ring w
    (from position 0); returns the patches and the end position."""
    r, end = ring(SLOT_CAP, lengths)
    return spatch_block(ring_off(w), bytes(r[:end])), end


def sweep(readers, writers):
    """Every call once on every slot of the geometry."""
    out = b""
    for h in range(readers):
        out += (sop(S_RECV, h, 0, 200) + sop(S_PEEK, h) + sop(S_RELEASE, h) +
                sop(S_BATCH, h, 3, 100) + sop(S_WAIT, h, 0) +
                sop(S_INFO, h, 0))
    for h in range(writers):
        out += (sop(S_SEND, h, 1, 5) + sop(S_RESERVE, h, 1, 4) +
                sop(S_WAIT, h, 1, 16) + sop(S_INFO, h, 1))
    return out


def slot_seeds():
    def w(name, geom, script):
        write("fuzz_slots", name, bytes([SLOT_GEOMS[geom][0]]) + script)

    # Broadcast: readers join first, then the writer sends; one reader
    # reads, one peeks, the third lags; a writer that fills the ring.
    for geom in ("bcast2", "bcast3"):
        _, nr, _ = SLOT_GEOMS[geom]
        joins = b"".join(sop(S_OPEN_R, h) for h in range(nr))
        inflight = (joins + sop(S_OPEN_W) + sop(S_SEND, 0, 0, 3) +
                    sop(S_SEND, 0, 1, 40) + sop(S_RESERVE, 0, 1, 9) +
                    sop(S_RECV, 0, 0, 255) + sop(S_PEEK, 1) +
                    sop(S_INFO, 0, 2) + sop(S_INFO, 0, 1))
        w(f"{geom}-inflight", geom, inflight + sweep(nr, 1))
        w(f"{geom}-full", geom,
          joins + sop(S_OPEN_W) + sop(S_FILL, 0, 0, 60) + sop(S_DRAIN, 0) +
          sop(S_FILL, 0, 3, 20) + sop(S_DRAIN, 1, 2) + sop(S_CLOSE_W) +
          sop(S_DRAIN, 0) + sop(S_OPEN_W) + sop(S_SEND, 0, 0, 1) +
          sop(S_CLOSE_R, 1) + sop(S_OPEN_R, 1) + sweep(nr, 1))
        # A slot joined by a reader that died, far behind the writer.
        dead = (spatch(rslot(nr - 1), DEAD_OWNER) +
                spatch(rslot(nr - 1) + 24, 1, 4) +
                spatch(rslot(nr - 1) + 8, 0))
        w(f"{geom}-dead-slot", geom,
          dead + sop(S_OPEN_R) + sop(S_OPEN_W) + sop(S_FILL, 0, 0, 100) +
          sop(S_WAIT, 0, 1, 100) + sop(S_INFO, 0, 3) + sweep(1, 1))

    # Queue, one writer: committed messages in ring 0, readers take them.
    for geom in ("queue2", "queue3"):
        _, nr, _ = SLOT_GEOMS[geom]
        patches, end = sring(0, [10, 0, 100, 7])
        ws = wslot(nr, 0)
        setup = patches + spatch(ws + 8, end)
        joins = b"".join(sop(S_OPEN_R, h) for h in range(nr))
        w(f"{geom}-inflight", geom,
          setup + joins + sop(S_RECV, 0, 0, 10) + sop(S_PEEK, 1) +
          sop(S_BATCH, 0, 1, 8) + sop(S_RECV, 1, 0, 10) +
          sop(S_INFO, 1, 2) + sop(S_OPEN_W) + sop(S_SEND, 0, 2, 30) +
          sweep(nr, 1))
        # A peek orphaned by a dead reader in slot 1: the message of
        # [0, 24) was taken (head past it) but not released.
        orphan = (setup + spatch(ws + 72, 24) +
                  spatch(rslot(1), DEAD_OWNER) + spatch(rslot(1) + 8, 0) +
                  spatch(rslot(1) + 16, 24) + spatch(rslot(1) + 24, 2, 4))
        w(f"{geom}-orphan", geom,
          orphan + sop(S_OPEN_R) + sop(S_PEEK) + sop(S_INFO, 0, 2) +
          sop(S_RELEASE) + sop(S_RECV, 0, 0, 50) + sweep(1, 0))
        w(f"{geom}-orphan-recv", geom,
          orphan + sop(S_OPEN_R) + sop(S_OPEN_R, 1) + sop(S_BATCH, 1, 3, 50) +
          sop(S_DRAIN, 0, 1) + sop(S_OPEN_W) + sop(S_FILL, 0, 1, 200) +
          sweep(2, 1))
        # A take in progress left by a dead reader (state 1).
        w(f"{geom}-taking", geom,
          setup + spatch(rslot(0), DEAD_OWNER) + spatch(rslot(0) + 8, 24) +
          spatch(rslot(0) + 24, 1, 4) + sop(S_OPEN_R) + sop(S_OPEN_W) +
          sop(S_FILL, 0, 0, 100) + sop(S_DRAIN, 0, 1) + sweep(1, 1))

    # Many writers, one reader: data in ring 1 (and ring 0), writers open.
    for geom in ("fanin2", "fanin3"):
        _, _, nw = SLOT_GEOMS[geom]
        p0, e0 = sring(0, [5, 6])
        p1, e1 = sring(1, [300, 1, 2, 3])
        setup = (p0 + spatch(wslot(1, 0) + 8, e0) + p1 +
                 spatch(wslot(1, 1) + 8, e1))
        w(f"{geom}-second-ring", geom,
          setup + sop(S_OPEN_R) + sop(S_RECV, 0, 0, 40) + sop(S_PEEK) +
          sop(S_INFO) + sop(S_RELEASE) + sop(S_BATCH, 0, 3, 40) +
          sop(S_DRAIN) + sweep(1, 0))
        opens = b"".join(sop(S_OPEN_W, h) for h in range(nw))
        w(f"{geom}-writers", geom,
          opens + sop(S_OPEN_W, 3) + sop(S_OPEN_R) + sop(S_SEND, 1, 0, 4) +
          sop(S_SEND, 0, 0, 9) + sop(S_RESERVE, nw - 1, 3, 2) +
          sop(S_RECV, 0, 0, 40) + sop(S_FILL, 1, 0, 100) +
          sop(S_DRAIN, 0, 1) + sop(S_COMMIT, nw - 1, 0, 2) +
          sop(S_CLOSE_W, 0) + sop(S_DRAIN) + sop(S_INFO, 1, 1) +
          sweep(1, nw))
        # End of stream: every writer closes; the reader drains, then sees
        # ENODATA; a reader that left makes the writers' EPIPE.
        closes = b"".join(sop(S_CLOSE_W, h) for h in range(nw))
        w(f"{geom}-eos", geom,
          opens + sop(S_OPEN_R) + sop(S_SEND, 0, 0, 1) + closes +
          sop(S_DRAIN) + sop(S_WAIT) + sop(S_CLOSE_R) + opens +
          sop(S_FILL, 0, 0, 255) + sop(S_WAIT, 0, 1, 8) + sweep(0, nw))

    # Named fields changed under live handles: the ring bits of a peeking
    # slot, a head moved back, a write_pos moved on, a closed flag, the
    # readers count.
    for geom in ("queue2w2", "queue3"):
        _, nr, nw = SLOT_GEOMS[geom]
        joins = b"".join(sop(S_OPEN_R, h) for h in range(nr))
        opens = b"".join(sop(S_OPEN_W, h) for h in range(nw))
        w(f"{geom}-fields", geom,
          joins + opens + sop(S_SEND, 0, 0, 4) + sop(S_SEND, nw - 1, 0, 5) +
          sop(S_PEEK, 0) + sfield(F_READER, 0, RF_RING, 1) +
          sop(S_RELEASE, 0) + sop(S_PEEK, 1) + sop(S_CLOSE_R, 1) +
          sfield(F_WRITER, 0, WF_HEAD, -8, add=True) + sop(S_RECV, 0, 0, 9) +
          sfield(F_WRITER, nw - 1, WF_WRITE_POS, 16, add=True) +
          sop(S_BATCH, 0, 3, 9) + sfield(F_WRITER, 0, WF_CLOSED, 1) +
          sfield(F_HEADER, 0, 6, nr + 1) + sop(S_OPEN_R, 2) +
          sop(S_FILL, 0, 0, 30) + sweep(nr, nw))
    w("bcast2-fields", "bcast2",
      sop(S_OPEN_R) + sop(S_OPEN_W) + sop(S_SEND, 0, 0, 4) +
      sfield(F_READER, 1, RF_STATE, 1) + sfield(F_READER, 1, RF_POS, 0) +
      sfield(F_READER, 1, RF_OWNER, DEAD_OWNER) + sop(S_FILL, 0, 0, 40) +
      sfield(F_READER, 0, RF_POS, 8, add=True) + sop(S_RECV, 0, 0, 9) +
      sfield(F_WRITER, 0, WF_WRITE_POS, 4, add=True) + sop(S_PEEK) +
      sweep(1, 1))

    # Queue fed by several writers: data in both rings, an orphan in ring 1.
    for geom in ("queue2w2", "queue3w3"):
        _, nr, nw = SLOT_GEOMS[geom]
        p0, e0 = sring(0, [20, 30])
        p1, e1 = sring(1, [8, 16, 24])
        setup = (p0 + spatch(wslot(nr, 0) + 8, e0) + p1 +
                 spatch(wslot(nr, 1) + 8, e1) + spatch(wslot(nr, 1) + 72, 16))
        orphan = (spatch(rslot(1), DEAD_OWNER) + spatch(rslot(1) + 8, 0) +
                  spatch(rslot(1) + 16, 16) +
                  spatch(rslot(1) + 24, 2 | 1 << 8, 4))
        w(f"{geom}-orphan-ring1", geom,
          setup + orphan + sop(S_OPEN_R) + sop(S_PEEK) + sop(S_INFO, 0, 2) +
          sop(S_RELEASE) + sop(S_DRAIN) + sweep(1, 0))
        joins = b"".join(sop(S_OPEN_R, h) for h in range(nr))
        opens = b"".join(sop(S_OPEN_W, h) for h in range(nw))
        w(f"{geom}-inflight", geom,
          setup + joins + opens + sop(S_SEND, 1, 0, 3) + sop(S_PEEK, 0) +
          sop(S_RECV, 1, 0, 20) + sop(S_BATCH, 1, 3, 20) +
          sop(S_CLOSE_R, 0) + sop(S_RECV, 1, 0, 20) + sop(S_FILL, 0, 1, 50) +
          sop(S_FILL, 1, 2, 70) + sop(S_DRAIN, 1, 1) + sweep(nr, nw))


if __name__ == "__main__":
    address_seeds()
    open_seeds()
    script_seeds()
    slot_seeds()
