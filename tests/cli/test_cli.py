"""Tests of the `shmlink` command-line tool against real segments and channels
of both backends (see conftest.py for the fixtures and the cleanup)."""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import json
import os
import re
import shutil

import pytest

from conftest import find, ls_json, run, wait_until
from pytest_shmlink import POSIX_GLOB, SYSV_GLOB
from pytest_shmlink import PREFIX as POSIX_PREFIX

BACKENDS = ["posix", "sysv"]

ENTRY_KEYS = {
    "address", "backend", "kind", "size", "mode", "uid", "owner", "gid",
    "group", "readable", "note", "ctime", "mtime", "shmid", "key", "nattch",
    "cpid", "lpid", "cuid", "cgid", "atime", "dtime", "removed", "channel",
}
CHANNEL_KEYS = {
    "version", "capacity", "max_message", "used", "fill_percent",
    "messages_sent", "messages_received", "writer", "reader", "closed",
    "reader_gone", "stale", "fanout", "readers", "calls", "writers",
}
WRITER_SLOT_KEYS = {
    "slot", "pid", "alive", "closed", "position", "used", "messages_sent",
    "reply_kind", "reply_id", "reply",
}
# Smallest segment that can hold a channel: 512-byte header + 4096-byte ring.
MIN_CHANNEL_SIZE = 512 + 4096


def new_address(shm, backend, tag="ch"):
    return shm.posix(tag) if backend == "posix" else shm.sysv()


def exists(address: str) -> bool:
    """Asks the kernel directly, not the tool."""
    if address.startswith("posix:/"):
        return os.path.exists("/dev/shm/" + address[len("posix:/"):])
    with open("/proc/sysvipc/shm") as f:
        next(f)
        for line in f:
            key, shmid = int(line.split()[0]) & 0xFFFFFFFF, int(line.split()[1])
            if address == f"sysv:0x{key:08x}" or address == f"sysv-id:{shmid}":
                return True
    return False


def proc_sysv_line(shmid: int) -> list[int]:
    with open("/proc/sysvipc/shm") as f:
        next(f)
        for line in f:
            fields = [int(x) for x in line.split()]
            if fields[1] == shmid:
                return fields
    raise AssertionError(f"shmid {shmid} not in /proc/sysvipc/shm")


def table_row(stdout: str, address: str) -> list[str]:
    rows = [ln for ln in stdout.splitlines() if ln.split(" ", 1)[0] == address]
    assert len(rows) == 1, f"{address} not once in:\n{stdout}"
    return rows[0]


# --------------------------------------------------------------------------
# Help, version, usage errors
# --------------------------------------------------------------------------

def test_help_and_version():
    res = run(["--help"], check_rc=0)
    assert res.stdout.startswith("usage: shmlink")
    for cmd in ("ls", "stat", "rm"):
        assert cmd in res.stdout
    assert run(["-h"], check_rc=0).stdout == res.stdout
    assert run(["help"], check_rc=0).stdout == res.stdout
    for cmd, word in (("ls", "--json"), ("stat", "ADDRESS"), ("rm", "--stale")):
        out = run([cmd, "--help"], check_rc=0).stdout
        assert out.startswith(f"usage: shmlink {cmd}")
        assert word in out
        assert run([cmd, "-h"], check_rc=0).stdout == out
        assert run(["help", cmd], check_rc=0).stdout == out
    for cmd in ("ls", "stat", "rm"):  # what is attached, and how
        out = " ".join(run([cmd, "--help"], check_rc=0).stdout.split())
        assert "512 + 4096 bytes" in out
        assert "read-only" in out
    assert "nattch" in run(["ls", "--help"], check_rc=0).stdout
    assert "stale" in run(["rm", "--help"], check_rc=0).stdout
    assert "--force" in run(["rm", "--help"], check_rc=0).stdout
    version = run(["--version"], check_rc=0).stdout
    assert re.fullmatch(r"shmlink \d+\.\d+\.\d+\n", version)


@pytest.mark.parametrize(
    ("args", "word"),
    [
        ([], "usage"),
        (["frobnicate"], "frobnicate"),
        (["--frob"], "--frob"),
        (["help", "frob"], "frob"),
        (["ls", "--frob"], "--frob"),
        (["ls", "extra"], "extra"),
        (["ls", "--match"], "--match"),
        (["stat"], "ADDRESS"),
        (["stat", "/a", "/b"], "/b"),
        (["stat", "--frob", "/a"], "--frob"),
        (["rm"], "ADDRESS"),
        (["rm", "--frob"], "--frob"),
        (["rm", "--dry-run", "/a"], "--dry-run"),
        (["rm", "--match", "x", "/a"], "--match"),
        (["rm", "--stale", "/a"], "--stale"),
        (["rm", "--stale", "--force"], "--force"),
    ],
)
def test_usage_errors_exit_2(args, word):
    res = run(args, check_rc=2)
    assert res.stdout == ""
    assert word in res.stderr
    assert res.stderr.startswith("shmlink: ") or args == []
    if args and args[0] in ("ls", "stat", "rm"):  # the command is named
        assert res.stderr.startswith(f"shmlink: {args[0]}: ")
        assert f"(try 'shmlink {args[0]} --help')" in res.stderr


MALFORMED = [
    "posix:/a/b",
    "posix:/",
    "/",
    "posix:" + "/" + "x" * 256,
    "posix:name",
    "sysv:0",
    "sysv:0x1g",
    "sysv:-5",
    "sysv:0x100000000",
    "sysv-id:-1",
    "sysv-id:abc",
    "nope",
    " posix:/x",
    "",
]


@pytest.mark.parametrize("bad", MALFORMED)
@pytest.mark.parametrize("cmd", ["stat", "rm"])
def test_malformed_address_is_named(cmd, bad):
    res = run([cmd, "--", bad] if bad.startswith("-") else [cmd, bad], check_rc=1)
    assert res.stdout == ""
    assert res.stderr.startswith(f"shmlink: {cmd} {bad}: malformed address")
    assert res.stderr.count("\n") == 1


@pytest.mark.parametrize("cmd", ["stat", "rm"])
def test_sysv_private_is_refused_with_a_reason(cmd):
    res = run([cmd, "sysv:private"], check_rc=1)
    assert res.stderr.startswith(f"shmlink: {cmd} sysv:private: ")
    assert "sysv-id" in res.stderr


@pytest.mark.parametrize("backend", BACKENDS)
def test_missing_segment(shm, backend):
    addr = new_address(shm, backend, "missing")
    for cmd in ("stat", "rm"):
        res = run([cmd, addr], check_rc=1)
        assert res.stderr.startswith(f"shmlink: {cmd} {addr}: ")
        assert "no such" in res.stderr.lower() or "not" in res.stderr.lower()


# --------------------------------------------------------------------------
# Plain segments
# --------------------------------------------------------------------------

def test_ls_plain_segments_both_backends(shm):
    p = shm.segment(shm.posix("plain"), 12345, 0o640)
    s = shm.segment(shm.sysv(), 8192, 0o600)
    priv = shm.segment("sysv:private", 4096, 0o644)
    assert re.fullmatch(r"sysv-id:\d+", priv)
    entries = ls_json()
    for e in entries:
        assert set(e) == ENTRY_KEYS, e
    ep, es, ev = find(entries, p), find(entries, s), find(entries, priv)
    assert ep is not None, p
    assert es is not None, s
    assert ev is not None, priv

    st = os.stat("/dev/shm/" + p[len("posix:/"):])
    assert ep["backend"] == "posix"
    assert ep["kind"] == "segment"
    assert ep["size"] == 12345 == st.st_size
    assert ep["mode"] == "0640"
    assert ep["uid"] == st.st_uid == os.geteuid()
    assert ep["gid"] == st.st_gid
    assert ep["owner"] == __import__("pwd").getpwuid(st.st_uid).pw_name
    assert ep["readable"] is True
    assert ep["note"] is None
    assert ep["channel"] is None
    assert ep["mtime"] == int(st.st_mtime)
    assert ep["ctime"] == int(st.st_ctime)
    assert ep["shmid"] is None
    assert ep["key"] is None
    assert ep["nattch"] is None
    assert ep["removed"] is False

    fields = proc_sysv_line(es["shmid"])
    assert es["backend"] == "sysv"
    assert es["kind"] == "segment"
    assert es["key"] == int(s[len("sysv:"):], 16) == fields[0] & 0xFFFFFFFF
    assert es["size"] == 8192 == fields[3]
    assert es["mode"] == "0600"
    assert es["cpid"] == fields[4]
    assert es["cpid"] > 0
    assert es["nattch"] == 0
    assert es["uid"] == os.geteuid()
    assert es["readable"] is True
    assert es["channel"] is None
    assert es["mtime"] is None

    assert ev["backend"] == "sysv"
    assert ev["key"] == 0
    assert ev["shmid"] == int(priv[len("sysv-id:"):])
    assert ev["mode"] == "0644"

    table = run(["ls"], check_rc=0).stdout
    header = table.splitlines()[0].split()
    assert header[:7] == ["ADDRESS", "KIND", "SIZE", "OWNER", "MODE", "SHMID", "NATTCH"]
    row = table_row(table, p).split()
    assert row[1:7] == ["segment", "12K", ep["owner"], "0640", "-", "-"]
    row = table_row(table, s).split()
    assert row[1:7] == ["segment", "8.0K", es["owner"], "0600", str(es["shmid"]), "0"]
    row = table_row(table, priv).split()
    assert row[5:7] == [str(ev["shmid"]), "0"]


def test_ls_match_filters(shm):
    p = shm.segment(shm.posix("m"))
    s = shm.segment(shm.sysv())
    only_posix = ls_json("--match", POSIX_GLOB)
    assert [e["address"] for e in only_posix] == [p]
    only_sysv = ls_json(f"--match={SYSV_GLOB}")
    assert [e["address"] for e in only_sysv] == [s]
    assert ls_json("--match", "posix:/no-such-prefix-*-zz") == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_stat_plain_segment(shm, backend):
    addr = shm.segment(new_address(shm, backend, "st"), 5000, 0o604)
    e = json.loads(run(["stat", addr, "--json"], check_rc=0).stdout)
    assert set(e) == ENTRY_KEYS
    assert e["address"] == addr
    assert e["backend"] == backend
    assert e["kind"] == "segment"
    assert e["channel"] is None
    assert e["size"] == 5000
    assert e["mode"] == "0604"
    assert e["readable"] is True
    assert e == find(ls_json(), addr) or backend == "sysv"
    text = run(["stat", addr], check_rc=0).stdout
    assert f"address:    {addr}\n" in text
    assert f"backend:    {backend}\n" in text
    assert "size:       5000 " in text
    assert "mode:       0604\n" in text
    if backend == "sysv":
        assert f"shmid:      {e['shmid']}\n" in text
        # the same segment by its id
        by_id = json.loads(
            run(["stat", "--json", f"sysv-id:{e['shmid']}"], check_rc=0).stdout
        )
        assert by_id["address"] == addr
        assert by_id["size"] == 5000


def test_ls_and_stat_never_write(shm):
    addr = shm.segment(shm.posix("ro"), 8192, 0o600)
    path = "/dev/shm/" + addr[len("posix:/"):]
    before = os.stat(path)
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    run(["ls"], check_rc=0)
    run(["ls", "--json"], check_rc=0)
    run(["stat", addr], check_rc=0)
    run(["rm", "--stale", "--dry-run", "--match", addr], check_rc=0)
    after = os.stat(path)
    with open(path, "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == digest
    assert after.st_mtime_ns == before.st_mtime_ns
    assert after.st_size == before.st_size


def test_rm_several_and_errors_per_address(shm):
    a = shm.segment(shm.posix("rm"))
    b = shm.segment(shm.sysv())
    c = shm.segment("sysv:private", 4096)
    res = run(["rm", a, b, c], check_rc=0)
    assert res.stdout == ""
    assert res.stderr == ""
    assert not exists(a)
    assert not exists(b)
    assert not exists(c)
    res = run(["rm", a, "posix:/bad/name", b], check_rc=1)
    lines = res.stderr.splitlines()
    assert len(lines) == 3, res.stderr
    assert lines[0].startswith(f"shmlink: rm {a}: ")
    assert lines[1].startswith("shmlink: rm posix:/bad/name: malformed")
    assert lines[2].startswith(f"shmlink: rm {b}: ")
    # a good address after a bad one is still removed
    d = shm.segment(shm.posix("rm2"))
    run(["rm", "posix:/bad/name", d], check_rc=1)
    assert not exists(d)


def test_rm_short_posix_form(shm):
    a = shm.segment(shm.posix("short"))
    run(["rm", a[len("posix:"):]], check_rc=0)
    assert not exists(a)


# --------------------------------------------------------------------------
# Names that need escaping
# --------------------------------------------------------------------------

ODD_NAMES = [
    b'q"uote',
    b"back\\slash",
    b"new\nline",
    b"tab\there",
    "caf\u00e9-\u65e5\u672c".encode(),
    b"bad\xff\xfeutf8",
    b"ctl\x01\x1f\x7f",
    b"overlong\xc0\xaf",
    b"surrogate\xed\xa0\x80",
    b"trailing ",
]


def test_json_and_table_escape_odd_names(shm):
    made = {}
    for i, raw in enumerate(ODD_NAMES):
        addr = os.fsencode(shm.posix(f"odd{i}-")) + raw
        canonical = shm.segment(addr, 4096)
        assert os.fsencode(canonical) == addr
        made[addr] = canonical
    res = run(["ls", "--json", "--match", POSIX_GLOB], check_rc=0)
    entries = json.loads(res.stdout)  # strict: raw control characters fail
    got = {os.fsencode(e["address"]) for e in entries}
    assert got == set(made), got ^ set(made)
    # valid UTF-8 passes through as text, invalid bytes come back exactly
    assert "caf\u00e9" in res.stdout
    assert "\\udcff\\udcfe" in res.stdout
    # the table keeps one row per segment, with \xHH for odd bytes
    table = run(["ls", "--match", POSIX_GLOB], check_rc=0).stdout
    lines = table.splitlines()
    assert len(lines) == 1 + len(ODD_NAMES), table
    assert "new\\x0aline" in table
    assert "bad\\xff\\xfeutf8" in table
    assert "back\\\\slash" in table
    # stat and rm take the raw bytes
    for addr in made:
        st = json.loads(
            run(["stat", os.fsdecode(addr), "--json"], check_rc=0).stdout
        )
        assert os.fsencode(st["address"]) == addr
    run(["rm", *[os.fsdecode(a) for a in made]], check_rc=0)
    assert ls_json("--match", POSIX_GLOB) == []


# --------------------------------------------------------------------------
# POSIX semaphores live in /dev/shm too
# --------------------------------------------------------------------------

def test_semaphores_only_with_all():
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.sem_open.restype = ctypes.c_void_p
    libc.sem_open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_uint,
                              ctypes.c_uint]
    name = f"/{POSIX_PREFIX}sem".encode()
    sem = libc.sem_open(name, os.O_CREAT | os.O_EXCL, 0o600, 0)
    if not sem:
        pytest.skip(f"sem_open: {os.strerror(ctypes.get_errno())}")
    try:
        address = f"posix:/sem.{POSIX_PREFIX}sem"
        assert find(ls_json("--match", POSIX_GLOB.replace("/", "/sem.")),
                    address) is None
        e = find(ls_json("--all"), address)
        assert e
        assert e["kind"] == "semaphore"
        assert e["channel"] is None
    finally:
        libc.sem_close(ctypes.c_void_p(sem))
        libc.sem_unlink(name)


# --------------------------------------------------------------------------
# Channels
# --------------------------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
def test_live_channel(shm, backend):
    w, addr = shm.channel(new_address(shm, backend), "writer",
                          "--send", "10", "--size", "100")
    r, addr2 = shm.channel(addr, "reader", "--open", "--recv", "3",
                           "--size", "100")
    assert addr2 == addr
    e = find(ls_json(), addr)
    assert e is not None
    assert e["kind"] == "channel"
    assert e["readable"] is True
    assert e["backend"] == backend
    c = e["channel"]
    assert set(c) == CHANNEL_KEYS
    assert c["fanout"] == "one"
    assert c["readers"] is None
    assert c["writers"] is None  # one writer: the writer key says it all
    assert c["calls"] is False
    assert c["version"] >= 1
    assert c["capacity"] == 65536
    assert c["max_message"] >= 65536 // 4
    assert c["messages_sent"] == 10
    assert c["messages_received"] == 3
    assert 700 <= c["used"] <= c["capacity"]
    assert c["fill_percent"] == pytest.approx(100 * c["used"] / 65536, abs=0.06)
    assert c["writer"] == {"pid": w.pid, "alive": True}
    assert c["reader"] == {"pid": r.pid, "alive": True}
    assert c["closed"] is False
    assert c["stale"] is False
    assert e["size"] >= 65536

    row = table_row(run(["ls"], check_rc=0).stdout, addr)
    assert " channel " in row
    assert f"{w.pid} alive" in row
    assert f"{r.pid} alive" in row
    assert " 10/3 " in row
    assert row.rstrip().endswith("open")

    st = json.loads(run(["stat", addr, "--json"], check_rc=0).stdout)
    assert st["channel"] == c
    text = run(["stat", addr], check_rc=0).stdout
    assert f"writer:     {w.pid} alive\n" in text
    assert "sent:       10 messages\n" in text
    assert "end of stream: no\n" in text
    assert "stale:      no " in text


@pytest.mark.parametrize("backend", BACKENDS)
def test_dead_channel_is_stale_and_removed(shm, backend):
    w, addr = shm.channel(new_address(shm, backend), "writer", "--send", "5")
    r, _ = shm.channel(addr, "reader", "--open", "--recv", "5")
    shm.kill(w)
    shm.kill(r)
    e = find(ls_json(), addr)
    c = e["channel"]
    assert c["writer"] == {"pid": w.pid, "alive": False}
    assert c["reader"] == {"pid": r.pid, "alive": False}
    assert c["messages_sent"] == 5
    assert c["messages_received"] == 5
    assert c["used"] == 0
    assert c["stale"] is True
    assert c["closed"] is False
    row = table_row(run(["ls"], check_rc=0).stdout, addr)
    assert f"{w.pid} dead" in row
    assert f"{r.pid} dead" in row
    assert "stale" in row

    glob = POSIX_GLOB if backend == "posix" else SYSV_GLOB
    # a dry run without --match only reads: safe on a shared machine
    dry_all = json.loads(run(["rm", "--stale", "--dry-run", "--json"]).stdout)
    mine = [d for d in dry_all if d["address"] == addr]
    assert len(mine) == 1
    assert mine[0]["removed"] is False
    assert mine[0]["stale"] is True
    assert mine[0]["error"] is None
    assert mine[0]["backend"] == backend
    assert f"writer {w.pid} dead" in mine[0]["reason"]
    assert exists(addr)

    res = run(["rm", "--stale", "--dry-run", "--match", glob], check_rc=0)
    assert res.stdout.startswith(f"would remove {addr} (")
    assert exists(addr)

    res = run(["rm", "--stale", "--json", "--match", glob], check_rc=0)
    done = json.loads(res.stdout)
    assert [(d["address"], d["removed"], d["error"]) for d in done] == [
        (addr, True, None)
    ]
    assert not exists(addr)
    assert find(ls_json(), addr) is None
    res = run(["rm", "--stale", "--match", glob], check_rc=0)
    assert res.stdout == "no stale channels\n"


@pytest.mark.parametrize("backend", BACKENDS)
def test_stale_is_conservative(shm, backend):
    glob = POSIX_GLOB if backend == "posix" else SYSV_GLOB
    # writer alive, reader killed: the writer may wait for a new reader
    _w1, a1 = shm.channel(new_address(shm, backend), "writer", "--send", "3")
    r1, _ = shm.channel(a1, "reader", "--open", "--recv", "1")
    shm.kill(r1)
    # reader alive, writer killed: the reader still has messages to take
    w2, a2 = shm.channel(new_address(shm, backend), "writer", "--send", "3")
    _r2, _ = shm.channel(a2, "reader", "--open")
    shm.kill(w2)
    # writer closed cleanly with messages no reader took yet
    _, a3 = shm.channel(new_address(shm, backend), "writer", "--send", "2",
                        "--close")
    # a plain segment
    a4 = shm.segment(new_address(shm, backend, "plain"))

    entries = ls_json("--match", glob)
    c1 = find(entries, a1)["channel"]
    assert c1["writer"]["alive"] is True
    assert c1["reader"]["alive"] is False
    c2 = find(entries, a2)["channel"]
    assert c2["writer"]["alive"] is False
    assert c2["reader"]["alive"] is True
    c3 = find(entries, a3)["channel"]
    assert c3["closed"] is True
    assert c3["messages_sent"] == 2
    assert c3["writer"] is None or c3["writer"]["alive"] is False
    assert c3["reader"] is None
    assert [c1["stale"], c2["stale"], c3["stale"]] == [False, False, False]
    assert find(entries, a4)["kind"] == "segment"

    res = run(["rm", "--stale", "--match", glob], check_rc=0)
    lines = res.stdout.splitlines()
    assert lines[-1] == "no stale channels"
    assert sorted(lines[:-1]) == sorted([
        f"skipped {a1}: writer {_w1.pid} alive; unread messages (2 messages, 224 bytes)",
        f"skipped {a2}: reader {_r2.pid} alive; unread messages (3 messages, 336 bytes)",
        f"skipped {a3}: unread messages (2 messages, 224 bytes)",
    ])
    assert all(exists(a) for a in (a1, a2, a3, a4))
    done = json.loads(run(["rm", "--stale", "--json", "--match", glob],
                          check_rc=0).stdout)
    assert sorted((d["address"], d["stale"], d["removed"]) for d in done) == sorted(
        [(a1, False, False), (a2, False, False), (a3, False, False)])

    # once a reader drained the closed channel and left, it is finished
    shm.channel(a3, "reader", "--open", "--recv", "2", "--close")
    c3 = find(ls_json("--match", glob), a3)["channel"]
    assert c3["closed"] is True
    assert c3["used"] == 0
    assert c3["messages_received"] == 2
    assert c3["reader_gone"] is True
    assert c3["stale"] is True
    res = run(["rm", "--stale", "--match", glob], check_rc=0)
    removed = [ln for ln in res.stdout.splitlines() if ln.startswith("removed ")]
    assert removed == [
        f"removed {a3} (writer closed, reader closed, end of stream, nothing unread)"
    ]
    assert not exists(a3)
    assert exists(a1)
    assert exists(a2)
    assert exists(a4)


@pytest.mark.parametrize("backend", BACKENDS)
def test_closed_channel_shows_end_of_stream(shm, backend):
    _, addr = shm.channel(new_address(shm, backend), "writer", "--send", "4",
                          "--close")
    c = find(ls_json(), addr)["channel"]
    assert c["closed"] is True
    assert c["messages_sent"] == 4
    assert c["messages_received"] == 0
    assert c["used"] > 0
    row = table_row(run(["ls"], check_rc=0).stdout, addr)
    assert " eos" in row
    assert "end of stream: yes\n" in run(["stat", addr], check_rc=0).stdout


@pytest.mark.parametrize("backend", BACKENDS)
def test_many_writers_channel_shows_each_writer_slot(shm, backend):
    # Slot 0 held, slot 1 closed, slot 2's holder killed; nothing read.
    _r, addr = shm.channel(new_address(shm, backend), "reader", "--writers", "3")
    a, _ = shm.channel(addr, "writer", "--open", "--send", "5")
    b, _ = shm.channel(addr, "writer", "--open", "--send", "2")
    c, _ = shm.channel(addr, "writer", "--open", "--send", "3")
    shm.kill(c)
    b.terminate()  # closes its slot
    assert b.wait(timeout=60) == 0
    e = find(ls_json(), addr)
    ch = e["channel"]
    assert set(ch) == CHANNEL_KEYS
    assert ch["calls"] is False
    assert ch["readers"] is None
    ws = ch["writers"]
    assert [set(x) for x in ws] == [WRITER_SLOT_KEYS] * 3
    # 100-byte messages take 112 bytes of a ring each (header, padding).
    assert [
        (x["slot"], x["pid"], x["alive"], x["closed"], x["position"], x["used"],
         x["messages_sent"], x["reply_kind"], x["reply"])
        for x in ws
    ] == [
        (0, a.pid, True, False, 560, 560, 5, 0, None),
        (1, None, False, True, 224, 224, 2, 0, None),
        (2, c.pid, False, False, 336, 336, 3, 0, None),
    ]
    assert ch["messages_sent"] == 10
    assert ch["used"] == 560 + 224 + 336

    row = table_row(run(["ls"], check_rc=0).stdout, addr)
    assert " 1/3 alive " in row
    st = json.loads(run(["stat", addr, "--json"], check_rc=0).stdout)
    assert st["channel"] == ch
    text = run(["stat", addr], check_rc=0).stdout
    assert "writers:    3 writer slots\n" in text
    assert f"writer 0:   {a.pid} alive, position 560, used 560 bytes, 5 sent\n" in text
    assert "writer 1:   none, position 224, used 224 bytes, 2 sent, closed\n" in text
    assert f"writer 2:   {c.pid} dead, position 336, used 336 bytes, 3 sent\n" in text


@pytest.mark.parametrize("backend", BACKENDS)
def test_call_server_shows_its_clients(shm, backend):
    # One client slot: a queue with one writer slot, told apart from a
    # plain queue only by the reply channel its client names.
    _srv, addr = shm.server(new_address(shm, backend), "--clients", "1")
    e = find(ls_json(), addr)
    assert e["channel"]["fanout"] == "queue"
    assert e["channel"]["calls"] is False  # no client came yet
    assert e["channel"]["writers"] is None
    client, _ = shm.client(addr)
    ch = find(ls_json(), addr)["channel"]
    assert ch["calls"] is True
    [w] = ch["writers"]
    if backend == "posix":
        assert (w["reply_kind"], w["reply_id"]) == (1, 0)
        reply = f"{addr}.r0"
    else:
        assert w["reply_kind"] == 2
        reply = f"sysv-id:{w['reply_id']}"
    shm.names.adopt(reply)  # the killed client below leaves it
    assert exists(reply)
    assert (w["slot"], w["pid"], w["alive"], w["closed"], w["reply"]) == (
        0, client.pid, True, False, reply)
    row = table_row(run(["ls"], check_rc=0).stdout, addr)
    assert " 1/1 alive " in row
    assert " queue 1/1 alive " in row
    text = run(["stat", addr], check_rc=0).stdout
    assert "writers:    1 client slot of a call server\n" in text
    assert (f"writer 0:   {client.pid} alive, position 0, used 0 bytes, 0 sent, "
            f"reply {reply}\n") in text

    # A killed client: its slot shows the holder dead and the reply
    # channel it left behind.
    shm.kill(client)
    [w] = find(ls_json(), addr)["channel"]["writers"]
    assert (w["pid"], w["alive"], w["closed"], w["reply"]) == (
        client.pid, False, False, reply)
    text = run(["stat", addr], check_rc=0).stdout
    assert (f"writer 0:   {client.pid} dead, position 0, used 0 bytes, 0 sent, "
            f"reply {reply}\n") in text

    # A client that closed cleared its slot's reply channel and removed it
    # (and the killed client's, which the next client of the slot removes):
    # its only client slot naming none, the server looks like a plain
    # queue again.
    again, _ = shm.client(addr)
    again.terminate()
    assert again.wait(timeout=60) == 0
    ch = find(ls_json(), addr)["channel"]
    assert (ch["fanout"], ch["calls"], ch["writers"]) == ("queue", False, None)
    assert not exists(reply)


def test_writer_slots_unknown_liveness_and_unusable_reply():
    from shmlink.cli import _core, _output, stat

    e = _channel_entry(_info(writer_pid=7, writer_alive=1))
    e.fanout, e.calls = "queue", True
    slot = dict(closed=False, position=0, used=0, messages_sent=0, reply_id=0)
    e.writer_slots = [
        _core.WriterSlotInfo(slot=0, pid=7, alive=1, reply_kind=1, **slot),
        _core.WriterSlotInfo(slot=1, pid=8, alive=-1, reply_kind=0, **slot),
        _core.WriterSlotInfo(slot=2, pid=9, alive=0, reply_kind=9, **slot),
    ]
    assert _output.row(e)[9] == "1/3 alive (+1?)"
    ws = _output.entry_json(e)["channel"]["writers"]
    assert [(x["alive"], x["reply"]) for x in ws] == [
        (True, "posix:/x.r0"), (None, None), (False, None)]
    text = stat.text(e)
    assert "writers:    3 client slots of a call server\n" in text
    assert "writer 0:   7 alive, position 0, used 0 bytes, 0 sent, reply posix:/x.r0\n" in text
    assert "writer 1:   8 unknown, position 0, used 0 bytes, 0 sent\n" in text
    assert ("writer 2:   9 dead, position 0, used 0 bytes, 0 sent, "
            "reply kind 9 id 0 (no worker can use it)\n") in text


# --------------------------------------------------------------------------
# Permissions
# --------------------------------------------------------------------------

def test_unreadable_segments_are_listed_not_skipped(shm, nobody_cli):
    nobody, cli = nobody_cli.uid, nobody_cli
    p = shm.segment(shm.posix("secret"), 4096, 0o600)
    s = shm.segment(shm.sysv(), 8192, 0o600)
    _, ch = shm.channel(shm.posix("secretch"), "writer", "--mode", "600")
    entries = ls_json(user=nobody, cli=cli)
    for addr, size in ((p, 4096), (s, 8192), (ch, None)):
        e = find(entries, addr)
        assert e is not None, f"{addr} skipped"
        assert e["readable"] is False
        # too small for a channel: a plain segment, whatever is inside
        assert e["kind"] == ("segment" if e["size"] < MIN_CHANNEL_SIZE else "unknown")
        assert e["note"] == "no read permission"
        assert e["owner"] == "root"
        assert e["mode"] == "0600"
        assert e["channel"] is None
        if size:
            assert e["size"] == size
    table = run(["ls"], user=nobody, cli=cli, check_rc=0).stdout
    assert "no read permission" in table_row(table, p)
    assert "no read permission" in table_row(table, s)

    for addr in (p, s):
        st = json.loads(run(["stat", "--json", addr], user=nobody, cli=cli,
                            check_rc=0).stdout)
        assert st["address"] == addr
        assert st["readable"] is False
        assert st["note"] == "no read permission"
        assert st["uid"] == 0
        res = run(["rm", addr], user=nobody, cli=cli, check_rc=1)
        assert res.stderr.startswith(f"shmlink: rm {addr}: ")
        assert exists(addr)
    # not readable, so never judged stale; it says so
    res = run(["rm", "--stale", "--match", POSIX_GLOB], user=nobody, cli=cli,
              check_rc=0)
    assert f"skipped {ch}: cannot look inside: no read permission\n" in res.stdout
    assert exists(ch)


def test_segment_owned_by_another_user(shm, nobody_cli):
    nobody = nobody_cli.uid
    p = shm.segment(shm.posix("nobodys"), 4096, 0o600, user=nobody,
                    holder=nobody_cli)
    e = find(ls_json(), p)
    assert e["owner"] == "nobody"
    assert e["uid"] == nobody
    assert e["readable"] is (os.geteuid() == 0)
    run(["rm", p], check_rc=0)
    assert not exists(p)


def test_ls_survives_segments_vanishing(shm):
    # many segments removed while ls runs must never make ls fail
    made = [shm.segment(shm.posix("churn")) for _ in range(20)]
    import subprocess
    import sys

    remover = subprocess.Popen(
        [sys.executable, "-c",
         "import os,sys\n"
         "for a in sys.argv[1:]: os.unlink('/dev/shm/'+a[len('posix:/'):])",
         *made])
    try:
        for _ in range(3):
            run(["ls", "--json"], check_rc=0)
    finally:
        remover.wait(timeout=60)
    wait_until(lambda: not any(exists(a) for a in made), what="removal")


def test_attached_sysv_channel_is_not_stale(shm):
    """A System V channel whose peers died but that some process still has
    attached is in use by someone: rm --stale keeps it until it detaches.
    (The writer sends nothing: unread messages would keep it anyway.)"""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.shmat.restype = ctypes.c_void_p
    libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
    libc.shmdt.argtypes = [ctypes.c_void_p]
    shm_rdonly = 0o10000
    w, addr = shm.channel(shm.sysv(), "writer")
    shm.kill(w)
    shmid = find(ls_json("--match", SYSV_GLOB), addr)["shmid"]
    mem = libc.shmat(shmid, None, shm_rdonly)
    assert mem not in (None, ctypes.c_void_p(-1).value), os.strerror(
        ctypes.get_errno()
    )
    try:
        e = find(ls_json("--match", SYSV_GLOB), addr)
        assert e["nattch"] == 1
        assert e["channel"]["writer"] == {"pid": w.pid, "alive": False}
        assert e["channel"]["stale"] is False
        res = run(["rm", "--stale", "--match", SYSV_GLOB], check_rc=0)
        assert res.stdout == f"skipped {addr}: attached by 1 process\nno stale channels\n"
        assert exists(addr)
    finally:
        libc.shmdt(ctypes.c_void_p(mem))
    assert find(ls_json("--match", SYSV_GLOB), addr)["channel"]["stale"] is True
    res = run(["rm", "--stale", "--match", SYSV_GLOB], check_rc=0)
    assert res.stdout.startswith(f"removed {addr} (writer {w.pid} dead")
    assert not exists(addr)


def test_every_byte_value_round_trips_through_json(shm):
    """Names hold any byte but '/' and NUL: all of them, in two names (one
    would pass the 255-byte limit), come back exactly from ls --json."""
    low = bytes(b for b in range(1, 128) if b != ord("/"))
    high = bytes(range(128, 256))
    made = set()
    for tag, raw in (("lo", low), ("hi", high)):
        addr = os.fsencode(shm.posix(tag)) + raw
        made.add(os.fsencode(shm.segment(addr)))
    res = run(["ls", "--json", "--match", POSIX_GLOB], check_rc=0)
    assert res.stdout.isascii()  # high bytes of invalid UTF-8 are escaped
    entries = json.loads(res.stdout)
    assert {os.fsencode(e["address"]) for e in entries} == made
    for e in entries:
        st = json.loads(run(["stat", "--json", e["address"]], check_rc=0).stdout)
        assert st["address"] == e["address"]


# --------------------------------------------------------------------------
# What ls and stat touch
# --------------------------------------------------------------------------

def test_small_sysv_segments_are_never_attached(shm):
    """ls, stat and rm --stale read /proc/sysvipc/shm: a segment too small to
    be a channel keeps its last-attach pid, times and attach count."""
    addr = shm.segment(shm.sysv(), MIN_CHANNEL_SIZE - 1, 0o600)
    shmid = find(ls_json("--match", SYSV_GLOB), addr)["shmid"]
    before = proc_sysv_line(shmid)
    run(["ls"], check_rc=0)
    run(["ls", "--json"], check_rc=0)
    run(["stat", addr], check_rc=0)
    run(["stat", "--json", f"sysv-id:{shmid}"], check_rc=0)
    run(["rm", "--stale", "--dry-run"], check_rc=0)
    after = proc_sysv_line(shmid)
    # key shmid perms size cpid lpid nattch ... atime dtime ctime
    assert after[:14] == before[:14]


def test_channel_sized_sysv_segment_is_attached_read_only_and_left_as_it_was(shm):
    """A segment that can be a channel is looked into with a read-only
    attach: its attach count is back to what it was, its bytes unchanged."""
    addr = shm.segment(shm.sysv(), MIN_CHANNEL_SIZE, 0o600)
    shmid = find(ls_json("--match", SYSV_GLOB), addr)["shmid"]
    e = json.loads(run(["stat", "--json", addr], check_rc=0).stdout)
    assert e["kind"] == "segment"
    assert e["nattch"] == 0
    fields = proc_sysv_line(shmid)
    assert fields[6] == 0  # nattch
    assert fields[5] != fields[4]  # lpid: the tool, not the creator, looked last


# --------------------------------------------------------------------------
# rm of channels in use, rm --json
# --------------------------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
def test_rm_refuses_a_channel_in_use_without_force(shm, backend):
    w, addr = shm.channel(new_address(shm, backend), "writer")
    r, _ = shm.channel(addr, "reader", "--open")
    res = run(["rm", addr], check_rc=1)
    assert res.stdout == ""
    assert res.stderr.startswith(f"shmlink: rm {addr}: channel in use (")
    assert f"writer {w.pid} alive" in res.stderr
    assert f"reader {r.pid} alive" in res.stderr
    assert "--force" in res.stderr
    assert exists(addr)
    res = run(["rm", "--json", addr], check_rc=1)
    [d] = json.loads(res.stdout)
    assert d["address"] == addr
    assert d["removed"] is False
    assert d["reason"] == f"writer {w.pid} alive, reader {r.pid} alive"
    assert "channel in use" in d["error"]
    assert exists(addr)
    shm.kill(r)  # one live peer is enough to refuse
    res = run(["rm", addr], check_rc=1)
    assert f"writer {w.pid} alive" in res.stderr
    assert "reader" not in res.stderr
    run(["rm", "--force", addr], check_rc=0)
    assert not exists(addr)


@pytest.mark.parametrize("backend", BACKENDS)
def test_rm_of_a_channel_nobody_holds_needs_no_force(shm, backend):
    w, addr = shm.channel(new_address(shm, backend), "writer", "--send", "3")
    shm.kill(w)
    run(["rm", addr], check_rc=0)
    assert not exists(addr)


def test_rm_json_for_plain_addresses(shm):
    a = shm.segment(shm.posix("rmjson"))
    b = shm.segment(shm.sysv())
    res = run(["rm", "--json", a, b], check_rc=0)
    assert res.stderr == ""
    assert json.loads(res.stdout) == [
        {"address": a, "backend": "posix", "stale": None, "reason": None,
         "removed": True, "error": None},
        {"address": b, "backend": "sysv", "stale": None, "reason": None,
         "removed": True, "error": None},
    ]
    res = run(["rm", "--json", a, "nope"], check_rc=1)
    got = json.loads(res.stdout)
    assert [(d["address"], d["removed"]) for d in got] == [(a, False), ("nope", False)]
    assert got[0]["error"] == "no such segment"
    assert got[1]["error"].startswith("malformed address")
    assert got[1]["backend"] is None
    assert len(res.stderr.splitlines()) == 2


# --------------------------------------------------------------------------
# rm --stale keeps what is not stale, and says why
# --------------------------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
def test_unread_messages_of_a_dead_writer_are_kept(shm, backend):
    """A writer that committed messages and died before any reader came:
    the messages are still there for the next reader, so the channel is not
    stale."""
    glob = POSIX_GLOB if backend == "posix" else SYSV_GLOB
    w, addr = shm.channel(new_address(shm, backend), "writer", "--send", "10")
    shm.kill(w)
    c = find(ls_json("--match", glob), addr)["channel"]
    assert c["writer"] == {"pid": w.pid, "alive": False}
    assert c["reader"] is None
    assert c["stale"] is False
    res = run(["rm", "--stale", "--match", glob], check_rc=0)
    assert res.stdout == (
        f"skipped {addr}: unread messages (10 messages, 1120 bytes)\n"
        "no stale channels\n"
    )
    assert exists(addr)
    # a reader that comes now gets all ten
    shm.channel(addr, "reader", "--open", "--recv", "10", "--close")
    c = find(ls_json("--match", glob), addr)["channel"]
    assert c["messages_received"] == 10
    assert c["stale"] is True


def test_peer_in_another_pid_namespace_is_alive(shm):
    """Containers sharing /dev/shm: the writer runs in a pid namespace of its
    own, so the pid it records means nothing here. The C core's liveness
    (locks held by the role holders) still sees it alive: not stale."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare(1) for a new pid namespace")
    import subprocess
    import sys

    addr = shm.posix("pidns")
    holder = os.path.join(os.path.dirname(__file__), "holder.py")
    p = subprocess.Popen(
        # its own /proc too, so the pid and start time it records are its
        # namespace's (without --mount-proc it would read the host's /proc/1)
        ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child",
         sys.executable, holder, "channel", addr, "65536", "writer"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    shm.procs.append(p)
    line = p.stdout.readline().decode()
    if not line.startswith("ready "):
        pytest.skip("cannot start a process in a new pid namespace here: "
                    + p.stderr.read().decode(errors="replace"))
    c = find(ls_json("--match", POSIX_GLOB), addr)["channel"]
    assert c["writer"]["alive"] in (True, None), c  # alive, or cannot tell
    assert c["stale"] is False
    res = run(["rm", "--stale", "--match", POSIX_GLOB], check_rc=0)
    assert res.stdout.startswith(f"skipped {addr}: writer ")
    assert exists(addr)
    res = run(["rm", addr], check_rc=1)
    assert "channel in use" in res.stderr
    assert exists(addr)
    # cleanup kills unshare, and --kill-child takes the holder with it


def _info(**kw):
    from shmlink.cli import _core

    base = dict(version=1, capacity=65536, max_message=32760, used=0,
                messages_sent=0, messages_received=0, writer_pid=0,
                reader_pid=0, writer_alive=0, reader_alive=0, closed=False,
                reader_gone=False)
    return _core.ChannelInfo(**{**base, **kw})


def _channel_entry(info, backend="posix", nattch=None):
    from shmlink.cli import _entries

    return _entries.Entry(
        backend=backend, address="posix:/x", open_address="posix:/x",
        size=65536 + 512, mode=0o600, uid=0, gid=0, ctime=0, nattch=nattch,
        kind=_entries.CHANNEL, info=info)


@pytest.mark.parametrize(
    ("info", "stale", "reason"),
    [
        (_info(writer_pid=7, writer_alive=-1), False,
         "writer 7 may be alive (the core cannot tell)"),
        (_info(reader_pid=9, reader_alive=-1), False,
         "reader 9 may be alive (the core cannot tell)"),
        (_info(writer_alive=-1), False, "writer may be alive (the core cannot tell)"),
        (_info(writer_pid=7, writer_alive=1), False, "writer 7 alive"),
        (_info(writer_pid=7, used=64, messages_sent=1), False,
         "unread messages (1 message, 64 bytes)"),
        (_info(writer_pid=7), True, "writer 7 dead, reader absent, nothing unread"),
        (_info(closed=True, reader_gone=True), True,
         "writer closed, reader closed, end of stream, nothing unread"),
    ],
)
def test_stale_rule(info, stale, reason):
    """Liveness comes from the core only: 'cannot tell' (-1) is never stale."""
    from shmlink.cli import _entries, _output

    e = _channel_entry(info)
    assert _entries.judge(e) == (stale, reason)
    assert _output.entry_json(e)["channel"]["stale"] is stale


def test_unknown_liveness_in_json_and_table():
    from shmlink.cli import _output

    e = _channel_entry(_info(writer_pid=7, writer_alive=-1, reader_pid=0,
                             reader_alive=-1))
    c = _output.entry_json(e)["channel"]
    assert c["writer"] == {"pid": 7, "alive": None}
    assert c["reader"] == {"pid": 0, "alive": None}
    row = _output.row(e)
    assert row[9:11] == ["7 unknown", "? unknown"]


def test_attached_sysv_segment_is_not_stale_rule():
    from shmlink.cli import _entries

    e = _channel_entry(_info(writer_pid=7), backend="sysv", nattch=2)
    assert _entries.judge(e) == (False, "attached by 2 processes")


# --------------------------------------------------------------------------
# The table: sorted, fitted to the terminal
# --------------------------------------------------------------------------

def test_rows_are_sorted_by_name_and_key(shm):
    keys = [shm.sysv() for _ in range(3)]
    for k in reversed(keys):  # created in descending key order
        shm.segment(k)
    names = [shm.posix(f"sort{t}") for t in ("c", "a", "b")]
    for n in names:
        shm.segment(n)
    got = [e["address"] for e in ls_json("--match", SYSV_GLOB)]
    assert got == sorted(keys)
    got = [e["address"] for e in ls_json("--match", POSIX_GLOB)]
    assert got == sorted(names)
    table = run(["ls", "--match", SYSV_GLOB], check_rc=0).stdout
    assert [ln.split()[0] for ln in table.splitlines()[1:]] == sorted(keys)


def test_table_fits_the_width_and_shortens_names_in_the_middle(shm):
    long_name = shm.posix("x" * 150 + "-tail")
    shm.segment(long_name)
    w, _ = shm.channel(shm.posix("fitch"), "writer", "--send", "2")
    for width in (80, 120):
        res = run(["ls", "--match", POSIX_GLOB], env={"COLUMNS": str(width)},
                  check_rc=0)
        lines = res.stdout.splitlines()
        assert all(len(ln) <= width for ln in lines), (width, res.stdout)
        header = lines[0].split()
        for col in ("ADDRESS", "KIND", "SHMID", "NATTCH", "WRITER", "READER", "STATE"):
            assert col in header
        cells = [ln.split()[0] for ln in lines[1:]]
        assert len(cells) == 2, res.stdout
        assert long_name not in res.stdout
        # shortened in the middle: the start and the end of the name stay
        assert cells[0].startswith("posix:/shml")
        assert "..." in cells[0]
        assert cells[0].endswith("-tail")
        assert cells[1].endswith("-fitch")
        assert f"{w.pid} alive" in lines[2]
    wide = run(["ls", "--wide", "--match", POSIX_GLOB], env={"COLUMNS": "80"},
               check_rc=0).stdout
    assert long_name in wide
    assert "SENT/RECV" in wide


def test_table_on_a_terminal_fits_its_width(shm):
    """No COLUMNS: on a terminal the tool asks the terminal (pty, 70 wide)."""
    import fcntl
    import pty
    import struct
    import subprocess
    import termios

    from conftest import CLI

    shm.segment(shm.posix("y" * 120))
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 70, 0, 0))
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    p = subprocess.Popen([*CLI, "ls", "--match", POSIX_GLOB], stdout=follower,
                         stderr=subprocess.PIPE, env=env)
    os.close(follower)
    out = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the other side closed
            break
        if not chunk:
            break
        out += chunk
    os.close(leader)
    assert p.wait(timeout=60) == 0, p.stderr.read()
    p.stderr.close()
    lines = out.decode().replace("\r\n", "\n").splitlines()
    assert len(lines) == 2, lines
    assert all(len(ln) <= 70 for ln in lines), lines
    assert "..." in lines[1]


# --------------------------------------------------------------------------
# The ways to start it
# --------------------------------------------------------------------------

def test_python_dash_m_shmlink():
    import subprocess
    import sys

    from conftest import CLI

    p = subprocess.run([sys.executable, "-m", "shmlink", "--version"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout == run(["--version"], check_rc=0).stdout
    p = subprocess.run([sys.executable, "-m", "shmlink", "ls", "--frob"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2
    assert "--frob" in p.stderr
    assert os.path.basename(CLI[0]) == "shmlink"


def test_removed_but_attached_sysv_segment_is_listed_not_opened(shm):
    """IPC_RMID while attached: the segment lives on (key 0, SHM_DEST) until
    the last detach. ls shows it as removed, rm --stale leaves it alone."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.shmat.restype = ctypes.c_void_p
    libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
    libc.shmdt.argtypes = [ctypes.c_void_p]
    addr = shm.segment(shm.sysv(), MIN_CHANNEL_SIZE + 4096)
    shmid = find(ls_json("--match", SYSV_GLOB), addr)["shmid"]
    mem = libc.shmat(shmid, None, 0o10000)  # SHM_RDONLY
    assert mem not in (None, ctypes.c_void_p(-1).value)
    try:
        libc.shmctl(shmid, 0, None)  # IPC_RMID
        e = find(ls_json(), f"sysv-id:{shmid}")
        assert e is not None
        assert e["removed"] is True
        assert e["key"] == 0
        assert e["nattch"] == 1
        row = table_row(run(["ls"], check_rc=0).stdout, f"sysv-id:{shmid}")
        assert "removed, 1 attached" in row
        res = run(["rm", "--stale", "--dry-run", "--json"], check_rc=0)
        assert f"sysv-id:{shmid}" not in res.stdout
    finally:
        libc.shmdt(ctypes.c_void_p(mem))
