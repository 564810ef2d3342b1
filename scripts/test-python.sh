#!/usr/bin/env bash
# Python binding: build and install it into .venv (scripts/venv.sh), lint it
# with ruff, type-check it with mypy, run the pytest suite in tests/python.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

venv="$(scripts/venv.sh | tail -n1)"
lint=(bindings/python tests/python tests/pytest_shmlink.py setup.py)
"$venv/bin/ruff" check "${lint[@]}"
"$venv/bin/ruff" format --check --quiet "${lint[@]}"
# The shipped type hints (py.typed) must hold up under a strict checker.
"$venv/bin/mypy" --strict --no-error-summary bindings/python/shmlink
# Run from tests/python so the installed package (with its compiled module) is
# imported, never a copy found through the working directory.
cd "$root/tests/python"
"$venv/bin/python" -m pytest -c "$root/pyproject.toml" --rootdir "$root" "$root/tests/python" "$@"
