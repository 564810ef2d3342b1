/* A POSIX channel whose object another process truncates (ftruncate to 0,
 * or to a size that keeps only the header) never kills its users with
 * SIGBUS: the core's guard replaces the lost pages with private zero pages
 * and every call on the handle fails with -EPROTO from then on (also a
 * reader blocked in a wait without timeout); stat by address says -EPROTO;
 * close works. System V segments cannot be truncated. */
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>

#include "channel_util.h"

static void truncate_object(const char *addr, off_t size)
{
    /* addr is "posix:/name" */
    int fd = shm_open(strchr(addr, '/'), O_RDWR, 0);
    ASSERT_SYS(fd);
    ASSERT_SYS(ftruncate(fd, size));
    close(fd);
}

struct blocked {
    shmlink_channel *r;
    int rc;
};

static void *blocked_recv(void *arg)
{
    struct blocked *b = arg;
    uint8_t buf[64];
    size_t n;
    b->rc = shmlink_channel_recv(b->r, buf, sizeof buf, &n, SHMLINK_FOREVER);
    return NULL;
}

static void run(off_t to)
{
    char addr[SHMLINK_ADDRESS_MAX];
    shmlink_channel *w, *r;
    uint8_t buf[256];
    size_t n;
    t_posix_addr(addr, "trunc");
    /* Register first: the cleanup registry installs its own SIGBUS handler
     * on first use, and a handler installed after the core's replaces the
     * guard (docs/PROTOCOL.md, section 10). */
    t_register(addr);
    ASSERT_OK(shmlink_channel_create(addr, 16384, 0600, SHMLINK_WRITER, &w));
    ASSERT_OK(shmlink_channel_open(addr, SHMLINK_READER, &r));
    ASSERT_OK(shmlink_channel_send(w, "before", 6, 0));
    ASSERT_OK(shmlink_channel_recv(r, buf, sizeof buf, &n, 0));

    truncate_object(addr, to);
    /* the writer walks through the ring until it touches a lost page */
    int rc = 0, sent = -1;
    while (rc == 0 && sent < 1000) {
        cu_fill(buf, sizeof buf, (uint64_t)++sent);
        rc = shmlink_channel_send(w, buf, sizeof buf, 0);
    }
    ASSERT_ERR(rc, -EPROTO);
    ASSERT_ERR(shmlink_channel_send(w, buf, 1, 0), -EPROTO);
    void *p;
    ASSERT_ERR(shmlink_channel_reserve(w, 1, &p, 0), -EPROTO);
    shmlink_channel_info info;
    ASSERT_ERR(shmlink_channel_info_get(w, &info), -EPROTO);

    /* The reader gets, intact, what the writer committed into pages that
     * survived; then, if it touches a lost page, -EPROTO for good; if it
     * never has to, the writer (whose handle is broken) just sends no
     * more, and its close leaves the role to be seen as dead. */
    int got = 0;
    while ((rc = shmlink_channel_recv(r, buf, sizeof buf, &n, 0)) == 0) {
        ASSERT_TRUE(cu_check(buf, n, (uint64_t)got));
        got++;
    }
    ASSERT_LE(got, sent);
    const void *q;
    if (to == 0) {
        ASSERT_ERR(rc, -EPROTO);
        ASSERT_ERR(
            shmlink_channel_recv(r, buf, sizeof buf, &n, SHMLINK_FOREVER),
            -EPROTO);
        ASSERT_ERR(shmlink_channel_peek(r, &q, &n, 0), -EPROTO);
        ASSERT_ERR(shmlink_channel_stat(addr, &info), -EPROTO);
        ASSERT_OK(shmlink_channel_close(w));
    } else {
        ASSERT_ERR(rc, -ETIMEDOUT);
        ASSERT_GT(got, 0);
        ASSERT_OK(shmlink_channel_close(w));
        ASSERT_ERR(
            shmlink_channel_recv(r, buf, sizeof buf, &n, SHMLINK_FOREVER),
            -EPIPE);
    }
    ASSERT_OK(shmlink_channel_close(r));
    ASSERT_OK(t_remove(addr));
}

/* A reader asleep in a wait without timeout when the object is truncated:
 * the wait ends with -EPROTO (within its 100 ms slice), no crash, no hang. */
static void run_blocked(void)
{
    char addr[SHMLINK_ADDRESS_MAX];
    shmlink_channel *w, *r;
    t_posix_addr(addr, "truncblk");
    ASSERT_OK(shmlink_channel_create(addr, 4096, 0600, SHMLINK_WRITER, &w));
    t_register(addr);
    ASSERT_OK(shmlink_channel_open(addr, SHMLINK_READER, &r));
    struct blocked b = {r, 1};
    pthread_t t;
    ASSERT_EQ(pthread_create(&t, NULL, blocked_recv, &b), 0);
    struct timespec ts = {0, 50000000};
    nanosleep(&ts, NULL);
    truncate_object(addr, 0);
    ASSERT_EQ(pthread_join(t, NULL), 0);
    ASSERT_ERR(b.rc, -EPROTO);
    ASSERT_OK(shmlink_channel_close(r));
    ASSERT_OK(shmlink_channel_close(w));
    ASSERT_OK(t_remove(addr));
}

int main(void)
{
    run(0);
    run(4096); /* header and the first ring page stay, the rest is gone */
    run_blocked();
    printf("test_channel_truncate: ok\n");
    return T_EXIT_PASS;
}
