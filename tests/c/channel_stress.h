/*
 * The writer and reader loops of the stress tests (processes and threads):
 * count messages of pseudo-random sizes, each carrying its sequence number
 * and a checksum; the writer mixes send and reserve/commit, the reader mixes
 * recv, peek/release and recv_batch. Returns 0 or a message on stderr and 1.
 */
#ifndef SHMLINK_TEST_CHANNEL_STRESS_H
#define SHMLINK_TEST_CHANNEL_STRESS_H

#include <stdlib.h>

#include "channel_util.h"

/* Writes count messages on the writer handle w, then closes it. */
static T_UNUSED int cs_write(shmlink_channel *w, uint64_t count, uint64_t seed)
{
    int rc;
    size_t max = shmlink_channel_max_message(w);
    uint8_t *buf = malloc(max);
    uint64_t s = seed;
    for (uint64_t seq = 0; seq < count; seq++) {
        size_t len = cu_len(seed, seq, max);
        if (cu_rand(&s) & 1) {
            cu_fill(buf, len, seq);
            rc = shmlink_channel_send(w, buf, len, SHMLINK_FOREVER);
        } else {
            void *p;
            size_t extra = (size_t)(cu_rand(&s) % 64);
            size_t want = len + extra > max ? max : len + extra;
            rc = shmlink_channel_reserve(w, want, &p, SHMLINK_FOREVER);
            if (rc == 0) {
                cu_fill(p, len, seq);
                rc = shmlink_channel_commit(w, len);
            }
        }
        if (rc < 0) {
            fprintf(stderr, "writer seq %llu: %s\n", (unsigned long long)seq,
                    shmlink_strerror(rc));
            free(buf);
            shmlink_channel_close(w);
            return 1;
        }
    }
    free(buf);
    return shmlink_channel_close(w) == 0 ? 0 : 1;
}

static T_UNUSED int cs_writer(const char *addr, uint64_t count, uint64_t seed)
{
    shmlink_channel *w;
    int rc = shmlink_channel_open(addr, SHMLINK_WRITER, &w);
    if (rc < 0) {
        fprintf(stderr, "writer open: %s\n", shmlink_strerror(rc));
        return 1;
    }
    return cs_write(w, count, seed);
}

/* Reads until end of stream; checks count messages arrived intact and in
 * order. r is an open reader handle (closed here). */
static T_UNUSED int cs_reader(shmlink_channel *r, uint64_t count, uint64_t seed)
{
    size_t max = shmlink_channel_max_message(r);
    size_t cap = max * 4;
    uint8_t *buf = malloc(cap);
    size_t lens[64];
    uint64_t s = seed * 3 + 1, seq = 0;
    int rc = 0;
    for (;;) {
        unsigned mode = (unsigned)(cu_rand(&s) % 3);
        if (mode == 0) {
            size_t n;
            rc = shmlink_channel_recv(r, buf, cap, &n, SHMLINK_FOREVER);
            if (rc < 0)
                break;
            lens[0] = n;
            rc = 1;
        } else if (mode == 1) {
            const void *p;
            size_t n;
            rc = shmlink_channel_peek(r, &p, &n, SHMLINK_FOREVER);
            if (rc < 0)
                break;
            memcpy(buf, p, n);
            lens[0] = n;
            rc = shmlink_channel_release(r);
            if (rc < 0)
                break;
            rc = 1;
        } else {
            rc = shmlink_channel_recv_batch(r, buf, cap, lens, 64,
                                            SHMLINK_FOREVER);
            if (rc < 0)
                break;
        }
        size_t off = 0;
        for (int k = 0; k < rc; k++) {
            size_t want = cu_len(seed, seq, max);
            if (seq >= count || lens[k] != want ||
                !cu_check(buf + off, lens[k], seq)) {
                fprintf(stderr,
                        "reader: message %llu wrong (len %zu, want %zu)\n",
                        (unsigned long long)seq, lens[k], want);
                free(buf);
                return 1;
            }
            off += lens[k];
            seq++;
        }
    }
    free(buf);
    shmlink_channel_close(r);
    if (rc != -ENODATA || seq != count) {
        fprintf(stderr, "reader: ended with %s after %llu of %llu messages\n",
                shmlink_strerror(rc), (unsigned long long)seq,
                (unsigned long long)count);
        return 1;
    }
    return 0;
}

#endif /* SHMLINK_TEST_CHANNEL_STRESS_H */
