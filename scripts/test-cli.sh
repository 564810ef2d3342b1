#!/usr/bin/env bash
# Command-line tool: builds `shmlink` and its test fixture with CMake in build/
# (configured exactly as scripts/test-c.sh does, so the two share the tree),
# lints tests/cli with ruff and runs them with pytest from the project venv
# (scripts/venv.sh installs pytest and ruff). Extra arguments go to pytest.
# The permission tests run the tool as user nobody and are skipped unless run
# as root.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

cmake -S . -B build -DSHMLINK_SANITIZE= -DSHMLINK_WERROR=ON >/dev/null
cmake --build build -j2 --target shmlink_cli shmlink_cli_fixture

venv="$(scripts/venv.sh | tail -n1)"
"$venv/bin/ruff" check --config 'include = ["tests/cli/*.py"]' \
    --config 'lint.per-file-ignores = { "tests/cli/*" = ["ANN"] }' tests/cli

export SHMLINK_CLI="$root/build/cli/shmlink"
export SHMLINK_CLI_FIXTURE="$root/build/cli/shmlink_cli_fixture"
"$venv/bin/python" -m pytest -c "$root/pyproject.toml" --rootdir "$root" \
    -p no:cacheprovider "$root/tests/cli" "$@"
