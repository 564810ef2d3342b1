// Command gowriter is the Go writer of the cross-language suite: it sends a
// checkable message stream (see tests/cross/internal/stream) through a
// shmlink channel.
//
// It prints JSON lines on stdout: {"event":"ready",...} once the channel is
// open (with -ready), {"event":"hang","count":N} with -hang-after N (then it
// holds a half-written reservation until killed), {"event":"waiting",...}
// with -wait-file, and always a final {"event":"result",...}. It exits 0
// when the run ended as -expect-end says, 1 otherwise, 2 for bad usage.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"syscall"
	"time"

	shmlink "github.com/shmlink/shmlink/bindings/go"
	"github.com/shmlink/shmlink/tests/cross/internal/event"
	"github.com/shmlink/shmlink/tests/cross/internal/stream"
)

func classify(err error) string {
	switch {
	case err == nil:
		return "done"
	case errors.Is(err, shmlink.ErrPeerDead):
		return "peer_dead"
	case errors.Is(err, shmlink.ErrBusy):
		return "busy"
	case errors.Is(err, shmlink.ErrProtocol):
		return "protocol"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	default:
		return "error"
	}
}

func main() {
	addr := flag.String("addr", "", "channel address (required)")
	create := flag.Bool("create", false, "create the channel (CreateWriter) instead of opening it")
	capacity := flag.Int("capacity", 1<<20, "ring capacity for -create")
	count := flag.Int64("count", 1000, "messages to send (-1: until killed)")
	seed := flag.Uint64("seed", 1, "random seed")
	startSeq := flag.Uint64("start", 0, "sequence number of the first message")
	pattern := flag.String("pattern", "random", "random, edges or fixed:N")
	minSize := flag.Int("min-size", 0, "smallest message")
	maxSize := flag.Int("max-size", 0, "cap on random sizes (0: MaxMessage)")
	api := flag.String("api", "send", "send, sendctx, sendtimeout or reserve")
	expectEnd := flag.String("expect-end", "done", "done, peer_dead or busy")
	ready := flag.Bool("ready", false, "print a ready event once open")
	hangAfter := flag.Int64("hang-after", -1, "after N messages half-fill a reservation and wait to be killed")
	waitFile := flag.String("wait-file", "", "after -wait-after messages wait until this file exists")
	waitAfter := flag.Int64("wait-after", 0, "see -wait-file")
	noClose := flag.Bool("no-close", false, "exit without closing (no end of stream)")
	readers := flag.Int("readers", 1, "reader slots for -create (with -fanout)")
	fanout := flag.String("fanout", "", "broadcast or queue, for -create with -readers")
	flag.Parse()
	if *addr == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "gowriter: -addr is required and no arguments are taken")
		flag.Usage()
		os.Exit(2)
	}
	result := map[string]any{"event": "result", "role": "writer", "lang": "go", "api": *api}
	finish := func(end string, err error) {
		result["end"] = end
		if err != nil {
			result["error"] = err.Error()
		}
		ok := end == *expectEnd
		if o, has := result["oversize"]; has && o == "accepted" {
			ok = false
		}
		result["ok"] = ok
		event.Emit(result)
		if ok {
			os.Exit(0)
		}
		os.Exit(1)
	}

	var w *shmlink.Writer
	var err error
	if *create {
		opts := []shmlink.Option{}
		if *readers != 1 || *fanout != "" {
			opts = append(opts, shmlink.Readers(*readers))
		}
		switch *fanout {
		case "broadcast":
			opts = append(opts, shmlink.Broadcast())
		case "queue":
			opts = append(opts, shmlink.Queue())
		case "":
		default:
			fmt.Fprintln(os.Stderr, "gowriter: -fanout must be broadcast or queue")
			os.Exit(2)
		}
		w, err = shmlink.CreateWriter(*addr, *capacity, opts...)
	} else {
		w, err = shmlink.OpenWriter(*addr)
	}
	if err != nil {
		end := classify(err)
		if end != "busy" {
			end = "open_failed"
		}
		finish(end, err)
	}
	if *ready {
		event.Emit(map[string]any{"event": "ready", "address": w.Address(), "capacity": w.Capacity(),
			"max_message": w.MaxMessage(), "pid": os.Getpid()})
	}
	gen, err := stream.NewGenerator(*pattern, *seed, w.MaxMessage(), *maxSize, *minSize)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gowriter:", err)
		os.Exit(2)
	}
	gen.Seq = *startSeq
	if *pattern == "edges" {
		// One byte more than the largest message must be refused, with
		// EMSGSIZE, and leave the channel usable.
		err := w.Send(make([]byte, w.MaxMessage()+1))
		switch {
		case err == nil:
			result["oversize"] = "accepted"
		case errors.Is(err, syscall.EMSGSIZE):
			result["oversize"] = "EMSGSIZE: " + err.Error()
		default:
			result["oversize"] = "accepted" // wrong error is as bad as none
			result["oversize_error"] = err.Error()
		}
	}

	buf := make([]byte, w.MaxMessage())
	ctx := context.Background()
	var longest time.Duration
	start := time.Now()
	send := func(n int) error {
		t := time.Now()
		var err error
		switch *api {
		case "reserve":
			var p []byte
			p, err = w.Reserve(n)
			if err == nil {
				if len(p) < n {
					return fmt.Errorf("Reserve(%d) returned %d bytes", n, len(p))
				}
				gen.Fill(p[:n])
				err = w.Commit(n)
			}
		default:
			m := buf[:n]
			gen.Fill(m)
			switch *api {
			case "send":
				err = w.Send(m)
			case "sendctx":
				err = w.SendContext(ctx, m)
			case "sendtimeout":
				err = w.SendTimeout(m, time.Minute)
			default:
				fmt.Fprintf(os.Stderr, "gowriter: unknown -api %q\n", *api)
				os.Exit(2)
			}
			if err != nil {
				// not sent: undo the generator's step so the report counts
				// committed messages only
				gen.Seq--
				gen.Count--
				gen.Bytes -= uint64(n)
			}
		}
		if d := time.Since(t); d > longest {
			longest = d
		}
		return err
	}
	report := func() {
		el := time.Since(start).Seconds()
		result["count"] = gen.Count
		result["bytes"] = gen.Bytes
		result["crcsum"] = gen.CRCSum
		result["elapsed_s"] = el
		result["longest_send_s"] = longest.Seconds()
		if el > 0 {
			result["msgs_per_s"] = float64(gen.Count) / el
		}
	}

	for *count < 0 || int64(gen.Count) < *count {
		if int64(gen.Count) == *hangAfter {
			p, err := w.Reserve(w.MaxMessage())
			if err != nil {
				report()
				finish(classify(err), err)
			}
			for i := range p[:len(p)/2] {
				p[i] = 0xee
			}
			event.Emit(map[string]any{"event": "hang", "count": gen.Count})
			for {
				time.Sleep(time.Hour)
			}
		}
		if *waitFile != "" && int64(gen.Count) == *waitAfter {
			event.Emit(map[string]any{"event": "waiting", "count": gen.Count})
			for {
				if _, err := os.Stat(*waitFile); err == nil {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		if err := send(gen.NextSize()); err != nil {
			report()
			result["ended_at"] = event.Monotonic()
			finish(classify(err), err)
		}
	}
	report()
	if *noClose {
		finish("exit_without_close", nil)
	}
	if err := w.Close(); err != nil {
		finish("error", fmt.Errorf("close: %w", err))
	}
	if err := w.Close(); err != nil { // idempotent
		finish("error", fmt.Errorf("second close: %w", err))
	}
	finish("done", nil)
}
