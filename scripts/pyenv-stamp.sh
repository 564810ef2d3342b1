# shellcheck shell=bash
# Sourced by scripts/venv.sh and scripts/demo.sh: a fingerprint of every
# source file the Python package is built from, stored in the venv after an
# install, so the demo reinstalls only when one of them changed.

# Prints the fingerprint of the package sources (run from the repository root).
shmlink_source_stamp() {
    find core/include core/src bindings/python -type f \
            \( -name '*.c' -o -name '*.h' -o -name '*.py' -o -name '*.pyi' \) -print0 \
        | LC_ALL=C sort -z | xargs -0 cat setup.py pyproject.toml | sha256sum | cut -d' ' -f1
}

# The stamp file of a venv.
shmlink_stamp_file() {
    echo "$1/.shmlink-source-stamp"
}
