"""Calls and many-writers channels across languages, both backends, against
the Go program tests/cross/gocalls (its command line is described in its
main.go). Every server answers with the echo rule: the reply is the request
with every byte XOR 0x5A.

- a Go client (8 goroutines on one connection) and 2 Python client
  processes against one Python server;
- Python clients against a Go server;
- SIGKILL of the Python server mid-call (the Go client exits 3, peer dead)
  and of a Go client mid-call (the Python server serves the others);
- a soak of SHMLINK_CROSS_CALLS calls (default 1000000) Go client -> Python
  server, nothing lost (marked slow);
- Go writers into a Python reader of a many-writers channel.

Skipped while tests/cross/gocalls does not exist.
"""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from crossutil import HERE, ROOT, measured

import shmlink

GOCALLS_DIR = os.path.join(ROOT, "tests", "cross", "gocalls")
BACKENDS = ["posix", "sysv"]
TABLE = bytes(b ^ 0x5A for b in range(256))

PY_SERVER = """
import sys, shmlink
address = sys.argv[1]
table = bytes(b ^ 0x5A for b in range(256))
srv = shmlink.Server.create(address, capacity=1 << 20, workers=2, clients=8)
print("ready", flush=True)
try:
    srv.serve(lambda req: bytes(req).translate(table))
except KeyboardInterrupt:
    pass
srv.close()
"""

PY_CLIENT = """
import os, sys, shmlink
address, count, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
table = bytes(b ^ 0x5A for b in range(256))
with shmlink.Client.open(address) as cli:
    for k in range(count):
        req = os.urandom(size if size >= 0 else k % (cli.max_message + 1))
        if cli.call(req, timeout=60) != req.translate(table):
            sys.exit(f"call {k}: wrong reply")
print("ok", count, flush=True)
"""


@pytest.fixture(scope="session")
def gocalls(tmp_path_factory) -> str:
    """The gocalls program, built once (SHMLINK_CROSS_GOBIN=DIR: prebuilt)."""
    prebuilt = os.environ.get("SHMLINK_CROSS_GOBIN")
    if prebuilt and os.access(os.path.join(prebuilt, "gocalls"), os.X_OK):
        return os.path.join(prebuilt, "gocalls")
    if not os.path.isfile(os.path.join(GOCALLS_DIR, "main.go")):
        pytest.skip("tests/cross/gocalls (the Go side of the calls cross test) does not exist yet")
    out = tmp_path_factory.mktemp("gocalls") / "gocalls"
    cmd = ["go", "build", "-o", str(out), "./tests/cross/gocalls"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout}{proc.stderr}"
    return str(out)


class Procs:
    """Processes of one test, killed when it ends."""

    def __init__(self) -> None:
        self.all: list[subprocess.Popen[str]] = []

    def start(self, argv: list[str], stdin: int = subprocess.DEVNULL) -> subprocess.Popen[str]:
        from pytest_shmlink import spawned

        p = subprocess.Popen(
            argv,
            cwd=HERE,
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        spawned(p.pid)
        self.all.append(p)
        return p

    def py(self, code: str, *args: str) -> subprocess.Popen[str]:
        return self.start([sys.executable, "-c", code, *args])

    def kill_all(self) -> None:
        for p in self.all:
            if p.poll() is None:
                p.kill()
            if p.stdin is not None and p.stdin.closed:
                p.stdin = None
            p.communicate()


@pytest.fixture
def procs() -> Iterator[Procs]:
    ps = Procs()
    try:
        yield ps
    finally:
        ps.kill_all()


def ready(p: subprocess.Popen[str]) -> None:
    assert p.stdout is not None
    line = p.stdout.readline()
    if line != "ready\n":
        p.kill()
        _, err = p.communicate()
        raise AssertionError(f"{p.args!r} did not start: {line!r}\n{err}")


def done(p: subprocess.Popen[str], timeout: float = 300) -> str:
    if p.stdin is not None and p.stdin.closed:
        p.stdin = None  # closed by the test: communicate must not flush it
    out, err = p.communicate(timeout=timeout)
    assert p.returncode == 0, f"{p.args!r} exited {p.returncode}:\n{out}\n{err}"
    return out


def reply_channels(names, address: str, pid: int) -> None:
    """A killed client (process pid) can leave its reply channel behind: the
    POSIX one "<address>.rN" (removed by the next client of slot N) or its
    System V private segment (removed by a worker only when a reply to it
    finds the ring full). Ours to remove when the test ends."""
    if address.startswith("posix:"):
        for slot in range(8):
            names.adopt(f"{address}.r{slot}")
        return
    from pytest_shmlink import sysv_segments

    for row in sysv_segments():
        if int(row["cpid"]) == pid:
            names.adopt(f"sysv-id:{row['shmid']}")


@pytest.mark.parametrize("backend", BACKENDS)
def test_go_and_python_clients_against_python_server(names, procs, gocalls, backend):
    addr = names.new(backend)
    srv = procs.py(PY_SERVER, addr)
    ready(srv)
    go = procs.start([gocalls, "client", addr, "-calls", "2000", "-goroutines", "8", "-size", "64"])
    pys = [procs.py(PY_CLIENT, addr, "2000", "-1") for _ in range(2)]
    assert done(go).split() == ["ok", "16000"]
    for p in pys:
        assert done(p).split() == ["ok", "2000"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_python_client_against_go_server(names, procs, gocalls, backend):
    addr = names.new(backend)
    srv = procs.start([gocalls, "server", addr, "-capacity", "65536"], stdin=subprocess.PIPE)
    ready(srv)
    with shmlink.Client.open(addr) as cli:
        for size in (0, 1, 64, 4096, cli.max_message):
            req = os.urandom(size)
            assert cli.call(req, timeout=30) == req.translate(TABLE)
    assert done(procs.py(PY_CLIENT, addr, "3000", "-1")).split() == ["ok", "3000"]
    assert srv.stdin is not None
    srv.stdin.close()  # end of stdin: the Go server exits 0
    done(srv, timeout=30)


@pytest.mark.parametrize("backend", BACKENDS)
def test_python_server_killed_mid_call(names, procs, gocalls, backend):
    addr = names.new(backend)
    srv = procs.py(PY_SERVER, addr)
    ready(srv)
    go = procs.start(
        [gocalls, "client", addr, "-calls", "10000000", "-goroutines", "8", "-size", "64"]
    )
    time.sleep(1.0)
    assert go.poll() is None, go.communicate()
    srv.send_signal(signal.SIGKILL)
    srv.wait(10)
    t0 = time.monotonic()
    _, err = go.communicate(timeout=30)
    elapsed = time.monotonic() - t0
    assert go.returncode == 3, err
    assert "peer-dead" in err
    assert elapsed < 5, elapsed


@pytest.mark.parametrize("backend", BACKENDS)
def test_go_client_killed_mid_call(names, procs, gocalls, backend):
    addr = names.new(backend)
    srv = procs.py(PY_SERVER, addr)
    ready(srv)
    go = procs.start(
        [gocalls, "client", addr, "-calls", "10000000", "-goroutines", "8", "-size", "64"]
    )
    time.sleep(1.0)
    assert go.poll() is None, go.communicate()
    go.kill()
    go.communicate()
    reply_channels(names, addr, go.pid)
    assert done(procs.py(PY_CLIENT, addr, "2000", "64")).split() == ["ok", "2000"]
    assert srv.poll() is None


@pytest.mark.slow
def test_soak_go_client_python_server(names, procs, gocalls):
    count = int(os.environ.get("SHMLINK_CROSS_CALLS", "1000000"))
    goroutines = 8
    per = count // goroutines
    addr = names.posix()
    srv = procs.py(PY_SERVER, addr)
    ready(srv)
    t0 = time.monotonic()
    go = procs.start(
        [gocalls, "client", addr, "-calls", str(per), "-goroutines", str(goroutines),
         "-size", "64", "-seed", "7"]
    )  # fmt: skip
    assert done(go, timeout=1800).split() == ["ok", str(per * goroutines)]
    elapsed = time.monotonic() - t0
    measured(
        f"soak: {per * goroutines} calls Go client (8 goroutines) -> Python server in "
        f"{elapsed:.1f} s ({per * goroutines / elapsed:.0f} calls/s)"
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_go_writers_into_python_reader(names, procs, gocalls, backend):
    addr = names.new(backend)
    writers, count = 3, 5000
    with shmlink.Reader.create(addr, capacity=1 << 14, writers=writers) as r:
        ws = [
            procs.start([gocalls, "writer", addr, "-count", str(count), "-id", str(i)])
            for i in range(writers)
        ]
        got: dict[int, list[int]] = {}
        slots: dict[int, set[int]] = {}
        for _ in range(writers * count):
            msg = r.recv(timeout=60)
            assert len(msg) == 16, msg
            head, tail = struct.unpack("<QQ", msg)
            wid, k = head >> 32, head & 0xFFFFFFFF
            assert tail == k * 7, (wid, k, tail)
            got.setdefault(wid, []).append(k)
            slots.setdefault(wid, set()).add(r.source)
        for p in ws:
            done(p)
        if {s for held in slots.values() for s in held} == set(range(writers)):
            # every writer slot was held and closed: end of stream
            with pytest.raises(EOFError):
                r.recv(timeout=10)
        # (a writer that finished before another started frees its slot for
        # it; then a slot was never held and the reader keeps waiting)
    assert sorted(got) == list(range(writers))
    for ks in got.values():
        assert ks == list(range(count))  # every message once, in its writer's order
    assert all(len(s) == 1 for s in slots.values())  # a writer's messages: one slot
