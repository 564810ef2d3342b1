/*
 * Multi-process stress: a forked writer sends messages of random sizes
 * (0 .. max) with sequence numbers and checksums, the parent reads and
 * checks every one, on both backends and two ring sizes.
 * SHMLINK_STRESS_MESSAGES scales the count (default 60000 in all;
 * try 5000000).
 */
#include "channel_stress.h"

static void run(shmlink_backend backend, size_t capacity, uint64_t count,
                uint64_t seed)
{
    char addr[SHMLINK_ADDRESS_MAX];
    shmlink_channel *r;
    t_addr(backend, addr, "stress");
    ASSERT_OK(shmlink_channel_create(addr, capacity, 0600, SHMLINK_READER, &r));
    t_register(shmlink_channel_address(r));
    uint64_t t0 = cu_now_ns();
    pid_t pid = fork();
    ASSERT_SYS(pid);
    if (pid == 0)
        _exit(cs_writer(shmlink_channel_address(r), count, seed));
    int rc = cs_reader(r, count, seed);
    ASSERT_CHILD_OK(pid);
    ASSERT_EQ(rc, 0);
    double s = (double)(cu_now_ns() - t0) / 1e9;
    printf("%s capacity %zu: %llu messages in %.2f s (%.0f msg/s)\n",
           t_backend_name(backend), capacity, (unsigned long long)count, s,
           (double)count / s);
    ASSERT_OK(t_remove(addr));
}

int main(void)
{
    /* Sanitizers cannot follow another process, and slow the byte loops
     * down: the threaded test is the one that matters there. */
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
    uint64_t count = (uint64_t)cu_env("SHMLINK_STRESS_MESSAGES", 12000);
#else
    uint64_t count = (uint64_t)cu_env("SHMLINK_STRESS_MESSAGES", 60000);
#endif
    run(SHMLINK_BACKEND_POSIX, 4096, count / 2, 1);
    run(SHMLINK_BACKEND_SYSV, 4096, count / 2, 2);
    run(SHMLINK_BACKEND_POSIX, 1 << 16, count / 2, 3);
    run(SHMLINK_BACKEND_SYSV, 1 << 16, count / 2, 4);
    return T_EXIT_PASS;
}
