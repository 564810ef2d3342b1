"""What a user does first with an installed shmlink wheel, run by the
interpreter of a fresh virtual environment (scripts/test-wheel.sh): import
it, pass messages through a channel of each backend, and use the `shmlink`
command and `python -m shmlink` on them. Exits non-zero on the first
failure; removes its segments whatever happens.

Usage: python smoke.py SOURCE_ROOT   (to check the package is not imported
from the source tree)
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import subprocess
import sys

import shmlink


def shmlink_cmd(*args: str) -> subprocess.CompletedProcess[str]:
    """The console script installed beside this interpreter."""
    exe = pathlib.Path(sys.executable).with_name("shmlink")
    p = subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise SystemExit(f"shmlink {' '.join(args)}: exit {p.returncode}\n{p.stderr}")
    return p


def round_trip(address: str) -> str:
    messages = [b"job %d" % i for i in range(1000)] + [b"", b"x" * 30000]
    with shmlink.Writer.create(address, capacity=1 << 16) as w:
        canonical = w.address
        r = shmlink.Reader.open(canonical)
        try:
            got = []
            for m in messages:
                w.send(m, timeout=10)
                got.append(r.recv(timeout=10))
            assert got == messages, "messages changed on the way"
            # the command sees the live channel and both peers
            [entry] = [
                e
                for e in json.loads(shmlink_cmd("ls", "--json").stdout)
                if e["address"] == canonical
            ]
            assert entry["kind"] == "channel", entry
            assert entry["channel"]["writer"]["alive"] is True, entry
            assert entry["channel"]["reader"]["alive"] is True, entry
            text = shmlink_cmd("stat", canonical).stdout
            assert "kind:       channel" in text, text
        finally:
            r.close()
    return canonical


def main() -> int:
    source = pathlib.Path(sys.argv[1]).resolve()
    where = pathlib.Path(shmlink.__file__).resolve()
    assert source not in where.parents, f"imported from the source tree: {where}"
    print(
        f"smoke: shmlink {shmlink.__version__} from {where.parent} "
        f"on Python {sys.version.split()[0]}"
    )
    tag = f"shmlink-wheel-smoke-{os.getpid()}"
    made: list[str] = []
    try:
        for address in (f"posix:/{tag}", "sysv:private"):
            canonical = round_trip(address)
            made.append(canonical)
            # the writer closed: nobody holds it, so rm needs no --force
            shmlink_cmd("rm", canonical)
            made.remove(canonical)
            print(f"smoke: {address} round trip and shmlink ls/stat/rm ok")
        version = shmlink_cmd("--version").stdout
        p = subprocess.run(
            [sys.executable, "-m", "shmlink", "--version"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert p.returncode == 0, p.stderr
        assert p.stdout == version, (p.stdout, version)
        print(f"smoke: {version.strip()} (also as python -m shmlink)")
    finally:
        for address in made:
            with contextlib.suppress(FileNotFoundError):
                shmlink.remove(address)
    return 0


if __name__ == "__main__":
    sys.exit(main())
