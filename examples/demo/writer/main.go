// Command writer is the Go half of the shmlink demo: it streams generated
// "sensor frames" through a shmlink channel to examples/demo/reader.py.
//
// Each frame is a 32-byte little-endian header followed by float32 samples:
//
//	offset size field
//	0      4    magic "SHMF"
//	4      2    format version (1)
//	6      2    sensors (samples are interleaved: sample k is sensor k % sensors)
//	8      8    frame sequence number, from 0
//	16     8    capture time, Unix nanoseconds
//	24     4    number of samples
//	28     4    CRC-32 (IEEE) of the sample bytes
//
// Frames are built in place in the channel (Reserve/Commit, zero copy). The
// reader creates the channel; the writer waits for it to appear (-wait),
// streams for -duration (or until SIGINT/SIGTERM) and closes it, which marks
// the end of the stream. scripts/demo.sh runs both:
//
//	.venv/bin/python examples/demo/reader.py &
//	go run ./examples/demo/writer -duration 5s -frame-size 4096
package main

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"io/fs"
	"math"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	shmlink "github.com/shmlink/shmlink/bindings/go"
)

const headerSize = 32

func main() {
	addr := flag.String("addr", "posix:/shmlink-demo", "channel address")
	duration := flag.Duration("duration", 5*time.Second, "how long to stream")
	frameSize := flag.Int("frame-size", 4096, "bytes per frame (header 32 + 4 per sample)")
	rate := flag.Float64("rate", 0, "frames per second (0: as fast as the reader takes them)")
	wait := flag.Duration("wait", 30*time.Second, "how long to wait for the reader to create the channel")
	sensors := flag.Int("sensors", 8, "number of simulated sensors")
	flag.Parse()
	if flag.NArg() != 0 {
		fail(2, fmt.Errorf("unexpected argument %q", flag.Arg(0)))
	}
	switch {
	case *duration <= 0:
		fail(2, fmt.Errorf("-duration must be positive, not %v", *duration))
	case *frameSize < headerSize+4 || (*frameSize-headerSize)%4 != 0:
		fail(2, fmt.Errorf("-frame-size must be 32 + 4*n with n >= 1, not %d", *frameSize))
	case *rate < 0:
		fail(2, fmt.Errorf("-rate must be >= 0, not %v", *rate))
	case *sensors < 1 || *sensors > 65535:
		fail(2, fmt.Errorf("-sensors must be 1..65535, not %d", *sensors))
	}

	w, err := openWhenThere(*addr, *wait)
	if err != nil {
		fail(1, err)
	}
	if *frameSize > w.MaxMessage() {
		_ = w.Close() // the size error is the one to report
		fail(2, fmt.Errorf("-frame-size %d is larger than the channel's largest message %d", *frameSize, w.MaxMessage()))
	}

	var stop atomic.Bool
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() { <-sigs; stop.Store(true) }()

	// A sine table, read at a different speed per sensor, plus a little
	// deterministic noise.
	var table [4096]float32
	for i := range table {
		table[i] = float32(math.Sin(2 * math.Pi * float64(i) / float64(len(table))))
	}
	nsamples := (*frameSize - headerSize) / 4
	var interval time.Duration
	if *rate > 0 {
		interval = time.Duration(float64(time.Second) / *rate)
	}
	start := time.Now()
	deadline := start.Add(*duration)
	next := start
	var seq, noise uint64
	var sent int64
	for !stop.Load() && time.Now().Before(deadline) {
		if interval > 0 {
			if d := time.Until(next); d > 0 {
				time.Sleep(d)
			}
			next = next.Add(interval)
		}
		f, err := w.Reserve(*frameSize)
		if err != nil {
			_ = w.Close() // the error of Reserve is the one to report
			fail(1, fmt.Errorf("after %d frames: %w", seq, err))
		}
		f = f[:*frameSize]
		s := f[headerSize:]
		for k := 0; k < nsamples; k++ {
			sensor := uint64(k % *sensors)
			pos := (seq*uint64(nsamples/(*sensors)+1) + uint64(k)) * (sensor + 1)
			noise = noise*6364136223846793005 + 1442695040888963407
			v := table[pos%uint64(len(table))]*(1+float32(sensor)) + float32(int64(noise>>40)%1000)/1e4
			binary.LittleEndian.PutUint32(s[4*k:], math.Float32bits(v))
		}
		copy(f[0:4], "SHMF")
		binary.LittleEndian.PutUint16(f[4:], 1)
		binary.LittleEndian.PutUint16(f[6:], uint16(*sensors))
		binary.LittleEndian.PutUint64(f[8:], seq)
		binary.LittleEndian.PutUint64(f[16:], uint64(time.Now().UnixNano()))
		binary.LittleEndian.PutUint32(f[24:], uint32(nsamples))
		binary.LittleEndian.PutUint32(f[28:], crc32.ChecksumIEEE(s))
		if err := w.Commit(*frameSize); err != nil {
			_ = w.Close() // the error of Commit is the one to report
			fail(1, fmt.Errorf("after %d frames: %w", seq, err))
		}
		seq++
		sent += int64(*frameSize)
	}
	if err := w.Close(); err != nil {
		fail(1, err)
	}
	el := time.Since(start).Seconds()
	fmt.Fprintf(os.Stderr, "writer: sent %d frames, %.1f MB in %.2f s (%.0f MB/s) to %s\n",
		seq, float64(sent)/1e6, el, float64(sent)/1e6/el, *addr)
}

// openWhenThere opens the channel as its writer, waiting for the reader to
// create it. While the reader is creating it, an open can also see an empty
// POSIX object (EINVAL) or a header not yet written (ErrProtocol): retried
// too, once the address itself is known to be well formed.
func openWhenThere(addr string, wait time.Duration) (*shmlink.Writer, error) {
	if _, err := shmlink.StatAddress(addr); errors.Is(err, syscall.EINVAL) {
		return nil, err // malformed address: no point waiting
	}
	deadline := time.Now().Add(wait)
	for {
		w, err := shmlink.OpenWriter(addr)
		if err == nil {
			return w, nil
		}
		retry := errors.Is(err, fs.ErrNotExist) || errors.Is(err, shmlink.ErrProtocol) ||
			errors.Is(err, syscall.EINVAL)
		if !retry {
			return nil, err
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("no reader made %s a channel within %v: %w", addr, wait, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func fail(code int, err error) {
	fmt.Fprintln(os.Stderr, "writer:", err)
	os.Exit(code)
}
