//go:build linux && cgo

package shmlink

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"slices"
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
	case "hold":
		// Send, say so, and wait to be killed holding the slot.
		n, _ := strconv.Atoi(os.Getenv("SHMLINK_FANIN_COUNT"))
		for k := 0; k < n; k++ {
			if err := w.Send(faninMsg(99, k)); err != nil {
				fail(err)
			}
		}
		fmt.Println("holding")
		time.Sleep(time.Minute)
		fail(errors.New("not killed"))
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

// TestWriterSlots: WriterSlots of a channel with three writer slots, one
// held, one closed, one whose holder was killed; of a 1:1 channel; of a
// server with a client; and its errors. Both backends.
func TestWriterSlots(t *testing.T) {
	for _, b := range backends[:2] {
		t.Run(b.name, func(t *testing.T) {
			addr := b.newAddr()
			r, err := CreateReader(addr, 4096, Writers(3))
			if err != nil {
				t.Fatal(err)
			}
			removeOnCleanup(t, addr)
			closeAtEnd(t, r)
			addr = r.Address()
			w0, err := OpenWriter(addr)
			if err != nil {
				t.Fatal(err)
			}
			closeAtEnd(t, w0)
			w1, err := OpenWriter(addr)
			if err != nil {
				t.Fatal(err)
			}
			closeAtEnd(t, w1) // (closed below; a test that fails first closes it here)
			for k := 0; k < 2; k++ {
				mustSend(t, w0, faninMsg(0, k))
			}
			buf := make([]byte, 64)
			if _, err := r.RecvTimeout(buf, 0); err != nil || r.Source() != 0 {
				t.Fatalf("recv: %v from %d, want ring 0's first message", err, r.Source())
			}
			mustSend(t, w1, faninMsg(1, 0))
			hold := faninHelper(t, "hold", addr, 2, 3)
			out, err := hold.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := hold.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				_ = hold.Process.Kill()
				_ = hold.Wait()
			})
			if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "holding\n" {
				t.Fatalf("holding writer said %q, %v", line, err)
			}
			if err := hold.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			_ = hold.Wait()
			mustClose(t, w1)

			// 16-byte messages take 24 bytes of a ring each.
			me := os.Getpid()
			want := []WriterSlot{
				{Slot: 0, PID: me, Alive: 1, Position: 48, Used: 24, MessagesSent: 2},
				{Slot: 1, Closed: true, Position: 24, Used: 24, MessagesSent: 1},
				{Slot: 2, PID: hold.Process.Pid, Position: 72, Used: 72, MessagesSent: 3},
			}
			got, err := WriterSlots(addr)
			if err != nil || !slices.Equal(got, want) {
				t.Fatalf("WriterSlots = %+v, %v; want %+v", got, err, want)
			}

			// A 1:1 channel: one slot, its writer.
			one := b.newAddr()
			w, err := CreateWriter(one, 4096)
			if err != nil {
				t.Fatal(err)
			}
			removeOnCleanup(t, one)
			closeAtEnd(t, w)
			mustSend(t, w, faninMsg(0, 0))
			got, err = WriterSlots(w.Address())
			want = []WriterSlot{{Slot: 0, PID: me, Alive: 1, Position: 24, Used: 24, MessagesSent: 1}}
			if err != nil || !slices.Equal(got, want) {
				t.Fatalf("WriterSlots of a 1:1 channel = %+v, %v; want %+v", got, err, want)
			}

			// A server: each client slot names the client's reply channel.
			saddr := b.newAddr()
			srv, err := Listen(saddr, 1<<16, Clients(2))
			if err != nil {
				t.Fatal(err)
			}
			removeOnCleanup(t, saddr)
			closeAtEnd(t, srv)
			c, err := Dial(saddr)
			if err != nil {
				t.Fatal(err)
			}
			closeAtEnd(t, c)
			got, err = WriterSlots(saddr)
			if err != nil || len(got) != 2 {
				t.Fatalf("WriterSlots of a server = %+v, %v; want 2 slots", got, err)
			}
			reply := saddr + ".r0"
			if b.name == "sysv" {
				if got[0].ReplyKind != 2 {
					t.Fatalf("client slot %+v: want reply kind 2", got[0])
				}
				reply = fmt.Sprintf("sysv-id:%d", got[0].ReplyID)
			} else if got[0].ReplyKind != 1 || got[0].ReplyID != 0 {
				t.Fatalf("client slot %+v: want reply kind 1, id 0", got[0])
			}
			if st, err := StatAddress(reply); err != nil || (b.name == "sysv" && st.CreatorPID != me) {
				t.Fatalf("the reply channel %s: %+v, %v", reply, st, err)
			}
			if got[0].PID != me || got[0].Alive != 1 || got[1].PID != 0 || got[1].Alive != 0 || got[1].ReplyKind != 0 {
				t.Fatalf("client slots %+v: want slot 0 held by this process, slot 1 free", got)
			}

			// Errors.
			if _, err := WriterSlots(b.newAddr()); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("WriterSlots of nothing: %v, want fs.ErrNotExist", err)
			}
			if _, err := WriterSlots("sysv:private"); !errors.Is(err, syscall.EINVAL) {
				t.Fatalf("WriterSlots(sysv:private): %v, want EINVAL", err)
			}
			seg := create(t, b.newAddr, 8192)
			if _, err := seg.WriteAt([]byte("not a channel"), 0); err != nil {
				t.Fatal(err)
			}
			if _, err := WriterSlots(seg.Address()); !errors.Is(err, ErrProtocol) {
				t.Fatalf("WriterSlots of a plain segment: %v, want ErrProtocol", err)
			}
		})
	}
}
