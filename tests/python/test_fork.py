"""A Reader or Writer belongs to the process that opened it. In a child made
by fork() every call raises ChildProcessError, and closing it (by close(),
the end of a `with` block, or the garbage collector at interpreter
shutdown) only unmaps: the parent keeps its role, gets no end of stream and
no message twice. Both backends, children that exit normally."""

from __future__ import annotations

import json
import textwrap

import pytest

from conftest import run_python

# The parent makes a channel, sends "one", forks; the child does CHILD and
# exits normally (sys.exit: interpreter shutdown collects whatever it still
# holds); the parent then checks its channel and prints a JSON report.
SCRIPT = """
import gc, json, os, sys, shmlink
addr = sys.argv[1]
w = shmlink.Writer.create(addr, capacity=4096)
r = shmlink.Reader.open(addr)
w.send(b"one")
pid = os.fork()
if pid == 0:
    errors = []
{child}
    sys.stderr.write(json.dumps(errors) + "\\n")
    sys.exit(0)
_, status = os.waitpid(pid, 0)
report = {{"child_status": os.waitstatus_to_exitcode(status)}}
w.send(b"two")
got = []
while True:
    try:
        got.append(r.recv(timeout=0).decode())
    except TimeoutError:
        report["state"] = "open"  # no end of stream: the writer is alive
        break
    except EOFError:
        report["state"] = "end of stream"
        break
report["got"] = got
w.close()
report["after_close"] = [m.decode() for m in r]
r.close()
shmlink.remove(addr)
print(json.dumps(report))
"""

CHILDREN = {
    # The inherited ends are left as they are: collected at exit.
    "exit": "",
    # Each call is refused, naming the process that opened the channel.
    "use": """
    for call in (lambda: w.send(b"x"), lambda: r.recv(timeout=0), lambda: r.recv_batch(),
                 lambda: w.reserve(4), lambda: r.peek(timeout=0), lambda: next(iter(r))):
        try:
            call()
        except ChildProcessError as e:
            errors.append(str(e))
""",
    # close() and `with` exits are quiet and leave the roles to the parent.
    "close": """
    with w:
        pass
    r.close()
    r.close()
""",
    "collect": """
    del w, r
    gc.collect()
""",
}


@pytest.mark.slow
@pytest.mark.parametrize("child", list(CHILDREN))
def test_forked_child_leaves_the_parents_channel_alone(address, child):
    code = SCRIPT.format(child=textwrap.indent(textwrap.dedent(CHILDREN[child]), "    "))
    proc = run_python(code, address, python_args=("-X", "dev"))
    report = json.loads(proc.stdout)
    assert report["child_status"] == 0, proc.stderr
    assert report["state"] == "open", report
    assert report["got"] == ["one", "two"], report  # each once, none taken by the child
    assert report["after_close"] == [], report
    child_errors = json.loads(proc.stderr.splitlines()[0])
    if child == "use":
        assert len(child_errors) == 6, child_errors
        for text in child_errors:
            assert text.startswith("[Errno 10] shmlink: channel"), text
            assert "was opened by process" in text
            assert "open the channel again in the child" in text
    # Quiet: no ResourceWarning (nor anything else) from the child's exit.
    assert "Warning" not in proc.stderr, proc.stderr
