"""Typed frames (docs/PROTOCOL.md, section 14): numpy arrays through a
channel with their dtype and shape, zero copy on both sides; corrupt
headers; arrays kept past their frame's release; numpy missing."""

from __future__ import annotations

import gc
import struct

import pytest

import shmlink

from conftest import run_python

np = pytest.importorskip("numpy")

DTYPES = ["|b1", "|i1", "|u1", "<i2", ">i2", "<u4", "<i8", ">u8"]
DTYPES += ["<f2", "<f4", ">f8", "<c8", "<c16"]
SHAPES = [(), (0,), (3, 0, 2), (1,), (7,), (2, 3, 4), (5, 1, 1, 1, 3)]


def pair(address: str, capacity: int = 1 << 16) -> tuple[shmlink.Writer, shmlink.Reader]:
    w = shmlink.Writer.create(address, capacity=capacity)
    try:
        r = shmlink.Reader.open(address)
    except BaseException:
        w.close()
        raise
    return w, r


@pytest.fixture
def chan(address: str):
    w, r = pair(address)
    try:
        yield w, r
    finally:
        gc.collect()
        w.close()
        r.close()


def sample(dtype: str, shape: tuple[int, ...]):
    n = int(np.prod(shape, dtype=np.int64))
    return (np.arange(n) % 7 + 1).astype(dtype).reshape(shape)


@pytest.mark.parametrize("dtype", DTYPES)
def test_round_trip_every_dtype_and_shape(chan, dtype):
    w, r = chan
    for shape in SHAPES:
        a = sample(dtype, shape)
        w.send_array(a)
        with r.peek_frame() as b:
            assert b.dtype == np.dtype(dtype)
            assert b.dtype.str == dtype  # the byte order travels too
            assert b.shape == shape
            assert not b.flags.writeable
            np.testing.assert_array_equal(b, a)
            if b.size:
                assert b.ctypes.data % 64 == 0  # the data is 64-byte aligned
        # and through the copying path
        w.send_array(a)
        c = r.recv_array()
        assert c.dtype.str == dtype
        assert c.shape == shape
        np.testing.assert_array_equal(c, a)


def test_send_array_takes_non_contiguous_and_scalars(chan):
    w, r = chan
    a = np.arange(60, dtype="<f8").reshape(6, 10)[::2, 1::3]
    w.send_array(a)
    b = r.recv_array()
    np.testing.assert_array_equal(b, a)
    w.send_array(np.float32(2.5))
    assert r.recv_array().shape == ()
    w.send_array([[1, 2], [3, 4]])
    got = r.recv_array()
    assert got.shape == (2, 2)
    assert got.dtype == np.dtype(int)


def test_a_frame_is_an_ordinary_message(chan):
    w, r = chan
    w.send_array(np.arange(3, dtype="<u2"))
    raw = r.recv()
    assert raw[:4] == b"SLF1"
    assert raw[4] == 1
    offset = struct.unpack_from("<I", raw, 8)[0]
    assert raw[16:24] == b"<u2\0\0\0\0\0"
    assert struct.unpack_from("<Q", raw, 24)[0] == 3
    assert raw[offset:] == np.arange(3, dtype="<u2").tobytes()


def test_reserve_frame_fills_in_place(chan):
    w, r = chan
    with w.reserve_frame("<f4", (4, 8)) as a:
        assert a.shape == (4, 8)
        assert a.flags.writeable
        assert a.ctypes.data % 64 == 0
        a[...] = np.arange(32).reshape(4, 8)
    with r.peek_frame() as b:
        np.testing.assert_array_equal(b, np.arange(32).reshape(4, 8))
    res = w.reserve_frame(np.uint8, 5)
    res.array[:] = 9
    res.commit()
    np.testing.assert_array_equal(r.recv_array(), [9] * 5)

    def fail_in_block() -> None:
        with w.reserve_frame("<i4", 3) as a:
            a[:] = 1
            raise RuntimeError("the block failed")

    with pytest.raises(RuntimeError):
        fail_in_block()
    with pytest.raises(TimeoutError):
        r.recv_array(timeout=0)  # nothing was published
    res = w.reserve_frame("<i4", 3)
    res.abort()
    with pytest.raises(ValueError, match="already"):
        res.commit()
    with w.reserve_frame("<i8", ()) as z:  # 0-d
        z[()] = -5
    assert r.recv_array()[()] == -5
    with w.reserve_frame("<i8", (0, 3)) as e:  # empty
        assert e.size == 0
    assert r.recv_array().shape == (0, 3)


def test_kept_arrays_never_see_later_messages(address):
    """Arrays (and views of them) kept past release read zeros even after
    the ring has been overwritten many times over at their place."""
    w, r = pair(address, capacity=4096)
    kept = []
    try:
        for i in range(40):  # ~1 KiB frames in a 4 KiB ring: places are reused
            w.send_array(np.full(250, i + 1, dtype="<u4"))
            with r.peek_frame() as a:
                assert (a == i + 1).all()
                kept += [a, a[10:20], memoryview(a)]
        for i in range(0, len(kept), 3):
            a, part, mv = kept[i : i + 3]
            assert not a.any()
            assert not part.any()
            assert not any(mv.tobytes())
        # the writer's side: an array kept past commit writes nowhere
        res = w.reserve_frame("<u4", 250)
        with res as wa:
            wa[:] = 7
        wa[:] = 99
        wa[5:9] = 100
        np.testing.assert_array_equal(r.recv_array(), np.full(250, 7))
        w.send_array(np.full(250, 3, dtype="<u4"))
        np.testing.assert_array_equal(r.recv_array(), np.full(250, 3))
    finally:
        del kept
        gc.collect()
        w.close()
        r.close()


def test_release_without_survivors_and_repeated_release(chan):
    w, r = chan
    w.send_array(np.ones(10))
    f = r.peek_frame()
    assert f.shape == (10,)
    assert f.dtype == np.dtype("<f8")
    assert f.array.sum() == 10
    f.release()
    f.release()  # idempotent
    with pytest.raises(ValueError, match="released"):
        f.array  # noqa: B018
    with pytest.raises(TimeoutError):
        r.recv(timeout=0)


def test_one_peek_at_a_time(chan):
    w, r = chan
    w.send_array(np.ones(2))
    w.send_array(np.ones(3))
    with r.peek_frame():
        with pytest.raises(ValueError, match="not released"):
            r.peek_frame(timeout=0)
        with pytest.raises(ValueError, match="not released"):
            r.recv(timeout=0)
    assert r.recv_array().shape == (3,)
    with w.reserve_frame("<f4", 2), pytest.raises(ValueError, match="reservation is open"):
        w.send_array(np.ones(2))


def test_close_cuts_arrays_off(address):
    w, r = pair(address)
    try:
        w.send_array(np.full(100, 5, dtype="<i4"))
        f = r.peek_frame()
        a = f.array
        r.close()  # the frame stays unconsumed, its array reads zeros
        assert not a.any()
        r = shmlink.Reader.open(address)
        np.testing.assert_array_equal(r.recv_array(), np.full(100, 5))
        res = w.reserve_frame("<i4", 100)
        wa = res.array
        wa[:] = 1
        w.close()  # dropped: nothing published
        wa[:] = 2
        with pytest.raises(EOFError):
            r.recv_array(timeout=1)
    finally:
        w.close()
        r.close()


def test_bad_arrays_and_dtypes(chan):
    w, r = chan
    with pytest.raises(shmlink.FrameError, match="object"):
        w.send_array(np.array([object()]))
    with pytest.raises(shmlink.FrameError, match="cannot carry dtype"):
        w.send_array(np.zeros(2, dtype=[("a", "<i4"), ("b", "<f8")]))
    with pytest.raises(shmlink.FrameError, match="cannot carry dtype"):
        w.reserve_frame("U4", 3)
    with pytest.raises(shmlink.FrameError, match="not a dtype"):
        w.reserve_frame("nonsense", 3)
    with pytest.raises(shmlink.FrameError, match="negative"):
        w.reserve_frame("<f4", (2, -1))
    with pytest.raises(shmlink.FrameError, match="at most 32"):
        w.reserve_frame("<f4", (1,) * 33)
    with pytest.raises(TypeError, match="ints"):
        w.reserve_frame("<f4", (2.0,))
    with pytest.raises(ValueError, match="larger than the channel's maximum"):
        w.send_array(np.zeros(w.max_message, dtype="u1"))
    with pytest.raises(ValueError, match="larger than the channel's maximum"):
        w.reserve_frame("<f8", (1 << 40, 1 << 40))
    with pytest.raises(TimeoutError):
        r.recv(timeout=0)  # nothing was sent by any of these


def header(
    dtype: bytes = b"<f4",
    shape: tuple[int, ...] = (2,),
    offset: int | None = None,
    magic: bytes = b"SLF1",
    ndim: int | None = None,
    reserved: bytes = b"\0\0\0",
) -> bytes:
    nd = len(shape) if ndim is None else ndim
    off = 24 + 8 * len(shape) if offset is None else offset
    h = magic + bytes([nd]) + reserved + struct.pack("<I", off) + b"\0" * 4
    return h + dtype.ljust(8, b"\0") + b"".join(struct.pack("<Q", n) for n in shape)


CORRUPT = [
    (b"SLF", "fewer than the 24"),
    (header(magic=b"XLF1") + bytes(8), "bad magic"),
    (header(ndim=33) + bytes(8), "ndim 33 is larger than 32"),
    (header(reserved=b"\0\1\0") + bytes(8), "reserved"),
    (header(shape=(2, 2), ndim=9), "need a 96-byte header"),
    (header(offset=20) + bytes(8), "outside 32"),
    (header(offset=1000) + bytes(8), "outside 32"),
    (header(dtype=b"|O8") + bytes(8), "unknown dtype"),
    (header(dtype=b"f4") + bytes(8), "unknown dtype"),
    (header(dtype=b"<f4\0x") + bytes(8), "unknown dtype"),
    (header(dtype=b"<f16") + bytes(8), "unknown dtype"),
    (header(shape=(1 << 63, 1 << 63, 4)), "bytes of data"),  # product far past 2**64
    (header(shape=(1 << 62,)) + bytes(8), "bytes of data"),  # wraps to 0 in 64 bits
    (header(shape=(3,)) + bytes(8), "12 bytes of data, the message holds 8"),
    (header(shape=(2,)) + bytes(9), "holds 9"),
]


@pytest.mark.parametrize(("raw", "why"), CORRUPT)
def test_corrupt_frames_are_refused_and_consumed(chan, raw, why):
    w, r = chan
    w.send(raw)
    w.send_array(np.arange(4, dtype="<i2"))
    with pytest.raises(shmlink.FrameError, match=why):
        r.peek_frame(timeout=1)
    np.testing.assert_array_equal(r.recv_array(timeout=1), np.arange(4))  # the stream goes on


def test_broadcast_readers_get_frames(names):
    addr = names.posix()
    w = shmlink.Writer.create(addr, capacity=1 << 16, readers=2, fanout="broadcast")
    rs = [shmlink.Reader.open(addr), shmlink.Reader.open(addr)]
    try:
        w.send_array(np.arange(6, dtype="<f4").reshape(2, 3))
        for r in rs:
            with r.peek_frame() as a:
                np.testing.assert_array_equal(a, np.arange(6).reshape(2, 3))
    finally:
        for r in rs:
            r.close()
        w.close()


def test_without_numpy_import_works_and_frames_say_so(names):
    addr = names.posix()
    code = f"""
import sys
sys.modules["numpy"] = None  # hidden: import numpy raises ImportError
import shmlink
w = shmlink.Writer.create({addr!r}, capacity=4096)
r = shmlink.Reader.open({addr!r})
w.send(b"plain messages work")
assert r.recv() == b"plain messages work"
for call in (lambda: w.send_array([1, 2]), lambda: w.reserve_frame("<f4", 2),
             lambda: r.peek_frame(timeout=0), lambda: r.recv_array(timeout=0)):
    try:
        call()
    except ModuleNotFoundError as e:
        assert "numpy" in str(e) and e.name == "numpy", e
    else:
        raise AssertionError("no error without numpy")
w.send(b"still there")
assert r.recv() == b"still there"  # nothing was consumed or sent
r.close(); w.close()
print("ok")
"""
    assert run_python(code).stdout.strip() == "ok"
