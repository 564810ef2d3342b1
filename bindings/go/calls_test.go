//go:build linux && cgo

package shmlink

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Calls: every reply is the request XORed with 0x5A (the rule of the
// cross-language tests), checked byte for byte.

func xorEcho(req, resp []byte) (int, error) {
	for i, b := range req {
		resp[i] = b ^ 0x5A
	}
	return len(req), nil
}

func xored(p []byte) []byte {
	q := make([]byte, len(p))
	for i, b := range p {
		q[i] = b ^ 0x5A
	}
	return q
}

// callBackends are the backends a server can live on (it needs an address
// clients can dial).
var callBackends = backends[:2]

// listen makes a server at a fresh address, serving handler in a goroutine
// until the test ends; it returns the server and its address.
func listen(t testing.TB, newAddr func() string, handler Handler, opts ...ServerOption) (*Server, string) {
	t.Helper()
	addr := newAddr()
	removeServerOnCleanup(t, addr)
	srv, err := Listen(addr, 1<<14, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, handler) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) && !errors.Is(err, ErrClosed) {
			t.Errorf("Serve: %v", err)
		}
		mustClose(t, srv)
	})
	return srv, addr
}

// removeServerOnCleanup removes the server at addr when the test ends and,
// for a POSIX server, the reply channels ("<addr>.r<slot>") that killed
// client processes could not remove. Register it before the server's
// Close and its clients' so that it runs after them.
func removeServerOnCleanup(t testing.TB, addr string) {
	t.Helper()
	t.Cleanup(func() {
		if strings.HasPrefix(addr, "posix:") {
			for slot := 0; slot < MaxClients; slot++ {
				if err := Remove(fmt.Sprintf("%s.r%d", addr, slot)); err != nil && !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("cleanup: %v", err)
				}
			}
		}
		if err := Remove(addr); err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("cleanup: %v", err)
		}
	})
}

func dial(t testing.TB, addr string) *Client {
	t.Helper()
	c, err := Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	closeAtEnd(t, c)
	return c
}

func TestCallEchoSizes(t *testing.T) {
	for _, b := range callBackends {
		t.Run(b.name, func(t *testing.T) {
			srv, addr := listen(t, b.newAddr, xorEcho)
			c := dial(t, addr)
			if c.MaxMessage() != srv.MaxMessage() || c.MaxMessage() < 1<<12 {
				t.Fatalf("MaxMessage: client %d, server %d", c.MaxMessage(), srv.MaxMessage())
			}
			resp := make([]byte, c.MaxMessage())
			for _, size := range []int{0, 1, 64, 1000, c.MaxMessage() - 1, c.MaxMessage()} {
				req := make([]byte, size)
				for i := range req {
					req[i] = byte(i*31 + size)
				}
				n, err := c.Call(context.Background(), req, resp)
				if err != nil {
					t.Fatalf("size %d: %v", size, err)
				}
				if !bytes.Equal(resp[:n], xored(req)) {
					t.Fatalf("size %d: wrong reply of %d bytes", size, n)
				}
			}
			_, err := c.Call(context.Background(), make([]byte, c.MaxMessage()+1), resp)
			if !errors.Is(err, syscall.EMSGSIZE) || !strings.Contains(err.Error(), strconv.Itoa(c.MaxMessage()+1)) {
				t.Fatalf("request larger than the maximum: %v", err)
			}
			// A response buffer too small: an error naming the size; the
			// reply is consumed and the next call works.
			n, err := c.Call(context.Background(), make([]byte, 100), make([]byte, 10))
			if !errors.Is(err, io.ErrShortBuffer) || n != 100 || !strings.Contains(err.Error(), "100 bytes") {
				t.Fatalf("small response buffer: %d, %v", n, err)
			}
			if n, err := c.Call(context.Background(), []byte("next"), resp); err != nil || string(resp[:n]) != string(xored([]byte("next"))) {
				t.Fatalf("call after a small buffer: %q, %v", resp[:n], err)
			}
		})
	}
}

func TestCallHandlerError(t *testing.T) {
	_, addr := listen(t, posixAddr, func(req, resp []byte) (int, error) {
		switch string(req) {
		case "fail":
			return 0, errors.New("no such thing")
		case "status":
			return 0, &CallError{Status: 7, Message: "seven"}
		case "range":
			return len(resp) + 1, nil
		}
		return xorEcho(req, resp)
	})
	c := dial(t, addr)
	resp := make([]byte, 64)
	var ce *CallError
	if _, err := c.Call(context.Background(), []byte("fail"), resp); !errors.As(err, &ce) || ce.Status != 1 || ce.Message != "no such thing" {
		t.Fatalf("handler error: %v", err)
	}
	if _, err := c.Call(context.Background(), []byte("status"), resp); !errors.As(err, &ce) || ce.Status != 7 || ce.Message != "seven" {
		t.Fatalf("handler *CallError: %v", err)
	}
	if _, err := c.Call(context.Background(), []byte("range"), resp); !errors.As(err, &ce) || !strings.Contains(ce.Message, "out of range") {
		t.Fatalf("handler length out of range: %v", err)
	}
	if n, err := c.Call(context.Background(), []byte("ok"), resp); err != nil || n != 2 {
		t.Fatalf("after errors: %d, %v", n, err)
	}
}

// TestCallGoroutines: 8 goroutines share one Client; every reply is
// checked against its own request.
func TestCallGoroutines(t *testing.T) {
	calls := 2000
	if testing.Short() {
		calls = 500
	}
	for _, b := range callBackends {
		t.Run(b.name, func(t *testing.T) {
			_, addr := listen(t, b.newAddr, xorEcho)
			c := dial(t, addr)
			var wg sync.WaitGroup
			errs := make(chan error, 8)
			for g := 0; g < 8; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rng := rand.New(rand.NewPCG(uint64(g), 1))
					resp := make([]byte, 600)
					for k := 0; k < calls; k++ {
						req := make([]byte, rng.IntN(512))
						for i := range req {
							req[i] = byte(rng.Uint32())
						}
						n, err := c.Call(context.Background(), req, resp)
						if err == nil && !bytes.Equal(resp[:n], xored(req)) {
							err = fmt.Errorf("wrong reply of %d bytes to %d", n, len(req))
						}
						if err != nil {
							errs <- fmt.Errorf("goroutine %d call %d: %w", g, k, err)
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
		})
	}
}

// blockingHandler answers "block" only once release is closed (and tells
// started), everything else at once.
func blockingHandler(started chan<- struct{}, release <-chan struct{}) Handler {
	return func(req, resp []byte) (int, error) {
		if string(req) == "block" {
			started <- struct{}{}
			<-release
		}
		return xorEcho(req, resp)
	}
}

func TestCallContext(t *testing.T) {
	started, release := make(chan struct{}, 4), make(chan struct{})
	_, addr := listen(t, posixAddr, blockingHandler(started, release))
	defer close(release)
	c := dial(t, addr)
	resp := make([]byte, 64)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	if _, err := c.Call(ctx, []byte("block"), resp); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("timeout: %v", err)
	}
	if d := time.Since(t0); d > time.Second {
		t.Fatalf("the timeout of 100 ms took %v", d)
	}
	<-started
	// A cancelled call, while another goroutine waits on its own call.
	ctx2, cancel2 := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := c.Call(ctx2, []byte("x"), make([]byte, 8))
		errc <- err
	}()
	cancel2()
	if err := <-errc; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled call: %v", err)
	}
	if _, err := c.Call(ctx2, []byte("x"), resp); !errors.Is(err, context.Canceled) {
		t.Fatalf("call with a done context: %v", err)
	}
	release <- struct{}{} // the blocked request is answered; its reply is dropped
	for i := 0; i < 5; i++ {
		if n, err := c.Call(context.Background(), []byte("after"), resp); err != nil || !bytes.Equal(resp[:n], xored([]byte("after"))) {
			t.Fatalf("call after a timeout: %q, %v", resp[:n], err)
		}
	}
}

func TestCallClosePending(t *testing.T) {
	started, release := make(chan struct{}, 4), make(chan struct{})
	_, addr := listen(t, posixAddr, blockingHandler(started, release))
	defer close(release)
	c, err := Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 2)
	for i := 0; i < 2; i++ {
		go func() {
			_, err := c.Call(context.Background(), []byte("block"), make([]byte, 8))
			errc <- err
		}()
	}
	<-started
	t0 := time.Now()
	mustClose(t, c)
	for i := 0; i < 2; i++ {
		if err := <-errc; !errors.Is(err, ErrClosed) {
			t.Fatalf("pending call after Close: %v", err)
		}
	}
	if d := time.Since(t0); d > time.Second {
		t.Fatalf("Close with pending calls took %v", d)
	}
	if _, err := c.Call(context.Background(), nil, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("call after Close: %v", err)
	}
	mustClose(t, c)
}

func TestServerCloseDuringServe(t *testing.T) {
	addr := posixAddr()
	srv, err := Listen(addr, 4096, Workers(2), Clients(2))
	if err != nil {
		t.Fatal(err)
	}
	removeOnCleanup(t, addr)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(context.Background(), xorEcho) }()
	time.Sleep(20 * time.Millisecond)
	mustClose(t, srv)
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("Serve after Close: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Serve did not return after Close")
	}
	if _, err := Listen(addr, 4096, Workers(65)); err == nil || !strings.Contains(err.Error(), "Workers(65)") {
		t.Fatalf("Workers(65): %v", err)
	}
	if _, err := Listen("sysv:private", 4096); err == nil {
		t.Fatal("Listen(sysv:private): want an error")
	}
}

// TestCallsHelperProcess is not a test: the process tests re-execute the
// test binary with SHMLINK_CALLS_HELPER set to run a server or a client.
func TestCallsHelperProcess(t *testing.T) {
	mode := os.Getenv("SHMLINK_CALLS_HELPER")
	if mode == "" {
		return
	}
	addr := os.Getenv("SHMLINK_TEST_ADDR")
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	// The first server answers "hold" only after a minute, saying "held"
	// first; a joining one serves it (again) at once.
	handler := func(req, resp []byte) (int, error) {
		if string(req) == "hold" && mode == "listen" {
			fmt.Println("held")
			time.Sleep(time.Minute)
		}
		return xorEcho(req, resp)
	}
	switch mode {
	case "listen", "join":
		var srv *Server
		var err error
		if mode == "listen" {
			srv, err = Listen(addr, 1<<14)
		} else {
			srv, err = JoinServer(addr)
		}
		if err != nil {
			fail(err)
		}
		fmt.Println("ready")
		fail(srv.Serve(context.Background(), handler))
	case "client":
		// Calls in a loop, saying "calling" after the first reply.
		c, err := Dial(addr)
		if err != nil {
			fail(err)
		}
		resp := make([]byte, 64)
		for i := 0; ; i++ {
			if _, err := c.Call(context.Background(), []byte("loop"), resp); err != nil {
				fail(err)
			}
			if i == 0 {
				fmt.Println("calling")
			}
		}
	}
	fail(fmt.Errorf("unknown calls helper mode %q", mode))
}

// callsHelper starts a helper process and waits for its first line.
func callsHelper(t *testing.T, mode, addr, want string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCallsHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), "SHMLINK_CALLS_HELPER="+mode, "SHMLINK_TEST_ADDR="+addr)
	cmd.Stderr = os.Stderr
	cmd.WaitDelay = time.Minute
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		removeSysVMadeBy(t, cmd.Process.Pid)
	})
	lines := bufio.NewReader(out)
	if line, err := lines.ReadString('\n'); err != nil || line != want+"\n" {
		t.Fatalf("helper %s said %q, %v; want %q", mode, line, err, want)
	}
	go func() { _, _ = io.Copy(io.Discard, lines) }()
	return cmd
}

// kill kills a helper process. A killed client cannot remove its reply
// channel: a System V one (a private segment) is removed when the test
// ends, found by its creator's pid.
func kill(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	pid := cmd.Process.Pid
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	t.Cleanup(func() { removeSysVMadeBy(t, pid) })
}

// removeSysVMadeBy removes the System V segments that process pid (a
// helper of this test, dead now) created; one still attached (by a server
// worker) goes when it detaches.
func removeSysVMadeBy(t *testing.T, pid int) {
	data, err := os.ReadFile("/proc/sysvipc/shm")
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(data), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 7 || f[4] != strconv.Itoa(pid) {
			continue
		}
		if err := Remove("sysv-id:" + f[1]); err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("cleanup: %v", err)
		}
	}
}

// TestCallServerKilled: the server process is killed while a call is in
// its handler: the call fails with ErrPeerDead within 1 s; a restarted
// server serves the same client's new calls.
func TestCallServerKilled(t *testing.T) {
	for _, b := range callBackends {
		t.Run(b.name, func(t *testing.T) {
			addr := b.newAddr()
			removeServerOnCleanup(t, addr)
			server := callsHelper(t, "listen", addr, "ready")
			c := dial(t, addr)
			errc := make(chan error, 1)
			go func() {
				_, err := c.Call(context.Background(), []byte("hold"), make([]byte, 8))
				errc <- err
			}()
			// Wait until the request is in the handler: a call that
			// answers at once comes after it (one worker).
			time.Sleep(50 * time.Millisecond)
			t0 := time.Now()
			kill(t, server)
			select {
			case err := <-errc:
				if !errors.Is(err, ErrPeerDead) {
					t.Fatalf("call to a killed server: %v", err)
				}
				if d := time.Since(t0); d > time.Second {
					t.Fatalf("ErrPeerDead after %v", d)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("call to a killed server still pending after 5 s")
			}
			if _, err := c.Call(context.Background(), []byte("x"), make([]byte, 8)); !errors.Is(err, ErrPeerDead) {
				t.Fatalf("call while no server runs: %v", err)
			}
			callsHelper(t, "join", addr, "ready")
			resp := make([]byte, 8)
			if n, err := c.Call(context.Background(), []byte("again"), resp); err != nil || !bytes.Equal(resp[:n], xored([]byte("again"))) {
				t.Fatalf("call to the restarted server: %q, %v", resp[:n], err)
			}
		})
	}
}

// TestCallClientKilled: a client process killed while it calls does not
// disturb the server's other clients.
func TestCallClientKilled(t *testing.T) {
	for _, b := range callBackends {
		t.Run(b.name, func(t *testing.T) {
			_, addr := listen(t, b.newAddr, xorEcho, Clients(3))
			other := callsHelper(t, "client", addr, "calling")
			c := dial(t, addr)
			resp := make([]byte, 16)
			for i := 0; i < 3; i++ {
				kill(t, other)
				for k := 0; k < 200; k++ {
					if n, err := c.Call(context.Background(), []byte("mine"), resp); err != nil || !bytes.Equal(resp[:n], xored([]byte("mine"))) {
						t.Fatalf("round %d call %d after a client was killed: %q, %v", i, k, resp[:n], err)
					}
				}
				// The dead client's slot is taken over.
				other = callsHelper(t, "client", addr, "calling")
			}
		})
	}
}

// BenchmarkCallRoundTrip: one caller, 64-byte requests and replies, Go
// server in the same process; reports p50 and p99 of the round trip.
func BenchmarkCallRoundTrip(b *testing.B) {
	_, addr := listen(b, posixAddr, xorEcho)
	c := dial(b, addr)
	req, resp := make([]byte, 64), make([]byte, 64)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, err := c.Call(context.Background(), req, resp); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
}

// BenchmarkCallGoroutines8: 8 goroutines sharing one Client, 64-byte
// calls; reports calls/s.
func BenchmarkCallGoroutines8(b *testing.B) {
	_, addr := listen(b, posixAddr, xorEcho)
	c := dial(b, addr)
	var next sync.WaitGroup
	per := b.N/8 + 1
	b.ResetTimer()
	t0 := time.Now()
	for g := 0; g < 8; g++ {
		next.Add(1)
		go func() {
			defer next.Done()
			req, resp := make([]byte, 64), make([]byte, 64)
			for i := 0; i < per; i++ {
				if _, err := c.Call(context.Background(), req, resp); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	next.Wait()
	b.ReportMetric(float64(8*per)/time.Since(t0).Seconds(), "calls/s")
}
