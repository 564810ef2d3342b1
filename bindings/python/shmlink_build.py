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
PACKAGE = os.path.join(HERE, "shmlink")
CDEF = os.path.join(PACKAGE, "_cdef.h")

# Besides the core, the module holds the table of core functions that the
# extension shmlink._chan calls (see shmlink/_capi.h): filled here from the
# real functions, so the compiler checks it against shmlink.h.
PREAMBLE = """
#include "shmlink.h"
#include "_capi.h"

static const shmlink_capi shmlink_python_capi_table = SHMLINK_CAPI_INIT;

static const void *shmlink_python_capi(void)
{
    return &shmlink_python_capi_table;
}
"""


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
    PREAMBLE,
    sources=_core_sources(),
    depends=[*_core_headers(), _rel(os.path.join(PACKAGE, "_capi.h"))],
    include_dirs=[_rel(CORE_INCLUDE), _rel(CORE_SRC), _rel(PACKAGE)],
    define_macros=[("SHMLINK_STATIC_DEFINE", "1")],
    libraries=["rt"],  # shm_open lives in librt before glibc 2.34
    extra_compile_args=["-O2", "-std=gnu11", "-Werror=incompatible-pointer-types"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
