/* Opening a channel while its creator is still making it. A POSIX creator
 * makes the object empty, sizes it, then writes the header; an opener that
 * arrives in between must wait for it (up to 1 s, docs/PROTOCOL.md section
 * 2) instead of failing, and a segment that never becomes a channel (an
 * empty POSIX object, a zero-filled segment) is a protocol error, not an
 * argument error. */
#include <fcntl.h>
#include <stdint.h>
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

/* A creator's first step: a new, empty POSIX object (registered for
 * cleanup). Returns its read-write descriptor. */
static int empty_object(char addr[SHMLINK_ADDRESS_MAX], const char *tag)
{
    t_addr(SHMLINK_BACKEND_POSIX, addr, tag);
    int fd = shm_open(addr + strlen("posix:"), O_CREAT | O_EXCL | O_RDWR, 0600);
    ASSERT_GE(fd, 0);
    t_register(addr);
    return fd;
}

/* A creator's steps done by hand on one object, in the order of
 * docs/PROTOCOL.md section 2: an empty object, then sized (zero-filled),
 * then the header fields, then version = 1 (release), no role claimed.
 * The opener may arrive at any of those moments (the sleeps only make the
 * early ones likely); whichever it sees, it must end up with the channel.
 * (The name is never missing, so no moment gives ENOENT.) */
static void test_open_during_create(void)
{
    enum { CAP = 4096, HDR = 512 };
    char addr[SHMLINK_ADDRESS_MAX];
    int fd = empty_object(addr, "race");

    struct opener o = {addr, 1, NULL};
    pthread_t th;
    ASSERT_EQ(pthread_create(&th, NULL, open_reader, &o), 0);
    sleep_ms(50); /* the opener most likely finds size 0 */
    ASSERT_EQ(ftruncate(fd, HDR + CAP), 0);
    uint8_t *b =
        mmap(NULL, HDR + CAP, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ASSERT_TRUE(b != MAP_FAILED);
    close(fd);
    sleep_ms(50); /* ... or an all-zero header */
    uint32_t u32;
    uint64_t u64;
    memcpy(b + 0, "SHMLCHAN", 8);
    u32 = HDR;
    memcpy(b + 12, &u32, 4); /* header_size */
    u64 = CAP;
    memcpy(b + 16, &u64, 8); /* capacity */
    u64 = CAP / 2 - 8;
    memcpy(b + 24, &u64, 8); /* max_message */
    u32 = 8;
    memcpy(b + 36, &u32, 4); /* record_align (flags at 32 stay 0) */
    __atomic_store_n((uint32_t *)(void *)(b + 8), 1u,
                     __ATOMIC_RELEASE); /* version */
    ASSERT_EQ(munmap(b, HDR + CAP), 0);

    ASSERT_EQ(pthread_join(th, NULL), 0);
    ASSERT_OK(o.rc);
    shmlink_channel *w = NULL;
    ASSERT_OK(shmlink_channel_open(addr, SHMLINK_WRITER, &w));

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
    close(empty_object(addr, "empty"));
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
