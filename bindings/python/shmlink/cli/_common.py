"""What every command shares: error messages and address checks."""

from __future__ import annotations

import sys

from . import _core
from ._output import display

EXPECTED = "expected posix:/NAME, sysv:KEY or sysv-id:SHMID"


def fail(command: str, message: str) -> None:
    """One line on stderr: "shmlink: COMMAND: message"."""
    sys.stderr.write(f"shmlink: {command}: {message}\n")
    sys.stderr.flush()


def address_error(address: str) -> str | None:
    """Why address cannot name an existing segment, or None if it can."""
    parsed = _core.parse_address(address)
    if parsed is None:
        return f"malformed address ({EXPECTED})"
    if parsed.kind is _core.Kind.SYSV_PRIVATE:
        return "names no existing segment (it is for create only); use sysv-id:SHMID"
    return None


def where(command: str, address: str) -> str:
    """ "stat ADDRESS" for a message, the address made printable."""
    return f"{command} {display(address)}"
