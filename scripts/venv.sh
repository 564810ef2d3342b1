#!/usr/bin/env bash
# Creates the Python virtual environment .venv at the repository root if it is
# missing and (re)installs shmlink with its test extra into it, rebuilding the
# cffi module from the current core/src every time. Prints the venv path.
# Usage: scripts/venv.sh            (or: VENV=$(scripts/venv.sh | tail -n1))
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
python="${PYTHON:-python3}"
# shellcheck source=scripts/pyenv-stamp.sh
. "$root/scripts/pyenv-stamp.sh"

if [[ ! -x "$venv/bin/python" ]]; then
    "$python" -m venv "$venv" >&2
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip >&2
# A local directory is rebuilt on every install, and setup.py forces the C
# core to be recompiled, so the installed module always matches core/src.
"$venv/bin/python" -m pip install --quiet "${root}[test]" >&2
# What was installed (scripts/demo.sh then needs no reinstall).
(cd "$root" && shmlink_source_stamp) >"$(shmlink_stamp_file "$venv")"
echo "$venv"
