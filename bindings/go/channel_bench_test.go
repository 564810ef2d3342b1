//go:build linux && cgo

package shmlink

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// Go→Go throughput through one channel: a writer goroutine, the reader in
// the benchmark goroutine. Run with
//
//	go test -run xxx -bench . -benchtime=2000000x ./bindings/go
func benchSendRecv(b *testing.B, size int) {
	w, r := newPair(b, posixAddr, 1<<20)
	msg := make([]byte, size)
	buf := make([]byte, r.MaxMessage())
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	errc := make(chan error, 1)
	go func() {
		for i := 0; i < b.N; i++ {
			if err := w.Send(msg); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	for i := 0; i < b.N; i++ {
		if _, err := r.Recv(buf); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
}

func BenchmarkSendRecv64(b *testing.B)  { benchSendRecv(b, 64) }
func BenchmarkSendRecv1K(b *testing.B)  { benchSendRecv(b, 1024) }
func BenchmarkSendRecv64K(b *testing.B) { benchSendRecv(b, 64<<10) }

func BenchmarkRecvBatch64(b *testing.B) {
	w, r := newPair(b, posixAddr, 1<<20)
	msg := make([]byte, 64)
	buf := make([]byte, 1<<16)
	sizes := make([]int, 1024)
	b.SetBytes(64)
	b.ReportAllocs()
	b.ResetTimer()
	go func() {
		for i := 0; i < b.N; i++ {
			if err := w.Send(msg); err != nil {
				return
			}
		}
	}()
	calls := 0
	for got := 0; got < b.N; calls++ {
		k, err := r.RecvBatch(buf, sizes)
		if err != nil {
			b.Fatal(err)
		}
		got += k
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
	b.ReportMetric(float64(b.N)/float64(calls), "msg/call")
}

func BenchmarkZeroCopy64(b *testing.B) {
	w, r := newPair(b, posixAddr, 1<<20)
	b.SetBytes(64)
	b.ReportAllocs()
	b.ResetTimer()
	go func() {
		for i := 0; i < b.N; i++ {
			p, err := w.Reserve(64)
			if err != nil {
				return
			}
			p[0] = byte(i)
			if err := w.Commit(64); err != nil {
				return
			}
		}
	}()
	for i := 0; i < b.N; i++ {
		p, err := r.Peek()
		if err != nil || p[0] != byte(i) {
			b.Fatal(err)
		}
		if err := r.Release(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
}

// One goroutine: Send then Recv of 64 bytes, never waiting. The cost of
// the two calls themselves (2 cgo calls, 2 mutexes, the copies).
func BenchmarkSendRecvSameGoroutine64(b *testing.B) {
	w, r := newPair(b, posixAddr, 1<<20)
	msg := make([]byte, 64)
	buf := make([]byte, 64)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if err := w.Send(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := r.Recv(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// The cost of one cgo call that does nothing.
func BenchmarkCgoCall(b *testing.B) {
	for i := 0; i < b.N; i++ {
		cgoNoop()
	}
}

// The cost of the guard each channel call takes.
func BenchmarkMutexUncontended(b *testing.B) {
	var mu sync.Mutex
	n := 0
	for i := 0; i < b.N; i++ {
		mu.Lock()
		n++
		mu.Unlock()
	}
	_ = n
}

// Streaming 64-byte messages from a writer goroutine to a reader goroutine
// through a 1 MiB channel, each side either a loop in C (one cgo call for
// the whole run: the cost of the channel itself) or the Go API. The side
// that is slower sets the rate, so "Go writer, C reader" shows what the
// Go writer costs per message against "C writer, C reader". Run with
//
//	go test -run xxx -bench Stream -benchtime=2000000x ./bindings/go
func BenchmarkStream64(b *testing.B) {
	const size = 64
	cWrite := func(w *Writer, n int) error { return cbenchSend(w, make([]byte, size), n) }
	cRead := func(r *Reader, n int) error { return cbenchRecv(r, make([]byte, size), n) }
	goSend := func(w *Writer, n int) error {
		msg := make([]byte, size)
		for i := 0; i < n; i++ {
			if err := w.Send(msg); err != nil {
				return err
			}
		}
		return nil
	}
	goSendBatch := func(w *Writer, n int) error {
		msgs := make([][]byte, 64)
		for i := range msgs {
			msgs[i] = make([]byte, size)
		}
		for n > 0 {
			k, err := w.SendBatch(msgs[:min(n, len(msgs))])
			if err != nil {
				return err
			}
			n -= k
		}
		return nil
	}
	goRecv := func(r *Reader, n int) error {
		buf := make([]byte, size)
		for i := 0; i < n; i++ {
			if _, err := r.Recv(buf); err != nil {
				return err
			}
		}
		return nil
	}
	goRecvBatch := func(r *Reader, n int) error {
		buf := make([]byte, 64<<10)
		sizes := make([]int, 1024)
		for n > 0 {
			k, err := r.RecvBatch(buf, sizes[:min(n, len(sizes))])
			if err != nil {
				return err
			}
			n -= k
		}
		return nil
	}
	goMessages := func(r *Reader, n int) error {
		if n == 0 {
			return nil
		}
		for _, err := range r.Messages(context.Background()) {
			if err != nil {
				return err
			}
			if n--; n == 0 {
				break
			}
		}
		return nil
	}
	cases := []struct {
		name  string
		write func(*Writer, int) error
		read  func(*Reader, int) error
	}{
		{"C-C", cWrite, cRead},
		{"Send-C", goSend, cRead},
		{"SendBatch-C", goSendBatch, cRead},
		{"C-Recv", cWrite, goRecv},
		{"C-RecvBatch", cWrite, goRecvBatch},
		{"C-Messages", cWrite, goMessages},
		{"Send-Recv", goSend, goRecv},
		{"SendBatch-RecvBatch", goSendBatch, goRecvBatch},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			w, r := newPair(b, posixAddr, 1<<20)
			b.SetBytes(size)
			b.ReportAllocs()
			b.ResetTimer()
			errc := make(chan error, 1)
			go func() { errc <- c.write(w, b.N) }()
			if err := c.read(r, b.N); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			if err := <-errc; err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
		})
	}
}

// One goroutine sends and receives 64-byte messages without ever waiting:
// what the calls cost, without a second thread. "C" is the same loop in C
// (one cgo call), "Go" a Send and a Recv per message, "Batch" a SendBatch
// of 64 messages and a RecvBatch taking them. Per message.
func BenchmarkPair64(b *testing.B) {
	const size, batch = 64, 64
	b.Run("C", func(b *testing.B) {
		w, r := newPair(b, posixAddr, 1<<20)
		buf := make([]byte, size)
		b.ResetTimer()
		if err := cbenchSendRecv(w, r, buf, b.N); err != nil {
			b.Fatal(err)
		}
	})
	b.Run("Go", func(b *testing.B) {
		w, r := newPair(b, posixAddr, 1<<20)
		msg, buf := make([]byte, size), make([]byte, size)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := w.Send(msg); err != nil {
				b.Fatal(err)
			}
			if _, err := r.Recv(buf); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Batch", func(b *testing.B) {
		w, r := newPair(b, posixAddr, 1<<20)
		msgs := make([][]byte, batch)
		for i := range msgs {
			msgs[i] = make([]byte, size)
		}
		buf, sizes := make([]byte, batch*size), make([]int, batch)
		b.ReportAllocs()
		b.ResetTimer()
		for n := b.N; n > 0; {
			k, err := w.SendBatch(msgs[:min(n, batch)])
			if err != nil {
				b.Fatal(err)
			}
			if got, err := r.RecvBatch(buf, sizes[:k]); err != nil || got != k {
				b.Fatalf("RecvBatch: %d of %d, %v", got, k, err)
			}
			n -= k
		}
	})
}

// How long a Recv waiting on an empty channel takes to return once another
// goroutine calls Close (WakeOnClose) or cancels its context
// (WakeOnCancel): the mean, as "µs/wake". Each wait starts about a
// millisecond before the Close or cancel, so the receiving side is asleep
// in the core's wait by then.
func BenchmarkWakeOnClose(b *testing.B) {
	var total time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		_, r := newPair(b, posixAddr, 4096)
		done := make(chan time.Time, 1)
		go func() {
			_, err := r.Recv(make([]byte, 8))
			if !errors.Is(err, ErrClosed) {
				b.Errorf("Recv: %v", err)
			}
			done <- time.Now()
		}()
		time.Sleep(time.Millisecond)
		b.StartTimer()
		start := time.Now()
		if err := r.Close(); err != nil {
			b.Fatal(err)
		}
		total += (<-done).Sub(start)
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N), "µs/wake")
}

func BenchmarkWakeOnCancel(b *testing.B) {
	_, r := newPair(b, posixAddr, 4096)
	var total time.Duration
	for i := 0; i < b.N; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan time.Time, 1)
		go func() {
			_, err := r.RecvContext(ctx)
			if !errors.Is(err, context.Canceled) {
				b.Errorf("RecvContext: %v", err)
			}
			done <- time.Now()
		}()
		time.Sleep(time.Millisecond)
		start := time.Now()
		cancel()
		total += (<-done).Sub(start)
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N), "µs/wake")
}
