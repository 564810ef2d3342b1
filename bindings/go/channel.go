//go:build linux

package shmlink

/*
#include <stdlib.h>
#include "shmlink.h"

// Out-parameters of the channel calls live in C memory owned by the handle,
// so passing their addresses to C neither allocates nor needs cgo pointer
// checks.
typedef struct shmlink_go_out {
	size_t len;
	const void *rptr;
	void *wptr;
} shmlink_go_out;
*/
import "C"

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// Channel waits are cut into slices so that a waiting call notices what
// happens on the Go side: Close from another goroutine (closeSlice) and the
// cancellation of a context (ctxSlice). Between slices the C core is simply
// called again; a message that arrives during a slice wakes it at once.
const (
	closeSlice = 100 * time.Millisecond
	ctxSlice   = 20 * time.Millisecond
)

// Largest capacity the C core accepts (it rounds up to a power of two).
const maxCapacity = 1 << 30

type chanOp int

const (
	opSend chanOp = iota
	opReserve
	opRecv
	opPeek
	opBatch
)

var chanOpName = [...]string{opSend: "send", opReserve: "reserve", opRecv: "recv", opPeek: "peek", opBatch: "recv batch"}

// chanBase is what Writer and Reader share: the C handle, its immutable
// properties, and the guard that keeps Close from unmapping memory while a
// call is using it.
type chanBase struct {
	addr   string // canonical address, immutable
	cap    int    // immutable
	maxMsg int    // immutable

	// mu serialises the calls on the handle (the C handle is not safe for
	// concurrent use) and Close against them. closing tells a waiting call
	// that Close is waiting for mu, so it gives up within closeSlice.
	mu      sync.Mutex
	closing atomic.Bool
	h       *C.shmlink_channel
	out     *C.shmlink_go_out
	lens    *C.size_t // 32-bit platforms only: RecvBatch lengths
	nlens   int
	cleanup runtime.Cleanup
}

type chanCleanupArg struct {
	h   *C.shmlink_channel
	out *C.shmlink_go_out
}

func chanCleanup(a chanCleanupArg) {
	C.shmlink_channel_close(a.h)
	C.free(unsafe.Pointer(a.out))
}

func (b *chanBase) init(h *C.shmlink_channel) {
	b.addr = C.GoString(C.shmlink_channel_address(h))
	b.cap = int(C.shmlink_channel_capacity(h))
	b.maxMsg = int(C.shmlink_channel_max_message(h))
	b.h = h
	b.out = (*C.shmlink_go_out)(C.calloc(1, C.size_t(unsafe.Sizeof(C.shmlink_go_out{}))))
	if b.out == nil {
		panic("shmlink: out of memory")
	}
}

// ccall makes one C call of op with a timeout of t nanoseconds.
func (b *chanBase) ccall(op chanOp, p, q unsafe.Pointer, n, max int, t int64) int {
	switch op {
	case opSend:
		return int(C.shmlink_channel_send(b.h, p, C.size_t(n), C.int64_t(t)))
	case opReserve:
		return int(C.shmlink_channel_reserve(b.h, C.size_t(n), &b.out.wptr, C.int64_t(t)))
	case opRecv:
		return int(C.shmlink_channel_recv(b.h, p, C.size_t(n), &b.out.len, C.int64_t(t)))
	case opPeek:
		return int(C.shmlink_channel_peek(b.h, &b.out.rptr, &b.out.len, C.int64_t(t)))
	case opBatch:
		return int(C.shmlink_channel_recv_batch(b.h, p, C.size_t(n), (*C.size_t)(q), C.size_t(max), C.int64_t(t)))
	}
	panic("shmlink: unknown channel operation")
}

// do runs op until it succeeds or fails for good. The caller holds b.mu.
//
// timeout < 0 waits without limit, 0 does not wait, > 0 waits at most that
// long; ctx (nil for none) is checked between slices. The returned rc is
// the C result (-ETIMEDOUT when the timeout passed); err is non-nil, and rc
// meaningless, when ctx ended or Close is waiting (ErrClosed).
//
// The first C call gets the whole wait when it fits in a slice, so the
// streaming path is one C call; no clock is read unless a call timed out.
func (b *chanBase) do(ctx context.Context, timeout time.Duration, op chanOp, p, q unsafe.Pointer, n, max int) (rc int, err error) {
	var deadline time.Time
	hasDeadline := false
	slice := closeSlice
	if ctx != nil {
		if ctx.Done() == nil {
			ctx = nil // never cancelled: same as no context
		} else {
			if err := ctx.Err(); err != nil {
				return 0, err
			}
			slice = ctxSlice
			deadline, hasDeadline = ctx.Deadline()
			timeout = -1
		}
	}
	first := slice
	switch {
	case timeout == 0:
		first = 0
	case timeout > 0 && timeout < first:
		first = timeout
	case hasDeadline:
		if rem := time.Until(deadline); rem < first {
			first = max0(rem)
		}
	}
	rc = b.ccall(op, p, q, n, max, int64(first))
	if (rc != -int(syscall.ETIMEDOUT) && rc != -int(syscall.EINTR)) || timeout == 0 && rc == -int(syscall.ETIMEDOUT) {
		return rc, nil
	}
	// Slow path: we are waiting anyway.
	if timeout > 0 {
		left := timeout
		if rc == -int(syscall.ETIMEDOUT) {
			left -= first // that much has passed at least
		}
		deadline, hasDeadline = time.Now().Add(left), true
	}
	for {
		if b.closing.Load() {
			return 0, ErrClosed
		}
		if ctx != nil {
			if err := ctx.Err(); err != nil {
				return 0, err
			}
		}
		t := slice
		if hasDeadline {
			rem := time.Until(deadline)
			if rem <= 0 {
				if ctx != nil {
					// The context's timer may not have fired yet.
					return 0, context.DeadlineExceeded
				}
				return -int(syscall.ETIMEDOUT), nil
			}
			if rem < t {
				t = rem
			}
		}
		rc = b.ccall(op, p, q, n, max, int64(t))
		if rc != -int(syscall.ETIMEDOUT) && rc != -int(syscall.EINTR) {
			return rc, nil
		}
	}
}

func max0(d time.Duration) time.Duration {
	if d < 0 {
		return 0
	}
	return d
}

// waitError formats the error of a waiting call.
func (b *chanBase) waitError(op chanOp, rc int, err error) error {
	if err != nil {
		return fmt.Errorf("shmlink: %s %s: %w", chanOpName[op], b.addr, err)
	}
	return opError(chanOpName[op], b.addr, rc)
}

// close releases the role and unmaps. Callers: Writer.Close, Reader.Close.
func (b *chanBase) close() error {
	b.closing.Store(true)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.h == nil {
		return nil
	}
	b.cleanup.Stop()
	rc := int(C.shmlink_channel_close(b.h))
	C.free(unsafe.Pointer(b.out))
	if b.lens != nil {
		C.free(unsafe.Pointer(b.lens))
	}
	b.h, b.out, b.lens, b.nlens = nil, nil, nil, 0
	if rc < 0 {
		return opError("close", b.addr, rc)
	}
	return nil
}

func checkCapacity(op string, capacity int) error {
	if capacity <= 0 || capacity > maxCapacity {
		return invalid(op, fmt.Sprintf("capacity %d out of range 1..%d (it is rounded up to a power of two, at least 4096)", capacity, maxCapacity))
	}
	return nil
}

func createChannel(op, addr string, capacity int, role C.shmlink_role, opts []Option) (*C.shmlink_channel, error) {
	o := collect(opts)
	full := op + " " + addr
	kind, err := parseAddress(op, addr)
	if err != nil {
		return nil, err
	}
	if kind == C.SHMLINK_ADDR_SYSV_ID {
		return nil, invalid(full, "a sysv-id address names an existing segment (use Open, or create \"sysv:private\")")
	}
	if o.readOnly {
		return nil, invalid(full, "the ReadOnly option does not apply to channels")
	}
	if err := checkCapacity(full, capacity); err != nil {
		return nil, err
	}
	mode, err := o.createMode(full)
	if err != nil {
		return nil, err
	}
	cs := C.CString(addr)
	defer C.free(unsafe.Pointer(cs))
	var h *C.shmlink_channel
	if rc := int(C.shmlink_channel_create(cs, C.size_t(capacity), C.unsigned(mode), role, &h)); rc < 0 {
		return nil, opError(op, addr, rc)
	}
	return h, nil
}

func openChannel(op, addr string, role C.shmlink_role) (*C.shmlink_channel, error) {
	kind, err := parseAddress(op, addr)
	if err != nil {
		return nil, err
	}
	if kind == C.SHMLINK_ADDR_SYSV_PRIVATE {
		return nil, invalid(op+" "+addr, "\"sysv:private\" can only be created; open a private channel by its \"sysv-id:N\" address")
	}
	cs := C.CString(addr)
	defer C.free(unsafe.Pointer(cs))
	var h *C.shmlink_channel
	if rc := int(C.shmlink_channel_open(cs, role, &h)); rc < 0 {
		return nil, opError(op, addr, rc)
	}
	return h, nil
}

// ---------------------------------------------------------------------------
// Writer

// Writer is the sending end of a channel: a single-writer, single-reader
// queue of messages (0 to MaxMessage bytes each) in a shared-memory segment
// of either backend, see docs/PROTOCOL.md.
//
// A Writer is meant to be used by one goroutine at a time. Calls from
// several goroutines are serialised by a mutex (they do not corrupt
// anything), except that Close may be called from another goroutine at any
// time: a call waiting in Send or Reserve then returns an error wrapping
// ErrClosed within about 100 ms. After Close every method returns an error
// wrapping ErrClosed (fs.ErrClosed).
//
// Closing the Writer marks the end of the stream. A Writer that becomes
// unreachable without Close is closed by the garbage collector as a safety
// net, which also marks the end of the stream; do not rely on it. Closing
// does not remove the segment: the creator removes it with Remove(addr)
// once both sides are done.
type Writer struct {
	chanBase
	resv int // length of the open reservation, -1 for none
}

func newWriter(h *C.shmlink_channel) *Writer {
	w := &Writer{resv: -1}
	w.init(h)
	w.cleanup = runtime.AddCleanup(w, chanCleanup, chanCleanupArg{w.h, w.out})
	return w
}

// CreateWriter makes a new segment at addr holding an empty channel whose
// ring holds capacity bytes (rounded up to a power of two, 4096 .. 1 GiB),
// and takes the writer's role. The largest message is MaxMessage, about
// capacity/2. It fails with an error matching fs.ErrExist if the segment is
// there already. Options: WithMode.
func CreateWriter(addr string, capacity int, opts ...Option) (*Writer, error) {
	h, err := createChannel("create writer", addr, capacity, C.SHMLINK_WRITER, opts)
	if err != nil {
		return nil, err
	}
	return newWriter(h), nil
}

// OpenWriter opens the existing channel at addr and takes the writer's
// role. A role whose holder died is taken over; sending continues after the
// last committed message. Errors match fs.ErrNotExist, ErrBusy (a live
// writer holds the role) and ErrProtocol (not a shmlink channel, or another
// protocol version).
func OpenWriter(addr string) (*Writer, error) {
	h, err := openChannel("open writer", addr, C.SHMLINK_WRITER)
	if err != nil {
		return nil, err
	}
	return newWriter(h), nil
}

// Address returns the canonical address of the channel's segment. It stays
// available after Close.
func (w *Writer) Address() string { return w.addr }

// Capacity returns the size of the ring in bytes.
func (w *Writer) Capacity() int { return w.cap }

// MaxMessage returns the size of the largest message the channel takes.
func (w *Writer) MaxMessage() int { return w.maxMsg }

// Send copies p into the channel as one message, waiting without limit
// while the channel is full. It fails with an error matching ErrPeerDead
// (and syscall.EPIPE) when the reader died or closed its end, and with one
// matching syscall.EMSGSIZE when len(p) > MaxMessage.
func (w *Writer) Send(p []byte) error { return w.send(nil, -1, p) }

// SendTimeout is Send waiting at most d (d <= 0: not at all); when that
// passes it fails with an error matching os.ErrDeadlineExceeded.
func (w *Writer) SendTimeout(p []byte, d time.Duration) error {
	if d < 0 {
		d = 0
	}
	return w.send(nil, d, p)
}

// SendContext is Send waiting until ctx is done; it then fails within about
// 20 ms with an error wrapping ctx.Err() (context.Canceled or
// context.DeadlineExceeded). If ctx is done already nothing is sent.
func (w *Writer) SendContext(ctx context.Context, p []byte) error {
	if ctx == nil {
		panic("shmlink: SendContext with a nil context")
	}
	return w.send(ctx, -1, p)
}

func (w *Writer) send(ctx context.Context, timeout time.Duration, p []byte) error {
	if len(p) > w.maxMsg {
		return w.tooLarge("send", len(p))
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.h == nil {
		return closedError("send", w.addr)
	}
	if w.resv >= 0 {
		return w.reservationOpen("send")
	}
	rc, err := w.do(ctx, timeout, opSend, unsafe.Pointer(unsafe.SliceData(p)), nil, len(p), 0)
	runtime.KeepAlive(p)
	if err != nil || rc < 0 {
		return w.waitError(opSend, rc, err)
	}
	return nil
}

func (w *Writer) tooLarge(op string, n int) error {
	return fmt.Errorf("shmlink: %s %s: message of %d bytes is larger than the channel's maximum of %d: %w",
		op, w.addr, n, w.maxMsg, errnoError{syscall.EMSGSIZE})
}

func (w *Writer) reservationOpen(op string) error {
	return fmt.Errorf("shmlink: %s %s: a reservation of %d bytes is open (Commit or Abort it first): %w",
		op, w.addr, w.resv, errnoError{syscall.EINVAL})
}

// Reserve waits (without limit) for room for a message of up to n bytes
// and returns that room inside the ring, to be filled in place (zero copy).
// Commit publishes it, Abort drops it; one reservation at a time.
//
// The slice is shared memory: it is valid only until Commit, Abort or Close,
// and only while the Writer is reachable. Do not keep it, or any slice of
// it, past that point.
func (w *Writer) Reserve(n int) ([]byte, error) {
	if n < 0 {
		return nil, invalid("reserve "+w.addr, fmt.Sprintf("negative size %d", n))
	}
	if n > w.maxMsg {
		return nil, w.tooLarge("reserve", n)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.h == nil {
		return nil, closedError("reserve", w.addr)
	}
	if w.resv >= 0 {
		return nil, w.reservationOpen("reserve")
	}
	rc, err := w.do(nil, -1, opReserve, nil, nil, n, 0)
	if err != nil || rc < 0 {
		return nil, w.waitError(opReserve, rc, err)
	}
	w.resv = n
	return unsafe.Slice((*byte)(w.out.wptr), n), nil
}

// Commit publishes the first n bytes of the reservation (0 <= n <= the
// reserved size) as one message. The reserved slice must not be used
// afterwards.
func (w *Writer) Commit(n int) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.h == nil {
		return closedError("commit", w.addr)
	}
	if w.resv < 0 {
		return invalid("commit "+w.addr, "no reservation is open (call Reserve first)")
	}
	if n < 0 || n > w.resv {
		return invalid("commit "+w.addr, fmt.Sprintf("length %d out of range 0..%d (the reserved size)", n, w.resv))
	}
	rc := int(C.shmlink_channel_commit(w.h, C.size_t(n)))
	runtime.KeepAlive(w)
	if rc < 0 {
		return opError("commit", w.addr, rc)
	}
	w.resv = -1
	return nil
}

// Abort drops the reservation without publishing anything.
func (w *Writer) Abort() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.h == nil {
		return closedError("abort", w.addr)
	}
	if w.resv < 0 {
		return invalid("abort "+w.addr, "no reservation is open")
	}
	rc := int(C.shmlink_channel_abort(w.h))
	runtime.KeepAlive(w)
	if rc < 0 {
		return opError("abort", w.addr, rc)
	}
	w.resv = -1
	return nil
}

// Close marks the end of the stream (the reader gets every message sent
// before, then io.EOF), drops an open reservation, releases the writer's
// role and unmaps the segment. It is idempotent; a second Close returns nil.
// A Send or Reserve waiting in another goroutine returns ErrClosed first.
func (w *Writer) Close() error { return w.close() }

// ---------------------------------------------------------------------------
// Reader

// Reader is the receiving end of a channel. See Writer for the rules on
// goroutines, Close and the garbage collector; closing a Reader makes a
// writer's waiting or later Send fail with ErrPeerDead. A new Reader may
// open the channel afterwards and continues at the first unconsumed message.
type Reader struct {
	chanBase
	peeking bool
}

func newReader(h *C.shmlink_channel) *Reader {
	r := &Reader{}
	r.init(h)
	r.cleanup = runtime.AddCleanup(r, chanCleanup, chanCleanupArg{r.h, r.out})
	return r
}

// CreateReader makes a new segment at addr holding an empty channel (as
// CreateWriter) and takes the reader's role. Options: WithMode.
func CreateReader(addr string, capacity int, opts ...Option) (*Reader, error) {
	h, err := createChannel("create reader", addr, capacity, C.SHMLINK_READER, opts)
	if err != nil {
		return nil, err
	}
	return newReader(h), nil
}

// OpenReader opens the existing channel at addr and takes the reader's
// role. A role whose holder died is taken over; receiving continues at the
// first unconsumed message. Errors as OpenWriter.
func OpenReader(addr string) (*Reader, error) {
	h, err := openChannel("open reader", addr, C.SHMLINK_READER)
	if err != nil {
		return nil, err
	}
	return newReader(h), nil
}

// Address returns the canonical address of the channel's segment. It stays
// available after Close.
func (r *Reader) Address() string { return r.addr }

// Capacity returns the size of the ring in bytes.
func (r *Reader) Capacity() int { return r.cap }

// MaxMessage returns the size of the largest message the channel takes; a
// buffer of that size always fits.
func (r *Reader) MaxMessage() int { return r.maxMsg }

// Recv copies the next message into buf and returns its length, waiting
// without limit while the channel is empty.
//
// At the end of the stream (the writer closed and every message was read)
// it returns 0, io.EOF. If the writer died, every committed message is
// still delivered, then the error matches ErrPeerDead (within 1 s). If buf
// is too small, the message stays in the channel and Recv returns the size
// needed with an error matching io.ErrShortBuffer and syscall.EMSGSIZE.
func (r *Reader) Recv(buf []byte) (int, error) { return r.recv(nil, -1, buf) }

// RecvTimeout is Recv waiting at most d (d <= 0: not at all); when that
// passes it fails with an error matching os.ErrDeadlineExceeded.
func (r *Reader) RecvTimeout(buf []byte, d time.Duration) (int, error) {
	if d < 0 {
		d = 0
	}
	return r.recv(nil, d, buf)
}

func (r *Reader) recv(ctx context.Context, timeout time.Duration, buf []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.h == nil {
		return 0, closedError("recv", r.addr)
	}
	if r.peeking {
		return 0, r.peekOpen("recv")
	}
	rc, err := r.do(ctx, timeout, opRecv, unsafe.Pointer(unsafe.SliceData(buf)), nil, len(buf), 0)
	runtime.KeepAlive(buf)
	if err != nil || rc < 0 {
		return r.recvError(opRecv, rc, err, len(buf))
	}
	return int(r.out.len), nil
}

// recvError turns a failed receive into Recv's results.
func (r *Reader) recvError(op chanOp, rc int, err error, have int) (int, error) {
	switch {
	case err != nil:
		return 0, r.waitError(op, rc, err)
	case rc == -int(syscall.ENODATA):
		return 0, io.EOF
	case rc == -int(syscall.EMSGSIZE):
		need := int(r.out.len)
		return need, fmt.Errorf("shmlink: %s %s: the next message has %d bytes, the buffer only %d (the message is kept): %w: %w",
			chanOpName[op], r.addr, need, have, io.ErrShortBuffer, errnoError{syscall.EMSGSIZE})
	}
	return 0, opError(chanOpName[op], r.addr, rc)
}

func (r *Reader) peekOpen(op string) error {
	return fmt.Errorf("shmlink: %s %s: a peeked message is not released (call Release first): %w",
		op, r.addr, errnoError{syscall.EINVAL})
}

// RecvContext returns the next message in a new slice, waiting until ctx
// is done; it then fails within about 20 ms with an error wrapping ctx.Err().
// End of stream and peer death are reported as by Recv.
func (r *Reader) RecvContext(ctx context.Context) ([]byte, error) {
	if ctx == nil {
		panic("shmlink: RecvContext with a nil context")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.h == nil {
		return nil, closedError("recv", r.addr)
	}
	if r.peeking {
		return nil, r.peekOpen("recv")
	}
	rc, err := r.do(ctx, -1, opPeek, nil, nil, 0, 0)
	if err != nil || rc < 0 {
		_, err = r.recvError(opRecv, rc, err, 0)
		return nil, err
	}
	msg := make([]byte, int(r.out.len))
	copy(msg, unsafe.Slice((*byte)(r.out.rptr), len(msg)))
	if rc := int(C.shmlink_channel_release(r.h)); rc < 0 {
		return nil, opError("recv", r.addr, rc)
	}
	runtime.KeepAlive(r)
	return msg, nil
}

// Peek waits (without limit) for the next message and returns it in place,
// without copying; Release consumes it. Until then Peek returns the same
// message again.
//
// The slice is shared memory that the writer reuses after Release: it is
// valid only until Release or Close, and only while the Reader is
// reachable. Do not write to it, and do not keep it, or any slice of it,
// past Release. End of stream and peer death are reported as by Recv.
func (r *Reader) Peek() ([]byte, error) { return r.peek(nil) }

// PeekContext is Peek waiting until ctx is done (see RecvContext).
func (r *Reader) PeekContext(ctx context.Context) ([]byte, error) {
	if ctx == nil {
		panic("shmlink: PeekContext with a nil context")
	}
	return r.peek(ctx)
}

func (r *Reader) peek(ctx context.Context) ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.h == nil {
		return nil, closedError("peek", r.addr)
	}
	rc, err := r.do(ctx, -1, opPeek, nil, nil, 0, 0)
	if err != nil || rc < 0 {
		_, err = r.recvError(opPeek, rc, err, 0)
		return nil, err
	}
	r.peeking = true
	return unsafe.Slice((*byte)(r.out.rptr), int(r.out.len)), nil
}

// Release consumes the message returned by Peek. The peeked slice must not
// be used afterwards.
func (r *Reader) Release() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.h == nil {
		return closedError("release", r.addr)
	}
	if !r.peeking {
		return invalid("release "+r.addr, "no peeked message (call Peek first)")
	}
	rc := int(C.shmlink_channel_release(r.h))
	runtime.KeepAlive(r)
	if rc < 0 {
		return opError("release", r.addr, rc)
	}
	r.peeking = false
	return nil
}

// RecvBatch waits (without limit) for at least one message, then copies
// as many consecutive messages as are there and fit — at most len(sizes) —
// back to back into buf, setting sizes[i] to the length of message i. It
// returns the count. End of stream and peer death are reported as by Recv.
// If the first message does not fit in buf, it stays in the channel, the
// count is 0, sizes[0] is the size needed, and the error matches
// io.ErrShortBuffer and syscall.EMSGSIZE.
func (r *Reader) RecvBatch(buf []byte, sizes []int) (int, error) {
	if len(sizes) == 0 {
		return 0, invalid("recv batch "+r.addr, "sizes is empty (it bounds the number of messages)")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.h == nil {
		return 0, closedError("recv batch", r.addr)
	}
	if r.peeking {
		return 0, r.peekOpen("recv batch")
	}
	// The C core writes size_t lengths; where int has that size they go
	// straight into sizes.
	direct := unsafe.Sizeof(int(0)) == unsafe.Sizeof(C.size_t(0))
	lens := unsafe.Pointer(unsafe.SliceData(sizes))
	if !direct {
		if r.nlens < len(sizes) {
			C.free(unsafe.Pointer(r.lens))
			r.lens = (*C.size_t)(C.calloc(C.size_t(len(sizes)), C.size_t(unsafe.Sizeof(C.size_t(0)))))
			if r.lens == nil {
				r.nlens = 0
				return 0, fmt.Errorf("shmlink: recv batch %s: %w", r.addr, errnoError{syscall.ENOMEM})
			}
			r.nlens = len(sizes)
		}
		lens = unsafe.Pointer(r.lens)
	}
	rc, err := r.do(nil, -1, opBatch, unsafe.Pointer(unsafe.SliceData(buf)), lens, len(buf), len(sizes))
	runtime.KeepAlive(buf)
	runtime.KeepAlive(sizes)
	if !direct && (rc > 0 || rc == -int(syscall.EMSGSIZE)) {
		cl := unsafe.Slice(r.lens, r.nlens)
		k := rc
		if k < 0 {
			k = 1
		}
		for i := 0; i < k; i++ {
			sizes[i] = int(cl[i])
		}
	}
	if err != nil || rc < 0 {
		if rc == -int(syscall.EMSGSIZE) && err == nil {
			r.out.len = C.size_t(sizes[0])
		}
		_, err = r.recvError(opBatch, rc, err, len(buf))
		return 0, err
	}
	return rc, nil
}

// Close releases the reader's role and unmaps the segment; a writer then
// gets ErrPeerDead. It is idempotent; a second Close returns nil. A call
// waiting in another goroutine returns ErrClosed first.
func (r *Reader) Close() error { return r.close() }

// cgoNoop makes one cgo call that does nothing (for the benchmark that
// measures the cost of a cgo call).
func cgoNoop() { C.shmlink_channel_capacity(nil) }
