/* A full /dev/shm fails at create time with -ENOSPC and leaves no name
 * behind (posix_fallocate reserves the pages). A forked child gets a private
 * mount namespace with a 64 KiB tmpfs on /dev/shm; skips (77) where unshare
 * or mount is not permitted. */
#include "helpers.h"

#include <dirent.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>

static int count_dev_shm(void)
{
    DIR *d = opendir("/dev/shm");
    ASSERT_NOT_NULL(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

static int child(void)
{
    if (unshare(CLONE_NEWNS) == -1) {
        fprintf(stderr, "unshare(CLONE_NEWNS): %s\n", strerror(errno));
        return T_EXIT_SKIP;
    }
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == -1 ||
        mount("shmlink-test", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV,
              "size=64k,mode=1777") == -1) {
        fprintf(stderr, "mount: %s\n", strerror(errno));
        return T_EXIT_SKIP;
    }
    ASSERT_EQ(count_dev_shm(), 0);

    char big[SHMLINK_ADDRESS_MAX], small[SHMLINK_ADDRESS_MAX];
    char rest[SHMLINK_ADDRESS_MAX];
    shmlink_segment *seg = NULL, *s2 = NULL;

    /* 1 MiB into 64 KiB: no room, and no name left behind. */
    t_posix_addr(big, "enospc-big");
    ASSERT_ERR(t_create(big, 1 << 20, 0600, &seg), -ENOSPC);
    ASSERT_NULL(seg);
    ASSERT_EQ(count_dev_shm(), 0);
    ASSERT_ERR(shmlink_segment_open(big, 0, &seg), -ENOENT);

    /* A segment that fits works; the next one that does not fit fails
     * cleanly and leaves the first intact. */
    t_posix_addr(small, "enospc-small");
    ASSERT_OK(t_create(small, 32 * 1024, 0600, &seg));
    memset(shmlink_segment_data(seg), 0x42, 32 * 1024);
    ASSERT_EQ(count_dev_shm(), 1);
    t_posix_addr(rest, "enospc-rest");
    ASSERT_ERR(t_create(rest, 48 * 1024, 0600, &s2), -ENOSPC);
    ASSERT_EQ(count_dev_shm(), 1);
    ASSERT_EQ(((unsigned char *)shmlink_segment_data(seg))[32 * 1024 - 1],
              0x42);
    ASSERT_OK(shmlink_segment_remove(seg));
    shmlink_segment_close(seg);
    ASSERT_EQ(count_dev_shm(), 0);
    printf("private /dev/shm of 64 KiB: 1 MiB and 48 KiB creates failed "
           "with ENOSPC, nothing left behind\n");
    return T_EXIT_PASS;
}

int main(void)
{
    fflush(NULL);
    pid_t pid = fork();
    ASSERT_SYS(pid);
    if (pid == 0) {
        int rc = child();
        fflush(NULL);
        _exit(rc);
    }
    int status = t_wait(pid);
    ASSERT_TRUE(WIFEXITED(status));
    if (WEXITSTATUS(status) == T_EXIT_SKIP)
        t_skip("cannot make a private mount namespace with a small tmpfs");
    ASSERT_EQ(WEXITSTATUS(status), T_EXIT_PASS);
    printf("test_segment_enospc: ok\n");
    return T_EXIT_PASS;
}
