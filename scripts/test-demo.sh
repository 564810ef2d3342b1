#!/usr/bin/env bash
# The demo (scripts/demo.sh): help and bad flags answer at once, a first run
# in a fresh environment installs only the package, a second run streams
# within 5 s, and the output stays in order on a terminal. Runs pytest
# tests/demo from the project venv (scripts/venv.sh); needs Go.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if ! command -v go >/dev/null 2>&1; then
    echo "test-demo.sh: the Go toolchain (go) is needed for the demo's writer" >&2
    exit 1
fi
venv="$(scripts/venv.sh | tail -n1)"
"$venv/bin/ruff" check --quiet --config 'include = ["tests/demo/*.py"]' \
    --config 'lint.per-file-ignores = { "tests/demo/*" = ["ANN"] }' tests/demo
cd "$root/tests/demo"
exec "$venv/bin/python" -m pytest -c "$root/pyproject.toml" --rootdir "$root" \
    -p no:cacheprovider "$root/tests/demo" "$@"
