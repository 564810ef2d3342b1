//go:build linux && cgo

package shmlink

import (
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"syscall"
	"testing"
	"unsafe"
)

func framePair(t *testing.T, newAddr func() string, capacity int) (*Writer, *Reader) {
	t.Helper()
	w := newTestWriter(t, newAddr, capacity)
	return w, openTestReader(t, w.Address())
}

func peekFrame(t *testing.T, r *Reader) Frame {
	t.Helper()
	f, err := r.PeekFrameContext(t.Context())
	if err != nil {
		t.Fatalf("PeekFrame: %v", err)
	}
	return f
}

func release(t *testing.T, r *Reader) {
	t.Helper()
	if err := r.Release(); err != nil {
		t.Fatalf("Release: %v", err)
	}
}

func checkFrame[T Elem](t *testing.T, r *Reader, shape []int, want []T) {
	t.Helper()
	f := peekFrame(t, r)
	defer release(t, r)
	if f.DType != DTypeOf[T]() || !slices.Equal(f.Shape, shape) || f.Len() != len(want) {
		t.Fatalf("frame %s %v (%d elements), want %s %v (%d)", f.DType, f.Shape, f.Len(), DTypeOf[T](), shape, len(want))
	}
	if len(f.Data) > 0 && uintptr(unsafe.Pointer(&f.Data[0]))%64 != 0 {
		t.Fatalf("data at %p is not 64-byte aligned", &f.Data[0])
	}
	got, err := FrameData[T](f)
	if err != nil {
		t.Fatalf("FrameData: %v", err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("data %v, want %v", got, want)
	}
}

func ramp[T Elem](n int, conv func(int) T) []T {
	out := make([]T, n)
	for i := range out {
		out[i] = conv(i%7 + 1)
	}
	return out
}

// sendFrame is SendFrame, or for a 0-dimensional shape (which SendFrame
// takes as "one dimension of len(data)") ReserveFrameOf and CommitFrame.
func sendFrame[T Elem](w *Writer, data []T, shape ...int) error {
	if len(shape) > 0 {
		return SendFrame(w, data, shape...)
	}
	buf, err := ReserveFrameOf[T](w)
	if err != nil {
		return err
	}
	copy(buf, data)
	return w.CommitFrame()
}

func TestFrameRoundTrip(t *testing.T) {
	for _, b := range chanBackends {
		t.Run(b.name, func(t *testing.T) {
			w, r := framePair(t, b.newAddr, 1<<16)
			shapes := [][]int{{}, {0}, {3, 0, 2}, {1}, {7}, {2, 3, 4}, {5, 1, 1, 1, 3}}
			for _, shape := range shapes {
				n := 1
				for _, s := range shape {
					n *= s
				}
				f32 := ramp(n, func(i int) float32 { return float32(i) / 2 })
				u8 := ramp(n, func(i int) uint8 { return uint8(i) })
				i64 := ramp(n, func(i int) int64 { return -int64(i) << 40 })
				c128 := ramp(n, func(i int) complex128 { return complex(float64(i), -1) })
				bs := ramp(n, func(i int) bool { return i%2 == 0 })
				for _, send := range []func() error{
					func() error { return sendFrame(w, f32, shape...) },
					func() error { return sendFrame(w, u8, shape...) },
					func() error { return sendFrame(w, i64, shape...) },
					func() error { return sendFrame(w, c128, shape...) },
					func() error { return sendFrame(w, bs, shape...) },
				} {
					if err := send(); err != nil {
						t.Fatalf("SendFrame %v: %v", shape, err)
					}
				}
				checkFrame(t, r, shape, f32)
				checkFrame(t, r, shape, u8)
				checkFrame(t, r, shape, i64)
				checkFrame(t, r, shape, c128)
				checkFrame(t, r, shape, bs)
			}
		})
	}
}

func TestReserveFrameInPlace(t *testing.T) {
	w, r := framePair(t, posixAddr, 1<<16)
	data, err := ReserveFrameOf[uint16](w, 4, 8)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) != 32 || uintptr(unsafe.Pointer(&data[0]))%64 != 0 {
		t.Fatalf("reserved %d elements at %p", len(data), &data[0])
	}
	for i := range data {
		data[i] = uint16(i * 3)
	}
	if err := w.CommitFrame(); err != nil {
		t.Fatal(err)
	}
	want := make([]uint16, 32)
	for i := range want {
		want[i] = uint16(i * 3)
	}
	checkFrame(t, r, []int{4, 8}, want)

	// Big-endian, through the byte-level API.
	raw, err := w.ReserveFrame(">i4", 2)
	if err != nil {
		t.Fatal(err)
	}
	binary.BigEndian.PutUint32(raw, 7)
	binary.BigEndian.PutUint32(raw[4:], 1<<31)
	if err := w.CommitFrame(); err != nil {
		t.Fatal(err)
	}
	f := peekFrame(t, r)
	if f.DType != ">i4" || binary.BigEndian.Uint32(f.Data[4:]) != 1<<31 {
		t.Fatalf("frame %+v", f)
	}
	if _, err := FrameData[int32](f); !errors.Is(err, ErrBadFrame) {
		t.Fatalf("FrameData[int32] of >i4: %v, want ErrBadFrame", err)
	}
	release(t, r)

	// Abort publishes nothing; CommitFrame needs a frame reservation.
	if _, err := w.ReserveFrame(Float64, 3); err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if err := w.CommitFrame(); err == nil {
		t.Fatal("CommitFrame without a reservation succeeded")
	}
	plain, err := w.Reserve(64)
	if err != nil {
		t.Fatal(err)
	}
	copy(plain, "not a frame")
	if err := w.CommitFrame(); !errors.Is(err, ErrBadFrame) {
		t.Fatalf("CommitFrame of a plain reservation: %v, want ErrBadFrame", err)
	}
	if err := w.Commit(11); err != nil { // still open: a plain message
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	if n, err := r.Recv(buf); err != nil || string(buf[:n]) != "not a frame" {
		t.Fatalf("Recv: %q, %v", buf[:n], err)
	}
}

func TestFrameArgumentErrors(t *testing.T) {
	w, r := framePair(t, posixAddr, 1<<16)
	for _, c := range []struct {
		d     DType
		shape []int
		want  string
	}{
		{"<O8", []int{1}, "dtype"},
		{"f4", []int{1}, "dtype"},
		{"|f4", []int{1}, "dtype"},
		{"<i1", []int{1}, "dtype"},
		{Float32, []int{2, -1}, "negative"},
		{Float32, make([]int, 33), "at most 32"},
		{Float64, []int{1 << 40, 1 << 40}, "too large"},
	} {
		if _, err := w.ReserveFrame(c.d, c.shape...); !errors.Is(err, ErrBadFrame) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ReserveFrame(%q, %v): %v, want ErrBadFrame (%s)", c.d, c.shape, err, c.want)
		}
	}
	if _, err := w.ReserveFrame(Uint8, w.MaxMessage()); !errors.Is(err, syscall.EMSGSIZE) {
		t.Errorf("ReserveFrame of max_message bytes: %v, want EMSGSIZE", err)
	}
	if err := SendFrame(w, []float32{1, 2, 3}, 2, 2); !errors.Is(err, ErrBadFrame) {
		t.Errorf("SendFrame of 3 elements as 2x2: %v, want ErrBadFrame", err)
	}
	if _, err := r.RecvTimeout(make([]byte, 64), 0); err == nil {
		t.Fatal("something was sent")
	}
}

// frameHead builds a header as a third implementation might get it wrong.
func frameHead(magic string, ndim int, reserved byte, off uint32, dtype string, shape ...uint64) []byte {
	p := make([]byte, 24+8*len(shape))
	copy(p, magic)
	p[4] = byte(ndim)
	p[6] = reserved
	binary.LittleEndian.PutUint32(p[8:], off)
	copy(p[16:24], dtype)
	for i, s := range shape {
		binary.LittleEndian.PutUint64(p[24+8*i:], s)
	}
	return p
}

func TestCorruptFramesAreRefusedAndConsumed(t *testing.T) {
	w, r := framePair(t, posixAddr, 1<<16)
	pad := make([]byte, 8)
	for _, c := range []struct {
		msg  []byte
		want string
	}{
		{[]byte("SLF"), "fewer than the 24"},
		{append(frameHead("XLF1", 1, 0, 32, "<f4", 2), pad...), "bad magic"},
		{append(frameHead("SLF1", 33, 0, 32, "<f4", 2), pad...), "ndim 33"},
		{append(frameHead("SLF1", 1, 1, 32, "<f4", 2), pad...), "reserved"},
		{frameHead("SLF1", 9, 0, 32, "<f4", 2, 2), "need a 96-byte header"},
		{append(frameHead("SLF1", 1, 0, 20, "<f4", 2), pad...), "outside 32"},
		{append(frameHead("SLF1", 1, 0, 1000, "<f4", 2), pad...), "outside 32"},
		{append(frameHead("SLF1", 1, 0, 32, "|O8", 2), pad...), "unknown dtype"},
		{append(frameHead("SLF1", 1, 0, 32, "<f4\x00x", 2), pad...), "unknown dtype"},
		{append(frameHead("SLF1", 1, 0, 32, "<f16", 2), pad...), "unknown dtype"},
		{frameHead("SLF1", 3, 0, 48, "<f4", 1<<63, 1<<63, 4), "does not match"},
		{append(frameHead("SLF1", 1, 0, 32, "<f4", 1<<62), pad...), "does not match"},
		{append(frameHead("SLF1", 1, 0, 32, "<f4", 3), pad...), "does not match"},
		{append(frameHead("SLF1", 1, 0, 32, "<f4", 2), append(pad, 0)...), "does not match"},
	} {
		mustSend(t, w, c.msg)
		if err := SendFrame(w, []int16{1, 2, 3, 4}); err != nil {
			t.Fatal(err)
		}
		if _, err := r.PeekFrameContext(t.Context()); !errors.Is(err, ErrBadFrame) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("PeekFrame of %q: %v, want ErrBadFrame (%s)", c.msg, err, c.want)
		}
		checkFrame(t, r, []int{4}, []int16{1, 2, 3, 4}) // consumed: the stream goes on
	}
}

func TestDTypeOf(t *testing.T) {
	type celsius float32
	for _, c := range []struct{ got, want DType }{
		{DTypeOf[bool](), Bool}, {DTypeOf[int8](), Int8}, {DTypeOf[uint8](), Uint8},
		{DTypeOf[int16](), Int16}, {DTypeOf[uint32](), Uint32}, {DTypeOf[int64](), Int64},
		{DTypeOf[float32](), Float32}, {DTypeOf[celsius](), Float32}, {DTypeOf[float64](), Float64},
		{DTypeOf[complex64](), Complex64}, {DTypeOf[complex128](), Complex128},
	} {
		if c.got != c.want {
			t.Errorf("DTypeOf: %q, want %q", c.got, c.want)
		}
	}
	if Complex128.Size() != 16 || DType("<x4").Size() != 0 {
		t.Error("Size")
	}
}
