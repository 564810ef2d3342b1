"""State and helpers shared by conftest.py and the tests of the cross suite."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PREFIX = f"shmlink-cross-{os.getpid()}-"
GO_PROGRAMS = ("gowriter", "goreader", "goseg")

_counter = itertools.count()
_sysv_keys: set[int] = set()  # every System V key this run handed out
_spawned_pids: set[int] = set()  # every process this run started
MEASURED: list[str] = []  # lines for the summary at the end of the run


def _sysv_segments() -> list[dict]:
    """The System V segments of the machine, from /proc/sysvipc/shm."""
    rows = []
    with open("/proc/sysvipc/shm") as f:
        head = f.readline().split()
        for line in f:
            rows.append(dict(zip(head, line.split())))
    return rows


def _leftovers() -> list[str]:
    left = [f"/dev/shm/{n}" for n in os.listdir("/dev/shm") if n.startswith(PREFIX)]
    ours = _spawned_pids | {os.getpid()}
    for row in _sysv_segments():
        key = int(row["key"]) & 0xFFFFFFFF
        if key in _sysv_keys or (key == 0 and int(row["cpid"]) in ours):
            left.append(f"sysv key {key:#010x} shmid {row['shmid']} (creator pid {row['cpid']})")
    return left


def measured(text: str) -> None:
    """Records a measurement for the summary at the end of the run."""
    MEASURED.append(text)


def messages(default: int = 1_000_000) -> int:
    """Size of the big streams: SHMLINK_CROSS_MESSAGES or the default."""
    v = os.environ.get("SHMLINK_CROSS_MESSAGES")
    if not v:
        return default
    try:
        n = int(v)
    except ValueError:
        raise pytest.UsageError(f"SHMLINK_CROSS_MESSAGES must be an integer, not {v!r}") from None
    if n < 1:
        raise pytest.UsageError(f"SHMLINK_CROSS_MESSAGES must be >= 1, not {n}")
    return n
