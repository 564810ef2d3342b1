"""Channels: a message queue in a shared segment (one writer; one reader, or
up to 64 in broadcast or work-queue mode).

The per-message methods (``send``, ``recv``, ``recv_into``, ``recv_batch``
and iteration) are implemented in C by the base classes of the private
extension ``shmlink._chan``; this module adds the constructors, the
zero-copy context managers, the asyncio methods (waiting: ``_aio``) and the
documentation. See docs/PROTOCOL.md for the channel's layout and rules.
"""

from __future__ import annotations

import contextlib
import errno
import pwd
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, Union

from . import _aio, _chan, _frames
from ._errors import check
from ._segment import _decode, _parse, _parse_existing, stat
from ._shmlink import ffi, lib

if TYPE_CHECKING:
    from array import array
    from mmap import mmap

    import numpy.typing as npt

    Buffer = Union[bytes, bytearray, memoryview, array[Any], mmap]
else:
    Buffer = Any

__all__ = ["PeekedMessage", "Reader", "Reservation", "Writer"]

# The extension calls the core through the table this cffi module fills
# (one declaration for both: _capi.h).
_chan.bind(int(ffi.cast("uintptr_t", lib.shmlink_python_capi())), check)

_DEFAULT_CAPACITY = 1 << 20
_CAPACITY_MAX: int = lib.SHMLINK_MAX_CAPACITY


def _check_create_args(address: str, capacity: int, mode: int) -> bytes:
    raw, kind = _parse(address)
    if kind == lib.SHMLINK_ADDR_SYSV_ID:
        raise ValueError(
            f"shmlink: cannot create a channel at {address!r}: a 'sysv-id:N' address names "
            "an existing segment (use 'sysv:KEY' or 'sysv:private')"
        )
    if isinstance(capacity, bool) or not isinstance(capacity, int):
        raise TypeError(f"shmlink: capacity must be an int, not {type(capacity).__name__}")
    if not 1 <= capacity <= _CAPACITY_MAX:
        raise ValueError(
            f"shmlink: cannot create a channel at {address!r}: capacity must be within "
            f"1..{_CAPACITY_MAX} bytes (rounded up to a power of two, at least "
            f"{lib.SHMLINK_MIN_CAPACITY}), "
            f"got {capacity}"
        )
    if isinstance(mode, bool) or not isinstance(mode, int):
        raise TypeError(f"shmlink: mode must be an int, not {type(mode).__name__}")
    if not 0 <= mode <= 0o777:
        raise ValueError(
            f"shmlink: cannot create a channel at {address!r}: mode must be within "
            f"0..0o777, got {mode:#o}"
        )
    return raw


_FANOUTS = {"broadcast": lib.SHMLINK_BROADCAST, "queue": lib.SHMLINK_QUEUE}
_FANOUT_NAMES = {0: None, int(lib.SHMLINK_BROADCAST): "broadcast", int(lib.SHMLINK_QUEUE): "queue"}


def _fanout(address: str, readers: int, mode: str | None) -> int:
    """The shmlink_fanout value for readers= and mode=, checked."""
    if isinstance(readers, bool) or not isinstance(readers, int):
        raise TypeError(f"shmlink: readers must be an int, not {type(readers).__name__}")
    top = int(lib.SHMLINK_MAX_READERS)
    if not 1 <= readers <= top:
        raise ValueError(
            f"shmlink: cannot create a channel at {address!r}: readers must be within 1..{top}, "
            f"got {readers}"
        )
    if mode is None:
        if readers > 1:
            raise ValueError(
                f"shmlink: cannot create a channel at {address!r} for {readers} readers without "
                "mode='broadcast' (every reader gets every message) or mode='queue' (each "
                "message goes to one reader)"
            )
        return int(lib.SHMLINK_ONE)
    if mode not in _FANOUTS:
        raise ValueError(
            f"shmlink: cannot create a channel at {address!r}: mode must be 'broadcast' or "
            f"'queue', got {mode!r}"
        )
    return int(_FANOUTS[mode])


def _writers(address: str, writers: int, kind: int) -> int:
    """The writers= argument, checked."""
    if isinstance(writers, bool) or not isinstance(writers, int):
        raise TypeError(f"shmlink: writers must be an int, not {type(writers).__name__}")
    top = int(lib.SHMLINK_MAX_WRITERS)
    if not 1 <= writers <= top:
        raise ValueError(
            f"shmlink: cannot create a channel at {address!r}: writers must be within 1..{top}, "
            f"got {writers}"
        )
    if writers > 1 and kind == lib.SHMLINK_BROADCAST:
        raise ValueError(
            f"shmlink: cannot create a channel at {address!r}: a broadcast channel has one "
            f"writer, got writers={writers} (use fanout='queue' or one reader)"
        )
    return writers


def _create(
    address: str,
    capacity: int,
    mode: int,
    role: int,
    readers: int = 1,
    fanout: str | None = None,
    writers: int = 1,
) -> tuple[int, str]:
    raw = _check_create_args(address, capacity, mode)
    kind = _fanout(address, readers, fanout)
    writers = _writers(address, writers, kind)
    out = ffi.new("shmlink_channel **")
    if kind == lib.SHMLINK_ONE and writers == 1:
        check(lib.shmlink_channel_create(raw, capacity, mode, role, out), address)
    else:
        cfg = ffi.new(
            "shmlink_channel_config *",
            {
                "capacity": capacity,
                "mode": mode,
                "readers": readers,
                "writers": writers,
                "fanout": kind,
            },
        )
        check(lib.shmlink_channel_create_config(raw, cfg, role, out), address)
    return _handle(out[0])


def _fanout_of(handle: int) -> tuple[str | None, int]:
    """(mode, slot) of an open channel: mode None for a 1:1 channel."""
    fanout = ffi.new("shmlink_fanout *")
    slot = ffi.new("unsigned *")
    lib.shmlink_channel_fanout_of(ffi.cast("shmlink_channel *", handle), fanout, slot)
    return _FANOUT_NAMES.get(int(fanout[0])), int(slot[0])


def _open(address: str, role: int, any_owner: bool) -> tuple[int, str]:
    raw = _parse_existing(address)
    out = ffi.new("shmlink_channel **")
    flags = lib.SHMLINK_ANY_OWNER if any_owner else 0
    rc = lib.shmlink_channel_open_flags(raw, role, flags, out)
    if rc == -errno.EPERM:
        raise PermissionError(errno.EPERM, _not_trusted(address), address)
    check(rc, address)
    return _handle(out[0])


def _not_trusted(address: str) -> str:
    """Why open refused a channel of another owner (-EPERM)."""
    try:
        uid = stat(address).uid
    except OSError:
        owner = "another user"
    else:
        try:
            owner = f"user {pwd.getpwuid(uid).pw_name!r} (uid {uid})"
        except KeyError:
            owner = f"uid {uid}"
    return (
        f"shmlink: channel {address!r} belongs to {owner}, neither you nor root; a channel of "
        "another user could feed you forged messages or take yours. Pass any_owner=True to "
        "open it anyway"
    )


def _handle(ch: Any) -> tuple[int, str]:
    return int(ffi.cast("uintptr_t", ch)), _decode(ffi.string(lib.shmlink_channel_address(ch)))


def _in_use(exporter: _chan.Memory, held: int) -> bool:
    """Whether anything but `held` references of ours uses the exporter: a
    buffer taken from it not yet released, or an object that keeps the
    exporter itself (numpy 2 keeps it as the base of an array)."""
    # getrefcount counts its argument and this frame's parameter too.
    return exporter.exports > 0 or sys.getrefcount(exporter) > held + 2


_Frame = Union[_frames.PeekedFrame, _frames.FrameReservation]


class _Views:
    """Zero-copy views handed out by peek/reserve, so close() can refuse to
    unmap memory that a view (or a slice of one) still points into."""

    __slots__ = ("_active", "_leaked")

    def __init__(self) -> None:
        self._active: Reservation | PeekedMessage | _Frame | None = None
        self._leaked: list[_chan.Memory] = []  # exporters of finished holders with live slices

    @staticmethod
    def make(
        owner: Reader | Writer, address: int, size: int, readonly: bool
    ) -> tuple[_chan.Memory, memoryview]:
        # The exporter keeps the Reader/Writer (and so the mapping) alive as
        # long as any view of it; a read-only one refuses writable buffers.
        exporter = _chan.Memory(address, size, readonly, owner)
        return exporter, memoryview(exporter)

    @staticmethod
    def release(holder: Reservation | PeekedMessage) -> bool:
        """Release the holder's own view; True if a slice of it is still alive."""
        holder._view.release()
        exporter = holder._exporter
        return exporter is not None and _in_use(exporter, 2)  # held: holder and local

    def done(self, holder: Reservation | PeekedMessage) -> bool:
        """The holder is finished: release its view; True (and remembered for
        close) if a slice of it is still alive."""
        if self._active is holder:
            self._active = None
        leaked = self.release(holder)
        exporter, holder._exporter = holder._exporter, None
        if leaked and exporter is not None:
            self._leaked.append(exporter)
        return leaked

    def check_close(self, owner: _End) -> None:
        active = self._active
        if isinstance(active, (_frames.PeekedFrame, _frames.FrameReservation)):
            # A frame's array is cut off the ring (it reads zeros from now
            # on); a peeked frame stays unconsumed, a reserved one is dropped.
            self._active = None
            active._drop()
            if isinstance(active, _frames.FrameReservation) and not owner._foreign:
                active._writer._commit(-1)
        elif active is not None:
            # An open reservation or peeked message: its views go now (the
            # reservation is dropped, the peeked message stays unconsumed).
            active._done = True
            self.done(active)
            if isinstance(active, Reservation) and not owner._foreign:
                active._writer._commit(-1)  # abort (a forked child has no role to abort in)
        alive = []
        while self._leaked:
            exporter = self._leaked.pop()  # this local is then our only reference
            if _in_use(exporter, 1):
                alive.append(exporter)
            del exporter
        self._leaked = alive
        if alive:
            raise BufferError(
                f"shmlink: cannot close {owner.address!r}: {len(alive)} view(s) into the channel's "
                "ring (slices of a peeked message or a reservation) are still alive; delete "
                "them first"
            )


def _leave_block(finish: Callable[[], None], exc_type: type[BaseException] | None) -> None:
    """End a ``with`` block by calling ``finish``; when the block raised, a
    BufferError from ``finish`` (views still held by the failing frames)
    must not hide the original exception."""
    if exc_type is None:
        finish()
        return
    with contextlib.suppress(BufferError):
        finish()


_EndT = TypeVar("_EndT", bound="_End")

if TYPE_CHECKING:

    class _EndBase(_chan._Base):  # the C bases' common part (stub only)
        # Slots of each subclass (a C base allows no slots here).
        _views: _Views
        _waiting: _aio.Waiter | None

else:
    _EndBase = object  # no class annotations at run time: help() would list them


class _End(_EndBase):
    """What Writer and Reader share around their C base: making one from a
    core handle, the close guard against live views, ``with`` and repr."""

    __slots__ = ()

    @classmethod
    def _make(cls: type[_EndT], handle: int, address: str) -> _EndT:
        self = cls._from_handle(handle, address)
        self._views = _Views()
        self._waiting = None
        return self

    def _close_views(self) -> None:
        if not self.closed:
            self._views.check_close(self)

    def _waiter(self) -> _aio.Waiter:
        """The thread that runs this end's waits for asyncio (see _aio)."""
        waiter = self._waiting
        if waiter is None:
            waiter = self._waiting = _aio.Waiter()
        return waiter

    @property
    def writers(self) -> int:
        """The number of writer slots (1 unless made with ``writers=N``)."""
        if self._handle is None:
            raise ValueError(f"shmlink: {self.address!r} is closed")
        return int(lib.shmlink_channel_writers(ffi.cast("shmlink_channel *", self._handle)))

    def _close_end(self) -> None:
        """close() of Writer and Reader: views, the waiting thread, the handle."""
        self._close_views()
        super().close()  # ends an await in progress: its wait is interrupted
        waiter, self._waiting = self._waiting, None
        if waiter is not None:
            waiter.stop()

    def __reduce__(self) -> Any:
        raise TypeError(
            f"shmlink: cannot pickle a {type(self).__name__}: a channel role belongs to the "
            "process that opened it; send the address and open the channel there"
        )

    def __enter__(self: _EndT) -> _EndT:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        _leave_block(self.close, exc_type)

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<shmlink.{type(self).__name__} {self.address!r} capacity={self.capacity} {state}>"


class Writer(_End, _chan.WriterBase):
    """The writing end of a channel (one live writer per channel).

    Make one with ``Writer.create(address, capacity=1 << 20, mode=0o600)``
    or ``Writer.open(address, *, any_owner=False)``.

    ``send`` copies a bytes-like object in as one message, waiting while the
    channel is full (``await w.asend(data)`` in asyncio); ``reserve`` hands
    out room in the ring to fill in place. ``close`` marks the end of the
    stream: the reader gets every message sent before it, then EOFError.
    Use one Writer from one thread (or task) at a time, in the process that
    opened it: in a forked child it raises ChildProcessError.

    Errors: ValueError (message larger than ``max_message``, bad argument,
    closed writer), TimeoutError, PeerDeadError (the reader died or closed
    while the channel is full), ProtocolError, BusyError (another live
    writer), FileNotFoundError / FileExistsError / PermissionError.
    """

    __slots__ = ("_views", "_waiting")

    @classmethod
    def create(
        cls,
        address: str,
        capacity: int = _DEFAULT_CAPACITY,
        mode: int = 0o600,
        *,
        readers: int = 1,
        fanout: str | None = None,
        writers: int = 1,
    ) -> Writer:
        """Create a new channel segment at ``address`` and be its writer.

        ``capacity`` is the ring size in bytes (rounded up to a power of two,
        at least 4096, at most 1 GiB); the largest message is ``max_message``
        (at least capacity/4). ``mode`` is the permission bits. Raises
        FileExistsError if the address is taken.

        ``readers=N`` (up to 64) with ``fanout="broadcast"`` makes a channel
        whose every reader gets every message committed after it joined (the
        writer waits for the slowest live reader); with ``fanout="queue"``
        each message goes to one reader (a work queue: a peeked message not
        released when its reader dies goes to another). Readers join with
        :meth:`Reader.open` (BusyError when all N slots are held) and leave
        with ``close``. One copy of each message is in the ring whatever N is.

        ``writers=N`` (up to 64; with one reader or ``fanout="queue"``)
        makes a many-writers channel: writers join with :meth:`open` (the
        first free writer slot, BusyError when all N are held; the creating
        writer takes slot 0), each with a ring of its own of ``capacity``
        bytes, so a writer that dies between reserve and commit holds nobody
        back. Readers get every message once, each writer's in its order
        (``Reader.source`` tells which slot a message came from), and the
        end of stream once every ring is drained and the last holder of
        every writer slot closed it (PeerDeadError if one died; a slot never
        held keeps the readers waiting).
        """
        return cls._make(
            *_create(address, capacity, mode, lib.SHMLINK_WRITER, readers, fanout, writers)
        )

    @property
    def slot(self) -> int:
        """The writer slot this writer holds in a many-writers channel (0 otherwise)."""
        return _fanout_of(self._handle)[1] if self._handle is not None else 0

    @property
    def fanout(self) -> str | None:
        """``"broadcast"`` or ``"queue"`` for a fan-out channel, else None."""
        return _fanout_of(self._handle)[0] if self._handle is not None else None

    @classmethod
    def open(cls, address: str, *, any_owner: bool = False) -> Writer:
        """Become the writer of an existing channel (after a dead writer, the
        stream continues after its last committed message).

        Raises BusyError if a live process is the writer, ProtocolError if
        the segment is not a shmlink channel, FileNotFoundError, and
        PermissionError for a channel that belongs to another user (not
        root): its owner could read what you send or feed your reader
        forged messages. ``any_owner=True`` opens it anyway.
        """
        return cls._make(*_open(address, lib.SHMLINK_WRITER, any_owner))

    if TYPE_CHECKING:

        def send(self, data: Buffer, timeout: float | None = None) -> None:
            """Send ``data`` (any bytes-like object) as one message.

            Waits while the channel is full, at most ``timeout`` seconds
            (None: no limit; 0: no wait) and then raises TimeoutError.
            """

    def reserve(self, size: int, timeout: float | None = None) -> Reservation:
        """Reserve room for a message of up to ``size`` bytes, zero copy.

        ``with w.reserve(n) as mv: mv[:n] = ...`` publishes ``n`` bytes when
        the block ends normally (call ``res.commit(k)`` inside to publish only
        the first ``k``) and publishes nothing if it ends with an exception.
        ``mv`` is a writable memoryview into the ring, unusable afterwards.
        """
        if isinstance(size, bool) or not isinstance(size, int):
            raise TypeError(f"shmlink: reserve size must be an int, not {type(size).__name__}")
        ptr = self._reserve(size, timeout)
        exporter, view = _Views.make(self, ptr, size, readonly=False)
        res = Reservation(self, exporter, view, size)
        self._views._active = res
        return res

    async def asend(self, data: Buffer, timeout: float | None = None) -> None:
        """``send`` for asyncio: waits for room without blocking the loop.

        Cancelling the task ends the wait at once; nothing is sent then.
        """
        until = None if timeout is None else _aio.deadline(timeout)
        need = -1
        while True:
            try:
                self.send(data, 0)
                return
            except TimeoutError:
                if until is not None and _aio.left(until) == 0:
                    raise
            if need < 0:
                need = memoryview(data).nbytes
            await _aio.ready(self, need, until)

    def send_array(self, arr: Any, timeout: float | None = None) -> None:
        """Send a numpy array (or anything ``numpy.asarray`` takes) as one
        typed frame: its dtype and shape travel with it (docs/PROTOCOL.md,
        section 14), the data is copied in once, in C order.

        Dtypes: bool, (u)int8..64, float16/32/64, complex64/128, either byte
        order; others raise FrameError. Needs numpy (ModuleNotFoundError
        otherwise). Waits for room as ``send`` does.
        """
        self._frame_check("send_array")
        _frames.send_array(self, arr, timeout)

    def reserve_frame(
        self, dtype: Any, shape: int | tuple[int, ...], timeout: float | None = None
    ) -> _frames.FrameReservation:
        """Reserve a typed frame of ``dtype`` and ``shape`` in the ring, zero copy.

        ``with w.reserve_frame("<f4", (480, 640)) as a: a[...] = ...`` hands
        out a writable numpy array in the ring and publishes the frame when
        the block ends normally (nothing if it raised). The array is cut off
        the ring at commit: kept past it, its writes reach nobody. Needs
        numpy. The frame's data starts on a 64-byte boundary.
        """
        self._frame_check("reserve_frame")
        res = _frames.FrameReservation(self, dtype, shape, timeout)
        self._views._active = res
        return res

    def _frame_check(self, op: str) -> None:
        _frames.numpy_or_error()
        if self._views._active is not None:
            raise ValueError(
                f"shmlink: {op} on {self.address!r}: a reservation is open (commit or abort it "
                "first)"
            )

    def _frame_done(self, res: _frames.FrameReservation, n: int) -> None:
        if self._views._active is res:
            self._views._active = None
        self._commit(n)

    def close(self) -> None:
        """Mark the end of the stream and release the writer role. Idempotent.

        An uncommitted reservation is dropped; an ``asend`` waiting meanwhile
        raises ValueError. Raises BufferError (and stays open) while a view
        into the ring is still alive. In a forked child it only unmaps: the
        parent stays the writer.
        """
        self._close_end()


class Reservation:
    """Room in the ring reserved by :meth:`Writer.reserve` (a context manager).

    Entering gives a writable memoryview of the reserved size. Leaving the
    block commits the whole reservation, unless :meth:`commit` or
    :meth:`abort` was called inside it; an exception aborts it.
    """

    __slots__ = ("_done", "_exporter", "_size", "_view", "_writer")

    def __init__(self, writer: Writer, exporter: _chan.Memory, view: memoryview, size: int) -> None:
        self._writer = writer
        self._exporter: _chan.Memory | None = exporter
        self._view = view
        self._size = size
        self._done = False

    @property
    def size(self) -> int:
        """Bytes reserved."""
        return self._size

    @property
    def buf(self) -> memoryview:
        """The writable memoryview into the ring."""
        if self._done:
            raise ValueError("shmlink: the reservation was committed or aborted already")
        return self._view

    def _finish(self, n: int) -> None:
        if self._done:
            raise ValueError("shmlink: the reservation was committed or aborted already")
        views = self._writer._views
        if n >= 0 and views.release(self):
            # Checked before publishing: the reservation stays open, so a
            # retry after the slice is gone publishes it once.
            raise BufferError(
                "shmlink: a view (slice) of the reservation is still alive, so nothing was "
                "published: delete it, then call commit() again (or abort())"
            )
        self._done = True
        leaked = views.done(self)
        self._writer._commit(n)
        if leaked:
            raise BufferError(
                "shmlink: a view (slice) of the reservation outlives it; it points into the "
                "ring and must not be used (the writer cannot close while it is alive)"
            )

    def commit(self, n: int | None = None) -> None:
        """Publish the first ``n`` bytes (default: all) as one message."""
        if n is None:
            n = self._size
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(f"shmlink: commit size must be an int, not {type(n).__name__}")
        if not 0 <= n <= self._size:
            raise ValueError(f"shmlink: commit size must be within 0..{self._size}, got {n}")
        self._finish(n)

    def abort(self) -> None:
        """Drop the reservation; nothing is published."""
        self._finish(-1)

    def __enter__(self) -> memoryview:
        return self.buf

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
        with contextlib.suppress(BufferError):
            self.abort()


class Reader(_End, _chan.ReaderBase):
    """The reading end of a channel (one live reader per channel).

    Make one with ``Reader.open(address, *, any_owner=False)`` or
    ``Reader.create(address, capacity=1 << 20, mode=0o600)``.

    ``recv`` returns the next message as bytes (a copy), ``recv_into``
    copies it into a buffer, ``recv_batch`` takes many at once, ``peek``
    looks at one in place; iterating yields messages until the end of the
    stream. In asyncio: ``await r.arecv()``, ``await r.arecv_batch(n)``,
    ``async for msg in r``. Use one Reader from one thread (or task) at a
    time, in the process that opened it: in a forked child it raises
    ChildProcessError.

    Errors: EOFError (end of stream), TimeoutError, PeerDeadError (the
    writer died; every committed message was delivered first), ValueError,
    ProtocolError, BusyError (another live reader), FileNotFoundError etc.
    """

    __slots__ = ("_views", "_waiting")

    @classmethod
    def open(cls, address: str, *, any_owner: bool = False) -> Reader:
        """Become the reader of an existing channel (after a dead reader,
        at the first message it did not consume).

        Raises BusyError if a live process is the reader, ProtocolError if
        the segment is not a shmlink channel, FileNotFoundError, and
        PermissionError for a channel that belongs to another user (not
        root): its owner could feed you forged messages or read yours.
        ``any_owner=True`` opens it anyway.
        """
        return cls._make(*_open(address, lib.SHMLINK_READER, any_owner))

    @classmethod
    def create(
        cls,
        address: str,
        capacity: int = _DEFAULT_CAPACITY,
        mode: int = 0o600,
        *,
        readers: int = 1,
        fanout: str | None = None,
        writers: int = 1,
    ) -> Reader:
        """Create a new channel segment at ``address`` and be its reader
        (writers open it later with :meth:`Writer.open`). ``readers``,
        ``fanout`` and ``writers`` as for :meth:`Writer.create`; the creating
        reader takes reader slot 0."""
        return cls._make(
            *_create(address, capacity, mode, lib.SHMLINK_READER, readers, fanout, writers)
        )

    @property
    def source(self) -> int:
        """The writer slot the message last returned by ``recv``, ``peek`` or
        ``recv_batch`` came from (a batch comes from one writer; always 0
        with one writer)."""
        if self._handle is None:
            raise ValueError(f"shmlink: {self.address!r} is closed")
        return check(
            lib.shmlink_channel_source(ffi.cast("shmlink_channel *", self._handle)), self.address
        )

    @property
    def fanout(self) -> str | None:
        """``"broadcast"`` or ``"queue"`` for a fan-out channel, else None."""
        return _fanout_of(self._handle)[0] if self._handle is not None else None

    @property
    def slot(self) -> int:
        """The reader slot this reader holds in a fan-out channel (0 otherwise)."""
        return _fanout_of(self._handle)[1] if self._handle is not None else 0

    if TYPE_CHECKING:

        def recv(self, timeout: float | None = None) -> bytes:
            """The next message, waiting at most ``timeout`` seconds."""

        def recv_into(self, buffer: Buffer, timeout: float | None = None) -> int:
            """Copy the next message into ``buffer``; returns its length."""

        def recv_batch(self, n: int = 1024, timeout: float | None = None) -> list[bytes]:
            """Wait for one message, return up to ``n`` already there.

            A batch holds at most about 256 KiB of messages (a single larger
            message comes alone), so that large messages do not make one call
            hold a whole ring's worth of memory.
            """

        def __iter__(self) -> Iterator[bytes]: ...

        def __next__(self) -> bytes: ...

    def peek(self, timeout: float | None = None) -> PeekedMessage:
        """Wait for the next message and look at it in place (zero copy).

        ``with r.peek() as mv: ...`` gives a read-only memoryview of the
        message; leaving the block consumes it (also on an exception).
        """
        ptr, size = self._peek(timeout)
        exporter, view = _Views.make(self, ptr, size, readonly=True)
        msg = PeekedMessage(self, exporter, view)
        self._views._active = msg
        return msg

    def peek_frame(self, timeout: float | None = None) -> _frames.PeekedFrame:
        """Wait for the next message and look at it as a typed frame, zero copy.

        ``with r.peek_frame() as a: ...`` gives a read-only numpy array of the
        frame's dtype and shape viewing the ring; leaving the block consumes
        the message (also on an exception). An array (or view of it) kept
        past that is cut off the ring and reads zeros, never later messages.

        A message that is not a valid frame (docs/PROTOCOL.md, section 14)
        raises FrameError and is consumed. Needs numpy (ModuleNotFoundError
        otherwise).
        """
        _frames.numpy_or_error()
        ptr, size = self._peek(timeout)
        try:
            frame = _frames.PeekedFrame(self, ptr, size)
        except BaseException:
            # A corrupt frame is consumed, so the stream goes on (as is a
            # frame whose array could not be made: MemoryError; the core
            # has no way to hand a peeked message back).
            self._release()
            raise
        self._views._active = frame
        return frame

    def recv_array(self, timeout: float | None = None) -> npt.NDArray[Any]:
        """The next frame as a numpy array of its own (one copy); FrameError
        (the message consumed) if it is not a valid frame."""
        with self.peek_frame(timeout) as view:
            return view.copy()

    def _frame_done(self, frame: _frames.PeekedFrame) -> None:
        if self._views._active is frame:
            self._views._active = None
        self._release()

    async def arecv(self, timeout: float | None = None) -> bytes:
        """``recv`` for asyncio: waits without blocking the event loop.

        A message already there is taken at once, on the loop's thread.
        Cancelling the task ends the wait at once and leaves the message in
        the channel; ``close()`` meanwhile ends it with ValueError.
        """
        until = None if timeout is None else _aio.deadline(timeout)
        while True:
            try:
                return self.recv(0)
            except TimeoutError:
                if until is not None and _aio.left(until) == 0:
                    raise
            await _aio.ready(self, 0, until)

    async def arecv_batch(self, n: int = 1024, timeout: float | None = None) -> list[bytes]:
        """``recv_batch`` for asyncio (see :meth:`arecv`)."""
        until = None if timeout is None else _aio.deadline(timeout)
        while True:
            try:
                return self.recv_batch(n, 0)
            except TimeoutError:
                if until is not None and _aio.left(until) == 0:
                    raise
            await _aio.ready(self, 0, until)

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        """``async for msg in r``: messages until the end of the stream."""
        try:
            try:
                return self.recv(0)  # a message is there: no second coroutine
            except TimeoutError:
                return await self.arecv()
        except EOFError:
            raise StopAsyncIteration from None

    def close(self) -> None:
        """Release the reader role and unmap. Idempotent.

        Unconsumed messages stay in the channel for a later reader; an
        ``arecv`` waiting meanwhile raises ValueError. Raises BufferError
        (and stays open) while a view into the ring is alive. In a forked
        child it only unmaps: the parent stays the reader.
        """
        self._close_end()


class PeekedMessage:
    """A message looked at in place by :meth:`Reader.peek` (a context manager).

    Entering gives a read-only memoryview of the message; leaving (or
    :meth:`release`) consumes the message, after which the view is unusable.
    """

    __slots__ = ("_done", "_exporter", "_reader", "_size", "_view")

    def __init__(self, reader: Reader, exporter: _chan.Memory, view: memoryview) -> None:
        self._reader = reader
        self._exporter: _chan.Memory | None = exporter
        self._view = view
        self._size = len(view)
        self._done = False

    @property
    def buf(self) -> memoryview:
        """The read-only memoryview of the message."""
        if self._done:
            raise ValueError("shmlink: the peeked message was released already")
        return self._view

    def __len__(self) -> int:
        return self._size

    def release(self) -> None:
        """Consume the message (idempotent)."""
        if self._done:
            return
        self._done = True
        leaked = self._reader._views.done(self)
        self._reader._release()
        if leaked:
            raise BufferError(
                "shmlink: a view (slice) of the peeked message outlives it; it points into the "
                "ring and must not be used (the reader cannot close while it is alive)"
            )

    def __enter__(self) -> memoryview:
        return self.buf

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        _leave_block(self.release, exc_type)
