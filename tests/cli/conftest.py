"""Fixtures for the tests of the `shmlink` command-line tool.

Everything here works with real segments and channels, made by a helper
process (tests/cli/holder.py) through the installed shmlink package. Every
name carries this process's pid and a counter, so runs in parallel do not
collide; every segment is removed at the end of its test even when the test
fails, without going through the tool under test (unlink in /dev/shm,
shmctl IPC_RMID via ctypes), and a final check fails the session if
anything with our names is left behind.

The tool under test is the `shmlink` command installed beside the running
interpreter (scripts/test-cli.sh runs pytest from the project's .venv), or
SHMLINK_CLI if set.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import itertools
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
CLI = [
    os.environ.get("SHMLINK_CLI")
    or shutil.which("shmlink", path=os.path.dirname(sys.executable))
    or "shmlink"
]
HOLDER = [sys.executable, str(pathlib.Path(__file__).with_name("holder.py"))]
PID = os.getpid()
POSIX_PREFIX = f"shmlink-clitest-{PID}-"
# System V keys 0x7cPPPPNN: PPPP from our pid, NN a counter.
SYSV_BASE = 0x7C000000 | ((PID & 0xFFFF) << 8)
POSIX_GLOB = f"posix:/{POSIX_PREFIX}*"
SYSV_GLOB = f"sysv:0x{SYSV_BASE >> 8:06x}??"

TIMEOUT = 60  # seconds for any one command; generous for a loaded machine

_counter = itertools.count(1)
_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
_libc.shmget.argtypes = [ctypes.c_int, ctypes.c_size_t, ctypes.c_int]
_libc.shmctl.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_void_p]
_libc.semctl.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
IPC_RMID = 0
GETVAL = 12
# shmids of the System V channels made here: the C core gives each one a
# semaphore set for its role locks, tagged with the shmid mod 32768 (3
# semaphores: writer, reader, tag), which must not be left behind either.
_sysv_channel_ids: set[int] = set()


def sysv_remove_id(shmid: int) -> None:
    _libc.shmctl(shmid, IPC_RMID, None)


def sysv_remove_key(key: int) -> None:
    shmid = _libc.shmget(ctypes.c_int(key if key < 2**31 else key - 2**32), 0, 0)
    if shmid >= 0:
        sysv_remove_id(shmid)


def remove_address(address: str | bytes) -> None:
    """Removes a segment by address, ignoring 'not there'. Independent of the
    tool under test: the library's remove first (for a System V channel it
    also removes the channel's semaphore set), then the system calls."""
    import shmlink

    with contextlib.suppress(OSError, ValueError):
        shmlink.remove(os.fsdecode(address))
    raw = os.fsencode(address)
    if raw.startswith(b"posix:/") or raw.startswith(b"/"):
        name = raw[len(b"posix:/") :] if raw.startswith(b"posix:") else raw[1:]
        with contextlib.suppress(FileNotFoundError):
            os.unlink(b"/dev/shm/" + name)
    elif raw.startswith(b"sysv-id:"):
        sysv_remove_id(int(raw[len(b"sysv-id:") :]))
    elif raw.startswith(b"sysv:"):
        sysv_remove_key(int(raw[len(b"sysv:") :], 0))


def sysv_shmid(address: str) -> int | None:
    """The shmid of a System V address (key or id), from /proc."""
    with open("/proc/sysvipc/shm") as f:
        next(f)
        for line in f:
            key, shmid = int(line.split()[0]) & 0xFFFFFFFF, int(line.split()[1])
            if address in (f"sysv:0x{key:08x}", f"sysv-id:{shmid}"):
                return shmid
    return None


def our_semaphore_sets() -> list[int]:
    """Role-lock semaphore sets of our System V channels (by their tag) that
    nobody holds a role in."""
    tags = {shmid % 32768 for shmid in _sysv_channel_ids}
    found = []
    with open("/proc/sysvipc/sem") as f:
        header = f.readline().split()
        for line in f:
            row = dict(zip(header, line.split()))
            if row.get("nsems") != "3" or int(row["cuid"]) != os.geteuid():
                continue
            semid = int(row["semid"])
            values = [_libc.semctl(semid, i, GETVAL) for i in range(3)]
            if values[2] in tags and values[0] == 0 and values[1] == 0:
                found.append(semid)
    return found


def our_leftovers() -> list[str]:
    left = [f"/dev/shm/{n}" for n in os.listdir("/dev/shm") if POSIX_PREFIX in n]
    with open("/proc/sysvipc/shm") as f:
        next(f)
        for line in f:
            key = int(line.split()[0]) & 0xFFFFFFFF
            if key >> 8 == SYSV_BASE >> 8:
                left.append(f"sysv key 0x{key:08x}")
    left += [f"semaphore set {semid}" for semid in our_semaphore_sets()]
    return left


def run(args, user: int | None = None, cli=None, check_rc=None, env=None):
    """Runs the tool (cli: a Nobody, to run it as that user); returns
    CompletedProcess with str stdout/stderr (surrogateescape, so odd bytes
    survive)."""
    prefix, extra = (CLI, {}) if cli is None else (cli.cli, cli.env)
    cmd = [*prefix, *args]
    # A pipe, no COLUMNS: the table is never fitted to a width unless a test asks.
    environ = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    environ.update({"LC_ALL": "C", **extra, **(env or {})})
    p = subprocess.run(
        cmd,
        capture_output=True,
        timeout=TIMEOUT,
        user=user,
        env=environ,
    )
    out = p.stdout.decode("utf-8", "surrogateescape")
    err = p.stderr.decode("utf-8", "surrogateescape")
    res = subprocess.CompletedProcess(cmd, p.returncode, out, err)
    if check_rc is not None:
        assert p.returncode == check_rc, (
            f"{args}: exit {p.returncode}, want {check_rc}\n"
            f"stdout:\n{out}\nstderr:\n{err}"
        )
    return res


def ls_json(*extra, user=None, cli=None) -> list[dict]:
    res = run(["ls", "--json", *extra], user=user, cli=cli, check_rc=0)
    data = json.loads(res.stdout)
    assert isinstance(data, list)
    return data


def find(entries: list[dict], address: str) -> dict | None:
    hits = [e for e in entries if e["address"] == address]
    assert len(hits) <= 1, hits
    return hits[0] if hits else None


class Shm:
    """Makes segments and channels for one test and cleans all of them up."""

    def __init__(self) -> None:
        self.addresses: list[str | bytes] = []
        self.procs: list[subprocess.Popen] = []

    # names -------------------------------------------------------------
    def posix(self, tag: str = "seg") -> str:
        return f"posix:/{POSIX_PREFIX}{next(_counter)}-{tag}"

    def sysv(self) -> str:
        n = next(_counter)
        assert n < 256, "too many System V keys for one run"
        return f"sysv:0x{SYSV_BASE | n:08x}"

    # makers ------------------------------------------------------------
    def segment(self, address, size=4096, mode=0o600, user=None, holder=None):
        self.addresses.append(address)
        prefix, env = (HOLDER, {}) if holder is None else (holder.holder, holder.env)
        p = subprocess.run(
            [*prefix, "segment", address, str(size), f"{mode:o}"],
            capture_output=True,
            timeout=TIMEOUT,
            user=user,
            env={**os.environ, **env},
        )
        assert p.returncode == 0, p.stderr.decode(errors="replace")
        out = p.stdout.decode("utf-8", "surrogateescape")
        assert out.endswith("\n"), out
        canonical = out[:-1]  # names may end in blanks: drop only the newline
        self.addresses.append(canonical)
        return canonical

    def channel(self, address, role="writer", *opts, capacity=65536, user=None):
        """Starts a fixture process holding a channel role. Returns
        (process, canonical address); for --close the process has exited."""
        self.addresses.append(address)
        p = subprocess.Popen(
            [*HOLDER, "channel", address, str(capacity), role, *opts],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            user=user,
        )
        self.procs.append(p)
        line = p.stdout.readline().decode("utf-8", "surrogateescape").strip()
        if not line:
            p.wait(timeout=TIMEOUT)
            raise AssertionError(
                f"holder {role} {address} {opts} failed: "
                + p.stderr.read().decode(errors="replace")
            )
        word, canonical = line.split(" ", 1)
        self.addresses.append(canonical)
        if canonical.startswith("sysv"):
            shmid = sysv_shmid(canonical)
            if shmid is not None:
                _sysv_channel_ids.add(shmid)
        if "--close" in opts:
            assert word == "closed", line
            assert p.wait(timeout=TIMEOUT) == 0, p.stderr.read().decode()
        else:
            assert word == "ready", line
        return p, canonical

    def kill(self, p: subprocess.Popen) -> None:
        """SIGKILL and reap: the process is dead (not a zombie) afterwards."""
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=TIMEOUT)

    def cleanup(self) -> None:
        # Holders still alive close their channels (SIGTERM): a System V
        # channel removed while held has its semaphore set removed by the
        # last holder's close.
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=TIMEOUT)
            for s in (p.stdout, p.stderr):
                if s:
                    s.close()
        errors = []
        for a in self.addresses:
            if a in ("sysv:private", b"sysv:private"):
                continue  # its canonical sysv-id:N is in the list too
            try:
                remove_address(a)
            except Exception as exc:  # keep removing the others
                errors.append(f"{a!r}: {exc}")
        assert not errors, errors


@pytest.fixture
def shm():
    s = Shm()
    try:
        yield s
    finally:
        s.cleanup()


@pytest.fixture(scope="session", autouse=True)
def _nothing_left_behind():
    if not shutil.which(CLI[0]):
        pytest.exit(
            f"{CLI[0]} not found: run scripts/test-cli.sh (or set SHMLINK_CLI)",
            returncode=1,
        )
    yield
    left = our_leftovers()
    for item in left:  # clean up anyway, then fail loudly
        if item.startswith("/dev/shm/"):
            os.unlink(item)
        elif item.startswith("semaphore set "):
            _libc.semctl(int(item.split()[-1]), 0, IPC_RMID)
        else:
            sysv_remove_key(int(item.split()[-1], 16))
    assert not left, f"tests left segments behind: {left}"


class Nobody:
    """The tool and the holder, runnable by user nobody."""

    def __init__(self, uid: int, python: str, path: str) -> None:
        self.uid = uid
        self.cli = [python, "-m", "shmlink"]
        self.holder = [python, os.path.join(path, "holder.py")]
        self.env = {"PYTHONPATH": path}


@pytest.fixture(scope="session")
def nobody_cli():
    """The installed package copied where user nobody can read it (the
    project's venv and its interpreter may sit in a directory nobody cannot
    enter), run by an interpreter of the same version that nobody can run.
    Skips unless we are root and such an interpreter exists."""
    if os.geteuid() != 0:
        pytest.skip("needs root to run the tool as another user")
    try:
        import pwd

        nobody = pwd.getpwnam("nobody").pw_uid
    except KeyError:
        pytest.skip("no user 'nobody'")
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    python = next(
        (p for p in (f"/usr/bin/{version}", f"/usr/local/bin/{version}") if os.access(p, os.X_OK)),
        None,
    )
    if python is None:
        pytest.skip(f"no {version} outside this venv for user nobody to run")
    site = pathlib.Path(sysconfig.get_paths()["purelib"])
    platsite = pathlib.Path(sysconfig.get_paths()["platlib"])
    d = tempfile.mkdtemp(prefix="shmlink-clitest-")
    try:
        for base in {site, platsite}:
            for pattern in ("shmlink", "cffi", "pycparser", "_cffi_backend*"):
                for src in base.glob(pattern):
                    dst = os.path.join(d, src.name)
                    if src.is_dir():
                        shutil.copytree(src, dst, dirs_exist_ok=True)
                    else:
                        shutil.copy2(src, dst)
        shutil.copy2(HOLDER[1], os.path.join(d, "holder.py"))
        for dirpath, _dirs, files in os.walk(d):
            os.chmod(dirpath, 0o755)
            for f in files:
                os.chmod(os.path.join(dirpath, f), 0o644)
        yield Nobody(nobody, python, d)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def wait_until(pred, timeout=TIMEOUT, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
