"""Fixtures: unique segment addresses that are always removed, and a
session-level check that this run left nothing in /dev/shm or `ipcs -m`."""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import subprocess
import sys
import zlib

import pytest

import shmlink

PID = os.getpid()
PREFIX = f"shmlink-test-py-{PID}-"
_counter = itertools.count()
# Every address handed out or tracked during the session, for the final check.
_session: list[str] = []


def _exists(address: str) -> bool:
    try:
        shmlink.stat(address)
    except FileNotFoundError:
        return False
    return True


def _new_posix() -> str:
    return f"posix:/{PREFIX}{next(_counter)}"


def _new_sysv() -> str:
    # A key derived from pid + counter, skipping keys already in use (by
    # another test run in parallel, for example).
    while True:
        key = zlib.crc32(f"{PREFIX}{next(_counter)}".encode())
        if key == 0:
            continue
        address = f"sysv:0x{key:08x}"  # the canonical form
        if not _exists(address):
            return address


def _remove_quietly(address: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        shmlink.remove(address)


class Names:
    """Hands out unique addresses and removes every one at teardown."""

    def __init__(self) -> None:
        self.addresses: list[str] = []

    def track(self, address: str) -> str:
        self.addresses.append(address)
        _session.append(address)
        return address

    def posix(self) -> str:
        return self.track(_new_posix())

    def sysv(self) -> str:
        return self.track(_new_sysv())

    def new(self, backend: str) -> str:
        return self.posix() if backend == "posix" else self.sysv()

    def cleanup(self) -> None:
        for address in reversed(self.addresses):
            _remove_quietly(address)


@pytest.fixture
def names():
    n = Names()
    try:
        yield n
    finally:
        n.cleanup()


@pytest.fixture(params=["posix", "sysv"])
def backend(request) -> str:
    return request.param


@pytest.fixture
def address(names: Names, backend: str) -> str:
    """A fresh, unused address of the parametrized backend."""
    return names.new(backend)


def _own_sysv_segments() -> list[str]:
    """System V segments created by this process (any key, private too)."""
    found = []
    with open("/proc/sysvipc/shm") as f:
        header = f.readline().split()
        for line in f:
            row = dict(zip(header, line.split()))
            if int(row["cpid"]) == PID:
                found.append(f"sysv-id:{row['shmid']}")
    return found


@pytest.fixture(scope="session", autouse=True)
def nothing_left_behind():
    yield
    leaks = [a for a in _session if _exists(a)]
    leaks += ["posix:/" + os.path.basename(p) for p in glob.glob(f"/dev/shm/{PREFIX}*")]
    leaks += _own_sysv_segments()
    leaks = sorted(set(leaks))
    for address in leaks:
        _remove_quietly(address)
    if leaks:
        pytest.fail(f"the Python tests left segments behind (now removed): {leaks}")


def run_python(code: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Runs code in a second Python process (the same interpreter and
    installed shmlink) and returns the finished process."""
    proc = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=os.path.dirname(os.path.abspath(__file__)),
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"child failed with {proc.returncode}:\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    return proc
