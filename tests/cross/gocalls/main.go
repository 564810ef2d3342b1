// Command gocalls is the Go side of the cross-language tests of calls and
// many-writers channels. Every server answers a request with its bytes,
// each XORed with 0x5A.
//
//	gocalls server ADDR [-workers N] [-clients N] [-capacity BYTES] [-join]
//	    create (with -join: join as another worker) the server at ADDR,
//	    print "ready" once serving, serve until SIGTERM or until stdin
//	    reaches end of file, exit 0. The creating server removes ADDR when
//	    it exits.
//	gocalls client ADDR -calls N -goroutines G -size S [-seed X]
//	    one Dial shared by G goroutines, each making N calls of S
//	    pseudo-random bytes and checking every reply; print "ok TOTAL" and
//	    exit 0; on an error print it to stderr and exit 1, or exit 3 with
//	    "peer-dead" on stderr when a call found the server dead.
//	gocalls writer ADDR -count N -id I
//	    open a writer of the many-writers channel at ADDR and send N
//	    messages, message k being 8 bytes little-endian I<<32 | k and
//	    8 bytes little-endian k*7; close; exit 0.
//
// Bad usage exits 2.
package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"sync"
	"syscall"

	shmlink "github.com/shmlink/shmlink/bindings/go"
)

func usage(msg string) {
	fmt.Fprintf(os.Stderr, "gocalls: %s\nusage:\n"+
		"  gocalls server ADDR [-workers N] [-clients N] [-capacity BYTES] [-join]\n"+
		"  gocalls client ADDR -calls N -goroutines G -size S [-seed X]\n"+
		"  gocalls writer ADDR -count N -id I\n", msg)
	os.Exit(2)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "gocalls:", err)
	os.Exit(1)
}

// echo is the reply rule of every cross test.
func echo(req, resp []byte) int {
	for i, b := range req {
		resp[i] = b ^ 0x5A
	}
	return len(req)
}

func main() {
	if len(os.Args) < 3 {
		usage("a command and an address are needed")
	}
	cmd, addr, args := os.Args[1], os.Args[2], os.Args[3:]
	fs := flag.NewFlagSet("gocalls "+cmd, flag.ContinueOnError)
	switch cmd {
	case "server":
		workers := fs.Int("workers", 0, "worker slots (0: the default, 1)")
		clients := fs.Int("clients", 0, "client slots (0: the default, 8)")
		capacity := fs.Int("capacity", 1<<16, "ring bytes")
		join := fs.Bool("join", false, "join the server at ADDR as another worker")
		parse(fs, args)
		server(addr, *workers, *clients, *capacity, *join)
	case "client":
		calls := fs.Int("calls", -1, "calls per goroutine")
		goroutines := fs.Int("goroutines", 1, "goroutines sharing the client")
		size := fs.Int("size", -1, "request bytes")
		seed := fs.Uint64("seed", 1, "seed of the request bytes")
		parse(fs, args)
		if *calls < 0 || *size < 0 || *goroutines < 1 {
			usage("client needs -calls N >= 0, -size S >= 0 and -goroutines G >= 1")
		}
		client(addr, *calls, *goroutines, *size, *seed)
	case "writer":
		count := fs.Int("count", -1, "messages to send")
		id := fs.Int("id", -1, "writer id in the messages")
		parse(fs, args)
		if *count < 0 || *id < 0 {
			usage("writer needs -count N >= 0 and -id I >= 0")
		}
		writer(addr, *count, *id)
	default:
		usage(fmt.Sprintf("unknown command %q", cmd))
	}
}

func parse(fs *flag.FlagSet, args []string) {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		usage(err.Error())
	}
	if fs.NArg() != 0 {
		usage(fmt.Sprintf("unexpected arguments %q", fs.Args()))
	}
}

func server(addr string, workers, clients, capacity int, join bool) {
	var srv *shmlink.Server
	var err error
	if join {
		srv, err = shmlink.JoinServer(addr)
	} else {
		var opts []shmlink.ServerOption
		if workers != 0 {
			opts = append(opts, shmlink.Workers(workers))
		}
		if clients != 0 {
			opts = append(opts, shmlink.Clients(clients))
		}
		srv, err = shmlink.Listen(addr, capacity, opts...)
	}
	if err != nil {
		fail(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithCancel(ctx)
	go func() { // end of file on stdin ends the server
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	if _, err := os.Stdout.WriteString("ready\n"); err != nil {
		fail(err)
	}
	err = srv.Serve(ctx, func(req, resp []byte) (int, error) { return echo(req, resp), nil })
	if cerr := srv.Close(); err == nil || errors.Is(err, context.Canceled) {
		err = cerr
	}
	if !join {
		if rerr := shmlink.Remove(addr); err == nil {
			err = rerr
		}
	}
	if err != nil {
		fail(err)
	}
}

func client(addr string, calls, goroutines, size int, seed uint64) {
	c, err := shmlink.Dial(addr)
	if err != nil {
		fail(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(g)))
			req, want, resp := make([]byte, size), make([]byte, size), make([]byte, size)
			for k := 0; k < calls; k++ {
				for i := range req {
					req[i] = byte(rng.Uint32())
					want[i] = req[i] ^ 0x5A
				}
				n, err := c.Call(context.Background(), req, resp)
				if err != nil {
					errs <- fmt.Errorf("goroutine %d call %d: %w", g, k, err)
					return
				}
				if !bytes.Equal(resp[:n], want) {
					errs <- fmt.Errorf("goroutine %d call %d: reply of %d bytes is not the request XOR 0x5A", g, k, n)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	err = <-errs
	if cerr := c.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, shmlink.ErrPeerDead) {
		fmt.Fprintln(os.Stderr, "peer-dead:", err)
		os.Exit(3)
	}
	if err != nil {
		fail(err)
	}
	fmt.Printf("ok %d\n", calls*goroutines)
}

func writer(addr string, count, id int) {
	w, err := shmlink.OpenWriter(addr)
	if err != nil {
		fail(err)
	}
	msg := make([]byte, 16)
	for k := 0; k < count; k++ {
		binary.LittleEndian.PutUint64(msg, uint64(id)<<32|uint64(k))
		binary.LittleEndian.PutUint64(msg[8:], uint64(k)*7)
		if err := w.Send(msg); err != nil {
			fail(err)
		}
	}
	if err := w.Close(); err != nil {
		fail(err)
	}
}
