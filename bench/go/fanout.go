package main

// The Go writer of the fan-out rows (bench/fanout.py starts it; not meant to
// be run by hand):
//
//	shmlink-bench-go fanout-writer -addr A -readers R -mode broadcast|queue
//	    -capacity K -size N -warmup W -count C [-batch B] -ready P -out F
//
// creates the channel A with R reader slots in the given mode, waits until
// R reader processes have joined (each one creates the file P.<i> after its
// Reader.open succeeded: the Go binding has no view of the slots, and in a
// broadcast channel a reader gets only what is committed after it joined),
// then sends W+C messages of N bytes, each stamped with its sequence number
// in the first and last 8 bytes, B per Writer.SendBatch call (B = 1:
// Writer.Send), and closes the channel (end of stream). It writes
// {"ok": true, "writer_ns": ..., "joined_ns": ...} or {"ok": false,
// "error": ...} to F. The readers measure (bench/fanout.py).

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	shmlink "github.com/shmlink/shmlink/bindings/go"
)

// fanoutJoinWait bounds the wait for the readers to join.
const fanoutJoinWait = 60 * time.Second

func fanoutWriter(args []string) (map[string]any, error) {
	fl := flag.NewFlagSet("fanout-writer", flag.ContinueOnError)
	addr := fl.String("addr", "", "channel address to create")
	readers := fl.Int("readers", 4, "reader slots (1..64)")
	mode := fl.String("mode", "", "broadcast or queue")
	capacity := fl.Int("capacity", 4<<20, "ring capacity in bytes")
	size := fl.Int("size", 64, "message size in bytes (>= 8)")
	warmup := fl.Int("warmup", 1000, "messages before the measured ones")
	count := fl.Int("count", 100000, "messages measured")
	batch := fl.Int("batch", 256, "messages per SendBatch call (1: Send)")
	ready := fl.String("ready", "", "prefix of the files the readers create once joined")
	out := fl.String("out", "", "result file (JSON)")
	if err := fl.Parse(args); err != nil {
		return nil, err
	}
	if *out == "" {
		return nil, errors.New("-out is required")
	}
	var modeOpt shmlink.Option
	switch *mode {
	case "broadcast":
		modeOpt = shmlink.Broadcast()
	case "queue":
		modeOpt = shmlink.Queue()
	default:
		return nil, fmt.Errorf("-mode must be broadcast or queue, got %q", *mode)
	}
	switch {
	case *addr == "":
		return nil, errors.New("-addr is required")
	case *ready == "":
		return nil, errors.New("-ready is required")
	case *size < 8:
		return nil, fmt.Errorf("-size must be >= 8, got %d", *size)
	case *count < 1 || *warmup < 0:
		return nil, fmt.Errorf("-count must be >= 1 and -warmup >= 0, got %d and %d", *count, *warmup)
	case *batch < 1:
		return nil, fmt.Errorf("-batch must be >= 1, got %d", *batch)
	}
	w, err := shmlink.CreateWriter(*addr, *capacity, shmlink.Readers(*readers), modeOpt)
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	deadline := t0.Add(fanoutJoinWait)
	for i := 0; i < *readers; {
		if _, err := os.Stat(fmt.Sprintf("%s.%d", *ready, i)); err == nil {
			i++
			continue
		}
		if time.Now().After(deadline) {
			_ = w.Close()
			return nil, fmt.Errorf("%d of %d readers joined within %v", i, *readers, fanoutJoinWait)
		}
		time.Sleep(time.Millisecond)
	}
	joined := time.Since(t0)
	total := uint64(*warmup + *count)
	msgs := make([][]byte, *batch)
	for i := range msgs {
		msgs[i] = make([]byte, *size)
	}
	start := time.Now()
	for i := uint64(0); i < total; {
		k := min(uint64(len(msgs)), total-i)
		for j := range k {
			stamp(msgs[j], i+j)
		}
		if k == 1 {
			if err := w.Send(msgs[0]); err != nil {
				_ = w.Close() // the error of Send is the one to report
				return nil, fmt.Errorf("send %d: %w", i, err)
			}
		} else if n, err := w.SendBatch(msgs[:k]); err != nil {
			_ = w.Close() // the error of SendBatch is the one to report
			return nil, fmt.Errorf("send %d: %w", i+uint64(n), err)
		}
		i += k
	}
	elapsed := time.Since(start)
	if err := w.Close(); err != nil {
		return nil, err
	}
	return map[string]any{"writer_ns": elapsed.Nanoseconds(), "joined_ns": joined.Nanoseconds()}, nil
}

// runFanoutWriter runs fanoutWriter and writes its result file.
func runFanoutWriter(args []string) error {
	out := ""
	for i, a := range args {
		if (a == "-out" || a == "--out") && i+1 < len(args) {
			out = args[i+1]
		}
	}
	res, err := fanoutWriter(args)
	if err != nil {
		res = map[string]any{"ok": false, "error": err.Error()}
	} else {
		res["ok"] = true
	}
	if out != "" {
		if werr := writeResult(out, res); werr != nil {
			return errors.Join(err, werr)
		}
	}
	return err
}
