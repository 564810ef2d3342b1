//go:build linux

package shmlink

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// ErrClosed is wrapped by the errors of methods called on a closed Segment.
// It is fs.ErrClosed (as os.ErrClosed is), so either name matches.
var ErrClosed = fs.ErrClosed

// Sentinel errors of the message channel. Errors returned by this package
// match them with errors.Is, and also match the syscall.Errno they stand
// for (given in parentheses).
var (
	// ErrPeerDead: the process at the other end of a channel died or
	// closed its end (EPIPE).
	ErrPeerDead = errors.New("shmlink: peer process is dead")
	// ErrProtocol: not a shmlink channel, another protocol version, or a
	// corrupt header or record (EPROTO).
	ErrProtocol = errors.New("shmlink: not a valid shmlink channel")
	// ErrBusy: the channel role is held by another live process (EBUSY).
	ErrBusy = errors.New("shmlink: channel role is held by a live process")
)

// errnoError is the error carried inside every error this package makes
// from a C return code. Its text is the errno's; it unwraps to the
// syscall.Errno (so fs.ErrExist & co. match through Errno.Is) and it also
// matches the package sentinels.
type errnoError struct{ errno syscall.Errno }

func (e errnoError) Error() string { return e.errno.Error() }
func (e errnoError) Unwrap() error { return e.errno }

func (e errnoError) Is(target error) bool {
	switch target {
	case ErrPeerDead:
		return e.errno == syscall.EPIPE
	case ErrProtocol:
		return e.errno == syscall.EPROTO
	case ErrBusy:
		return e.errno == syscall.EBUSY
	case os.ErrDeadlineExceeded:
		return e.errno == syscall.ETIMEDOUT
	}
	return false
}

// errnoOf turns a negative C return code into the error value to wrap.
func errnoOf(rc int) error {
	if rc < 0 {
		rc = -rc
	}
	return errnoError{syscall.Errno(rc)}
}

// opError formats "shmlink: <op> <addr>: <errno text>", wrapping the errno.
func opError(op, addr string, rc int) error {
	return fmt.Errorf("shmlink: %s %s: %w", op, addr, errnoOf(rc))
}

// invalid builds an EINVAL error with an explanation.
func invalid(op, what string) error {
	return fmt.Errorf("shmlink: %s: %s: %w", op, what, errnoError{syscall.EINVAL})
}

func closedError(op, addr string) error {
	return fmt.Errorf("shmlink: %s %s: %w", op, addr, ErrClosed)
}
