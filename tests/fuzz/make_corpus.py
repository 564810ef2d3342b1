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


if __name__ == "__main__":
    address_seeds()
