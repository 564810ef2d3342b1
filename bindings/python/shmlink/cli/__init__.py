"""The shmlink command-line tool: see, inspect and clean up shared memory
segments (POSIX and System V) and the shmlink channels inside them.

One module per command (ls, stat, rm); arguments are parsed by argparse,
JSON is written by the standard library's encoder, and everything about a
segment comes from the kernel's own lists or from the C core through the
cffi module. Installed as the ``shmlink`` command and as ``python -m
shmlink``.

Exit status: 0 success, 1 a runtime error (reported on stderr; rm goes on
with the other addresses), 2 a usage error.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from .. import __version__
from . import ls, rm, stat

DESCRIPTION = """\
See, inspect and clean up shared memory segments (POSIX and System V) and
the shmlink message channels inside them.

addresses: posix:/NAME (or /NAME), sysv:KEY (decimal or 0x hex),
           sysv-id:SHMID

Listing reads /dev/shm and /proc/sysvipc/shm and attaches nothing; only a
segment whose size can hold a channel is looked into, read-only. Run
'shmlink COMMAND --help' for a command's options. Exit status: 0 ok, 1 an
error (reported on stderr), 2 a usage error.
"""


class Parser(argparse.ArgumentParser):
    """argparse with shmlink's error line: "shmlink: CMD: what (try ...)"."""

    def error(self, message: str) -> NoReturn:
        command = self.prog.split(" ", 1)[1] + ": " if " " in self.prog else ""
        self.exit(2, f"shmlink: {command}{message} (try '{self.prog} --help')\n")


def parser() -> Parser:
    p = Parser(
        prog="shmlink",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("-V", "--version", action="version", version=f"shmlink {__version__}")
    sub = p.add_subparsers(title="commands", metavar="COMMAND", dest="command")
    ls.add_parser(sub)
    stat.add_parser(sub)
    rm.add_parser(sub)
    h = sub.add_parser("help", help="this text, or a command's help")
    h.add_argument("topic", metavar="COMMAND", nargs="?")
    h.set_defaults(parser=h)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args_in = list(sys.argv[1:] if argv is None else argv)
    p = parser()
    if not args_in:
        p.print_help(sys.stderr)
        return 2
    first = args_in[0]
    if first.startswith("-") and first not in ("-h", "--help", "-V", "--version"):
        p.error(f"unknown option '{first}'")
    args, extra = p.parse_known_args(args_in)
    if extra:  # named by the command they were given to
        command_parser: argparse.ArgumentParser = getattr(args, "parser", p)
        command_parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command == "help":
        if args.topic is None:
            p.print_help()
            return 0
        commands = {"ls", "stat", "rm"}
        if args.topic not in commands:
            p.error(f"no such command '{args.topic}'")
        p.parse_args([args.topic, "--help"])  # prints it and exits 0
    try:
        status: int = args.run(args)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader of our output went away (shmlink ls | head): not an
        # error; keep Python from complaining while it flushes at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return status
