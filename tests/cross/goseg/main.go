// Command goseg is the Go end of the raw-segment part of the cross-language
// suite. Both ends map the same segment at once and check each other's
// bytes: the creator fills the first half, the other side the second half.
//
//	goseg -create -addr A -size N   create, fill the first half, print
//	                                {"event":"ready","address":...}, wait for a
//	                                line on stdin, check the second half
//	goseg -addr A                   open, check the first half, fill the
//	                                second half
//
// Byte i of the half written by side t (1 = creator, 2 = opener) is
// (i*131 + t*7 + i>>8) & 0xff. The final line is {"event":"result",...};
// exit 0 when every byte matched, 1 otherwise, 2 for bad usage.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"

	shmlink "github.com/shmlink/shmlink/bindings/go"
	"github.com/shmlink/shmlink/tests/cross/internal/event"
)

func pattern(tag, i int) byte { return byte(i*131 + tag*7 + i>>8) }

func fill(b []byte, base, tag int) {
	for j := range b {
		b[j] = pattern(tag, base+j)
	}
}

func check(b []byte, base, tag int) error {
	for j := range b {
		if want := pattern(tag, base+j); b[j] != want {
			return fmt.Errorf("byte %d is %#02x, expected %#02x", base+j, b[j], want)
		}
	}
	return nil
}

func main() {
	addr := flag.String("addr", "", "segment address (required)")
	create := flag.Bool("create", false, "create the segment (else open it)")
	size := flag.Int("size", 1<<20, "segment size for -create")
	flag.Parse()
	if *addr == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "goseg: -addr is required and no arguments are taken")
		flag.Usage()
		os.Exit(2)
	}
	result := map[string]any{"event": "result", "lang": "go", "create": *create}
	fail := func(err error) {
		result["ok"] = false
		result["error"] = err.Error()
		event.Emit(result)
		os.Exit(1)
	}
	var seg *shmlink.Segment
	var err error
	if *create {
		seg, err = shmlink.Create(*addr, *size, shmlink.WithMode(0o600))
	} else {
		seg, err = shmlink.Open(*addr)
	}
	if err != nil {
		fail(err)
	}
	b := seg.Bytes()
	half := len(b) / 2
	result["address"] = seg.Address()
	result["size"] = seg.Size()
	if len(b) != seg.Size() {
		fail(fmt.Errorf("Bytes() has %d bytes, Size() says %d", len(b), seg.Size()))
	}
	if *create {
		if *size != seg.Size() {
			fail(fmt.Errorf("created %d bytes, Size() says %d", *size, seg.Size()))
		}
		for i, v := range b {
			if v != 0 {
				fail(fmt.Errorf("new segment byte %d is %#02x, not zero", i, v))
			}
		}
		fill(b[:half], 0, 1)
		event.Emit(map[string]any{"event": "ready", "address": seg.Address(), "size": seg.Size(), "pid": os.Getpid()})
		if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
			fail(fmt.Errorf("waiting for the other side: %w", err))
		}
		// The other side wrote through its own mapping while ours stayed
		// mapped: read it back both through the slice and through ReadAt.
		if err := check(b[half:], half, 2); err != nil {
			fail(fmt.Errorf("second half (written by the other side): %w", err))
		}
		tail := make([]byte, len(b)-half)
		if n, err := seg.ReadAt(tail, int64(half)); err != nil || n != len(tail) {
			fail(fmt.Errorf("ReadAt(%d bytes at %d) = %d, %v", len(tail), half, n, err))
		}
		if err := check(tail, half, 2); err != nil {
			fail(fmt.Errorf("second half through ReadAt: %w", err))
		}
	} else {
		if err := check(b[:half], 0, 1); err != nil {
			fail(fmt.Errorf("first half (written by the other side): %w", err))
		}
		fill(b[half:], half, 2)
	}
	if err := seg.Close(); err != nil {
		fail(fmt.Errorf("close: %w", err))
	}
	result["ok"] = true
	event.Emit(result)
}
