#!/usr/bin/env bash
# Builds everything from a fresh clone and runs every test: C, the
# command-line tool, Python, the wheel (built, repaired, installed without a
# compiler), Go, the demo and the cross-language suite. Each part installs what it
# needs itself (CMake build tree in build/, a virtual environment in .venv/,
# Go modules).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/test-c.sh
scripts/test-cli.sh
scripts/test-python.sh
scripts/test-wheel.sh
scripts/test-go.sh
scripts/test-demo.sh
scripts/test-cross.sh
echo "shmlink: all test suites passed"
