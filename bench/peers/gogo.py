"""Go → Go rows: a Go writer process streams to a Go reader process through
shmlink (Writer.Send → Reader.Recv) and, beside it, through a Unix socket (a
length-prefixed write per message), measured by the Go benchmark program
(bench/go, `shmlink-bench-go gogo-cell`; the same cells `go run ./bench/go
gogo` prints as a table).

One cell is one run of the program: it creates the channel (or listens on a
socket in a temporary directory), starts the writer as a child process,
reads warm-up + count messages checking the sequence number stamped into
each, times the last count and removes the channel. Throughput only: a round
trip Go → Go is not measured here.
"""

from __future__ import annotations

import os

from .transports import Command, Setup, Transport

ROWS = [("shmlink_gogo", "shmlink Go→Go", "shm",
         "Go writer process → Go reader process, Writer.Send → Reader.Recv (a cgo call "
         "each), 4 MiB ring"),
        ("unix_gogo", "Unix socket Go→Go", "unix",
         "Go writer process → Go reader process over a Unix stream socket, a 4-byte length "
         "and the payload in one write per message, io.ReadFull on the reader")]


class GoGo(Transport):
    group = "go"
    latency = False

    def __init__(self, key, label, gkey, note, go_bin):
        self.key, self.label, self.gkey, self.go_bin = key, label, gkey, go_bin
        self.note = ("bench/go gogo-cell: " + note + "; minor page faults: the reader's "
                     "loop plus the whole writer process (its start included)")

    def unavailable(self, kind, size):
        if not self.go_bin or not os.access(self.go_bin, os.X_OK):
            return f"Go benchmark program not built ({self.go_bin})"
        return None

    def setup(self, kind, size, tag):
        return Setup([Command([self.go_bin, "gogo-cell", "-transport", self.gkey,
                               "-size", str(size)])], 0)


def transports(go_bin):
    return [GoGo(k, label, g, note, go_bin) for k, label, g, note in ROWS]
