"""asyncio: arecv, arecv_batch, asend and ``async for`` never block the event
loop; cancelling the awaiting task ends the wait at once and loses no
message; close() ends an await. Run under asyncio's loop and under uvloop
when it is installed."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Coroutine
from typing import Any, Callable

import pytest

import shmlink

try:
    import uvloop
except ImportError:  # optional
    uvloop = None

Runner = Callable[[Coroutine[Any, Any, Any]], Any]


def _run_uvloop(coro: Coroutine[Any, Any, Any]) -> Any:
    assert uvloop is not None
    loop = uvloop.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


@pytest.fixture(
    params=[
        "asyncio",
        pytest.param(
            "uvloop",
            marks=pytest.mark.skipif(uvloop is None, reason="uvloop is not installed"),
        ),
    ]
)
def run(request) -> Runner:
    return asyncio.run if request.param == "asyncio" else _run_uvloop


@pytest.fixture
def chan(address: str):
    w = shmlink.Writer.create(address, capacity=4096)
    r = shmlink.Reader.open(address)
    try:
        yield w, r
    finally:
        w.close()
        r.close()


def fill(w: shmlink.Writer, size: int = 100) -> int:
    n = 0
    while True:
        try:
            w.send(bytes(size), timeout=0)
        except TimeoutError:
            return n
        n += 1


async def cancel_and_time(task: asyncio.Task[Any]) -> float:
    """Cancels a task that is waiting; seconds until it has ended."""
    t0 = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    return time.monotonic() - t0


def test_arecv_asend_async_for(chan, run: Runner):
    w, r = chan

    async def main() -> None:
        await w.asend(b"a")
        await w.asend(bytearray(b"b"))
        await w.asend(memoryview(b"c-d")[::2])
        assert await r.arecv() == b"a"
        assert await r.arecv_batch(10) == [b"b", b"cd"]
        for i in range(5):
            await w.asend(b"%d" % i)
        w.close()
        assert [m async for m in r] == [b"%d" % i for i in range(5)]
        with pytest.raises(EOFError):
            await r.arecv()

    run(main())


@pytest.mark.slow
def test_waits_do_not_block_the_loop(chan, run: Runner):
    w, r = chan

    async def main() -> tuple[float, bytes]:
        ticks: list[float] = []

        async def ticker() -> None:
            while True:
                ticks.append(time.monotonic())
                await asyncio.sleep(0.01)

        async def send_later() -> None:
            await asyncio.sleep(0.8)
            await w.asend(b"late")

        tick = asyncio.create_task(ticker())
        send = asyncio.create_task(send_later())
        msg = await r.arecv(timeout=30)
        await send
        tick.cancel()
        gaps = [b - a for a, b in zip(ticks, ticks[1:])]
        return max(gaps), msg

    gap, msg = run(main())
    print(f"longest gap between ticks while arecv waited: {gap * 1000:.1f} ms")
    assert msg == b"late"
    assert gap < 0.5  # a blocked loop would show the whole 0.8 s


def test_timeouts(chan, run: Runner):
    w, r = chan

    async def main() -> None:
        with pytest.raises(TimeoutError):
            await r.arecv(timeout=0)
        t0 = time.monotonic()
        with pytest.raises(TimeoutError):
            await r.arecv_batch(timeout=0.2)
        assert 0.2 <= time.monotonic() - t0 < 5
        n = fill(w)
        with pytest.raises(TimeoutError):
            await w.asend(bytes(100), timeout=0.1)
        with pytest.raises(ValueError, match="timeout"):
            await r.arecv(timeout=-1)
        with pytest.raises(TypeError, match="timeout"):
            await r.arecv(timeout="1")  # type: ignore[arg-type]
        assert len(r.recv_batch(10_000)) == n  # the timed-out asend sent nothing
        # asyncio's own timeouts cancel the await: the message stays.
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(r.arecv(), 0.1)
        w.send(b"kept")
        assert await r.arecv(timeout=0) == b"kept"

    run(main())


def test_cancel_ends_the_wait_at_once_and_keeps_the_message(chan, run: Runner):
    w, r = chan

    async def main() -> float:
        task = asyncio.create_task(r.arecv())
        await asyncio.sleep(0.2)  # waiting in the end's thread by now
        latency = await cancel_and_time(task)
        w.send(b"kept")
        assert r.recv(timeout=0) == b"kept"  # the reader is free again at once
        return latency

    latency = run(main())
    print(f"cancelled arecv ended {latency * 1000:.2f} ms after cancel()")
    assert latency < 0.5


def test_cancel_asend_sends_nothing(chan, run: Runner):
    w, r = chan

    async def main() -> float:
        n = fill(w)
        task = asyncio.create_task(w.asend(b"n" * 100))
        await asyncio.sleep(0.2)
        assert not task.done()
        latency = await cancel_and_time(task)
        got = r.recv_batch(10_000)
        assert got == [bytes(100)] * n
        await w.asend(b"after")
        assert r.recv(timeout=0) == b"after"
        return latency

    assert run(main()) < 0.5


def test_asend_waits_for_room(chan, run: Runner):
    w, r = chan

    async def main() -> None:
        n = fill(w)
        task = asyncio.create_task(w.asend(b"L" * 100))
        await asyncio.sleep(0.1)
        assert not task.done()
        got = r.recv_batch(10_000)  # room again
        await asyncio.wait_for(task, 10)
        assert len(got) == n
        assert await r.arecv(timeout=10) == b"L" * 100

    run(main())


def test_close_ends_an_await(chan, address, run: Runner):
    w, r = chan

    async def main() -> tuple[float, float]:
        fill(w)
        task = asyncio.create_task(w.asend(bytes(100)))
        await asyncio.sleep(0.2)
        t0 = time.monotonic()
        w.close()
        with pytest.raises(ValueError, match="closed"):
            await task
        writer = time.monotonic() - t0
        r.recv_batch(10_000)
        with shmlink.Writer.open(address):  # a live writer: no end of stream
            task = asyncio.create_task(r.arecv())
            await asyncio.sleep(0.2)
            t0 = time.monotonic()
            r.close()
            with pytest.raises(ValueError, match="closed"):
                await task
            return time.monotonic() - t0, writer

    reader, writer = run(main())
    print(f"close() ended arecv in {reader * 1000:.2f} ms, asend in {writer * 1000:.2f} ms")
    assert reader < 0.5
    assert writer < 0.5


def test_one_task_at_a_time(chan, run: Runner):
    _, r = chan

    async def main() -> None:
        task = asyncio.create_task(r.arecv())
        # A second await is refused, whether the first one's wait is still
        # queued for the end's thread or has begun there (never queued
        # behind it, where it would wait for ever).
        await asyncio.sleep(0)
        with pytest.raises(RuntimeError, match=r"another (task|thread)"):
            await r.arecv()
        await asyncio.sleep(0.1)
        with pytest.raises(RuntimeError, match=r"another (task|thread)"):
            await r.arecv()
        await cancel_and_time(task)

    run(main())


@pytest.mark.slow
def test_cancelled_awaits_never_lose_a_message(chan, run: Runner):
    """A writer thread sends numbered messages at an irregular pace while the
    reader awaits each with a short deadline and cancels the rest: every
    message arrives exactly once, in order."""
    w, r = chan
    count = 2000

    def writer() -> None:
        for i in range(count):
            w.send(i.to_bytes(4, "little"), timeout=30)
            if i % 50 == 0:
                time.sleep(0.002)  # the reader catches up and has to wait
            elif i % 7 == 0:
                time.sleep(0.0005 * (i % 3))

    async def main() -> tuple[list[int], int]:
        got: list[int] = []
        cancelled = 0
        t = threading.Thread(target=writer)
        t.start()
        try:
            while len(got) < count:
                task = asyncio.create_task(r.arecv(timeout=30))
                done, _ = await asyncio.wait({task}, timeout=0.0003 * (len(got) % 4))
                if not done:
                    task.cancel()
                try:
                    got.append(int.from_bytes(await task, "little"))
                except asyncio.CancelledError:
                    cancelled += 1
        finally:
            t.join(60)
        return got, cancelled

    got, cancelled = run(main())
    print(f"{count} messages, {cancelled} awaits cancelled")
    assert got == list(range(count))
    assert cancelled > 0
    with pytest.raises(TimeoutError):
        r.recv(timeout=0)
