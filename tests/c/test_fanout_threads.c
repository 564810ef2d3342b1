/*
 * Threaded fan-out stress, the variant that matters under ThreadSanitizer
 * (scripts/test-c.sh --sanitize=thread): the writer and 3 readers are
 * threads of one process with handles on one mapping, so TSan sees every
 * access of every side. Broadcast: every reader gets the whole sequence;
 * queue: every message is taken exactly once. Readers mix recv,
 * peek/release and recv_batch; one run spins, one sleeps at once.
 * SHMLINK_STRESS_MESSAGES scales the count (default 20000 per run).
 */
#include <pthread.h>

#include "fanout_util.h"
#include "../../core/src/channel_internal.h"

#define R 3

struct rarg {
    shmlink_channel *r;
    shmlink_fanout fo;
    uint64_t n, seed;
    uint32_t *taken;
    int rc;
};

static void *reader_thread(void *p)
{
    struct rarg *a = p;
    size_t max = shmlink_channel_max_message(a->r);
    size_t cap = max * 3;
    uint8_t *buf = malloc(cap);
    size_t lens[16];
    uint64_t s = a->seed, next = 0;
    int rc;
    a->rc = 1;
    for (;;) {
        unsigned mode = (unsigned)(cu_rand(&s) % 3);
        if (mode == 0) {
            rc =
                shmlink_channel_recv(a->r, buf, cap, &lens[0], SHMLINK_FOREVER);
            rc = rc == 0 ? 1 : rc;
        } else if (mode == 1) {
            const void *p2;
            rc = shmlink_channel_peek(a->r, &p2, &lens[0], SHMLINK_FOREVER);
            if (rc == 0) {
                memcpy(buf, p2, lens[0]);
                rc = shmlink_channel_release(a->r);
                rc = rc == 0 ? 1 : rc;
            }
        } else {
            rc = shmlink_channel_recv_batch(a->r, buf, cap, lens, 16,
                                            SHMLINK_FOREVER);
        }
        if (rc < 0)
            break;
        size_t off = 0;
        for (int k = 0; k < rc; k++) {
            uint64_t q = cu_seq(buf + off);
            if (lens[k] < 16 || !cu_check(buf + off, lens[k], q) || q >= a->n) {
                fprintf(stderr, "reader: bad message\n");
                goto out;
            }
            if (a->fo == SHMLINK_BROADCAST) {
                if (q != next++) {
                    fprintf(stderr, "reader: got %llu\n",
                            (unsigned long long)q);
                    goto out;
                }
            } else {
                __atomic_add_fetch(&a->taken[q], 1, __ATOMIC_RELAXED);
            }
            off += lens[k];
        }
    }
    if (rc == -ENODATA && (a->fo == SHMLINK_QUEUE || next == a->n))
        a->rc = 0;
    else
        fprintf(stderr, "reader: ended with %s after %llu\n",
                shmlink_strerror(rc), (unsigned long long)next);
out:
    free(buf);
    return NULL;
}

static void run(shmlink_backend be, shmlink_fanout fo, uint64_t n, int64_t spin,
                uint64_t seed)
{
    char addr[SHMLINK_ADDRESS_MAX];
    shmlink_channel *c = fo_create(be, fo, R, 1 << 14, SHMLINK_READER, addr);
    ASSERT_OK(shmlink_channel_close(c));
    shmlink_segment *seg;
    ASSERT_OK(shmlink_segment_open(addr, 0, &seg));
    shmlink_channel *w;
    struct rarg a[R];
    uint32_t *taken = calloc(n, sizeof(uint32_t));
    for (int k = 0; k < R; k++) {
        a[k] = (struct rarg){NULL, fo, n, seed * 5 + (uint64_t)k, taken, -1};
        ASSERT_OK(shmlink__channel_attach(seg, SHMLINK_READER, &a[k].r));
        shmlink__channel_set_spin(a[k].r, spin);
    }
    ASSERT_OK(shmlink__channel_attach(seg, SHMLINK_WRITER, &w));
    shmlink__channel_set_spin(w, spin);
    pthread_t th[R];
    uint64_t t0 = cu_now_ns();
    for (int k = 0; k < R; k++)
        ASSERT_EQ(pthread_create(&th[k], NULL, reader_thread, &a[k]), 0);
    size_t max = shmlink_channel_max_message(w);
    uint64_t s = seed;
    for (uint64_t seq = 0; seq < n; seq++) {
        if (cu_rand(&s) & 1) {
            ASSERT_OK(fo_send(w, seq, seed, max, SHMLINK_FOREVER));
        } else {
            size_t len = fo_len(seed, seq, max);
            void *p;
            ASSERT_OK(shmlink_channel_reserve(w, len, &p, SHMLINK_FOREVER));
            cu_fill(p, len, seq);
            ASSERT_OK(shmlink_channel_commit(w, len));
        }
    }
    ASSERT_OK(shmlink_channel_close(w));
    for (int k = 0; k < R; k++) {
        ASSERT_EQ(pthread_join(th[k], NULL), 0);
        ASSERT_EQ(a[k].rc, 0);
        shmlink_channel_close(a[k].r);
    }
    if (fo == SHMLINK_QUEUE)
        for (uint64_t i = 0; i < n; i++)
            if (taken[i] != 1)
                T_FAIL_MSG("message %llu taken %u times", (unsigned long long)i,
                           taken[i]);
    free(taken);
    shmlink_segment_close(seg);
    printf("%s %s spin %lld: %llu messages in %.2f s\n", t_backend_name(be),
           fo == SHMLINK_BROADCAST ? "broadcast" : "queue", (long long)spin,
           (unsigned long long)n, (double)(cu_now_ns() - t0) / 1e9);
    ASSERT_OK(t_remove(addr));
}

int main(void)
{
    uint64_t n = (uint64_t)cu_env("SHMLINK_STRESS_MESSAGES", 20000);
    run(SHMLINK_BACKEND_POSIX, SHMLINK_BROADCAST, n / 2, 50000, 1);
    run(SHMLINK_BACKEND_SYSV, SHMLINK_QUEUE, n / 2, 50000, 2);
    run(SHMLINK_BACKEND_SYSV, SHMLINK_BROADCAST, n / 4, 0, 3);
    run(SHMLINK_BACKEND_POSIX, SHMLINK_QUEUE, n / 4, 0, 4);
    return T_EXIT_PASS;
}
