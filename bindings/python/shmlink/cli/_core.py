"""What the command-line tool asks of the C core, through the cffi module only.

Calls return the core's code (0 or a negative errno) instead of raising, so
each command decides how to word a failure for the address it was given.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .._errors import strerror
from .._shmlink import ffi, lib

# A channel's segment holds the 512-byte header and a ring of at least
# SHMLINK_MIN_CAPACITY bytes (docs/PROTOCOL.md, section 1; a larger segment
# is allowed, whatever its size), so only a segment of at least this size can
# be a channel: smaller ones are never attached to look inside.
CHANNEL_HEADER_SIZE = 512
MIN_CHANNEL_SIZE = CHANNEL_HEADER_SIZE + int(lib.SHMLINK_MIN_CAPACITY)


class Kind(enum.Enum):
    """The forms of address (shmlink_address_kind)."""

    POSIX = "posix"
    SYSV_KEY = "sysv-key"
    SYSV_PRIVATE = "sysv-private"
    SYSV_ID = "sysv-id"


_KINDS = {
    lib.SHMLINK_ADDR_POSIX: Kind.POSIX,
    lib.SHMLINK_ADDR_SYSV_KEY: Kind.SYSV_KEY,
    lib.SHMLINK_ADDR_SYSV_PRIVATE: Kind.SYSV_PRIVATE,
    lib.SHMLINK_ADDR_SYSV_ID: Kind.SYSV_ID,
}


@dataclass(frozen=True)
class Address:
    """A parsed address: POSIX name (b"/name"), System V key or id."""

    text: str
    kind: Kind
    name: bytes
    key: int
    id: int

    @property
    def backend(self) -> str:
        return "posix" if self.kind is Kind.POSIX else "sysv"


def encode(address: str) -> bytes:
    """Addresses are str; bytes that are not UTF-8 travel as surrogates."""
    return address.encode("utf-8", "surrogateescape")


def parse_address(text: str) -> Address | None:
    """shmlink_address_parse; None if the text is malformed."""
    raw = encode(text)
    if b"\0" in raw:
        return None
    parsed = ffi.new("shmlink_address *")
    if lib.shmlink_address_parse(raw, parsed) < 0:
        return None
    return Address(
        text=text,
        kind=_KINDS[int(parsed.kind)],
        name=ffi.string(parsed.name),
        key=int(parsed.key),
        id=int(parsed.id),
    )


@dataclass(frozen=True)
class ChannelInfo:
    """shmlink_channel_info. ``writer_alive``/``reader_alive``: 1 a live
    process holds the role, 0 nobody holds it, -1 the core cannot tell."""

    version: int
    capacity: int
    max_message: int
    used: int
    messages_sent: int
    messages_received: int
    writer_pid: int
    reader_pid: int
    writer_alive: int
    reader_alive: int
    closed: bool
    reader_gone: bool


def channel_stat(address: str) -> tuple[int, ChannelInfo | None]:
    """shmlink_channel_stat: maps the segment read-only (a System V segment
    is attached read-only), reads the channel header and asks who holds each
    role; takes no role, writes nothing. Returns (0, info) or (-errno, None);
    -EPROTO means the segment is not a channel."""
    info = ffi.new("shmlink_channel_info *")
    rc = int(lib.shmlink_channel_stat(encode(address), info))
    if rc < 0:
        return rc, None
    return 0, ChannelInfo(
        version=int(info.version),
        capacity=int(info.capacity),
        max_message=int(info.max_message),
        used=int(info.used),
        messages_sent=int(info.messages_sent),
        messages_received=int(info.messages_received),
        writer_pid=int(info.writer_pid),
        reader_pid=int(info.reader_pid),
        writer_alive=int(info.writer_alive),
        reader_alive=int(info.reader_alive),
        closed=bool(info.closed),
        reader_gone=bool(info.reader_gone),
    )


FANOUTS = {0: "one", 1: "broadcast", 2: "queue"}


@dataclass(frozen=True)
class SlotInfo:
    """shmlink_slot_info: one reader slot. ``alive`` as in ChannelInfo;
    ``state``: broadcast 1 joined; queue 1 taking, 2 a peeked message not yet
    released (an orphan to redeliver when the slot is free)."""

    slot: int
    pid: int
    alive: int
    state: int
    gone: bool
    position: int
    lag: int
    messages_received: int


def channel_slots(address: str) -> tuple[int, str, list[SlotInfo]]:
    """shmlink_channel_slots: the channel's fan-out ("one", "broadcast",
    "queue") and each reader slot. Returns (0, fanout, slots) or (-errno,
    "", [])."""
    fanout = ffi.new("shmlink_fanout *")
    max_slots = int(lib.SHMLINK_MAX_READERS)
    slots = ffi.new("shmlink_slot_info[]", max_slots)
    rc = int(lib.shmlink_channel_slots(encode(address), fanout, slots, max_slots))
    if rc < 0:
        return rc, "", []
    out = [
        SlotInfo(
            slot=int(x.slot),
            pid=int(x.pid),
            alive=int(x.alive),
            state=int(x.state),
            gone=bool(x.gone),
            position=int(x.position),
            lag=int(x.lag),
            messages_received=int(x.messages_received),
        )
        for x in slots[0 : min(rc, max_slots)]
    ]
    return 0, FANOUTS.get(int(fanout[0]), str(int(fanout[0]))), out


REPLY_POSIX, REPLY_SYSV = 1, 2  # shmlink_writer_slot_info.reply_kind


@dataclass(frozen=True)
class WriterSlotInfo:
    """shmlink_writer_slot_info: one writer slot. ``alive`` as in
    ChannelInfo; ``used``: bytes committed in its ring not yet taken;
    ``reply_kind``/``reply_id``: the reply channel a call client stored (0
    none, REPLY_POSIX, REPLY_SYSV with its shmid; any other kind is corrupt),
    kept after the client closed."""

    slot: int
    pid: int
    alive: int
    closed: bool
    position: int
    used: int
    messages_sent: int
    reply_kind: int
    reply_id: int


def channel_writer_slots(address: str) -> tuple[int, list[WriterSlotInfo]]:
    """shmlink_channel_writer_slots: each writer slot (one for a channel
    made with one writer). Returns (0, slots) or (-errno, [])."""
    max_slots = int(lib.SHMLINK_MAX_WRITERS)
    slots = ffi.new("shmlink_writer_slot_info[]", max_slots)
    rc = int(lib.shmlink_channel_writer_slots(encode(address), slots, max_slots))
    if rc < 0:
        return rc, []
    out = [
        WriterSlotInfo(
            slot=int(x.slot),
            pid=int(x.pid),
            alive=int(x.alive),
            closed=bool(x.closed),
            position=int(x.position),
            used=int(x.used),
            messages_sent=int(x.messages_sent),
            reply_kind=int(x.reply_kind),
            reply_id=int(x.reply_id),
        )
        for x in slots[0 : min(rc, max_slots)]
    ]
    return 0, out


def remove(address: str) -> int:
    """shmlink_remove (shm_unlink / IPC_RMID): 0 or -errno."""
    return int(lib.shmlink_remove(encode(address)))


def describe(rc: int) -> str:
    """The core's text for a return code."""
    return strerror(rc)
