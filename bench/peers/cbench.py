"""C→C rows: shmlink, pipe and Unix socket measured by the channel's own C
benchmark (bench/c, built by CMake into the tree given as --c-build).

The C benchmark measures every C transport in one process run; to join the
table its figures must be machine-readable. Until bench/c offers such a mode
(e.g. `--json`, printing per transport, kind and size the messages/s,
bytes/s, p50 and p99 in ns), these rows are reported as n/a with the reason,
never silently dropped. Wiring a JSON mode in: make CBench.setup() return a
Command that runs the binary for one cell, or cache one whole-run result per
repetition and hand out its cells.
"""

from __future__ import annotations

import glob
import os
import subprocess

from .transports import Transport

C_ROWS = [("shmlink_c", "shmlink C→C"), ("pipe_c", "pipe C→C"), ("unix_c", "Unix socket C→C")]


def _find_binary(build_dir):
    cands = [p for p in glob.glob(os.path.join(build_dir, "bench", "**", "*"), recursive=True)
             if os.path.isfile(p) and os.access(p, os.X_OK) and "CMakeFiles" not in p
             and not p.endswith((".so", ".a", ".sh"))]
    return sorted(cands)[0] if cands else None


def _json_mode(binary):
    try:
        out = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return "--json" in (out.stdout + out.stderr)


class CBench(Transport):
    group = "c"

    def __init__(self, key, label, build_dir):
        self.key, self.label, self.build_dir = key, label, build_dir
        self.note = "measured by bench/c (C benchmark of the channel)"
        self._reason = None

    def unavailable(self, kind, size):
        if self._reason is None:
            if not os.path.isdir(os.path.join(os.path.dirname(os.path.dirname(
                    os.path.abspath(__file__))), "c")):
                self._reason = "bench/c (the C benchmark) does not exist yet"
            else:
                binary = _find_binary(self.build_dir)
                if binary is None:
                    self._reason = f"C benchmark not built in {self.build_dir}/bench"
                elif not _json_mode(binary):
                    self._reason = (f"{os.path.basename(binary)} has no machine-readable "
                                    "output mode yet; its own table is the C→C figure "
                                    "(see bench/peers/cbench.py)")
                else:
                    self._reason = ("the C benchmark's JSON mode is not wired into "
                                    "bench/peers/cbench.py yet")
        return self._reason


def transports(build_dir):
    return [CBench(k, label, build_dir) for k, label in C_ROWS]
