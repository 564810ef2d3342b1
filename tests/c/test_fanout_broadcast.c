/*
 * Broadcast channels (docs/PROTOCOL.md 13.2), one rule per function, on
 * both backends: a reader that joins gets exactly the messages committed
 * after it joined; the slowest reader holds the writer back, and stops
 * doing so when it closes or dies; the writer never waits without readers;
 * end of stream and the writer's death reach every reader after it read
 * everything; peek, batch, zero copy, interrupt and wait.
 */
#include <signal.h>

#include "fanout_util.h"

#define CAP 4096 /* 128 records of 24-byte messages */

/* A reader that joins later gets only what is committed after it joined;
 * one that joined first gets everything, in order. */
static void test_join_later(shmlink_backend be)
{
    char addr[SHMLINK_ADDRESS_MAX];
    shmlink_channel *w =
        fo_create(be, SHMLINK_BROADCAST, 4, CAP, SHMLINK_WRITER, addr);
    /* no reader: the writer never waits, the ring wraps freely */
    for (uint64_t i = 0; i < 1000; i++)
        ASSERT_OK(fo_send24(w, i, 0));
    shmlink_channel *a = fo_open(addr, SHMLINK_READER);
    for (uint64_t i = 1000; i < 1010; i++)
        ASSERT_OK(fo_send24(w, i, 0));
    shmlink_channel *b = fo_open(addr, SHMLINK_READER);
    for (uint64_t i = 1010; i < 1020; i++)
        ASSERT_OK(fo_send24(w, i, 0));
    for (uint64_t i = 1000; i < 1020; i++)
        ASSERT_UEQ(fo_recv(a, 0, NULL), i);
    for (uint64_t i = 1010; i < 1020; i++)
        ASSERT_UEQ(fo_recv(b, 0, NULL), i);
    int rc;
    fo_recv(a, 0, &rc);
    ASSERT_ERR(rc, -ETIMEDOUT);
    fo_recv(b, 0, &rc);
    ASSERT_ERR(rc, -ETIMEDOUT);
    ASSERT_OK(shmlink_channel_close(w));
    fo_recv(a, 0, &rc);
    ASSERT_ERR(rc, -ENODATA);
    fo_recv(b, SHMLINK_FOREVER, &rc);
    ASSERT_ERR(rc, -ENODATA);
    shmlink_channel_close(a);
    shmlink_channel_close(b);
    ASSERT_OK(t_remove(addr));
}

/* The slowest live reader holds the writer; closing it frees the writer. */
static void test_slowest_holds(shmlink_backend be)
{
    char addr[SHMLINK_ADDRESS_MAX];
    shmlink_channel *w =
        fo_create(be, SHMLINK_BROADCAST, 3, CAP, SHMLINK_WRITER, addr);
    shmlink_channel *fast = fo_open(addr, SHMLINK_READER);
    shmlink_channel *slow = fo_open(addr, SHMLINK_READER);
    uint64_t seq = 0;
    int rc;
    while ((rc = fo_send24(w, seq, 0)) == 0) {
        ASSERT_UEQ(fo_recv(fast, 0, NULL), seq);
        seq++;
        ASSERT_LT(seq, 1000);
    }
    ASSERT_ERR(rc, -ETIMEDOUT);
    ASSERT_UEQ(seq, CAP / 32); /* exactly a ring's worth for the slow one */
    /* a timed wait of the writer ends with -ETIMEDOUT too */
    uint64_t t0 = cu_now_ns();
    ASSERT_ERR(fo_send24(w, seq, 30000000), -ETIMEDOUT);
    ASSERT_GE(cu_now_ns() - t0, 25000000ull);
    /* the slow reader reads one: room for exactly one */
    ASSERT_UEQ(fo_recv(slow, 0, NULL), 0);
    ASSERT_OK(fo_send24(w, seq, 0));
    ASSERT_UEQ(fo_recv(fast, 0, NULL), seq);
    seq++;
    ASSERT_ERR(fo_send24(w, seq, 0), -ETIMEDOUT);
    /* shmlink_channel_wait for the writer: not ready */
    ASSERT_ERR(shmlink_channel_wait(w, 24, 0, shmlink_channel_interrupts(w)),
               -ETIMEDOUT);
    /* the slow one leaves: the writer goes on at once */
    ASSERT_OK(shmlink_channel_close(slow));
    ASSERT_OK(shmlink_channel_wait(w, 24, 0, shmlink_channel_interrupts(w)));
    for (int i = 0; i < 200; i++, seq++) {
        ASSERT_OK(fo_send24(w, seq, 0));
        ASSERT_UEQ(fo_recv(fast, 0, NULL), seq);
    }
    /* the last reader leaves: nobody is owed anything, no -EPIPE */
    ASSERT_OK(shmlink_channel_close(fast));
    for (int i = 0; i < 500; i++, seq++)
        ASSERT_OK(fo_send24(w, seq, 0));
    ASSERT_OK(shmlink_channel_close(w));
    ASSERT_OK(t_remove(addr));
}

/* A reader killed while holding the writer back stops doing so within
 * 1 s (asserted < 5 s on a loaded machine). */
static void test_dead_reader(shmlink_backend be)
{
    char addr[SHMLINK_ADDRESS_MAX];
    shmlink_channel *w =
        fo_create(be, SHMLINK_BROADCAST, 2, CAP, SHMLINK_WRITER, addr);
    int pfd[2];
    ASSERT_SYS(pipe(pfd));
    pid_t pid = fork();
    ASSERT_SYS(pid);
    if (pid == 0) {
        shmlink_channel *r;
        if (shmlink_channel_open(addr, SHMLINK_READER, &r) < 0)
            _exit(1);
        char c = 'j';
        if (write(pfd[1], &c, 1) != 1)
            _exit(1);
        pause(); /* killed here, holding the slot, reading nothing */
        _exit(0);
    }
    char c;
    ASSERT_EQ(read(pfd[0], &c, 1), 1);
    uint64_t seq = 0;
    while (fo_send24(w, seq, 0) == 0)
        seq++;
    ASSERT_UEQ(seq, CAP / 32);
    ASSERT_SYS(kill(pid, SIGKILL));
    uint64_t t0 = cu_now_ns();
    ASSERT_OK(fo_send24(w, seq, SHMLINK_FOREVER));
    uint64_t dt = cu_now_ns() - t0;
    printf("  %s: dead reader stopped holding the writer after %.3f s\n",
           t_backend_name(be), (double)dt / 1e9);
    ASSERT_LT(dt, 5000000000ull);
    (void)t_wait(pid);
    /* its slot is free again: a new reader takes it */
    shmlink_channel *r2 = fo_open(addr, SHMLINK_READER);
    shmlink_channel *r3 = fo_open(addr, SHMLINK_READER);
    shmlink_channel *r4;
    ASSERT_ERR(shmlink_channel_open(addr, SHMLINK_READER, &r4), -EBUSY);
    ASSERT_OK(fo_send24(w, 7777, 0));
    ASSERT_UEQ(fo_recv(r2, 0, NULL), 7777);
    ASSERT_UEQ(fo_recv(r3, 0, NULL), 7777);
    shmlink_channel_close(r2);
    shmlink_channel_close(r3);
    shmlink_channel_close(w);
    close(pfd[0]);
    close(pfd[1]);
    ASSERT_OK(t_remove(addr));
}

/* The writer dies: every reader reads everything it committed, then gets
 * -EPIPE; a restarted writer continues the stream for all of them. */
static void test_writer_death(shmlink_backend be)
{
    char addr[SHMLINK_ADDRESS_MAX];
    shmlink_channel *r0 =
        fo_create(be, SHMLINK_BROADCAST, 3, CAP, SHMLINK_READER, addr);
    shmlink_channel *r1 = fo_open(addr, SHMLINK_READER);
    shmlink_channel *r2 = fo_open(addr, SHMLINK_READER);
    pid_t pid = fork();
    ASSERT_SYS(pid);
    if (pid == 0) {
        shmlink_channel *w;
        if (shmlink_channel_open(addr, SHMLINK_WRITER, &w) < 0)
            _exit(1);
        for (uint64_t i = 0; i < 50; i++)
            if (fo_send24(w, i, SHMLINK_FOREVER) < 0)
                _exit(1);
        void *p;
        if (shmlink_channel_reserve(w, 24, &p, SHMLINK_FOREVER) < 0)
            _exit(1);
        memset(p, 0xee, 24); /* never committed */
        raise(SIGKILL);
        _exit(1);
    }
    int st = t_wait(pid);
    ASSERT_TRUE(WIFSIGNALED(st));
    shmlink_channel *rs[3] = {r0, r1, r2};
    for (int k = 0; k < 3; k++) {
        for (uint64_t i = 0; i < 50; i++)
            ASSERT_UEQ(fo_recv(rs[k], SHMLINK_FOREVER, NULL), i);
        int rc;
        uint64_t t0 = cu_now_ns();
        fo_recv(rs[k], SHMLINK_FOREVER, &rc);
        ASSERT_ERR(rc, -EPIPE);
        ASSERT_LT(cu_now_ns() - t0, 5000000000ull);
    }
    shmlink_channel_info info;
    ASSERT_OK(shmlink_channel_stat(addr, &info));
    ASSERT_EQ(info.writer_alive, 0);
    ASSERT_EQ(info.reader_alive, 1);
    /* restart */
    shmlink_channel *w = fo_open(addr, SHMLINK_WRITER);
    ASSERT_OK(fo_send24(w, 50, 0));
    for (int k = 0; k < 3; k++)
        ASSERT_UEQ(fo_recv(rs[k], 0, NULL), 50);
    ASSERT_OK(shmlink_channel_close(w));
    for (int k = 0; k < 3; k++) {
        int rc;
        fo_recv(rs[k], SHMLINK_FOREVER, &rc);
        ASSERT_ERR(rc, -ENODATA);
        shmlink_channel_close(rs[k]);
    }
    ASSERT_OK(t_remove(addr));
}

/* Peek / release, batches, zero copy, and the messages crossing the ring's
 * end (padding) for several readers at different speeds. */
static void test_modes(shmlink_backend be)
{
    char addr[SHMLINK_ADDRESS_MAX];
    shmlink_channel *w =
        fo_create(be, SHMLINK_BROADCAST, 3, CAP, SHMLINK_WRITER, addr);
    shmlink_channel *r[3];
    for (int k = 0; k < 3; k++)
        r[k] = fo_open(addr, SHMLINK_READER);
    uint64_t next[3] = {0, 0, 0}, sent = 0, s = 5;
    size_t max = shmlink_channel_max_message(w);
    uint8_t *buf = malloc(max * 4);
    size_t lens[16];
    while (next[0] < 3000 || next[1] < 3000 || next[2] < 3000) {
        /* write what fits */
        while (sent < 3000) {
            size_t len = cu_len(9, sent, max);
            void *p;
            int rc = shmlink_channel_reserve(w, len, &p, 0);
            if (rc == -ETIMEDOUT)
                break;
            ASSERT_OK(rc);
            cu_fill(p, len, sent);
            ASSERT_OK(shmlink_channel_commit(w, len));
            sent++;
        }
        int k = (int)(cu_rand(&s) % 3);
        if (next[k] == sent)
            continue;
        if (k == 0) {
            const void *p;
            size_t n;
            ASSERT_OK(shmlink_channel_peek(r[0], &p, &n, 0));
            ASSERT_EQ(n, cu_len(9, next[0], max));
            ASSERT_TRUE(cu_check(p, n, next[0]));
            ASSERT_OK(shmlink_channel_release(r[0]));
            next[0]++;
        } else if (k == 1) {
            int c = shmlink_channel_recv_batch(r[1], buf, max * 4, lens, 16, 0);
            ASSERT_GT(c, 0);
            size_t off = 0;
            for (int i = 0; i < c; i++) {
                ASSERT_EQ(lens[i], cu_len(9, next[1], max));
                ASSERT_TRUE(cu_check(buf + off, lens[i], next[1]));
                off += lens[i];
                next[1]++;
            }
        } else {
            size_t n;
            ASSERT_OK(shmlink_channel_recv(r[2], buf, max, &n, 0));
            ASSERT_EQ(n, cu_len(9, next[2], max));
            ASSERT_TRUE(cu_check(buf, n, next[2]));
            next[2]++;
        }
    }
    free(buf);
    for (int k = 0; k < 3; k++)
        shmlink_channel_close(r[k]);
    shmlink_channel_close(w);
    ASSERT_OK(t_remove(addr));
}

/* Interrupt ends a reader's wait; shmlink_channel_wait reports ready. */
static void test_interrupt_wait(shmlink_backend be)
{
    char addr[SHMLINK_ADDRESS_MAX];
    shmlink_channel *w =
        fo_create(be, SHMLINK_BROADCAST, 2, CAP, SHMLINK_WRITER, addr);
    shmlink_channel *r = fo_open(addr, SHMLINK_READER);
    uint64_t since = shmlink_channel_interrupts(r);
    ASSERT_ERR(shmlink_channel_wait(r, 0, 1000000, since), -ETIMEDOUT);
    ASSERT_OK(shmlink_channel_interrupt(r));
    ASSERT_ERR(shmlink_channel_wait(r, 0, SHMLINK_FOREVER, since), -ECANCELED);
    ASSERT_OK(fo_send24(w, 1, 0));
    ASSERT_OK(shmlink_channel_wait(r, 0, SHMLINK_FOREVER,
                                   shmlink_channel_interrupts(r)));
    ASSERT_UEQ(fo_recv(r, 0, NULL), 1);
    shmlink_channel_close(r);
    shmlink_channel_close(w);
    ASSERT_OK(t_remove(addr));
}

int main(void)
{
    shmlink_backend bes[2] = {SHMLINK_BACKEND_POSIX, SHMLINK_BACKEND_SYSV};
    for (int i = 0; i < 2; i++) {
        printf("%s\n", t_backend_name(bes[i]));
        test_join_later(bes[i]);
        test_slowest_holds(bes[i]);
        test_dead_reader(bes[i]);
        test_writer_death(bes[i]);
        test_modes(bes[i]);
        test_interrupt_wait(bes[i]);
    }
    return T_EXIT_PASS;
}
