"""asyncio support of Reader and Writer: waiting without blocking the loop.

An await first tries the call without waiting, on the event loop's thread:
a message that is there (or room in the ring) costs no thread hop. When it
would have to wait, the end's interrupt count is read on the loop thread and
``shmlink_channel_wait`` (which consumes nothing) runs in the end's waiting
thread; the loop is told when the channel is ready and the await takes the
message with timeout 0 on the loop thread. Cancelling the task interrupts
that wait at once (``shmlink_channel_interrupt``): the message, if one came,
stays in the channel. ``close()`` during an await ends it too (ValueError).

One waiting thread per Reader/Writer, started by its first await that has
to wait and stopped by close (or when the end is collected): an end is for
one task at a time, so its waits never queue behind another channel's, as
they could in a shared executor. The threads are daemons: a wait still
pending when the interpreter exits does not keep it alive.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._channel import Reader, Writer

_Job = tuple[
    asyncio.AbstractEventLoop, "asyncio.Future[None]", Callable[..., None], tuple[Any, ...]
]


def _settle(fut: asyncio.Future[None], exc: BaseException | None) -> None:
    if fut.done():  # the awaiting task was cancelled meanwhile
        return
    if exc is None:
        fut.set_result(None)
    else:
        fut.set_exception(exc)


class Waiter:
    """The thread that runs one end's blocking waits."""

    __slots__ = ("__weakref__", "_busy", "_jobs")

    def __init__(self) -> None:
        jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        busy = threading.Event()  # set while a wait is queued or running
        self._jobs = jobs
        self._busy = busy
        threading.Thread(
            target=Waiter._run, args=(jobs, busy), name="shmlink-wait", daemon=True
        ).start()
        weakref.finalize(self, jobs.put, None)  # collected: the thread ends

    @staticmethod
    def _run(jobs: queue.SimpleQueue[_Job | None], busy: threading.Event) -> None:
        while True:
            job = jobs.get()
            if job is None:
                return
            loop, fut, fn, args = job
            del job
            exc: BaseException | None = None
            try:
                fn(*args)
            except BaseException as e:  # handed to the awaiting task
                exc = e
            del fn, args
            busy.clear()  # before the task hears of it: it may await again at once
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                loop.call_soon_threadsafe(_settle, fut, exc)
            del loop, fut, exc

    def submit(self, fn: Callable[..., None], *args: Any) -> asyncio.Future[None]:
        """Runs fn(*args) in the thread; the future settles when it returns.
        RuntimeError if a wait of this end is still queued or running: an
        end is for one task at a time (a second would wait behind the first)."""
        if self._busy.is_set():
            raise RuntimeError(
                "shmlink: the channel end is awaited by another task (a Reader or Writer "
                "is for one task at a time)"
            )
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        self._busy.set()
        self._jobs.put((loop, fut, fn, args))
        return fut

    def stop(self) -> None:
        self._jobs.put(None)


def deadline(timeout: float | None) -> float | None:
    """The time.monotonic() by which an await with this timeout gives up."""
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(
            f"shmlink: timeout must be a number of seconds or None, not {type(timeout).__name__}"
        )
    if not timeout >= 0:
        raise ValueError(f"shmlink: timeout must be >= 0 seconds or None, got {timeout!r}")
    return time.monotonic() + timeout


def left(until: float | None) -> float | None:
    """Seconds left until the deadline; TimeoutError is the caller's once 0."""
    return None if until is None else max(0.0, until - time.monotonic())


async def ready(end: Reader | Writer, need: int, until: float | None) -> None:
    """Waits, off the loop, until ``end`` can receive a message (reader) or
    send ``need`` bytes (writer). Raises what the wait raises (TimeoutError,
    EOFError, PeerDeadError, ValueError if closed meanwhile)."""
    since = end._interrupts()
    fut = end._waiter().submit(end._wait, need, left(until), since)
    try:
        await asyncio.shield(fut)
    except asyncio.CancelledError:
        end._interrupt()  # the wait returns at once; nothing was consumed
        with contextlib.suppress(Exception):
            await fut  # the end is free again before the task goes on
        raise
