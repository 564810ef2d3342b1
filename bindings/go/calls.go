//go:build linux

package shmlink

/*
#cgo noescape go_client_send
#cgo nocallback go_client_send
#cgo noescape go_client_recv
#cgo nocallback go_client_recv
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include "shmlink.h"

// Per-handle state shared by Go and C, in C memory (see channel.go): the
// results of the helpers below.
typedef struct shmlink_go_call_state {
	uint64_t send_id; // client: id of the last request sent
	uint64_t id;      // client: id of the last reply received
	int status;       // client: its status
	size_t len;       // client: its length (the size needed on -EMSGSIZE)
	shmlink_request req; // server: the current request
	void *wptr;       // server: the reserved reply room
} shmlink_go_call_state;

#define GO_CL(h) ((shmlink_client *)(h))
#define GO_SRV(h) ((shmlink_server *)(h))
#define GO_CST(s) ((shmlink_go_call_state *)(s))

static int go_client_send(uintptr_t cl, uintptr_t st, uint8_t *p, size_t n, int64_t timeout_ns)
{
	return shmlink_client_send(GO_CL(cl), p, n, &GO_CST(st)->send_id, timeout_ns);
}

static int go_client_recv(uintptr_t cl, uintptr_t st, uint8_t *buf, size_t cap, int64_t timeout_ns)
{
	shmlink_go_call_state *s = GO_CST(st);
	return shmlink_client_recv(GO_CL(cl), &s->id, &s->status, buf, cap, &s->len, timeout_ns);
}

static int go_client_interrupt(uintptr_t cl) { return shmlink_client_interrupt(GO_CL(cl)); }

static int go_server_recv(uintptr_t srv, uintptr_t st, int64_t timeout_ns)
{
	return shmlink_server_recv(GO_SRV(srv), &GO_CST(st)->req, timeout_ns);
}

static int go_server_reserve(uintptr_t srv, uintptr_t st, size_t n, int64_t timeout_ns)
{
	return shmlink_server_reserve(GO_SRV(srv), n, &GO_CST(st)->wptr, timeout_ns);
}

static int go_server_commit(uintptr_t srv, size_t n, int status)
{
	return shmlink_server_commit(GO_SRV(srv), n, status);
}

static int go_server_interrupt(uintptr_t srv) { return shmlink_server_interrupt(GO_SRV(srv)); }
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// Calls: a request and its response between processes (docs/PROTOCOL.md
// 13.5). A Server's worker processes take requests from every client's
// ring; each reply goes back through the client's own reply channel,
// matched to its call by an id the library manages.

// ServerOption configures Listen. It is the Option of the channel
// functions: Listen takes Workers, Clients and WithMode, and rejects the
// others.
type ServerOption = Option

// MaxWorkers and MaxClients bound Workers and Clients.
const (
	MaxWorkers = 64
	MaxClients = 64
)

// Workers makes Listen create a server with n worker slots (1..MaxWorkers,
// default 1): besides the creating process, n-1 other processes may serve
// its requests after JoinServer. Each request goes to one worker.
func Workers(n int) ServerOption {
	return func(o *options) { o.workers, o.server = n, true }
}

// Clients makes Listen create a server with n client slots (1..MaxClients,
// default 8): the number of clients (Dial) connected at once; Dial fails
// with an error matching ErrBusy when all are held by live processes.
func Clients(n int) ServerOption {
	return func(o *options) { o.clients, o.server = n, true }
}

// CallError is the error of a Call whose handler failed: the server's
// handler returned an error, whose text is Message, and the reply carried
// Status (never 0). A handler may return a *CallError to choose Status.
type CallError struct {
	Status  int
	Message string
}

func (e *CallError) Error() string {
	return fmt.Sprintf("shmlink: call failed in the server's handler (status %d): %s", e.Status, e.Message)
}

// Handler serves one request: req is the request, resp the room for the
// reply (its length is the largest reply, MaxMessage). It writes the reply
// into resp and returns its length, or returns an error, which the client
// gets as a *CallError with the error's text. Both slices are shared
// memory, valid only until the handler returns: do not keep them or any
// slice of them.
type Handler func(req []byte, resp []byte) (int, error)

// replyWait is how long one wait for room for a reply lasts before Serve
// looks at its context again (a client that does not read its replies
// holds a worker that long at most once the context is done).
const replyWait = 100 * time.Millisecond

// Server is one worker of a server of calls: Listen makes the server,
// JoinServer adds a worker in another process. Serve answers requests
// until its context is done; Close leaves. One Serve at a time per Server.
type Server struct {
	addr   string
	maxMsg int

	serveMu sync.Mutex // held by Serve
	closeMu sync.Mutex // serialises Close
	closing atomic.Bool
	h       *C.shmlink_server // nil once closed
	st      *C.shmlink_go_call_state
	hp, sp  C.uintptr_t
	cleanup runtime.Cleanup
}

type serverCleanupArg struct {
	h  *C.shmlink_server
	st *C.shmlink_go_call_state
}

func serverCleanup(a serverCleanupArg) {
	C.shmlink_server_close(a.h)
	C.free(unsafe.Pointer(a.st))
}

func newCallState() *C.shmlink_go_call_state {
	st := (*C.shmlink_go_call_state)(C.calloc(1, C.size_t(unsafe.Sizeof(C.shmlink_go_call_state{}))))
	if st == nil {
		panic("shmlink: out of memory")
	}
	return st
}

func newServer(addr string, h *C.shmlink_server) *Server {
	s := &Server{addr: addr, maxMsg: int(C.shmlink_server_max_message(h)), h: h, st: newCallState()}
	s.hp = C.uintptr_t(uintptr(unsafe.Pointer(h)))
	s.sp = C.uintptr_t(uintptr(unsafe.Pointer(s.st)))
	s.cleanup = runtime.AddCleanup(s, serverCleanup, serverCleanupArg{s.h, s.st})
	return s
}

// Listen creates a server of calls at addr (a POSIX name of at most 250
// bytes, whose clients' reply channels are named after it, or a System V
// key) and becomes its first worker. capacity is the ring size of each
// client's requests and of each reply channel (as CreateWriter); the
// largest request and reply is MaxMessage. Options: Workers, Clients,
// WithMode. It fails with an error matching fs.ErrExist if the address is
// taken. The server's segment stays until Remove(addr).
func Listen(addr string, capacity int, opts ...ServerOption) (*Server, error) {
	o := collect(opts)
	full := "listen " + addr
	kind, err := parseAddress("listen", addr)
	if err != nil {
		return nil, err
	}
	if kind == C.SHMLINK_ADDR_SYSV_ID || kind == C.SHMLINK_ADDR_SYSV_PRIVATE {
		return nil, invalid(full, "a server needs an address clients can dial (\"posix:/name\" or \"sysv:KEY\")")
	}
	if o.readOnly || o.anyOwner || o.fanoutSet() {
		return nil, invalid(full, "Listen takes the Workers, Clients and WithMode options only")
	}
	if err := checkCapacity(full, capacity); err != nil {
		return nil, err
	}
	mode, err := o.createMode(full)
	if err != nil {
		return nil, err
	}
	if o.workers != 0 && (o.workers < 1 || o.workers > MaxWorkers) {
		return nil, invalid(full, fmt.Sprintf("Workers(%d) out of range 1..%d", o.workers, MaxWorkers))
	}
	if o.clients != 0 && (o.clients < 1 || o.clients > MaxClients) {
		return nil, invalid(full, fmt.Sprintf("Clients(%d) out of range 1..%d", o.clients, MaxClients))
	}
	cfg := C.shmlink_server_config{
		capacity: C.size_t(capacity),
		mode:     C.unsigned(mode),
		workers:  C.unsigned(o.workers),
		clients:  C.unsigned(o.clients),
	}
	cs := C.CString(addr)
	defer C.free(unsafe.Pointer(cs))
	var h *C.shmlink_server
	if rc := int(C.shmlink_server_create(cs, &cfg, &h)); rc < 0 {
		return nil, opError("listen", addr, rc)
	}
	return newServer(addr, h), nil
}

// JoinServer joins the server at addr as another worker (a free worker
// slot: ErrBusy when every one is held by a live process; ErrProtocol when
// addr is not a server). A worker that dies while it serves a request
// leaves it to another worker, or to the server restarted at addr.
func JoinServer(addr string) (*Server, error) {
	if _, err := parseAddress("join server", addr); err != nil {
		return nil, err
	}
	cs := C.CString(addr)
	defer C.free(unsafe.Pointer(cs))
	var h *C.shmlink_server
	if rc := int(C.shmlink_server_open(cs, &h)); rc < 0 {
		return nil, opError("join server", addr, rc)
	}
	return newServer(addr, h), nil
}

// Address returns the address the server was created or joined at.
func (s *Server) Address() string { return s.addr }

// MaxMessage returns the size of the largest request and reply.
func (s *Server) MaxMessage() int { return s.maxMsg }

// interruptUntil interrupts the handle every millisecond until done is set:
// an interrupt only ends a wait in progress, so one that comes just before
// a wait starts is repeated.
func interruptUntil(done *atomic.Bool, interrupt func()) {
	for !done.Load() {
		interrupt()
		time.Sleep(time.Millisecond)
	}
}

// Serve answers requests with handler, one at a time, until ctx is done
// (it then returns ctx.Err() at once, also while it waits for a request),
// Close is called (ErrClosed), or a fatal error of the channel (e.g.
// ErrProtocol). A request whose client is gone is finished without a
// reply. Serve with a handler that returns an error sends that error's
// text to the client with a status (1, or the Status of a *CallError).
func (s *Server) Serve(ctx context.Context, handler Handler) error {
	if ctx == nil || handler == nil {
		panic("shmlink: Serve with a nil context or handler")
	}
	if !s.serveMu.TryLock() {
		return invalid("serve "+s.addr, "Serve is running already on this Server (JoinServer makes another worker)")
	}
	defer s.serveMu.Unlock()
	if s.h == nil || s.closing.Load() {
		return closedError("serve", s.addr)
	}
	var leaving atomic.Bool
	stopped := make(chan struct{})
	hp := s.hp
	unregister := context.AfterFunc(ctx, func() {
		interruptUntil(&leaving, func() { C.go_server_interrupt(hp) })
		close(stopped)
	})
	defer func() {
		leaving.Store(true)
		if !unregister() {
			<-stopped
		}
	}()
	for {
		if s.closing.Load() {
			return closedError("serve", s.addr)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rc := int(C.go_server_recv(s.hp, s.sp, forever))
		switch {
		case rc == -int(syscall.ECANCELED) || rc == -int(syscall.EINTR) || rc == -int(syscall.ETIMEDOUT):
			continue
		case rc < 0:
			return opError("serve", s.addr, rc)
		}
		if err := s.serveOne(ctx, handler); err != nil {
			return err
		}
	}
}

// serveOne answers the current request.
func (s *Server) serveOne(ctx context.Context, handler Handler) error {
	var rc int
	for {
		rc = int(C.go_server_reserve(s.hp, s.sp, C.size_t(s.maxMsg), C.int64_t(replyWait)))
		if rc != -int(syscall.ETIMEDOUT) && rc != -int(syscall.EINTR) && rc != -int(syscall.ECANCELED) {
			break
		}
		if ctx.Err() != nil || s.closing.Load() {
			// The client does not read its replies: leave the request.
			C.shmlink_server_drop(s.h)
			return nil
		}
	}
	if rc == -int(syscall.EPIPE) || rc == -int(syscall.ENOENT) || rc == -int(syscall.EPROTO) {
		return nil // the client is gone; the request is finished
	}
	if rc < 0 {
		C.shmlink_server_drop(s.h)
		return opError("serve (reply)", s.addr, rc)
	}
	req := unsafe.Slice((*byte)(s.st.req.data), int(s.st.req.len))
	resp := unsafe.Slice((*byte)(s.st.wptr), s.maxMsg)
	n, status := s.handle(handler, req, resp)
	// A failed commit (the client left meanwhile) still finishes the request.
	C.go_server_commit(s.hp, C.size_t(n), C.int(status))
	return nil
}

// handle runs handler and returns the reply's length and status.
func (s *Server) handle(handler Handler, req, resp []byte) (int, int) {
	n, err := handler(req, resp)
	if err == nil && (n < 0 || n > len(resp)) {
		err = fmt.Errorf("shmlink: the handler returned length %d, out of range 0..%d", n, len(resp))
	}
	if err == nil {
		return n, 0
	}
	status, msg := 1, err.Error()
	var ce *CallError
	if errors.As(err, &ce) {
		msg = ce.Message
		if ce.Status != 0 {
			status = ce.Status
		}
	}
	return copy(resp, msg), status
}

// Close leaves the server: a Serve in progress returns ErrClosed at once,
// a request being served goes to another worker (or to the restarted
// server). When the last worker leaves, clients' calls fail with
// ErrPeerDead. Close does not remove the address (Remove does). It is
// idempotent.
func (s *Server) Close() error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.h == nil {
		return nil
	}
	s.closing.Store(true)
	var served atomic.Bool
	hp := s.hp
	go func() {
		s.serveMu.Lock()
		served.Store(true)
		s.serveMu.Unlock()
	}()
	interruptUntil(&served, func() { C.go_server_interrupt(hp) })
	s.serveMu.Lock()
	defer s.serveMu.Unlock()
	s.cleanup.Stop()
	C.shmlink_server_close(s.h)
	C.free(unsafe.Pointer(s.st))
	s.h, s.st, s.hp, s.sp = nil, nil, 0, 0
	return nil
}

// ---------------------------------------------------------------------------
// Client

// Client makes calls to a server. It is safe for use by many goroutines,
// and their calls pipeline: a goroutine holds the client only while it
// sends its request; while calls are pending, one waiting goroutine
// receives the replies and hands each to the goroutine whose call it
// answers.
type Client struct {
	addr   string
	maxMsg int
	slot   int

	mu       sync.Mutex // everything below, and every send
	closed   bool
	leading  bool // a goroutine receives replies
	h        *C.shmlink_client
	st       *C.shmlink_go_call_state
	hp, sp   C.uintptr_t
	buf      *C.uint8_t // a reply, as received (maxMsg bytes)
	pending  map[uint64]*pendingCall
	dropped  map[uint64]struct{} // calls given up (context done): their replies are dropped
	clean    runtime.Cleanup
	leaderGo sync.WaitGroup // the receiving goroutine's time in C
}

// pendingCall is a call waiting for its reply. ch (capacity 1) wakes its
// goroutine: the reply came (done) or it is to receive replies now.
type pendingCall struct {
	resp []byte
	n    int
	err  error
	done bool
	ch   chan struct{}
}

var pendingPool = sync.Pool{New: func() any { return &pendingCall{ch: make(chan struct{}, 1)} }}

type clientCleanupArg struct {
	h   *C.shmlink_client
	st  *C.shmlink_go_call_state
	buf *C.uint8_t
}

func clientCleanup(a clientCleanupArg) {
	C.shmlink_client_close(a.h)
	C.free(unsafe.Pointer(a.st))
	C.free(unsafe.Pointer(a.buf))
}

// Dial connects to the server at addr: it takes a client slot (ErrBusy
// when every one is held by a live client; ErrProtocol when addr is not a
// server) and makes the client's reply channel. Close leaves.
func Dial(addr string) (*Client, error) {
	if _, err := parseAddress("dial", addr); err != nil {
		return nil, err
	}
	cs := C.CString(addr)
	defer C.free(unsafe.Pointer(cs))
	var h *C.shmlink_client
	if rc := int(C.shmlink_client_open(cs, &h)); rc < 0 {
		return nil, opError("dial", addr, rc)
	}
	c := &Client{
		addr:    addr,
		maxMsg:  int(C.shmlink_client_max_message(h)),
		slot:    int(C.shmlink_client_slot(h)),
		h:       h,
		st:      newCallState(),
		pending: map[uint64]*pendingCall{},
		dropped: map[uint64]struct{}{},
	}
	c.buf = (*C.uint8_t)(C.malloc(C.size_t(max(c.maxMsg, 1))))
	if c.buf == nil {
		panic("shmlink: out of memory")
	}
	c.hp = C.uintptr_t(uintptr(unsafe.Pointer(h)))
	c.sp = C.uintptr_t(uintptr(unsafe.Pointer(c.st)))
	c.clean = runtime.AddCleanup(c, clientCleanup, clientCleanupArg{c.h, c.st, c.buf})
	return c, nil
}

// Address returns the server's address as given to Dial.
func (c *Client) Address() string { return c.addr }

// MaxMessage returns the size of the largest request and reply.
func (c *Client) MaxMessage() int { return c.maxMsg }

// Slot returns the client slot this client holds on the server.
func (c *Client) Slot() int { return c.slot }

// sendPoll bounds the sleep between tries of a send that found the
// request ring full.
const sendPoll = time.Millisecond

// Call sends req to the server and waits until its reply is in resp,
// returning the reply's length. It is safe from many goroutines at once.
//
// Errors: a *CallError when the server's handler failed; one matching
// io.ErrShortBuffer and syscall.EMSGSIZE, naming the reply's size (which
// is returned as n), when the reply does not fit in resp (the reply is
// consumed); ErrPeerDead when every worker of the server is gone (pending
// calls fail within about 100 ms of the last one's death); ErrClosed when
// the Client is closed; one wrapping ctx.Err() at once when ctx is done
// first (a reply that comes later is dropped); syscall.EMSGSIZE when req
// is larger than MaxMessage.
func (c *Client) Call(ctx context.Context, req, resp []byte) (int, error) {
	if ctx == nil {
		panic("shmlink: Call with a nil context")
	}
	if len(req) > c.maxMsg {
		return 0, fmt.Errorf("shmlink: call %s: request of %d bytes is larger than the server's maximum of %d: %w",
			c.addr, len(req), c.maxMsg, errnoError{syscall.EMSGSIZE})
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("shmlink: call %s: %w", c.addr, err)
	}
	pc := pendingPool.Get().(*pendingCall)
	pc.resp = resp
	id, err := c.send(ctx, req, pc)
	if err != nil {
		c.release(pc)
		return 0, err
	}
	for {
		c.mu.Lock()
		if pc.done {
			c.mu.Unlock()
			return c.finish(pc)
		}
		if ctx.Err() != nil {
			return c.giveUpLocked(ctx, id, pc)
		}
		if !c.leading && !c.closed {
			c.leading = true
			c.leaderGo.Add(1)
			c.mu.Unlock()
			c.lead(ctx, pc)
			continue
		}
		c.mu.Unlock()
		select {
		case <-pc.ch:
		case <-ctx.Done():
		}
	}
}

// giveUpLocked ends a call whose context is done; its reply, if it comes,
// is dropped. c.mu is held; giveUpLocked releases it.
func (c *Client) giveUpLocked(ctx context.Context, id uint64, pc *pendingCall) (int, error) {
	delete(c.pending, id)
	c.dropped[id] = struct{}{}
	c.mu.Unlock()
	c.release(pc)
	return 0, fmt.Errorf("shmlink: call %s: %w", c.addr, ctx.Err())
}

func (c *Client) finish(pc *pendingCall) (int, error) {
	n, err := pc.n, pc.err
	c.release(pc)
	return n, err
}

func (c *Client) release(pc *pendingCall) {
	select { // a wake-up that was not needed
	case <-pc.ch:
	default:
	}
	*pc = pendingCall{ch: pc.ch}
	pendingPool.Put(pc)
}

// send sends req and registers pc under its call id.
func (c *Client) send(ctx context.Context, req []byte, pc *pendingCall) (uint64, error) {
	wait := 10 * time.Microsecond
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return 0, closedError("call", c.addr)
		}
		rc := int(C.go_client_send(c.hp, c.sp, bytePtr(req), C.size_t(len(req)), noWait))
		runtime.KeepAlive(req)
		if rc == 0 {
			id := uint64(c.st.send_id)
			c.pending[id] = pc
			c.mu.Unlock()
			return id, nil
		}
		c.mu.Unlock()
		if rc != -int(syscall.ETIMEDOUT) && rc != -int(syscall.EINTR) && rc != -int(syscall.ECANCELED) {
			return 0, opError("call", c.addr, rc)
		}
		// The request ring is full: the server is behind. The reply
		// channel is read meanwhile by whoever leads, so waiting here
		// holds nothing up.
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("shmlink: call %s: %w", c.addr, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, sendPoll)
	}
}

// lead receives replies and hands them to their calls until pc's reply
// came, ctx is done or the client closes; then another waiting call, if
// any, takes over. The caller set c.leading.
func (c *Client) lead(ctx context.Context, pc *pendingCall) {
	var leaving atomic.Bool
	stopped := make(chan struct{})
	unregister := func() bool { return true }
	if ctx.Done() != nil { // a context that can be done interrupts the wait
		hp := c.hp
		unregister = context.AfterFunc(ctx, func() {
			interruptUntil(&leaving, func() { C.go_client_interrupt(hp) })
			close(stopped)
		})
	}
	for {
		c.mu.Lock()
		if pc.done || c.closed || ctx.Err() != nil {
			c.mu.Unlock()
			break
		}
		c.mu.Unlock()
		rc := int(C.go_client_recv(c.hp, c.sp, c.buf, C.size_t(c.maxMsg), forever))
		c.mu.Lock()
		switch {
		case rc == 0:
			c.dispatchLocked()
		case rc == -int(syscall.ECANCELED) || rc == -int(syscall.EINTR) || rc == -int(syscall.ETIMEDOUT):
		default:
			// Every pending call fails (ErrPeerDead: no worker left).
			err := opError("call", c.addr, rc)
			for id, p := range c.pending {
				p.err, p.done = err, true
				delete(c.pending, id)
				p.wake()
			}
			clear(c.dropped)
		}
		c.mu.Unlock()
	}
	leaving.Store(true)
	if !unregister() {
		<-stopped
	}
	c.mu.Lock()
	c.leading = false
	c.leaderGo.Done()
	for _, p := range c.pending { // another waiting call takes over
		if p != pc {
			p.wake()
			break
		}
	}
	c.mu.Unlock()
}

func (p *pendingCall) wake() {
	select {
	case p.ch <- struct{}{}:
	default:
	}
}

// dispatchLocked hands the reply in c.buf to its call. c.mu is held.
func (c *Client) dispatchLocked() {
	id := uint64(c.st.id)
	p := c.pending[id]
	if p == nil {
		delete(c.dropped, id) // a call given up, or a reply served twice
		return
	}
	delete(c.pending, id)
	n := int(c.st.len)
	reply := unsafe.Slice((*byte)(unsafe.Pointer(c.buf)), n)
	switch {
	case c.st.status != 0:
		p.err = &CallError{Status: int(c.st.status), Message: string(reply)}
	case n > len(p.resp):
		p.n = n
		p.err = fmt.Errorf("shmlink: call %s: the reply has %d bytes, the response buffer only %d (the reply is dropped): %w: %w",
			c.addr, n, len(p.resp), io.ErrShortBuffer, errnoError{syscall.EMSGSIZE})
	default:
		p.n = copy(p.resp, reply)
	}
	p.done = true
	p.wake()
}

// Close leaves the server: pending calls fail with ErrClosed at once, the
// client's slot is freed and its reply channel removed. It is idempotent.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	for id, p := range c.pending {
		p.err, p.done = closedError("call", c.addr), true
		delete(c.pending, id)
		p.wake()
	}
	c.mu.Unlock()
	var idle atomic.Bool
	go func() {
		c.leaderGo.Wait()
		idle.Store(true)
	}()
	hp := c.hp
	interruptUntil(&idle, func() { C.go_client_interrupt(hp) })
	c.leaderGo.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clean.Stop()
	C.shmlink_client_close(c.h)
	C.free(unsafe.Pointer(c.st))
	C.free(unsafe.Pointer(c.buf))
	c.h, c.st, c.buf, c.hp, c.sp = nil, nil, nil, 0, 0
	return nil
}
