//go:build shmlinkcalls

package main

import (
	"context"

	shmlink "github.com/shmlink/shmlink/bindings/go"
)

// shmTransport is one shmlink client shared by all callers (a client is
// safe for concurrent use by goroutines).
type shmTransport struct {
	callFn  func(ctx context.Context, req, resp []byte) (int, error)
	closeFn func()
}

func openShmlink(addr string) (transport, error) {
	c, err := shmlink.Dial(addr)
	if err != nil {
		return nil, err
	}
	return &shmTransport{callFn: c.Call, closeFn: func() { c.Close() }}, nil
}

func (t *shmTransport) newCaller() (caller, error) { return t, nil }

func (t *shmTransport) close() error {
	t.closeFn()
	return nil
}

func (t *shmTransport) call(ctx context.Context, req, resp []byte) (int, error) {
	return t.callFn(ctx, req, resp)
}
