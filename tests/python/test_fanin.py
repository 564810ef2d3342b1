"""Many-writers channels from Python: writers= on create, writers that join
with Writer.open (their slot in Writer.slot), Reader.source, several writer
processes into one reader and into a work queue, a writer killed between
reserve and commit, and the end-of-stream rule (every writer slot's last
holder closed it; PeerDeadError if one died; waiting while a slot was never
held)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

import shmlink

from conftest import HERE

# Takes a writer slot, says so, and (with "gate") waits for a line on stdin
# before it sends: a writer that closed frees its slot for the next one to
# open, so writers meant to hold distinct slots must all be open at once.
WRITER = """
import sys, shmlink
address, tag, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with shmlink.Writer.open(address) as w:
    print("open", w.slot, flush=True)
    if sys.argv[4:] == ["gate"]:
        sys.stdin.readline()
    for k in range(count):
        w.send(b"%d %d %d" % (tag, w.slot, k))
"""


def spawn(code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=HERE,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def writers_at_once(address: str, n: int, count: int) -> list[subprocess.Popen[str]]:
    """n writer processes holding slots 0..n-1 at once, then sending."""
    procs = [spawn(WRITER, address, str(i), str(count), "gate") for i in range(n)]
    try:
        slots = []
        for p in procs:
            assert p.stdout is not None
            slots.append(int(p.stdout.readline().split()[1]))
        assert sorted(slots) == list(range(n))
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.close()
    except BaseException:
        for p in procs:
            p.kill()
            p.communicate()
        raise
    return procs


def drain(r: shmlink.Reader) -> list[tuple[int, bytes]]:
    """(source, message) until the end of stream; a stall fails the test."""
    got = []
    while True:
        try:
            msg = r.recv(timeout=30)
        except EOFError:
            return got
        got.append((r.source, msg))


def finish(procs: list[subprocess.Popen[str]]) -> None:
    for p in procs:
        if p.stdin is not None and p.stdin.closed:
            p.stdin = None
        try:
            _, err = p.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            raise
        assert p.returncode == 0, err


def check_stream(got: list[tuple[int, bytes]], writers: int, count: int) -> None:
    """Every message once, each writer's in its order, source = its slot."""
    per: dict[int, list[int]] = {}
    for source, msg in got:
        tag, slot, k = (int(x) for x in msg.split())
        assert slot == source, (msg, source)
        per.setdefault(tag, []).append(k)
    assert sorted(per) == list(range(writers))
    for ks in per.values():
        assert ks == list(range(count))


@pytest.mark.parametrize("backend", ["posix", "sysv"])
def test_writer_processes_into_one_reader(names, backend):
    address = names.new(backend)
    count = 2000
    with shmlink.Reader.create(address, capacity=1 << 13, writers=3) as r:
        assert r.writers == 3
        assert r.fanout is None
        procs = writers_at_once(address, 3, count)
        try:
            got = drain(r)  # ends once every writer slot's holder closed it
        finally:
            finish(procs)
        assert len(got) == 3 * count
        check_stream(got, 3, count)


@pytest.mark.parametrize("backend", ["posix", "sysv"])
def test_queue_with_many_writers(names, backend):
    address = names.new(backend)
    count = 1000
    with shmlink.Reader.create(
        address, capacity=1 << 13, readers=2, fanout="queue", writers=2
    ) as a:
        assert (a.fanout, a.writers) == ("queue", 2)
        b = shmlink.Reader.open(address)
        procs = writers_at_once(address, 2, count)
        try:
            got: list[bytes] = []
            done = {a: False, b: False}
            until = time.monotonic() + 60
            while not all(done.values()):
                assert time.monotonic() < until, f"stalled after {len(got)} messages"
                for r in (a, b):
                    if done[r]:
                        continue
                    try:
                        got.extend(r.recv_batch(64, timeout=0.01))
                    except TimeoutError:
                        pass
                    except EOFError:
                        done[r] = True
        finally:
            b.close()
            finish(procs)
        per: dict[int, list[int]] = {}
        for msg in got:
            tag, _, k = (int(x) for x in msg.split())
            per.setdefault(tag, []).append(k)
        assert {t: sorted(ks) for t, ks in per.items()} == {t: list(range(count)) for t in range(2)}


def test_writer_slots_and_busy(names):
    address = names.posix()
    with shmlink.Writer.create(address, capacity=4096, writers=2) as w0:
        assert (w0.slot, w0.writers) == (0, 2)
        with shmlink.Reader.open(address) as r, shmlink.Writer.open(address) as w1:
            assert w1.slot == 1
            with pytest.raises(shmlink.BusyError):
                shmlink.Writer.open(address)
            w1.send(b"from 1")
            w0.send(b"from 0")
            got = {r.recv(timeout=5): r.source for _ in range(2)}
            assert got == {b"from 0": 0, b"from 1": 1}


def test_writers_argument_checked(names):
    address = names.posix()
    with pytest.raises(ValueError, match=r"writers must be within 1\.\.64"):
        shmlink.Reader.create(address, writers=0)
    with pytest.raises(ValueError, match=r"writers must be within 1\.\.64"):
        shmlink.Reader.create(address, writers=65)
    with pytest.raises(TypeError, match="writers must be an int"):
        shmlink.Reader.create(address, writers="2")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="broadcast channel has one writer"):
        shmlink.Writer.create(address, readers=2, fanout="broadcast", writers=2)


KILLED = """
import sys, time, shmlink
w = shmlink.Writer.open(sys.argv[1])
res = w.reserve(16)
res.buf[:4] = b"half"
print("reserved", w.slot, flush=True)
time.sleep(60)
"""


@pytest.mark.parametrize("backend", ["posix", "sysv"])
def test_writer_killed_between_reserve_and_commit_stalls_nothing(names, backend):
    address = names.new(backend)
    with shmlink.Reader.create(address, capacity=4096, writers=2) as r:
        victim = spawn(KILLED, address)
        try:
            assert victim.stdout is not None
            assert victim.stdout.readline().split() == ["reserved", "0"]
            other = spawn(WRITER, address, "1", "500")
            assert other.stdout is not None
            assert other.stdout.readline().split() == ["open", "1"]
            got = [(r.recv(timeout=10), r.source) for _ in range(500)]
            finish([other])
            assert [m for m, _ in got] == [b"1 1 %d" % k for k in range(500)]
            assert {s for _, s in got} == {1}
        finally:
            os.kill(victim.pid, signal.SIGKILL)
            victim.communicate()
        # slot 0's last holder died, slot 1's closed: peer dead once drained
        with pytest.raises(shmlink.PeerDeadError):
            r.recv(timeout=10)


def test_end_of_stream_waits_for_every_slot(names):
    address = names.posix()
    with shmlink.Reader.create(address, capacity=4096, writers=3) as r:
        a, b = shmlink.Writer.open(address), shmlink.Writer.open(address)
        assert (a.slot, b.slot) == (0, 1)
        a.send(b"a")
        a.close()
        b.send(b"b")
        b.close()
        assert sorted(r.recv(timeout=5) for _ in range(2)) == [b"a", b"b"]
        # slot 2 was never held: no end of stream yet
        with pytest.raises(TimeoutError):
            r.recv(timeout=0.2)
        ws = [shmlink.Writer.open(address) for _ in range(3)]
        assert [w.slot for w in ws] == [0, 1, 2]
        ws[2].send(b"c")
        for w in ws:
            w.close()
        assert list(r) == [b"c"]  # then end of stream ends the iteration
        with pytest.raises(EOFError):
            r.recv(timeout=1)
