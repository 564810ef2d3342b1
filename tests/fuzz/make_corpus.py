#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets under tests/fuzz/corpus/.

    python3 tests/fuzz/make_corpus.py

Each seed is a small, valid starting point the fuzzer mutates: addresses of
every kind, channel images of both protocol versions and both backends, and
scripts that walk a channel through wrap-around, padding, a full ring, end
of stream, a reader gone, reopen, waits ended by a thread, corruption,
truncation, fork and removal. The input layouts are described at the top of
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


if __name__ == "__main__":
    address_seeds()
    open_seeds()
    script_seeds()
