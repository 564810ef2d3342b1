//go:build linux && cgo

package shmlink

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// recvAll receives every message until the end of the stream.
func recvAll(t *testing.T, r *Reader) [][]byte {
	t.Helper()
	var got [][]byte
	buf := make([]byte, r.MaxMessage())
	for {
		n, err := r.Recv(buf)
		if err == io.EOF {
			return got
		}
		if err != nil {
			t.Fatalf("Recv after %d messages: %v", len(got), err)
		}
		got = append(got, bytes.Clone(buf[:n]))
	}
}

func TestSendBatch(t *testing.T) {
	for _, b := range chanBackends {
		t.Run(b.name, func(t *testing.T) {
			w, r := newPair(t, b.newAddr, 8192)
			if n, err := w.SendBatch(nil); n != 0 || err != nil {
				t.Fatalf("SendBatch(nil): %d, %v", n, err)
			}
			// More messages than one crossing into C takes (16), of every
			// size, more bytes than the ring holds: SendBatch waits for the
			// reader in between.
			var msgs [][]byte
			for i := 0; i < 100; i++ {
				var m []byte
				switch i % 10 {
				case 3:
					m = nil
				case 4:
					m = []byte{}
				case 9:
					m = bytes.Repeat([]byte{byte(i)}, w.MaxMessage())
				default:
					m = bytes.Repeat([]byte{byte(i)}, i*7%300)
				}
				msgs = append(msgs, m)
			}
			done := make(chan [][]byte)
			go func() {
				defer close(done)
				got := [][]byte{}
				buf := make([]byte, r.MaxMessage())
				for len(got) < len(msgs) {
					n, err := r.Recv(buf)
					if err != nil {
						t.Errorf("Recv after %d messages: %v", len(got), err)
						return
					}
					got = append(got, bytes.Clone(buf[:n]))
				}
				done <- got
			}()
			n, err := w.SendBatch(msgs)
			if n != len(msgs) || err != nil {
				t.Fatalf("SendBatch of %d messages: %d, %v", len(msgs), n, err)
			}
			got := <-done
			for i := range got {
				if !bytes.Equal(got[i], msgs[i]) {
					t.Fatalf("message %d: %d bytes, want %d", i, len(got[i]), len(msgs[i]))
				}
			}
		})
	}
}

func TestSendBatchErrors(t *testing.T) {
	w, r := newPair(t, posixAddr, 4096)
	// A message too large: nothing is sent, the error names it.
	n, err := w.SendBatch([][]byte{[]byte("a"), make([]byte, w.MaxMessage()+1)})
	if n != 0 || !errors.Is(err, syscall.EMSGSIZE) || !strings.Contains(err.Error(), "message 1") {
		t.Fatalf("SendBatch with a message too large: %d, %v", n, err)
	}
	if _, err := r.RecvTimeout(make([]byte, 8), 0); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("something was sent: %v", err)
	}
	// An open reservation.
	if _, err := w.Reserve(1); err != nil {
		t.Fatal(err)
	}
	if _, err := w.SendBatch([][]byte{nil}); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("SendBatch during a reservation: %v", err)
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	// The reader goes away while the batch waits for room: the messages
	// that fitted were sent, n says how many, the error is ErrPeerDead.
	const fit = 4096 / (8 + 1000)
	msgs := make([][]byte, 10)
	for i := range msgs {
		msgs[i] = make([]byte, 1000)
		binary.LittleEndian.PutUint64(msgs[i], uint64(i))
	}
	type result struct {
		n   int
		err error
	}
	res := make(chan result, 1)
	go func() { n, err := w.SendBatch(msgs); res <- result{n, err} }()
	time.Sleep(20 * time.Millisecond)
	mustClose(t, r)
	select {
	case got := <-res:
		// The ring holds 4 records of 8 + 1000 bytes.
		if got.n != fit || !errors.Is(got.err, ErrPeerDead) || !strings.Contains(got.err.Error(), fmt.Sprint("message ", fit)) {
			t.Fatalf("SendBatch when the reader closed: %d, %v; want %d sent and ErrPeerDead", got.n, got.err, fit)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("SendBatch did not return after the reader closed")
	}
	r2 := openTestReader(t, w.Address())
	buf := make([]byte, 1000)
	for i := 0; i < fit; i++ {
		if n, err := r2.Recv(buf); err != nil || n != 1000 || binary.LittleEndian.Uint64(buf) != uint64(i) {
			t.Fatalf("message %d after the batch: %d bytes, %v", i, n, err)
		}
	}
	if _, err := r2.RecvTimeout(buf, 0); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("more than %d messages were sent: %v", fit, err)
	}
}

// A Writer is an io.Writer that sends one message per Write.
func TestWriterIsIOWriter(t *testing.T) {
	w, r := newPair(t, posixAddr, 4096)
	var iw io.Writer = w
	if _, err := fmt.Fprintf(iw, "job %d of %d", 1, 2); err != nil {
		t.Fatal(err)
	}
	if n, err := iw.Write([]byte("second")); n != 6 || err != nil {
		t.Fatalf("Write: %d, %v", n, err)
	}
	if n, err := iw.Write(make([]byte, w.MaxMessage()+1)); n != 0 || !errors.Is(err, syscall.EMSGSIZE) {
		t.Fatalf("Write of more than MaxMessage: %d, %v; want 0 and EMSGSIZE", n, err)
	}
	mustClose(t, w)
	got := recvAll(t, r)
	if len(got) != 2 || string(got[0]) != "job 1 of 2" || string(got[1]) != "second" {
		t.Fatalf("received %q", got)
	}
}

func TestRecvInto(t *testing.T) {
	for _, b := range chanBackends {
		t.Run(b.name, func(t *testing.T) {
			w, r := newPair(t, b.newAddr, 4096)
			ctx := context.Background()
			mustSend(t, w, []byte("twelve bytes"))
			buf := make([]byte, 64)
			if n, err := r.RecvInto(ctx, buf); err != nil || string(buf[:n]) != "twelve bytes" {
				t.Fatalf("RecvInto: %q, %v", buf[:n], err)
			}
			// Too small a buffer: the size needed, the message kept.
			mustSend(t, w, []byte("twenty bytes long!!!"))
			if n, err := r.RecvInto(ctx, buf[:5]); n != 20 || !errors.Is(err, io.ErrShortBuffer) {
				t.Fatalf("RecvInto into 5 bytes: %d, %v", n, err)
			}
			// Cancelled while waiting (the message is still there for the
			// next call, see above), and a deadline.
			if n, err := r.RecvInto(ctx, buf); err != nil || n != 20 {
				t.Fatalf("RecvInto after the short buffer: %d, %v", n, err)
			}
			cctx, cancel := context.WithCancel(ctx)
			time.AfterFunc(20*time.Millisecond, cancel)
			if _, err := r.RecvInto(cctx, buf); !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), r.Address()) {
				t.Fatalf("RecvInto cancelled: %v", err)
			}
			dctx, cancel2 := context.WithTimeout(ctx, 30*time.Millisecond)
			defer cancel2()
			start := time.Now()
			if _, err := r.RecvInto(dctx, buf); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("RecvInto past the deadline: %v", err)
			}
			if el := time.Since(start); el < 25*time.Millisecond {
				t.Fatalf("RecvInto with a 30 ms deadline returned after %v", el)
			}
			// A message sent after a cancelled wait is received by the next call.
			mustSend(t, w, []byte("after"))
			mustClose(t, w)
			if n, err := r.RecvInto(ctx, buf); err != nil || string(buf[:n]) != "after" {
				t.Fatalf("RecvInto: %q, %v", buf[:n], err)
			}
			if n, err := r.RecvInto(ctx, buf); n != 0 || err != io.EOF {
				t.Fatalf("RecvInto at the end of the stream: %d, %v; want 0, io.EOF", n, err)
			}
		})
	}
}

func TestMessages(t *testing.T) {
	for _, b := range chanBackends {
		t.Run(b.name, func(t *testing.T) {
			w, r := newPair(t, b.newAddr, 1<<18) // messages up to ~128 KiB
			big := bytes.Repeat([]byte("0123456789abcdef"), 100<<10/16)
			want := [][]byte{[]byte("one"), {}, []byte("three"), big, []byte("five"), []byte("six")}
			for _, m := range want {
				mustSend(t, w, m)
			}
			mustClose(t, w)
			ctx := context.Background()
			var got [][]byte
			for msg, err := range r.Messages(ctx) {
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, bytes.Clone(msg))
				if len(got) == 2 {
					break // the rest stays in the channel
				}
			}
			n, err := r.Recv(make([]byte, 16))
			if err != nil || n != 5 {
				t.Fatalf("Recv after breaking out of the loop: %d, %v; want \"three\"", n, err)
			}
			got = append(got, want[2])
			// The iterator's buffer grows for the 100 KiB message.
			for msg, err := range r.Messages(ctx) {
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, bytes.Clone(msg))
			}
			if len(got) != len(want) {
				t.Fatalf("%d messages, want %d", len(got), len(want))
			}
			for i := range want {
				if !bytes.Equal(got[i], want[i]) {
					t.Fatalf("message %d: %d bytes, want %d", i, len(got[i]), len(want[i]))
				}
			}
			// At the end of the stream the loop does not run.
			for msg, err := range r.Messages(ctx) {
				t.Fatalf("after the end of the stream: %q, %v", msg, err)
			}
		})
	}
}

// Errors end the loop after being yielded once: a cancelled context, a
// dead writer.
func TestMessagesErrors(t *testing.T) {
	w, r := newPair(t, posixAddr, 4096)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mustSend(t, w, []byte("first"))
	var got []string
	var errs []error
	for msg, err := range r.Messages(ctx) {
		if err != nil {
			errs = append(errs, err)
			continue // the iterator stops by itself
		}
		got = append(got, string(msg))
		cancel() // the next wait ends at once
	}
	if len(got) != 1 || got[0] != "first" || len(errs) != 1 || !errors.Is(errs[0], context.Canceled) {
		t.Fatalf("messages %q, errors %v; want \"first\" then context.Canceled", got, errs)
	}
	// A context done before the loop starts: one error, no message taken.
	mustSend(t, w, []byte("kept"))
	errs = errs[:0]
	for msg, err := range r.Messages(ctx) {
		if msg != nil {
			t.Fatalf("a message with a done context: %q", msg)
		}
		errs = append(errs, err)
	}
	if len(errs) != 1 || !errors.Is(errs[0], context.Canceled) {
		t.Fatalf("errors %v", errs)
	}
	if n, err := r.Recv(make([]byte, 8)); err != nil || n != 4 {
		t.Fatalf("the message was not kept: %d, %v", n, err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	for _, err := range r.Messages(context.Background()) {
		if !errors.Is(err, fs.ErrClosed) {
			t.Fatalf("Messages after Close: %v", err)
		}
	}
}

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
	buf := make([]byte, 8)
	next, cancelled := uint64(0), 0
	for i := 0; ; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(i%5)*50*time.Microsecond)
		n, err := r.RecvInto(ctx, buf)
		cancel()
		if err == io.EOF {
			break
		}
		if errors.Is(err, context.DeadlineExceeded) {
			cancelled++
			continue
		}
		if err != nil || n != 8 {
			t.Fatalf("RecvInto: %d, %v", n, err)
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
		run("SendBatch", func() error { _, err := w.SendBatch([][]byte{make([]byte, 300), nil}); return err })
		run("Recv", func() error { _, err := r.Recv(make([]byte, 512)); return err })
		run("RecvInto", func() error {
			_, err := r.RecvInto(ctx, make([]byte, 512))
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

// giveAway makes the segment at addr belong to uid (root only).
func giveAway(t *testing.T, addr string, uid int) {
	t.Helper()
	st, err := StatAddress(addr)
	if err != nil {
		t.Fatal(err)
	}
	switch st.Backend {
	case BackendPOSIX:
		name := strings.TrimPrefix(addr, "posix:")
		if err := os.Chown("/dev/shm"+name, uid, -1); err != nil {
			t.Fatal(err)
		}
	case BackendSysV:
		var desc unix.SysvShmDesc
		if _, err := unix.SysvShmCtl(st.ShmID, unix.IPC_STAT, &desc); err != nil {
			t.Fatal(err)
		}
		desc.Perm.Uid = uint32(uid)
		if _, err := unix.SysvShmCtl(st.ShmID, unix.IPC_SET, &desc); err != nil {
			t.Fatal(err)
		}
	}
	if st, err := StatAddress(addr); err != nil || st.UID != uint32(uid) {
		t.Fatalf("owner after the change: %d, %v", st.UID, err)
	}
}

// A channel whose segment belongs to another user opens only with
// AnyOwner; the error says why and how.
func TestAnyOwner(t *testing.T) {
	if !isRoot() {
		t.Skip("needs root to make a channel of another user")
	}
	const nobody = 65534
	for _, b := range chanBackends {
		t.Run(b.name, func(t *testing.T) {
			w := newTestWriter(t, b.newAddr, 4096)
			addr := w.Address()
			mustSend(t, w, []byte("from nobody"))
			mustClose(t, w)
			giveAway(t, addr, nobody)
			for name, open := range map[string]func(...Option) error{
				"OpenReader": func(o ...Option) error { _, err := OpenReader(addr, o...); return err },
				"OpenWriter": func(o ...Option) error { _, err := OpenWriter(addr, o...); return err },
			} {
				err := open()
				if !errors.Is(err, fs.ErrPermission) || !errors.Is(err, syscall.EPERM) {
					t.Fatalf("%s of a channel of uid %d: %v, want fs.ErrPermission", name, nobody, err)
				}
				for _, want := range []string{addr, fmt.Sprint("uid ", nobody), "AnyOwner()"} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("%s: %q does not say %q", name, err, want)
					}
				}
				t.Logf("%s: %v", name, err)
			}
			r, err := OpenReader(addr, AnyOwner())
			if err != nil {
				t.Fatalf("OpenReader with AnyOwner: %v", err)
			}
			closeAtEnd(t, r)
			buf := make([]byte, 32)
			if n, err := r.Recv(buf); err != nil || string(buf[:n]) != "from nobody" {
				t.Fatalf("Recv: %q, %v", buf[:n], err)
			}
			w2, err := OpenWriter(addr, AnyOwner())
			if err != nil {
				t.Fatalf("OpenWriter with AnyOwner: %v", err)
			}
			mustClose(t, w2)
		})
	}
}

// Options that do not apply are refused, naming the option.
func TestChannelOptionsThatDoNotApply(t *testing.T) {
	w := newTestWriter(t, posixAddr, 4096)
	addr, unused := w.Address(), posixAddr()
	removeOnCleanup(t, unused) // should a refused create make it after all
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"CreateWriter AnyOwner", second(CreateWriter(unused, 4096, AnyOwner())), "AnyOwner"},
		{"CreateReader AnyOwner", second(CreateReader(unused, 4096, AnyOwner())), "AnyOwner"},
		{"Create AnyOwner", second(Create(unused, 4096, AnyOwner())), "AnyOwner"},
		{"Open AnyOwner", second(Open(addr, AnyOwner())), "AnyOwner"},
		{"OpenReader WithMode", second(OpenReader(addr, WithMode(0o600))), "WithMode"},
		{"OpenWriter ReadOnly", second(OpenWriter(addr, ReadOnly())), "ReadOnly"},
	}
	for _, c := range cases {
		if !errors.Is(c.err, syscall.EINVAL) || !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("%s: %v; want EINVAL naming %s", c.name, c.err, c.want)
		}
	}
}

// Slices over shared memory used after Close (a bug) read zeros, and their
// writes reach neither the segment nor anything mapped later.
func TestStaleSlicesAfterClose(t *testing.T) {
	for _, b := range backends {
		t.Run("Bytes/"+b.name, func(t *testing.T) {
			seg := create(t, b.newAddr, 3*4096+100)
			other, err := Open(seg.Address(), ReadOnly())
			if err != nil {
				t.Fatal(err)
			}
			closeAtEnd(t, other)
			stale := seg.Bytes()
			copy(stale, "kept")
			stale[len(stale)-1] = 7
			ro, err := Open(seg.Address(), ReadOnly())
			if err != nil {
				t.Fatal(err)
			}
			staleRO := ro.Bytes()
			mustClose(t, seg)
			mustClose(t, ro)
			if string(stale[:4]) != "\x00\x00\x00\x00" || stale[len(stale)-1] != 0 || staleRO[0] != 0 {
				t.Fatalf("stale slices read %q ... %d and %d, want zeros", stale[:4], stale[len(stale)-1], staleRO[0])
			}
			copy(stale, "lost") // goes nowhere
			if got := string(other.Bytes()[:4]); got != "kept" {
				t.Fatalf("the segment holds %q: a stale write reached it", got)
			}
			if st, err := other.Stat(); err == nil && st.Backend == BackendSysV && st.Attached != 1 {
				t.Fatalf("%d attachments after closing two of three", st.Attached)
			}
		})
	}
	for _, b := range chanBackends {
		t.Run("Peek+Reserve/"+b.name, func(t *testing.T) {
			w, r := newPair(t, b.newAddr, 4096)
			mustSend(t, w, []byte("peeked"))
			p, err := r.Peek()
			if err != nil || string(p) != "peeked" {
				t.Fatalf("Peek: %q, %v", p, err)
			}
			q, err := w.Reserve(100)
			if err != nil {
				t.Fatal(err)
			}
			copy(q, "reserved")
			mustClose(t, r)
			mustClose(t, w)
			if string(p) != "\x00\x00\x00\x00\x00\x00" || q[0] != 0 {
				t.Fatalf("stale slices read %q and %q, want zeros", p, q[:8])
			}
			copy(p, "XXXXXX")
			copy(q, "YYYY")
			// The channel is intact: a new reader gets the message, then the
			// end of the stream (the reservation was dropped).
			r2 := openTestReader(t, w.Address())
			buf := make([]byte, 16)
			if n, err := r2.Recv(buf); err != nil || string(buf[:n]) != "peeked" {
				t.Fatalf("Recv after the stale writes: %q, %v", buf[:n], err)
			}
			if _, err := r2.Recv(buf); err != io.EOF {
				t.Fatalf("Recv: %v, want io.EOF", err)
			}
		})
	}
}

// Zero pages are kept for the last tombMaxCount closes (and tombMaxBytes);
// older ones are unmapped.
func TestTombstonesAreBounded(t *testing.T) {
	tombs.Lock()
	oldCount, oldBytes := tombMaxCount, tombMaxBytes
	tombMaxCount, tombMaxBytes = 2, 1<<30
	tombs.Unlock()
	t.Cleanup(func() {
		tombs.Lock()
		tombMaxCount, tombMaxBytes = oldCount, oldBytes
		tombs.Unlock()
	})
	var addrs []uintptr
	for i := 0; i < 3; i++ {
		seg := create(t, posixAddr, 4096)
		addrs = append(addrs, uintptr(unsafe.Pointer(unsafe.SliceData(seg.Bytes()))))
		mustClose(t, seg)
	}
	for i, a := range addrs {
		line := mapsLine(t, a)
		// A tombstone is private, anonymous (no path) and readable and
		// writable (adjacent ones may be merged into one mapping).
		f := strings.Fields(line)
		kept := len(f) == 5 && strings.HasPrefix(f[1], "rw-p")
		if kept != (i > 0) {
			t.Errorf("tombstone %d of 3: kept %v (mapping %q), want the last two kept", i+1, kept, line)
		}
	}
}

// mapsLine returns the line of /proc/self/maps for the mapping that holds
// addr, or "".
func mapsLine(t *testing.T, addr uintptr) string {
	t.Helper()
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(maps), "\n") {
		var lo, hi uintptr
		if _, err := fmt.Sscanf(line, "%x-%x", &lo, &hi); err == nil && lo <= addr && addr < hi {
			return line
		}
	}
	return ""
}
