#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

/*
 * The message channel: a single-writer, single-reader ring of variable-length
 * records in one shared segment. docs/PROTOCOL.md is the specification; the
 * section numbers in comments below refer to it.
 */

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <time.h>
#include <unistd.h>

#include "shmlink.h"
#include "atomics.h"
#include "channel_internal.h"
#include "guard.h"
#include "lock.h"
#include "proc.h"
#include "wait.h"

/* ------------------------------------------------------------------------ */
/* Layout (section 1)                                                        */
/* ------------------------------------------------------------------------ */

#define CHAN_HEADER_SIZE 512u
#define CHAN_VERSION_1   1u /* roles by owner words and /proc (section 6.5) */
#define CHAN_VERSION_2   2u /* roles by kernel locks (section 6) */
#define CHAN_VERSION     CHAN_VERSION_2 /* what create writes */
/* Feature bits of flags a version-2 implementation knows (none yet): any
 * other bit makes open fail with -EPROTO (section 9). */
#define CHAN_KNOWN_FLAGS  0u
#define CHAN_MIN_CAPACITY 4096ull
#define CHAN_MAX_CAPACITY (1ull << 30)
#define CHAN_ALIGN        8u
#define CHAN_REC_HDR      8u
#define CHAN_KIND_MSG     0x3147534Du /* "MSG1" little-endian */
#define CHAN_KIND_PAD     0x31444150u /* "PAD1" little-endian */

static const char chan_magic[8] = {'S', 'H', 'M', 'L', 'C', 'H', 'A', 'N'};

enum {
    CHAN_OFF_MAGIC = 0,
    CHAN_OFF_VERSION = 8,
    CHAN_OFF_HEADER_SIZE = 12,
    CHAN_OFF_CAPACITY = 16,
    CHAN_OFF_MAX_MESSAGE = 24,
    CHAN_OFF_FLAGS = 32,
    CHAN_OFF_RECORD_ALIGN = 36,
    CHAN_OFF_WRITE_POS = 128,
    CHAN_OFF_SENT = 136,
    CHAN_OFF_CLOSED = 144,
    CHAN_OFF_READ_POS = 256,
    CHAN_OFF_RECEIVED = 264,
    CHAN_OFF_READER_GONE = 272,
    CHAN_OFF_WRITER_OWNER = 384,
    CHAN_OFF_READER_OWNER = 392,
    CHAN_OFF_READER_SLEEP = 400,
    CHAN_OFF_WRITER_SLEEP = 404,
    CHAN_OFF_LOCK_KIND = 408,
    CHAN_OFF_LOCK_ID = 412
};

/* Role slots of the lock set (section 6). */
#define CHAN_SLOT(role) ((role) == SHMLINK_WRITER ? 0 : 1)

#define CHAN_F32(base, off) ((uint32_t *)(void *)((uint8_t *)(base) + (off)))
#define CHAN_F64(base, off) ((uint64_t *)(void *)((uint8_t *)(base) + (off)))
#define CHAN_CF32(base, off)                                                   \
    ((const uint32_t *)(const void *)((const uint8_t *)(base) + (off)))
#define CHAN_CF64(base, off)                                                   \
    ((const uint64_t *)(const void *)((const uint8_t *)(base) + (off)))

/* How long a waiting side trusts a peer it found alive before it tests
 * again (section 6). */
#define CHAN_LIVENESS_NS 100000000ull
/* How long an opener waits for a creator to store the version (section 2). */
#define CHAN_INIT_WAIT_NS 1000000000ull

static inline uint64_t chan_align8(uint64_t n)
{
    return (n + (CHAN_ALIGN - 1)) & ~(uint64_t)(CHAN_ALIGN - 1);
}

/* ------------------------------------------------------------------------ */
/* Handle                                                                    */
/* ------------------------------------------------------------------------ */

struct shmlink_channel {
    shmlink_segment *seg;
    int owns_seg;  /* close seg with the handle (not for attach) */
    uint8_t *base; /* header */
    uint8_t *ring; /* base + 512 */
    uint64_t cap;  /* private copies, never re-read (section 2) */
    uint64_t mask;
    uint64_t max_msg;
    uint32_t version; /* CHAN_VERSION_1 or CHAN_VERSION_2 */
    shmlink_role role;
    uint64_t owner; /* our owner word */
    int64_t spin_ns;
    int broken;             /* the segment was truncated under us */
    shmlink__guard *guard;  /* POSIX: the truncation guard of the mapping */
    unsigned long fork_gen; /* shmlink__fork_generation at open */
    shmlink__lockset locks; /* version 2: the role locks */
    uint64_t interrupts;    /* shmlink_channel_interrupt count (atomic) */

    /* writer */
    uint64_t wp;       /* private write position (the truth) */
    uint64_t rp_cache; /* last read_pos seen */
    int resv_active;
    uint64_t resv_pad; /* padding bytes before the reserved record */
    uint64_t resv_len; /* bytes reserved */

    /* reader */
    uint64_t rp;       /* private read position (the truth) */
    uint64_t wp_cache; /* last write_pos seen */
    int peek_active;
    uint64_t peek_end; /* position after the peeked record */

    /* peer liveness cache: a peer found alive is trusted this long */
    uint64_t peer_owner; /* owner word last checked */
    uint64_t peer_checked_ns;
};

/* The handle is usable: made in this process (not inherited through fork)
 * and its mapping not truncated away. -ECHILD / -EPROTO otherwise. */
static inline int chan_usable(const shmlink_channel *ch)
{
    if (__builtin_expect(ch->fork_gen != shmlink__fork_generation, 0))
        return -ECHILD;
    if (__builtin_expect(ch->broken, 0))
        return -EPROTO;
    return 0;
}

/* After touching shared memory: -EPROTO (for good) if the mapping was
 * found truncated meanwhile (the accesses read private zero pages). */
static inline int chan_after(shmlink_channel *ch, int rc)
{
    if (__builtin_expect(shmlink__guard_hit(ch->guard), 0)) {
        ch->broken = 1;
        return -EPROTO;
    }
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Header checks (section 2)                                                 */
/* ------------------------------------------------------------------------ */

/* 1 while the magic is either all zeros or complete (a creator may still be
 * writing the header), 0 once it is anything else (not a channel). */
static int chan_header_pending(const uint8_t *mem)
{
    static const uint8_t zeros[sizeof(chan_magic)];
    uint8_t magic[sizeof(chan_magic)];
    memcpy(magic, mem + CHAN_OFF_MAGIC, sizeof(magic));
    return memcmp(magic, zeros, sizeof(magic)) == 0 ||
           memcmp(magic, chan_magic, sizeof(magic)) == 0;
}

/* Checks the identity fields of a channel header of size bytes. until: a
 * CLOCK_MONOTONIC time (ns) up to which a version still 0 (creator
 * initialising) is polled, 0 for no waiting. Sets *cap and *version.
 * Returns 0 or -EPROTO. */
static int chan_check_header(const uint8_t *mem, size_t size, uint64_t until,
                             uint64_t *cap_out, uint32_t *version_out)
{
    if (size < CHAN_HEADER_SIZE)
        return -EPROTO;
    /* A creator writes magic and the other fields, then the version. Until
     * the version is stored the header reads either all zeros (the segment
     * was just made) or the magic with version 0: an opener that may wait
     * polls both until its deadline (section 2). */
    uint32_t version = shm_load_acquire32(CHAN_CF32(mem, CHAN_OFF_VERSION));
    while (version == 0 && chan_header_pending(mem) &&
           shmlink__now_ns() < until) {
        struct timespec ts = {0, 1000000}; /* 1 ms */
        nanosleep(&ts, NULL);
        version = shm_load_acquire32(CHAN_CF32(mem, CHAN_OFF_VERSION));
    }
    if (memcmp(mem + CHAN_OFF_MAGIC, chan_magic, sizeof(chan_magic)) != 0)
        return -EPROTO;
    if (version != CHAN_VERSION_1 && version != CHAN_VERSION_2)
        return -EPROTO;
    uint32_t flags = shm_load_relaxed32(CHAN_CF32(mem, CHAN_OFF_FLAGS));
    if (shm_load_relaxed32(CHAN_CF32(mem, CHAN_OFF_HEADER_SIZE)) !=
            CHAN_HEADER_SIZE ||
        shm_load_relaxed32(CHAN_CF32(mem, CHAN_OFF_RECORD_ALIGN)) !=
            CHAN_ALIGN ||
        (version == CHAN_VERSION_1 ? flags != 0
                                   : (flags & ~CHAN_KNOWN_FLAGS) != 0))
        return -EPROTO;
    uint64_t cap = shm_load_relaxed64(CHAN_CF64(mem, CHAN_OFF_CAPACITY));
    if (cap < CHAN_MIN_CAPACITY || cap > CHAN_MAX_CAPACITY ||
        (cap & (cap - 1)) != 0)
        return -EPROTO;
    if ((uint64_t)size - CHAN_HEADER_SIZE < cap)
        return -EPROTO;
    if (shm_load_relaxed64(CHAN_CF64(mem, CHAN_OFF_MAX_MESSAGE)) !=
        cap / 2 - CHAN_REC_HDR)
        return -EPROTO;
    *cap_out = cap;
    *version_out = version;
    return 0;
}

/* rp <= wp <= rp + cap, both multiples of 8 (section 7). */
static inline int chan_positions_ok(uint64_t rp, uint64_t wp, uint64_t cap)
{
    return ((rp | wp) & (CHAN_ALIGN - 1)) == 0 && wp >= rp && wp - rp <= cap;
}

/* ------------------------------------------------------------------------ */
/* Waking and liveness (sections 5, 6)                                       */
/* ------------------------------------------------------------------------ */

/* Wakes the side sleeping on word, if it announced itself. Called after a
 * seq_cst store of the condition it waits for. */
static inline void chan_wake(uint32_t *word)
{
    if (shm_load_seq_cst32(word) == 1 && shm_exchange32(word, 0) == 1)
        (void)shmlink__futex_wake(word, 1);
}

/* Does a live process hold the peer's role (section 6)? o: the peer's
 * owner word as just loaded. Version 2 asks the kernel whether the peer's
 * role lock is held; version 1 reads /proc (section 6.5). A peer found
 * alive is trusted for 100 ms for the same owner word, so a waiting side
 * makes at most one such system call per 100 ms; "not alive" is never
 * cached (it ends the wait). If the lock cannot be tested the peer counts
 * as alive: never call a living process dead. */
static int chan_peer_alive(shmlink_channel *ch, uint64_t o)
{
    uint64_t now = shmlink__now_ns();
    if (o == ch->peer_owner && ch->peer_checked_ns != 0 &&
        now - ch->peer_checked_ns < CHAN_LIVENESS_NS)
        return 1;
    int alive;
    if (ch->version == CHAN_VERSION_2) {
        int held = shmlink__lock_held(
            &ch->locks, CHAN_SLOT(ch->role == SHMLINK_WRITER ? SHMLINK_READER
                                                             : SHMLINK_WRITER));
        alive = held != 0;
    } else {
        alive = shmlink__proc_owner_alive(o);
    }
    ch->peer_owner = o;
    ch->peer_checked_ns = alive ? now : 0;
    return alive;
}

/* ------------------------------------------------------------------------ */
/* Reader side: finding the next record (sections 3, 4, 7)                   */
/* ------------------------------------------------------------------------ */

/* Re-loads write_pos into wp_cache after validating it. Returns 0 or
 * -EPROTO. */
static inline int chan_reload_wp(shmlink_channel *ch)
{
    uint64_t wp = shm_load_seq_cst64(CHAN_F64(ch->base, CHAN_OFF_WRITE_POS));
    if (!chan_positions_ok(ch->rp, wp, ch->cap))
        return -EPROTO;
    ch->wp_cache = wp;
    return 0;
}

/* Looks for a complete message record at position pos (>= ch->rp),
 * skipping one padding record. Returns 1 with *rec (position of the MSG1
 * header) and *len set, 0 if nothing is committed there yet, -EPROTO. */
static int chan_next_record(shmlink_channel *ch, uint64_t pos, uint64_t *rec,
                            uint32_t *len)
{
    if (pos == ch->wp_cache) {
        int rc = chan_reload_wp(ch);
        if (rc < 0)
            return rc;
        if (pos == ch->wp_cache)
            return 0;
    }
    for (int pads = 0; pads < 2; pads++) {
        if (pos + CHAN_REC_HDR > ch->wp_cache)
            return -EPROTO;
        uint64_t off = pos & ch->mask;
        uint32_t hdr[2];
        memcpy(hdr, ch->ring + off, sizeof(hdr));
        if (hdr[1] == CHAN_KIND_MSG) {
            uint64_t n = hdr[0];
            if (n > ch->max_msg || off + CHAN_REC_HDR + n > ch->cap ||
                pos + CHAN_REC_HDR + chan_align8(n) > ch->wp_cache)
                return -EPROTO;
            *rec = pos;
            *len = hdr[0];
            return 1;
        }
        if (hdr[1] != CHAN_KIND_PAD || pads > 0 || off == 0 ||
            (uint64_t)hdr[0] != ch->cap - off - CHAN_REC_HDR)
            return -EPROTO;
        /* A pad is published together with the message after it. */
        pos += CHAN_REC_HDR + hdr[0];
    }
    return -EPROTO;
}

/* Publishes the private read position and wakes a sleeping writer. */
static inline void chan_publish_rp(shmlink_channel *ch, uint64_t count)
{
    shm_store_seq_cst64(CHAN_F64(ch->base, CHAN_OFF_READ_POS), ch->rp);
    shm_bump64(CHAN_F64(ch->base, CHAN_OFF_RECEIVED), count);
    chan_wake(CHAN_F32(ch->base, CHAN_OFF_WRITER_SLEEP));
}

/* ------------------------------------------------------------------------ */
/* Waiting (section 5)                                                       */
/* ------------------------------------------------------------------------ */

/* The condition a side waits for: reader: a complete record at ch->rp
 * (sets *rec, *len); writer: need bytes of room. 1 true, 0 not yet,
 * -EPROTO. */
static int chan_cond(shmlink_channel *ch, uint64_t need, uint64_t *rec,
                     uint32_t *len)
{
    if (ch->role == SHMLINK_READER) {
        ch->wp_cache = ch->rp; /* force a reload */
        return chan_next_record(ch, ch->rp, rec, len);
    }
    uint64_t rp = shm_load_seq_cst64(CHAN_F64(ch->base, CHAN_OFF_READ_POS));
    if (!chan_positions_ok(rp, ch->wp, ch->cap))
        return -EPROTO;
    ch->rp_cache = rp;
    return ch->wp + need - rp <= ch->cap;
}

/* What the peer's state says while we cannot proceed (section 6): 0 keep
 * waiting, or -ENODATA / -EPIPE (after a last look at the condition, which
 * may return 1 = proceed after all, or -EPROTO). */
static int chan_peer_state(shmlink_channel *ch, uint64_t need, uint64_t *rec,
                           uint32_t *len)
{
    int verdict = 0;
    if (ch->role == SHMLINK_READER) {
        if (shm_load_seq_cst32(CHAN_F32(ch->base, CHAN_OFF_CLOSED)) != 0) {
            verdict = -ENODATA;
        } else {
            /* Owner word 0: no writer yet (or one that is still claiming). */
            uint64_t o =
                shm_load_seq_cst64(CHAN_F64(ch->base, CHAN_OFF_WRITER_OWNER));
            if (o != 0 && !chan_peer_alive(ch, o))
                verdict = -EPIPE;
        }
    } else {
        uint64_t o =
            shm_load_seq_cst64(CHAN_F64(ch->base, CHAN_OFF_READER_OWNER));
        if (o == 0) {
            /* No reader yet, or one that left with close. In version 2 a
             * reader that holds its lock but has not stored its owner word
             * yet is alive: ask the lock before believing reader_gone. */
            if (shm_load_seq_cst32(CHAN_F32(ch->base, CHAN_OFF_READER_GONE)) !=
                    0 &&
                (ch->version == CHAN_VERSION_1 || !chan_peer_alive(ch, o)))
                verdict = -EPIPE;
        } else if (!chan_peer_alive(ch, o)) {
            verdict = -EPIPE;
        }
    }
    if (verdict == 0)
        return 0;
    /* The peer's last position store came before its close or death:
     * deliver (or use) whatever it left first. */
    int c = chan_cond(ch, need, rec, len);
    return c != 0 ? c : verdict;
}

/* Waits until chan_cond holds. since: the interrupt count when the call
 * began. Returns 1 (condition holds), -ETIMEDOUT, -EINTR, -ECANCELED,
 * -ENODATA, -EPIPE, -EPROTO. */
static int chan_wait(shmlink_channel *ch, uint64_t need, int64_t timeout_ns,
                     uint64_t since, uint64_t *rec, uint32_t *len)
{
    int c = chan_cond(ch, need, rec, len);
    if (c != 0)
        return c;

    uint32_t *peer_flag = ch->role == SHMLINK_READER
                              ? CHAN_F32(ch->base, CHAN_OFF_CLOSED)
                              : CHAN_F32(ch->base, CHAN_OFF_READER_GONE);
    uint64_t start = 0, deadline = UINT64_MAX;
    if (timeout_ns != 0) {
        start = shmlink__now_ns();
        if (timeout_ns > 0)
            deadline = start + (uint64_t)timeout_ns;
    }

    /* Spin briefly: a busy peer answers within microseconds, no syscall. */
    if (timeout_ns != 0 && ch->spin_ns > 0) {
        uint64_t spin_end = start + (uint64_t)ch->spin_ns;
        if (spin_end > deadline)
            spin_end = deadline;
        do {
            for (int i = 0; i < 32; i++) {
                shm_cpu_relax();
                c = chan_cond(ch, need, rec, len);
                if (c != 0)
                    return c;
            }
            if (__atomic_load_n(&ch->interrupts, __ATOMIC_SEQ_CST) != since)
                return -ECANCELED;
        } while (shmlink__now_ns() < spin_end);
    }

    uint32_t *my_sleep =
        CHAN_F32(ch->base, ch->role == SHMLINK_READER ? CHAN_OFF_READER_SLEEP
                                                      : CHAN_OFF_WRITER_SLEEP);
    for (;;) {
        if (shmlink__guard_hit(ch->guard))
            return -EPROTO; /* truncated: the header we wait on is gone */
        c = chan_peer_state(ch, need, rec, len);
        if (c != 0)
            return c;
        if (__atomic_load_n(&ch->interrupts, __ATOMIC_SEQ_CST) != since)
            return -ECANCELED;
        if (timeout_ns == 0)
            return -ETIMEDOUT;
        uint64_t now = shmlink__now_ns();
        if (now >= deadline)
            return -ETIMEDOUT;
        uint64_t slice = deadline - now;
        if (slice > (uint64_t)SHMLINK__WAIT_SLICE_NS)
            slice = (uint64_t)SHMLINK__WAIT_SLICE_NS;

        /* Announce, re-check, sleep (section 5). The interrupt count is
         * re-read after the announcement: shmlink_channel_interrupt bumps
         * it and then looks at the flag, so one of the two sees the other. */
        shm_store_seq_cst32(my_sleep, 1);
        c = chan_cond(ch, need, rec, len);
        if (c == 0 && shm_load_seq_cst32(peer_flag) != 0)
            c = chan_peer_state(ch, need, rec, len);
        if (c == 0 &&
            __atomic_load_n(&ch->interrupts, __ATOMIC_SEQ_CST) != since)
            c = -ECANCELED;
        if (c != 0) {
            shm_store_seq_cst32(my_sleep, 0);
            return c;
        }
        /* Here the peer's flag may be set while the peer state still says
         * "keep waiting" (a reader that set reader_gone but still holds its
         * role, or a corrupt flag): sleep like any other wait, bounded. */
        int rc = shmlink__futex_wait(my_sleep, 1, (int64_t)slice);
        shm_store_seq_cst32(my_sleep, 0);
        if (rc == -EINTR)
            return -EINTR;
        if (rc == -EFAULT)
            return -EPROTO; /* the word's page is gone (truncated) */
        if (rc < 0 && rc != -ETIMEDOUT)
            return rc;
        c = chan_cond(ch, need, rec, len);
        if (c != 0)
            return c;
    }
}

/* ------------------------------------------------------------------------ */
/* Open / create / close                                                     */
/* ------------------------------------------------------------------------ */

static uint64_t *chan_owner_word(const shmlink_channel *ch, shmlink_role role)
{
    return CHAN_F64(ch->base, role == SHMLINK_WRITER ? CHAN_OFF_WRITER_OWNER
                                                     : CHAN_OFF_READER_OWNER);
}

/* Takes the handle's role (section 6). Version 2: the role lock, which
 * the kernel gives to one live process at a time. Version 1: the owner
 * word by CAS, taking over a holder /proc calls dead. Returns 0 or -EBUSY
 * (or -errno of the lock). */
static int chan_claim(shmlink_channel *ch)
{
    if (ch->version == CHAN_VERSION_2)
        return shmlink__lock_take(&ch->locks, CHAN_SLOT(ch->role));
    uint64_t *w = chan_owner_word(ch, ch->role);
    for (;;) {
        uint64_t o = shm_load_seq_cst64(w);
        if (o != 0 && shmlink__proc_owner_alive(o))
            return -EBUSY;
        if (shm_cas64(w, &o, ch->owner))
            return 0;
    }
}

/* Gives the role up: clears our owner word (only if it is still ours),
 * then, in version 2, releases the lock. */
static void chan_unclaim(shmlink_channel *ch)
{
    uint64_t expected = ch->owner;
    (void)shm_cas64(chan_owner_word(ch, ch->role), &expected, 0);
    if (ch->version == CHAN_VERSION_2)
        shmlink__lock_give(&ch->locks, CHAN_SLOT(ch->role));
}

/* After the role is ours: check and load positions (check 7 of section 2
 * runs here, after the claim, because only now can no one else move our
 * side's position), record our owner word (version 2), reset our side's
 * end flag and wake the peer. */
static int chan_start_role(shmlink_channel *ch)
{
    uint64_t rp = shm_load_seq_cst64(CHAN_F64(ch->base, CHAN_OFF_READ_POS));
    uint64_t wp = shm_load_seq_cst64(CHAN_F64(ch->base, CHAN_OFF_WRITE_POS));
    if (!chan_positions_ok(rp, wp, ch->cap))
        return -EPROTO;
    ch->rp = ch->rp_cache = rp;
    ch->wp = ch->wp_cache = wp;
    if (ch->version == CHAN_VERSION_2)
        shm_store_seq_cst64(chan_owner_word(ch, ch->role), ch->owner);
    if (ch->role == SHMLINK_WRITER) {
        shm_store_seq_cst32(CHAN_F32(ch->base, CHAN_OFF_CLOSED), 0);
        chan_wake(CHAN_F32(ch->base, CHAN_OFF_READER_SLEEP));
    } else {
        shm_store_seq_cst32(CHAN_F32(ch->base, CHAN_OFF_READER_GONE), 0);
        chan_wake(CHAN_F32(ch->base, CHAN_OFF_WRITER_SLEEP));
    }
    return 0;
}

/* Our owner word: pid | (start time mod 2^32) << 32 (section 6). Version 2
 * only needs it to be non-zero, so without /proc the pid alone serves. */
static uint64_t chan_self_owner(uint32_t version)
{
    uint64_t o = shmlink__proc_self_owner();
    if (o == 0 && version == CHAN_VERSION_2)
        o = (uint64_t)(uint32_t)getpid();
    return o;
}

static shmlink_channel *chan_new(shmlink_segment *seg, uint64_t cap,
                                 uint32_t version, shmlink_role role,
                                 uint64_t owner)
{
    shmlink_channel *ch = calloc(1, sizeof(*ch));
    if (!ch)
        return NULL;
    ch->seg = seg;
    ch->base = shmlink_segment_data(seg);
    ch->ring = ch->base + CHAN_HEADER_SIZE;
    ch->cap = cap;
    ch->mask = cap - 1;
    ch->max_msg = cap / 2 - CHAN_REC_HDR;
    ch->version = version;
    ch->role = role;
    ch->owner = owner;
    ch->spin_ns = shmlink__spin_ns();
    ch->owns_seg = 1;
    ch->fork_gen = shmlink__fork_gen();
    ch->locks.fd = ch->locks.probe_fd = ch->locks.semid = -1;
    return ch;
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

/* Maps every page of the segment now, writable, so that the first pass of
 * the ring costs no page fault per page (each is a ~1 us stall that shows
 * in the latency tail). Best effort: older kernels refuse the advice. */
static void chan_populate(const shmlink_channel *ch)
{
    if (!shmlink_segment_readonly(ch->seg))
        (void)madvise(ch->seg->data, ch->seg->size, MADV_POPULATE_WRITE);
}

/* Frees a handle that holds no role: locks, guard, segment (if ours). */
static void chan_free(shmlink_channel *ch)
{
    shmlink__lock_close(&ch->locks);
    shmlink__guard_remove(ch->guard);
    if (ch->owns_seg)
        shmlink_segment_close(ch->seg);
    free(ch);
}

/* A System V segment may go away with its lock set: called by the last
 * user, it removes the set once the segment is marked for destruction and
 * no role is held (section 6.3). */
static void chan_sysv_collect(shmlink_channel *ch)
{
    if (ch->version != CHAN_VERSION_2 || ch->locks.kind != SHMLINK__LOCK_SEM)
        return;
    struct shmid_ds ds;
    if (shmctl(ch->seg->shmid, IPC_STAT, &ds) == -1 ||
        !(ds.shm_perm.mode & SHM_DEST))
        return;
    (void)shmlink__lock_remove_set(ch->locks.semid, ch->seg->shmid,
                                   (uint32_t)ds.shm_perm.cuid);
}

SHMLINK_EXTERN int shmlink_channel_create(const char *address, size_t capacity,
                                          unsigned mode, shmlink_role role,
                                          shmlink_channel **out)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (role != SHMLINK_WRITER && role != SHMLINK_READER)
        return -EINVAL;
    if (capacity == 0 || capacity > CHAN_MAX_CAPACITY)
        return -EINVAL;
    uint64_t cap = CHAN_MIN_CAPACITY;
    while (cap < capacity)
        cap <<= 1;
    uint64_t owner = chan_self_owner(CHAN_VERSION);

    shmlink_segment *seg;
    int rc = shmlink_segment_create(address, (size_t)(CHAN_HEADER_SIZE + cap),
                                    mode, &seg);
    if (rc < 0)
        return rc;
    shmlink_channel *ch = chan_new(seg, cap, CHAN_VERSION, role, owner);
    if (!ch) {
        (void)shmlink_segment_remove(seg);
        shmlink_segment_close(seg);
        return -ENOMEM;
    }
    uint32_t lock_id = 0;
    rc = shmlink__lock_create(&ch->locks, seg, mode, &lock_id);
    if (rc == 0)
        rc = shmlink__lock_take(&ch->locks, CHAN_SLOT(role));
    if (rc < 0) {
        shmlink__lock_discard(&ch->locks);
        (void)shmlink_segment_remove(seg);
        chan_free(ch);
        return rc;
    }
    if (seg->backend == SHMLINK_BACKEND_POSIX)
        ch->guard = shmlink__guard_add(seg->data, seg->size);
    chan_populate(ch);
    uint8_t *b = ch->base;
    /* The magic as one 64-bit store: an opener sees all of it or none. */
    uint64_t magic;
    memcpy(&magic, chan_magic, sizeof(magic));
    shm_store_relaxed64(CHAN_F64(b, CHAN_OFF_MAGIC), magic);
    shm_store_relaxed32(CHAN_F32(b, CHAN_OFF_HEADER_SIZE), CHAN_HEADER_SIZE);
    shm_store_relaxed64(CHAN_F64(b, CHAN_OFF_CAPACITY), cap);
    shm_store_relaxed64(CHAN_F64(b, CHAN_OFF_MAX_MESSAGE), ch->max_msg);
    shm_store_relaxed32(CHAN_F32(b, CHAN_OFF_FLAGS), 0);
    shm_store_relaxed32(CHAN_F32(b, CHAN_OFF_RECORD_ALIGN), CHAN_ALIGN);
    shm_store_relaxed32(CHAN_F32(b, CHAN_OFF_LOCK_KIND), ch->locks.kind);
    shm_store_relaxed32(CHAN_F32(b, CHAN_OFF_LOCK_ID), lock_id);
    shm_store_relaxed64(chan_owner_word(ch, role), owner);
    /* The "initialised" mark, last, with release ordering (section 2). */
    shm_store_release32(CHAN_F32(b, CHAN_OFF_VERSION), CHAN_VERSION);
    *out = ch;
    return 0;
}

/* Takes a role in the channel held by an open segment. owns: the handle
 * closes the segment when it is closed (or when this fails). until: the
 * open's deadline for a creator still initialising (section 2). */
static int chan_attach(shmlink_segment *seg, int owns, shmlink_role role,
                       uint64_t until, shmlink_channel **out)
{
    uint64_t cap = 0;
    uint32_t version = 0;
    int rc =
        chan_check_header(shmlink_segment_data(seg), shmlink_segment_size(seg),
                          until, &cap, &version);
    uint64_t owner = rc == 0 ? chan_self_owner(version) : 0;
    if (rc == 0 && owner == 0)
        rc = -ENOSYS; /* version 1 without /proc: liveness cannot work */
    shmlink_channel *ch = NULL;
    if (rc == 0) {
        ch = chan_new(seg, cap, version, role, owner);
        if (!ch)
            rc = -ENOMEM;
    }
    if (rc < 0) {
        if (owns)
            shmlink_segment_close(seg);
        return rc;
    }
    ch->owns_seg = owns;
    if (seg->backend == SHMLINK_BACKEND_POSIX)
        ch->guard = shmlink__guard_add(seg->data, seg->size);
    if (version == CHAN_VERSION_2) {
        uint32_t kind =
            shm_load_relaxed32(CHAN_F32(ch->base, CHAN_OFF_LOCK_KIND));
        uint32_t id = shm_load_relaxed32(CHAN_F32(ch->base, CHAN_OFF_LOCK_ID));
        rc = shmlink__lock_attach(&ch->locks, seg, kind, id, 0);
    }
    if (rc == 0)
        rc = chan_claim(ch);
    if (rc == 0) {
        rc = chan_start_role(ch);
        if (rc < 0)
            chan_unclaim(ch);
    }
    rc = chan_after(ch, rc);
    if (rc < 0) {
        chan_free(ch);
        return rc;
    }
    chan_populate(ch);
    *out = ch;
    return 0;
}

/* Open refuses a segment of another user (section 10): only the caller's
 * own (effective uid) and root's are trusted unless SHMLINK_ANY_OWNER. */
static int chan_check_owner(const shmlink_segment *seg, unsigned flags)
{
    if (flags & SHMLINK_ANY_OWNER)
        return 0;
    shmlink_stat st;
    int rc = shmlink_segment_stat(seg, &st);
    if (rc < 0)
        return rc;
    if (st.uid != 0 && st.uid != (uint32_t)geteuid())
        return -EPERM;
    return 0;
}

SHMLINK_EXTERN int shmlink_channel_open_flags(const char *address,
                                              shmlink_role role, unsigned flags,
                                              shmlink_channel **out)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    if ((role != SHMLINK_WRITER && role != SHMLINK_READER) ||
        (flags & ~SHMLINK_ANY_OWNER) != 0)
        return -EINVAL;
    shmlink_address addr;
    int rc = shmlink_address_parse(address, &addr);
    if (rc < 0)
        return rc;
    /* A POSIX creator makes the object empty and sizes it a moment later;
     * the segment layer refuses to map an empty object (-EINVAL). One
     * allowance of 1 s from here covers both that and the header (section
     * 2); then the empty object is what it is: not a channel. */
    shmlink_segment *seg;
    uint64_t until = shmlink__now_ns() + CHAN_INIT_WAIT_NS;
    for (;;) {
        rc = shmlink_segment_open(address, 0, &seg);
        if (rc != -EINVAL || addr.backend != SHMLINK_BACKEND_POSIX)
            break;
        if (shmlink__now_ns() >= until)
            return -EPROTO;
        struct timespec ts = {0, 1000000}; /* 1 ms */
        nanosleep(&ts, NULL);
    }
    if (rc < 0)
        return rc;
    rc = chan_check_owner(seg, flags);
    if (rc < 0) {
        shmlink_segment_close(seg);
        return rc;
    }
    return chan_attach(seg, 1, role, until, out);
}

SHMLINK_EXTERN int shmlink_channel_open(const char *address, shmlink_role role,
                                        shmlink_channel **out)
{
    return shmlink_channel_open_flags(address, role, 0, out);
}

int shmlink__channel_attach(shmlink_segment *seg, shmlink_role role,
                            shmlink_channel **out)
{
    if (!seg || !out || shmlink_segment_readonly(seg))
        return -EINVAL;
    *out = NULL;
    if (role != SHMLINK_WRITER && role != SHMLINK_READER)
        return -EINVAL;
    return chan_attach(seg, 0, role, shmlink__now_ns() + CHAN_INIT_WAIT_NS,
                       out);
}

void shmlink__channel_set_spin(shmlink_channel *ch, int64_t spin_ns)
{
    if (ch)
        ch->spin_ns = spin_ns < 0 ? 0 : spin_ns;
}

SHMLINK_EXTERN int shmlink_channel_close(shmlink_channel *ch)
{
    if (!ch)
        return 0;
    /* A handle inherited through fork leaves the role to the parent (the
     * child's lock descriptors were closed at the fork); a truncated one
     * has no header left to write to. */
    int holder =
        ch->version == CHAN_VERSION_2
            ? ch->locks.held[CHAN_SLOT(ch->role)]
            : shm_load_seq_cst64(chan_owner_word(ch, ch->role)) == ch->owner;
    if (chan_usable(ch) == 0 && holder) {
        /* Section 6.4: our end flag, then the owner word and the lock,
         * then the wake (so a peer woken finds the role free). Only the
         * holder marks its end: a version-1 handle whose role was taken
         * over (we were wrongly thought dead) leaves the header alone. */
        uint8_t *b = ch->base;
        int writer = ch->role == SHMLINK_WRITER;
        shm_store_seq_cst32(
            CHAN_F32(b, writer ? CHAN_OFF_CLOSED : CHAN_OFF_READER_GONE), 1);
        chan_unclaim(ch);
        chan_wake(CHAN_F32(b, writer ? CHAN_OFF_READER_SLEEP
                                     : CHAN_OFF_WRITER_SLEEP));
        (void)chan_after(ch, 0);
    }
    if (chan_usable(ch) == 0)
        chan_sysv_collect(ch);
    chan_free(ch);
    return 0;
}

SHMLINK_EXTERN size_t shmlink_channel_capacity(const shmlink_channel *ch)
{
    return ch ? (size_t)ch->cap : 0;
}

SHMLINK_EXTERN size_t shmlink_channel_max_message(const shmlink_channel *ch)
{
    return ch ? (size_t)ch->max_msg : 0;
}

SHMLINK_EXTERN const char *shmlink_channel_address(const shmlink_channel *ch)
{
    return ch ? shmlink_segment_address(ch->seg) : NULL;
}

SHMLINK_EXTERN shmlink_role shmlink_channel_role(const shmlink_channel *ch)
{
    return ch ? ch->role : (shmlink_role)0;
}

/* ------------------------------------------------------------------------ */
/* Writer                                                                    */
/* ------------------------------------------------------------------------ */

/* Room for a message of len bytes at the private write position: *pad
 * (padding before it, section 3) and the bytes needed in all. */
static inline uint64_t chan_need(const shmlink_channel *ch, size_t len,
                                 uint64_t *pad)
{
    uint64_t rec = CHAN_REC_HDR + chan_align8(len);
    uint64_t off = ch->wp & ch->mask;
    *pad = off + rec > ch->cap ? ch->cap - off : 0;
    return *pad + rec;
}

SHMLINK_EXTERN int shmlink_channel_reserve(shmlink_channel *ch, size_t len,
                                           void **ptr, int64_t timeout_ns)
{
    if (!ch || !ptr || ch->role != SHMLINK_WRITER || ch->resv_active)
        return -EINVAL;
    int rc = chan_usable(ch);
    if (rc < 0)
        return rc;
    if (len > ch->max_msg)
        return -EMSGSIZE;
    uint64_t pad;
    uint64_t need = chan_need(ch, len, &pad);
    if (ch->wp + need - ch->rp_cache > ch->cap) {
        uint64_t r;
        uint32_t l;
        uint64_t since = __atomic_load_n(&ch->interrupts, __ATOMIC_SEQ_CST);
        rc = chan_after(ch, chan_wait(ch, need, timeout_ns, since, &r, &l));
        if (rc < 0)
            return rc;
    }
    ch->resv_active = 1;
    ch->resv_pad = pad;
    ch->resv_len = len;
    *ptr = ch->ring + ((ch->wp + pad) & ch->mask) + CHAN_REC_HDR;
    return 0;
}

SHMLINK_EXTERN int shmlink_channel_commit(shmlink_channel *ch, size_t len)
{
    if (!ch || ch->role != SHMLINK_WRITER || !ch->resv_active ||
        len > ch->resv_len)
        return -EINVAL;
    int rc = chan_usable(ch);
    if (rc < 0)
        return rc;
    uint64_t pos = ch->wp;
    if (ch->resv_pad) {
        uint32_t hdr[2] = {(uint32_t)(ch->resv_pad - CHAN_REC_HDR),
                           CHAN_KIND_PAD};
        memcpy(ch->ring + (pos & ch->mask), hdr, sizeof(hdr));
        pos += ch->resv_pad;
    }
    uint32_t hdr[2] = {(uint32_t)len, CHAN_KIND_MSG};
    memcpy(ch->ring + (pos & ch->mask), hdr, sizeof(hdr));
    ch->wp = pos + CHAN_REC_HDR + chan_align8(len);
    ch->resv_active = 0;
    /* Publication (section 3): seq_cst so that the sleep flag load below
     * cannot be ordered before it (section 5). */
    shm_store_seq_cst64(CHAN_F64(ch->base, CHAN_OFF_WRITE_POS), ch->wp);
    shm_bump64(CHAN_F64(ch->base, CHAN_OFF_SENT), 1);
    chan_wake(CHAN_F32(ch->base, CHAN_OFF_READER_SLEEP));
    return chan_after(ch, 0);
}

SHMLINK_EXTERN int shmlink_channel_abort(shmlink_channel *ch)
{
    if (!ch || ch->role != SHMLINK_WRITER || !ch->resv_active)
        return -EINVAL;
    ch->resv_active = 0;
    return chan_usable(ch);
}

SHMLINK_EXTERN int shmlink_channel_send(shmlink_channel *ch, const void *data,
                                        size_t len, int64_t timeout_ns)
{
    if (!ch || (len > 0 && !data) || ch->role != SHMLINK_WRITER ||
        ch->resv_active)
        return -EINVAL;
    void *p;
    int rc = shmlink_channel_reserve(ch, len, &p, timeout_ns);
    if (rc < 0)
        return rc;
    if (len)
        memcpy(p, data, len);
    return shmlink_channel_commit(ch, len);
}

/* ------------------------------------------------------------------------ */
/* Reader                                                                    */
/* ------------------------------------------------------------------------ */

/* The next message at ch->rp, waiting for it. 0 with rec and len set, or an
 * error. */
static int chan_reader_get(shmlink_channel *ch, int64_t timeout_ns,
                           uint64_t *rec, uint32_t *len)
{
    int rc = chan_usable(ch);
    if (rc < 0)
        return rc;
    rc = chan_next_record(ch, ch->rp, rec, len);
    if (rc == 0) {
        uint64_t since = __atomic_load_n(&ch->interrupts, __ATOMIC_SEQ_CST);
        rc = chan_wait(ch, 0, timeout_ns, since, rec, len);
    }
    rc = chan_after(ch, rc);
    return rc < 0 ? rc : 0;
}

SHMLINK_EXTERN int shmlink_channel_recv(shmlink_channel *ch, void *buf,
                                        size_t cap, size_t *len,
                                        int64_t timeout_ns)
{
    if (!ch || !len || (cap > 0 && !buf) || ch->role != SHMLINK_READER)
        return -EINVAL;
    uint64_t rec;
    uint32_t n;
    int rc = chan_reader_get(ch, timeout_ns, &rec, &n);
    if (rc < 0)
        return rc;
    *len = n;
    if (n > cap)
        return -EMSGSIZE;
    if (n)
        memcpy(buf, ch->ring + (rec & ch->mask) + CHAN_REC_HDR, n);
    ch->rp = rec + CHAN_REC_HDR + chan_align8(n);
    ch->peek_active = 0;
    chan_publish_rp(ch, 1);
    return chan_after(ch, 0);
}

SHMLINK_EXTERN int shmlink_channel_peek(shmlink_channel *ch, const void **ptr,
                                        size_t *len, int64_t timeout_ns)
{
    if (!ch || !ptr || !len || ch->role != SHMLINK_READER)
        return -EINVAL;
    uint64_t rec;
    uint32_t n;
    int rc = chan_reader_get(ch, timeout_ns, &rec, &n);
    if (rc < 0)
        return rc;
    *ptr = ch->ring + (rec & ch->mask) + CHAN_REC_HDR;
    *len = n;
    ch->peek_active = 1;
    ch->peek_end = rec + CHAN_REC_HDR + chan_align8(n);
    return 0;
}

SHMLINK_EXTERN int shmlink_channel_release(shmlink_channel *ch)
{
    if (!ch || ch->role != SHMLINK_READER || !ch->peek_active)
        return -EINVAL;
    int rc = chan_usable(ch);
    if (rc < 0)
        return rc;
    ch->rp = ch->peek_end;
    ch->peek_active = 0;
    chan_publish_rp(ch, 1);
    return chan_after(ch, 0);
}

SHMLINK_EXTERN int shmlink_channel_recv_batch(shmlink_channel *ch, void *buf,
                                              size_t cap, size_t *lens,
                                              size_t max, int64_t timeout_ns)
{
    if (!ch || !lens || max == 0 || (cap > 0 && !buf) ||
        ch->role != SHMLINK_READER)
        return -EINVAL;
    uint64_t rec;
    uint32_t n;
    int rc = chan_reader_get(ch, timeout_ns, &rec, &n);
    if (rc < 0)
        return rc;
    if (n > cap) {
        lens[0] = n;
        return -EMSGSIZE;
    }
    size_t count = 0, used = 0, unpublished = 0;
    uint64_t pos = ch->rp;
    for (;;) {
        if (n)
            memcpy((uint8_t *)buf + used,
                   ch->ring + (rec & ch->mask) + CHAN_REC_HDR, n);
        used += n;
        lens[count++] = n;
        unpublished++;
        pos = rec + CHAN_REC_HDR + chan_align8(n);
        if (count == max || count > INT32_MAX - 1)
            break;
        /* Hand room back to the writer every capacity/8 bytes, so that it
         * refills the ring while this batch is still copying (one store
         * per batch for small messages; large ones would otherwise stall
         * the writer for a whole ring's worth of copying). */
        if (pos - ch->rp >= ch->cap / 8) {
            ch->rp = pos;
            chan_publish_rp(ch, unpublished);
            unpublished = 0;
        }
        /* Only what is already committed: no new wait, no reload unless
         * the cached write position is exhausted. A corrupt record after
         * good ones ends the batch; the next call reports it. */
        if (chan_next_record(ch, pos, &rec, &n) != 1 || n > cap - used)
            break;
    }
    ch->rp = pos;
    ch->peek_active = 0;
    chan_publish_rp(ch, unpublished);
    return chan_after(ch, (int)count);
}

/* ------------------------------------------------------------------------ */
/* Interrupt and wait                                                        */
/* ------------------------------------------------------------------------ */

SHMLINK_EXTERN int shmlink_channel_interrupt(shmlink_channel *ch)
{
    if (!ch)
        return -EINVAL;
    /* Bump, then look at our own sleep flag (both seq_cst): a waiter
     * stores the flag, then re-reads the count, so either it sees the new
     * count or we see its flag and wake it. The flag word is this role's
     * own (only this handle sleeps on it in a 1:1 channel). */
    __atomic_add_fetch(&ch->interrupts, 1, __ATOMIC_SEQ_CST);
    if (chan_usable(ch) == 0) {
        uint32_t *w = CHAN_F32(ch->base, ch->role == SHMLINK_READER
                                             ? CHAN_OFF_READER_SLEEP
                                             : CHAN_OFF_WRITER_SLEEP);
        if (shm_load_seq_cst32(w) == 1 && shm_exchange32(w, 0) == 1)
            (void)shmlink__futex_wake(w, INT_MAX);
    }
    return 0;
}

SHMLINK_EXTERN uint64_t shmlink_channel_interrupts(const shmlink_channel *ch)
{
    return ch ? __atomic_load_n(&ch->interrupts, __ATOMIC_SEQ_CST) : 0;
}

SHMLINK_EXTERN int shmlink_channel_wait(shmlink_channel *ch, size_t len,
                                        int64_t timeout_ns, uint64_t since)
{
    if (!ch)
        return -EINVAL;
    int rc = chan_usable(ch);
    if (rc < 0)
        return rc;
    if (__atomic_load_n(&ch->interrupts, __ATOMIC_SEQ_CST) != since)
        return -ECANCELED;
    uint64_t rec;
    uint32_t n;
    uint64_t need = 0;
    if (ch->role == SHMLINK_WRITER) {
        if (ch->resv_active)
            return -EINVAL;
        if (len > ch->max_msg)
            return -EMSGSIZE;
        uint64_t pad;
        need = chan_need(ch, len, &pad);
        if (ch->wp + need - ch->rp_cache <= ch->cap)
            return 0;
    } else {
        rc = chan_next_record(ch, ch->rp, &rec, &n);
        if (rc != 0)
            return chan_after(ch, rc < 0 ? rc : 0);
    }
    rc = chan_after(ch, chan_wait(ch, need, timeout_ns, since, &rec, &n));
    return rc < 0 ? rc : 0;
}

/* ------------------------------------------------------------------------ */
/* Inspection (section 8)                                                    */
/* ------------------------------------------------------------------------ */

/* Fills info from a header already checked (cap, version). Liveness of a
 * version-2 role is -1 here unless its owner word is 0 (free); the callers
 * that can test the locks overwrite it. */
static void chan_fill_info(const uint8_t *b, uint64_t cap, uint32_t version,
                           shmlink_channel_info *info)
{
    memset(info, 0, sizeof(*info));
    info->version = version;
    info->capacity = cap;
    info->max_message = cap / 2 - CHAN_REC_HDR;
    uint64_t rp = shm_load_seq_cst64(CHAN_CF64(b, CHAN_OFF_READ_POS));
    uint64_t wp = shm_load_seq_cst64(CHAN_CF64(b, CHAN_OFF_WRITE_POS));
    info->used = wp >= rp && wp - rp <= cap ? wp - rp : 0;
    info->messages_sent = shm_load_relaxed64(CHAN_CF64(b, CHAN_OFF_SENT));
    info->messages_received =
        shm_load_relaxed64(CHAN_CF64(b, CHAN_OFF_RECEIVED));
    uint64_t wo = shm_load_seq_cst64(CHAN_CF64(b, CHAN_OFF_WRITER_OWNER));
    uint64_t ro = shm_load_seq_cst64(CHAN_CF64(b, CHAN_OFF_READER_OWNER));
    info->writer_pid = wo ? shmlink__owner_pid(wo) : 0;
    info->reader_pid = ro ? shmlink__owner_pid(ro) : 0;
    if (version == CHAN_VERSION_1) {
        info->writer_alive = shmlink__proc_owner_alive(wo);
        info->reader_alive = shmlink__proc_owner_alive(ro);
    } else {
        info->writer_alive = wo ? -1 : 0;
        info->reader_alive = ro ? -1 : 0;
    }
    info->closed = shm_load_seq_cst32(CHAN_CF32(b, CHAN_OFF_CLOSED)) != 0;
    info->reader_gone =
        shm_load_seq_cst32(CHAN_CF32(b, CHAN_OFF_READER_GONE)) != 0;
}

/* Version 2: who holds the roles, from the locks. */
static void chan_fill_alive(const shmlink__lockset *ls,
                            shmlink_channel_info *info)
{
    int w = shmlink__lock_held(ls, 0), r = shmlink__lock_held(ls, 1);
    info->writer_alive = w < 0 ? -1 : ls->held[0] ? 1 : w;
    info->reader_alive = r < 0 ? -1 : ls->held[1] ? 1 : r;
}

SHMLINK_EXTERN int shmlink_channel_inspect(const void *mem, size_t size,
                                           shmlink_channel_info *info)
{
    if (!mem || !info)
        return -EINVAL;
    const uint8_t *b = mem;
    uint64_t cap;
    uint32_t version;
    int rc = chan_check_header(b, size, 0, &cap, &version);
    if (rc < 0)
        return rc;
    chan_fill_info(b, cap, version, info);
    return 0;
}

SHMLINK_EXTERN int shmlink_channel_stat(const char *address,
                                        shmlink_channel_info *info)
{
    if (!info)
        return -EINVAL;
    shmlink_segment *seg;
    int rc = shmlink_segment_open(address, SHMLINK_RDONLY, &seg);
    if (rc == -EINVAL) {
        shmlink_address a;
        if (shmlink_address_parse(address, &a) == 0 &&
            a.backend == SHMLINK_BACKEND_POSIX)
            rc = -EPROTO; /* an empty object: not a channel (yet) */
    }
    if (rc < 0)
        return rc;
    shmlink__guard *g = NULL;
    if (seg->backend == SHMLINK_BACKEND_POSIX)
        g = shmlink__guard_add(seg->data, seg->size);
    shmlink_channel_info tmp;
    const uint8_t *b = seg->data;
    uint64_t cap;
    uint32_t version;
    rc = chan_check_header(b, seg->size, 0, &cap, &version);
    if (rc == 0) {
        chan_fill_info(b, cap, version, &tmp);
        if (version == CHAN_VERSION_2) {
            shmlink__lockset ls;
            if (shmlink__lock_attach(
                    &ls, seg,
                    shm_load_relaxed32(CHAN_CF32(b, CHAN_OFF_LOCK_KIND)),
                    shm_load_relaxed32(CHAN_CF32(b, CHAN_OFF_LOCK_ID)), 1) == 0)
                chan_fill_alive(&ls, &tmp);
        }
    }
    if (shmlink__guard_hit(g))
        rc = -EPROTO;
    shmlink__guard_remove(g);
    shmlink_segment_close(seg);
    if (rc == 0)
        *info = tmp;
    return rc;
}

SHMLINK_EXTERN int shmlink_channel_info_get(const shmlink_channel *ch,
                                            shmlink_channel_info *info)
{
    if (!ch || !info)
        return -EINVAL;
    if (ch->fork_gen != shmlink__fork_generation)
        return -ECHILD;
    if (ch->broken || shmlink__guard_hit(ch->guard))
        return -EPROTO;
    int rc =
        shmlink_channel_inspect(ch->base, shmlink_segment_size(ch->seg), info);
    if (rc == 0 && ch->version == CHAN_VERSION_2)
        chan_fill_alive(&ch->locks, info);
    return rc;
}

/* For the segment layer's remove (section 6.3): the System V lock set a
 * version-2 channel header in mem names, or -1. */
int shmlink__channel_lock_set(const void *mem, size_t size)
{
    uint64_t cap;
    uint32_t version;
    if (chan_check_header(mem, size, 0, &cap, &version) < 0 ||
        version != CHAN_VERSION_2 ||
        shm_load_relaxed32(CHAN_CF32(mem, CHAN_OFF_LOCK_KIND)) !=
            SHMLINK__LOCK_SEM)
        return -1;
    uint32_t id = shm_load_relaxed32(CHAN_CF32(mem, CHAN_OFF_LOCK_ID));
    return id > (uint32_t)INT32_MAX ? -1 : (int)id;
}
