// Command callbench-go is the Go client of the call benchmark
// (bench/calls/run.py starts it; it is not meant to be run by hand).
//
//	callbench-go -transport T -addr A -size N -mode latency|throughput
//	             [-callers 8] -warmup W -count C -out F
//
// It makes request/response calls of N bytes to an echo server that is
// already listening on A and checks every response: each request carries a
// number unique to the call in its first and last 8 bytes, and the response
// must carry the same number back, with the same length.
//
//	-mode latency     one caller, W calls not measured, then C calls each
//	                  timed on its own; writes p50/p99 (ns) of the C calls.
//	-mode throughput  -callers goroutines, each first makes W calls, then
//	                  all start together and each makes C calls; writes the
//	                  calls made and the ns from the start to the last reply.
//
// Transports (T):
//
//	grpc     a unary gRPC call /shmlink.bench.Echo/Call on the Unix socket A,
//	         request and response raw bytes (a codec that copies the bytes
//	         as they are, so no protobuf encoding on either side); one
//	         ClientConn shared by all callers, as gRPC is meant to be used.
//	unix     a Unix stream socket A, each message a 4-byte little-endian
//	         length and the payload; one connection per caller.
//	mpconn   a Unix socket A served by Python's multiprocessing.connection
//	         Listener (no authkey): its framing, a 4-byte big-endian
//	         length and the payload; one connection per caller.
//	shmlink  shmlink.Dial(A) and Client.Call; one client shared by all
//	         callers. Built only with -tags shmlinkcalls (shm_on.go).
//
// The result is JSON in F: {"ok": true, ...} or {"ok": false, "error": ...}.
package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"sync"
	"time"
)

// A caller makes calls one at a time; resp must have room for the reply.
type caller interface {
	call(ctx context.Context, req, resp []byte) (int, error)
}

// A transport hands out one caller per concurrent caller.
type transport interface {
	newCaller() (caller, error)
	close() error
}

type params struct {
	transport, addr, mode, out string
	size, callers              int
	warmup, count              int
	timeout                    time.Duration
}

func main() {
	var p params
	fl := flag.NewFlagSet("callbench-go", flag.ExitOnError)
	fl.StringVar(&p.transport, "transport", "", "grpc, unix, mpconn or shmlink")
	fl.StringVar(&p.addr, "addr", "", "server address (socket path or shmlink address)")
	fl.StringVar(&p.mode, "mode", "latency", "latency or throughput")
	fl.IntVar(&p.size, "size", 64, "request and response size in bytes (>= 16)")
	fl.IntVar(&p.callers, "callers", 8, "concurrent callers (throughput)")
	fl.IntVar(&p.warmup, "warmup", 1000, "calls not measured (per caller)")
	fl.IntVar(&p.count, "count", 10000, "calls measured (per caller)")
	fl.DurationVar(&p.timeout, "timeout", 10*time.Second, "deadline of one call")
	fl.StringVar(&p.out, "out", "", "result file (JSON)")
	_ = fl.Parse(os.Args[1:])
	if err := p.check(); err != nil {
		fmt.Fprintln(os.Stderr, "callbench-go:", err)
		os.Exit(2)
	}
	res, err := run(p)
	if err != nil {
		res = map[string]any{"ok": false, "error": err.Error()}
	} else {
		res["ok"] = true
	}
	if werr := writeResult(p.out, res); werr != nil {
		fmt.Fprintln(os.Stderr, "callbench-go:", werr)
		os.Exit(1)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "callbench-go:", err)
		os.Exit(1)
	}
}

func (p params) check() error {
	switch {
	case p.out == "":
		return errors.New("-out is required")
	case p.addr == "":
		return errors.New("-addr is required")
	case p.size < 16:
		return fmt.Errorf("-size %d: must be >= 16 (two 8-byte stamps)", p.size)
	case p.count < 1 || p.warmup < 0:
		return fmt.Errorf("-count %d, -warmup %d: need count >= 1, warmup >= 0", p.count, p.warmup)
	case p.callers < 1:
		return fmt.Errorf("-callers %d: must be >= 1", p.callers)
	case p.mode != "latency" && p.mode != "throughput":
		return fmt.Errorf("-mode %q: must be latency or throughput", p.mode)
	}
	return nil
}

func open(p params) (transport, error) {
	switch p.transport {
	case "grpc":
		return openGRPC(p.addr)
	case "unix":
		return openStream(p.addr, binary.LittleEndian), nil
	case "mpconn":
		return openStream(p.addr, binary.BigEndian), nil
	case "shmlink":
		return openShmlink(p.addr)
	}
	return nil, fmt.Errorf("-transport %q: must be grpc, unix, mpconn or shmlink", p.transport)
}

func run(p params) (map[string]any, error) {
	tr, err := open(p)
	if err != nil {
		return nil, err
	}
	defer tr.close()
	if p.mode == "latency" {
		return latency(p, tr)
	}
	return throughput(p, tr)
}

// roundTrip makes call number id and checks the echo.
func roundTrip(p params, c caller, req, resp []byte, id uint64) error {
	binary.LittleEndian.PutUint64(req, id)
	binary.LittleEndian.PutUint64(req[len(req)-8:], id)
	ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
	n, err := c.call(ctx, req, resp)
	cancel()
	if err != nil {
		return fmt.Errorf("call %#x: %w", id, err)
	}
	if n != len(req) {
		return fmt.Errorf("call %#x: response of %d bytes to a request of %d", id, n, len(req))
	}
	if a, b := binary.LittleEndian.Uint64(resp), binary.LittleEndian.Uint64(resp[n-8:n]); a != id || b != id {
		return fmt.Errorf("call %#x: response stamped %#x / %#x", id, a, b)
	}
	return nil
}

func latency(p params, tr transport) (map[string]any, error) {
	c, err := tr.newCaller()
	if err != nil {
		return nil, err
	}
	req, resp := make([]byte, p.size), make([]byte, p.size)
	for i := range p.warmup {
		if err := roundTrip(p, c, req, resp, uint64(i)); err != nil {
			return nil, err
		}
	}
	samples := make([]int64, p.count)
	for i := range p.count {
		t0 := time.Now()
		if err := roundTrip(p, c, req, resp, uint64(p.warmup+i)); err != nil {
			return nil, err
		}
		samples[i] = int64(time.Since(t0))
	}
	sort.Slice(samples, func(a, b int) bool { return samples[a] < samples[b] })
	return map[string]any{
		"samples": p.count,
		"p50_ns":  samples[p.count/2],
		"p99_ns":  samples[min(p.count-1, p.count*99/100)],
		"min_ns":  samples[0],
		"max_ns":  samples[p.count-1],
	}, nil
}

func throughput(p params, tr transport) (map[string]any, error) {
	callers := make([]caller, p.callers)
	for i := range callers {
		c, err := tr.newCaller()
		if err != nil {
			return nil, fmt.Errorf("caller %d: %w", i, err)
		}
		callers[i] = c
	}
	var warm, done sync.WaitGroup
	start := make(chan struct{})
	errs := make([]error, p.callers)
	ends := make([]time.Time, p.callers)
	for i, c := range callers {
		warm.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			req, resp := make([]byte, p.size), make([]byte, p.size)
			base := uint64(i) << 40
			var err error
			for k := 0; k < p.warmup && err == nil; k++ {
				err = roundTrip(p, c, req, resp, base|uint64(k))
			}
			warm.Done()
			<-start
			for k := 0; k < p.count && err == nil; k++ {
				err = roundTrip(p, c, req, resp, base|uint64(p.warmup+k))
			}
			errs[i] = err
			ends[i] = time.Now()
		}()
	}
	warm.Wait()
	t0 := time.Now()
	close(start)
	done.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	last := t0
	for _, e := range ends {
		if e.After(last) {
			last = e
		}
	}
	return map[string]any{
		"calls":   p.count * p.callers,
		"callers": p.callers,
		"ns":      last.Sub(t0).Nanoseconds(),
	}, nil
}

func writeResult(path string, v map[string]any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := os.WriteFile(path+".tmp", b, 0o644); err != nil {
		return err
	}
	return os.Rename(path+".tmp", path)
}
