/* Open trusts only channels of the caller's own user or of root: a channel
 * that another user made (here "nobody") could feed forged messages to a
 * reader or take a writer's data, so open fails with -EPERM unless the
 * caller passes SHMLINK_ANY_OWNER. Root's channels open for anyone who may
 * access them. Needs root (to be two users); skips (77) otherwise. */
#include <grp.h>
#include <pwd.h>

#include "channel_util.h"

static uid_t nobody_uid;
static gid_t nobody_gid;

static int become_nobody(void)
{
    return setgroups(0, NULL) == 0 && setgid(nobody_gid) == 0 &&
           setuid(nobody_uid) == 0;
}

static void run(shmlink_backend backend)
{
    char addr[SHMLINK_ADDRESS_MAX];
    shmlink_channel *ch = NULL;
    t_addr(backend, addr, "owner");
    t_register(addr);
    /* nobody makes a channel anyone may use */
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        shmlink_channel *w;
        if (!become_nobody())
            _exit(2);
        if (shmlink_channel_create(addr, 4096, 0666, SHMLINK_WRITER, &w) != 0)
            _exit(3);
        if (shmlink_channel_send(w, "forged", 6, 0) != 0)
            _exit(4);
        _exit(shmlink_channel_close(w) == 0 ? 0 : 5);
    }
    ASSERT_CHILD_OK(child);
    ASSERT_ERR(shmlink_channel_open(addr, SHMLINK_READER, &ch), -EPERM);
    ASSERT_ERR(shmlink_channel_open(addr, SHMLINK_WRITER, &ch), -EPERM);
    ASSERT_ERR(shmlink_channel_open_flags(addr, SHMLINK_READER, 0, &ch),
               -EPERM);
    ASSERT_ERR(shmlink_channel_open_flags(addr, SHMLINK_READER, 0x80, &ch),
               -EINVAL);
    /* the refused opens took no role and changed nothing */
    shmlink_channel_info info;
    ASSERT_OK(shmlink_channel_stat(addr, &info));
    ASSERT_EQ(info.reader_alive, 0);
    ASSERT_EQ(info.reader_pid, 0);
    ASSERT_UEQ(info.used, 16);
    /* opting in */
    ASSERT_OK(shmlink_channel_open_flags(addr, SHMLINK_READER,
                                         SHMLINK_ANY_OWNER, &ch));
    uint8_t buf[16];
    size_t n;
    ASSERT_OK(shmlink_channel_recv(ch, buf, sizeof buf, &n, 0));
    ASSERT_UEQ(n, 6);
    ASSERT_OK(shmlink_channel_close(ch));
    ASSERT_OK(t_remove(addr));

    /* root's channel: nobody may open it (mode permitting) */
    shmlink_channel *w;
    t_addr(backend, addr, "rootown");
    t_register(addr);
    ASSERT_OK(shmlink_channel_create(addr, 4096, 0666, SHMLINK_WRITER, &w));
    ASSERT_OK(shmlink_channel_send(w, "real", 4, 0));
    child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        shmlink_channel *r;
        uint8_t b[16];
        size_t m;
        if (!become_nobody())
            _exit(2);
        if (shmlink_channel_open(addr, SHMLINK_READER, &r) != 0)
            _exit(3);
        if (shmlink_channel_recv(r, b, sizeof b, &m, 0) != 0 || m != 4)
            _exit(4);
        _exit(shmlink_channel_close(r) == 0 ? 0 : 5);
    }
    ASSERT_CHILD_OK(child);
    ASSERT_OK(shmlink_channel_close(w));
    ASSERT_OK(t_remove(addr));
}

int main(void)
{
    struct passwd *pw = getpwnam("nobody");
    if (geteuid() != 0 || pw == NULL) {
        printf(
            "test_channel_owner: skipped (needs root and a 'nobody' user)\n");
        return T_EXIT_SKIP;
    }
    nobody_uid = pw->pw_uid;
    nobody_gid = pw->pw_gid;
    run(SHMLINK_BACKEND_POSIX);
    run(SHMLINK_BACKEND_SYSV);
    printf("test_channel_owner: ok\n");
    return T_EXIT_PASS;
}
