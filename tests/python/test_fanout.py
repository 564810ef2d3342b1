"""Fan-out channels from Python: readers= and fanout= on create, readers that
join with Reader.open, broadcast (every reader gets every message) and queue
(each message to one reader; a peek not released by a reader that closes
goes to another), BusyError when every slot is held, and the arguments
checked by name."""

from __future__ import annotations

import pytest

import shmlink


@pytest.mark.parametrize("backend", ["posix", "sysv"])
def test_broadcast_every_reader_gets_every_message(names, backend):
    address = names.new(backend)
    with shmlink.Writer.create(address, capacity=1 << 14, readers=3, fanout="broadcast") as w:
        readers = [shmlink.Reader.open(address) for _ in range(3)]
        try:
            assert w.fanout == "broadcast"
            assert [(r.fanout, r.slot) for r in readers] == [("broadcast", i) for i in range(3)]
            with pytest.raises(shmlink.BusyError):
                shmlink.Reader.open(address)
            for i in range(50):
                w.send(b"m%d" % i)
            for r in readers:
                assert [r.recv(timeout=5) for _ in range(50)] == [b"m%d" % i for i in range(50)]
            w.close()
            for r in readers:
                assert list(r) == []  # end of stream reaches every reader
        finally:
            for r in readers:
                r.close()


@pytest.mark.parametrize("backend", ["posix", "sysv"])
def test_queue_each_message_to_one_reader(names, backend):
    address = names.new(backend)
    with shmlink.Writer.create(address, capacity=1 << 14, readers=2, fanout="queue") as w:
        a, b = shmlink.Reader.open(address), shmlink.Reader.open(address)
        try:
            for i in range(40):
                w.send(b"j%d" % i)
            got = []
            for _ in range(20):
                got.append(a.recv(timeout=5))
                got.append(b.recv(timeout=5))
            assert sorted(got) == sorted(b"j%d" % i for i in range(40))
            # a peek that is not released goes to the other reader
            w.send(b"job")
            msg = a.peek(timeout=5)
            assert bytes(msg.buf) == b"job"
            del msg
            a.close()
            assert b.recv(timeout=5) == b"job"
        finally:
            a.close()
            b.close()


def test_fanout_arguments_checked(names):
    address = names.posix()
    with pytest.raises(ValueError, match="mode='broadcast'"):
        shmlink.Writer.create(address, readers=2)
    with pytest.raises(ValueError, match=r"readers must be within 1\.\.64"):
        shmlink.Writer.create(address, readers=65, fanout="queue")
    with pytest.raises(ValueError, match="'broadcast' or 'queue'"):
        shmlink.Writer.create(address, readers=2, fanout="fanout")
    with pytest.raises(TypeError):
        shmlink.Reader.create(address, readers="2", fanout="queue")  # type: ignore[arg-type]
    with shmlink.Writer.create(address) as w:
        assert w.fanout is None
