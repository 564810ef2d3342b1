"""How entries are written: JSON (the standard library's encoder), the ls
table fitted to the terminal, and the small text helpers."""

from __future__ import annotations

import grp
import json
import os
import pwd
import re
import shutil
import sys
import time
from collections.abc import Sequence
from typing import Any

from ._core import REPLY_POSIX, REPLY_SYSV, ChannelInfo, SlotInfo, WriterSlotInfo
from ._entries import CHANNEL, Entry, judge

_SURROGATE = re.compile("[\udc80-\udcff]")


def write_json(data: Any) -> None:
    """Pretty JSON on stdout. Text passes through as UTF-8; a name byte that
    is not valid UTF-8 (a surrogate after os.fsdecode) is written as the
    escape \\udcHH, which json.loads and os.fsencode turn back into it."""
    text = json.dumps(data, indent=2, ensure_ascii=False)
    text = _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    sys.stdout.buffer.write(text.encode("utf-8") + b"\n")


def display(text: str) -> str:
    """A name for a terminal: printable ASCII as is, a backslash doubled,
    every other byte (of its file-system encoding) as \\xHH."""
    out = []
    for b in os.fsencode(text):
        if b == 0x5C:
            out.append("\\\\")
        elif 0x20 <= b < 0x7F:
            out.append(chr(b))
        else:
            out.append(f"\\x{b:02x}")
    return "".join(out)


def human(n: int) -> str:
    """512B, 4.0K, 64K, 1.5M, ..."""
    units = "BKMGTPE"
    v, u = float(n), 0
    while v >= 1024 and u < len(units) - 1:
        v /= 1024
        u += 1
    if u == 0:
        return f"{n}B"
    return f"{v:.1f}{units[u]}" if v < 9.95 else f"{v:.0f}{units[u]}"


def when(t: int | None) -> str:
    if not t:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(t))


def user_name(uid: int) -> str | None:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return None


def group_name(gid: int) -> str | None:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return None


def fill_percent(e: Entry) -> float:
    i = e.info
    return 100.0 * i.used / i.capacity if i and i.capacity else 0.0


def _alive(v: int) -> bool | None:
    return True if v > 0 else (None if v < 0 else False)


def _peer_json(pid: int, alive: int) -> dict[str, Any] | None:
    if pid == 0 and alive == 0:
        return None
    return {"pid": pid, "alive": _alive(alive)}


_SLOT_STATES = {
    "broadcast": {0: "idle", 1: "joined"},
    "queue": {0: "idle", 1: "taking", 2: "peeking"},
}


def slot_state(fanout: str, state: int) -> str:
    return _SLOT_STATES.get(fanout, {}).get(state, str(state))


def entry_json(e: Entry) -> dict[str, Any]:
    """The same keys for every entry, null where one does not apply."""
    channel = None
    if e.kind == CHANNEL and e.info is not None:
        channel = _channel_json(e, e.info)
    return {
        "address": e.address,
        "backend": e.backend,
        "kind": e.kind,
        "size": e.size,
        "mode": f"{e.mode:04o}",
        "uid": e.uid,
        "owner": user_name(e.uid),
        "gid": e.gid,
        "group": group_name(e.gid),
        "readable": e.readable,
        "note": e.note,
        "ctime": e.ctime,
        "mtime": e.mtime,
        "shmid": e.shmid,
        "key": e.key,
        "nattch": e.nattch,
        "cpid": e.cpid,
        "lpid": e.lpid,
        "cuid": e.cuid,
        "cgid": e.cgid,
        "atime": e.atime,
        "dtime": e.dtime,
        "removed": e.removed,
        "channel": channel,
    }


def _channel_json(e: Entry, i: ChannelInfo) -> dict[str, Any]:
    """The "channel" object of an entry that holds one."""
    return {
        "version": i.version,
        "capacity": i.capacity,
        "max_message": i.max_message,
        "used": i.used,
        "fill_percent": round(fill_percent(e), 1),
        "messages_sent": i.messages_sent,
        "messages_received": i.messages_received,
        "writer": _peer_json(i.writer_pid, i.writer_alive),
        "reader": _peer_json(i.reader_pid, i.reader_alive),
        "closed": i.closed,
        "reader_gone": i.reader_gone,
        "stale": judge(e)[0],
        "fanout": e.fanout,
        "readers": None if e.slots is None else [_slot_json(e.fanout, x) for x in e.slots],
        "calls": e.calls,
        "writers": None
        if e.writer_slots is None
        else [_writer_slot_json(e, x) for x in e.writer_slots],
    }


def _slot_json(fanout: str, x: SlotInfo) -> dict[str, Any]:
    """One reader slot of a fan-out channel."""
    return {
        "slot": x.slot,
        "pid": x.pid or None,
        "alive": _alive(x.alive),
        "state": slot_state(fanout, x.state),
        "gone": x.gone,
        "position": x.position,
        "lag": x.lag,
        "messages_received": x.messages_received,
    }


def reply_address(e: Entry, x: WriterSlotInfo) -> str | None:
    """The reply channel a call client's writer slot names, as a worker of
    this backend would open it; None if it names none, one no worker would
    use (a kind of the other backend, or a corrupt one), or the slot was
    closed (its client removed that channel then; the slot keeps the
    value)."""
    if x.closed:
        return None
    if x.reply_kind == REPLY_POSIX and e.backend == "posix":
        return f"{e.address}.r{x.slot}"
    if x.reply_kind == REPLY_SYSV and e.backend == "sysv":
        return f"sysv-id:{x.reply_id}"
    return None


def _writer_slot_json(e: Entry, x: WriterSlotInfo) -> dict[str, Any]:
    """One writer slot of a many-writers channel or a call server."""
    return {
        "slot": x.slot,
        "pid": x.pid or None,
        "alive": _alive(x.alive),
        "closed": x.closed,
        "position": x.position,
        "used": x.used,
        "messages_sent": x.messages_sent,
        "reply_kind": x.reply_kind,
        "reply_id": x.reply_id,
        "reply": reply_address(e, x),
    }


def peer_cell(pid: int, alive: int) -> str:
    """A role in the table: "123 alive", "123 dead", "123 unknown", "-"."""
    if pid == 0 and alive == 0:
        return "-"
    word = "alive" if alive > 0 else ("unknown" if alive < 0 else "dead")
    return f"{pid or '?'} {word}"


def _held(alive: Sequence[int]) -> str:
    """Slots held by live processes of all: "2/4 alive", "1/4 alive (+1?)"
    with one the core cannot tell about."""
    unknown = sum(1 for a in alive if a < 0)
    more = f" (+{unknown}?)" if unknown else ""
    return f"{sum(1 for a in alive if a > 0)}/{len(alive)} alive{more}"


def readers_cell(e: Entry) -> str:
    """The READER cell of a fan-out channel: "broadcast 2/4 alive"."""
    return f"{e.fanout} {_held([x.alive for x in e.slots or []])}"


def writers_cell(e: Entry) -> str:
    """The WRITER cell of a channel with several writer slots or of a call
    server: "2/8 alive"."""
    return _held([x.alive for x in e.writer_slots or []])


# Table columns. When the table is wider than the terminal, columns are left
# out in DROP_ORDER until it fits with addresses of at most KEEP_ADDRESS
# characters; then addresses are shortened in the middle to the room left
# (at least MIN_ADDRESS), and a line still too long is cut at the end.
COLUMNS = (
    "ADDRESS",
    "KIND",
    "SIZE",
    "OWNER",
    "MODE",
    "SHMID",
    "NATTCH",
    "FILL",
    "SENT/RECV",
    "WRITER",
    "READER",
    "STATE",
)
DROP_ORDER = ("MODE", "OWNER", "SENT/RECV", "FILL", "SIZE")
KEEP_ADDRESS = 32
MIN_ADDRESS = 20
GAP = 2


def row(e: Entry) -> list[str]:
    owner = user_name(e.uid)
    cells = [
        display(e.address),
        e.kind,
        human(e.size),
        display(owner) if owner is not None else str(e.uid),
        f"{e.mode:04o}",
        str(e.shmid) if e.shmid is not None else "-",
        str(e.nattch) if e.nattch is not None else "-",
    ]
    state = []
    if e.kind == CHANNEL and e.info is not None:
        i = e.info
        cells += [
            f"{human(i.used)}/{human(i.capacity)} {fill_percent(e):.0f}%",
            f"{i.messages_sent}/{i.messages_received}",
            peer_cell(i.writer_pid, i.writer_alive) if e.writer_slots is None else writers_cell(e),
            peer_cell(i.reader_pid, i.reader_alive) if e.slots is None else readers_cell(e),
        ]
        state.append("eos" if i.closed else "open")
        if judge(e)[0]:
            state.append("stale")
    else:
        cells += ["-"] * 4
    if e.removed:
        state.append(f"removed, {e.nattch} attached")
    if e.note:
        state.append(e.note)
    cells.append(", ".join(state) or "-")
    return cells


def shorten(text: str, width: int) -> str:
    """text cut in the middle to width characters ("posix:/jobs-...-0042")."""
    if len(text) <= width:
        return text
    keep = max(width - 3, 2)
    head = (keep + 1) // 2
    return text[:head] + "..." + text[len(text) - (keep - head) :]


def table_width() -> int | None:
    """Columns to fit: $COLUMNS if set, else the terminal's when stdout is one;
    None (no limit) when writing to a file or a pipe."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    if sys.stdout.isatty():
        return shutil.get_terminal_size().columns
    return None


def table(entries: Sequence[Entry], width: int | None) -> list[str]:
    """The ls table as lines, at most width characters each if width is
    given (see KEEP_ADDRESS for how it is made to fit)."""
    names = list(COLUMNS)
    rows = [row(e) for e in entries]

    def widths() -> list[int]:
        return [max([len(n)] + [len(r[k]) for r in rows]) for k, n in enumerate(names)]

    def total(ws: list[int]) -> int:
        return sum(ws) + GAP * (len(ws) - 1)

    if width is not None:
        for drop in DROP_ORDER:
            ws = widths()
            if total(ws) - ws[0] + min(ws[0], KEEP_ADDRESS) <= width:
                break
            k = names.index(drop)
            del names[k]
            for r in rows:
                del r[k]
        ws = widths()
        room = max(width - (total(ws) - ws[0]), MIN_ADDRESS)
        for r in rows:
            r[0] = shorten(r[0], room)
    ws = widths()
    lines = []
    for cells in [names, *rows]:
        padded = [c.ljust(ws[k]) for k, c in enumerate(cells[:-1])] + [cells[-1]]
        line = (" " * GAP).join(padded)
        if width is not None and len(line) > width:
            line = line[: max(width - 3, 0)] + "..."
        lines.append(line)
    return lines
