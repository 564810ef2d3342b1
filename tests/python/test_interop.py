"""A shmlink segment is an ordinary OS object: other tools see the same bytes."""

from __future__ import annotations

import inspect
import mmap
import os
import shutil
import subprocess
from multiprocessing import resource_tracker, shared_memory

import pytest

import shmlink
from shmlink import Segment


def _name(address: str) -> str:
    return address.split("/", 1)[1]


def _key(address: str) -> int:
    return int(address.split(":", 1)[1], 0)


def _attach_shared_memory(name: str, **kwargs) -> shared_memory.SharedMemory:
    """SharedMemory that the resource tracker will not unlink at exit."""
    if "track" in inspect.signature(shared_memory.SharedMemory).parameters:  # Python >= 3.13
        return shared_memory.SharedMemory(name=name, track=False, **kwargs)
    shm = shared_memory.SharedMemory(name=name, **kwargs)
    resource_tracker.unregister(shm._name, "shared_memory")
    return shm


# -- POSIX -------------------------------------------------------------------------------------


def test_dev_shm_holds_the_segment(names):
    address = names.posix()
    with Segment.create(address, 12288, mode=0o640) as seg:
        seg.buf[0:4] = b"file"
        path = "/dev/shm/" + _name(address)
        st = os.stat(path)
        assert st.st_size == 12288
        assert st.st_mode & 0o777 == 0o640
        with open(path, "rb") as f:
            assert f.read(4) == b"file"


def test_multiprocessing_shared_memory_attaches_to_shmlink_segment(names):
    address = names.posix()
    with Segment.create(address, 8192) as seg:
        seg.buf[0:6] = b"shmlnk"
        shm = _attach_shared_memory(_name(address))
        try:
            assert shm.size == 8192
            assert bytes(shm.buf[0:6]) == b"shmlnk"
            shm.buf[100:106] = b"python"
            assert bytes(seg.buf[100:106]) == b"python"
        finally:
            shm.close()
        # Closing SharedMemory removed nothing.
        assert shmlink.stat(address).size == 8192


def test_shmlink_opens_multiprocessing_shared_memory(names):
    address = names.posix()
    shm = _attach_shared_memory(_name(address), create=True, size=4096)
    try:
        shm.buf[0:5] = b"mp-sm"
        with Segment.open(address) as seg:
            assert seg.size == 4096
            assert bytes(seg.buf[0:5]) == b"mp-sm"
            seg.buf[5:10] = b"-back"
            assert bytes(shm.buf[0:10]) == b"mp-sm-back"
    finally:
        shm.close()
        shmlink.remove(address)


def test_posix_ipc_sees_the_same_bytes(names):
    posix_ipc = pytest.importorskip("posix_ipc")
    address = names.posix()
    with Segment.create(address, 4096) as seg:
        seg.buf[0:5] = b"posix"
        mem = posix_ipc.SharedMemory("/" + _name(address))
        try:
            assert mem.size == 4096
            with mmap.mmap(mem.fd, mem.size) as m:
                assert m[0:5] == b"posix"
                m[5:9] = b"-ipc"
                assert bytes(seg.buf[0:9]) == b"posix-ipc"
        finally:
            mem.close_fd()

    other = names.posix()
    mem = posix_ipc.SharedMemory("/" + _name(other), posix_ipc.O_CREX, mode=0o600, size=8192)
    try:
        with mmap.mmap(mem.fd, mem.size) as m:
            m[0:3] = b"abc"
            with Segment.open(other, readonly=True) as seg:
                assert seg.size == 8192
                assert bytes(seg.buf[0:3]) == b"abc"
    finally:
        mem.close_fd()
        mem.unlink()


# -- System V ----------------------------------------------------------------------------------


def test_sysv_ipc_sees_the_same_bytes(names):
    sysv_ipc = pytest.importorskip("sysv_ipc")
    address = names.sysv()
    with Segment.create(address, 4096, mode=0o600) as seg:
        seg.buf[0:4] = b"sysv"
        mem = sysv_ipc.SharedMemory(_key(address))
        try:
            st = seg.stat()
            assert mem.id == st.shmid
            assert mem.size == 4096
            assert mem.number_attached == 2
            assert mem.read(4) == b"sysv"
            mem.write(b"-ipc", 4)
            assert bytes(seg.buf[0:8]) == b"sysv-ipc"
        finally:
            mem.detach()

    other = names.sysv()
    mem = sysv_ipc.SharedMemory(_key(other), sysv_ipc.IPC_CREX, mode=0o600, size=8192)
    try:
        mem.write(b"made by sysv_ipc")
        for addr in (other, f"sysv-id:{mem.id}"):
            with Segment.open(addr) as seg:
                assert seg.size == 8192
                assert bytes(seg.buf[0:16]) == b"made by sysv_ipc"
    finally:
        mem.detach()
        mem.remove()


def test_sysv_ipc_attaches_private_segment(names):
    sysv_ipc = pytest.importorskip("sysv_ipc")
    with Segment.create("sysv:private", 4096) as seg:
        names.track(seg.address)
        seg.buf[0:7] = b"private"
        mem = sysv_ipc.attach(seg.stat().shmid)
        try:
            assert mem.read(7) == b"private"
        finally:
            mem.detach()
        seg.remove()


def test_ipcs_lists_the_key(names):
    if shutil.which("ipcs") is None:
        pytest.skip("ipcs (util-linux) is not installed")
    address = names.sysv()
    with Segment.create(address, 20000, mode=0o640) as seg:
        st = seg.stat()
        out = subprocess.run(
            ["ipcs", "-m"], capture_output=True, text=True, check=True, timeout=60
        ).stdout
        rows = [line.split() for line in out.splitlines()]
        mine = [r for r in rows if r and r[0] == f"0x{st.key:08x}"]
        assert len(mine) == 1, out
        _key_text, shmid, _owner, perms, size, nattch = mine[0][:6]
        assert int(shmid) == st.shmid
        assert perms == "640"
        assert int(size) == 20000
        assert int(nattch) == 1
    shmlink.remove(address)
    out = subprocess.run(["ipcs", "-m"], capture_output=True, text=True, check=True).stdout
    assert f"0x{st.key:08x}" not in out
