"""Segment behaviour and errors, on both backends."""

from __future__ import annotations

import errno
import gc
import os
import pickle
import re
import signal
import warnings

import numpy as np
import pytest

import shmlink
from shmlink import Backend, Segment

from conftest import run_python


def _maps_mentioning(needle: str) -> int:
    with open("/proc/self/maps") as f:
        return sum(needle in line for line in f)


def _is_attached(seg_address: str, backend: str, name_or_key: str) -> bool:
    """Whether this process still maps the segment (System V: nattch; POSIX: maps)."""
    if backend == "sysv":
        return shmlink.stat(seg_address).nattch > 0
    return _maps_mentioning("/dev/shm/" + name_or_key) > 0


def _posix_name(address: str) -> str:
    return address.split("/", 1)[1]


# -- create / open ----------------------------------------------------------------------------


def test_create_maps_zeroed_memory_of_the_size(address, backend):
    with Segment.create(address, 10000) as seg:
        assert seg.size == 10000
        assert len(seg.buf) == 10000
        assert seg.buf.nbytes == 10000
        assert not seg.readonly
        assert not seg.buf.readonly
        assert seg.backend is Backend(backend)
        assert bytes(seg.buf) == bytes(10000)
        seg.buf[0:5] = b"hello"
        seg.buf[-1] = 0xAB
        assert bytes(seg.buf[0:5]) == b"hello"
        assert seg.buf[9999] == 0xAB


def test_address_is_canonical(names):
    name = names.posix()
    short = name[len("posix:") :]
    with Segment.create(short, 64) as seg:
        assert seg.address == name
    key = int(names.sysv().split(":")[1], 16)
    with Segment.create(f"sysv:{key}", 64) as seg:
        assert seg.address == f"sysv:0x{key:08x}"


def test_open_sees_writes_of_another_handle(address):
    with Segment.create(address, 4096) as a, Segment.open(address) as b:
        assert b.size == 4096
        a.buf[100:104] = b"abcd"
        assert bytes(b.buf[100:104]) == b"abcd"
        b.buf[4000:4003] = b"xyz"
        assert bytes(a.buf[4000:4003]) == b"xyz"


def test_create_existing_raises_file_exists(address):
    with Segment.create(address, 4096):
        with pytest.raises(FileExistsError) as info:
            Segment.create(address, 4096)
        assert info.value.errno == errno.EEXIST
        assert info.value.filename == address


def test_open_missing_raises_file_not_found(address):
    with pytest.raises(FileNotFoundError) as info:
        Segment.open(address)
    assert info.value.errno == errno.ENOENT
    assert info.value.filename == address
    with pytest.raises(FileNotFoundError):
        Segment.open(address, readonly=True)


def test_readonly_view_rejects_writes(address):
    with Segment.create(address, 4096) as rw:
        rw.buf[0:3] = b"abc"
        with Segment.open(address, readonly=True) as ro:
            assert ro.readonly
            view = ro.buf
            assert view.readonly
            assert bytes(view[0:3]) == b"abc"
            with pytest.raises(TypeError):
                view[0] = 1
            with pytest.raises(TypeError):
                memoryview(ro.buf)[0:1] = b"z"
            arr = np.frombuffer(ro.buf, dtype=np.uint8)
            assert not arr.flags.writeable
            with pytest.raises(ValueError, match="read-only"):
                arr[0] = 1
            del view, arr
            rw.buf[1] = ord("X")
            assert bytes(ro.buf[0:3]) == b"aXc"


def test_readonly_segment_exports_read_only_memory(address):
    """No writable buffer can be had from a read-only segment, not even
    through the exporter behind seg.buf (.obj): the mapping is PROT_READ, so
    a write through one would kill the process with SIGSEGV."""
    import ctypes

    with Segment.create(address, 4096) as rw:
        rw.buf[0:3] = b"abc"
        with Segment.open(address, readonly=True) as ro:
            exporter = ro.buf.obj
            with pytest.raises(TypeError):
                exporter[0:1] = b"x"
            assert memoryview(exporter).readonly
            with pytest.raises(TypeError):
                (ctypes.c_char * 4).from_buffer(exporter)
            assert not np.frombuffer(exporter, dtype=np.uint8).flags.writeable
            assert bytes(memoryview(exporter)[:3]) == b"abc"
            del exporter
            assert bytes(rw.buf[:3]) == b"abc"


def test_readonly_mapping_is_protected_in_the_kernel(address):
    """The core maps a read-only segment PROT_READ / SHM_RDONLY, not only
    the view: a raw write to its address faults."""
    with Segment.create(address, 4096):
        code = (
            "import ctypes, sys, shmlink\n"
            "from shmlink._shmlink import ffi, lib\n"
            "seg = shmlink.Segment.open(sys.argv[1], readonly=True)\n"
            "addr = int(ffi.cast('uintptr_t', lib.shmlink_segment_data(seg._handle)))\n"
            "print('mapped', flush=True)\n"
            "ctypes.memmove(addr, b'x', 1)\n"
            "print('wrote')\n"
        )
        proc = run_python(code, address, check=False)
        assert proc.stdout.startswith("mapped")
        assert "wrote" not in proc.stdout
        assert proc.returncode == -signal.SIGSEGV, proc.stderr


# -- stat -------------------------------------------------------------------------------------


def test_stat_fields(address, backend):
    with Segment.create(address, 12345, mode=0o640) as seg:
        st = seg.stat()
        assert st.backend is Backend(backend)
        assert st.address == seg.address == address
        assert st.size == 12345
        assert st.mode == 0o640
        assert st.uid == os.geteuid()
        assert st.gid == os.getegid()
        assert st.ctime > 0
        if backend == "sysv":
            assert st.key == int(address.split(":")[1], 16)
            assert st.shmid >= 0
            assert st.nattch == 1
            assert st.cpid == os.getpid()
            assert st.lpid == os.getpid()
            assert st.cuid == os.geteuid()
            assert st.atime > 0
            assert st.mtime == 0
            with Segment.open(address):
                assert seg.stat().nattch == 2
            assert seg.stat().nattch == 1
        else:
            assert st.mtime > 0
            assert (st.shmid, st.key, st.nattch, st.cpid, st.lpid) == (0, 0, 0, 0, 0)
        with pytest.raises(AttributeError):
            st.size = 1  # frozen


def test_module_stat_does_not_map(address, backend):
    seg = Segment.create(address, 5000)
    seg.close()
    st = shmlink.stat(address)
    assert st.size == 5000
    assert st.address == address
    if backend == "sysv":
        assert st.nattch == 0
    shmlink.remove(address)
    with pytest.raises(FileNotFoundError) as info:
        shmlink.stat(address)
    assert info.value.filename == address


def test_mode_is_applied_exactly_whatever_the_umask(address):
    old = os.umask(0o077)
    try:
        with Segment.create(address, 4096, mode=0o666) as seg:
            assert seg.stat().mode == 0o666
    finally:
        os.umask(old)


# -- close, context manager, remove -----------------------------------------------------------


def test_close_is_idempotent_and_unmaps(address, backend, names):
    seg = Segment.create(address, 4096)
    needle = _posix_name(address) if backend == "posix" else ""
    assert _is_attached(address, backend, needle)
    seg.close()
    assert seg.closed
    assert not _is_attached(address, backend, needle)
    seg.close()
    assert seg.closed
    # The facts recorded at open stay; what needs the mapping raises ValueError.
    assert seg.size == 4096
    assert seg.address == address
    with pytest.raises(ValueError, match="closed"):
        _ = seg.buf
    with pytest.raises(ValueError, match="closed"):
        seg.stat()
    with pytest.raises(ValueError, match="closed"):
        seg.remove()
    assert "closed" in repr(seg)
    # The segment lives on after close.
    with Segment.open(address) as again:
        assert again.size == 4096


def test_context_manager_closes_even_on_error(address):
    with pytest.raises(RuntimeError, match="boom"), Segment.create(address, 4096) as seg:
        raise RuntimeError("boom")
    assert seg.closed


def test_context_manager_raises_buffer_error_for_live_views(address):
    with pytest.raises(BufferError), Segment.create(address, 4096) as seg:
        view = seg.buf[0:8]
    assert not seg.closed
    del view
    seg.close()


def test_context_manager_keeps_the_original_error_over_live_views(address, backend):
    def fail_with_a_view_alive() -> None:
        with Segment.create(address, 4096) as seg:
            view = np.frombuffer(seg.buf, dtype=np.uint8)
            view[0] = 9
            raise KeyError("original")

    with pytest.raises(KeyError, match="original") as info:
        fail_with_a_view_alive()
    # The traceback still holds the frame and its view: the mapping stays.
    needle = _posix_name(address) if backend == "posix" else ""
    assert _is_attached(address, backend, needle)
    del info
    gc.collect()
    assert not _is_attached(address, backend, needle)


def test_remove_keeps_mappings_valid(address):
    with Segment.create(address, 4096) as seg, Segment.open(address) as other:
        seg.buf[0:4] = b"live"
        seg.remove()
        with pytest.raises(FileNotFoundError):
            Segment.open(address)
        assert bytes(other.buf[0:4]) == b"live"
        other.buf[4:8] = b"ever"
        assert bytes(seg.buf[0:8]) == b"liveever"
        with pytest.raises(FileNotFoundError) as info:
            seg.remove()
        assert info.value.filename == address


def test_remove_by_old_handle_spares_a_newer_segment(address):
    with Segment.create(address, 4096) as old:
        old.remove()
        with Segment.create(address, 8192) as new:
            new.buf[0:3] = b"new"
            with pytest.raises(FileNotFoundError):
                old.remove()
            with Segment.open(address) as again:
                assert again.size == 8192
                assert bytes(again.buf[0:3]) == b"new"
            new.remove()


def test_module_remove(address):
    Segment.create(address, 4096).close()
    shmlink.remove(address)
    with pytest.raises(FileNotFoundError):
        Segment.open(address)
    with pytest.raises(FileNotFoundError) as info:
        shmlink.remove(address)
    assert info.value.errno == errno.ENOENT
    assert info.value.filename == address


def test_sysv_private(names):
    with Segment.create("sysv:private", 8192) as seg:
        names.track(seg.address)
        assert seg.address.startswith("sysv-id:")
        shmid = int(seg.address.split(":")[1])
        st = seg.stat()
        assert (st.key, st.shmid, st.size) == (0, shmid, 8192)
        seg.buf[0:7] = b"private"
        with Segment.open(seg.address, readonly=True) as other:
            assert bytes(other.buf[0:7]) == b"private"
        seg.remove()


def test_posix_full_dev_shm_fails_at_create_with_enospc(names):
    vfs = os.statvfs("/dev/shm")
    too_big = vfs.f_blocks * vfs.f_frsize + (1 << 30)
    address = names.posix()
    with pytest.raises(OSError, match=re.escape(address)) as info:
        Segment.create(address, too_big)
    assert info.value.errno == errno.ENOSPC
    assert info.value.filename == address
    with pytest.raises(FileNotFoundError):
        Segment.open(address)


# -- views and close ----------------------------------------------------------------------------

VIEW_MAKERS = {
    "memoryview": lambda s: s.buf,
    "slice": lambda s: s.buf[10:20],
    "slice of slice": lambda s: s.buf[10:][5:],
    "nested memoryview": lambda s: memoryview(s.buf),
    "nested slice": lambda s: memoryview(memoryview(s.buf)[1:])[2:],
    "cast": lambda s: s.buf.cast("I"),
    "toreadonly": lambda s: s.buf.toreadonly(),
    "numpy": lambda s: np.frombuffer(s.buf, dtype=np.uint8),
    "numpy slice": lambda s: np.frombuffer(s.buf, dtype=np.uint8)[100:200],
    "numpy view": lambda s: np.frombuffer(s.buf, dtype=np.uint8).view(np.uint32)[3:],
    "numpy ndarray buffer=": lambda s: np.ndarray((16,), np.uint8, buffer=s.buf),
    "numpy asarray of memoryview": lambda s: np.asarray(s.buf),
}


@pytest.mark.parametrize("readonly", [False, True], ids=["rw", "ro"])
@pytest.mark.parametrize("kind", list(VIEW_MAKERS))
def test_close_raises_buffer_error_while_views_live(address, kind, readonly):
    Segment.create(address, 4096).close()
    seg = Segment.open(address, readonly=readonly)
    view = VIEW_MAKERS[kind](seg)
    with pytest.raises(BufferError, match="view"):
        seg.close()
    assert not seg.closed
    with pytest.raises(BufferError):
        seg.close()
    # Still usable: the mapping was not touched.
    assert bytes(memoryview(view).cast("B")[:1]) == b"\0"
    del view
    seg.close()
    assert seg.closed


def test_close_with_view_released_then_slice_alive(address):
    seg = Segment.create(address, 4096)
    view = seg.buf
    part = view[1:]
    view.release()
    with pytest.raises(BufferError):
        seg.close()
    part.release()
    seg.close()


def test_close_after_views_released_explicitly(address):
    seg = Segment.create(address, 4096)
    views = [seg.buf for _ in range(5)]
    with pytest.raises(BufferError, match="5 view"):
        seg.close()
    for v in views:
        v.release()
    seg.close()


def test_ctypes_from_buffer_counts_as_a_view(address):
    import ctypes

    seg = Segment.create(address, 4096)
    arr = (ctypes.c_char * 16).from_buffer(seg.buf)
    arr[0] = b"q"
    assert seg.buf[0] == ord("q")
    with pytest.raises(BufferError):
        seg.close()
    del arr
    seg.close()


def test_views_keep_mapping_alive_when_segment_is_dropped(address, backend):
    box = [Segment.create(address, 4096)]
    view = box[0].buf[8:16]
    with pytest.warns(ResourceWarning, match="unclosed"):
        box.clear()
    needle = _posix_name(address) if backend == "posix" else ""
    assert _is_attached(address, backend, needle)
    view[0] = 42
    assert view[0] == 42
    del view
    gc.collect()
    assert not _is_attached(address, backend, needle)


def test_numpy_frombuffer_shares_memory(address):
    with Segment.create(address, 4096) as seg, Segment.open(address) as other:
        arr = np.frombuffer(seg.buf, dtype=np.uint32)
        assert arr.flags.writeable
        arr[:4] = [1, 2, 3, 0xDEADBEEF]
        assert bytes(other.buf[12:16]) == (0xDEADBEEF).to_bytes(4, "little")
        other.buf[16:20] = (77).to_bytes(4, "little")
        assert arr[4] == 77
        assert np.shares_memory(arr, np.frombuffer(seg.buf, dtype=np.uint8))
        del arr


# -- argument errors (raised before any system call) ----------------------------------------

MALFORMED = [
    "",
    "posix:",
    "posix:/",
    "/",
    "posix:name",
    "posix://x",
    "posix:/a/b",
    "/a/b",
    "posix:/" + "n" * 256,
    " posix:/x",
    "sysv:",
    "sysv:0",
    "sysv:0x0",
    "sysv:-1",
    "sysv:abc",
    "sysv:0x",
    "sysv:0x100000000",
    "sysv:12x",
    "sysv-id:",
    "sysv-id:-1",
    "sysv-id:abc",
    "sysv-id:2147483648",
    "ftp:/x",
    "shm",
    "posix:/a\0b",
]


@pytest.mark.parametrize("bad", MALFORMED)
def test_malformed_address_is_value_error_naming_it(bad):
    for call in (
        lambda: Segment.create(bad, 4096),
        lambda: Segment.open(bad),
        lambda: Segment.open(bad, readonly=True),
        lambda: shmlink.remove(bad),
        lambda: shmlink.stat(bad),
    ):
        with pytest.raises(ValueError, match="malformed address") as info:
            call()
        assert repr(bad) in str(info.value)


def test_longest_posix_name_is_accepted(names):
    address = names.track("posix:/" + "n" * 255)
    with Segment.create(address, 64) as seg:
        assert seg.address == address


@pytest.mark.parametrize("size", [0, -1, -4096])
def test_nonpositive_size_is_value_error_and_creates_nothing(address, size):
    with pytest.raises(ValueError, match="size must be > 0") as info:
        Segment.create(address, size)
    assert repr(address) in str(info.value)
    with pytest.raises(FileNotFoundError):
        Segment.open(address)


def test_size_too_large_for_size_t(address):
    with pytest.raises(ValueError, match="too large"):
        Segment.create(address, 1 << 64)


@pytest.mark.parametrize("size", [1.5, "4096", None, True])
def test_size_of_wrong_type(address, size):
    with pytest.raises(TypeError, match="size"):
        Segment.create(address, size)


@pytest.mark.parametrize("mode", [-1, 0o1000, 0o7777])
def test_bad_mode_is_value_error(address, mode):
    with pytest.raises(ValueError, match="mode"):
        Segment.create(address, 4096, mode=mode)
    with pytest.raises(FileNotFoundError):
        Segment.open(address)


@pytest.mark.parametrize("bad", [None, 5, b"posix:/x"])
def test_address_of_wrong_type(bad):
    with pytest.raises(TypeError, match="address"):
        Segment.open(bad)


def test_create_at_sysv_id_is_value_error():
    with pytest.raises(ValueError, match="sysv-id"):
        Segment.create("sysv-id:1", 4096)


def test_open_sysv_private_is_value_error():
    with pytest.raises(ValueError, match="sysv:private"):
        Segment.open("sysv:private")
    with pytest.raises(ValueError, match="sysv:private"):
        shmlink.remove("sysv:private")


def test_segment_constructor_is_not_public():
    with pytest.raises(TypeError, match=r"Segment\.create"):
        Segment()


# -- permissions ------------------------------------------------------------------------------

_AS_NOBODY = """
import os, sys
import shmlink  # before dropping privileges: the interpreter may live under /root
os.setgroups([])
os.setgid(65534)
os.setuid(65534)
for readonly in (True, False):
    try:
        shmlink.Segment.open(sys.argv[1], readonly=readonly).close()
        print("opened")
    except PermissionError as e:
        print("PermissionError", e.errno, e.filename)
"""


def test_permission_error(address):
    if os.geteuid() == 0:
        # Root passes every permission check; ask an unprivileged child.
        with Segment.create(address, 4096, mode=0o644):
            out = run_python(_AS_NOBODY, address).stdout.splitlines()
        assert out == ["opened", f"PermissionError {errno.EACCES} {address}"]
    else:
        with Segment.create(address, 4096, mode=0o400):
            Segment.open(address, readonly=True).close()
            with pytest.raises(PermissionError) as info:
                Segment.open(address)
            assert info.value.filename == address


# -- a second process ---------------------------------------------------------------------------

_CHILD_READS_AND_WRITES = """
import sys, shmlink
address = sys.argv[1]
with shmlink.Segment.open(address, readonly=True) as seg:
    print(seg.size, bytes(seg.buf[:32]).hex(), bytes(seg.buf[-4:]).hex())
with shmlink.Segment.open(address) as seg:
    seg.buf[1000:1011] = b"from child!"
"""


def test_second_process_reads_and_writes(address):
    with Segment.create(address, 65536) as seg:
        pattern = bytes(range(32))
        seg.buf[:32] = pattern
        seg.buf[-4:] = b"tail"
        out = run_python(_CHILD_READS_AND_WRITES, address).stdout.split()
        assert out == ["65536", pattern.hex(), b"tail".hex()]
        assert bytes(seg.buf[1000:1011]) == b"from child!"


def test_second_process_opens_private_segment_by_id(names):
    with Segment.create("sysv:private", 4096) as seg:
        names.track(seg.address)
        seg.buf[:32] = bytes(range(32, 64))
        out = run_python(_CHILD_READS_AND_WRITES, seg.address).stdout.split()
        assert out == ["4096", bytes(range(32, 64)).hex(), bytes(4).hex()]
        assert bytes(seg.buf[1000:1011]) == b"from child!"
        seg.remove()


# -- like multiprocessing.shared_memory: pickling, ResourceWarning, unlink_on_close -------------


def test_segment_pickles_by_address(address):
    with Segment.create(address, 4096) as seg:
        seg.buf[:5] = b"hello"
        with pickle.loads(pickle.dumps(seg)) as again:
            assert again.address == seg.address
            assert not again.readonly
            again.buf[5:6] = b"!"
        assert bytes(seg.buf[:6]) == b"hello!"
        with Segment.open(address, readonly=True) as ro, pickle.loads(pickle.dumps(ro)) as ro2:
            assert ro2.readonly
        # In another process: unpickling maps the segment there.
        code = (
            "import pickle, sys\n"
            "seg = pickle.loads(bytes.fromhex(sys.argv[1]))\n"
            "print(bytes(seg.buf[:6]).decode())\n"
            "seg.buf[:1] = b'H'\n"
            "seg.close()\n"
        )
        proc = run_python(code, pickle.dumps(seg).hex())
        assert proc.stdout.strip() == "hello!"
        assert bytes(seg.buf[:1]) == b"H"


def test_unclosed_segment_warns_when_collected(address):
    box = [Segment.create(address, 4096)]
    with pytest.warns(ResourceWarning, match=re.escape(f"unclosed <shmlink.Segment {address!r}")):
        box.clear()  # the last reference
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Segment.open(address).close()  # closed: no warning
        with Segment.open(address):
            pass


@pytest.mark.slow
def test_unclosed_objects_warn_under_dev_mode(names):
    code = (
        "import gc, sys, shmlink\n"
        "seg = shmlink.Segment.create(sys.argv[1], 4096)\n"
        "w = shmlink.Writer.create(sys.argv[2], 4096)\n"
        "r = shmlink.Reader.open(sys.argv[2])\n"
        "shmlink.Segment.create(sys.argv[3], 4096).close()\n"
        "with shmlink.Segment.open(sys.argv[3]):\n"
        "    pass\n"
        "del seg, w, r\n"
        "gc.collect()\n"
    )
    a, b, c = names.posix(), names.posix(), names.posix()
    proc = run_python(code, a, b, c, python_args=("-X", "dev"))
    warned = [line for line in proc.stderr.splitlines() if "ResourceWarning: unclosed" in line]
    assert len(warned) == 3, proc.stderr
    assert any(f"unclosed <shmlink.Segment {a!r}" in w for w in warned)
    assert any(f"unclosed <shmlink.Writer {b!r}" in w for w in warned)
    assert any(f"unclosed <shmlink.Reader {b!r}" in w for w in warned)
    proc = run_python(code, names.posix(), names.posix(), names.posix())  # not in dev mode
    assert "ResourceWarning" not in proc.stderr


def test_unlink_on_close_removes_the_name(address):
    seg = Segment.create(address, 4096, unlink_on_close=True)
    other = Segment.open(address)
    seg.buf[:2] = b"ok"
    view = seg.buf
    with pytest.raises(BufferError):
        seg.close()
    assert shmlink.stat(address).size == 4096  # still there: nothing was closed
    del view
    seg.close()
    with pytest.raises(FileNotFoundError):
        shmlink.stat(address)
    assert bytes(other.buf[:2]) == b"ok"  # other mappings stay valid
    other.close()
    # The default keeps the name; a `with` block closes (and unlinks) too.
    Segment.create(address, 4096).close()
    shmlink.stat(address)
    shmlink.remove(address)
    with Segment.create(address, 4096, unlink_on_close=True):
        pass
    with pytest.raises(FileNotFoundError):
        shmlink.stat(address)


def test_unlink_on_close_when_collected_and_not_by_a_forked_child(address):
    seg = Segment.create(address, 4096, unlink_on_close=True)
    pid = os.fork()
    if pid == 0:  # the child closes and drops its inherited copy
        try:
            seg.close()
            del seg
            gc.collect()
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert shmlink.stat(address).size == 4096  # the child removed nothing
    box = [seg]
    del seg
    with pytest.warns(ResourceWarning):
        box.clear()  # the last reference
    with pytest.raises(FileNotFoundError):
        shmlink.stat(address)


def test_unlink_on_close_leaves_a_newer_segment_alone(address):
    seg = Segment.create(address, 4096, unlink_on_close=True)
    shmlink.remove(address)
    with Segment.create(address, 8192):
        seg.close()  # its own name is gone already: nothing raised, nothing removed
        assert shmlink.stat(address).size == 8192
