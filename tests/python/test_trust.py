"""Open trusts only channels of the caller or root: a channel whose segment
belongs to another user is a PermissionError unless any_owner=True. Needs
root (to make a channel owned by `nobody`); both backends."""

from __future__ import annotations

import errno
import os
import pwd

import pytest

import shmlink

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")


def _nobody() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user 'nobody'")


def as_nobody(action) -> None:
    """Runs action() in a forked child that became user nobody; fails the
    test if it raised."""
    nobody = _nobody()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 1
        try:
            os.setgroups([])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            action()
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the child acting as nobody failed"


def test_channel_of_another_user_needs_any_owner(address):
    nobody = _nobody()
    # nobody makes the channel (mode 0666 so that anyone may map it) and
    # leaves both roles free.
    as_nobody(lambda: shmlink.Reader.create(address, capacity=4096, mode=0o666).close())
    assert shmlink.stat(address).uid == nobody.pw_uid
    for end in (shmlink.Reader, shmlink.Writer):
        with pytest.raises(PermissionError) as info:
            end.open(address)
        err = info.value
        assert err.errno == errno.EPERM
        assert err.filename == address
        assert "'nobody'" in str(err)
        assert "any_owner=True" in str(err)
    # Trusted on request: both roles work.
    with (
        shmlink.Writer.open(address, any_owner=True) as w,
        shmlink.Reader.open(address, any_owner=True) as r,
    ):
        w.send(b"trusted")
        assert r.recv(timeout=5) == b"trusted"


def test_channel_of_root_is_trusted_by_other_users(address):
    # root's channels are fine: nobody opens one without any_owner.
    with shmlink.Writer.create(address, capacity=4096, mode=0o666) as w:
        w.send(b"from root")

        def read() -> None:
            with shmlink.Reader.open(address) as r:
                assert r.recv(timeout=5) == b"from root"

        as_nobody(read)
