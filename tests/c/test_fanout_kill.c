/*
 * SIGKILL on fan-out channels, both backends:
 *   A. broadcast: readers are killed at random moments while the writer
 *      streams and new ones join; a dead reader never holds the writer
 *      back for long (measured; contract: 1 s), the readers that live see
 *      the whole sequence, the new ones every message from their first;
 *   B. broadcast and queue: the writer is killed at a random moment; every
 *      reader gets every committed message, then -EPIPE; a new writer goes
 *      on and end of stream reaches every reader;
 *   C. queue with peek/release (at least once): readers are killed at
 *      random moments and kill themselves after a peek, before release;
 *      every message is processed at least once (nothing missing);
 *   D. queue with recv_batch (at most once): readers kill themselves right
 *      after a batch (its messages are lost); every other message is taken
 *      exactly once, none twice.
 * SHMLINK_FANOUT_MESSAGES scales the counts (default 6000).
 */
#include <signal.h>
#include <sys/mman.h>

#include "fanout_util.h"

#define MAXINC 256 /* reader processes per run */

struct shared {
    uint64_t first[MAXINC], count[MAXINC];
    int done[MAXINC];
    uint32_t taken[]; /* per message: times processed (C, D) or lost (D) */
};

static double worst_s;

static void note(const char *what, uint64_t ns)
{
    double s = (double)ns / 1e9;
    if (s > worst_s)
        worst_s = s;
    ASSERT_LT(ns, 5000000000ull);
    (void)what;
}

/* ------------------------------------------------------------------ A */

static int bc_reader(const char *addr, int inc, struct shared *sh, int wfd)
{
    shmlink_channel *r;
    int rc = shmlink_channel_open(addr, SHMLINK_READER, &r);
    char c = 'j';
    if (rc < 0 || write(wfd, &c, 1) != 1)
        return 1;
    uint64_t next = 0;
    int started = 0;
    for (;;) {
        uint64_t q = fo_recv(r, SHMLINK_FOREVER, &rc);
        if (rc < 0)
            break;
        if (!started) {
            started = 1;
            next = q;
            sh->first[inc] = q;
        }
        if (q != next)
            return 1;
        next++;
        __atomic_store_n(&sh->count[inc], next - sh->first[inc],
                         __ATOMIC_RELAXED);
    }
    sh->done[inc] = rc == -ENODATA ? 1 : -1;
    shmlink_channel_close(r);
    return rc == -ENODATA ? 0 : 1;
}

static pid_t spawn_bc(const char *addr, int inc, struct shared *sh)
{
    int pfd[2];
    ASSERT_SYS(pipe(pfd));
    pid_t pid = fork();
    ASSERT_SYS(pid);
    if (pid == 0) {
        close(pfd[0]);
        _exit(bc_reader(addr, inc, sh, pfd[1]));
    }
    close(pfd[1]);
    char c;
    ASSERT_EQ(read(pfd[0], &c, 1), 1); /* joined */
    close(pfd[0]);
    return pid;
}

static void test_bc_kills(shmlink_backend be, uint64_t n, uint64_t seed)
{
    char addr[SHMLINK_ADDRESS_MAX];
    enum { R = 4 };
    shmlink_channel *w =
        fo_create(be, SHMLINK_BROADCAST, R + 1, 1 << 14, SHMLINK_WRITER, addr);
    size_t shsz = sizeof(struct shared);
    struct shared *sh = mmap(NULL, shsz, PROT_READ | PROT_WRITE,
                             MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ASSERT_TRUE(sh != MAP_FAILED);
    pid_t pid[R];
    int inc_of[R], incs = 0, kills = 0;
    for (int k = 0; k < R; k++) {
        inc_of[k] = incs;
        pid[k] = spawn_bc(addr, incs++, sh);
    }
    int survivor = 0; /* slot 0's first process is never killed */
    size_t max = shmlink_channel_max_message(w);
    uint64_t s = seed, worst = 0;
    for (uint64_t seq = 0; seq < n; seq++) {
        if (cu_rand(&s) % 500 == 0 && incs < MAXINC) {
            int k = 1 + (int)(cu_rand(&s) % (R - 1));
            ASSERT_SYS(kill(pid[k], SIGKILL));
            (void)t_wait(pid[k]);
            kills++;
            inc_of[k] = incs;
            pid[k] = spawn_bc(addr, incs++, sh);
        }
        uint64_t t0 = cu_now_ns();
        ASSERT_OK(fo_send(w, seq, seed, max, SHMLINK_FOREVER));
        uint64_t dt = cu_now_ns() - t0;
        if (dt > worst)
            worst = dt;
    }
    ASSERT_OK(shmlink_channel_close(w));
    for (int k = 0; k < R; k++) {
        ASSERT_CHILD_OK(pid[k]);
        int i = inc_of[k];
        ASSERT_EQ(sh->done[i], 1);
        ASSERT_UEQ(sh->first[i] + sh->count[i], n);
        if (k == survivor)
            ASSERT_UEQ(sh->first[i], 0);
    }
    note("broadcast send", worst);
    printf("  %s A: %d readers killed, longest send %.3f s\n",
           t_backend_name(be), kills, (double)worst / 1e9);
    munmap(sh, shsz);
    ASSERT_OK(t_remove(addr));
}

/* ------------------------------------------------------------------ B */

static int writer_forever(const char *addr, uint64_t first, uint64_t seed,
                          int wfd)
{
    shmlink_channel *w;
    int orc = shmlink_channel_open(addr, SHMLINK_WRITER, &w);
    if (orc < 0) {
        fprintf(stderr, "writer open: %s\n", shmlink_strerror(orc));
        return 1;
    }
    char c = 'w';
    if (write(wfd, &c, 1) != 1)
        return 1;
    close(wfd);
    size_t max = shmlink_channel_max_message(w);
    uint64_t s = seed;
    for (uint64_t seq = first;; seq++) {
        int rc;
        if (cu_rand(&s) & 1) {
            rc = fo_send(w, seq, seed, max, SHMLINK_FOREVER);
        } else {
            size_t len = fo_len(seed, seq, max);
            void *p;
            rc = shmlink_channel_reserve(w, len, &p, SHMLINK_FOREVER);
            if (rc == 0) {
                cu_fill(p, len / 2, seq); /* killed here sometimes */
                cu_fill(p, len, seq);
                rc = shmlink_channel_commit(w, len);
            }
        }
        if (rc < 0) {
            fprintf(stderr, "writer seq %llu: %s\n", (unsigned long long)seq,
                    shmlink_strerror(rc));
            return 1;
        }
    }
}

static void test_writer_killed(shmlink_backend be, shmlink_fanout fo,
                               uint64_t seed)
{
    char addr[SHMLINK_ADDRESS_MAX];
    enum { R = 3 };
    shmlink_channel *r[R];
    r[0] = fo_create(be, fo, R, 1 << 14, SHMLINK_READER, addr);
    for (int k = 1; k < R; k++)
        r[k] = fo_open(addr, SHMLINK_READER);
    uint64_t s = seed, next[R] = {0, 0, 0}, got = 0;
    static uint8_t seen[1 << 20];
    memset(seen, 0, sizeof(seen));
    for (int round = 0; round < 3; round++) {
        uint64_t first = fo == SHMLINK_BROADCAST ? next[0] : got;
        /* the dead writer of the last round reads dead (-EPIPE) until
         * the new one has taken over: wait for its word */
        int pfd[2];
        ASSERT_SYS(pipe(pfd));
        pid_t pid = fork();
        ASSERT_SYS(pid);
        if (pid == 0) {
            close(pfd[0]);
            _exit(writer_forever(addr, first, seed + (uint64_t)round, pfd[1]));
        }
        close(pfd[1]);
        char c;
        ASSERT_EQ(read(pfd[0], &c, 1), 1);
        close(pfd[0]);
        uint64_t until = cu_now_ns() + 20000000 + cu_rand(&s) % 80000000;
        int ended[R] = {0, 0, 0}, n_ended = 0, killed = 0;
        uint64_t t_kill = 0;
        while (n_ended < R) {
            if (!killed && cu_now_ns() >= until) {
                ASSERT_SYS(kill(pid, SIGKILL));
                (void)t_wait(pid);
                killed = 1;
                t_kill = cu_now_ns();
            }
            for (int k = 0; k < R; k++) {
                if (ended[k])
                    continue;
                int rc;
                uint64_t q = fo_recv(r[k], 0, &rc);
                if (rc == -ETIMEDOUT)
                    continue;
                if (rc == -EPIPE) {
                    ASSERT_TRUE(killed);
                    ended[k] = 1;
                    n_ended++;
                    continue;
                }
                ASSERT_OK(rc);
                if (fo == SHMLINK_BROADCAST) {
                    ASSERT_UEQ(q, next[k]);
                    next[k]++;
                } else {
                    ASSERT_LT(q, sizeof(seen));
                    ASSERT_EQ(seen[q], 0);
                    seen[q] = 1;
                    got++;
                }
            }
        }
        note("writer death", cu_now_ns() - t_kill);
        if (fo == SHMLINK_BROADCAST) {
            ASSERT_UEQ(next[1], next[0]); /* all of them got all of it */
            ASSERT_UEQ(next[2], next[0]);
        } else {
            for (uint64_t i = 0; i < got; i++)
                ASSERT_EQ(seen[i], 1); /* nothing committed is missing */
        }
    }
    /* a last writer closes: end of stream for everyone */
    shmlink_channel *w = fo_open(addr, SHMLINK_WRITER);
    uint64_t first = fo == SHMLINK_BROADCAST ? next[0] : got;
    ASSERT_OK(fo_send24(w, first, 0));
    ASSERT_OK(shmlink_channel_close(w));
    int delivered = 0;
    for (int k = 0; k < R; k++) {
        int rc;
        uint64_t q;
        while ((q = fo_recv(r[k], SHMLINK_FOREVER, &rc)) != UINT64_MAX) {
            ASSERT_UEQ(q, first);
            delivered++;
        }
        ASSERT_ERR(rc, -ENODATA);
        shmlink_channel_close(r[k]);
    }
    ASSERT_EQ(delivered, fo == SHMLINK_BROADCAST ? R : 1);
    ASSERT_OK(t_remove(addr));
}

/* ------------------------------------------------------------- C and D */

/* C: peek, record, release; kills itself after a peek now and then.
 * D: recv_batch; now and then marks the batch lost and kills itself. */
static int q_reader(const char *addr, int batch, uint64_t n, uint64_t seed,
                    struct shared *sh, int wfd)
{
    shmlink_channel *r;
    /* A live reader that adopts a dead one's orphan holds that slot until
     * it releases the message: every slot can be held for a moment. */
    int rc;
    for (int tries = 0;
         (rc = shmlink_channel_open(addr, SHMLINK_READER, &r)) == -EBUSY &&
         tries < 10000;
         tries++)
        usleep(1000);
    char c = 'j';
    if (rc < 0 || write(wfd, &c, 1) != 1) {
        fprintf(stderr, "queue reader: open: %s\n", shmlink_strerror(rc));
        return 1;
    }
    close(wfd);
    size_t max = shmlink_channel_max_message(r);
    uint8_t *buf = malloc(max * 4);
    size_t lens[16];
    uint64_t s = seed;
    for (;;) {
        if (!batch) {
            const void *p;
            size_t len;
            rc = shmlink_channel_peek(r, &p, &len, SHMLINK_FOREVER);
            if (rc < 0)
                break;
            uint64_t q = cu_seq(p);
            if (len < 16 || !cu_check(p, len, q) || q >= n)
                return 1;
            if (cu_rand(&s) % 97 == 0)
                raise(SIGKILL); /* mid-peek: must be redelivered */
            __atomic_add_fetch(&sh->taken[q], 1, __ATOMIC_SEQ_CST);
            rc = shmlink_channel_release(r);
            if (rc < 0)
                break;
        } else {
            rc = shmlink_channel_recv_batch(r, buf, max * 4, lens, 16,
                                            SHMLINK_FOREVER);
            if (rc < 0)
                break;
            int die = cu_rand(&s) % 61 == 0;
            size_t off = 0;
            for (int k = 0; k < rc; k++) {
                uint64_t q = cu_seq(buf + off);
                if (lens[k] < 16 || !cu_check(buf + off, lens[k], q) || q >= n)
                    return 1;
                /* lost: counted apart (high half) */
                __atomic_add_fetch(&sh->taken[q], die ? 0x10000u : 1u,
                                   __ATOMIC_SEQ_CST);
                off += lens[k];
            }
            if (die)
                raise(SIGKILL); /* mid-batch: the batch is gone */
        }
    }
    free(buf);
    shmlink_channel_close(r);
    return rc == -ENODATA ? 0 : 1;
}

static pid_t spawn_q(const char *addr, int batch, uint64_t n, uint64_t seed,
                     struct shared *sh)
{
    int pfd[2];
    ASSERT_SYS(pipe(pfd));
    pid_t pid = fork();
    ASSERT_SYS(pid);
    if (pid == 0) {
        close(pfd[0]);
        _exit(q_reader(addr, batch, n, seed, sh, pfd[1]));
    }
    close(pfd[1]);
    char c;
    ASSERT_EQ(read(pfd[0], &c, 1), 1);
    close(pfd[0]);
    return pid;
}

static void test_queue_kills(shmlink_backend be, int batch, uint64_t n,
                             uint64_t seed)
{
    char addr[SHMLINK_ADDRESS_MAX];
    enum { R = 4 };
    shmlink_channel *w =
        fo_create(be, SHMLINK_QUEUE, R, 1 << 14, SHMLINK_WRITER, addr);
    size_t shsz = sizeof(struct shared) + n * sizeof(uint32_t);
    struct shared *sh = mmap(NULL, shsz, PROT_READ | PROT_WRITE,
                             MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ASSERT_TRUE(sh != MAP_FAILED);
    pid_t pid[R];
    uint64_t s = seed;
    int deaths = 0;
    for (int k = 0; k < R; k++)
        pid[k] = spawn_q(addr, batch, n, cu_rand(&s), sh);
    size_t max = shmlink_channel_max_message(w);
    for (uint64_t seq = 0; seq < n; seq++) {
        /* replace readers that died (by their own hand or ours) */
        for (int k = 0; k < R; k++) {
            int st;
            pid_t p = waitpid(pid[k], &st, WNOHANG);
            if (p == pid[k]) {
                ASSERT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
                deaths++;
                pid[k] = spawn_q(addr, batch, n, cu_rand(&s), sh);
            }
        }
        if (!batch && cu_rand(&s) % 400 == 0) {
            int k = (int)(cu_rand(&s) % R);
            ASSERT_SYS(kill(pid[k], SIGKILL));
        }
        int rc;
        while ((rc = fo_send(w, seq, seed, max, 200000000)) == -ETIMEDOUT ||
               rc == -EPIPE) {
            /* all readers may be dead at once (the writer then gets
             * -EPIPE, section 13.3): replace them and send again */
            for (int k = 0; k < R; k++) {
                int st;
                if (waitpid(pid[k], &st, WNOHANG) == pid[k]) {
                    deaths++;
                    pid[k] = spawn_q(addr, batch, n, cu_rand(&s), sh);
                }
            }
        }
        ASSERT_OK(rc);
    }
    ASSERT_OK(shmlink_channel_close(w));
    /* the readers drain (orphans included) and end; one that kills itself
     * while draining is replaced, so that its orphan is picked up */
    for (;;) {
        int alive = 0;
        for (int k = 0; k < R; k++) {
            if (pid[k] < 0)
                continue;
            int st = t_wait(pid[k]);
            if (WIFEXITED(st)) {
                ASSERT_EQ(WEXITSTATUS(st), 0);
                pid[k] = -1;
            } else {
                ASSERT_EQ(WTERMSIG(st), SIGKILL);
                deaths++;
                pid[k] = spawn_q(addr, batch, n, cu_rand(&s), sh);
                alive = 1;
            }
        }
        if (!alive)
            break;
    }
    uint64_t dup = 0, lost = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint32_t t = sh->taken[i], ok = t & 0xffff, gone = t >> 16;
        if (batch) {
            if (ok + gone != 1)
                T_FAIL_MSG("message %llu: taken %u, lost %u",
                           (unsigned long long)i, ok, gone);
            lost += gone;
        } else {
            if (ok == 0)
                T_FAIL_MSG("message %llu never processed",
                           (unsigned long long)i);
            dup += ok - 1;
        }
    }
    printf("  %s %s: %d reader deaths, %llu redelivered twice, %llu lost "
           "in killed batches\n",
           t_backend_name(be), batch ? "D (batch)" : "C (peek)", deaths,
           (unsigned long long)dup, (unsigned long long)lost);
    munmap(sh, shsz);
    ASSERT_OK(t_remove(addr));
}

int main(void)
{
    uint64_t n = (uint64_t)cu_env("SHMLINK_FANOUT_MESSAGES", 6000);
    shmlink_backend bes[2] = {SHMLINK_BACKEND_POSIX, SHMLINK_BACKEND_SYSV};
    for (int i = 0; i < 2; i++) {
        printf("%s\n", t_backend_name(bes[i]));
        test_bc_kills(bes[i], n, 10 + (uint64_t)i);
        test_writer_killed(bes[i], SHMLINK_BROADCAST, 20 + (uint64_t)i);
        test_writer_killed(bes[i], SHMLINK_QUEUE, 30 + (uint64_t)i);
        test_queue_kills(bes[i], 0, n, 40 + (uint64_t)i);
        test_queue_kills(bes[i], 1, n, 50 + (uint64_t)i);
    }
    printf("longest wait caused by a death: %.3f s\n", worst_s);
    return T_EXIT_PASS;
}
