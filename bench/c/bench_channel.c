/*
 * C-to-C benchmark of the shmlink channel beside its peers, all measured in
 * the same run on the same machine (not a test: it asserts nothing):
 *
 *   throughput  8 B, 64 B, 1 KiB, 64 KiB, 1 MiB messages: shmlink (copying
 *               send/recv), pipe, Unix stream socket; memcpy bandwidth;
 *               futex system calls per message while streaming (counted in
 *               the core, both processes)
 *   latency     round trip of an 8-byte message, p50 / p99: shmlink with a
 *               spinning peer (polling with timeout 0), with the default
 *               (spin 50 us, then sleep), with a sleeping peer (no spin),
 *               pipe, Unix socket, raw cache-line ping-pong
 *
 * Usage: bench_channel [seconds per throughput cell, default 0.5]
 * Writer and reader are separate processes pinned to CPUs 0 and 1 when
 * there are two; other load on the machine shows up in the figures.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shmlink.h"
#include "channel_internal.h"
#include "atomics.h"
#include "wait.h"

static double cell_seconds = 0.5;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Page-aligned buffers for every contender: glibc's memcpy on some AMD
 * cores is ~10x slower when destination - source is a small multiple of
 * 16 modulo 4096 (as two consecutive malloc blocks often are), which would
 * measure the allocator, not the transport. */
static void *balloc(size_t n)
{
    void *p = NULL;
    if (posix_memalign(&p, 4096, n ? n : 1) != 0) {
        fprintf(stderr, "bench: out of memory\n");
        exit(1);
    }
    return p;
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench: %s: %s\n", what, shmlink_strerror(rc));
    exit(1);
}

static void pin(int cpu)
{
    if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
        return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    (void)sched_setaffinity(0, sizeof(set), &set);
}

/* Shared scratch page between parent and child. */
struct shared {
    uint64_t futex_calls;
    uint64_t count;
    volatile uint64_t line[16] __attribute__((aligned(64)));
};

static struct shared *sh;

static void child_wait(pid_t pid)
{
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "bench: child failed\n");
        exit(1);
    }
}

static char chan_addr[64];
static unsigned chan_counter;

static const char *new_addr(void)
{
    snprintf(chan_addr, sizeof chan_addr, "posix:/shmlink-bench-%ld-%u",
             (long)getpid(), chan_counter++);
    return chan_addr;
}

/* ------------------------------------------------------------------------ */
/* Throughput                                                                */
/* ------------------------------------------------------------------------ */

struct tput {
    double mb_s, msg_s, sys_per_msg;
};

static struct tput shmlink_tput(size_t size)
{
    size_t cap = size >= (1u << 20) ? (8u << 20) : (4u << 20);
    const char *addr = new_addr();
    shmlink_channel *r;
    int rc = shmlink_channel_create(addr, cap, 0600, SHMLINK_READER, &r);
    if (rc < 0)
        die("create", rc);
    pid_t pid = fork();
    if (pid == 0) {
        pin(0);
        shmlink_channel *w;
        if ((rc = shmlink_channel_open(addr, SHMLINK_WRITER, &w)) < 0)
            die("open writer", rc);
        uint8_t *buf = balloc(size);
        memset(buf, 0x5a, size);
        uint64_t f0 = shmlink__wait_syscalls();
        uint64_t end = now_ns() + (uint64_t)(cell_seconds * 1e9), n = 0;
        for (;;) {
            if ((rc = shmlink_channel_send(w, buf, size, SHMLINK_FOREVER)) < 0)
                die("send", rc);
            if ((++n & 63) == 0 && now_ns() >= end)
                break;
        }
        sh->futex_calls = shmlink__wait_syscalls() - f0;
        sh->count = n;
        shmlink_channel_close(w);
        _exit(0);
    }
    pin(1);
    uint8_t *buf = balloc(size);
    uint64_t f0 = shmlink__wait_syscalls(), n = 0, t0 = 0;
    for (;;) {
        size_t len;
        rc = shmlink_channel_recv(r, buf, size, &len, SHMLINK_FOREVER);
        if (rc == -ENODATA)
            break;
        if (rc < 0)
            die("recv", rc);
        if (n++ == 0)
            t0 = now_ns();
    }
    uint64_t el = now_ns() - t0;
    uint64_t calls = shmlink__wait_syscalls() - f0;
    child_wait(pid);
    shmlink_channel_close(r);
    shmlink_remove(addr);
    free(buf);
    struct tput t;
    t.msg_s = (double)(n - 1) / ((double)el / 1e9);
    t.mb_s = t.msg_s * (double)size / 1e6;
    t.sys_per_msg = (double)(calls + sh->futex_calls) / (double)n;
    if (sh->count != n) {
        fprintf(stderr, "bench: sent %llu, received %llu\n",
                (unsigned long long)sh->count, (unsigned long long)n);
        exit(1);
    }
    return t;
}

static int read_full(int fd, uint8_t *p, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t k = read(fd, p + got, n - got);
        if (k == 0)
            return 0;
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        got += (size_t)k;
    }
    return 1;
}

static int write_full(int fd, const uint8_t *p, size_t n)
{
    size_t put = 0;
    while (put < n) {
        ssize_t k = write(fd, p + put, n - put);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        put += (size_t)k;
    }
    return 0;
}

/* kind 0 = pipe, 1 = Unix stream socket */
static struct tput fd_tput(int kind, size_t size)
{
    int fds[2];
    if (kind == 0 ? pipe(fds) : socketpair(AF_UNIX, SOCK_STREAM, 0, fds)) {
        perror("bench: pipe/socketpair");
        exit(1);
    }
    int rfd = fds[0], wfd = fds[1];
    pid_t pid = fork();
    if (pid == 0) {
        pin(0);
        close(rfd);
        uint8_t *buf = balloc(size);
        memset(buf, 0x5a, size);
        uint64_t end = now_ns() + (uint64_t)(cell_seconds * 1e9), n = 0;
        for (;;) {
            if (write_full(wfd, buf, size) < 0)
                _exit(1);
            if ((++n & 63) == 0 && now_ns() >= end)
                break;
        }
        sh->count = n;
        close(wfd);
        _exit(0);
    }
    pin(1);
    close(wfd);
    uint8_t *buf = balloc(size);
    uint64_t n = 0, t0 = 0;
    while (read_full(rfd, buf, size) == 1)
        if (n++ == 0)
            t0 = now_ns();
    uint64_t el = now_ns() - t0;
    close(rfd);
    child_wait(pid);
    free(buf);
    struct tput t;
    t.msg_s = (double)(n - 1) / ((double)el / 1e9);
    t.mb_s = t.msg_s * (double)size / 1e6;
    t.sys_per_msg = 0; /* at least one read and one write per message */
    return t;
}

/* memcpy bandwidth, one core. region == size: the same two buffers over
 * and over (cache-hot); region > size: the destination walks a region as
 * large as the channel's ring, like the writer's copies do. */
static double memcpy_mb_s(size_t size, size_t region)
{
    if (region < size)
        region = size;
    uint8_t *a = balloc(size), *b = balloc(region);
    memset(a, 1, size);
    memset(b, 2, region);
    size_t slots = region / size, slot = 0;
    uint64_t n = 0, t0 = now_ns(), end = t0 + (uint64_t)(cell_seconds * 1e9);
    for (;;) {
        memcpy(b + slot * size, a, size);
        slot = slot + 1 == slots ? 0 : slot + 1;
        __asm__ __volatile__("" ::: "memory");
        if ((++n & 15) == 0 && now_ns() >= end)
            break;
    }
    double s = (double)(now_ns() - t0) / 1e9;
    free(a);
    free(b);
    return (double)n * (double)size / s / 1e6;
}

/* ------------------------------------------------------------------------ */
/* Latency                                                                   */
/* ------------------------------------------------------------------------ */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

struct lat {
    double p50_us, p99_us;
};

static struct lat summarize(uint64_t *v, size_t n)
{
    qsort(v, n, sizeof(*v), cmp_u64);
    struct lat l = {(double)v[n / 2] / 1e3, (double)v[n * 99 / 100] / 1e3};
    return l;
}

/* mode: 0 spin (poll with timeout 0), 1 default, 2 sleep (no spin) */
static int lat_recv(shmlink_channel *ch, uint8_t *buf, int mode)
{
    size_t len;
    int rc;
    if (mode == 0) {
        while ((rc = shmlink_channel_recv(ch, buf, 64, &len, 0)) == -ETIMEDOUT)
            ;
    } else {
        rc = shmlink_channel_recv(ch, buf, 64, &len, SHMLINK_FOREVER);
    }
    return rc;
}

static struct lat shmlink_rtt(int mode, size_t iters)
{
    char a1[64], a2[64];
    snprintf(a1, sizeof a1, "%s", new_addr());
    snprintf(a2, sizeof a2, "%s", new_addr());
    shmlink_channel *ping, *pong;
    int rc;
    if ((rc = shmlink_channel_create(a1, 4096, 0600, SHMLINK_WRITER, &ping)) < 0 ||
        (rc = shmlink_channel_create(a2, 4096, 0600, SHMLINK_READER, &pong)) < 0)
        die("create", rc);
    pid_t pid = fork();
    if (pid == 0) {
        pin(0);
        shmlink_channel *in, *out;
        if ((rc = shmlink_channel_open(a1, SHMLINK_READER, &in)) < 0 ||
            (rc = shmlink_channel_open(a2, SHMLINK_WRITER, &out)) < 0)
            die("open", rc);
        if (mode == 2) {
            shmlink__channel_set_spin(in, 0);
            shmlink__channel_set_spin(out, 0);
        }
        uint8_t buf[64];
        for (;;) {
            rc = lat_recv(in, buf, mode);
            if (rc == -ENODATA)
                break;
            if (rc < 0 || (rc = shmlink_channel_send(out, buf, 8, SHMLINK_FOREVER)) < 0)
                die("echo", rc);
        }
        shmlink_channel_close(in);
        shmlink_channel_close(out);
        _exit(0);
    }
    pin(1);
    if (mode == 2) {
        shmlink__channel_set_spin(ping, 0);
        shmlink__channel_set_spin(pong, 0);
    }
    uint64_t *v = malloc(iters * sizeof(*v));
    uint8_t buf[64] = {0};
    size_t warm = iters / 10;
    for (size_t i = 0; i < iters + warm; i++) {
        uint64_t t0 = now_ns();
        if ((rc = shmlink_channel_send(ping, buf, 8, SHMLINK_FOREVER)) < 0 ||
            (rc = lat_recv(pong, buf, mode)) < 0)
            die("ping", rc);
        if (i >= warm)
            v[i - warm] = now_ns() - t0;
    }
    shmlink_channel_close(ping);
    child_wait(pid);
    shmlink_channel_close(pong);
    shmlink_remove(a1);
    shmlink_remove(a2);
    struct lat l = summarize(v, iters);
    free(v);
    return l;
}

static struct lat fd_rtt(int kind, size_t iters)
{
    int a[2], b[2];
    if (kind == 0 ? (pipe(a) || pipe(b))
                  : (socketpair(AF_UNIX, SOCK_STREAM, 0, a) ||
                     socketpair(AF_UNIX, SOCK_STREAM, 0, b))) {
        perror("bench: pipe/socketpair");
        exit(1);
    }
    /* pipe: a[1] -> a[0]; socket: either end */
    pid_t pid = fork();
    if (pid == 0) {
        pin(0);
        close(a[1]);
        close(b[0]);
        uint8_t buf[8];
        while (read_full(a[0], buf, 8) == 1)
            if (write_full(b[1], buf, 8) < 0)
                _exit(1);
        _exit(0);
    }
    pin(1);
    close(a[0]);
    close(b[1]);
    uint64_t *v = malloc(iters * sizeof(*v));
    uint8_t buf[8] = {0};
    size_t warm = iters / 10;
    for (size_t i = 0; i < iters + warm; i++) {
        uint64_t t0 = now_ns();
        if (write_full(a[1], buf, 8) < 0 || read_full(b[0], buf, 8) != 1) {
            perror("bench: ping");
            exit(1);
        }
        if (i >= warm)
            v[i - warm] = now_ns() - t0;
    }
    close(a[1]); /* the echo process reads end of file */
    child_wait(pid);
    close(b[0]);
    struct lat l = summarize(v, iters);
    free(v);
    return l;
}

/* Two processes bounce one cache line: the floor for any shared-memory
 * round trip. */
static struct lat cacheline_rtt(size_t iters)
{
    volatile uint64_t *x = &sh->line[0];
    *x = 0;
    size_t warm = iters / 10, total = iters + warm;
    pid_t pid = fork();
    if (pid == 0) {
        pin(0);
        for (uint64_t k = 0; k < total; k++) {
            while (__atomic_load_n(x, __ATOMIC_ACQUIRE) != 2 * k + 1)
                shm_cpu_relax();
            __atomic_store_n(x, 2 * k + 2, __ATOMIC_RELEASE);
        }
        _exit(0);
    }
    pin(1);
    uint64_t *v = malloc(iters * sizeof(*v));
    for (uint64_t k = 0; k < total; k++) {
        uint64_t t0 = now_ns();
        __atomic_store_n(x, 2 * k + 1, __ATOMIC_RELEASE);
        while (__atomic_load_n(x, __ATOMIC_ACQUIRE) != 2 * k + 2)
            shm_cpu_relax();
        if (k >= warm)
            v[k - warm] = now_ns() - t0;
    }
    child_wait(pid);
    struct lat l = summarize(v, iters);
    free(v);
    return l;
}

/* ------------------------------------------------------------------------ */

int main(int argc, char **argv)
{
    if (argc > 1)
        cell_seconds = atof(argv[1]);
    if (cell_seconds <= 0)
        cell_seconds = 0.5;
    sh = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED) {
        perror("bench: mmap");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    printf("shmlink C-to-C benchmark: %ld CPUs, %.2f s per throughput cell, "
           "default spin %lld ns\n\n",
           sysconf(_SC_NPROCESSORS_ONLN), cell_seconds, (long long)shmlink__spin_ns());

    static const size_t sizes[] = {8, 64, 1024, 65536, 1048576};
    static const char *names[] = {"8 B", "64 B", "1 KiB", "64 KiB", "1 MiB"};
    printf("Throughput (MB/s of payload; msg/s)\n");
    printf("%-7s %10s %11s %9s %9s %9s %9s %9s %7s %7s %8s %8s\n", "size", "shmlink",
           "msg/s", "sys/msg", "pipe", "unix", "memcpy", "memcpy-r", "x pipe", "x unix",
           "/memcpy", "/mcpy-r");
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        /* best of three runs each: other load on the machine only ever
         * slows a run down */
        struct tput s = {0, 0, 0}, p = {0, 0, 0}, u = {0, 0, 0};
        double m = 0, mr = 0;
        for (int rep = 0; rep < 3; rep++) {
            struct tput x = shmlink_tput(sizes[i]);
            if (x.mb_s > s.mb_s)
                s = x;
            x = fd_tput(0, sizes[i]);
            if (x.mb_s > p.mb_s)
                p = x;
            x = fd_tput(1, sizes[i]);
            if (x.mb_s > u.mb_s)
                u = x;
            double y = memcpy_mb_s(sizes[i], sizes[i]);
            if (y > m)
                m = y;
            y = memcpy_mb_s(sizes[i], sizes[i] >= (1u << 20) ? (8u << 20) : (4u << 20));
            if (y > mr)
                mr = y;
        }
        printf("%-7s %10.1f %11.0f %9.4f %9.1f %9.1f %9.1f %9.1f %7.2f %7.2f %7.0f%% %7.0f%%\n",
               names[i], s.mb_s, s.msg_s, s.sys_per_msg, p.mb_s, u.mb_s, m, mr,
               s.mb_s / p.mb_s, s.mb_s / u.mb_s, 100.0 * s.mb_s / m, 100.0 * s.mb_s / mr);
        fflush(stdout);
    }

    printf("memcpy: cache-hot copy of one message; memcpy-r: copies walking a ring-sized\n"
           "region (4 MiB, 8 MiB for 1 MiB), as the channel's writer does. sys/msg: futex\n"
           "calls of both processes per message (counted in the core).\n");
    printf("\nRound trip, 8-byte message (us)\n");
    printf("%-34s %9s %9s %12s\n", "", "p50", "p99", "p50 ratio");
    struct lat cl = cacheline_rtt(200000);
    struct lat pp = fd_rtt(0, 20000);
    struct lat us = fd_rtt(1, 20000);
    struct lat spin = shmlink_rtt(0, 200000);
    struct lat dflt = shmlink_rtt(1, 50000);
    struct lat slp = shmlink_rtt(2, 20000);
    printf("%-34s %9.3f %9.3f %12s\n", "raw cache-line ping-pong", cl.p50_us, cl.p99_us, "1.00 x line");
    printf("%-34s %9.3f %9.3f %7.2f x line\n", "shmlink, spinning peer (poll)", spin.p50_us,
           spin.p99_us, spin.p50_us / cl.p50_us);
    printf("%-34s %9.3f %9.3f %7.2f x pipe\n", "shmlink, default (spin, then sleep)",
           dflt.p50_us, dflt.p99_us, dflt.p50_us / pp.p50_us);
    printf("%-34s %9.3f %9.3f %7.2f x pipe\n", "shmlink, sleeping peer (futex)", slp.p50_us,
           slp.p99_us, slp.p50_us / pp.p50_us);
    printf("%-34s %9.3f %9.3f %12s\n", "pipe", pp.p50_us, pp.p99_us, "1.00 x pipe");
    printf("%-34s %9.3f %9.3f %7.2f x pipe\n", "unix socket", us.p50_us, us.p99_us,
           us.p50_us / pp.p50_us);
    return 0;
}
