"""cffi builder for the private module ``shmlink._shmlink`` (out-of-line API mode).

Run by setuptools through ``cffi_modules`` in setup.py. The C core is compiled
from source: every ``core/src/*.c`` present at build time (globbed, so files
added to the core later are picked up without editing this builder).
"""

from __future__ import annotations

import glob
import os

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CORE_INCLUDE = os.path.join(ROOT, "core", "include")
CORE_SRC = os.path.join(ROOT, "core", "src")
CDEF = os.path.join(HERE, "shmlink", "_cdef.h")


def _rel(path: str) -> str:
    """setuptools wants source paths relative to the setup.py directory."""
    rel = os.path.relpath(path, os.getcwd())
    return path if rel.startswith("..") else rel


def _core_sources() -> list[str]:
    sources = sorted(glob.glob(os.path.join(CORE_SRC, "*.c")))
    if not sources:
        raise RuntimeError(f"shmlink: no C core sources found in {CORE_SRC}")
    return [_rel(s) for s in sources]


def _core_headers() -> list[str]:
    headers = glob.glob(os.path.join(CORE_INCLUDE, "*.h")) + glob.glob(
        os.path.join(CORE_SRC, "*.h")
    )
    return [_rel(h) for h in sorted(headers)]


ffibuilder = FFI()
with open(CDEF, encoding="utf-8") as f:
    ffibuilder.cdef(f.read())

ffibuilder.set_source(
    "shmlink._shmlink",
    '#include "shmlink.h"\n',
    sources=_core_sources(),
    depends=_core_headers(),
    include_dirs=[_rel(CORE_INCLUDE), _rel(CORE_SRC)],
    define_macros=[("SHMLINK_STATIC_DEFINE", "1")],
    libraries=["rt"],  # shm_open lives in librt before glibc 2.34
    extra_compile_args=["-O2", "-std=gnu11"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
