//go:build linux && !cgo

package shmlink

// The package compiles its C core with cgo. Built with CGO_ENABLED=0 (the
// default when cross-compiling, or when no C compiler is found) it stops
// here, and the compiler's message quotes this sentence:
var _ int = "shmlink needs cgo: build with CGO_ENABLED=1 and a C compiler (gcc or clang; when cross-compiling, set CC for the target)"
