"""shmlink stat: everything known about one segment."""

from __future__ import annotations

import argparse
import errno
import sys
from typing import Any

from . import _core, _entries, _output
from ._common import address_error, fail, where

HELP = """\
Shows everything known about one segment: backend, canonical address,
size, mode, owner and group, times; for System V also shmid, key, attach
count, creator and last pids; and, when it holds a shmlink channel, the
protocol version, capacity, largest message, fill level, messages sent and
received, writer and reader (pid, and alive, dead or unknown as the C core
tells it), end of stream and whether 'rm --stale' would remove it, and why;
for a fan-out channel (broadcast or queue) also each reader slot: its pid
and liveness, state, position, lag behind the writer and messages received;
for a channel with several writer slots or a call server's request channel
also each writer (client) slot: its pid and liveness, write position, bytes
of its ring not yet taken, messages sent, whether it was closed, and the
reply channel a call client named.

What the kernel keeps is read from /dev/shm and /proc/sysvipc/shm without
opening anything; only a segment whose size can hold a channel (at least
512 + 4096 bytes) is looked into, read-only (a System V segment is attached
read-only, which sets its lpid and atime).

--json writes one object with the keys of 'ls --json'.
"""


def add_parser(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser(
        "stat",
        help="everything known about one segment",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("address", metavar="ADDRESS", help="posix:/NAME, sysv:KEY or sysv-id:SHMID")
    p.add_argument("--json", action="store_true", help="one JSON object, for scripts")
    p.set_defaults(run=run, parser=p)


Lines = list[tuple[str, str]]


def text(e: _entries.Entry) -> str:
    lines = _segment_lines(e)
    if e.backend == "sysv":
        lines += _sysv_lines(e)
    else:
        lines.append(("modified", _output.when(e.mtime)))
    if e.note:
        lines.append(("note", e.note))
    if e.kind == _entries.CHANNEL and e.info is not None:
        lines += _channel_lines(e, e.info)
    return "".join(f"{(k + ':').ljust(11)} {v}\n" for k, v in lines)


def _segment_lines(e: _entries.Entry) -> Lines:
    """What every segment has."""
    return [
        ("address", _output.display(e.address)),
        ("backend", e.backend),
        ("kind", e.kind),
        ("size", f"{e.size} ({_output.human(e.size)})"),
        ("mode", f"{e.mode:04o}"),
        ("owner", f"{_output.display(_output.user_name(e.uid) or str(e.uid))} (uid {e.uid})"),
        ("group", f"{_output.display(_output.group_name(e.gid) or str(e.gid))} (gid {e.gid})"),
        ("changed", _output.when(e.ctime)),
    ]


def _sysv_lines(e: _entries.Entry) -> Lines:
    """What the kernel keeps of a System V segment."""
    creator = _output.user_name(e.cuid or 0) or str(e.cuid)
    lines = [
        ("shmid", str(e.shmid)),
        ("key", f"0x{e.key or 0:08x}" + ("" if e.key else " (private or removed)")),
        ("nattch", f"{e.nattch} (processes attached)"),
        ("creator", f"pid {e.cpid}, {_output.display(creator)} (uid {e.cuid})"),
        ("last pid", str(e.lpid)),
        ("last attach", _output.when(e.atime)),
        ("last detach", _output.when(e.dtime)),
    ]
    if e.removed:
        lines.append(("removed", "yes (IPC_RMID done; gone at last detach)"))
    return lines


def _channel_lines(e: _entries.Entry, i: _core.ChannelInfo) -> Lines:
    """The channel in the segment, and its reader slots if it fans out."""
    stale, why = _entries.judge(e)
    lines = [
        ("channel", f"protocol version {i.version}"),
        (
            "capacity",
            f"{i.capacity} ({_output.human(i.capacity)}), largest message "
            f"{i.max_message} ({_output.human(i.max_message)})",
        ),
        ("fill", f"{i.used} bytes ({_output.human(i.used)}, {_output.fill_percent(e):.1f}%)"),
        ("sent", f"{i.messages_sent} messages"),
        ("received", f"{i.messages_received} messages"),
        ("writer", _role(i.writer_pid, i.writer_alive)),
        ("reader", _role(i.reader_pid, i.reader_alive)),
        ("end of stream", "yes" if i.closed else "no"),
        ("reader closed", "yes" if i.reader_gone else "no"),
        ("stale", f"{'yes' if stale else 'no'} ({why})"),
    ]
    if e.slots is not None:
        lines.append(("fanout", f"{e.fanout}, {len(e.slots)} reader slots"))
        lines += [
            (
                f"reader {x.slot}",
                f"{_role(x.pid, x.alive)}, {_output.slot_state(e.fanout, x.state)}, "
                f"position {x.position}, lag {x.lag} bytes, "
                f"{x.messages_received} received" + (", closed" if x.gone else ""),
            )
            for x in e.slots
        ]
    if e.writer_slots is not None:
        n = len(e.writer_slots)
        what = f"{n} {'client' if e.calls else 'writer'} slot{'s' if n != 1 else ''}"
        lines.append(("writers", what + (" of a call server" if e.calls else "")))
        lines += [(f"writer {x.slot}", _writer_slot(e, x)) for x in e.writer_slots]
    return lines


def _writer_slot(e: _entries.Entry, x: _core.WriterSlotInfo) -> str:
    """One writer slot: holder, ring, and the reply channel a call client
    named (not after it closed: it removed that channel then)."""
    text = (
        f"{_role(x.pid, x.alive)}, position {x.position}, used {x.used} bytes, "
        f"{x.messages_sent} sent" + (", closed" if x.closed else "")
    )
    if x.reply_kind and not x.closed:
        reply = _output.reply_address(e, x)
        if reply is not None:
            text += f", reply {_output.display(reply)}"
        else:
            text += f", reply kind {x.reply_kind} id {x.reply_id} (no worker can use it)"
    return text


def _role(pid: int, alive: int) -> str:
    if pid == 0 and alive == 0:
        return "none"
    return _output.peer_cell(pid, alive)


def run(args: argparse.Namespace) -> int:
    address: str = args.address
    why = address_error(address)
    if why is not None:
        fail(where("stat", address), why)
        return 1
    parsed = _core.parse_address(address)
    assert parsed is not None
    try:
        e = _entries.entry_for(parsed)
    except FileNotFoundError:
        fail(where("stat", address), _core.describe(-errno.ENOENT))
        return 1
    except OSError as exc:
        fail(where("stat", address), exc.strerror or str(exc))
        return 1
    if args.json:
        _output.write_json(_output.entry_json(e))
    else:
        sys.stdout.write(text(e))
    return 0
