"""Fixtures of the Python suite. Unique addresses (``names``, ``backend``,
``address``) and the final leak check come from the shared plugin
tests/pytest_shmlink.py; this file adds what only this suite uses."""

from __future__ import annotations

import os
import subprocess
import sys

pytest_plugins = ["pytest_shmlink"]

HERE = os.path.dirname(os.path.abspath(__file__))


def run_python(
    code: str,
    *args: str,
    check: bool = True,
    timeout: float = 120,
    python_args: tuple[str, ...] = (),
) -> subprocess.CompletedProcess[str]:
    """Runs code in a second Python process (the same interpreter and
    installed shmlink) and returns the finished process."""
    proc = subprocess.run(
        [sys.executable, *python_args, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=HERE,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"child failed with {proc.returncode}:\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    return proc
