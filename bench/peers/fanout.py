"""Fan-out workers: one writer process, R reader processes (bench/fanout.py).

Every reader end has open() (in its worker process), get() -> list of
messages (one or more, waiting for at least one; [] never), and close();
every writer end open(), put(batch of messages) and finish(). Message i
carries its sequence number i in its first and last 8 bytes.

How each mode ends and what each reader checks:
  * broadcast: every reader must get messages 0 .. total-1, in order, each
    exactly once (a reader knows `total` and stops after the last one);
  * queue: each reader checks that every message it took is whole (same
    length, both stamps equal) and hands the sequence numbers it took to the
    driver, which checks that together they are exactly 0 .. total-1, each
    once. A queue reader stops at the end of the stream: EOFError for
    shmlink (the writer closed), an empty message (one per reader, sent
    after the last one) for the peers.

Readers tell the writer they are ready by creating the file
`<ready>.<index>` once their end is open; the writer starts when all R
exist (in a broadcast channel a reader gets what is sent after it joined).

Timing: a reader stamps time.perf_counter_ns() (CLOCK_MONOTONIC, the same
clock in every process) after each call that returned messages. It
records the time of its first call that returned a measured message (index
>= warmup) and how many measured messages that call held, and the time of
its last call; bench/fanout.py turns the readers' records into one window
(from the first of those first calls to the last reader's last call) and
the measured messages delivered inside it.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback

from . import common

OPEN_RETRY_S = 30.0
BATCH_MAX = 1024       # messages per recv_batch / get_many call
CAPACITY = 4 << 20     # shmlink ring and faster-fifo buffer bytes
PROBE = (1 << 64) - 1  # iceoryx2: stamp of the messages that set up connections


def _touch(path: str) -> None:
    with open(path, "w"):
        pass


def wait_files(prefix: str, n: int, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    for i in range(n):
        while not os.path.exists(f"{prefix}.{i}"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what}: {i} of {n} readers ready within {timeout} s")
            time.sleep(0.001)


# --------------------------------------------------------------------------
# Reader loop
# --------------------------------------------------------------------------

def _words(batch, size: int):
    """The messages of a batch as an (n, size/8) array of little-endian u64,
    after checking every length."""
    import numpy as np

    if min(map(len, batch)) != size or max(map(len, batch)) != size:
        bad = next(len(m) for m in batch if len(m) != size)
        raise AssertionError(f"a message of {bad} bytes, expected {size}")
    return np.frombuffer(b"".join(batch), dtype="<u8").reshape(len(batch), size // 8)


def _queue_seqs(batch, size: int):
    """Sequence numbers of a batch of queue messages (each checked whole)."""
    import numpy as np

    if size <= 1024:
        w = _words(batch, size)
        first, last = w[:, 0], w[:, -1]
    else:
        n = len(batch)
        first = np.empty(n, dtype=np.uint64)
        last = np.empty(n, dtype=np.uint64)
        for k, m in enumerate(batch):
            if len(m) != size:
                raise AssertionError(f"a message of {len(m)} bytes, expected {size}")
            first[k] = common.U64.unpack_from(m, 0)[0]
            last[k] = common.U64.unpack_from(m, size - 8)[0]
    bad = np.flatnonzero(first != last)
    if bad.size:
        k = int(bad[0])
        raise AssertionError(f"torn message: stamps {int(first[k])} at start, "
                             f"{int(last[k])} at end")
    return first.copy()


def reader_loop(end, mode: str, size: int, warmup: int, count: int, seq_file: str) -> dict:
    import numpy as np

    total = warmup + count
    clock = time.perf_counter_ns
    get = end.get
    t_first = t_last = None
    first_n = after = 0  # measured messages in the first measured call / later calls
    got = 0
    parts = []
    calls = 0
    while True:
        try:
            batch = get()
        except EOFError:
            break
        t = clock()
        calls += 1
        if mode == "broadcast":
            n = len(batch)
            if n > total - got:
                raise AssertionError(f"more than the {total} messages sent")
            if size <= 1024:
                w = _words(batch, size)
                exp = np.arange(got, got + n, dtype=np.uint64)
                for col, where in ((0, "start"), (-1, "end")):
                    bad = np.flatnonzero(w[:, col] != exp)
                    if bad.size:
                        k = int(bad[0])
                        raise AssertionError(f"message {got + k}: sequence number at "
                                             f"{where} is {int(w[k, col])}")
            else:
                for k, m in enumerate(batch):
                    common.check(m, size, got + k)
            measured = max(0, got + n - max(got, warmup))
            got += n
        else:
            done = False
            if not batch[-1]:  # the peers' end marker(s): empty messages
                ends = sum(1 for m in batch if not m)
                batch = [m for m in batch if m]
                if ends > 1:  # one is this reader's; the others go back
                    end.give_back_ends(ends - 1)
                done = True
            measured = 0
            if batch:
                seqs = _queue_seqs(batch, size)
                if int(seqs.max()) >= total:
                    raise AssertionError(f"sequence number {int(seqs.max())} was never sent")
                parts.append(seqs)
                measured = int(np.count_nonzero(seqs >= warmup))
                got += len(batch)
            if done:
                if measured:
                    t_last = t
                    if t_first is None:
                        t_first, first_n = t, measured
                    else:
                        after += measured
                break
        if measured:
            t_last = t
            if t_first is None:
                t_first, first_n = t, measured
            else:
                after += measured
        if mode == "broadcast" and got == total:
            break
    res = {"got": got, "calls": calls, "t_first": t_first, "t_last": t_last,
           "first_n": first_n, "after_n": after}
    if mode == "queue":
        seqs = np.concatenate(parts) if parts else np.empty(0, dtype=np.uint64)
        np.save(seq_file, seqs)
        res["seq_file"] = seq_file
    return res


def writer_loop(end, size: int, warmup: int, count: int, batch: int) -> dict:
    total = warmup + count
    bufs = [bytearray(size) for _ in range(batch)]
    t0 = time.perf_counter_ns()
    i = 0
    while i < total:
        k = min(batch, total - i)
        for j in range(k):
            common.stamp(bufs[j], size, i + j)
        end.put(bufs[:k])
        i += k
    end.finish()
    return {"writer_ns": time.perf_counter_ns() - t0}


def worker_main(role: str, end, mode: str, size: int, warmup: int, count: int,
                out: str, extra: dict) -> None:
    """Entry point of a spawned worker: writes its result or its error as
    JSON to ``out`` and exits non-zero on failure."""
    try:
        # numpy's first import takes long enough (0.1-0.3 s) to skew the
        # readers' start: done before the end opens and says it is ready.
        import numpy  # noqa: F401

        end.open()
        try:
            if role == "reader":
                _touch(f"{extra['ready']}.{extra['index']}")
                result = reader_loop(end, mode, size, warmup, count, extra["seq_file"])
                _touch(f"{extra['ready']}.done.{extra['index']}")
            else:
                wait_files(extra["ready"], extra["readers"], "writer")
                result = writer_loop(end, size, warmup, count, extra["batch"])
                if extra.get("wait_done"):
                    wait_files(extra["ready"] + ".done", extra["readers"], "writer",
                               timeout=600.0)
        finally:
            end.close()
        result["ok"] = True
        common._write_result(out, result)
    except BaseException as exc:  # noqa: BLE001 - reported to the driver
        common._write_result(out, {"ok": False, "error": f"{type(exc).__name__}: {exc}",
                                   "traceback": traceback.format_exc()})
        sys.stderr.write(traceback.format_exc())
        sys.stderr.flush()
        os._exit(1)


# --------------------------------------------------------------------------
# Ends
# --------------------------------------------------------------------------

class ShmFanReader:
    """A reader of a fan-out channel the Go writer created: Reader.open
    (retried until the channel exists), recv_batch(1024)."""

    def __init__(self, addr: str):
        self.addr = addr

    def open(self):
        import shmlink
        deadline = time.monotonic() + OPEN_RETRY_S
        while True:
            try:
                self.r = shmlink.Reader.open(self.addr)
                break
            except (FileNotFoundError, shmlink.ProtocolError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.001)
        recv_batch = self.r.recv_batch
        self.get = lambda: recv_batch(BATCH_MAX)

    def close(self):
        self.r.close()


class FFReader:
    def __init__(self, q):
        self.q = q

    def open(self):
        # get_many returns only what fits its message buffer: make it hold a
        # full batch.
        self.q.reallocate_msg_buffer(max(CAPACITY, 2 * BATCH_MAX * 128))
        get_many = self.q.get_many
        self.get = lambda: get_many(timeout=60.0, max_messages_to_get=BATCH_MAX)

    def give_back_ends(self, n):
        self.q.put_many([b""] * n)

    def close(self):
        pass


class FFWriter:
    """put_many of each batch (faster-fifo's fast path), then one empty
    message per reader."""

    def __init__(self, q, readers):
        self.q, self.readers = q, readers

    def open(self):
        put_many = self.q.put_many
        self.put = lambda bufs: put_many([bytes(b) for b in bufs], timeout=60.0)

    def finish(self):
        self.q.put_many([b""] * self.readers, timeout=60.0)

    def close(self):
        pass


class MPQReader:
    def __init__(self, q):
        self.q = q

    def open(self):
        get = self.q.get
        self.get = lambda: [get()]

    def give_back_ends(self, n):
        for _ in range(n):
            self.q.put(b"")

    def close(self):
        pass


class MPQWriter:
    """put(bytes) per message (multiprocessing.Queue has no batch call),
    then one empty message per reader."""

    def __init__(self, q, readers):
        self.q, self.readers = q, readers

    def open(self):
        put = self.q.put
        def put_all(bufs):
            for b in bufs:
                put(bytes(b))
        self.put = put_all

    def finish(self):
        for _ in range(self.readers):
            self.q.put(b"")

    def close(self):
        self.q.close()
        self.q.join_thread()  # everything put has reached the pipe


class Iox2Fan:
    """iceoryx2 publish-subscribe with R subscribers, plus an event service
    of the same name whose Notifier wakes the R Listeners. Settings as the
    1:1 row (bench/peers/transports.py): no safe overflow, publisher
    RetryUntilDelivered (a full subscriber buffer makes send() wait; nothing
    is dropped), a subscriber buffer of about 4 MiB of payload."""

    def __init__(self, prefix, name, size, readers, writer):
        self.prefix, self.name, self.size = prefix, name, size
        self.readers, self.writer = readers, writer
        self.depth = max(2, CAPACITY // max(size, 1))

    def open(self):
        import ctypes

        import iceoryx2 as iox2

        from .transports import _iox2_config
        iox2.set_log_level_from_env_or(iox2.LogLevel.Warn)
        self.node = iox2.NodeBuilder.new().config(_iox2_config(self.prefix)).create(
            iox2.ServiceType.Ipc)
        name = iox2.ServiceName.new(self.name)
        self.pubsub = (self.node.service_builder(name)
                       .publish_subscribe(iox2.Slice[ctypes.c_uint8])
                       .enable_safe_overflow(False)
                       .subscriber_max_buffer_size(self.depth)
                       .subscriber_max_borrowed_samples(1)
                       .history_size(0)
                       .max_publishers(1)
                       .max_subscribers(self.readers)
                       .open_or_create())
        self.event = (self.node.service_builder(name).event()
                      .max_notifiers(1)
                      .max_listeners(self.readers)
                      .open_or_create())
        self.ports = []
        if self.writer:
            self._open_writer(ctypes, iox2)
        else:
            self._open_reader(ctypes, iox2)

    def _open_writer(self, ctypes, iox2):
        pub = (self.pubsub.publisher_builder()
               .initial_max_slice_len(self.size)
               .allocation_strategy(iox2.AllocationStrategy.Static)
               .backpressure_strategy(iox2.BackpressureStrategy.RetryUntilDelivered)
               .max_loaned_samples(1)
               .create())
        notifier = self.event.notifier_builder().create()
        self.ports = [notifier, pub]
        loan, notify = pub.loan_slice_uninit, notifier.notify
        n = self.size
        view_t = ctypes.c_uint8 * n

        def put1(buf):
            sample = loan(n)
            memoryview(view_t.from_address(sample.payload_ptr)).cast("B")[:] = buf
            return sample.assume_init().send()

        # send() reaches only the subscribers whose connection is set up
        # (a subscriber attaches in receive()): send probe messages, which
        # the readers skip, until one reaches all R. From then on every
        # message reaches every subscriber, so none is resent.
        probe = bytearray(n)
        common.stamp(probe, n, PROBE)
        deadline = time.monotonic() + OPEN_RETRY_S
        while True:
            pub.update_connections()
            if put1(probe) == self.readers:
                break
            notify()
            if time.monotonic() > deadline:
                raise TimeoutError(f"iceoryx2: not all {self.readers} subscribers of "
                                   f"{self.name!r} connected within {OPEN_RETRY_S} s")
            time.sleep(0.0005)
        notify()

        def put(bufs):
            for b in bufs:
                if put1(b) != self.readers:
                    raise AssertionError("iceoryx2: a message reached fewer than "
                                         f"{self.readers} subscribers")
                notify()
        self.put = put
        self.finish = lambda: None

    def _open_reader(self, ctypes, iox2):
        listener = self.event.listener_builder().create()
        sub = self.pubsub.subscriber_builder().buffer_size(self.depth).create()
        self.ports = [sub, listener]
        receive, timed_wait = sub.receive, listener.timed_wait
        timeout = iox2.Duration.from_secs_f64(0.5)
        string_at = ctypes.string_at
        probe = common.U64.pack(PROBE)
        started = [False]

        def get():
            out = []
            while True:
                sample = receive()
                if sample is None:
                    if out:
                        return out
                    timed_wait(timeout)  # woken by the Notifier, or look again
                    continue
                data = string_at(sample.payload_ptr, sample.header.number_of_elements)
                sample.delete()  # hand the slot back to the publisher now
                if not started[0]:
                    if data[:8] == probe:
                        continue
                    started[0] = True
                out.append(data)
                if len(out) == BATCH_MAX:
                    return out
        self.get = get

    def close(self):
        for port in getattr(self, "ports", ()):
            port.delete()
        self.ports = []
        self.pubsub = self.event = self.node = None


def load_result(path: str) -> dict:
    with open(path) as f:
        return json.load(f)
