"""Exceptions and the single place where C return codes become Python errors."""

from __future__ import annotations

import errno as _errno

from ._shmlink import ffi, lib

__all__ = ["BusyError", "CallError", "PeerDeadError", "ProtocolError", "check", "strerror"]


class PeerDeadError(ConnectionError):
    """The process at the other end of a channel died (errno EPIPE)."""


class ProtocolError(OSError):
    """Not a shmlink channel, another protocol version, or a corrupt one (EPROTO)."""


class BusyError(OSError):
    """The channel role is held by another live process (EBUSY)."""


class CallError(Exception):
    """A call's handler failed: ``status`` (not 0) and ``message``, the error
    text the server sent back."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(status, message)
        self.status = status
        self.message = message

    def __str__(self) -> str:
        return f"shmlink: the call failed (status {self.status}): {self.message}"


# errno -> exception class for the codes Python would not map the way the
# package documents (README, the classes' docstrings); everything else
# goes through OSError(errno, ...) so Python itself picks FileExistsError,
# FileNotFoundError, PermissionError, TimeoutError, InterruptedError, ...
_OWN: dict[int, type[OSError]] = {
    _errno.EPIPE: PeerDeadError,
    _errno.EPROTO: ProtocolError,
    _errno.EBUSY: BusyError,
}


def strerror(code: int) -> str:
    """The C core's description of a return code (negative errno or errno)."""
    raw: bytes = ffi.string(lib.shmlink_strerror(code))
    return raw.decode("utf-8", "replace")


def check(rc: int, address: str | None = None) -> int:
    """Return rc if it is >= 0, otherwise raise the Python error for -rc.

    -EINVAL becomes ValueError (a malformed argument), -ENODATA EOFError (end
    of stream); -EPIPE, -EPROTO and -EBUSY become PeerDeadError, ProtocolError
    and BusyError; every other code becomes ``OSError(errno, strerror,
    address)``, which Python turns into the matching built-in subclass.
    """
    if rc >= 0:
        return rc
    code = -rc
    text = strerror(code)
    if code == _errno.EINVAL:
        where = f": {address!r}" if address is not None else ""
        raise ValueError(f"shmlink: {text}{where}")
    if code == _errno.ENODATA:
        where = f" on {address!r}" if address is not None else ""
        raise EOFError(f"shmlink: end of stream{where}")
    cls = _OWN.get(code, OSError)
    if address is None:
        raise cls(code, text)
    raise cls(code, text, address)
