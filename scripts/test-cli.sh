#!/usr/bin/env bash
# Command-line tool (the `shmlink` command of the Python package, also
# `python -m shmlink`): installs the package into .venv (scripts/venv.sh),
# lints tests/cli with ruff and runs them with pytest against the installed
# command. Extra arguments go to pytest. The permission tests run the tool as
# user nobody (with a copy of the installed package and the system's Python
# of the same version) and are skipped unless run as root.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

venv="$(scripts/venv.sh | tail -n1)"
"$venv/bin/ruff" check --config 'include = ["tests/cli/*.py"]' \
    --config 'lint.per-file-ignores = { "tests/cli/*" = ["ANN"] }' tests/cli

# Run from tests/cli so the installed package is imported, never the tree's.
cd "$root/tests/cli"
"$venv/bin/python" -m pytest -c "$root/pyproject.toml" --rootdir "$root" \
    -p no:cacheprovider "$root/tests/cli" "$@"
