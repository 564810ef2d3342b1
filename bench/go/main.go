// Command shmlink-bench-go is the Go side of the Go→Python benchmark rows
// (bench/run.py starts it with stream-writer and ping; those are not meant
// to be run by hand), and measures Go → Go itself (gogo).
//
//	shmlink-bench-go stream-writer -addr A -size N -warmup W -count C [-batch B] -out F
//	    opens the channel A (created by the Python reader, waiting for it),
//	    sends W+C messages of N bytes, each stamped with its sequence number
//	    in the first and last 8 bytes, and closes (end of stream). With
//	    -batch B > 1 it sends B messages per Writer.SendBatch call instead
//	    of one per Writer.Send.
//	shmlink-bench-go ping -send A -recv B -capacity K -size N -warmup W -count C -out F
//	    creates channel B (reader) and opens A (writer), then W+C round trips:
//	    send a stamped message on A, wait for it to come back on B, check it;
//	    writes p50/p99/p99.9 of the last C round trips (ns) and its minor
//	    page faults (getrusage, whole loop) as JSON to F.
//
// Both write {"ok": true, ...} or {"ok": false, "error": ...} to F.
//
//	shmlink-bench-go fanout-writer ...
//	    the writer of the fan-out rows (bench/fanout.py; see fanout.go).
//
//	shmlink-bench-go gogo [-sizes 8,64,...] [-reps 5] [-mib 256] [-only shm,unix,...]
//	    Go writer process → Go reader process through shmlink (Send/Recv,
//	    SendBatch/RecvBatch, SendBatch/range Messages) beside a Unix socket
//	    (a write per message, and bufio on both ends) and an in-process Go
//	    channel; prints a Markdown table of medians, ratios and spreads
//	    (see gogo.go).
//	shmlink-bench-go gogo-cell -transport shm|unix|... -size N -warmup W -count C -out F
//	    one Go → Go cell of the above for bench/run.py (the Go→Go rows):
//	    W+C messages, the last C timed; writes ns, messages, bytes and the
//	    minor page faults (reader loop + writer process) to F.
package main

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"syscall"
	"time"

	shmlink "github.com/shmlink/shmlink/bindings/go"
)

const openRetry = 30 * time.Second

type params struct {
	addr, send, recv string
	size, warmup     int
	count, capacity  int
	batch            int
	out              string
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: shmlink-bench-go stream-writer|ping|fanout-writer|gogo [flags]")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "fanout-writer":
		if err := runFanoutWriter(os.Args[2:]); err != nil {
			fmt.Fprintf(os.Stderr, "shmlink-bench-go fanout-writer: %v\n", err)
			os.Exit(1)
		}
		return
	case "gogo", "gogo-writer", "gogo-cell":
		run := runGoGo
		switch os.Args[1] {
		case "gogo-writer":
			run = gogoWriter
		case "gogo-cell":
			run = runGoGoCell
		}
		if err := run(os.Args[2:]); err != nil {
			fmt.Fprintf(os.Stderr, "shmlink-bench-go %s: %v\n", os.Args[1], err)
			os.Exit(1)
		}
		return
	}
	var p params
	fl := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	fl.StringVar(&p.addr, "addr", "", "channel address (stream-writer)")
	fl.StringVar(&p.send, "send", "", "channel this side writes (ping)")
	fl.StringVar(&p.recv, "recv", "", "channel this side reads and creates (ping)")
	fl.IntVar(&p.size, "size", 64, "message size in bytes (>= 8)")
	fl.IntVar(&p.warmup, "warmup", 1000, "messages not measured")
	fl.IntVar(&p.count, "count", 100000, "messages measured")
	fl.IntVar(&p.capacity, "capacity", 4<<20, "ring capacity of the channel created")
	fl.IntVar(&p.batch, "batch", 1, "messages per SendBatch call (stream-writer; 1: Send)")
	fl.StringVar(&p.out, "out", "", "result file (JSON)")
	_ = fl.Parse(os.Args[2:])
	if p.out == "" || p.size < 8 || p.count < 1 || p.warmup < 0 {
		fmt.Fprintln(os.Stderr, "shmlink-bench-go: -out is required, -size >= 8, -count >= 1, -warmup >= 0")
		os.Exit(2)
	}
	var res map[string]any
	var err error
	switch os.Args[1] {
	case "stream-writer":
		res, err = streamWriter(p)
	case "ping":
		res, err = ping(p)
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		res = map[string]any{"ok": false, "error": err.Error()}
	} else {
		res["ok"] = true
	}
	if werr := writeResult(p.out, res); werr != nil {
		fmt.Fprintln(os.Stderr, "shmlink-bench-go:", werr)
		os.Exit(1)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "shmlink-bench-go:", err)
		os.Exit(1)
	}
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

// openWriter waits for the peer to create the channel.
func openWriter(addr string) (*shmlink.Writer, error) {
	deadline := time.Now().Add(openRetry)
	for {
		w, err := shmlink.OpenWriter(addr)
		if err == nil {
			return w, nil
		}
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, shmlink.ErrProtocol) {
			return nil, err
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s did not appear within %v: %w", addr, openRetry, err)
		}
		time.Sleep(time.Millisecond)
	}
}

// minflt is this process's minor page faults so far (getrusage).
func minflt() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Minflt
}

func stamp(buf []byte, seq uint64) {
	binary.LittleEndian.PutUint64(buf, seq)
	if len(buf) >= 16 {
		binary.LittleEndian.PutUint64(buf[len(buf)-8:], seq)
	}
}

func check(msg []byte, size int, seq uint64) error {
	if len(msg) != size {
		return fmt.Errorf("message %d: length %d, expected %d", seq, len(msg), size)
	}
	if got := binary.LittleEndian.Uint64(msg); got != seq {
		return fmt.Errorf("message %d: sequence number at start is %d", seq, got)
	}
	if size >= 16 {
		if got := binary.LittleEndian.Uint64(msg[size-8:]); got != seq {
			return fmt.Errorf("message %d: sequence number at end is %d", seq, got)
		}
	}
	return nil
}

func streamWriter(p params) (map[string]any, error) {
	w, err := openWriter(p.addr)
	if err != nil {
		return nil, err
	}
	total := uint64(p.warmup + p.count)
	batch := make([][]byte, max(p.batch, 1))
	for i := range batch {
		batch[i] = make([]byte, p.size)
	}
	f0 := minflt()
	start := time.Now()
	for i := uint64(0); i < total; {
		if p.batch <= 1 {
			stamp(batch[0], i)
			if err := w.Send(batch[0]); err != nil {
				_ = w.Close() // the error of Send is the one to report
				return nil, fmt.Errorf("send %d: %w", i, err)
			}
			i++
			continue
		}
		k := min(uint64(len(batch)), total-i)
		for j := range k {
			stamp(batch[j], i+j)
		}
		if n, err := w.SendBatch(batch[:k]); err != nil {
			_ = w.Close() // the error of SendBatch is the one to report
			return nil, fmt.Errorf("send %d: %w", i+uint64(n), err)
		}
		i += k
	}
	elapsed := time.Since(start)
	if err := w.Close(); err != nil {
		return nil, err
	}
	return map[string]any{"writer_ns": elapsed.Nanoseconds(), "minflt": minflt() - f0}, nil
}

func ping(p params) (res map[string]any, err error) {
	r, err := shmlink.CreateReader(p.recv, p.capacity)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, r.Close()) }()
	w, err := openWriter(p.send)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, w.Close()) }()
	buf := make([]byte, p.size)
	in := make([]byte, p.size)
	samples := make([]int64, 0, p.count)
	total := uint64(p.warmup + p.count)
	f0 := minflt()
	for i := uint64(0); i < total; i++ {
		stamp(buf, i)
		t0 := time.Now()
		if err := w.Send(buf); err != nil {
			return nil, fmt.Errorf("send %d: %w", i, err)
		}
		n, err := r.Recv(in)
		dt := time.Since(t0)
		if err != nil {
			return nil, fmt.Errorf("recv %d: %w", i, err)
		}
		if err := check(in[:n], p.size, i); err != nil {
			return nil, err
		}
		if i >= uint64(p.warmup) {
			samples = append(samples, dt.Nanoseconds())
		}
	}
	faults := minflt() - f0
	sort.Slice(samples, func(a, b int) bool { return samples[a] < samples[b] })
	var sum int64
	for _, s := range samples {
		sum += s
	}
	return map[string]any{
		"p50_ns": percentile(samples, 500), "p99_ns": percentile(samples, 990),
		"p999_ns": percentile(samples, 999), "minflt": faults, "min_ns": samples[0], "max_ns": samples[len(samples)-1],
		"mean_ns": float64(sum) / float64(len(samples)), "samples": len(samples),
	}, nil
}

// percentile is the nearest-rank percentile of ascending values (same rule
// as bench/peers/common.py); q is in per mille.
func percentile(sorted []int64, q int) int64 {
	k := (q*len(sorted)+999)/1000 - 1
	if k < 0 {
		k = 0
	}
	if k >= len(sorted) {
		k = len(sorted) - 1
	}
	return sorted[k]
}
