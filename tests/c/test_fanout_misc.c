/*
 * What fan-out channels share with 1:1 ones (docs/PROTOCOL.md 13, 10,
 * 6.7): a POSIX fan-out channel truncated by another process fails every
 * call with -EPROTO (no SIGBUS), also blocked readers of both modes; a
 * handle used in a forked child fails with -ECHILD and the parent keeps
 * its slot; shmlink_channel_interrupt ends a reader blocked in another
 * thread; a reader that was never a peer of anything waits (no writer
 * yet) instead of failing.
 */
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>

#include "fanout_util.h"

struct blocked {
    shmlink_channel *r;
    int peek;
    int rc;
};

static void *blocked_recv(void *arg)
{
    struct blocked *b = arg;
    if (b->peek) {
        const void *p;
        size_t n;
        b->rc = shmlink_channel_peek(b->r, &p, &n, SHMLINK_FOREVER);
    } else {
        uint8_t buf[64];
        size_t n;
        b->rc =
            shmlink_channel_recv(b->r, buf, sizeof buf, &n, SHMLINK_FOREVER);
    }
    return NULL;
}

static void test_truncate(shmlink_fanout fo)
{
    char addr[SHMLINK_ADDRESS_MAX];
    t_posix_addr(addr, "trunc");
    t_register(addr); /* before the core installs its SIGBUS guard */
    shmlink_channel_config cfg = {16384, 0600, 3, 1, fo};
    shmlink_channel *w, *r1, *r2;
    ASSERT_OK(shmlink_channel_create_config(addr, &cfg, SHMLINK_WRITER, &w));
    r1 = fo_open(addr, SHMLINK_READER);
    r2 = fo_open(addr, SHMLINK_READER);
    struct blocked b = {r2, 1, 0};
    pthread_t th;
    ASSERT_EQ(pthread_create(&th, NULL, blocked_recv, &b), 0);
    usleep(20000);
    int fd = shm_open(strchr(addr, '/'), O_RDWR, 0);
    ASSERT_SYS(fd);
    ASSERT_SYS(ftruncate(fd, 0));
    close(fd);
    int rc = 0;
    for (int i = 0; rc == 0 && i < 1000; i++)
        rc = fo_send24(w, (uint64_t)i, 0);
    ASSERT_ERR(rc, -EPROTO);
    size_t n;
    uint8_t buf[64];
    ASSERT_ERR(shmlink_channel_recv(r1, buf, sizeof buf, &n, SHMLINK_FOREVER),
               -EPROTO);
    ASSERT_EQ(pthread_join(th, NULL), 0);
    ASSERT_ERR(b.rc, -EPROTO);
    shmlink_channel_info info;
    ASSERT_ERR(shmlink_channel_info_get(r1, &info), -EPROTO);
    ASSERT_OK(shmlink_channel_close(r1));
    ASSERT_OK(shmlink_channel_close(r2));
    ASSERT_OK(shmlink_channel_close(w));
    ASSERT_OK(t_remove(addr));
}

static void test_fork(shmlink_backend be, shmlink_fanout fo)
{
    char addr[SHMLINK_ADDRESS_MAX];
    shmlink_channel *w = fo_create(be, fo, 2, 4096, SHMLINK_WRITER, addr);
    shmlink_channel *r = fo_open(addr, SHMLINK_READER);
    ASSERT_OK(fo_send24(w, 1, 0));
    pid_t pid = fork();
    ASSERT_SYS(pid);
    if (pid == 0) {
        uint8_t buf[64];
        size_t n;
        int a = shmlink_channel_recv(r, buf, sizeof buf, &n, 0);
        int c = fo_send24(w, 2, 0);
        int ok = a == -ECHILD && c == -ECHILD;
        if (!ok)
            fprintf(stderr, "child: recv %d, send %d\n", a, c);
        shmlink_channel_close(r); /* only unmaps */
        shmlink_channel_close(w);
        /* the parent's slots stay held: one reader slot is free */
        shmlink_channel *x, *y;
        int o1 = shmlink_channel_open(addr, SHMLINK_READER, &x);
        int o2 = shmlink_channel_open(addr, SHMLINK_READER, &y);
        int o3 = shmlink_channel_open(addr, SHMLINK_WRITER, &y);
        if (o1 != 0 || o2 != -EBUSY || o3 != -EBUSY) {
            unsigned s1 = 99, s2 = 99;
            shmlink_channel_fanout_of(x, NULL, &s1);
            shmlink_channel_fanout_of(y, NULL, &s2);
            shmlink_slot_info si[2];
            shmlink_channel_slots(addr, NULL, si, 2);
            fprintf(stderr, "child: opens %d %d %d slots %u %u alive %d %d\n",
                    o1, o2, o3, s1, s2, si[0].alive, si[1].alive);
            ok = 0;
        }
        if (o1 == 0)
            shmlink_channel_close(x);
        _exit(ok ? 0 : 1);
    }
    ASSERT_CHILD_OK(pid);
    ASSERT_UEQ(fo_recv(r, 0, NULL), 1);
    ASSERT_OK(fo_send24(w, 3, 0));
    ASSERT_UEQ(fo_recv(r, 0, NULL), 3);
    shmlink_channel_close(r);
    shmlink_channel_close(w);
    ASSERT_OK(t_remove(addr));
}

static void test_interrupt(shmlink_backend be, shmlink_fanout fo)
{
    char addr[SHMLINK_ADDRESS_MAX];
    /* a reader creates it: no writer yet, so the readers wait */
    shmlink_channel *r1 = fo_create(be, fo, 2, 4096, SHMLINK_READER, addr);
    shmlink_channel *r2 = fo_open(addr, SHMLINK_READER);
    int rc;
    fo_recv(r2, 20000000, &rc);
    ASSERT_ERR(rc, -ETIMEDOUT);
    struct blocked b1 = {r1, 0, 0}, b2 = {r2, 1, 0};
    pthread_t t1, t2;
    ASSERT_EQ(pthread_create(&t1, NULL, blocked_recv, &b1), 0);
    ASSERT_EQ(pthread_create(&t2, NULL, blocked_recv, &b2), 0);
    usleep(30000);
    ASSERT_OK(shmlink_channel_interrupt(r1));
    ASSERT_EQ(pthread_join(t1, NULL), 0);
    ASSERT_ERR(b1.rc, -ECANCELED);
    ASSERT_OK(shmlink_channel_interrupt(r2));
    ASSERT_EQ(pthread_join(t2, NULL), 0);
    ASSERT_ERR(b2.rc, -ECANCELED);
    shmlink_channel_close(r1);
    shmlink_channel_close(r2);
    ASSERT_OK(t_remove(addr));
}

int main(void)
{
    shmlink_fanout fos[2] = {SHMLINK_BROADCAST, SHMLINK_QUEUE};
    shmlink_backend bes[2] = {SHMLINK_BACKEND_POSIX, SHMLINK_BACKEND_SYSV};
    for (int f = 0; f < 2; f++) {
        test_truncate(fos[f]);
        for (int i = 0; i < 2; i++) {
            test_fork(bes[i], fos[f]);
            test_interrupt(bes[i], fos[f]);
        }
    }
    return T_EXIT_PASS;
}
