"""Typed frames: numpy arrays carried as channel messages, zero copy.

A frame is one ordinary message whose payload starts with a small header
(magic, dtype, shape, data offset) followed by the array's bytes in C order;
docs/PROTOCOL.md, section 14, specifies it. The channel protocol is unchanged:
any message can be read with ``recv``, and a frame is just a payload
convention that Go (``ReserveFrame``/``PeekFrame``) and Python share.

numpy is optional: ``import shmlink`` works without it, and the frame API
raises ModuleNotFoundError naming numpy when it is missing.

How an array handed out by ``peek_frame`` (or ``reserve_frame``) is kept from
reading recycled ring bytes after its frame is released: the array does not
point into the ring's own mapping but into a second mapping of the same
pages (``mremap`` with old size 0, which Linux allows for shared mappings),
made for that frame alone. When the frame is released (or committed) while
the array, or any view of it, is still alive, that second mapping is
replaced in place (``mmap`` with ``MAP_FIXED``) by private anonymous zero
pages before the message is consumed: from then on the array reads zeros
(and a writer's array writes into memory nobody reads), never the ring. The
mapping is unmapped when the last array using it is collected. If no array
is alive at release, the second mapping is simply unmapped.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import sys
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

import cffi  # type: ignore[import-untyped]

from . import _chan

if TYPE_CHECKING:
    import numpy
    import numpy.typing as npt

__all__ = [
    "ALIGN",
    "HEADER_SIZE",
    "MAGIC",
    "MAX_NDIM",
    "FrameError",
    "FrameReservation",
    "PeekedFrame",
    "decode_header",
    "encode_header",
    "numpy_or_error",
]

MAGIC = b"SLF1"
HEADER_SIZE = 24  # the fixed part; the shape (8 bytes a dimension) follows
MAX_NDIM = 32
ALIGN = 64  # writers start the data on a 64-byte boundary of the ring

# The element types a frame may carry, as numpy array-interface strings:
# byte order ('<' little, '>' big, '|' not applicable), kind, size in bytes.
_MULTI = ("i2", "i4", "i8", "u2", "u4", "u8", "f2", "f4", "f8", "c8", "c16")
DTYPES = frozenset({"|b1", "|i1", "|u1"} | {o + t for o in "<>" for t in _MULTI})


class FrameError(ValueError):
    """A message is not a valid typed frame (bad magic, unknown dtype, a
    shape that does not match the payload, ...), or an array or dtype cannot
    be sent as one."""


def numpy_or_error() -> Any:
    """The numpy module, or ModuleNotFoundError saying the frame API needs it."""
    try:
        import numpy
    except ImportError as e:
        raise ModuleNotFoundError(
            "shmlink: typed frames (send_array, reserve_frame, peek_frame, recv_array) need "
            "numpy, which is not installed: pip install numpy",
            name="numpy",
        ) from e
    return numpy


def _header_len(ndim: int) -> int:
    return HEADER_SIZE + 8 * ndim


def encode_header(typestr: str, shape: Sequence[int], data_offset: int) -> bytes:
    """The frame header for ``typestr`` and ``shape`` with the data at
    ``data_offset`` (padding up to it is not included)."""
    head = bytearray(_header_len(len(shape)))
    head[0:4] = MAGIC
    head[4] = len(shape)
    head[8:12] = data_offset.to_bytes(4, "little")
    head[16:24] = typestr.encode("ascii").ljust(8, b"\0")
    for i, n in enumerate(shape):
        head[HEADER_SIZE + 8 * i : HEADER_SIZE + 8 * i + 8] = n.to_bytes(8, "little")
    return bytes(head)


def decode_header(head: bytes, length: int) -> tuple[str, tuple[int, ...], int, int]:
    """Checks the header of a message of ``length`` bytes whose first bytes
    (at least ``min(length, 24 + 8*32)``) are ``head``; returns (dtype
    string, shape, data offset, data bytes) or raises FrameError."""
    if length < HEADER_SIZE:
        raise FrameError(
            f"shmlink: not a frame: the message has {length} bytes, fewer than the "
            f"{HEADER_SIZE} of a frame header"
        )
    if head[0:4] != MAGIC:
        raise FrameError(
            f"shmlink: not a frame: bad magic {bytes(head[0:4])!r} (expected {MAGIC!r})"
        )
    ndim = head[4]
    if ndim > MAX_NDIM:
        raise FrameError(f"shmlink: corrupt frame: ndim {ndim} is larger than {MAX_NDIM}")
    if any(head[5:8]) or any(head[12:16]):
        raise FrameError("shmlink: corrupt frame: reserved header bytes are not zero")
    data_offset = int.from_bytes(head[8:12], "little")
    need = _header_len(ndim)
    if length < need:
        raise FrameError(
            f"shmlink: corrupt frame: {ndim} dimensions need a {need}-byte header, the message "
            f"has {length} bytes"
        )
    if not need <= data_offset <= length:
        raise FrameError(
            f"shmlink: corrupt frame: data offset {data_offset} is outside {need}..{length} "
            "(the header's end .. the message's length)"
        )
    raw = bytes(head[16:24])
    name = raw.rstrip(b"\0")
    typestr = name.decode("ascii", "replace")
    if b"\0" in name or typestr not in DTYPES:
        raise FrameError(
            f"shmlink: corrupt frame: unknown dtype {raw!r} (one of {', '.join(sorted(DTYPES))})"
        )
    shape = tuple(
        int.from_bytes(head[HEADER_SIZE + 8 * i : HEADER_SIZE + 8 * i + 8], "little")
        for i in range(ndim)
    )
    nbytes = int(typestr[2:])
    for n in shape:
        nbytes *= n  # exact (Python ints): no overflow to wrap around
    if nbytes != length - data_offset:
        raise FrameError(
            f"shmlink: corrupt frame: shape {shape} of {typestr} is {nbytes} bytes of data, the "
            f"message holds {length - data_offset} after the data offset {data_offset}"
        )
    return typestr, shape, data_offset, nbytes


def typestr_of(dtype: Any) -> str:
    """The frame dtype string of a numpy dtype (or anything numpy.dtype takes)."""
    np = numpy_or_error()
    try:
        dt = np.dtype(dtype)
    except TypeError as e:
        raise FrameError(f"shmlink: not a dtype: {dtype!r} ({e})") from None
    s = str(dt.str)
    if s not in DTYPES:
        raise FrameError(
            f"shmlink: a frame cannot carry dtype {dt} ({s!r}): only booleans, integers, "
            f"floats and complex numbers ({', '.join(sorted(DTYPES))})"
        )
    return s


def check_shape(shape: Any) -> tuple[int, ...]:
    if isinstance(shape, int) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        dims = tuple(shape)
    except TypeError:
        raise TypeError(
            f"shmlink: shape must be an int or a sequence of ints, not {type(shape).__name__}"
        ) from None
    for n in dims:
        if isinstance(n, bool) or not hasattr(n, "__index__"):
            raise TypeError(f"shmlink: shape {dims!r}: dimensions must be ints")
    dims = tuple(int(n.__index__()) for n in dims)
    if len(dims) > MAX_NDIM:
        raise FrameError(f"shmlink: shape {dims}: at most {MAX_NDIM} dimensions")
    if any(n < 0 for n in dims):
        raise FrameError(f"shmlink: shape {dims}: dimensions must not be negative")
    return dims


def data_offset_for(payload_address: int, ndim: int) -> int:
    """Where a writer puts the data: after the header, on a 64-byte boundary
    of the ring (the payload starts 8 bytes past a multiple of 8)."""
    start = payload_address + _header_len(ndim)
    return _header_len(ndim) + (-start) % ALIGN


# ---------------------------------------------------------------------------
# The second mapping under an array (see the module's docstring)

_ffi = cffi.FFI()
_ffi.cdef(
    """
    intptr_t mremap(uintptr_t old_address, size_t old_size, size_t new_size, int flags, ...);
    intptr_t mmap(uintptr_t addr, size_t length, int prot, int flags, int fd, long offset);
    int munmap(uintptr_t addr, size_t length);
    """
)  # addresses as integers (the same registers as pointers on Linux ABIs): no casts
_libc: Any = _ffi.dlopen(None)
_PAGE = mmap.PAGESIZE
_MREMAP_MAYMOVE = 1
_MAP_FIXED = 0x10
_FAILED = -1  # MAP_FAILED, (void *)-1


class _Alias:
    """A private second mapping of the ring pages under one frame's data.
    The Memory exporter of the array keeps it (as its owner), so it is
    unmapped when the last array, or view of one, is gone."""

    __slots__ = ("address", "length", "offset")

    def __init__(self, data_address: int, nbytes: int) -> None:
        page = data_address - data_address % _PAGE
        end = data_address + nbytes
        end += (-end) % _PAGE
        p: int = _libc.mremap(page, 0, end - page, _MREMAP_MAYMOVE)
        if p == _FAILED:
            code = _ffi.errno
            raise OSError(code, f"shmlink: mapping a frame's pages again: {os.strerror(code)}")
        self.address = p
        self.length = end - page
        self.offset = data_address - page

    def detach(self, writable: bool) -> None:
        """Zero pages in place of the ring's, at the same addresses; raises
        OSError (the ring's pages stay) if the kernel refuses."""
        prot = mmap.PROT_READ | (mmap.PROT_WRITE if writable else 0)
        flags = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | _MAP_FIXED
        p: int = _libc.mmap(self.address, self.length, prot, flags, -1, 0)
        if p != self.address:
            code = _ffi.errno
            raise OSError(
                code, f"shmlink: cutting a frame's array off the ring: {os.strerror(code)}"
            )

    def unmap(self) -> None:
        if self.address:
            _libc.munmap(self.address, self.length)
            self.address = 0

    def __del__(self) -> None:
        self.unmap()


def _in_use(exporter: _chan.Memory) -> bool:
    """Whether an array (or a view of one) still uses the exporter, once
    the holder has dropped its own array; getrefcount counts its argument
    and the caller's local."""
    return exporter.exports > 0 or sys.getrefcount(exporter) > 3


class _Held:
    """The array of one frame over its own second mapping (or over nothing,
    for a frame of zero bytes) and how to cut it off the ring."""

    __slots__ = ("alias", "array", "exporter")

    def __init__(
        self, owner: object, typestr: str, shape: tuple[int, ...], data: int, nbytes: int, ro: bool
    ) -> None:
        np = numpy_or_error()
        self.alias: _Alias | None = None
        self.exporter: _chan.Memory | None = None
        if nbytes == 0:
            arr = np.empty(shape, dtype=typestr)  # nothing of the ring to view
            if ro:
                arr.flags.writeable = False
            self.array: Any = arr
            return
        try:
            alias = _Alias(data, nbytes)
        except OSError:
            if not ro:
                raise
            # No second mapping (the process is out of mappings): a copy,
            # which never shows later messages either.
            view = np.frombuffer(_chan.Memory(data, nbytes, True, owner), dtype=typestr)
            self.array = view.reshape(shape).copy()
            self.array.flags.writeable = False
            return
        try:
            self.exporter = _chan.Memory(alias.address + alias.offset, nbytes, ro, alias)
            self.array = np.frombuffer(self.exporter, dtype=typestr).reshape(shape)
        except BaseException:
            self.exporter = None
            alias.unmap()
            raise
        self.alias = alias

    def cut(self, writable: bool) -> bool:
        """Cut the array off the ring before the message is consumed or
        published; True if an array or view of it outlives the frame (it
        then reads zeros)."""
        self.array = None
        exporter, alias = self.exporter, self.alias
        if exporter is None or alias is None:
            return False
        if _in_use(exporter):
            alias.detach(writable)  # raises before anything is consumed
            self.exporter = self.alias = None
            return True
        alias.unmap()
        self.exporter = self.alias = None
        return False


class PeekedFrame:
    """A frame looked at in place by :meth:`Reader.peek_frame` (a context
    manager). Entering gives a read-only numpy array viewing the ring;
    leaving (or :meth:`release`) consumes the message. An array, or any
    view of it, kept past the release reads zeros, never later messages."""

    __slots__ = ("_done", "_held", "_reader", "dtype", "shape")

    def __init__(self, reader: Any, ptr: int, size: int) -> None:
        self._reader = reader
        self._done = False
        head = bytes(memoryview(_chan.Memory(ptr, size, True, reader))[: _header_len(MAX_NDIM)])
        typestr, shape, offset, nbytes = decode_header(head, size)
        np = numpy_or_error()
        self.dtype: numpy.dtype[Any] = np.dtype(typestr)
        self.shape: tuple[int, ...] = shape
        self._held = _Held(reader, typestr, shape, ptr + offset, nbytes, True)

    @property
    def array(self) -> npt.NDArray[Any]:
        """The read-only array viewing the frame in the ring."""
        if self._done:
            raise ValueError("shmlink: the peeked frame was released already")
        arr: npt.NDArray[Any] = self._held.array
        return arr

    def release(self) -> None:
        """Consume the frame (idempotent). An array of it still alive is cut
        off the ring first: it reads zeros from then on."""
        if self._done:
            return
        self._held.cut(False)
        self._done = True
        self._reader._frame_done(self)

    def _drop(self) -> None:
        """The reader closes: cut the array off, leave the message unconsumed."""
        if not self._done:
            self._held.cut(False)
            self._done = True

    def __enter__(self) -> npt.NDArray[Any]:
        return self.array

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


class FrameReservation:
    """Room for one frame reserved by :meth:`Writer.reserve_frame` (a context
    manager). Entering gives a writable numpy array of the frame's dtype and
    shape in the ring; leaving the block publishes the frame, or drops it if
    the block raised. An array kept past that writes into memory nobody
    reads (zero pages), never into the ring."""

    __slots__ = ("_done", "_held", "_length", "_writer", "dtype", "shape")

    def __init__(self, writer: Any, dtype: Any, shape: Any, timeout: float | None) -> None:
        typestr = typestr_of(dtype)
        dims = check_shape(shape)
        np = numpy_or_error()
        nbytes = int(typestr[2:])
        for n in dims:
            nbytes *= n
        most = _header_len(len(dims)) + ALIGN - 8 + nbytes
        if most > writer.max_message:
            raise ValueError(
                f"shmlink: frame of {typestr} {dims} ({nbytes} bytes of data, up to {most} with "
                f"its header) is larger than the channel's maximum message of "
                f"{writer.max_message} bytes"
            )
        ptr = writer._reserve(most, timeout)
        try:
            offset = data_offset_for(ptr, len(dims))
            mv = memoryview(_chan.Memory(ptr, offset, False, writer))
            mv[: _header_len(len(dims))] = encode_header(typestr, dims, offset)
            mv.release()
            self._held = _Held(writer, typestr, dims, ptr + offset, nbytes, False)
        except BaseException:
            writer._commit(-1)
            raise
        self._writer = writer
        self._length = offset + nbytes
        self._done = False
        self.dtype: numpy.dtype[Any] = np.dtype(typestr)
        self.shape: tuple[int, ...] = dims

    @property
    def array(self) -> npt.NDArray[Any]:
        """The writable array in the ring."""
        if self._done:
            raise ValueError("shmlink: the frame was committed or aborted already")
        arr: npt.NDArray[Any] = self._held.array
        return arr

    def _finish(self, publish: bool) -> None:
        if self._done:
            raise ValueError("shmlink: the frame was committed or aborted already")
        self._held.cut(True)
        self._done = True
        self._writer._frame_done(self, self._length if publish else -1)

    def commit(self) -> None:
        """Publish the frame."""
        self._finish(True)

    def abort(self) -> None:
        """Drop the frame; nothing is published."""
        self._finish(False)

    def _drop(self) -> None:
        """The writer closes: cut the array off (the caller aborts)."""
        if not self._done:
            self._held.cut(True)
            self._done = True

    def __enter__(self) -> npt.NDArray[Any]:
        return self.array

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._done:
            return
        if exc_type is None:
            self.commit()
            return
        with contextlib.suppress(OSError):
            self.abort()


def send_array(writer: Any, arr: Any, timeout: float | None) -> None:
    """Writer.send_array: one copy of ``arr`` into a reserved frame."""
    np = numpy_or_error()
    a = np.asarray(arr)
    typestr = typestr_of(a.dtype)
    dims = check_shape(a.shape)
    nbytes = a.nbytes
    most = _header_len(len(dims)) + ALIGN - 8 + nbytes
    if most > writer.max_message:
        raise ValueError(
            f"shmlink: frame of {typestr} {dims} ({nbytes} bytes of data, up to {most} with "
            f"its header) is larger than the channel's maximum message of "
            f"{writer.max_message} bytes"
        )
    ptr = writer._reserve(most, timeout)
    try:
        offset = data_offset_for(ptr, len(dims))
        mem = _chan.Memory(ptr, offset + nbytes, False, writer)
        mv = memoryview(mem)
        mv[: _header_len(len(dims))] = encode_header(typestr, dims, offset)
        if nbytes:
            dst = np.frombuffer(mem, dtype=typestr, count=nbytes // a.itemsize, offset=offset)
            np.copyto(dst.reshape(dims), a, casting="no")
            del dst
        mv.release()
        del mv, mem
    except BaseException:
        writer._commit(-1)
        raise
    writer._commit(offset + nbytes)
