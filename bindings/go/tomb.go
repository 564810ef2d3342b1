//go:build linux

package shmlink

/*
#define _GNU_SOURCE // mremap
#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

// Maps private zero pages over [addr, addr + len): with replace, over
// whatever is there, in one step (MAP_FIXED); without, only if the range
// is free (MAP_FIXED_NOREPLACE; -EEXIST if something took it).
static int go_tomb_map(uintptr_t addr, size_t len, int writable, int replace)
{
	int prot = PROT_READ | (writable ? PROT_WRITE : 0);
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
	            (replace ? MAP_FIXED : MAP_FIXED_NOREPLACE);
	void *p = mmap((void *)addr, len, prot, flags, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	if ((uintptr_t)p != addr) { // a kernel older than 4.17 took the flag as a hint
		munmap(p, len);
		return -EEXIST;
	}
	return 0;
}

static int go_unmap(uintptr_t addr, size_t len)
{
	return munmap((void *)addr, len) == 0 ? 0 : -errno;
}

// A second mapping of the same shared pages (mremap with old size 0), or
// NULL.
static void *go_dup_mapping(void *addr, size_t len)
{
	void *p = mremap(addr, 0, len, MREMAP_MAYMOVE);
	return p == MAP_FAILED ? NULL : p;
}
*/
import "C"

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"sync"
	"unsafe"
)

// Slices over shared memory (Segment.Bytes, Reader.Peek, Writer.Reserve)
// must not be used after Close, but a program that does so by mistake
// should not crash, nor write into whatever the kernel maps at that
// address next. So Close does not leave the address range free: it puts
// private zero pages there (a "tombstone", mapped with MAP_NORESERVE: no
// memory is used until a stale slice writes), and a stale slice reads
// zeros and writes into memory that nobody reads. The tombstones of the
// last tombMaxCount closes, at most tombMaxBytes of address space, are
// kept; older ones are unmapped (a slice that old faults, as after munmap).
//
// How the range is kept depends on who unmaps it:
//
//   - Segment, POSIX: Bytes is a second mapping of the object's pages that
//     the binding makes at open (mremap with old size 0). Close replaces
//     it with zero pages in one step (MAP_FIXED); the C core then unmaps
//     its own mapping.
//   - Segment, System V: Close replaces the attachment itself with zero
//     pages (which detaches it, as shmdt would); the C core's shmdt then
//     finds no attachment there and does nothing.
//   - Channels: the C core writes the end-of-stream or reader-gone mark
//     into the header on close and then unmaps, so the zero pages can only
//     come after it: the binding maps them at once, if the range is still
//     free (MAP_FIXED_NOREPLACE). Another thread mapping something into
//     that range in between (microseconds) is the one case left
//     unprotected.
var (
	tombMaxCount         = 1024
	tombMaxBytes uintptr = 16 << 30
)

type tomb struct{ addr, len uintptr }

var tombs struct {
	sync.Mutex
	list  []tomb
	bytes uintptr
}

// keepTomb records a tombstone and unmaps the oldest ones beyond the bounds.
func keepTomb(addr, n uintptr) {
	tombs.Lock()
	defer tombs.Unlock()
	tombs.list = append(tombs.list, tomb{addr, n})
	tombs.bytes += n
	for len(tombs.list) > 1 && (len(tombs.list) > tombMaxCount || tombs.bytes > tombMaxBytes) {
		old := tombs.list[0]
		tombs.list = tombs.list[1:]
		tombs.bytes -= old.len
		C.go_unmap(C.uintptr_t(old.addr), C.size_t(old.len))
	}
}

var pageSize = uintptr(os.Getpagesize())

func pageRound(n uintptr) uintptr { return (n + pageSize - 1) &^ (pageSize - 1) }

// tombReplace puts zero pages over the mapping [addr, addr+n) at once.
// It reports whether it did.
func tombReplace(addr, n uintptr, writable bool) bool {
	n = pageRound(n)
	if C.go_tomb_map(C.uintptr_t(addr), C.size_t(n), cbool(writable), 1) < 0 {
		return false
	}
	keepTomb(addr, n)
	return true
}

// tombFill puts zero pages into the free range [addr, addr+n), unless
// something was mapped there meanwhile.
func tombFill(addr, n uintptr, writable bool) bool {
	n = pageRound(n)
	if C.go_tomb_map(C.uintptr_t(addr), C.size_t(n), cbool(writable), 0) < 0 {
		return false
	}
	keepTomb(addr, n)
	return true
}

// dupMapping returns a second mapping of the shared pages at [addr,
// addr+n), or nil if the kernel refuses.
func dupMapping(addr unsafe.Pointer, n uintptr) unsafe.Pointer {
	return C.go_dup_mapping(addr, C.size_t(pageRound(n)))
}

// unmap unmaps a mapping of the binding's own.
func unmap(addr, n uintptr) { C.go_unmap(C.uintptr_t(addr), C.size_t(pageRound(n))) }

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

// mappingAt returns the bounds and the writability of the mapping (VMA)
// that contains addr, from /proc/self/maps.
func mappingAt(addr uintptr) (start, end uintptr, writable, ok bool) {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0, 0, false, false
	}
	defer func() { _ = f.Close() }() // read only
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 4096), 1<<20)
	for s.Scan() {
		// "start-end perms offset dev inode path", addresses in hex
		rng, rest, _ := strings.Cut(s.Text(), " ")
		lo, hi, _ := strings.Cut(rng, "-")
		a, err1 := strconv.ParseUint(lo, 16, 64)
		b, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || uintptr(a) > addr || addr >= uintptr(b) {
			continue
		}
		return uintptr(a), uintptr(b), len(rest) > 1 && rest[1] == 'w', true
	}
	return 0, 0, false, false
}
