"""shmlink rm: remove segments by address, or the stale channels."""

from __future__ import annotations

import argparse
import errno
import sys
from typing import Any

from . import _core, _entries, _output
from ._common import address_error, fail, where

HELP = """\
The first form removes each segment (shm_unlink / IPC_RMID); processes that
have it mapped keep their mapping until they unmap it. A channel whose
writer or reader is alive (or may be: the C core cannot always tell) is
not removed unless --force is given; the error says who holds it. Errors
are reported per address; the exit status is 1 if any address failed.

The second form removes stale channels: channels that nobody holds (no
live writer, no live reader, as the C core decides it from the locks the
role holders keep, which works across pid namespaces), with no committed
message left unread and, for System V, attached by no process. Everything
else is kept and listed with the reason: a live peer anywhere, a peer the
core cannot tell about, unread messages (a writer that died before its
reader came still has its messages delivered to the next reader), an
attached System V segment, or a segment this user cannot look into. Plain
segments are never touched. Each candidate is looked at once more right
before it is removed.

Only segments whose size can hold a channel (at least 512 + 4096 bytes) are
looked into, read-only (System V: a read-only attach, which sets lpid and
atime).

--json prints one array with an object per address: {address, backend,
stale, reason, removed, error}; stale is null for the first form, reason
says why a channel is stale or kept (or who holds it, when refused).
"""


def add_parser(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser(
        "rm",
        help="remove segments, or the stale channels",
        usage=(
            "shmlink rm [-h] [--force] [--json] ADDRESS...\n"
            "       shmlink rm --stale [--dry-run] [--json] [--match GLOB]"
        ),
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("addresses", metavar="ADDRESS", nargs="*", help="segments to remove")
    p.add_argument(
        "-f", "--force", action="store_true", help="remove channels whose peers are alive, too"
    )
    p.add_argument("--stale", action="store_true", help="remove the stale channels")
    p.add_argument(
        "-n",
        "--dry-run",
        action="store_true",
        help="with --stale: say what would go, remove nothing",
    )
    p.add_argument("--json", action="store_true", help="one JSON array of results, for scripts")
    p.add_argument("--match", metavar="GLOB", help="with --stale: only addresses matching GLOB")
    p.set_defaults(run=run, parser=p)


def run(args: argparse.Namespace) -> int:
    parser: argparse.ArgumentParser = args.parser
    if args.stale:
        if args.addresses:
            parser.error("--stale takes no addresses (use --match GLOB to narrow it)")
        if args.force:
            parser.error("--force does not go with --stale")
        return stale(args.dry_run, args.json, args.match)
    if args.dry_run or args.match is not None:
        parser.error(f"{'--dry-run' if args.dry_run else '--match'} only goes with --stale")
    if not args.addresses:
        parser.error("missing ADDRESS (or --stale)")
    return remove(args.addresses, args.force, args.json)


def holders(address: str) -> str | None:
    """Who holds the channel at address (None if it is no channel, or
    nobody holds it, or it cannot be looked into: then the kernel decides)."""
    parsed = _core.parse_address(address)
    assert parsed is not None
    try:
        e = _entries.entry_for(parsed)
    except OSError:
        return None
    if e.kind != _entries.CHANNEL or e.info is None:
        return None
    i = e.info
    held = [
        _entries.peer(role, pid, alive, False)
        for role, pid, alive in (
            ("writer", i.writer_pid, i.writer_alive),
            ("reader", i.reader_pid, i.reader_alive),
        )
        if alive != 0
    ]
    return ", ".join(held) if held else None


def remove(addresses: list[str], force: bool, json: bool) -> int:
    results: list[dict[str, Any]] = []
    status = 0
    for address in addresses:
        parsed = _core.parse_address(address)
        result: dict[str, Any] = {
            "address": address,
            "backend": parsed.backend if parsed else None,
            "stale": None,
            "reason": None,
            "removed": False,
            "error": None,
        }
        results.append(result)
        error = address_error(address)
        if error is None and not force:
            held = holders(address)
            if held is not None:
                result["reason"] = held
                error = f"channel in use ({held}); --force removes it anyway"
        if error is None:
            rc = _core.remove(address)
            if rc < 0:
                error = _core.describe(rc)
            else:
                result["removed"] = True
        if error is not None:
            result["error"] = error
            fail(where("rm", address), error)
            status = 1
    if json:
        _output.write_json(results)
    return status


def stale(dry_run: bool, json: bool, glob: str | None) -> int:
    entries, errors = _entries.collect_all(glob)
    for err in errors:
        fail("rm", err)
    status = 1 if errors else 0
    results: list[dict[str, Any]] = []
    removed = 0
    for e in entries:
        if e.kind == _entries.SEGMENT or e.removed:
            continue  # plain segments, and removed ones, are not its business
        is_stale, reason = _entries.judge(e)
        error = None
        done = False
        if is_stale and not dry_run:
            outcome = _remove_stale(e)
            if outcome is None:
                continue  # gone meanwhile
            is_stale, reason, error = outcome
            done = is_stale and error is None
            if error is not None:
                fail(where("rm", e.address), error)
                status = 1
        if is_stale and error is None:
            removed += 1
        results.append(
            {
                "address": e.address,
                "backend": e.backend,
                "stale": is_stale,
                "reason": reason,
                "removed": done,
                "error": error,
            }
        )
        if not json and error is None:
            shown = _output.display(e.address)
            if not is_stale:
                print(f"skipped {shown}: {reason}")
            else:
                print(f"{'would remove' if dry_run else 'removed'} {shown} ({reason})")
    if json:
        _output.write_json(results)
    elif removed == 0:
        print("no stale channels")
    sys.stdout.flush()
    return status


def _remove_stale(e: _entries.Entry) -> tuple[bool, str, str | None] | None:
    """Judges a stale channel once more right before removing it (a peer may
    have come back) and removes it if it still is. Returns (stale, reason,
    error or None), or None if it went away meanwhile."""
    again = _entries.refresh(e)
    if again is None:
        return None
    is_stale, reason = _entries.judge(again)
    if not is_stale:
        return False, reason, None
    rc = _core.remove(e.open_address)
    if rc in (-errno.ENOENT, -errno.EIDRM):
        return None  # removed by someone else meanwhile: gone is gone
    return True, reason, _core.describe(rc) if rc < 0 else None
