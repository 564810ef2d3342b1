//go:build linux && cgo

package shmlink

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Many-writers channels: every message of every writer reaches the reader
// (or the queue's readers) exactly once, each writer's in its order; end
// of stream comes after the last writer closed; a writer killed between
// Reserve and Commit holds nobody back.

// faninMsg is message k of writer id: 8 bytes little-endian id<<32 | k,
// then 8 bytes k*7 (the layout tests/cross/gocalls writes too).
func faninMsg(id, k int) []byte {
	m := make([]byte, 16)
	binary.LittleEndian.PutUint64(m, uint64(id)<<32|uint64(k))
	binary.LittleEndian.PutUint64(m[8:], uint64(k)*7)
	return m
}

// faninCheck records message m in next (next[id] = the k expected next
// from writer id) and fails on a bad or out-of-order message.
func faninCheck(m []byte, next map[int]int) error {
	if len(m) != 16 {
		return fmt.Errorf("message of %d bytes, want 16", len(m))
	}
	v := binary.LittleEndian.Uint64(m)
	id, k := int(v>>32), int(uint32(v))
	if got := binary.LittleEndian.Uint64(m[8:]); got != uint64(k)*7 {
		return fmt.Errorf("writer %d message %d: second word %d, want %d", id, k, got, k*7)
	}
	if k != next[id] {
		return fmt.Errorf("writer %d: message %d, want %d (lost, duplicated or out of order)", id, k, next[id])
	}
	next[id] = k + 1
	return nil
}

func TestWritersOptionsRejected(t *testing.T) {
	addr := posixAddr()
	if _, err := CreateReader(addr, 4096, Writers(65)); err == nil || !strings.Contains(err.Error(), "Writers(65)") {
		t.Fatalf("Writers(65): %v, want an error naming it", err)
	}
	if _, err := CreateReader(addr, 4096, Writers(0)); err != nil {
		t.Fatalf("Writers(0) is the default of one writer: %v", err)
	} else {
		removeOnCleanup(t, addr)
	}
	addr = posixAddr()
	if _, err := CreateWriter(addr, 4096, Writers(2), Readers(2), Broadcast()); err == nil || !strings.Contains(err.Error(), "Broadcast") {
		t.Fatalf("Writers(2) with Broadcast: %v, want an error", err)
	}
	if _, err := OpenWriter(addr, Writers(2)); err == nil || !strings.Contains(err.Error(), "Writers") {
		t.Fatalf("OpenWriter(Writers(2)): %v, want an error", err)
	}
	if _, err := CreateWriter(addr, 4096, Workers(2)); err == nil || !strings.Contains(err.Error(), "Listen") {
		t.Fatalf("CreateWriter(Workers(2)): %v, want an error", err)
	}
}

// TestFaninGoroutines: writers in goroutines, each with its own Writer,
// into one reader (and into a queue of two readers), both backends.
func TestFaninGoroutines(t *testing.T) {
	const writers, n = 4, 2000
	for _, b := range backends[:2] {
		for _, queue := range []bool{false, true} {
			name := b.name + "/one"
			opts := []Option{Writers(writers)}
			if queue {
				name = b.name + "/queue"
				opts = append(opts, Readers(2), Queue())
			}
			t.Run(name, func(t *testing.T) {
				addr := b.newAddr()
				r, err := CreateReader(addr, 4096, opts...)
				if err != nil {
					t.Fatal(err)
				}
				removeOnCleanup(t, addr)
				closeAtEnd(t, r)
				if got := r.Writers(); got != writers {
					t.Fatalf("Writers() = %d, want %d", got, writers)
				}
				readers := []*Reader{r}
				if queue {
					r2, err := OpenReader(addr)
					if err != nil {
						t.Fatal(err)
					}
					closeAtEnd(t, r2)
					readers = append(readers, r2)
				}
				var ws []*Writer
				for i := 0; i < writers; i++ {
					w, err := OpenWriter(addr)
					if err != nil {
						t.Fatal(err)
					}
					if w.Slot() != i || w.Writers() != writers {
						t.Fatalf("writer %d: Slot() = %d, Writers() = %d", i, w.Slot(), w.Writers())
					}
					ws = append(ws, w)
				}
				if _, err := OpenWriter(addr); !errors.Is(err, ErrBusy) {
					t.Fatalf("writer %d of %d: %v, want ErrBusy", writers+1, writers, err)
				}
				var wg sync.WaitGroup
				errs := make(chan error, writers+len(readers))
				for i, w := range ws {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for k := 0; k < n; k++ {
							if err := w.Send(faninMsg(i, k)); err != nil {
								errs <- err
								return
							}
						}
						if err := w.Close(); err != nil {
							errs <- err
						}
					}()
				}
				// Each reader checks the order of what it gets (a queue
				// hands a writer's messages out in order, but two readers
				// interleave them, so order is checked per reader only
				// without a queue) and counts everything.
				var mu sync.Mutex
				seen := map[uint64]int{}
				for _, rd := range readers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						next := map[int]int{}
						buf := make([]byte, 64)
						for {
							m, err := rd.Recv(buf)
							if err == io.EOF {
								return
							}
							if err != nil {
								errs <- err
								return
							}
							v := binary.LittleEndian.Uint64(buf)
							if src := rd.Source(); src != int(v>>32) {
								errs <- fmt.Errorf("Source() = %d for a message of writer %d", src, v>>32)
								return
							}
							if !queue {
								if err := faninCheck(buf[:m], next); err != nil {
									errs <- err
									return
								}
							}
							mu.Lock()
							seen[v]++
							mu.Unlock()
						}
					}()
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					t.Fatal(err)
				}
				if len(seen) != writers*n {
					t.Fatalf("%d distinct messages, want %d", len(seen), writers*n)
				}
				for v, c := range seen {
					if c != 1 {
						t.Fatalf("message %#x delivered %d times", v, c)
					}
				}
			})
		}
	}
}

// TestFaninHelperProcess is not a test: the process tests re-execute the
// test binary with SHMLINK_FANIN_HELPER set to run a writer.
func TestFaninHelperProcess(t *testing.T) {
	mode := os.Getenv("SHMLINK_FANIN_HELPER")
	if mode == "" {
		return
	}
	addr := os.Getenv("SHMLINK_TEST_ADDR")
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	w, err := OpenWriter(addr)
	if err != nil {
		fail(err)
	}
	switch mode {
	case "write":
		id, _ := strconv.Atoi(os.Getenv("SHMLINK_FANIN_ID"))
		n, _ := strconv.Atoi(os.Getenv("SHMLINK_FANIN_COUNT"))
		for k := 0; k < n; k++ {
			if err := w.Send(faninMsg(id, k)); err != nil {
				fail(err)
			}
		}
		if err := w.Close(); err != nil {
			fail(err)
		}
	case "reserve-hang":
		// Reserve, fill, say so, and wait to be killed before Commit.
		p, err := w.Reserve(16)
		if err != nil {
			fail(err)
		}
		copy(p, faninMsg(99, 0))
		fmt.Println("reserved")
		time.Sleep(time.Minute)
		fail(errors.New("not killed"))
	default:
		fail(fmt.Errorf("unknown fan-in helper mode %q", mode))
	}
	os.Exit(0)
}

func faninHelper(t *testing.T, mode, addr string, id, count int) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestFaninHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), "SHMLINK_FANIN_HELPER="+mode, "SHMLINK_TEST_ADDR="+addr,
		"SHMLINK_FANIN_ID="+strconv.Itoa(id), "SHMLINK_FANIN_COUNT="+strconv.Itoa(count))
	cmd.Stderr = os.Stderr
	cmd.WaitDelay = time.Minute
	return cmd
}

// TestFaninProcesses: writers in child processes, one of them killed
// between Reserve and Commit while the others send. The reader gets every committed message of
// the others, in each writer's order, and then ErrPeerDead (the dead
// writer's slot) instead of waiting for ever.
func TestFaninProcesses(t *testing.T) {
	const n = 3000
	for _, b := range backends[:2] {
		t.Run(b.name, func(t *testing.T) {
			addr := b.newAddr()
			r, err := CreateReader(addr, 4096, Writers(3))
			if err != nil {
				t.Fatal(err)
			}
			removeOnCleanup(t, addr)
			closeAtEnd(t, r)
			addr = r.Address() // sysv: the canonical form children open

			hang := faninHelper(t, "reserve-hang", addr, 99, 0)
			out, err := hang.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := hang.Start(); err != nil {
				t.Fatal(err)
			}
			killed := false
			t.Cleanup(func() {
				if !killed {
					_ = hang.Process.Kill()
					_ = hang.Wait()
				}
			})
			line, err := bufio.NewReader(out).ReadString('\n')
			if err != nil || line != "reserved\n" {
				t.Fatalf("reserving writer said %q, %v", line, err)
			}
			var kids []*exec.Cmd
			for id := 0; id < 2; id++ {
				c := faninHelper(t, "write", addr, id, n)
				if err := c.Start(); err != nil {
					t.Fatal(err)
				}
				kids = append(kids, c)
				t.Cleanup(func() { // a test that fails early leaves no writer behind
					_ = c.Process.Kill()
					_ = c.Wait()
				})
			}

			next := map[int]int{}
			buf := make([]byte, 64)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var end error
			for {
				m, err := r.RecvInto(ctx, buf)
				if err != nil {
					end = err
					break
				}
				if err := faninCheck(buf[:m], next); err != nil {
					t.Fatal(err)
				}
				// Kill the reserving writer once both others are in (a
				// writer slot that died while none is held ends the
				// stream with ErrPeerDead, also while some slot was never
				// held).
				if !killed && len(next) == 2 {
					if err := hang.Process.Signal(syscall.SIGKILL); err != nil {
						t.Fatal(err)
					}
					_ = hang.Wait()
					killed = true
				}
			}
			if !errors.Is(end, ErrPeerDead) || next[0] != n || next[1] != n || len(next) != 2 {
				t.Fatalf("received %v, then %v; want %d of writers 0 and 1, nothing of the killed one, then ErrPeerDead", next, end, n)
			}
			for _, c := range kids {
				if err := c.Wait(); err != nil {
					t.Fatalf("writer process: %v", err)
				}
			}
		})
	}
}
