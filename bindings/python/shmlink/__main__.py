"""``python -m shmlink``: the shmlink command-line tool (see shmlink.cli)."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
