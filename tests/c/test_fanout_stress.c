/*
 * Multi-process stress of fan-out channels: one writer process and 2, 4
 * and 8 reader processes, on both backends, messages of random sizes
 * carrying sequence numbers and checksums.
 *   broadcast: half the readers join before the first message and must see
 *     the whole sequence; the others join at random moments while it flows
 *     and must see every message from their first one to the last, in
 *     order;
 *   queue: readers take with recv, peek/release and recv_batch at random;
 *     the union of what they took is exactly the sent set.
 * SHMLINK_FANOUT_MESSAGES scales the count per run (default 8000; 3000
 * under sanitizers).
 */
#include <sys/mman.h>

#include "fanout_util.h"

#define MAXR 8

struct shared {
    uint64_t first[MAXR], count[MAXR];
    int status[MAXR];
    uint32_t taken[]; /* queue: times each message was taken */
};

/* Sends n messages on w (send and reserve/commit mixed), then closes. */
static int write_all(shmlink_channel *w, uint64_t n, uint64_t seed)
{
    int rc;
    size_t max = shmlink_channel_max_message(w);
    uint64_t s = seed;
    for (uint64_t seq = 0; seq < n; seq++) {
        if (cu_rand(&s) & 1) {
            rc = fo_send(w, seq, seed, max, SHMLINK_FOREVER);
        } else {
            size_t len = fo_len(seed, seq, max);
            void *p;
            rc = shmlink_channel_reserve(w, len, &p, SHMLINK_FOREVER);
            if (rc == 0) {
                cu_fill(p, len, seq);
                rc = shmlink_channel_commit(w, len);
            }
        }
        if (rc < 0) {
            fprintf(stderr, "writer seq %llu: %s\n", (unsigned long long)seq,
                    shmlink_strerror(rc));
            return 1;
        }
    }
    return shmlink_channel_close(w) == 0 ? 0 : 1;
}

/* Receives with a random mode; calls fn for each message. Returns the
 * final code (-ENODATA expected) or 1 for a corrupt message. */
typedef int (*msg_fn)(const uint8_t *p, size_t n, void *arg);

static int read_all(shmlink_channel *r, uint64_t seed, msg_fn fn, void *arg)
{
    size_t max = shmlink_channel_max_message(r);
    size_t cap = max * 3;
    uint8_t *buf = malloc(cap);
    size_t lens[32];
    uint64_t s = seed;
    int rc;
    for (;;) {
        unsigned mode = (unsigned)(cu_rand(&s) % 3);
        if (mode == 0) {
            rc = shmlink_channel_recv(r, buf, cap, &lens[0], SHMLINK_FOREVER);
            if (rc < 0)
                break;
            rc = 1;
        } else if (mode == 1) {
            const void *p;
            rc = shmlink_channel_peek(r, &p, &lens[0], SHMLINK_FOREVER);
            if (rc < 0)
                break;
            memcpy(buf, p, lens[0]);
            rc = shmlink_channel_release(r);
            if (rc < 0)
                break;
            rc = 1;
        } else {
            rc = shmlink_channel_recv_batch(r, buf, cap, lens, 32,
                                            SHMLINK_FOREVER);
            if (rc < 0)
                break;
        }
        size_t off = 0;
        for (int k = 0; k < rc; k++) {
            if (lens[k] < 16 ||
                !cu_check(buf + off, lens[k], cu_seq(buf + off)) ||
                fn(buf + off, lens[k], arg) != 0) {
                free(buf);
                return 1;
            }
            off += lens[k];
        }
    }
    free(buf);
    return rc;
}

struct bc_state {
    uint64_t next, first, count, seed, max;
    int started;
};

static int bc_msg(const uint8_t *p, size_t n, void *arg)
{
    struct bc_state *b = arg;
    uint64_t q = cu_seq(p);
    if (!b->started) {
        b->started = 1;
        b->first = b->next = q;
    }
    if (q != b->next || n != fo_len(b->seed, q, b->max)) {
        fprintf(stderr, "broadcast reader: got %llu, want %llu\n",
                (unsigned long long)q, (unsigned long long)b->next);
        return 1;
    }
    b->next++;
    b->count++;
    return 0;
}

struct q_state {
    struct shared *sh;
    uint64_t n;
};

static int q_msg(const uint8_t *p, size_t n, void *arg)
{
    (void)n;
    struct q_state *q = arg;
    uint64_t s = cu_seq(p);
    if (s >= q->n)
        return 1;
    __atomic_add_fetch(&q->sh->taken[s], 1, __ATOMIC_RELAXED);
    return 0;
}

static int reader_proc(const char *addr, shmlink_fanout fo, int k, int late,
                       int ready_fd, struct shared *sh, uint64_t n,
                       uint64_t seed)
{
    uint64_t s = seed * 7 + (uint64_t)k;
    if (late) {
        struct timespec ts = {0, (long)(cu_rand(&s) % 30000000)};
        nanosleep(&ts, NULL);
    }
    shmlink_channel *r;
    int rc = shmlink_channel_open(addr, SHMLINK_READER, &r);
    if (rc < 0) {
        fprintf(stderr, "reader %d open: %s\n", k, shmlink_strerror(rc));
        return 1;
    }
    if (!late) {
        char c = 'r';
        if (write(ready_fd, &c, 1) != 1)
            return 1;
    }
    if (fo == SHMLINK_BROADCAST) {
        struct bc_state b = {0, 0, 0, seed, shmlink_channel_max_message(r), 0};
        rc = read_all(r, s, bc_msg, &b);
        sh->first[k] = b.started ? b.first : n;
        sh->count[k] = b.count;
    } else {
        struct q_state q = {sh, n};
        rc = read_all(r, s, q_msg, &q);
    }
    shmlink_channel_close(r);
    sh->status[k] = rc;
    if (rc != -ENODATA) {
        fprintf(stderr, "reader %d ended with %d (%s)\n", k, rc,
                rc < 0 ? shmlink_strerror(rc) : "bad message");
        return 1;
    }
    return 0;
}

static void run(shmlink_backend be, shmlink_fanout fo, int nr, uint64_t n,
                size_t cap, uint64_t seed)
{
    char addr[SHMLINK_ADDRESS_MAX];
    /* this process is the writer; the readers are its children */
    shmlink_channel *w =
        fo_create(be, fo, (unsigned)nr, cap, SHMLINK_WRITER, addr);
    size_t shsz = sizeof(struct shared) + n * sizeof(uint32_t);
    struct shared *sh = mmap(NULL, shsz, PROT_READ | PROT_WRITE,
                             MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ASSERT_TRUE(sh != MAP_FAILED);
    int pfd[2];
    ASSERT_SYS(pipe(pfd));
    pid_t pids[MAXR];
    int early = fo == SHMLINK_BROADCAST ? nr / 2 : nr;
    uint64_t t0 = cu_now_ns();
    for (int k = 0; k < nr; k++) {
        pids[k] = fork();
        ASSERT_SYS(pids[k]);
        if (pids[k] == 0) {
            close(pfd[0]);
            _exit(reader_proc(addr, fo, k, k >= early, pfd[1], sh, n, seed));
        }
    }
    for (int k = 0; k < early; k++) {
        char ch;
        ASSERT_EQ(read(pfd[0], &ch, 1), 1);
    }
    ASSERT_EQ(write_all(w, n, seed), 0);
    for (int k = 0; k < nr; k++)
        ASSERT_CHILD_OK(pids[k]);
    double secs = (double)(cu_now_ns() - t0) / 1e9;
    if (fo == SHMLINK_BROADCAST) {
        for (int k = 0; k < nr; k++) {
            if (k < early)
                ASSERT_UEQ(sh->first[k], 0);
            ASSERT_UEQ(sh->first[k] + sh->count[k], n);
        }
    } else {
        for (uint64_t i = 0; i < n; i++)
            if (sh->taken[i] != 1)
                T_FAIL_MSG("message %llu taken %u times", (unsigned long long)i,
                           sh->taken[i]);
    }
    printf("%s %s %d readers: %llu messages in %.2f s\n", t_backend_name(be),
           fo == SHMLINK_BROADCAST ? "broadcast" : "queue", nr,
           (unsigned long long)n, secs);
    munmap(sh, shsz);
    close(pfd[0]);
    close(pfd[1]);
    ASSERT_OK(t_remove(addr));
}

int main(void)
{
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
    uint64_t n = (uint64_t)cu_env("SHMLINK_FANOUT_MESSAGES", 3000);
#else
    uint64_t n = (uint64_t)cu_env("SHMLINK_FANOUT_MESSAGES", 8000);
#endif
    static const int counts[] = {2, 4, 8};
    uint64_t seed = 1;
    for (int i = 0; i < 3; i++) {
        for (int b = 0; b < 2; b++) {
            shmlink_backend be =
                b ? SHMLINK_BACKEND_SYSV : SHMLINK_BACKEND_POSIX;
            size_t cap = (i + b) % 2 ? 1 << 16 : 1 << 14;
            run(be, SHMLINK_BROADCAST, counts[i], n, cap, seed++);
            run(be, SHMLINK_QUEUE, counts[i], n, cap, seed++);
        }
    }
    return T_EXIT_PASS;
}
