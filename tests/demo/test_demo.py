"""scripts/demo.sh as a user meets it: help and bad flags answer at once,
the first run sets up only what the demo needs, the second starts streaming
within 5 s, and on a terminal the reader's progress line is ended before the
writer's summary is printed."""

from __future__ import annotations

import contextlib
import os
import pathlib
import pty
import re
import select
import shutil
import subprocess
import time

import pytest

import shmlink

ROOT = pathlib.Path(__file__).resolve().parents[2]
DEMO = str(ROOT / "scripts" / "demo.sh")


def env_for(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHMLINK_DEMO")}
    env.update(extra)
    return env


def test_help_answers_at_once():
    t0 = time.monotonic()
    p = subprocess.run([DEMO, "-h"], capture_output=True, text=True, timeout=30,
                       env=env_for())
    assert time.monotonic() - t0 < 2
    assert p.returncode == 0
    assert p.stdout.startswith("usage: scripts/demo.sh")
    for flag in ("-duration", "-frame-size", "-rate", "-sensors"):
        assert flag in p.stdout
    assert p.stderr == ""  # nothing was set up or started
    assert subprocess.run([DEMO, "--help"], capture_output=True, text=True,
                          timeout=30).stdout == p.stdout


@pytest.mark.parametrize(
    ("args", "word"),
    [
        (["-frob"], "'-frob'"),
        (["--frob=1"], "'--frob=1'"),
        (["extra"], "'extra'"),
        (["-frame-size", "33"], "-frame-size"),
        (["-frame-size=3000000"], "-frame-size"),
        (["-duration", "abc"], "-duration"),
        (["-duration", "0s"], "-duration"),
        (["--rate=-1"], "-rate"),
        (["-sensors", "0"], "-sensors"),
        (["-sensors"], "-sensors needs a value"),
        (["-addr", "posix:/x"], "SHMLINK_DEMO_ADDR"),
        (["-duration", "1s", "-frob"], "'-frob'"),
    ],
)
def test_bad_flags_answer_at_once(args, word):
    t0 = time.monotonic()
    p = subprocess.run([DEMO, *args], capture_output=True, text=True, timeout=30,
                       env=env_for())
    assert time.monotonic() - t0 < 2
    assert p.returncode == 2
    assert p.stdout == ""
    assert p.stderr.startswith("demo.sh: ")
    assert word in p.stderr
    assert "try scripts/demo.sh -h" in p.stderr
    assert p.stderr.count("\n") == 1  # nothing was set up or started


def run_on_terminal(args: list[str], env: dict[str, str], timeout: float = 180):
    """Runs the demo on a pty; returns (exit status, output bytes, seconds
    from start to the first progress line, or None)."""
    leader, follower = pty.openpty()
    t0 = time.monotonic()
    p = subprocess.Popen([DEMO, *args], stdin=subprocess.DEVNULL, stdout=follower,
                         stderr=follower, env=env, start_new_session=True)
    os.close(follower)
    out = b""
    first_progress = None
    try:
        while time.monotonic() - t0 < timeout:
            ready, _, _ = select.select([leader], [], [], 0.5)
            if not ready:
                if p.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: every writer of the pty is gone
                break
            if not chunk:
                break
            out += chunk
            if first_progress is None and re.search(rb"\r +[\d,]+ frames", out):
                first_progress = time.monotonic() - t0
        rc = p.wait(timeout=30)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, 9)
            p.wait()
        os.close(leader)
    return rc, out, first_progress


@pytest.fixture
def demo_env(tmp_path):
    if shutil.which("go") is None:
        pytest.skip("the demo needs the Go toolchain")
    address = f"posix:/shmlink-test-demo-{os.getpid()}"
    env = env_for(SHMLINK_DEMO_ADDR=address, SHMLINK_DEMO_VENV=str(tmp_path / "venv"))
    try:
        yield env
    finally:
        with contextlib.suppress(FileNotFoundError):
            shmlink.remove(address)


def test_first_run_sets_up_the_demo_only_then_streams_at_once(demo_env, tmp_path):
    venv = tmp_path / "venv"
    # First run: a fresh environment, with the steps said as they happen.
    rc, out, _ = run_on_terminal(["-duration", "1s"], demo_env)
    text = out.decode(errors="replace")
    assert rc == 0, text
    assert "demo: creating the Python environment" in text
    assert "demo: installing shmlink" in text
    # only the package and what it needs: no test tools
    p = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "list",
                        "--format=freeze"], capture_output=True, text=True, check=True)
    installed = {line.split("==")[0].lower() for line in p.stdout.split()}
    assert "shmlink" in installed
    for tool in ("pytest", "mypy", "ruff", "numpy"):
        assert tool not in installed, installed

    # Second run: nothing to set up, streaming within 5 s.
    rc, out, first = run_on_terminal(["-duration", "2s", "-rate", "2000"], demo_env)
    text = out.decode(errors="replace")
    assert rc == 0, text
    assert "demo: installing" not in text
    assert "demo: creating" not in text
    assert first is not None, text
    assert first < 5, f"first progress after {first:.1f} s"

    # The writer's summary starts on a line of its own, after the reader's
    # summary: the progress line (\r, no newline) was ended first.
    lines = text.replace("\r\n", "\n").split("\n")
    writer = [i for i, ln in enumerate(lines) if "writer: sent" in ln]
    summary = [i for i, ln in enumerate(lines) if "summary:" in ln]
    assert len(writer) == 1, text
    assert len(summary) == 1, text
    assert lines[writer[0]].startswith("writer: sent"), repr(lines[writer[0]])
    assert lines[summary[0]].startswith("summary:"), repr(lines[summary[0]])
    assert summary[0] < writer[0]
    assert "frames all intact; end: eof" in lines[summary[0]]
