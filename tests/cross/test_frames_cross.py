"""Typed frames across languages: a Go writer (tests/cross/goframes) sends
4 MiB frames of uint64, shape (8, 65536), filled in place (ReserveFrameOf,
CommitFrame) and through SendFrame; the Python reader looks at each as a
read-only numpy array in the ring (peek_frame) and checks every element,
the dtype, the shape and the 64-byte alignment; both backends."""

from __future__ import annotations

import subprocess
import time

import numpy as np
import pytest
from conftest import Peers
from crossutil import ROOT, measured

import shmlink

BACKENDS = ["posix", "sysv"]
SIZE = 4 << 20
COUNT = 40


@pytest.fixture(scope="module")
def goframes(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("goframes") / "goframes"
    cmd = ["go", "build", "-o", str(out), "./tests/cross/goframes"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout}{proc.stderr}"
    return str(out)


@pytest.fixture
def frame_peers(goframes, tmp_path, names):  # after names: processes die before segments go
    ps = Peers({"goframes": goframes}, tmp_path)
    yield ps
    ps.close_all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_go_writer_python_reader_4mib_frames(names, frame_peers, backend):
    addr = names.new(backend)
    r = shmlink.Reader.create(addr, capacity=4 * SIZE)
    try:
        w = frame_peers.go("goframes", "-addr", addr, "-mode", "stream", "-count", str(COUNT))
        n = SIZE // 8
        pattern = np.arange(n, dtype="<u8").reshape(8, n // 8)
        t0 = time.monotonic()
        for i in range(COUNT):
            with r.peek_frame(timeout=60) as a:
                assert a.dtype == np.dtype("<u8")
                assert a.shape == (8, n // 8)
                assert not a.flags.writeable
                assert a.ctypes.data % 64 == 0
                assert np.array_equal(a, pattern ^ np.uint64(i)), f"frame {i} differs"
        took = time.monotonic() - t0
        with pytest.raises(EOFError):
            r.peek_frame(timeout=60)
        res = w.ok(timeout=120)
        assert res["count"] == COUNT
    finally:
        r.close()
    measured(
        f"go writer -> python reader, typed frames ({backend}): {COUNT} frames of 4 MiB "
        f"checked element by element in {took:.2f} s"
    )
