#!/usr/bin/env bash
# The shmlink demo: a Go writer streams generated sensor frames through a
# shared-memory channel to a Python reader, which shows live progress and a
# summary. Needs python3, go and (the first time) a C compiler.
#   scripts/demo.sh                                   ~5 s at full speed
#   scripts/demo.sh -duration 10s -frame-size 65568 -rate 2000
# The first run sets up .venv with the shmlink package only (no test tools)
# and builds the writer; later runs reuse both (the package is reinstalled
# only when its sources changed) and start streaming within a few seconds.
# SHMLINK_DEMO_ADDR picks the channel (default posix:/shmlink-demo),
# SHMLINK_DEMO_VENV the virtual environment (default .venv).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
addr="${SHMLINK_DEMO_ADDR:-posix:/shmlink-demo}"
venv="${SHMLINK_DEMO_VENV:-$root/.venv}"

usage() {
    cat <<'EOF'
usage: scripts/demo.sh [-duration D] [-frame-size N] [-rate R] [-sensors N] [-wait D]

A Go writer streams sensor frames through the shared-memory channel
$SHMLINK_DEMO_ADDR (default posix:/shmlink-demo) to a Python reader, which
checks every frame and shows progress, then a summary.

  -duration D     how long to stream, a Go duration (default 5s)
  -frame-size N   bytes per frame, 32 + 4*k with k >= 1, at most 2097144
                  (default 4096)
  -rate R         frames per second, 0 = as fast as the reader takes them
                  (default 0)
  -sensors N      simulated sensors, 1..65535 (default 8)
  -wait D         how long the writer waits for the reader's channel
                  (default 30s)
  -h, --help      this text

Flags may also be written --flag or -flag=value.
EOF
}

die_usage() {
    echo "demo.sh: $1 (try scripts/demo.sh -h)" >&2
    exit 2
}

# The writer's flags, checked before anything is set up or started.
duration_re='^([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|ms|s|m|h)(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|ms|s|m|h))*$'
writer_args=()
while [ $# -gt 0 ]; do
    arg="$1"
    shift
    case "$arg" in
        -h | -help | --help) usage; exit 0 ;;
        -*) ;;
        *) die_usage "unexpected argument '$arg'" ;;
    esac
    name="${arg#-}"
    name="${name#-}"
    value=""
    have_value=0
    if [[ "$name" == *=* ]]; then
        value="${name#*=}"
        name="${name%%=*}"
        have_value=1
    fi
    case "$name" in
        duration | frame-size | rate | sensors | wait) ;;
        addr) die_usage "the channel is set by SHMLINK_DEMO_ADDR, not -addr" ;;
        *) die_usage "unknown option '$arg'" ;;
    esac
    if [ "$have_value" -eq 0 ]; then
        [ $# -gt 0 ] || die_usage "-$name needs a value"
        value="$1"
        shift
    fi
    case "$name" in
        duration | wait)
            if ! [[ "$value" =~ $duration_re ]] || ! [[ "$value" =~ [1-9] ]]; then
                die_usage "-$name must be a positive duration such as 5s, 1m30s or 250ms, not '$value'"
            fi ;;
        frame-size)
            if ! [[ "$value" =~ ^[0-9]+$ ]] || [ "${#value}" -gt 9 ] || [ "$value" -lt 36 ] \
                || [ $(((value - 32) % 4)) -ne 0 ] || [ "$value" -gt 2097144 ]; then
                die_usage "-frame-size must be 32 + 4*k (k >= 1) and at most 2097144, not '$value'"
            fi ;;
        rate)
            if ! [[ "$value" =~ ^([0-9]+(\.[0-9]*)?|\.[0-9]+)$ ]]; then
                die_usage "-rate must be a number >= 0, not '$value'"
            fi ;;
        sensors)
            if ! [[ "$value" =~ ^[0-9]+$ ]] || [ "${#value}" -gt 5 ] || [ "$value" -lt 1 ] \
                || [ "$value" -gt 65535 ]; then
                die_usage "-sensors must be 1..65535, not '$value'"
            fi ;;
    esac
    writer_args+=("-$name=$value")
done

command -v go >/dev/null 2>&1 || { echo "demo.sh: needs the Go toolchain (go)" >&2; exit 1; }
command -v python3 >/dev/null 2>&1 || { echo "demo.sh: needs python3" >&2; exit 1; }

# shellcheck source=scripts/pyenv-stamp.sh
. "$root/scripts/pyenv-stamp.sh"
setup_log="$(mktemp "${TMPDIR:-/tmp}/shmlink-demo-setup-XXXXXX")"
writer_log="$(mktemp "${TMPDIR:-/tmp}/shmlink-demo-writer-XXXXXX")"

run_logged() { # what, command...: runs it, shows its output only if it fails
    local what="$1"
    shift
    if ! "$@" >"$setup_log" 2>&1; then
        echo "demo.sh: $what failed:" >&2
        sed 's/^/  /' "$setup_log" >&2
        exit 1
    fi
}

if [[ ! -x "$venv/bin/python" ]]; then
    echo "demo: creating the Python environment ${venv#"$root"/} (once)..." >&2
    run_logged "creating $venv" python3 -m venv "$venv"
fi
stamp="$(shmlink_source_stamp)"
if [[ "$(cat "$(shmlink_stamp_file "$venv")" 2>/dev/null)" != "$stamp" ]] \
    || ! "$venv/bin/python" -c 'import shmlink' 2>/dev/null; then
    echo "demo: installing shmlink into ${venv#"$root"/} (compiles the C core, about half a minute)..." >&2
    run_logged "pip install ." "$venv/bin/python" -m pip install --quiet "$root"
    echo "$stamp" >"$(shmlink_stamp_file "$venv")"
fi
bin="$root/build/demo"
mkdir -p "$bin"
if [[ ! -x "$bin/writer" ]]; then
    echo "demo: building the Go writer (once; later runs reuse Go's build cache)..." >&2
fi
run_logged "go build ./examples/demo/writer" go build -o "$bin/writer" ./examples/demo/writer
echo "demo: streaming over $addr" >&2

writer_pid=""
reader_pid=""
writer_shown=0
show_writer() { # the writer's summary, once the reader's last line is out
    if [ "$writer_shown" -eq 0 ] && [ -s "$writer_log" ]; then
        cat "$writer_log" >&2
    fi
    writer_shown=1
}
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
    show_writer
    # The reader removes the channel when it ends; this covers the rest.
    "$venv/bin/python" -c 'import shmlink, sys
try:
    shmlink.remove(sys.argv[1])
except FileNotFoundError:
    pass' "$addr" 2>/dev/null || true
    rm -f "$setup_log" "$writer_log"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The reader creates the channel, the writer waits for it to appear. The
# writer's output waits in a file until the reader's progress line is ended.
"$venv/bin/python" examples/demo/reader.py --addr "$addr" &
reader_pid=$!
"$bin/writer" -addr "$addr" ${writer_args[@]+"${writer_args[@]}"} >"$writer_log" 2>&1 &
writer_pid=$!

writer_rc=0
wait "$writer_pid" || writer_rc=$?
writer_pid=""
if [ "$writer_rc" -ne 0 ]; then
    kill -TERM "$reader_pid" 2>/dev/null || true # no stream is coming
fi
reader_rc=0
wait "$reader_pid" || reader_rc=$?
reader_pid=""
show_writer
if [ "$writer_rc" -ne 0 ] || [ "$reader_rc" -ne 0 ]; then
    echo "demo: FAILED (writer exit $writer_rc, reader exit $reader_rc)" >&2
    exit 1
fi
echo "demo: done" >&2
