/*
 * C-to-C benchmark of the shmlink channel beside its peers, all measured in
 * the same run on the same machine (not a test: it asserts nothing about
 * speed, but fails loudly on a lost, torn or reordered message):
 *
 *   throughput  8 B, 64 B, 1 KiB, 64 KiB, 1 MiB messages: shmlink (copying
 *               send/recv), pipe, Unix stream socket; memcpy bandwidth;
 *               futex system calls per message while streaming (counted in
 *               the core, both processes)
 *   latency     round trip (ping-pong) of messages of the same five sizes,
 *               p50 / p99: shmlink (default waiting: spin 50 us, then
 *               sleep), pipe, Unix socket; for 8 B also shmlink with a
 *               spinning peer (polling with timeout 0) and with a sleeping
 *               peer (no spin), and a raw cache-line ping-pong
 *
 * Usage: bench_channel [--json [--counts N,N,N,N,N]] [seconds per cell, default
 * 0.5] bench_channel --help
 *
 * Without --json it prints a human table (throughput cells run for the
 * given seconds, best of three). With --json it prints one JSON document
 * (see print_json_doc) for bench/run.py: each throughput cell moves the same
 * number of messages through every transport (calibrated per size so the
 * slowest transport runs about the given seconds and the fastest at least a
 * tenth of it; --counts gives the five counts instead, e.g. those of an
 * earlier run), each latency cell the same number of round trips (20000 up
 * to 1 KiB, 5000 at 64 KiB, 1000 at 1 MiB, scaled by seconds / 0.5), each
 * after a warm-up of a tenth of the count.
 *
 * Both sides touch every payload: the sender stamps the message sequence
 * number into the first and last 8 bytes, the receiver checks both. Pipe and
 * socket messages are not length-framed (the size is fixed per cell).
 * Writer and reader are separate processes pinned to CPUs 0 and 1 when
 * there are two; other load on the machine shows up in the figures.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shmlink.h"
#include "channel_internal.h"
#include "atomics.h"
#include "wait.h"

static double cell_seconds = 0.5;
static uint64_t fixed_counts[5]; /* --counts: throughput messages per size */
static int have_counts;

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

static void die_errno(const char *what)
{
    fprintf(stderr, "bench: %s: %s\n", what, strerror(errno));
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
    uint64_t minflt; /* the child's minor page faults over its loop */
    volatile uint64_t line[16] __attribute__((aligned(64)));
};

static struct shared *sh;

/* Minor page faults of this process so far (getrusage). */
static uint64_t minflt_now(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (uint64_t)ru.ru_minflt;
}

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

/* Ring size of every shmlink channel here: 4 MiB (as bench/run.py's Python
 * rows), 8 MiB for 1 MiB messages (the largest message is >= capacity/4). */
static size_t chan_cap(size_t size)
{
    return size >= (1u << 20) ? (8u << 20) : (4u << 20);
}

/* ------------------------------------------------------------------------ */
/* Transports: one direction of a link                                       */
/* ------------------------------------------------------------------------ */

enum tkind { T_SHMLINK, T_PIPE, T_UNIX, T_COUNT };
static const char *const tkind_name[T_COUNT] = {"shmlink", "pipe", "unix"};

/* shmlink receive modes */
enum { RX_SPIN, RX_DEFAULT, RX_SLEEP };
static const char *const rx_name[] = {"spin", "default", "sleep"};

struct ep {
    enum tkind kind;
    int mode;            /* shmlink receive mode */
    shmlink_channel *ch; /* shmlink */
    int fd;              /* pipe, unix */
};

static int read_full(int fd, uint8_t *p, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t k = read(fd, p + got, n - got);
        if (k == 0) {
            if (got == 0)
                return 0;
            fprintf(stderr, "bench: stream ended inside a message\n");
            exit(1);
        }
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

static inline void ep_send(struct ep *e, const uint8_t *buf, size_t n)
{
    if (e->kind == T_SHMLINK) {
        int rc = shmlink_channel_send(e->ch, buf, n, SHMLINK_FOREVER);
        if (rc < 0)
            die("send", rc);
    } else if (write_full(e->fd, buf, n) < 0) {
        die_errno("write");
    }
}

/* 1: a message of n bytes in buf; 0: the peer closed (end of stream). */
static inline int ep_recv(struct ep *e, uint8_t *buf, size_t n)
{
    if (e->kind == T_SHMLINK) {
        size_t len;
        int rc;
        if (e->mode == RX_SPIN) {
            while ((rc = shmlink_channel_recv(e->ch, buf, n, &len, 0)) ==
                   -ETIMEDOUT)
                ;
        } else {
            rc = shmlink_channel_recv(e->ch, buf, n, &len, SHMLINK_FOREVER);
        }
        if (rc == -ENODATA)
            return 0;
        if (rc < 0)
            die("recv", rc);
        if (len != n) {
            fprintf(stderr, "bench: received %zu bytes, expected %zu\n", len,
                    n);
            exit(1);
        }
        return 1;
    }
    int r = read_full(e->fd, buf, n);
    if (r < 0)
        die_errno("read");
    return r;
}

/* The sender writes the sequence number into the first and the last 8
 * bytes (sizes are >= 8), the receiver checks both. */
static inline void stamp(uint8_t *b, size_t n, uint64_t seq)
{
    memcpy(b, &seq, 8);
    memcpy(b + n - 8, &seq, 8);
}

static inline void check(const uint8_t *b, size_t n, uint64_t seq)
{
    uint64_t x, y;
    memcpy(&x, b, 8);
    memcpy(&y, b + n - 8, 8);
    if (x != seq || y != seq) {
        fprintf(stderr,
                "bench: message %llu of %zu bytes carries %llu / %llu\n",
                (unsigned long long)seq, n, (unsigned long long)x,
                (unsigned long long)y);
        exit(1);
    }
}

static void set_spin_mode(struct ep *e)
{
    if (e->kind == T_SHMLINK && e->mode == RX_SLEEP)
        shmlink__channel_set_spin(e->ch, 0);
}

static void ep_close(struct ep *e)
{
    if (e->kind == T_SHMLINK)
        shmlink_channel_close(e->ch);
    else
        close(e->fd);
}

/* Two fds: [0] read end, [1] write end. */
static void fd_link(enum tkind k, int fds[2])
{
    if (k == T_PIPE ? pipe(fds) : socketpair(AF_UNIX, SOCK_STREAM, 0, fds))
        die_errno(k == T_PIPE ? "pipe" : "socketpair");
}

/* ------------------------------------------------------------------------ */
/* Throughput                                                                */
/* ------------------------------------------------------------------------ */

struct tput {
    double msg_s, bytes_s;
    double sys_per_msg;    /* futex calls per message, both processes; < 0: not
                              counted */
    double minflt_per_msg; /* minor page faults per message, both processes,
                              over their whole loops (warm-up included) */
    uint64_t messages;     /* timed messages */
    uint64_t warmup;       /* untimed messages before them */
    uint64_t ns;           /* reader's time for the timed messages */
};

/* One-way stream, writer process -> reader process. count > 0: the writer
 * sends warmup + count messages, the reader times the last count (from the
 * receipt of message warmup - 1 to that of the last). count == 0: the
 * writer sends for `seconds`, the reader times everything after the first
 * `warmup` messages. warmup >= 1. */
static struct tput stream_mode(enum tkind k, int mode, size_t size,
                               uint64_t warmup, uint64_t count, double seconds)
{
    struct ep rx = {k, mode, NULL, -1}, tx = rx;
    char addr[64] = "";
    int fds[2], rc;
    if (warmup < 1)
        warmup = 1;
    if (k == T_SHMLINK) {
        snprintf(addr, sizeof addr, "%s", new_addr());
        if ((rc = shmlink_channel_create(addr, chan_cap(size), 0600,
                                         SHMLINK_READER, &rx.ch)) < 0)
            die("create", rc);
    } else {
        fd_link(k, fds);
        rx.fd = fds[0];
        tx.fd = fds[1];
    }
    sh->count = 0;
    sh->futex_calls = 0;
    pid_t pid = fork();
    if (pid < 0)
        die_errno("fork");
    if (pid == 0) {
        pin(0);
        if (k == T_SHMLINK) {
            if ((rc = shmlink_channel_open(addr, SHMLINK_WRITER, &tx.ch)) < 0)
                die("open writer", rc);
            set_spin_mode(&tx);
        } else {
            close(rx.fd);
        }
        uint8_t *buf = balloc(size);
        memset(buf, 0x5a, size);
        uint64_t f0 = shmlink__wait_syscalls(), m0 = minflt_now(), n = 0;
        if (count) {
            for (; n < warmup + count; n++) {
                stamp(buf, size, n);
                ep_send(&tx, buf, size);
            }
        } else {
            uint64_t end = now_ns() + (uint64_t)(seconds * 1e9);
            for (;;) {
                stamp(buf, size, n);
                ep_send(&tx, buf, size);
                if ((++n & 63) == 0 && now_ns() >= end)
                    break;
            }
        }
        sh->futex_calls = shmlink__wait_syscalls() - f0;
        sh->minflt = minflt_now() - m0;
        sh->count = n;
        ep_close(&tx);
        _exit(0);
    }
    pin(1);
    if (k != T_SHMLINK)
        close(tx.fd);
    set_spin_mode(&rx);
    uint8_t *buf = balloc(size);
    uint64_t f0 = shmlink__wait_syscalls(), m0 = minflt_now(), n = 0, t0 = 0,
             t1 = 0;
    while (ep_recv(&rx, buf, size)) {
        check(buf, size, n);
        if (++n == warmup)
            t0 = now_ns();
        else if (n == warmup + count)
            t1 = now_ns();
    }
    if (!count)
        t1 = now_ns();
    uint64_t calls = shmlink__wait_syscalls() - f0;
    uint64_t faults = minflt_now() - m0;
    child_wait(pid);
    if (k == T_SHMLINK) {
        shmlink_channel_close(rx.ch);
        shmlink_remove(addr);
    } else {
        close(rx.fd);
    }
    free(buf);
    if (sh->count != n || n <= warmup) {
        fprintf(stderr,
                "bench: %s %zu B: sent %llu, received %llu (warm-up %llu)\n",
                tkind_name[k], size, (unsigned long long)sh->count,
                (unsigned long long)n, (unsigned long long)warmup);
        exit(1);
    }
    struct tput t;
    t.warmup = warmup;
    t.messages = n - warmup;
    t.ns = t1 - t0;
    t.msg_s = (double)t.messages / ((double)t.ns / 1e9);
    t.bytes_s = t.msg_s * (double)size;
    t.sys_per_msg =
        k == T_SHMLINK ? (double)(calls + sh->futex_calls) / (double)n : -1;
    t.minflt_per_msg = (double)(faults + sh->minflt) / (double)n;
    return t;
}

static struct tput stream(enum tkind k, size_t size, uint64_t warmup,
                          uint64_t count, double seconds)
{
    return stream_mode(k, RX_DEFAULT, size, warmup, count, seconds);
}

/* memcpy bandwidth (bytes/s), one core. region == size: the same two
 * buffers over and over (cache-hot); region > size: the destination walks a
 * region as large as the channel's ring, like the writer's copies do. */
static double memcpy_bps(size_t size, size_t region, double seconds)
{
    if (region < size)
        region = size;
    uint8_t *a = balloc(size), *b = balloc(region);
    memset(a, 1, size);
    memset(b, 2, region);
    size_t slots = region / size, slot = 0;
    uint64_t n = 0, t0 = now_ns(), end = t0 + (uint64_t)(seconds * 1e9);
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
    return (double)n * (double)size / s;
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
    double p50_ns, p99_ns, p999_ns, min_ns, max_ns, mean_ns;
    uint64_t round_trips, warmup;
    double sys_per_msg;    /* futex calls per round trip, both processes
                              (shmlink; < 0: not counted) */
    double minflt_per_msg; /* minor page faults per round trip, both
                              processes, warm-up included */
};

/* Nearest-rank percentile of an ascending array (as bench/peers/common.py),
 * q in per mille. */
static uint64_t pct(const uint64_t *v, size_t n, unsigned q)
{
    size_t k = (q * n + 999) / 1000;
    return v[k ? k - 1 : 0];
}

static struct lat summarize(uint64_t *v, size_t n, uint64_t warmup)
{
    qsort(v, n, sizeof(*v), cmp_u64);
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += (double)v[i];
    struct lat l = {(double)pct(v, n, 500),
                    (double)pct(v, n, 990),
                    (double)pct(v, n, 999),
                    (double)v[0],
                    (double)v[n - 1],
                    sum / (double)n,
                    n,
                    warmup,
                    -1,
                    -1};
    return l;
}

/* Round trip: the pinger stamps and sends a message of `size` bytes, the
 * echo process receives, checks and sends it back, the pinger receives and
 * checks it. Times warmup + iters round trips, keeps the last iters. */
static struct lat rtt(enum tkind k, int mode, size_t size, uint64_t warmup,
                      uint64_t iters)
{
    struct ep out = {k, mode, NULL, -1}, in = out;
    char a1[64] = "", a2[64] = "";
    int a[2], b[2], rc;
    if (k == T_SHMLINK) {
        snprintf(a1, sizeof a1, "%s", new_addr());
        snprintf(a2, sizeof a2, "%s", new_addr());
        if ((rc = shmlink_channel_create(a1, chan_cap(size), 0600,
                                         SHMLINK_WRITER, &out.ch)) < 0 ||
            (rc = shmlink_channel_create(a2, chan_cap(size), 0600,
                                         SHMLINK_READER, &in.ch)) < 0)
            die("create", rc);
    } else {
        fd_link(k, a); /* ping: a[1] -> a[0] */
        fd_link(k, b); /* pong: b[1] -> b[0] */
        out.fd = a[1];
        in.fd = b[0];
    }
    pid_t pid = fork();
    if (pid < 0)
        die_errno("fork");
    if (pid == 0) {
        pin(0);
        struct ep cin = {k, mode, NULL, -1}, cout = cin;
        if (k == T_SHMLINK) {
            if ((rc = shmlink_channel_open(a1, SHMLINK_READER, &cin.ch)) < 0 ||
                (rc = shmlink_channel_open(a2, SHMLINK_WRITER, &cout.ch)) < 0)
                die("open", rc);
        } else {
            close(a[1]);
            close(b[0]);
            cin.fd = a[0];
            cout.fd = b[1];
        }
        set_spin_mode(&cin);
        set_spin_mode(&cout);
        uint8_t *buf = balloc(size);
        uint64_t f0 = shmlink__wait_syscalls(), m0 = minflt_now();
        for (uint64_t i = 0; ep_recv(&cin, buf, size); i++) {
            check(buf, size, i);
            ep_send(&cout, buf, size);
        }
        sh->futex_calls = shmlink__wait_syscalls() - f0;
        sh->minflt = minflt_now() - m0;
        ep_close(&cin);
        ep_close(&cout);
        _exit(0);
    }
    pin(1);
    if (k != T_SHMLINK) {
        close(a[0]);
        close(b[1]);
    }
    set_spin_mode(&out);
    set_spin_mode(&in);
    uint64_t *v = malloc(iters * sizeof(*v));
    uint8_t *buf = balloc(size);
    if (!v) {
        fprintf(stderr, "bench: out of memory\n");
        exit(1);
    }
    memset(buf, 0, size);
    sh->futex_calls = 0;
    sh->minflt = 0;
    uint64_t f0 = shmlink__wait_syscalls(), m0 = minflt_now();
    for (uint64_t i = 0; i < warmup + iters; i++) {
        stamp(buf, size, i);
        uint64_t t0 = now_ns();
        ep_send(&out, buf, size);
        if (!ep_recv(&in, buf, size)) {
            fprintf(stderr, "bench: echo process ended early\n");
            exit(1);
        }
        uint64_t t = now_ns() - t0;
        check(buf, size, i);
        if (i >= warmup)
            v[i - warmup] = t;
    }
    uint64_t calls = shmlink__wait_syscalls() - f0, faults = minflt_now() - m0;
    ep_close(&out); /* the echo process sees the end of the stream */
    child_wait(pid);
    ep_close(&in);
    if (k == T_SHMLINK) {
        shmlink_remove(a1);
        shmlink_remove(a2);
    }
    free(buf);
    struct lat l = summarize(v, iters, warmup);
    free(v);
    double trips = (double)(warmup + iters);
    if (k == T_SHMLINK)
        l.sys_per_msg = (double)(calls + sh->futex_calls) / trips;
    l.minflt_per_msg = (double)(faults + sh->minflt) / trips;
    return l;
}

/* Two processes bounce one cache line: the floor for any shared-memory
 * round trip. */
static struct lat cacheline_rtt(uint64_t warmup, uint64_t iters)
{
    volatile uint64_t *x = &sh->line[0];
    *x = 0;
    uint64_t total = iters + warmup;
    pid_t pid = fork();
    if (pid < 0)
        die_errno("fork");
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
    if (!v) {
        fprintf(stderr, "bench: out of memory\n");
        exit(1);
    }
    for (uint64_t k = 0; k < total; k++) {
        uint64_t t0 = now_ns();
        __atomic_store_n(x, 2 * k + 1, __ATOMIC_RELEASE);
        while (__atomic_load_n(x, __ATOMIC_ACQUIRE) != 2 * k + 2)
            shm_cpu_relax();
        if (k >= warmup)
            v[k - warmup] = now_ns() - t0;
    }
    child_wait(pid);
    struct lat l = summarize(v, iters, warmup);
    free(v);
    return l;
}

/* ------------------------------------------------------------------------ */

static const size_t sizes[] = {8, 64, 1024, 65536, 1048576};
static const char *const size_names[] = {"8 B", "64 B", "1 KiB", "64 KiB",
                                         "1 MiB"};
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

/* Warm-up before a count of n (as bench/run.py: a tenth, at least 10). */
static uint64_t warm_of(uint64_t n)
{
    return n / 10 > 10 ? n / 10 : 10;
}

/* Round trips per latency cell (bench/run.py's full-mode counts at the
 * default 0.5 s), scaled by the seconds argument. */
static uint64_t lat_iters(size_t size)
{
    double base = size <= 1024 ? 20000 : size <= 65536 ? 5000 : 1000;
    double n = base * cell_seconds / 0.5;
    return n < 100 ? 100 : (uint64_t)n;
}

static void human(void)
{
    printf("shmlink C-to-C benchmark: %ld CPUs, %.2f s per throughput cell, "
           "default spin %lld ns\n\n",
           sysconf(_SC_NPROCESSORS_ONLN), cell_seconds,
           (long long)shmlink__spin_ns());
    printf("Throughput (MB/s of payload; msg/s)\n");
    printf("%-7s %10s %11s %9s %9s %9s %9s %9s %7s %7s %8s %8s\n", "size",
           "shmlink", "msg/s", "sys/msg", "pipe", "unix", "memcpy", "memcpy-r",
           "x pipe", "x unix", "/memcpy", "/mcpy-r");
    for (size_t i = 0; i < NSIZES; i++) {
        /* best of three runs each: other load on the machine only ever
         * slows a run down */
        struct tput s = {0}, p = {0}, u = {0};
        double m = 0, mr = 0;
        for (int rep = 0; rep < 3; rep++) {
            struct tput x = stream(T_SHMLINK, sizes[i], 1, 0, cell_seconds);
            if (x.bytes_s > s.bytes_s)
                s = x;
            x = stream(T_PIPE, sizes[i], 1, 0, cell_seconds);
            if (x.bytes_s > p.bytes_s)
                p = x;
            x = stream(T_UNIX, sizes[i], 1, 0, cell_seconds);
            if (x.bytes_s > u.bytes_s)
                u = x;
            double y = memcpy_bps(sizes[i], sizes[i], cell_seconds) / 1e6;
            if (y > m)
                m = y;
            y = memcpy_bps(sizes[i], chan_cap(sizes[i]), cell_seconds) / 1e6;
            if (y > mr)
                mr = y;
        }
        double smb = s.bytes_s / 1e6, pmb = p.bytes_s / 1e6,
               umb = u.bytes_s / 1e6;
        printf("%-7s %10.1f %11.0f %9.4f %9.1f %9.1f %9.1f %9.1f %7.2f %7.2f "
               "%7.0f%% %7.0f%%\n",
               size_names[i], smb, s.msg_s, s.sys_per_msg, pmb, umb, m, mr,
               smb / pmb, smb / umb, 100.0 * smb / m, 100.0 * smb / mr);
        fflush(stdout);
    }
    printf("memcpy: cache-hot copy of one message; memcpy-r: copies walking a "
           "ring-sized\n"
           "region (4 MiB, 8 MiB for 1 MiB), as the channel's writer does. "
           "sys/msg: futex\n"
           "calls of both processes per message (counted in the core).\n");

    printf("\nRound trip, 8-byte message (us)\n");
    printf("%-34s %9s %9s %12s\n", "", "p50", "p99", "p50 ratio");
    struct lat cl = cacheline_rtt(20000, 200000);
    struct lat pp = rtt(T_PIPE, RX_DEFAULT, 8, 2000, 20000);
    struct lat us = rtt(T_UNIX, RX_DEFAULT, 8, 2000, 20000);
    struct lat spin = rtt(T_SHMLINK, RX_SPIN, 8, 20000, 200000);
    struct lat dflt = rtt(T_SHMLINK, RX_DEFAULT, 8, 5000, 50000);
    struct lat slp = rtt(T_SHMLINK, RX_SLEEP, 8, 2000, 20000);
    printf("%-34s %9.3f %9.3f %12s\n", "raw cache-line ping-pong",
           cl.p50_ns / 1e3, cl.p99_ns / 1e3, "1.00 x line");
    printf("%-34s %9.3f %9.3f %7.2f x line\n", "shmlink, spinning peer (poll)",
           spin.p50_ns / 1e3, spin.p99_ns / 1e3, spin.p50_ns / cl.p50_ns);
    printf("%-34s %9.3f %9.3f %7.2f x pipe\n",
           "shmlink, default (spin, then sleep)", dflt.p50_ns / 1e3,
           dflt.p99_ns / 1e3, dflt.p50_ns / pp.p50_ns);
    printf("%-34s %9.3f %9.3f %7.2f x pipe\n", "shmlink, sleeping peer (futex)",
           slp.p50_ns / 1e3, slp.p99_ns / 1e3, slp.p50_ns / pp.p50_ns);
    printf("%-34s %9.3f %9.3f %12s\n", "pipe", pp.p50_ns / 1e3, pp.p99_ns / 1e3,
           "1.00 x pipe");
    printf("%-34s %9.3f %9.3f %7.2f x pipe\n", "unix socket", us.p50_ns / 1e3,
           us.p99_ns / 1e3, us.p50_ns / pp.p50_ns);
    fflush(stdout);

    printf("\nRound trip by message size (us; shmlink with default waiting)\n");
    printf("%-7s %8s %9s %9s %9s %9s %9s %9s %8s %8s\n", "size", "trips",
           "shm p50", "shm p99", "pipe p50", "pipe p99", "unix p50", "unix p99",
           "pipe/shm", "unix/shm");
    for (size_t i = 0; i < NSIZES; i++) {
        uint64_t n = lat_iters(sizes[i]), w = warm_of(n);
        struct lat s = rtt(T_SHMLINK, RX_DEFAULT, sizes[i], w, n);
        struct lat p = rtt(T_PIPE, RX_DEFAULT, sizes[i], w, n);
        struct lat u = rtt(T_UNIX, RX_DEFAULT, sizes[i], w, n);
        printf("%-7s %8llu %9.3f %9.3f %9.3f %9.3f %9.3f %9.3f %8.2f %8.2f\n",
               size_names[i], (unsigned long long)n, s.p50_ns / 1e3,
               s.p99_ns / 1e3, p.p50_ns / 1e3, p.p99_ns / 1e3, u.p50_ns / 1e3,
               u.p99_ns / 1e3, p.p50_ns / s.p50_ns, u.p50_ns / s.p50_ns);
        fflush(stdout);
    }
}

/* ------------------------------------------------------------------------ */
/* --json                                                                    */
/* ------------------------------------------------------------------------ */

static void jnum(const char *key, double v, int ok)
{
    if (ok && isfinite(v))
        printf("\"%s\": %.10g", key, v);
    else
        printf("\"%s\": null", key);
}

static void jlat_fields(const struct lat *l)
{
    printf("\"count\": %llu, \"warmup\": %llu, ",
           (unsigned long long)l->round_trips, (unsigned long long)l->warmup);
    jnum("p50_ns", l->p50_ns, 1);
    printf(", ");
    jnum("p99_ns", l->p99_ns, 1);
    printf(", ");
    jnum("p999_ns", l->p999_ns, 1);
    printf(", ");
    jnum("futex_calls_per_msg", l->sys_per_msg, l->sys_per_msg >= 0);
    printf(", ");
    jnum("minflt_per_msg", l->minflt_per_msg, l->minflt_per_msg >= 0);
    printf(", ");
    jnum("min_ns", l->min_ns, 1);
    printf(", ");
    jnum("max_ns", l->max_ns, 1);
    printf(", ");
    jnum("mean_ns", l->mean_ns, 1);
}

static void json_mode(void)
{
    static struct tput tp[NSIZES][T_COUNT];
    static struct lat lt[NSIZES][T_COUNT];
    static double calib[NSIZES][T_COUNT], mhot[NSIZES], mring[NSIZES];
    const double cs = cell_seconds;

    for (size_t i = 0; i < NSIZES; i++) {
        /* Calibration: a short time-based stream per transport. The count
         * makes the slowest transport run about cs seconds and the fastest
         * at least cs / 10, but the slowest at most 10 * cs. */
        double lo = 0, hi = 0;
        for (int k = 0; k < T_COUNT && !have_counts; k++) {
            calib[i][k] = stream((enum tkind)k, sizes[i], 1, 0, cs / 10).msg_s;
            if (k == 0 || calib[i][k] < lo)
                lo = calib[i][k];
            if (calib[i][k] > hi)
                hi = calib[i][k];
        }
        double c = lo * cs > hi * cs / 10 ? lo * cs : hi * cs / 10;
        if (c > lo * cs * 10)
            c = lo * cs * 10;
        uint64_t count = have_counts ? fixed_counts[i]
                         : c < 100   ? 100
                                     : (uint64_t)c;
        uint64_t w = warm_of(count);
        for (int k = 0; k < T_COUNT; k++)
            tp[i][k] = stream((enum tkind)k, sizes[i], w, count, 0);
        mhot[i] = memcpy_bps(sizes[i], sizes[i], cs / 5);
        mring[i] = memcpy_bps(sizes[i], chan_cap(sizes[i]), cs / 5);
        fprintf(stderr, "bench: throughput %s: %llu messages per transport\n",
                size_names[i], (unsigned long long)count);
    }
    for (size_t i = 0; i < NSIZES; i++) {
        uint64_t n = lat_iters(sizes[i]), w = warm_of(n);
        for (int k = 0; k < T_COUNT; k++)
            lt[i][k] = rtt((enum tkind)k, RX_DEFAULT, sizes[i], w, n);
        fprintf(stderr, "bench: latency %s: %llu round trips per transport\n",
                size_names[i], (unsigned long long)n);
    }
    uint64_t n8 = lat_iters(8), w8 = warm_of(n8);
    struct lat cl = cacheline_rtt(w8, n8);
    struct lat spin = rtt(T_SHMLINK, RX_SPIN, 8, w8, n8);
    struct lat slp = rtt(T_SHMLINK, RX_SLEEP, 8, w8, n8);

    printf("{\n \"benchmark\": \"bench/c/bench_channel --json\",\n \"format\": "
           "1,\n");
    printf(" \"counts_given\": %s,\n", have_counts ? "true" : "false");
    printf(" \"cpus\": %ld,\n \"pinned\": %s,\n \"seconds_per_cell\": %.10g,\n"
           " \"default_spin_ns\": %lld,\n",
           sysconf(_SC_NPROCESSORS_ONLN),
           sysconf(_SC_NPROCESSORS_ONLN) >= 2 ? "true" : "false", cs,
           (long long)shmlink__spin_ns());
    printf(" \"method\": \"Writer/pinger and reader/echo are separate "
           "processes (pinned to CPUs 0 "
           "and 1 when there are two). Throughput: one-way stream; every "
           "transport moves the "
           "same count of messages per size after the same warm-up; the reader "
           "times the "
           "count. Latency: ping-pong, the same round trips per size for every "
           "transport, after "
           "a warm-up; p50/p99 nearest rank. The sender stamps the sequence "
           "number into the "
           "first and last 8 bytes of every message, the receiver checks both. "
           "shmlink: "
           "shmlink_channel_send/recv (copying), ring 4 MiB (8 MiB for 1 MiB "
           "messages), default "
           "waiting (spin, then sleep) unless the mode says otherwise; pipe: "
           "pipe(2); unix: "
           "socketpair(AF_UNIX, SOCK_STREAM); pipe and socket messages are "
           "unframed "
           "read/write loops of the fixed size.\",\n");
    printf(" \"cells\": [\n");
    int first = 1;
    for (size_t i = 0; i < NSIZES; i++) {
        for (int k = 0; k < T_COUNT; k++) {
            const struct tput *t = &tp[i][k];
            printf("%s  {\"transport\": \"%s\", \"kind\": \"throughput\", "
                   "\"size\": %zu, "
                   "\"count\": %llu, \"warmup\": %llu, \"ns\": %llu, ",
                   first ? "" : ",\n", tkind_name[k], sizes[i],
                   (unsigned long long)t->messages,
                   (unsigned long long)t->warmup, (unsigned long long)t->ns);
            first = 0;
            jnum("msgs_per_s", t->msg_s, 1);
            printf(", ");
            jnum("bytes_per_s", t->bytes_s, 1);
            printf(", \"p50_ns\": null, \"p99_ns\": null, ");
            jnum("futex_calls_per_msg", t->sys_per_msg, t->sys_per_msg >= 0);
            printf(", ");
            jnum("minflt_per_msg", t->minflt_per_msg, 1);
            printf(", ");
            jnum("calibration_msgs_per_s", calib[i][k], !have_counts);
            if (k == T_SHMLINK)
                printf(", \"ring_bytes\": %zu", chan_cap(sizes[i]));
            printf("}");
        }
    }
    for (size_t i = 0; i < NSIZES; i++) {
        for (int k = 0; k < T_COUNT; k++) {
            printf(",\n  {\"transport\": \"%s\", \"kind\": \"latency\", "
                   "\"size\": %zu, "
                   "\"msgs_per_s\": null, \"bytes_per_s\": null, ",
                   tkind_name[k], sizes[i]);
            jlat_fields(&lt[i][k]);
            if (k == T_SHMLINK)
                printf(", \"mode\": \"default\", \"ring_bytes\": %zu",
                       chan_cap(sizes[i]));
            printf("}");
        }
    }
    printf("\n ],\n \"memcpy\": [\n");
    for (size_t i = 0; i < NSIZES; i++) {
        printf("  {\"size\": %zu, ", sizes[i]);
        jnum("hot_bytes_per_s", mhot[i], 1);
        printf(", ");
        jnum("ring_bytes_per_s", mring[i], 1);
        printf(", \"ring_region_bytes\": %zu}%s\n", chan_cap(sizes[i]),
               i + 1 < NSIZES ? "," : "");
    }
    printf(
        " ],\n \"memcpy_note\": \"one core; hot: the same two buffers over and "
        "over; ring: "
        "the destination walks a region as large as the channel's ring\",\n");
    printf(" \"cacheline_rtt\": {\"size\": 8, ");
    jlat_fields(&cl);
    printf("},\n \"shmlink_rtt_modes\": [\n");
    const struct lat *modes[] = {&spin, &lt[0][T_SHMLINK], &slp};
    for (int m = 0; m < 3; m++) {
        printf("  {\"mode\": \"%s\", \"size\": 8, ", rx_name[m]);
        jlat_fields(modes[m]);
        printf("}%s\n", m < 2 ? "," : "");
    }
    printf(" ],\n \"shmlink_rtt_modes_note\": \"spin: the receiving side polls "
           "with timeout 0; "
           "default: spins, then sleeps on a futex; sleep: spin disabled on "
           "every handle "
           "(every wait is a futex sleep)\"\n}\n");
    fflush(stdout);
}

/* ------------------------------------------------------------------------ */
/* --cell: one measurement, one JSON object (bench/native/anchor.py)         */
/* ------------------------------------------------------------------------ */

/* One shmlink cell of any size: "stream" (count messages timed after a
 * warm-up of a tenth) or "rtt" (count round trips after the same warm-up),
 * receive mode spin, default or sleep. */
static int cell_mode(const char *kind, const char *size_s, const char *count_s,
                     const char *mode_s)
{
    char *end;
    errno = 0;
    unsigned long long size = strtoull(size_s, &end, 10);
    if (errno || end == size_s || *end || *size_s == '-' || size < 16 ||
        size > (2u << 20)) {
        fprintf(stderr,
                "bench_channel: --cell SIZE must be 16 .. 2097152 bytes, got "
                "'%s'\n",
                size_s);
        return 2;
    }
    errno = 0;
    unsigned long long count = strtoull(count_s, &end, 10);
    if (errno || end == count_s || *end || *count_s == '-' || count < 10 ||
        count > 1000000000ull) {
        fprintf(stderr,
                "bench_channel: --cell COUNT must be 10 .. 1e9, got '%s'\n",
                count_s);
        return 2;
    }
    int mode = -1;
    for (int m = 0; m < 3; m++)
        if (strcmp(mode_s, rx_name[m]) == 0)
            mode = m;
    if (mode < 0) {
        fprintf(stderr,
                "bench_channel: --cell MODE must be spin, default or sleep, "
                "got '%s'\n",
                mode_s);
        return 2;
    }
    uint64_t w = warm_of(count);
    if (strcmp(kind, "stream") == 0) {
        struct tput t = stream_mode(T_SHMLINK, mode, size, w, count, 0);
        printf("{\"ok\": true, \"kind\": \"stream\", \"transport\": "
               "\"shmlink\", \"wait\": \"%s\", \"size\": %llu, "
               "\"messages\": %llu, \"warmup\": %llu, \"ns\": %llu, "
               "\"bytes\": %llu, ",
               rx_name[mode], size, (unsigned long long)t.messages,
               (unsigned long long)t.warmup, (unsigned long long)t.ns,
               (unsigned long long)(t.messages * size));
        jnum("futex_calls_per_msg", t.sys_per_msg, t.sys_per_msg >= 0);
        printf(", ");
        jnum("minflt_per_msg", t.minflt_per_msg, 1);
    } else if (strcmp(kind, "rtt") == 0) {
        struct lat l = rtt(T_SHMLINK, mode, size, w, count);
        printf("{\"ok\": true, \"kind\": \"rtt\", \"transport\": "
               "\"shmlink\", \"wait\": \"%s\", \"size\": %llu, "
               "\"samples\": %llu, ",
               rx_name[mode], size, (unsigned long long)l.round_trips);
        jlat_fields(&l);
    } else {
        fprintf(stderr,
                "bench_channel: --cell KIND must be stream or rtt, got '%s'\n",
                kind);
        return 2;
    }
    printf(", \"ring_bytes\": %zu, \"default_spin_ns\": %lld}\n",
           chan_cap(size), (long long)shmlink__spin_ns());
    fflush(stdout);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Fan-out (--fanout): one writer process, R reader processes                */
/* ------------------------------------------------------------------------ */

/* One cell: the parent creates a channel of the given fan-out and writes
 * messages of size bytes for about seconds; R forked readers copy each
 * message out (recv) until end of stream. A broadcast reader checks that
 * it gets every message in order, a queue reader that each message is
 * whole and that its sequence numbers rise; each queue reader then reports
 * its count and the sum and sum of squares of its sequence numbers, and
 * the writer checks that together they are those of 0..sent-1 (a lost or
 * duplicated message changes them). Returns the messages written per
 * second, from the first send to the last reader's end (for broadcast
 * every reader got all of them). */
static double fanout_cell(shmlink_fanout fo, unsigned readers, size_t size,
                          double seconds)
{
    shmlink_channel_config cfg = {chan_cap(size), 0600, readers, 1, fo};
    shmlink_channel *w;
    const char *addr = new_addr();
    int rc = shmlink_channel_create_config(addr, &cfg, SHMLINK_WRITER, &w);
    if (rc < 0)
        die("create fan-out channel", rc);
    int ready[2], tally[2];
    if (pipe(ready) < 0 || pipe(tally) < 0)
        die_errno("pipe");
    pid_t pids[8];
    for (unsigned k = 0; k < readers; k++) {
        pids[k] = fork();
        if (pids[k] < 0)
            die_errno("fork");
        if (pids[k] == 0) {
            shmlink_channel *r;
            rc = shmlink_channel_open(addr, SHMLINK_READER, &r);
            if (rc < 0)
                die("open reader", rc);
            char c = 'r';
            if (write(ready[1], &c, 1) != 1)
                _exit(1);
            uint8_t *buf = balloc(size);
            uint64_t next = 0, sum[3] = {0, 0, 0}; /* count, sum, sum sq */
            size_t n;
            while ((rc = shmlink_channel_recv(r, buf, size, &n,
                                              SHMLINK_FOREVER)) == 0) {
                uint64_t seq;
                memcpy(&seq, buf, 8);
                if (fo == SHMLINK_QUEUE && sum[0] && seq <= next) {
                    fprintf(stderr, "bench: queue reader got %llu after %llu\n",
                            (unsigned long long)seq, (unsigned long long)next);
                    _exit(1);
                }
                check(buf, n, fo == SHMLINK_QUEUE ? seq : next);
                next = fo == SHMLINK_QUEUE ? seq : next + 1;
                sum[0]++;
                sum[1] += seq;
                sum[2] += seq * seq;
            }
            if (rc != -ENODATA)
                die("reader", rc);
            shmlink_channel_close(r);
            if (write(tally[1], sum, sizeof sum) != (ssize_t)sizeof sum)
                _exit(1);
            _exit(0);
        }
    }
    for (unsigned k = 0; k < readers; k++) {
        char c;
        if (read(ready[0], &c, 1) != 1)
            die_errno("read");
    }
    close(ready[0]);
    close(ready[1]);
    uint8_t *buf = balloc(size);
    memset(buf, 0x5a, size);
    uint64_t t0 = now_ns(), until = t0 + (uint64_t)(seconds * 1e9), seq = 0;
    for (;;) {
        stamp(buf, size, seq);
        rc = shmlink_channel_send(w, buf, size, SHMLINK_FOREVER);
        if (rc < 0)
            die("send", rc);
        seq++;
        if ((seq & 63) == 0 && now_ns() >= until)
            break;
    }
    shmlink_channel_close(w);
    for (unsigned k = 0; k < readers; k++)
        child_wait(pids[k]);
    double secs = (double)(now_ns() - t0) / 1e9;
    uint64_t got[3] = {0, 0, 0}, want[3] = {seq, 0, 0};
    for (uint64_t i = 0; i < seq; i++) {
        want[1] += i;
        want[2] += i * i;
    }
    for (unsigned k = 0; k < readers; k++) {
        uint64_t one[3];
        if (read(tally[0], one, sizeof one) != (ssize_t)sizeof one)
            die_errno("read reader tally");
        if (fo == SHMLINK_QUEUE) {
            for (int j = 0; j < 3; j++)
                got[j] += one[j];
        } else if (one[0] != seq) {
            fprintf(stderr, "bench: broadcast reader got %llu of %llu\n",
                    (unsigned long long)one[0], (unsigned long long)seq);
            exit(1);
        }
    }
    close(tally[0]);
    close(tally[1]);
    if (fo == SHMLINK_QUEUE && memcmp(got, want, sizeof got) != 0) {
        fprintf(stderr,
                "bench: queue readers took %llu messages, not the %llu sent "
                "(or some twice)\n",
                (unsigned long long)got[0], (unsigned long long)seq);
        exit(1);
    }
    free(buf);
    (void)shmlink_remove(addr);
    return (double)seq / secs;
}

/* Fan-in (--fanin): W writer processes, each with its own ring, into one
 * reader (this process), for the given time; every message carries its
 * writer's id and number, and the reader checks each writer's order and
 * the bytes. Returns msg/s read (all writers together); W = 0: the 1:1
 * channel with one writer process, for comparison. */
static double fanin_cell(unsigned writers, size_t size, double seconds)
{
    unsigned nproc = writers ? writers : 1;
    shmlink_channel_config cfg = {chan_cap(size), 0600, 1, nproc, SHMLINK_ONE};
    shmlink_channel *r;
    const char *addr = new_addr();
    int rc = shmlink_channel_create_config(addr, &cfg, SHMLINK_READER, &r);
    if (rc < 0)
        die("create fan-in channel", rc);
    int ready[2], go[2];
    if (pipe(ready) < 0 || pipe(go) < 0)
        die_errno("pipe");
    pid_t pids[64];
    for (unsigned k = 0; k < nproc; k++) {
        pids[k] = fork();
        if (pids[k] < 0)
            die_errno("fork");
        if (pids[k] == 0) {
            shmlink_channel *w;
            rc = shmlink_channel_open(addr, SHMLINK_WRITER, &w);
            if (rc < 0)
                die("open writer", rc);
            char c = 'w';
            close(go[1]);
            if (write(ready[1], &c, 1) != 1 || read(go[0], &c, 1) != 0)
                _exit(1);
            uint8_t *buf = balloc(size);
            memset(buf, 0x5a, size);
            uint64_t until = now_ns() + (uint64_t)(seconds * 1e9), n = 0;
            for (;;) {
                stamp(buf, size, (uint64_t)k << 48 | n);
                rc = shmlink_channel_send(w, buf, size, SHMLINK_FOREVER);
                if (rc < 0)
                    die("send", rc);
                n++;
                if ((n & 63) == 0 && now_ns() >= until)
                    break;
            }
            shmlink_channel_close(w);
            _exit(0);
        }
    }
    for (unsigned k = 0; k < nproc; k++) {
        char c;
        if (read(ready[0], &c, 1) != 1)
            die_errno("read");
    }
    close(go[0]);
    close(go[1]); /* every writer holds its slot: go */
    close(ready[0]);
    close(ready[1]);
    uint8_t *buf = balloc(size);
    uint64_t next[64] = {0}, total = 0, t0 = now_ns();
    size_t n;
    while ((rc = shmlink_channel_recv(r, buf, size, &n, SHMLINK_FOREVER)) ==
           0) {
        uint64_t seq;
        memcpy(&seq, buf, 8);
        unsigned k = (unsigned)(seq >> 48);
        if (k >= nproc || (seq & 0xffffffffffffull) != next[k]) {
            fprintf(stderr,
                    "bench: fan-in reader got %llx, want writer %u's "
                    "%llu\n",
                    (unsigned long long)seq, k,
                    (unsigned long long)(k < nproc ? next[k] : 0));
            exit(1);
        }
        check(buf, n, seq);
        next[k]++;
        total++;
    }
    if (rc != -ENODATA)
        die("reader", rc);
    double secs = (double)(now_ns() - t0) / 1e9;
    for (unsigned k = 0; k < nproc; k++)
        child_wait(pids[k]);
    shmlink_channel_close(r);
    free(buf);
    (void)shmlink_remove(addr);
    return (double)total / secs;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The fan-in table: 1:1 beside W writers into one reader, interleaved
 * repetitions, medians. */
static void fanin_mode(int reps)
{
    static const struct {
        unsigned writers;
        size_t size;
        const char *name;
    } cells[] = {
        {0, 64, "1:1              64 B"},
        {2, 64, "2 writers -> 1   64 B"},
        {4, 64, "4 writers -> 1   64 B"},
        {0, 65536, "1:1            64 KiB"},
        {4, 65536, "4 writers -> 1 64 KiB"},
    };
    enum { NCELLS = sizeof(cells) / sizeof(cells[0]) };
    double *v = calloc((size_t)reps * NCELLS, sizeof(double));
    for (int r = 0; r < reps; r++) {
        for (int c = 0; c < NCELLS; c++) {
            v[c * reps + r] =
                fanin_cell(cells[c].writers, cells[c].size, cell_seconds);
            fprintf(stderr, ".");
        }
    }
    fprintf(stderr, "\n");
    printf("fan-in: W writer processes -> 1 reader process (send / recv, "
           "copying),\n%.2f s per cell, median of %d interleaved "
           "repetitions; msg/s read (all writers)\n\n",
           cell_seconds, reps);
    printf("%-22s %12s %12s %12s\n", "cell", "median msg/s", "min", "max");
    double med[NCELLS];
    for (int c = 0; c < NCELLS; c++) {
        double *x = v + c * reps;
        qsort(x, (size_t)reps, sizeof(double), cmp_double);
        med[c] = reps % 2 ? x[reps / 2] : (x[reps / 2 - 1] + x[reps / 2]) / 2;
        printf("%-22s %12.0f %12.0f %12.0f\n", cells[c].name, med[c], x[0],
               x[reps - 1]);
    }
    printf("\n4 writers / 1:1 at 64 B: %.2f; 2 writers / 1:1: %.2f; "
           "4 writers / 1:1 at 64 KiB: %.2f\n",
           med[2] / med[0], med[1] / med[0], med[4] / med[3]);
    free(v);
}

/* The fan-out table: every cell once per repetition, cells interleaved,
 * then the median of each. With json, one JSON document instead (used by
 * bench/fanout.py): per cell its fan-out, readers, size, every
 * repetition's msg/s and the median. */
static void fanout_mode(int reps, int json)
{
    static const struct {
        shmlink_fanout fo;
        unsigned readers;
        size_t size;
        const char *name;
    } cells[] = {
        {SHMLINK_ONE, 1, 64, "1:1            64 B"},
        {SHMLINK_BROADCAST, 4, 64, "broadcast x4   64 B"},
        {SHMLINK_QUEUE, 4, 64, "queue x4       64 B"},
        {SHMLINK_ONE, 1, 65536, "1:1          64 KiB"},
        {SHMLINK_BROADCAST, 1, 65536, "broadcast x1 64 KiB"},
        {SHMLINK_BROADCAST, 2, 65536, "broadcast x2 64 KiB"},
        {SHMLINK_BROADCAST, 4, 65536, "broadcast x4 64 KiB"},
        {SHMLINK_QUEUE, 4, 65536, "queue x4     64 KiB"},
    };
    enum { NCELLS = sizeof(cells) / sizeof(cells[0]) };
    double *v = calloc((size_t)reps * NCELLS, sizeof(double));
    for (int r = 0; r < reps; r++) {
        for (int c = 0; c < NCELLS; c++) {
            v[c * reps + r] = fanout_cell(cells[c].fo, cells[c].readers,
                                          cells[c].size, cell_seconds);
            fprintf(stderr, ".");
        }
    }
    fprintf(stderr, "\n");
    if (json) {
        static const char *fname[] = {"one", "broadcast", "queue"};
        printf("{\"fanout_seconds\": %.3f, \"reps\": %d, \"cells\": [\n",
               cell_seconds, reps);
        for (int c = 0; c < NCELLS; c++) {
            double *x = v + c * reps;
            printf("  {\"fanout\": \"%s\", \"readers\": %u, \"size\": %zu, "
                   "\"ring_bytes\": %zu, \"msgs_per_s\": [",
                   fname[cells[c].fo], cells[c].readers, cells[c].size,
                   chan_cap(cells[c].size));
            for (int r = 0; r < reps; r++)
                printf("%s%.1f", r ? ", " : "", x[r]);
            printf("]}%s\n", c + 1 < NCELLS ? "," : "");
        }
        printf("],\n \"note\": \"msg/s written, from the first send to "
               "the last reader's end; broadcast: every reader got every "
               "message (per-reader rate); queue: the readers together took "
               "every message once (aggregate)\"}\n");
        fflush(stdout);
        free(v);
        return;
    }
    printf("fan-out: 1 writer process -> R reader processes (recv, copying), "
           "%.2f s per cell,\nmedian of %d interleaved repetitions; "
           "msg/s written (broadcast: each reader got all)\n\n",
           cell_seconds, reps);
    printf("%-22s %12s %12s %12s %14s\n", "cell", "median msg/s", "min", "max",
           "MB/s per reader");
    double med[NCELLS];
    for (int c = 0; c < NCELLS; c++) {
        double *x = v + c * reps;
        qsort(x, (size_t)reps, sizeof(double), cmp_double);
        med[c] = reps % 2 ? x[reps / 2] : (x[reps / 2 - 1] + x[reps / 2]) / 2;
        double per =
            cells[c].fo == SHMLINK_QUEUE ? med[c] / cells[c].readers : med[c];
        printf("%-22s %12.0f %12.0f %12.0f %14.1f\n", cells[c].name, med[c],
               x[0], x[reps - 1], per * (double)cells[c].size / 1e6);
    }
    printf("\nbroadcast x1 / 1:1 at 64 KiB: %.2f; x2 / 1:1: %.2f\n",
           med[4] / med[3], med[5] / med[3]);
    free(v);
}

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: bench_channel [--json [--counts N,N,N,N,N]] [SECONDS]\n"
        "       bench_channel --help\n"
        "\n"
        "C-to-C benchmark of the shmlink channel beside a pipe and a Unix "
        "socket\n"
        "(throughput and round-trip latency for 8 B, 64 B, 1 KiB, 64 KiB "
        "and 1 MiB\n"
        "messages), with memcpy bandwidth, a cache-line ping-pong and "
        "futex calls\n"
        "per message for reference.\n"
        "\n"
        "  SECONDS   time per throughput cell (default 0.5); with --json "
        "it sets the\n"
        "            per-size message counts (the slowest transport runs "
        "about this\n"
        "            long) and scales the round-trip counts\n"
        "  --json    print one JSON document instead of the tables: per "
        "transport\n"
        "            (shmlink, pipe, unix), kind (throughput, latency) and "
        "size:\n"
        "            count, warmup, msgs_per_s, bytes_per_s, p50_ns, "
        "p99_ns (null\n"
        "            where not measured); plus memcpy, cacheline_rtt and\n"
        "            shmlink_rtt_modes. Progress goes to stderr. Used by "
        "bench/run.py\n"
        "            (bench/peers/cbench.py) for the C-to-C rows.\n"
        "  --counts  with --json: messages per throughput cell for 8 B, 64 "
        "B, 1 KiB,\n"
        "            64 KiB and 1 MiB (instead of calibrating; e.g. an "
        "earlier run's\n"
        "            counts, so repetitions move the same messages)\n"
        "  --help    this text\n"
        "\n"
        "       bench_channel --fanout [--reps N] [--json] [SECONDS]\n"
        "\n"
        "Fan-out channels: 1 writer -> 4 readers (broadcast and queue) "
        "at 64 B and\n"
        "64 KiB, broadcast to 2 readers at 64 KiB, and the 1:1 channel "
        "beside them;\n"
        "cells interleaved, N repetitions (default 5), medians; with "
        "--json one\n"
        "JSON document of every repetition's figure (bench/fanout.py "
        "uses it).\n"
        "\n"
        "       bench_channel --fanin [--reps N] [SECONDS]\n"
        "\n"
        "Many writers: 2 and 4 writer processes into one reader at 64 B, 4 at "
        "64 KiB,\n"
        "beside the 1:1 channel; cells interleaved, N repetitions, medians.\n"
        "\n"
        "       bench_channel --cell stream|rtt SIZE COUNT spin|default|sleep\n"
        "\n"
        "One shmlink cell of any SIZE (16 B .. 2 MiB) as one JSON object: "
        "a stream of\n"
        "COUNT messages or COUNT round trips, after a warm-up of a tenth; "
        "the receiver\n"
        "polls (spin), spins then sleeps (default) or only sleeps "
        "(sleep). Used by\n"
        "bench/native/anchor.py beside iceoryx2.\n");
}

int main(int argc, char **argv)
{
    int json = 0, have_seconds = 0, fanout = 0, fanin = 0, reps = 5;
    if (argc >= 2 && strcmp(argv[1], "--cell") == 0) {
        if (argc != 6) {
            fprintf(stderr, "bench_channel: --cell wants KIND SIZE COUNT MODE "
                            "(see --help)\n");
            return 2;
        }
        sh = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (sh == MAP_FAILED) {
            perror("bench: mmap");
            return 1;
        }
        signal(SIGPIPE, SIG_IGN);
        return cell_mode(argv[2], argv[3], argv[4], argv[5]);
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--fanout") == 0) {
            fanout = 1;
        } else if (strcmp(argv[i], "--fanin") == 0) {
            fanin = 1;
        } else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
            reps = atoi(argv[++i]);
            if (reps < 1 || reps > 1000) {
                fprintf(stderr, "bench_channel: --reps wants 1..1000\n");
                return 2;
            }
        } else if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if (strcmp(argv[i], "--counts") == 0) {
            const char *p = i + 1 < argc ? argv[++i] : "";
            size_t n = 0;
            for (;;) {
                char *end;
                errno = 0;
                unsigned long long v = strtoull(p, &end, 10);
                if (end == p || errno || v < 10 || v > 1000000000ull ||
                    n == NSIZES || (*end != ',' && *end != 0) || *p == '-') {
                    fprintf(stderr,
                            "bench_channel: --counts wants %zu comma-separated "
                            "counts in [10, 1e9], got '%s' (see --help)\n",
                            (size_t)NSIZES, argv[i]);
                    return 2;
                }
                fixed_counts[n++] = v;
                if (*end == 0)
                    break;
                p = end + 1;
            }
            if (n != NSIZES) {
                fprintf(stderr,
                        "bench_channel: --counts wants %zu counts, got %zu\n",
                        (size_t)NSIZES, n);
                return 2;
            }
            have_counts = 1;
        } else if (strcmp(argv[i], "--help") == 0 ||
                   strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (argv[i][0] == '-' && argv[i][1] != '.' &&
                   !(argv[i][1] >= '0' && argv[i][1] <= '9')) {
            fprintf(stderr, "bench_channel: unknown option '%s' (see --help)\n",
                    argv[i]);
            return 2;
        } else {
            char *end;
            errno = 0;
            double s = strtod(argv[i], &end);
            if (have_seconds || errno || end == argv[i] || *end || !(s > 0) ||
                s > 3600) {
                fprintf(
                    stderr,
                    "bench_channel: SECONDS must be one number in (0, 3600], "
                    "got '%s' (see --help)\n",
                    argv[i]);
                return 2;
            }
            cell_seconds = s;
            have_seconds = 1;
        }
    }
    if ((fanin && (json || fanout)) || (fanout && have_counts)) {
        fprintf(stderr, "bench_channel: --fanin takes only --reps and "
                        "SECONDS; --counts does not apply to --fanout "
                        "(see --help)\n");
        return 2;
    }
    if (have_counts && !json) {
        fprintf(
            stderr,
            "bench_channel: --counts applies to --json only (see --help)\n");
        return 2;
    }
    sh = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
              -1, 0);
    if (sh == MAP_FAILED) {
        perror("bench: mmap");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    if (fanout) {
        fanout_mode(reps, json);
        return 0;
    }
    if (fanin) {
        fanin_mode(reps);
        return 0;
    }
    if (json)
        json_mode();
    else
        human();
    return 0;
}
