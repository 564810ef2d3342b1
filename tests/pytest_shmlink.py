"""pytest plugin of the Python and cross-language suites: unique segment
addresses that are removed when each test ends (also when it fails), and a
check at the end of the session that the run left nothing in /dev/shm or
``ipcs -m``.

Loaded by tests/python/conftest.py and tests/cross/conftest.py with
``pytest_plugins = ["pytest_shmlink"]`` (tests/ is on the path through
``pythonpath`` in pyproject.toml).

Fixtures: ``names`` (a :class:`Names`), ``backend`` ("posix" or "sysv",
parametrized), ``address`` (a fresh address of that backend).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import secrets
from collections.abc import Iterator

import pytest

import shmlink

PID = os.getpid()
# Every POSIX name of the run starts with this; System V keys are recorded.
PREFIX = f"shmlink-test-{PID}-"

_counter = itertools.count()
_addresses: list[str] = []  # every address handed out or adopted in this run
_sysv_keys: set[int] = set()  # every System V key handed out in this run
_spawned_pids: set[int] = set()  # processes whose private segments are ours


def spawned(pid: int) -> int:
    """Records a process started by the run: System V private segments it
    creates count as the run's (for the final check). Returns pid."""
    _spawned_pids.add(pid)
    return pid


def sysv_segments() -> list[dict[str, str]]:
    """The machine's System V segments, one dict per row of /proc/sysvipc/shm."""
    with open("/proc/sysvipc/shm") as f:
        head = f.readline().split()
        return [dict(zip(head, line.split())) for line in f]


def exists(address: str) -> bool:
    try:
        shmlink.stat(address)
    except FileNotFoundError:
        return False
    return True


def _ours(row: dict[str, str]) -> bool:
    key = int(row["key"]) & 0xFFFFFFFF
    cpid = int(row["cpid"])
    return key in _sysv_keys or cpid == PID or (key == 0 and cpid in _spawned_pids)


def leftovers() -> list[str]:
    """Addresses of the segments made by this run that still exist."""
    left = {a for a in _addresses if exists(a)}
    left.update(f"posix:/{n}" for n in os.listdir("/dev/shm") if n.startswith(PREFIX))
    left.update(f"sysv-id:{row['shmid']}" for row in sysv_segments() if _ours(row))
    return sorted(left)


def remove_quietly(address: str) -> str | None:
    """Removes a segment; None if done or already gone, else why not."""
    try:
        shmlink.remove(address)
    except FileNotFoundError:
        pass
    except OSError as e:
        return f"{address}: {e}"
    return None


def new_posix() -> str:
    return f"posix:/{PREFIX}{next(_counter)}"


def new_sysv() -> str:
    # Random keys, skipping any in use: other suites may run at the same time.
    in_use = {int(row["key"]) & 0xFFFFFFFF for row in sysv_segments()}
    while True:
        key = secrets.randbits(31) | 0x10000
        if key not in _sysv_keys and key not in in_use:
            _sysv_keys.add(key)
            return f"sysv:{key:#010x}"  # the canonical form


class Names:
    """Hands out unique addresses and removes every one when the test ends."""

    def __init__(self) -> None:
        self.addresses: list[str] = []

    def adopt(self, address: str) -> str:
        """Registers an address made elsewhere (e.g. "sysv-id:N") for removal."""
        self.addresses.append(address)
        _addresses.append(address)
        return address

    track = adopt

    def posix(self) -> str:
        return self.adopt(new_posix())

    def sysv(self) -> str:
        return self.adopt(new_sysv())

    def new(self, backend: str) -> str:
        if backend == "posix":
            return self.posix()
        if backend == "sysv":
            return self.sysv()
        raise ValueError(f"backend must be 'posix' or 'sysv', not {backend!r}")

    def cleanup(self) -> list[str]:
        """Removes every address; returns the ones that could not be removed."""
        failed = [remove_quietly(a) for a in reversed(self.addresses)]
        return [f for f in failed if f is not None]


@pytest.fixture
def names() -> Iterator[Names]:
    n = Names()
    try:
        yield n
    finally:
        failed = n.cleanup()
    assert not failed, f"could not remove: {failed}"


@pytest.fixture(params=["posix", "sysv"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def address(names: Names, backend: str) -> str:
    """A fresh, unused address of the parametrized backend."""
    return names.new(backend)


@pytest.fixture(scope="session", autouse=True)
def nothing_left_behind() -> Iterator[None]:
    """After the whole run: nothing this run made is left; what is gets removed
    first (so the next run starts clean), then the session fails."""
    yield
    left = leftovers()
    for address in left:
        with contextlib.suppress(OSError):
            shmlink.remove(address)
    if left:
        pytest.fail(f"the tests left segments behind (now removed): {left}")
