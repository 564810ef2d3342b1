/* fanout_probe: experiments on one fan-out cell, to find out where its
 * time goes (not part of the published tables).
 *
 *   fanout_probe [--mode one|broadcast|queue] [--readers N] [--size BYTES]
 *                [--capacity BYTES] [--spin NS] [--seconds S] [--reps N]
 *   fanout_probe --memcpy [--size BYTES] [--capacity BYTES] [--seconds S]
 *
 * Channel mode: one writer process (this one) and N forked readers
 * (shmlink_channel_recv, copying) on a channel of the given fan-out and
 * ring capacity, for S seconds, N repetitions. Prints per repetition the
 * messages written per second and, per message: futex system calls of
 * the writer and of all readers together (shmlink__wait_syscalls), and
 * voluntary / involuntary context switches of the writer and of all
 * readers together (getrusage), plus the CPU time all processes used over
 * the wall time (how many cores they kept busy), and how many recv calls
 * of the readers took 20 ms or more (stalls) and how long those took in
 * all, and the CPU time per message of the writer and of a reader (which
 * holds better than the rates on a machine others load), and how often
 * a send found the ring full and a recv found nothing (each first tries
 * with timeout 0, then waits: waits per message). --spin sets
 * how long each side spins before it sleeps (default: the library's).
 *
 * memcpy mode: K = 1, 2, 3 processes at once each copy messages of SIZE
 * bytes out of a private region of CAPACITY bytes (walking it, as a
 * reader walks the ring) into one buffer; prints the bytes per second of
 * each process (per second of wall time, and per second of its CPU
 * time) and of all together, i.e. the copy bandwidth the cores give when
 * one, two or three copy at the same time. */

#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shmlink.h"
#include "channel_internal.h"
#include "wait.h"

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "fanout_probe: %s: %s\n", what, shmlink_strerror(rc));
    exit(1);
}

static void *page_alloc(size_t n)
{
    void *p = NULL;
    if (posix_memalign(&p, 4096, n) != 0) {
        fprintf(stderr, "fanout_probe: out of memory\n");
        exit(1);
    }
    memset(p, 0x5a, n);
    return p;
}

/* What each reader reports back through the pipe. */
struct tally {
    uint64_t msgs, futex, nvcsw, nivcsw, cpu_ns, stalls, stall_ns, waits;
};

/* A recv that took this long counts as a stall (the reader slept through
 * one of its 100 ms wait slices or was kept off the CPU). */
#define STALL_NS 20000000ull

static uint64_t cpu_ns(const struct rusage *ru)
{
    return (uint64_t)(ru->ru_utime.tv_sec + ru->ru_stime.tv_sec) *
               1000000000ull +
           (uint64_t)(ru->ru_utime.tv_usec + ru->ru_stime.tv_usec) * 1000ull;
}

static void one_run(shmlink_fanout fo, unsigned readers, size_t size,
                    size_t cap, int64_t spin, double seconds)
{
    char addr[64];
    static unsigned n;
    snprintf(addr, sizeof addr, "posix:/shmlink-probe-%ld-%u", (long)getpid(),
             n++);
    shmlink_channel_config cfg = {cap, 0600, readers, 1, fo};
    shmlink_channel *w;
    int rc = shmlink_channel_create_config(addr, &cfg, SHMLINK_WRITER, &w);
    if (rc < 0)
        die("create", rc);
    if (spin >= 0)
        shmlink__channel_set_spin(w, spin);
    int ready[2], tally[2];
    if (pipe(ready) < 0 || pipe(tally) < 0) {
        perror("pipe");
        exit(1);
    }
    pid_t pids[64];
    for (unsigned k = 0; k < readers; k++) {
        pids[k] = fork();
        if (pids[k] == 0) {
            shmlink_channel *r;
            rc = shmlink_channel_open(addr, SHMLINK_READER, &r);
            if (rc < 0)
                die("open reader", rc);
            if (spin >= 0)
                shmlink__channel_set_spin(r, spin);
            char c = 'r';
            if (write(ready[1], &c, 1) != 1)
                _exit(1);
            uint8_t *buf = page_alloc(size);
            uint64_t f0 = shmlink__wait_syscalls(), got = 0, stalls = 0,
                     waits = 0, stall_ns = 0, tr = now_ns();
            size_t len;
            for (;;) {
                rc = shmlink_channel_recv(r, buf, size, &len, 0);
                if (rc == -ETIMEDOUT) { /* empty: this recv has to wait */
                    waits++;
                    rc = shmlink_channel_recv(r, buf, size, &len,
                                              SHMLINK_FOREVER);
                }
                if (rc != 0)
                    break;
                uint64_t t2 = now_ns();
                if (got > 0 && t2 - tr >= STALL_NS) {
                    stalls++;
                    stall_ns += t2 - tr;
                }
                tr = t2;
                got++;
            }
            if (rc != -ENODATA)
                die("recv", rc);
            struct rusage ru;
            getrusage(RUSAGE_SELF, &ru);
            struct tally t = {got,
                              shmlink__wait_syscalls() - f0,
                              (uint64_t)ru.ru_nvcsw,
                              (uint64_t)ru.ru_nivcsw,
                              cpu_ns(&ru),
                              stalls,
                              stall_ns,
                              waits};
            shmlink_channel_close(r);
            if (write(tally[1], &t, sizeof t) != (ssize_t)sizeof t)
                _exit(1);
            _exit(0);
        }
        if (pids[k] < 0) {
            perror("fork");
            exit(1);
        }
    }
    for (unsigned k = 0; k < readers; k++) {
        char c;
        if (read(ready[0], &c, 1) != 1) {
            perror("read");
            exit(1);
        }
    }
    uint8_t *buf = page_alloc(size);
    struct rusage r0, r1;
    getrusage(RUSAGE_SELF, &r0);
    uint64_t f0 = shmlink__wait_syscalls();
    uint64_t t0 = now_ns(), until = t0 + (uint64_t)(seconds * 1e9), seq = 0,
             wwaits = 0;
    for (;;) {
        memcpy(buf, &seq, 8);
        rc = shmlink_channel_send(w, buf, size, 0);
        if (rc == -ETIMEDOUT) { /* full: this send has to wait */
            wwaits++;
            rc = shmlink_channel_send(w, buf, size, SHMLINK_FOREVER);
        }
        if (rc < 0)
            die("send", rc);
        seq++;
        if ((seq & 15) == 0 && now_ns() >= until)
            break;
    }
    uint64_t wfutex = shmlink__wait_syscalls() - f0;
    shmlink_channel_close(w);
    struct tally sum = {0, 0, 0, 0, 0, 0, 0, 0};
    for (unsigned k = 0; k < readers; k++) {
        int st;
        while (waitpid(pids[k], &st, 0) < 0 && errno == EINTR)
            ;
        struct tally t;
        if (read(tally[0], &t, sizeof t) != (ssize_t)sizeof t ||
            !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "fanout_probe: a reader failed\n");
            exit(1);
        }
        sum.msgs += t.msgs;
        sum.futex += t.futex;
        sum.nvcsw += t.nvcsw;
        sum.nivcsw += t.nivcsw;
        sum.cpu_ns += t.cpu_ns;
        sum.stalls += t.stalls;
        sum.stall_ns += t.stall_ns;
        sum.waits += t.waits;
    }
    uint64_t wall = now_ns() - t0;
    getrusage(RUSAGE_SELF, &r1);
    (void)shmlink_remove(addr);
    close(ready[0]);
    close(ready[1]);
    close(tally[0]);
    close(tally[1]);
    free(buf);
    uint64_t want = fo == SHMLINK_QUEUE ? seq : seq * readers;
    if (sum.msgs != want) {
        fprintf(stderr, "fanout_probe: readers got %llu messages, want %llu\n",
                (unsigned long long)sum.msgs, (unsigned long long)want);
        exit(1);
    }
    double m = (double)seq;
    printf("%10.0f msg/s  %7.1f MB/s/reader  futex/msg w %.3f r %.3f  "
           "vcsw/msg w %.3f r %.3f  ivcsw/msg w %.3f r %.3f  cores busy "
           "%.2f  reader stalls >= 20 ms: %llu (%.0f ms)  CPU us/msg w %.2f "
           "r %.2f  waits/msg w %.3f r %.3f\n",
           m / ((double)wall / 1e9),
           (fo == SHMLINK_QUEUE ? m / readers : m) * (double)size /
               ((double)wall / 1e3),
           (double)wfutex / m, (double)sum.futex / m,
           (double)(r1.ru_nvcsw - r0.ru_nvcsw) / m, (double)sum.nvcsw / m,
           (double)(r1.ru_nivcsw - r0.ru_nivcsw) / m, (double)sum.nivcsw / m,
           (double)(cpu_ns(&r1) - cpu_ns(&r0) + sum.cpu_ns) / (double)wall,
           (unsigned long long)sum.stalls, (double)sum.stall_ns / 1e6,
           (double)(cpu_ns(&r1) - cpu_ns(&r0)) / m / 1e3,
           (double)sum.cpu_ns / (double)sum.msgs / 1e3, (double)wwaits / m,
           (double)sum.waits / (double)sum.msgs);
    fflush(stdout);
}

static void memcpy_mode(size_t size, size_t cap, double seconds)
{
    for (int k = 1; k <= 3; k++) {
        int out[2];
        if (pipe(out) < 0) {
            perror("pipe");
            exit(1);
        }
        uint64_t start = now_ns() + 50000000ull; /* all begin together */
        for (int i = 0; i < k; i++) {
            if (fork() == 0) {
                uint8_t *region = page_alloc(cap), *dst = page_alloc(size);
                while (now_ns() < start)
                    ;
                struct rusage ru0, ru1;
                getrusage(RUSAGE_SELF, &ru0);
                uint64_t until = start + (uint64_t)(seconds * 1e9), bytes = 0;
                size_t off = 0;
                while (now_ns() < until) {
                    for (int j = 0; j < 16; j++) {
                        memcpy(dst, region + off, size);
                        off = off + size + size > cap ? 0 : off + size;
                        bytes += size;
                    }
                }
                getrusage(RUSAGE_SELF, &ru1);
                /* bytes per second of wall time and of CPU time (the
                 * latter holds on a machine others load too) */
                double bps[2] = {
                    (double)bytes / seconds,
                    (double)bytes /
                        ((double)(cpu_ns(&ru1) - cpu_ns(&ru0)) / 1e9)};
                if (write(out[1], bps, sizeof bps) != (ssize_t)sizeof bps)
                    _exit(1);
                _exit(0);
            }
        }
        double total = 0;
        printf("memcpy %zu B from a %zu B region, %d process(es) at once:",
               size, cap, k);
        for (int i = 0; i < k; i++) {
            double bps[2];
            if (read(out[0], bps, sizeof bps) != (ssize_t)sizeof bps) {
                perror("read");
                exit(1);
            }
            total += bps[0];
            printf(" %.2f (%.2f per CPU s)", bps[0] / 1e9, bps[1] / 1e9);
        }
        while (wait(NULL) > 0)
            ;
        printf(" GB/s each, %.2f GB/s together\n", total / 1e9);
        close(out[0]);
        close(out[1]);
    }
}

static unsigned long long num(const char *opt, const char *s)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s ? s : "", &end, 0);
    if (!s || end == s || *end || errno) {
        fprintf(stderr, "fanout_probe: %s wants a number, got '%s'\n", opt,
                s ? s : "");
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    shmlink_fanout fo = SHMLINK_BROADCAST;
    unsigned readers = 2;
    size_t size = 65536, cap = 4u << 20;
    int64_t spin = -1;
    double seconds = 0.5;
    int reps = 3, memcpy_only = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--memcpy") == 0) {
            memcpy_only = 1;
            continue;
        }
        if (!v) {
            fprintf(stderr,
                    "fanout_probe: %s wants a value (see the top of "
                    "bench/c/fanout_probe.c)\n",
                    a);
            return 2;
        }
        i++;
        if (strcmp(a, "--mode") == 0) {
            if (strcmp(v, "one") == 0)
                fo = SHMLINK_ONE;
            else if (strcmp(v, "broadcast") == 0)
                fo = SHMLINK_BROADCAST;
            else if (strcmp(v, "queue") == 0)
                fo = SHMLINK_QUEUE;
            else {
                fprintf(stderr,
                        "fanout_probe: --mode one|broadcast|queue, "
                        "got '%s'\n",
                        v);
                return 2;
            }
        } else if (strcmp(a, "--readers") == 0) {
            readers = (unsigned)num(a, v);
        } else if (strcmp(a, "--size") == 0) {
            size = (size_t)num(a, v);
        } else if (strcmp(a, "--capacity") == 0) {
            cap = (size_t)num(a, v);
        } else if (strcmp(a, "--spin") == 0) {
            spin = (int64_t)num(a, v);
        } else if (strcmp(a, "--reps") == 0) {
            reps = (int)num(a, v);
        } else if (strcmp(a, "--seconds") == 0) {
            seconds = strtod(v, NULL);
        } else {
            fprintf(stderr, "fanout_probe: unknown option '%s'\n", a);
            return 2;
        }
    }
    if (size < 8 || readers < 1 || readers > 64 || reps < 1 || !(seconds > 0) ||
        (fo == SHMLINK_ONE && readers != 1)) {
        fprintf(stderr, "fanout_probe: needs --size >= 8, --readers 1..64 (1 "
                        "with --mode one), --reps >= 1, --seconds > 0\n");
        return 2;
    }
    if (memcpy_only) {
        memcpy_mode(size, cap, seconds);
        return 0;
    }
    printf("mode %s, %u reader(s), %zu B messages, ring %zu B, spin %s\n",
           fo == SHMLINK_ONE         ? "1:1"
           : fo == SHMLINK_BROADCAST ? "broadcast"
                                     : "queue",
           readers, size, cap, spin < 0 ? "default" : "set");
    for (int r = 0; r < reps; r++)
        one_run(fo, readers, size, cap, spin, seconds);
    return 0;
}
