#!/usr/bin/env bash
# Runs the cross-language suite (Go <-> Python as separate processes, both
# backends): sets up .venv with scripts/venv.sh, then pytest tests/cross,
# which builds the Go programs once with `go build`.
#   scripts/test-cross.sh                       default run (a million messages per big stream)
#   SHMLINK_CROSS_MESSAGES=10000000 scripts/test-cross.sh    scale the big streams up
# Extra arguments go to pytest (e.g. -k killed -x).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v go >/dev/null 2>&1; then
    echo "test-cross.sh: the Go toolchain (go) is needed to build the Go side of the suite" >&2
    exit 1
fi
venv="$(scripts/venv.sh | tail -n1)"
exec "$venv/bin/python" -m pytest tests/cross -p no:cacheprovider "$@"
