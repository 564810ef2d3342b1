/*
 * Channel rules, one process (threads where a wait must end by a wake-up),
 * on both backends: roles and -EBUSY, capacity and max message, wrap-around
 * with every length alignment, 0-byte and max-size messages, full and empty
 * edges, timeouts (0 and > 0), -EMSGSIZE keeping the message, peek/release,
 * reserve/commit/abort, batches, close => -ENODATA after the drain, -EPROTO
 * for a non-channel and another version, -EINTR, info/inspect (also on a
 * read-only mapping).
 */
#include <pthread.h>
#include <sys/time.h>

#include "channel_util.h"

static shmlink_backend backend;

static void mkchan(char *addr, size_t cap, shmlink_channel **w,
                   shmlink_channel **r)
{
    t_addr(backend, addr, "chan");
    ASSERT_OK(shmlink_channel_create(addr, cap, 0600, SHMLINK_WRITER, w));
    t_register(shmlink_channel_address(*w));
    ASSERT_OK(shmlink_channel_open(addr, SHMLINK_READER, r));
}

static void test_roles_and_sizes(void)
{
    char addr[SHMLINK_ADDRESS_MAX];
    shmlink_channel *w, *r, *x = (shmlink_channel *)1;
    mkchan(addr, 5000, &w, &r);
    ASSERT_UEQ(shmlink_channel_capacity(w), 8192);
    ASSERT_UEQ(shmlink_channel_max_message(w), 8192 / 2 - 8);
    ASSERT_UEQ(shmlink_channel_max_message(r), 8192 / 2 - 8);
    ASSERT_GE(shmlink_channel_max_message(w), shmlink_channel_capacity(w) / 4);
    ASSERT_EQ(shmlink_channel_role(w), SHMLINK_WRITER);
    ASSERT_EQ(shmlink_channel_role(r), SHMLINK_READER);
    ASSERT_STREQ(shmlink_channel_address(w), shmlink_channel_address(r));

    /* A second live writer / reader is refused. */
    ASSERT_ERR(shmlink_channel_open(addr, SHMLINK_WRITER, &x), -EBUSY);
    ASSERT_NULL(x);
    ASSERT_ERR(shmlink_channel_open(addr, SHMLINK_READER, &x), -EBUSY);
    /* Creating over an existing one fails. */
    ASSERT_ERR(shmlink_channel_create(addr, 4096, 0600, SHMLINK_WRITER, &x),
               -EEXIST);

    /* Role misuse. */
    size_t n;
    char buf[16];
    ASSERT_ERR(shmlink_channel_send(r, "x", 1, 0), -EINVAL);
    ASSERT_ERR(shmlink_channel_recv(w, buf, sizeof buf, &n, 0), -EINVAL);
    ASSERT_ERR(shmlink_channel_release(r), -EINVAL);
    ASSERT_ERR(shmlink_channel_commit(w, 0), -EINVAL);
    ASSERT_ERR(shmlink_channel_abort(w), -EINVAL);

    /* Bad arguments. */
    char a2[SHMLINK_ADDRESS_MAX];
    t_addr(backend, a2, "bad");
    ASSERT_ERR(shmlink_channel_create(a2, 0, 0600, SHMLINK_WRITER, &x),
               -EINVAL);
    ASSERT_ERR(
        shmlink_channel_create(a2, (1ull << 30) + 1, 0600, SHMLINK_WRITER, &x),
        -EINVAL);
    ASSERT_ERR(shmlink_channel_create(a2, 4096, 0600, (shmlink_role)3, &x),
               -EINVAL);
    ASSERT_ERR(
        shmlink_channel_create("posix:bad", 4096, 0600, SHMLINK_WRITER, &x),
        -EINVAL);
    ASSERT_ERR(shmlink_channel_open(a2, SHMLINK_READER, &x), -ENOENT);

    /* After close, the role can be taken again (restart of a closed end). */
    ASSERT_OK(shmlink_channel_close(r));
    ASSERT_OK(shmlink_channel_open(addr, SHMLINK_READER, &r));
    ASSERT_OK(shmlink_channel_close(w));
    ASSERT_OK(shmlink_channel_close(r));
    ASSERT_OK(shmlink_channel_close(NULL));
    ASSERT_OK(t_remove(addr));
}

/* Messages of every length alignment cross the ring's end many times. */
static void test_wrap_alignment(void)
{
    char addr[SHMLINK_ADDRESS_MAX];
    shmlink_channel *w, *r;
    mkchan(addr, 4096, &w, &r);
    size_t max = shmlink_channel_max_message(w);
    static uint8_t in[4096], out[4096];
    uint64_t seq = 0, rseq = 0, s = 42;
    for (int round = 0; round < 3000; round++) {
        /* lengths cycle through alignments 0..7 and a spread of sizes */
        size_t len =
            (size_t)(cu_rand(&s) % (max / 8)) * 8 + (size_t)(round % 8);
        if (len > max)
            len = max - 7 + (size_t)(round % 8) - 8;
        int batch = 1 + (int)(cu_rand(&s) % 3);
        int sent = 0;
        for (int k = 0; k < batch; k++) {
            cu_fill(in, len, seq);
            int rc = shmlink_channel_send(w, in, len, 0);
            if (rc == -ETIMEDOUT)
                break;
            ASSERT_OK(rc);
            seq++;
            sent++;
        }
        while (rseq < seq) {
            size_t n = 0;
            ASSERT_OK(shmlink_channel_recv(r, out, sizeof out, &n, 0));
            ASSERT_TRUE(cu_check(out, n, rseq));
            rseq++;
        }
    }
    size_t n;
    ASSERT_ERR(shmlink_channel_recv(r, out, sizeof out, &n, 0), -ETIMEDOUT);
    shmlink_channel_info info;
    ASSERT_OK(shmlink_channel_info_get(r, &info));
    ASSERT_UEQ(info.messages_sent, seq);
    ASSERT_UEQ(info.messages_received, seq);
    ASSERT_UEQ(info.used, 0);
    ASSERT_OK(shmlink_channel_close(w));
    ASSERT_OK(shmlink_channel_close(r));
    ASSERT_OK(t_remove(addr));
}

/* 0-byte, max-size, too-big; full and empty edges; timeouts. */
static void test_edges_and_timeouts(void)
{
    char addr[SHMLINK_ADDRESS_MAX];
    shmlink_channel *w, *r;
    mkchan(addr, 4096, &w, &r);
    size_t max = shmlink_channel_max_message(w);
    static uint8_t in[8192], out[8192];
    size_t n = 99;

    /* empty: timeout 0 and a short timeout */
    ASSERT_ERR(shmlink_channel_recv(r, out, sizeof out, &n, 0), -ETIMEDOUT);
    uint64_t t0 = cu_now_ns();
    ASSERT_ERR(shmlink_channel_recv(r, out, sizeof out, &n, 50000000),
               -ETIMEDOUT);
    uint64_t el = cu_now_ns() - t0;
    ASSERT_GE(el, 50000000);
    ASSERT_LT(el, 5000000000ull);

    /* 0 bytes */
    ASSERT_OK(shmlink_channel_send(w, NULL, 0, 0));
    n = 99;
    ASSERT_OK(shmlink_channel_recv(r, NULL, 0, &n, 0));
    ASSERT_UEQ(n, 0);

    /* max size, twice in a row at different ring offsets */
    for (int k = 0; k < 3; k++) {
        cu_fill(in, max, (uint64_t)k);
        ASSERT_OK(shmlink_channel_send(w, in, max, 0));
        ASSERT_OK(shmlink_channel_recv(r, out, sizeof out, &n, 0));
        ASSERT_UEQ(n, max);
        ASSERT_TRUE(cu_check(out, n, (uint64_t)k));
    }
    ASSERT_ERR(shmlink_channel_send(w, in, max + 1, 0), -EMSGSIZE);
    void *p;
    ASSERT_ERR(shmlink_channel_reserve(w, max + 1, &p, 0), -EMSGSIZE);

    /* full: 8-byte messages take 16 bytes each; the ring holds exactly
     * capacity/16 of them from an aligned start. */
    shmlink_channel_info info;
    ASSERT_OK(shmlink_channel_info_get(w, &info));
    ASSERT_UEQ(info.used, 0);
    int count = 0;
    for (;;) {
        cu_fill(in, 8, (uint64_t)count);
        int rc = shmlink_channel_send(w, in, 8, 0);
        if (rc == -ETIMEDOUT)
            break;
        ASSERT_OK(rc);
        count++;
        ASSERT_LE(count, 4096);
    }
    ASSERT_EQ(count, 4096 / 16);
    ASSERT_OK(shmlink_channel_info_get(w, &info));
    ASSERT_UEQ(info.used, 4096);
    t0 = cu_now_ns();
    ASSERT_ERR(shmlink_channel_send(w, in, 8, 30000000), -ETIMEDOUT);
    ASSERT_GE(cu_now_ns() - t0, 30000000);
    /* one out, one in */
    ASSERT_OK(shmlink_channel_recv(r, out, sizeof out, &n, 0));
    ASSERT_TRUE(cu_check(out, n, 0));
    ASSERT_OK(shmlink_channel_send(w, in, 8, 0));
    ASSERT_ERR(shmlink_channel_send(w, in, 8, 0), -ETIMEDOUT);
    /* a big one does not fit until enough is drained */
    ASSERT_ERR(shmlink_channel_send(w, in, 100, 0), -ETIMEDOUT);
    for (int k = 1; k < count; k++) {
        ASSERT_OK(shmlink_channel_recv(r, out, sizeof out, &n, 0));
        ASSERT_TRUE(cu_check(out, n, (uint64_t)k));
    }
    ASSERT_OK(shmlink_channel_recv(r, out, sizeof out, &n, 0));
    ASSERT_ERR(shmlink_channel_recv(r, out, sizeof out, &n, 0), -ETIMEDOUT);
    ASSERT_OK(shmlink_channel_close(w));
    ASSERT_OK(shmlink_channel_close(r));
    ASSERT_OK(t_remove(addr));
}

static void test_zero_copy_and_batch(void)
{
    char addr[SHMLINK_ADDRESS_MAX];
    shmlink_channel *w, *r;
    mkchan(addr, 4096, &w, &r);
    uint8_t in[600], out[2048];
    size_t n;

    /* EMSGSIZE keeps the message */
    cu_fill(in, 100, 1);
    ASSERT_OK(shmlink_channel_send(w, in, 100, 0));
    n = 0;
    ASSERT_ERR(shmlink_channel_recv(r, out, 99, &n, 0), -EMSGSIZE);
    ASSERT_UEQ(n, 100);
    ASSERT_OK(shmlink_channel_recv(r, out, 100, &n, 0));
    ASSERT_TRUE(cu_check(out, n, 1));

    /* peek twice, release once */
    cu_fill(in, 50, 2);
    ASSERT_OK(shmlink_channel_send(w, in, 50, 0));
    const void *pp, *pp2;
    ASSERT_OK(shmlink_channel_peek(r, &pp, &n, 0));
    ASSERT_UEQ(n, 50);
    ASSERT_TRUE(cu_check(pp, n, 2));
    ASSERT_OK(shmlink_channel_peek(r, &pp2, &n, 0));
    ASSERT_PTR_EQ(pp, pp2);
    ASSERT_OK(shmlink_channel_release(r));
    ASSERT_ERR(shmlink_channel_release(r), -EINVAL);
    ASSERT_ERR(shmlink_channel_peek(r, &pp, &n, 0), -ETIMEDOUT);

    /* reserve, fill part, commit fewer bytes */
    void *p;
    ASSERT_OK(shmlink_channel_reserve(w, 500, &p, 0));
    void *p2;
    ASSERT_ERR(shmlink_channel_reserve(w, 10, &p2, 0), -EINVAL);
    ASSERT_ERR(shmlink_channel_send(w, in, 10, 0), -EINVAL);
    /* nothing visible before commit */
    ASSERT_ERR(shmlink_channel_recv(r, out, sizeof out, &n, 0), -ETIMEDOUT);
    cu_fill(p, 300, 3);
    ASSERT_ERR(shmlink_channel_commit(w, 501), -EINVAL);
    ASSERT_OK(shmlink_channel_commit(w, 300));
    ASSERT_ERR(shmlink_channel_commit(w, 0), -EINVAL);
    ASSERT_OK(shmlink_channel_recv(r, out, sizeof out, &n, 0));
    ASSERT_UEQ(n, 300);
    ASSERT_TRUE(cu_check(out, n, 3));

    /* abort: nothing published, space reused */
    ASSERT_OK(shmlink_channel_reserve(w, 200, &p, 0));
    memset(p, 0xee, 200);
    ASSERT_OK(shmlink_channel_abort(w));
    ASSERT_ERR(shmlink_channel_recv(r, out, sizeof out, &n, 0), -ETIMEDOUT);
    cu_fill(in, 20, 4);
    ASSERT_OK(shmlink_channel_send(w, in, 20, 0));
    ASSERT_OK(shmlink_channel_recv(r, out, sizeof out, &n, 0));
    ASSERT_TRUE(n == 20 && cu_check(out, n, 4));

    /* batch: 10 messages of 40 bytes */
    for (uint64_t k = 0; k < 10; k++) {
        cu_fill(in, 40, 10 + k);
        ASSERT_OK(shmlink_channel_send(w, in, 40, 0));
    }
    size_t lens[8];
    ASSERT_ERR(shmlink_channel_recv_batch(r, out, 39, lens, 8, 0), -EMSGSIZE);
    ASSERT_UEQ(lens[0], 40);
    ASSERT_ERR(shmlink_channel_recv_batch(r, out, sizeof out, lens, 0, 0),
               -EINVAL);
    int got = shmlink_channel_recv_batch(r, out, sizeof out, lens, 4, 0);
    ASSERT_EQ(got, 4);
    for (int k = 0; k < 4; k++) {
        ASSERT_UEQ(lens[k], 40);
        ASSERT_TRUE(cu_check(out + 40 * k, 40, 10 + (uint64_t)k));
    }
    got = shmlink_channel_recv_batch(r, out, 130, lens, 8, 0); /* room for 3 */
    ASSERT_EQ(got, 3);
    ASSERT_TRUE(cu_check(out + 80, 40, 16));
    got = shmlink_channel_recv_batch(r, out, sizeof out, lens, 8, 0);
    ASSERT_EQ(got, 3);
    ASSERT_TRUE(cu_check(out + 80, 40, 19));
    ASSERT_ERR(shmlink_channel_recv_batch(r, out, sizeof out, lens, 8, 0),
               -ETIMEDOUT);

    /* close => every message, then end of stream (also with no timeout) */
    for (uint64_t k = 0; k < 3; k++) {
        cu_fill(in, 30, 100 + k);
        ASSERT_OK(shmlink_channel_send(w, in, 30, 0));
    }
    ASSERT_OK(shmlink_channel_reserve(w, 30, &p, 0)); /* dropped by close */
    ASSERT_OK(shmlink_channel_close(w));
    shmlink_channel_info info;
    ASSERT_OK(shmlink_channel_info_get(r, &info));
    ASSERT_EQ(info.closed, 1);
    ASSERT_EQ(info.writer_pid, 0);
    for (uint64_t k = 0; k < 3; k++) {
        ASSERT_OK(
            shmlink_channel_recv(r, out, sizeof out, &n, SHMLINK_FOREVER));
        ASSERT_TRUE(cu_check(out, n, 100 + k));
    }
    ASSERT_ERR(shmlink_channel_recv(r, out, sizeof out, &n, SHMLINK_FOREVER),
               -ENODATA);
    ASSERT_ERR(shmlink_channel_recv(r, out, sizeof out, &n, 0), -ENODATA);
    ASSERT_ERR(shmlink_channel_peek(r, &pp, &n, 0), -ENODATA);
    /* a new writer starts a new stream */
    ASSERT_OK(shmlink_channel_open(addr, SHMLINK_WRITER, &w));
    ASSERT_ERR(shmlink_channel_recv(r, out, sizeof out, &n, 0), -ETIMEDOUT);
    ASSERT_OK(shmlink_channel_send(w, in, 30, 0));
    ASSERT_OK(shmlink_channel_recv(r, out, sizeof out, &n, 0));
    ASSERT_TRUE(cu_check(out, n, 102));
    ASSERT_OK(shmlink_channel_close(w));
    ASSERT_OK(shmlink_channel_close(r));
    ASSERT_OK(t_remove(addr));
}

/* Not a channel, another version, too small, corrupt header field. */
static void test_protocol_errors(void)
{
    char addr[SHMLINK_ADDRESS_MAX];
    shmlink_segment *seg;
    shmlink_channel *ch = NULL;
    shmlink_channel_info info;
    t_addr(backend, addr, "notchan");
    ASSERT_OK(t_create(addr, 8192, 0600, &seg));
    ASSERT_ERR(shmlink_channel_open(addr, SHMLINK_READER, &ch), -EPROTO);
    ASSERT_ERR(shmlink_channel_inspect(shmlink_segment_data(seg), 8192, &info),
               -EPROTO);
    memset(shmlink_segment_data(seg), 'x', 8192);
    ASSERT_ERR(shmlink_channel_open(addr, SHMLINK_WRITER, &ch), -EPROTO);
    shmlink_segment_close(seg);
    ASSERT_OK(t_remove(addr));

    t_addr(backend, addr, "small");
    ASSERT_OK(t_create(addr, 100, 0600, &seg));
    ASSERT_ERR(shmlink_channel_open(addr, SHMLINK_READER, &ch), -EPROTO);
    shmlink_segment_close(seg);
    ASSERT_OK(t_remove(addr));

    shmlink_channel *w;
    t_addr(backend, addr, "ver");
    ASSERT_OK(shmlink_channel_create(addr, 4096, 0600, SHMLINK_WRITER, &w));
    t_register(addr);
    ASSERT_OK(shmlink_segment_open(addr, 0, &seg));
    uint8_t *b = shmlink_segment_data(seg);
    ASSERT_OK(shmlink_channel_inspect(b, shmlink_segment_size(seg), &info));
    ASSERT_EQ(info.version, 2);
    /* too small a size for the ring it claims */
    ASSERT_ERR(shmlink_channel_inspect(b, 4096, &info), -EPROTO);
    uint32_t v = 3;
    memcpy(b + 8, &v, 4);
    ASSERT_ERR(shmlink_channel_open(addr, SHMLINK_READER, &ch), -EPROTO);
    ASSERT_ERR(shmlink_channel_inspect(b, shmlink_segment_size(seg), &info),
               -EPROTO);
    v = 2;
    memcpy(b + 8, &v, 4);
    uint32_t f = 1; /* a feature bit this version does not know */
    memcpy(b + 32, &f, 4);
    ASSERT_ERR(shmlink_channel_open(addr, SHMLINK_READER, &ch), -EPROTO);
    f = 0;
    memcpy(b + 32, &f, 4);
    uint64_t cap = 3000; /* not a power of two */
    memcpy(b + 16, &cap, 8);
    ASSERT_ERR(shmlink_channel_open(addr, SHMLINK_READER, &ch), -EPROTO);
    cap = 4096;
    memcpy(b + 16, &cap, 8);
    uint64_t wp = 12; /* misaligned write position */
    memcpy(b + 128, &wp, 8);
    ASSERT_ERR(shmlink_channel_open(addr, SHMLINK_READER, &ch), -EPROTO);
    /* the failed open left the role free */
    wp = 0;
    memcpy(b + 128, &wp, 8);
    ASSERT_OK(shmlink_channel_open(addr, SHMLINK_READER, &ch));
    /* The writer trusts its private position and cached read position;
     * a corrupt read_pos is caught (-EPROTO) when it has to be re-read. */
    uint64_t rp = 5000; /* beyond the writer's position */
    memcpy(b + 256, &rp, 8);
    uint8_t big[2000];
    memset(big, 1, sizeof big);
    ASSERT_ERR(shmlink_channel_send(w, big, sizeof big, 0), 0);
    ASSERT_ERR(shmlink_channel_send(w, big, sizeof big, 0), 0);
    ASSERT_ERR(shmlink_channel_send(w, big, sizeof big, 0), -EPROTO);
    rp = 4; /* misaligned */
    memcpy(b + 256, &rp, 8);
    ASSERT_ERR(shmlink_channel_send(w, big, sizeof big, 0), -EPROTO);
    rp = 0;
    memcpy(b + 256, &rp, 8);
    ASSERT_ERR(shmlink_channel_send(w, big, sizeof big, 0), -ETIMEDOUT);
    shmlink_segment_close(seg);
    ASSERT_OK(shmlink_channel_close(ch));
    ASSERT_OK(shmlink_channel_close(w));
    ASSERT_OK(t_remove(addr));
}

/* Peers: a reader waits for a writer that has not come yet; a writer waits
 * for a reader that has not come yet but gets -EPIPE for one that closed;
 * inspect on a read-only mapping. */
static void test_peers_and_inspect(void)
{
    char addr[SHMLINK_ADDRESS_MAX];
    shmlink_channel *w, *r;
    size_t n;
    uint8_t buf[64];
    t_addr(backend, addr, "peers");
    ASSERT_OK(shmlink_channel_create(addr, 4096, 0600, SHMLINK_READER, &r));
    t_register(addr);
    ASSERT_ERR(shmlink_channel_recv(r, buf, sizeof buf, &n, 0), -ETIMEDOUT);
    ASSERT_ERR(shmlink_channel_recv(r, buf, sizeof buf, &n, 20000000),
               -ETIMEDOUT);
    ASSERT_OK(shmlink_channel_open(addr, SHMLINK_WRITER, &w));
    ASSERT_OK(shmlink_channel_send(w, "hello", 5, 0));

    shmlink_segment *ro;
    ASSERT_OK(shmlink_segment_open(addr, SHMLINK_RDONLY, &ro));
    shmlink_channel_info info;
    ASSERT_OK(shmlink_channel_inspect(shmlink_segment_data(ro),
                                      shmlink_segment_size(ro), &info));
    ASSERT_EQ(info.version, 2);
    ASSERT_UEQ(info.capacity, 4096);
    ASSERT_UEQ(info.max_message, 2040);
    ASSERT_UEQ(info.used, 16);
    ASSERT_UEQ(info.messages_sent, 1);
    ASSERT_UEQ(info.messages_received, 0);
    ASSERT_EQ(info.writer_pid, getpid());
    ASSERT_EQ(info.reader_pid, getpid());
    /* memory alone cannot show who holds a lock */
    ASSERT_EQ(info.writer_alive, -1);
    ASSERT_EQ(info.reader_alive, -1);
    ASSERT_EQ(info.closed, 0);
    /* stat by address tests the role locks */
    memset(&info, 0, sizeof info);
    ASSERT_OK(shmlink_channel_stat(addr, &info));
    ASSERT_EQ(info.version, 2);
    ASSERT_UEQ(info.used, 16);
    ASSERT_EQ(info.writer_alive, 1);
    ASSERT_EQ(info.reader_alive, 1);
    ASSERT_OK(shmlink_channel_info_get(w, &info));
    ASSERT_EQ(info.writer_alive, 1);
    ASSERT_EQ(info.reader_alive, 1);

    /* fill the ring (no reader consumption) */
    int rc;
    while ((rc = shmlink_channel_send(w, buf, 56, 0)) == 0)
        ;
    ASSERT_ERR(rc, -ETIMEDOUT);
    ASSERT_OK(shmlink_channel_close(r));
    ASSERT_OK(shmlink_channel_inspect(shmlink_segment_data(ro),
                                      shmlink_segment_size(ro), &info));
    ASSERT_EQ(info.reader_pid, 0);
    ASSERT_EQ(info.reader_alive, 0);
    ASSERT_ERR(shmlink_channel_send(w, buf, 56, SHMLINK_FOREVER), -EPIPE);
    ASSERT_ERR(shmlink_channel_send(w, buf, 56, 0), -EPIPE);
    /* a new reader continues at the first unconsumed message */
    ASSERT_OK(shmlink_channel_open(addr, SHMLINK_READER, &r));
    ASSERT_OK(shmlink_channel_recv(r, buf, sizeof buf, &n, 0));
    ASSERT_UEQ(n, 5);
    ASSERT_MEMEQ(buf, "hello", 5);
    ASSERT_OK(shmlink_channel_send(w, buf, 8, 0));
    shmlink_segment_close(ro);
    ASSERT_OK(shmlink_channel_close(w));
    ASSERT_OK(shmlink_channel_close(r));
    ASSERT_OK(t_remove(addr));
}

/* Wake-ups: a blocked reader and a blocked writer are woken by the other
 * thread (no timeout given); a signal handler interrupts a wait. */
struct wake_arg {
    shmlink_channel *ch;
    int64_t delay_ns;
    int rc;
};

static void *wake_sender(void *p)
{
    struct wake_arg *a = p;
    struct timespec ts = {0, (long)a->delay_ns};
    nanosleep(&ts, NULL);
    uint8_t in[100];
    cu_fill(in, sizeof in, 7);
    a->rc = shmlink_channel_send(a->ch, in, sizeof in, SHMLINK_FOREVER);
    return NULL;
}

static void *wake_receiver(void *p)
{
    struct wake_arg *a = p;
    struct timespec ts = {0, (long)a->delay_ns};
    nanosleep(&ts, NULL);
    uint8_t out[4096];
    size_t n;
    a->rc = shmlink_channel_recv(a->ch, out, sizeof out, &n, SHMLINK_FOREVER);
    return NULL;
}

static void on_alarm(int sig)
{
    (void)sig;
}

static void test_wakeups_and_eintr(void)
{
    char addr[SHMLINK_ADDRESS_MAX];
    shmlink_channel *w, *r;
    mkchan(addr, 4096, &w, &r);
    uint8_t out[4096];
    size_t n;
    pthread_t th;
    for (int k = 0; k < 5; k++) {
        struct wake_arg a = {w, 20000000 + k * 5000000, -1};
        ASSERT_EQ(pthread_create(&th, NULL, wake_sender, &a), 0);
        ASSERT_OK(
            shmlink_channel_recv(r, out, sizeof out, &n, SHMLINK_FOREVER));
        ASSERT_TRUE(n == 100 && cu_check(out, n, 7));
        ASSERT_EQ(pthread_join(th, NULL), 0);
        ASSERT_OK(a.rc);
    }
    /* writer blocked on a full ring is woken by the reader */
    while (shmlink_channel_send(w, out, 1000, 0) == 0)
        ;
    struct wake_arg a = {r, 20000000, -1};
    ASSERT_EQ(pthread_create(&th, NULL, wake_receiver, &a), 0);
    ASSERT_OK(shmlink_channel_send(w, out, 1000, SHMLINK_FOREVER));
    ASSERT_EQ(pthread_join(th, NULL), 0);
    ASSERT_OK(a.rc);
    while (shmlink_channel_recv(r, out, sizeof out, &n, 0) == 0)
        ;

    /* EINTR: a handler without SA_RESTART interrupts a wait without limit */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigemptyset(&sa.sa_mask);
    ASSERT_SYS(sigaction(SIGALRM, &sa, NULL));
    struct itimerval it = {{0, 0}, {0, 150000}};
    ASSERT_SYS(setitimer(ITIMER_REAL, &it, NULL));
    ASSERT_ERR(shmlink_channel_recv(r, out, sizeof out, &n, SHMLINK_FOREVER),
               -EINTR);
    while (shmlink_channel_send(w, out, 1000, 0) == 0)
        ;
    ASSERT_SYS(setitimer(ITIMER_REAL, &it, NULL));
    ASSERT_ERR(shmlink_channel_send(w, out, 1000, SHMLINK_FOREVER), -EINTR);
    signal(SIGALRM, SIG_DFL);

    ASSERT_OK(shmlink_channel_close(w));
    ASSERT_OK(shmlink_channel_close(r));
    ASSERT_OK(t_remove(addr));
}

int main(void)
{
    shmlink_backend backends[2] = {SHMLINK_BACKEND_POSIX, SHMLINK_BACKEND_SYSV};
    for (int i = 0; i < 2; i++) {
        backend = backends[i];
        printf("backend %s\n", t_backend_name(backend));
        test_roles_and_sizes();
        test_wrap_alignment();
        test_edges_and_timeouts();
        test_zero_copy_and_batch();
        test_protocol_errors();
        test_peers_and_inspect();
        test_wakeups_and_eintr();
    }
    printf("ok\n");
    return T_EXIT_PASS;
}
