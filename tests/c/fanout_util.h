/*
 * Helpers for the fan-out channel tests (docs/PROTOCOL.md section 13):
 * creating broadcast and queue channels, sending and checking numbered
 * messages. Header-only, everything static and unused-safe.
 */
#ifndef SHMLINK_TEST_FANOUT_UTIL_H
#define SHMLINK_TEST_FANOUT_UTIL_H

#include <stdlib.h>

#include "channel_util.h"

/* Creates a fan-out channel (fanout, readers slots, capacity) at a fresh
 * address of backend, registered for cleanup, and takes role. */
static T_UNUSED shmlink_channel *fo_create(shmlink_backend backend,
                                           shmlink_fanout fanout,
                                           unsigned readers, size_t capacity,
                                           shmlink_role role, char *addr)
{
    shmlink_channel_config cfg = {capacity, 0600, readers, 1, fanout};
    shmlink_channel *ch;
    t_addr(backend, addr, "fanout");
    int rc = shmlink_channel_create_config(addr, &cfg, role, &ch);
    if (rc < 0) {
        fprintf(stderr, "create %s: %s\n", addr, shmlink_strerror(rc));
        t_fail();
    }
    t_register(shmlink_channel_address(ch));
    snprintf(addr, SHMLINK_ADDRESS_MAX, "%s", shmlink_channel_address(ch));
    return ch;
}

static T_UNUSED shmlink_channel *fo_open(const char *addr, shmlink_role role)
{
    shmlink_channel *ch;
    int rc = shmlink_channel_open(addr, role, &ch);
    if (rc < 0) {
        fprintf(stderr, "open %s: %s\n", addr, shmlink_strerror(rc));
        t_fail();
    }
    return ch;
}

/* Length of message seq: cu_len, at least 16 (so that every message
 * carries its sequence number), at most max and 65536. */
static T_UNUSED size_t fo_len(uint64_t seed, uint64_t seq, size_t max)
{
    size_t n = cu_len(seed, seq, max < 65536 ? max : 65536);
    return n < 16 ? 16 : n;
}

/* Sends message seq (length fo_len(seed, seq, max)); returns the code. */
static T_UNUSED int fo_send(shmlink_channel *w, uint64_t seq, uint64_t seed,
                            size_t max, int64_t timeout)
{
    uint8_t buf[65536];
    size_t len = fo_len(seed, seq, max);
    cu_fill(buf, len, seq);
    return shmlink_channel_send(w, buf, len, timeout);
}

/* A message of exactly 24 bytes carrying seq (sequence number and
 * checksum): small tests use it so that the ring holds a known count. */
static T_UNUSED int fo_send24(shmlink_channel *w, uint64_t seq, int64_t timeout)
{
    uint8_t buf[24];
    cu_fill(buf, sizeof(buf), seq);
    return shmlink_channel_send(w, buf, sizeof(buf), timeout);
}

/* Receives one message and returns its sequence number (checking its
 * bytes), or fails the test; *rc gets the code when it is not 0 and rc is
 * not NULL (then the return value is UINT64_MAX). */
static T_UNUSED uint64_t fo_recv(shmlink_channel *r, int64_t timeout, int *rc)
{
    uint8_t buf[65536];
    size_t n = 0;
    int c = shmlink_channel_recv(r, buf, sizeof(buf), &n, timeout);
    if (rc)
        *rc = c;
    if (c < 0) {
        if (rc)
            return UINT64_MAX;
        fprintf(stderr, "recv: %s\n", shmlink_strerror(c));
        t_fail();
    }
    if (n < 16 || !cu_check(buf, n, cu_seq(buf))) {
        fprintf(stderr, "recv: corrupt message of %zu bytes\n", n);
        t_fail();
    }
    return cu_seq(buf);
}

#endif /* SHMLINK_TEST_FANOUT_UTIL_H */
