//go:build linux && cgo

package shmlink

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"
)

// Contexts that end while messages arrive: every message is received
// exactly once, in order, whether the wait for it was cancelled or not
// (a cancelled wait leaves the message in the channel, and the
// cancellation of one call does not leak into the next).
func TestContextRacesMessages(t *testing.T) {
	w, r := newPair(t, posixAddr, 4096)
	const count = 2000
	go func() {
		m := make([]byte, 8)
		for i := 0; i < count; i++ {
			binary.LittleEndian.PutUint64(m, uint64(i))
			if i%16 == 0 {
				time.Sleep(time.Duration(i%7) * 100 * time.Microsecond)
			}
			if err := w.Send(m); err != nil {
				t.Error(err)
				return
			}
		}
		mustClose(t, w)
	}()
	next, cancelled := uint64(0), 0
	for i := 0; ; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(i%5)*50*time.Microsecond)
		buf, err := r.RecvContext(ctx)
		cancel()
		n := len(buf)
		if err == io.EOF {
			break
		}
		if errors.Is(err, context.DeadlineExceeded) {
			cancelled++
			continue
		}
		if err != nil || n != 8 {
			t.Fatalf("RecvContext: %d bytes, %v", n, err)
		}
		if seq := binary.LittleEndian.Uint64(buf); seq != next {
			t.Fatalf("message %d, want %d", seq, next)
		}
		next++
	}
	if next != count {
		t.Fatalf("%d messages, want %d", next, count)
	}
	t.Logf("%d waits ended by their deadline", cancelled)
}

// Close races with calls that wait and calls that do not, from several
// goroutines, many times: every call returns, with success or ErrClosed
// (or ErrPeerDead on the writer, whose reader closes meanwhile).
func TestCloseRacesCalls(t *testing.T) {
	for round := 0; round < 40; round++ {
		w, r := newPair(t, posixAddr, 4096)
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		run := func(name string, call func() error) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					err := call()
					if errors.Is(err, ErrClosed) || errors.Is(err, ErrPeerDead) || err == io.EOF {
						return
					}
					if err != nil {
						errs <- fmt.Errorf("%s: %w", name, err)
						return
					}
				}
			}()
		}
		ctx, cancel := context.WithCancel(context.Background())
		run("Send", func() error { return w.Send(make([]byte, 300)) })
		run("Recv", func() error { _, err := r.Recv(make([]byte, 512)); return err })
		run("RecvContext", func() error {
			_, err := r.RecvContext(ctx)
			return err
		})
		time.Sleep(time.Duration(round%4) * time.Millisecond)
		var cw sync.WaitGroup
		for _, c := range []io.Closer{r, w, r} { // the reader twice at once
			cw.Add(1)
			go func() { defer cw.Done(); mustClose(t, c) }()
		}
		cw.Wait()
		finished := make(chan struct{})
		go func() { wg.Wait(); close(finished) }()
		select {
		case <-finished:
		case <-time.After(20 * time.Second):
			t.Fatalf("round %d: a call did not return after Close", round)
		}
		cancel()
		close(errs)
		for err := range errs {
			t.Fatalf("round %d: %v", round, err)
		}
	}
}
