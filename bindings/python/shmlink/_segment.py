"""Segments: a mapping of a System V or POSIX shared memory object."""

from __future__ import annotations

import contextlib
import enum
import errno
import os
import sys
import warnings
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

from . import _chan
from ._errors import check
from ._shmlink import ffi, lib

__all__ = ["Backend", "Segment", "SegmentStat", "remove", "stat", "sysv_key"]

_SIZE_MAX = 2 ** (8 * ffi.sizeof("size_t")) - 1

_ADDRESS_FORMS = "'posix:/name', '/name', 'sysv:KEY', 'sysv:private' or 'sysv-id:N'"


class Backend(str, enum.Enum):
    """Which operating-system API a segment uses."""

    POSIX = "posix"
    SYSV = "sysv"


_BACKENDS = {lib.SHMLINK_BACKEND_POSIX: Backend.POSIX, lib.SHMLINK_BACKEND_SYSV: Backend.SYSV}


@dataclass(frozen=True)
class SegmentStat:
    """What the operating system knows about a segment (mirrors ``shmlink_stat``).

    Times are seconds since the epoch. The System V fields (shmid .. dtime)
    are 0 for POSIX segments; ``mtime`` is 0 for System V segments.
    """

    backend: Backend
    address: str
    size: int
    mode: int
    uid: int
    gid: int
    ctime: int
    shmid: int
    key: int
    nattch: int
    cuid: int
    cgid: int
    cpid: int
    lpid: int
    atime: int
    dtime: int
    mtime: int


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _encode_address(address: str) -> bytes:
    if not isinstance(address, str):
        raise TypeError(f"shmlink: address must be a str, not {type(address).__name__}")
    if "\0" in address:
        raise ValueError(f"shmlink: malformed address {address!r}: contains a NUL character")
    return address.encode("utf-8", "surrogateescape")


def _parse(address: str) -> tuple[bytes, int]:
    """Validate an address without any system call; returns (bytes, kind)."""
    raw = _encode_address(address)
    parsed = ffi.new("shmlink_address *")
    if lib.shmlink_address_parse(raw, parsed) < 0:
        raise ValueError(f"shmlink: malformed address {address!r}: expected {_ADDRESS_FORMS}")
    return raw, int(parsed.kind)


def _parse_existing(address: str) -> bytes:
    raw, kind = _parse(address)
    if kind == lib.SHMLINK_ADDR_SYSV_PRIVATE:
        raise ValueError(
            f"shmlink: address {address!r} names no existing segment "
            "('sysv:private' is for create only; open a private segment by 'sysv-id:N')"
        )
    return raw


def _stat_record(st: Any) -> SegmentStat:
    return SegmentStat(
        backend=_BACKENDS[int(st.backend)],
        address=_decode(ffi.string(st.address)),
        size=int(st.size),
        mode=int(st.mode),
        uid=int(st.uid),
        gid=int(st.gid),
        ctime=int(st.ctime),
        shmid=int(st.shmid),
        key=int(st.key),
        nattch=int(st.nattch),
        cuid=int(st.cuid),
        cgid=int(st.cgid),
        cpid=int(st.cpid),
        lpid=int(st.lpid),
        atime=int(st.atime),
        dtime=int(st.dtime),
        mtime=int(st.mtime),
    )


if TYPE_CHECKING:

    class _Fields:  # the slots' types, for the type checker only
        _address: str
        _backend: Backend
        _baseline: int
        _exporter: _chan.Memory | None  # exports the mapping; None once closed
        _handle: Any  # shmlink_segment *; None once closed
        _pid: int  # the process that mapped it
        _readonly: bool
        _release: Any  # ffi.gc-owned data pointer whose destructor closes the handle
        _size: int
        _unlink: bool  # unlink_on_close

else:
    _Fields = object  # no class annotations at run time: help() would list them


class Segment(_Fields):
    """A mapping of a shared memory segment (POSIX or System V).

    Make one with ``Segment.create(address, size, mode=0o600, *,
    unlink_on_close=False)`` or ``Segment.open(address, readonly=False)``.
    ``buf`` is a memoryview over the mapping (zero copy; read-only when
    opened read-only, down to the object it exports); each access returns a
    fresh view. :meth:`close` unmaps and raises :class:`BufferError` while
    any view of ``buf`` (or a slice of one, or a numpy array over one) is
    still alive, so no view ever outlives the mapping.

    Like ``multiprocessing.shared_memory.SharedMemory``: a segment pickles
    by address (unpickling opens it again, read-only if this one is); one
    collected without :meth:`close` gives a :class:`ResourceWarning` (shown
    under ``python -X dev``) and is unmapped once its last view is gone; and
    ``unlink_on_close=True`` at create removes the name when the creating
    process closes it (or when it is collected unclosed), for a segment that
    lives as long as its creator. The name is never removed behind the
    creator's back otherwise: there is no resource tracker.

    After :meth:`close`, ``address``, ``size``, ``readonly`` and ``backend``
    still answer (they are facts recorded at open), while ``buf``,
    :meth:`stat` and :meth:`remove` raise ValueError; use
    :func:`shmlink.remove` with the address to remove a closed segment.
    """

    __slots__ = (
        "__weakref__",
        "_address",
        "_backend",
        "_baseline",
        "_exporter",
        "_handle",
        "_pid",
        "_readonly",
        "_release",
        "_size",
        "_unlink",
    )
    if not TYPE_CHECKING:
        # Segment(...) is refused (TypeError naming create and open); a C
        # function, so that help() shows no signature for the class.
        __new__ = staticmethod(_chan.refuse_new)

    @classmethod
    def _from_handle(cls, handle: Any, unlink_on_close: bool = False) -> Segment:
        self: Segment = object.__new__(cls)
        self._pid = os.getpid()  # the process that mapped it
        self._unlink = unlink_on_close
        size = int(lib.shmlink_segment_size(handle))
        data = ffi.cast("char *", lib.shmlink_segment_data(handle))
        # The handle is closed when `owner` dies: by release() in close(), or
        # by the garbage collector once the Segment and every view are gone
        # (the exporter keeps `owner` alive, each live view keeps the exporter).
        owner = ffi.gc(data, lambda _p, h=handle: lib.shmlink_segment_close(h))
        self._handle = handle
        self._release = owner
        self._size = size
        self._readonly = bool(lib.shmlink_segment_readonly(handle))
        # A read-only segment exports read-only memory: no writable buffer
        # can be had from it (the mapping is PROT_READ: a write would fault).
        address = int(ffi.cast("uintptr_t", data))
        self._exporter = _chan.Memory(address, size, self._readonly, owner)
        self._address = _decode(ffi.string(lib.shmlink_segment_address(handle)))
        self._backend = Backend.SYSV if self._address.startswith("sysv") else Backend.POSIX
        # References to the exporter held by this object alone; every live
        # memoryview (and whatever shares its buffer, or keeps the exporter
        # itself, as numpy 2 does for ndarray(buffer=...)) adds one.
        self._baseline = sys.getrefcount(self._exporter)
        return self

    @classmethod
    def create(
        cls, address: str, size: int, mode: int = 0o600, *, unlink_on_close: bool = False
    ) -> Segment:
        """Create a new segment of ``size`` bytes (> 0) and map it read-write.

        The memory reads zero. ``mode`` (0..0o777) is applied exactly. Raises
        FileExistsError if it exists, PermissionError, OSError (ENOSPC, ...),
        and ValueError for a malformed address, size or mode (before any
        system call). ``"sysv:private"`` makes a private System V segment
        whose :attr:`address` then reads ``"sysv-id:N"``.

        ``unlink_on_close=True``: :meth:`close` in this process (or the
        garbage collector, if it is never closed) also removes the name, as
        :meth:`remove` would; mappings of other processes stay valid. A
        forked child closing its inherited copy removes nothing.
        """
        raw, kind = _parse(address)
        if kind == lib.SHMLINK_ADDR_SYSV_ID:
            raise ValueError(
                f"shmlink: cannot create at {address!r}: a 'sysv-id:N' address names an "
                "existing segment (use 'sysv:KEY' or 'sysv:private')"
            )
        if isinstance(size, bool) or not isinstance(size, int):
            raise TypeError(f"shmlink: size must be an int, not {type(size).__name__}")
        if size <= 0:
            raise ValueError(f"shmlink: cannot create {address!r}: size must be > 0, got {size}")
        if size > _SIZE_MAX:
            raise ValueError(f"shmlink: cannot create {address!r}: size {size} is too large")
        if isinstance(mode, bool) or not isinstance(mode, int):
            raise TypeError(f"shmlink: mode must be an int, not {type(mode).__name__}")
        if not 0 <= mode <= 0o777:
            raise ValueError(
                f"shmlink: cannot create {address!r}: mode must be within 0..0o777, got {mode:#o}"
            )
        out = ffi.new("shmlink_segment **")
        check(lib.shmlink_segment_create(raw, size, mode, out), address)
        return cls._from_handle(out[0], unlink_on_close=bool(unlink_on_close))

    @classmethod
    def open(cls, address: str, readonly: bool = False) -> Segment:
        """Map an existing segment, whole size; read-only if ``readonly``.

        Raises FileNotFoundError, PermissionError, and ValueError for a
        malformed address (before any system call).
        """
        raw = _parse_existing(address)
        flags = lib.SHMLINK_RDONLY if readonly else 0
        out = ffi.new("shmlink_segment **")
        check(lib.shmlink_segment_open(raw, flags, out), address)
        return cls._from_handle(out[0])

    # -- views ---------------------------------------------------------------

    @property
    def buf(self) -> memoryview:
        """A memoryview over the whole mapping (read-only if opened read-only)."""
        if self._exporter is None:
            raise ValueError(f"shmlink: segment {self._address!r} is closed")
        return memoryview(self._exporter)

    @property
    def size(self) -> int:
        """Size of the mapping in bytes."""
        return self._size

    @property
    def address(self) -> str:
        """Canonical address (``"sysv-id:N"`` for a private segment)."""
        return self._address

    @property
    def backend(self) -> Backend:
        """Backend.POSIX or Backend.SYSV."""
        return self._backend

    @property
    def readonly(self) -> bool:
        """True if the segment was opened read-only."""
        return self._readonly

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has run."""
        return self._exporter is None

    def _live_handle(self) -> Any:
        if self._handle is None:
            raise ValueError(f"shmlink: segment {self._address!r} is closed")
        return self._handle

    def stat(self) -> SegmentStat:
        """What the operating system reports about this segment now."""
        st = ffi.new("shmlink_stat *")
        check(lib.shmlink_segment_stat(self._live_handle(), st), self._address)
        return _stat_record(st)

    def remove(self) -> None:
        """Remove the segment's name; this mapping stays valid until closed.

        Raises FileNotFoundError if it was removed already, also when a
        newer segment has taken the name since (that one is left alone).
        """
        check(lib.shmlink_segment_remove(self._live_handle()), self._address)

    def close(self) -> None:
        """Unmap this process's view; the segment lives on. Idempotent.

        Raises BufferError (and stays open) while views of ``buf`` exist.
        """
        if self._exporter is None:
            return
        extra = sys.getrefcount(self._exporter) - self._baseline
        if extra > 0:
            raise BufferError(
                f"shmlink: cannot close {self._address!r}: {extra} view(s) of its buffer "
                "still exist (memoryviews, slices or arrays over seg.buf); delete or "
                "release them first"
            )
        self._unlink_if_asked()
        release, self._release = self._release, None
        self._exporter = None
        self._handle = None
        ffi.release(release)  # runs shmlink_segment_close now

    def _unlink_if_asked(self) -> None:
        if self._unlink and self._pid == os.getpid():
            self._unlink = False
            # Gone already (removed by hand, or a newer segment took the
            # name, which is left alone): nothing to do.
            rc = lib.shmlink_segment_remove(self._handle)
            if rc != -errno.ENOENT:
                check(rc, self._address)

    def __del__(self) -> None:
        # Collected without close(): the mapping goes with its last view
        # (see _from_handle); warn as an unclosed file does, and remove the
        # name if asked to. Not in a forked child: the segment is the parent's.
        if getattr(self, "_exporter", None) is None or self._pid != os.getpid():
            return
        warnings.warn(f"unclosed {self!r}", ResourceWarning, stacklevel=2, source=self)
        with contextlib.suppress(OSError):
            self._unlink_if_asked()

    def __reduce__(self) -> tuple[Any, tuple[str, bool]]:
        # By address, as multiprocessing.shared_memory does by name: the
        # receiving process maps the segment again (never unlink_on_close).
        return (_reopen, (self._address, self._readonly))

    def __enter__(self) -> Segment:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close; raises BufferError if views of ``buf`` are still alive.

        When the block is left by an exception, views held by the failing
        frames are still alive: then the original exception propagates and
        the mapping is closed once the last view is gone (never earlier).
        """
        if exc_type is None:
            self.close()
            return
        with contextlib.suppress(BufferError):
            self.close()

    def __repr__(self) -> str:
        state = "closed" if self._exporter is None else ("read-only" if self._readonly else "open")
        return f"<shmlink.Segment {self._address!r} size={self._size} {state}>"


def _reopen(address: str, readonly: bool) -> Segment:
    """Unpickles a Segment: opens the address again (see Segment.__reduce__)."""
    return Segment.open(address, readonly=readonly)


def remove(address: str) -> None:
    """Remove a segment by address (shm_unlink / IPC_RMID).

    Raises FileNotFoundError if there is none, PermissionError, and
    ValueError for a malformed address.
    """
    raw = _parse_existing(address)
    check(lib.shmlink_remove(raw), address)


def stat(address: str) -> SegmentStat:
    """Stat a segment by address without mapping it."""
    raw = _parse_existing(address)
    st = ffi.new("shmlink_stat *")
    check(lib.shmlink_stat_address(raw, st), address)
    return _stat_record(st)


def sysv_key(path: str | bytes | os.PathLike[str] | os.PathLike[bytes], proj: int) -> int:
    """ftok(3): the System V key for an existing file and a project byte (1..255).

    Raises FileNotFoundError (or another OSError) if the file cannot be
    stat'ed, ValueError if proj is out of range.
    """
    raw = os.fsencode(path)
    if b"\0" in raw:
        raise ValueError(f"shmlink: path {path!r} contains a NUL character")
    if isinstance(proj, bool) or not isinstance(proj, int):
        raise TypeError(f"shmlink: proj must be an int, not {type(proj).__name__}")
    if not 1 <= proj <= 255:
        raise ValueError(f"shmlink: proj must be within 1..255, got {proj}")
    key = ffi.new("uint32_t *")
    rc = lib.shmlink_sysv_key(raw, proj, key)
    if rc == -errno.EINVAL:
        raise ValueError(f"shmlink: cannot make a System V key from {path!r}, {proj}")
    check(rc, os.fsdecode(raw))
    return int(key[0])
