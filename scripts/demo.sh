#!/usr/bin/env bash
# The shmlink demo: a Go writer streams generated sensor frames through a
# shared-memory channel to a Python reader, which shows live progress and a
# summary. On a fresh machine it sets up .venv (scripts/venv.sh) and builds
# the writer; needs python3 and go.
#   scripts/demo.sh                                   ~5 s at full speed
#   scripts/demo.sh -duration 10s -frame-size 65568 -rate 2000
# Arguments go to the writer (-duration, -frame-size, -rate, -sensors).
# SHMLINK_DEMO_ADDR picks the channel (default posix:/shmlink-demo).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
addr="${SHMLINK_DEMO_ADDR:-posix:/shmlink-demo}"

command -v go >/dev/null 2>&1 || { echo "demo.sh: needs the Go toolchain (go)" >&2; exit 1; }
echo "demo: setting up the Python environment (.venv) and building the Go writer..." >&2
venv="$(scripts/venv.sh | tail -n1)"
bin="$root/build/demo"
mkdir -p "$bin"
go build -o "$bin/writer" ./examples/demo/writer

writer_pid=""
reader_pid=""
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    # Stop the writer first: it closes the stream, so the reader still
    # prints its summary; then give the reader a moment before stopping it.
    if [ -n "$writer_pid" ]; then
        kill -TERM "$writer_pid" 2>/dev/null || true
        wait "$writer_pid" 2>/dev/null || true
    fi
    if [ -n "$reader_pid" ]; then
        for _ in $(seq 50); do
            kill -0 "$reader_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -TERM "$reader_pid" 2>/dev/null || true
        wait "$reader_pid" 2>/dev/null || true
    fi
    # The reader removes the channel when it ends; this covers the rest.
    "$venv/bin/python" -c 'import shmlink, sys
try:
    shmlink.remove(sys.argv[1])
except FileNotFoundError:
    pass' "$addr" || true
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The reader creates the channel, the writer waits for it to appear.
"$venv/bin/python" examples/demo/reader.py --addr "$addr" &
reader_pid=$!
"$bin/writer" -addr "$addr" "$@" &
writer_pid=$!

writer_rc=0
wait "$writer_pid" || writer_rc=$?
writer_pid=""
reader_rc=0
wait "$reader_pid" || reader_rc=$?
reader_pid=""
if [ "$writer_rc" -ne 0 ] || [ "$reader_rc" -ne 0 ]; then
    echo "demo: FAILED (writer exit $writer_rc, reader exit $reader_rc)" >&2
    exit 1
fi
echo "demo: done" >&2
