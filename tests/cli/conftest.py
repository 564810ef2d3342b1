"""Fixtures for the tests of the `shmlink` command-line tool.

Everything here works with real segments and channels, made by a helper
process (tests/cli/holder.py) through the installed shmlink package. Unique
names, their removal when each test ends (also when it fails; through the
library, never through the tool under test) and the final check that the
run left no segment or semaphore set behind come from the shared plugin
tests/pytest_shmlink.py; its POSIX_GLOB and SYSV_GLOB match this run's
segments only.

The tool under test is the `shmlink` command installed beside the running
interpreter (scripts/test-cli.sh runs pytest from the project's .venv), or
SHMLINK_CLI if set.
"""

from __future__ import annotations

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

# The shared plugin (unique addresses, cleanup, leak check). Imported by
# pytest itself, so that its asserts are rewritten; the tests import its
# names from it.
pytest_plugins = ["pytest_shmlink"]

CLI = [
    os.environ.get("SHMLINK_CLI")
    or shutil.which("shmlink", path=os.path.dirname(sys.executable))
    or "shmlink"
]
HOLDER = [sys.executable, str(pathlib.Path(__file__).with_name("holder.py"))]

TIMEOUT = 60  # seconds for any one command; generous for a loaded machine


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
    """Makes segments and channels for one test through holder processes.
    Their addresses are the test's `names` (removed when the test ends);
    holders still running are stopped first."""

    def __init__(self, names) -> None:
        self.names = names
        self.procs: list[subprocess.Popen] = []

    # names -------------------------------------------------------------
    def posix(self, tag: str = "seg") -> str:
        return self.names.posix(tag)

    def sysv(self) -> str:
        return self.names.sysv()

    # makers ------------------------------------------------------------
    def _start(self, argv, user=None, env=None) -> subprocess.Popen:
        from pytest_shmlink import spawned  # (loaded by pytest_plugins by now)

        p = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, user=user, env=env
        )
        spawned(p.pid)  # its System V private segments are the run's
        self.procs.append(p)
        return p

    def segment(self, address, size=4096, mode=0o600, user=None, holder=None):
        if address != "sysv:private":
            self.names.adopt(address)
        prefix, env = (HOLDER, {}) if holder is None else (holder.holder, holder.env)
        p = self._start(
            [*prefix, "segment", address, str(size), f"{mode:o}"],
            user=user,
            env={**os.environ, **env},
        )
        out, err = p.communicate(timeout=TIMEOUT)
        assert p.returncode == 0, err.decode(errors="replace")
        out = out.decode("utf-8", "surrogateescape")
        assert out.endswith("\n"), out
        return self.names.adopt(out[:-1])  # names may end in blanks: drop only the newline

    def channel(self, address, role="writer", *opts, capacity=65536, user=None):
        """Starts a fixture process holding a channel role. Returns
        (process, canonical address); for --close the process has exited."""
        return self._hold(address, ["channel", address, str(capacity), role, *opts], user)

    def server(self, address, *opts, capacity=65536):
        """Starts a fixture process holding a call server (one worker; opts:
        --clients N) that serves nothing. Returns (process, address)."""
        return self._hold(address, ["server", address, str(capacity), *opts], None)

    def client(self, address):
        """Starts a fixture process holding a client of the call server at
        address. Returns (process, address)."""
        return self._hold(address, ["client", address], None)

    def _hold(self, address, args, user):
        from pytest_shmlink import note_lock_set  # (loaded by pytest_plugins by now)

        if address != "sysv:private":
            self.names.adopt(address)
        opts = args[2:]
        p = self._start([*HOLDER, *args], user=user)
        line = p.stdout.readline().decode("utf-8", "surrogateescape").strip()
        if not line:
            p.wait(timeout=TIMEOUT)
            raise AssertionError(
                f"holder {args[0]} {address} {opts} failed: "
                + p.stderr.read().decode(errors="replace")
            )
        word, canonical = line.split(" ", 1)
        self.names.adopt(canonical)
        if canonical.startswith("sysv"):
            note_lock_set(canonical)  # also if a test removes it with the tool
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

    def stop(self) -> None:
        """Holders still alive close their channels (SIGTERM) before the
        channels are removed: a System V channel removed while held has its
        semaphore set removed by the last holder's close."""
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


@pytest.fixture
def shm(names):
    s = Shm(names)
    try:
        yield s
    finally:
        s.stop()  # then the names fixture removes every address


@pytest.fixture(scope="session", autouse=True)
def _cli_found():
    if not shutil.which(CLI[0]):
        pytest.exit(
            f"{CLI[0]} not found: run scripts/test-cli.sh (or set SHMLINK_CLI)",
            returncode=1,
        )


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
