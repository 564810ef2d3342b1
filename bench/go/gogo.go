package main

// Go to Go: a writer process streams messages to a reader process through
// shmlink and, beside it, through a Unix socket; an in-process Go channel
// is the reference for what a message costs without leaving the process.
//
//	shmlink-bench-go gogo [-sizes 8,64,1024,65536,1048576] [-reps 5] [-mib 256] [-max-count 2000000]
//
// Each cell is one pair of processes (the reader is this process, the
// writer a child running "gogo-writer"); the reader times from the first
// message to the last and checks the sequence number stamped into the
// first 8 bytes of each. Cells are run in turn, transport after transport,
// -reps times; the table shows the median, the ratio to the Unix socket,
// and the spread.

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	shmlink "github.com/shmlink/shmlink/bindings/go"
)

// gogoCapacity is the ring of the shmlink channels: 4 MiB, as the Go→Python
// rows use.
const gogoCapacity = 4 << 20

type gogoTransport struct {
	key, label string
	inProcess  bool
}

var gogoTransports = []gogoTransport{
	{"shm", "shmlink Send → Recv", false},
	{"shm-batch", "shmlink SendBatch(64) → RecvBatch", false},
	{"shm-iter", "shmlink SendBatch(64) → range Messages", false},
	{"unix", "Unix socket, a write per message", false},
	{"unix-buf", "Unix socket, bufio (64 KiB) on both ends", false},
	{"chan", "Go channel in one process (a new []byte per message)", true},
}

func runGoGo(args []string) error {
	fl := flag.NewFlagSet("gogo", flag.ExitOnError)
	sizesFlag := fl.String("sizes", "8,64,1024,65536,1048576", "message sizes in bytes (>= 8), comma-separated")
	reps := fl.Int("reps", 5, "repetitions of each cell")
	mib := fl.Int("mib", 256, "payload MiB per cell (the count is this over the size, within the bounds)")
	maxCount := fl.Int("max-count", 2_000_000, "most messages per cell")
	only := fl.String("only", "", "transport keys to run, comma-separated (default all)")
	_ = fl.Parse(args)
	var sizes []int
	for _, f := range strings.Split(*sizesFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 8 || n > gogoCapacity/4 {
			return fmt.Errorf("bad size %q (8 .. %d)", f, gogoCapacity/4)
		}
		sizes = append(sizes, n)
	}
	transports := gogoTransports
	if *only != "" {
		transports = nil
		for _, k := range strings.Split(*only, ",") {
			found := false
			for _, t := range gogoTransports {
				if t.key == k {
					transports, found = append(transports, t), true
				}
			}
			if !found {
				return fmt.Errorf("unknown transport %q", k)
			}
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "shmlink-bench-gogo-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()

	results := map[string]map[int][]float64{} // transport -> size -> msg/s
	for _, t := range transports {
		results[t.key] = map[int][]float64{}
	}
	fmt.Fprintf(os.Stderr, "gogo: %d transports x %d sizes x %d repetitions\n", len(transports), len(sizes), *reps)
	for rep := 0; rep < *reps; rep++ {
		for _, size := range sizes {
			count := max(2000, min(*maxCount, (*mib<<20)/size))
			for _, t := range transports {
				rate, err := gogoCell(self, dir, t, size, count, rep)
				if err != nil {
					return fmt.Errorf("%s, %d B: %w", t.key, size, err)
				}
				results[t.key][size] = append(results[t.key][size], rate)
				fmt.Fprintf(os.Stderr, "  rep %d %-9s %7d B: %s msg/s\n", rep+1, t.key, size, human(rate))
			}
		}
	}
	printGoGo(transports, sizes, results)
	return nil
}

// gogoCell measures one transport at one size: count messages, timed by
// the reader. Returns messages per second.
func gogoCell(self, dir string, t gogoTransport, size, count, rep int) (float64, error) {
	if t.inProcess {
		return gogoChan(size, count)
	}
	res, err := gogoProcCell(self, dir, t, size, count, 0, rep)
	if err != nil {
		return 0, err
	}
	return float64(res.messages) / res.elapsed.Seconds(), nil
}

type gogoResult struct {
	elapsed  time.Duration
	messages int   // messages timed
	minflt   int64 // minor page faults: the reader's loop and the writer process
}

// gogoProcCell runs one cell in two processes: warm+count messages (warm
// 0: count, the first one untimed), the reader times the rest.
func gogoProcCell(self, dir string, t gogoTransport, size, count, warm, rep int) (gogoResult, error) {
	var res gogoResult
	total, first := count, 0
	if warm > 0 {
		total, first = warm+count, warm-1
	}
	addr := fmt.Sprintf("posix:/shmlink-bench-gogo-%d-%d-%s-%d", os.Getpid(), rep, t.key, size)
	sock := filepath.Join(dir, fmt.Sprintf("%s-%d-%d.sock", t.key, size, rep))
	var r *shmlink.Reader
	var ln net.Listener
	var err error
	switch t.key {
	case "unix", "unix-buf":
		if ln, err = net.Listen("unix", sock); err != nil {
			return res, err
		}
		defer func() { _ = ln.Close() }()
	default:
		if r, err = shmlink.CreateReader(addr, gogoCapacity); err != nil {
			return res, err
		}
		defer func() { _ = r.Close(); _ = shmlink.Remove(addr) }()
	}
	cmd := exec.Command(self, "gogo-writer", "-transport", t.key, "-addr", addr, "-sock", sock,
		"-size", strconv.Itoa(size), "-count", strconv.Itoa(total))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return res, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	f0 := minflt()
	if r != nil {
		res.elapsed, res.messages, err = gogoReadShm(ctx, t.key, r, size, total, first)
	} else {
		res.elapsed, res.messages, err = gogoReadSocket(ln, t.key == "unix-buf", size, total, first)
	}
	res.minflt = minflt() - f0
	werr := cmd.Wait()
	if err != nil {
		_ = cmd.Process.Kill()
		return res, err
	}
	if werr != nil {
		return res, fmt.Errorf("writer: %w", werr)
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		res.minflt += ru.Minflt
	}
	return res, nil
}

// runGoGoCell is one cell for bench/run.py (the Go→Go rows): writes
// {"ok": true, "ns", "messages", "bytes", "minflt"} or the error to -out.
func runGoGoCell(args []string) error {
	fl := flag.NewFlagSet("gogo-cell", flag.ExitOnError)
	key := fl.String("transport", "shm", "shm, shm-batch, shm-iter, unix or unix-buf")
	size := fl.Int("size", 64, "message size in bytes (>= 8)")
	warm := fl.Int("warmup", 1, "untimed messages first (>= 1)")
	count := fl.Int("count", 1000, "timed messages")
	out := fl.String("out", "", "result file (JSON)")
	_ = fl.Parse(args)
	if *out == "" {
		return errors.New("gogo-cell: -out is required")
	}
	var t *gogoTransport
	for i := range gogoTransports {
		if gogoTransports[i].key == *key && !gogoTransports[i].inProcess {
			t = &gogoTransports[i]
		}
	}
	var err error
	var res gogoResult
	switch {
	case t == nil:
		err = fmt.Errorf("unknown transport %q", *key)
	case *size < 8 || *size > gogoCapacity/4 || *warm < 1 || *count < 1:
		err = fmt.Errorf("want 8 <= size <= %d, warmup >= 1, count >= 1", gogoCapacity/4)
	default:
		self, e := os.Executable()
		if e != nil {
			err = e
			break
		}
		dir, e := os.MkdirTemp("", "shmlink-bench-gogo-")
		if e != nil {
			err = e
			break
		}
		defer func() { _ = os.RemoveAll(dir) }()
		res, err = gogoProcCell(self, dir, *t, *size, *count, *warm, 0)
	}
	if err != nil {
		_ = writeResult(*out, map[string]any{"ok": false, "error": err.Error()})
		return err
	}
	return writeResult(*out, map[string]any{"ok": true, "ns": res.elapsed.Nanoseconds(),
		"messages": res.messages, "bytes": res.messages * *size, "minflt": res.minflt})
}

func checkSeq(msg []byte, size int, seq uint64) error {
	if len(msg) != size {
		return fmt.Errorf("message %d: %d bytes, want %d", seq, len(msg), size)
	}
	if got := binary.LittleEndian.Uint64(msg); got != seq {
		return fmt.Errorf("message %d carries %d", seq, got)
	}
	return nil
}

// The readers time from the receipt of message first (0 without a
// warm-up, warm-1 with one) to the last: they return the elapsed time and
// the number of messages it covers (count-1-first).
func gogoReadShm(ctx context.Context, key string, r *shmlink.Reader, size, count, first int) (time.Duration, int, error) {
	var start time.Time
	seq := uint64(0)
	switch key {
	case "shm":
		buf := make([]byte, size)
		for ; seq < uint64(count); seq++ {
			n, err := r.Recv(buf)
			if err != nil {
				return 0, 0, err
			}
			if seq == uint64(first) {
				start = time.Now()
			}
			if err := checkSeq(buf[:n], size, seq); err != nil {
				return 0, 0, err
			}
		}
	case "shm-batch":
		buf := make([]byte, max(size, 256<<10))
		sizes := make([]int, 1024)
		for seq < uint64(count) {
			k, err := r.RecvBatch(buf, sizes)
			if err != nil {
				return 0, 0, err
			}
			off := 0
			for _, n := range sizes[:k] {
				if err := checkSeq(buf[off:off+n], size, seq); err != nil {
					return 0, 0, err
				}
				if seq == uint64(first) {
					start = time.Now()
				}
				off += n
				seq++
			}
		}
	case "shm-iter":
		for msg, err := range r.Messages(ctx) {
			if err != nil {
				return 0, 0, err
			}
			if seq == uint64(first) {
				start = time.Now()
			}
			if err := checkSeq(msg, size, seq); err != nil {
				return 0, 0, err
			}
			if seq++; seq == uint64(count) {
				break
			}
		}
	}
	if seq != uint64(count) {
		return 0, 0, fmt.Errorf("%d messages, want %d", seq, count)
	}
	// Message first is not timed (it includes the writer's start).
	return time.Since(start), count - 1 - first, nil
}

func gogoReadSocket(ln net.Listener, buffered bool, size, count, first int) (time.Duration, int, error) {
	c, err := ln.Accept()
	if err != nil {
		return 0, 0, err
	}
	defer func() { _ = c.Close() }()
	var rd io.Reader = c
	if buffered {
		rd = bufio.NewReaderSize(c, 64<<10)
	}
	var start time.Time
	hdr := make([]byte, 4)
	buf := make([]byte, size)
	for seq := uint64(0); seq < uint64(count); seq++ {
		if _, err := io.ReadFull(rd, hdr); err != nil {
			return 0, 0, err
		}
		n := int(binary.LittleEndian.Uint32(hdr))
		if n != size {
			return 0, 0, fmt.Errorf("message %d: length %d", seq, n)
		}
		if _, err := io.ReadFull(rd, buf); err != nil {
			return 0, 0, err
		}
		if seq == uint64(first) {
			start = time.Now()
		}
		if err := checkSeq(buf, size, seq); err != nil {
			return 0, 0, err
		}
	}
	return time.Since(start), count - 1 - first, nil
}

// gogoChan: a writer goroutine hands a new []byte per message to the
// reader goroutine through a buffered channel (what a Go program does to
// pass a message it will not touch again).
func gogoChan(size, count int) (float64, error) {
	ch := make(chan []byte, 1024)
	go func() {
		for seq := uint64(0); seq < uint64(count); seq++ {
			m := make([]byte, size)
			binary.LittleEndian.PutUint64(m, seq)
			ch <- m
		}
		close(ch)
	}()
	var start time.Time
	seq := uint64(0)
	for m := range ch {
		if seq == 0 {
			start = time.Now()
		}
		if err := checkSeq(m, size, seq); err != nil {
			return 0, err
		}
		seq++
	}
	el := time.Since(start) * time.Duration(count) / time.Duration(max(count-1, 1))
	return float64(count) / el.Seconds(), nil
}

// gogoWriter is the child process of a cell.
func gogoWriter(args []string) error {
	fl := flag.NewFlagSet("gogo-writer", flag.ExitOnError)
	key := fl.String("transport", "", "transport key")
	addr := fl.String("addr", "", "channel address")
	sock := fl.String("sock", "", "socket path")
	size := fl.Int("size", 64, "message size")
	count := fl.Int("count", 0, "messages")
	_ = fl.Parse(args)
	switch *key {
	case "shm", "shm-batch", "shm-iter":
		w, err := shmlink.OpenWriter(*addr)
		if err != nil {
			return err
		}
		if *key == "shm" {
			buf := make([]byte, *size)
			for seq := uint64(0); seq < uint64(*count); seq++ {
				binary.LittleEndian.PutUint64(buf, seq)
				if err := w.Send(buf); err != nil {
					return errors.Join(err, w.Close())
				}
			}
			return w.Close()
		}
		batch := make([][]byte, 64)
		for i := range batch {
			batch[i] = make([]byte, *size)
		}
		for seq := 0; seq < *count; {
			k := min(len(batch), *count-seq)
			for i := range k {
				binary.LittleEndian.PutUint64(batch[i], uint64(seq+i))
			}
			if _, err := w.SendBatch(batch[:k]); err != nil {
				return errors.Join(err, w.Close())
			}
			seq += k
		}
		return w.Close()
	case "unix", "unix-buf":
		c, err := net.Dial("unix", *sock)
		if err != nil {
			return err
		}
		var wr io.Writer = c
		var bw *bufio.Writer
		if *key == "unix-buf" {
			bw = bufio.NewWriterSize(c, 64<<10)
			wr = bw
		}
		// Length prefix and payload in one buffer: one write per message.
		msg := make([]byte, 4+*size)
		binary.LittleEndian.PutUint32(msg, uint32(*size))
		for seq := uint64(0); seq < uint64(*count); seq++ {
			binary.LittleEndian.PutUint64(msg[4:], seq)
			if _, err := wr.Write(msg); err != nil {
				return errors.Join(err, c.Close())
			}
		}
		if bw != nil {
			if err := bw.Flush(); err != nil {
				return errors.Join(err, c.Close())
			}
		}
		return c.Close()
	}
	return fmt.Errorf("unknown transport %q", *key)
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func human(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2f M", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1f k", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

func sizeName(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

func printGoGo(transports []gogoTransport, sizes []int, res map[string]map[int][]float64) {
	header := "| transport |"
	rule := "|---|"
	for _, s := range sizes {
		header += " " + sizeName(s) + " |"
		rule += "---:|"
	}
	reps := 0
	if len(transports) > 0 && len(sizes) > 0 {
		reps = len(res[transports[0].key][sizes[0]])
	}
	fmt.Printf("Go → Go streaming, messages per second (median of %d; writer and reader are separate processes except the Go channel)\n\n", reps)
	fmt.Println(header)
	fmt.Println(rule)
	for _, t := range transports {
		line := "| " + t.label + " |"
		for _, s := range sizes {
			line += " " + human(median(res[t.key][s])) + " |"
		}
		fmt.Println(line)
	}
	if _, ok := res["unix"]; ok {
		fmt.Printf("\nRatio to the Unix socket with a write per message (medians)\n\n%s\n%s\n", header, rule)
		for _, t := range transports {
			line := "| " + t.label + " |"
			for _, s := range sizes {
				line += fmt.Sprintf(" %.1f× |", median(res[t.key][s])/median(res["unix"][s]))
			}
			fmt.Println(line)
		}
	}
	fmt.Printf("\nSpread (min – max)\n\n%s\n%s\n", header, rule)
	for _, t := range transports {
		line := "| " + t.label + " |"
		for _, s := range sizes {
			v := append([]float64(nil), res[t.key][s]...)
			sort.Float64s(v)
			line += " " + human(v[0]) + " – " + human(v[len(v)-1]) + " |"
		}
		fmt.Println(line)
	}
}
