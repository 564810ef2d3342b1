#!/usr/bin/env bash
# Python binding: build and install it into .venv (scripts/venv.sh), lint it
# with ruff, run the pytest suite in tests/python.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

venv="$(scripts/venv.sh | tail -n1)"
"$venv/bin/ruff" check bindings/python tests/python setup.py
# Run from tests/python so the installed package (with its compiled module) is
# imported, never a copy found through the working directory.
cd "$root/tests/python"
"$venv/bin/python" -m pytest -c "$root/pyproject.toml" --rootdir "$root" "$root/tests/python" "$@"
