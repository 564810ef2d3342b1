/* Liveness never calls a living process dead when /proc does not show it:
 *   - a reader that is another user, in a mount namespace whose /proc is
 *     mounted with hidepid=2 (it sees no /proc entry of the writer), waits
 *     for the live writer instead of reporting it dead, sees it alive in
 *     stat, and cannot take the writer's role (-EBUSY); for version-2
 *     channels (role locks) and version-1 ones (kill(pid, 0) says EPERM);
 *   - a writer in another pid namespace (its pid means nothing here) is
 *     alive for a reader outside it, and dead within 1 s once killed.
 * Needs root, unshare and a 'nobody' user; skips (77) otherwise. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>

#include "channel_util.h"

#define SKIP 77

static uid_t nobody_uid;
static gid_t nobody_gid;

/* In a child: a private mount namespace with /proc mounted hidepid=2, then
 * become nobody. Returns 0, or SKIP when the system does not allow it. */
static int hide_proc_and_drop(pid_t writer)
{
    if (unshare(CLONE_NEWNS) == -1)
        return SKIP;
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == -1)
        return SKIP;
    if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
              "hidepid=2") == -1)
        return SKIP;
    if (setgroups(0, NULL) || setgid(nobody_gid) || setuid(nobody_uid))
        return SKIP;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)writer);
    if (access(path, F_OK) == 0)
        return SKIP; /* hidepid did not hide it: nothing to test */
    return 0;
}

static int hidden_reader(const char *addr, pid_t writer)
{
    int rc = hide_proc_and_drop(writer);
    if (rc)
        return rc;
    shmlink_channel *r, *w2 = NULL;
    uint8_t buf[16];
    size_t n;
    if (shmlink_channel_open(addr, SHMLINK_READER, &r) != 0)
        return 10;
    if (shmlink_channel_recv(r, buf, sizeof buf, &n, 0) != 0 || n != 3)
        return 11;
    /* the writer lives: wait (time out), never -EPIPE */
    rc = shmlink_channel_recv(r, buf, sizeof buf, &n, 300000000);
    if (rc != -ETIMEDOUT) {
        fprintf(stderr, "hidden reader: recv %d (%s), want -ETIMEDOUT\n", rc,
                shmlink_strerror(rc));
        return 12;
    }
    if (shmlink_channel_open(addr, SHMLINK_WRITER, &w2) != -EBUSY)
        return 13; /* a second writer */
    shmlink_channel_info info;
    if (shmlink_channel_stat(addr, &info) != 0 || info.writer_alive != 1)
        return 14;
    return shmlink_channel_close(r) == 0 ? 0 : 15;
}

static void run_hidden(shmlink_backend backend, int version1)
{
    char addr[SHMLINK_ADDRESS_MAX];
    shmlink_channel *w;
    t_addr(backend, addr, version1 ? "hidden1" : "hidden");
    t_register(addr);
    if (version1) {
        ASSERT_OK(cu_make_v1(addr, 4096, 0666));
        ASSERT_OK(shmlink_channel_open(addr, SHMLINK_WRITER, &w));
    } else {
        ASSERT_OK(shmlink_channel_create(addr, 4096, 0666, SHMLINK_WRITER, &w));
    }
    ASSERT_OK(shmlink_channel_send(w, "hi!", 3, 0));
    pid_t me = getpid();
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        _exit(hidden_reader(addr, me));
    }
    int st = t_wait(child);
    ASSERT_TRUE(WIFEXITED(st));
    if (WEXITSTATUS(st) == SKIP) {
        printf(
            "  hidepid: skipped (mount namespace or hidepid not available)\n");
    } else {
        ASSERT_EQ(WEXITSTATUS(st), 0);
        /* the reader left with close: the writer sees it gone */
        uint8_t big[1024] = {0};
        int rc;
        while ((rc = shmlink_channel_send(w, big, sizeof big, 0)) == 0)
            ;
        ASSERT_ERR(rc, -EPIPE);
    }
    ASSERT_OK(shmlink_channel_close(w));
    ASSERT_OK(t_remove(addr));
}

/* A writer in a new pid namespace (it is pid 1 there). */
static void run_pidns(shmlink_backend backend)
{
    char addr[SHMLINK_ADDRESS_MAX];
    shmlink_channel *r;
    uint8_t buf[16];
    size_t n;
    int pidpipe[2], okpipe[2];
    t_addr(backend, addr, "pidns");
    t_register(addr);
    ASSERT_OK(shmlink_channel_create(addr, 4096, 0600, SHMLINK_READER, &r));
    ASSERT_SYS(pipe(pidpipe));
    ASSERT_SYS(pipe(okpipe));
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        pid_t inner = -1;
        if (unshare(CLONE_NEWPID) == 0)
            inner = fork();
        if (inner == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            shmlink_channel *w;
            int ok = getpid() == 1 &&
                     shmlink_channel_open(addr, SHMLINK_WRITER, &w) == 0 &&
                     shmlink_channel_send(w, "ns", 2, 0) == 0;
            if (write(okpipe[1], &ok, sizeof ok) != sizeof ok)
                _exit(1);
            for (;;)
                pause();
        }
        /* the writer's pid as this namespace sees it (-1: cannot) */
        if (write(pidpipe[1], &inner, sizeof inner) != sizeof inner)
            _exit(1);
        for (;;)
            pause();
    }
    pid_t inner = 0;
    int ok = 0;
    ASSERT_EQ(read(pidpipe[0], &inner, sizeof inner), (ssize_t)sizeof inner);
    if (inner > 0)
        ASSERT_EQ(read(okpipe[0], &ok, sizeof ok), (ssize_t)sizeof ok);
    close(pidpipe[0]);
    close(pidpipe[1]);
    close(okpipe[0]);
    close(okpipe[1]);
    if (inner <= 0) {
        printf(
            "  pid namespace: skipped (unshare(CLONE_NEWPID) not allowed)\n");
    } else {
        ASSERT_EQ(ok, 1);
        ASSERT_OK(
            shmlink_channel_recv(r, buf, sizeof buf, &n, SHMLINK_FOREVER));
        ASSERT_UEQ(n, 2);
        /* alive, though its recorded pid (1) is another process here */
        ASSERT_ERR(shmlink_channel_recv(r, buf, sizeof buf, &n, 300000000),
                   -ETIMEDOUT);
        shmlink_channel_info info;
        ASSERT_OK(shmlink_channel_stat(addr, &info));
        ASSERT_EQ(info.writer_pid, 1);
        ASSERT_EQ(info.writer_alive, 1);
        kill(inner, SIGKILL);
        uint64_t t0 = cu_now_ns();
        ASSERT_ERR(
            shmlink_channel_recv(r, buf, sizeof buf, &n, SHMLINK_FOREVER),
            -EPIPE);
        ASSERT_LT(cu_now_ns() - t0, 5000000000ull);
    }
    kill(child, SIGKILL);
    (void)t_wait(child);
    ASSERT_OK(shmlink_channel_close(r));
    ASSERT_OK(t_remove(addr));
}

int main(void)
{
    struct passwd *pw = getpwnam("nobody");
    if (geteuid() != 0 || pw == NULL) {
        printf(
            "test_channel_hidden: skipped (needs root and a 'nobody' user)\n");
        return T_EXIT_SKIP;
    }
    nobody_uid = pw->pw_uid;
    nobody_gid = pw->pw_gid;
    shmlink_backend all[] = {SHMLINK_BACKEND_POSIX, SHMLINK_BACKEND_SYSV};
    for (int i = 0; i < 2; i++) {
        printf("backend %s\n", t_backend_name(all[i]));
        run_hidden(all[i], 0);
        run_hidden(all[i], 1);
        run_pidns(all[i]);
    }
    printf("test_channel_hidden: ok\n");
    return T_EXIT_PASS;
}
