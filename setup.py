"""Build hook for the cffi extension; the metadata lives in pyproject.toml.

The C core has no separate install step: ``pip install .`` compiles every
``core/src/*.c`` file into the private module ``shmlink._shmlink`` (cffi,
out-of-line API mode). The builder is ``bindings/python/shmlink_build.py``.
"""

import atexit
import shutil
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

setup(
    options={"build": {"build_base": BUILD_BASE}, "egg_info": {"egg_base": BUILD_BASE}},
    cffi_modules=["bindings/python/shmlink_build.py:ffibuilder"],
    # The channel's per-message path (recv, recv_batch, send) as a small
    # CPython extension: a cffi call costs too much per message. It calls the
    # core through function pointers taken from the cffi module at import, so
    # it compiles without the core. See bindings/python/shmlink/_chan.c.
    ext_modules=[
        Extension(
            "shmlink._chan",
            sources=["bindings/python/shmlink/_chan.c"],
            extra_compile_args=["-O2", "-std=gnu11", "-Wall", "-Wextra"],
        )
    ],
    cmdclass={"build_ext": BuildExtAlways},
)
