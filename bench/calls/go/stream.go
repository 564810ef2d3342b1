package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// streamTransport dials one Unix stream connection per caller; a message is
// a 4-byte length (in order) and the payload, written with one write.
type streamTransport struct {
	addr  string
	order binary.ByteOrder
	mu    sync.Mutex
	conns []net.Conn
}

func openStream(addr string, order binary.ByteOrder) *streamTransport {
	return &streamTransport{addr: addr, order: order}
}

func (t *streamTransport) newCaller() (caller, error) {
	c, err := net.Dial("unix", t.addr)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	t.conns = append(t.conns, c)
	t.mu.Unlock()
	return &streamCaller{conn: c, order: t.order}, nil
}

func (t *streamTransport) close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range t.conns {
		_ = c.Close()
	}
	return nil
}

type streamCaller struct {
	conn  net.Conn
	order binary.ByteOrder
	out   []byte // header and request, sent with one write
	hdr   [4]byte
}

func (c *streamCaller) call(ctx context.Context, req, resp []byte) (int, error) {
	if d, ok := ctx.Deadline(); ok {
		_ = c.conn.SetDeadline(d)
	} else {
		_ = c.conn.SetDeadline(time.Time{})
	}
	c.out = append(c.out[:0], 0, 0, 0, 0)
	c.order.PutUint32(c.out, uint32(len(req)))
	c.out = append(c.out, req...)
	if _, err := c.conn.Write(c.out); err != nil {
		return 0, err
	}
	if _, err := io.ReadFull(c.conn, c.hdr[:]); err != nil {
		return 0, err
	}
	n := int(c.order.Uint32(c.hdr[:]))
	if n > len(resp) {
		return 0, fmt.Errorf("response of %d bytes does not fit the %d-byte buffer", n, len(resp))
	}
	if _, err := io.ReadFull(c.conn, resp[:n]); err != nil {
		return 0, err
	}
	return n, nil
}
