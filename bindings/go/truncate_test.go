//go:build linux && cgo

package shmlink

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
)

// A peer that shrinks a POSIX channel's object (ftruncate) never kills a Go
// process with SIGBUS, in C code (Send, Recv) or in Go code reading a Peek
// slice: the core's truncation guard replaces the lost pages with private
// zero pages, and the calls fail with ErrProtocol.

func truncateObject(t *testing.T, addr string, size int64) {
	t.Helper()
	if err := os.Truncate("/dev/shm/"+strings.TrimPrefix(addr, "posix:/"), size); err != nil {
		t.Fatal(err)
	}
}

func openPair(t *testing.T) (string, *Writer, *Reader) {
	t.Helper()
	addr := posixAddr()
	w, err := CreateWriter(addr, 1<<16)
	if err != nil {
		t.Fatal(err)
	}
	removeOnCleanup(t, addr)
	r, err := OpenReader(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = w.Close()
		_ = r.Close()
	})
	return addr, w, r
}

func TestTruncatedChannelFailsInsteadOfCrashing(t *testing.T) {
	for _, size := range []int64{0, 4096} {
		addr, w, r := openPair(t)
		msg := bytes.Repeat([]byte("x"), 1000)
		if err := w.Send(msg); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, r.MaxMessage())
		if _, err := r.Recv(buf); err != nil {
			t.Fatal(err)
		}
		truncateObject(t, addr, size)
		var sendErr error
		for i := 0; i < 1000 && sendErr == nil; i++ {
			sendErr = w.SendTimeout(msg, 0)
		}
		if !errors.Is(sendErr, ErrProtocol) {
			t.Fatalf("size %d: Send after truncation: %v, want ErrProtocol", size, sendErr)
		}
		// What the writer committed into pages that survived arrives intact;
		// then ErrProtocol if the reader touches a lost page, else a time-out.
		var recvErr error
		for i := 0; i < 10000 && recvErr == nil; i++ {
			var n int
			n, recvErr = r.RecvTimeout(buf, 0)
			if recvErr == nil && !bytes.Equal(buf[:n], msg) {
				t.Fatalf("size %d: message %d damaged", size, i)
			}
		}
		want := ErrProtocol
		if size != 0 {
			want = os.ErrDeadlineExceeded
		}
		if !errors.Is(recvErr, want) {
			t.Fatalf("size %d: Recv after truncation: %v, want %v", size, recvErr, want)
		}
	}
}

func TestTruncatedPeekSliceReadsZeros(t *testing.T) {
	addr, w, r := openPair(t)
	if err := w.Send(bytes.Repeat([]byte("y"), 3000)); err != nil {
		t.Fatal(err)
	}
	peeked, err := r.Peek()
	if err != nil {
		t.Fatal(err)
	}
	truncateObject(t, addr, 0)
	// Go code reads the lost pages: zeros, no fault.
	if !bytes.Equal(peeked, make([]byte, len(peeked))) {
		t.Fatal("peeked slice after truncation is not zero")
	}
	if err := r.Release(); !errors.Is(err, ErrProtocol) {
		t.Fatalf("Release after truncation: %v, want ErrProtocol", err)
	}
}
