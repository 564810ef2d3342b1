"""Build hook for the cffi extension; the metadata lives in pyproject.toml.

The C core has no separate install step: ``pip install .`` compiles every
``core/src/*.c`` file into the private module ``shmlink._shmlink`` (cffi,
out-of-line API mode). The builder is ``bindings/python/shmlink_build.py``.
"""

import os

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


# Keep setuptools' scratch files out of the source tree's build/ (the CMake
# build tree) and out of bindings/python/: everything goes to build/python.
BUILD_BASE = os.path.join("build", "python")
os.makedirs(BUILD_BASE, exist_ok=True)

setup(
    options={"build": {"build_base": BUILD_BASE}, "egg_info": {"egg_base": BUILD_BASE}},
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
        )
    ],
    cmdclass={"build_ext": BuildExtAlways},
)
