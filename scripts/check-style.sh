#!/usr/bin/env bash
# Style checks that CI enforces: every C source follows .clang-format
# (clang-format --dry-run -Werror; the generated Go amalgamation and the
# cffi declarations in _cdef.h, which are not plain C, excepted)
# and every shell script passes shellcheck. Installs both tools from
# Debian's packages when they are missing (as root).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v clang-format >/dev/null || missing+=(clang-format)
command -v shellcheck >/dev/null || missing+=(shellcheck)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "check-style.sh: please install: ${missing[*]}" >&2
        exit 2
    fi
    apt-get update -qq >/dev/null
    apt-get install -y -qq "${missing[@]}" >/dev/null
fi

mapfile -t c_files < <(git ls-files '*.c' '*.h' | grep -v '^bindings/go/shmlink_amalgamation.c$' | grep -v '^bindings/go/shmlink.h$' | grep -v '^bindings/python/shmlink/_cdef.h$')
clang-format --dry-run -Werror "${c_files[@]}"
echo "style: clang-format: ${#c_files[@]} C files formatted"

mapfile -t sh_files < <(git ls-files '*.sh' '.ci/run')
shellcheck "${sh_files[@]}"
echo "style: shellcheck: ${#sh_files[@]} scripts clean"
