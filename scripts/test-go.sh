#!/usr/bin/env bash
# Go binding: vet, the package tests under the race detector (including the
# amalgamation staleness check and the Example functions), then each example
# program once, checking that nothing is left in /dev/shm or `ipcs -m`.
# Go fetches golang.org/x/sys itself (go.sum is committed).
set -euo pipefail
cd "$(dirname "$0")/.."

# What an example could leak once it has exited: its POSIX names, and System
# V segments nobody is attached to. (Other suites may run at the same time;
# their live, attached segments are not counted.)
shm_snapshot() {
    { ls -1 /dev/shm 2>/dev/null | { grep '^shmlink-example' || true; } | sed 's/^/posix /'
      ipcs -m 2>/dev/null | awk '$1 ~ /^0x/ && $6 == 0 {print "sysv", $1, $2}'; } | sort
}
before=$(mktemp)
after=$(mktemp)
bindir=$(mktemp -d)
trap 'rm -rf "$before" "$after" "$bindir"' EXIT

echo "== go vet"
go vet ./...
echo "== go test -race"
go test -race -count=1 ./...

echo "== examples"
go build -o "$bindir/" ./examples/...
for example in sysv-private sysv-key posix; do
    shm_snapshot >"$before"
    echo "-- examples/$example"
    "$bindir/$example"
    shm_snapshot >"$after"
    leaked=$(comm -13 "$before" "$after")
    if [ -n "$leaked" ]; then
        echo "examples/$example left segments behind:" >&2
        echo "$leaked" >&2
        exit 1
    fi
done
echo "== a consumer module vendoring the package (the C core comes with it)"
consumer="$bindir/consumer"
mkdir -p "$consumer"
cat >"$consumer/go.mod" <<MOD
module example.com/consumer

go 1.24

require github.com/shmlink/shmlink v0.0.0

replace github.com/shmlink/shmlink => $PWD
MOD
cat >"$consumer/main.go" <<'SRC'
package main

import (
	"fmt"
	"os"

	shmlink "github.com/shmlink/shmlink/bindings/go"
)

func main() {
	addr := fmt.Sprintf("posix:/shmlink-example-consumer-%d", os.Getpid())
	seg, err := shmlink.Create(addr, 4096)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer shmlink.Remove(addr)
	defer seg.Close()
	copy(seg.Bytes(), "vendored")
	fmt.Println(string(seg.Bytes()[:8]))
}
SRC
( cd "$consumer" && go mod tidy && go mod vendor && go build -mod=vendor -o consumer . )
test -f "$consumer/vendor/github.com/shmlink/shmlink/bindings/go/shmlink_amalgamation.c"
[ "$("$consumer/consumer")" = vendored ] || { echo "vendored consumer did not run" >&2; exit 1; }
echo "go: all passed"
