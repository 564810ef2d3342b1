"""C→C rows: shmlink, pipe and Unix socket measured by the channel's own C
benchmark (bench/c/bench_channel.c, built by CMake into the tree given as
--c-build).

The C benchmark measures every C transport in one process run and prints
its figures as one JSON document with `--json`: per transport (shmlink,
pipe, unix), kind (throughput, latency) and size the count, warm-up,
msgs_per_s, bytes_per_s, p50_ns and p99_ns, plus reference figures (memcpy
bandwidth, a raw cache-line ping-pong, futex calls per message, shmlink
round trips with a spinning and with a sleeping peer).

How the rows join the harness: one whole binary run serves one repetition
of every C cell. The run is shared by the three C rows; it starts when a
C cell is asked for and the current run has no unused figure for it (so
with --reps 5 the binary runs five times, each run feeding each C cell
once). A cell's figure is handed to bench/run.py through a tiny Command
worker that writes it to the result file run.py asks for, so run.py's
cell loop, timeouts and error reporting stay as they are.

Counts: the C benchmark chooses its own counts (C moves messages one to two
orders of magnitude faster than the Python rows, so the Python counts would
time a few milliseconds): every C transport moves the same count per cell,
after a warm-up of a tenth of it. The first run calibrates the throughput
counts; later runs (repetitions) are given the same counts (--counts), so
every repetition moves the same messages. The counts used are in each run's
figures ("messages" / "samples") and in the cell's "count".
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys

from .transports import Command, Setup, Transport

C_ROWS = [("shmlink_c", "shmlink C→C"), ("pipe_c", "pipe C→C"), ("unix_c", "Unix socket C→C")]
C_TRANSPORT = {"shmlink_c": "shmlink", "pipe_c": "pipe", "unix_c": "unix"}
C_KIND = {"stream": "throughput", "latency": "latency"}

SECONDS = 0.5         # the C benchmark's "seconds per cell" argument
RUN_TIMEOUT = 900.0   # one whole run (about 20-30 s on the 2-core dev machine)

# Writes the figure (argv[1], JSON) to the file bench/run.py names with -out.
_EMIT = ("import sys\n"
         "a = sys.argv\n"
         "with open(a[a.index('-out') + 1], 'w') as f:\n"
         "    f.write(a[1])\n")


def _find_binary(build_dir):
    exact = os.path.join(build_dir, "bench", "bench_channel")
    if os.path.isfile(exact) and os.access(exact, os.X_OK):
        return exact
    cands = [p for p in glob.glob(os.path.join(build_dir, "bench", "**", "*"), recursive=True)
             if os.path.isfile(p) and os.access(p, os.X_OK) and "CMakeFiles" not in p
             and not p.endswith((".so", ".a", ".sh"))]
    return sorted(cands)[0] if cands else None


def _json_mode(binary):
    try:
        out = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return "--json" in (out.stdout + out.stderr)


def _remove_leftovers(pid):
    # The benchmark removes its channels itself; after a crash, clean up the
    # POSIX objects it names "shmlink-bench-<pid>-<n>".
    for p in glob.glob(f"/dev/shm/shmlink-bench-{pid}-*"):
        try:
            os.unlink(p)
        except OSError:
            pass


class _Runs:
    """Whole runs of the C benchmark, one per repetition, shared by the C rows."""

    def __init__(self, binary):
        self.binary = binary
        self.doc = None       # the current run's JSON document
        self.error = None     # or why the current run failed
        self.used = set()     # (transport, kind, size) handed out from it
        self.count = 0
        self.stream_counts = None  # the first run's throughput counts, by size

    def _run(self):
        self.doc, self.error, self.used = None, None, set()
        self.count += 1
        argv = [self.binary, "--json", str(SECONDS)]
        if self.stream_counts:
            argv += ["--counts", ",".join(str(n) for _s, n in self.stream_counts)]
        try:
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        except OSError as exc:
            self.error = f"{' '.join(argv)}: {exc}"
            return
        try:
            out, err = p.communicate(timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            self.error = f"{' '.join(argv)} timed out after {RUN_TIMEOUT:.0f} s"
            return
        finally:
            _remove_leftovers(p.pid)
        if p.returncode != 0:
            tail = " | ".join(ln for ln in err.strip().splitlines()[-3:])
            self.error = f"{' '.join(argv)} exited with {p.returncode}: {tail}"
            return
        try:
            self.doc = json.loads(out)
            self.cells = {(c["transport"], c["kind"], c["size"]): c for c in self.doc["cells"]}
            if self.stream_counts is None:
                self.stream_counts = sorted((c["size"], c["count"]) for c in self.doc["cells"]
                                            if c["kind"] == "throughput"
                                            and c["transport"] == "shmlink")
        except (ValueError, KeyError, TypeError) as exc:
            self.doc = None
            self.error = f"{' '.join(argv)} printed no valid JSON document ({exc})"

    def figure(self, transport, kind, size):
        key = (transport, kind, size)
        if (self.doc is None and self.error is None) or key in self.used:
            self._run()
        self.used.add(key)
        if self.error:
            raise RuntimeError(self.error)
        c = self.cells.get(key)
        if c is None:
            raise RuntimeError(f"{os.path.basename(self.binary)} --json has no "
                               f"{transport} {kind} {size} B cell")
        return self._result(c)

    def _result(self, c):
        d, size = self.doc, c["size"]
        r = {"ok": True, "c_run": self.count, "warmup": c["warmup"]}
        if c["kind"] == "throughput":
            r.update(ns=c["ns"], messages=c["count"], bytes=c["count"] * size,
                     msgs_per_s=c["msgs_per_s"], bytes_per_s=c["bytes_per_s"])
            if c["transport"] == "shmlink":
                r["futex_calls_per_msg"] = c.get("futex_calls_per_msg")
                r["minflt_per_msg"] = c.get("minflt_per_msg")
                r["ring_bytes"] = c.get("ring_bytes")
                for m in d.get("memcpy", []):
                    if m["size"] == size:
                        r["memcpy_hot_bytes_per_s"] = m["hot_bytes_per_s"]
                        r["memcpy_ring_bytes_per_s"] = m["ring_bytes_per_s"]
        else:
            r.update({k: c[k] for k in ("p50_ns", "p99_ns", "min_ns", "max_ns", "mean_ns")})
            r["p999_ns"] = c.get("p999_ns")
            r["samples"] = c["count"]
            if c["transport"] == "shmlink":
                r["futex_calls_per_msg"] = c.get("futex_calls_per_msg")
                r["minflt_per_msg"] = c.get("minflt_per_msg")
                r["ring_bytes"] = c.get("ring_bytes")
                for m in d.get("shmlink_rtt_modes", []):
                    if m["size"] == size and m["mode"] != "default":
                        r[f"{m['mode']}_p50_ns"] = m["p50_ns"]
                        r[f"{m['mode']}_p99_ns"] = m["p99_ns"]
                cl = d.get("cacheline_rtt")
                if cl and cl.get("size") == size:
                    r["cacheline_p50_ns"] = cl["p50_ns"]
                    r["cacheline_p99_ns"] = cl["p99_ns"]
        return r


_RUNS = {}  # binary path -> _Runs


class CBench(Transport):
    group = "c"
    own_counts = True  # run.py: the cell's count comes from the runs

    def __init__(self, key, label, build_dir):
        self.key, self.label, self.build_dir = key, label, build_dir
        self.note = {
            "shmlink_c": "bench/c/bench_channel --json: shmlink_channel_send/recv, 4 MiB ring "
                         "(8 MiB for 1 MiB), default waiting (spin 50 µs, then sleep)",
            "pipe_c": "bench/c/bench_channel --json: pipe(2), fixed-size read/write loops",
            "unix_c": "bench/c/bench_channel --json: socketpair(AF_UNIX, SOCK_STREAM), "
                      "fixed-size read/write loops",
        }[key] + ("; one run per repetition feeds all C rows; counts chosen by bench/c, "
                  "the same for the three C rows (cell count)")
        self._checked = False
        self._reason = None
        self._binary = None

    def unavailable(self, kind, size):
        if not self._checked:
            self._checked = True
            if not os.path.isdir(os.path.join(os.path.dirname(os.path.dirname(
                    os.path.abspath(__file__))), "c")):
                self._reason = "bench/c (the C benchmark) does not exist"
            else:
                binary = _find_binary(self.build_dir)
                if binary is None:
                    self._reason = f"C benchmark not built in {self.build_dir}/bench"
                elif not _json_mode(binary):
                    self._reason = (f"{os.path.basename(binary)} has no --json mode "
                                    "(rebuild it: scripts/bench.sh builds bench/c)")
                else:
                    self._binary = binary
        return self._reason

    def setup(self, kind, size, tag):
        runs = _RUNS.setdefault(self._binary, _Runs(self._binary))
        fig = runs.figure(C_TRANSPORT[self.key], C_KIND[kind], size)
        return Setup([Command([sys.executable, "-c", _EMIT, json.dumps(fig)])], 0)


def transports(build_dir):
    return [CBench(k, label, build_dir) for k, label in C_ROWS]
