#!/usr/bin/env python3
"""Echo servers of the call benchmark (bench/calls/run.py starts them).

    python servers.py KIND ADDRESS READY_FILE [--threads 8]

Each serves request/response calls whose response is the request, bytes
for bytes, and writes READY_FILE once clients can connect. It runs until
SIGTERM or SIGINT, then closes what it opened (the socket file is removed by
the driver, which owns the directory it lives in).

KIND:
  grpc      grpcio, the synchronous server with a thread pool of --threads
            workers; the unary-unary method /shmlink.bench.Echo/Call through
            a generic handler with no (de)serializer: raw bytes in and out,
            no protobuf. ADDRESS is a Unix socket path.
  grpc-aio  the same method on grpc.aio's server (asyncio).
  asyncio   asyncio.start_unix_server; a message is a 4-byte little-endian
            length and the payload; one task per connection reads a whole
            request (readexactly) and writes the response with one write.
  uvloop    the same server on uvloop's event loop.
  mpconn    multiprocessing.connection.Listener (AF_UNIX, no authkey,
            backlog 64); one thread per accepted Connection: recv_bytes,
            send_bytes.
  shmlink   shmlink.Server.create(ADDRESS, capacity=1 MiB, clients=--threads)
            and serve(echo).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import struct
import sys
import threading
from typing import Any, Callable, Union

SERVICE = "shmlink.bench.Echo"
METHOD = "Call"
FRAME = struct.Struct("<I")
SHM_CAPACITY = 1 << 20


class Stop(Exception):
    """Raised in the main thread by SIGTERM / SIGINT."""


def _raise_stop(*_: Any) -> None:
    raise Stop()


def _ready(path: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(os.getpid()))
    os.rename(tmp, path)


def _echo_handler() -> Any:
    import grpc

    def echo(request: bytes, context: Any) -> bytes:
        return request

    return grpc.method_handlers_generic_handler(
        SERVICE, {METHOD: grpc.unary_unary_rpc_method_handler(echo)})


def serve_grpc(addr: str, ready: str, threads: int) -> None:
    from concurrent.futures import ThreadPoolExecutor

    import grpc

    server = grpc.server(ThreadPoolExecutor(max_workers=threads))
    server.add_generic_rpc_handlers((_echo_handler(),))
    if server.add_insecure_port("unix:" + addr) == 0:
        raise SystemExit(f"servers.py grpc: cannot bind unix:{addr}")
    server.start()
    try:
        _ready(ready)
        threading.Event().wait()
    finally:
        server.stop(None)


def serve_grpc_aio(addr: str, ready: str, threads: int) -> None:
    import grpc

    async def main() -> None:
        async def echo(request: bytes, context: Any) -> bytes:
            return request

        server = grpc.aio.server()
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
            SERVICE, {METHOD: grpc.unary_unary_rpc_method_handler(echo)}),))
        if server.add_insecure_port("unix:" + addr) == 0:
            raise SystemExit(f"servers.py grpc-aio: cannot bind unix:{addr}")
        await server.start()
        try:
            _ready(ready)
            await server.wait_for_termination()
        finally:
            await server.stop(None)

    asyncio.run(main())


def serve_asyncio(addr: str, ready: str, threads: int, use_uvloop: bool = False) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        unpack = FRAME.unpack
        try:
            while True:
                hdr = await reader.readexactly(4)
                body = await reader.readexactly(unpack(hdr)[0])
                writer.write(hdr + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        # The loop's own signal handling: an exception raised from a Python
        # signal handler does not reach this coroutine under uvloop.
        loop = asyncio.get_running_loop()
        stop = loop.create_future()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
        server = await asyncio.start_unix_server(handle, path=addr)
        async with server:
            _ready(ready)
            await stop

    if use_uvloop:
        import uvloop

        uvloop.run(main())
    else:
        asyncio.run(main())


def serve_uvloop(addr: str, ready: str, threads: int) -> None:
    serve_asyncio(addr, ready, threads, use_uvloop=True)


def serve_mpconn(addr: str, ready: str, threads: int) -> None:
    from multiprocessing.connection import Connection, Listener

    def handle(conn: Connection) -> None:
        with conn:
            try:
                while True:
                    conn.send_bytes(conn.recv_bytes())
            except (EOFError, ConnectionError):
                pass

    # The default backlog (1) refuses the 8 callers that connect at once.
    with Listener(addr, family="AF_UNIX", backlog=64) as listener:
        _ready(ready)
        while True:
            conn = listener.accept()
            threading.Thread(target=handle, args=(conn,), daemon=True).start()


def serve_shmlink(addr: str, ready: str, threads: int) -> None:
    import shmlink

    server_cls = getattr(shmlink, "Server", None)
    if server_cls is None:
        raise SystemExit("servers.py shmlink: this shmlink package has no shmlink.Server (calls)")

    def echo(request: Union[memoryview, bytes]) -> bytes:
        return request if isinstance(request, bytes) else bytes(request)

    srv = server_cls.create(addr, capacity=SHM_CAPACITY, clients=threads)
    try:
        _ready(ready)
        srv.serve(echo)
    finally:
        srv.close()


SERVERS: dict[str, Callable[[str, str, int], None]] = {
    "grpc": serve_grpc,
    "grpc-aio": serve_grpc_aio,
    "asyncio": serve_asyncio,
    "uvloop": serve_uvloop,
    "mpconn": serve_mpconn,
    "shmlink": serve_shmlink,
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("kind", choices=sorted(SERVERS))
    ap.add_argument("address")
    ap.add_argument("ready_file")
    ap.add_argument("--threads", type=int, default=8,
                    help="gRPC thread pool / shmlink clients (default 8)")
    args = ap.parse_args(argv)
    if args.threads < 1:
        ap.error(f"--threads {args.threads}: must be >= 1")
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)
    try:
        SERVERS[args.kind](args.address, args.ready_file, args.threads)
    except Stop:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
