/* Cross-process visibility: the test re-executes itself (fork + exec of
 * /proc/self/exe) as a second, unrelated process image that opens the
 * segment by address, checks the parent's pattern and writes a reply. */
#include "helpers.h"

#define XP_SIZE (256 * 1024 + 123)

static unsigned char pattern(size_t i, unsigned salt)
{
    return (unsigned char)((i * 2654435761u + salt) >> 7);
}

/* Child image: argv = [self, "--child", address, salt]. */
static int child_main(const char *addr, unsigned salt)
{
    shmlink_segment *seg = NULL;
    int rc = shmlink_segment_open(addr, 0, &seg);
    if (rc < 0) {
        fprintf(stderr, "child: open %s: %s\n", addr, shmlink_strerror(rc));
        return 2;
    }
    if (shmlink_segment_size(seg) != XP_SIZE) {
        fprintf(stderr, "child: size %zu\n", shmlink_segment_size(seg));
        return 3;
    }
    unsigned char *p = shmlink_segment_data(seg);
    for (size_t i = 0; i < XP_SIZE; i++) {
        if (p[i] != pattern(i, salt)) {
            fprintf(stderr, "child: byte %zu is %u, want %u\n", i, p[i],
                    pattern(i, salt));
            return 4;
        }
    }
    for (size_t i = 0; i < XP_SIZE; i++)
        p[i] = pattern(i, salt + 1);
    shmlink_segment_close(seg);
    return 0;
}

static void run(shmlink_backend backend, unsigned salt)
{
    char addr[SHMLINK_ADDRESS_MAX], salt_text[32];
    shmlink_segment *seg = NULL;
    t_addr(backend, addr, "xproc");
    ASSERT_OK(t_create(addr, XP_SIZE, 0600, &seg));
    unsigned char *p = shmlink_segment_data(seg);
    for (size_t i = 0; i < XP_SIZE; i++)
        p[i] = pattern(i, salt);

    snprintf(salt_text, sizeof(salt_text), "%u", salt);
    fflush(NULL);
    pid_t pid = fork();
    ASSERT_SYS(pid);
    if (pid == 0) {
        execl("/proc/self/exe", "test_segment_crossproc", "--child", addr,
              salt_text, (char *)NULL);
        fprintf(stderr, "exec: %s\n", strerror(errno));
        _exit(127);
    }
    ASSERT_CHILD_OK(pid);

    for (size_t i = 0; i < XP_SIZE; i++)
        if (p[i] != pattern(i, salt + 1))
            ASSERT_EQ(p[i], pattern(i, salt + 1));

    ASSERT_OK(shmlink_segment_remove(seg));
    t_unregister(addr);
    shmlink_segment_close(seg);
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--child") == 0)
        return child_main(argv[2], (unsigned)strtoul(argv[3], NULL, 10));
    run(SHMLINK_BACKEND_POSIX, 11);
    run(SHMLINK_BACKEND_SYSV, 29);
    printf("test_segment_crossproc: ok\n");
    return T_EXIT_PASS;
}
