"""State and helpers shared by conftest.py and the tests of the cross suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

__all__ = ["GO_PROGRAMS", "HERE", "MEASURED", "ROOT", "_leftovers", "measured", "messages"]

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
GO_PROGRAMS = ("gowriter", "goreader", "goseg")

MEASURED: list[str] = []  # lines for the summary at the end of the run


def _leftovers() -> list[str]:
    """What this run made and left behind (see tests/pytest_shmlink.py)."""
    from pytest_shmlink import leftovers

    return leftovers()


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
