"""Calls from Python: shmlink.Server (serve, iteration, close) and
shmlink.Client (call from one and many threads, acall), both backends; a
handler exception becomes CallError; messages up to max_message; two client
processes; a server killed mid-call gives PeerDeadError within 1 s and a
restarted server serves again; a client killed mid-call stalls nobody;
KeyboardInterrupt and close end serve."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

import shmlink

from conftest import HERE
from pytest_shmlink import spawned

SERVER = """
import sys, time, shmlink
address, how = sys.argv[1], sys.argv[2]
if how == "create":
    srv = shmlink.Server.create(address, capacity=1 << 16, workers=2, clients=4)
else:
    srv = shmlink.Server.open(address)
def handler(req):
    if bytes(req[:5]) == b"sleep":
        time.sleep(float(bytes(req[5:])))
    if bytes(req) == b"boom":
        raise ValueError("boom")
    n = len(req)
    x = int.from_bytes(req, "little") ^ int.from_bytes(b"\\x5a" * n, "little")
    return x.to_bytes(n, "little")
print("ready", flush=True)
try:
    srv.serve(handler)
except KeyboardInterrupt:
    print("interrupted", flush=True)
srv.close()
"""


def xor(data: bytes) -> bytes:
    return bytes(b ^ 0x5A for b in data)


def spawn(code: str, *args: str) -> subprocess.Popen[str]:
    p = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=HERE,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    spawned(p.pid)
    return p


def ready(p: subprocess.Popen[str]) -> subprocess.Popen[str]:
    assert p.stdout is not None
    line = p.stdout.readline()
    if line != "ready\n":
        p.kill()
        raise AssertionError(f"server did not start: {line!r} {p.communicate()[1]}")
    return p


def stop(p: subprocess.Popen[str]) -> tuple[str, str]:
    if p.poll() is None:
        p.kill()
    return p.communicate(timeout=30)


@pytest.fixture
def server(names, backend) -> Iterator[str]:
    """The address of an echo server process (2 worker slots, 4 clients)."""
    address = names.new(backend)
    p = ready(spawn(SERVER, address, "create"))
    try:
        yield address
    finally:
        stop(p)


class Serving:
    """A Server in a thread of this process, serving handler."""

    def __init__(self, address: str, handler, **kw) -> None:
        self.srv = shmlink.Server.create(address, **kw)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(handler,))
        self.thread.start()

    def _run(self, handler) -> None:
        try:
            self.srv.serve(handler)
        except BaseException as e:  # reported by close
            self.error = e

    def close(self) -> None:
        self.srv.close()
        self.thread.join(10)
        assert not self.thread.is_alive()
        if self.error is not None:
            raise self.error

    def __enter__(self) -> Serving:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def test_echo(server):
    with shmlink.Client.open(server) as cli:
        assert cli.call(b"hello", timeout=10) == xor(b"hello")
        assert cli.call(b"", timeout=10) == b""
        assert cli.call(bytearray(b"\x00\xff"), timeout=10) == b"\x5a\xa5"
        assert cli.call(memoryview(b"abc")[1:], timeout=10) == xor(b"bc")


def test_handler_exception_is_call_error(server):
    with shmlink.Client.open(server) as cli:
        with pytest.raises(shmlink.CallError) as e:
            cli.call(b"boom", timeout=10)
        assert e.value.status != 0
        assert e.value.message == "ValueError('boom')"
        assert "boom" in str(e.value)
        assert cli.call(b"ok", timeout=10) == xor(b"ok")  # serving goes on


def test_large_messages_up_to_max(server):
    with shmlink.Client.open(server) as cli:
        top = cli.max_message
        assert top >= (1 << 16) // 4 - 16
        big = os.urandom(top)
        assert cli.call(big, timeout=30) == xor(big)
        with pytest.raises(ValueError, match="larger than max_message"):
            cli.call(b"x" * (top + 1))
        assert cli.call(b"still", timeout=10) == xor(b"still")


def test_reply_too_large_and_not_bytes_are_errors(names):
    address = names.posix()

    def handler(req: memoryview) -> object:
        return b"x" * 100_000 if req == b"big" else 42

    with Serving(address, handler, capacity=4096), shmlink.Client.open(address) as cli:
        with pytest.raises(shmlink.CallError, match="larger than the server's max_message"):
            cli.call(b"big", timeout=10)
        with pytest.raises(shmlink.CallError, match="returned int, not a bytes-like"):
            cli.call(b"int", timeout=10)


def test_many_threads_one_client(names, backend):
    address = names.new(backend)
    echo = Serving(address, lambda req: xor(bytes(req)), capacity=1 << 14)
    with echo, shmlink.Client.open(address) as cli:
        errors: list[BaseException] = []

        def run(t: int) -> None:
            try:
                for k in range(300):
                    req = b"%d-%d" % (t, k) * (1 + k % 7)
                    assert cli.call(req, timeout=30) == xor(req)
            except BaseException as e:
                errors.append(e)

        threads = [threading.Thread(target=run, args=(t,)) for t in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not errors, errors[0]


CLIENT = """
import sys, shmlink
address, tag, count = sys.argv[1], sys.argv[2].encode(), int(sys.argv[3])
with shmlink.Client.open(address) as cli:
    for k in range(count):
        req = tag + b"%d" % k
        if cli.call(req, timeout=30) != bytes(b ^ 0x5A for b in req):
            sys.exit("bad reply")
print("ok", flush=True)
"""


def test_two_client_processes(server):
    procs = [spawn(CLIENT, server, tag, "500") for tag in ("a", "b")]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert (p.returncode, out) == (0, "ok\n"), err


def test_server_iteration(names):
    address = names.posix()
    with shmlink.Server.create(address, capacity=4096) as srv:
        results: list[object] = []

        def client() -> None:
            with shmlink.Client.open(address) as cli:
                results.append(cli.call(b"one", timeout=10))
                try:
                    cli.call(b"two", timeout=10)
                except shmlink.CallError as e:
                    results.append(e.message)
                results.append(cli.call(b"three", timeout=10))

        t = threading.Thread(target=client)
        t.start()
        calls = iter(srv)
        call = next(calls)
        assert bytes(call.request) == b"one"
        call.reply(b"1")
        with pytest.raises(ValueError, match="answered already"):
            call.reply(b"again")
        call = next(calls)
        call.fail("no two")
        call = next(calls)
        call.reply(bytes(call.request).upper())
        t.join(30)
        assert results == [b"1", "no two", b"THREE"]


def test_timeout(names):
    address = names.posix()
    gate = threading.Event()

    def slow(req: memoryview) -> bytes:
        gate.wait(10)
        return bytes(req)

    with Serving(address, slow, capacity=4096), shmlink.Client.open(address) as cli:
        t0 = time.monotonic()
        with pytest.raises(TimeoutError):
            cli.call(b"late", timeout=0.2)
        assert time.monotonic() - t0 < 2
        gate.set()
        # the late reply is dropped; the next call gets its own
        assert cli.call(b"next", timeout=10) == b"next"


def test_acall(names):
    address = names.posix()

    async def main(cli: shmlink.Client) -> list[bytes]:
        return list(await asyncio.gather(*(cli.acall(b"%d" % i, timeout=10) for i in range(20))))

    echo = Serving(address, lambda req: xor(bytes(req)), capacity=4096)
    with echo, shmlink.Client.open(address) as cli:
        assert asyncio.run(main(cli)) == [xor(b"%d" % i) for i in range(20)]


def test_server_killed_mid_call_then_restarted(names, backend):
    address = names.new(backend)
    p = ready(spawn(SERVER, address, "create"))
    try:
        with shmlink.Client.open(address) as cli:
            assert cli.call(b"x", timeout=10) == xor(b"x")
            got: list[object] = []

            def call() -> None:
                try:
                    got.append(cli.call(b"sleep2", timeout=20))
                except BaseException as e:
                    got.append(e)

            t = threading.Thread(target=call)
            t.start()
            time.sleep(0.3)  # the request is in the handler
            p.kill()
            t0 = time.monotonic()
            p.wait(10)
            t.join(10)
            elapsed = time.monotonic() - t0
            assert len(got) == 1
            assert isinstance(got[0], shmlink.PeerDeadError), got
            assert elapsed < 1.0, elapsed
            with pytest.raises(shmlink.PeerDeadError):
                cli.call(b"y", timeout=10)
            # a restarted server (joining as a worker) serves new calls, after
            # the orphaned request (whose reply the client drops)
            p = ready(spawn(SERVER, address, "open"))
            assert cli.call(b"again", timeout=20) == xor(b"again")
    finally:
        stop(p)


KILLED_CLIENT = """
import sys, shmlink
cli = shmlink.Client.open(sys.argv[1])
print(cli.slot, flush=True)
cli.call(b"sleep0.5", timeout=30)
"""


def test_client_killed_mid_call(names):
    address = names.posix()
    p = ready(spawn(SERVER, address, "create"))
    try:
        victim = spawn(KILLED_CLIENT, address)
        assert victim.stdout is not None
        slot = int(victim.stdout.readline())
        names.adopt(f"{address}.r{slot}")  # its reply channel, if left behind
        time.sleep(0.2)
        victim.kill()
        victim.communicate()
        with shmlink.Client.open(address) as cli:
            for k in range(50):
                assert cli.call(b"%d" % k, timeout=10) == xor(b"%d" % k)
    finally:
        stop(p)


def test_keyboard_interrupt_ends_serve(names):
    address = names.posix()
    p = ready(spawn(SERVER, address, "create"))
    try:
        with shmlink.Client.open(address) as cli:
            assert cli.call(b"z", timeout=10) == xor(b"z")
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=10)
        assert (p.returncode, out) == (0, "interrupted\n"), err
    finally:
        stop(p)


def test_close_from_another_thread_ends_serve(names):
    address = names.posix()
    s = Serving(address, bytes, capacity=4096)
    time.sleep(0.1)
    t0 = time.monotonic()
    s.close()
    assert time.monotonic() - t0 < 2
    assert s.srv.closed
    s.srv.close()  # idempotent
    with pytest.raises(ValueError, match="closed"):
        s.srv.serve(bytes)


def test_arguments_checked(names):
    address = names.posix()
    with pytest.raises(ValueError, match="workers must be within"):
        shmlink.Server.create(address, workers=0)
    with pytest.raises(ValueError, match="clients must be within"):
        shmlink.Server.create(address, clients=65)
    with pytest.raises(TypeError, match="capacity must be an int"):
        shmlink.Server.create(address, capacity="big")  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError):
        shmlink.Client.open(address)
    with shmlink.Server.create(address, capacity=4096, clients=1) as srv:
        with shmlink.Client.open(address) as cli:
            assert srv.max_message == cli.max_message
            with pytest.raises(shmlink.BusyError):
                shmlink.Client.open(address)
            with pytest.raises(TypeError):
                cli.call("text")  # type: ignore[arg-type]
            with pytest.raises(ValueError, match="timeout"):
                cli.call(b"", timeout=-1)
        with pytest.raises(ValueError, match="closed"):
            cli.call(b"x")


def test_close_ends_calls_waiting_in_other_threads(names):
    address = names.posix()
    gate = threading.Event()

    def slow(req: memoryview) -> bytes:
        gate.wait(10)
        return bytes(req)

    with Serving(address, slow, capacity=4096):
        cli = shmlink.Client.open(address)
        errors: list[BaseException] = []

        def call() -> None:
            try:
                cli.call(b"pending", timeout=30)
            except BaseException as e:
                errors.append(e)

        threads = [threading.Thread(target=call) for _ in range(3)]
        for t in threads:
            t.start()
        time.sleep(0.3)
        t0 = time.monotonic()
        cli.close()
        for t in threads:
            t.join(10)
        assert time.monotonic() - t0 < 5
        assert len(errors) == 3
        assert all(isinstance(e, ValueError) and "closed" in str(e) for e in errors), errors
        gate.set()
