// Package event is what the Go programs of the cross-language suite share
// to report to the test: one JSON object a line on stdout, and times that
// the test can compare with its own.
package event

import (
	"encoding/json"
	"os"

	"golang.org/x/sys/unix"
)

// Emit writes v as one JSON line on stdout. It panics if it cannot: the
// test reading the other end is gone.
func Emit(v map[string]any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	if _, err := os.Stdout.Write(append(b, '\n')); err != nil {
		panic(err)
	}
}

// Monotonic is CLOCK_MONOTONIC in seconds, comparable with Python's
// time.monotonic() in another process.
func Monotonic() float64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0
	}
	return float64(ts.Sec) + float64(ts.Nsec)/1e9
}
