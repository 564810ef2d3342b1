#!/usr/bin/env bash
# The one benchmark command: shmlink beside its peers, one table, one chart.
#   scripts/bench.sh            quick smoke run (~2 min), results in bench/results/quick.*
#   scripts/bench.sh --full     the published figures (bench/results/full.*; ~15 min),
#                               then the call benchmark (bench/calls/run.py --full;
#                               bench/results/calls-full.*)
# Extra arguments go to bench/run.py (see `bench/run.py --help`), e.g.
#   scripts/bench.sh --quick --sizes 64 --only shmlink_gopy,mpqueue
# Sets up .venv (scripts/venv.sh), installs the peers (bench/requirements.txt),
# builds the Go program and the C benchmark into build-bench/ (Release).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
out="$root/build-bench"
mkdir -p "$out"

venv="$(scripts/venv.sh | tail -n1)"
"$venv/bin/python" -m pip install --quiet -r bench/requirements.txt
if ! "$venv/bin/python" -m pip install --quiet -r bench/requirements-optional.txt \
        >"$out/optional-install.log" 2>&1; then
    echo "bench: optional peers not installed (see $out/optional-install.log)" >&2
fi

# Go side of the Go→Python rows.
if ! go build -o "$out/shmlink-bench-go" ./bench/go 2>"$out/go-build.log"; then
    echo "bench: Go benchmark program did not build (Go rows will be n/a):" >&2
    sed 's/^/  /' "$out/go-build.log" >&2
    rm -f "$out/shmlink-bench-go"
fi

# C→C rows come from the channel benchmark in bench/c (CMake target).
if ! { cmake -S . -B "$out/cmake" -DCMAKE_BUILD_TYPE=Release >"$out/cmake.log" 2>&1 &&
       cmake --build "$out/cmake" -j2 >>"$out/cmake.log" 2>&1; }; then
    echo "bench: C benchmark did not build (C rows will be n/a); see $out/cmake.log" >&2
fi

mode=(--quick)
full=0
for a in "$@"; do
    case "$a" in --quick|--full) mode=() ;; esac
    case "$a" in --full) full=1 ;; esac
done
status=0
"$venv/bin/python" bench/run.py "${mode[@]}" --go-bin "$out/shmlink-bench-go" \
    --c-build "$out/cmake" "$@" || status=$?
# Calls (Go client -> Python server), full mode only: bench/results/calls-full.*
if ((full)); then "$venv/bin/python" bench/calls/run.py --full --go-bin "$out/callbench-go" || status=$?; fi
exit "$status"
