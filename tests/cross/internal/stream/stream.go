// Package stream is the message stream shared by the cross-language test
// programs; it mirrors tests/cross/crossfmt.py (keep the two in step).
//
// Message number seq of length n is:
//   - n >= 16: a 16-byte little-endian header (seq uint64, n uint32,
//     crc32 IEEE of the payload uint32) followed by n-16 payload bytes;
//   - n < 16 (including 0): byte j is (seq*7 + j*13 + 1) & 0xff.
//
// Both ends report count, bytes and crcsum (the sum mod 2^64 of the header
// crc of every message of 16 bytes or more).
package stream

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
)

// HeaderSize is the size of the header of messages of 16 bytes or more.
const HeaderSize = 16

// Tiny writes the content of message seq when it is shorter than the header.
func Tiny(seq uint64, out []byte) {
	for j := range out {
		out[j] = byte(seq*7 + uint64(j)*13 + 1)
	}
}

// EdgeSizes lists the sizes the "edges" pattern cycles through.
func EdgeSizes(maxMessage int) []int {
	sizes := []int{0, 1, 15, 16, 17, maxMessage - 1, maxMessage, 0, maxMessage,
		4095, 4096, 4097, 0, 0, maxMessage}
	for i, s := range sizes {
		sizes[i] = min(s, maxMessage)
	}
	return sizes
}

// RandomSize maps a uniform x in [0, 1) to a message size: mostly small, a
// few medium, one in a thousand up to maxSize (same split as crossfmt.py).
func RandomSize(x float64, maxSize int) int {
	var n int
	switch {
	case x < 0.02:
		n = int(x / 0.02 * 16)
	case x < 0.92:
		n = 16 + int((x-0.02)/0.90*496)
	case x < 0.999:
		n = 512 + int((x-0.92)/0.079*3584)
	default:
		n = 4096 + int((x-0.999)/0.001*float64(maxSize-4096+1))
	}
	return min(n, maxSize)
}

// Report is what both ends print about the stream.
type Report struct {
	Count  uint64 `json:"count"`
	Bytes  uint64 `json:"bytes"`
	CRCSum uint64 `json:"crcsum"`
}

// Generator produces the writer's side of the stream.
type Generator struct {
	Report
	Seq        uint64
	pattern    string
	fixed      int
	maxSize    int
	minSize    int
	rng        *rand.Rand
	pool       []byte
	edges      []int
	maxMessage int
}

// NewGenerator makes a generator for pattern "random", "edges" or
// "fixed:N". maxSize caps random sizes (0: maxMessage).
func NewGenerator(pattern string, seed uint64, maxMessage, maxSize, minSize int) (*Generator, error) {
	g := &Generator{pattern: pattern, maxSize: maxMessage, minSize: minSize,
		rng: rand.New(rand.NewPCG(seed, 0x5eed)), edges: EdgeSizes(maxMessage), maxMessage: maxMessage}
	if maxSize > 0 && maxSize < maxMessage {
		g.maxSize = maxSize
	}
	switch {
	case pattern == "random", pattern == "edges":
	case len(pattern) > 6 && pattern[:6] == "fixed:":
		if _, err := fmt.Sscanf(pattern[6:], "%d", &g.fixed); err != nil || g.fixed < 0 || g.fixed > maxMessage {
			return nil, fmt.Errorf("bad fixed size in %q (0..%d)", pattern, maxMessage)
		}
	default:
		return nil, fmt.Errorf("unknown pattern %q (random, edges, fixed:N)", pattern)
	}
	g.pool = make([]byte, max(maxMessage, 1<<16)+1<<16)
	for i := range g.pool {
		g.pool[i] = byte(g.rng.Uint32())
	}
	return g, nil
}

// NextSize chooses the length of the next message.
func (g *Generator) NextSize() int {
	var n int
	switch g.pattern {
	case "random":
		n = RandomSize(g.rng.Float64(), g.maxSize)
	case "edges":
		n = g.edges[g.Count%uint64(len(g.edges))]
	default:
		n = g.fixed
	}
	return max(n, min(g.minSize, g.maxMessage))
}

// Fill writes the next message into out (its length is len(out)) and
// advances the sequence.
func (g *Generator) Fill(out []byte) {
	n := len(out)
	seq := g.Seq
	if n >= HeaderSize {
		plen := n - HeaderSize
		off := int((seq * 104729) % uint64(len(g.pool)-plen+1))
		p := g.pool[off : off+plen]
		c := crc32.ChecksumIEEE(p)
		binary.LittleEndian.PutUint64(out[0:], seq)
		binary.LittleEndian.PutUint32(out[8:], uint32(n))
		binary.LittleEndian.PutUint32(out[12:], c)
		copy(out[HeaderSize:], p)
		g.CRCSum += uint64(c)
	} else {
		Tiny(seq, out)
	}
	g.Seq++
	g.Count++
	g.Bytes += uint64(n)
}

// Checker verifies a received stream message by message.
type Checker struct {
	Report
	Expect uint64
	First  uint64
	MaxLen int // longest message so far, -1 before the first
	tiny   [HeaderSize]byte
}

// NewChecker expects the stream to start at sequence number start.
func NewChecker(start uint64) *Checker { return &Checker{Expect: start, First: start, MaxLen: -1} }

// Check verifies one message.
func (c *Checker) Check(m []byte) error {
	n := len(m)
	seq := c.Expect
	if n >= HeaderSize {
		s := binary.LittleEndian.Uint64(m[0:])
		ln := binary.LittleEndian.Uint32(m[8:])
		want := binary.LittleEndian.Uint32(m[12:])
		if s != seq {
			return fmt.Errorf("message #%d: sequence number %d, expected %d (length %d)", c.Count, s, seq, n)
		}
		if int(ln) != n {
			return fmt.Errorf("message seq %d: length %d, header says %d", seq, n, ln)
		}
		if got := crc32.ChecksumIEEE(m[HeaderSize:]); got != want {
			return fmt.Errorf("message seq %d (length %d): payload crc32 %#08x, header says %#08x", seq, n, got, want)
		}
		c.CRCSum += uint64(want)
	} else {
		t := c.tiny[:n]
		Tiny(seq, t)
		if string(t) != string(m) {
			return fmt.Errorf("message seq %d: %d-byte message %x, expected %x", seq, n, m, t)
		}
	}
	c.Expect++
	c.Count++
	c.Bytes += uint64(n)
	c.MaxLen = max(c.MaxLen, n)
	return nil
}
