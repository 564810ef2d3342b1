#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz (clang, ASan + UBSan) in
# build-fuzz/ and runs each for a bounded time on a copy of its seed corpus
# (tests/fuzz/corpus/<target>/), so that nothing is written into the tree.
#   scripts/test-fuzz.sh              every target, FUZZ_SECONDS each (30)
#   scripts/test-fuzz.sh TARGET...    only these targets
#   scripts/test-fuzz.sh --coverage   as above (FUZZ_SECONDS default 60),
#       then a coverage build (build-fuzz-cov/) replays each target's seeds
#       and what the run added, and llvm-cov reports core/src/channel.c
# A crash, a sanitizer report, a leak, a timeout of one input (-timeout=10:
# a hang) or a segment / semaphore set left behind fails the run; inputs
# that failed are kept in build-fuzz/artifacts/. Needs clang with its
# libFuzzer runtime; installs it with apt-get when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

targets_all=(fuzz_address fuzz_channel fuzz_open fuzz_script fuzz_slots)
coverage=0
targets=()
for arg in "$@"; do
    case "$arg" in
        --coverage) coverage=1 ;;
        -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
        fuzz_address|fuzz_channel|fuzz_open|fuzz_script|fuzz_slots) targets+=("$arg") ;;
        *) echo "test-fuzz.sh: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
    esac
done
if [ ${#targets[@]} -eq 0 ]; then
    targets=("${targets_all[@]}")
fi
if [ "$coverage" = 1 ]; then
    seconds="${FUZZ_SECONDS:-60}"
else
    seconds="${FUZZ_SECONDS:-30}"
fi

# Longest input worth trying, per target (see each target's input layout).
max_len() {
    case "$1" in
        fuzz_address) echo 300 ;;
        fuzz_channel) echo 5000 ;;
        fuzz_open) echo 9000 ;;
        fuzz_script) echo 3000 ;;
        fuzz_slots) echo 4000 ;;
    esac
}

# ---------------------------------------------------------------------------
# Toolchain: clang and its libFuzzer / sanitizer runtime
# ---------------------------------------------------------------------------
find_clang() {
    if command -v clang >/dev/null 2>&1; then
        command -v clang
        return
    fi
    local v
    for v in 19 18 17 16 15 14 13; do
        if command -v "clang-$v" >/dev/null 2>&1; then
            command -v "clang-$v"
            return
        fi
    done
}

fuzzer_links() {
    local probe
    probe="$(mktemp -d)"
    printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
        'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }' \
        >"$probe/probe.c"
    local ok=0
    "$1" -fsanitize=fuzzer,address,undefined "$probe/probe.c" -o "$probe/probe" \
        >/dev/null 2>&1 || ok=1
    rm -rf "$probe"
    return "$ok"
}

apt_install() {
    if ! command -v apt-get >/dev/null 2>&1 || [ "$(id -u)" != 0 ]; then
        echo "test-fuzz.sh: please install: $*" >&2
        exit 1
    fi
    echo "test-fuzz.sh: installing $*"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null
}

cc="$(find_clang)"
if [ -z "$cc" ]; then
    apt_install clang
    cc="$(find_clang)"
fi
cc_major="$("$cc" --version | sed -n 's/.*clang version \([0-9]*\).*/\1/p' | head -n 1)"
if ! fuzzer_links "$cc"; then
    # Debian 12 ships the runtime in libclang-rt-N-dev, older releases in
    # libclang-common-N-dev (a dependency of clang-N there).
    apt_install "libclang-rt-$cc_major-dev"
    fuzzer_links "$cc" || { echo "test-fuzz.sh: $cc cannot link -fsanitize=fuzzer" >&2; exit 1; }
fi

# ---------------------------------------------------------------------------
# Cleanup of what a crashed run left (a run that ends normally removes every
# segment and set itself): POSIX names carry the process id, System V
# segments are found by creator pid, semaphore sets by the pid that last
# set one of their semaphores.
# ---------------------------------------------------------------------------
leftovers() { # pid -> prints what is left, one item a line
    local pid="$1" id
    local f
    for f in /dev/shm/shmlink-fuzz-*; do
        [ -e "$f" ] || continue
        case "$f" in
            */shmlink-fuzz-"$pid" | */shmlink-fuzz-*-"$pid"-*) echo "posix ${f#/dev/shm}" ;;
        esac
    done
    ipcs -m -p 2>/dev/null | awk -v p="$pid" '$1 ~ /^[0-9]+$/ && $3 == p { print "shm " $1 }'
    for id in $(ipcs -s 2>/dev/null | awk '$2 ~ /^[0-9]+$/ { print $2 }'); do
        if ipcs -s -i "$id" 2>/dev/null |
            awk -v p="$pid" '$1 ~ /^[0-9]+$/ && NF == 5 && $5 == p { found = 1 } END { exit !found }'; then
            echo "sem $id"
        fi
    done
}

remove_leftovers() { # pid
    local kind what
    leftovers "$1" | while read -r kind what; do
        case "$kind" in
            posix) rm -f "/dev/shm$what" ;;
            shm) ipcrm -m "$what" 2>/dev/null || true ;;
            sem) ipcrm -s "$what" 2>/dev/null || true ;;
        esac
    done
}

# ---------------------------------------------------------------------------
# Build and run
# ---------------------------------------------------------------------------
build() { # dir, extra cmake arguments...
    local dir="$1"
    shift
    cmake -S . -B "$dir" -DCMAKE_C_COMPILER="$cc" -DSHMLINK_FUZZ=ON \
        -DBUILD_TESTING=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
    cmake --build "$dir" -j2 --target "${targets[@]}" >"$dir/build.log" 2>&1 || {
        cat "$dir/build.log" >&2
        exit 1
    }
}

work="$(mktemp -d "${TMPDIR:-/tmp}/shmlink-fuzz.XXXXXX")"
trap 'rm -rf "$work"' EXIT

build build-fuzz
mkdir -p build-fuzz/artifacts
# LeakSanitizer runs at the end of each target; it needs ptrace, which some
# containers forbid: there set ASAN_OPTIONS=detect_leaks=0.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

passed=0
failed=0
for t in "${targets[@]}"; do
    mkdir -p "$work/$t"
    cp tests/fuzz/corpus/"$t"/* "$work/$t/"
    log="$work/$t.log"
    echo "fuzz: $t for ${seconds}s (max_len $(max_len "$t"))"
    rc=0
    build-fuzz/tests/fuzz/"$t" -max_total_time="$seconds" -timeout=10 \
        -max_len="$(max_len "$t")" -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="build-fuzz/artifacts/$t-" "$work/$t" >"$log" 2>&1 &
    pid=$!
    wait "$pid" || rc=$?
    left="$(leftovers "$pid")"
    if [ -n "$left" ]; then
        remove_leftovers "$pid"
    fi
    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
    cov="$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 || true)"
    if [ "$rc" = 0 ] && [ -z "$left" ]; then
        passed=$((passed + 1))
        echo "fuzz: $t passed (${runs:-?} inputs, ${cov:-cov: ?} edges, corpus $(find "$work/$t" -type f | wc -l) files)"
    else
        failed=$((failed + 1))
        echo "fuzz: $t FAILED (exit $rc)"
        tail -n 60 "$log"
        if [ -n "$left" ]; then
            echo "fuzz: $t left behind (removed now):"
            echo "$left"
        fi
        ls build-fuzz/artifacts/"$t"-* 2>/dev/null || true
    fi
done

if [ "$coverage" = 1 ]; then
    build build-fuzz-cov -DSHMLINK_FUZZ_COVERAGE=ON
    profdata="llvm-profdata-$cc_major"
    llvmcov="llvm-cov-$cc_major"
    command -v "$profdata" >/dev/null 2>&1 || profdata=llvm-profdata
    command -v "$llvmcov" >/dev/null 2>&1 || llvmcov=llvm-cov
    if ! command -v "$profdata" >/dev/null 2>&1 || ! command -v "$llvmcov" >/dev/null 2>&1; then
        apt_install "llvm-$cc_major"
        profdata="llvm-profdata-$cc_major"
        llvmcov="llvm-cov-$cc_major"
    fi
    rm -f build-fuzz-cov/*.profraw
    objects=()
    for t in "${targets[@]}"; do
        # Replay only: -runs=0 executes the corpus and fuzzes nothing. %m:
        # the counts of fuzz_script's forked children merge into the file.
        LLVM_PROFILE_FILE="$PWD/build-fuzz-cov/$t-%m.profraw" \
            build-fuzz-cov/tests/fuzz/"$t" -runs=0 -timeout=10 \
            -max_len="$(max_len "$t")" "$work/$t" >"$work/$t.cov.log" 2>&1 || {
            echo "fuzz: coverage replay of $t failed"
            tail -n 30 "$work/$t.cov.log"
            failed=$((failed + 1))
        }
        objects+=(-object "build-fuzz-cov/tests/fuzz/$t")
    done
    "$profdata" merge -sparse build-fuzz-cov/*.profraw -o build-fuzz-cov/fuzz.profdata
    # The first binary is the positional one, the others follow -object.
    "$llvmcov" report "${objects[@]:1}" -instr-profile=build-fuzz-cov/fuzz.profdata \
        core/src/channel.c
    "$llvmcov" show "${objects[@]:1}" -instr-profile=build-fuzz-cov/fuzz.profdata \
        -show-branches=count -show-line-counts-or-regions core/src/channel.c \
        >build-fuzz-cov/channel.c.txt
    echo "fuzz: annotated source: build-fuzz-cov/channel.c.txt"
fi

echo "fuzz: $passed passed, $failed failed"
[ "$failed" = 0 ]
