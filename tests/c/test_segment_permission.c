/* Permission denied for another user: as root, a forked child drops to
 * "nobody" and is refused a 0600 segment (-EACCES), may read but not write a
 * 0644 one, and may not remove either (-EPERM / -EACCES). Skips (77) when
 * not root or when the user switch is not allowed. */
#include "helpers.h"

#include <grp.h>
#include <pwd.h>

static void as_nobody(const char *priv, const char *shared,
                      shmlink_backend backend)
{
    shmlink_segment *s = NULL;
    shmlink_stat st;

    ASSERT_ERR(shmlink_segment_open(priv, 0, &s), -EACCES);
    ASSERT_ERR(shmlink_segment_open(priv, SHMLINK_RDONLY, &s), -EACCES);
    ASSERT_NULL(s);
    /* Creating over an existing name is "exists", whoever owns it. */
    ASSERT_ERR(shmlink_segment_create(priv, 4096, 0600, &s), -EEXIST);
    int rc = shmlink_remove(priv);
    ASSERT_TRUE(rc == -EPERM || rc == -EACCES);
    if (backend == SHMLINK_BACKEND_SYSV) {
        /* IPC_STAT needs read permission. */
        ASSERT_ERR(shmlink_stat_address(priv, &st), -EACCES);
    } else {
        /* Like ls -l /dev/shm: stat needs no read permission. */
        ASSERT_OK(shmlink_stat_address(priv, &st));
        ASSERT_EQ(st.mode, 0600);
        ASSERT_EQ(st.uid, 0);
    }

    ASSERT_ERR(shmlink_segment_open(shared, 0, &s), -EACCES);
    ASSERT_OK(shmlink_segment_open(shared, SHMLINK_RDONLY, &s));
    ASSERT_STREQ((const char *)shmlink_segment_data(s), "root wrote this");
    ASSERT_OK(shmlink_segment_stat(s, &st));
    ASSERT_EQ(st.mode, 0644);
    rc = shmlink_segment_remove(s);
    ASSERT_TRUE(rc == -EPERM || rc == -EACCES);
    shmlink_segment_close(s);
}

static void run(shmlink_backend backend, uid_t uid, gid_t gid)
{
    char priv[SHMLINK_ADDRESS_MAX], shared[SHMLINK_ADDRESS_MAX];
    shmlink_segment *a = NULL, *b = NULL;
    t_addr(backend, priv, "perm-priv");
    t_addr(backend, shared, "perm-shared");
    ASSERT_OK(t_create(priv, 4096, 0600, &a));
    ASSERT_OK(t_create(shared, 4096, 0644, &b));
    strcpy(shmlink_segment_data(b), "root wrote this");

    fflush(NULL);
    pid_t pid = fork();
    ASSERT_SYS(pid);
    if (pid == 0) {
        if (setgroups(0, NULL) == -1 || setgid(gid) == -1 ||
            setuid(uid) == -1) {
            fprintf(stderr, "cannot become nobody: %s\n", strerror(errno));
            _exit(T_EXIT_SKIP);
        }
        as_nobody(priv, shared, backend);
        _exit(T_EXIT_PASS);
    }
    int status = t_wait(pid);
    ASSERT_TRUE(WIFEXITED(status));
    if (WEXITSTATUS(status) == T_EXIT_SKIP)
        t_skip("the child could not switch to user nobody");
    ASSERT_EQ(WEXITSTATUS(status), T_EXIT_PASS);

    /* Nothing the child tried removed anything. */
    shmlink_segment *c = NULL;
    ASSERT_OK(shmlink_segment_open(priv, 0, &c));
    shmlink_segment_close(c);

    ASSERT_OK(shmlink_segment_remove(a));
    ASSERT_OK(shmlink_segment_remove(b));
    t_unregister(priv);
    t_unregister(shared);
    shmlink_segment_close(a);
    shmlink_segment_close(b);
}

int main(void)
{
    if (geteuid() != 0)
        t_skip("needs root to switch to another user");
    struct passwd *pw = getpwnam("nobody");
    if (pw == NULL || pw->pw_uid == 0)
        t_skip("no user nobody");
    run(SHMLINK_BACKEND_POSIX, pw->pw_uid, pw->pw_gid);
    run(SHMLINK_BACKEND_SYSV, pw->pw_uid, pw->pw_gid);
    printf("test_segment_permission: ok\n");
    return T_EXIT_PASS;
}
