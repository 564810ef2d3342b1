"""shmlink: System V and POSIX shared memory, shared by C, Go and Python.

>>> import shmlink
>>> with shmlink.Segment.create("posix:/demo", 4096) as seg:   # doctest: +SKIP
...     seg.buf[:5] = b"hello"

A channel: one writer, one reader, variable-length messages.

>>> w = shmlink.Writer.create("posix:/jobs", capacity=1 << 20)   # doctest: +SKIP
>>> r = shmlink.Reader.open("posix:/jobs")                       # doctest: +SKIP
>>> w.send(b"job 1"); w.close()                                  # doctest: +SKIP
>>> [m for m in r]                                               # doctest: +SKIP
[b'job 1']

Calls: a server answers requests, clients call it.

>>> srv = shmlink.Server.create("posix:/echo")                   # doctest: +SKIP
>>> srv.serve(lambda req: bytes(req))   # in the server process  # doctest: +SKIP
>>> shmlink.Client.open("posix:/echo").call(b"hi")               # doctest: +SKIP
b'hi'
"""

from __future__ import annotations

from ._calls import Call, Client, Server
from ._channel import PeekedMessage, Reader, Reservation, Writer
from ._errors import BusyError, CallError, PeerDeadError, ProtocolError
from ._frames import FrameError, FrameReservation, PeekedFrame
from ._segment import Backend, Segment, SegmentStat, remove, stat, sysv_key
from ._shmlink import lib as _lib

__all__ = [
    "Backend",
    "BusyError",
    "Call",
    "CallError",
    "Client",
    "FrameError",
    "FrameReservation",
    "PeekedFrame",
    "PeekedMessage",
    "PeerDeadError",
    "ProtocolError",
    "Reader",
    "Reservation",
    "Segment",
    "SegmentStat",
    "Server",
    "Writer",
    "__version__",
    "remove",
    "stat",
    "sysv_key",
]

__version__ = (
    f"{_lib.SHMLINK_VERSION_MAJOR}.{_lib.SHMLINK_VERSION_MINOR}.{_lib.SHMLINK_VERSION_PATCH}"
)
