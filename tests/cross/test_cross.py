"""Go and Python talking through shmlink channels and segments, as separate
processes, in both directions and on both backends.

Every peer prints a final JSON result line; the checks here compare what the
writer says it committed with what the reader verified byte for byte (see
crossfmt.py for the message format).
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import shmlink
from crossutil import measured, messages

BACKENDS = ["posix", "sysv"]


def same_stream(w: dict, r: dict) -> None:
    for k in ("count", "bytes", "crcsum"):
        assert w[k] == r[k], f"writer {k}={w[k]} but reader {k}={r[k]}\nwriter {w}\nreader {r}"


def go_to_python(
    names,
    peers,
    backend,
    n,
    *,
    go_api="send",
    py_api="recv",
    pattern="random",
    capacity=1 << 20,
    seed=7,
    go_creates=True,
):
    addr = names.new(backend)
    common = ["-count", str(n), "-pattern", pattern, "-api", go_api, "-seed", str(seed)]
    if go_creates:
        w = peers.go(
            "gowriter", "-addr", addr, "-create", "-capacity", str(capacity), "-ready", *common
        )
        w.event("ready")
        r = peers.py("py_reader", "--addr", addr, "--api", py_api)
    else:
        r = peers.py(
            "py_reader",
            "--addr",
            addr,
            "--create",
            "--capacity",
            str(capacity),
            "--ready",
            "--api",
            py_api,
        )
        r.event("ready")
        w = peers.go("gowriter", "-addr", addr, *common)
    timeout = 120 + n / 5000
    wres, rres = w.ok_with(r, timeout)
    assert wres["count"] == n
    same_stream(wres, rres)
    return wres, rres


def python_to_go(
    names,
    peers,
    backend,
    n,
    *,
    py_api="send",
    go_api="recv",
    pattern="random",
    capacity=1 << 20,
    seed=11,
    go_creates=True,
):
    addr = names.new(backend)
    common = ["--count", str(n), "--pattern", pattern, "--api", py_api, "--seed", str(seed)]
    if go_creates:
        r = peers.go(
            "goreader",
            "-addr",
            addr,
            "-create",
            "-capacity",
            str(capacity),
            "-ready",
            "-api",
            go_api,
        )
        r.event("ready")
        w = peers.py("py_writer", "--addr", addr, *common)
    else:
        w = peers.py(
            "py_writer", "--addr", addr, "--create", "--capacity", str(capacity), "--ready", *common
        )
        w.event("ready")
        r = peers.go("goreader", "-addr", addr, "-api", go_api)
    timeout = 120 + n / 5000
    wres, rres = w.ok_with(r, timeout)
    assert wres["count"] == n
    same_stream(wres, rres)
    return wres, rres


# --- a million random-size messages ---------------------------------------------------------


@pytest.mark.parametrize("backend,py_api", [("posix", "recv"), ("sysv", "batch")])
def test_million_go_to_python(names, peers, backend, py_api):
    n = messages()
    w, r = go_to_python(names, peers, backend, n, py_api=py_api)
    measured(
        f"go->python {backend} {py_api}: {n} msgs, {r['bytes'] / 1e6:.0f} MB in "
        f"{r['elapsed_s']:.2f} s ({r['msgs_per_s'] / 1e6:.2f} M msg/s at the reader)"
    )


# The reserve API of the Python writer is slower per message; it is covered
# by the shorter API-variant streams below.
@pytest.mark.parametrize(
    "backend,py_api,go_api", [("posix", "send", "recv"), ("sysv", "send", "batch")]
)
def test_million_python_to_go(names, peers, backend, py_api, go_api):
    n = messages()
    w, r = python_to_go(names, peers, backend, n, py_api=py_api, go_api=go_api)
    measured(
        f"python->go {backend} {py_api}/{go_api}: {n} msgs, {w['bytes'] / 1e6:.0f} MB in "
        f"{w['elapsed_s']:.2f} s ({w['msgs_per_s'] / 1e6:.2f} M msg/s at the writer)"
    )


# --- every API variant on a shorter stream ---------------------------------------------------


# Each API of one side meets several of the other, on both backends.
GO_WRITER_APIS = ["send", "sendctx", "sendtimeout", "reserve"]
PY_READER_APIS = ["recv", "into", "batch", "peek", "iter"]
GO_READER_APIS = ["recv", "recvctx", "recvtimeout", "peek", "peekctx", "batch", "grow"]
PY_WRITER_APIS = ["send", "reserve"]


GO_TO_PY = [(BACKENDS[i % 2], GO_WRITER_APIS[i % 4], a) for i, a in enumerate(PY_READER_APIS)]
PY_TO_GO = [(BACKENDS[(i + 1) % 2], PY_WRITER_APIS[i % 2], a) for i, a in enumerate(GO_READER_APIS)]


@pytest.mark.parametrize("backend,go_api,py_api", GO_TO_PY)
def test_api_variants_go_to_python(names, peers, backend, go_api, py_api):
    go_to_python(names, peers, backend, 10_000, go_api=go_api, py_api=py_api, go_creates=False)


@pytest.mark.parametrize("backend,py_api,go_api", PY_TO_GO)
def test_api_variants_python_to_go(names, peers, backend, py_api, go_api):
    python_to_go(names, peers, backend, 10_000, py_api=py_api, go_api=go_api, go_creates=False)


# --- zero-length and maximum-size messages ---------------------------------------------------


@pytest.mark.parametrize("capacity", [4096, 1 << 20])
@pytest.mark.parametrize("backend", BACKENDS)
def test_edges_go_to_python(names, peers, backend, capacity):
    w, r = go_to_python(
        names, peers, backend, 300, pattern="edges", capacity=capacity, py_api="into"
    )
    assert w["oversize"].startswith("EMSGSIZE"), w
    assert r["max_len"] >= capacity // 4, r  # maximum-size messages went through


@pytest.mark.parametrize("capacity", [4096, 1 << 20])
@pytest.mark.parametrize("backend", BACKENDS)
def test_edges_python_to_go(names, peers, backend, capacity):
    w, r = python_to_go(
        names, peers, backend, 300, pattern="edges", capacity=capacity, go_api="grow"
    )
    assert w["oversize"].startswith("ValueError"), w
    assert r["max_len"] >= capacity // 4, r  # maximum-size messages went through
    # the reader started with a 16-byte buffer: large messages came back as
    # "short buffer, need N" and were then read whole
    assert r["short_buffers"] > 0, r


# --- a slow reader: the writer blocks, nothing is lost ----------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_slow_reader_blocks_writer(names, peers, backend):
    addr = names.new(backend)
    n = 3000  # 3000 * 100 B = 300 kB through a 4 KiB ring
    w = peers.go(
        "gowriter",
        "-addr",
        addr,
        "-create",
        "-capacity",
        "4096",
        "-ready",
        "-count",
        str(n),
        "-pattern",
        "fixed:100",
    )
    w.event("ready")
    pause = 1.5
    r = peers.py(
        "py_reader",
        "--addr",
        addr,
        "--pause-after-first",
        str(pause),
        "--delay",
        "0.001",
        "--delay-count",
        "300",
    )
    wres, rres = w.ok_with(r)
    same_stream(wres, rres)
    assert rres["count"] == n
    # While the reader slept the ring filled up and one Send had to wait for
    # it (a lower bound only: a loaded machine makes it longer, not shorter).
    assert wres["longest_send_s"] >= pause * 0.5, wres
    measured(
        f"slow reader {backend}: longest blocked Send {wres['longest_send_s']:.2f} s "
        f"(reader paused {pause} s)"
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_slow_go_reader(names, peers, backend):
    addr = names.new(backend)
    r = peers.go(
        "goreader",
        "-addr",
        addr,
        "-create",
        "-capacity",
        "4096",
        "-ready",
        "-pause-after-first",
        "1s",
        "-expect-count",
        "2000",
    )
    r.event("ready")
    t0 = time.monotonic()
    w = peers.py("py_writer", "--addr", addr, "--count", "2000", "--pattern", "fixed:200")
    wres, rres = w.ok_with(r)
    same_stream(wres, rres)
    # 400 kB cannot pass a 4 KiB ring while the reader sleeps 1 s
    assert time.monotonic() - t0 >= 1.0


# --- end of stream --------------------------------------------------------------------------


@pytest.mark.parametrize("n", [0, 1000])
@pytest.mark.parametrize("backend", BACKENDS)
def test_end_of_stream_after_writer_left(names, peers, backend, n):
    """The Go writer sends, closes and exits before the reader even opens."""
    addr = names.new(backend)
    w = peers.go("gowriter", "-addr", addr, "-create", "-count", str(n), "-pattern", "fixed:64")
    wres = w.ok()
    r = peers.py("py_reader", "--addr", addr, "--expect-count", str(n))
    rres = r.ok()
    same_stream(wres, rres)
    # and a later reader still sees a finished, empty stream
    r2 = peers.go("goreader", "-addr", addr, "-expect-count", "0")
    r2.ok()


@pytest.mark.parametrize("backend", BACKENDS)
def test_end_of_stream_python_writer_to_go(names, peers, backend):
    addr = names.new(backend)
    w = peers.py("py_writer", "--addr", addr, "--create", "--count", "500", "--pattern", "fixed:32")
    wres = w.ok()
    r = peers.go("goreader", "-addr", addr, "-expect-count", "500", "-api", "peek")
    same_stream(wres, r.ok())


# --- writer SIGKILL -------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("writer", ["go", "python"])
def test_writer_killed_mid_message(names, peers, backend, writer):
    """The writer dies holding a half-written reservation: the reader gets
    every committed message, then peer-dead (within 1 s by the spec)."""
    addr = names.new(backend)
    n = 5000
    if writer == "go":
        w = peers.go(
            "gowriter", "-addr", addr, "-create", "-ready", "-count", "-1", "-hang-after", str(n)
        )
        w.event("ready")
        r = peers.py(
            "py_reader", "--addr", addr, "--expect-end", "peer_dead", "--expect-count", str(n)
        )
    else:
        w = peers.py(
            "py_writer",
            "--addr",
            addr,
            "--create",
            "--ready",
            "--count",
            "-1",
            "--hang-after",
            str(n),
        )
        w.event("ready")
        r = peers.go("goreader", "-addr", addr, "-expect-end", "peer_dead", "-expect-count", str(n))
    assert w.event("hang")["count"] == n
    time.sleep(0.3)  # let the reader drain and block waiting
    t_kill = time.monotonic()
    w.kill()
    rres = r.ok(timeout=60)
    delay = rres["ended_at"] - t_kill
    measured(f"{writer} writer SIGKILL ({backend}) -> reader peer-dead after {delay * 1000:.0f} ms")
    assert 0 <= delay < 5.0, f"peer death reported {delay:.2f} s after the kill"


@pytest.mark.parametrize("backend", BACKENDS)
def test_writer_killed_while_streaming(names, peers, backend):
    """Killed at full speed, at an arbitrary point: the reader's stream up to
    the end is complete and intact (checked message by message), then
    PeerDeadError."""
    addr = names.new(backend)
    w = peers.go(
        "gowriter", "-addr", addr, "-create", "-ready", "-count", "-1", "-capacity", "65536"
    )
    w.event("ready")
    r = peers.py("py_reader", "--addr", addr, "--expect-end", "peer_dead", "--ready")
    r.event("ready")
    time.sleep(0.5)
    t_kill = time.monotonic()
    w.kill()
    rres = r.ok(timeout=60)
    assert rres["count"] > 0
    delay = rres["ended_at"] - t_kill
    measured(
        f"go writer SIGKILL mid-stream ({backend}) -> python peer-dead after "
        f"{delay * 1000:.0f} ms, {rres['count']} intact messages"
    )
    assert delay < 5.0


# --- reader SIGKILL -------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reader", ["python", "go"])
def test_reader_killed_blocked_writer_gets_peer_dead(names, peers, backend, reader):
    addr = names.new(backend)
    if reader == "python":
        r = peers.py(
            "py_reader",
            "--addr",
            addr,
            "--create",
            "--capacity",
            "4096",
            "--ready",
            "--stop-after",
            "10",
        )
        r.event("ready")
        w = peers.go(
            "gowriter",
            "-addr",
            addr,
            "-count",
            "-1",
            "-pattern",
            "fixed:100",
            "-expect-end",
            "peer_dead",
        )
    else:
        r = peers.go(
            "goreader", "-addr", addr, "-create", "-capacity", "4096", "-ready", "-stop-after", "10"
        )
        r.event("ready")
        w = peers.py(
            "py_writer",
            "--addr",
            addr,
            "--count",
            "-1",
            "--pattern",
            "fixed:100",
            "--expect-end",
            "peer_dead",
        )
    r.event("consumed")
    time.sleep(0.3)  # the writer fills the 4 KiB ring and blocks
    assert w.proc.poll() is None, "writer ended while the reader was still alive"
    t_kill = time.monotonic()
    r.kill()
    wres = w.ok(timeout=60)
    assert wres["count"] >= 10
    delay = wres["ended_at"] - t_kill
    measured(
        f"{reader} reader SIGKILL ({backend}) -> blocked writer peer-dead after "
        f"{delay * 1000:.0f} ms"
    )
    assert 0 <= delay < 5.0


# --- restart --------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("second", ["python", "go"])
def test_restarted_reader_resumes(names, peers, backend, second, tmp_path):
    """A reader killed after consuming 300 messages; a new reader opens the
    channel (the Go writer still alive) and gets message 300 onwards."""
    addr = names.new(backend)
    go_on = tmp_path / "go-on"
    w = peers.go(
        "gowriter",
        "-addr",
        addr,
        "-create",
        "-ready",
        "-count",
        "2000",
        "-pattern",
        "fixed:64",
        "-wait-file",
        str(go_on),
        "-wait-after",
        "1000",
    )
    w.event("ready")
    r1 = peers.py("py_reader", "--addr", addr, "--stop-after", "300")
    assert r1.event("consumed")["count"] == 300
    w.event("waiting")  # the first 1000 are in the ring (64 kB of 1 MiB)
    r1.kill()
    r1.proc.wait(timeout=30)
    if second == "python":
        r2 = peers.py(
            "py_reader",
            "--addr",
            addr,
            "--ready",
            "--expect-start",
            "300",
            "--expect-count",
            "1700",
        )
    else:
        r2 = peers.go(
            "goreader", "-addr", addr, "-ready", "-expect-start", "300", "-expect-count", "1700"
        )
    r2.event("ready")
    go_on.touch()
    wres, rres = w.ok(), r2.ok()
    assert wres["count"] == 2000 and rres["count"] == 1700
    assert rres["next_seq"] == 2000


@pytest.mark.parametrize("backend", BACKENDS)
def test_new_writer_after_dead_writer(names, peers, backend):
    """A Go writer exits without closing after 500 messages; a Python writer
    takes over and continues at 500; the reader sees one stream of 1000."""
    addr = names.new(backend)
    w1 = peers.go(
        "gowriter",
        "-addr",
        addr,
        "-create",
        "-count",
        "500",
        "-pattern",
        "fixed:64",
        "-no-close",
        "-expect-end",
        "exit_without_close",
    )
    w1res = w1.ok()
    w2 = peers.py(
        "py_writer", "--addr", addr, "--count", "500", "--start", "500", "--pattern", "fixed:64"
    )
    w2res = w2.ok()
    r = peers.go("goreader", "-addr", addr, "-expect-count", "1000")
    rres = r.ok()
    assert rres["count"] == 1000
    assert rres["crcsum"] == (w1res["crcsum"] + w2res["crcsum"]) % (1 << 64)


# --- busy -----------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_second_writer_refused(names, peers, backend, tmp_path):
    addr = names.new(backend)
    go_on = tmp_path / "go-on"
    w = peers.go(
        "gowriter",
        "-addr",
        addr,
        "-create",
        "-ready",
        "-count",
        "10",
        "-wait-file",
        str(go_on),
        "-wait-after",
        "0",
    )
    w.event("ready")
    w.event("waiting")
    # a second writer, in Python: in this process and as a separate program
    with pytest.raises(shmlink.BusyError):
        shmlink.Writer.open(addr)
    w2 = peers.py("py_writer", "--addr", addr, "--expect-end", "busy")
    assert w2.ok()["end"] == "busy"
    # the refused writers did not disturb the stream
    r = peers.py("py_reader", "--addr", addr, "--expect-count", "10")
    go_on.touch()
    same_stream(w.ok(), r.ok())


@pytest.mark.parametrize("backend", BACKENDS)
def test_go_refused_when_python_holds_roles(names, peers, backend):
    addr = names.new(backend)
    with shmlink.Writer.create(addr, capacity=4096) as w:
        gw = peers.go("gowriter", "-addr", addr, "-expect-end", "busy")
        assert gw.ok()["end"] == "busy"
        with shmlink.Reader.open(addr) as r:
            gr = peers.go("goreader", "-addr", addr, "-expect-end", "busy")
            assert gr.ok()["end"] == "busy"
            w.send(b"still fine")
            assert r.recv(timeout=10) == b"still fine"


# --- raw segments ---------------------------------------------------------------------------


def seg_pattern(tag: int, start: int, stop: int) -> np.ndarray:
    i = np.arange(start, stop, dtype=np.int64)
    return ((i * 131 + tag * 7 + (i >> 8)) & 0xFF).astype(np.uint8)


@pytest.mark.parametrize("kind", ["posix", "sysv", "sysv-private"])
def test_raw_segment_go_creates_python_reads(names, peers, kind):
    import subprocess

    size = (1 << 20) + 4096
    addr = "sysv:private" if kind == "sysv-private" else names.new(kind)
    g = peers.go("goseg", "-addr", addr, "-create", "-size", str(size), stdin=subprocess.PIPE)
    ready = g.event("ready")
    real = names.adopt(ready["address"]) if kind == "sysv-private" else addr
    if kind == "sysv-private":
        assert real.startswith("sysv-id:"), ready
    half = size // 2
    with shmlink.Segment.open(real) as seg:
        assert seg.size == size
        a = np.frombuffer(seg.buf, dtype=np.uint8)
        assert np.array_equal(a[:half], seg_pattern(1, 0, half)), "Go's half differs"
        assert not a[half:].any(), "the untouched half is not zero"
        a[half:] = seg_pattern(2, half, size)
        del a
        g.proc.stdin.write("go\n")  # Go still has it mapped: it checks our half now
        g.proc.stdin.flush()
        res = g.ok()
    assert res["address"] == real


@pytest.mark.parametrize("kind", ["posix", "sysv"])
def test_raw_segment_python_creates_go_reads(names, peers, kind):
    size = 65536 + 100
    addr = names.new(kind)
    half = size // 2
    with shmlink.Segment.create(addr, size) as seg:
        a = np.frombuffer(seg.buf, dtype=np.uint8)
        a[:half] = seg_pattern(1, 0, half)
        g = peers.go("goseg", "-addr", addr)
        g.ok()
        assert np.array_equal(a[half:], seg_pattern(2, half, size)), "Go's half differs"
        del a


def test_nothing_left_so_far():
    """Segments of finished tests are gone (the session fixture checks again
    at the very end)."""
    from crossutil import _leftovers

    assert _leftovers() == []
