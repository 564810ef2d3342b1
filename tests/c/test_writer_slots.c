/*
 * The writer-slot listing (shmlink_channel_writer_slots and _get), both
 * backends:
 *   - a many-writers channel with 3 slots: one held, one closed, one
 *     whose holder was killed (alive 0, its pid kept, not closed), each
 *     with its position, what its ring holds unread and its messages;
 *   - the same through an open handle, a short array, argument errors;
 *   - what used means in each kind of channel: 1:1 (not yet read), queue
 *     fed by two writers (not yet taken; a peeked message is taken),
 *     broadcast (not yet read by the slowest joined live reader);
 *   - a call server's request channel: the client's reply channel (kind,
 *     System V id; the kind cleared when the client closes);
 *   - corrupt values: heads that contradict the write position give used
 *     0, a closed word other than 0 or 1 reads 1, a reply kind is shown
 *     as read, an owner word with a free lock is a dead holder; a corrupt
 *     header is -EPROTO;
 *   - a channel of protocol version 1 (one writer slot).
 */
#include <signal.h>

#include "fanout_util.h"

#define SEC 1000000000ll

/* Writer slot w of a channel with R reader slots: its offset. */
static size_t ws_off(unsigned readers, unsigned w)
{
    return 512 + 128 * (size_t)(readers + w);
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

static shmlink_channel *create(shmlink_backend be, shmlink_fanout fanout,
                               unsigned readers, unsigned writers,
                               shmlink_role role, char *addr)
{
    shmlink_channel_config cfg = {4096, 0600, readers, writers, fanout};
    shmlink_channel *ch;
    t_addr(be, addr, "wslots");
    int rc = shmlink_channel_create_config(addr, &cfg, role, &ch);
    if (rc < 0)
        T_FAIL_MSG("create %s: %s", addr, shmlink_strerror(rc));
    t_register(shmlink_channel_address(ch));
    snprintf(addr, SHMLINK_ADDRESS_MAX, "%s", shmlink_channel_address(ch));
    return ch;
}

static void expect_slot(const shmlink_writer_slot_info *wi, unsigned slot,
                        pid_t pid, int alive, int closed, uint64_t position,
                        uint64_t used, uint64_t sent)
{
    ASSERT_EQ(wi->slot, slot);
    ASSERT_EQ(wi->pid, pid);
    ASSERT_EQ(wi->alive, alive);
    ASSERT_EQ(wi->closed, closed);
    ASSERT_UEQ(wi->position, position);
    ASSERT_UEQ(wi->used, used);
    ASSERT_UEQ(wi->messages_sent, sent);
}

/* A child opens a writer slot of addr, sends n 24-byte messages, reports
 * and waits to be killed; it is killed and reaped. Returns its pid. */
static pid_t killed_writer(const char *addr, unsigned n)
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
        for (uint64_t k = 0; k < n; k++)
            if (fo_send24(w, 100 + k, 0) < 0)
                _exit(1);
        if (write(fds[1], "r", 1) != 1)
            _exit(1);
        pause();
        _exit(0);
    }
    close(fds[1]);
    char c;
    ASSERT_EQ(read(fds[0], &c, 1), 1);
    close(fds[0]);
    kill(pid, SIGKILL);
    int st;
    ASSERT_SYS(waitpid(pid, &st, 0));
    ASSERT_TRUE(WIFSIGNALED(st));
    return pid;
}

static void test_many_writers(shmlink_backend be)
{
    char addr[SHMLINK_ADDRESS_MAX];
    shmlink_channel *r = create(be, SHMLINK_ONE, 1, 3, SHMLINK_READER, addr);
    shmlink_channel *a = fo_open(addr, SHMLINK_WRITER); /* slot 0 */
    ASSERT_OK(fo_send24(a, 1, 0));
    ASSERT_OK(fo_send24(a, 2, 0));
    ASSERT_UEQ(fo_recv(r, 0, NULL), 1); /* only ring 0 has messages */
    shmlink_channel *b = fo_open(addr, SHMLINK_WRITER); /* slot 1 */
    ASSERT_OK(fo_send24(b, 3, 0));
    pid_t dead = killed_writer(addr, 3); /* slot 2 */
    ASSERT_OK(shmlink_channel_close(b));

    shmlink_writer_slot_info ws[8];
    memset(ws, 0xa5, sizeof(ws));
    ASSERT_EQ(shmlink_channel_writer_slots(addr, ws, 8), 3);
    expect_slot(&ws[0], 0, getpid(), 1, 0, 64, 32, 2);
    expect_slot(&ws[1], 1, 0, 0, 1, 32, 32, 1);
    expect_slot(&ws[2], 2, dead, 0, 0, 96, 96, 3);
    for (int i = 0; i < 3; i++) {
        ASSERT_EQ(ws[i].reply_kind, 0);
        ASSERT_EQ(ws[i].reply_id, 0);
    }
    /* The sums are those of stat. */
    shmlink_channel_info info;
    ASSERT_OK(shmlink_channel_stat(addr, &info));
    ASSERT_UEQ(info.messages_sent, 6);
    ASSERT_UEQ(info.used, 32 + 32 + 96);

    /* Through the reader's and the writer's handle (its own slot is held
     * by this handle: alive). */
    memset(ws, 0xa5, sizeof(ws));
    ASSERT_EQ(shmlink_channel_writer_slots_get(r, ws, 8), 3);
    expect_slot(&ws[0], 0, getpid(), 1, 0, 64, 32, 2);
    expect_slot(&ws[2], 2, dead, 0, 0, 96, 96, 3);
    ASSERT_EQ(shmlink_channel_writer_slots_get(a, ws, 8), 3);
    expect_slot(&ws[0], 0, getpid(), 1, 0, 64, 32, 2);
    expect_slot(&ws[1], 1, 0, 0, 1, 32, 32, 1);

    /* A short array is filled that far; the count is the whole. */
    memset(ws, 0xa5, sizeof(ws));
    ASSERT_EQ(shmlink_channel_writer_slots(addr, ws, 1), 3);
    ASSERT_EQ(ws[0].slot, 0);
    ASSERT_EQ(ws[1].slot, 0xa5a5a5a5u);
    ASSERT_EQ(shmlink_channel_writer_slots(addr, NULL, 0), 3);
    ASSERT_EQ(shmlink_channel_writer_slots_get(r, NULL, 0), 3);
    ASSERT_ERR(shmlink_channel_writer_slots(addr, NULL, 1), -EINVAL);
    ASSERT_ERR(shmlink_channel_writer_slots_get(r, NULL, 1), -EINVAL);
    ASSERT_ERR(shmlink_channel_writer_slots_get(NULL, ws, 1), -EINVAL);

    /* A new writer takes the dead one's slot (the first free: 1, then 2)
     * and goes on in its ring: alive, not closed. */
    shmlink_channel *c = fo_open(addr, SHMLINK_WRITER);
    shmlink_channel *d = fo_open(addr, SHMLINK_WRITER);
    ASSERT_EQ(shmlink_channel_writer_slots(addr, ws, 8), 3);
    expect_slot(&ws[1], 1, getpid(), 1, 0, 32, 32, 1);
    expect_slot(&ws[2], 2, getpid(), 1, 0, 96, 96, 3);
    shmlink_channel_close(c);
    shmlink_channel_close(d);
    shmlink_channel_close(a);
    shmlink_channel_close(r);
    ASSERT_OK(t_remove(addr));
    ASSERT_ERR(shmlink_channel_writer_slots(addr, ws, 8), -ENOENT);
}

/* Corrupt values in the writer slots and the header of a many-writers
 * channel (R = 1, W = 3). */
static void test_corrupt(shmlink_backend be)
{
    char addr[SHMLINK_ADDRESS_MAX];
    shmlink_channel *r = create(be, SHMLINK_ONE, 1, 3, SHMLINK_READER, addr);
    shmlink_channel *a = fo_open(addr, SHMLINK_WRITER);
    shmlink_channel *b = fo_open(addr, SHMLINK_WRITER);
    for (uint64_t k = 0; k < 4; k++) {
        ASSERT_OK(fo_send24(a, k, 0));
        ASSERT_OK(fo_send24(b, k, 0));
    }
    /* Ring 0: head beyond write_pos; ring 1: write_pos more than a ring
     * ahead of head; both used 0. */
    put64(addr, ws_off(1, 0) + 72, 1024);
    put64(addr, ws_off(1, 1) + 8, 128 + 8192);
    /* Slot 2, never held: closed 7, a reply kind nobody stores, an owner
     * word nobody holds the lock for. */
    put32(addr, ws_off(1, 2) + 24, 7);
    put32(addr, ws_off(1, 2) + 40, 9);
    put32(addr, ws_off(1, 2) + 44, 12345);
    put64(addr, ws_off(1, 2), 0xdeadbeef00001234ull);
    shmlink_writer_slot_info ws[3];
    ASSERT_EQ(shmlink_channel_writer_slots(addr, ws, 3), 3);
    expect_slot(&ws[0], 0, getpid(), 1, 0, 128, 0, 4);
    expect_slot(&ws[1], 1, getpid(), 1, 0, 128 + 8192, 0, 4);
    expect_slot(&ws[2], 2, 0x1234, 0, 1, 0, 0, 0);
    ASSERT_EQ(ws[2].reply_kind, 9);
    ASSERT_EQ(ws[2].reply_id, 12345);
    ASSERT_EQ(shmlink_channel_writer_slots_get(r, ws, 3), 3);
    ASSERT_UEQ(ws[1].used, 0);
    /* A corrupt header: -EPROTO by address and through a handle. */
    put32(addr, 44, 65); /* writers */
    ASSERT_ERR(shmlink_channel_writer_slots(addr, ws, 3), -EPROTO);
    ASSERT_ERR(shmlink_channel_writer_slots_get(r, ws, 3), -EPROTO);
    put32(addr, 44, 3);
    shmlink_channel_close(a);
    shmlink_channel_close(b);
    shmlink_channel_close(r);
    ASSERT_OK(t_remove(addr));
}

/* used in a 1:1 channel, a queue fed by two writers, and broadcast. */
static void test_used(shmlink_backend be)
{
    char addr[SHMLINK_ADDRESS_MAX];
    shmlink_writer_slot_info ws[2];
    /* 1:1: one writer slot, the writer; used is what the reader has not
     * read; close ends its stream and clears its pid. */
    shmlink_channel *w, *r;
    t_addr(be, addr, "wslots");
    ASSERT_OK(shmlink_channel_create(addr, 4096, 0600, SHMLINK_WRITER, &w));
    t_register(addr);
    r = fo_open(addr, SHMLINK_READER);
    for (uint64_t k = 0; k < 3; k++)
        ASSERT_OK(fo_send24(w, k, 0));
    fo_recv(r, 0, NULL);
    ASSERT_EQ(shmlink_channel_writer_slots(addr, ws, 2), 1);
    expect_slot(&ws[0], 0, getpid(), 1, 0, 96, 64, 3);
    ASSERT_EQ(ws[0].reply_kind, 0);
    ASSERT_OK(shmlink_channel_close(w));
    ASSERT_EQ(shmlink_channel_writer_slots_get(r, ws, 2), 1);
    expect_slot(&ws[0], 0, 0, 0, 1, 96, 64, 3);
    shmlink_channel_close(r);
    ASSERT_OK(t_remove(addr));

    /* Queue with two readers and two writers: used is what is not yet
     * taken; a peeked message is taken. */
    w = create(be, SHMLINK_QUEUE, 2, 2, SHMLINK_WRITER, addr);
    shmlink_channel *r1 = fo_open(addr, SHMLINK_READER);
    shmlink_channel *r2 = fo_open(addr, SHMLINK_READER);
    for (uint64_t k = 0; k < 4; k++)
        ASSERT_OK(fo_send24(w, k, 0));
    const void *p;
    size_t n;
    ASSERT_OK(shmlink_channel_peek(r1, &p, &n, 0));
    fo_recv(r2, 0, NULL);
    ASSERT_EQ(shmlink_channel_writer_slots(addr, ws, 2), 2);
    expect_slot(&ws[0], 0, getpid(), 1, 0, 128, 64, 4);
    expect_slot(&ws[1], 1, 0, 0, 0, 0, 0, 0);
    ASSERT_OK(shmlink_channel_release(r1));
    shmlink_channel_close(r1);
    shmlink_channel_close(r2);
    shmlink_channel_close(w);
    ASSERT_OK(t_remove(addr));

    /* Broadcast: what the slowest joined live reader has not read. */
    w = create(be, SHMLINK_BROADCAST, 3, 1, SHMLINK_WRITER, addr);
    r1 = fo_open(addr, SHMLINK_READER);
    for (uint64_t k = 0; k < 4; k++)
        ASSERT_OK(fo_send24(w, k, 0));
    fo_recv(r1, 0, NULL);
    r2 = fo_open(addr, SHMLINK_READER); /* joins at 128 */
    ASSERT_EQ(shmlink_channel_writer_slots(addr, ws, 2), 1);
    expect_slot(&ws[0], 0, getpid(), 1, 0, 128, 96, 4);
    shmlink_channel_close(r1);
    ASSERT_EQ(shmlink_channel_writer_slots_get(w, ws, 2), 1);
    expect_slot(&ws[0], 0, getpid(), 1, 0, 128, 0, 4);
    shmlink_channel_close(r2);
    shmlink_channel_close(w);
    ASSERT_OK(t_remove(addr));
}

/* A call server's request channel: the client slot names its reply
 * channel; the value stays after the client closed. */
static void test_calls(shmlink_backend be)
{
    char addr[SHMLINK_ADDRESS_MAX];
    shmlink_server_config cfg = {8192, 0600, 1, 2};
    shmlink_server *srv;
    t_addr(be, addr, "wscall");
    ASSERT_OK(shmlink_server_create(addr, &cfg, &srv));
    t_register(addr);
    char reply[SHMLINK_ADDRESS_MAX + 8];
    if (be == SHMLINK_BACKEND_POSIX) {
        snprintf(reply, sizeof(reply), "%s.r0", addr);
        t_register(reply);
    }
    shmlink_client *cl;
    ASSERT_OK(shmlink_client_open(addr, &cl));
    ASSERT_EQ(shmlink_client_slot(cl), 0);
    shmlink_writer_slot_info ws[2];
    ASSERT_EQ(shmlink_channel_writer_slots(addr, ws, 2), 2);
    expect_slot(&ws[0], 0, getpid(), 1, 0, 0, 0, 0);
    expect_slot(&ws[1], 1, 0, 0, 0, 0, 0, 0);
    ASSERT_EQ(ws[1].reply_kind, 0);
    if (be == SHMLINK_BACKEND_POSIX) {
        ASSERT_EQ(ws[0].reply_kind, 1);
        ASSERT_EQ(ws[0].reply_id, 0);
    } else {
        ASSERT_EQ(ws[0].reply_kind, 2);
        snprintf(reply, sizeof(reply), "sysv-id:%u", ws[0].reply_id);
        t_register(reply);
    }
    shmlink_stat st;
    ASSERT_OK(shmlink_stat_address(reply, &st));
    if (be == SHMLINK_BACKEND_SYSV)
        ASSERT_EQ(st.cpid, getpid());
    shmlink_channel_info info;
    ASSERT_OK(shmlink_channel_stat(reply, &info)); /* a channel */
    uint32_t id = ws[0].reply_id;
    shmlink_client_close(cl);
    ASSERT_EQ(shmlink_channel_writer_slots(addr, ws, 2), 2);
    expect_slot(&ws[0], 0, 0, 0, 1, 0, 0, 0);
    ASSERT_EQ(ws[0].reply_kind, 0); /* cleared at close; the id stays */
    ASSERT_EQ(ws[0].reply_id, id);
    ASSERT_ERR(shmlink_stat_address(reply, &st), -ENOENT); /* removed */
    t_unregister(reply);
    shmlink_server_close(srv);
    ASSERT_OK(t_remove(addr));
}

/* Version 1: the writer's slot, its liveness from the owner word. */
static void test_version1(shmlink_backend be)
{
    char addr[SHMLINK_ADDRESS_MAX];
    t_addr(be, addr, "wsv1");
    ASSERT_OK(cu_make_v1(addr, 4096, 0600));
    shmlink_channel *w = fo_open(addr, SHMLINK_WRITER);
    ASSERT_OK(fo_send24(w, 1, 0));
    shmlink_writer_slot_info ws[1];
    ASSERT_EQ(shmlink_channel_writer_slots(addr, ws, 1), 1);
    expect_slot(&ws[0], 0, getpid(), 1, 0, 32, 32, 1);
    shmlink_channel_close(w);
    ASSERT_EQ(shmlink_channel_writer_slots(addr, ws, 1), 1);
    expect_slot(&ws[0], 0, 0, 0, 1, 32, 32, 1);
    ASSERT_OK(t_remove(addr));
}

int main(void)
{
    t_registry_init();
    static const shmlink_backend bes[] = {SHMLINK_BACKEND_POSIX,
                                          SHMLINK_BACKEND_SYSV};
    for (size_t i = 0; i < 2; i++) {
        printf("%s\n", t_backend_name(bes[i]));
        test_many_writers(bes[i]);
        test_corrupt(bes[i]);
        test_used(bes[i]);
        test_calls(bes[i]);
        test_version1(bes[i]);
    }
    t_cleanup();
    return T_EXIT_PASS;
}
