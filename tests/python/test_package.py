"""The installed package: compiled module, type hints, errors."""

from __future__ import annotations

import errno
import os
import pathlib
import re
import sys

import pytest

import shmlink
from shmlink import _errors

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_imported_from_the_installed_package():
    here = pathlib.Path(shmlink.__file__).resolve()
    assert ROOT / "bindings" / "python" not in here.parents, here
    compiled = pathlib.Path(shmlink._shmlink.__file__)
    assert compiled.suffix == ".so"
    assert (here.parent / "py.typed").is_file()


def test_compiled_modules_use_the_stable_abi():
    """From Python 3.11 on both compiled modules are abi3, so one wheel
    (tagged cp311-abi3) serves every later CPython; before, _chan is built
    for the running version."""
    from shmlink import _chan

    assert pathlib.Path(shmlink._shmlink.__file__).name.endswith(".abi3.so")
    chan = pathlib.Path(_chan.__file__).name
    if sys.version_info >= (3, 11):
        assert chan == "_chan.abi3.so"
    else:
        assert chan.startswith("_chan.cpython-")


def test_version_is_the_headers():
    """The version is written once (shmlink.h); the installed metadata has it."""
    import importlib.metadata

    assert shmlink.__version__ == importlib.metadata.version("shmlink")
    header = (ROOT / "core" / "include" / "shmlink.h").read_text()
    parts = [
        re.search(rf"^#define SHMLINK_VERSION_{name} +(\d+)$", header, re.M)
        for name in ("MAJOR", "MINOR", "PATCH")
    ]
    assert all(parts)
    assert shmlink.__version__ == ".".join(m.group(1) for m in parts if m)


def test_exception_hierarchy():
    assert issubclass(shmlink.PeerDeadError, ConnectionError)
    assert issubclass(shmlink.ProtocolError, OSError)
    assert issubclass(shmlink.BusyError, OSError)


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (errno.EEXIST, FileExistsError),
        (errno.ENOENT, FileNotFoundError),
        (errno.EACCES, PermissionError),
        (errno.EPERM, PermissionError),
        (errno.ETIMEDOUT, TimeoutError),
        (errno.EINTR, InterruptedError),
        (errno.EPIPE, shmlink.PeerDeadError),
        (errno.EPROTO, shmlink.ProtocolError),
        (errno.EBUSY, shmlink.BusyError),
        (errno.ENOSPC, OSError),
        (errno.EMSGSIZE, OSError),
    ],
)
def test_check_maps_errno_to_exception(code, cls):
    with pytest.raises(cls) as info:
        _errors.check(-code, "posix:/x")
    assert type(info.value) is cls
    assert info.value.errno == code
    assert info.value.filename == "posix:/x"
    assert info.value.strerror == _errors.strerror(-code)
    assert info.value.strerror


def test_check_invalid_and_end_of_stream():
    with pytest.raises(ValueError, match="'posix:/x'"):
        _errors.check(-errno.EINVAL, "posix:/x")
    with pytest.raises(EOFError, match="end of stream"):
        _errors.check(-errno.ENODATA, "posix:/x")


def test_check_passes_success_through():
    assert _errors.check(0) == 0
    assert _errors.check(17) == 17


def test_sysv_key_matches_ftok(tmp_path):
    import ctypes
    import ctypes.util

    import sysv_ipc

    path = tmp_path / "keyfile"
    path.write_bytes(b"")
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.ftok.restype = ctypes.c_int
    libc.ftok.argtypes = [ctypes.c_char_p, ctypes.c_int]
    for proj in (1, ord("A"), 255):
        key = shmlink.sysv_key(str(path), proj)
        assert key == libc.ftok(os.fsencode(path), proj) & 0xFFFFFFFF
        assert key == sysv_ipc.ftok(str(path), proj, silence_warning=True) & 0xFFFFFFFF
        assert shmlink.sysv_key(path, proj) == key
        assert shmlink.sysv_key(os.fsencode(path), proj) == key


def test_sysv_key_errors(tmp_path):
    missing = tmp_path / "missing"
    with pytest.raises(FileNotFoundError) as info:
        shmlink.sysv_key(missing, 1)
    assert info.value.filename == str(missing)
    (tmp_path / "f").write_bytes(b"")
    for proj in (0, 256, -1):
        with pytest.raises(ValueError, match="proj"):
            shmlink.sysv_key(tmp_path / "f", proj)
    with pytest.raises(TypeError):
        shmlink.sysv_key(tmp_path / "f", "A")
    with pytest.raises(ValueError, match="NUL"):
        shmlink.sysv_key("a\0b", 1)


@pytest.mark.parametrize("cls", [shmlink.Reader, shmlink.Writer, shmlink.Segment])
def test_help_shows_the_constructors_and_signatures(cls):
    import pydoc

    text = pydoc.render_doc(cls, renderer=pydoc.plaintext)
    assert f"{cls.__name__}() -> " not in text
    assert "__annotations__" not in text
    assert f"{cls.__name__}.open(address" in text
    assert f"{cls.__name__}.create(address" in text


def test_methods_have_signatures():
    import inspect

    sig = {
        (shmlink.Reader, "recv"): "(self, /, timeout=None)",
        (shmlink.Reader, "recv_into"): "(self, /, buffer, timeout=None)",
        (shmlink.Reader, "recv_batch"): "(self, /, n=1024, timeout=None)",
        (shmlink.Writer, "send"): "(self, /, data, timeout=None)",
        (shmlink.Reader, "open"): "(address: 'str', *, any_owner: 'bool' = False) -> 'Reader'",
    }
    for (cls, name), text in sig.items():
        assert str(inspect.signature(getattr(cls, name))) == text
    with pytest.raises(TypeError, match=r"Reader\.open"):
        shmlink.Reader()
    with pytest.raises(TypeError, match=r"Writer\.create"):
        shmlink.Writer()
