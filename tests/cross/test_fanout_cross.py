"""Fan-out channels across languages: a Go writer feeding 4 Python reader
processes in broadcast and in queue mode, both backends, with one reader
killed mid-stream; a Python writer feeding 2 Go readers in broadcast mode.

Broadcast: every surviving reader checks the whole sequence, message by
message (sequence number, length, crc32), and the killed reader does not
hold the writer back. Queue: each reader checks that its sequence numbers
rise and every message is intact; the union of what the readers took
(the killed one's share included) is exactly the sent set, each message
once (recv takes a message for good; the killed reader was idle)."""

from __future__ import annotations

import pytest
from crossutil import measured

BACKENDS = ["posix", "sysv"]
N = 20000


@pytest.mark.parametrize("backend", BACKENDS)
def test_go_writer_broadcast_to_four_python_readers(names, peers, backend, tmp_path):
    addr = names.new(backend)
    go_file = tmp_path / "go"
    w = peers.go(
        "gowriter", "-addr", addr, "-create", "-ready", "-readers", "4", "-fanout", "broadcast",
        "-capacity", "65536", "-count", str(N), "-pattern", "random", "-max-size", "2000",
        "-wait-file", str(go_file), "-wait-after", "0",
    )  # fmt: skip
    w.event("ready")
    readers = []
    for i in range(4):
        extra = ["--stop-after", "3000"] if i == 0 else ["--expect-count", str(N)]
        r = peers.py("py_reader", "--addr", addr, "--ready", *extra)
        r.event("ready")
        readers.append(r)
    go_file.touch()
    readers[0].event("consumed")
    readers[0].kill()  # dies holding slot 0, mid-stream
    wres = w.ok(timeout=180)
    assert wres["count"] == N
    for r in readers[1:]:
        res = r.ok(timeout=180)
        assert res["count"] == N
    measured(
        f"go writer -> 4 python readers, broadcast ({backend}): {N} messages each to 3 "
        f"survivors, one reader SIGKILLed after 3000"
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_go_writer_queue_to_four_python_readers(names, peers, backend):
    addr = names.new(backend)
    w = peers.go(
        "gowriter", "-addr", addr, "-create", "-ready", "-readers", "4", "-fanout", "queue",
        "-capacity", "65536", "-count", str(N), "-pattern", "fixed:64",
    )  # fmt: skip
    w.event("ready")
    # The victim takes its 500 first (alone, so the others cannot drain the
    # queue before it), then stops; the others join and it is killed.
    victim = peers.py("py_reader", "--addr", addr, "--queue", "--stop-after", "500")
    taken = victim.event("consumed", timeout=120)["seqs"]
    others = [peers.py("py_reader", "--addr", addr, "--queue", "--ready") for _ in range(3)]
    for r in others:
        r.event("ready")  # joined: the writer always has a live reader
    victim.kill()
    wres = w.ok(timeout=180)
    assert wres["count"] == N
    seqs = list(taken)
    for r in others:
        res = r.ok(timeout=180)
        seqs += res["seqs"]
    assert len(seqs) == N, f"{len(seqs)} messages taken, {N} sent"
    assert sorted(seqs) == list(range(N)), "a message was lost or delivered twice"
    measured(
        f"go writer -> 4 python readers, queue ({backend}): {N} messages, each taken once; "
        f"shares {[len(taken)] + [len(r.result()[1]['seqs']) for r in others]}"
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_python_writer_broadcast_to_two_go_readers(names, peers, backend, tmp_path):
    addr = names.new(backend)
    go_file = tmp_path / "go"
    n = 5000
    w = peers.py(
        "py_writer", "--addr", addr, "--create", "--ready", "--readers", "2",
        "--fanout", "broadcast", "--capacity", "65536", "--count", str(n),
        "--wait-file", str(go_file),
    )  # fmt: skip
    w.event("ready")
    readers = []
    for _ in range(2):
        r = peers.go("goreader", "-addr", addr, "-ready", "-expect-count", str(n))
        r.event("ready")
        readers.append(r)
    go_file.touch()
    w.ok(timeout=180)
    for r in readers:
        assert r.ok(timeout=180)["count"] == n
