//go:build linux

package shmlink

/*
#include <stdint.h>
#include "shmlink.h"

// The same work as the Go benchmarks, done in C in one cgo call: the cost
// of the channel without the binding, measured in the same process, on the
// same channel, at the same moment.

static int cbench_send(uintptr_t ch, const uint8_t *msg, size_t len, int64_t count)
{
	for (int64_t i = 0; i < count; i++) {
		int rc = shmlink_channel_send((shmlink_channel *)ch, msg, len, SHMLINK_FOREVER);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int cbench_recv(uintptr_t ch, uint8_t *buf, size_t cap, int64_t count)
{
	size_t len;
	for (int64_t i = 0; i < count; i++) {
		int rc = shmlink_channel_recv((shmlink_channel *)ch, buf, cap, &len, SHMLINK_FOREVER);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int cbench_send_recv(uintptr_t w, uintptr_t r, uint8_t *buf, size_t len, int64_t count)
{
	size_t got;
	for (int64_t i = 0; i < count; i++) {
		int rc = shmlink_channel_send((shmlink_channel *)w, buf, len, 0);
		if (rc == 0)
			rc = shmlink_channel_recv((shmlink_channel *)r, buf, len, &got, 0);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static size_t cbench_noop(uintptr_t ch) { return ch; }
*/
import "C"

// Benchmark helpers (used by channel_bench_test.go; cgo cannot be used in
// test files). Each runs a whole loop in C: count messages sent or
// received, waiting as long as needed, or count Send+Recv pairs in one
// thread without waiting.

func cbenchSend(w *Writer, msg []byte, count int) error {
	return cbenchErr("send", w.addr, int(C.cbench_send(w.hp, bytePtr(msg), C.size_t(len(msg)), C.int64_t(count))))
}

func cbenchRecv(r *Reader, buf []byte, count int) error {
	return cbenchErr("recv", r.addr, int(C.cbench_recv(r.hp, bytePtr(buf), C.size_t(len(buf)), C.int64_t(count))))
}

func cbenchSendRecv(w *Writer, r *Reader, buf []byte, count int) error {
	return cbenchErr("send+recv", r.addr, int(C.cbench_send_recv(w.hp, r.hp, bytePtr(buf), C.size_t(len(buf)), C.int64_t(count))))
}

// cgoNoop makes one cgo call that does nothing: the fixed cost of crossing
// into C.
func cgoNoop() { C.cbench_noop(0) }

func cbenchErr(op, addr string, rc int) error {
	if rc < 0 {
		return opError(op, addr, rc)
	}
	return nil
}
