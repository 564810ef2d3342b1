//go:build linux

package shmlink

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
)

// The fan-out options: a broadcast channel gives every reader every
// message in order; a queue gives each message to exactly one reader;
// ErrBusy when every reader slot is held.

func TestFanoutConstantsMatchC(t *testing.T) {
	if FanoutOne != 0 || FanoutBroadcast != 1 || FanoutQueue != 2 || MaxReaders != 64 {
		t.Fatal("Fanout constants differ from shmlink.h")
	}
}

func TestFanoutOptionsRejected(t *testing.T) {
	addr := posixAddr()
	if _, err := CreateWriter(addr, 4096, Readers(2)); err == nil {
		t.Fatal("Readers(2) without Broadcast or Queue: want an error")
	}
	if _, err := CreateWriter(addr, 4096, Readers(65), Broadcast()); err == nil {
		t.Fatal("Readers(65): want an error")
	}
	if _, err := OpenReader(addr, Queue()); err == nil {
		t.Fatal("OpenReader(Queue()): want an error")
	}
	if _, err := Create(addr, 4096, Readers(2)); err == nil {
		t.Fatal("Create(Readers(2)): want an error")
	}
}

func TestFanoutBroadcastAndQueue(t *testing.T) {
	modes := []struct {
		opt  Option
		want Fanout
		per  int // deliveries of each message over all readers
	}{
		{Broadcast(), FanoutBroadcast, 3},
		{Queue(), FanoutQueue, 1},
	}
	for _, b := range backends[:2] {
		for _, m := range modes {
			t.Run(b.name+"/"+m.want.String(), func(t *testing.T) {
				addr := b.newAddr()
				w, err := CreateWriter(addr, 1<<14, Readers(3), m.opt)
				if err != nil {
					t.Fatal(err)
				}
				removeOnCleanup(t, addr)
				if w.Fanout() != m.want {
					t.Fatalf("Fanout() = %v, want %v", w.Fanout(), m.want)
				}
				var readers []*Reader
				for i := 0; i < 3; i++ {
					r, err := OpenReader(addr)
					if err != nil {
						t.Fatal(err)
					}
					if f, slot := r.Fanout(); f != m.want || slot != i {
						t.Fatalf("reader %d: Fanout() = %v, %d", i, f, slot)
					}
					readers = append(readers, r)
				}
				if _, err := OpenReader(addr); !errors.Is(err, ErrBusy) {
					t.Fatalf("fourth reader: %v, want ErrBusy", err)
				}
				const n = 300
				var mu sync.Mutex
				got := map[int]int{}
				var wg sync.WaitGroup
				for _, r := range readers {
					wg.Add(1)
					go func(r *Reader) {
						defer wg.Done()
						defer func() { _ = r.Close() }()
						last := -1
						for msg, err := range r.Messages(context.Background()) {
							if err != nil {
								t.Errorf("recv: %v", err)
								return
							}
							var k int
							if _, err := fmt.Sscanf(string(msg), "m%04d", &k); err != nil || k <= last {
								t.Errorf("message %q after %d", msg, last)
								return
							}
							last = k
							mu.Lock()
							got[k]++
							mu.Unlock()
						}
					}(r)
				}
				for i := 0; i < n; i++ {
					if err := w.Send([]byte(fmt.Sprintf("m%04d", i))); err != nil {
						t.Fatal(err)
					}
				}
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
				wg.Wait()
				for i := 0; i < n; i++ {
					if got[i] != m.per {
						t.Fatalf("message %d delivered %d times, want %d", i, got[i], m.per)
					}
				}
			})
		}
	}
}
