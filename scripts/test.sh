#!/usr/bin/env bash
# Builds everything from a fresh clone and runs every test: C, the
# command-line tool, Python, the wheel (built, repaired, installed without a
# compiler), Go, the demo and the cross-language suite. Each part installs what it
# needs itself (CMake build tree in build/, a virtual environment in .venv/,
# Go modules).
#
#   scripts/test.sh --quick   a fast local loop (well under a minute once
#                             built): the C tests, the Python tests not
#                             marked slow, and `go test -short`. CI and the
#                             README run the full suites.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--quick" ]; then
    scripts/test-c.sh
    scripts/test-python.sh -q -m "not slow"
    go test -short -count=1 ./bindings/go
    echo "shmlink: quick tests passed (run scripts/test.sh for every suite)"
    exit 0
elif [ $# -gt 0 ]; then
    echo "test.sh: unknown argument '$1' (only --quick)" >&2
    exit 2
fi

scripts/test-c.sh
scripts/test-cli.sh
scripts/test-python.sh
scripts/test-wheel.sh
scripts/test-go.sh
scripts/test-demo.sh
scripts/test-cross.sh
echo "shmlink: all test suites passed"
