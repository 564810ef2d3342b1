"""The snippets of README.md's Python section run, twice in a row, and clean
up after themselves (no FileExistsError the second time, nothing left
behind). Snippets elsewhere (e.g. a forwarder to another host) are not
meant to run on their own."""

from __future__ import annotations

import pathlib
import re

import pytest

from conftest import run_python
from pytest_shmlink import Names, exists

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"
# The addresses a snippet names, as string literals.
ADDRESS = re.compile(r"""(["'])((?:posix:/|sysv:0x)[^"']+)\1""")


def snippets() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = re.search(r"^## Python\n(.*?)(?=^## )", text, flags=re.S | re.M)
    assert section, "README.md has no '## Python' section"
    return re.findall(r"^```python\n(.*?)^```", section.group(1), flags=re.S | re.M)


def test_readme_has_python_snippets():
    assert len(snippets()) >= 2


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(snippets())))
def test_readme_snippet_runs_twice(index: int, names: Names):
    code = snippets()[index]
    # The snippet's own addresses become this run's unique ones (of the same
    # backend), so parallel runs and segments on the machine do not collide.
    mapping: dict[str, str] = {}
    for _, address in ADDRESS.findall(code):
        if address not in mapping:
            mapping[address] = names.new("posix" if address.startswith("posix") else "sysv")
    code = ADDRESS.sub(lambda m: m.group(1) + mapping[m.group(2)] + m.group(1), code)
    for run in (1, 2):
        proc = run_python(code, timeout=60)
        left = [a for a in mapping.values() if exists(a)]
        assert not left, f"run {run} left {left} behind:\n{proc.stdout}{proc.stderr}"
