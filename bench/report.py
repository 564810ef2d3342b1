#!/usr/bin/env python3
"""Tables and chart from a benchmark result file.

    python bench/report.py bench/results/full.json   # rewrites .md, -summary.md, .csv, .png

full-summary.md holds the README's tables (medians only).

Ratios: every Python-reader row is compared with shmlink Python→Python
(Reader.recv), every C→C row with shmlink C→C: throughput ratio =
shmlink msgs/s ÷ row msgs/s, latency ratio = row p50 ÷ shmlink p50 (both > 1
when shmlink is faster).
"""

from __future__ import annotations

import csv
import json
import os
import sys

REFERENCE = {"py": "shmlink_py", "c": "shmlink_c", "go": "shmlink_gogo"}
TARGETS = [  # (numerator, denominator, size, target, text)
    ("shmlink_gopy", "mpqueue", 64, 10, "Go→Py recv vs multiprocessing.Queue"),
    ("shmlink_gopy_batch", "mpqueue", 64, 40, "Go→Py recv_batch vs multiprocessing.Queue"),
    ("shmlink_gopy", "fasterfifo", 64, 3, "Go→Py recv vs faster-fifo"),
    ("shmlink_gopy_batch", "fasterfifo_batch", 64, None, "Go→Py recv_batch vs faster-fifo get_many"),
]


def size_text(n):
    return f"{n >> 20} MiB" if n >= 1 << 20 else f"{n >> 10} KiB" if n >= 1024 else f"{n} B"


def _num(x):
    if x >= 1e9:
        return f"{x / 1e9:.2f} G"
    if x >= 1e6:
        return f"{x / 1e6:.2f} M"
    if x >= 1e3:
        return f"{x / 1e3:.1f} k"
    return f"{x:.0f}"


def _index(doc):
    return {(c["transport"], c["kind"], c["size"]): c for c in doc["cells"]}


def _ratio(a, b):
    return f"{a / b:.1f}×" if a and b else "–"


def _na(c):
    if c is None:
        return "–"
    if "error" in c:
        return "error"
    if "unavailable" in c:
        return "n/a"
    return None


def markdown(doc):
    idx = _index(doc)
    m = doc["machine"]
    out = []
    out.append(f"Mode **{doc['mode']}**, {doc['reps']} repetition(s) per cell, median "
               f"[min–max]. Machine: {m.get('cpu')}, {m.get('cores')} cores, Linux "
               f"{m.get('kernel')}, Python {m.get('python')}, {m.get('go') or 'no Go'}, "
               f"load average {m['loadavg_start'][0]:.2f} at start, "
               f"{m['loadavg_end'][0]:.2f} at end.")
    out.append("")
    out.append("Throughput: one-way stream, writer process → reader process; latency: "
               "round trip (ping → pong). ×shmlink: shmlink msgs/s ÷ row msgs/s and row p50 ÷ "
               "shmlink p50, against shmlink Py→Py recv for Python rows and shmlink C→C for C "
               "rows (> 1 means shmlink is faster). MB = 10⁶ bytes.")
    out.append("")
    out.append("| size | transport | msgs/s | MB/s | p50 µs | p99 µs | p99.9 µs | ×shmlink thr. "
               "| ×shmlink p50 | faults/msg | futex/msg |")
    out.append("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    order = [t["key"] for t in doc["transports"]]
    labels = {t["key"]: t["label"] for t in doc["transports"]}
    groups = {t["key"]: t["group"] for t in doc["transports"]}
    notes = {}  # (label, what, reason) -> sizes
    for size in doc["sizes"]:
        for key in order:
            s = idx.get((key, "stream", size))
            lat = idx.get((key, "latency", size))
            if s is None and lat is None:
                continue
            ref = REFERENCE.get(groups[key])
            rs = idx.get((ref, "stream", size)) or {}
            rl = idx.get((ref, "latency", size)) or {}
            na = _na(s)
            if na:
                thr = mb = na
                rt = "–"
                if na != "–":
                    notes.setdefault((labels[key], "throughput", s.get("error") or
                                      s.get("unavailable")), []).append(size_text(size))
            else:
                thr = (f"{_num(s['msgs_per_s'])} [{_num(s['msgs_per_s_min'])}–"
                       f"{_num(s['msgs_per_s_max'])}]")
                mb = f"{s['bytes_per_s'] / 1e6:,.1f}"
                rt = "ref" if key == ref else _ratio(rs.get("msgs_per_s"), s["msgs_per_s"])
            na = _na(lat)
            p999 = "–"
            if na:
                p50 = p99 = na
                rl50 = "–"
                if na != "–":
                    notes.setdefault((labels[key], "latency", lat.get("error") or
                                      lat.get("unavailable")), []).append(size_text(size))
            else:
                p50 = (f"{lat['p50_ns'] / 1e3:.1f} [{lat['p50_ns_min'] / 1e3:.1f}–"
                       f"{lat['p50_ns_max'] / 1e3:.1f}]")
                p99 = f"{lat['p99_ns'] / 1e3:.1f}"
                if lat.get("p999_ns") is not None:
                    p999 = f"{lat['p999_ns'] / 1e3:.1f}"
                rl50 = "ref" if key == ref else _ratio(lat["p50_ns"], rl.get("p50_ns"))
            out.append(f"| {size_text(size)} | {labels[key]} | {thr} | {mb} | {p50} | {p99} "
                       f"| {p999} | {rt} | {rl50} | {_pair(s, lat, 'minflt_per_msg')} "
                       f"| {_pair(s, lat, 'futex_calls_per_msg')} |")
    out.append("")
    out.append("Batch rows (recv_batch, get_many) have no latency of their own: a round trip "
               "carries one message; neither have the Go→Go rows (streams only). "
               "faults/msg: minor page faults (getrusage) of both processes over their whole "
               "loops, warm-up included, per message, as stream / round trip. futex/msg: futex "
               "system calls per message (stream / round trip) of both processes, counted "
               "inside the shmlink core — C rows only (bench/c); bench/native/anchor.py counts "
               "every system call with strace.")
    out.append("")
    out.extend(targets_table(idx))
    out.append("")
    out.extend(latency_targets_table(idx))
    if notes:
        out.append("")
        out.append("Not measured:")
        out.extend(f"- {label} {what} ({', '.join(sizes)}): {why}"
                   for (label, what, why), sizes in notes.items())
    tnotes = [t for t in doc["transports"] if t.get("note")]
    if tnotes:
        out.append("")
        out.append("How each transport is used:")
        out.extend(f"- {t['label']}: {t['note']}" for t in tnotes)
    if m.get("mqueue_note"):
        out.append(f"- POSIX message queues: {m['mqueue_note']}")
    return "\n".join(out) + "\n"


def targets_table(idx):
    """The issue's throughput targets as a markdown table (lines)."""
    out = ["| goal (throughput ratio) | measured | target | |", "|---|---:|---:|---|"]
    for num, den, size, target, text in TARGETS:
        want = f"≥ {target}×" if target else "–"
        a, b = idx.get((num, "stream", size)), idx.get((den, "stream", size))
        if not a or not b or _na(a) or _na(b):
            out.append(f"| {text} ({size_text(size)}) | not measured | {want} | – |")
            continue
        r = a["msgs_per_s"] / b["msgs_per_s"]
        verdict = "–" if target is None else ("met" if r >= target else "missed")
        out.append(f"| {text} ({size_text(size)}) | {r:.1f}× | {want} | {verdict} |")
    return out


def _fmt_count(x):
    if x is None:
        return "–"
    return f"{x:.3g}" if x >= 0.001 or x == 0 else f"{x:.1e}"


def _pair(s, lat, field):
    """stream / round-trip value of a per-message count, "–" where absent."""
    a = None if not s or _na(s) else s.get(field)
    b = None if not lat or _na(lat) else lat.get(field)
    if a is None and b is None:
        return "–"
    return f"{_fmt_count(a)} / {_fmt_count(b)}"


def _run_ratios(c, num, den):
    """Per-run ratios of two fields of one cell's runs (same process run)."""
    return [r[num] / r[den] for r in c.get("runs", []) if r.get(num) and r.get(den)]


def latency_targets_table(idx):
    """Round-trip targets (lines): the spinning round trip against the raw
    cache-line round trip between the same two processes (8 B, ratio taken
    within each C run, then the median), and the default settings' 1 MiB
    round trip against a Unix socket's (ratio of the p50 medians)."""
    out = ["| goal (round trip) | measured | target | |", "|---|---:|---:|---|"]
    c = idx.get(("shmlink_c", "latency", 8))
    v = _run_ratios(c, "spin_p50_ns", "cacheline_p50_ns") if c and not _na(c) else []
    text = "shmlink C→C spinning p50 ÷ raw cache-line ping-pong p50 (8 B)"
    if v:
        v.sort()
        r = v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2
        sp = sorted(x["spin_p50_ns"] for x in c["runs"])[len(c["runs"]) // 2]
        cl = sorted(x["cacheline_p50_ns"] for x in c["runs"])[len(c["runs"]) // 2]
        out.append(f"| {text} | {r:.2f}× ({sp:.0f} ns ÷ {cl:.0f} ns) | ≤ 2× | "
                   f"{'met' if r <= 2 else 'missed'} |")
    else:
        out.append(f"| {text} | not measured | ≤ 2× | – |")
    a, b = idx.get(("shmlink_c", "latency", 1 << 20)), idx.get(("unix_c", "latency", 1 << 20))
    text = "shmlink C→C default p50 ÷ Unix socket C→C p50 (1 MiB)"
    if a and b and not _na(a) and not _na(b):
        r = a["p50_ns"] / b["p50_ns"]
        out.append(f"| {text} | {r:.2f}× ({a['p50_ns'] / 1e3:.0f} µs ÷ {b['p50_ns'] / 1e3:.0f} µs) "
                   f"| ≤ 1× | {'met' if r <= 1 else 'missed'} |")
    else:
        out.append(f"| {text} | not measured | ≤ 1× | – |")
    return out


def summary(doc):
    """The README's benchmark tables: medians only, one row per transport."""
    idx = _index(doc)
    sizes = doc["sizes"]
    head = "| transport | " + " | ".join(size_text(s) for s in sizes) + " |"
    rule = "|---|" + "---:|" * len(sizes)
    thr, lat = [head, rule], [head, rule]
    for t in doc["transports"]:
        key = t["key"]
        row = []
        for size in sizes:
            c = idx.get((key, "stream", size))
            row.append(_na(c) or _num(c["msgs_per_s"]))
        thr.append(f"| {t['label']} | " + " | ".join(row) + " |")
        cells = [idx.get((key, "latency", size)) for size in sizes]
        if all(c is None for c in cells):
            continue  # batch rows: a round trip carries one message
        row = [_na(c) or (f"{c['p50_ns'] / 1e3:.1f}" + (
            f" / {c['p99_ns'] / 1e3:.1f} / {c['p999_ns'] / 1e3:.1f}"
            if c.get("p999_ns") is not None else "")) for c in cells]
        lat.append(f"| {t['label']} | " + " | ".join(row) + " |")
    out = ["Streaming throughput, messages per second (writer process → reader process):", ""]
    out += thr
    out += ["", "Round-trip latency p50 / p99 / p99.9, µs (ping → pong):", ""]
    out += lat
    out += ["", "Targets for Go → Python, 64 B messages, as ratios of throughput:", ""]
    out += targets_table(idx)
    out += ["", "Round-trip targets:", ""]
    out += latency_targets_table(idx)
    return "\n".join(out) + "\n"


def write_csv(doc, path):
    cols = ["transport", "label", "group", "kind", "size", "count", "reps",
            "msgs_per_s", "msgs_per_s_min", "msgs_per_s_max", "bytes_per_s",
            "bytes_per_s_min", "bytes_per_s_max", "p50_ns", "p50_ns_min", "p50_ns_max",
            "p99_ns", "p99_ns_min", "p99_ns_max", "p999_ns", "p999_ns_min", "p999_ns_max",
            "minflt_per_msg", "futex_calls_per_msg", "error", "unavailable"]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        for c in doc["cells"]:
            w.writerow(c)


def chart(doc, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    idx = _index(doc)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 5.5))
    colors = plt.get_cmap("tab20").colors
    for n, t in enumerate(doc["transports"]):
        key = t["key"]
        shm = key.startswith("shmlink")
        # One colour per transport on both panels.
        style = {"marker": "o", "linewidth": 2.4 if shm else 1.3, "color": colors[n % 20],
                 "linestyle": "-" if shm else "--", "label": t["label"]}
        for ax, kind, field, scale in ((ax1, "stream", "bytes_per_s", 1e6),
                                       (ax2, "latency", "p50_ns", 1e3)):
            xs, ys = [], []
            for size in doc["sizes"]:
                c = idx.get((key, kind, size))
                if c and field in c:
                    xs.append(size)
                    ys.append(c[field] / scale)
            if xs:
                ax.plot(xs, ys, **style)
    for ax in (ax1, ax2):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(doc["sizes"], [size_text(s) for s in doc["sizes"]])
        ax.set_xlabel("message size")
        ax.grid(True, which="both", alpha=0.3)
    ax1.set_ylabel("throughput, MB/s (median)")
    ax1.set_title("One-way streaming throughput (higher is better)")
    ax2.set_ylabel("round-trip latency p50, µs (median)")
    ax2.set_title("Ping-pong latency (lower is better)")
    ax1.legend(fontsize=7.5, loc="best")
    m = doc["machine"]
    fig.suptitle(f"shmlink vs peers — {doc['mode']} mode, {doc['reps']} rep(s); "
                 f"{m.get('cpu')}, {m.get('cores')} cores, Linux {m.get('kernel')}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_all(doc, outdir, stem):
    paths = []
    p = os.path.join(outdir, f"{stem}.json")
    with open(p, "w") as f:
        json.dump(doc, f, indent=1, ensure_ascii=False)
        f.write("\n")
    paths.append(p)
    p = os.path.join(outdir, f"{stem}.csv")
    write_csv(doc, p)
    paths.append(p)
    p = os.path.join(outdir, f"{stem}.md")
    with open(p, "w") as f:
        f.write(markdown(doc))
    paths.append(p)
    p = os.path.join(outdir, f"{stem}-summary.md")
    with open(p, "w") as f:
        f.write(summary(doc))
    paths.append(p)
    p = os.path.join(outdir, f"throughput-{stem}.png")
    try:
        chart(doc, p)
        paths.append(p)
    except ImportError as exc:
        print(f"report: no chart ({exc}); pip install -r bench/requirements.txt",
              file=sys.stderr)
    return paths


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: report.py RESULT.json")
    src = sys.argv[1]
    with open(src) as f:
        d = json.load(f)
    stem = os.path.splitext(os.path.basename(src))[0]
    for q in write_all(d, os.path.dirname(os.path.abspath(src)), stem):
        print("wrote", q)
