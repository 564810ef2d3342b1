#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "wait.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static uint64_t wait_syscall_count;
static int64_t wait_spin_cached = -1;

uint64_t shmlink__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int shmlink__futex_wait(uint32_t *word, uint32_t expected, int64_t timeout_ns)
{
    struct timespec ts;
    if (timeout_ns <= 0)
        timeout_ns = 1;
    ts.tv_sec = (time_t)(timeout_ns / 1000000000LL);
    ts.tv_nsec = (long)(timeout_ns % 1000000000LL);
    __atomic_fetch_add(&wait_syscall_count, 1, __ATOMIC_RELAXED);
    /* FUTEX_WAIT without FUTEX_PRIVATE_FLAG: the word is in memory shared
     * between processes, so the kernel must key it by the physical page. */
    long rc = syscall(SYS_futex, word, FUTEX_WAIT, expected, &ts, NULL, 0);
    if (rc == 0)
        return 0;
    switch (errno) {
    case EAGAIN: return 0; /* the word changed before we slept: re-check */
    case ETIMEDOUT: return -ETIMEDOUT;
    case EINTR: return -EINTR;
    default: return -errno;
    }
}

int shmlink__futex_wake(uint32_t *word, int n)
{
    __atomic_fetch_add(&wait_syscall_count, 1, __ATOMIC_RELAXED);
    long rc = syscall(SYS_futex, word, FUTEX_WAKE, n, NULL, NULL, 0);
    return rc < 0 ? -errno : (int)rc;
}

uint64_t shmlink__wait_syscalls(void)
{
    return __atomic_load_n(&wait_syscall_count, __ATOMIC_RELAXED);
}

int64_t shmlink__spin_ns(void)
{
    int64_t v = __atomic_load_n(&wait_spin_cached, __ATOMIC_RELAXED);
    if (v >= 0)
        return v;
    v = 50000;
    const char *env = getenv("SHMLINK_SPIN_NS");
    if (env && *env) {
        char *end;
        errno = 0;
        long long x = strtoll(env, &end, 10);
        if (errno == 0 && *end == '\0' && x >= 0 && x <= 1000000000LL)
            v = x;
    }
    __atomic_store_n(&wait_spin_cached, v, __ATOMIC_RELAXED);
    return v;
}
