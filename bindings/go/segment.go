//go:build linux

package shmlink

/*
#cgo CFLAGS: -O2 -DSHMLINK_STATIC_DEFINE
#cgo LDFLAGS: -lpthread -lrt
#include <stdlib.h>
#include "shmlink.h"
*/
import "C"

import (
	"fmt"
	"io"
	"io/fs"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// Option configures Create or Open.
type Option func(*options)

type options struct {
	mode     fs.FileMode
	modeSet  bool
	readOnly bool
	anyOwner bool
	readers  int    // 0: not set
	writers  int    // 0: not set
	fanout   Fanout // FanoutOne unless Broadcast or Queue
	workers  int    // Listen only; 0: not set
	clients  int    // Listen only; 0: not set
	server   bool   // Workers or Clients was given
}

// fanoutSet reports whether Readers, Writers, Broadcast or Queue was given.
func (o *options) fanoutSet() bool {
	return o.readers != 0 || o.writers != 0 || o.fanout != FanoutOne
}

// createMode is the mode a create applies: WithMode's, checked to hold only
// permission bits, or the default 0600. op names the call in the error.
func (o *options) createMode(op string) (fs.FileMode, error) {
	if !o.modeSet {
		return 0o600, nil
	}
	if o.mode&^fs.FileMode(0o777) != 0 {
		return 0, invalid(op, fmt.Sprintf("mode %#o (%v) has bits outside the permission bits 0777", uint32(o.mode), o.mode))
	}
	return o.mode, nil
}

// WithMode sets the permission bits of a segment made by Create (default
// 0600). They are applied exactly, whatever the umask. Only the bits 0777
// are allowed. Open rejects this option.
func WithMode(mode fs.FileMode) Option {
	return func(o *options) { o.mode, o.modeSet = mode, true }
}

// ReadOnly makes Open map the segment read-only (PROT_READ / SHM_RDONLY):
// WriteAt fails, and writing through Bytes faults. Create rejects this option.
func ReadOnly() Option {
	return func(o *options) { o.readOnly = true }
}

// AnyOwner makes OpenWriter and OpenReader open a channel whatever user
// owns its segment. Without it they open only a channel whose segment
// belongs to the caller's effective user or to root, and refuse any other
// with an error matching fs.ErrPermission (syscall.EPERM): a channel that
// another user made could feed a reader forged messages, or take what a
// writer sends. Pass AnyOwner when the other user is trusted (a service
// account feeding this program, say). The creates and Open reject this
// option.
func AnyOwner() Option {
	return func(o *options) { o.anyOwner = true }
}

// Fanout says how a channel's messages reach its readers.
type Fanout int

// The values are those of the C core's shmlink_fanout (a test checks them).
const (
	FanoutOne       Fanout = 0 // one writer, one reader
	FanoutBroadcast Fanout = 1 // every reader gets every message
	FanoutQueue     Fanout = 2 // each message goes to one reader
)

// String returns "one", "broadcast" or "queue".
func (f Fanout) String() string {
	switch f {
	case FanoutOne:
		return "one"
	case FanoutBroadcast:
		return "broadcast"
	case FanoutQueue:
		return "queue"
	}
	return fmt.Sprintf("Fanout(%d)", int(f))
}

// MaxReaders is the largest number of reader slots of a fan-out channel.
const MaxReaders = 64

// Readers makes CreateWriter or CreateReader create a channel with n
// reader slots (1..MaxReaders); with n > 1, Broadcast or Queue says how
// messages reach them. Readers join with OpenReader (each takes the first
// free slot; ErrBusy when every slot is held by a live process) and leave
// with Close, at any time. One copy of each message is in the ring, whatever
// n is. The open functions reject this option: a reader joins the channel
// as it was made.
func Readers(n int) Option {
	return func(o *options) { o.readers = n }
}

// MaxWriters is the largest number of writer slots of a many-writers
// channel.
const MaxWriters = 64

// Writers makes CreateWriter or CreateReader create a many-writers channel
// with n writer slots (1..MaxWriters), alone (one reader) or with Queue
// and Readers (a work queue fed by many writers); not with Broadcast.
// Each writer has a ring of its own of the channel's capacity: writers join
// with OpenWriter (each takes the first free writer slot; ErrBusy when
// every slot is held by a live process; a creating writer takes slot 0),
// and one that dies between Reserve and Commit holds nobody back. The
// reader gets every committed message exactly once, each writer's in that
// writer's order (Reader.Source tells which slot a message came from), and
// io.EOF only once every ring is drained and the last holder of every
// writer slot closed it (ErrPeerDead if the last holder of some slot
// died); while some slot was never held it keeps waiting. The open
// functions reject this option.
func Writers(n int) Option {
	return func(o *options) { o.writers = n }
}

// Broadcast makes a channel created with Readers(n) a broadcast channel:
// every reader gets every message committed after it joined, in order;
// the writer waits for the slowest live reader; a reader that dies stops
// holding it back within 1 s; with no reader the writer never waits.
func Broadcast() Option {
	return func(o *options) { o.fanout = FanoutBroadcast }
}

// Queue makes a channel created with Readers(n) a work queue: each message
// goes to one reader. Recv and RecvBatch take messages for good; a message
// taken with Peek is acknowledged by Release, and one not released when its
// reader dies (or closes) goes to another reader, before newer messages.
func Queue() Option {
	return func(o *options) { o.fanout = FanoutQueue }
}

// Backend is the operating-system API behind a segment.
type Backend int

// The values are those of the C core's shmlink_backend (a test checks
// them); they are written as numbers so that the documentation shows no
// cgo names.
const (
	BackendPOSIX Backend = 1 // shm_open / mmap
	BackendSysV  Backend = 2 // shmget / shmat
)

// cBackends returns the C core's values of BackendPOSIX and BackendSysV
// (test files cannot use cgo).
func cBackends() (posix, sysv Backend) {
	return C.SHMLINK_BACKEND_POSIX, C.SHMLINK_BACKEND_SYSV
}

func (b Backend) String() string {
	switch b {
	case BackendPOSIX:
		return "posix"
	case BackendSysV:
		return "sysv"
	}
	return fmt.Sprintf("Backend(%d)", int(b))
}

// Stat describes a segment. Times the system does not record for the
// backend, or events that never happened (a System V segment never
// detached), are the zero time.Time.
type Stat struct {
	Backend    Backend
	Address    string      // canonical address, e.g. "posix:/demo", "sysv:0x00001234", "sysv-id:5"
	Size       int64       // bytes
	Mode       fs.FileMode // permission bits
	UID, GID   uint32      // owner
	ModTime    time.Time   // POSIX: last modification
	ChangeTime time.Time   // last change of the object (ctime)

	// System V only (zero for POSIX):
	ShmID                  int
	Key                    uint32 // 0 for IPC_PRIVATE
	Attached               uint64 // current attach count
	CreatorPID, LastPID    int    // creator, last shmat/shmdt
	CreatorUID, CreatorGID uint32
	AttachTime, DetachTime time.Time
}

// Segment is a mapping of a shared-memory segment into this process.
// Its methods are safe for concurrent use; after Close every method
// returns an error wrapping ErrClosed (Bytes returns nil, Size 0) instead
// of touching unmapped memory.
type Segment struct {
	addr     string // canonical address, immutable
	readOnly bool   // immutable

	mu      sync.RWMutex // Close takes it exclusively, every other method shared
	h       *C.shmlink_segment
	data    unsafe.Pointer // what Bytes returns: see release
	size    int
	rel     segRelease
	cleanup runtime.Cleanup
}

// segRelease is what it takes to close a segment's handle and leave zero
// pages where Bytes pointed (see tomb.go).
type segRelease struct {
	h        *C.shmlink_segment
	data     uintptr // the mapping Bytes returns
	size     uintptr
	own      bool // data is the binding's second mapping (POSIX), not the core's
	sysv     bool
	writable bool
}

func (r segRelease) release() {
	switch {
	case r.own:
		if !tombReplace(r.data, r.size, r.writable) {
			unmap(r.data, r.size)
		}
		C.shmlink_segment_close(r.h)
	case r.sysv:
		// Replacing the attachment detaches it; the core's shmdt then
		// finds nothing to detach. Without the zero pages, it detaches.
		tombReplace(r.data, r.size, r.writable)
		C.shmlink_segment_close(r.h)
	default: // POSIX without a second mapping: the core unmaps first
		C.shmlink_segment_close(r.h)
		tombFill(r.data, r.size, r.writable)
	}
}

// Create makes a new segment of size bytes (> 0) at addr and maps it
// read-write. New memory reads zero. It fails with an error matching
// fs.ErrExist if the segment is there already. "sysv:private" makes a new
// IPC_PRIVATE segment whose Address is then "sysv-id:N". Options: WithMode.
func Create(addr string, size int, opts ...Option) (*Segment, error) {
	o := collect(opts)
	op := "create " + addr
	kind, err := parseAddress("create", addr)
	if err != nil {
		return nil, err
	}
	if kind == C.SHMLINK_ADDR_SYSV_ID {
		return nil, invalid(op, "a sysv-id address names an existing segment (use Open, or create \"sysv:private\")")
	}
	if o.readOnly {
		return nil, invalid(op, "the ReadOnly option applies to Open, not Create")
	}
	if o.anyOwner {
		return nil, invalid(op, "the AnyOwner option applies to OpenWriter and OpenReader")
	}
	if o.fanoutSet() {
		return nil, invalid(op, "the Readers, Writers, Broadcast and Queue options apply to creating a channel")
	}
	if o.server {
		return nil, invalid(op, "the Workers and Clients options apply to Listen")
	}
	if size <= 0 {
		return nil, invalid(op, fmt.Sprintf("size %d must be > 0", size))
	}
	mode, err := o.createMode(op)
	if err != nil {
		return nil, err
	}
	cs := C.CString(addr)
	defer C.free(unsafe.Pointer(cs))
	var h *C.shmlink_segment
	if rc := int(C.shmlink_segment_create(cs, C.size_t(size), C.unsigned(mode), &h)); rc < 0 {
		return nil, opError("create", addr, rc)
	}
	return newSegment(h), nil
}

// Open maps an existing segment, its whole size. It fails with an error
// matching fs.ErrNotExist if there is none. Options: ReadOnly.
func Open(addr string, opts ...Option) (*Segment, error) {
	o := collect(opts)
	op := "open " + addr
	kind, err := parseAddress("open", addr)
	if err != nil {
		return nil, err
	}
	if kind == C.SHMLINK_ADDR_SYSV_PRIVATE {
		return nil, invalid(op, "\"sysv:private\" can only be created; open a private segment by its \"sysv-id:N\" address")
	}
	if o.modeSet {
		return nil, invalid(op, "the WithMode option applies to Create, not Open")
	}
	if o.anyOwner {
		return nil, invalid(op, "the AnyOwner option applies to OpenWriter and OpenReader (a raw segment has no owner check)")
	}
	if o.fanoutSet() {
		return nil, invalid(op, "the Readers, Writers, Broadcast and Queue options apply to creating a channel")
	}
	if o.server {
		return nil, invalid(op, "the Workers and Clients options apply to Listen")
	}
	var flags C.unsigned
	if o.readOnly {
		flags |= C.SHMLINK_RDONLY
	}
	cs := C.CString(addr)
	defer C.free(unsafe.Pointer(cs))
	var h *C.shmlink_segment
	if rc := int(C.shmlink_segment_open(cs, flags, &h)); rc < 0 {
		return nil, opError("open", addr, rc)
	}
	return newSegment(h), nil
}

func collect(opts []Option) options {
	var o options
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	return o
}

func newSegment(h *C.shmlink_segment) *Segment {
	s := &Segment{
		addr:     C.GoString(C.shmlink_segment_address(h)),
		readOnly: C.shmlink_segment_readonly(h) != 0,
		h:        h,
		data:     C.shmlink_segment_data(h),
		size:     int(C.shmlink_segment_size(h)),
	}
	s.rel = segRelease{h: h, size: uintptr(s.size), sysv: !strings.HasPrefix(s.addr, "posix:"), writable: !s.readOnly}
	if !s.rel.sysv {
		// The core unmaps its mapping on close; Bytes uses a second one,
		// which Close can turn into zero pages without a gap.
		if d := dupMapping(s.data, uintptr(s.size)); d != nil {
			s.data, s.rel.own = d, true
		}
	}
	s.rel.data = uintptr(s.data)
	// Safety net only: a Segment dropped without Close is unmapped when the
	// garbage collector finds it unreachable.
	s.cleanup = runtime.AddCleanup(s, segRelease.release, s.rel)
	return s
}

// parseAddress checks addr with the C parser and returns its kind, or an
// EINVAL error naming the address.
func parseAddress(op, addr string) (C.shmlink_address_kind, error) {
	if strings.IndexByte(addr, 0) >= 0 {
		return 0, invalid(op, fmt.Sprintf("malformed address %q (contains a NUL byte)", addr))
	}
	cs := C.CString(addr)
	defer C.free(unsafe.Pointer(cs))
	var a C.shmlink_address
	if rc := C.shmlink_address_parse(cs, &a); rc < 0 {
		return 0, invalid(op, fmt.Sprintf("malformed address %q (want posix:/name, /name, sysv:KEY, sysv:private or sysv-id:N)", addr))
	}
	return a.kind, nil
}

// Address returns the canonical address of the segment ("sysv-id:N" for a
// segment created as "sysv:private"). It stays available after Close.
func (s *Segment) Address() string { return s.addr }

// Size returns the size of the mapping in bytes, or 0 after Close.
func (s *Segment) Size() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.h == nil {
		return 0
	}
	return s.size
}

// Bytes returns the mapping itself as a slice: no copy, writes are seen by
// every process that maps the segment. It returns nil after Close.
//
// The slice is valid only until Close, and only while the Segment is
// reachable (keep using s, or call runtime.KeepAlive(s) after the last use
// of the slice): an unreachable Segment may be unmapped by the garbage
// collector's cleanup. For a segment opened ReadOnly the memory is mapped
// read-only and writing through the slice crashes the program; use
// WriteAt, which returns an error instead.
//
// Using the slice after Close is a bug, but not a crash: Close leaves
// private zero pages at its address, so a stale slice reads zeros and its
// writes reach nobody (neither the segment nor memory mapped later). This
// holds for the slices of the last 1024 closed mappings (up to 16 GiB of
// address space); older ones fault like any unmapped memory.
func (s *Segment) Bytes() []byte {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.h == nil {
		return nil
	}
	return unsafe.Slice((*byte)(s.data), s.size)
}

// ReadAt copies bytes of the segment at offset off into p, as io.ReaderAt:
// when fewer than len(p) bytes remain it returns them with io.EOF.
func (s *Segment) ReadAt(p []byte, off int64) (int, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.h == nil {
		return 0, closedError("read", s.addr)
	}
	if off < 0 {
		return 0, invalid("read "+s.addr, fmt.Sprintf("negative offset %d", off))
	}
	if off >= int64(s.size) {
		return 0, io.EOF
	}
	n := copy(p, unsafe.Slice((*byte)(unsafe.Add(s.data, off)), s.size-int(off)))
	runtime.KeepAlive(s)
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// WriteAt copies p into the segment at offset off, as io.WriterAt. Bytes
// that would go past the end are not written, and the error then wraps
// io.ErrShortWrite. A segment opened ReadOnly refuses with an error
// matching fs.ErrPermission.
func (s *Segment) WriteAt(p []byte, off int64) (int, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.h == nil {
		return 0, closedError("write", s.addr)
	}
	if s.readOnly {
		return 0, fmt.Errorf("shmlink: write %s: segment is opened read-only: %w", s.addr, errnoError{syscall.EPERM})
	}
	if off < 0 {
		return 0, invalid("write "+s.addr, fmt.Sprintf("negative offset %d", off))
	}
	n := 0
	if off < int64(s.size) {
		n = copy(unsafe.Slice((*byte)(unsafe.Add(s.data, off)), s.size-int(off)), p)
		runtime.KeepAlive(s)
	}
	if n < len(p) {
		return n, fmt.Errorf("shmlink: write %s: %d bytes at offset %d go past the end of the %d-byte segment: %w",
			s.addr, len(p), off, s.size, io.ErrShortWrite)
	}
	return n, nil
}

// Stat describes the segment (see Stat).
func (s *Segment) Stat() (Stat, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.h == nil {
		return Stat{}, closedError("stat", s.addr)
	}
	var st C.shmlink_stat
	if rc := int(C.shmlink_segment_stat(s.h, &st)); rc < 0 {
		return Stat{}, opError("stat", s.addr, rc)
	}
	return convertStat(&st), nil
}

// Remove removes the segment's name (shm_unlink / IPC_RMID). This and
// other mappings stay valid until closed; the memory is freed after the
// last one goes. It fails with an error matching fs.ErrNotExist if the
// name is gone already, also when a newer segment has taken the name since
// (that one is left alone).
func (s *Segment) Remove() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.h == nil {
		return closedError("remove", s.addr)
	}
	if rc := int(C.shmlink_segment_remove(s.h)); rc < 0 {
		return opError("remove", s.addr, rc)
	}
	return nil
}

// Close unmaps (detaches) this process's view; the segment itself lives on
// until removed. Slices returned by Bytes then read zeros (see Bytes).
// Close is idempotent and always returns nil.
func (s *Segment) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.h == nil {
		return nil
	}
	s.cleanup.Stop()
	s.rel.release()
	s.h, s.data, s.size = nil, nil, 0
	return nil
}

// Remove removes the segment at addr (shm_unlink / IPC_RMID) without
// mapping it. Mappings stay valid until closed.
func Remove(addr string) error {
	kind, err := parseAddress("remove", addr)
	if err != nil {
		return err
	}
	if kind == C.SHMLINK_ADDR_SYSV_PRIVATE {
		return invalid("remove "+addr, "\"sysv:private\" names no segment; remove a private segment by its \"sysv-id:N\" address")
	}
	cs := C.CString(addr)
	defer C.free(unsafe.Pointer(cs))
	if rc := int(C.shmlink_remove(cs)); rc < 0 {
		return opError("remove", addr, rc)
	}
	return nil
}

// StatAddress describes the segment at addr without mapping it.
func StatAddress(addr string) (Stat, error) {
	kind, err := parseAddress("stat", addr)
	if err != nil {
		return Stat{}, err
	}
	if kind == C.SHMLINK_ADDR_SYSV_PRIVATE {
		return Stat{}, invalid("stat "+addr, "\"sysv:private\" names no segment; use its \"sysv-id:N\" address")
	}
	cs := C.CString(addr)
	defer C.free(unsafe.Pointer(cs))
	var st C.shmlink_stat
	if rc := int(C.shmlink_stat_address(cs, &st)); rc < 0 {
		return Stat{}, opError("stat", addr, rc)
	}
	return convertStat(&st), nil
}

// SysVKey turns an existing file and a project byte (1..255) into a System
// V key, like ftok(3). Use it in an address with SysVAddress.
func SysVKey(path string, proj int) (uint32, error) {
	op := "sysv key " + path
	if proj < 1 || proj > 255 {
		return 0, invalid(op, fmt.Sprintf("project id %d out of range 1..255", proj))
	}
	if strings.IndexByte(path, 0) >= 0 {
		return 0, invalid(op, fmt.Sprintf("path %q contains a NUL byte", path))
	}
	cs := C.CString(path)
	defer C.free(unsafe.Pointer(cs))
	var key C.uint32_t
	if rc := int(C.shmlink_sysv_key(cs, C.int(proj), &key)); rc < 0 {
		return 0, opError("sysv key", path, rc)
	}
	return uint32(key), nil
}

// SysVAddress returns the canonical address of a System V key,
// "sysv:0x%08x".
func SysVAddress(key uint32) string { return fmt.Sprintf("sysv:0x%08x", key) }

func unixTime(sec C.int64_t) time.Time {
	if sec == 0 {
		return time.Time{}
	}
	return time.Unix(int64(sec), 0)
}

func convertStat(st *C.shmlink_stat) Stat {
	return Stat{
		Backend:    Backend(st.backend),
		Address:    C.GoString(&st.address[0]),
		Size:       int64(st.size),
		Mode:       fs.FileMode(st.mode & 0o777),
		UID:        uint32(st.uid),
		GID:        uint32(st.gid),
		ModTime:    unixTime(st.mtime),
		ChangeTime: unixTime(st.ctime),
		ShmID:      int(st.shmid),
		Key:        uint32(st.key),
		Attached:   uint64(st.nattch),
		CreatorPID: int(st.cpid),
		LastPID:    int(st.lpid),
		CreatorUID: uint32(st.cuid),
		CreatorGID: uint32(st.cgid),
		AttachTime: unixTime(st.atime),
		DetachTime: unixTime(st.dtime),
	}
}
