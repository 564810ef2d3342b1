/*
 * Helpers shared by the channel tests: a small deterministic PRNG, message
 * payloads that carry their sequence number and a checksum, and a monotonic
 * clock. Header-only, everything static and unused-safe.
 */
#ifndef SHMLINK_TEST_CHANNEL_UTIL_H
#define SHMLINK_TEST_CHANNEL_UTIL_H

#include <stdint.h>
#include <string.h>
#include <time.h>

#include "helpers.h"

/* xorshift64*: deterministic per seed. */
static T_UNUSED uint64_t cu_rand(uint64_t *s)
{
    uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ull;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dull;
}

static T_UNUSED uint64_t cu_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Byte i of message seq's payload. */
static inline uint8_t cu_byte(uint64_t seq, size_t i)
{
    return (uint8_t)((seq * 131u) ^ (i * 7u) ^ (i >> 8));
}

/* Payload layout for len >= 16: [0..8) seq, [8..12) len, [12..16) checksum
 * of bytes 16.., then pattern bytes. Shorter messages carry pattern bytes
 * only (checked against the expected seq). */
static T_UNUSED uint32_t cu_sum(const uint8_t *p, size_t n)
{
    uint32_t a = 1, b = 0;
    for (size_t i = 0; i < n; i++) {
        a = (a + p[i]) % 65521u;
        b = (b + a) % 65521u;
    }
    return (b << 16) | a;
}

static T_UNUSED void cu_fill(uint8_t *p, size_t len, uint64_t seq)
{
    for (size_t i = 0; i < len; i++)
        p[i] = cu_byte(seq, i);
    if (len >= 16) {
        uint32_t l = (uint32_t)len;
        memcpy(p, &seq, 8);
        memcpy(p + 8, &l, 4);
        uint32_t s = cu_sum(p + 16, len - 16);
        memcpy(p + 12, &s, 4);
    }
}

/* Returns 1 if p/len is message seq's payload of length want_len
 * (want_len < 0: any length; seq is then taken from the payload when it
 * carries one). */
static T_UNUSED int cu_check(const uint8_t *p, size_t len, uint64_t seq)
{
    if (len >= 16) {
        uint64_t s;
        uint32_t l, sum;
        memcpy(&s, p, 8);
        memcpy(&l, p + 8, 4);
        memcpy(&sum, p + 12, 4);
        if (s != seq || l != len || sum != cu_sum(p + 16, len - 16))
            return 0;
        for (size_t i = 16; i < len; i++)
            if (p[i] != cu_byte(seq, i))
                return 0;
        return 1;
    }
    for (size_t i = 0; i < len; i++)
        if (p[i] != cu_byte(seq, i))
            return 0;
    return 1;
}

/* Sequence number carried by a payload of >= 16 bytes. */
static T_UNUSED uint64_t cu_seq(const uint8_t *p)
{
    uint64_t s;
    memcpy(&s, p, 8);
    return s;
}

/* Length of message seq in a stream seeded by seed, at most max, with a
 * bias to small sizes (most messages < 256 bytes, some up to max). */
static T_UNUSED size_t cu_len(uint64_t seed, uint64_t seq, size_t max)
{
    uint64_t s = seed ^ (seq * 0x9e3779b97f4a7c15ull);
    uint64_t r = cu_rand(&s);
    size_t n;
    switch (r & 7) {
    case 0: n = (size_t)((r >> 8) % (max + 1)); break;
    case 1:
    case 2: n = (size_t)((r >> 8) % 2048); break;
    default: n = 16 + (size_t)((r >> 8) % 240); break;
    }
    return n > max ? max : n;
}

/* Environment integer with a default. */
static T_UNUSED long long cu_env(const char *name, long long dflt)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return dflt;
    return strtoll(v, NULL, 0);
}

/* Makes an empty channel of protocol version 1 at address (a segment of
 * 512 + cap bytes with the version-1 header of docs/PROTOCOL.md, section
 * 11), as an older shmlink would have created it, with no role held: the
 * way to test that version-1 channels still open. cap: a power of two. */
static T_UNUSED int cu_make_v1(const char *address, uint64_t cap, unsigned mode)
{
    shmlink_segment *seg;
    int rc = t_create(address, (size_t)(512 + cap), mode, &seg);
    if (rc < 0)
        return rc;
    uint8_t *b = shmlink_segment_data(seg);
    uint32_t hs = 512, align = 8;
    uint64_t maxm = cap / 2 - 8;
    memcpy(b, "SHMLCHAN", 8);
    memcpy(b + 12, &hs, 4);
    memcpy(b + 16, &cap, 8);
    memcpy(b + 24, &maxm, 8);
    memcpy(b + 36, &align, 4);
    __atomic_store_n((uint32_t *)(void *)(b + 8), 1u, __ATOMIC_RELEASE);
    shmlink_segment_close(seg);
    return 0;
}

#endif /* SHMLINK_TEST_CHANNEL_UTIL_H */
