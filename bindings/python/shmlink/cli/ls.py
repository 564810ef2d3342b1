"""shmlink ls: list every segment of both backends, channels with their state."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from . import _entries, _output
from ._common import fail

HELP = """\
Lists every POSIX segment (regular files in /dev/shm) and every System V
segment (/proc/sysvipc/shm): address, kind, size, owner, mode, System V id
and attach count. A segment that holds a shmlink channel is shown as kind
'channel' with its fill level (bytes used / capacity), messages sent and
received, the writer's and reader's pid and whether each is alive (as the
C core tells it: 'alive', 'dead', or 'unknown' when it cannot tell, e.g. for
a holder in another pid namespace), and end of stream ('eos'). For a
fan-out channel the READER column counts its live reader slots ('queue
2/4 alive'), for a channel with several writer slots or a call server's
request channel the WRITER column its live writer (client) slots ('2/8
alive'); 'stat' and --json show each slot.

Nothing is written and nothing is attached just to list: the list comes
from /dev/shm and /proc/sysvipc/shm. Only a segment whose size can hold a
channel (at least 512 + 4096 bytes) is looked into, read-only; for a System
V segment that is a read-only attach, which sets its last-attach pid and
time (lpid, atime) as any reader would. Smaller segments are never opened.
A segment this user may not read is still listed, with what can be seen
without opening it (note 'no read permission'; kind 'unknown' if it could
be a channel).

Rows are sorted: POSIX names, then System V keys, then private System V
segments by id. On a terminal the table fits its width: long addresses are
shortened in the middle (...), then the columns MODE, OWNER, SENT/RECV,
FILL and SIZE are left out in that order; --wide (or a pipe) shows all.
Bytes outside printable ASCII in names are shown as \\xHH.

--json writes one array of objects with fixed keys: address backend kind
size mode ("0600") uid owner gid group readable note ctime mtime shmid key
nattch cpid lpid cuid cgid atime dtime removed channel; channel is null or
{version capacity max_message used fill_percent messages_sent
messages_received writer reader closed reader_gone stale fanout readers
calls writers}, writer/reader null or {pid, alive} with alive true, false or
null (cannot tell); readers (fan-out) and writers (several writer slots or a
call server, calls true) null or one object per slot: readers {slot pid
alive state gone position lag messages_received}, writers {slot pid alive
closed position used messages_sent reply_kind reply_id reply}. Keys that
do not apply to a backend are null. Names are UTF-8; a byte that is not
valid UTF-8 is written as \\udcHH (Python's surrogateescape: os.fsencode()
gives back the exact bytes).
"""


def add_parser(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser(
        "ls",
        help="list segments and channels",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--json", action="store_true", help="one JSON array, for scripts")
    p.add_argument(
        "-a", "--all", action="store_true", help="also list POSIX semaphores (/dev/shm/sem.*)"
    )
    p.add_argument(
        "--match",
        metavar="GLOB",
        help="only addresses matching the shell pattern GLOB (e.g. 'posix:/jobs-*', 'sysv:*')",
    )
    p.add_argument("-w", "--wide", action="store_true", help="do not fit the table to the terminal")
    p.set_defaults(run=run, parser=p)


def run(args: argparse.Namespace) -> int:
    entries, errors = _entries.collect_all(args.match, semaphores=args.all)
    for err in errors:
        fail("ls", err)
    if args.json:
        _output.write_json([_output.entry_json(e) for e in entries])
    else:
        width = None if args.wide else _output.table_width()
        sys.stdout.write("".join(line + "\n" for line in _output.table(entries, width)))
    return 1 if errors else 0
