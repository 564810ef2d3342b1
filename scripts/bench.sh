#!/usr/bin/env bash
# The one benchmark command: shmlink beside its peers, one table, one chart.
#   scripts/bench.sh            quick smoke run (~2 min), results in bench/results/quick.*
#   scripts/bench.sh --full     the published figures (bench/results/full.*; ~15 min)
# --full also runs the call benchmark (bench/calls/run.py --full;
# bench/results/calls-full.*).
# --full also measures typed frames, Go -> Python, 64 B against 4 MiB
# (bench/frames.py; bench/results/frames-full.{md,json}).
# Both then run the fan-out table, 1 writer -> 4 readers (bench/fanout.py:
# bench/results/fanout-quick.* or fanout-full.*; ~1 min quick, ~10 min full).
# Extra arguments go to bench/run.py (see `bench/run.py --help`) and skip the
# fan-out table, e.g.
#   scripts/bench.sh --quick --sizes 64 --only shmlink_gopy,mpqueue
# The fan-out table alone, arguments to bench/fanout.py:
#   scripts/bench.sh fanout --full --only shmlink_gopy,fasterfifo
# Sets up .venv (scripts/venv.sh), installs the peers (bench/requirements.txt),
# builds the Go program and the C benchmark into build-bench/ (Release), and
# with cargo the native anchor (bench/native, iceoryx2) into build-bench/native.
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

# The native anchor: iceoryx2's Rust crate (bench/native, Cargo.lock pins
# the version) beside shmlink C→C; run by bench/native/anchor.py after the
# main table.
native=""
if ! command -v cargo >/dev/null 2>&1; then
    echo "bench: cargo not found; the native anchor (iceoryx2, Rust) is skipped" >&2
elif ! CARGO_TARGET_DIR="$out/native" cargo build --release --locked \
        --manifest-path bench/native/Cargo.toml >"$out/native-build.log" 2>&1; then
    echo "bench: the native anchor (bench/native) did not build; it is skipped" \
        "(see $out/native-build.log)" >&2
else
    native="$out/native/release/shmlink-native-bench"
fi

fan=0
if [[ "${1:-}" == fanout ]]; then
    fan=1
    shift
fi
mode=(--quick)
anchor_mode=--quick
full=0
only_mode=1
for a in "$@"; do
    case "$a" in
        --quick) mode=() ;;
        --full) mode=(); anchor_mode=--full; full=1 ;;
        *) only_mode=0 ;;
    esac
done
if ((fan)); then
    exec "$venv/bin/python" bench/fanout.py "${mode[@]}" --go-bin "$out/shmlink-bench-go" \
        --c-build "$out/cmake" "$@"
fi
rc=0
"$venv/bin/python" bench/run.py "${mode[@]}" --go-bin "$out/shmlink-bench-go" \
    --c-build "$out/cmake" "$@" || rc=$?
if [ -n "$native" ] && ((only_mode)); then
    "$venv/bin/python" bench/native/anchor.py "$anchor_mode" \
        --c-bin "$out/cmake/bench/bench_channel" --rust-bin "$native" || rc=$?
fi
# The fan-out table (1 writer -> 4 readers) follows in the same mode, unless
# the arguments chose cells of bench/run.py.
if ((only_mode)); then
    "$venv/bin/python" bench/fanout.py "${mode[@]}" "$@" --go-bin "$out/shmlink-bench-go" \
        --c-build "$out/cmake" || rc=$?
fi
if [[ "$full" == 1 ]]; then
    go build -o "$out/goframes" ./tests/cross/goframes
    "$venv/bin/python" bench/frames.py --reps 5 --go-bin "$out/goframes" \
        --out bench/results/frames-full || rc=$?
    # Calls (Go client -> Python server): bench/results/calls-full.*
    "$venv/bin/python" bench/calls/run.py --full --go-bin "$out/callbench-go" || rc=$?
fi
exit "$rc"
