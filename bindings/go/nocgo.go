//go:build !cgo

package shmlink

// Package shmlink compiles its C core with cgo. Building it with
// CGO_ENABLED=0 (or without a C compiler) stops here with a readable name:
var _ = shmlink_requires_cgo__build_with_CGO_ENABLED_1_and_a_C_compiler
