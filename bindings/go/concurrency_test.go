//go:build linux && cgo

package shmlink

import (
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"
)

// Goroutines keep using a segment while another closes it: every call
// either works or fails with ErrClosed, nothing faults, and -race finds no
// data race in the Segment's own state.
func TestConcurrentCloseAndUse(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			for round := 0; round < 5; round++ {
				seg := create(t, b.newAddr, 1<<16)
				var wg sync.WaitGroup
				start := make(chan struct{})
				errs := make(chan error, 64)
				for g := 0; g < 6; g++ {
					wg.Add(1)
					go func(g int) {
						defer wg.Done()
						<-start
						p := make([]byte, 256)
						for i := 0; ; i++ {
							var err error
							switch (g + i) % 5 {
							case 0:
								_, err = seg.WriteAt(p, int64(g*256))
							case 1:
								_, err = seg.ReadAt(p, int64(i%200)*256)
							case 2:
								_, err = seg.Stat()
							case 3:
								if n := seg.Size(); n != 0 && n != 1<<16 {
									errs <- errors.New("Size neither 0 nor the size")
									return
								}
							case 4:
								if bs := seg.Bytes(); bs != nil && len(bs) != 1<<16 {
									errs <- errors.New("Bytes of a wrong length")
									return
								}
							}
							if errors.Is(err, ErrClosed) {
								return
							}
							if err != nil {
								errs <- err
								return
							}
							if i > 1_000_000 {
								errs <- errors.New("Close never became visible")
								return
							}
						}
					}(g)
				}
				close(start)
				time.Sleep(time.Millisecond)
				var cw sync.WaitGroup
				for c := 0; c < 2; c++ { // two concurrent Closes
					cw.Add(1)
					go func() { defer cw.Done(); mustClose(t, seg) }()
				}
				cw.Wait()
				wg.Wait()
				close(errs)
				for err := range errs {
					t.Fatal(err)
				}
			}
		})
	}
}

// A Segment dropped without Close is detached by the runtime cleanup
// (the safety net); the attach count of a System V segment shows it.
func TestCleanupDetachesUnreachableSegment(t *testing.T) {
	addr := sysvAddr()
	func() {
		seg, err := Create(addr, 4096)
		if err != nil {
			t.Fatal(err)
		}
		removeOnCleanup(t, addr)
		seg.Bytes()[0] = 1
		// seg becomes unreachable here without Close.
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		runtime.GC()
		st, err := StatAddress(addr)
		if err != nil {
			t.Fatal(err)
		}
		if st.Attached == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("segment still attached %d times 30 s after it became unreachable", st.Attached)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// An explicit Close stops the cleanup: it never closes the handle twice.
func TestCloseStopsCleanup(t *testing.T) {
	seg := create(t, sysvAddr, 4096)
	addr := seg.Address()
	mustClose(t, seg)
	other, err := Open(addr) // may reuse the freed handle's memory
	if err != nil {
		t.Fatal(err)
	}
	defer mustClose(t, other)
	seg = nil //nolint:ineffassign // drop the only reference, then collect
	for i := 0; i < 5; i++ {
		runtime.GC()
		time.Sleep(5 * time.Millisecond)
	}
	st, err := other.Stat()
	if err != nil || st.Attached != 1 {
		t.Fatalf("after GC of a closed Segment: Attached %d, %v; want 1", st.Attached, err)
	}
}
