"""Calls: request and response over shared memory (docs/PROTOCOL.md 13.5).

A :class:`Server` answers calls at an address; worker processes join it with
:meth:`Server.open` and each request goes to one worker. A :class:`Client`
sends requests and gets each reply back, matched by a call id the core
manages. The per-call path is the cffi module's direct calls into the core
(which release the GIL while they wait): a call is one send and one receive,
with no Python object made but the request view and the reply bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import threading
import time
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any

from . import _chan
from ._channel import Buffer, _check_create_args
from ._errors import CallError, check
from ._segment import _parse_existing
from ._shmlink import ffi, lib

__all__ = ["Call", "Client", "Server"]

_FOREVER: int = lib.SHMLINK_FOREVER
# A worker's wait for a request is cut into slices this long (nanoseconds),
# so a signal that lands just before the wait starts still ends it soon.
_IDLE_NS = 500_000_000
# A reply waiting for room in a client's reply channel is retried in slices
# this long, so close() ends it soon.
_REPLY_SLICE_NS = 200_000_000
_FAILED = 1  # status of an error reply
_CLIENT_GONE = (-errno.EPIPE, -errno.ENOENT, -errno.EPROTO, -errno.EINVAL)


def _timeout_ns(timeout: float | None) -> int:
    if timeout is None:
        return _FOREVER
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(
            f"shmlink: timeout must be a number of seconds or None, not {type(timeout).__name__}"
        )
    if not timeout >= 0:
        raise ValueError(f"shmlink: timeout must be >= 0 seconds or None, got {timeout!r}")
    return int(timeout * 1e9)


def _count(name: str, value: int, address: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"shmlink: {name} must be an int, not {type(value).__name__}")
    if not 1 <= value <= 64:
        raise ValueError(
            f"shmlink: cannot create a server at {address!r}: {name} must be within 1..64, "
            f"got {value}"
        )
    return value


def _error_text(exc: BaseException) -> bytes:
    return repr(exc).encode("utf-8", "replace")


class Call:
    """One request taken by iterating a :class:`Server`.

    ``request`` is a read-only memoryview of the request in shared memory,
    valid until :meth:`reply` or :meth:`fail`; exactly one of them answers
    the call.
    """

    __slots__ = ("_server", "_view", "call_id", "client")

    def __init__(self, server: Server, view: memoryview, call_id: int, client: int) -> None:
        self._server = server
        self._view: memoryview | None = view
        self.call_id = call_id
        self.client = client

    @property
    def request(self) -> memoryview:
        """The request bytes (read-only, zero copy), valid until the reply."""
        if self._view is None:
            raise ValueError("shmlink: the call was answered already; its request is gone")
        return self._view

    def _finish(self, data: Any, status: int) -> None:
        if self._view is None:
            raise ValueError("shmlink: the call was answered already")
        server = self._server
        if server._current is not self:
            raise ValueError("shmlink: the call is no longer the server's current request")
        server._answer(data, status)
        self._view.release()
        self._view = None

    def reply(self, data: Buffer) -> None:
        """Answer the call with ``data`` (a bytes-like object; status 0)."""
        self._finish(data, 0)

    def fail(self, message: str) -> None:
        """Answer the call with an error: the client raises CallError(message)."""
        self._finish(str(message).encode("utf-8", "replace"), _FAILED)

    def __repr__(self) -> str:
        state = "answered" if self._view is None else f"{len(self._view)} bytes"
        return f"<shmlink.Call id={self.call_id} client={self.client} {state}>"


class Server:
    """A worker of the server at an address.

    ``Server.create(address, capacity=1 << 20, workers=1, clients=8)``
    makes the server (its request channel) and is its first worker;
    ``Server.open(address)`` joins as another worker (in another process).
    ``serve(handler)`` answers requests until :meth:`close` (from another
    thread or a signal handler) or KeyboardInterrupt; ``for call in srv``
    hands out the requests one at a time. Each request goes to one worker;
    a worker that dies while it holds a request leaves it to another.

    ``capacity`` is the ring size of each client's requests and of each
    reply channel; the largest request or reply is ``max_message``.
    """

    __slots__ = (
        "_closing",
        "_current",
        "_idle",
        "_lock",
        "_req",
        "_serving",
        "_srv",
        "address",
        "reply_timeout",
    )

    def __init__(self, handle: Any, address: str) -> None:
        self._srv: Any = handle
        self.address = address
        self._req = ffi.new("shmlink_request *")
        self._current: Call | None = None  # a request taken by iteration, not answered
        self._serving: int | None = None  # the thread in serve() or __next__
        self._idle = threading.Event()
        self._idle.set()
        self._closing = False
        # Orders close()'s interrupt with the serving thread's release of the
        # handle (each may run in either thread).
        self._lock = threading.Lock()
        #: Seconds a reply waits for room in a client's reply channel (a
        #: client that does not read its replies) before it is dropped.
        self.reply_timeout = 10.0

    @classmethod
    def create(
        cls,
        address: str,
        capacity: int = 1 << 20,
        workers: int = 1,
        clients: int = 8,
        mode: int = 0o600,
    ) -> Server:
        """Create the server at ``address`` and be its first worker.

        ``workers``: worker slots (1..64); ``clients``: clients connected at
        once (1..64). Raises FileExistsError if the address is taken.
        """
        raw = _check_create_args(address, capacity, mode)
        cfg = ffi.new(
            "shmlink_server_config *",
            {
                "capacity": capacity,
                "mode": mode,
                "workers": _count("workers", workers, address),
                "clients": _count("clients", clients, address),
            },
        )
        out = ffi.new("shmlink_server **")
        check(lib.shmlink_server_create(raw, cfg, out), address)
        return cls(out[0], address)

    @classmethod
    def open(cls, address: str) -> Server:
        """Join the server at ``address`` as another worker (BusyError when
        every worker slot is held, ProtocolError if it is not a server)."""
        raw = _parse_existing(address)
        out = ffi.new("shmlink_server **")
        check(lib.shmlink_server_open(raw, out), address)
        return cls(out[0], address)

    @property
    def closed(self) -> bool:
        return self._srv is None

    @property
    def max_message(self) -> int:
        """The largest request and reply, in bytes."""
        return int(lib.shmlink_server_max_message(self._handle()))

    def _handle(self) -> Any:
        srv = self._srv
        if srv is None or self._closing:
            raise ValueError(f"shmlink: the server {self.address!r} is closed")
        return srv

    def _next(self) -> memoryview | None:
        """Wait for the next request; None once close() was called."""
        srv = self._srv
        req = self._req
        while not self._closing:
            rc = lib.shmlink_server_recv(srv, req, _IDLE_NS)
            if rc == 0:
                exporter = _chan.Memory(
                    int(ffi.cast("uintptr_t", req.data)), int(req.len), True, self
                )
                return memoryview(exporter)
            if rc in (-errno.ETIMEDOUT, -errno.EINTR, -errno.ECANCELED):
                continue  # signal handlers ran on return; close() sets _closing
            check(rc, self.address)
        return None

    def _answer(self, data: Any, status: int) -> None:
        """Reply to the current request (a reply too large becomes an error
        reply; one that cannot be delivered within reply_timeout is dropped)."""
        srv = self._srv
        try:
            src = ffi.from_buffer(data)
        except TypeError:
            status = _FAILED
            src = ffi.from_buffer(
                f"shmlink: the handler returned {type(data).__name__}, not a bytes-like "
                "object".encode()
            )
        rc = lib.shmlink_server_reply(srv, src, len(src), status, _REPLY_SLICE_NS)
        if rc == 0:
            return
        if rc == -errno.EMSGSIZE:
            top = int(lib.shmlink_server_max_message(srv))
            text = (
                f"shmlink: the reply of {len(src)} bytes is larger than the server's "
                f"max_message ({top} bytes)"
            ).encode()
            rc = lib.shmlink_server_reply(srv, text, len(text), _FAILED, _REPLY_SLICE_NS)
            src = ffi.from_buffer(text)
            status = _FAILED
        until = time.monotonic() + self.reply_timeout
        while rc == -errno.ETIMEDOUT and not self._closing and time.monotonic() < until:
            rc = lib.shmlink_server_reply(srv, src, len(src), status, _REPLY_SLICE_NS)
        if rc == -errno.ETIMEDOUT:
            lib.shmlink_server_drop(srv)  # the client does not read its replies
            return
        # The request is finished also when its client is gone (EPIPE) or
        # its reply channel is (ENOENT, EPROTO): serving goes on.
        if rc < 0 and rc not in _CLIENT_GONE:
            check(rc, self.address)

    def _begin(self) -> None:
        self._handle()
        if self._serving is not None:
            raise RuntimeError(f"shmlink: the server {self.address!r} is served by another thread")
        self._serving = threading.get_ident()
        self._idle.clear()
        current, self._current = self._current, None
        if current is not None and current._view is not None:
            # The previous request taken by iteration was not answered.
            self._answer(b"shmlink: the worker took the next request without replying", _FAILED)
            current._view.release()
            current._view = None

    def _end(self) -> None:
        self._serving = None
        self._idle.set()
        if self._closing:
            self._release()

    def serve(self, handler: Callable[[memoryview], Buffer]) -> None:
        """Answer requests with ``handler(request) -> bytes-like`` until
        :meth:`close` (from another thread or a signal handler) or
        KeyboardInterrupt.

        ``request`` is a read-only memoryview of the request in shared memory,
        valid until the handler returns. An exception in the handler becomes
        an error reply (the client raises CallError with its repr) and
        serving goes on; a reply larger than ``max_message`` becomes an error
        reply too.
        """
        self._begin()
        try:
            while True:
                view = self._next()
                if view is None:
                    return
                try:
                    try:
                        out = handler(view)
                    except Exception as exc:  # the error reply
                        self._answer(_error_text(exc), _FAILED)
                    except BaseException:
                        # KeyboardInterrupt etc.: the request stays current;
                        # close() leaves it to another worker.
                        self._current = Call(self, view, 0, 0)
                        raise
                    else:
                        self._answer(out, 0)
                finally:
                    if self._current is None:
                        # BufferError: the handler kept an export of it (numpy)
                        with contextlib.suppress(BufferError):
                            view.release()
        finally:
            self._end()

    def __iter__(self) -> Iterator[Call]:
        return self

    def __next__(self) -> Call:
        """The next request as a :class:`Call` (StopIteration after close()).
        A previous call not answered yet is answered with an error first."""
        self._begin()
        try:
            view = self._next()
            if view is None:
                raise StopIteration
            call = Call(self, view, int(self._req.call_id), int(self._req.client))
            self._current = call
            return call
        finally:
            self._end()

    def _release(self) -> None:
        with self._lock:
            srv, self._srv = self._srv, None
            if srv is not None:
                lib.shmlink_server_close(srv)  # a request still current goes to another worker
        current, self._current = self._current, None
        if current is not None and current._view is not None:
            with contextlib.suppress(BufferError):
                current._view.release()
            current._view = None

    def close(self) -> None:
        """Leave the server (idempotent). A ``serve`` or iteration in
        progress in another thread ends (close waits for it); called from a
        signal handler in the serving thread, serving ends on return.
        The address stays: ``shmlink.remove(address)`` removes it."""
        with self._lock:
            srv = self._srv
            if srv is None:
                return
            self._closing = True
            lib.shmlink_server_interrupt(srv)
        serving = self._serving
        if serving is None:
            self._release()
        elif serving != threading.get_ident():
            self._idle.wait()
            self._release()

    def __enter__(self) -> Server:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_srv", None) is not None and self._serving is None:
            self._release()

    def __reduce__(self) -> Any:
        raise TypeError("shmlink: cannot pickle a Server; open the address in the other process")

    def __repr__(self) -> str:
        state = "closed" if self._srv is None else "open"
        return f"<shmlink.Server {self.address!r} {state}>"


class Client:
    """A connection to the server at an address: ``Client.open(address)``.

    ``call(request, timeout=None) -> bytes`` sends a request and waits for
    its reply. A Client is thread-safe: calls from several threads
    pipeline (each send takes a short lock; one waiting thread receives
    replies and hands the others theirs). In asyncio: ``await
    cli.acall(request)``.

    Errors: CallError (the handler failed: ``.status``, ``.message``),
    PeerDeadError (every worker of the server is gone), TimeoutError,
    ValueError (a request larger than ``max_message``, a closed client),
    BusyError (every client slot is held), ProtocolError (not a server).
    """

    __slots__ = (
        "_abandoned",
        "_buf",
        "_cap",
        "_cl",
        "_closing",
        "_cv",
        "_id",
        "_len",
        "_receiving",
        "_replies",
        "_rid",
        "_send_lock",
        "_status",
        "address",
    )

    def __init__(self, handle: Any, address: str) -> None:
        self._cl: Any = handle
        self.address = address
        self._cap = int(lib.shmlink_client_max_message(handle))
        self._buf = ffi.new("char[]", max(self._cap, 1))
        self._id = ffi.new("uint64_t *")
        self._rid = ffi.new("uint64_t *")
        self._status = ffi.new("int *")
        self._len = ffi.new("size_t *")
        self._send_lock = threading.Lock()
        self._cv = threading.Condition(threading.Lock())
        self._receiving = False  # a thread is in shmlink_client_recv
        self._closing = False
        self._replies: dict[int, tuple[int, bytes]] = {}  # for calls of other threads
        self._abandoned: set[int] = set()  # calls whose caller stopped waiting

    @classmethod
    def open(cls, address: str) -> Client:
        """Connect to the server at ``address`` (a client slot and a reply channel)."""
        raw = _parse_existing(address)
        out = ffi.new("shmlink_client **")
        check(lib.shmlink_client_open(raw, out), address)
        return cls(out[0], address)

    @property
    def closed(self) -> bool:
        return self._cl is None

    @property
    def max_message(self) -> int:
        """The largest request and reply, in bytes."""
        return self._cap

    @property
    def slot(self) -> int:
        """The client slot this client holds."""
        cl = self._cl
        if cl is None:
            raise ValueError(f"shmlink: the client of {self.address!r} is closed")
        return int(lib.shmlink_client_slot(cl))

    def call(self, request: Buffer, timeout: float | None = None) -> bytes:
        """Send ``request`` (bytes-like) and return the reply's bytes,
        waiting at most ``timeout`` seconds (None: no limit)."""
        src = ffi.from_buffer(request)
        n = len(src)
        if n > self._cap:
            raise ValueError(
                f"shmlink: a request of {n} bytes is larger than max_message ({self._cap} bytes) "
                f"of {self.address!r}"
            )
        ns = _timeout_ns(timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._send_lock:
            cl = self._cl
            if cl is None:
                raise ValueError(f"shmlink: the client of {self.address!r} is closed")
            rc = lib.shmlink_client_send(cl, src, n, self._id, ns)
            if rc < 0:
                check(rc, self.address)
            call_id = int(self._id[0])
        return self._wait(call_id, deadline)

    def _left(self, deadline: float | None) -> int:
        if deadline is None:
            return _FOREVER
        return max(0, int((deadline - time.monotonic()) * 1e9))

    def _abandon(self, call_id: int) -> None:
        """Under _cv: the caller stops waiting for call_id (timeout, error)."""
        if self._replies.pop(call_id, None) is None:
            self._abandoned.add(call_id)

    def _wait(self, call_id: int, deadline: float | None) -> bytes:
        try:
            status, data = self._wait_reply(call_id, deadline)
        except BaseException:
            # Timeout, error, KeyboardInterrupt: its reply, if one comes, is dropped.
            with self._cv:
                self._abandon(call_id)
            raise
        return _result(status, data)

    def _wait_reply(self, call_id: int, deadline: float | None) -> tuple[int, bytes]:
        cv = self._cv
        with cv:
            while True:
                got = self._replies.pop(call_id, None)
                if got is not None:
                    return got
                if self._cl is None:
                    raise ValueError(f"shmlink: the client of {self.address!r} is closed")
                if not self._receiving:
                    self._receiving = True
                    break
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise TimeoutError(errno.ETIMEDOUT, "shmlink: the call timed out", self.address)
                cv.wait(left)
        # This thread receives until its own reply comes, handing others theirs.
        cl, rid, status, buf, size = self._cl, self._rid, self._status, self._buf, self._len
        try:
            while True:
                rc = lib.shmlink_client_recv(
                    cl, rid, status, buf, self._cap, size, self._left(deadline)
                )
                if rc < 0:
                    if rc == -errno.EINTR:
                        continue  # signal handlers ran on return
                    if rc == -errno.ECANCELED and self._closing:
                        raise ValueError(f"shmlink: the client of {self.address!r} was closed")
                    if rc == -errno.ETIMEDOUT:
                        raise TimeoutError(
                            errno.ETIMEDOUT, "shmlink: the call timed out", self.address
                        )
                    check(rc, self.address)
                got_id = int(rid[0])
                data = ffi.buffer(buf, size[0])[:]
                if got_id == call_id:
                    return int(status[0]), data
                with cv:
                    if got_id in self._abandoned:
                        self._abandoned.discard(got_id)
                    else:
                        self._replies[got_id] = (int(status[0]), data)
                        cv.notify_all()
        finally:
            with cv:
                self._receiving = False
                cv.notify_all()

    async def acall(self, request: Buffer, timeout: float | None = None) -> bytes:
        """``call`` for asyncio: runs in the loop's default executor, so the
        loop is not blocked. Cancelling the task stops waiting for the reply
        (the call itself finishes or times out in the executor's thread)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self.call, bytes(request), timeout)

    def close(self) -> None:
        """Leave the server: frees the client slot and removes the reply
        channel (idempotent). Calls waiting in other threads end with
        ValueError."""
        with self._send_lock:
            cl = self._cl
            if cl is None:
                return
            self._closing = True
            with self._cv:
                while self._receiving:
                    lib.shmlink_client_interrupt(cl)
                    self._cv.wait(0.05)
                self._cl = None
                self._cv.notify_all()
            lib.shmlink_client_close(cl)

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:
        cl = getattr(self, "_cl", None)
        if cl is not None:
            self._cl = None
            lib.shmlink_client_close(cl)

    def __reduce__(self) -> Any:
        raise TypeError("shmlink: cannot pickle a Client; open the address in the other process")

    def __repr__(self) -> str:
        state = "closed" if self._cl is None else "open"
        return f"<shmlink.Client {self.address!r} {state}>"


def _result(status: int, data: bytes) -> bytes:
    if status != 0:
        raise CallError(status, data.decode("utf-8", "replace"))
    return data
