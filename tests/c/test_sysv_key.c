/* shmlink_sysv_key: agrees with ftok(3), checks proj and its arguments,
 * reports stat's errno, and the key names a usable segment. */
#include "helpers.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>

int main(void)
{
    char dir[] = "/tmp/shmlink-test-ftok-XXXXXX";
    char file[128], inner[256];
    uint32_t key = 0, key2 = 0;
    ASSERT_NOT_NULL(mkdtemp(dir));
    snprintf(file, sizeof(file), "%s/f", dir);
    int fd = open(file, O_CREAT | O_WRONLY, 0600);
    ASSERT_SYS(fd);
    close(fd);

    static const int projs[] = {1, 2, 'A', 127, 128, 255};
    static const char *paths[] = {"/", "/tmp", "/etc/passwd", NULL};
    paths[3] = file;
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        for (size_t j = 0; j < sizeof(projs) / sizeof(projs[0]); j++) {
            struct stat st;
            if (stat(paths[i], &st) == -1)
                continue;
            ASSERT_OK(shmlink_sysv_key(paths[i], projs[j], &key));
            ASSERT_UEQ(key, (uint32_t)ftok(paths[i], projs[j]));
            ASSERT_NE(key, 0);
            ASSERT_UEQ(key >> 24, (unsigned)projs[j]);
        }
    }
    ASSERT_OK(shmlink_sysv_key(file, 1, &key));
    ASSERT_OK(shmlink_sysv_key(file, 2, &key2));
    ASSERT_NE(key, key2);

    /* Bad arguments. */
    ASSERT_ERR(shmlink_sysv_key(file, 0, &key), -EINVAL);
    ASSERT_ERR(shmlink_sysv_key(file, 256, &key), -EINVAL);
    ASSERT_ERR(shmlink_sysv_key(file, -1, &key), -EINVAL);
    ASSERT_ERR(shmlink_sysv_key(NULL, 1, &key), -EINVAL);
    ASSERT_ERR(shmlink_sysv_key(file, 1, NULL), -EINVAL);
    /* stat's errno. */
    char missing[160];
    snprintf(missing, sizeof(missing), "%s/missing", dir);
    ASSERT_ERR(shmlink_sysv_key(missing, 1, &key), -ENOENT);
    snprintf(inner, sizeof(inner), "%s/x", file);
    ASSERT_ERR(shmlink_sysv_key(inner, 1, &key), -ENOTDIR);
    ASSERT_ERR(shmlink_sysv_key("", 1, &key), -ENOENT);

    /* The key works as an address. */
    char addr[SHMLINK_ADDRESS_MAX];
    shmlink_segment *seg = NULL;
    ASSERT_OK(shmlink_sysv_key(file, 0x5b, &key));
    snprintf(addr, sizeof(addr), "sysv:%u", key);
    int rc = t_create(addr, 4096, 0600, &seg);
    if (rc == -EEXIST) {
        fprintf(stderr, "key 0x%08x in use by someone else; not retried\n",
                key);
    } else {
        ASSERT_OK(rc);
        shmlink_stat st;
        ASSERT_OK(shmlink_segment_stat(seg, &st));
        ASSERT_UEQ(st.key, key);
        ASSERT_OK(shmlink_segment_remove(seg));
        t_unregister(shmlink_segment_address(seg));
        shmlink_segment_close(seg);
    }

    /* EACCES: as nobody, a file inside a 0700 directory (root only). */
    struct passwd *pw = getpwnam("nobody");
    if (geteuid() == 0 && pw != NULL && pw->pw_uid != 0) {
        ASSERT_SYS(chmod(dir, 0700));
        fflush(NULL);
        pid_t pid = fork();
        ASSERT_SYS(pid);
        if (pid == 0) {
            if (setgid(pw->pw_gid) == -1 || setuid(pw->pw_uid) == -1)
                _exit(T_EXIT_SKIP);
            uint32_t k;
            _exit(shmlink_sysv_key(file, 1, &k) == -EACCES ? 0 : 1);
        }
        int status = t_wait(pid);
        ASSERT_TRUE(WIFEXITED(status));
        ASSERT_TRUE(WEXITSTATUS(status) == 0 ||
                    WEXITSTATUS(status) == T_EXIT_SKIP);
    }

    unlink(file);
    rmdir(dir);
    printf("test_sysv_key: ok\n");
    return T_EXIT_PASS;
}
