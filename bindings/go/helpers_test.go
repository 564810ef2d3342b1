//go:build linux && cgo

package shmlink

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync/atomic"
	"testing"
)

// Every segment a test makes has a name unique to this process (pid +
// counter) and is removed by t.Cleanup, even when the test fails.

var nameCounter atomic.Uint32

// posixAddr returns a fresh, unused-looking POSIX address.
func posixAddr() string {
	return fmt.Sprintf("posix:/shmlink-test-go-%d-%d", os.Getpid(), nameCounter.Add(1))
}

// sysvAddr returns a System V key address derived from pid and counter
// ('G' in the top byte keeps it apart from the other suites' keys).
func sysvAddr() string {
	n := nameCounter.Add(1)
	key := (uint32(0x47)<<24 | (uint32(os.Getpid())&0xffff)<<8) ^ n
	if key == 0 {
		key = 1
	}
	return SysVAddress(key)
}

// backends lists the ways a test can make a fresh segment.
var backends = []struct {
	name    string
	newAddr func() string
}{
	{"posix", posixAddr},
	{"sysv", sysvAddr},
	{"sysv-private", func() string { return "sysv:private" }},
}

// removeOnCleanup removes addr at the end of the test, tolerating "already gone".
func removeOnCleanup(t testing.TB, addr string) {
	t.Helper()
	t.Cleanup(func() {
		if err := Remove(addr); err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("cleanup: %v", err)
		}
	})
}

// create makes a fresh segment with an address from newAddr, retrying with
// another name if a stranger's segment happens to hold it, and registers
// its close and removal.
func create(t testing.TB, newAddr func() string, size int, opts ...Option) *Segment {
	t.Helper()
	for tries := 0; ; tries++ {
		addr := newAddr()
		seg, err := Create(addr, size, opts...)
		if errors.Is(err, fs.ErrExist) && tries < 20 {
			continue
		}
		if err != nil {
			t.Fatalf("Create(%q, %d): %v", addr, size, err)
		}
		removeOnCleanup(t, seg.Address())
		closeAtEnd(t, seg)
		return seg
	}
}

func isRoot() bool { return os.Geteuid() == 0 }

// mustClose closes c and reports a failed Close (also from a goroutine or
// a deferred call).
func mustClose(t testing.TB, c io.Closer) {
	t.Helper()
	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// closeAtEnd closes c when the test ends, however it ends.
func closeAtEnd(t testing.TB, c io.Closer) {
	t.Helper()
	t.Cleanup(func() { mustClose(t, c) })
}

// mustSend sends msg and stops the test if that fails.
func mustSend(t testing.TB, w *Writer, msg []byte) {
	t.Helper()
	if err := w.Send(msg); err != nil {
		t.Fatalf("Send(%d bytes): %v", len(msg), err)
	}
}
