// Package shmlink shares memory between processes — System V
// (shmget/shmat) and POSIX (shm_open/mmap) segments — through the shmlink
// C core, which this package compiles with cgo from its own directory.
//
// # Addresses
//
// Every segment is named by one address string, the same in C, Go, Python
// and the shmlink command-line tool:
//
//	posix:/name or /name   POSIX object /name (one leading '/', no other '/', 1..255 bytes)
//	sysv:KEY               System V segment by key, decimal or 0x hex, not 0
//	sysv:private           Create only: a new IPC_PRIVATE segment, afterwards "sysv-id:N"
//	sysv-id:N              System V segment by its shmid
//
// A malformed address is an error that names it and wraps syscall.EINVAL;
// it never reaches the kernel.
//
// # Channels
//
// A channel is a single-writer, single-reader queue of messages (0 to
// MaxMessage bytes, about half the ring) in a segment of either backend,
// laid out as docs/PROTOCOL.md describes, so C, Go and Python programs
// talk through it. CreateWriter or CreateReader makes one, OpenWriter or
// OpenReader joins it; Writer.Send / Reader.Recv copy (one cgo call per
// message, no allocation), Reserve/Commit and Peek/Release work in place,
// SendBatch and RecvBatch move many messages per cgo call (for streams of
// small messages, where the cgo call would cost more than the message).
// Reader.Messages is an iterator for range loops, and a Writer is an
// io.Writer that sends one message per Write. Writer.Close ends the
// stream: Recv returns io.EOF after the last message. A dead peer (even
// after SIGKILL) is reported as ErrPeerDead within a second; its role can
// be taken over by a new process. Send and Recv wait without limit,
// SendTimeout/RecvTimeout at most a duration (os.ErrDeadlineExceeded), and
// SendContext/RecvInto/RecvContext/PeekContext/Messages until the context
// is done (they then return its error at once). Close from another
// goroutine ends a waiting call at once (ErrClosed). Closing a channel
// does not remove its segment; the creator calls Remove. OpenWriter and
// OpenReader refuse a channel whose segment belongs to another user (not
// the caller, not root) unless given the AnyOwner option.
//
// # Zero-copy slices
//
// Segment.Bytes, Reader.Peek and Writer.Reserve return slices over the
// shared memory itself. Using one after Close is a bug, but it does not
// crash the program or write into memory mapped later: Close leaves zero
// pages at that address (see Segment.Bytes for the bounds).
//
// # Errors
//
// Failures from the operating system wrap a syscall.Errno, so
// errors.Is(err, fs.ErrExist), fs.ErrNotExist and fs.ErrPermission work.
// Methods of a closed Segment, Writer or Reader return an error wrapping
// ErrClosed. ErrPeerDead, ErrProtocol and ErrBusy are the sentinels of the
// message channel.
//
// # The C core
//
// The C sources in core/ are copied into this directory as one generated
// file, shmlink_amalgamation.c (plus shmlink.h), because cgo compiles only
// the package directory's own files. After editing core/, regenerate from
// the repository root with
//
//	go generate ./bindings/go
//
// A test (TestAmalgamationUpToDate) fails while the copy is stale.
package shmlink

//go:generate go run ./internal/amalgamate/cmd
