/* fork() after open: the child inherits the handle but not the role. Every
 * call on it in the child fails with -ECHILD and its close only unmaps: the
 * parent's reader gets no end of stream, no second writer can take the role,
 * and a child cannot consume messages the parent then receives again. When
 * the parent dies, its role is free even though the child lives on (the
 * child's copies of the role lock's descriptor were closed at the fork). */
#include <signal.h>
#include <sys/prctl.h>

#include "channel_util.h"

static shmlink_backend backend;

static void test_child_cannot_use(void)
{
    char addr[SHMLINK_ADDRESS_MAX];
    shmlink_channel *w, *r, *w2 = NULL;
    uint8_t buf[64];
    size_t n;
    t_addr(backend, addr, "fork");
    t_register(addr);
    ASSERT_OK(shmlink_channel_create(addr, 4096, 0600, SHMLINK_WRITER, &w));
    ASSERT_OK(shmlink_channel_open(addr, SHMLINK_READER, &r));
    ASSERT_OK(shmlink_channel_send(w, "one", 3, 0));

    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        shmlink_channel_info info;
        void *p;
        const void *q;
        int bad = 0;
        bad |= shmlink_channel_send(w, "x", 1, 0) != -ECHILD;
        bad |= shmlink_channel_reserve(w, 1, &p, 0) != -ECHILD;
        bad |= shmlink_channel_recv(r, buf, sizeof buf, &n, 0) != -ECHILD;
        bad |= shmlink_channel_peek(r, &q, &n, 0) != -ECHILD;
        bad |= shmlink_channel_wait(r, 0, 0, shmlink_channel_interrupts(r)) !=
               -ECHILD;
        bad |= shmlink_channel_info_get(w, &info) != -ECHILD;
        /* a normal exit of the child closes what it inherited */
        bad |= shmlink_channel_close(w) != 0;
        bad |= shmlink_channel_close(r) != 0;
        _exit(bad ? 1 : 0);
    }
    ASSERT_CHILD_OK(child);
    /* the message is still there, exactly once; no end of stream */
    ASSERT_OK(shmlink_channel_recv(r, buf, sizeof buf, &n, 0));
    ASSERT_UEQ(n, 3);
    ASSERT_ERR(shmlink_channel_recv(r, buf, sizeof buf, &n, 50000000),
               -ETIMEDOUT);
    /* the parent still holds both roles */
    ASSERT_ERR(shmlink_channel_open(addr, SHMLINK_WRITER, &w2), -EBUSY);
    ASSERT_ERR(shmlink_channel_open(addr, SHMLINK_READER, &w2), -EBUSY);
    ASSERT_OK(shmlink_channel_send(w, "two", 3, 0));
    ASSERT_OK(shmlink_channel_recv(r, buf, sizeof buf, &n, 0));
    ASSERT_UEQ(n, 3);
    ASSERT_OK(shmlink_channel_close(w));
    ASSERT_ERR(shmlink_channel_recv(r, buf, sizeof buf, &n, SHMLINK_FOREVER),
               -ENODATA);
    ASSERT_OK(shmlink_channel_close(r));
    ASSERT_OK(t_remove(addr));
}

/* A writer process forks a child that lives on, then dies by SIGKILL: the
 * reader gets the committed message, then -EPIPE (not a hang), and a new
 * writer can take over while the child is still alive. */
static void test_parent_dies_child_lives(void)
{
    char addr[SHMLINK_ADDRESS_MAX];
    shmlink_channel *r, *w2;
    uint8_t buf[64];
    size_t n;
    int pipefd[2];
    t_addr(backend, addr, "forkdie");
    t_register(addr);
    ASSERT_OK(shmlink_channel_create(addr, 4096, 0600, SHMLINK_READER, &r));
    ASSERT_SYS(pipe(pipefd));
    pid_t writer = fork();
    ASSERT_GE(writer, 0);
    if (writer == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        shmlink_channel *w;
        if (shmlink_channel_open(addr, SHMLINK_WRITER, &w) != 0)
            _exit(2);
        pid_t grandchild = fork();
        if (grandchild == 0) {
            /* lives on with an inherited copy of the writer's handle */
            for (;;)
                pause();
        }
        if (shmlink_channel_send(w, "last", 4, 0) != 0)
            _exit(3);
        if (write(pipefd[1], &grandchild, sizeof grandchild) !=
            sizeof grandchild)
            _exit(4);
        for (;;)
            pause();
    }
    pid_t grandchild = 0;
    ASSERT_EQ(read(pipefd[0], &grandchild, sizeof grandchild),
              (ssize_t)sizeof grandchild);
    close(pipefd[0]);
    close(pipefd[1]);
    kill(writer, SIGKILL);
    (void)t_wait(writer);
    ASSERT_EQ(kill(grandchild, 0), 0); /* still alive */
    ASSERT_OK(shmlink_channel_recv(r, buf, sizeof buf, &n, SHMLINK_FOREVER));
    ASSERT_UEQ(n, 4);
    uint64_t t0 = cu_now_ns();
    ASSERT_ERR(shmlink_channel_recv(r, buf, sizeof buf, &n, SHMLINK_FOREVER),
               -EPIPE);
    ASSERT_LT(cu_now_ns() - t0, 5000000000ull);
    ASSERT_OK(shmlink_channel_open(addr, SHMLINK_WRITER, &w2));
    kill(grandchild, SIGKILL);
    ASSERT_OK(shmlink_channel_close(w2));
    ASSERT_OK(shmlink_channel_close(r));
    ASSERT_OK(t_remove(addr));
}

int main(void)
{
    shmlink_backend all[] = {SHMLINK_BACKEND_POSIX, SHMLINK_BACKEND_SYSV};
    for (int i = 0; i < 2; i++) {
        backend = all[i];
        printf("backend %s\n", t_backend_name(backend));
        test_child_cannot_use();
        test_parent_dies_child_lives();
    }
    printf("test_channel_fork: ok\n");
    return T_EXIT_PASS;
}
