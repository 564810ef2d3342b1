/*
 * Threaded stress, the variant that matters under ThreadSanitizer
 * (scripts/test-c.sh --sanitize=thread): writer and reader are two threads
 * of one process using two handles on one mapping, so TSan sees every
 * access of both sides and checks the release/acquire protocol.
 * SHMLINK_STRESS_MESSAGES scales the count (default 40000 per run).
 */
#include <pthread.h>

#include "channel_stress.h"
#include "../../core/src/channel_internal.h"

struct targ {
    shmlink_channel *w;
    uint64_t count, seed;
    int rc;
};

static void *writer_thread(void *p)
{
    struct targ *a = p;
    a->rc = cs_write(a->w, a->count, a->seed);
    return NULL;
}

static void run(shmlink_backend backend, size_t capacity, uint64_t count,
                uint64_t seed, const char *spin)
{
    char addr[SHMLINK_ADDRESS_MAX];
    shmlink_channel *r;
    t_addr(backend, addr, "threads");
    ASSERT_OK(shmlink_channel_create(addr, capacity, 0600, SHMLINK_READER, &r));
    t_register(shmlink_channel_address(r));
    ASSERT_OK(shmlink_channel_close(r));
    /* both handles on one mapping, so TSan sees one memory */
    shmlink_segment *seg;
    ASSERT_OK(shmlink_segment_open(addr, 0, &seg));
    shmlink_channel *w;
    ASSERT_OK(shmlink__channel_attach(seg, SHMLINK_READER, &r));
    ASSERT_OK(shmlink__channel_attach(seg, SHMLINK_WRITER, &w));
    struct targ a = {w, count, seed, -1};
    uint64_t t0 = cu_now_ns();
    pthread_t th;
    ASSERT_EQ(pthread_create(&th, NULL, writer_thread, &a), 0);
    int rc = cs_reader(r, count, seed);
    ASSERT_EQ(pthread_join(th, NULL), 0);
    ASSERT_EQ(a.rc, 0);
    ASSERT_EQ(rc, 0);
    shmlink_segment_close(seg);
    printf("%s capacity %zu spin %s: %llu messages in %.2f s\n",
           t_backend_name(backend), capacity, spin, (unsigned long long)count,
           (double)(cu_now_ns() - t0) / 1e9);
    ASSERT_OK(t_remove(addr));
}

int main(void)
{
    uint64_t count = (uint64_t)cu_env("SHMLINK_STRESS_MESSAGES", 40000);
    /* default spinning, then (re-exec) no spinning: every wait sleeps */
    const char *spin = getenv("SHMLINK_SPIN_NS");
    run(SHMLINK_BACKEND_POSIX, 4096, count / 2, 11, spin ? spin : "default");
    run(SHMLINK_BACKEND_SYSV, 1 << 15, count / 2, 12, spin ? spin : "default");
    return T_EXIT_PASS;
}
