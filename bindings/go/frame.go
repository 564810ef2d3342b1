//go:build linux && cgo

package shmlink

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"reflect"
	"strconv"
	"strings"
	"unsafe"
)

// Typed frames: an array's element type and shape carried with its bytes in
// one message (docs/PROTOCOL.md, section 14). A frame is an ordinary
// message whose payload starts with a header; Python reads it as a
// numpy.ndarray (Reader.peek_frame), Go with PeekFrame.

// DType is a frame's element type, spelled as numpy's array-interface type
// string: byte order ('<' little endian, '>' big endian, '|' for one-byte
// types), kind and size in bytes, e.g. "<f4". The constants are the
// little-endian types; big-endian strings such as ">f4" are valid too.
type DType string

// The element types a frame can carry.
const (
	Bool       DType = "|b1"
	Int8       DType = "|i1"
	Uint8      DType = "|u1"
	Int16      DType = "<i2"
	Uint16     DType = "<u2"
	Int32      DType = "<i4"
	Uint32     DType = "<u4"
	Int64      DType = "<i8"
	Uint64     DType = "<u8"
	Float16    DType = "<f2"
	Float32    DType = "<f4"
	Float64    DType = "<f8"
	Complex64  DType = "<c8"
	Complex128 DType = "<c16"
)

// ErrBadFrame is matched (errors.Is) by the error of a message that is not
// a valid frame, and of a DType or shape a frame cannot carry.
var ErrBadFrame = errors.New("shmlink: not a valid frame")

const (
	frameMagic   = "SLF1"
	frameHeader  = 24 // the fixed part; 8 bytes per dimension follow
	frameMaxNdim = 32
	frameAlign   = 64 // writers start the data on a 64-byte boundary of the ring
)

// Valid reports whether a frame can carry d.
func (d DType) Valid() bool {
	s := string(d)
	if len(s) < 3 {
		return false
	}
	switch s[1:] {
	case "b1", "i1", "u1":
		return s[0] == '|'
	case "i2", "i4", "i8", "u2", "u4", "u8", "f2", "f4", "f8", "c8", "c16":
		return s[0] == '<' || s[0] == '>'
	}
	return false
}

// Size returns the size of one element in bytes (0 for an invalid DType).
func (d DType) Size() int {
	if !d.Valid() {
		return 0
	}
	n, _ := strconv.Atoi(string(d[2:]))
	return n
}

func badFrame(what string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadFrame, fmt.Sprintf(what, args...))
}

// frameBytes checks shape and returns the data size of a frame of d.
func frameBytes(d DType, shape []int) (int, error) {
	if !d.Valid() {
		return 0, badFrame("dtype %q is not one a frame carries (bool, integers, floats, complex)", string(d))
	}
	if len(shape) > frameMaxNdim {
		return 0, badFrame("shape %v has %d dimensions, at most %d", shape, len(shape), frameMaxNdim)
	}
	n := uint64(d.Size())
	for _, s := range shape {
		if s < 0 {
			return 0, badFrame("shape %v has a negative dimension", shape)
		}
		hi, lo := bits.Mul64(n, uint64(s))
		if hi != 0 || lo > math.MaxInt {
			return 0, badFrame("shape %v of %s is too large", shape, string(d))
		}
		n = lo
	}
	return int(n), nil
}

// encodeFrameHeader writes the header into p (at least 24 + 8*ndim bytes).
func encodeFrameHeader(p []byte, d DType, shape []int, off int) {
	copy(p[0:4], frameMagic)
	p[4] = byte(len(shape))
	p[5], p[6], p[7] = 0, 0, 0
	binary.LittleEndian.PutUint32(p[8:12], uint32(off))
	binary.LittleEndian.PutUint32(p[12:16], 0)
	clear(p[16:24])
	copy(p[16:24], d)
	for i, s := range shape {
		binary.LittleEndian.PutUint64(p[frameHeader+8*i:], uint64(s))
	}
}

// decodeFrame checks the frame in message p; it returns the dtype, shape
// and where the data is. Every failure wraps ErrBadFrame.
func decodeFrame(p []byte) (DType, []int, int, error) {
	if len(p) < frameHeader {
		return "", nil, 0, badFrame("the message has %d bytes, fewer than the %d of a frame header", len(p), frameHeader)
	}
	if string(p[0:4]) != frameMagic {
		return "", nil, 0, badFrame("bad magic %q (expected %q)", p[0:4], frameMagic)
	}
	ndim := int(p[4])
	if ndim > frameMaxNdim {
		return "", nil, 0, badFrame("ndim %d is larger than %d", ndim, frameMaxNdim)
	}
	if p[5]|p[6]|p[7] != 0 || binary.LittleEndian.Uint32(p[12:16]) != 0 {
		return "", nil, 0, badFrame("reserved header bytes are not zero")
	}
	need := frameHeader + 8*ndim
	if len(p) < need {
		return "", nil, 0, badFrame("%d dimensions need a %d-byte header, the message has %d bytes", ndim, need, len(p))
	}
	off := uint64(binary.LittleEndian.Uint32(p[8:12]))
	if off < uint64(need) || off > uint64(len(p)) {
		return "", nil, 0, badFrame("data offset %d is outside %d..%d (the header's end .. the message's length)", off, need, len(p))
	}
	raw := string(p[16:24])
	name := strings.TrimRight(raw, "\x00")
	d := DType(name)
	if strings.IndexByte(name, 0) >= 0 || !d.Valid() {
		return "", nil, 0, badFrame("unknown dtype %q", raw)
	}
	shape := make([]int, ndim)
	n, overflow := uint64(d.Size()), false
	for i := range shape {
		s := binary.LittleEndian.Uint64(p[frameHeader+8*i:])
		hi, lo := bits.Mul64(n, s)
		overflow = overflow || hi != 0 || s > math.MaxInt
		n = lo
		shape[i] = int(s & math.MaxInt)
	}
	if overflow || n != uint64(len(p))-off {
		return "", nil, 0, badFrame("shape %v of %s does not match the %d bytes after the data offset %d", shapeString(p, ndim), name, uint64(len(p))-off, off)
	}
	return d, shape, int(off), nil
}

func shapeString(p []byte, ndim int) string {
	dims := make([]string, ndim)
	for i := range dims {
		dims[i] = strconv.FormatUint(binary.LittleEndian.Uint64(p[frameHeader+8*i:]), 10)
	}
	return "(" + strings.Join(dims, ", ") + ")"
}

// Frame is a typed frame looked at in place by PeekFrame.
type Frame struct {
	DType DType
	Shape []int
	// Data is the array's bytes in C (row-major) order, in the ring: valid
	// until Release or Close, like the slice Peek returns.
	Data []byte
}

// Len returns the number of elements (1 for a 0-dimensional frame).
func (f Frame) Len() int {
	n := 1
	for _, s := range f.Shape {
		n *= s
	}
	return n
}

// ReserveFrame reserves a frame of d and shape in the ring, writes its
// header and returns the room for its data (Size()*product(shape) bytes,
// starting on a 64-byte boundary), to be filled in place; CommitFrame
// publishes it, Abort drops it. The slice follows the rules of Reserve's.
// A DType or shape a frame cannot carry fails with ErrBadFrame; a frame
// larger than the channel's maximum message with syscall.EMSGSIZE.
func (w *Writer) ReserveFrame(d DType, shape ...int) ([]byte, error) {
	data, _, err := w.reserveFrame(d, shape)
	return data, err
}

func (w *Writer) reserveFrame(d DType, shape []int) ([]byte, int, error) {
	nbytes, err := frameBytes(d, shape)
	if err != nil {
		return nil, 0, fmt.Errorf("shmlink: reserve frame %s: %w", w.addr, err)
	}
	head := frameHeader + 8*len(shape)
	most := head + frameAlign - 8 + nbytes // the payload starts 8 past a multiple of 8
	if nbytes > w.maxMsg || most > w.maxMsg {
		return nil, 0, w.tooLarge("reserve frame", most)
	}
	buf, err := w.Reserve(most)
	if err != nil {
		return nil, 0, err
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
	off := head + int((frameAlign-(start+uintptr(head))%frameAlign)%frameAlign)
	encodeFrameHeader(buf, d, shape, off)
	return buf[off : off+nbytes : off+nbytes], off + nbytes, nil
}

// CommitFrame publishes the frame reserved by ReserveFrame. It fails, and
// the reservation stays open (Abort drops it), when the open reservation
// was not made by ReserveFrame or its header was overwritten.
func (w *Writer) CommitFrame() error {
	w.mu.Lock()
	if w.h == nil {
		w.mu.Unlock()
		return closedError("commit frame", w.addr)
	}
	if w.resv < 0 {
		w.mu.Unlock()
		return invalid("commit frame "+w.addr, "no reservation is open (call ReserveFrame first)")
	}
	resv := unsafe.Slice((*byte)(w.st.wptr), w.resv)
	length, err := reservedFrameLength(resv)
	w.mu.Unlock()
	if err != nil {
		return fmt.Errorf("shmlink: commit frame %s: the open reservation does not hold a frame made by ReserveFrame: %w", w.addr, err)
	}
	return w.Commit(length)
}

// reservedFrameLength reads the header at the start of a reservation and
// returns the frame's length: the data offset plus the data size.
func reservedFrameLength(p []byte) (int, error) {
	if len(p) < frameHeader || string(p[0:4]) != frameMagic {
		return 0, badFrame("no frame header")
	}
	ndim := int(p[4])
	if ndim > frameMaxNdim || len(p) < frameHeader+8*ndim {
		return 0, badFrame("bad ndim %d", ndim)
	}
	d := DType(strings.TrimRight(string(p[16:24]), "\x00"))
	shape := make([]int, ndim)
	for i := range shape {
		s := binary.LittleEndian.Uint64(p[frameHeader+8*i:])
		if s > math.MaxInt {
			return 0, badFrame("bad shape")
		}
		shape[i] = int(s)
	}
	nbytes, err := frameBytes(d, shape)
	if err != nil {
		return 0, err
	}
	off := int(binary.LittleEndian.Uint32(p[8:12]))
	if off < frameHeader+8*ndim || off > len(p) || nbytes > len(p)-off {
		return 0, badFrame("data offset %d and %d bytes of data do not fit the %d reserved", off, nbytes, len(p))
	}
	return off + nbytes, nil
}

// Elem is the Go element types of frames: T's DType is the matching
// little-endian (big-endian on a big-endian machine) type.
type Elem interface {
	~bool | ~int8 | ~uint8 | ~int16 | ~uint16 | ~int32 | ~uint32 | ~int64 | ~uint64 |
		~float32 | ~float64 | ~complex64 | ~complex128
}

var nativeOrder = func() byte {
	x := uint16(1)
	if *(*byte)(unsafe.Pointer(&x)) == 1 {
		return '<'
	}
	return '>'
}()

// DTypeOf returns the DType of T in this machine's byte order.
func DTypeOf[T Elem]() DType {
	var kind string
	switch reflect.TypeFor[T]().Kind() {
	case reflect.Bool:
		return Bool
	case reflect.Int8:
		return Int8
	case reflect.Uint8:
		return Uint8
	case reflect.Int16, reflect.Int32, reflect.Int64:
		kind = "i"
	case reflect.Uint16, reflect.Uint32, reflect.Uint64:
		kind = "u"
	case reflect.Float32, reflect.Float64:
		kind = "f"
	default: // complex64, complex128
		kind = "c"
	}
	var zero T
	return DType(string(nativeOrder) + kind + strconv.Itoa(int(unsafe.Sizeof(zero))))
}

// SendFrame sends data as one frame of T's DType and the given shape (one
// dimension of len(data) when shape is empty), copying it in once; the
// product of shape must be len(data). It waits for room like Send. (A
// 0-dimensional frame: ReserveFrameOf[T](w) with no shape, then
// CommitFrame.)
func SendFrame[T Elem](w *Writer, data []T, shape ...int) error {
	if len(shape) == 0 {
		shape = []int{len(data)}
	}
	d := DTypeOf[T]()
	nbytes, err := frameBytes(d, shape)
	if err != nil {
		return fmt.Errorf("shmlink: send frame %s: %w", w.addr, err)
	}
	if nbytes != len(data)*d.Size() {
		return fmt.Errorf("shmlink: send frame %s: %w", w.addr,
			badFrame("shape %v holds %d elements, the slice %d", shape, nbytes/max(d.Size(), 1), len(data)))
	}
	buf, length, err := w.reserveFrame(d, shape)
	if err != nil {
		return err
	}
	copy(buf, unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(data))), nbytes))
	return w.Commit(length)
}

// ReserveFrameOf is ReserveFrame of T's DType, returning the data as a
// []T to fill in place (CommitFrame publishes it).
func ReserveFrameOf[T Elem](w *Writer, shape ...int) ([]T, error) {
	d := DTypeOf[T]()
	buf, err := w.ReserveFrame(d, shape...)
	if err != nil || len(buf) == 0 {
		return []T{}, err
	}
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(buf))), len(buf)/d.Size()), nil
}

// PeekFrame waits (without limit) for the next message and returns it as
// a frame, in place: Release consumes it, and Frame.Data follows the
// rules of Peek's slice. A message that is not a valid frame is consumed
// and reported with an error matching ErrBadFrame. End of stream and peer
// death are reported as by Recv.
func (r *Reader) PeekFrame() (Frame, error) { return r.PeekFrameContext(context.Background()) }

// PeekFrameContext is PeekFrame waiting until ctx is done (see RecvInto).
func (r *Reader) PeekFrameContext(ctx context.Context) (Frame, error) {
	p, err := r.PeekContext(ctx)
	if err != nil {
		return Frame{}, err
	}
	d, shape, off, err := decodeFrame(p)
	if err != nil {
		if rerr := r.Release(); rerr != nil {
			return Frame{}, errors.Join(fmt.Errorf("shmlink: peek frame %s: %w", r.addr, err), rerr)
		}
		return Frame{}, fmt.Errorf("shmlink: peek frame %s: %w", r.addr, err)
	}
	return Frame{DType: d, Shape: shape, Data: p[off:len(p):len(p)]}, nil
}

// FrameData returns f's data as a []T, in place: it fails with ErrBadFrame
// unless f's DType is T's (in this machine's byte order) and the data is
// aligned for T.
func FrameData[T Elem](f Frame) ([]T, error) {
	d := DTypeOf[T]()
	if f.DType != d {
		return nil, badFrame("the frame holds %s, not %s", string(f.DType), string(d))
	}
	if len(f.Data) == 0 {
		return []T{}, nil
	}
	var zero T
	if uintptr(unsafe.Pointer(unsafe.SliceData(f.Data)))%unsafe.Alignof(zero) != 0 {
		return nil, badFrame("the frame's data is not aligned for %s", string(d))
	}
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(f.Data))), len(f.Data)/d.Size()), nil
}
