/* The mode given to create is applied exactly, whatever the umask: checked
 * through stat and, for POSIX, through the file in /dev/shm. */
#include "helpers.h"

#include <sys/stat.h>

static void check_mode(shmlink_backend backend, mode_t umask_value,
                       unsigned mode)
{
    char addr[SHMLINK_ADDRESS_MAX];
    shmlink_segment *seg = NULL;
    shmlink_stat st;
    umask(umask_value);
    t_addr(backend, addr, "mode");
    ASSERT_OK(t_create(addr, 4096, mode, &seg));
    ASSERT_OK(shmlink_segment_stat(seg, &st));
    if (st.mode != mode)
        fprintf(stderr, "%s: umask %03o, mode %03o -> %03o\n",
                t_backend_name(backend), (unsigned)umask_value, mode,
                (unsigned)st.mode);
    ASSERT_EQ(st.mode, mode);
    ASSERT_OK(shmlink_stat_address(addr, &st));
    ASSERT_EQ(st.mode, mode);
    if (backend == SHMLINK_BACKEND_POSIX) {
        char path[512];
        struct stat fs;
        shmlink_address pa;
        ASSERT_OK(shmlink_address_parse(addr, &pa));
        snprintf(path, sizeof(path), "/dev/shm%s", pa.name);
        ASSERT_SYS(stat(path, &fs));
        ASSERT_EQ(fs.st_mode & 07777, mode);
    }
    ASSERT_OK(shmlink_segment_remove(seg));
    t_unregister(addr);
    shmlink_segment_close(seg);
}

int main(void)
{
    static const unsigned modes[] = {0600, 0644, 0666, 0777, 0640,
                                     0400, 0000, 0060, 0123};
    static const mode_t umasks[] = {077, 000, 022, 0777};
    for (size_t u = 0; u < sizeof(umasks) / sizeof(umasks[0]); u++)
        for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
            check_mode(SHMLINK_BACKEND_POSIX, umasks[u], modes[m]);
            check_mode(SHMLINK_BACKEND_SYSV, umasks[u], modes[m]);
        }
    printf("test_segment_mode: ok\n");
    return T_EXIT_PASS;
}
