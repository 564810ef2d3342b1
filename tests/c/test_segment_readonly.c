/* A read-only view (PROT_READ / SHM_RDONLY) reads the bytes, and writing
 * through it kills the writer with SIGSEGV: a forked child writes, dies,
 * and the parent and the segment are unharmed. */
#include "helpers.h"

#include <sys/resource.h>

static void run(shmlink_backend backend)
{
    char addr[SHMLINK_ADDRESS_MAX];
    shmlink_segment *rw = NULL, *ro = NULL;
    t_addr(backend, addr, "ro");
    ASSERT_OK(t_create(addr, 8192, 0600, &rw));
    memcpy(shmlink_segment_data(rw), "hello", 6);

    ASSERT_OK(shmlink_segment_open(addr, SHMLINK_RDONLY, &ro));
    ASSERT_EQ(shmlink_segment_readonly(ro), 1);
    ASSERT_UEQ(shmlink_segment_size(ro), 8192);
    ASSERT_STREQ((const char *)shmlink_segment_data(ro), "hello");

    /* Writes through the read-write view show in the read-only one. */
    ((char *)shmlink_segment_data(rw))[0] = 'j';
    ASSERT_STREQ((const char *)shmlink_segment_data(ro), "jello");

    fflush(NULL);
    pid_t pid = fork();
    ASSERT_SYS(pid);
    if (pid == 0) {
        /* No core dump for the expected crash. */
        struct rlimit rl = {0, 0};
        setrlimit(RLIMIT_CORE, &rl);
        /* Sanitizers catch SIGSEGV themselves; the kernel's verdict is
         * what this test checks. */
        signal(SIGSEGV, SIG_DFL);
        volatile char *p = shmlink_segment_data(ro);
        p[1] = 'X';
        _exit(0); /* reached only if the write was allowed */
    }
    int status = t_wait(pid);
    if (!WIFSIGNALED(status))
        fprintf(stderr, "%s: child was not killed (status 0x%x)\n",
                t_backend_name(backend), status);
    ASSERT_TRUE(WIFSIGNALED(status));
    ASSERT_EQ(WTERMSIG(status), SIGSEGV);

    /* The parent's views and the bytes are intact. */
    ASSERT_STREQ((const char *)shmlink_segment_data(ro), "jello");
    ((char *)shmlink_segment_data(rw))[1] = 'a';
    ASSERT_STREQ((const char *)shmlink_segment_data(ro), "jallo");

    shmlink_segment_close(ro);
    ASSERT_OK(shmlink_segment_remove(rw));
    t_unregister(addr);
    shmlink_segment_close(rw);
}

int main(void)
{
    run(SHMLINK_BACKEND_POSIX);
    run(SHMLINK_BACKEND_SYSV);
    printf("test_segment_readonly: ok\n");
    return T_EXIT_PASS;
}
