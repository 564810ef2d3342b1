/* stat by handle and by address, both backends: backend, address, size,
 * mode, owner, times; System V attach count, creator and last pids; fields
 * of the other backend are zero. */
#include "helpers.h"

#include <time.h>

static void check_time(int64_t t, time_t before)
{
    time_t now = time(NULL);
    ASSERT_GE(t, (int64_t)before - 2);
    ASSERT_LE(t, (int64_t)now + 2);
}

static void check_common(const shmlink_stat *st, shmlink_backend backend,
                         const char *canon, uint64_t size, unsigned mode,
                         time_t before)
{
    ASSERT_EQ(st->backend, backend);
    ASSERT_STREQ(st->address, canon);
    ASSERT_UEQ(st->size, size);
    ASSERT_EQ(st->mode, mode);
    ASSERT_EQ(st->uid, geteuid());
    ASSERT_EQ(st->gid, getegid());
    check_time(st->ctime, before);
}

static void posix_case(void)
{
    char addr[SHMLINK_ADDRESS_MAX], canon[SHMLINK_ADDRESS_MAX];
    shmlink_segment *seg = NULL;
    shmlink_stat st;
    time_t before = time(NULL);
    t_posix_addr(addr, "stat");
    snprintf(canon, sizeof(canon), "%s", addr); /* already canonical */
    ASSERT_OK(t_create(addr, 12345, 0640, &seg));

    memset(&st, 0xff, sizeof(st));
    ASSERT_OK(shmlink_segment_stat(seg, &st));
    check_common(&st, SHMLINK_BACKEND_POSIX, canon, 12345, 0640, before);
    check_time(st.mtime, before);
    ASSERT_EQ(st.shmid, 0);
    ASSERT_UEQ(st.key, 0);
    ASSERT_UEQ(st.nattch, 0);
    ASSERT_EQ(st.cuid, 0);
    ASSERT_EQ(st.cgid, 0);
    ASSERT_EQ(st.cpid, 0);
    ASSERT_EQ(st.lpid, 0);
    ASSERT_EQ(st.atime, 0);
    ASSERT_EQ(st.dtime, 0);

    /* By address, also in the short "/name" form. */
    memset(&st, 0xff, sizeof(st));
    ASSERT_OK(shmlink_stat_address(addr + 6, &st));
    check_common(&st, SHMLINK_BACKEND_POSIX, canon, 12345, 0640, before);
    ASSERT_EQ(st.shmid, 0);

    ASSERT_OK(shmlink_segment_remove(seg));
    t_unregister(addr);
    /* The handle's stat still works on the removed object. */
    ASSERT_OK(shmlink_segment_stat(seg, &st));
    ASSERT_UEQ(st.size, 12345);
    shmlink_segment_close(seg);
}

static void sysv_case(void)
{
    char addr[SHMLINK_ADDRESS_MAX], dec[64];
    shmlink_segment *seg = NULL, *second = NULL;
    shmlink_stat st;
    time_t before = time(NULL);
    uint32_t key = t_sysv_key();
    snprintf(addr, sizeof(addr), "sysv:0x%08x", key);
    snprintf(dec, sizeof(dec), "sysv:%u", key);
    ASSERT_OK(t_create(dec, 12345, 0640, &seg));
    ASSERT_STREQ(shmlink_segment_address(seg), addr);

    memset(&st, 0xff, sizeof(st));
    ASSERT_OK(shmlink_segment_stat(seg, &st));
    check_common(&st, SHMLINK_BACKEND_SYSV, addr, 12345, 0640, before);
    int shmid = st.shmid;
    ASSERT_GE(shmid, 0);
    ASSERT_UEQ(st.key, key);
    ASSERT_UEQ(st.nattch, 1);
    ASSERT_EQ(st.cuid, geteuid());
    ASSERT_EQ(st.cgid, getegid());
    ASSERT_EQ(st.cpid, getpid());
    ASSERT_EQ(st.lpid, getpid());
    check_time(st.atime, before);
    ASSERT_EQ(st.dtime, 0);
    ASSERT_EQ(st.mtime, 0);

    /* Attach count follows opens and closes. */
    ASSERT_OK(shmlink_segment_open(addr, SHMLINK_RDONLY, &second));
    ASSERT_OK(shmlink_stat_address(addr, &st));
    ASSERT_UEQ(st.nattch, 2);
    ASSERT_STREQ(st.address, addr);
    shmlink_segment_close(second);
    ASSERT_OK(shmlink_segment_stat(seg, &st));
    ASSERT_UEQ(st.nattch, 1);
    check_time(st.dtime, before);

    /* A child that attaches and exits becomes the last pid. */
    fflush(NULL);
    pid_t pid = fork();
    ASSERT_SYS(pid);
    if (pid == 0) {
        shmlink_segment *c = NULL;
        if (shmlink_segment_open(addr, 0, &c) != 0)
            _exit(2);
        shmlink_stat cs;
        if (shmlink_segment_stat(c, &cs) != 0 || cs.nattch != 3)
            _exit(3); /* parent's handle + inherited one + this one */
        shmlink_segment_close(c);
        _exit(0);
    }
    ASSERT_CHILD_OK(pid);
    ASSERT_OK(shmlink_segment_stat(seg, &st));
    ASSERT_EQ(st.lpid, pid);
    ASSERT_EQ(st.cpid, getpid());
    ASSERT_UEQ(st.nattch, 1);

    /* By id: the same segment. */
    char idaddr[64];
    snprintf(idaddr, sizeof(idaddr), "sysv-id:%d", shmid);
    ASSERT_OK(shmlink_stat_address(idaddr, &st));
    ASSERT_STREQ(st.address, idaddr);
    ASSERT_EQ(st.shmid, shmid);
    ASSERT_UEQ(st.key, key);

    ASSERT_OK(shmlink_segment_remove(seg));
    t_unregister(addr);
    /* Removed but attached: the kernel shows it with key 0. */
    ASSERT_OK(shmlink_segment_stat(seg, &st));
    ASSERT_UEQ(st.key, 0);
    ASSERT_UEQ(st.nattch, 1);
    shmlink_segment_close(seg);
    ASSERT_ERR(shmlink_stat_address(idaddr, &st), -ENOENT);
}

int main(void)
{
    posix_case();
    sysv_case();
    printf("test_segment_stat: ok\n");
    return T_EXIT_PASS;
}
