/* shmlink segments are ordinary OS objects: `ipcs -m` lists a System V
 * segment under its key with its size, mode and attach count, /dev/shm holds
 * a POSIX segment as a file with its size and mode; and segments made with
 * the raw system calls (shmget, open in /dev/shm) open in shmlink, while
 * `ipcrm` removes a shmlink segment. */
#include "helpers.h"

#include <fcntl.h>
#include <sys/stat.h>

/* Finds the `ipcs -m` line of key; returns 1 and fills the fields, 0 if the
 * key is not listed, 77-skips if ipcs is not installed. */
static int ipcs_find(uint32_t key, int *shmid, unsigned *perms,
                     unsigned long long *bytes, unsigned long *nattch)
{
    char want[32], line[512];
    snprintf(want, sizeof(want), "0x%08x", key);
    fflush(NULL);
    FILE *f = popen("LC_ALL=C ipcs -m 2>/dev/null", "r");
    ASSERT_NOT_NULL(f);
    int found = 0, lines = 0;
    while (fgets(line, sizeof(line), f)) {
        char k[64], owner[64];
        int l_shmid;
        unsigned l_perms;
        unsigned long long l_bytes;
        unsigned long l_nattch;
        lines++;
        if (!found &&
            sscanf(line, "%63s %d %63s %o %llu %lu", k, &l_shmid, owner,
                   &l_perms, &l_bytes, &l_nattch) == 6 &&
            strcmp(k, want) == 0) {
            found = 1;
            *shmid = l_shmid;
            *perms = l_perms;
            *bytes = l_bytes;
            *nattch = l_nattch;
        }
    }
    int status = pclose(f);
    if (lines == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 127)
        t_skip("ipcs is not installed");
    return found;
}

static void sysv_case(void)
{
    char addr[SHMLINK_ADDRESS_MAX];
    shmlink_segment *seg = NULL;
    shmlink_stat st;
    int shmid = -1;
    unsigned perms = 0;
    unsigned long long bytes = 0;
    unsigned long nattch = 0;

    uint32_t key = t_sysv_key();
    snprintf(addr, sizeof(addr), "sysv:0x%08x", key);
    ASSERT_OK(t_create(addr, 20000, 0640, &seg));
    ASSERT_OK(shmlink_segment_stat(seg, &st));
    ASSERT_TRUE(ipcs_find(key, &shmid, &perms, &bytes, &nattch));
    ASSERT_EQ(shmid, st.shmid);
    ASSERT_EQ(perms, 0640);
    ASSERT_UEQ(bytes, 20000);
    ASSERT_UEQ(nattch, 1);

    /* ipcrm by id removes it; shmlink sees it gone once detached. */
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "ipcrm -m %d", shmid);
    ASSERT_EQ(system(cmd), 0);
    t_unregister(addr);
    ASSERT_FALSE(ipcs_find(key, &shmid, &perms, &bytes, &nattch));
    ASSERT_ERR(shmlink_stat_address(addr, &st), -ENOENT);
    shmlink_segment_close(seg);

    /* A segment made with raw shmget opens in shmlink by key and by id. */
    key = t_sysv_key();
    snprintf(addr, sizeof(addr), "sysv:0x%08x", key);
    int id = shmget((key_t)key, 3000, IPC_CREAT | IPC_EXCL | 0600);
    ASSERT_SYS(id);
    t_register(addr);
    char *raw = shmat(id, NULL, 0);
    ASSERT_TRUE(raw != (char *)-1);
    strcpy(raw, "from shmget");
    ASSERT_OK(shmlink_segment_open(addr, 0, &seg));
    ASSERT_UEQ(shmlink_segment_size(seg), 3000);
    ASSERT_STREQ((const char *)shmlink_segment_data(seg), "from shmget");
    shmlink_segment_close(seg);
    char idaddr[64];
    snprintf(idaddr, sizeof(idaddr), "sysv-id:%d", id);
    ASSERT_OK(shmlink_segment_open(idaddr, SHMLINK_RDONLY, &seg));
    ASSERT_STREQ((const char *)shmlink_segment_data(seg), "from shmget");
    shmlink_segment_close(seg);
    ASSERT_SYS(shmdt(raw));
    ASSERT_OK(shmlink_remove(addr));
    t_unregister(addr);
    ASSERT_FALSE(ipcs_find(key, &shmid, &perms, &bytes, &nattch));
}

static void posix_case(void)
{
    char addr[SHMLINK_ADDRESS_MAX], path[512];
    shmlink_segment *seg = NULL;
    shmlink_address pa;
    struct stat fs;

    t_posix_addr(addr, "osview");
    ASSERT_OK(shmlink_address_parse(addr, &pa));
    snprintf(path, sizeof(path), "/dev/shm%s", pa.name);
    ASSERT_OK(t_create(addr, 20000, 0640, &seg));
    ASSERT_SYS(stat(path, &fs));
    ASSERT_TRUE(S_ISREG(fs.st_mode));
    ASSERT_EQ(fs.st_size, 20000);
    ASSERT_EQ(fs.st_mode & 07777, 0640);
    ASSERT_EQ(fs.st_uid, geteuid());
    /* posix_fallocate reserved the pages: the file is not sparse. */
    ASSERT_GE((long long)fs.st_blocks * 512, 20000);

    /* Bytes written through the file show in the mapping. */
    int fd = open(path, O_RDWR);
    ASSERT_SYS(fd);
    ASSERT_EQ(pwrite(fd, "via /dev/shm", 12, 100), 12);
    ASSERT_MEMEQ((char *)shmlink_segment_data(seg) + 100, "via /dev/shm", 12);
    close(fd);

    /* Removing the file removes the segment for shmlink. */
    ASSERT_SYS(unlink(path));
    t_unregister(addr);
    ASSERT_ERR(shmlink_remove(addr), -ENOENT);
    shmlink_segment_close(seg);

    /* A file made in /dev/shm opens in shmlink. */
    t_posix_addr(addr, "osview-raw");
    ASSERT_OK(shmlink_address_parse(addr, &pa));
    snprintf(path, sizeof(path), "/dev/shm%s", pa.name);
    fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
    ASSERT_SYS(fd);
    t_register(addr);
    ASSERT_EQ(pwrite(fd, "raw", 4, 0), 4);
    /* An empty object cannot be mapped: -EINVAL, until it has a size. */
    ASSERT_SYS(ftruncate(fd, 0));
    ASSERT_ERR(shmlink_segment_open(addr, 0, &seg), -EINVAL);
    ASSERT_SYS(ftruncate(fd, 5000));
    ASSERT_EQ(pwrite(fd, "raw", 4, 0), 4);
    close(fd);
    ASSERT_OK(shmlink_segment_open(addr, 0, &seg));
    ASSERT_UEQ(shmlink_segment_size(seg), 5000);
    ASSERT_STREQ((const char *)shmlink_segment_data(seg), "raw");
    ASSERT_OK(shmlink_segment_remove(seg));
    t_unregister(addr);
    ASSERT_EQ(stat(path, &fs), -1);
    ASSERT_EQ(errno, ENOENT);
    shmlink_segment_close(seg);
}

int main(void)
{
    posix_case();
    sysv_case();
    printf("test_segment_os_view: ok\n");
    return T_EXIT_PASS;
}
