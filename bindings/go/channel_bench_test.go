//go:build linux && cgo

package shmlink

import (
	"sync"
	"testing"
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
