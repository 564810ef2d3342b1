"""pytest plugin of the Python, command-line and cross-language suites:
unique segment addresses that are removed when each test ends (also when it
fails), and a check at the end of the session that the run left nothing in
/dev/shm, ``ipcs -m`` or ``ipcs -s`` (the semaphore sets of System V
channels).

Loaded by the conftest.py of tests/python, tests/cli and tests/cross with
``pytest_plugins = ["pytest_shmlink"]`` (tests/ is on the path through
``pythonpath`` in pyproject.toml).

Every POSIX name of a run contains PREFIX, every System V key of a run is
in one block of 65536 keys that held no segment when the run began: the
globs POSIX_GLOB and SYSV_GLOB (for ``shmlink ls --match``) match this run's
segments only.

Fixtures: ``names`` (a :class:`Names`), ``backend`` ("posix" or "sysv",
parametrized), ``address`` (a fresh address of that backend).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import itertools
import os
import secrets
import struct
from collections.abc import Iterator

import pytest

import shmlink

PID = os.getpid()
# Every POSIX name of the run contains this; System V keys are recorded.
PREFIX = f"shmlink-test-{PID}-"
POSIX_GLOB = f"posix:/{PREFIX}*"

_counter = itertools.count()
_addresses: list[str] = []  # every address handed out or adopted in this run
_sysv_keys: set[int] = set()  # every System V key handed out in this run
_spawned_pids: set[int] = set()  # processes whose private segments are ours
_lock_sets: set[int] = set()  # semaphore sets of this run's System V channels

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
_libc.semctl.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
IPC_RMID = 0


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


def _key_block() -> int:
    """A block of System V keys (its upper 16 bits) that no segment uses now;
    below 0x8000, so that keys are positive ints for shmget."""
    while True:
        block = secrets.randbelow(0x8000 - 1) + 1
        if all((int(row["key"]) & 0xFFFFFFFF) >> 16 != block for row in sysv_segments()):
            return block


SYSV_BLOCK = _key_block()
SYSV_GLOB = f"sysv:0x{SYSV_BLOCK:04x}????"
_key_counter = itertools.count(1)


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


def semaphore_sets() -> set[int]:
    """The ids of the machine's System V semaphore sets."""
    with open("/proc/sysvipc/sem") as f:
        head = f.readline().split()
        return {int(dict(zip(head, line.split()))["semid"]) for line in f}


def leftovers() -> list[str]:
    """Segments (addresses) and semaphore sets ("sysv-sem:ID") made by this
    run that still exist."""
    left = {a for a in _addresses if exists(a)}
    left.update(f"posix:/{n}" for n in os.listdir("/dev/shm") if PREFIX in n)
    left.update(f"sysv-id:{row['shmid']}" for row in sysv_segments() if _ours(row))
    left.update(f"sysv-sem:{semid}" for semid in _lock_sets & semaphore_sets())
    return sorted(left)


def lock_set(address: str) -> int | None:
    """The role-lock semaphore set of the System V channel at address (its
    header's lock_kind 2 and lock_id, docs/PROTOCOL.md section 1), or None
    (no channel there, or not one of System V)."""
    try:
        seg = shmlink.Segment.open(address, readonly=True)
    except (OSError, ValueError):
        return None
    try:
        with seg.buf[:416] as view:
            head = bytes(view)
    finally:
        seg.close()
    if len(head) < 416 or head[:8] != b"SHMLCHAN":
        return None
    kind, semid = struct.unpack_from("=II", head, 408)
    return semid if kind == 2 else None


def note_lock_set(address: str) -> None:
    """Records the semaphore set of the System V channel at address (if it
    is one) for the final check. Removal does it too; call it for a channel
    that something else than the cleanup may remove."""
    semid = lock_set(address)
    if semid is not None:
        _lock_sets.add(semid)


def remove_quietly(address: str) -> str | None:
    """Removes a segment (for a System V channel also its semaphore set,
    noted for the final check), or a semaphore set ("sysv-sem:ID"); None if
    done or already gone, else why not."""
    if address.startswith("sysv-sem:"):
        if _libc.semctl(int(address[len("sysv-sem:") :]), 0, IPC_RMID) < 0:
            err = ctypes.get_errno()
            if err not in (errno.EINVAL, errno.EIDRM):  # gone already
                return f"{address}: {os.strerror(err)}"
        return None
    if address.startswith("sysv"):
        note_lock_set(address)
    try:
        shmlink.remove(address)
    except FileNotFoundError:
        pass
    except OSError as e:
        return f"{address}: {e}"
    return None


def new_posix(tag: str = "") -> str:
    n = next(_counter)
    return f"posix:/{PREFIX}{n}-{tag}" if tag else f"posix:/{PREFIX}{n}"


def new_sysv() -> str:
    # Other suites may run at the same time: skip any key in use.
    in_use = {int(row["key"]) & 0xFFFFFFFF for row in sysv_segments()}
    while True:
        n = next(_key_counter)
        if n > 0xFFFF:
            raise RuntimeError(f"more than 65535 System V keys in one run ({SYSV_GLOB})")
        key = SYSV_BLOCK << 16 | n
        if key not in in_use:
            _sysv_keys.add(key)
            return f"sysv:{key:#010x}"  # the canonical form


class Names:
    """Hands out unique addresses and removes every one when the test ends."""

    def __init__(self) -> None:
        self.addresses: list[str] = []

    def adopt(self, address: str | bytes) -> str:
        """Registers an address made elsewhere (e.g. "sysv-id:N"; bytes are
        decoded as os.fsdecode does) for removal; returns it as str."""
        address = os.fsdecode(address)
        if address not in self.addresses:
            self.addresses.append(address)
            _addresses.append(address)
        return address

    track = adopt

    def posix(self, tag: str = "") -> str:
        """A new POSIX address; tag (if any) ends the name."""
        return self.adopt(new_posix(tag))

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
        remove_quietly(address)
    if left:
        pytest.fail(f"the tests left segments or semaphore sets behind (now removed): {left}")
