"""The segments the tool sees: one Entry per POSIX object or System V segment.

Sources, none of which attaches anything: POSIX segments are the regular
files of /dev/shm (listed and stat'ed by name, never opened); System V
segments are the lines of /proc/sysvipc/shm (every segment of the IPC
namespace with what IPC_STAT would give, whatever its permissions). Only a
segment whose size can hold a channel (_core.MIN_CHANNEL_SIZE) is then
inspected, by shmlink_channel_stat, which maps it read-only (System V:
attaches it read-only, which sets its last-attach pid and time).
"""

from __future__ import annotations

import errno
import fnmatch
import os
import stat as stat_mod
from dataclasses import dataclass

from . import _core

DEV_SHM = "/dev/shm"
PROC_SYSV = "/proc/sysvipc/shm"
SHM_DEST = 0o1000  # in /proc's perms: removed (IPC_RMID), still attached
NAME_MAX = 255

# Entry.kind values
SEGMENT = "segment"  # not a channel (or too small to be one)
CHANNEL = "channel"
UNKNOWN = "unknown"  # could be a channel, but cannot be looked into
SEMAPHORE = "semaphore"  # /dev/shm/sem.* (ls --all only)
NO_READ = "no read permission"


@dataclass
class Entry:
    """One segment as seen by the tool; System V fields are None for POSIX."""

    backend: str
    address: str  # canonical: posix:/NAME, sysv:0xKEY or (key 0) sysv-id:N
    open_address: str  # what to inspect and remove it by
    size: int
    mode: int
    uid: int
    gid: int
    ctime: int
    mtime: int | None = None
    shmid: int | None = None
    key: int | None = None
    nattch: int | None = None
    cpid: int | None = None
    lpid: int | None = None
    cuid: int | None = None
    cgid: int | None = None
    atime: int | None = None
    dtime: int | None = None
    removed: bool = False
    kind: str = SEGMENT
    readable: bool = True
    note: str | None = None
    info: _core.ChannelInfo | None = None
    fanout: str = "one"  # "one", "broadcast" or "queue"
    slots: list[_core.SlotInfo] | None = None  # reader slots of a fan-out channel
    # writer slots of a many-writers channel or a call server's request channel
    writer_slots: list[_core.WriterSlotInfo] | None = None
    calls: bool = False  # a call server's request channel


class Gone(Exception):
    """The segment vanished while it was looked at."""


def matches(glob: str | None, address: str) -> bool:
    return glob is None or fnmatch.fnmatchcase(address, glob)


def _sysv_readable(uid: int, gid: int, cuid: int, cgid: int, mode: int) -> bool:
    """The kernel's ipcperms() for read, as far as the tool can tell."""
    euid = os.geteuid()
    if euid == 0:
        return True
    if euid in (uid, cuid):
        return bool(mode & 0o400)
    groups = {os.getegid(), *os.getgroups()}
    if gid in groups or cgid in groups:
        return bool(mode & 0o040)
    return bool(mode & 0o004)


def inspect(e: Entry) -> None:
    """Decides e.kind: a segment too small for a channel is never opened; a
    larger one is inspected by shmlink_channel_stat. Raises Gone if it
    vanished meanwhile."""
    e.info = None
    e.note = None if e.readable else NO_READ
    if e.size < _core.MIN_CHANNEL_SIZE:
        e.kind = SEGMENT
        return
    if not e.readable or e.removed:
        # A removed System V segment (IPC_RMID, still attached) cannot be
        # opened by address any more: it is listed as it is, not looked into.
        e.kind = UNKNOWN
        return
    rc, info = _core.channel_stat(e.open_address)
    if rc == 0:
        e.kind, e.info = CHANNEL, info
        src, fanout, slots = _core.channel_slots(e.open_address)
        if src == 0 and fanout != "one":
            e.fanout, e.slots = fanout, slots
        src, wslots = _core.channel_writer_slots(e.open_address)
        # A call server's request channel is a queue whose client slots
        # name reply channels (one client slot: only that tells it apart).
        e.calls = src == 0 and e.fanout == "queue" and any(x.reply_kind for x in wslots)
        if src == 0 and (len(wslots) > 1 or e.calls):
            e.writer_slots = wslots
    elif rc == -errno.EPROTO:
        e.kind = SEGMENT
    elif rc in (-errno.ENOENT, -errno.EIDRM):
        raise Gone(e.address)
    elif rc in (-errno.EACCES, -errno.EPERM):
        e.kind, e.readable, e.note = UNKNOWN, False, NO_READ
    else:
        e.kind, e.note = UNKNOWN, f"cannot inspect: {_core.describe(rc)}"


def posix_entry(name: bytes, st: os.stat_result) -> Entry:
    address = "posix:/" + os.fsdecode(name)
    return Entry(
        backend="posix",
        address=address,
        open_address=address,
        size=st.st_size,
        mode=stat_mod.S_IMODE(st.st_mode),
        uid=st.st_uid,
        gid=st.st_gid,
        ctime=int(st.st_ctime),
        mtime=int(st.st_mtime),
        readable=os.access(os.path.join(os.fsencode(DEV_SHM), name), os.R_OK),
    )


def collect_posix(glob: str | None, semaphores: bool) -> list[Entry]:
    """Regular files in /dev/shm (semaphores, sem.*, only if asked for)."""
    out = []
    with os.scandir(os.fsencode(DEV_SHM)) as it:
        for de in it:
            name = de.name
            if len(name) > NAME_MAX:
                continue
            try:
                st = de.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # vanished
            if not stat_mod.S_ISREG(st.st_mode):
                continue
            sem = name.startswith(b"sem.")
            if sem and not semaphores:
                continue
            e = posix_entry(name, st)
            if not matches(glob, e.address):
                continue
            if sem:
                e.kind, e.readable, e.note = SEMAPHORE, False, "POSIX semaphore"
            else:
                try:
                    inspect(e)
                except Gone:
                    continue
            out.append(e)
    return out


def _sysv_lines() -> list[dict[str, int]]:
    """The segments in /proc/sysvipc/shm, as {column: value} (perms octal)."""
    with open(PROC_SYSV, encoding="ascii") as f:
        header = f.readline().split()
        rows = []
        for line in f:
            fields = line.split()
            if len(fields) < len(header):
                continue
            rows.append({h: int(v, 8 if h == "perms" else 10) for h, v in zip(header, fields)})
    return rows


def sysv_entry(row: dict[str, int]) -> Entry:
    key = row["key"] & 0xFFFFFFFF
    shmid = row["shmid"]
    perms = row["perms"]
    by_id = f"sysv-id:{shmid}"
    mode = perms & 0o777
    return Entry(
        backend="sysv",
        address=f"sysv:0x{key:08x}" if key else by_id,
        open_address=by_id,
        size=row["size"],
        mode=mode,
        uid=row["uid"],
        gid=row["gid"],
        ctime=row["ctime"],
        shmid=shmid,
        key=key,
        nattch=row["nattch"],
        cpid=row["cpid"],
        lpid=row["lpid"],
        cuid=row["cuid"],
        cgid=row["cgid"],
        atime=row["atime"],
        dtime=row["dtime"],
        removed=bool(perms & SHM_DEST),
        readable=_sysv_readable(row["uid"], row["gid"], row["cuid"], row["cgid"], mode),
    )


def collect_sysv(
    glob: str | None, *, key: int | None = None, shmid: int | None = None, look: bool = True
) -> list[Entry]:
    """System V segments from /proc/sysvipc/shm, optionally one key or id."""
    out = []
    for row in _sysv_lines():
        e = sysv_entry(row)
        if key is not None and e.key != key:
            continue
        if shmid is not None and e.shmid != shmid:
            continue
        if not matches(glob, e.address):
            continue
        if look:
            try:
                inspect(e)
            except Gone:
                continue
        out.append(e)
    return out


def sort_key(e: Entry) -> tuple[int, int, int, bytes]:
    """POSIX first, by name; then System V by key, private ones (key 0) last
    by shmid."""
    if e.backend == "posix":
        return (0, 0, 0, os.fsencode(e.address))
    return (1, 0 if e.key else 1, e.key or e.shmid or 0, b"")


def collect_all(glob: str | None, semaphores: bool = False) -> tuple[list[Entry], list[str]]:
    """Both backends, sorted; plus the sources that could not be read."""
    entries: list[Entry] = []
    errors = []
    try:
        entries += collect_posix(glob, semaphores)
    except FileNotFoundError:
        pass  # no /dev/shm: no POSIX segments
    except OSError as exc:
        errors.append(f"{DEV_SHM}: {exc.strerror}")
    try:
        entries += collect_sysv(glob)
    except FileNotFoundError:
        pass  # no System V IPC in this kernel
    except OSError as exc:
        errors.append(f"{PROC_SYSV}: {exc.strerror}")
    entries.sort(key=sort_key)
    return entries, errors


def entry_for(address: _core.Address) -> Entry:
    """The entry of one address, the way ls shows it. Raises
    FileNotFoundError if there is no such segment."""
    if address.kind is _core.Kind.POSIX:
        name = address.name[1:]  # without the leading '/'
        st = os.stat(os.path.join(os.fsencode(DEV_SHM), name), follow_symlinks=False)
        if not stat_mod.S_ISREG(st.st_mode):
            raise FileNotFoundError(errno.ENOENT, "not a shared memory object")
        e = posix_entry(name, st)
    else:
        if address.kind is _core.Kind.SYSV_KEY:
            found = collect_sysv(None, key=address.key, look=False)
        else:
            found = collect_sysv(None, shmid=address.id, look=False)
        if not found:
            raise FileNotFoundError(errno.ENOENT, "no such segment")
        e = found[0]
    try:
        inspect(e)
    except Gone:
        raise FileNotFoundError(errno.ENOENT, "no such segment") from None
    return e


def refresh(e: Entry) -> Entry | None:
    """The same segment looked at again (None if it is gone)."""
    if e.backend == "sysv":
        again = collect_sysv(None, shmid=e.shmid)
        return again[0] if again else None
    fresh = Entry(
        **{
            **e.__dict__,
            "info": None,
            "fanout": "one",
            "slots": None,
            "writer_slots": None,
            "calls": False,
        }
    )
    try:
        inspect(fresh)
    except Gone:
        return None
    return fresh


def peer(role: str, pid: int, alive: int, ended: bool) -> str:
    """One role in words: "writer 123 alive", "reader absent", ...
    ``ended``: the role was given up with close (writer: end of stream,
    reader: reader_gone)."""
    who = f"{role} {pid}" if pid else role
    if alive == 1:
        return f"{who} alive"
    if alive < 0:
        return f"{who} may be alive (the core cannot tell)"
    if pid:
        return f"{who} dead"
    return f"{role} closed" if ended else f"{role} absent"


def judge(e: Entry) -> tuple[bool, str]:
    """(stale, why). A channel is stale only when nobody holds either role
    (liveness as the core reports it; "cannot tell" counts as alive), no
    committed message is unread, and (System V) no process has it attached.
    Anything else is kept, with the reasons."""
    if e.kind != CHANNEL or e.info is None:
        if e.kind == UNKNOWN:
            return False, f"cannot look inside: {e.note}"
        return False, "not a channel"
    i = e.info
    keep = []
    if i.writer_alive != 0:
        keep.append(peer("writer", i.writer_pid, i.writer_alive, i.closed))
    if i.reader_alive != 0:
        keep.append(peer("reader", i.reader_pid, i.reader_alive, i.reader_gone))
    if i.used > 0:
        unread = i.messages_sent - i.messages_received
        count = f"{unread} message{'s' if unread != 1 else ''}, " if unread > 0 else ""
        keep.append(f"unread messages ({count}{i.used} bytes)")
    if e.backend == "sysv" and e.nattch and not keep:  # someone beyond the peers
        keep.append(f"attached by {e.nattch} process{'es' if e.nattch != 1 else ''}")
    if keep:
        return False, "; ".join(keep)
    state = [
        peer("writer", i.writer_pid, i.writer_alive, i.closed),
        peer("reader", i.reader_pid, i.reader_alive, i.reader_gone),
    ]
    if i.closed:
        state.append("end of stream")
    state.append("nothing unread")
    return True, ", ".join(state)
