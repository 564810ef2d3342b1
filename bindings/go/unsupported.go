//go:build !linux

package shmlink

// The C core uses Linux interfaces (futex, /proc, shm_open, System V
// shared memory as Linux implements it). On other systems the build stops
// here, and the compiler's message quotes this sentence:
var _ int = "shmlink supports Linux only (it uses futex and /proc); this GOOS is not supported"
