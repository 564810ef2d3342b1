"""The transports under test and how to set each one up for one measurement.

A transport builds, in the driver process, the picklable "ends" handed to
the two worker processes (multiprocessing spawn context), or the command
line of an external worker (the Go program, the C benchmark). Objects that
must exist before the workers start (pipes, socket pairs, multiprocessing
queues, faster-fifo queues, POSIX message queues) are made by the driver and
closed or removed by the driver after the measurement; shmlink channels are
created by the side that reads them and removed by the driver afterwards;
iceoryx2 services are opened or created by both workers and whatever they
leave behind is removed by the driver.

Every end has open() (called in the worker), send(buf), recv() -> bytes and
close(). Buffer sizes are the transports' defaults unless a message would not
fit (see NOTES); shmlink channels use CAPACITY.
"""

from __future__ import annotations

import os
import socket
import struct
import time
from dataclasses import dataclass, field
from multiprocessing import reduction


CAPACITY = 4 << 20  # shmlink ring bytes; the largest message is >= capacity/4
BATCH_MAX = 1024    # messages per recv_batch / get_many call
OPEN_RETRY_S = 30.0

FRAME = struct.Struct("<I")


# --------------------------------------------------------------------------
# Plumbing
# --------------------------------------------------------------------------

def _rebuild_fd(dupfd):
    return FdBox(dupfd.detach())


class FdBox:
    """A raw file descriptor that travels to a spawned worker (duplicated
    into it by multiprocessing, like Connection objects are)."""

    def __init__(self, fd: int):
        self.fd = fd

    def __reduce__(self):
        return (_rebuild_fd, (reduction.DupFd(self.fd),))


@dataclass
class PyWorker:
    loop: str        # a key of common.LOOPS
    end: object


@dataclass
class Command:
    argv: list
    env: dict = field(default_factory=dict)


@dataclass
class Setup:
    workers: list            # PyWorker / Command, started together
    measurer: int            # index of the worker whose result is the figure
    cleanup: list = field(default_factory=list)   # callables, run by driver
    addresses: list = field(default_factory=list)  # shmlink addresses to remove


class Closing:
    def close(self):
        pass


# --------------------------------------------------------------------------
# Length-framed byte streams: os.pipe and Unix stream sockets
# --------------------------------------------------------------------------

class StreamSend(Closing):
    """Writes a 4-byte length and the payload with one writev per message."""

    def __init__(self, box: FdBox):
        self.box = box

    def open(self):
        fd = self.box.fd
        writev = os.writev
        pack = FRAME.pack

        def send(buf):
            hdr = pack(len(buf))
            total = 4 + len(buf)
            n = writev(fd, (hdr, buf))
            if n != total:  # partial write: finish it
                rest = memoryview(hdr + bytes(buf))[n:]
                while rest:
                    rest = rest[os.write(fd, rest):]
        self.send = send

    def close(self):
        os.close(self.box.fd)


class StreamRecv(Closing):
    """Reads length-framed messages through a 64 KiB BufferedReader (many
    small messages per read system call)."""

    def __init__(self, box: FdBox):
        self.box = box

    def open(self):
        self.f = open(self.box.fd, "rb", buffering=65536)
        read = self.f.read
        unpack = FRAME.unpack

        def recv():
            hdr = read(4)
            if len(hdr) != 4:
                raise EOFError("stream ended")
            return read(unpack(hdr)[0])
        self.recv = recv

    def close(self):
        self.f.close()


class Duplex(Closing):
    """Ping-pong end made of a send end and a receive end. Opens the
    receiving side first (for shmlink: create the channel this side reads,
    then open the one it writes, which the peer creates)."""

    def __init__(self, send_end, recv_end):
        self.send_end, self.recv_end = send_end, recv_end

    def open(self):
        self.recv_end.open()
        self.send_end.open()
        self.send, self.recv = self.send_end.send, self.recv_end.recv

    def close(self):
        self.send_end.close()
        self.recv_end.close()


class SocketFramed(Closing):
    """One end of a socketpair, length-framed, both directions."""

    def __init__(self, box: FdBox):
        self.box = box

    def open(self):
        self.s = StreamSend(self.box)
        self.s.open()
        self.r = StreamRecv(FdBox(os.dup(self.box.fd)))
        self.r.open()
        self.send, self.recv = self.s.send, self.r.recv

    def close(self):
        self.r.close()
        self.s.close()


# --------------------------------------------------------------------------
# Transports
# --------------------------------------------------------------------------

class Transport:
    key = ""
    label = ""
    group = "py"          # "py": Python reader; "c": C to C
    latency = True        # has a ping-pong measurement
    batch = False
    note = ""

    def unavailable(self, kind: str, size: int):
        """None, or the reason this cell cannot run (reported as n/a)."""
        return None

    def setup(self, kind: str, size: int, tag: str) -> Setup:
        raise NotImplementedError


def _closer(*fds):
    def run():
        for fd in fds:
            try:
                os.close(fd)
            except OSError:
                pass
    return run


class OsPipe(Transport):
    key, label = "pipe", "os.pipe"
    note = "length-framed, writev per message, 64 KiB BufferedReader; default 64 KiB pipe buffer"

    def setup(self, kind, size, tag):
        if kind == "stream":
            r, w = os.pipe()
            return Setup([PyWorker("stream_writer", StreamSend(FdBox(w))),
                          PyWorker("stream_reader", StreamRecv(FdBox(r)))],
                         1, [_closer(r, w)])
        r1, w1 = os.pipe()
        r2, w2 = os.pipe()
        return Setup([PyWorker("ping", Duplex(StreamSend(FdBox(w1)), StreamRecv(FdBox(r2)))),
                      PyWorker("pong", Duplex(StreamSend(FdBox(w2)), StreamRecv(FdBox(r1))))],
                     0, [_closer(r1, w1, r2, w2)])


class UnixSocket(Transport):
    key, label = "unix", "Unix socket"
    note = "socketpair(AF_UNIX, SOCK_STREAM), length-framed, writev per message"

    def setup(self, kind, size, tag):
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        fa, fb = a.detach(), b.detach()
        if kind == "stream":
            return Setup([PyWorker("stream_writer", StreamSend(FdBox(fa))),
                          PyWorker("stream_reader", StreamRecv(FdBox(fb)))],
                         1, [_closer(fa, fb)])
        return Setup([PyWorker("ping", SocketFramed(FdBox(fa))),
                      PyWorker("pong", SocketFramed(FdBox(fb)))],
                     0, [_closer(fa, fb)])


class MPQueueEnd(Closing):
    def __init__(self, q):
        self.q = q

    def open(self):
        put = self.q.put
        self.send = lambda buf: put(bytes(buf))  # put keeps the object: copy
        self.recv = self.q.get


class MPQueue(Transport):
    key, label = "mpqueue", "multiprocessing.Queue"
    note = "put(bytes)/get(); pickled by a feeder thread, through a pipe"

    def __init__(self, ctx):
        self.ctx = ctx

    def setup(self, kind, size, tag):
        if kind == "stream":
            q = self.ctx.Queue()
            return Setup([PyWorker("stream_writer", MPQueueEnd(q)),
                          PyWorker("stream_reader", MPQueueEnd(q))], 1,
                         [q.close])
        q1, q2 = self.ctx.Queue(), self.ctx.Queue()
        return Setup([PyWorker("ping", Duplex(MPQueueEnd(q1), MPQueueEnd(q2))),
                      PyWorker("pong", Duplex(MPQueueEnd(q2), MPQueueEnd(q1)))],
                     0, [q1.close, q2.close])


class MPPipeEnd(Closing):
    def __init__(self, conn):
        self.conn = conn

    def open(self):
        self.send = self.conn.send_bytes
        self.recv = self.conn.recv_bytes

    def close(self):
        self.conn.close()


class MPPipe(Transport):
    key, label = "mppipe", "multiprocessing.Pipe"
    note = "send_bytes/recv_bytes; duplex=False (os.pipe) for streaming, duplex=True (socketpair) for ping-pong"

    def __init__(self, ctx):
        self.ctx = ctx

    def setup(self, kind, size, tag):
        if kind == "stream":
            r, w = self.ctx.Pipe(duplex=False)
            return Setup([PyWorker("stream_writer", MPPipeEnd(w)),
                          PyWorker("stream_reader", MPPipeEnd(r))], 1,
                         [r.close, w.close])
        a, b = self.ctx.Pipe(duplex=True)
        return Setup([PyWorker("ping", MPPipeEnd(a)), PyWorker("pong", MPPipeEnd(b))],
                     0, [a.close, b.close])


class FFEnd(Closing):
    def __init__(self, q):
        self.q = q
        self.batch_max = BATCH_MAX

    def open(self):
        # get_many returns only what fits its message buffer: make it hold
        # a full batch (and get() the largest message).
        self.q.reallocate_msg_buffer(max(CAPACITY, 2 * BATCH_MAX * 128))
        put, get, get_many = self.q.put, self.q.get, self.q.get_many
        self.send = lambda buf: put(bytes(buf))
        self.recv = lambda: get(timeout=60.0)
        self.recv_batch = lambda n: get_many(timeout=60.0, max_messages_to_get=n)


class FasterFifo(Transport):
    key, label = "fasterfifo", "faster-fifo"
    note = "put(bytes)/get(); 4 MiB circular buffer (same as the shmlink ring)"

    def __init__(self, ctx, batch=False):
        self.ctx = ctx
        self.batch = batch
        if batch:
            self.key, self.label = "fasterfifo_batch", "faster-fifo get_many"
            self.latency = False
            self.note = "put(bytes)/get_many(max_messages_to_get=1024)"

    def unavailable(self, kind, size):
        try:
            import faster_fifo  # noqa: F401
        except ImportError as exc:
            return f"faster-fifo not installed ({exc})"
        return None

    def _queue(self, size):
        import faster_fifo
        return faster_fifo.Queue(max_size_bytes=max(CAPACITY, 4 * size + 4096))

    def setup(self, kind, size, tag):
        if kind == "stream":
            q = self._queue(size)
            loop = "stream_reader_batch" if self.batch else "stream_reader"
            return Setup([PyWorker("stream_writer", FFEnd(q)), PyWorker(loop, FFEnd(q))],
                         1, [q.close])
        q1, q2 = self._queue(size), self._queue(size)
        return Setup([PyWorker("ping", Duplex(FFEnd(q1), FFEnd(q2))),
                      PyWorker("pong", Duplex(FFEnd(q2), FFEnd(q1)))],
                     0, [q1.close, q2.close])


class MQEnd(Closing):
    def __init__(self, name):
        self.name = name

    def open(self):
        import posix_ipc
        self.q = posix_ipc.MessageQueue(self.name)
        self.send = self.q.send
        receive = self.q.receive
        self.recv = lambda: receive()[0]

    def close(self):
        self.q.close()


class PosixMQ(Transport):
    """POSIX message queues (posix_ipc). Kernel limits apply: the message
    size is capped by /proc/sys/fs/mqueue/msgsize_max (the driver raises it
    for the run when it may, and restores it), the depth by msg_max, and the
    bytes of all of a user's queues by RLIMIT_MSGQUEUE (raising its hard
    limit needs CAP_SYS_RESOURCE)."""

    key, label = "posixmq", "posix_ipc MessageQueue"

    def __init__(self):
        self.depth_used = {}
        self.rlimit_note = None
        try:  # works only with CAP_SYS_RESOURCE (or a high hard limit)
            import resource
            soft, hard = resource.getrlimit(resource.RLIMIT_MSGQUEUE)
            want = 256 << 20
            if soft != resource.RLIM_INFINITY and soft < want:
                resource.setrlimit(resource.RLIMIT_MSGQUEUE, (want, max(want, hard)))
        except (ImportError, ValueError, OSError) as exc:
            self.rlimit_note = f"could not raise RLIMIT_MSGQUEUE: {exc}"

    @property
    def note(self):
        return ("send/receive()[0]; queue depth per size "
                + ", ".join(f"{s}B:{d}" for s, d in sorted(self.depth_used.items()))
                + "; limited by msg_max, msgsize_max and RLIMIT_MSGQUEUE")

    def _limits(self):
        import resource
        with open("/proc/sys/fs/mqueue/msgsize_max") as f:
            msgsize_max = int(f.read())
        with open("/proc/sys/fs/mqueue/msg_max") as f:
            msg_max = int(f.read())
        soft, _hard = resource.getrlimit(resource.RLIMIT_MSGQUEUE)
        return msgsize_max, msg_max, soft

    def _depth(self, kind, size):
        msgsize_max, msg_max, rlim = self._limits()
        nq = 1 if kind == "stream" else 2
        # Kernel accounting per queue: depth * (msgsize + pointer/tree node
        # overhead); keep a margin for it.
        per_msg = max(size, 1) + 128
        budget = rlim if rlim >= 0 else 1 << 62
        depth = min(10, msg_max, budget // (nq * per_msg))
        return depth, msgsize_max, rlim

    def unavailable(self, kind, size):
        try:
            import posix_ipc  # noqa: F401
        except ImportError as exc:
            return f"posix_ipc not installed ({exc})"
        depth, msgsize_max, rlim = self._depth(kind, size)
        if size > msgsize_max:
            return (f"message {size} B > /proc/sys/fs/mqueue/msgsize_max "
                    f"{msgsize_max} (could not raise it)")
        if depth < 1:
            return (f"RLIMIT_MSGQUEUE {rlim} B cannot hold "
                    f"{'one' if kind == 'stream' else 'two queues of one'} "
                    f"{size} B message ({self.rlimit_note}; raising the hard limit "
                    f"needs CAP_SYS_RESOURCE)")
        return None

    def setup(self, kind, size, tag):
        import posix_ipc
        depth, _, _ = self._depth(kind, size)
        self.depth_used[size] = depth
        names = [f"/shmlink-bench-mq-{tag}-{i}" for i in range(1 if kind == "stream" else 2)]
        queues = []

        def cleanup():
            for q in queues:
                try:
                    q.unlink()
                except posix_ipc.ExistentialError:
                    pass
                q.close()
        try:
            for n in names:
                queues.append(posix_ipc.MessageQueue(n, posix_ipc.O_CREX, max_messages=depth,
                                                     max_message_size=max(size, 1)))
        except BaseException:
            cleanup()
            raise
        if kind == "stream":
            return Setup([PyWorker("stream_writer", MQEnd(names[0])),
                          PyWorker("stream_reader", MQEnd(names[0]))], 1, [cleanup])
        return Setup([PyWorker("ping", Duplex(MQEnd(names[0]), MQEnd(names[1]))),
                      PyWorker("pong", Duplex(MQEnd(names[1]), MQEnd(names[0])))],
                     0, [cleanup])


# --------------------------------------------------------------------------
# shmlink
# --------------------------------------------------------------------------

def _retry_open(fn, what):
    """Opens the side of a channel the peer creates, waiting for it."""
    import shmlink
    deadline = time.monotonic() + OPEN_RETRY_S
    while True:
        try:
            return fn()
        except (FileNotFoundError, shmlink.ProtocolError):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} did not appear within {OPEN_RETRY_S} s")
            time.sleep(0.001)


class ShmWriterEnd(Closing):
    def __init__(self, addr):
        self.addr = addr

    def open(self):
        import shmlink
        self.w = _retry_open(lambda: shmlink.Writer.open(self.addr), self.addr)
        self.send = self.w.send

    def close(self):
        self.w.close()


class ShmReaderEnd(Closing):
    def __init__(self, addr, capacity=CAPACITY):
        self.addr, self.capacity = addr, capacity
        self.batch_max = BATCH_MAX

    def open(self):
        import shmlink
        self.r = shmlink.Reader.create(self.addr, capacity=self.capacity)
        self.recv = self.r.recv
        self.recv_batch = self.r.recv_batch

    def close(self):
        self.r.close()


def _shm_unavailable():
    try:
        import shmlink
    except ImportError as exc:
        return f"shmlink Python package not installed ({exc})"
    missing = [n for n in ("Writer", "Reader") if not hasattr(shmlink, n)]
    if missing:
        return f"shmlink Python binding has no {', '.join(missing)} yet"
    return None


class ShmPy(Transport):
    key, label = "shmlink_py", "shmlink Py→Py recv"
    note = "Writer.send / Reader.recv, 4 MiB ring"

    def __init__(self, batch=False):
        self.batch = batch
        if batch:
            self.key, self.label = "shmlink_py_batch", "shmlink Py→Py recv_batch"
            self.latency = False
            self.note = "Writer.send / Reader.recv_batch(1024), 4 MiB ring"

    def unavailable(self, kind, size):
        return _shm_unavailable()

    def setup(self, kind, size, tag):
        if kind == "stream":
            a = f"posix:/shmlink-bench-{tag}"
            loop = "stream_reader_batch" if self.batch else "stream_reader"
            return Setup([PyWorker("stream_writer", ShmWriterEnd(a)),
                          PyWorker(loop, ShmReaderEnd(a))], 1, addresses=[a])
        a, b = f"posix:/shmlink-bench-{tag}-req", f"posix:/shmlink-bench-{tag}-rep"
        return Setup([PyWorker("ping", Duplex(ShmWriterEnd(a), ShmReaderEnd(b))),
                      PyWorker("pong", Duplex(ShmWriterEnd(b), ShmReaderEnd(a)))],
                     0, addresses=[a, b])


class ShmGoPy(Transport):
    """Go writer program (bench/go) to a Python reader."""

    key, label = "shmlink_gopy", "shmlink Go→Py recv"
    note = "Go Writer.Send / Python Reader.recv, 4 MiB ring; Go pings for latency"

    def __init__(self, go_bin, batch=False):
        self.go_bin = go_bin
        self.batch = batch
        if batch:
            self.key, self.label = "shmlink_gopy_batch", "shmlink Go→Py recv_batch"
            self.latency = False
            self.note = "Go Writer.Send / Python Reader.recv_batch(1024), 4 MiB ring"

    def unavailable(self, kind, size):
        if not self.go_bin or not os.access(self.go_bin, os.X_OK):
            log = os.path.join(os.path.dirname(self.go_bin or "."), "go-build.log")
            first = ""
            if os.path.exists(log):
                with open(log) as f:
                    lines = [ln.strip() for ln in f if ln.strip() and not ln.startswith("#")]
                first = f": {lines[0]}" if lines else ""
            return f"Go benchmark program not built ({self.go_bin}{first})"
        return _shm_unavailable()

    def setup(self, kind, size, tag):
        if kind == "stream":
            a = f"posix:/shmlink-bench-{tag}"
            loop = "stream_reader_batch" if self.batch else "stream_reader"
            return Setup([Command([self.go_bin, "stream-writer", "-addr", a, "-size", str(size)]),
                          PyWorker(loop, ShmReaderEnd(a))], 1, addresses=[a])
        a, b = f"posix:/shmlink-bench-{tag}-req", f"posix:/shmlink-bench-{tag}-rep"
        return Setup([Command([self.go_bin, "ping", "-send", a, "-recv", b, "-size", str(size),
                               "-capacity", str(CAPACITY)]),
                      PyWorker("pong", Duplex(ShmWriterEnd(b), ShmReaderEnd(a)))],
                     0, addresses=[a, b])


# --------------------------------------------------------------------------
# iceoryx2 (Python package of Eclipse iceoryx2)
# --------------------------------------------------------------------------

ICEORYX2_WAIT_S = 0.5  # Listener.timed_wait slice; the reader re-checks, then waits again


def _iox2_config(prefix):
    """The default iceoryx2 config with a file-name prefix of its own, so that
    everything one cell makes (in /dev/shm and under the root path,
    /tmp/iceoryx2) carries it and the driver can find it afterwards."""
    import iceoryx2 as iox2
    cfg = iox2.config.default()
    cfg.global_cfg.prefix = iox2.FileName.new(prefix)  # a view: sets it in cfg
    return cfg


def _iox2_depth(size):
    """Subscriber buffer (samples in flight) holding about CAPACITY payload
    bytes, like the shmlink ring; at least 2."""
    return max(2, CAPACITY // max(size, 1))


class Iox2End(Closing):
    """One direction of an iceoryx2 channel: a publish-subscribe service with
    a dynamic byte payload (Slice[c_uint8]) plus an event service of the same
    name. The writer end has a Publisher and a Notifier, the reader end a
    Subscriber and a Listener. Both ends open_or_create the two services with
    the same settings (whichever starts first creates them)."""

    def __init__(self, prefix, name, size, writer):
        self.prefix, self.name, self.size, self.writer = prefix, name, size, writer
        self.depth = _iox2_depth(size)

    def open(self):
        import ctypes

        import iceoryx2 as iox2
        iox2.set_log_level_from_env_or(iox2.LogLevel.Warn)
        self.node = iox2.NodeBuilder.new().config(_iox2_config(self.prefix)).create(
            iox2.ServiceType.Ipc)
        name = iox2.ServiceName.new(self.name)
        self.pubsub = (self.node.service_builder(name)
                       .publish_subscribe(iox2.Slice[ctypes.c_uint8])
                       .enable_safe_overflow(False)      # a full buffer never drops
                       .subscriber_max_buffer_size(self.depth)
                       .subscriber_max_borrowed_samples(1)
                       .history_size(0)
                       .max_publishers(1)
                       .max_subscribers(1)
                       .open_or_create())
        self.event = (self.node.service_builder(name).event()
                      .max_notifiers(1)
                      .max_listeners(1)
                      .open_or_create())
        self.ports = []
        if self.writer:
            self._open_writer(ctypes, iox2)
        else:
            self._open_reader(ctypes, iox2)

    def _open_writer(self, ctypes, iox2):
        pub = (self.pubsub.publisher_builder()
               .initial_max_slice_len(max(self.size, 1))
               .allocation_strategy(iox2.AllocationStrategy.Static)
               .backpressure_strategy(iox2.BackpressureStrategy.RetryUntilDelivered)
               .max_loaned_samples(1)
               .create())
        notifier = self.event.notifier_builder().create()
        self.ports = [notifier, pub]
        # A publisher delivers only to subscribers connected at send time:
        # wait for the reader's Subscriber and Listener.
        deadline = time.monotonic() + OPEN_RETRY_S
        while (self.pubsub.dynamic_config.number_of_subscribers < 1
               or self.event.dynamic_config.number_of_listeners < 1):
            if time.monotonic() > deadline:
                raise TimeoutError(f"iceoryx2 reader of {self.name!r} did not appear "
                                   f"within {OPEN_RETRY_S} s")
            time.sleep(0.001)
        pub.update_connections()

        loan = pub.loan_slice_uninit
        notify = notifier.notify
        views = {}  # payload length -> ctypes array type

        def put(buf):
            """Loans a sample of len(buf) bytes, copies buf in, sends it;
            returns the number of subscribers it was delivered to."""
            n = len(buf)
            sample = loan(n)
            view = views.get(n) or views.setdefault(n, ctypes.c_uint8 * n)
            memoryview(view.from_address(sample.payload_ptr)).cast("B")[:] = buf
            return sample.assume_init().send()

        def resend(buf):
            # send() delivers to 0 subscribers (the sample is dropped, not
            # queued) until the subscriber has attached to the connection the
            # publisher made (it does so in receive()): wake it and
            # send this message again until it is delivered.
            deadline = time.monotonic() + OPEN_RETRY_S
            while True:
                notify()
                time.sleep(0.0005)
                pub.update_connections()
                if put(buf) == 1:
                    return
                if time.monotonic() > deadline:
                    raise TimeoutError(f"iceoryx2 subscriber of {self.name!r} did not "
                                       f"connect within {OPEN_RETRY_S} s")

        def send(buf):
            if put(buf) != 1:
                resend(buf)
            notify()
        self.send = send

    def _open_reader(self, ctypes, iox2):
        listener = self.event.listener_builder().create()
        sub = self.pubsub.subscriber_builder().buffer_size(self.depth).create()
        self.ports = [sub, listener]
        receive = sub.receive
        timed_wait = listener.timed_wait
        timeout = iox2.Duration.from_secs_f64(ICEORYX2_WAIT_S)
        string_at = ctypes.string_at

        def recv():
            while True:
                sample = receive()
                if sample is not None:
                    data = string_at(sample.payload_ptr, sample.header.number_of_elements)
                    sample.delete()  # hand the slot back to the publisher now
                    return data
                # Nothing buffered: sleep until the writer's Notifier fires
                # (or the timeout, then look again). Collects every pending
                # notification; the samples are drained by the next calls.
                timed_wait(timeout)
        self.recv = recv

    def close(self):
        for port in getattr(self, "ports", ()):
            port.delete()
        self.ports = []
        self.pubsub = self.event = self.node = None  # dropping the node removes its services


def _iox2_cleanup(prefix, root, made_dirs):
    """Removes what a cell's iceoryx2 nodes left behind, run by the driver
    after the workers exited or were killed: first the documented way (the
    stale resources of dead nodes), then every file that carries the cell's
    prefix, in /dev/shm and under the root path (/tmp/iceoryx2), the node
    directories that held them, and the directories of the root path this
    cell created."""
    def run():
        try:
            import iceoryx2 as iox2
            for state in iox2.Node.list(iox2.ServiceType.Ipc, _iox2_config(prefix)):
                if isinstance(state, iox2.NodeState.Dead):
                    state._0.try_remove_stale_resources()
        except Exception:  # noqa: BLE001 - the sweep below removes the files
            pass
        for n in os.listdir("/dev/shm"):
            if n.startswith(prefix):
                _unlink(os.path.join("/dev/shm", n))
        ours = set()
        if os.path.isdir(root):
            for dirpath, _dirs, files in os.walk(root):
                for n in files:
                    if n.startswith(prefix):
                        _unlink(os.path.join(dirpath, n))
                        ours.add(dirpath)
        ours -= {root, f"{root}/services", f"{root}/nodes"}
        for p in sorted(ours | set(made_dirs), key=len, reverse=True):
            try:
                os.rmdir(p)  # only if empty
            except OSError:
                pass
    return run


def _unlink(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _size_label(n):
    return f"{n >> 20}MiB" if n >= 1 << 20 else f"{n >> 10}KiB" if n >= 1024 else f"{n}B"


class Iceoryx2(Transport):
    """Eclipse iceoryx2 through its Python package: publish-subscribe with a
    dynamic byte payload, plus an event service to wake the reader."""

    key, label = "iceoryx2", "iceoryx2 (Python)"

    @property
    def note(self):
        depths = ", ".join(f"{_size_label(s)}:{_iox2_depth(s)}"
                           for s in (8, 64, 1024, 65536, 1 << 20))
        return ("publish-subscribe service, payload Slice[c_uint8], "
                "enable_safe_overflow(False) and publisher BackpressureStrategy."
                "RetryUntilDelivered (a full subscriber buffer makes send() wait, "
                "nothing is dropped); subscriber buffer of about 4 MiB of payload "
                f"({depths} samples), publisher initial_max_slice_len = message size. "
                "Writer: loan_slice_uninit(len), copy in (memoryview over payload_ptr), "
                "assume_init().send() (on a full buffer iceoryx2 waits itself: yield, then "
                "nanosleep), then Notifier.notify() on an event service of the same name; "
                "the writer starts once Subscriber and Listener exist and resends a message "
                "that reached 0 subscribers while the connection is still being set up. "
                "Reader: Subscriber.receive(), ctypes.string_at(payload_ptr, "
                "header.number_of_elements) -> bytes, sample.delete(); when nothing is "
                "buffered it blocks in Listener.timed_wait(0.5 s) (no spinning), then "
                "drains what arrived. Per-cell service names and config prefix; "
                "leftovers of killed workers removed via Node.list dead-node cleanup")

    def unavailable(self, kind, size):
        try:
            import iceoryx2 as iox2
        except Exception as exc:  # noqa: BLE001 - any failure means absent
            return f"iceoryx2 Python package not importable ({exc})"
        missing = [n for n in ("BackpressureStrategy", "Slice", "NodeState", "config")
                   if not hasattr(iox2, n)]
        if missing:
            from importlib import metadata
            return (f"iceoryx2 {metadata.version('iceoryx2')} lacks {', '.join(missing)} "
                    "(this peer is written against the 0.10 Python API)")
        return None

    def setup(self, kind, size, tag):
        prefix = f"iox2_slbench_{tag}_"
        root = _iox2_config(prefix).global_cfg.root_path.to_string().rstrip("/")
        made = [p for p in (root, f"{root}/services", f"{root}/nodes")
                if not os.path.exists(p)]
        cleanup = [_iox2_cleanup(prefix, root, made)]
        if kind == "stream":
            n = f"shmlink-bench/{tag}"
            return Setup([PyWorker("stream_writer", Iox2End(prefix, n, size, True)),
                          PyWorker("stream_reader", Iox2End(prefix, n, size, False))],
                         1, cleanup)
        a, b = f"shmlink-bench/{tag}/req", f"shmlink-bench/{tag}/rep"
        return Setup([PyWorker("ping", Duplex(Iox2End(prefix, a, size, True),
                                              Iox2End(prefix, b, size, False))),
                      PyWorker("pong", Duplex(Iox2End(prefix, b, size, True),
                                              Iox2End(prefix, a, size, False)))],
                     0, cleanup)
