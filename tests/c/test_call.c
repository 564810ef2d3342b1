/*
 * Calls (docs/PROTOCOL.md 13.5), both backends:
 *   - a client calls a server: echo, the handler's status, sizes up to the
 *     largest, -EMSGSIZE, pipelined calls matched by id, client slots;
 *   - several worker processes and client processes at once, every reply
 *     checked against its request;
 *   - a client killed mid-call stalls nobody; a worker killed holding a
 *     request leaves it to another worker; a server whose workers are all
 *     gone fails pending and later calls with -EPIPE within 1 s, and a
 *     restarted server serves new calls; a worker left in the last worker
 *     slot alone keeps the server alive for the client;
 *   - a client of another user than the server's is refused at open;
 *   - malformed requests are dropped; reply channels are removed, but not
 *     by a forked child closing the client it inherited.
 * SHMLINK_CALL_COUNT scales the counts (default 3000).
 */
#include "channel_util.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>

#define SEC 1000000000ll

/* The POSIX reply channel of client slot w (< 10) of the server at addr. */
static void reply_name(char *out, const char *addr, unsigned w)
{
    size_t n = strlen(addr);
    ASSERT_LT(n + 4, SHMLINK_ADDRESS_MAX);
    ASSERT_LT(w, 10);
    memcpy(out, addr, n);
    memcpy(out + n, ".r", 2);
    out[n + 2] = (char)('0' + w);
    out[n + 3] = '\0';
}

static shmlink_server *srv_create(shmlink_backend be, unsigned workers,
                                  unsigned clients, char *addr)
{
    shmlink_server_config cfg = {8192, 0600, workers, clients};
    shmlink_server *srv;
    t_addr(be, addr, "call");
    int rc = shmlink_server_create(addr, &cfg, &srv);
    if (rc < 0)
        T_FAIL_MSG("server create %s: %s", addr, shmlink_strerror(rc));
    t_register(addr);
    /* The clients' reply channels, should a failing test leave them. */
    for (unsigned w = 0; be == SHMLINK_BACKEND_POSIX && w < clients; w++) {
        char reply[SHMLINK_ADDRESS_MAX];
        reply_name(reply, addr, w);
        t_register(reply);
    }
    return srv;
}

static shmlink_client *cli_open(const char *addr)
{
    shmlink_client *cl;
    int rc = shmlink_client_open(addr, &cl);
    if (rc < 0)
        T_FAIL_MSG("client open %s: %s", addr, shmlink_strerror(rc));
    return cl;
}

/* Serves one request: echo with its first byte incremented and status =
 * the request length when it is shorter than 16 bytes and starts with
 * 'S'. */
static int serve_one(shmlink_server *srv, int64_t timeout)
{
    shmlink_request rq;
    int rc = shmlink_server_recv(srv, &rq, timeout);
    if (rc < 0)
        return rc;
    uint8_t out[8192];
    memcpy(out, rq.data, rq.len);
    if (rq.len > 0)
        out[0]++;
    int status =
        rq.len > 0 && rq.len < 16 && ((const uint8_t *)rq.data)[0] == 'S'
            ? (int)rq.len
            : 0;
    return shmlink_server_reply(srv, out, rq.len, status, 5 * SEC);
}

/* Serves n requests in a thread of this process (a forked child cannot
 * use the parent's handles). */
struct serving {
    shmlink_server *srv;
    int n, rc;
    pthread_t th;
};

static void *serve_thread(void *arg)
{
    struct serving *sv = arg;
    for (int k = 0; k < sv->n && sv->rc == 0; k++)
        sv->rc = serve_one(sv->srv, 5 * SEC);
    return NULL;
}

static void serve_start(struct serving *sv, shmlink_server *srv, int n)
{
    sv->srv = srv;
    sv->n = n;
    sv->rc = 0;
    ASSERT_EQ(pthread_create(&sv->th, NULL, serve_thread, sv), 0);
}

static void serve_join(struct serving *sv)
{
    ASSERT_EQ(pthread_join(sv->th, NULL), 0);
    ASSERT_OK(sv->rc);
}

static void *interrupter(void *srv)
{
    usleep(100000);
    (void)shmlink_server_interrupt(srv);
    return NULL;
}

static void test_basic(shmlink_backend be)
{
    char addr[SHMLINK_ADDRESS_MAX];
    shmlink_server *srv = srv_create(be, 1, 2, addr);
    size_t max = shmlink_server_max_message(srv);
    ASSERT_EQ(max, 8192 / 2 - 8 - 16);
    shmlink_client *c1 = cli_open(addr), *c2 = cli_open(addr), *c3;
    ASSERT_EQ(shmlink_client_slot(c1), 0);
    ASSERT_EQ(shmlink_client_slot(c2), 1);
    ASSERT_ERR(shmlink_client_open(addr, &c3), -EBUSY);
    ASSERT_EQ(shmlink_client_max_message(c1), max);

    /* Pipelined: three requests out, served, replies matched by id. */
    uint64_t ids[3];
    const char *reqs[3] = {"abc", "Shello", ""};
    for (int i = 0; i < 3; i++)
        ASSERT_OK(
            shmlink_client_send(c1, reqs[i], strlen(reqs[i]), &ids[i], 0));
    ASSERT_NE(ids[0], ids[1]);
    for (int i = 0; i < 3; i++)
        ASSERT_OK(serve_one(srv, SEC));
    for (int i = 0; i < 3; i++) {
        uint8_t buf[64];
        size_t n;
        int st;
        uint64_t id;
        ASSERT_OK(shmlink_client_recv(c1, &id, &st, buf, sizeof(buf), &n, SEC));
        ASSERT_UEQ(id, ids[i]);
        ASSERT_EQ(n, strlen(reqs[i]));
        if (n) {
            ASSERT_EQ(buf[0], reqs[i][0] + 1);
            ASSERT_MEMEQ(buf + 1, reqs[i] + 1, n - 1);
        }
        ASSERT_EQ(st, reqs[i][0] == 'S' ? (int)n : 0);
    }

    /* The largest request and reply; one byte more is refused. */
    uint8_t *big = malloc(max + 1), *back = malloc(max + 1);
    for (size_t i = 0; i <= max; i++)
        big[i] = (uint8_t)(i * 7);
    uint64_t id;
    ASSERT_ERR(shmlink_client_send(c2, big, max + 1, &id, 0), -EMSGSIZE);
    ASSERT_OK(shmlink_client_send(c2, big, max, &id, 0));
    ASSERT_OK(serve_one(srv, SEC));
    size_t n;
    int st;
    uint64_t got;
    /* Too small a buffer: the reply stays next. */
    ASSERT_ERR(shmlink_client_recv(c2, &got, &st, back, 10, &n, SEC),
               -EMSGSIZE);
    ASSERT_EQ(n, max);
    ASSERT_OK(shmlink_client_recv(c2, &got, &st, back, max, &n, SEC));
    ASSERT_UEQ(got, id);
    ASSERT_EQ(back[0], (uint8_t)(big[0] + 1));
    ASSERT_MEMEQ(back + 1, big + 1, max - 1);

    /* A reply too large for the server is refused and the request stays
     * current; a drop ends it. */
    ASSERT_OK(shmlink_client_send(c2, "x", 1, &id, 0));
    shmlink_request rq;
    ASSERT_OK(shmlink_server_recv(srv, &rq, SEC));
    ASSERT_EQ(rq.client, 1);
    ASSERT_ERR(shmlink_server_recv(srv, &rq, 0), -EINVAL);
    ASSERT_ERR(shmlink_server_reply(srv, big, max + 1, 0, 0), -EMSGSIZE);
    ASSERT_OK(shmlink_server_drop(srv));
    ASSERT_ERR(shmlink_server_drop(srv), -EINVAL);
    ASSERT_ERR(shmlink_client_recv(c2, &got, &st, back, max, &n, SEC / 10),
               -ETIMEDOUT);
    free(big);
    free(back);

    /* shmlink_client_call, zero-copy reply. */
    ASSERT_OK(shmlink_client_send(c1, "zz", 2, &id, 0));
    ASSERT_OK(shmlink_server_recv(srv, &rq, SEC));
    void *p;
    ASSERT_OK(shmlink_server_reserve(srv, 100, &p, SEC));
    memcpy(p, "done", 4);
    ASSERT_OK(shmlink_server_commit(srv, 4, 0));
    char out[16];
    ASSERT_OK(shmlink_client_recv(c1, &got, &st, out, sizeof(out), &n, SEC));
    ASSERT_EQ(n, 4);
    ASSERT_MEMEQ(out, "done", 4);

    /* Interrupt ends a server's wait in another thread at once. */
    pthread_t th;
    ASSERT_EQ(pthread_create(&th, NULL, interrupter, srv), 0);
    uint64_t t0 = cu_now_ns();
    ASSERT_ERR(shmlink_server_recv(srv, &rq, 20 * SEC), -ECANCELED);
    ASSERT_LT(cu_now_ns() - t0, 10ull * SEC);
    ASSERT_EQ(pthread_join(th, NULL), 0);

    /* Reply channels go with their clients. */
    char reply[SHMLINK_ADDRESS_MAX];
    reply_name(reply, addr, 0);
    shmlink_stat sst;
    if (be == SHMLINK_BACKEND_POSIX)
        ASSERT_OK(shmlink_stat_address(reply, &sst));
    shmlink_client_close(c1);
    shmlink_client_close(c2);
    if (be == SHMLINK_BACKEND_POSIX)
        ASSERT_ERR(shmlink_stat_address(reply, &sst), -ENOENT);
    shmlink_server_close(srv);
    ASSERT_OK(t_remove(addr));
}

/* A raw writer of the request channel sends junk: dropped, and the next
 * good request is served. */
static void test_malformed(shmlink_backend be)
{
    char addr[SHMLINK_ADDRESS_MAX];
    shmlink_server *srv = srv_create(be, 1, 2, addr);
    shmlink_channel *raw;
    ASSERT_OK(shmlink_channel_open(addr, SHMLINK_WRITER, &raw));
    uint8_t junk[32] = {1, 2, 3};
    ASSERT_OK(shmlink_channel_send(raw, junk, 5, 0)); /* too short */
    junk[8] = 1;                                      /* unknown flags */
    ASSERT_OK(shmlink_channel_send(raw, junk, 20, 0));
    shmlink_request rq;
    ASSERT_ERR(shmlink_server_recv(srv, &rq, SEC / 10), -ETIMEDOUT);
    /* A well-formed request from a writer without a reply channel: the
     * reply cannot be delivered, the request is finished anyway. */
    memset(junk, 0, sizeof(junk));
    ASSERT_OK(shmlink_channel_send(raw, junk, 20, 0));
    ASSERT_OK(shmlink_server_recv(srv, &rq, SEC));
    ASSERT_EQ(rq.len, 4);
    ASSERT_ERR(shmlink_server_reply(srv, "x", 1, 0, SEC), -ENOENT);
    ASSERT_ERR(shmlink_server_drop(srv), -EINVAL);
    shmlink_channel_close(raw);
    shmlink_client *c = cli_open(addr);
    uint8_t out[8];
    size_t n;
    int st;
    struct serving sv;
    serve_start(&sv, srv, 1);
    ASSERT_OK(
        shmlink_client_call(c, "a", 1, out, sizeof(out), &n, &st, 5 * SEC));
    serve_join(&sv);
    ASSERT_EQ(out[0], 'b');
    shmlink_client_close(c);
    shmlink_server_close(srv);
    ASSERT_OK(t_remove(addr));
}

/* ------------------------------------------------------------ load */

/* Serves until done_fd reads end of file (the clients are done). */
static void worker_proc(const char *addr, int done_fd)
{
    shmlink_server *srv;
    if (shmlink_server_open(addr, &srv) < 0)
        _exit(2);
    for (;;) {
        int rc = serve_one(srv, SEC / 10);
        char c;
        if (rc == -ETIMEDOUT && read(done_fd, &c, 1) == 0)
            break;
        if (rc == -ETIMEDOUT)
            continue;
        if (rc < 0 && rc != -EPIPE) {
            fprintf(stderr, "worker: %s\n", shmlink_strerror(rc));
            _exit(3);
        }
    }
    shmlink_server_close(srv);
    _exit(0);
}

static void client_proc(const char *addr, unsigned id, int count)
{
    shmlink_client *cl;
    if (shmlink_client_open(addr, &cl) < 0)
        _exit(2);
    uint64_t seed = id;
    for (int k = 0; k < count; k++) {
        uint8_t req[4096], resp[4096];
        size_t len = 16 + (size_t)(cu_rand(&seed) % 2000);
        cu_fill(req, len, (uint64_t)id << 32 | (uint64_t)k);
        size_t n;
        int st;
        int rc = shmlink_client_call(cl, req, len, resp, sizeof(resp), &n, &st,
                                     30 * SEC);
        if (rc < 0) {
            fprintf(stderr, "client %u call %d: %s\n", id, k,
                    shmlink_strerror(rc));
            _exit(3);
        }
        resp[0]--;
        if (n != len || st != 0 || memcmp(req, resp, n) != 0) {
            fprintf(stderr, "client %u call %d: wrong reply\n", id, k);
            _exit(4);
        }
    }
    shmlink_client_close(cl);
    _exit(0);
}

static void test_load(shmlink_backend be, int count)
{
    char addr[SHMLINK_ADDRESS_MAX];
    shmlink_server *srv = srv_create(be, 3, 4, addr);
    pid_t w[2], c[4];
    int done[2];
    ASSERT_SYS(pipe(done));
    ASSERT_SYS(fcntl(done[0], F_SETFL, O_NONBLOCK));
    for (int i = 0; i < 2; i++) {
        w[i] = fork();
        ASSERT_SYS(w[i]);
        if (w[i] == 0) {
            close(done[1]);
            worker_proc(addr, done[0]);
        }
    }
    close(done[0]);
    for (unsigned i = 0; i < 4; i++) {
        c[i] = fork();
        ASSERT_SYS(c[i]);
        if (c[i] == 0)
            client_proc(addr, i, count);
    }
    /* The creating worker serves too, until the clients are done. */
    int left = 4;
    while (left > 0) {
        int rc = serve_one(srv, SEC / 20);
        ASSERT_TRUE(rc == 0 || rc == -ETIMEDOUT || rc == -EPIPE);
        for (int i = 0; i < 4; i++) {
            int st;
            if (c[i] > 0 && waitpid(c[i], &st, WNOHANG) == c[i]) {
                if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
                    T_FAIL_MSG("client %d failed (status %d)", i, st);
                c[i] = 0;
                left--;
            }
        }
    }
    close(done[1]);
    for (int i = 0; i < 2; i++)
        ASSERT_CHILD_OK(w[i]);
    shmlink_server_close(srv);
    ASSERT_OK(t_remove(addr));
}

/* ----------------------------------------------------------- crashes */

/* A client killed after sending stalls no one. */
static void test_client_killed(shmlink_backend be)
{
    char addr[SHMLINK_ADDRESS_MAX];
    shmlink_server *srv = srv_create(be, 1, 2, addr);
    int fds[2];
    ASSERT_SYS(pipe(fds));
    pid_t pid = fork();
    ASSERT_SYS(pid);
    if (pid == 0) {
        shmlink_client *cl;
        uint64_t id;
        if (shmlink_client_open(addr, &cl) < 0)
            _exit(1);
        /* Nearly a reply channel's worth of requests. */
        static uint8_t big[3000];
        for (int k = 0; k < 2; k++)
            if (shmlink_client_send(cl, big, sizeof(big), &id, 0) < 0)
                _exit(1);
        char c = 'x';
        if (write(fds[1], &c, 1) != 1)
            _exit(1);
        pause();
        _exit(0);
    }
    close(fds[1]);
    char c;
    ASSERT_EQ(read(fds[0], &c, 1), 1);
    close(fds[0]);
    kill(pid, SIGKILL);
    int st;
    ASSERT_SYS(waitpid(pid, &st, 0));
    uint64_t t0 = cu_now_ns();
    for (int k = 0; k < 2; k++) {
        int rc = serve_one(srv, SEC);
        ASSERT_TRUE(rc == 0 || rc == -EPIPE);
    }
    ASSERT_LT(cu_now_ns() - t0, 2ull * SEC);
    /* Another client is served, in the dead one's slot too. */
    shmlink_client *a = cli_open(addr), *b = cli_open(addr);
    struct serving sv;
    serve_start(&sv, srv, 2);
    uint8_t out[8];
    size_t n;
    ASSERT_OK(
        shmlink_client_call(a, "p", 1, out, sizeof(out), &n, &st, 5 * SEC));
    ASSERT_EQ(out[0], 'q');
    ASSERT_OK(
        shmlink_client_call(b, "r", 1, out, sizeof(out), &n, &st, 5 * SEC));
    ASSERT_EQ(out[0], 's');
    serve_join(&sv);
    shmlink_client_close(a);
    shmlink_client_close(b);
    shmlink_server_close(srv);
    ASSERT_OK(t_remove(addr));
}

/* System V: a client killed before any worker opened its reply channel
 * (a private segment only it knew of) leaves it behind; the next client
 * of its slot removes it. */
static void test_stale_sysv_reply(void)
{
    char addr[SHMLINK_ADDRESS_MAX];
    shmlink_server *srv = srv_create(SHMLINK_BACKEND_SYSV, 1, 1, addr);
    int fds[2];
    ASSERT_SYS(pipe(fds));
    pid_t pid = fork();
    ASSERT_SYS(pid);
    if (pid == 0) {
        shmlink_client *cl;
        char c = 'x';
        if (shmlink_client_open(addr, &cl) < 0 || write(fds[1], &c, 1) != 1)
            _exit(1);
        pause();
        _exit(0);
    }
    close(fds[1]);
    char c;
    ASSERT_EQ(read(fds[0], &c, 1), 1);
    close(fds[0]);
    /* The reply channel's id, from the client's writer slot (R = 1, W = 1:
     * writer slot 0 at 512 + 128; reply_id at +44). */
    shmlink_segment *seg;
    ASSERT_OK(shmlink_segment_open(addr, SHMLINK_RDONLY, &seg));
    uint32_t id;
    memcpy(&id, (uint8_t *)shmlink_segment_data(seg) + 640 + 44, 4);
    shmlink_segment_close(seg);
    char reply[32];
    snprintf(reply, sizeof(reply), "sysv-id:%u", id);
    shmlink_stat st;
    ASSERT_OK(shmlink_stat_address(reply, &st));
    kill(pid, SIGKILL);
    int status;
    ASSERT_SYS(waitpid(pid, &status, 0));
    ASSERT_OK(shmlink_stat_address(reply, &st)); /* left behind */
    shmlink_client *cl = cli_open(addr);
    int rc = shmlink_stat_address(reply, &st);
    ASSERT_TRUE(rc == -ENOENT || rc == -EINVAL || st.cpid != pid);
    shmlink_client_close(cl);
    shmlink_server_close(srv);
    ASSERT_OK(t_remove(addr));
}

/* A worker killed holding a request: another worker serves it. Then every
 * worker gone: pending and new calls fail with -EPIPE within 1 s; a
 * restarted server serves again. */
/* A worker child that opens the server at addr, tells the parent, and
 * holds its worker slot (serving nothing) until killed. */
static pid_t holder_start(const char *addr)
{
    int fds[2];
    ASSERT_SYS(pipe(fds));
    pid_t pid = fork();
    ASSERT_SYS(pid);
    if (pid == 0) {
        /* Dies with the test, should an assertion end it first. */
        (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
        close(fds[0]);
        shmlink_server *s;
        char c = shmlink_server_open(addr, &s) == 0 ? 'k' : 'e';
        if (write(fds[1], &c, 1) != 1)
            _exit(1);
        pause();
        _exit(0);
    }
    close(fds[1]);
    char c = 0;
    ASSERT_EQ(read(fds[0], &c, 1), 1);
    close(fds[0]);
    ASSERT_EQ(c, 'k');
    return pid;
}

static void holder_kill(pid_t pid)
{
    int st;
    kill(pid, SIGKILL);
    ASSERT_SYS(waitpid(pid, &st, 0));
}

/* Every worker is gone: a pending call fails with -EPIPE within 1 s. */
static void expect_server_dead(shmlink_client *cl)
{
    uint64_t t0 = cu_now_ns(), got;
    uint8_t out[8];
    size_t n;
    int st;
    ASSERT_ERR(
        shmlink_client_recv(cl, &got, &st, out, sizeof(out), &n, 10 * SEC),
        -EPIPE);
    ASSERT_LT(cu_now_ns() - t0, (uint64_t)SEC);
}

static void test_server_killed(shmlink_backend be)
{
    char addr[SHMLINK_ADDRESS_MAX];
    shmlink_server *srv = srv_create(be, 2, 2, addr);
    shmlink_client *cl = cli_open(addr);
    int fds[2];
    ASSERT_SYS(pipe(fds));
    pid_t pid = fork();
    ASSERT_SYS(pid);
    if (pid == 0) {
        shmlink_server *s2;
        shmlink_request rq;
        if (shmlink_server_open(addr, &s2) < 0 ||
            shmlink_server_recv(s2, &rq, 5 * SEC) < 0)
            _exit(1);
        char c = 'x';
        if (write(fds[1], &c, 1) != 1)
            _exit(1);
        pause(); /* holds the request */
        _exit(0);
    }
    uint64_t id;
    ASSERT_OK(shmlink_client_send(cl, "k", 1, &id, 0));
    close(fds[1]);
    char c;
    ASSERT_EQ(read(fds[0], &c, 1), 1);
    close(fds[0]);
    kill(pid, SIGKILL);
    int st;
    ASSERT_SYS(waitpid(pid, &st, 0));
    /* The first worker adopts the orphaned request. */
    ASSERT_OK(serve_one(srv, 5 * SEC));
    uint8_t out[8];
    size_t n;
    uint64_t got;
    ASSERT_OK(shmlink_client_recv(cl, &got, &st, out, sizeof(out), &n, SEC));
    ASSERT_UEQ(got, id);
    ASSERT_EQ(out[0], 'l');

    /* Every worker gone. */
    pid = holder_start(addr);
    shmlink_server_close(srv);
    ASSERT_OK(shmlink_client_send(cl, "m", 1, &id, 0));
    holder_kill(pid);
    expect_server_dead(cl);
    ASSERT_ERR(
        shmlink_client_call(cl, "n", 1, out, sizeof(out), &n, &st, 10 * SEC),
        -EPIPE);
    /* A restarted server serves new calls (the orphaned one first: its
     * reply reaches the client, which drops it as no longer waited for). */
    shmlink_server *again;
    ASSERT_OK(shmlink_server_open(addr, &again));
    struct serving sv;
    serve_start(&sv, again, 3);
    ASSERT_OK(
        shmlink_client_call(cl, "o", 1, out, sizeof(out), &n, &st, 5 * SEC));
    ASSERT_EQ(out[0], 'p');
    serve_join(&sv);
    shmlink_server_close(again);
    shmlink_client_close(cl);
    ASSERT_OK(t_remove(addr));
}

/* The client's test of the workers covers every worker slot, the last one
 * too, and counts no other lock (its own writer slot): only the worker in
 * slot 2 is left -> the server lives; it is killed -> EPIPE in < 1 s. */
static void test_last_worker_slot(shmlink_backend be)
{
    char addr[SHMLINK_ADDRESS_MAX];
    shmlink_server *srv = srv_create(be, 3, 2, addr);
    shmlink_client *cl = cli_open(addr);
    pid_t w1 = holder_start(addr); /* slot 1 */
    pid_t w2 = holder_start(addr); /* slot 2 */
    shmlink_server_close(srv);     /* slot 0: closed */
    holder_kill(w1);               /* slot 1: died */
    uint64_t id, got;
    uint8_t out[8];
    size_t n;
    int st;
    ASSERT_OK(shmlink_client_send(cl, "q", 1, &id, 0));
    ASSERT_ERR(
        shmlink_client_recv(cl, &got, &st, out, sizeof(out), &n, SEC / 4),
        -ETIMEDOUT);
    holder_kill(w2);
    expect_server_dead(cl);
    shmlink_client_close(cl);
    ASSERT_OK(t_remove(addr));
}

/* A forked child that closes the client it inherited leaves its parent's
 * reply channel alone: a worker that opens it afterwards finds it. */
static void test_fork_close(shmlink_backend be)
{
    char addr[SHMLINK_ADDRESS_MAX];
    shmlink_server *srv = srv_create(be, 1, 2, addr);
    shmlink_client *cl = cli_open(addr);
    pid_t pid = fork();
    ASSERT_SYS(pid);
    if (pid == 0) {
        shmlink_client_close(cl); /* inherited: only unmaps */
        _exit(0);
    }
    int st;
    ASSERT_SYS(waitpid(pid, &st, 0));
    ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    /* A new worker handle: it opens the reply channel now. */
    shmlink_server_close(srv);
    ASSERT_OK(shmlink_server_open(addr, &srv));
    struct serving sv;
    serve_start(&sv, srv, 1);
    uint8_t out[8];
    size_t n;
    ASSERT_OK(
        shmlink_client_call(cl, "f", 1, out, sizeof(out), &n, &st, 5 * SEC));
    ASSERT_EQ(out[0], 'g');
    serve_join(&sv);
    shmlink_server_close(srv);
    shmlink_client_close(cl);
    ASSERT_OK(t_remove(addr));
}

/* A client of another user than the server's (here: root's server, a
 * client running as nobody, which open lets in because root's objects are
 * trusted) is refused at open with -EPERM: the workers could not open its
 * reply channel (section 10), and every call would time out. Root only. */
static void test_other_user(shmlink_backend be)
{
    if (geteuid() != 0)
        return;
    char addr[SHMLINK_ADDRESS_MAX];
    shmlink_server_config cfg = {8192, 0666, 1, 2};
    shmlink_server *srv;
    t_addr(be, addr, "xuser");
    ASSERT_OK(shmlink_server_create(addr, &cfg, &srv));
    t_register(addr);
    pid_t pid = fork();
    ASSERT_SYS(pid);
    if (pid == 0) {
        if (setgid(65534) != 0 || setuid(65534) != 0)
            _exit(2);
        shmlink_client *cl;
        int rc = shmlink_client_open(addr, &cl);
        _exit(rc == -EPERM ? 0 : 1);
    }
    int st;
    ASSERT_SYS(waitpid(pid, &st, 0));
    ASSERT_TRUE(WIFEXITED(st));
    ASSERT_EQ(WEXITSTATUS(st), 0);
    shmlink_server_close(srv);
    ASSERT_OK(t_remove(addr));
}

int main(void)
{
    t_registry_init();
    int count = (int)cu_env("SHMLINK_CALL_COUNT", 3000);
    static const shmlink_backend bes[] = {SHMLINK_BACKEND_POSIX,
                                          SHMLINK_BACKEND_SYSV};
    for (size_t b = 0; b < 2; b++) {
        shmlink_backend be = bes[b];
        printf("%s\n", t_backend_name(be));
        test_basic(be);
        test_malformed(be);
        test_client_killed(be);
        test_server_killed(be);
        test_last_worker_slot(be);
        test_fork_close(be);
        test_other_user(be);
        test_load(be, count / 4);
    }
    test_stale_sysv_reply();
    t_cleanup();
    return T_EXIT_PASS;
}
