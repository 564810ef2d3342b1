/*
 * libFuzzer target: a writer and a reader in one process on one channel,
 * driven by a script, with corruption.
 *
 * Each input makes a fresh channel (POSIX or System V, removed again, with
 * its semaphore set, before the input ends) and runs the input as a script
 * of at most MAX_OPS operations: send, reserve / commit / abort, recv,
 * peek / release, recv_batch, wait (fresh or stale interrupt count),
 * interrupt, info and stat, close and reopen of either side (by address,
 * trusting any owner or not, or on the harness's own mapping), a change of
 * the segment's owner, a creator still initialising while a side opens,
 * calls with bad arguments, corruption of chosen bytes, fields and record
 * headers, truncation of a POSIX object for one call, removal of the
 * segment or of its System V semaphore set, a fork whose child must not
 * use or give up the roles, and a helper thread that, while the next
 * blocking call waits, interrupts it, signals it, or acts as its peer
 * (sends the message it waits for, or frees the room it waits for).
 *
 * Timeouts: 0 for most calls; a few calls per input wait some microseconds
 * (through the spin and the futex sleep of the wait loop); a call waits
 * without limit only when the model says it returns at once or when the
 * helper thread is there to end it.
 *
 * A model of the channel (positions, queued messages, who holds which
 * role, end flags, counters, the segment's owner) predicts every result
 * exactly while no byte that matters was corrupted: every message received
 * is the next one sent, intact, in order; a full ring, an empty one, end of
 * stream and a reader gone give the codes PROTOCOL.md sections 4-6 give;
 * info and stat agree with it. After a corruption the only checks left are:
 * no crash, no hang, no access outside the mapping (message pointers of
 * handles on the harness's mapping are checked against the ring) and only
 * return codes that shmlink.h documents.
 *
 * Input: byte 0 setup flags (bit 0 System V; bit 1 the creator is the
 * reader; bit 2 capacity 8192 instead of 4096; bit 3 open the other role
 * at once; bit 4 that open is an attach to the harness's mapping); then
 * operations, each an opcode byte (low 5 bits the operation, see run_op;
 * bit 5 a short timeout, bit 6 spin before sleeping, both with bits 0-2 of
 * the argument all set: no time limit where that is safe; bit 7 misuse: the
 * call goes to the other role's handle) followed by its arguments.
 *
 * SHMLINK_FUZZ_TRACE=1 prints every operation, its result and the model's.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "fuzz_util.h"

#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "channel_internal.h"
#include "internal.h"

#define MAX_OPS         300
#define MAX_SHORT_WAITS 12
/* helper threads and creator races per input */
#define MAX_THREADS 10
/* more than capacity / 8, the most records a ring can hold */
#define QMAX        2048
#define FOREIGN_UID 54321

/* The model's word for "the call would wait" (it fails with -ETIMEDOUT
 * after timeout 0). */
#define BLOCKS (-ETIMEDOUT)

typedef struct {
    uint32_t seq, len;
    uint64_t end; /* position after the record */
} msg_t;

/* Everything about the current input. */
static struct {
    /* the channel */
    int sysv;
    uint64_t cap, max_msg;
    size_t seg_size;
    char addr[SHMLINK_ADDRESS_MAX];
    shmlink_segment *seg; /* the harness's own mapping */
    uint8_t *b;
    int semid;
    shmlink_channel *h[2]; /* [0] writer, [1] reader */
    int attached[2];       /* handle made on the harness's mapping */
    int short_waits, threads, forked;
    int truncated; /* the harness's mapping may be private zero pages */
    int may_sleep; /* the call being checked may have slept in a futex */
    /* the model */
    int corrupted, removed, foreign;
    uint64_t wp, rp; /* committed write_pos, published read_pos */
    msg_t q[QMAX];
    unsigned head, count;
    uint32_t next_seq;
    int closed, gone;
    int resv;
    uint64_t resv_len, resv_pad;
    uint32_t resv_seq;
    int peek;
    uint64_t sent, received;
} S;

#define W            0
#define R            1
#define HANDLE(role) S.h[role]

static uint8_t buf[16384];
static int trace;

static int allowed(int rc)
{
    return rc >= 0 || rc == -EINVAL || rc == -ENOENT || rc == -EPROTO ||
           rc == -EBUSY || rc == -ETIMEDOUT || rc == -ECANCELED ||
           rc == -EINTR || rc == -ENODATA || rc == -EPIPE || rc == -EMSGSIZE ||
           rc == -EPERM || rc == -EACCES || rc == -EEXIST;
}

/* rc must be want (or alt, when alt is not 1) while nothing was
 * corrupted, and a documented code in any case. */
static void expect2(int line, int rc, int want, int alt)
{
    /* libFuzzer's alarm (SIGALRM, for -timeout, installed without
     * SA_RESTART) may end any futex sleep: a call that waited may say
     * -EINTR, having done nothing. */
    if (rc == -EINTR && S.may_sleep)
        want = -EINTR;
    S.may_sleep = 0;
    if (trace)
        fprintf(stderr, "  -> %d (%s), model %d%s\n", rc, shmlink_strerror(rc),
                want, S.corrupted ? " (corrupted)" : "");
    if (!S.corrupted && rc != want && (alt == 1 || rc != alt)) {
        fprintf(stderr,
                "fuzz_script: line %d: got %d (%s), model says %d (%s)\n", line,
                rc, shmlink_strerror(rc), want, shmlink_strerror(want));
        abort();
    }
    FUZZ_CHECK(allowed(rc));
}
#define EXPECT(rc, want)       expect2(__LINE__, (rc), (want), 1)
#define EXPECT2(rc, want, alt) expect2(__LINE__, (rc), (want), (alt))

/* ------------------------------------------------------------------------ */
/* Message contents: the bytes of message seq, the first four its number.    */
/* ------------------------------------------------------------------------ */

static uint8_t content(uint32_t seq, size_t i)
{
    if (i < 4)
        return (uint8_t)(seq >> (8 * i));
    return (uint8_t)(seq * 151u + i * 13u + (i >> 8) * 7u + 1u);
}

static void fill(uint8_t *p, uint32_t seq, size_t len)
{
    for (size_t i = 0; i < len; i++)
        p[i] = content(seq, i);
}

static void check_msg(const uint8_t *p, size_t len, const msg_t *m)
{
    if (S.corrupted)
        return;
    FUZZ_CHECK(m != NULL && len == m->len);
    for (size_t i = 0; i < len; i++)
        FUZZ_CHECK(p[i] == content(m->seq, i));
}

/* ------------------------------------------------------------------------ */
/* The model                                                                 */
/* ------------------------------------------------------------------------ */

static uint64_t align8(uint64_t n)
{
    return (n + 7) & ~(uint64_t)7;
}

/* Padding before a record of len bytes at the writer's position, and the
 * bytes needed in all (PROTOCOL.md section 4). */
static uint64_t need_for(uint64_t len, uint64_t *pad)
{
    uint64_t rec = 8 + align8(len);
    uint64_t off = S.wp & (S.cap - 1);
    *pad = off + rec > S.cap ? S.cap - off : 0;
    return *pad + rec;
}

static int room_for(uint64_t len)
{
    uint64_t pad;
    return S.wp + need_for(len, &pad) - S.rp <= S.cap;
}

/* What a writer gets that finds no room (section 6.5). */
static int writer_blocked(void)
{
    if (HANDLE(R))
        return BLOCKS; /* a live reader */
    return S.gone ? -EPIPE : BLOCKS;
}

/* What a reader gets that finds the ring empty. */
static int reader_empty(void)
{
    return S.closed ? -ENODATA : BLOCKS;
}

static const msg_t *front(void)
{
    return S.count ? &S.q[S.head] : NULL;
}

static void pop(unsigned n)
{
    for (unsigned i = 0; i < n && S.count; i++) {
        S.rp = S.q[S.head].end;
        S.head = (S.head + 1) % QMAX;
        S.count--;
        S.received++;
    }
}

static void push(uint32_t seq, uint64_t len, uint64_t pad)
{
    FUZZ_CHECK(S.count < QMAX);
    uint64_t end = S.wp + pad + 8 + align8(len);
    S.q[(S.head + S.count) % QMAX] = (msg_t){seq, (uint32_t)len, end};
    S.count++;
    S.wp = end;
    S.sent++;
}

/* The ring bytes holding committed, unconsumed records or the reservation:
 * writing anything else in the ring changes nothing a side will read. */
static int ring_live(uint64_t off)
{
    uint64_t end = S.wp;
    if (S.resv)
        end += S.resv_pad + 8 + align8(S.resv_len);
    uint64_t d = (off - (S.rp & (S.cap - 1))) & (S.cap - 1);
    return end - S.rp >= S.cap || d < end - S.rp;
}

/* Header bytes some side or an opener reads (section 1); the sleep words
 * are only compared with 1, a wrong value costs one wake-up. */
static int header_live(size_t off)
{
    return off < 40 || (off >= 128 && off < 148) || (off >= 256 && off < 276) ||
           (off >= 384 && off < 400) || (off >= 408 && off < 416);
}

/* Writes bytes at a segment offset through the harness's mapping; marks the
 * model corrupted if a byte that matters changed. */
static void poke(size_t off, const uint8_t *src, size_t n)
{
    if (S.truncated)
        S.corrupted = 1; /* the mapping may no longer be the object */
    for (size_t i = 0; i < n && off + i < S.seg_size; i++) {
        size_t o = off + i;
        if (S.b[o] == src[i])
            continue;
        if (o < FZ_HEADER ? header_live(o)
                          : o < FZ_HEADER + S.cap && ring_live(o - FZ_HEADER))
            S.corrupted = 1;
        S.b[o] = src[i];
    }
}

static int predict_write(shmlink_channel *ch, uint64_t len);
static int predict_read(shmlink_channel *ch);

/* ------------------------------------------------------------------------ */
/* One worker thread for the whole process (a thread per job costs more      */
/* than the job under AddressSanitizer): worker_start(job) runs job on it,   */
/* worker_join() waits until the job has returned.                           */
/* ------------------------------------------------------------------------ */

static struct {
    pthread_t th;
    sem_t go, done;
    void *(*job)(void *);
} Wk;

static void sem_wait_all(sem_t *s)
{
    while (sem_wait(s) == -1)
        FUZZ_CHECK(errno == EINTR); /* libFuzzer's alarm */
}

static void *worker_main(void *arg)
{
    (void)arg;
    for (;;) {
        sem_wait_all(&Wk.go);
        Wk.job(NULL);
        FUZZ_CHECK(sem_post(&Wk.done) == 0);
    }
    return NULL;
}

static void worker_start(void *(*job)(void *))
{
    if (!Wk.th) {
        FUZZ_CHECK(sem_init(&Wk.go, 0, 0) == 0 &&
                   sem_init(&Wk.done, 0, 0) == 0);
        FUZZ_CHECK(pthread_create(&Wk.th, NULL, worker_main, NULL) == 0);
    }
    Wk.job = job;
    FUZZ_CHECK(sem_post(&Wk.go) == 0);
}

static void worker_join(void)
{
    sem_wait_all(&Wk.done);
}

/* ------------------------------------------------------------------------ */
/* The helper thread: acts while the next blocking call waits                */
/* ------------------------------------------------------------------------ */

enum { HELP_NONE, HELP_INTERRUPT, HELP_SIGNAL, HELP_PEER };

static struct {
    int armed;         /* set by OP_THREAD for the next blocking call */
    int kind;          /* HELP_* */
    unsigned delay_us; /* before it first acts */
    uint64_t len;      /* HELP_PEER: the message it sends */
    /* while running */
    pthread_t main;
    int running;
    shmlink_channel *target, *peer;
    int peer_role; /* W: it sends on peer, R: it receives on peer */
    uint32_t seq;
    int peer_rc;
    size_t peer_len;
    uint8_t peer_buf[8192];
    int done;
} H;

static void on_signal(int sig)
{
    (void)sig; /* only there to end a futex wait with EINTR */
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_us(unsigned us)
{
    struct timespec ts = {0, (long)us * 1000};
    nanosleep(&ts, NULL);
}

static void *helper_main(void *arg)
{
    (void)arg;
    sleep_us(H.delay_us);
    if (H.kind == HELP_PEER) {
        if (H.peer_role == W) {
            fill(H.peer_buf, H.seq, H.len);
            H.peer_rc = shmlink_channel_send(H.peer, H.peer_buf, H.len, 0);
        } else {
            H.peer_rc = shmlink_channel_recv(H.peer, H.peer_buf,
                                             sizeof H.peer_buf, &H.peer_len, 0);
        }
    }
    /* Until the call has returned: end its wait (for HELP_PEER only if
     * what it did was not enough). */
    while (!__atomic_load_n(&H.done, __ATOMIC_ACQUIRE)) {
        sleep_us(H.kind == HELP_PEER ? 200 : 50 + H.delay_us);
        if (H.kind == HELP_SIGNAL)
            (void)pthread_kill(H.main, SIGRTMIN + 2);
        else
            (void)shmlink_channel_interrupt(H.target);
    }
    return NULL;
}

/* Starts the armed helper for a call on ch (opcode: the call's), whose
 * model result is want. Returns the timeout for the call: no limit when a
 * helper runs. */
static int64_t helper_start(unsigned opcode, shmlink_channel *ch, int role,
                            int want)
{
    H.armed = 0;
    if (!ch || ch != HANDLE(role))
        return 0; /* the call fails at once */
    /* Bit 6: the call spins long enough for the helper to act meanwhile. */
    shmlink__channel_set_spin(ch, opcode & 0x40 ? 2000000 : 0);
    H.target = ch;
    H.main = pthread_self();
    H.done = 0;
    H.peer_rc = 1;
    if (H.kind == HELP_PEER) {
        /* Only when the call would wait and the model knows what the peer
         * changes; else it just ends the wait. */
        H.peer_role = 1 - role;
        H.peer = HANDLE(H.peer_role);
        if (!H.peer || S.corrupted || want != BLOCKS)
            H.kind = HELP_INTERRUPT;
        if (H.peer_role == W)
            H.seq = S.next_seq++;
    }
    worker_start(helper_main);
    H.running = 1;
    return SHMLINK_FOREVER;
}

/* Joins the helper after the call returned and applies what it did to the
 * model. Returns 1 if it changed the model (the caller predicts again). */
static int helper_finish(void)
{
    if (!H.running)
        return 0;
    __atomic_store_n(&H.done, 1, __ATOMIC_RELEASE);
    worker_join();
    H.running = 0;
    if (H.kind != HELP_PEER || H.peer_rc == 1)
        return 0;
    int may_sleep = S.may_sleep; /* for the call, not the helper's */
    if (trace)
        fprintf(stderr, "  helper %s -> %d\n",
                H.peer_role == W ? "send" : "recv", H.peer_rc);
    if (H.peer_role == W) {
        uint64_t pad;
        need_for(H.len, &pad);
        EXPECT(H.peer_rc, predict_write(H.peer, H.len));
        if (H.peer_rc == 0)
            push(H.seq, H.len, pad);
    } else {
        EXPECT(H.peer_rc, predict_read(H.peer));
        if (H.peer_rc == 0) {
            check_msg(H.peer_buf, H.peer_len, front());
            pop(1);
            S.peek = 0;
        }
    }
    S.may_sleep = may_sleep;
    return 1;
}

/* The timeout of a blocking call on ch whose model result is want: the
 * helper's (no limit), or no limit when the opcode asks and the call cannot
 * wait (the model is sure and says it returns at once), or some
 * microseconds (bit 5, a few per input), or 0. */
static int64_t timeout_for(unsigned opcode, shmlink_channel *ch, int role,
                           unsigned arg, int want)
{
    if (H.armed) {
        S.may_sleep = 1;
        return helper_start(opcode, ch, role, want);
    }
    if (!(opcode & 0x20) || !ch)
        return 0;
    if ((opcode & 0x40) && (arg & 7) == 7) {
        if (S.corrupted || want == BLOCKS)
            return 0;
        shmlink__channel_set_spin(ch, arg & 8 ? 2000 : 0);
        return SHMLINK_FOREVER;
    }
    if (S.short_waits >= MAX_SHORT_WAITS)
        return 0;
    S.short_waits++;
    S.may_sleep = want == BLOCKS;
    int64_t t = 1000 + (int64_t)(arg % 64) * 1000;
    shmlink__channel_set_spin(ch, opcode & 0x40 ? t / 2 + (int64_t)(arg % 3) * t
                                                : 0);
    return t;
}

/* How the helper ends a wait: -EINTR (signal) or -ECANCELED (interrupt). */
static int helper_code(void)
{
    return H.kind == HELP_SIGNAL ? -EINTR : -ECANCELED;
}

/* What a call got, in the model's words, if the helper ran (helped): a
 * wait the model calls BLOCKS ends with the helper's code. */
static int helper_result(int want, int helped)
{
    return helped && want == BLOCKS ? helper_code() : want;
}

/* The other result a call the helper ran for may have: the helper's code
 * (its interrupt may come while the call spins or before it looks at what
 * the peer did, when the machine is busy); 1 for none. */
static int helper_alt(int helped)
{
    return helped ? helper_code() : 1;
}

/* ------------------------------------------------------------------------ */
/* Handles                                                                   */
/* ------------------------------------------------------------------------ */

static void close_role(int role)
{
    shmlink_channel *ch = HANDLE(role);
    if (!ch)
        return;
    FUZZ_CHECK(shmlink_channel_close(ch) == 0);
    HANDLE(role) = NULL;
    if (role == W) {
        S.closed = 1;
        S.resv = 0;
    } else {
        S.gone = 1;
        S.peek = 0;
    }
}

/* An opener would wait 1 s for this header (fuzz_util.h): the object's
 * own bytes for POSIX (after a truncation the harness's mapping may have
 * been replaced by private zero pages), the mapping for System V. */
static int header_pending(void)
{
    uint8_t hdr[FZ_HEADER];
    if (S.sysv)
        return fz_header_pending(S.b, S.seg_size);
    ssize_t n = pread(S.seg->fd, hdr, sizeof hdr, 0);
    FUZZ_CHECK(n == (ssize_t)sizeof hdr);
    return fz_header_pending(hdr, sizeof hdr);
}

static int creator_late(void);
static void creator_report(void);

/* What opening role gets: mode 0 by address, 1 by address trusting any
 * owner, 2 on the harness's mapping. */
static int open_result(int role, unsigned mode)
{
    if (mode != 2) {
        if (S.removed)
            return -ENOENT;
        if (S.foreign && mode == 0)
            return -EPERM;
    }
    if (HANDLE(role))
        return -EBUSY;
    return 0;
}

/* Opens role (mode as for open_result; a role already held is opened a
 * second time, which must fail with -EBUSY and leaves the first handle).
 * may_wait: the header may read "being initialised" (a creator race runs). */
static void open_role(int role, unsigned mode, int may_wait)
{
    shmlink_role r = role == W ? SHMLINK_WRITER : SHMLINK_READER;
    shmlink_channel *ch = NULL;
    int rc;
    mode %= 3;
    if (!may_wait && header_pending())
        return;
    if (mode == 2)
        rc = shmlink__channel_attach(S.seg, r, &ch);
    else
        rc = shmlink_channel_open_flags(S.addr, r, mode ? SHMLINK_ANY_OWNER : 0,
                                        &ch);
    FUZZ_CHECK((rc == 0) == (ch != NULL));
    int want = open_result(role, mode);
    if (may_wait && rc == -EPROTO && creator_late()) {
        creator_report(); /* rare: says how busy the machine was */
        want = rc;
    } else if (may_wait && rc < 0 && rc != want) {
        creator_report();
    }
    if (want == 0 && mode == 2 && S.removed && S.sysv)
        EXPECT2(rc, 0, -EPROTO); /* the set may have gone with the segment */
    else
        EXPECT(rc, want);
    if (rc < 0)
        return;
    if (HANDLE(role)) { /* only after a corruption */
        FUZZ_CHECK(shmlink_channel_close(ch) == 0);
        return;
    }
    HANDLE(role) = ch;
    S.attached[role] = mode == 2;
    if (role == W)
        S.closed = 0;
    else
        S.gone = 0;
    /* A new reader starts at read_pos, a new writer at write_pos: the
     * model's positions stay what they were. */
}

/* A message pointer of a handle on the harness's mapping lies in the ring. */
static void check_in_ring(int role, const void *p, size_t n)
{
    if (!S.attached[role])
        return;
    const uint8_t *ring = S.b + FZ_HEADER, *q = p;
    FUZZ_CHECK(q >= ring + 8 && q <= ring + S.cap);
    FUZZ_CHECK(n <= S.max_msg && (size_t)(ring + S.cap - q) >= n);
}

/* ------------------------------------------------------------------------ */
/* Operations                                                                */
/* ------------------------------------------------------------------------ */

typedef struct {
    const uint8_t *p;
    size_t n;
} input_t;

static unsigned get8(input_t *in)
{
    if (!in->n)
        return 0;
    in->n--;
    return *in->p++;
}

static unsigned get16(input_t *in)
{
    unsigned lo = get8(in);
    return lo | get8(in) << 8;
}

enum {
    OP_SEND,
    OP_RESERVE,
    OP_COMMIT,
    OP_ABORT,
    OP_RECV,
    OP_PEEK,
    OP_RELEASE,
    OP_BATCH,
    OP_WAIT_R,
    OP_WAIT_W,
    OP_INTERRUPT,
    OP_CLOSE_W,
    OP_CLOSE_R,
    OP_OPEN_W,
    OP_OPEN_R,
    OP_POKE,
    OP_NUDGE,
    OP_RECORD,
    OP_INFO,
    OP_STAT,
    OP_TRUNCATE,
    OP_REMOVE,
    OP_THREAD,
    OP_OWNER,
    OP_CREATOR,
    OP_BADARGS,
    OP_FORK,
    OP_RMSET,
    OP_COUNT
};

static const char *const op_names[OP_COUNT] = {
    "send",    "reserve", "commit",   "abort",  "recv",      "peek",
    "release", "batch",   "wait_r",   "wait_w", "interrupt", "close_w",
    "close_r", "open_w",  "open_r",   "poke",   "nudge",     "record",
    "info",    "stat",    "truncate", "remove", "thread",    "owner",
    "creator", "badargs", "fork",     "rmset"};

/* Fields OP_NUDGE adds a small number to (or sets): offset, width. */
static const struct {
    uint16_t off, width;
} nudge_fields[] = {
    {FZ_WRITE_POS, 8},    {FZ_READ_POS, 8},     {FZ_CLOSED, 4},
    {FZ_READER_GONE, 4},  {FZ_WRITER_OWNER, 8}, {FZ_READER_OWNER, 8},
    {FZ_READER_SLEEP, 4}, {FZ_WRITER_SLEEP, 4}, {FZ_VERSION, 4},
    {FZ_LOCK_KIND, 4},    {FZ_LOCK_ID, 4},      {FZ_CAPACITY, 8},
    {FZ_MAX_MESSAGE, 8},  {FZ_FLAGS, 4},        {FZ_HEADER_SIZE, 4},
    {FZ_RECORD_ALIGN, 4}, {FZ_SENT, 8},         {FZ_RECEIVED, 8},
};
#define NFIELDS (sizeof nudge_fields / sizeof nudge_fields[0])

/* Writer: what sending (or reserving) len bytes gets. */
static int predict_write(shmlink_channel *ch, uint64_t len)
{
    if (!ch || ch != HANDLE(W) || S.resv)
        return -EINVAL;
    if (len > S.max_msg)
        return -EMSGSIZE;
    return room_for(len) ? 0 : writer_blocked();
}

static void op_send(unsigned opcode, input_t *in, shmlink_channel *ch)
{
    uint64_t len = get16(in) % (S.max_msg + 64);
    int want = predict_write(ch, len);
    int64_t t = timeout_for(opcode, ch, W, (unsigned)len, want);
    uint32_t seq = S.next_seq;
    fill(buf, seq, len);
    int helped = H.running;
    int rc = shmlink_channel_send(ch, buf, len, t);
    if (helper_finish())
        want = predict_write(ch, len);
    EXPECT2(rc, helper_result(want, helped), helper_alt(helped));
    if (rc == 0) {
        uint64_t pad;
        S.next_seq++;
        need_for(len, &pad);
        push(seq, len, pad);
    }
}

static void op_reserve(unsigned opcode, input_t *in, shmlink_channel *ch)
{
    uint64_t len = get16(in) % (S.max_msg + 64);
    int want = predict_write(ch, len);
    int64_t t = timeout_for(opcode, ch, W, (unsigned)len, want);
    void *p = NULL;
    int helped = H.running;
    int rc = shmlink_channel_reserve(ch, len, &p, t);
    if (helper_finish())
        want = predict_write(ch, len);
    EXPECT2(rc, helper_result(want, helped), helper_alt(helped));
    if (rc == 0) {
        check_in_ring(W, p, len);
        S.resv = 1;
        S.resv_len = len;
        need_for(len, &S.resv_pad);
        S.resv_seq = S.next_seq++;
        fill(p, S.resv_seq, len);
    }
}

static void op_commit(input_t *in, shmlink_channel *ch)
{
    uint64_t n = get16(in) % (S.resv ? S.resv_len + 9 : 64);
    int rc = shmlink_channel_commit(ch, n);
    EXPECT(rc,
           !ch || ch != HANDLE(W) || !S.resv || n > S.resv_len ? -EINVAL : 0);
    if (rc == 0) {
        push(S.resv_seq, n, S.resv_pad);
        S.resv = 0;
    }
}

static void op_abort(shmlink_channel *ch)
{
    int rc = shmlink_channel_abort(ch);
    EXPECT(rc, !ch || ch != HANDLE(W) || !S.resv ? -EINVAL : 0);
    if (rc == 0)
        S.resv = 0;
}

/* Reader: what a call that takes the next message gets before any copy. */
static int predict_read(shmlink_channel *ch)
{
    if (!ch || ch != HANDLE(R))
        return -EINVAL;
    return front() ? 0 : reader_empty();
}

static void op_recv(unsigned opcode, input_t *in, shmlink_channel *ch)
{
    size_t cap = get16(in) % (S.max_msg + 64);
    int want = predict_read(ch);
    int64_t t = timeout_for(opcode, ch, R, (unsigned)cap, want);
    size_t len = 0;
    int helped = H.running;
    int rc = shmlink_channel_recv(ch, buf, cap, &len, t);
    if (helper_finish())
        want = predict_read(ch);
    if (want == 0 && front()->len > cap)
        want = -EMSGSIZE;
    EXPECT2(rc, helper_result(want, helped), helper_alt(helped));
    if (rc == -EMSGSIZE && !S.corrupted)
        FUZZ_CHECK(len == front()->len);
    if (rc == 0) {
        FUZZ_CHECK(len <= cap);
        check_msg(buf, len, front());
        if (!S.corrupted)
            pop(1);
        S.peek = 0;
    }
}

static void op_peek(unsigned opcode, shmlink_channel *ch)
{
    int want = predict_read(ch);
    int64_t t = timeout_for(opcode, ch, R, opcode, want);
    const void *p = NULL;
    size_t len = 0;
    int helped = H.running;
    int rc = shmlink_channel_peek(ch, &p, &len, t);
    if (helper_finish())
        want = predict_read(ch);
    EXPECT2(rc, helper_result(want, helped), helper_alt(helped));
    if (rc == 0) {
        check_in_ring(R, p, len);
        FUZZ_CHECK(len <= S.max_msg);
        memcpy(buf, p, len);
        check_msg(buf, len, front());
        S.peek = 1;
    }
}

static void op_release(shmlink_channel *ch)
{
    int rc = shmlink_channel_release(ch);
    EXPECT(rc, !ch || ch != HANDLE(R) || !S.peek ? -EINVAL : 0);
    if (rc == 0) {
        if (!S.corrupted)
            pop(1);
        S.peek = 0;
    }
}

/* Reader: what recv_batch(cap, max) gets. */
static int predict_batch(shmlink_channel *ch, size_t cap, size_t max)
{
    int want = max == 0 ? -EINVAL : predict_read(ch);
    if (want != 0)
        return want;
    if (front()->len > cap)
        return -EMSGSIZE;
    size_t used = 0;
    unsigned count = 0;
    while (count < S.count && count < max) {
        const msg_t *m = &S.q[(S.head + count) % QMAX];
        if (m->len > cap - used)
            break;
        used += m->len;
        count++;
    }
    return (int)count;
}

static void op_batch(unsigned opcode, input_t *in, shmlink_channel *ch)
{
    size_t cap = get16(in) % (2 * S.max_msg + 64);
    size_t max = get8(in) % 20;
    int want = predict_batch(ch, cap, max);
    int64_t t = timeout_for(opcode, ch, R, (unsigned)cap, want);
    size_t lens[20];
    int helped = H.running;
    int rc = shmlink_channel_recv_batch(ch, buf, cap, lens, max, t);
    if (helper_finish())
        want = predict_batch(ch, cap, max);
    EXPECT2(rc, helper_result(want, helped), helper_alt(helped));
    if (rc == -EMSGSIZE && !S.corrupted)
        FUZZ_CHECK(lens[0] == front()->len);
    if (rc > 0) {
        FUZZ_CHECK((size_t)rc <= max);
        size_t used = 0;
        for (int i = 0; i < rc; i++) {
            FUZZ_CHECK(lens[i] <= S.max_msg && lens[i] <= cap - used);
            if (!S.corrupted)
                check_msg(buf + used, lens[i], &S.q[(S.head + i) % QMAX]);
            used += lens[i];
        }
        if (!S.corrupted)
            pop((unsigned)rc);
        S.peek = 0;
    }
}

/* shmlink_channel_wait on role's handle. */
static int predict_wait(int role, uint64_t len, int stale)
{
    shmlink_channel *ch = HANDLE(role);
    if (!ch)
        return -EINVAL;
    if (stale)
        return -ECANCELED;
    if (role == R)
        return front() ? 0 : reader_empty();
    if (S.resv)
        return -EINVAL;
    if (len > S.max_msg)
        return -EMSGSIZE;
    return room_for(len) ? 0 : writer_blocked();
}

static void op_wait(unsigned opcode, input_t *in, int role)
{
    shmlink_channel *ch = HANDLE(role);
    unsigned a = get8(in);
    uint64_t len = role == W ? get16(in) % (S.max_msg + 64) : 0;
    int stale = (a & 1) && !H.armed;
    int want = predict_wait(role, len, stale);
    int64_t t = timeout_for(opcode, ch, role, a, want);
    uint64_t since = shmlink_channel_interrupts(ch) - (uint64_t)stale;
    int helped = H.running;
    int rc = shmlink_channel_wait(ch, len, t, since);
    if (helper_finish())
        want = predict_wait(role, len, stale);
    EXPECT2(rc, helper_result(want, helped), helper_alt(helped));
}

static void check_info(const shmlink_channel_info *info)
{
    if (S.corrupted)
        return;
    FUZZ_CHECK(info->version == 2);
    FUZZ_CHECK(info->capacity == S.cap && info->max_message == S.max_msg);
    FUZZ_CHECK(info->used == S.wp - S.rp);
    FUZZ_CHECK(info->messages_sent == S.sent &&
               info->messages_received == S.received);
    FUZZ_CHECK(info->writer_alive == (HANDLE(W) != NULL));
    FUZZ_CHECK(info->reader_alive == (HANDLE(R) != NULL));
    FUZZ_CHECK(info->writer_pid == (HANDLE(W) ? getpid() : 0));
    FUZZ_CHECK(info->reader_pid == (HANDLE(R) ? getpid() : 0));
    FUZZ_CHECK(info->closed == S.closed && info->reader_gone == S.gone);
}

static void op_info(shmlink_channel *ch)
{
    shmlink_channel_info info;
    int rc = shmlink_channel_info_get(ch, &info);
    EXPECT(rc, ch ? 0 : -EINVAL);
    if (rc == 0)
        check_info(&info);
}

static void op_stat(void)
{
    shmlink_channel_info info;
    int rc = shmlink_channel_stat(S.addr, &info);
    EXPECT(rc, S.removed ? -ENOENT : 0);
    if (rc == 0)
        check_info(&info);
}

/* Corruption: bytes at an offset of the segment. */
static void op_poke(input_t *in)
{
    size_t off = get16(in) % S.seg_size;
    unsigned n = 1 + get8(in) % 8;
    uint8_t v[8];
    for (unsigned i = 0; i < n; i++)
        v[i] = (uint8_t)get8(in);
    poke(off, v, n);
}

/* Corruption: a header field plus (or, bit 7, set to) a small number. */
static void op_nudge(input_t *in)
{
    unsigned f = get8(in);
    int16_t delta = (int16_t)get16(in);
    size_t off = nudge_fields[(f & 0x7f) % NFIELDS].off;
    unsigned width = nudge_fields[(f & 0x7f) % NFIELDS].width;
    uint64_t v = width == 8 ? fz_get64(S.b, off) : fz_get32(S.b, off);
    v = (f & 0x80) ? (uint64_t)(int64_t)delta : v + (uint64_t)(int64_t)delta;
    uint8_t bytes[8];
    memcpy(bytes, &v, 8);
    poke(off, bytes, width);
}

/* Corruption: a record header in the ring, k records after read_pos. */
static void op_record(input_t *in)
{
    unsigned k = get8(in), kind = get8(in);
    uint32_t len = get16(in);
    uint64_t rp = fz_get64(S.b, FZ_READ_POS);
    uint64_t off = (rp + 8ull * (k % 32)) & (S.cap - 1) & ~7ull;
    uint32_t hdr[2];
    switch (kind % 4) {
    case 0:
        hdr[0] = len % (S.max_msg + 16);
        hdr[1] = FZ_KIND_MSG;
        break;
    case 1: /* a pad of exactly the rest of the ring, or off by len */
        hdr[0] = (uint32_t)(S.cap - off - 8) + (kind & 4 ? len % 16 : 0);
        hdr[1] = FZ_KIND_PAD;
        break;
    case 2:
        hdr[0] = len;
        hdr[1] = FZ_KIND_PAD;
        break;
    default:
        hdr[0] = len;
        hdr[1] = (uint32_t)get16(in) * 0x10001u;
        break;
    }
    poke(FZ_HEADER + off, (const uint8_t *)hdr, sizeof hdr);
}

static void run_op(unsigned opcode, input_t *in);

/* Truncates the POSIX object for the next operation only (a peer may
 * ftruncate it: PROTOCOL.md section 10), then gives it its size back. The
 * harness does not touch its own mapping meanwhile. */
static void op_truncate(input_t *in)
{
    size_t to = get16(in) % S.seg_size;
    unsigned next = get8(in), op = (next & 31) % OP_COUNT;
    /* Only calls on handles and stat: no harness access, no open. */
    if (S.sysv || S.removed || H.armed || op == OP_TRUNCATE || op == OP_POKE ||
        op == OP_NUDGE || op == OP_RECORD || op == OP_OPEN_W ||
        op == OP_OPEN_R || op == OP_REMOVE || op == OP_THREAD ||
        op == OP_OWNER || op == OP_CREATOR || op == OP_BADARGS ||
        op == OP_FORK || op == OP_RMSET)
        return;
    S.corrupted = 1;
    S.truncated = 1;
    FUZZ_CHECK(ftruncate(S.seg->fd, (off_t)to) == 0);
    run_op(next, in);
    FUZZ_CHECK(ftruncate(S.seg->fd, (off_t)S.seg_size) == 0);
}

static void op_remove(void)
{
    if (S.removed)
        return;
    FUZZ_CHECK(shmlink_segment_remove(S.seg) == 0);
    S.removed = 1;
}

/* The next blocking call waits without limit while a helper thread
 * interrupts it, signals it, or acts as its peer (kind % 3), starting
 * after some microseconds. */
static void op_thread(input_t *in)
{
    unsigned kind = get8(in), delay = get8(in);
    uint64_t len = get16(in) % (S.max_msg + 1);
    if (S.threads >= MAX_THREADS)
        return;
    S.threads++;
    H.armed = 1;
    H.kind = HELP_INTERRUPT + (int)(kind % 3);
    H.delay_us = delay;
    H.len = len;
}

/* The segment changes owner (to another user and back): an opener by
 * address that does not trust other owners gets -EPERM (section 2). Needs
 * root; does nothing otherwise. */
static void op_owner(void)
{
    uid_t to = S.foreign ? geteuid() : FOREIGN_UID;
    if (S.removed || S.truncated)
        return;
    if (S.sysv) {
        struct shmid_ds ds;
        if (shmctl(S.seg->shmid, IPC_STAT, &ds) == -1)
            return;
        ds.shm_perm.uid = to;
        if (shmctl(S.seg->shmid, IPC_SET, &ds) == -1)
            return;
    } else if (fchown(S.seg->fd, to, (gid_t)-1) == -1) {
        return;
    }
    S.foreign = !S.foreign;
}

/* A creator still initialising while role opens (section 2): the version
 * reads 0 (variant 0), or magic and version read 0 (variant 1), or the
 * POSIX object is empty and then unwritten (variant 2); a thread puts
 * everything back after some microseconds, in the creator's order, while
 * the opener polls. */
static struct {
    int variant;
    unsigned delay_us;
    uint64_t start_ns, done_ns; /* the open began, the header was back */
    uint8_t saved[FZ_HEADER + 8192];
} C;

static void *creator_main(void *arg)
{
    (void)arg;
    sleep_us(C.delay_us);
    uint8_t *m = S.b;
    if (C.variant == 2) {
        FUZZ_CHECK(ftruncate(S.seg->fd, (off_t)S.seg_size) == 0);
        FUZZ_CHECK(pwrite(S.seg->fd, C.saved + 12, S.seg_size - 12, 12) ==
                   (ssize_t)(S.seg_size - 12));
        sleep_us(C.delay_us);
    }
    uint64_t magic;
    uint32_t version;
    memcpy(&magic, C.saved, 8);
    memcpy(&version, C.saved + 8, 4);
    __atomic_store_n((uint64_t *)(void *)m, magic, __ATOMIC_RELAXED);
    __atomic_store_n((uint32_t *)(void *)(m + 8), version, __ATOMIC_RELEASE);
    __atomic_store_n(&C.done_ns, now_ns(), __ATOMIC_RELEASE);
    return NULL;
}

static void creator_report(void)
{
    uint64_t done = __atomic_load_n(&C.done_ns, __ATOMIC_ACQUIRE);
    fprintf(stderr,
            "fuzz_script: creator variant %d: header back after %lld us\n",
            C.variant, done ? (long long)(done - C.start_ns) / 1000 : -1ll);
}

/* The creator thread had not put the header back within most of the
 * opener's 1 s allowance (a machine too busy to run it): the opener's
 * -EPROTO is then the right answer. */
static int creator_late(void)
{
    uint64_t done = __atomic_load_n(&C.done_ns, __ATOMIC_ACQUIRE);
    return done == 0 || done - C.start_ns > 900000000ull;
}

static void op_creator(input_t *in)
{
    unsigned v = get8(in), delay = get8(in);
    int role = v & 8 ? R : W;
    unsigned mode = (v >> 4) % 3;
    C.variant = (int)(v % 3);
    if (C.variant == 2 && (S.sysv || mode == 2))
        C.variant = 1; /* System V cannot be empty; attach maps the old size */
    if (S.threads >= MAX_THREADS || S.removed || S.truncated || S.corrupted ||
        header_pending())
        return;
    S.threads++;
    C.delay_us = delay * 4;
    if (trace)
        fprintf(stderr, "  creator variant %d, %s by %s, %u us\n", C.variant,
                role == W ? "writer" : "reader",
                mode == 2 ? "attach" : "address", C.delay_us);
    memcpy(C.saved, S.b, S.seg_size);
    if (C.variant == 2) {
        /* Nobody touches the mappings while the object is empty. */
        FUZZ_CHECK(ftruncate(S.seg->fd, 0) == 0);
    } else {
        if (C.variant == 1)
            __atomic_store_n((uint64_t *)(void *)S.b, 0, __ATOMIC_RELAXED);
        __atomic_store_n((uint32_t *)(void *)(S.b + 8), 0, __ATOMIC_RELEASE);
    }
    C.start_ns = now_ns();
    C.done_ns = 0;
    worker_start(creator_main);
    open_role(role, mode, 1);
    worker_join();
    FUZZ_CHECK(memcmp(C.saved, S.b, FZ_HEADER) == 0 || HANDLE(role));
}

/* Calls with arguments shmlink.h rejects; none changes the channel. */
static void op_badargs(input_t *in)
{
    unsigned which = get8(in);
    shmlink_channel *w = HANDLE(W), *r = HANDLE(R), *ch = NULL;
    shmlink_channel_info info;
    shmlink_segment *seg = NULL;
    const void *p;
    void *vp;
    size_t len, lens[2];
    int rc;
    switch (which % 20) {
    case 0:
        EXPECT(shmlink_channel_create(S.addr, 4096, 0600, SHMLINK_WRITER, NULL),
               -EINVAL);
        EXPECT(shmlink_channel_create(S.addr, 4096, 0600, (shmlink_role)3, &ch),
               -EINVAL);
        break;
    case 1:
        EXPECT(shmlink_channel_create(S.addr, 0, 0600, SHMLINK_READER, &ch),
               -EINVAL);
        EXPECT(shmlink_channel_create(S.addr, ((size_t)1 << 30) + 1, 0600,
                                      SHMLINK_READER, &ch),
               -EINVAL);
        break;
    case 2: /* the address is taken (System V: an id cannot be created) */
        rc = shmlink_channel_create(S.addr, 4096, 0600, SHMLINK_WRITER, &ch);
        EXPECT(rc, S.sysv ? -EINVAL : S.removed ? 0 : -EEXIST);
        if (rc == 0) { /* the name was free again: remove what was made */
            FUZZ_CHECK(shmlink_remove(S.addr) == 0);
            shmlink_channel_close(ch);
        }
        break;
    case 3:
        EXPECT(shmlink_channel_open_flags(S.addr, SHMLINK_READER, 0, NULL),
               -EINVAL);
        EXPECT(shmlink_channel_open_flags(S.addr, (shmlink_role)0, 0, &ch),
               -EINVAL);
        EXPECT(shmlink_channel_open_flags(S.addr, SHMLINK_READER, 2, &ch),
               -EINVAL);
        break;
    case 4:
        EXPECT(shmlink_channel_open("posix:no-slash", SHMLINK_READER, &ch),
               -EINVAL);
        EXPECT(shmlink_channel_open("sysv:private", SHMLINK_READER, &ch),
               -EINVAL);
        EXPECT(shmlink_channel_open("posix:/shmlink-fuzz-never-made",
                                    SHMLINK_READER, &ch),
               -ENOENT);
        break;
    case 5:
        EXPECT(shmlink__channel_attach(NULL, SHMLINK_READER, &ch), -EINVAL);
        EXPECT(shmlink__channel_attach(S.seg, SHMLINK_READER, NULL), -EINVAL);
        EXPECT(shmlink__channel_attach(S.seg, (shmlink_role)7, &ch), -EINVAL);
        break;
    case 6: /* a read-only mapping cannot hold a role */
        if (S.removed)
            break;
        FUZZ_CHECK(shmlink_segment_open(S.addr, SHMLINK_RDONLY, &seg) == 0);
        EXPECT(shmlink__channel_attach(seg, SHMLINK_READER, &ch), -EINVAL);
        shmlink_segment_close(seg);
        break;
    case 7:
        shmlink__channel_set_spin(NULL, 5);
        shmlink__channel_set_spin(w, -5); /* 0: the next wait sleeps at once */
        FUZZ_CHECK(shmlink_channel_capacity(NULL) == 0);
        FUZZ_CHECK(shmlink_channel_max_message(NULL) == 0);
        FUZZ_CHECK(shmlink_channel_address(NULL) == NULL);
        FUZZ_CHECK(shmlink_channel_role(NULL) == 0);
        FUZZ_CHECK(shmlink_channel_interrupts(NULL) == 0);
        FUZZ_CHECK(shmlink_channel_close(NULL) == 0);
        if (w)
            FUZZ_CHECK(shmlink_channel_role(w) == SHMLINK_WRITER &&
                       shmlink_channel_capacity(w) == S.cap &&
                       shmlink_channel_max_message(w) == S.max_msg &&
                       strcmp(shmlink_channel_address(w), S.addr) == 0);
        break;
    case 8:
        EXPECT(shmlink_channel_reserve(w, 1, NULL, 0), -EINVAL);
        EXPECT(shmlink_channel_reserve(NULL, 1, &vp, 0), -EINVAL);
        break;
    case 9:
        EXPECT(shmlink_channel_send(w, NULL, 1, 0), -EINVAL);
        EXPECT(shmlink_channel_commit(NULL, 0), -EINVAL);
        EXPECT(shmlink_channel_abort(NULL), -EINVAL);
        break;
    case 10:
        EXPECT(shmlink_channel_recv(r, NULL, 1, &len, 0), -EINVAL);
        EXPECT(shmlink_channel_recv(r, buf, 1, NULL, 0), -EINVAL);
        break;
    case 11:
        EXPECT(shmlink_channel_peek(r, NULL, &len, 0), -EINVAL);
        EXPECT(shmlink_channel_peek(r, &p, NULL, 0), -EINVAL);
        EXPECT(shmlink_channel_release(NULL), -EINVAL);
        break;
    case 12:
        EXPECT(shmlink_channel_recv_batch(r, buf, 1, NULL, 2, 0), -EINVAL);
        EXPECT(shmlink_channel_recv_batch(r, NULL, 1, lens, 2, 0), -EINVAL);
        break;
    case 13:
        EXPECT(shmlink_channel_inspect(NULL, 4096, &info), -EINVAL);
        EXPECT(shmlink_channel_inspect(buf, sizeof buf, NULL), -EINVAL);
        EXPECT(shmlink_channel_inspect(buf, 100, &info), -EPROTO);
        break;
    case 14:
        EXPECT(shmlink_channel_stat(S.addr, NULL), -EINVAL);
        EXPECT(shmlink_channel_stat("sysv:0", &info), -EINVAL);
        EXPECT(shmlink_channel_stat("sysv:private", &info), -EINVAL);
        EXPECT(shmlink_channel_stat("/shmlink-fuzz-never-made", &info),
               -ENOENT);
        break;
    case 15:
        EXPECT(shmlink_channel_info_get(NULL, &info), -EINVAL);
        EXPECT(shmlink_channel_info_get(w ? w : r, NULL), -EINVAL);
        EXPECT(shmlink_channel_wait(NULL, 0, 0, 0), -EINVAL);
        EXPECT(shmlink_channel_interrupt(NULL), -EINVAL);
        break;
    case 16: { /* an empty POSIX object is not a channel (yet): stat says so */
        char name[96];
        snprintf(name, sizeof name, "/shmlink-fuzz-empty-%ld", (long)getpid());
        int fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
        FUZZ_CHECK(fd >= 0);
        char a[128];
        snprintf(a, sizeof a, "posix:%s", name);
        rc = shmlink_channel_stat(a, &info);
        FUZZ_CHECK(shm_unlink(name) == 0);
        close(fd);
        EXPECT(rc, -EPROTO);
        break;
    }
    default:
        EXPECT(shmlink_channel_recv_batch(r, buf, sizeof buf, lens, 0, 0),
               -EINVAL);
        EXPECT(shmlink_channel_recv_batch(NULL, buf, sizeof buf, lens, 1, 0),
               -EINVAL);
        break;
    }
}

/* A peer that may write the channel may also remove its System V
 * semaphore set: the locks cannot be tested or taken any more (a holder
 * then counts as alive, PROTOCOL.md 6.1), and nothing may crash. */
static void op_rmset(void)
{
    if (!S.sysv || S.semid < 0)
        return;
    fz_semset_remove(S.semid);
    S.corrupted = 1;
}

/* Present in a coverage build (-fprofile-instr-generate): a child that
 * ends with _exit writes its counts with it. */
extern int __llvm_profile_write_file(void) __attribute__((weak));

/* A forked child may use neither handle (-ECHILD) and its close only
 * unmaps: the roles stay with this process (PROTOCOL.md 6.7). Once per
 * input, and only with the argument 0xff: a fork of this process costs
 * some milliseconds, so few mutations should make one. */
static void op_fork(input_t *in)
{
    if (get8(in) != 0xff || S.forked)
        return;
    S.forked = 1;
    shmlink_channel *w = HANDLE(W), *r = HANDLE(R);
    fflush(stderr);
    pid_t pid = fork();
    FUZZ_CHECK(pid >= 0);
    if (pid == 0) {
        uint8_t b[8] = {0};
        size_t n;
        shmlink_channel_info info;
        int bad = 0;
        if (w &&
            shmlink_channel_send(w, b, 1, 0) != (S.resv ? -EINVAL : -ECHILD))
            bad |= 1;
        if (w && shmlink_channel_info_get(w, &info) != -ECHILD)
            bad |= 2;
        if (r && shmlink_channel_recv(r, b, sizeof b, &n, 0) != -ECHILD)
            bad |= 4;
        if (r && shmlink_channel_wait(r, 0, 0, shmlink_channel_interrupts(r)) !=
                     -ECHILD)
            bad |= 8;
        if (r && shmlink_channel_interrupt(r) != 0)
            bad |= 16;
        if (shmlink_channel_close(w) != 0 || shmlink_channel_close(r) != 0)
            bad |= 32;
        if (__llvm_profile_write_file) /* a coverage build: the child's part */
            (void)__llvm_profile_write_file();
        _exit(bad);
    }
    int status;
    pid_t got;
    do /* libFuzzer's alarm may interrupt the wait */
        got = waitpid(pid, &status, 0);
    while (got == -1 && errno == EINTR);
    FUZZ_CHECK(got == pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "fuzz_script: forked child: status 0x%x\n", status);
        abort();
    }
    /* Nothing changed: the roles are still held here. */
    if (!S.removed && !S.truncated)
        op_stat();
}

static void run_op(unsigned opcode, input_t *in)
{
    unsigned op = (opcode & 31) % OP_COUNT;
    int misuse = (opcode & 0x80) != 0;
    shmlink_channel *wr = HANDLE(misuse ? R : W), *rd = HANDLE(misuse ? W : R);
    if (trace)
        fprintf(stderr, "%s%s%s%s (wp %llu rp %llu queued %u)\n", op_names[op],
                misuse ? " misuse" : "", opcode & 0x20 ? " short" : "",
                opcode & 0x40 ? " spin" : "", (unsigned long long)S.wp,
                (unsigned long long)S.rp, S.count);
    switch (op) {
    case OP_SEND: op_send(opcode, in, wr); break;
    case OP_RESERVE: op_reserve(opcode, in, wr); break;
    case OP_COMMIT: op_commit(in, wr); break;
    case OP_ABORT: op_abort(wr); break;
    case OP_RECV: op_recv(opcode, in, rd); break;
    case OP_PEEK: op_peek(opcode, rd); break;
    case OP_RELEASE: op_release(rd); break;
    case OP_BATCH: op_batch(opcode, in, rd); break;
    case OP_WAIT_R: op_wait(opcode, in, R); break;
    case OP_WAIT_W: op_wait(opcode, in, W); break;
    case OP_INTERRUPT: {
        shmlink_channel *ch = HANDLE(misuse ? R : W);
        EXPECT(shmlink_channel_interrupt(ch), ch ? 0 : -EINVAL);
        break;
    }
    case OP_CLOSE_W: close_role(W); break;
    case OP_CLOSE_R: close_role(R); break;
    case OP_OPEN_W: open_role(W, get8(in), 0); break;
    case OP_OPEN_R: open_role(R, get8(in), 0); break;
    case OP_POKE: op_poke(in); break;
    case OP_NUDGE: op_nudge(in); break;
    case OP_RECORD: op_record(in); break;
    case OP_INFO: op_info(HANDLE(misuse ? R : W)); break;
    case OP_STAT: op_stat(); break;
    case OP_TRUNCATE: op_truncate(in); break;
    case OP_REMOVE: op_remove(); break;
    case OP_THREAD: op_thread(in); break;
    case OP_OWNER: op_owner(); break;
    case OP_CREATOR: op_creator(in); break;
    case OP_BADARGS: op_badargs(in); break;
    case OP_FORK: op_fork(in); break;
    default: op_rmset(); break;
    }
}

/* ------------------------------------------------------------------------ */
/* One input                                                                 */
/* ------------------------------------------------------------------------ */

static void setup(unsigned flags)
{
    static int once;
    if (!once) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal; /* no SA_RESTART: a futex wait ends */
        sigemptyset(&sa.sa_mask);
        FUZZ_CHECK(sigaction(SIGRTMIN + 2, &sa, NULL) == 0);
        once = 1;
    }
    memset(&S, 0, sizeof S);
    memset(&H, 0, sizeof H);
    S.semid = -1;
    S.sysv = flags & 1;
    S.cap = flags & 4 ? 8192 : 4096;
    S.max_msg = S.cap / 2 - 8;
    S.seg_size = FZ_HEADER + S.cap;
    int creator = flags & 2 ? R : W;
    char addr[SHMLINK_ADDRESS_MAX];
    fz_address(addr, sizeof addr, "script", S.sysv);
    shmlink_channel *ch;
    int rc = shmlink_channel_create(
        addr, S.cap, 0600, creator == W ? SHMLINK_WRITER : SHMLINK_READER, &ch);
    if (rc < 0) {
        fprintf(stderr, "fuzz_script: create %s: %s\n", addr,
                shmlink_strerror(rc));
        abort();
    }
    snprintf(S.addr, sizeof S.addr, "%s", shmlink_channel_address(ch));
    HANDLE(creator) = ch;
    rc = shmlink_segment_open(S.addr, 0, &S.seg);
    FUZZ_CHECK(rc == 0 && shmlink_segment_size(S.seg) == S.seg_size);
    S.b = shmlink_segment_data(S.seg);
    /* The set's id, right away: corruption may change the header's. */
    if (S.sysv)
        S.semid = (int)fz_get32(S.b, FZ_LOCK_ID);
    if (flags & 8)
        open_role(1 - creator, flags & 16 ? 2 : 0, 0);
}

static void teardown(void)
{
    shmlink_channel_close(HANDLE(W));
    shmlink_channel_close(HANDLE(R));
    HANDLE(W) = HANDLE(R) = NULL;
    if (!S.removed) {
        /* The lock fields back as made, so that the core's remove looks at
         * this input's set only (a corrupt lock_id may name any set). */
        if (S.sysv) {
            fz_put32(S.b, FZ_LOCK_KIND, 2);
            fz_put32(S.b, FZ_LOCK_ID, (uint32_t)S.semid);
        }
        FUZZ_CHECK(shmlink_segment_remove(S.seg) == 0);
    }
    shmlink_segment_close(S.seg);
    S.seg = NULL;
    /* Removed by the core when its checks passed and no role was held;
     * left behind when the header was corrupted (PROTOCOL.md 6.3). */
    fz_semset_remove(S.semid);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    trace = getenv("SHMLINK_FUZZ_TRACE") != NULL;
    setup(data[0]);
    input_t in = {data + 1, size - 1};
    for (int i = 0; i < MAX_OPS && in.n > 0; i++)
        run_op(get8(&in), &in);
    teardown();
    return 0;
}
