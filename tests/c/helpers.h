/*
 * Test helpers for the shmlink C tests (one small program per behaviour).
 *
 * Exit codes follow liburing's test/helpers.h: 0 pass, 1 fail, 77 skip
 * (CTest is told SKIP_RETURN_CODE 77).
 *
 * Assertions follow libuv's test/task.h: ASSERT_EQ(a, b) and friends print
 * both expressions and both values with file:line, then fail the test.
 *
 * Unique names: t_posix_addr() / t_sysv_addr() hand out addresses that no
 * other test process uses (pid + a per-process counter), so tests can run
 * in parallel. Every address a test creates goes into the cleanup registry
 * (t_register, or t_create which does it for you); the registry is emptied
 * by removing each address (errors ignored) from an atexit handler, from a
 * SIGINT/SIGTERM/SIGHUP handler (and SIGABRT/SIGSEGV/SIGBUS/SIGFPE/SIGILL
 * outside sanitizer builds), and from the failure path of every ASSERT,
 * so a failing test leaves nothing in /dev/shm or `ipcs -m`.
 *
 * Forked children: the registry belongs to the process that filled it. A
 * child that fails an ASSERT or calls exit() does not remove anything (the
 * parent sees the failure and cleans up); children should end with _exit().
 *
 * Header-only; every function is static and marked unused so a test that
 * does not need one still compiles with -Wall -Wextra -Werror.
 */
#ifndef SHMLINK_TEST_HELPERS_H
#define SHMLINK_TEST_HELPERS_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shmlink.h"

#define T_EXIT_PASS 0
#define T_EXIT_FAIL 1
#define T_EXIT_SKIP 77

#define T_UNUSED __attribute__((unused))

/* ------------------------------------------------------------------------ */
/* Cleanup registry                                                          */
/* ------------------------------------------------------------------------ */

#define T_REGISTRY_MAX 512

static char t_registry[T_REGISTRY_MAX][SHMLINK_ADDRESS_MAX];
static int t_registry_used[T_REGISTRY_MAX];
static pid_t t_registry_owner;
static int t_registry_ready;

/* Removes every registered address (errors ignored), only in the process
 * that registered them. */
static T_UNUSED void t_cleanup(void)
{
    if (!t_registry_ready || getpid() != t_registry_owner)
        return;
    for (int i = 0; i < T_REGISTRY_MAX; i++) {
        if (t_registry_used[i]) {
            (void)shmlink_remove(t_registry[i]);
            t_registry_used[i] = 0;
        }
    }
}

static T_UNUSED void t_cleanup_signal(int sig)
{
    t_cleanup();
    signal(sig, SIG_DFL);
    raise(sig); /* delivered on return: the default action (exit / core) */
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define T_CATCH_CRASHES 0 /* the sanitizer's own crash report matters more */
#else
#define T_CATCH_CRASHES 1
#endif

static T_UNUSED void t_registry_init(void)
{
    if (t_registry_ready && t_registry_owner == getpid())
        return;
    /* A forked child that registers its own segments becomes their owner;
     * it forgets the parent's entries (the parent still removes those). */
    memset(t_registry_used, 0, sizeof(t_registry_used));
    t_registry_owner = getpid();
    if (!t_registry_ready) {
        atexit(t_cleanup);
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = t_cleanup_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGHUP, &sa, NULL);
        if (T_CATCH_CRASHES) {
            /* A crashing test (assert, bad pointer) removes its segments
             * too; a test that expects a crash in a child resets the
             * handler there, and a child never removes anything anyway. */
            sigaction(SIGABRT, &sa, NULL);
            sigaction(SIGSEGV, &sa, NULL);
            sigaction(SIGBUS, &sa, NULL);
            sigaction(SIGFPE, &sa, NULL);
            sigaction(SIGILL, &sa, NULL);
        }
    }
    t_registry_ready = 1;
}

/* Registers an address for removal at exit or failure. Aborts the test if
 * the registry is full (a test should not need hundreds of segments). */
static T_UNUSED void t_register(const char *address)
{
    t_registry_init();
    for (int i = 0; i < T_REGISTRY_MAX; i++) {
        if (!t_registry_used[i]) {
            snprintf(t_registry[i], SHMLINK_ADDRESS_MAX, "%s", address);
            t_registry_used[i] = 1;
            return;
        }
    }
    fprintf(stderr, "helpers.h: cleanup registry full (%d entries)\n",
            T_REGISTRY_MAX);
    t_cleanup();
    exit(T_EXIT_FAIL);
}

/* Forgets an address (e.g. after the test removed it itself, so that a
 * later, unrelated segment reusing a System V id is not touched). */
static T_UNUSED void t_unregister(const char *address)
{
    if (!t_registry_ready || getpid() != t_registry_owner)
        return;
    for (int i = 0; i < T_REGISTRY_MAX; i++)
        if (t_registry_used[i] && strcmp(t_registry[i], address) == 0)
            t_registry_used[i] = 0;
}

/* Removes an address now and forgets it. Returns shmlink_remove's code. */
static T_UNUSED int t_remove(const char *address)
{
    int rc = shmlink_remove(address);
    t_unregister(address);
    return rc;
}

/* Fails the test: cleans up (owner only) and exits 1. */
static T_UNUSED __attribute__((noreturn)) void t_fail(void)
{
    fflush(stdout);
    fflush(stderr);
    if (t_registry_ready && getpid() != t_registry_owner)
        _exit(T_EXIT_FAIL); /* forked child: leave the parent's segments */
    t_cleanup();
    exit(T_EXIT_FAIL);
}

/* Skips the test with a reason: cleans up and exits 77. */
static T_UNUSED __attribute__((noreturn, format(printf, 1, 2))) void
t_skip(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "SKIP: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    fflush(stderr);
    if (t_registry_ready && getpid() != t_registry_owner)
        _exit(T_EXIT_SKIP);
    t_cleanup();
    exit(T_EXIT_SKIP);
}

/* ------------------------------------------------------------------------ */
/* Assertions                                                                */
/* ------------------------------------------------------------------------ */

#define T_FAIL_MSG(...)                                                        \
    do {                                                                       \
        fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                        \
        fprintf(stderr, __VA_ARGS__);                                          \
        fprintf(stderr, "\n");                                                 \
        t_fail();                                                              \
    } while (0)

/* Integer comparisons; both sides are evaluated once, as long long, and a
 * size_t above LLONG_MAX prints negative (no test relies on such values). */
#define T_ASSERT_CMP(a, op, b)                                                 \
    do {                                                                       \
        long long t_a_ = (long long)(a);                                       \
        long long t_b_ = (long long)(b);                                       \
        if (!(t_a_ op t_b_))                                                   \
            T_FAIL_MSG("assertion failed: %s %s %s (%lld %s %lld)", #a, #op,   \
                       #b, t_a_, #op, t_b_);                                   \
    } while (0)

#define ASSERT_EQ(a, b) T_ASSERT_CMP(a, ==, b)
#define ASSERT_NE(a, b) T_ASSERT_CMP(a, !=, b)
#define ASSERT_GE(a, b) T_ASSERT_CMP(a, >=, b)
#define ASSERT_LE(a, b) T_ASSERT_CMP(a, <=, b)
#define ASSERT_GT(a, b) T_ASSERT_CMP(a, >, b)
#define ASSERT_LT(a, b) T_ASSERT_CMP(a, <, b)

/* Unsigned 64-bit comparison (sizes, counters), printed in decimal. */
#define ASSERT_UEQ(a, b)                                                       \
    do {                                                                       \
        unsigned long long t_a_ = (unsigned long long)(a);                     \
        unsigned long long t_b_ = (unsigned long long)(b);                     \
        if (t_a_ != t_b_)                                                      \
            T_FAIL_MSG("assertion failed: %s == %s (%llu == %llu)", #a, #b,    \
                       t_a_, t_b_);                                            \
    } while (0)

#define ASSERT_TRUE(x)                                                         \
    do {                                                                       \
        if (!(x))                                                              \
            T_FAIL_MSG("assertion failed: %s", #x);                            \
    } while (0)

#define ASSERT_FALSE(x) ASSERT_TRUE(!(x))

#define ASSERT_NULL(p)                                                         \
    do {                                                                       \
        const void *t_p_ = (const void *)(p);                                  \
        if (t_p_ != NULL)                                                      \
            T_FAIL_MSG("assertion failed: %s == NULL (%p)", #p, t_p_);         \
    } while (0)

#define ASSERT_NOT_NULL(p)                                                     \
    do {                                                                       \
        if ((const void *)(p) == NULL)                                         \
            T_FAIL_MSG("assertion failed: %s != NULL", #p);                    \
    } while (0)

#define ASSERT_PTR_EQ(a, b)                                                    \
    do {                                                                       \
        const void *t_a_ = (const void *)(a);                                  \
        const void *t_b_ = (const void *)(b);                                  \
        if (t_a_ != t_b_)                                                      \
            T_FAIL_MSG("assertion failed: %s == %s (%p == %p)", #a, #b, t_a_,  \
                       t_b_);                                                  \
    } while (0)

#define ASSERT_STREQ(a, b)                                                     \
    do {                                                                       \
        const char *t_a_ = (a);                                                \
        const char *t_b_ = (b);                                                \
        if (t_a_ == NULL || t_b_ == NULL || strcmp(t_a_, t_b_) != 0)           \
            T_FAIL_MSG("assertion failed: %s == %s (\"%s\" == \"%s\")", #a,    \
                       #b, t_a_ ? t_a_ : "(null)", t_b_ ? t_b_ : "(null)");    \
    } while (0)

#define ASSERT_MEMEQ(a, b, n)                                                  \
    do {                                                                       \
        if (memcmp((a), (b), (n)) != 0)                                        \
            T_FAIL_MSG("assertion failed: memcmp(%s, %s, %s) == 0", #a, #b,    \
                       #n);                                                    \
    } while (0)

/* rc must be 0 (or any non-negative count for ASSERT_NONNEG); a negative
 * shmlink code is printed with its text. */
#define ASSERT_OK(rc)                                                          \
    do {                                                                       \
        int t_rc_ = (int)(rc);                                                 \
        if (t_rc_ != 0)                                                        \
            T_FAIL_MSG("%s failed: %d (%s)", #rc, t_rc_,                       \
                       shmlink_strerror(t_rc_));                               \
    } while (0)

#define ASSERT_NONNEG(rc)                                                      \
    do {                                                                       \
        int t_rc_ = (int)(rc);                                                 \
        if (t_rc_ < 0)                                                         \
            T_FAIL_MSG("%s failed: %d (%s)", #rc, t_rc_,                       \
                       shmlink_strerror(t_rc_));                               \
    } while (0)

/* rc must be exactly the (negative) code want, e.g. ASSERT_ERR(rc, -EEXIST). */
#define ASSERT_ERR(rc, want)                                                   \
    do {                                                                       \
        int t_rc_ = (int)(rc);                                                 \
        int t_want_ = (int)(want);                                             \
        if (t_rc_ != t_want_)                                                  \
            T_FAIL_MSG("%s: got %d (%s), want %s = %d (%s)", #rc, t_rc_,       \
                       shmlink_strerror(t_rc_), #want, t_want_,                \
                       shmlink_strerror(t_want_));                             \
    } while (0)

/* A libc call returning -1/errno must succeed. */
#define ASSERT_SYS(expr)                                                       \
    do {                                                                       \
        if ((expr) == -1)                                                      \
            T_FAIL_MSG("%s failed: %s", #expr, strerror(errno));               \
    } while (0)

/* ------------------------------------------------------------------------ */
/* Unique names                                                              */
/* ------------------------------------------------------------------------ */

static unsigned t_name_counter;

/* Writes "posix:/shmlink-test-<pid>-<counter>-<tag>" into buf
 * (SHMLINK_ADDRESS_MAX bytes) and returns buf. tag may be NULL. */
static T_UNUSED char *t_posix_addr(char *buf, const char *tag)
{
    snprintf(buf, SHMLINK_ADDRESS_MAX, "posix:/shmlink-test-%ld-%u-%s",
             (long)getpid(), t_name_counter++, tag ? tag : "x");
    return buf;
}

/* System V key derived from pid and counter: the pid (< 2^22 on Linux)
 * fills the top 22 bits, the counter the low 10, so two live test processes
 * never derive the same key; a key that is in use anyway (another program)
 * is skipped. Never 0. */
static T_UNUSED uint32_t t_sysv_key(void)
{
    for (int tries = 0; tries < 1024; tries++) {
        uint32_t key = ((uint32_t)getpid() << 10) | (t_name_counter++ & 0x3ffu);
        if (key == 0 || key == (uint32_t)IPC_PRIVATE)
            continue;
        if (shmget((key_t)key, 0, 0) == -1 && errno == ENOENT)
            return key;
    }
    fprintf(stderr, "helpers.h: no free System V key\n");
    t_fail();
}

/* Writes "sysv:0x%08x" with a fresh key into buf and returns buf. */
static T_UNUSED char *t_sysv_addr(char *buf)
{
    snprintf(buf, SHMLINK_ADDRESS_MAX, "sysv:0x%08" PRIx32, t_sysv_key());
    return buf;
}

/* Fresh address of the given backend (posix uses tag). */
static T_UNUSED char *t_addr(shmlink_backend backend, char *buf,
                             const char *tag)
{
    return backend == SHMLINK_BACKEND_POSIX ? t_posix_addr(buf, tag)
                                            : t_sysv_addr(buf);
}

static T_UNUSED const char *t_backend_name(shmlink_backend backend)
{
    return backend == SHMLINK_BACKEND_POSIX ? "posix" : "sysv";
}

/* shmlink_segment_create + t_register of the resulting address (which for
 * "sysv:private" is the "sysv-id:N" one). Returns the create's code. */
static T_UNUSED int t_create(const char *address, size_t size, unsigned mode,
                             shmlink_segment **out)
{
    int rc = shmlink_segment_create(address, size, mode, out);
    if (rc == 0)
        t_register(shmlink_segment_address(*out));
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Processes                                                                 */
/* ------------------------------------------------------------------------ */

/* Waits for pid and returns its raw wait status; fails the test on error. */
static T_UNUSED int t_wait(pid_t pid)
{
    int status;
    while (waitpid(pid, &status, 0) == -1) {
        if (errno != EINTR) {
            fprintf(stderr, "helpers.h: waitpid(%ld): %s\n", (long)pid,
                    strerror(errno));
            t_fail();
        }
    }
    return status;
}

/* Waits for pid and asserts it exited with code 0. */
#define ASSERT_CHILD_OK(pid)                                                   \
    do {                                                                       \
        int t_st_ = t_wait(pid);                                               \
        if (!WIFEXITED(t_st_) || WEXITSTATUS(t_st_) != 0)                      \
            T_FAIL_MSG("child %s: %s %d", #pid,                                \
                       WIFEXITED(t_st_) ? "exit code" : "killed by signal",    \
                       WIFEXITED(t_st_) ? WEXITSTATUS(t_st_)                   \
                                        : WTERMSIG(t_st_));                    \
    } while (0)

#endif /* SHMLINK_TEST_HELPERS_H */
