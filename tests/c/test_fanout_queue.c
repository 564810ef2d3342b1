/*
 * Work-queue channels (docs/PROTOCOL.md 13.3), one rule per function, on
 * both backends: each message goes to exactly one reader; recv and
 * recv_batch take for good; a peek is acknowledged by release, and one
 * not released when its reader dies or closes goes to another reader,
 * before newer messages; end of stream and the writer's death reach every
 * reader; the writer gets -EPIPE only when every reader is gone; a reader
 * that opens while others take finds consistent positions.
 */
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "fanout_util.h"

#define CAP 4096
#define SEC 1000000000ll

/* Three readers, recv / peek / batch mixed: each message exactly once. */
static void test_exactly_once(shmlink_backend be)
{
    char addr[SHMLINK_ADDRESS_MAX];
    shmlink_channel *w =
        fo_create(be, SHMLINK_QUEUE, 3, CAP, SHMLINK_WRITER, addr);
    shmlink_channel *r[3];
    for (int k = 0; k < 3; k++)
        r[k] = fo_open(addr, SHMLINK_READER);
    enum { N = 3000 };
    static uint8_t seen[N];
    memset(seen, 0, sizeof(seen));
    size_t max = shmlink_channel_max_message(w);
    uint8_t *buf = malloc(max * 4);
    size_t lens[8];
    uint64_t sent = 0, got = 0, s = 3;
    while (got < N) {
        while (sent < N && fo_send(w, sent, 4, max, 0) == 0)
            sent++;
        int k = (int)(cu_rand(&s) % 3);
        int mode = (int)(cu_rand(&s) % 3);
        int c;
        if (mode == 0) {
            c = shmlink_channel_recv(r[k], buf, max, &lens[0], 0);
            c = c == 0 ? 1 : c;
        } else if (mode == 1) {
            const void *p;
            c = shmlink_channel_peek(r[k], &p, &lens[0], 0);
            if (c == 0) {
                memcpy(buf, p, lens[0]);
                ASSERT_OK(shmlink_channel_release(r[k]));
                c = 1;
            }
        } else {
            c = shmlink_channel_recv_batch(r[k], buf, max * 4, lens, 8, 0);
        }
        if (c == -ETIMEDOUT) {
            ASSERT_TRUE(sent > got || sent < N);
            continue;
        }
        ASSERT_GT(c, 0);
        size_t off = 0;
        for (int i = 0; i < c; i++) {
            ASSERT_GE(lens[i], 16);
            uint64_t q = cu_seq(buf + off);
            ASSERT_LT(q, N);
            ASSERT_TRUE(cu_check(buf + off, lens[i], q));
            ASSERT_EQ(lens[i], fo_len(4, q, max));
            ASSERT_EQ(seen[q], 0);
            seen[q] = 1;
            off += lens[i];
            got++;
        }
    }
    free(buf);
    ASSERT_OK(shmlink_channel_close(w));
    for (int k = 0; k < 3; k++) {
        int rc;
        fo_recv(r[k], SHMLINK_FOREVER, &rc);
        ASSERT_ERR(rc, -ENODATA);
    }
    shmlink_channel_info info;
    ASSERT_OK(shmlink_channel_stat(addr, &info));
    ASSERT_UEQ(info.messages_sent, N);
    ASSERT_UEQ(info.messages_received, N);
    ASSERT_UEQ(info.used, 0);
    for (int k = 0; k < 3; k++)
        shmlink_channel_close(r[k]);
    ASSERT_OK(t_remove(addr));
}

/* A peek holds its message (and the writer's room) until release; a
 * second peek returns the same message; recv after a peek takes it; a
 * buffer too small keeps the message. */
static void test_peek_release(shmlink_backend be)
{
    char addr[SHMLINK_ADDRESS_MAX];
    shmlink_channel *w =
        fo_create(be, SHMLINK_QUEUE, 2, CAP, SHMLINK_WRITER, addr);
    shmlink_channel *a = fo_open(addr, SHMLINK_READER);
    shmlink_channel *b = fo_open(addr, SHMLINK_READER);
    ASSERT_ERR(shmlink_channel_release(a), -EINVAL);
    for (uint64_t i = 0; i < 4; i++)
        ASSERT_OK(fo_send24(w, i, 0));
    const void *p, *p2;
    size_t n, n2;
    ASSERT_OK(shmlink_channel_peek(a, &p, &n, 0));
    ASSERT_UEQ(cu_seq(p), 0);
    ASSERT_OK(shmlink_channel_peek(a, &p2, &n2, 0));
    ASSERT_PTR_EQ(p, p2);
    ASSERT_UEQ(fo_recv(b, 0, NULL), 1);
    uint8_t small[8];
    ASSERT_ERR(shmlink_channel_recv(b, small, sizeof(small), &n, 0), -EMSGSIZE);
    ASSERT_EQ(n, 24);
    ASSERT_UEQ(fo_recv(b, 0, NULL), 2);
    ASSERT_UEQ(fo_recv(a, 0, NULL), 0); /* recv takes the peeked one */
    ASSERT_UEQ(fo_recv(a, 0, NULL), 3);
    /* the ring: a peek at the oldest message holds the writer back */
    uint64_t seq = 100;
    ASSERT_OK(fo_send24(w, seq++, 0));
    ASSERT_OK(shmlink_channel_peek(a, &p, &n, 0));
    ASSERT_UEQ(cu_seq(p), 100);
    int rc;
    while ((rc = fo_send24(w, seq, 0)) == 0) {
        ASSERT_UEQ(fo_recv(b, 0, NULL), seq);
        seq++;
        ASSERT_LT(seq, 1000);
    }
    ASSERT_ERR(rc, -ETIMEDOUT);
    ASSERT_OK(shmlink_channel_release(a));
    ASSERT_OK(fo_send24(w, seq, 0));
    ASSERT_UEQ(fo_recv(a, 0, NULL), seq);
    shmlink_channel_close(a);
    shmlink_channel_close(b);
    shmlink_channel_close(w);
    ASSERT_OK(t_remove(addr));
}

/* A reader that peeks and dies (or closes without release): its message
 * goes to a survivor, before newer ones. */
static void test_orphan(shmlink_backend be, int kill_it)
{
    char addr[SHMLINK_ADDRESS_MAX];
    shmlink_channel *w =
        fo_create(be, SHMLINK_QUEUE, 2, CAP, SHMLINK_WRITER, addr);
    shmlink_channel *surv = fo_open(addr, SHMLINK_READER);
    for (uint64_t i = 0; i < 5; i++)
        ASSERT_OK(fo_send24(w, i, 0));
    if (kill_it) {
        int pfd[2];
        ASSERT_SYS(pipe(pfd));
        pid_t pid = fork();
        ASSERT_SYS(pid);
        if (pid == 0) {
            shmlink_channel *r;
            const void *p;
            size_t n;
            if (shmlink_channel_open(addr, SHMLINK_READER, &r) < 0 ||
                shmlink_channel_peek(r, &p, &n, 0) < 0 || cu_seq(p) != 0)
                _exit(1);
            char c = 'p';
            if (write(pfd[1], &c, 1) != 1)
                _exit(1);
            pause();
            _exit(1);
        }
        char c;
        ASSERT_EQ(read(pfd[0], &c, 1), 1);
        /* while the peeker lives, its message is its own */
        ASSERT_UEQ(fo_recv(surv, 0, NULL), 1);
        ASSERT_SYS(kill(pid, SIGKILL));
        (void)t_wait(pid);
        close(pfd[0]);
        close(pfd[1]);
    } else {
        shmlink_channel *r = fo_open(addr, SHMLINK_READER);
        const void *p;
        size_t n;
        ASSERT_OK(shmlink_channel_peek(r, &p, &n, 0));
        ASSERT_UEQ(cu_seq(p), 0);
        ASSERT_UEQ(fo_recv(surv, 0, NULL), 1);
        ASSERT_OK(shmlink_channel_close(r)); /* no release */
    }
    /* The survivor gets the orphan and the rest, each once: the orphan
     * when it next looks for orphans (every 100 ms while it takes, and
     * before it finds the ring empty). */
    uint64_t t0 = cu_now_ns();
    int seen[5] = {0};
    for (int i = 0; i < 4; i++) {
        uint64_t q = fo_recv(surv, SHMLINK_FOREVER, NULL);
        ASSERT_TRUE(q == 0 || (q >= 2 && q <= 4));
        ASSERT_EQ(seen[q], 0);
        seen[q] = 1;
    }
    ASSERT_LT(cu_now_ns() - t0, 5000000000ull);
    int rc;
    fo_recv(surv, 0, &rc);
    ASSERT_ERR(rc, -ETIMEDOUT);
    /* an orphan also reaches a reader that waits on an empty ring */
    shmlink_channel *r = fo_open(addr, SHMLINK_READER);
    ASSERT_OK(fo_send24(w, 9, 0));
    const void *p;
    size_t n;
    ASSERT_OK(shmlink_channel_peek(r, &p, &n, 0));
    ASSERT_OK(shmlink_channel_close(r));
    ASSERT_UEQ(fo_recv(surv, SHMLINK_FOREVER, NULL), 9);
    shmlink_channel_close(surv);
    shmlink_channel_close(w);
    ASSERT_OK(t_remove(addr));
}

/* An orphan left in a slot is delivered by the next reader that takes the
 * slot, also when the writer has closed meanwhile: end of stream comes
 * after it. */
static void test_orphan_own_slot(shmlink_backend be)
{
    char addr[SHMLINK_ADDRESS_MAX];
    shmlink_channel *w =
        fo_create(be, SHMLINK_QUEUE, 1, CAP, SHMLINK_WRITER, addr);
    shmlink_channel *r = fo_open(addr, SHMLINK_READER);
    ASSERT_OK(fo_send24(w, 42, 0));
    const void *p;
    size_t n;
    ASSERT_OK(shmlink_channel_peek(r, &p, &n, 0));
    ASSERT_OK(shmlink_channel_close(r));
    ASSERT_OK(shmlink_channel_close(w));
    r = fo_open(addr, SHMLINK_READER);
    ASSERT_OK(shmlink_channel_peek(r, &p, &n, 0));
    ASSERT_UEQ(cu_seq(p), 42);
    ASSERT_OK(shmlink_channel_release(r));
    int rc;
    fo_recv(r, 0, &rc);
    ASSERT_ERR(rc, -ENODATA);
    shmlink_channel_close(r);
    ASSERT_OK(t_remove(addr));
}

/* End of stream and the writer's death reach every reader once the queue
 * is empty; the writer gets -EPIPE only when no reader is left. */
static void test_end(shmlink_backend be)
{
    char addr[SHMLINK_ADDRESS_MAX];
    shmlink_channel *r0 =
        fo_create(be, SHMLINK_QUEUE, 3, CAP, SHMLINK_READER, addr);
    shmlink_channel *r1 = fo_open(addr, SHMLINK_READER);
    pid_t pid = fork();
    ASSERT_SYS(pid);
    if (pid == 0) {
        shmlink_channel *w;
        if (shmlink_channel_open(addr, SHMLINK_WRITER, &w) < 0)
            _exit(1);
        for (uint64_t i = 0; i < 10; i++)
            if (fo_send24(w, i, 0) < 0)
                _exit(1);
        raise(SIGKILL);
        _exit(1);
    }
    (void)t_wait(pid);
    int got = 0, rc;
    while (fo_recv(r0, 0, &rc) != UINT64_MAX)
        got++;
    ASSERT_ERR(rc, -EPIPE);
    fo_recv(r1, SHMLINK_FOREVER, &rc);
    ASSERT_ERR(rc, -EPIPE);
    ASSERT_EQ(got, 10);
    /* a new writer; the readers go */
    shmlink_channel *w = fo_open(addr, SHMLINK_WRITER);
    ASSERT_OK(fo_send24(w, 1, 0));
    ASSERT_UEQ(fo_recv(r1, 0, NULL), 1);
    ASSERT_OK(shmlink_channel_close(r0));
    uint64_t seq = 0;
    while ((rc = fo_send24(w, seq, 0)) == 0)
        seq++;
    ASSERT_ERR(rc, -ETIMEDOUT); /* r1 lives: wait */
    ASSERT_OK(shmlink_channel_close(r1));
    ASSERT_ERR(fo_send24(w, seq, SHMLINK_FOREVER), -EPIPE);
    shmlink_channel *r2 = fo_open(addr, SHMLINK_READER);
    ASSERT_UEQ(fo_recv(r2, 0, NULL), 0);
    ASSERT_OK(fo_send24(w, seq, 0));
    ASSERT_OK(shmlink_channel_close(w));
    for (uint64_t i = 1; i <= seq; i++)
        ASSERT_UEQ(fo_recv(r2, 0, NULL), i);
    fo_recv(r2, 0, &rc);
    ASSERT_ERR(rc, -ENODATA);
    shmlink_channel_close(r2);
    ASSERT_OK(t_remove(addr));
}

/* Interrupt and wait on a queue reader. */
static void test_interrupt_wait(shmlink_backend be)
{
    char addr[SHMLINK_ADDRESS_MAX];
    shmlink_channel *w =
        fo_create(be, SHMLINK_QUEUE, 2, CAP, SHMLINK_WRITER, addr);
    shmlink_channel *r = fo_open(addr, SHMLINK_READER);
    uint64_t since = shmlink_channel_interrupts(r);
    ASSERT_ERR(shmlink_channel_wait(r, 0, 1000000, since), -ETIMEDOUT);
    ASSERT_OK(shmlink_channel_interrupt(r));
    ASSERT_ERR(shmlink_channel_wait(r, 0, SHMLINK_FOREVER, since), -ECANCELED);
    int rc;
    fo_recv(r, 1000000, &rc);
    ASSERT_ERR(rc, -ETIMEDOUT);
    ASSERT_OK(fo_send24(w, 1, 0));
    ASSERT_OK(shmlink_channel_wait(r, 0, SHMLINK_FOREVER,
                                   shmlink_channel_interrupts(r)));
    ASSERT_UEQ(fo_recv(r, 0, NULL), 1);
    shmlink_channel_close(r);
    shmlink_channel_close(w);
    ASSERT_OK(t_remove(addr));
}

/* Readers that open while the others take: every open succeeds (or finds
 * the slots busy), never -EPROTO. A writer and a taker process keep the
 * queue moving; this process opens and closes a reader slot over and
 * over. (The order that makes it so, head before write_pos, is flaw F12
 * of the SPIN model, which proves it; the window of the old order is two
 * adjacent loads, which this test did not hit in 20,000 rounds.) */
static void test_join_while_taking(shmlink_backend be)
{
    char addr[SHMLINK_ADDRESS_MAX];
    shmlink_channel *w =
        fo_create(be, SHMLINK_QUEUE, 2, CAP, SHMLINK_WRITER, addr);
    shmlink_channel_close(w); /* the writer process takes the slot */
    pid_t pids[2];
    for (int k = 0; k < 2; k++) {
        pids[k] = fork();
        ASSERT_SYS(pids[k]);
        if (pids[k] != 0)
            continue;
        (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
        shmlink_channel *ch;
        if (shmlink_channel_open(addr, k ? SHMLINK_READER : SHMLINK_WRITER,
                                 &ch) < 0)
            _exit(2);
        uint8_t buf[64] = {0};
        size_t n;
        for (;;) { /* until killed */
            if (k == 0)
                (void)shmlink_channel_send(ch, buf, 16, SEC / 10);
            else
                (void)shmlink_channel_recv(ch, buf, sizeof(buf), &n, SEC / 10);
        }
    }
    int rounds = (int)cu_env("SHMLINK_JOIN_ROUNDS", 3000), eproto = 0;
    for (int i = 0; i < rounds; i++) {
        shmlink_channel *r;
        int rc = shmlink_channel_open(addr, SHMLINK_READER, &r);
        if (rc == -EPROTO)
            eproto++;
        else if (rc == 0)
            shmlink_channel_close(r);
        else
            ASSERT_ERR(rc, -EBUSY);
    }
    for (int k = 0; k < 2; k++) {
        int st;
        kill(pids[k], SIGKILL);
        ASSERT_SYS(waitpid(pids[k], &st, 0));
    }
    ASSERT_EQ(eproto, 0);
    ASSERT_OK(t_remove(addr));
}

int main(void)
{
    shmlink_backend bes[2] = {SHMLINK_BACKEND_POSIX, SHMLINK_BACKEND_SYSV};
    for (int i = 0; i < 2; i++) {
        printf("%s\n", t_backend_name(bes[i]));
        test_exactly_once(bes[i]);
        test_peek_release(bes[i]);
        test_orphan(bes[i], 1);
        test_orphan(bes[i], 0);
        test_orphan_own_slot(bes[i]);
        test_end(bes[i]);
        test_interrupt_wait(bes[i]);
        test_join_while_taking(bes[i]);
    }
    return T_EXIT_PASS;
}
