/* Opening a channel while its creator is still making it. A POSIX creator
 * makes the object empty, sizes it, then writes the header; an opener that
 * arrives in between must wait for it (up to 1 s, docs/PROTOCOL.md section
 * 2) instead of failing, and a segment that never becomes a channel (an
 * empty POSIX object, a zero-filled segment) is a protocol error, not an
 * argument error. */
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "channel_util.h"

struct opener {
    const char *addr;
    int rc;
    shmlink_channel *ch;
};

static void *open_reader(void *p)
{
    struct opener *o = p;
    o->rc = shmlink_channel_open(o->addr, SHMLINK_READER, &o->ch);
    return NULL;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The opener finds an empty object first; the creator then replaces it
 * with a real channel (as a creator's posix_fallocate would size it). */
static void test_open_during_create(void)
{
    char addr[SHMLINK_ADDRESS_MAX];
    t_addr(SHMLINK_BACKEND_POSIX, addr, "race");
    const char *name = addr + strlen("posix:");
    int fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
    ASSERT_GE(fd, 0);
    t_register(addr);

    struct opener o = {addr, 1, NULL};
    pthread_t th;
    ASSERT_EQ(pthread_create(&th, NULL, open_reader, &o), 0);
    sleep_ms(100);
    ASSERT_EQ(shm_unlink(name), 0);
    close(fd);
    shmlink_channel *w = NULL;
    ASSERT_OK(shmlink_channel_create(addr, 4096, 0600, SHMLINK_WRITER, &w));
    ASSERT_EQ(pthread_join(th, NULL), 0);
    ASSERT_OK(o.rc);

    char buf[16];
    size_t n = 0;
    ASSERT_OK(shmlink_channel_send(w, "hello", 5, SHMLINK_FOREVER));
    ASSERT_OK(shmlink_channel_recv(o.ch, buf, sizeof buf, &n, SHMLINK_FOREVER));
    ASSERT_UEQ(n, 5);
    ASSERT_EQ(memcmp(buf, "hello", 5), 0);
    ASSERT_OK(shmlink_channel_close(o.ch));
    ASSERT_OK(shmlink_channel_close(w));
    ASSERT_OK(t_remove(addr));
}

/* Nobody ever sizes the object: after the grace period it is reported as
 * not a channel. */
static void test_stale_empty_object(void)
{
    char addr[SHMLINK_ADDRESS_MAX];
    t_addr(SHMLINK_BACKEND_POSIX, addr, "empty");
    const char *name = addr + strlen("posix:");
    int fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
    ASSERT_GE(fd, 0);
    t_register(addr);
    close(fd);
    shmlink_channel *ch = NULL;
    uint64_t t0 = cu_now_ns();
    ASSERT_ERR(shmlink_channel_open(addr, SHMLINK_READER, &ch), -EPROTO);
    uint64_t waited = cu_now_ns() - t0;
    printf("empty object: EPROTO after %.3f s\n", (double)waited / 1e9);
    ASSERT_GE(waited, 900000000ull); /* it did give a creator its time */
    ASSERT_NULL(ch);
    ASSERT_OK(t_remove(addr));
}

int main(void)
{
    test_open_during_create();
    test_stale_empty_object();
    printf("test_channel_open_race: ok\n");
    return T_EXIT_PASS;
}
