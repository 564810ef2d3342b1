/*
 * Many-writers channels (docs/PROTOCOL.md 13.4), both backends:
 *   - slots: each writer takes the first free writer slot, -EBUSY when
 *     all are held; the reader learns each message's writer slot;
 *   - order: every message exactly once, each writer's in its order; a
 *     batch comes from one writer; the reader moves on to the next ring
 *     once what it saw of the current one is read (no writer starves);
 *   - end of stream: -ENODATA once every ring is drained and every writer
 *     closed, -EPIPE when one died, waiting while one lives or none came;
 *   - a writer killed between reserve and commit holds nobody back, and a
 *     new writer takes its slot and goes on in its ring;
 *   - a reader that dies is replaced by one that continues at each ring's
 *     first unconsumed message;
 *   - corrupt headers and positions are refused with -EPROTO;
 *   - stress: writer processes with random sizes against one reader, and
 *     against a work queue of reader processes (QUEUE | WRITERS), checking
 *     sequence numbers and checksums;
 *   - threads: writers and a reader as threads of one process (TSan).
 * SHMLINK_FANIN_MESSAGES scales the stress counts (default 20000).
 */
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>

#include "fanout_util.h"

#define SEC 1000000000ll

static shmlink_channel *fi_create(shmlink_backend be, shmlink_fanout fanout,
                                  unsigned readers, unsigned writers,
                                  size_t cap, shmlink_role role, char *addr)
{
    shmlink_channel_config cfg = {cap, 0600, readers, writers, fanout};
    shmlink_channel *ch;
    t_addr(be, addr, "fanin");
    int rc = shmlink_channel_create_config(addr, &cfg, role, &ch);
    if (rc < 0)
        T_FAIL_MSG("create %s: %s", addr, shmlink_strerror(rc));
    t_register(shmlink_channel_address(ch));
    snprintf(addr, SHMLINK_ADDRESS_MAX, "%s", shmlink_channel_address(ch));
    return ch;
}

/* Message n of writer w: its sequence number carries both. */
static uint64_t fi_seq(unsigned w, uint64_t n)
{
    return (uint64_t)w << 40 | n;
}

static unsigned slot_of(shmlink_channel *ch)
{
    unsigned s = 99;
    ASSERT_NONNEG(shmlink_channel_fanout_of(ch, NULL, &s));
    return s;
}

/* Receives one message, checks it came from writer slot w as message n. */
static void expect(shmlink_channel *r, unsigned w, uint64_t n)
{
    int rc;
    uint64_t q = fo_recv(r, 5 * SEC, &rc);
    ASSERT_OK(rc);
    ASSERT_UEQ(q, fi_seq(w, n));
    ASSERT_EQ(shmlink_channel_source(r), (int)w);
}

static void test_slots_and_order(shmlink_backend be)
{
    char addr[SHMLINK_ADDRESS_MAX];
    shmlink_channel *r =
        fi_create(be, SHMLINK_ONE, 1, 4, 4096, SHMLINK_READER, addr);
    ASSERT_EQ(shmlink_channel_writers(r), 4);
    shmlink_channel *w[4], *extra;
    for (unsigned i = 0; i < 4; i++) {
        w[i] = fo_open(addr, SHMLINK_WRITER);
        ASSERT_EQ(slot_of(w[i]), i);
    }
    ASSERT_ERR(shmlink_channel_open(addr, SHMLINK_WRITER, &extra), -EBUSY);
    ASSERT_ERR(shmlink_channel_open(addr, SHMLINK_READER, &extra), -EBUSY);
    /* Each writer's messages in its order, whatever the interleaving. */
    for (uint64_t n = 0; n < 3; n++)
        for (unsigned i = 4; i-- > 0;)
            ASSERT_OK(fo_send24(w[i], fi_seq(i, n), 0));
    uint64_t next[4] = {0};
    for (int k = 0; k < 12; k++) {
        int rc;
        uint64_t q = fo_recv(r, 0, &rc);
        ASSERT_OK(rc);
        unsigned i = (unsigned)(q >> 40);
        ASSERT_LT(i, 4);
        ASSERT_UEQ(q, fi_seq(i, next[i]));
        ASSERT_EQ(shmlink_channel_source(r), (int)i);
        next[i]++;
    }
    size_t n;
    uint8_t buf[64];
    ASSERT_ERR(shmlink_channel_recv(r, buf, sizeof(buf), &n, 0), -ETIMEDOUT);

    /* No ring starves: once what the reader saw of ring 0 is read, the
     * next message comes from the next ring that has one. */
    for (uint64_t k = 0; k < 5; k++)
        ASSERT_OK(fo_send24(w[0], fi_seq(0, 3 + k), 0));
    expect(r, 0, 3); /* the reader now knows of messages 3..7 of ring 0 */
    for (uint64_t k = 0; k < 5; k++)
        ASSERT_OK(fo_send24(w[0], fi_seq(0, 8 + k), 0));
    ASSERT_OK(fo_send24(w[2], fi_seq(2, 3), 0));
    for (uint64_t k = 4; k < 8; k++)
        expect(r, 0, k);
    expect(r, 2, 3); /* before ring 0's newer messages */
    for (uint64_t k = 8; k < 13; k++)
        expect(r, 0, k);

    /* A batch comes from one ring; peek/release from one too. */
    ASSERT_OK(fo_send24(w[1], fi_seq(1, 3), 0));
    ASSERT_OK(fo_send24(w[1], fi_seq(1, 4), 0));
    ASSERT_OK(fo_send24(w[3], fi_seq(3, 3), 0));
    size_t lens[8];
    int got = shmlink_channel_recv_batch(r, buf, sizeof(buf), lens, 8, 0);
    ASSERT_EQ(got, 2);
    ASSERT_EQ(shmlink_channel_source(r), 1);
    ASSERT_UEQ(cu_seq(buf), fi_seq(1, 3));
    ASSERT_UEQ(cu_seq(buf + 24), fi_seq(1, 4));
    const void *p;
    ASSERT_OK(shmlink_channel_peek(r, &p, &n, 0));
    ASSERT_EQ(shmlink_channel_source(r), 3);
    ASSERT_UEQ(cu_seq(p), fi_seq(3, 3));
    ASSERT_OK(shmlink_channel_release(r));
    ASSERT_ERR(shmlink_channel_recv(r, buf, sizeof(buf), &n, 0), -ETIMEDOUT);

    /* A full ring holds back its own writer only. */
    while (fo_send24(w[0], fi_seq(0, 99), 0) == 0) {
    }
    ASSERT_ERR(fo_send24(w[0], fi_seq(0, 99), 0), -ETIMEDOUT);
    ASSERT_OK(fo_send24(w[1], fi_seq(1, 5), 0));

    /* End of stream: only after every ring is drained and every writer
     * closed. */
    shmlink_channel_close(w[0]);
    shmlink_channel_close(w[1]);
    shmlink_channel_close(w[2]);
    int rc;
    int drained = 0;
    while (fo_recv(r, 0, &rc) != UINT64_MAX)
        drained++;
    ASSERT_GT(drained, 100);
    ASSERT_ERR(rc, -ETIMEDOUT); /* writer 3 lives */
    shmlink_channel_close(w[3]);
    ASSERT_ERR(shmlink_channel_recv(r, buf, sizeof(buf), &n, SEC), -ENODATA);
    /* A new writer takes the first free slot and is read again. */
    shmlink_channel *w2 = fo_open(addr, SHMLINK_WRITER);
    ASSERT_EQ(slot_of(w2), 0);
    ASSERT_OK(fo_send24(w2, fi_seq(0, 1000), 0));
    expect(r, 0, 1000);
    shmlink_channel_close(w2);
    shmlink_channel_close(r);
    ASSERT_OK(t_remove(addr));
}

/* No writer ever came: the reader waits (no end of stream). */
static void test_no_writer_yet(shmlink_backend be)
{
    char addr[SHMLINK_ADDRESS_MAX];
    shmlink_channel *r =
        fi_create(be, SHMLINK_ONE, 1, 3, 4096, SHMLINK_READER, addr);
    uint8_t buf[64];
    size_t n;
    ASSERT_ERR(shmlink_channel_recv(r, buf, sizeof(buf), &n, SEC / 5),
               -ETIMEDOUT);
    shmlink_channel_close(r);
    ASSERT_OK(t_remove(addr));
}

/* A child writer sends, reserves the next message and is killed. */
static pid_t killed_writer(const char *addr, unsigned *slot)
{
    int fds[2];
    ASSERT_SYS(pipe(fds));
    pid_t pid = fork();
    ASSERT_SYS(pid);
    if (pid == 0) {
        close(fds[0]);
        shmlink_channel *w;
        if (shmlink_channel_open(addr, SHMLINK_WRITER, &w) < 0)
            _exit(1);
        unsigned s = slot_of(w);
        for (uint64_t k = 0; k < 3; k++)
            if (fo_send24(w, fi_seq(s, k), 0) < 0)
                _exit(1);
        void *p;
        if (shmlink_channel_reserve(w, 24, &p, 0) < 0)
            _exit(1);
        memset(p, 0xee, 24); /* never committed */
        char c = (char)s;
        if (write(fds[1], &c, 1) != 1)
            _exit(1);
        pause();
        _exit(0);
    }
    close(fds[1]);
    char c;
    ASSERT_EQ(read(fds[0], &c, 1), 1);
    close(fds[0]);
    *slot = (unsigned char)c;
    kill(pid, SIGKILL);
    int st;
    ASSERT_SYS(waitpid(pid, &st, 0));
    return pid;
}

static void test_writer_killed_mid_message(shmlink_backend be)
{
    char addr[SHMLINK_ADDRESS_MAX];
    shmlink_channel *r =
        fi_create(be, SHMLINK_ONE, 1, 2, 4096, SHMLINK_READER, addr);
    shmlink_channel *w = fo_open(addr, SHMLINK_WRITER);
    ASSERT_EQ(slot_of(w), 0);
    unsigned dead;
    killed_writer(addr, &dead);
    ASSERT_EQ(dead, 1);
    ASSERT_OK(fo_send24(w, fi_seq(0, 0), 0));
    /* The dead writer's committed messages and the live writer's arrive;
     * its reservation hides nothing and stalls nothing. */
    uint64_t t0 = cu_now_ns();
    uint64_t next[2] = {0};
    for (int k = 0; k < 4; k++) {
        int rc;
        uint64_t q = fo_recv(r, 5 * SEC, &rc);
        ASSERT_OK(rc);
        unsigned i = (unsigned)(q >> 40);
        ASSERT_LT(i, 2);
        ASSERT_UEQ(q, fi_seq(i, next[i]));
        next[i]++;
    }
    ASSERT_LT(cu_now_ns() - t0, (uint64_t)SEC);
    ASSERT_UEQ(next[0], 1);
    ASSERT_UEQ(next[1], 3);
    uint8_t buf[64];
    size_t n;
    /* One writer lives: keep waiting. */
    ASSERT_ERR(shmlink_channel_recv(r, buf, sizeof(buf), &n, SEC / 5),
               -ETIMEDOUT);
    /* A new writer takes the dead one's slot, goes on in its ring. */
    shmlink_channel *w0 = fo_open(addr, SHMLINK_WRITER);
    ASSERT_EQ(slot_of(w0), 1);
    ASSERT_OK(fo_send24(w0, fi_seq(1, 3), 0));
    expect(r, 1, 3);
    shmlink_channel_close(w);
    shmlink_channel_close(w0);
    ASSERT_ERR(shmlink_channel_recv(r, buf, sizeof(buf), &n, SEC), -ENODATA);

    /* Killed again, and the other writer closed: -EPIPE, within 1 s of
     * the reader starting to wait (the kill came before). */
    killed_writer(addr, &dead);
    int rc;
    for (uint64_t k = 0; k < 3; k++)
        ASSERT_UEQ(fo_recv(r, 5 * SEC, &rc), fi_seq(dead, k));
    t0 = cu_now_ns();
    ASSERT_ERR(shmlink_channel_recv(r, buf, sizeof(buf), &n, 5 * SEC), -EPIPE);
    ASSERT_LT(cu_now_ns() - t0, (uint64_t)SEC);
    shmlink_channel_close(r);
    ASSERT_OK(t_remove(addr));
}

/* A reader killed mid-stream: a new one continues at each ring's first
 * unconsumed message, and the writers were never held back for good. */
static void test_reader_restart(shmlink_backend be)
{
    char addr[SHMLINK_ADDRESS_MAX];
    shmlink_channel *w0 =
        fi_create(be, SHMLINK_ONE, 1, 2, 4096, SHMLINK_WRITER, addr);
    ASSERT_EQ(slot_of(w0), 0);
    shmlink_channel *w1 = fo_open(addr, SHMLINK_WRITER);
    for (uint64_t k = 0; k < 4; k++) {
        ASSERT_OK(fo_send24(w0, fi_seq(0, k), 0));
        ASSERT_OK(fo_send24(w1, fi_seq(1, k), 0));
    }
    pid_t pid = fork();
    ASSERT_SYS(pid);
    if (pid == 0) {
        shmlink_channel *r;
        if (shmlink_channel_open(addr, SHMLINK_READER, &r) < 0)
            _exit(1);
        uint8_t buf[64];
        size_t n;
        /* Two messages of one ring, one of the other. */
        for (int k = 0; k < 3; k++)
            if (shmlink_channel_recv(r, buf, sizeof(buf), &n, 0) < 0)
                _exit(1);
        const void *p;
        if (shmlink_channel_peek(r, &p, &n, 0) < 0)
            _exit(1);
        raise(SIGKILL);
    }
    int st;
    ASSERT_SYS(waitpid(pid, &st, 0));
    ASSERT_TRUE(WIFSIGNALED(st));
    /* The child read ring 0's messages 0-2 (a reader reads what it saw
     * of a ring before it moves on) and peeked 3: the new reader gets 3
     * again, then ring 1's. */
    shmlink_channel *r = fo_open(addr, SHMLINK_READER);
    expect(r, 0, 3);
    for (uint64_t k = 0; k < 4; k++)
        expect(r, 1, k);
    uint8_t buf[64];
    size_t n;
    ASSERT_ERR(shmlink_channel_recv(r, buf, sizeof(buf), &n, 0), -ETIMEDOUT);
    shmlink_channel_close(r);
    /* No reader: a writer that needs room learns it (-EPIPE). */
    int err = 0;
    for (int k = 0; k < 1000 && err == 0; k++)
        err = fo_send24(w0, fi_seq(0, 100), SEC);
    ASSERT_ERR(err, -EPIPE);
    shmlink_channel_close(w0);
    shmlink_channel_close(w1);
    ASSERT_OK(t_remove(addr));
}

static void put32(const char *addr, size_t off, uint32_t v)
{
    shmlink_segment *seg;
    ASSERT_OK(shmlink_segment_open(addr, 0, &seg));
    memcpy((uint8_t *)shmlink_segment_data(seg) + off, &v, 4);
    shmlink_segment_close(seg);
}

static void put64(const char *addr, size_t off, uint64_t v)
{
    shmlink_segment *seg;
    ASSERT_OK(shmlink_segment_open(addr, 0, &seg));
    memcpy((uint8_t *)shmlink_segment_data(seg) + off, &v, 8);
    shmlink_segment_close(seg);
}

static void test_corrupt(shmlink_backend be)
{
    char addr[SHMLINK_ADDRESS_MAX];
    /* R = 1, W = 3: writer slot w at 512 + 128 * (1 + w). */
    shmlink_channel *c =
        fi_create(be, SHMLINK_ONE, 1, 3, 4096, SHMLINK_READER, addr);
    shmlink_channel_close(c);
    shmlink_channel *ch;
    put32(addr, 44, 0); /* writers */
    ASSERT_ERR(shmlink_channel_open(addr, SHMLINK_WRITER, &ch), -EPROTO);
    put32(addr, 44, 65);
    ASSERT_ERR(shmlink_channel_open(addr, SHMLINK_WRITER, &ch), -EPROTO);
    put32(addr, 12, 8192); /* header size */
    put32(addr, 44, 3);
    ASSERT_ERR(shmlink_channel_open(addr, SHMLINK_WRITER, &ch), -EPROTO);
    put32(addr, 12, 4096);
    put32(addr, 32, 4 | 1); /* WRITERS with BROADCAST */
    ASSERT_ERR(shmlink_channel_open(addr, SHMLINK_READER, &ch), -EPROTO);
    put32(addr, 32, 4);
    put32(addr, 40, 2); /* two readers without fan-out */
    ASSERT_ERR(shmlink_channel_open(addr, SHMLINK_READER, &ch), -EPROTO);
    put32(addr, 40, 1);
    /* Ring 2's head beyond its write position. */
    size_t ws2 = 512 + 128 * 3;
    put64(addr, ws2 + 72, 64);
    ASSERT_ERR(shmlink_channel_open(addr, SHMLINK_READER, &ch), -EPROTO);
    /* The writer that would take slot 0 is fine; slot 2's writer is not. */
    shmlink_channel *w0 = fo_open(addr, SHMLINK_WRITER);
    shmlink_channel *w1 = fo_open(addr, SHMLINK_WRITER);
    ASSERT_ERR(shmlink_channel_open(addr, SHMLINK_WRITER, &ch), -EPROTO);
    put64(addr, ws2 + 72, 0);
    shmlink_channel *r = fo_open(addr, SHMLINK_READER);
    /* A write position not a multiple of 8 in ring 1. */
    ASSERT_OK(fo_send24(w1, 1, 0));
    put64(addr, 512 + 128 * 2 + 8, 13);
    uint8_t buf[64];
    size_t n;
    ASSERT_ERR(shmlink_channel_recv(r, buf, sizeof(buf), &n, 0), -EPROTO);
    shmlink_channel_close(r);
    shmlink_channel_close(w0);
    shmlink_channel_close(w1);
    ASSERT_OK(t_remove(addr));
}

/* ---------------------------------------------------------- stress */

struct tally {
    uint64_t next[8]; /* reader: next message expected per writer */
    uint32_t seen[];  /* queue: times each message was taken */
};

/* The writer processes of a stress run hold their slots at once (end of
 * stream comes when the last holder of every slot closed it): each opens,
 * reports on ready[1], and waits for go[0] to close. */
static int ready[2], go[2];

static void barrier_init(void)
{
    ASSERT_SYS(pipe(ready));
    ASSERT_SYS(pipe(go));
}

static void barrier_release(unsigned n)
{
    char c;
    for (unsigned i = 0; i < n; i++)
        ASSERT_EQ(read(ready[0], &c, 1), 1);
    close(go[1]);
    close(go[0]);
    close(ready[0]);
    close(ready[1]);
}

/* Writer process id (messages carry the process's id, not its slot). */
static void writer_proc(const char *addr, unsigned id, uint64_t count,
                        uint64_t seed, int batchy)
{
    shmlink_channel *w;
    if (shmlink_channel_open(addr, SHMLINK_WRITER, &w) < 0)
        _exit(2);
    char c = 'r';
    close(go[1]);
    if (write(ready[1], &c, 1) != 1 || read(go[0], &c, 1) != 0)
        _exit(2);
    unsigned s = slot_of(w);
    for (uint64_t k = 0; k < count; k++) {
        int rc =
            fo_send(w, fi_seq(id, k), seed + id, batchy ? 64 : 3000, 30 * SEC);
        if (rc < 0) {
            fprintf(stderr, "writer %u: send %llu: %s\n", s,
                    (unsigned long long)k, shmlink_strerror(rc));
            _exit(3);
        }
    }
    shmlink_channel_close(w);
    _exit(0);
}

static void stress_one_reader(shmlink_backend be, unsigned writers,
                              uint64_t count)
{
    char addr[SHMLINK_ADDRESS_MAX];
    shmlink_channel *r =
        fi_create(be, SHMLINK_ONE, 1, writers, 1 << 14, SHMLINK_READER, addr);
    pid_t pids[8];
    barrier_init();
    for (unsigned i = 0; i < writers; i++) {
        pids[i] = fork();
        ASSERT_SYS(pids[i]);
        if (pids[i] == 0)
            writer_proc(addr, i, count, 7, i & 1);
    }
    barrier_release(writers);
    uint64_t next[8] = {0};
    uint8_t buf[65536];
    size_t lens[64];
    uint64_t total = 0;
    for (;;) {
        int got =
            shmlink_channel_recv_batch(r, buf, sizeof(buf), lens, 64, 60 * SEC);
        if (got == -ENODATA)
            break;
        ASSERT_GT(got, 0);
        size_t off = 0;
        for (int k = 0; k < got; k++) {
            uint64_t q = cu_seq(buf + off);
            unsigned i = (unsigned)(q >> 40);
            ASSERT_LT(i, writers);
            ASSERT_LT(shmlink_channel_source(r), (int)writers);
            ASSERT_TRUE(cu_check(buf + off, lens[k], q));
            ASSERT_UEQ(q, fi_seq(i, next[i]));
            next[i]++;
            off += lens[k];
        }
        total += (uint64_t)got;
    }
    for (unsigned i = 0; i < writers; i++) {
        ASSERT_CHILD_OK(pids[i]);
        ASSERT_UEQ(next[i], count);
    }
    ASSERT_UEQ(total, count * writers);
    shmlink_channel_close(r);
    ASSERT_OK(t_remove(addr));
}

static void queue_reader_proc(const char *addr, struct tally *t,
                              unsigned writers, uint64_t count, int peek)
{
    shmlink_channel *r;
    int orc = shmlink_channel_open(addr, SHMLINK_READER, &r);
    if (orc < 0) {
        fprintf(stderr, "queue reader: open: %s\n", shmlink_strerror(orc));
        _exit(2);
    }
    uint64_t last[8];
    memset(last, 0xff, sizeof(last));
    uint8_t buf[4096];
    for (;;) {
        size_t n;
        const void *p = buf;
        int rc = peek ? shmlink_channel_peek(r, &p, &n, 60 * SEC)
                      : shmlink_channel_recv(r, buf, sizeof(buf), &n, 60 * SEC);
        if (rc == -ENODATA)
            break;
        if (rc < 0) {
            fprintf(stderr, "queue reader: %s\n", shmlink_strerror(rc));
            _exit(3);
        }
        uint64_t q = cu_seq(p);
        unsigned i = (unsigned)(q >> 40);
        uint64_t k = q & 0xffffffffffull;
        if (i >= writers || k >= count || !cu_check(p, n, q) ||
            shmlink_channel_source(r) >= (int)writers) {
            fprintf(stderr, "queue reader: bad message %u/%llu from %d\n", i,
                    (unsigned long long)k, shmlink_channel_source(r));
            _exit(4);
        }
        /* Each writer's messages reach one reader in their order. */
        if (last[i] != UINT64_MAX && k <= last[i]) {
            fprintf(stderr, "queue reader: %u/%llu after %llu\n", i,
                    (unsigned long long)k, (unsigned long long)last[i]);
            _exit(5);
        }
        last[i] = k;
        __atomic_add_fetch(&t->seen[i * count + k], 1, __ATOMIC_RELAXED);
        if (peek && shmlink_channel_release(r) < 0)
            _exit(6);
    }
    shmlink_channel_close(r);
    _exit(0);
}

static void stress_queue(shmlink_backend be, unsigned writers, unsigned readers,
                         uint64_t count, int peek)
{
    char addr[SHMLINK_ADDRESS_MAX];
    size_t tsize = sizeof(struct tally) + sizeof(uint32_t) * writers * count;
    struct tally *t = mmap(NULL, tsize, PROT_READ | PROT_WRITE,
                           MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ASSERT_TRUE(t != MAP_FAILED);
    shmlink_channel *w0 = fi_create(be, SHMLINK_QUEUE, readers, writers,
                                    1 << 13, SHMLINK_WRITER, addr);
    shmlink_channel_close(w0); /* slot 0 free again for a writer process */
    pid_t rp[8], wp[8];
    for (unsigned j = 0; j < readers; j++) {
        rp[j] = fork();
        ASSERT_SYS(rp[j]);
        if (rp[j] == 0)
            queue_reader_proc(addr, t, writers, count, peek);
    }
    barrier_init();
    for (unsigned i = 0; i < writers; i++) {
        wp[i] = fork();
        ASSERT_SYS(wp[i]);
        if (wp[i] == 0)
            writer_proc(addr, i, count, 11, 1);
    }
    barrier_release(writers);
    for (unsigned i = 0; i < writers; i++)
        ASSERT_CHILD_OK(wp[i]);
    for (unsigned j = 0; j < readers; j++)
        ASSERT_CHILD_OK(rp[j]);
    for (uint64_t k = 0; k < writers * count; k++)
        if (t->seen[k] != 1)
            T_FAIL_MSG("message %llu of writer %llu taken %u times",
                       (unsigned long long)(k % count),
                       (unsigned long long)(k / count), t->seen[k]);
    munmap(t, tsize);
    ASSERT_OK(t_remove(addr));
}

/* ---------------------------------------------------------- threads */

struct thr {
    const char *addr;
    uint64_t count;
    int rc;
};

static void *writer_thread(void *arg)
{
    struct thr *a = arg;
    shmlink_channel *w;
    a->rc = shmlink_channel_open(a->addr, SHMLINK_WRITER, &w);
    if (a->rc < 0)
        return NULL;
    unsigned s = slot_of(w);
    for (uint64_t k = 0; k < a->count && a->rc == 0; k++)
        a->rc = fo_send(w, fi_seq(s, k), 3, 200, 30 * SEC);
    shmlink_channel_close(w);
    return NULL;
}

static void test_threads(void)
{
    char addr[SHMLINK_ADDRESS_MAX];
    uint64_t count = (uint64_t)cu_env("SHMLINK_FANIN_MESSAGES", 20000) / 4;
    shmlink_channel *r = fi_create(SHMLINK_BACKEND_POSIX, SHMLINK_ONE, 1, 3,
                                   4096, SHMLINK_READER, addr);
    pthread_t th[3];
    struct thr a[3];
    for (int i = 0; i < 3; i++) {
        a[i] = (struct thr){addr, count, 0};
        ASSERT_EQ(pthread_create(&th[i], NULL, writer_thread, &a[i]), 0);
    }
    uint64_t next[3] = {0};
    uint64_t total = 0;
    while (total < 3 * count) {
        int rc;
        uint64_t q = fo_recv(r, 30 * SEC, &rc);
        ASSERT_OK(rc);
        unsigned i = (unsigned)(q >> 40);
        ASSERT_LT(i, 3);
        ASSERT_UEQ(q, fi_seq(i, next[i]));
        next[i]++;
        total++;
    }
    for (int i = 0; i < 3; i++) {
        ASSERT_EQ(pthread_join(th[i], NULL), 0);
        ASSERT_OK(a[i].rc);
    }
    uint8_t buf[64];
    size_t n;
    ASSERT_ERR(shmlink_channel_recv(r, buf, sizeof(buf), &n, 5 * SEC),
               -ENODATA);
    shmlink_channel_close(r);
    ASSERT_OK(t_remove(addr));
}

int main(void)
{
    t_registry_init();
    uint64_t count = (uint64_t)cu_env("SHMLINK_FANIN_MESSAGES", 20000);
    static const shmlink_backend bes[] = {SHMLINK_BACKEND_POSIX,
                                          SHMLINK_BACKEND_SYSV};
    for (size_t b = 0; b < 2; b++) {
        shmlink_backend be = bes[b];
        printf("%s\n", t_backend_name(be));
        test_slots_and_order(be);
        test_no_writer_yet(be);
        test_writer_killed_mid_message(be);
        test_reader_restart(be);
        test_corrupt(be);
        stress_one_reader(be, 4, count / 4);
        stress_queue(be, 3, 3, count / 8, 0);
        stress_queue(be, 2, 4, count / 8, 1);
    }
    test_threads();
    t_cleanup();
    return T_EXIT_PASS;
}
