//go:build linux

package shmlink

/*
#cgo noescape go_call
#cgo nocallback go_call
#cgo noescape go_send_batch
#cgo nocallback go_send_batch
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include "shmlink.h"

// Per-handle state shared by Go and C. It lives in C memory owned by the
// handle, so passing its address to C neither allocates nor needs cgo
// pointer checks.
typedef struct shmlink_go_state {
	size_t len;       // recv, peek: message length; send batch: messages sent
	const void *rptr; // peek
	void *wptr;       // reserve
	// Why a wait must end (atomic): GO_STOP_CLOSE while Close waits for the
	// call, GO_STOP_CTX once the call's context is done. Set before
	// shmlink_channel_interrupt, read after shmlink_channel_interrupts:
	// either the wait sees the bit, or the interrupt ends the wait.
	uint32_t stop;
	// An address inside the channel's mapping, once Peek or Reserve handed
	// out a slice of it (0 before): Close puts zero pages there (tomb.go).
	uintptr_t zc;
} shmlink_go_state;

enum { GO_STOP_CLOSE = 1, GO_STOP_CTX = 2 };
enum { GO_SEND, GO_RESERVE, GO_RECV, GO_PEEK, GO_BATCH };

// The helpers below take the handle and the state as uintptr_t, and
// buffers as uint8_t * rather than void *: cgo checks every argument that
// points to memory which might hold pointers (void *, or a struct such as
// the handle) at run time, on every call, and those checks cost more than
// the rest of a Send. Both are C memory, which needs no check; a pointer
// to bytes needs none either.
#define GO_CH(h) ((shmlink_channel *)(h))
#define GO_ST(s) ((shmlink_go_state *)(s))

static int go_once(shmlink_channel *ch, shmlink_go_state *st, int op,
                   uint8_t *p, size_t n, size_t *lens, size_t max)
{
	switch (op) {
	case GO_SEND:
		return shmlink_channel_send(ch, p, n, 0);
	case GO_RESERVE:
		return shmlink_channel_reserve(ch, n, &st->wptr, 0);
	case GO_RECV:
		return shmlink_channel_recv(ch, p, n, &st->len, 0);
	case GO_PEEK:
		return shmlink_channel_peek(ch, &st->rptr, &st->len, 0);
	case GO_BATCH:
		return shmlink_channel_recv_batch(ch, p, n, lens, max, 0);
	}
	return -EINVAL;
}

static int64_t go_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

// The waiting part of go_call: the core's wait, then the operation again.
// A wait interrupted by a signal handler (EINTR: Go's runtime sends
// signals) simply goes on. The interrupt count is read before st->stop, so
// a Close or a cancellation that comes after the check still ends the wait.
static __attribute__((noinline)) int go_wait(shmlink_channel *ch,
		shmlink_go_state *st, int op, uint8_t *p, size_t n, size_t *lens,
		size_t max, int64_t timeout_ns)
{
	int64_t deadline = timeout_ns > 0 ? go_now() + timeout_ns : 0;
	size_t need = op == GO_SEND || op == GO_RESERVE ? n : 0;
	for (;;) {
		int64_t t = -1;
		if (timeout_ns > 0) {
			t = deadline - go_now();
			if (t <= 0)
				return -ETIMEDOUT;
		}
		uint64_t since = shmlink_channel_interrupts(ch);
		if (__atomic_load_n(&st->stop, __ATOMIC_SEQ_CST) != 0)
			return -ECANCELED;
		int rc = shmlink_channel_wait(ch, need, t, since);
		if (rc == -EINTR)
			continue;
		if (rc < 0)
			return rc;
		rc = go_once(ch, st, op, p, n, lens, max);
		if (rc != -ETIMEDOUT)
			return rc;
	}
}

// go_call_c (go_call from Go) makes one channel operation, waiting at most
// timeout_ns (< 0 without limit, 0 not at all). While both sides are busy
// this is one call of the core that does not wait.
static int go_call_c(shmlink_channel *ch, shmlink_go_state *st, int op,
                     uint8_t *p, size_t n, size_t *lens, size_t max,
                     int64_t timeout_ns)
{
	int rc = go_once(ch, st, op, p, n, lens, max);
	if (rc != -ETIMEDOUT || timeout_ns == 0)
		return rc;
	return go_wait(ch, st, op, p, n, lens, max, timeout_ns);
}

static int go_call(uintptr_t ch, uintptr_t st, int op, uint8_t *p, size_t n,
                   size_t *lens, size_t max, int64_t timeout_ns)
{
	return go_call_c(GO_CH(ch), GO_ST(st), op, p, n, lens, max, timeout_ns);
}

static int go_commit(uintptr_t ch, size_t n) { return shmlink_channel_commit(GO_CH(ch), n); }
static int go_abort(uintptr_t ch) { return shmlink_channel_abort(GO_CH(ch)); }
static int go_release(uintptr_t ch) { return shmlink_channel_release(GO_CH(ch)); }
static int go_interrupt(uintptr_t ch) { return shmlink_channel_interrupt(GO_CH(ch)); }

// Sends up to GO_BATCH_MAX messages, each a separate Go buffer passed as
// its own argument: cgo lets Go pass pointers to Go memory as arguments,
// but not an array holding them (that would need a runtime.Pinner per
// message), and this way no message is copied twice. st->len tells how
// many were sent when an error stops the batch.
//
// go_call and go_send_batch neither keep a Go pointer nor call back into
// Go (the #cgo noescape and nocallback lines above), so the compiler may
// keep their arguments, such as the lengths of a batch, on the stack.
#define GO_BATCH_MAX 16
static int go_send_batch(uintptr_t ch, uintptr_t st, const size_t *lens, size_t count, int64_t timeout_ns,
	uint8_t *p0, uint8_t *p1, uint8_t *p2, uint8_t *p3,
	uint8_t *p4, uint8_t *p5, uint8_t *p6, uint8_t *p7,
	uint8_t *p8, uint8_t *p9, uint8_t *p10, uint8_t *p11,
	uint8_t *p12, uint8_t *p13, uint8_t *p14, uint8_t *p15)
{
	uint8_t *p[GO_BATCH_MAX] = {p0, p1, p2, p3, p4, p5, p6, p7,
	                            p8, p9, p10, p11, p12, p13, p14, p15};
	size_t i;
	for (i = 0; i < count && i < GO_BATCH_MAX; i++) {
		int rc = go_call_c(GO_CH(ch), GO_ST(st), GO_SEND, p[i], lens[i], NULL, 0, timeout_ns);
		if (rc < 0) {
			GO_ST(st)->len = i;
			return rc;
		}
	}
	GO_ST(st)->len = i;
	return 0;
}
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// Largest capacity the C core accepts (it rounds up to a power of two).
const maxCapacity = 1 << 30

type chanOp int

const (
	opSend    chanOp = C.GO_SEND
	opReserve chanOp = C.GO_RESERVE
	opRecv    chanOp = C.GO_RECV
	opPeek    chanOp = C.GO_PEEK
	opBatch   chanOp = C.GO_BATCH
)

var chanOpName = [...]string{opSend: "send", opReserve: "reserve", opRecv: "recv", opPeek: "peek", opBatch: "recv batch"}

// Timeouts handed to the C core, in nanoseconds.
const (
	forever = -1 // wait without limit
	noWait  = 0
)

// batchMax is how many messages SendBatch passes to C in one call.
const batchMax = C.GO_BATCH_MAX

// chanBase is what Writer and Reader share: the C handle, its immutable
// properties, and the guard that keeps Close from unmapping memory while a
// call is using it.
type chanBase struct {
	addr   string // canonical address, immutable
	cap    int    // immutable
	maxMsg int    // immutable

	// mu serialises the calls on the handle (the C handle is not safe for
	// concurrent use) and Close against them. Close first sets
	// GO_STOP_CLOSE in st.stop and interrupts the handle, so a call
	// waiting in C returns at once, then takes mu. closeMu serialises
	// Closes (the interrupt must not race with the handle's release).
	mu      sync.Mutex
	closeMu sync.Mutex
	h       *C.shmlink_channel // nil once closed (under mu and closeMu)
	st      *C.shmlink_go_state
	hp, sp  C.uintptr_t // h and st as the helpers take them
	lens    *C.size_t   // 32-bit platforms only: RecvBatch lengths
	nlens   int
	cleanup runtime.Cleanup
}

type chanCleanupArg struct {
	h  *C.shmlink_channel
	st *C.shmlink_go_state
}

func chanCleanup(a chanCleanupArg) {
	closeChannel(a.h, a.st)
	C.free(unsafe.Pointer(a.st))
}

// closeChannel closes the handle and, if Peek or Reserve handed out a
// slice of its mapping, maps zero pages where it was (tomb.go).
func closeChannel(h *C.shmlink_channel, st *C.shmlink_go_state) int {
	var start, end uintptr
	var writable, found bool
	if st.zc != 0 {
		start, end, writable, found = mappingAt(uintptr(st.zc))
	}
	rc := int(C.shmlink_channel_close(h))
	if found {
		tombFill(start, end-start, writable)
	}
	return rc
}

func (b *chanBase) init(h *C.shmlink_channel) {
	b.addr = C.GoString(C.shmlink_channel_address(h))
	b.cap = int(C.shmlink_channel_capacity(h))
	b.maxMsg = int(C.shmlink_channel_max_message(h))
	b.h = h
	b.st = (*C.shmlink_go_state)(C.calloc(1, C.size_t(unsafe.Sizeof(C.shmlink_go_state{}))))
	if b.st == nil {
		panic("shmlink: out of memory")
	}
	b.hp = C.uintptr_t(uintptr(unsafe.Pointer(h)))
	b.sp = C.uintptr_t(uintptr(unsafe.Pointer(b.st)))
}

// Fanout reports how the channel's messages reach its readers and, for a
// reader of a fan-out channel, which reader slot it holds (0 otherwise).
func (b *chanBase) fanoutOf() (Fanout, int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.h == nil {
		return FanoutOne, 0
	}
	var f C.shmlink_fanout
	var slot C.unsigned
	C.shmlink_channel_fanout_of(b.h, &f, &slot)
	return Fanout(f), int(slot)
}

// writerSlots is the number of writer slots of the channel (1 unless it
// was made with Writers(n); 0 after Close).
func (b *chanBase) writerSlots() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.h == nil {
		return 0
	}
	return int(C.shmlink_channel_writers(b.h))
}

func (b *chanBase) stopWord() *uint32 { return (*uint32)(unsafe.Pointer(&b.st.stop)) }

// bytePtr is the address of p's data as the C helpers take it (nil for an
// empty slice without one).
func bytePtr(p []byte) *C.uint8_t { return (*C.uint8_t)(unsafe.SliceData(p)) }

// call runs op, waiting at most timeout (forever: no limit, noWait: not at
// all) or, when ctx can be cancelled, until ctx is done. The caller holds
// b.mu. It returns the C result, or an error when the wait ended because
// ctx is done (ctx.Err(), also when its deadline passed) or Close began
// (ErrClosed); rc is then meaningless.
//
// There is no waiting loop here: the C core waits, and Close or a
// cancelled context end that wait through shmlink_channel_interrupt.
func (b *chanBase) call(ctx context.Context, timeout time.Duration, op chanOp, p unsafe.Pointer, n int, lens *C.size_t, max int) (int, error) {
	if ctx.Done() == nil { // never done: no preparation for a cancellation
		rc := int(C.go_call(b.hp, b.sp, C.int(op), (*C.uint8_t)(p), C.size_t(n), lens, C.size_t(max), C.int64_t(timeout)))
		if rc == -int(syscall.ECANCELED) {
			return rc, b.canceled(rc, ctx)
		}
		return rc, nil
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	// What is there is taken without any preparation for waiting.
	rc := int(C.go_call(b.hp, b.sp, C.int(op), (*C.uint8_t)(p), C.size_t(n), lens, C.size_t(max), noWait))
	if rc != -int(syscall.ETIMEDOUT) {
		return rc, b.canceled(rc, ctx)
	}
	t := time.Duration(forever)
	if deadline, ok := ctx.Deadline(); ok {
		if t = time.Until(deadline); t <= 0 {
			return 0, context.DeadlineExceeded // its timer may not have fired yet
		}
	}
	hp, stop, done := b.hp, b.stopWord(), make(chan struct{})
	unregister := context.AfterFunc(ctx, func() {
		atomic.OrUint32(stop, C.GO_STOP_CTX)
		C.go_interrupt(hp)
		close(done)
	})
	rc = int(C.go_call(b.hp, b.sp, C.int(op), (*C.uint8_t)(p), C.size_t(n), lens, C.size_t(max), C.int64_t(t)))
	if !unregister() {
		<-done // the handle must outlive the interrupt
		atomic.AndUint32(b.stopWord(), ^uint32(C.GO_STOP_CTX))
	}
	if rc == -int(syscall.ETIMEDOUT) {
		return rc, context.DeadlineExceeded // the deadline's timer may not have fired yet
	}
	return rc, b.canceled(rc, ctx)
}

// canceled explains an -ECANCELED result: Close is waiting for the call
// (ErrClosed) or the call's context is done.
func (b *chanBase) canceled(rc int, ctx context.Context) error {
	if rc != -int(syscall.ECANCELED) {
		return nil
	}
	if atomic.LoadUint32(b.stopWord())&C.GO_STOP_CLOSE != 0 {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return errnoOf(rc) // someone else interrupted the handle
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
	b.closeMu.Lock()
	defer b.closeMu.Unlock()
	if b.h == nil {
		return nil
	}
	// End a wait in progress at once; a call that starts waiting later sees
	// the bit. Only Close frees the handle, and closeMu is held.
	atomic.OrUint32(b.stopWord(), C.GO_STOP_CLOSE)
	C.go_interrupt(b.hp)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.cleanup.Stop()
	rc := closeChannel(b.h, b.st)
	C.free(unsafe.Pointer(b.st))
	if b.lens != nil {
		C.free(unsafe.Pointer(b.lens))
	}
	b.h, b.st, b.hp, b.sp, b.lens, b.nlens = nil, nil, 0, 0, nil, 0
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
	if o.anyOwner {
		return nil, invalid(full, "the AnyOwner option applies to OpenWriter and OpenReader")
	}
	if err := checkCapacity(full, capacity); err != nil {
		return nil, err
	}
	mode, err := o.createMode(full)
	if err != nil {
		return nil, err
	}
	readers := o.readers
	if readers == 0 {
		readers = 1
	}
	if readers < 1 || readers > MaxReaders {
		return nil, invalid(full, fmt.Sprintf("Readers(%d) out of range 1..%d", o.readers, MaxReaders))
	}
	if readers > 1 && o.fanout == FanoutOne {
		return nil, invalid(full, fmt.Sprintf("Readers(%d) needs Broadcast() or Queue() to say how messages reach the readers", readers))
	}
	writers := o.writers
	if writers == 0 {
		writers = 1
	}
	if writers < 1 || writers > MaxWriters {
		return nil, invalid(full, fmt.Sprintf("Writers(%d) out of range 1..%d", o.writers, MaxWriters))
	}
	if writers > 1 && o.fanout == FanoutBroadcast {
		return nil, invalid(full, fmt.Sprintf("Writers(%d) does not combine with Broadcast() (a many-writers channel has one reader or a Queue of readers)", writers))
	}
	if o.server {
		return nil, invalid(full, "the Workers and Clients options apply to Listen")
	}
	cs := C.CString(addr)
	defer C.free(unsafe.Pointer(cs))
	cfg := C.shmlink_channel_config{
		capacity: C.size_t(capacity),
		mode:     C.unsigned(mode),
		readers:  C.unsigned(readers),
		writers:  C.unsigned(writers),
		fanout:   C.shmlink_fanout(o.fanout),
	}
	var h *C.shmlink_channel
	if rc := int(C.shmlink_channel_create_config(cs, &cfg, role, &h)); rc < 0 {
		return nil, opError(op, addr, rc)
	}
	return h, nil
}

func openChannel(op, addr string, role C.shmlink_role, opts []Option) (*C.shmlink_channel, error) {
	o := collect(opts)
	full := op + " " + addr
	kind, err := parseAddress(op, addr)
	if err != nil {
		return nil, err
	}
	if kind == C.SHMLINK_ADDR_SYSV_PRIVATE {
		return nil, invalid(full, "\"sysv:private\" can only be created; open a private channel by its \"sysv-id:N\" address")
	}
	if o.readOnly {
		return nil, invalid(full, "the ReadOnly option does not apply to channels")
	}
	if o.modeSet {
		return nil, invalid(full, "the WithMode option applies to creating a channel, not opening one")
	}
	if o.server {
		return nil, invalid(full, "the Workers and Clients options apply to Listen")
	}
	if o.fanoutSet() {
		return nil, invalid(full, "the Readers, Writers, Broadcast and Queue options apply to creating a channel; a reader or writer joins it as it was made")
	}
	var flags C.unsigned
	if o.anyOwner {
		flags |= C.SHMLINK_ANY_OWNER
	}
	cs := C.CString(addr)
	defer C.free(unsafe.Pointer(cs))
	var h *C.shmlink_channel
	rc := int(C.shmlink_channel_open_flags(cs, role, flags, &h))
	if rc == -int(syscall.EPERM) && !o.anyOwner {
		return nil, ownerError(op, addr)
	}
	if rc < 0 {
		return nil, opError(op, addr, rc)
	}
	return h, nil
}

// ownerError explains the refusal of a channel that belongs to another
// user, and how to open it anyway.
func ownerError(op, addr string) error {
	owner := "another user"
	if st, err := StatAddress(addr); err == nil {
		owner = fmt.Sprintf("uid %d", st.UID)
	}
	return fmt.Errorf("shmlink: %s %s: the channel belongs to %s, not to this process's user (uid %d) or root, "+
		"and a channel of another user could feed forged messages or take what is sent; "+
		"if that user is trusted, open it with the shmlink.AnyOwner() option: %w",
		op, addr, owner, os.Geteuid(), errnoError{syscall.EPERM})
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
// time: a call waiting in Send, SendBatch or Reserve then returns an error
// wrapping ErrClosed at once. After Close every method returns an error
// wrapping ErrClosed (fs.ErrClosed).
//
// Closing the Writer marks the end of the stream. A Writer that becomes
// unreachable without Close is closed by the garbage collector as a safety
// net, which also marks the end of the stream; do not rely on it. Closing
// does not remove the segment: the creator removes it with Remove(addr)
// once both sides are done.
//
// A Writer is an io.Writer: each Write sends p as one message, the way a
// datagram socket's Write sends one datagram (so fmt.Fprintf(w, ...) sends
// one message). Write does not split p: a p larger than MaxMessage fails.
// Do not wrap a Writer in a bufio.Writer, which cuts messages anywhere.
type Writer struct {
	chanBase
	resv int // length of the open reservation, -1 for none
}

var _ io.Writer = (*Writer)(nil)

func newWriter(h *C.shmlink_channel) *Writer {
	w := &Writer{resv: -1}
	w.init(h)
	w.cleanup = runtime.AddCleanup(w, chanCleanup, chanCleanupArg{w.h, w.st})
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
// writer holds the role), ErrProtocol (not a shmlink channel, or another
// protocol version) and fs.ErrPermission (no access, or the channel
// belongs to another user: see AnyOwner). Options: AnyOwner.
func OpenWriter(addr string, opts ...Option) (*Writer, error) {
	h, err := openChannel("open writer", addr, C.SHMLINK_WRITER, opts)
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

// Fanout reports how the channel's messages reach its readers (FanoutOne
// for a 1:1 channel; FanoutOne after Close).
func (w *Writer) Fanout() Fanout {
	f, _ := w.fanoutOf()
	return f
}

// Slot returns the writer slot this writer holds: 0..Writers()-1 on a
// channel made with Writers(n) (a creating writer holds 0, each OpenWriter
// the first free one), 0 on any other channel and after Close.
func (w *Writer) Slot() int {
	_, slot := w.fanoutOf()
	return slot
}

// Writers returns the number of writer slots of the channel (1 unless it
// was made with Writers(n); 0 after Close).
func (w *Writer) Writers() int { return w.writerSlots() }

// Send copies p into the channel as one message, waiting without limit
// while the channel is full. It fails with an error matching ErrPeerDead
// (and syscall.EPIPE) when the reader died or closed its end, and with one
// matching syscall.EMSGSIZE when len(p) > MaxMessage.
func (w *Writer) Send(p []byte) error { return w.send(context.Background(), forever, p) }

// SendTimeout is Send waiting at most d (d <= 0: not at all); when that
// passes it fails with an error matching os.ErrDeadlineExceeded.
func (w *Writer) SendTimeout(p []byte, d time.Duration) error {
	return w.send(context.Background(), max(d, noWait), p)
}

// SendContext is Send waiting until ctx is done; it then fails at once with
// an error wrapping ctx.Err() (context.Canceled or
// context.DeadlineExceeded), and nothing is sent. If ctx is done already
// nothing is sent either.
func (w *Writer) SendContext(ctx context.Context, p []byte) error {
	if ctx == nil {
		panic("shmlink: SendContext with a nil context")
	}
	return w.send(ctx, forever, p)
}

// Write sends p as one message (see Writer) and returns len(p), or 0 and
// the error of Send.
func (w *Writer) Write(p []byte) (int, error) {
	if err := w.send(context.Background(), forever, p); err != nil {
		return 0, err
	}
	return len(p), nil
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
	rc, err := w.call(ctx, timeout, opSend, unsafe.Pointer(unsafe.SliceData(p)), len(p), nil, 0)
	runtime.KeepAlive(p)
	if err != nil || rc < 0 {
		return w.waitError(opSend, rc, err)
	}
	return nil
}

// SendBatch sends msgs in order, each as one message, waiting without
// limit while the channel is full, and returns how many were sent. It
// crosses from Go into C once for every 16 messages rather than once for
// each, and copies each message once (into the ring), so a stream of small
// messages costs close to what the same sends cost in C instead of a cgo
// call each; it is the writer's counterpart of Reader.RecvBatch. If a message fails (errors as Send: too large, the
// reader gone, Close), the ones before it have been sent and n says how
// many; the rest are not.
func (w *Writer) SendBatch(msgs [][]byte) (n int, err error) {
	for i, m := range msgs {
		if len(m) > w.maxMsg {
			// Checked first so that nothing is sent; the error names the
			// message.
			return 0, fmt.Errorf("shmlink: send batch %s: message %d: %d bytes is larger than the channel's maximum of %d: %w",
				w.addr, i, len(m), w.maxMsg, errnoError{syscall.EMSGSIZE})
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.h == nil {
		return 0, closedError("send batch", w.addr)
	}
	if w.resv >= 0 {
		return 0, w.reservationOpen("send batch")
	}
	var lens [batchMax]C.size_t
	var p [batchMax]*C.uint8_t
	for n < len(msgs) {
		k := min(len(msgs)-n, batchMax)
		for i, m := range msgs[n : n+k] {
			p[i], lens[i] = bytePtr(m), C.size_t(len(m))
		}
		rc := int(C.go_send_batch(w.hp, w.sp, &lens[0], C.size_t(k), forever,
			p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7],
			p[8], p[9], p[10], p[11], p[12], p[13], p[14], p[15]))
		n += int(w.st.len)
		if rc < 0 {
			return n, fmt.Errorf("shmlink: send batch %s: message %d: %w", w.addr, n, w.waitUnwrap(rc))
		}
	}
	runtime.KeepAlive(msgs)
	return n, nil
}

// waitUnwrap is the error to wrap for a C result of a waiting call.
func (b *chanBase) waitUnwrap(rc int) error {
	if err := b.canceled(rc, context.Background()); err != nil {
		return err
	}
	return errnoOf(rc)
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
// it, past that point. (If it is used after Close all the same, it reads
// zeros and its writes reach nobody, as Segment.Bytes describes; between
// Commit and Close it still points into the ring, where writes corrupt
// later messages.)
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
	rc, err := w.call(context.Background(), forever, opReserve, nil, n, nil, 0)
	if err != nil || rc < 0 {
		return nil, w.waitError(opReserve, rc, err)
	}
	w.resv = n
	if w.st.zc == 0 {
		w.st.zc = C.uintptr_t(uintptr(w.st.wptr))
	}
	return unsafe.Slice((*byte)(w.st.wptr), n), nil
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
	rc := int(C.go_commit(w.hp, C.size_t(n)))
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
	rc := int(C.go_abort(w.hp))
	if rc < 0 {
		return opError("abort", w.addr, rc)
	}
	w.resv = -1
	return nil
}

// Close marks the end of the stream (the reader gets every message sent
// before, then io.EOF), drops an open reservation, releases the writer's
// role and unmaps the segment. It is idempotent; a second Close returns nil.
// A Send, SendBatch or Reserve waiting in another goroutine returns
// ErrClosed first, at once.
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
	r.cleanup = runtime.AddCleanup(r, chanCleanup, chanCleanupArg{r.h, r.st})
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
// first unconsumed message. Errors and options as OpenWriter.
func OpenReader(addr string, opts ...Option) (*Reader, error) {
	h, err := openChannel("open reader", addr, C.SHMLINK_READER, opts)
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

// Fanout reports how the channel's messages reach its readers and which
// reader slot this reader holds (0 for a 1:1 channel; FanoutOne, 0 after
// Close).
func (r *Reader) Fanout() (Fanout, int) { return r.fanoutOf() }

// Writers returns the number of writer slots of the channel (1 unless it
// was made with Writers(n); 0 after Close).
func (r *Reader) Writers() int { return r.writerSlots() }

// Source returns the writer slot the message last returned by Recv,
// RecvInto, RecvContext, Peek or RecvBatch came from (a batch comes from
// one writer): 0..Writers()-1, always 0 on a channel with one writer, and
// 0 after Close.
func (r *Reader) Source() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.h == nil {
		return 0
	}
	return int(C.shmlink_channel_source(r.h))
}

// Recv copies the next message into buf and returns its length, waiting
// without limit while the channel is empty.
//
// At the end of the stream (the writer closed and every message was read)
// it returns 0, io.EOF. If the writer died, every committed message is
// still delivered, then the error matches ErrPeerDead (within 1 s). If buf
// is too small, the message stays in the channel and Recv returns the size
// needed with an error matching io.ErrShortBuffer and syscall.EMSGSIZE.
func (r *Reader) Recv(buf []byte) (int, error) { return r.recv(context.Background(), forever, buf) }

// RecvTimeout is Recv waiting at most d (d <= 0: not at all); when that
// passes it fails with an error matching os.ErrDeadlineExceeded.
func (r *Reader) RecvTimeout(buf []byte, d time.Duration) (int, error) {
	return r.recv(context.Background(), max(d, noWait), buf)
}

// RecvInto is Recv waiting until ctx is done: it copies the next message
// into buf and returns its length. When ctx is done first it fails at once
// with an error wrapping ctx.Err(), and the message stays in the channel.
// End of stream, peer death and a buffer too small are reported as by Recv.
func (r *Reader) RecvInto(ctx context.Context, buf []byte) (int, error) {
	if ctx == nil {
		panic("shmlink: RecvInto with a nil context")
	}
	return r.recv(ctx, forever, buf)
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
	rc, err := r.call(ctx, timeout, opRecv, unsafe.Pointer(unsafe.SliceData(buf)), len(buf), nil, 0)
	runtime.KeepAlive(buf)
	if err != nil || rc < 0 {
		return r.recvError(opRecv, rc, err, len(buf))
	}
	return int(r.st.len), nil
}

// recvError turns a failed receive into Recv's results.
func (r *Reader) recvError(op chanOp, rc int, err error, have int) (int, error) {
	switch {
	case err != nil:
		return 0, r.waitError(op, rc, err)
	case rc == -int(syscall.ENODATA):
		return 0, io.EOF
	case rc == -int(syscall.EMSGSIZE):
		need := int(r.st.len)
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
// is done; it then fails at once with an error wrapping ctx.Err(), and the
// message stays in the channel. End of stream and peer death are reported
// as by Recv. RecvInto receives into a buffer of the caller's instead.
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
	rc, err := r.call(ctx, forever, opPeek, nil, 0, nil, 0)
	if err != nil || rc < 0 {
		_, err = r.recvError(opRecv, rc, err, 0)
		return nil, err
	}
	msg := make([]byte, int(r.st.len))
	copy(msg, unsafe.Slice((*byte)(r.st.rptr), len(msg)))
	if rc := int(C.go_release(r.hp)); rc < 0 {
		return nil, opError("recv", r.addr, rc)
	}
	return msg, nil
}

// Messages returns an iterator over the messages of the channel, for use
// in a range loop:
//
//	for msg, err := range r.Messages(ctx) {
//		if err != nil {
//			return err // ctx done (wraps ctx.Err()), ErrPeerDead, ErrClosed, ...
//		}
//		process(msg)
//	}
//
// The loop ends at the end of the stream (no error is yielded: the writer
// closed and every message was read). Any other failure is yielded once,
// with a nil msg, and ends the loop. A message the loop received is
// consumed, also when the loop body breaks out.
//
// msg is a buffer of the iterator's that the next message overwrites
// (like bufio.Scanner.Bytes): use it in the loop body, and copy it
// (bytes.Clone) to keep it. The buffer starts at up to 64 KiB and grows
// to fit a larger message. The iterator calls RecvInto, so it costs one
// crossing into C per message and no allocation; RecvBatch takes many
// messages per crossing. Only one loop at a time should range over a
// Reader.
func (r *Reader) Messages(ctx context.Context) iter.Seq2[[]byte, error] {
	if ctx == nil {
		panic("shmlink: Messages with a nil context")
	}
	return func(yield func([]byte, error) bool) {
		buf := make([]byte, min(r.maxMsg, 64<<10))
		for {
			n, err := r.RecvInto(ctx, buf)
			if err == io.EOF {
				return
			}
			if errors.Is(err, io.ErrShortBuffer) && n > len(buf) {
				buf = make([]byte, n)
				continue
			}
			if err != nil {
				yield(nil, err)
				return
			}
			if !yield(buf[:n], nil) {
				return
			}
		}
	}
}

// Peek waits (without limit) for the next message and returns it in place,
// without copying; Release consumes it. Until then Peek returns the same
// message again.
//
// The slice is shared memory that the writer reuses after Release: it is
// valid only until Release or Close, and only while the Reader is
// reachable. Do not write to it, and do not keep it, or any slice of it,
// past Release: until Close it shows whatever the writer puts there next.
// (After Close it reads zeros, as Segment.Bytes describes.) End of stream
// and peer death are reported as by Recv.
func (r *Reader) Peek() ([]byte, error) { return r.peek(context.Background()) }

// PeekContext is Peek waiting until ctx is done (see RecvInto).
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
	rc, err := r.call(ctx, forever, opPeek, nil, 0, nil, 0)
	if err != nil || rc < 0 {
		_, err = r.recvError(opPeek, rc, err, 0)
		return nil, err
	}
	r.peeking = true
	if r.st.zc == 0 {
		r.st.zc = C.uintptr_t(uintptr(r.st.rptr))
	}
	return unsafe.Slice((*byte)(r.st.rptr), int(r.st.len)), nil
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
	rc := int(C.go_release(r.hp))
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
	lens := (*C.size_t)(unsafe.Pointer(unsafe.SliceData(sizes)))
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
		lens = r.lens
	}
	rc, err := r.call(context.Background(), forever, opBatch, unsafe.Pointer(unsafe.SliceData(buf)), len(buf), lens, len(sizes))
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
			r.st.len = C.size_t(sizes[0])
		}
		_, err = r.recvError(opBatch, rc, err, len(buf))
		return 0, err
	}
	return rc, nil
}

// Close releases the reader's role and unmaps the segment; a writer then
// gets ErrPeerDead. It is idempotent; a second Close returns nil. A call
// waiting in another goroutine returns ErrClosed first, at once.
func (r *Reader) Close() error { return r.close() }

// WriterSlot is one writer slot of a channel as WriterSlots reads it. A
// channel made with Writers(n) has n, a server's address (Listen) one per
// client, any other channel one: its writer.
type WriterSlot struct {
	Slot int
	// PID is the pid the holder recorded (in its own pid namespace); 0
	// when the slot was never held or was given up with Close.
	PID int
	// Alive is 1 while a live process holds the slot, 0 when it is free
	// (with a PID: its holder died), -1 when the core cannot tell.
	Alive int
	// Closed: the slot's last holder closed it (the end of its stream).
	Closed bool
	// Position is the write position of the slot's ring: bytes ever
	// committed.
	Position uint64
	// Used is what the ring holds that readers have not taken yet: not
	// read (one reader), not taken (Queue; a peeked message is taken), not
	// read by the slowest joined live reader (Broadcast); 0 when the
	// positions in the segment contradict each other.
	Used         uint64
	MessagesSent uint64
	// ReplyKind and ReplyID name the reply channel a call client stored
	// (docs/PROTOCOL.md 13.5): 0 none, 1 POSIX ("<address>.r<slot>"), 2
	// System V ("sysv-id:<ReplyID>"). They are reported as stored, so any
	// other kind is a corrupt value; a closed slot keeps them (its client
	// removed that channel).
	ReplyKind int
	ReplyID   uint32
}

// WriterSlots lists the writer slots of the channel at addr: who holds
// each, whether that process lives (the slot's kernel lock), and its ring.
// Like Segment.Stat it maps the segment read-only (a System V segment is
// attached read-only, which sets its last-attach pid and time) and takes
// no role. The error matches fs.ErrNotExist when there is no segment and
// ErrProtocol when it holds no channel.
func WriterSlots(addr string) ([]WriterSlot, error) {
	kind, err := parseAddress("writer slots", addr)
	if err != nil {
		return nil, err
	}
	if kind == C.SHMLINK_ADDR_SYSV_PRIVATE {
		return nil, invalid("writer slots "+addr, "\"sysv:private\" names no segment; use its \"sysv-id:N\" address")
	}
	cs := C.CString(addr)
	defer C.free(unsafe.Pointer(cs))
	var infos [MaxWriters]C.shmlink_writer_slot_info
	rc := int(C.shmlink_channel_writer_slots(cs, &infos[0], C.size_t(len(infos))))
	if rc < 0 {
		return nil, opError("writer slots", addr, rc)
	}
	slots := make([]WriterSlot, min(rc, len(infos)))
	for i := range slots {
		x := &infos[i]
		slots[i] = WriterSlot{
			Slot:         int(x.slot),
			PID:          int(x.pid),
			Alive:        int(x.alive),
			Closed:       x.closed != 0,
			Position:     uint64(x.position),
			Used:         uint64(x.used),
			MessagesSent: uint64(x.messages_sent),
			ReplyKind:    int(x.reply_kind),
			ReplyID:      uint32(x.reply_id),
		}
	}
	return slots, nil
}
