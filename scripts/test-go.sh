#!/usr/bin/env bash
# Go binding: vet, staticcheck and golangci-lint, the messages of builds
# that cannot work (no cgo, not Linux), the package tests under the race
# detector (including the amalgamation staleness check and the Example
# functions), then each example program once, checking that nothing is left
# in /dev/shm or `ipcs -m`.
# Go fetches golang.org/x/sys itself (go.sum is committed).
set -euo pipefail
cd "$(dirname "$0")/.."

# What an example could leak once it has exited: its POSIX names, and System
# V segments nobody is attached to. (Other suites may run at the same time;
# their live, attached segments are not counted.)
shm_snapshot() {
    { find /dev/shm -maxdepth 1 -name 'shmlink-example*' -printf 'posix %f\n' 2>/dev/null || true
      ipcs -m 2>/dev/null | awk '$1 ~ /^0x/ && $6 == 0 {print "sysv", $1, $2}'; } | sort
}
before=$(mktemp)
after=$(mktemp)
bindir=$(mktemp -d)
trap 'rm -rf "$before" "$after" "$bindir"' EXIT

echo "== go vet"
go vet ./...

# Linters, pinned so that a new release cannot fail a run that passed; each
# is installed with `go install` (into GOBIN, else GOPATH/bin) when missing
# or of another version.
STATICCHECK_VERSION=v0.8.2       # staticcheck 2026.2.2
GOLANGCI_LINT_VERSION=v2.15.0
gobin=$(go env GOBIN)
[ -n "$gobin" ] || gobin="$(go env GOPATH)/bin"
tool() { # NAME MODULE/PATH VERSION
    local exe="$gobin/$1"
    if ! [ -x "$exe" ] || ! go version -m "$exe" 2>/dev/null | grep -q "[[:space:]]$3[[:space:]]"; then
        echo "installing $2@$3" >&2
        GOFLAGS='' go install "$2@$3" >&2
    fi
    echo "$exe"
}
echo "== staticcheck"
"$(tool staticcheck honnef.co/go/tools/cmd/staticcheck "$STATICCHECK_VERSION")" ./...
echo "== golangci-lint (default linters)"
"$(tool golangci-lint github.com/golangci/golangci-lint/v2/cmd/golangci-lint "$GOLANGCI_LINT_VERSION")" run ./...

echo "== builds that cannot work stop at a sentence saying why"
expect_build_error() { # WANT ENV...
    local want=$1 out
    shift
    if out=$(env "$@" go build ./bindings/go 2>&1); then
        echo "$* go build ./bindings/go succeeded" >&2
        exit 1
    fi
    if ! grep -qF "$want" <<<"$out"; then
        echo "$* go build ./bindings/go does not say \"$want\":" >&2
        echo "$out" >&2
        exit 1
    fi
    echo "$*: $(grep -F "$want" <<<"$out" | head -1 | cut -c1-120)..."
}
expect_build_error "shmlink needs cgo: build with CGO_ENABLED=1" CGO_ENABLED=0
expect_build_error "shmlink supports Linux only" GOOS=darwin
expect_build_error "shmlink supports Linux only" GOOS=freebsd CGO_ENABLED=1

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
