"""Fixtures of the cross-language suite: the Go programs (built once per
session) and peer processes that are killed when a test ends. Unique
addresses (``names``) and the final leak check come from the shared plugin
tests/pytest_shmlink.py.

Scale the big streams with SHMLINK_CROSS_MESSAGES (default 1000000).
"""

from __future__ import annotations

import itertools
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from crossutil import GO_PROGRAMS, HERE, MEASURED, ROOT

# The shared plugin (unique addresses, leak check). Imported by pytest itself
# (not at the top here), so that its asserts are rewritten.
pytest_plugins = ["pytest_shmlink"]
_peer_counter = itertools.count()


@pytest.fixture(scope="session")
def go_bins(tmp_path_factory) -> dict[str, str]:
    """Builds the Go programs once per session; returns name -> executable.
    SHMLINK_CROSS_GOBIN=DIR uses programs built beforehand into DIR instead."""
    prebuilt = os.environ.get("SHMLINK_CROSS_GOBIN")
    if prebuilt:
        bins = {p: os.path.join(prebuilt, p) for p in GO_PROGRAMS}
        missing = [b for b in bins.values() if not os.access(b, os.X_OK)]
        assert not missing, f"SHMLINK_CROSS_GOBIN={prebuilt}: no executable {missing}"
        return bins
    out = tmp_path_factory.mktemp("gobin")
    cmd = ["go", "build", "-o", str(out)] + [f"./tests/cross/{p}" for p in GO_PROGRAMS]
    t0 = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout}{proc.stderr}"
    print(f"\nbuilt the Go programs in {time.monotonic() - t0:.1f} s")
    return {p: str(out / p) for p in GO_PROGRAMS}


class Peer:
    """A program of the suite running as a separate process. Its stdout is
    read line by line (JSON events) by a thread; stderr goes to a file."""

    def __init__(self, argv: list[str], name: str, tmpdir: Path, stdin=subprocess.DEVNULL) -> None:
        self.name = name
        self.argv = argv
        self.errpath = tmpdir / f"{name}-{next(_peer_counter)}.stderr"
        self._err = open(self.errpath, "w+")
        self.proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=self._err,
            stdin=stdin,
            text=True,
            bufsize=1,
            cwd=HERE,
        )
        from pytest_shmlink import spawned  # (loaded by pytest_plugins by now)

        spawned(self.proc.pid)
        self.pid = self.proc.pid
        self.lines: list[str] = []
        self._q: queue.Queue = queue.Queue()
        self._t = threading.Thread(target=self._pump, daemon=True)
        self._t.start()

    def _pump(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            self._q.put(ev)
        self._q.put(None)

    def stderr(self) -> str:
        self._err.flush()
        return self.errpath.read_text()

    def describe(self) -> str:
        return (
            f"{self.name} {' '.join(self.argv)}\n--- stdout:\n{''.join(self.lines)}"
            f"--- stderr:\n{self.stderr()}"
        )

    def event(self, kind: str, timeout: float = 60.0) -> dict:
        """Waits for the next event of this kind (a result instead fails)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(
                    f"no {kind!r} event from {self.name} within {timeout} s\n{self.describe()}"
                )
            try:
                ev = self._q.get(timeout=left)
            except queue.Empty:
                continue
            if ev is None:
                pytest.fail(
                    f"{self.name} ended before a {kind!r} event (status "
                    f"{self.proc.wait()})\n{self.describe()}"
                )
            if ev.get("event") == kind:
                return ev
            if ev.get("event") == "result":
                pytest.fail(
                    f"{self.name} finished before a {kind!r} event: {ev}\n{self.describe()}"
                )

    def result(self, timeout: float = 120.0) -> tuple[int, dict]:
        """Waits for the process to end; returns its exit status and result event."""
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(
                f"{self.name} did not finish within {timeout} s (killed)\n{self.describe()}"
            )
        self._t.join(timeout=10)
        res = None
        for line in self.lines:
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if ev.get("event") == "result":
                res = ev
        if res is None:
            pytest.fail(f"{self.name} exited with {rc} without a result line\n{self.describe()}")
        return rc, res

    def ok(self, timeout: float = 120.0) -> dict:
        """Waits for the process and asserts it exited 0 with ok: true."""
        rc, res = self.result(timeout)
        assert rc == 0 and res.get("ok") is True, (
            f"{self.name} failed ({rc}): {res}\n{self.describe()}"
        )
        return res

    def ok_with(self, other: Peer, timeout: float = 120.0) -> tuple[dict, dict]:
        """Waits for both processes and asserts both succeeded; a failure
        shows both sides. Returns (self's result, other's result)."""
        rc1, res1 = self.result(timeout)
        rc2, res2 = other.result(timeout)
        good = rc1 == 0 and res1.get("ok") is True and rc2 == 0 and res2.get("ok") is True
        assert good, (
            f"{self.name} ({rc1}): {res1}\n{other.name} ({rc2}): {res2}\n"
            f"{self.describe()}\n{other.describe()}"
        )
        return res1, res2

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(sig)
            except ProcessLookupError:
                pass

    def close(self) -> None:
        if self.proc.poll() is None:
            self.kill()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
        self._err.close()


class Peers:
    """Starts the suite's programs; kills whatever still runs at the end."""

    def __init__(self, go_bins: dict[str, str], tmpdir: Path) -> None:
        self.go_bins = go_bins
        self.tmpdir = tmpdir
        self.started: list[Peer] = []

    def _start(self, argv, name, stdin=subprocess.DEVNULL) -> Peer:
        p = Peer(argv, name, self.tmpdir, stdin)
        self.started.append(p)
        return p

    def go(self, prog: str, *args: str, stdin=subprocess.DEVNULL) -> Peer:
        return self._start([self.go_bins[prog], *args], prog, stdin)

    def py(self, script: str, *args: str) -> Peer:
        return self._start([sys.executable, str(HERE / f"{script}.py"), *args], script)

    def close_all(self) -> None:
        for p in self.started:
            p.close()


@pytest.fixture
def peers(go_bins, tmp_path, names):  # after names: processes die before segments go
    ps = Peers(go_bins, tmp_path)
    yield ps
    ps.close_all()


def pytest_terminal_summary(terminalreporter):
    if MEASURED:
        terminalreporter.section("cross-language measurements")
        for line in MEASURED:
            terminalreporter.write_line(line)
