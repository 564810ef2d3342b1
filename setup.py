"""Build hook for the cffi extension; the metadata lives in pyproject.toml.

The C core has no separate install step: ``pip install .`` compiles every
``core/src/*.c`` file into the private module ``shmlink._shmlink`` (cffi,
out-of-line API mode). The builder is ``bindings/python/shmlink_build.py``.
"""

import atexit
import os
import re
import shutil
import sys
import sysconfig
import tempfile

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class BuildExtAlways(build_ext):
    """Always recompile the core.

    distutils only checks the timestamps of an extension's listed sources,
    so an edited core header would otherwise leave a stale module behind on
    an in-tree rebuild; the core is small enough to compile every time.
    """

    def initialize_options(self) -> None:
        super().initialize_options()
        self.force = True


# Keep setuptools' scratch files (object files, the generated cffi source,
# egg-info) out of the source tree entirely: `pip install .` builds in place,
# and a build/ or *.egg-info left behind would be packed into the next sdist
# and show in `git status`. Every build (each PEP 517 hook runs in a process
# of its own) gets a fresh directory under the system's temporary directory,
# removed when the hook ends.
BUILD_BASE = tempfile.mkdtemp(prefix="shmlink-build-")
atexit.register(shutil.rmtree, BUILD_BASE, ignore_errors=True)

# The stable ABI (abi3): from Python 3.11 on, _chan is compiled against the
# limited API of 3.11 (the first with the buffer protocol) and the cffi module
# is abi3 already, so the wheel is tagged cp311-abi3 and one wheel installs on
# every CPython >= 3.11. Python 3.9 and 3.10 get a wheel of their own; the
# free-threaded build has no stable ABI.
LIMITED_API = sys.version_info >= (3, 11) and not sysconfig.get_config_var("Py_GIL_DISABLED")

options = {"build": {"build_base": BUILD_BASE}, "egg_info": {"egg_base": BUILD_BASE}}
if LIMITED_API:
    options["bdist_wheel"] = {"py_limited_api": "cp311"}


def _version() -> str:
    """The version, written once in core/include/shmlink.h (SHMLINK_VERSION_*)."""
    header = os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "core", "include", "shmlink.h"
    )
    with open(header, encoding="utf-8") as f:
        text = f.read()
    parts = [
        re.search(rf"^#define SHMLINK_VERSION_{name} +(\d+)$", text, re.M)
        for name in ("MAJOR", "MINOR", "PATCH")
    ]
    if not all(parts):
        raise RuntimeError(f"shmlink: no SHMLINK_VERSION_* in {header}")
    return ".".join(m.group(1) for m in parts if m)


setup(
    version=_version(),
    options=options,
    cffi_modules=["bindings/python/shmlink_build.py:ffibuilder"],
    # The channel's per-message path (recv, recv_batch, send) as a small
    # CPython extension: a cffi call costs too much per message. It calls the
    # core through the table of _capi.h that the cffi module fills (checked
    # against shmlink.h), so it does not link the core a second time. See
    # bindings/python/shmlink/_chan.c.
    ext_modules=[
        Extension(
            "shmlink._chan",
            sources=["bindings/python/shmlink/_chan.c"],
            depends=["bindings/python/shmlink/_capi.h", "core/include/shmlink.h"],
            include_dirs=["core/include"],
            extra_compile_args=[
                "-O2",
                "-std=gnu11",
                "-Wall",
                "-Wextra",
                "-Werror=incompatible-pointer-types",
            ],
            define_macros=[("Py_LIMITED_API", "0x030B0000")] if LIMITED_API else [],
            py_limited_api=LIMITED_API,
        )
    ],
    cmdclass={"build_ext": BuildExtAlways},
)
