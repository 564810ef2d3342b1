//go:build linux && cgo

package shmlink

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// chanBackends: the ways a test makes a fresh channel address.
var chanBackends = []struct {
	name    string
	newAddr func() string
}{
	{"posix", posixAddr},
	{"sysv", sysvAddr},
}

// newWriter creates a channel (writer side) at a fresh address, retrying
// when a stranger holds the name, and registers close and removal.
func newTestWriter(t testing.TB, newAddr func() string, capacity int) *Writer {
	t.Helper()
	for tries := 0; ; tries++ {
		addr := newAddr()
		w, err := CreateWriter(addr, capacity)
		if errors.Is(err, fs.ErrExist) && tries < 20 {
			continue
		}
		if err != nil {
			t.Fatalf("CreateWriter(%q, %d): %v", addr, capacity, err)
		}
		removeOnCleanup(t, w.Address())
		closeAtEnd(t, w)
		return w
	}
}

func newTestReader(t testing.TB, newAddr func() string, capacity int) *Reader {
	t.Helper()
	for tries := 0; ; tries++ {
		addr := newAddr()
		r, err := CreateReader(addr, capacity)
		if errors.Is(err, fs.ErrExist) && tries < 20 {
			continue
		}
		if err != nil {
			t.Fatalf("CreateReader(%q, %d): %v", addr, capacity, err)
		}
		removeOnCleanup(t, r.Address())
		closeAtEnd(t, r)
		return r
	}
}

func openTestReader(t testing.TB, addr string) *Reader {
	t.Helper()
	r, err := OpenReader(addr)
	if err != nil {
		t.Fatalf("OpenReader(%q): %v", addr, err)
	}
	closeAtEnd(t, r)
	return r
}

func openTestWriter(t testing.TB, addr string) *Writer {
	t.Helper()
	w, err := OpenWriter(addr)
	if err != nil {
		t.Fatalf("OpenWriter(%q): %v", addr, err)
	}
	closeAtEnd(t, w)
	return w
}

func newPair(t testing.TB, newAddr func() string, capacity int) (*Writer, *Reader) {
	w := newTestWriter(t, newAddr, capacity)
	return w, openTestReader(t, w.Address())
}

// Messages of the stress tests: 8-byte sequence number, pseudo-random
// payload derived from it, 4-byte CRC-32 of everything before it. Sizes
// 12..max; seq%97 == 0 gives the maximum size, seq%89 == 0 the minimum.
func fillMessage(buf []byte, seq uint64, max int) []byte {
	rng := rand.New(rand.NewPCG(seq, 0x5eed))
	var n int
	switch {
	case seq%97 == 0:
		n = max
	case seq%89 == 0:
		n = 12
	case rng.IntN(4) == 0:
		n = 12 + rng.IntN(max-11)
	default:
		n = 12 + rng.IntN(min(200, max-11))
	}
	m := buf[:n]
	binary.LittleEndian.PutUint64(m, seq)
	for i := 8; i < n-4; i += 8 {
		var v [8]byte
		binary.LittleEndian.PutUint64(v[:], rng.Uint64())
		copy(m[i:n-4], v[:])
	}
	binary.LittleEndian.PutUint32(m[n-4:], crc32.ChecksumIEEE(m[:n-4]))
	return m
}

func checkMessage(m []byte, want uint64) error {
	if len(m) < 12 {
		return fmt.Errorf("message %d: %d bytes, too short", want, len(m))
	}
	if seq := binary.LittleEndian.Uint64(m); seq != want {
		return fmt.Errorf("message has sequence number %d, want %d", seq, want)
	}
	if got, sum := binary.LittleEndian.Uint32(m[len(m)-4:]), crc32.ChecksumIEEE(m[:len(m)-4]); got != sum {
		return fmt.Errorf("message %d (%d bytes): checksum %08x, computed %08x", want, len(m), got, sum)
	}
	return nil
}

func TestChannelBasic(t *testing.T) {
	for _, b := range chanBackends {
		t.Run(b.name, func(t *testing.T) {
			w, r := newPair(t, b.newAddr, 4096)
			if w.Capacity() != 4096 || r.Capacity() != 4096 || w.MaxMessage() != 4096/2-8 || r.MaxMessage() != w.MaxMessage() {
				t.Fatalf("capacity %d/%d, max message %d/%d", w.Capacity(), r.Capacity(), w.MaxMessage(), r.MaxMessage())
			}
			if w.Address() != r.Address() || !strings.HasPrefix(w.Address(), b.name+":") {
				t.Fatalf("addresses %q, %q", w.Address(), r.Address())
			}
			max := bytes.Repeat([]byte{0xa5}, w.MaxMessage())
			msgs := [][]byte{[]byte("hello"), {}, nil, max, []byte("last")}
			for _, m := range msgs {
				if err := w.Send(m); err != nil {
					t.Fatalf("Send(%d bytes): %v", len(m), err)
				}
				// A max-size message fills half the ring: receive as we go.
				buf := make([]byte, r.MaxMessage())
				n, err := r.Recv(buf)
				if err != nil || !bytes.Equal(buf[:n], m) {
					t.Fatalf("Recv: %d bytes, %v; want %d bytes", n, err, len(m))
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 2; i++ {
				n, err := r.Recv(make([]byte, 10))
				if err != io.EOF || n != 0 {
					t.Fatalf("Recv after the writer closed: %d, %v; want 0, io.EOF itself", n, err)
				}
			}
		})
	}
}

func TestChannelSysVPrivate(t *testing.T) {
	w, err := CreateWriter("sysv:private", 8192)
	if err != nil {
		t.Fatal(err)
	}
	removeOnCleanup(t, w.Address())
	defer mustClose(t, w)
	if !strings.HasPrefix(w.Address(), "sysv-id:") {
		t.Fatalf("address %q, want sysv-id:N", w.Address())
	}
	r := openTestReader(t, w.Address())
	if err := w.Send([]byte("private")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	if n, err := r.Recv(buf); err != nil || string(buf[:n]) != "private" {
		t.Fatalf("Recv: %q, %v", buf[:n], err)
	}
}

func TestChannelBadArguments(t *testing.T) {
	addr := posixAddr()
	cases := []struct {
		name string
		call func() error
		want string
	}{
		{"capacity 0", func() error { _, err := CreateWriter(addr, 0); return err }, "capacity 0"},
		{"capacity negative", func() error { _, err := CreateReader(addr, -5); return err }, "capacity -5"},
		{"capacity too large", func() error { _, err := CreateWriter(addr, 1<<31); return err }, "capacity 2147483648"},
		{"malformed", func() error { _, err := CreateWriter("posix:/a/b", 4096); return err }, `"posix:/a/b"`},
		{"malformed open", func() error { _, err := OpenReader("nope"); return err }, `"nope"`},
		{"sysv-id create", func() error { _, err := CreateWriter("sysv-id:1", 4096); return err }, "sysv-id"},
		{"sysv:private open", func() error { _, err := OpenWriter("sysv:private"); return err }, "sysv:private"},
		{"mode bits", func() error { _, err := CreateWriter(addr, 4096, WithMode(0o4700)); return err }, "permission bits"},
		{"read-only", func() error { _, err := CreateReader(addr, 4096, ReadOnly()); return err }, "ReadOnly"},
	}
	for _, c := range cases {
		err := c.call()
		if !errors.Is(err, syscall.EINVAL) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v; want EINVAL naming %s", c.name, err, c.want)
		}
	}
	if _, err := StatAddress(addr); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a refused create left something at %s: %v", addr, err)
	}
	_, err := OpenReader(posixAddr())
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("OpenReader of nothing: %v", err)
	}
}

func TestChannelCreateExists(t *testing.T) {
	for _, b := range chanBackends {
		t.Run(b.name, func(t *testing.T) {
			r := newTestReader(t, b.newAddr, 4096)
			if _, err := CreateWriter(r.Address(), 4096); !errors.Is(err, fs.ErrExist) {
				t.Fatalf("CreateWriter over an existing channel: %v", err)
			}
			w := openTestWriter(t, r.Address())
			if err := w.Send([]byte("x")); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestChannelMessageTooLarge(t *testing.T) {
	w, r := newPair(t, posixAddr, 4096)
	err := w.Send(make([]byte, w.MaxMessage()+1))
	if !errors.Is(err, syscall.EMSGSIZE) || !strings.Contains(err.Error(), strconv.Itoa(w.MaxMessage())) {
		t.Fatalf("Send of max+1 bytes: %v", err)
	}
	if _, err := w.Reserve(w.MaxMessage() + 1); !errors.Is(err, syscall.EMSGSIZE) {
		t.Fatalf("Reserve of max+1 bytes: %v", err)
	}
	if _, err := w.Reserve(-1); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("Reserve(-1): %v", err)
	}
	// Nothing was sent.
	if _, err := r.RecvTimeout(make([]byte, 8), 0); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("RecvTimeout on an empty channel: %v", err)
	}
}

func TestChannelShortBuffer(t *testing.T) {
	for _, b := range chanBackends {
		t.Run(b.name, func(t *testing.T) {
			w, r := newPair(t, b.newAddr, 4096)
			msg := []byte("twenty bytes long!!!")
			mustSend(t, w, msg)
			mustSend(t, w, []byte("next"))
			n, err := r.Recv(make([]byte, 5))
			if n != len(msg) || !errors.Is(err, io.ErrShortBuffer) || !errors.Is(err, syscall.EMSGSIZE) {
				t.Fatalf("Recv into 5 bytes: %d, %v; want %d and ErrShortBuffer/EMSGSIZE", n, err, len(msg))
			}
			sizes := []int{-1, -1}
			k, err := r.RecvBatch(make([]byte, 3), sizes)
			if k != 0 || sizes[0] != len(msg) || !errors.Is(err, io.ErrShortBuffer) || !errors.Is(err, syscall.EMSGSIZE) {
				t.Fatalf("RecvBatch into 3 bytes: %d, sizes %v, %v", k, sizes, err)
			}
			// The message was kept.
			buf := make([]byte, n)
			if n, err := r.Recv(buf); err != nil || !bytes.Equal(buf[:n], msg) {
				t.Fatalf("Recv after the short buffer: %q, %v", buf[:n], err)
			}
			if n, err := r.Recv(buf); err != nil || string(buf[:n]) != "next" {
				t.Fatalf("second Recv: %q, %v", buf[:n], err)
			}
		})
	}
}

func TestChannelRecvBatch(t *testing.T) {
	for _, b := range chanBackends {
		t.Run(b.name, func(t *testing.T) {
			w, r := newPair(t, b.newAddr, 8192)
			for i := 0; i < 10; i++ {
				if err := w.Send(bytes.Repeat([]byte{byte('a' + i)}, i)); err != nil {
					t.Fatal(err)
				}
			}
			buf := make([]byte, 1000)
			sizes := make([]int, 4)
			next := 0
			check := func(k int, err error) {
				t.Helper()
				if err != nil || k < 1 {
					t.Fatalf("RecvBatch: %d, %v", k, err)
				}
				off := 0
				for i := 0; i < k; i++ {
					want := bytes.Repeat([]byte{byte('a' + next)}, next)
					if got := buf[off : off+sizes[i]]; !bytes.Equal(got, want) {
						t.Fatalf("batch message %d: %q, want %q", i, got, want)
					}
					off += sizes[i]
					next++
				}
			}
			k, err := r.RecvBatch(buf, sizes) // at most len(sizes)
			if k != 4 {
				t.Fatalf("RecvBatch with 4 sizes: %d, %v", k, err)
			}
			check(k, err)
			k, err = r.RecvBatch(buf[:9], sizes) // 4+5 bytes fit, 6 does not
			if k != 2 {
				t.Fatalf("RecvBatch into 9 bytes: %d, %v (sizes %v)", k, err, sizes)
			}
			check(k, err)
			k, err = r.RecvBatch(buf, make([]int, 100)[:0:0])
			if !errors.Is(err, syscall.EINVAL) {
				t.Fatalf("RecvBatch with no sizes: %d, %v", k, err)
			}
			sizes = make([]int, 100)
			k, err = r.RecvBatch(buf, sizes) // only what is there
			if k != 4 {
				t.Fatalf("RecvBatch of the rest: %d, %v", k, err)
			}
			check(k, err)
			mustClose(t, w)
			if k, err := r.RecvBatch(buf, sizes); k != 0 || err != io.EOF {
				t.Fatalf("RecvBatch at end of stream: %d, %v", k, err)
			}
		})
	}
}

func TestChannelPeekRelease(t *testing.T) {
	for _, b := range chanBackends {
		t.Run(b.name, func(t *testing.T) {
			w, r := newPair(t, b.newAddr, 4096)
			if err := r.Release(); !errors.Is(err, syscall.EINVAL) {
				t.Fatalf("Release without Peek: %v", err)
			}
			mustSend(t, w, []byte("one"))
			mustSend(t, w, nil)
			mustSend(t, w, []byte("three"))
			p, err := r.Peek()
			if err != nil || string(p) != "one" {
				t.Fatalf("Peek: %q, %v", p, err)
			}
			if _, err := r.Recv(make([]byte, 10)); !errors.Is(err, syscall.EINVAL) || !strings.Contains(err.Error(), "Release") {
				t.Fatalf("Recv while a message is peeked: %v", err)
			}
			if _, err := r.RecvBatch(make([]byte, 10), make([]int, 2)); !errors.Is(err, syscall.EINVAL) {
				t.Fatalf("RecvBatch while a message is peeked: %v", err)
			}
			if _, err := r.RecvContext(context.Background()); !errors.Is(err, syscall.EINVAL) {
				t.Fatalf("RecvContext while a message is peeked: %v", err)
			}
			p, err = r.Peek() // same message again
			if err != nil || string(p) != "one" {
				t.Fatalf("second Peek: %q, %v", p, err)
			}
			if err := r.Release(); err != nil {
				t.Fatal(err)
			}
			p, err = r.PeekContext(context.Background())
			if err != nil || len(p) != 0 {
				t.Fatalf("PeekContext of the empty message: %q, %v", p, err)
			}
			if err := r.Release(); err != nil {
				t.Fatal(err)
			}
			msg, err := r.RecvContext(context.Background())
			if err != nil || string(msg) != "three" {
				t.Fatalf("RecvContext: %q, %v", msg, err)
			}
			mustClose(t, w)
			if p, err := r.Peek(); err != io.EOF || p != nil {
				t.Fatalf("Peek at end of stream: %q, %v", p, err)
			}
			if m, err := r.RecvContext(context.Background()); err != io.EOF || m != nil {
				t.Fatalf("RecvContext at end of stream: %q, %v", m, err)
			}
		})
	}
}

func TestChannelReserveCommit(t *testing.T) {
	for _, b := range chanBackends {
		t.Run(b.name, func(t *testing.T) {
			w, r := newPair(t, b.newAddr, 4096)
			if err := w.Commit(0); !errors.Is(err, syscall.EINVAL) {
				t.Fatalf("Commit without Reserve: %v", err)
			}
			if err := w.Abort(); !errors.Is(err, syscall.EINVAL) {
				t.Fatalf("Abort without Reserve: %v", err)
			}
			p, err := w.Reserve(100)
			if err != nil || len(p) != 100 {
				t.Fatalf("Reserve(100): %d bytes, %v", len(p), err)
			}
			if _, err := w.Reserve(1); !errors.Is(err, syscall.EINVAL) {
				t.Fatalf("second Reserve: %v", err)
			}
			if err := w.Send([]byte("x")); !errors.Is(err, syscall.EINVAL) || !strings.Contains(err.Error(), "Commit or Abort") {
				t.Fatalf("Send during a reservation: %v", err)
			}
			if err := w.Commit(101); !errors.Is(err, syscall.EINVAL) {
				t.Fatalf("Commit(101) of a 100-byte reservation: %v", err)
			}
			copy(p, "zero copy, and more")
			if err := w.Commit(9); err != nil {
				t.Fatal(err)
			}
			p, _ = w.Reserve(10)
			copy(p, "aborted!!!")
			if err := w.Abort(); err != nil {
				t.Fatal(err)
			}
			p, _ = w.Reserve(w.MaxMessage())
			for i := range p {
				p[i] = byte(i)
			}
			if err := w.Commit(len(p)); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, r.MaxMessage())
			if n, err := r.Recv(buf); err != nil || string(buf[:n]) != "zero copy" {
				t.Fatalf("Recv: %q, %v", buf[:n], err)
			}
			n, err := r.Recv(buf)
			if err != nil || n != w.MaxMessage() {
				t.Fatalf("Recv of the max-size reservation: %d, %v", n, err)
			}
			for i := 0; i < n; i++ {
				if buf[i] != byte(i) {
					t.Fatalf("byte %d is %d", i, buf[i])
				}
			}
			// A reservation open at Close is dropped; the stream ends.
			p, _ = w.Reserve(5)
			copy(p, "never")
			mustClose(t, w)
			if n, err := r.Recv(buf); err != io.EOF {
				t.Fatalf("Recv after Close with an open reservation: %q, %v", buf[:n], err)
			}
		})
	}
}

func TestChannelTimeouts(t *testing.T) {
	for _, b := range chanBackends {
		t.Run(b.name, func(t *testing.T) {
			w, r := newPair(t, b.newAddr, 4096)
			buf := make([]byte, 4096)
			for _, d := range []time.Duration{0, -time.Second, 50 * time.Millisecond, 250 * time.Millisecond} {
				start := time.Now()
				_, err := r.RecvTimeout(buf, d)
				el := time.Since(start)
				if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.Is(err, syscall.ETIMEDOUT) {
					t.Fatalf("RecvTimeout(%v) on an empty channel: %v", d, err)
				}
				if el < d || el > d+5*time.Second {
					t.Fatalf("RecvTimeout(%v) returned after %v", d, el)
				}
				t.Logf("RecvTimeout(%v) returned after %v", d, el)
			}
			// Fill the channel, then SendTimeout waits and fails.
			msg := make([]byte, 1000)
			sent := 0
			for {
				err := w.SendTimeout(msg, 0)
				if errors.Is(err, os.ErrDeadlineExceeded) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				sent++
			}
			start := time.Now()
			if err := w.SendTimeout(msg, 150*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("SendTimeout on a full channel: %v", err)
			}
			if el := time.Since(start); el < 150*time.Millisecond {
				t.Fatalf("SendTimeout(150ms) returned after %v", el)
			}
		})
	}
}

func TestChannelContext(t *testing.T) {
	for _, b := range chanBackends {
		t.Run(b.name, func(t *testing.T) {
			w, r := newPair(t, b.newAddr, 4096)
			// Already cancelled: nothing happens.
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			if err := w.SendContext(ctx, []byte("no")); !errors.Is(err, context.Canceled) {
				t.Fatalf("SendContext with a cancelled context: %v", err)
			}
			if _, err := r.RecvTimeout(make([]byte, 8), 0); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("a message was sent with a cancelled context: %v", err)
			}
			// Cancelled while waiting.
			waitCancel := func(name string, call func(ctx context.Context) error) {
				ctx, cancel := context.WithCancel(context.Background())
				var cancelled time.Time
				timer := time.AfterFunc(100*time.Millisecond, func() { cancelled = time.Now(); cancel() })
				defer timer.Stop()
				err := call(ctx)
				late := time.Since(cancelled)
				if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), r.Address()) {
					t.Fatalf("%s: %v, want context.Canceled", name, err)
				}
				t.Logf("%s returned %v after the cancel", name, late)
				if late > 2*time.Second {
					t.Fatalf("%s returned %v after the cancel", name, late)
				}
			}
			waitCancel("RecvContext", func(ctx context.Context) error { _, err := r.RecvContext(ctx); return err })
			waitCancel("PeekContext", func(ctx context.Context) error { _, err := r.PeekContext(ctx); return err })
			for w.SendTimeout(make([]byte, 1000), 0) == nil {
			}
			waitCancel("SendContext", func(ctx context.Context) error { return w.SendContext(ctx, make([]byte, 1000)) })
			// Deadline.
			ctx, cancel = context.WithTimeout(context.Background(), 120*time.Millisecond)
			defer cancel()
			start := time.Now()
			err := w.SendContext(ctx, make([]byte, 1000))
			el := time.Since(start)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("SendContext past its deadline: %v", err)
			}
			t.Logf("SendContext with a 120ms deadline returned after %v", el)
			if el < 100*time.Millisecond || el > 3*time.Second {
				t.Fatalf("SendContext with a 120ms deadline returned after %v", el)
			}
			// A message that is there is taken even with a context.
			var got []byte
			for i := 0; ; i++ {
				m, err := r.RecvContext(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				if len(m) == 1000 {
					got = m
					break
				}
			}
			if len(got) != 1000 {
				t.Fatal("no 1000-byte message")
			}
			ctx2, cancel2 := context.WithTimeout(context.Background(), time.Minute)
			defer cancel2()
			if err := w.SendContext(ctx2, []byte("fits now")); err != nil {
				t.Fatalf("SendContext after room was made: %v", err)
			}
		})
	}
}

func TestChannelBusy(t *testing.T) {
	for _, b := range chanBackends {
		t.Run(b.name, func(t *testing.T) {
			w, r := newPair(t, b.newAddr, 4096)
			if _, err := OpenWriter(w.Address()); !errors.Is(err, ErrBusy) || !errors.Is(err, syscall.EBUSY) {
				t.Fatalf("second OpenWriter: %v, want ErrBusy", err)
			}
			if _, err := OpenReader(w.Address()); !errors.Is(err, ErrBusy) {
				t.Fatalf("second OpenReader: %v, want ErrBusy", err)
			}
			out, err := chanHelper(t, "open-expect-busy", w.Address()).CombinedOutput()
			if err != nil {
				t.Fatalf("helper: %v\n%s", err, out)
			}
			// After Close the role is free again.
			mustClose(t, r)
			r2 := openTestReader(t, w.Address())
			mustSend(t, w, []byte("after"))
			buf := make([]byte, 16)
			if n, err := r2.Recv(buf); err != nil || string(buf[:n]) != "after" {
				t.Fatalf("new reader: %q, %v", buf[:n], err)
			}
		})
	}
}

func TestChannelProtocolError(t *testing.T) {
	for _, b := range chanBackends {
		t.Run(b.name, func(t *testing.T) {
			seg := create(t, b.newAddr, 8192)
			for _, open := range []func(string) error{
				func(a string) error { _, err := OpenReader(a); return err },
				func(a string) error { _, err := OpenWriter(a); return err },
			} {
				err := open(seg.Address())
				if !errors.Is(err, ErrProtocol) || !errors.Is(err, syscall.EPROTO) || !strings.Contains(err.Error(), seg.Address()) {
					t.Fatalf("opening a plain segment as a channel: %v, want ErrProtocol", err)
				}
			}
		})
	}
}

func TestChannelClosed(t *testing.T) {
	w, r := newPair(t, posixAddr, 4096)
	addr := w.Address()
	for i := 0; i < 2; i++ {
		if err := w.Close(); err != nil {
			t.Fatalf("Writer.Close #%d: %v", i+1, err)
		}
		if err := r.Close(); err != nil {
			t.Fatalf("Reader.Close #%d: %v", i+1, err)
		}
	}
	if w.Address() != addr || r.Address() != addr || w.Capacity() != 4096 || r.MaxMessage() != 2040 {
		t.Fatal("properties changed after Close")
	}
	ctx := context.Background()
	calls := map[string]error{}
	calls["Send"] = w.Send(nil)
	calls["SendTimeout"] = w.SendTimeout(nil, time.Second)
	calls["SendContext"] = w.SendContext(ctx, nil)
	_, calls["Write"] = w.Write(nil)
	_, calls["SendBatch"] = w.SendBatch([][]byte{nil})
	_, calls["Reserve"] = w.Reserve(1)
	calls["Commit"] = w.Commit(0)
	calls["Abort"] = w.Abort()
	_, calls["Recv"] = r.Recv(nil)
	_, calls["RecvTimeout"] = r.RecvTimeout(nil, time.Second)
	_, calls["RecvContext"] = r.RecvContext(ctx)
	_, calls["RecvInto"] = r.RecvInto(ctx, nil)
	for _, err := range r.Messages(ctx) {
		calls["Messages"] = err
	}
	_, calls["Peek"] = r.Peek()
	_, calls["PeekContext"] = r.PeekContext(ctx)
	calls["Release"] = r.Release()
	_, calls["RecvBatch"] = r.RecvBatch(nil, make([]int, 1))
	for name, err := range calls {
		if !errors.Is(err, fs.ErrClosed) || !strings.Contains(err.Error(), addr) {
			t.Errorf("%s after Close: %v, want fs.ErrClosed naming %s", name, err, addr)
		}
	}
}

// Close from another goroutine ends every kind of waiting call at once
// (through the core's interrupt; the bound checked is generous, the time
// taken is logged, BenchmarkWakeOnClose measures it).
func TestChannelCloseUnblocks(t *testing.T) {
	ctx := context.Background()
	readers := map[string]func(r *Reader) error{
		"Recv":        func(r *Reader) error { _, err := r.Recv(make([]byte, 8)); return err },
		"RecvTimeout": func(r *Reader) error { _, err := r.RecvTimeout(make([]byte, 8), time.Hour); return err },
		"RecvInto":    func(r *Reader) error { _, err := r.RecvInto(ctx, make([]byte, 8)); return err },
		"RecvContext": func(r *Reader) error { _, err := r.RecvContext(ctx); return err },
		"Peek":        func(r *Reader) error { _, err := r.Peek(); return err },
		"RecvBatch":   func(r *Reader) error { _, err := r.RecvBatch(make([]byte, 64), make([]int, 4)); return err },
		"Messages": func(r *Reader) error {
			cctx, cancel := context.WithCancel(ctx) // one that can be cancelled: the AfterFunc path
			defer cancel()
			for _, err := range r.Messages(cctx) {
				return err
			}
			return errors.New("Messages ended without an error")
		},
	}
	writers := map[string]func(w *Writer) error{
		"Send":        func(w *Writer) error { return w.Send(make([]byte, 1000)) },
		"SendContext": func(w *Writer) error { return w.SendContext(ctx, make([]byte, 1000)) },
		"Write":       func(w *Writer) error { _, err := w.Write(make([]byte, 1000)); return err },
		"Reserve":     func(w *Writer) error { _, err := w.Reserve(1000); return err },
		"SendBatch": func(w *Writer) error {
			n, err := w.SendBatch([][]byte{make([]byte, 1000), make([]byte, 1000)})
			if n != 0 {
				return fmt.Errorf("SendBatch sent %d messages into a full channel", n)
			}
			return err
		},
	}
	check := func(t *testing.T, call func() error, closer io.Closer) {
		done := make(chan error, 1)
		go func() { done <- call() }()
		time.Sleep(20 * time.Millisecond) // usually waiting by now; if not, it must fail all the same
		start := time.Now()
		mustClose(t, closer)
		select {
		case err := <-done:
			if !errors.Is(err, fs.ErrClosed) {
				t.Fatalf("waiting during Close: %v, want fs.ErrClosed", err)
			}
			t.Logf("returned %v after Close began", time.Since(start))
		case <-time.After(10 * time.Second):
			t.Fatal("a waiting call did not return after Close")
		}
	}
	for name, call := range readers {
		t.Run(name, func(t *testing.T) {
			_, r := newPair(t, posixAddr, 4096) // stays empty
			check(t, func() error { return call(r) }, r)
		})
	}
	for name, call := range writers {
		t.Run(name, func(t *testing.T) {
			w, _ := newPair(t, posixAddr, 4096)
			for w.SendTimeout(make([]byte, 1000), 0) == nil {
			}
			check(t, func() error { return call(w) }, w)
		})
	}
}

// Two goroutines using one Writer (and one Reader) at once: not the
// intended use, but serialised, so nothing is lost or torn (-race checks
// the Go side).
func TestChannelConcurrentUse(t *testing.T) {
	w, r := newPair(t, posixAddr, 1<<16)
	const per = 2000
	var wg sync.WaitGroup
	for g := 0; g < 2; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			m := make([]byte, 9)
			for i := 0; i < per; i++ {
				m[0] = byte(g)
				binary.LittleEndian.PutUint64(m[1:], uint64(i))
				if err := w.Send(m); err != nil {
					t.Error(err)
					return
				}
			}
		}(g)
	}
	go func() { wg.Wait(); mustClose(t, w) }()
	var mu sync.Mutex
	next := [2]uint64{}
	var rg sync.WaitGroup
	for g := 0; g < 2; g++ {
		rg.Add(1)
		go func() {
			defer rg.Done()
			buf := make([]byte, 16)
			for {
				mu.Lock() // keeps receive + check atomic so order can be verified
				n, err := r.Recv(buf)
				if err == io.EOF {
					mu.Unlock()
					return
				}
				if err != nil || n != 9 {
					mu.Unlock()
					t.Errorf("Recv: %d, %v", n, err)
					return
				}
				if seq := binary.LittleEndian.Uint64(buf[1:]); seq != next[buf[0]] {
					t.Errorf("goroutine %d: message %d, want %d", buf[0], seq, next[buf[0]])
				}
				next[buf[0]]++
				mu.Unlock()
			}
		}()
	}
	rg.Wait()
	if next != [2]uint64{per, per} {
		t.Fatalf("received %v, want %d each", next, per)
	}
}

// TestChannelStream: a writer goroutine sends random-size messages with
// sequence numbers and checksums through a small ring (so both sides wait
// and the ring wraps many times), using every send variant; the reader
// uses every receive variant.
func TestChannelStream(t *testing.T) {
	count := 30000
	if testing.Short() {
		count = 5000
	}
	for _, b := range chanBackends {
		t.Run(b.name, func(t *testing.T) {
			w, r := newPair(t, b.newAddr, 16384)
			errc := make(chan error, 1)
			go func() { errc <- streamWrite(w, count, 1) }()
			got, err := streamRead(r, count, 2)
			if werr := <-errc; werr != nil {
				t.Fatalf("writer: %v", werr)
			}
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d messages, %d bytes", count, got)
		})
	}
}

// streamWrite sends count messages (see fillMessage) and closes w; variant
// selection is random with the given seed.
func streamWrite(w *Writer, count int, seed uint64) (err error) {
	defer func() { // also on error, so that the reader does not wait forever
		if cerr := w.Close(); err == nil {
			err = cerr
		}
	}()
	rng := rand.New(rand.NewPCG(seed, 1))
	buf := make([]byte, w.MaxMessage())
	ctx := context.Background()
	ctxc, cancel := context.WithCancel(ctx)
	defer cancel()
	var batch [][]byte
	for i := 0; i < count; i++ {
		m := fillMessage(buf, uint64(i), w.MaxMessage())
		var err error
		switch rng.IntN(7) {
		case 0:
			err = w.Send(m)
		case 1:
			err = w.SendContext(ctxc, m)
		case 2:
			err = w.SendTimeout(m, time.Minute)
		case 3:
			var n int
			if n, err = w.Write(m); err == nil && n != len(m) {
				err = fmt.Errorf("Write of %d bytes returned %d", len(m), n)
			}
		case 4: // this and up to 40 more messages in one SendBatch
			k := min(1+rng.IntN(41), count-i)
			for len(batch) < k {
				batch = append(batch, make([]byte, w.MaxMessage()))
			}
			for j := range k {
				batch[j] = fillMessage(batch[j][:cap(batch[j])], uint64(i+j), w.MaxMessage())
			}
			var n int
			if n, err = w.SendBatch(batch[:k]); err == nil && n != k {
				err = fmt.Errorf("SendBatch of %d messages returned %d", k, n)
			}
			i += k - 1
		default:
			var p []byte
			if p, err = w.Reserve(min(len(m)+rng.IntN(8), w.MaxMessage())); err == nil {
				copy(p, m)
				err = w.Commit(len(m))
			}
		}
		if err != nil {
			return fmt.Errorf("message %d: %w", i, err)
		}
	}
	return nil
}

// streamRead receives and checks count messages, then expects io.EOF.
func streamRead(r *Reader, count int, seed uint64) (int64, error) {
	rng := rand.New(rand.NewPCG(seed, 2))
	buf := make([]byte, r.MaxMessage())
	sizes := make([]int, 64)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var total int64
	next := uint64(0)
	for next < uint64(count) {
		switch rng.IntN(8) {
		case 6:
			n, err := r.RecvInto(ctx, buf)
			if err != nil {
				return total, fmt.Errorf("RecvInto at %d: %w", next, err)
			}
			if err := checkMessage(buf[:n], next); err != nil {
				return total, err
			}
			total += int64(n)
			next++
		case 7: // a few messages through the iterator, then break
			k := min(uint64(1+rng.IntN(20)), uint64(count)-next)
			for m, err := range r.Messages(ctx) {
				if err != nil {
					return total, fmt.Errorf("Messages at %d: %w", next, err)
				}
				if err := checkMessage(m, next); err != nil {
					return total, err
				}
				total += int64(len(m))
				next++
				if k--; k == 0 {
					break
				}
			}
		case 0:
			n, err := r.Recv(buf)
			if err != nil {
				return total, fmt.Errorf("Recv at %d: %w", next, err)
			}
			if err := checkMessage(buf[:n], next); err != nil {
				return total, err
			}
			total += int64(n)
			next++
		case 1:
			n, err := r.RecvTimeout(buf, time.Minute)
			if err != nil {
				return total, fmt.Errorf("RecvTimeout at %d: %w", next, err)
			}
			if err := checkMessage(buf[:n], next); err != nil {
				return total, err
			}
			total += int64(n)
			next++
		case 2:
			m, err := r.RecvContext(ctx)
			if err != nil {
				return total, fmt.Errorf("RecvContext at %d: %w", next, err)
			}
			if err := checkMessage(m, next); err != nil {
				return total, err
			}
			total += int64(len(m))
			next++
		case 3:
			p, err := r.Peek()
			if err != nil {
				return total, fmt.Errorf("Peek at %d: %w", next, err)
			}
			if err := checkMessage(p, next); err != nil {
				return total, err
			}
			total += int64(len(p))
			next++
			if err := r.Release(); err != nil {
				return total, err
			}
		default:
			k, err := r.RecvBatch(buf, sizes)
			if err != nil {
				return total, fmt.Errorf("RecvBatch at %d: %w", next, err)
			}
			off := 0
			for i := 0; i < k; i++ {
				if err := checkMessage(buf[off:off+sizes[i]], next); err != nil {
					return total, fmt.Errorf("batch of %d, message %d: %w", k, i, err)
				}
				off += sizes[i]
				next++
			}
			total += int64(off)
		}
	}
	if n, err := r.Recv(buf); err != io.EOF {
		return total, fmt.Errorf("after %d messages: Recv returned %d, %v; want io.EOF", count, n, err)
	}
	return total, nil
}

// ---------------------------------------------------------------------------
// Second process: the test binary re-executed with SHMLINK_CHAN_HELPER set.

func TestChannelHelperProcess(t *testing.T) {
	mode := os.Getenv("SHMLINK_CHAN_HELPER")
	if mode == "" {
		return
	}
	addr := os.Getenv("SHMLINK_CHAN_ADDR")
	fail := func(code int, err error) {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(code)
	}
	switch mode {
	case "stream-writer": // open the writer, send COUNT messages, close
		count, _ := strconv.Atoi(os.Getenv("SHMLINK_CHAN_COUNT"))
		w, err := OpenWriter(addr)
		if err != nil {
			fail(3, err)
		}
		if err := streamWrite(w, count, 7); err != nil {
			fail(4, err)
		}
	case "stream-reader":
		count, _ := strconv.Atoi(os.Getenv("SHMLINK_CHAN_COUNT"))
		r, err := OpenReader(addr)
		if err != nil {
			fail(3, err)
		}
		if _, err := streamRead(r, count, 8); err != nil {
			fail(4, err)
		}
		if err := r.Close(); err != nil {
			fail(4, err)
		}
	case "write-then-hang": // send COUNT messages, say so, wait to be killed
		count, _ := strconv.Atoi(os.Getenv("SHMLINK_CHAN_COUNT"))
		w, err := OpenWriter(addr)
		if err != nil {
			fail(3, err)
		}
		buf := make([]byte, w.MaxMessage())
		for i := 0; i < count; i++ {
			if err := w.Send(fillMessage(buf, uint64(i), 300)); err != nil {
				fail(4, err)
			}
		}
		p, err := w.Reserve(100) // half-written message: never seen
		if err != nil {
			fail(5, err)
		}
		copy(p, "torn")
		fmt.Println("sent", count)
		time.Sleep(time.Hour)
	case "read-one-then-hang": // receive one message, say so, wait to be killed
		r, err := OpenReader(addr)
		if err != nil {
			fail(3, err)
		}
		buf := make([]byte, r.MaxMessage())
		n, err := r.Recv(buf)
		if err != nil {
			fail(4, err)
		}
		fmt.Println("got", n)
		time.Sleep(time.Hour)
	case "open-expect-busy":
		_, werr := OpenWriter(addr)
		_, rerr := OpenReader(addr)
		if !errors.Is(werr, ErrBusy) || !errors.Is(rerr, ErrBusy) {
			fail(6, fmt.Errorf("OpenWriter: %v; OpenReader: %v; want ErrBusy for both", werr, rerr))
		}
		fmt.Println("busy:", werr)
	default:
		fail(2, fmt.Errorf("unknown helper mode %q", mode))
	}
	os.Exit(0)
}

func chanHelper(t *testing.T, mode, addr string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestChannelHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), append([]string{"SHMLINK_CHAN_HELPER=" + mode, "SHMLINK_CHAN_ADDR=" + addr}, env...)...)
	cmd.WaitDelay = time.Minute
	return cmd
}

// startHelper starts a helper and waits for its first output line.
func startHelper(t *testing.T, cmd *exec.Cmd) (line string) {
	t.Helper()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Usually gone already; the exit status of a killed helper is no news.
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	lines := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(out)
		s.Scan()
		lines <- s.Text()
		_, _ = io.Copy(io.Discard, out) // drain until the helper exits
	}()
	select {
	case line = <-lines:
	case <-time.After(time.Minute):
		t.Fatalf("helper said nothing within a minute; stderr: %s", stderr.String())
	}
	if line == "" {
		_ = cmd.Wait() // the exit status is in the message below via stderr
		t.Fatalf("helper ended without output; stderr: %s", stderr.String())
	}
	return line
}

func TestChannelSecondProcess(t *testing.T) {
	count := 20000
	if testing.Short() {
		count = 3000
	}
	for _, b := range chanBackends {
		t.Run(b.name+"/writer-child", func(t *testing.T) {
			r := newTestReader(t, b.newAddr, 32768)
			cmd := chanHelper(t, "stream-writer", r.Address(), "SHMLINK_CHAN_COUNT="+strconv.Itoa(count))
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// The child's stream uses seed 7 for its send variants; the
			// checks depend only on the messages.
			_, err := streamRead(r, count, 3)
			if werr := cmd.Wait(); werr != nil {
				t.Fatalf("writer process: %v\n%s", werr, out.String())
			}
			if err != nil {
				t.Fatal(err)
			}
		})
		t.Run(b.name+"/reader-child", func(t *testing.T) {
			w := newTestWriter(t, b.newAddr, 32768)
			cmd := chanHelper(t, "stream-reader", w.Address(), "SHMLINK_CHAN_COUNT="+strconv.Itoa(count))
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			err := streamWrite(w, count, 4)
			if rerr := cmd.Wait(); rerr != nil {
				t.Fatalf("reader process: %v\n%s", rerr, out.String())
			}
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestChannelWriterKilled(t *testing.T) {
	const count = 200
	for _, b := range chanBackends {
		t.Run(b.name, func(t *testing.T) {
			r := newTestReader(t, b.newAddr, 1<<20)
			cmd := chanHelper(t, "write-then-hang", r.Address(), "SHMLINK_CHAN_COUNT="+strconv.Itoa(count))
			if line := startHelper(t, cmd); line != fmt.Sprint("sent ", count) {
				t.Fatalf("helper said %q", line)
			}
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			_ = cmd.Wait() // "signal: killed"
			killed := time.Now()
			buf := make([]byte, r.MaxMessage())
			for i := 0; i < count; i++ {
				n, err := r.Recv(buf)
				if err != nil {
					t.Fatalf("message %d of %d: %v", i, count, err)
				}
				if err := checkMessage(buf[:n], uint64(i)); err != nil {
					t.Fatal(err)
				}
			}
			_, err := r.Recv(buf) // no timeout: must not hang
			el := time.Since(killed)
			if !errors.Is(err, ErrPeerDead) || !errors.Is(err, syscall.EPIPE) {
				t.Fatalf("Recv after the writer was killed: %v, want ErrPeerDead", err)
			}
			t.Logf("ErrPeerDead %v after SIGKILL (all %d committed messages first): %v", el, count, err)
			if el > 5*time.Second {
				t.Fatalf("peer death took %v to detect (promise: 1 s)", el)
			}
			// A new writer takes over and the reader goes on.
			w := openTestWriter(t, r.Address())
			if err := w.Send([]byte("new writer")); err != nil {
				t.Fatal(err)
			}
			if n, err := r.Recv(buf); err != nil || string(buf[:n]) != "new writer" {
				t.Fatalf("after the new writer: %q, %v", buf[:n], err)
			}
		})
	}
}

func TestChannelReaderKilled(t *testing.T) {
	for _, b := range chanBackends {
		t.Run(b.name, func(t *testing.T) {
			w := newTestWriter(t, b.newAddr, 4096)
			msg := make([]byte, 500)
			binary.LittleEndian.PutUint64(msg, 0)
			mustSend(t, w, msg)
			cmd := chanHelper(t, "read-one-then-hang", w.Address())
			if line := startHelper(t, cmd); line != "got 500" {
				t.Fatalf("helper said %q", line)
			}
			// Fill the ring, then wait in Send until the reader dies.
			seq := uint64(1)
			for {
				binary.LittleEndian.PutUint64(msg, seq)
				err := w.SendTimeout(msg, 0)
				if errors.Is(err, os.ErrDeadlineExceeded) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				seq++
			}
			type result struct {
				err error
				at  time.Time
			}
			done := make(chan result, 1)
			binary.LittleEndian.PutUint64(msg, seq)
			go func() { err := w.Send(msg); done <- result{err, time.Now()} }()
			time.Sleep(100 * time.Millisecond)
			killed := time.Now()
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			_ = cmd.Wait() // "signal: killed"
			var res result
			select {
			case res = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("Send still blocked 30 s after the reader was killed")
			}
			el := res.at.Sub(killed)
			if !errors.Is(res.err, ErrPeerDead) || !errors.Is(res.err, syscall.EPIPE) {
				t.Fatalf("blocked Send after the reader was killed: %v, want ErrPeerDead", res.err)
			}
			t.Logf("blocked Send got ErrPeerDead %v after SIGKILL: %v", el, res.err)
			if el > 5*time.Second {
				t.Fatalf("peer death took %v to detect (promise: 1 s)", el)
			}
			// Restart: a new reader continues at the first unconsumed message.
			r := openTestReader(t, w.Address())
			buf := make([]byte, 600)
			n, err := r.Recv(buf)
			if err != nil || n != 500 || binary.LittleEndian.Uint64(buf) != 1 {
				t.Fatalf("restarted reader: %d bytes, seq %d, %v; want message 1", n, binary.LittleEndian.Uint64(buf), err)
			}
			if err := w.Send(msg); err != nil { // the writer goes on too
				t.Fatalf("Send to the new reader: %v", err)
			}
			for i := uint64(2); i <= seq; i++ {
				n, err := r.Recv(buf)
				if err != nil || n != 500 || binary.LittleEndian.Uint64(buf) != i {
					t.Fatalf("restarted reader, message %d: %d bytes, seq %d, %v", i, n, binary.LittleEndian.Uint64(buf), err)
				}
			}
		})
	}
}

// The garbage collector's cleanup closes a forgotten Writer, which ends the
// stream (a safety net; programs call Close).
func TestChannelCleanupClosesWriter(t *testing.T) {
	addr := posixAddr()
	w, err := CreateWriter(addr, 4096) // no t.Cleanup closure: it would keep w reachable
	if err != nil {
		t.Fatal(err)
	}
	removeOnCleanup(t, addr)
	r := openTestReader(t, addr)
	if err := w.Send([]byte("before")); err != nil {
		t.Fatal(err)
	}
	w = nil
	buf := make([]byte, 16)
	if n, err := r.Recv(buf); err != nil || string(buf[:n]) != "before" {
		t.Fatalf("Recv: %q, %v", buf[:n], err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		runtime.GC()
		_, err := r.RecvTimeout(buf, 10*time.Millisecond)
		if err == io.EOF {
			return
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Recv: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatal("the dropped Writer was not closed by its cleanup within 30 s")
		}
	}
}
