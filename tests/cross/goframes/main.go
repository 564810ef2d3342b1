// Command goframes is the Go writer of typed frames for the cross-language
// frame test (tests/cross/test_frames_cross.py) and the frame latency
// benchmark (bench/frames.py). It opens the writer's role of an existing
// channel (the Python reader creates it).
//
// -mode stream: -count frames of -size bytes, dtype <u8, shape (8, size/64):
// element j of frame i is i XOR j (the reader checks every element).
// Filled in place with ReserveFrameOf, published with CommitFrame; every
// fourth frame goes through SendFrame instead (one copy).
//
// -mode pingpong: frames of -size bytes (<u8, one dimension), one at a
// time: element 0 and the last are the sequence number, element 1 the
// CLOCK_MONOTONIC time in ns taken just before CommitFrame. Per frame: fill
// it in place; wait for the reader's acknowledgment of the previous frame
// (channel -ack, Python writes it); tell the reader a frame is coming (a
// one-byte message on channel -ctl, Python reads it); stamp; commit. So the
// reader is awake and waiting when the frame is committed, and a frame's
// latency is the hand-off alone, commit to the reader holding the array,
// whatever its size: filling the frame and waking the reader are not in
// it.
//
// It prints one JSON result line {"event":"result","ok":...} and exits 0 on
// success, 1 on failure, 2 on bad usage.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"

	shmlink "github.com/shmlink/shmlink/bindings/go"
	"golang.org/x/sys/unix"
)

func emit(v map[string]any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	if _, err := os.Stdout.Write(append(b, '\n')); err != nil {
		panic(err)
	}
}

func fail(err error) {
	emit(map[string]any{"event": "result", "ok": false, "error": err.Error()})
	os.Exit(1)
}

func nowNs() uint64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		panic(err)
	}
	return uint64(ts.Sec)*1e9 + uint64(ts.Nsec)
}

func main() {
	addr := flag.String("addr", "", "frame channel address (required; the reader created it)")
	ack := flag.String("ack", "", "pingpong: the acknowledgment channel (Go reads it)")
	ctl := flag.String("ctl", "", "pingpong: the frame-is-coming channel (Go writes it)")
	mode := flag.String("mode", "stream", "stream or pingpong")
	count := flag.Int("count", 10, "frames to send (pingpong: after -warmup more)")
	warmup := flag.Int("warmup", 100, "pingpong: frames sent first and not measured")
	size := flag.Int("size", 4<<20, "bytes of data per frame, a multiple of 64")
	flag.Parse()
	if *addr == "" || flag.NArg() != 0 || *size < 64 || *size%64 != 0 || *count < 1 ||
		(*mode != "stream" && *mode != "pingpong") || (*mode == "pingpong" && (*ack == "" || *ctl == "")) {
		fmt.Fprintln(os.Stderr, "usage: goframes -addr A [-mode stream|pingpong -ack B -ctl C] [-count N] [-warmup N] [-size BYTES]")
		os.Exit(2)
	}
	w, err := shmlink.OpenWriter(*addr)
	if err != nil {
		fail(err)
	}
	defer func() { _ = w.Close() }() // idempotent: the checked Close is below
	n := *size / 8
	switch *mode {
	case "stream":
		stream(w, n, *count)
	case "pingpong":
		pingpong(w, *ack, *ctl, n, *warmup+*count)
	}
	if err := w.Close(); err != nil {
		fail(err)
	}
	emit(map[string]any{"event": "result", "ok": true, "count": *count, "size": *size})
}

func stream(w *shmlink.Writer, n, count int) {
	tmp := make([]uint64, n)
	for i := range count {
		if i%4 == 3 {
			for j := range tmp {
				tmp[j] = uint64(i) ^ uint64(j)
			}
			if err := shmlink.SendFrame(w, tmp, 8, n/8); err != nil {
				fail(err)
			}
			continue
		}
		data, err := shmlink.ReserveFrameOf[uint64](w, 8, n/8)
		if err != nil {
			fail(err)
		}
		for j := range data {
			data[j] = uint64(i) ^ uint64(j)
		}
		if err := w.CommitFrame(); err != nil {
			fail(err)
		}
	}
}

func pingpong(w *shmlink.Writer, ackAddr, ctlAddr string, n, total int) {
	r, err := shmlink.OpenReader(ackAddr)
	if err != nil {
		fail(err)
	}
	defer func() { _ = r.Close() }()
	c, err := shmlink.OpenWriter(ctlAddr)
	if err != nil {
		fail(err)
	}
	defer func() { _ = c.Close() }()
	buf := make([]byte, 8)
	for seq := range total {
		data, err := shmlink.ReserveFrameOf[uint64](w, n)
		if err != nil {
			fail(err)
		}
		for j := range data {
			data[j] = uint64(j)
		}
		data[0], data[n-1] = uint64(seq), uint64(seq)
		if seq > 0 {
			if _, err := r.Recv(buf); err != nil {
				fail(fmt.Errorf("acknowledgment of frame %d: %w", seq-1, err))
			}
		}
		if err := c.Send([]byte{'r'}); err != nil {
			fail(err)
		}
		data[1] = nowNs()
		if err := w.CommitFrame(); err != nil {
			fail(err)
		}
	}
	if _, err := r.Recv(buf); err != nil {
		fail(fmt.Errorf("acknowledgment of the last frame: %w", err))
	}
}
