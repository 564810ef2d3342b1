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
// # Errors
//
// Failures from the operating system wrap a syscall.Errno, so
// errors.Is(err, fs.ErrExist), fs.ErrNotExist and fs.ErrPermission work.
// Methods of a closed Segment return an error wrapping ErrClosed.
// ErrPeerDead, ErrProtocol and ErrBusy are the sentinels of the message
// channel.
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
