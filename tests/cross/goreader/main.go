// Command goreader is the Go reader of the cross-language suite: it receives
// and checks a message stream (see tests/cross/internal/stream) from a
// shmlink channel.
//
// It prints JSON lines on stdout: {"event":"ready",...} once the channel is
// open (with -ready), {"event":"consumed","count":K} with -stop-after K
// (then it waits to be killed), and always a final {"event":"result",...}.
// It exits 0 when the stream ended as -expect-end says and every message
// checked out, 1 otherwise, 2 for bad usage.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	shmlink "github.com/shmlink/shmlink/bindings/go"
	"github.com/shmlink/shmlink/tests/cross/internal/event"
	"github.com/shmlink/shmlink/tests/cross/internal/stream"
)

type mismatch struct{ error }

func main() {
	addr := flag.String("addr", "", "channel address (required)")
	create := flag.Bool("create", false, "create the channel (CreateReader) instead of opening it")
	capacity := flag.Int("capacity", 1<<20, "ring capacity for -create")
	api := flag.String("api", "recv", "recv, recvctx, recvtimeout, peek, peekctx, batch or grow")
	expectStart := flag.Uint64("expect-start", 0, "sequence number of the first message")
	expectEnd := flag.String("expect-end", "eof", "eof, peer_dead or busy")
	expectCount := flag.Int64("expect-count", -1, "number of messages expected (-1: any)")
	ready := flag.Bool("ready", false, "print a ready event once open")
	stopAfter := flag.Int64("stop-after", -1, "after this many messages report and wait (to be killed)")
	pauseAfterFirst := flag.Duration("pause-after-first", 0, "sleep this long after the first message")
	flag.Parse()
	if *addr == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "goreader: -addr is required and no arguments are taken")
		flag.Usage()
		os.Exit(2)
	}
	result := map[string]any{"event": "result", "role": "reader", "lang": "go", "api": *api}
	finish := func(end string, err error) {
		result["end"] = end
		if err != nil {
			result["error"] = err.Error()
		}
		ok := end == *expectEnd
		if c, has := result["count"]; has && *expectCount >= 0 && c != uint64(*expectCount) {
			ok = false
		}
		result["ok"] = ok
		event.Emit(result)
		if ok {
			os.Exit(0)
		}
		os.Exit(1)
	}

	var r *shmlink.Reader
	var err error
	if *create {
		r, err = shmlink.CreateReader(*addr, *capacity)
	} else {
		r, err = shmlink.OpenReader(*addr)
	}
	if err != nil {
		end := "open_failed"
		if errors.Is(err, shmlink.ErrBusy) {
			end = "busy"
		}
		finish(end, err)
	}
	if *ready {
		event.Emit(map[string]any{"event": "ready", "address": r.Address(), "capacity": r.Capacity(),
			"max_message": r.MaxMessage(), "pid": os.Getpid()})
	}

	chk := stream.NewChecker(*expectStart)
	ctx := context.Background()
	buf := make([]byte, r.MaxMessage())
	if *api == "grow" {
		buf = make([]byte, 16)
	}
	shortBuffers := 0
	sizes := make([]int, 256)
	start := time.Now()
	after := func() {
		if chk.Count == 1 && *pauseAfterFirst > 0 {
			time.Sleep(*pauseAfterFirst)
		}
		if int64(chk.Count) == *stopAfter {
			event.Emit(map[string]any{"event": "consumed", "count": chk.Count, "next_seq": chk.Expect})
			for {
				time.Sleep(time.Hour)
			}
		}
	}
	check := func(m []byte) error {
		if err := chk.Check(m); err != nil {
			return mismatch{err}
		}
		after()
		return nil
	}
	// step receives (at least) one message and checks it.
	step := func() error {
		switch *api {
		case "recv":
			n, err := r.Recv(buf)
			if err != nil {
				return err
			}
			return check(buf[:n])
		case "grow":
			n, err := r.Recv(buf)
			if err != nil && errors.Is(err, io.ErrShortBuffer) {
				if !errors.Is(err, syscall.EMSGSIZE) {
					return fmt.Errorf("short buffer error does not wrap EMSGSIZE: %w", err)
				}
				if n <= len(buf) {
					return fmt.Errorf("short buffer of %d bytes, but needed size reported as %d: %w", len(buf), n, err)
				}
				shortBuffers++
				buf = make([]byte, n)
				n, err = r.Recv(buf)
			}
			if err != nil {
				return err
			}
			return check(buf[:n])
		case "recvtimeout":
			n, err := r.RecvTimeout(buf, time.Minute)
			if err != nil {
				return err
			}
			return check(buf[:n])
		case "recvctx":
			m, err := r.RecvContext(ctx)
			if err != nil {
				return err
			}
			return check(m)
		case "peek", "peekctx":
			var m []byte
			var err error
			if *api == "peek" {
				m, err = r.Peek()
			} else {
				m, err = r.PeekContext(ctx)
			}
			if err != nil {
				return err
			}
			if err := chk.Check(m); err != nil {
				return mismatch{err}
			}
			if err := r.Release(); err != nil {
				return err
			}
			after()
			return nil
		case "batch":
			k, err := r.RecvBatch(buf, sizes)
			if err != nil {
				return err
			}
			if k <= 0 || k > len(sizes) {
				return fmt.Errorf("RecvBatch returned count %d (sizes has %d slots)", k, len(sizes))
			}
			off := 0
			for _, n := range sizes[:k] {
				if off+n > len(buf) {
					return fmt.Errorf("RecvBatch sizes overrun the buffer (%d+%d > %d)", off, n, len(buf))
				}
				if err := check(buf[off : off+n]); err != nil {
					return err
				}
				off += n
			}
			return nil
		default:
			fmt.Fprintf(os.Stderr, "goreader: unknown -api %q\n", *api)
			os.Exit(2)
			return nil
		}
	}
	var end string
	var endErr error
	for {
		err := step()
		if err == nil {
			continue
		}
		var mm mismatch
		switch {
		case errors.As(err, &mm):
			end = "mismatch"
		case errors.Is(err, io.EOF):
			end = "eof"
		case errors.Is(err, shmlink.ErrPeerDead):
			end = "peer_dead"
		default:
			end = "error"
		}
		result["ended_at"] = event.Monotonic()
		if end != "eof" {
			endErr = err
		}
		break
	}
	el := time.Since(start).Seconds()
	if err := r.Close(); err != nil {
		end, endErr = "error", fmt.Errorf("close: %w", err)
	}
	if err := r.Close(); err != nil {
		end, endErr = "error", fmt.Errorf("second close: %w", err)
	}
	result["count"] = chk.Count
	result["bytes"] = chk.Bytes
	result["crcsum"] = chk.CRCSum
	result["max_len"] = chk.MaxLen
	result["first_seq"] = *expectStart
	result["next_seq"] = chk.Expect
	result["elapsed_s"] = el
	result["short_buffers"] = shortBuffers
	if el > 0 {
		result["msgs_per_s"] = float64(chk.Count) / el
	}
	finish(end, endErr)
}
