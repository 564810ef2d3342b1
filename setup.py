"""Build hook for the cffi extension; the metadata lives in pyproject.toml.

The C core has no separate install step: ``pip install .`` compiles every
``core/src/*.c`` file into the private module ``shmlink._shmlink`` (cffi,
out-of-line API mode). The builder is ``bindings/python/shmlink_build.py``.
"""

import os

from setuptools import setup
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
    cmdclass={"build_ext": BuildExtAlways},
)
