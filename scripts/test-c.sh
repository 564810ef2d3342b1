#!/usr/bin/env bash
# Configures, builds (-j2) and runs the C tests with CTest.
#   scripts/test-c.sh                      build/       plain build
#   scripts/test-c.sh --sanitize=address   build-asan/  ASan + UBSan
#   scripts/test-c.sh --sanitize=thread    build-tsan/  TSan
# Extra arguments after -- go to ctest (e.g. -- -R test_address).
set -euo pipefail
cd "$(dirname "$0")/.."

sanitize=""
ctest_args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --sanitize=*) sanitize="${1#--sanitize=}" ;;
        --) shift; ctest_args=("$@"); break ;;
        -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
        *) echo "test-c.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
    esac
    shift
done

case "$sanitize" in
    "") dir=build ;;
    address) dir=build-asan ;;
    thread) dir=build-tsan ;;
    *) echo "test-c.sh: --sanitize must be address or thread, not '$sanitize'" >&2; exit 2 ;;
esac

if [ "$sanitize" = address ]; then
    # Leaks are reported too; where LeakSanitizer cannot run (it needs
    # ptrace, which some containers forbid) set ASAN_OPTIONS=detect_leaks=0.
    export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
    export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
fi
if [ "$sanitize" = thread ]; then
    export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}"
fi

cmake -S . -B "$dir" -DSHMLINK_SANITIZE="$sanitize" -DSHMLINK_WERROR=ON >/dev/null
cmake --build "$dir" -j2
cd "$dir"
ctest --output-on-failure -j2 ${ctest_args[@]+"${ctest_args[@]}"}
