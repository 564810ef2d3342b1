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
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/sem.h>
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
/* Feature bits of flags (section 13.1). A version-2 implementation that
 * does not know a bit refuses the channel (-EPROTO, section 9). */
#define CHAN_FLAG_BROADCAST 0x1u
#define CHAN_FLAG_QUEUE     0x2u
#define CHAN_FLAG_WRITERS   0x4u
#define CHAN_KNOWN_FLAGS                                                       \
    (CHAN_FLAG_BROADCAST | CHAN_FLAG_QUEUE | CHAN_FLAG_WRITERS)
#define CHAN_MAX_SLOTS    (SHMLINK_MAX_READERS + SHMLINK_MAX_WRITERS)
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
    CHAN_OFF_LOCK_ID = 412,
    CHAN_OFF_READER_WAKE = 416, /* slot layout: the readers' futex word */
    /* fan-out and fan-in (section 13.1) */
    CHAN_OFF_READERS = 40,
    CHAN_OFF_WRITERS = 44
};

/* Fan-out slots (section 13.1): reader slot s at 512 + 128*s, then the
 * writer slot(s); the ring(s) start at header_size. */
#define CHAN_SLOT_BASE 512u
#define CHAN_SLOT_SIZE 128u
#define CHAN_PAGE      4096u
enum {
    /* reader slot */
    CHAN_RS_OWNER = 0,
    CHAN_RS_POS = 8,
    CHAN_RS_END = 16,
    CHAN_RS_STATE = 24, /* queue: bits 0-7 the state, 8-15 the ring */
    CHAN_RS_RING = 28,  /* unused (zero) */
    CHAN_RS_RECEIVED = 32,
    CHAN_RS_GONE = 40,
    /* writer slot: what the writer writes on the first line, what
     * readers write (the sleep word, head) on the second */
    CHAN_WS_OWNER = 0,
    CHAN_WS_WRITE_POS = 8,
    CHAN_WS_SENT = 16,
    CHAN_WS_CLOSED = 24,
    CHAN_WS_REPLY_KIND = 40,
    CHAN_WS_REPLY_ID = 44,
    CHAN_WS_SLEEP = 64,
    CHAN_WS_HEAD = 72
};
/* Queue reader slot states (section 13.3): the state word holds the state
 * in bits 0-7 and the ring it refers to in bits 8-15 (13.4), so that one
 * load gives both. */
#define CHAN_Q_IDLE        0u
#define CHAN_Q_TAKING      1u
#define CHAN_Q_PEEK        2u
#define CHAN_Q_ST(v)       ((v)&0xffu)
#define CHAN_Q_RING(v)     ((v) >> 8)
#define CHAN_Q_MAKE(st, w) ((st) | ((uint32_t)(w) << 8))

/* Role slots of the lock set of a 1:1 channel (section 6). */
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

/* Header size of a channel with slots: r reader and w writer slots. */
static inline uint64_t chan_fan_header(uint32_t r, uint32_t w)
{
    uint64_t n = CHAN_SLOT_BASE + (uint64_t)CHAN_SLOT_SIZE * (r + w);
    return (n + CHAN_PAGE - 1) & ~(uint64_t)(CHAN_PAGE - 1);
}

/* What a checked header says (section 2, 13.1). */
typedef struct chan_geom {
    uint64_t cap;
    uint32_t version;
    uint32_t flags;   /* feature bits; 0: the 1:1 layout, else slots */
    uint32_t fan;     /* 0, CHAN_FLAG_BROADCAST or CHAN_FLAG_QUEUE */
    uint32_t readers; /* R: 1 for a 1:1 channel */
    uint32_t writers; /* W: 1 without CHAN_FLAG_WRITERS */
    uint64_t hdr;     /* header size: where ring 0 starts */
} chan_geom;

/* ------------------------------------------------------------------------ */
/* Handle                                                                    */
/* ------------------------------------------------------------------------ */

struct shmlink_channel {
    shmlink_segment *seg;
    int owns_seg;  /* close seg with the handle (not for attach) */
    uint8_t *base; /* header */
    uint8_t *ring; /* base + header size */
    uint64_t cap;  /* private copies, never re-read (section 2) */
    uint64_t mask;
    uint64_t max_msg;
    uint32_t version; /* CHAN_VERSION_1 or CHAN_VERSION_2 */
    shmlink_role role;
    uint64_t owner;   /* our owner word */
    int64_t spin_ns;  /* how long a wait spins before it sleeps */
    int64_t spin_cur; /* this wait's spin: spin_ns, longer after a large
                         message (chan_spin_learn) */
    int broken;       /* the segment was truncated under us */
    int no_eos;       /* reader: wait instead of -ENODATA / -EPIPE */
    /* writer of a channel with slots: what the slot's previous holder
     * left (its reply channel, 13.5, and its owner word) */
    uint32_t prev_reply_kind, prev_reply_id;
    uint64_t prev_owner;
    shmlink__guard *guard;  /* POSIX: the truncation guard of the mapping */
    unsigned long fork_gen; /* shmlink__fork_generation at open */
    uint64_t interrupts;    /* shmlink_channel_interrupt count (atomic) */

    /* The shared words of this role: in the header of a 1:1 channel, in
     * the slots of a fan-out one (section 13.1). */
    uint64_t *pos_word;     /* write_pos, read_pos or the reader slot's pos */
    uint64_t *count_word;   /* messages_sent / messages_received */
    uint64_t *peer_pos;     /* reader: write_pos (of its current ring) */
    uint64_t *peer_rp;      /* writer of one reader: read_pos or the head
                               of its ring (13.4) */
    uint64_t *my_owner_w;   /* our owner word */
    uint32_t *my_sleep;     /* the futex word we sleep on */
    uint32_t *peer_sleep;   /* the word we wake after publishing */
    uint32_t *peer_gen;     /* slot layout, waking readers: the generation
                               word to bump and wake (13.1); NULL else */
    uint32_t *my_gen;       /* slot-layout reader: the generation word it
                               sleeps on; NULL else */
    uint32_t *peer_flag;    /* closed / reader_gone; NULL: fan-out writer */
    uint64_t *peer_owner_w; /* reader: the writer's owner word */
    int spin_yield;         /* more processes share the channel than there
                               are CPUs: yield the CPU while spinning */
    int shared_sleep;       /* my_sleep is shared by several sleepers: only
                               wakers clear it (section 13.2) */
    unsigned slot;          /* lock slot of our role */
    unsigned peer_slot;     /* lock slot of the peer (a 1:1 channel or the
                               writer for a fan-out reader) */

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

    /* fan-out and fan-in (section 13); flags == 0 for a 1:1 channel */
    uint32_t flags;    /* feature bits: the slot layout when not 0 */
    uint32_t fan;      /* CHAN_FLAG_BROADCAST, CHAN_FLAG_QUEUE or 0 */
    unsigned nreaders; /* R */
    unsigned nwriters; /* W */
    uint8_t *ring0;    /* ring 0 (rings follow each other) */
    uint8_t *wslot;    /* the writer slot (a reader's: of its current ring) */
    unsigned cur;      /* writer: its writer slot; reader: current ring */
    unsigned src;      /* reader: ring of the last message delivered */
    /* writer: reader slots found dead, by owner word (section 13.2) */
    uint64_t dead_bits;
    uint64_t dead_owner[SHMLINK_MAX_READERS];
    /* liveness cache per lock slot (writer: reader slots; readers: the
     * slots of orphans and of writers) */
    uint64_t slot_owner[CHAN_MAX_SLOTS];
    uint64_t slot_alive_ns[CHAN_MAX_SLOTS];
    /* reader of several rings: private position and cached write position
     * per ring (the current ring's are rp and wp_cache) */
    uint64_t *ring_rp;
    uint64_t *ring_wp;
    /* queue reader (section 13.3) */
    unsigned q_slot;    /* slot of the peeked message (ours or adopted) */
    int q_own_orphan;   /* our slot held an unreleased peek at open */
    unsigned q_takes;   /* takes since the last look for orphans */
    uint64_t q_scan_ns; /* time of the last look for orphans */
    uint64_t q_rec;     /* record of the peeked message */
    uint32_t q_len;     /* its length */

    shmlink__lockset locks; /* version 2: the role locks */
};

static inline uint8_t *chan_rslot(const shmlink_channel *ch, unsigned s)
{
    return ch->base + CHAN_SLOT_BASE + (size_t)CHAN_SLOT_SIZE * s;
}

/* Writer slot w (lock slot R + w). */
static inline uint8_t *chan_wslot_at(const shmlink_channel *ch, unsigned w)
{
    return chan_rslot(ch, ch->nreaders + w);
}

/* Points the words of ring ch->cur: the ring, its writer slot and, for a
 * reader, the ring's write_pos and the writer's sleep word; a reader of a
 * many-writers channel without QUEUE publishes its position in the
 * ring's head, a writer reads it there (13.4). */
static void chan_bind_ring(shmlink_channel *ch)
{
    uint8_t *ws = chan_wslot_at(ch, ch->cur);
    ch->wslot = ws;
    ch->ring = ch->ring0 + (size_t)ch->cap * ch->cur;
    if (ch->role == SHMLINK_WRITER) {
        ch->peer_rp = CHAN_F64(ws, CHAN_WS_HEAD);
        return;
    }
    ch->peer_pos = CHAN_F64(ws, CHAN_WS_WRITE_POS);
    ch->peer_sleep = CHAN_F32(ws, CHAN_WS_SLEEP);
    if (ch->fan == 0)
        ch->pos_word = CHAN_F64(ws, CHAN_WS_HEAD);
}

/* Reader of several rings: makes ring w the current one, keeping the
 * private positions of the one it leaves. */
static inline void chan_use_ring(shmlink_channel *ch, unsigned w)
{
    if (w == ch->cur)
        return;
    ch->ring_rp[ch->cur] = ch->rp;
    ch->ring_wp[ch->cur] = ch->wp_cache;
    ch->cur = w;
    ch->rp = ch->ring_rp[w];
    ch->wp_cache = ch->ring_wp[w];
    chan_bind_ring(ch);
}

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
 * initialising) is polled, 0 for no waiting. Fills *g. Returns 0 or
 * -EPROTO. */
static int chan_check_header(const uint8_t *mem, size_t size, uint64_t until,
                             chan_geom *g)
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
    if (shm_load_relaxed32(CHAN_CF32(mem, CHAN_OFF_RECORD_ALIGN)) !=
            CHAN_ALIGN ||
        (version == CHAN_VERSION_1 ? flags != 0
                                   : (flags & ~CHAN_KNOWN_FLAGS) != 0) ||
        (flags & (CHAN_FLAG_BROADCAST | CHAN_FLAG_QUEUE)) ==
            (CHAN_FLAG_BROADCAST | CHAN_FLAG_QUEUE))
        return -EPROTO;
    uint32_t readers = 1, writers = 1;
    uint64_t hdr = CHAN_HEADER_SIZE;
    if (flags != 0) {
        /* Slots (section 13.1): R reader slots (1 without fan-out), W
         * writer slots (1 without WRITERS, not with BROADCAST). */
        readers = shm_load_relaxed32(CHAN_CF32(mem, CHAN_OFF_READERS));
        writers = shm_load_relaxed32(CHAN_CF32(mem, CHAN_OFF_WRITERS));
        if (readers < 1 || readers > SHMLINK_MAX_READERS || writers < 1 ||
            writers > SHMLINK_MAX_WRITERS ||
            (!(flags & CHAN_FLAG_WRITERS) && writers != 1) ||
            ((flags & CHAN_FLAG_BROADCAST) && writers != 1) ||
            (!(flags & (CHAN_FLAG_BROADCAST | CHAN_FLAG_QUEUE)) &&
             readers != 1))
            return -EPROTO;
        hdr = chan_fan_header(readers, writers);
    }
    if (shm_load_relaxed32(CHAN_CF32(mem, CHAN_OFF_HEADER_SIZE)) != hdr)
        return -EPROTO;
    uint64_t cap = shm_load_relaxed64(CHAN_CF64(mem, CHAN_OFF_CAPACITY));
    if (cap < CHAN_MIN_CAPACITY || cap > CHAN_MAX_CAPACITY ||
        (cap & (cap - 1)) != 0)
        return -EPROTO;
    if ((uint64_t)size < hdr || ((uint64_t)size - hdr) / writers < cap)
        return -EPROTO;
    if (shm_load_relaxed64(CHAN_CF64(mem, CHAN_OFF_MAX_MESSAGE)) !=
        cap / 2 - CHAN_REC_HDR)
        return -EPROTO;
    g->cap = cap;
    g->version = version;
    g->flags = flags;
    g->fan = flags & (CHAN_FLAG_BROADCAST | CHAN_FLAG_QUEUE);
    g->readers = readers;
    g->writers = writers;
    g->hdr = hdr;
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

/* Wakes the side sleeping on word, if it announced itself: n = 1, or
 * INT_MAX for the one sleep word of all fan-out readers. Called after a
 * seq_cst store of the condition it waits for. */
static inline void chan_wake(uint32_t *word, int n)
{
    if (shm_load_seq_cst32(word) == 1 && shm_exchange32(word, 0) == 1)
        (void)shmlink__futex_wake(word, n);
}

/* Wakes the readers of a channel with slots (section 13.1) if one
 * announced a sleep: the flag (reader_sleep) goes to 0, the generation
 * (reader_wake, the word they sleep on) is bumped, all are woken. always:
 * whatever the flag says (when taking a role, as chan_wake_always). */
static inline void chan_wake_readers(uint32_t *flag, uint32_t *gen, int always)
{
    if (always
            ? (shm_exchange32(flag, 0), 1)
            : shm_load_seq_cst32(flag) != 0 && shm_exchange32(flag, 0) != 0) {
        (void)shm_fetch_add32(gen, 1);
        (void)shmlink__futex_wake(gen, INT_MAX);
    }
}

/* Wakes the side sleeping on ch->peer_sleep after a publication. */
static inline void chan_wake_peer(shmlink_channel *ch)
{
    if (ch->peer_gen)
        chan_wake_readers(ch->peer_sleep, ch->peer_gen, 0);
    else
        chan_wake(ch->peer_sleep, 1); /* one sleeper: the peer */
}

/* Wakes the peer whatever its sleep word says: used when taking a role. A
 * predecessor killed between its exchange of the word to 0 and its
 * FUTEX_WAKE leaves a sleeper whose word reads 0, which every later
 * conditional wake would skip until the sleeper's timeout (found by the
 * SPIN model, docs/model). One system call per open. */
static inline void chan_wake_always(uint32_t *word, int n)
{
    (void)shm_exchange32(word, 0);
    (void)shmlink__futex_wake(word, n);
}

/* The liveness cache of a role or slot: a holder found alive at time at
 * (0: not cached) under owner word owner is trusted for 100 ms while the
 * word stays the same and non-zero (a word of 0 is a slot between two
 * holders, which must be asked again). */
static inline int chan_alive_fresh(uint64_t o, uint64_t owner, uint64_t at,
                                   uint64_t now)
{
    return o != 0 && o == owner && at != 0 && now - at < CHAN_LIVENESS_NS;
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
    if (chan_alive_fresh(o, ch->peer_owner, ch->peer_checked_ns, now))
        return 1;
    int alive;
    if (ch->version == CHAN_VERSION_2) {
        int held = shmlink__lock_held(&ch->locks, ch->peer_slot);
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
    uint64_t wp = shm_load_seq_cst64(ch->peer_pos);
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
    shm_store_seq_cst64(ch->pos_word, ch->rp);
    shm_bump64(ch->count_word, count);
    chan_wake(ch->peer_sleep, 1);
}

/* ------------------------------------------------------------------------ */
/* Fan-out: the writer's room and who holds it back (section 13)             */
/* ------------------------------------------------------------------------ */

/* Is reader slot s held by a live process? o: its owner word as just
 * loaded. As chan_peer_alive, per slot (chan_alive_fresh); "free" is never
 * cached; a lock that cannot be tested counts as held. */
static int fan_slot_alive(shmlink_channel *ch, unsigned s, uint64_t o)
{
    if (shmlink__lock_mine(&ch->locks, s))
        return 1;
    uint64_t now = shmlink__now_ns();
    if (chan_alive_fresh(o, ch->slot_owner[s], ch->slot_alive_ns[s], now))
        return 1;
    int alive = shmlink__lock_held(&ch->locks, s) != 0;
    ch->slot_owner[s] = o;
    ch->slot_alive_ns[s] = alive ? now : 0;
    return alive;
}

/* Writer: slot s was found free while its state said joined / taking.
 * The mark holds while the slot's owner word stays o: a new holder stores
 * its own owner word before it joins or takes (section 13.2). */
static inline void fan_mark_dead(shmlink_channel *ch, unsigned s, uint64_t o)
{
    ch->dead_bits |= (uint64_t)1 << s;
    ch->dead_owner[s] = o;
}

static inline int fan_is_dead(const shmlink_channel *ch, unsigned s,
                              const uint8_t *rs)
{
    return ((ch->dead_bits >> s) & 1u) != 0 &&
           shm_load_seq_cst64(CHAN_CF64(rs, CHAN_RS_OWNER)) ==
               ch->dead_owner[s];
}

/* Fan-out writer: the lowest position it must keep (broadcast: the read
 * position of every joined reader not found dead; queue: head and the
 * position of every take in progress by a reader not found dead and of
 * every unreleased peek), cached in rp_cache; 1 if need bytes fit after
 * ch->wp, 0 if not, -EPROTO. Head is loaded before the slots: a take
 * that starts after the slot was read starts at or after that head. */
static int fan_writer_cond(shmlink_channel *ch, uint64_t need)
{
    uint64_t wp = ch->wp, min = wp;
    if (ch->fan == CHAN_FLAG_QUEUE) {
        uint64_t h = shm_load_seq_cst64(CHAN_F64(ch->wslot, CHAN_WS_HEAD));
        if (!chan_positions_ok(h, wp, ch->cap))
            return -EPROTO;
        min = h;
    }
    for (unsigned s = 0; s < ch->nreaders; s++) {
        const uint8_t *rs = chan_rslot(ch, s);
        uint32_t st = shm_load_seq_cst32(CHAN_CF32(rs, CHAN_RS_STATE));
        if (st == 0)
            continue;
        uint64_t p = shm_load_seq_cst64(CHAN_CF64(rs, CHAN_RS_POS));
        if (ch->fan == CHAN_FLAG_QUEUE) {
            if ((CHAN_Q_ST(st) != CHAN_Q_TAKING &&
                 CHAN_Q_ST(st) != CHAN_Q_PEEK) ||
                CHAN_Q_RING(st) >= ch->nwriters)
                return -EPROTO;
            if (ch->nwriters > 1) {
                /* Several rings: the position is one of ring st's only if
                 * the state did not change meanwhile (a reader stores pos,
                 * then the state). A changed state ended that take, or it
                 * started at or after the head loaded above. */
                if (shm_load_seq_cst32(CHAN_CF32(rs, CHAN_RS_STATE)) != st)
                    continue;
                if (CHAN_Q_RING(st) != ch->cur)
                    continue;
            }
            /* An unreleased peek counts whoever holds the slot. */
            if (CHAN_Q_ST(st) == CHAN_Q_TAKING && fan_is_dead(ch, s, rs))
                continue;
        } else if (fan_is_dead(ch, s, rs)) {
            continue;
        }
        /* Beyond the write position: corrupt with one ring. With several,
         * the state word may have come back to the value loaded first (the
         * reader ended that take, took in another ring and began a new
         * take here) while p is that other ring's: no take of our ring
         * starts beyond wp, so skip it (flaw F11 of the SPIN model). More
         * than capacity behind: a reader still joining (or a corrupt
         * value): wait. */
        if ((p & (CHAN_ALIGN - 1)) != 0)
            return -EPROTO;
        if (p > wp) {
            if (ch->nwriters > 1)
                continue;
            return -EPROTO;
        }
        if (p < min)
            min = p;
    }
    ch->rp_cache = min;
    return wp + need - min <= ch->cap;
}

/* Fan-out writer, while it waits for room: tests the locks of the reader
 * slots that hold it back (each at most every 100 ms) and marks the free
 * ones dead, so that they stop holding it back. Broadcast never fails
 * for want of readers (0: keep waiting; the caller re-checks the room).
 * Queue: -EPIPE when no reader slot is held and some reader left or died
 * (section 13.3), else 0. */
static int fan_writer_verdict(shmlink_channel *ch, uint64_t need)
{
    int any_held = 0, any_ended = 0;
    for (unsigned s = 0; s < ch->nreaders; s++) {
        uint8_t *rs = chan_rslot(ch, s);
        uint32_t st = shm_load_seq_cst32(CHAN_F32(rs, CHAN_RS_STATE));
        uint64_t o = shm_load_seq_cst64(CHAN_F64(rs, CHAN_RS_OWNER));
        if (ch->fan == CHAN_FLAG_BROADCAST) {
            if (st == 0 || fan_is_dead(ch, s, rs))
                continue;
            uint64_t p = shm_load_seq_cst64(CHAN_F64(rs, CHAN_RS_POS));
            if (p <= ch->wp && ch->wp + need - p <= ch->cap)
                continue; /* not the one holding us back */
            if (!fan_slot_alive(ch, s, o))
                fan_mark_dead(ch, s, o);
            continue;
        }
        if (fan_slot_alive(ch, s, o)) {
            any_held = 1;
            continue;
        }
        if (CHAN_Q_ST(st) == CHAN_Q_TAKING)
            fan_mark_dead(ch, s, o);
        if (o != 0 || shm_load_seq_cst32(CHAN_F32(rs, CHAN_RS_GONE)) != 0)
            any_ended = 1;
    }
    /* None held, tested one by one: a reader that took a slot already
     * tested while the last other one left a slot not yet tested would
     * look like none. EPIPE only when one test of every reader lock at
     * once finds none held (13.3). */
    if (ch->fan == CHAN_FLAG_QUEUE && !any_held && any_ended &&
        shmlink__lock_any_held(&ch->locks, 0, ch->nreaders) == 0)
        return -EPIPE;
    return 0;
}

/* Queue reader: 1 if the head of some ring is short of its write_pos
 * (something to take; that ring becomes the current one), 0 if not,
 * -EPROTO. */
static int q_ready(shmlink_channel *ch)
{
    for (unsigned k = 0; k < ch->nwriters; k++) {
        const uint8_t *ws = chan_wslot_at(ch, (ch->cur + k) % ch->nwriters);
        uint64_t h = shm_load_seq_cst64(CHAN_CF64(ws, CHAN_WS_HEAD));
        uint64_t wp = shm_load_seq_cst64(CHAN_CF64(ws, CHAN_WS_WRITE_POS));
        /* write_pos may be more than capacity past a head that other
         * readers have passed meanwhile: q_take sorts that out. */
        if (((h | wp) & (CHAN_ALIGN - 1)) != 0 || wp < h)
            return -EPROTO;
        if (h != wp) {
            if (k > 0)
                chan_use_ring(ch, (ch->cur + k) % ch->nwriters);
            return 1;
        }
    }
    return 0;
}

/* Reader of several rings without fan-out (13.4): the next record of the
 * current ring while its cached write position says there is one, else
 * of the next ring (in turn) that has one, reloading write positions;
 * the current ring is looked at again last. force: reload the current
 * ring's write position first too (a waiting reader). 1 with *rec, *len
 * (and the current ring) set, 0 if no ring has a record, -EPROTO. */
static int fi_next(shmlink_channel *ch, int force, uint64_t *rec, uint32_t *len)
{
    if (!force && ch->rp != ch->wp_cache)
        return chan_next_record(ch, ch->rp, rec, len);
    unsigned start = ch->cur;
    for (unsigned k = 1; k <= ch->nwriters; k++) {
        chan_use_ring(ch, (start + k) % ch->nwriters);
        ch->wp_cache = ch->rp; /* force a reload */
        int rc = chan_next_record(ch, ch->rp, rec, len);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* The reader's next record at its position (sections 4, 13.4): 1 with
 * *rec and *len, 0 if none yet, -EPROTO. */
static inline int chan_reader_next(shmlink_channel *ch, uint64_t *rec,
                                   uint32_t *len)
{
    if (ch->nwriters > 1)
        return fi_next(ch, 0, rec, len);
    return chan_next_record(ch, ch->rp, rec, len);
}

/* Reader of several writers: what the writer slots say once every ring
 * is drained (13.4): 0 while some slot is held by a live process (keep
 * waiting); else -EPIPE if the last holder of some slot died, -ENODATA if
 * the last holder of every slot closed it, 0 while some slot was never
 * held (a writer may still come). The owner word is loaded before the
 * lock is tested and looked at again when the lock is free, as in
 * chan_peer_state. */
static int fi_verdict(shmlink_channel *ch)
{
    unsigned closed = 0;
    int died = 0;
    for (unsigned w = 0; w < ch->nwriters; w++) {
        uint8_t *ws = chan_wslot_at(ch, w);
        uint64_t o = shm_load_seq_cst64(CHAN_F64(ws, CHAN_WS_OWNER));
        if (fan_slot_alive(ch, ch->nreaders + w, o))
            return 0;
        if (shm_load_seq_cst32(CHAN_F32(ws, CHAN_WS_CLOSED)) != 0)
            closed++;
        else if (o != 0 && shm_load_seq_cst64(CHAN_F64(ws, CHAN_WS_OWNER)) == o)
            died = 1;
    }
    return died ? -EPIPE : closed == ch->nwriters ? -ENODATA : 0;
}

/* Reader of several writers: has some writer closed (a reason to ask
 * fi_verdict before sleeping)? */
static int fi_any_closed(const shmlink_channel *ch)
{
    for (unsigned w = 0; w < ch->nwriters; w++)
        if (shm_load_seq_cst32(
                CHAN_CF32(chan_wslot_at(ch, w), CHAN_WS_CLOSED)) != 0)
            return 1;
    return 0;
}

/* Queue reader: 1 if some other reader slot holds an unreleased peek and
 * no live process holds that slot (an orphan to adopt), else 0. */
static int q_orphan_ready(shmlink_channel *ch)
{
    for (unsigned s = 0; s < ch->nreaders; s++) {
        if (s == ch->slot || shmlink__lock_mine(&ch->locks, s))
            continue;
        uint8_t *rs = chan_rslot(ch, s);
        if (CHAN_Q_ST(shm_load_seq_cst32(CHAN_F32(rs, CHAN_RS_STATE))) !=
            CHAN_Q_PEEK)
            continue;
        if (!fan_slot_alive(ch, s,
                            shm_load_seq_cst64(CHAN_F64(rs, CHAN_RS_OWNER))))
            return 1;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Waiting (section 5)                                                       */
/* ------------------------------------------------------------------------ */

/* The condition a side waits for: reader: a complete record at ch->rp
 * (sets *rec, *len), for a queue reader something to take; writer: need
 * bytes of room. 1 true, 0 not yet, -EPROTO. */
static int chan_cond(shmlink_channel *ch, uint64_t need, uint64_t *rec,
                     uint32_t *len)
{
    if (ch->role == SHMLINK_READER) {
        if (ch->fan == CHAN_FLAG_QUEUE)
            return q_ready(ch);
        if (ch->nwriters > 1)
            return fi_next(ch, 1, rec, len);
        ch->wp_cache = ch->rp; /* force a reload */
        return chan_next_record(ch, ch->rp, rec, len);
    }
    if (ch->fan)
        return fan_writer_cond(ch, need);
    uint64_t rp = shm_load_seq_cst64(ch->peer_rp);
    if (!chan_positions_ok(rp, ch->wp, ch->cap))
        return -EPROTO;
    ch->rp_cache = rp;
    return ch->wp + need - rp <= ch->cap;
}

/* What the peer's state says while we cannot proceed (section 6, 13): 0
 * keep waiting, 1 proceed (a queue reader found an orphan to adopt), or
 * -ENODATA / -EPIPE (after a last look at the condition, which may return
 * 1 = proceed after all, or -EPROTO). */
static int chan_peer_state(shmlink_channel *ch, uint64_t need, uint64_t *rec,
                           uint32_t *len)
{
    int verdict = 0;
    if (ch->role == SHMLINK_READER) {
        if (ch->fan == CHAN_FLAG_QUEUE && q_orphan_ready(ch))
            return 1;
        if (ch->nwriters > 1) {
            verdict = fi_verdict(ch);
        } else if (shm_load_seq_cst32(ch->peer_flag) != 0) {
            verdict = -ENODATA;
        } else {
            /* Owner word 0: no writer yet (or one that is still claiming).
             * The owner word is loaded before the lock is tested; when the
             * lock is free, both are looked at again: a writer that closed
             * cleanly in between has set closed (end of stream, not death),
             * a new one has stored another owner word (keep waiting). Owner
             * words differ between two holds (chan_self_owner). */
            uint64_t o = shm_load_seq_cst64(ch->peer_owner_w);
            if (o != 0 && !chan_peer_alive(ch, o)) {
                if (shm_load_seq_cst32(ch->peer_flag) != 0)
                    verdict = -ENODATA;
                else if (shm_load_seq_cst64(ch->peer_owner_w) == o)
                    verdict = -EPIPE;
            }
        }
    } else if (ch->fan) {
        verdict = fan_writer_verdict(ch, need);
    } else {
        uint64_t o = shm_load_seq_cst64(ch->peer_owner_w);
        if (o == 0) {
            /* No reader yet, or one that left with close. In version 2 a
             * reader that holds its lock but has not stored its owner word
             * yet is alive: ask the lock before believing reader_gone. */
            if (shm_load_seq_cst32(ch->peer_flag) != 0 &&
                (ch->version == CHAN_VERSION_1 || !chan_peer_alive(ch, o)))
                verdict = -EPIPE;
        } else if (!chan_peer_alive(ch, o)) {
            verdict = -EPIPE;
        }
    }
    if (verdict == 0 || ch->no_eos)
        return 0;
    /* The peer's last position store came before its close or death:
     * deliver (or use) whatever it left first. */
    int c = chan_cond(ch, need, rec, len);
    return c != 0 ? c : verdict;
}

/* After this long a spin yields the CPU between its looks (chan_spin). */
#define CHAN_SPIN_YIELD_NS 2000

/* Spins briefly (ch->spin_cur from start, not past deadline): a busy peer
 * answers within microseconds, with no system call. Returns chan_cond's
 * non-zero result, -ECANCELED, or 0 when the spin ran out. */
static int chan_spin(shmlink_channel *ch, uint64_t need, uint64_t start,
                     uint64_t deadline, uint64_t since, uint64_t *rec,
                     uint32_t *len)
{
    uint64_t spin_end = start + (uint64_t)ch->spin_cur;
    if (spin_end > deadline)
        spin_end = deadline;
    do {
        for (int i = 0; i < 32; i++) {
            shm_cpu_relax();
            int c = chan_cond(ch, need, rec, len);
            if (c != 0)
                return c;
        }
        if (__atomic_load_n(&ch->interrupts, __ATOMIC_SEQ_CST) != since)
            return -ECANCELED;
        /* The side we wait for may be runnable but kept off the CPU by
         * this spin (more processes than CPUs, or the scheduler put both
         * on one CPU): let it run. Returns at once when nothing else is
         * runnable here. A peer on another CPU answers within a few
         * microseconds: until then the spin does not yield. */
        uint64_t now = shmlink__now_ns();
        if (ch->spin_yield || now - start >= CHAN_SPIN_YIELD_NS)
            (void)sched_yield();
        if (now >= spin_end)
            return 0;
    } while (1);
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

    uint32_t *peer_flag = ch->peer_flag;
    uint64_t start = 0, deadline = UINT64_MAX;
    if (timeout_ns != 0) {
        start = shmlink__now_ns();
        if (timeout_ns > 0)
            deadline = start + (uint64_t)timeout_ns;
    }

    if (timeout_ns != 0 && ch->spin_cur > 0) {
        c = chan_spin(ch, need, start, deadline, since, rec, len);
        if (c != 0)
            return c;
    }

    uint32_t *my_sleep = ch->my_sleep;
    /* A sleep word of several sleepers (the readers of a fan-out channel)
     * is cleared by wakers only: a sleeper that cleared it could erase
     * another's announcement, and that one's wake-up would be lost. */
    int clear = !ch->shared_sleep;
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
         * it and then looks at the flag, so one of the two sees the other.
         * Readers of a channel with slots sleep on the wake generation,
         * read before the announcement (13.1): a waker that takes our
         * announcement (or a later one) bumps it after that, so the sleep
         * below does not start or is woken. */
        uint32_t *word = my_sleep, expect = 1;
        if (ch->my_gen) {
            word = ch->my_gen;
            expect = shm_load_seq_cst32(word);
        }
        shm_store_seq_cst32(my_sleep, 1);
        c = chan_cond(ch, need, rec, len);
        /* A queue reader looks for orphans after its announcement too: a
         * reader that closed leaving one woke the readers before it, and
         * this reader would sleep out its slice (flaw F7). */
        if (c == 0 && ch->fan == CHAN_FLAG_QUEUE &&
            ch->role == SHMLINK_READER && q_orphan_ready(ch))
            c = 1;
        if (c == 0 && (ch->nwriters > 1 && ch->role == SHMLINK_READER
                           ? fi_any_closed(ch)
                           : peer_flag && shm_load_seq_cst32(peer_flag) != 0))
            c = chan_peer_state(ch, need, rec, len);
        if (c == 0 &&
            __atomic_load_n(&ch->interrupts, __ATOMIC_SEQ_CST) != since)
            c = -ECANCELED;
        if (c != 0) {
            if (clear)
                shm_store_seq_cst32(my_sleep, 0);
            return c;
        }
        /* Here the peer's flag may be set while the peer state still says
         * "keep waiting" (a reader that set reader_gone but still holds its
         * role, or a corrupt flag): sleep like any other wait, bounded. */
        int rc = shmlink__futex_wait(word, expect, (int64_t)slice);
        if (clear)
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

/* Points the handle's shared-word pointers at its role's words (section 1
 * for a 1:1 channel; for a channel with slots those of section 13.1:
 * reader slot ch->slot for a reader, writer slot ch->cur for a writer). */
static void chan_bind(shmlink_channel *ch)
{
    uint8_t *b = ch->base;
    ch->peer_gen = ch->my_gen = NULL;
    if (!ch->flags) {
        int w = ch->role == SHMLINK_WRITER;
        ch->slot = CHAN_SLOT(ch->role);
        ch->peer_slot = CHAN_SLOT(w ? SHMLINK_READER : SHMLINK_WRITER);
        ch->pos_word = CHAN_F64(b, w ? CHAN_OFF_WRITE_POS : CHAN_OFF_READ_POS);
        ch->count_word = CHAN_F64(b, w ? CHAN_OFF_SENT : CHAN_OFF_RECEIVED);
        ch->peer_pos = CHAN_F64(b, CHAN_OFF_WRITE_POS);
        ch->peer_rp = CHAN_F64(b, CHAN_OFF_READ_POS);
        ch->my_owner_w =
            CHAN_F64(b, w ? CHAN_OFF_WRITER_OWNER : CHAN_OFF_READER_OWNER);
        ch->my_sleep =
            CHAN_F32(b, w ? CHAN_OFF_WRITER_SLEEP : CHAN_OFF_READER_SLEEP);
        ch->peer_sleep =
            CHAN_F32(b, w ? CHAN_OFF_READER_SLEEP : CHAN_OFF_WRITER_SLEEP);
        ch->peer_flag = CHAN_F32(b, w ? CHAN_OFF_READER_GONE : CHAN_OFF_CLOSED);
        ch->peer_owner_w =
            CHAN_F64(b, w ? CHAN_OFF_READER_OWNER : CHAN_OFF_WRITER_OWNER);
        ch->shared_sleep = 0;
        ch->ring = ch->ring0;
        return;
    }
    if (ch->role == SHMLINK_WRITER) {
        uint8_t *ws = chan_wslot_at(ch, ch->cur);
        ch->slot = ch->nreaders + ch->cur;
        ch->pos_word = CHAN_F64(ws, CHAN_WS_WRITE_POS);
        ch->count_word = CHAN_F64(ws, CHAN_WS_SENT);
        ch->my_owner_w = CHAN_F64(ws, CHAN_WS_OWNER);
        ch->my_sleep = CHAN_F32(ws, CHAN_WS_SLEEP);
        ch->peer_sleep = CHAN_F32(b, CHAN_OFF_READER_SLEEP);
        ch->peer_gen = CHAN_F32(b, CHAN_OFF_READER_WAKE);
        ch->shared_sleep = 0;
        /* The one reader of a many-writers channel without fan-out: its
         * slot is the peer (13.4); fan-out readers wake us when they
         * leave. */
        uint8_t *rs = chan_rslot(ch, 0);
        ch->peer_slot = 0;
        ch->peer_flag = ch->fan ? NULL : CHAN_F32(rs, CHAN_RS_GONE);
        ch->peer_owner_w = CHAN_F64(rs, CHAN_RS_OWNER);
        chan_bind_ring(ch);
        ch->peer_pos = ch->pos_word;
        return;
    }
    uint8_t *rs = chan_rslot(ch, ch->slot);
    ch->peer_slot = ch->nreaders; /* writer slot 0's lock slot */
    ch->pos_word = CHAN_F64(rs, CHAN_RS_POS);
    ch->count_word = CHAN_F64(rs, CHAN_RS_RECEIVED);
    ch->my_owner_w = CHAN_F64(rs, CHAN_RS_OWNER);
    ch->my_sleep = CHAN_F32(b, CHAN_OFF_READER_SLEEP);
    ch->my_gen = CHAN_F32(b, CHAN_OFF_READER_WAKE);
    ch->shared_sleep = 1;
    /* One writer: its slot's owner word and closed flag; several: the
     * reader looks at every writer slot (13.4). */
    ch->peer_owner_w = CHAN_F64(chan_wslot_at(ch, 0), CHAN_WS_OWNER);
    ch->peer_flag = CHAN_F32(chan_wslot_at(ch, 0), CHAN_WS_CLOSED);
    chan_bind_ring(ch);
}

/* Takes the handle's role (section 6). Version 2: the role lock, which
 * the kernel gives to one live process at a time; a fan-out reader takes
 * the first free reader slot (section 13). Version 1: the owner word by
 * CAS, taking over a holder /proc calls dead. Returns 0 or -EBUSY (or
 * -errno of the lock). */
static int chan_claim(shmlink_channel *ch)
{
    if (ch->flags) {
        int reader = ch->role == SHMLINK_READER;
        unsigned n = reader ? ch->nreaders : ch->nwriters;
        for (unsigned s = 0; s < n; s++) {
            int rc =
                shmlink__lock_take(&ch->locks, reader ? s : ch->nreaders + s);
            if (rc == 0) {
                if (reader)
                    ch->slot = s;
                else
                    ch->cur = s;
                chan_bind(ch);
                return 0;
            }
            if (rc != -EBUSY)
                return rc;
        }
        return -EBUSY;
    }
    if (ch->version == CHAN_VERSION_2)
        return shmlink__lock_take(&ch->locks, ch->slot);
    uint64_t *w = ch->my_owner_w;
    for (;;) {
        uint64_t o = shm_load_seq_cst64(w);
        if (o != 0 && shmlink__proc_owner_alive(o))
            return -EBUSY;
        if (shm_cas64(w, &o, ch->owner))
            return 0;
    }
}

/* Gives the role up: clears our owner word (only if it is still ours),
 * then, in version 2, releases the lock (and any slot a queue reader
 * adopted, section 13.3). */
static void chan_unclaim(shmlink_channel *ch)
{
    uint64_t expected = ch->owner;
    (void)shm_cas64(ch->my_owner_w, &expected, 0);
    if (ch->version == CHAN_VERSION_2) {
        if (ch->flags && ch->role == SHMLINK_READER && ch->q_slot != ch->slot)
            shmlink__lock_give(&ch->locks, ch->q_slot);
        shmlink__lock_give(&ch->locks, ch->slot);
    }
}

/* A channel with slots: the role is ours (section 13). Writer: check the
 * positions of its ring, clear closed (and the reply channel of a
 * previous holder, 13.5), wake the readers. Broadcast reader: join at the
 * current write position (13.2). Queue reader: a take the slot's last
 * holder left half done is over; an unreleased peek it left is ours to
 * deliver (13.3). Reader of several rings without fan-out: continue at
 * each ring's head (13.4). */
static int fan_start_role(shmlink_channel *ch)
{
    if (ch->role == SHMLINK_WRITER) {
        uint64_t wp = shm_load_seq_cst64(ch->pos_word);
        uint64_t h = shm_load_seq_cst64(CHAN_F64(ch->wslot, CHAN_WS_HEAD));
        if ((wp & (CHAN_ALIGN - 1)) != 0 ||
            (ch->fan != CHAN_FLAG_BROADCAST &&
             !chan_positions_ok(h, wp, ch->cap)))
            return -EPROTO;
        ch->wp = ch->wp_cache = wp;
        /* Fan-out: a cached minimum that says "full": the first send
         * scans. One reader: its position in our ring. */
        ch->rp_cache = ch->fan ? wp - ch->cap : h;
        ch->prev_owner = shm_load_seq_cst64(ch->my_owner_w);
        ch->prev_reply_kind =
            shm_load_seq_cst32(CHAN_F32(ch->wslot, CHAN_WS_REPLY_KIND));
        ch->prev_reply_id =
            shm_load_seq_cst32(CHAN_F32(ch->wslot, CHAN_WS_REPLY_ID));
        /* reply_kind = 0 before the owner word: a call server's worker
         * that loads our owner word then finds no reply channel or ours,
         * never the previous holder's (13.5). */
        shm_store_seq_cst32(CHAN_F32(ch->wslot, CHAN_WS_REPLY_KIND), 0);
        shm_store_seq_cst64(ch->my_owner_w, ch->owner);
        shm_store_seq_cst32(CHAN_F32(ch->wslot, CHAN_WS_CLOSED), 0);
        chan_wake_readers(ch->peer_sleep, ch->peer_gen, 1);
        return 0;
    }
    uint8_t *rs = chan_rslot(ch, ch->slot);
    shm_store_seq_cst64(ch->my_owner_w, ch->owner);
    shm_store_seq_cst32(CHAN_F32(rs, CHAN_RS_GONE), 0);
    ch->q_slot = ch->slot;
    for (unsigned w = ch->nwriters; w-- > 0;) {
        chan_use_ring(ch, w); /* ends at ring 0 */
        uint8_t *ws = ch->wslot;
        int ok;
        uint64_t wp, h;
        if (ch->fan == CHAN_FLAG_QUEUE) {
            /* Other readers move head: head first, then write_pos, and
             * only head <= write_pos (write_pos may be more than a ring
             * past the head loaded; q_take loads head again). Loaded the
             * other way round, a take between the loads puts head past the
             * write_pos loaded (flaw F12 of the SPIN model). */
            h = shm_load_seq_cst64(CHAN_F64(ws, CHAN_WS_HEAD));
            wp = shm_load_seq_cst64(ch->peer_pos);
            ok = ((h | wp) & (CHAN_ALIGN - 1)) == 0 && h <= wp;
        } else {
            wp = shm_load_seq_cst64(ch->peer_pos);
            h = shm_load_seq_cst64(CHAN_F64(ws, CHAN_WS_HEAD));
            ok = (wp & (CHAN_ALIGN - 1)) == 0 &&
                 (ch->fan == CHAN_FLAG_BROADCAST ||
                  chan_positions_ok(h, wp, ch->cap));
        }
        if (!ok)
            return -EPROTO;
        ch->rp = ch->fan ? wp : h;
        ch->wp_cache = wp;
    }
    if (ch->fan == CHAN_FLAG_BROADCAST) {
        /* Join (13.2): a writer scan that saw the state sees pos <= the
         * position we read from; one that did not see it came before our
         * second load of write_pos, so it authorised nothing past it. */
        uint64_t wp = ch->rp;
        shm_store_seq_cst64(ch->pos_word, wp);
        shm_store_seq_cst32(CHAN_F32(rs, CHAN_RS_STATE), 1);
        uint64_t y = shm_load_seq_cst64(ch->peer_pos);
        if ((y & (CHAN_ALIGN - 1)) != 0 || y < wp) {
            shm_store_seq_cst32(CHAN_F32(rs, CHAN_RS_STATE), 0);
            return -EPROTO;
        }
        shm_store_seq_cst64(ch->pos_word, y);
        ch->rp = ch->wp_cache = y;
    } else if (ch->fan == CHAN_FLAG_QUEUE) {
        uint32_t st = shm_load_seq_cst32(CHAN_F32(rs, CHAN_RS_STATE));
        if (CHAN_Q_ST(st) == CHAN_Q_PEEK)
            ch->q_own_orphan = 1;
        else if (st != CHAN_Q_IDLE)
            shm_store_seq_cst32(CHAN_F32(rs, CHAN_RS_STATE), CHAN_Q_IDLE);
    }
    for (unsigned w = 0; w < ch->nwriters; w++)
        chan_wake_always(CHAN_F32(chan_wslot_at(ch, w), CHAN_WS_SLEEP), 1);
    return 0;
}

/* After the role is ours: check and load positions (check 7 of section 2
 * runs here, after the claim, because only now can no one else move our
 * side's position), record our owner word (version 2), reset our side's
 * end flag and wake the peer. */
static int chan_start_role(shmlink_channel *ch)
{
    if (ch->flags)
        return fan_start_role(ch);
    uint64_t rp = shm_load_seq_cst64(CHAN_F64(ch->base, CHAN_OFF_READ_POS));
    uint64_t wp = shm_load_seq_cst64(CHAN_F64(ch->base, CHAN_OFF_WRITE_POS));
    if (!chan_positions_ok(rp, wp, ch->cap))
        return -EPROTO;
    ch->rp = ch->rp_cache = rp;
    ch->wp = ch->wp_cache = wp;
    if (ch->version == CHAN_VERSION_2)
        shm_store_seq_cst64(ch->my_owner_w, ch->owner);
    if (ch->role == SHMLINK_WRITER) {
        shm_store_seq_cst32(CHAN_F32(ch->base, CHAN_OFF_CLOSED), 0);
        chan_wake_always(CHAN_F32(ch->base, CHAN_OFF_READER_SLEEP), 1);
    } else {
        shm_store_seq_cst32(CHAN_F32(ch->base, CHAN_OFF_READER_GONE), 0);
        chan_wake_always(CHAN_F32(ch->base, CHAN_OFF_WRITER_SLEEP), 1);
    }
    return 0;
}

/* Our owner word. Version 1: pid | (start time mod 2^32) << 32 (section
 * 11; the peer compares the start time). Version 2: the pid in the low 32
 * bits (for tools) and, above it, the start time plus a count of this
 * process's role takes, so that two holds by one process never show the
 * same word (section 6.2: a waiting side compares words to tell a new
 * holder from a dead one); without /proc the count alone serves. */
static uint64_t chan_self_owner(uint32_t version)
{
    static uint32_t holds;
    uint64_t o = shmlink__proc_self_owner();
    if (version == CHAN_VERSION_1)
        return o;
    uint32_t pid = o ? (uint32_t)(o & 0xffffffffu) : (uint32_t)getpid();
    uint32_t hi =
        (uint32_t)(o >> 32) + __atomic_add_fetch(&holds, 1, __ATOMIC_RELAXED);
    return (uint64_t)pid | ((uint64_t)hi << 32);
}

static shmlink_channel *chan_new(shmlink_segment *seg, const chan_geom *g,
                                 shmlink_role role, uint64_t owner)
{
    shmlink_channel *ch = calloc(1, sizeof(*ch));
    if (!ch)
        return NULL;
    ch->seg = seg;
    ch->base = shmlink_segment_data(seg);
    ch->ring0 = ch->ring = ch->base + g->hdr;
    ch->cap = g->cap;
    ch->mask = g->cap - 1;
    ch->max_msg = g->cap / 2 - CHAN_REC_HDR;
    ch->version = g->version;
    ch->role = role;
    ch->owner = owner;
    ch->spin_ns = ch->spin_cur = shmlink__spin_ns();
    ch->owns_seg = 1;
    ch->fork_gen = shmlink__fork_gen();
    ch->locks.fd = ch->locks.probe_fd = ch->locks.semid = -1;
    ch->flags = g->flags;
    ch->fan = g->fan;
    ch->nreaders = g->readers;
    ch->nwriters = g->writers;
    if (g->flags) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        ch->spin_yield = cpus > 0 && (long)(g->readers + g->writers) > cpus;
    }
    if (role == SHMLINK_READER && g->writers > 1) {
        ch->ring_rp = calloc(2 * (size_t)g->writers, sizeof(uint64_t));
        if (!ch->ring_rp) {
            free(ch);
            return NULL;
        }
        ch->ring_wp = ch->ring_rp + g->writers;
    }
    chan_bind(ch); /* binds again to the slot it takes */
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
    free(ch->ring_rp);
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
    (void)shmlink__lock_remove_set(ch->locks.semid, ch->locks.nslots,
                                   ch->seg->shmid, (uint32_t)ds.shm_perm.cuid);
}

/* Lock slots and their layout for a channel of geometry g. */
static unsigned chan_nslots(const chan_geom *g)
{
    return g->flags ? g->readers + g->writers : SHMLINK__LOCK_SLOTS_1TO1;
}

static shmlink__lock_layout chan_layout(const chan_geom *g)
{
    return g->flags ? SHMLINK__LOCK_LAYOUT_FANOUT : SHMLINK__LOCK_LAYOUT_1TO1;
}

/* Creates a channel of geometry g (cap, flags, fan, readers, writers) at
 * address and takes role (section 2; a reader takes slot 0, joined at
 * position 0 for broadcast, a writer slot 0). */
static int chan_create(const char *address, chan_geom *g, unsigned mode,
                       shmlink_role role, shmlink_channel **out)
{
    g->version = CHAN_VERSION;
    g->hdr =
        g->flags ? chan_fan_header(g->readers, g->writers) : CHAN_HEADER_SIZE;
    uint64_t owner = chan_self_owner(CHAN_VERSION);

    shmlink_segment *seg;
    int rc = shmlink_segment_create(
        address, (size_t)(g->hdr + g->cap * g->writers), mode, &seg);
    if (rc < 0)
        return rc;
    shmlink_channel *ch = chan_new(seg, g, role, owner);
    if (!ch) {
        (void)shmlink_segment_remove(seg);
        shmlink_segment_close(seg);
        return -ENOMEM;
    }
    uint32_t lock_id = 0;
    rc = shmlink__lock_create(&ch->locks, seg, mode, chan_nslots(g),
                              chan_layout(g), &lock_id);
    if (rc == 0)
        rc = shmlink__lock_take(&ch->locks, ch->slot);
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
    shm_store_relaxed32(CHAN_F32(b, CHAN_OFF_HEADER_SIZE), g->hdr);
    shm_store_relaxed64(CHAN_F64(b, CHAN_OFF_CAPACITY), g->cap);
    shm_store_relaxed64(CHAN_F64(b, CHAN_OFF_MAX_MESSAGE), ch->max_msg);
    shm_store_relaxed32(CHAN_F32(b, CHAN_OFF_FLAGS), g->flags);
    shm_store_relaxed32(CHAN_F32(b, CHAN_OFF_RECORD_ALIGN), CHAN_ALIGN);
    if (g->flags) {
        shm_store_relaxed32(CHAN_F32(b, CHAN_OFF_READERS), g->readers);
        shm_store_relaxed32(CHAN_F32(b, CHAN_OFF_WRITERS), g->writers);
        if (g->fan == CHAN_FLAG_BROADCAST && role == SHMLINK_READER)
            shm_store_relaxed32(CHAN_F32(chan_rslot(ch, 0), CHAN_RS_STATE),
                                1); /* joined at position 0 */
        ch->q_slot = ch->slot;
        /* writer: with fan-out the first send scans */
        ch->rp_cache = g->fan ? 0 - ch->cap : 0;
    }
    shm_store_relaxed32(CHAN_F32(b, CHAN_OFF_LOCK_KIND), ch->locks.kind);
    shm_store_relaxed32(CHAN_F32(b, CHAN_OFF_LOCK_ID), lock_id);
    shm_store_relaxed64(ch->my_owner_w, owner);
    /* The "initialised" mark, last, with release ordering (section 2). */
    shm_store_release32(CHAN_F32(b, CHAN_OFF_VERSION), CHAN_VERSION);
    *out = ch;
    return 0;
}

/* Rounds a requested capacity up (section 3). 0 or -EINVAL. */
static int chan_round_capacity(size_t capacity, uint64_t *cap)
{
    if (capacity == 0 || capacity > CHAN_MAX_CAPACITY)
        return -EINVAL;
    uint64_t c = CHAN_MIN_CAPACITY;
    while (c < capacity)
        c <<= 1;
    *cap = c;
    return 0;
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
    chan_geom g = {0};
    g.readers = g.writers = 1;
    int rc = chan_round_capacity(capacity, &g.cap);
    if (rc < 0)
        return rc;
    return chan_create(address, &g, mode, role, out);
}

SHMLINK_EXTERN int
shmlink_channel_create_config(const char *address,
                              const shmlink_channel_config *cfg,
                              shmlink_role role, shmlink_channel **out)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (!cfg || (role != SHMLINK_WRITER && role != SHMLINK_READER) ||
        cfg->writers < 1 || cfg->writers > SHMLINK_MAX_WRITERS ||
        cfg->readers < 1 || cfg->readers > SHMLINK_MAX_READERS)
        return -EINVAL;
    chan_geom g = {0};
    g.readers = cfg->readers;
    g.writers = cfg->writers;
    switch (cfg->fanout) {
    case SHMLINK_ONE:
        if (cfg->readers != 1)
            return -EINVAL;
        break;
    case SHMLINK_BROADCAST:
        if (cfg->writers != 1)
            return -EINVAL;
        g.fan = CHAN_FLAG_BROADCAST;
        break;
    case SHMLINK_QUEUE: g.fan = CHAN_FLAG_QUEUE; break;
    default: return -EINVAL;
    }
    g.flags = g.fan | (cfg->writers > 1 ? CHAN_FLAG_WRITERS : 0u);

    int rc = chan_round_capacity(cfg->capacity, &g.cap);
    if (rc < 0)
        return rc;
    if (g.cap * g.writers > (uint64_t)SIZE_MAX / 2)
        return -EINVAL; /* the rings do not fit in the address space */
    return chan_create(address, &g, cfg->mode, role, out);
}

/* Takes a role in the channel held by an open segment. owns: the handle
 * closes the segment when it is closed (or when this fails). until: the
 * open's deadline for a creator still initialising (section 2). */
static int chan_attach(shmlink_segment *seg, int owns, shmlink_role role,
                       uint64_t until, shmlink_channel **out)
{
    chan_geom g = {0};
    int rc = chan_check_header(shmlink_segment_data(seg),
                               shmlink_segment_size(seg), until, &g);
    uint64_t owner = rc == 0 ? chan_self_owner(g.version) : 0;
    if (rc == 0 && owner == 0)
        rc = -ENOSYS; /* version 1 without /proc: liveness cannot work */
    shmlink_channel *ch = NULL;
    if (rc == 0) {
        ch = chan_new(seg, &g, role, owner);
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
    if (g.version == CHAN_VERSION_2) {
        uint32_t kind =
            shm_load_relaxed32(CHAN_F32(ch->base, CHAN_OFF_LOCK_KIND));
        uint32_t id = shm_load_relaxed32(CHAN_F32(ch->base, CHAN_OFF_LOCK_ID));
        rc = shmlink__lock_attach(&ch->locks, seg, kind, id, chan_nslots(&g),
                                  chan_layout(&g), 0);
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
        ch->spin_ns = ch->spin_cur = spin_ns < 0 ? 0 : spin_ns;
}

void shmlink__channel_set_no_eos(shmlink_channel *ch)
{
    if (ch && ch->role == SHMLINK_READER)
        ch->no_eos = 1;
}

int shmlink__channel_set_reply(shmlink_channel *ch, uint32_t kind, uint32_t id)
{
    if (!ch || !ch->flags || ch->role != SHMLINK_WRITER)
        return -EINVAL;
    int rc = chan_usable(ch);
    if (rc < 0)
        return rc;
    shm_store_seq_cst32(CHAN_F32(ch->wslot, CHAN_WS_REPLY_ID), id);
    shm_store_seq_cst32(CHAN_F32(ch->wslot, CHAN_WS_REPLY_KIND), kind);
    return chan_after(ch, 0);
}

int shmlink__channel_clear_reply(shmlink_channel *ch)
{
    if (!ch || !ch->flags || ch->role != SHMLINK_WRITER)
        return -EINVAL;
    int rc = chan_usable(ch);
    if (rc < 0)
        return rc;
    shm_store_seq_cst32(CHAN_F32(ch->wslot, CHAN_WS_REPLY_KIND), 0);
    return chan_after(ch, 0);
}

int shmlink__channel_reply_of(const shmlink_channel *ch, unsigned w,
                              uint32_t *kind, uint32_t *id, uint64_t *owner)
{
    if (!ch || !ch->flags || w >= ch->nwriters)
        return -EINVAL;
    const uint8_t *ws = chan_wslot_at(ch, w);
    *owner = shm_load_seq_cst64(CHAN_CF64(ws, CHAN_WS_OWNER));
    *kind = shm_load_seq_cst32(CHAN_CF32(ws, CHAN_WS_REPLY_KIND));
    *id = shm_load_seq_cst32(CHAN_CF32(ws, CHAN_WS_REPLY_ID));
    return 0;
}

int shmlink__channel_prev_reply(const shmlink_channel *ch, uint32_t *kind,
                                uint32_t *id, int32_t *pid)
{
    if (!ch || !ch->flags || ch->role != SHMLINK_WRITER)
        return -EINVAL;
    *kind = ch->prev_reply_kind;
    *id = ch->prev_reply_id;
    *pid = ch->prev_owner ? shmlink__owner_pid(ch->prev_owner) : 0;
    return 0;
}

int shmlink__channel_readers_state(const shmlink_channel *ch)
{
    if (!ch || !ch->flags || ch->version != CHAN_VERSION_2)
        return -EINVAL;
    /* Was any slot ever held (an owner word or gone set)? Then one test of
     * every reader lock at once: tested one by one, a reader that takes a
     * slot already tested while the last other one leaves a slot not yet
     * tested would make a live server look dead (13.5). */
    int ended = 0;
    for (unsigned s = 0; s < ch->nreaders; s++) {
        const uint8_t *rs = chan_rslot(ch, s);
        if (shm_load_seq_cst64(CHAN_CF64(rs, CHAN_RS_OWNER)) != 0 ||
            shm_load_seq_cst32(CHAN_CF32(rs, CHAN_RS_GONE)) != 0)
            ended = 1;
    }
    if (shmlink__lock_any_held(&ch->locks, 0, ch->nreaders) != 0)
        return 1; /* held, or cannot tell: alive */
    return ended ? 0 : 2;
}

int shmlink__channel_drop_locks(shmlink_channel *ch)
{
    if (!ch || chan_usable(ch) < 0 || ch->version != CHAN_VERSION_2 ||
        ch->locks.kind != SHMLINK__LOCK_SEM)
        return 0;
    struct shmid_ds ds;
    if (shmctl(ch->seg->shmid, IPC_STAT, &ds) == -1 ||
        !(ds.shm_perm.mode & SHM_DEST))
        return -EBUSY; /* still named: others may open it */
    if (semctl(ch->locks.semid, 0, IPC_RMID) == -1)
        return -errno;
    return 0;
}

int shmlink__channel_inherited(const shmlink_channel *ch)
{
    return ch && chan_usable(ch) == -ECHILD;
}

int shmlink__channel_segment_stat(const shmlink_channel *ch, shmlink_stat *st)
{
    return shmlink_segment_stat(ch->seg, st);
}

/* Close of a channel with slots (sections 13.2-13.4, 6.4): a writer marks
 * end of stream in its slot; a broadcast reader leaves (state 0, gone); a
 * queue reader leaves its unreleased peek, if any, as an orphan for the
 * others. Then the owner word and the lock, then the wakes (a reader
 * wakes every writer: each may wait for room or for readers). */
static void fan_close(shmlink_channel *ch)
{
    if (ch->role == SHMLINK_WRITER) {
        shm_store_seq_cst32(CHAN_F32(ch->wslot, CHAN_WS_CLOSED), 1);
        chan_unclaim(ch);
        chan_wake_peer(ch);
        return;
    }
    uint8_t *rs = chan_rslot(ch, ch->slot);
    /* Queue: an unreleased peek (in our slot or an adopted one) and an
     * orphan we took over but did not deliver stay in state 2. */
    int orphan =
        ch->fan == CHAN_FLAG_QUEUE && (ch->peek_active || ch->q_own_orphan);
    int keep = orphan && (ch->q_own_orphan || ch->q_slot == ch->slot);
    if (!keep)
        shm_store_seq_cst32(CHAN_F32(rs, CHAN_RS_STATE), 0);
    shm_store_seq_cst32(CHAN_F32(rs, CHAN_RS_GONE), 1);
    chan_unclaim(ch);
    for (unsigned w = 0; w < ch->nwriters; w++)
        chan_wake(CHAN_F32(chan_wslot_at(ch, w), CHAN_WS_SLEEP), 1);
    if (orphan) /* an orphan for the others */
        chan_wake_readers(ch->my_sleep, ch->my_gen, 0);
}

SHMLINK_EXTERN int shmlink_channel_close(shmlink_channel *ch)
{
    if (!ch)
        return 0;
    /* A handle inherited through fork leaves the role to the parent (the
     * child's lock descriptors were closed at the fork); a truncated one
     * has no header left to write to. */
    int holder = ch->version == CHAN_VERSION_2
                     ? shmlink__lock_mine(&ch->locks, ch->slot)
                     : shm_load_seq_cst64(ch->my_owner_w) == ch->owner;
    if (chan_usable(ch) == 0 && holder && ch->flags) {
        fan_close(ch);
        (void)chan_after(ch, 0);
    } else if (chan_usable(ch) == 0 && holder) {
        /* Section 6.4: our end flag, then the owner word and the lock,
         * then the wake (so a peer woken finds the role free). Only the
         * holder marks its end: a version-1 handle whose role was taken
         * over (we were wrongly thought dead) leaves the header alone. */
        uint8_t *b = ch->base;
        int writer = ch->role == SHMLINK_WRITER;
        shm_store_seq_cst32(
            CHAN_F32(b, writer ? CHAN_OFF_CLOSED : CHAN_OFF_READER_GONE), 1);
        chan_unclaim(ch);
        chan_wake(
            CHAN_F32(b, writer ? CHAN_OFF_READER_SLEEP : CHAN_OFF_WRITER_SLEEP),
            1);
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
    shm_store_seq_cst64(ch->pos_word, ch->wp);
    shm_bump64(ch->count_word, 1);
    chan_wake_peer(ch);
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
/* Queue reader (section 13.3)                                               */
/* ------------------------------------------------------------------------ */

enum { CHAN_Q_RECV, CHAN_Q_GET_PEEK, CHAN_Q_BATCH };

/* What a queue reader's call wants: recv (lens[0] = length, buf/cap),
 * peek (*ptr, lens[0]) or a batch (buf/cap, lens[0..max-1]). */
typedef struct chan_q_req {
    int mode;
    void *buf;
    size_t cap;
    size_t *lens;
    size_t max;
    const void **ptr;
} chan_q_req;

/* Hands over a message that slot s holds in state 2 (our own peek, an
 * orphan of our slot's last holder, an adopted one): rec/n its record.
 * Peek: points at it and keeps holding it. Recv/batch: copies it, ends
 * the hold (state 0), gives an adopted slot back and wakes the writer;
 * with buf too small it is kept (held as if peeked) and -EMSGSIZE is
 * returned with lens[0] = its length. Returns 1 or -EMSGSIZE. */
static int q_deliver_held(shmlink_channel *ch, const chan_q_req *q, unsigned s,
                          uint64_t rec, uint32_t n)
{
    const uint8_t *p = ch->ring + (rec & ch->mask) + CHAN_REC_HDR;
    ch->q_own_orphan = 0;
    ch->src = ch->cur;
    ch->peek_active = 1;
    ch->q_slot = s;
    ch->q_rec = rec;
    ch->q_len = n;
    ch->peek_end = rec + CHAN_REC_HDR + chan_align8(n);
    q->lens[0] = n;
    if (q->mode == CHAN_Q_GET_PEEK) {
        *q->ptr = p;
        return 1;
    }
    if (n > q->cap)
        return -EMSGSIZE;
    if (n)
        memcpy(q->buf, p, n);
    ch->peek_active = 0;
    shm_store_seq_cst32(CHAN_F32(chan_rslot(ch, s), CHAN_RS_STATE),
                        CHAN_Q_IDLE);
    shm_bump64(ch->count_word, 1);
    if (s != ch->slot)
        shmlink__lock_give(&ch->locks, s);
    ch->q_slot = ch->slot;
    chan_wake(ch->peer_sleep, 1);
    return 1;
}

/* The message slot s holds in state 2, whose lock we hold: 1 with rec/n
 * set when it is to be delivered; 0 when its take never completed (head
 * is still at it: nobody took it, it stays in the queue) — the hold is
 * then ended; -EPROTO (hold ended too) when its fields are corrupt. */
static int q_check_held(shmlink_channel *ch, unsigned s, uint64_t *rec,
                        uint32_t *n)
{
    uint8_t *rs = chan_rslot(ch, s);
    uint64_t pos = shm_load_seq_cst64(CHAN_F64(rs, CHAN_RS_POS));
    uint64_t end = shm_load_seq_cst64(CHAN_F64(rs, CHAN_RS_END));
    uint32_t ring =
        CHAN_Q_RING(shm_load_seq_cst32(CHAN_F32(rs, CHAN_RS_STATE)));
    int rc = -EPROTO;
    if (ring >= ch->nwriters) {
        shm_store_seq_cst32(CHAN_F32(rs, CHAN_RS_STATE), CHAN_Q_IDLE);
        return rc;
    }
    chan_use_ring(ch, ring);
    uint64_t h = shm_load_seq_cst64(CHAN_F64(ch->wslot, CHAN_WS_HEAD));
    uint64_t wp = shm_load_seq_cst64(ch->peer_pos);
    if (((pos | end) & (CHAN_ALIGN - 1)) == 0 && pos < end &&
        chan_positions_ok(pos, wp, ch->cap) && end <= wp) {
        if (pos >= h) {
            rc = 0;
        } else {
            ch->rp = pos;
            ch->wp_cache = wp;
            rc = chan_next_record(ch, pos, rec, n);
            if (rc == 1 && *rec + CHAN_REC_HDR + chan_align8(*n) != end)
                rc = -EPROTO;
            else if (rc == 0)
                rc = -EPROTO;
        }
    }
    if (rc <= 0)
        shm_store_seq_cst32(CHAN_F32(rs, CHAN_RS_STATE), CHAN_Q_IDLE);
    return rc;
}

/* Looks for orphans (unreleased peeks whose reader is gone) and delivers
 * the one with the lowest position (section 13.3): our own slot's first,
 * then other slots whose lock is free, adopted by taking their lock.
 * Returns 1 (delivered), 0 (none), or an error. */
static int q_adopt(shmlink_channel *ch, const chan_q_req *q)
{
    uint64_t rec;
    uint32_t n;
    ch->q_takes = 0;
    ch->q_scan_ns = shmlink__now_ns();
    if (ch->q_own_orphan) {
        ch->q_own_orphan = 0;
        int rc = q_check_held(ch, ch->slot, &rec, &n);
        if (rc != 0)
            return rc < 0 ? rc : q_deliver_held(ch, q, ch->slot, rec, n);
    }
    uint64_t tried = 0;
    for (;;) { /* each round adopts, or rules out one slot */
        unsigned best = UINT32_MAX;
        uint64_t best_pos = 0;
        for (unsigned s = 0; s < ch->nreaders; s++) {
            if (s == ch->slot || ((tried >> s) & 1u) ||
                shmlink__lock_mine(&ch->locks, s))
                continue;
            uint8_t *rs = chan_rslot(ch, s);
            if (CHAN_Q_ST(shm_load_seq_cst32(CHAN_F32(rs, CHAN_RS_STATE))) !=
                CHAN_Q_PEEK)
                continue;
            uint64_t p = shm_load_seq_cst64(CHAN_F64(rs, CHAN_RS_POS));
            if (best == UINT32_MAX || p < best_pos) {
                best = s;
                best_pos = p;
            }
        }
        if (best == UINT32_MAX)
            return 0;
        tried |= (uint64_t)1 << best;
        uint8_t *rs = chan_rslot(ch, best);
        if (fan_slot_alive(ch, best,
                           shm_load_seq_cst64(CHAN_F64(rs, CHAN_RS_OWNER))))
            continue; /* its reader still holds it */
        int rc = shmlink__lock_take(&ch->locks, best);
        if (rc == -EBUSY)
            continue; /* another reader adopts it, or a new one came */
        if (rc < 0)
            return rc;
        if (CHAN_Q_ST(shm_load_seq_cst32(CHAN_F32(rs, CHAN_RS_STATE))) !=
            CHAN_Q_PEEK) {
            shmlink__lock_give(&ch->locks, best);
            continue;
        }
        rc = q_check_held(ch, best, &rec, &n);
        if (rc <= 0) {
            shmlink__lock_give(&ch->locks, best);
            if (rc < 0)
                return rc;
            continue;
        }
        rc = q_deliver_held(ch, q, best, rec, n);
        if (rc < 0 && rc != -EMSGSIZE)
            shmlink__lock_give(&ch->locks, best);
        return rc;
    }
}

/* The count records from h, taken for good by our CAS (section 13.3):
 * copies them out, handing room back to the writer every capacity/8 bytes
 * of a long batch, then ends the take (state 0). Returns count or
 * -EPROTO. */
static int q_copy_taken(shmlink_channel *ch, const chan_q_req *q, uint64_t h,
                        size_t count)
{
    uint32_t *state = CHAN_F32(chan_rslot(ch, ch->slot), CHAN_RS_STATE);
    uint64_t pos = h, published = h, rec;
    uint32_t n;
    size_t used = 0;
    for (size_t k = 0; k < count; k++) {
        if (chan_next_record(ch, pos, &rec, &n) != 1) {
            shm_store_seq_cst32(state, CHAN_Q_IDLE);
            return -EPROTO; /* cannot happen: read just before */
        }
        if (n)
            memcpy((uint8_t *)q->buf + used,
                   ch->ring + (rec & ch->mask) + CHAN_REC_HDR, n);
        used += n;
        pos = rec + CHAN_REC_HDR + chan_align8(n);
        if (pos - published >= ch->cap / 8 && k + 1 < count) {
            shm_store_seq_cst64(ch->pos_word, pos);
            chan_wake(ch->peer_sleep, 1);
            published = pos;
        }
    }
    shm_store_seq_cst32(state, CHAN_Q_IDLE);
    shm_bump64(ch->count_word, count);
    chan_wake(ch->peer_sleep, 1);
    return (int)count;
}

/* Takes the next message(s) from head without waiting (section 13.3):
 * announce the take in our slot (state 1 at pos = head), check that head
 * did not move, read and check the record(s), CAS head past them (peek:
 * state 2 and end first), then copy and end the take (state 0). Returns
 * the count delivered, 0 when nothing is committed past head, or an
 * error (-EMSGSIZE: the first message does not fit; nothing taken). */
static int q_take(shmlink_channel *ch, const chan_q_req *q, int reload)
{
    uint8_t *rs = chan_rslot(ch, ch->slot);
    uint64_t *headw = CHAN_F64(ch->wslot, CHAN_WS_HEAD);
    uint32_t *state = CHAN_F32(rs, CHAN_RS_STATE);
    int announced = 0;
    for (;;) {
        uint64_t h = shm_load_seq_cst64(headw);
        int empty = 0;
        if ((h & (CHAN_ALIGN - 1)) != 0)
            empty = -EPROTO;
        else if (h == ch->wp_cache && !reload)
            empty = 1; /* what we saw of this ring is taken: next ring */
        else if (h == ch->wp_cache ||
                 !chan_positions_ok(h, ch->wp_cache, ch->cap)) {
            uint64_t wp = shm_load_seq_cst64(ch->peer_pos);
            if (!chan_positions_ok(h, wp, ch->cap)) {
                /* Head was passed meanwhile (the write position we read is
                 * newer), or a field is corrupt. */
                if (shm_load_seq_cst64(headw) != h)
                    continue;
                empty = -EPROTO;
            } else {
                ch->wp_cache = wp;
                empty = h == wp;
            }
        }
        if (empty) {
            /* Nothing to take: end an announcement of an earlier round and
             * wake the writer, which it may have held back (a writer that
             * waits on it would sleep out its slice: flaw F6 of the SPIN
             * model). */
            if (announced) {
                shm_store_seq_cst32(state, CHAN_Q_IDLE);
                chan_wake(ch->peer_sleep, 1);
            }
            return empty < 0 ? empty : 0;
        }
        /* Announce: from now on the writer keeps the bytes from h on. */
        shm_store_relaxed64(ch->pos_word, h);
        shm_store_seq_cst32(state, CHAN_Q_MAKE(CHAN_Q_TAKING, ch->cur));
        announced = 1;
        if (shm_load_seq_cst64(headw) != h)
            continue;
        ch->rp = h;
        uint64_t rec;
        uint32_t n;
        int rc = chan_next_record(ch, h, &rec, &n);
        if (rc <= 0 || (q->mode != CHAN_Q_GET_PEEK && n > q->cap)) {
            shm_store_seq_cst32(state, CHAN_Q_IDLE);
            chan_wake(ch->peer_sleep, 1);
            if (rc <= 0)
                return rc < 0 ? rc : -EPROTO;
            q->lens[0] = n;
            return -EMSGSIZE;
        }
        uint64_t first = rec;
        uint64_t e = rec + CHAN_REC_HDR + chan_align8(n);
        size_t count = 1, used = n;
        q->lens[0] = n;
        if (q->mode == CHAN_Q_BATCH) {
            while (count < q->max && count <= INT32_MAX - 1 &&
                   chan_next_record(ch, e, &rec, &n) == 1 &&
                   n <= q->cap - used) {
                q->lens[count++] = n;
                used += n;
                e = rec + CHAN_REC_HDR + chan_align8(n);
            }
        }
        if (q->mode == CHAN_Q_GET_PEEK) {
            shm_store_relaxed64(CHAN_F64(rs, CHAN_RS_END), e);
            shm_store_seq_cst32(state, CHAN_Q_MAKE(CHAN_Q_PEEK, ch->cur));
        }
        uint64_t expected = h;
        if (!shm_cas64(headw, &expected, e)) {
            if (q->mode == CHAN_Q_GET_PEEK)
                shm_store_seq_cst32(state, CHAN_Q_MAKE(CHAN_Q_TAKING, ch->cur));
            continue; /* another reader took it */
        }
        ch->q_takes++;
        ch->src = ch->cur;
        if (q->mode == CHAN_Q_GET_PEEK) {
            ch->peek_active = 1;
            ch->q_slot = ch->slot;
            ch->q_rec = first;
            ch->q_len = (uint32_t)q->lens[0];
            ch->peek_end = e;
            *q->ptr = ch->ring + (first & ch->mask) + CHAN_REC_HDR;
            return 1;
        }
        return q_copy_taken(ch, q, h, count);
    }
}

/* q_take over the rings (13.4): the current ring while what we last saw
 * of its write position lasts, then the others in turn, reloading their
 * write positions, the current one last; the ring taken from becomes the
 * current one. */
static int q_take_any(shmlink_channel *ch, const chan_q_req *q)
{
    if (ch->nwriters == 1)
        return q_take(ch, q, 1);
    unsigned start = ch->cur;
    for (unsigned k = 0; k <= ch->nwriters; k++) {
        chan_use_ring(ch, (start + k) % ch->nwriters);
        int rc = q_take(ch, q, k > 0);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Ends our peek: the acknowledgement (section 13.3). */
static int q_release(shmlink_channel *ch)
{
    unsigned s = ch->q_slot;
    shm_store_seq_cst32(CHAN_F32(chan_rslot(ch, s), CHAN_RS_STATE),
                        CHAN_Q_IDLE);
    shm_bump64(ch->count_word, 1);
    if (s != ch->slot)
        shmlink__lock_give(&ch->locks, s);
    ch->q_slot = ch->slot;
    ch->peek_active = 0;
    chan_wake(ch->peer_sleep, 1);
    return chan_after(ch, 0);
}

/* Time to look for orphans while taking (every 1024 takes, and every
 * 100 ms, checked every 16 takes)? */
static inline int q_scan_due(const shmlink_channel *ch)
{
    if (ch->q_takes >= 1024)
        return 1;
    return (ch->q_takes & 15) == 0 &&
           shmlink__now_ns() - ch->q_scan_ns >= CHAN_LIVENESS_NS;
}

/* A queue reader's recv, peek or batch: the message it holds first (a
 * repeated peek gets it again, a recv takes it), orphans when due, then
 * head; waits while there is nothing. Returns the count or an error. */
static int q_get(shmlink_channel *ch, const chan_q_req *q, int64_t timeout_ns)
{
    int rc = chan_usable(ch);
    if (rc < 0)
        return rc;
    if (ch->peek_active)
        return chan_after(
            ch, q_deliver_held(ch, q, ch->q_slot, ch->q_rec, ch->q_len));
    uint64_t since = __atomic_load_n(&ch->interrupts, __ATOMIC_SEQ_CST);
    uint64_t deadline = UINT64_MAX;
    if (timeout_ns > 0)
        deadline = shmlink__now_ns() + (uint64_t)timeout_ns;
    int scan = ch->q_own_orphan || q_scan_due(ch);
    for (;;) {
        if (scan) {
            rc = q_adopt(ch, q);
            if (rc != 0)
                return chan_after(ch, rc);
        }
        rc = q_take_any(ch, q);
        if (rc != 0)
            return chan_after(ch, rc);
        if (!scan) {
            scan = 1; /* empty: look for orphans before waiting */
            continue;
        }
        int64_t t = timeout_ns;
        if (timeout_ns > 0) {
            uint64_t now = shmlink__now_ns();
            t = now >= deadline ? 0 : (int64_t)(deadline - now);
        }
        uint64_t r;
        uint32_t l;
        rc = chan_wait(ch, 0, t, since, &r, &l);
        if (rc < 0)
            return chan_after(ch, rc);
        if (shmlink__guard_hit(ch->guard))
            return chan_after(ch, 0);
    }
}

/* ------------------------------------------------------------------------ */
/* Reader                                                                    */
/* ------------------------------------------------------------------------ */

/* Longest spin a large message earns (below). */
#define CHAN_SPIN_MAX_NS 1000000

/* After a wait that ended with a message of len bytes: the peer that wrote
 * it spent about the time of copying it, and will spend it again for the
 * next one (a stream or a round trip of large messages), longer than the
 * default spin; sleeping then costs a futex wake-up on top of each
 * message. So the next wait spins for about the time of copying len bytes
 * twice at 4 GB/s (len / 2 ns), between the configured spin and 1 ms; a
 * small message brings it back to the configured spin. Spinning disabled
 * (0) stays disabled. */
static inline void chan_spin_learn(shmlink_channel *ch, uint64_t len)
{
    if (ch->spin_ns <= 0)
        return;
    int64_t t = (int64_t)(len / 2);
    if (t > CHAN_SPIN_MAX_NS)
        t = CHAN_SPIN_MAX_NS;
    ch->spin_cur = t > ch->spin_ns ? t : ch->spin_ns;
}

/* The next message at ch->rp, waiting for it. 0 with rec and len set, or an
 * error. */
static int chan_reader_get(shmlink_channel *ch, int64_t timeout_ns,
                           uint64_t *rec, uint32_t *len)
{
    int rc = chan_usable(ch);
    if (rc < 0)
        return rc;
    rc = chan_reader_next(ch, rec, len);
    if (rc == 0) {
        uint64_t since = __atomic_load_n(&ch->interrupts, __ATOMIC_SEQ_CST);
        rc = chan_wait(ch, 0, timeout_ns, since, rec, len);
        if (rc > 0)
            chan_spin_learn(ch, *len);
    }
    rc = chan_after(ch, rc);
    ch->src = ch->cur;
    return rc < 0 ? rc : 0;
}

SHMLINK_EXTERN int shmlink_channel_recv(shmlink_channel *ch, void *buf,
                                        size_t cap, size_t *len,
                                        int64_t timeout_ns)
{
    if (!ch || !len || (cap > 0 && !buf) || ch->role != SHMLINK_READER)
        return -EINVAL;
    if (ch->fan == CHAN_FLAG_QUEUE) {
        chan_q_req q = {CHAN_Q_RECV, buf, cap, len, 1, NULL};
        int rc = q_get(ch, &q, timeout_ns);
        return rc < 0 ? rc : 0;
    }
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
    if (ch->fan == CHAN_FLAG_QUEUE) {
        chan_q_req q = {CHAN_Q_GET_PEEK, NULL, 0, len, 1, ptr};
        int rc = q_get(ch, &q, timeout_ns);
        return rc < 0 ? rc : 0;
    }
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
    if (ch->fan == CHAN_FLAG_QUEUE)
        return q_release(ch);
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
    if (ch->fan == CHAN_FLAG_QUEUE) {
        chan_q_req q = {CHAN_Q_BATCH, buf, cap, lens, max, NULL};
        return q_get(ch, &q, timeout_ns);
    }
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
     * own (only this handle sleeps on it in a 1:1 channel; the readers of
     * a fan-out channel share theirs and re-check once). */
    __atomic_add_fetch(&ch->interrupts, 1, __ATOMIC_SEQ_CST);
    if (chan_usable(ch) == 0) {
        uint32_t *w = ch->my_sleep;
        if (ch->my_gen)
            chan_wake_readers(w, ch->my_gen, 0);
        else if (shm_load_seq_cst32(w) == 1 && shm_exchange32(w, 0) == 1)
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
    } else if (ch->fan == CHAN_FLAG_QUEUE) {
        if (ch->peek_active || ch->q_own_orphan)
            return 0;
        rc = q_ready(ch);
        if (rc != 0)
            return chan_after(ch, rc < 0 ? rc : 0);
    } else {
        rc = chan_reader_next(ch, &rec, &n);
        if (rc != 0)
            return chan_after(ch, rc < 0 ? rc : 0);
    }
    rc = chan_after(ch, chan_wait(ch, need, timeout_ns, since, &rec, &n));
    return rc < 0 ? rc : 0;
}

/* ------------------------------------------------------------------------ */
/* Inspection (section 8)                                                    */
/* ------------------------------------------------------------------------ */

/* A read-only view of a checked channel header and, when known, its locks
 * (NULL: memory-only inspection). */
typedef struct chan_view {
    const uint8_t *b;
    chan_geom g;
    const shmlink__lockset *ls;
} chan_view;

static inline const uint8_t *view_rslot(const chan_view *v, unsigned s)
{
    return v->b + CHAN_SLOT_BASE + (size_t)CHAN_SLOT_SIZE * s;
}

/* Whether lock slot s is held: 1, 0, or -1 (cannot tell; for a version-2
 * role without locks to test, -1 unless its owner word is 0). */
static int view_alive(const chan_view *v, unsigned s, uint64_t owner)
{
    if (v->g.version == CHAN_VERSION_1)
        return shmlink__proc_owner_alive(owner);
    if (!v->ls)
        return owner ? -1 : 0;
    if (shmlink__lock_mine(v->ls, s))
        return 1;
    int held = shmlink__lock_held(v->ls, s);
    return held < 0 ? -1 : held;
}

/* Reader slot s of a fan-out channel (section 13.1). */
static void view_slot(const chan_view *v, unsigned s, uint64_t wp,
                      shmlink_slot_info *si)
{
    const uint8_t *rs = view_rslot(v, s);
    memset(si, 0, sizeof(*si));
    uint64_t o = shm_load_seq_cst64(CHAN_CF64(rs, CHAN_RS_OWNER));
    si->slot = s;
    si->pid = o ? shmlink__owner_pid(o) : 0;
    si->alive = view_alive(v, s, o);
    si->state = shm_load_seq_cst32(CHAN_CF32(rs, CHAN_RS_STATE));
    if (v->g.fan == CHAN_FLAG_QUEUE)
        si->state = CHAN_Q_ST(si->state);
    si->gone = shm_load_seq_cst32(CHAN_CF32(rs, CHAN_RS_GONE)) != 0;
    si->position = shm_load_seq_cst64(CHAN_CF64(rs, CHAN_RS_POS));
    if (v->g.fan == CHAN_FLAG_BROADCAST && si->state != 0 && si->position <= wp)
        si->lag = wp - si->position;
    si->messages_received = shm_load_relaxed64(CHAN_CF64(rs, CHAN_RS_RECEIVED));
}

/* chan_fill_info for a channel with slots (section 13): writers summed
 * over the writer slots (alive if any is held, closed once every slot's
 * last holder closed it), readers over the reader slots. */
static void chan_fill_info_slots(const chan_view *v, shmlink_channel_info *info)
{
    uint64_t cap = v->g.cap;
    /* Writers: sums over the writer slots; alive if any is held;
     * closed once every slot's last holder closed it. */
    uint64_t wp0 = 0, queued = 0;
    int w_alive = 0, w_unknown = 0;
    unsigned closed = 0;
    for (unsigned w = 0; w < v->g.writers; w++) {
        const uint8_t *ws = view_rslot(v, v->g.readers + w);
        uint64_t wp = shm_load_seq_cst64(CHAN_CF64(ws, CHAN_WS_WRITE_POS));
        uint64_t h = shm_load_seq_cst64(CHAN_CF64(ws, CHAN_WS_HEAD));
        uint64_t wo = shm_load_seq_cst64(CHAN_CF64(ws, CHAN_WS_OWNER));
        int a = view_alive(v, v->g.readers + w, wo);
        if (w == 0) {
            wp0 = wp;
            info->writer_pid = wo ? shmlink__owner_pid(wo) : 0;
        }
        if (a == 1 && !w_alive) {
            w_alive = 1;
            info->writer_pid = wo ? shmlink__owner_pid(wo) : 0;
        }
        w_unknown |= a < 0;
        info->messages_sent += shm_load_relaxed64(CHAN_CF64(ws, CHAN_WS_SENT));
        closed += shm_load_seq_cst32(CHAN_CF32(ws, CHAN_WS_CLOSED)) != 0;
        if (v->g.fan != CHAN_FLAG_BROADCAST && wp >= h && wp - h <= cap)
            queued += wp - h;
    }
    info->writer_alive = w_alive ? 1 : w_unknown ? -1 : 0;
    info->closed = closed == v->g.writers;
    uint64_t low = wp0;
    int any_alive = 0, unknown = 0, any_gone = 0;
    for (unsigned s = 0; s < v->g.readers; s++) {
        shmlink_slot_info si;
        view_slot(v, s, wp0, &si);
        info->messages_received += si.messages_received;
        if (si.alive == 1 && !any_alive) {
            any_alive = 1;
            info->reader_pid = si.pid;
        }
        unknown |= si.alive < 0;
        any_gone |= si.gone;
        if (v->g.fan == CHAN_FLAG_BROADCAST && si.state != 0 && si.alive != 0 &&
            si.position < low)
            low = si.position;
    }
    if (v->g.fan == CHAN_FLAG_BROADCAST)
        info->used = wp0 >= low && wp0 - low <= cap ? wp0 - low : 0;
    else
        info->used = queued;
    info->reader_alive = any_alive ? 1 : unknown ? -1 : 0;
    info->reader_gone = !any_alive && !unknown && any_gone;
}

/* Fills info from a checked header (section 8; 13 for fan-out). */
static void chan_fill_info(const chan_view *v, shmlink_channel_info *info)
{
    const uint8_t *b = v->b;
    uint64_t cap = v->g.cap;
    memset(info, 0, sizeof(*info));
    info->version = v->g.version;
    info->capacity = cap;
    info->max_message = cap / 2 - CHAN_REC_HDR;
    if (v->g.flags) {
        chan_fill_info_slots(v, info);
        return;
    }
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
    info->writer_alive = view_alive(v, 0, wo);
    info->reader_alive = view_alive(v, 1, ro);
    info->closed = shm_load_seq_cst32(CHAN_CF32(b, CHAN_OFF_CLOSED)) != 0;
    info->reader_gone =
        shm_load_seq_cst32(CHAN_CF32(b, CHAN_OFF_READER_GONE)) != 0;
}

/* Fills the reader slots of a checked header. Returns R. */
static int chan_fill_slots(const chan_view *v, shmlink_fanout *fanout,
                           shmlink_slot_info *slots, size_t max)
{
    if (fanout)
        *fanout = v->g.fan == CHAN_FLAG_BROADCAST ? SHMLINK_BROADCAST
                  : v->g.fan == CHAN_FLAG_QUEUE   ? SHMLINK_QUEUE
                                                  : SHMLINK_ONE;
    if (v->g.flags) {
        const uint8_t *ws = view_rslot(v, v->g.readers);
        uint64_t wp = shm_load_seq_cst64(CHAN_CF64(ws, CHAN_WS_WRITE_POS));
        for (unsigned s = 0; s < v->g.readers && s < max; s++)
            view_slot(v, s, wp, &slots[s]);
        return (int)v->g.readers;
    }
    if (max > 0) {
        const uint8_t *b = v->b;
        shmlink_slot_info *si = &slots[0];
        memset(si, 0, sizeof(*si));
        uint64_t ro = shm_load_seq_cst64(CHAN_CF64(b, CHAN_OFF_READER_OWNER));
        uint64_t rp = shm_load_seq_cst64(CHAN_CF64(b, CHAN_OFF_READ_POS));
        uint64_t wp = shm_load_seq_cst64(CHAN_CF64(b, CHAN_OFF_WRITE_POS));
        si->pid = ro ? shmlink__owner_pid(ro) : 0;
        si->alive = view_alive(v, 1, ro);
        si->state = si->alive != 0;
        si->gone = shm_load_seq_cst32(CHAN_CF32(b, CHAN_OFF_READER_GONE)) != 0;
        si->position = rp;
        si->lag = wp >= rp && wp - rp <= v->g.cap ? wp - rp : 0;
        si->messages_received =
            shm_load_relaxed64(CHAN_CF64(b, CHAN_OFF_RECEIVED));
    }
    return 1;
}

/* Broadcast (13.2): the lowest position of a joined reader slot not known
 * to be dead, at most wp. */
static uint64_t view_slowest(const chan_view *v, uint64_t wp)
{
    uint64_t low = wp;
    for (unsigned s = 0; s < v->g.readers; s++) {
        const uint8_t *rs = view_rslot(v, s);
        uint64_t o = shm_load_seq_cst64(CHAN_CF64(rs, CHAN_RS_OWNER));
        if (shm_load_seq_cst32(CHAN_CF32(rs, CHAN_RS_STATE)) == 0)
            continue;
        uint64_t pos = shm_load_seq_cst64(CHAN_CF64(rs, CHAN_RS_POS));
        if (pos < low && view_alive(v, s, o) != 0)
            low = pos;
    }
    return low;
}

/* Writer slot w of a channel with slots (section 13.1): used is what its
 * ring holds that readers have not taken, 0 when the positions read
 * contradict each other; the reply channel as read (13.5). */
static void view_wslot(const chan_view *v, unsigned w,
                       shmlink_writer_slot_info *wi)
{
    const uint8_t *ws = view_rslot(v, v->g.readers + w);
    memset(wi, 0, sizeof(*wi));
    uint64_t o = shm_load_seq_cst64(CHAN_CF64(ws, CHAN_WS_OWNER));
    wi->slot = w;
    wi->pid = o ? shmlink__owner_pid(o) : 0;
    wi->alive = view_alive(v, v->g.readers + w, o);
    wi->closed = shm_load_seq_cst32(CHAN_CF32(ws, CHAN_WS_CLOSED)) != 0;
    uint64_t wp = shm_load_seq_cst64(CHAN_CF64(ws, CHAN_WS_WRITE_POS));
    uint64_t h = v->g.fan == CHAN_FLAG_BROADCAST
                     ? view_slowest(v, wp)
                     : shm_load_seq_cst64(CHAN_CF64(ws, CHAN_WS_HEAD));
    wi->position = wp;
    wi->used = wp >= h && wp - h <= v->g.cap ? wp - h : 0;
    wi->messages_sent = shm_load_relaxed64(CHAN_CF64(ws, CHAN_WS_SENT));
    wi->reply_kind = shm_load_seq_cst32(CHAN_CF32(ws, CHAN_WS_REPLY_KIND));
    wi->reply_id = shm_load_seq_cst32(CHAN_CF32(ws, CHAN_WS_REPLY_ID));
}

/* Fills the writer slots of a checked header. Returns W. */
static int chan_fill_writer_slots(const chan_view *v,
                                  shmlink_writer_slot_info *slots, size_t max)
{
    if (v->g.flags) {
        for (unsigned w = 0; w < v->g.writers && w < max; w++)
            view_wslot(v, w, &slots[w]);
        return (int)v->g.writers;
    }
    if (max > 0) {
        const uint8_t *b = v->b;
        shmlink_writer_slot_info *wi = &slots[0];
        memset(wi, 0, sizeof(*wi));
        uint64_t wo = shm_load_seq_cst64(CHAN_CF64(b, CHAN_OFF_WRITER_OWNER));
        uint64_t wp = shm_load_seq_cst64(CHAN_CF64(b, CHAN_OFF_WRITE_POS));
        uint64_t rp = shm_load_seq_cst64(CHAN_CF64(b, CHAN_OFF_READ_POS));
        wi->pid = wo ? shmlink__owner_pid(wo) : 0;
        wi->alive = view_alive(v, 0, wo);
        wi->closed = shm_load_seq_cst32(CHAN_CF32(b, CHAN_OFF_CLOSED)) != 0;
        wi->position = wp;
        wi->used = wp >= rp && wp - rp <= v->g.cap ? wp - rp : 0;
        wi->messages_sent = shm_load_relaxed64(CHAN_CF64(b, CHAN_OFF_SENT));
    }
    return 1;
}

SHMLINK_EXTERN int shmlink_channel_inspect(const void *mem, size_t size,
                                           shmlink_channel_info *info)
{
    if (!mem || !info)
        return -EINVAL;
    chan_view v = {mem, {0}, NULL};
    int rc = chan_check_header(v.b, size, 0, &v.g);
    if (rc < 0)
        return rc;
    chan_fill_info(&v, info);
    return 0;
}

/* What chan_stat_view reads from a checked header: 0 (or a slot count) or
 * an error. */
typedef int (*chan_view_fn)(const chan_view *v, void *arg);

/* Maps the channel at address read-only, checks its header, attaches to
 * its locks (version 2), and calls fill. Returns what fill returned, or an
 * error (also after fill, when the segment was truncated meanwhile). */
static int chan_stat_view(const char *address, chan_view_fn fill, void *arg)
{
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
    chan_view v = {seg->data, {0}, NULL};
    shmlink__lockset ls;
    rc = chan_check_header(v.b, seg->size, 0, &v.g);
    if (rc == 0 && v.g.version == CHAN_VERSION_2 &&
        shmlink__lock_attach(
            &ls, seg, shm_load_relaxed32(CHAN_CF32(v.b, CHAN_OFF_LOCK_KIND)),
            shm_load_relaxed32(CHAN_CF32(v.b, CHAN_OFF_LOCK_ID)),
            chan_nslots(&v.g), chan_layout(&v.g), 1) == 0)
        v.ls = &ls;
    if (rc == 0)
        rc = fill(&v, arg);
    if (shmlink__guard_hit(g))
        rc = -EPROTO;
    shmlink__guard_remove(g);
    shmlink_segment_close(seg);
    return rc;
}

static int view_info_fn(const chan_view *v, void *arg)
{
    chan_fill_info(v, arg);
    return 0;
}

SHMLINK_EXTERN int shmlink_channel_stat(const char *address,
                                        shmlink_channel_info *info)
{
    if (!info)
        return -EINVAL;
    shmlink_channel_info tmp;
    int rc = chan_stat_view(address, view_info_fn, &tmp);
    if (rc == 0)
        *info = tmp;
    return rc;
}

typedef struct view_slots_arg {
    shmlink_fanout *fanout;
    shmlink_slot_info *slots;
    shmlink_writer_slot_info *wslots;
    size_t max;
} view_slots_arg;

static int view_slots_fn(const chan_view *v, void *arg)
{
    const view_slots_arg *a = arg;
    return chan_fill_slots(v, a->fanout, a->slots, a->max);
}

static int view_writer_slots_fn(const chan_view *v, void *arg)
{
    const view_slots_arg *a = arg;
    return chan_fill_writer_slots(v, a->wslots, a->max);
}

SHMLINK_EXTERN int shmlink_channel_slots(const char *address,
                                         shmlink_fanout *fanout,
                                         shmlink_slot_info *slots, size_t max)
{
    if (max > 0 && !slots)
        return -EINVAL;
    view_slots_arg a = {fanout, slots, NULL, max};
    return chan_stat_view(address, view_slots_fn, &a);
}

SHMLINK_EXTERN int shmlink_channel_writer_slots(const char *address,
                                                shmlink_writer_slot_info *slots,
                                                size_t max)
{
    if (max > 0 && !slots)
        return -EINVAL;
    view_slots_arg a = {NULL, NULL, slots, max};
    return chan_stat_view(address, view_writer_slots_fn, &a);
}

/* The view of an open handle. 0 or -ECHILD / -EPROTO. */
static int chan_handle_view(const shmlink_channel *ch, chan_view *v)
{
    if (ch->fork_gen != shmlink__fork_generation)
        return -ECHILD;
    if (ch->broken || shmlink__guard_hit(ch->guard))
        return -EPROTO;
    v->b = ch->base;
    v->ls = ch->version == CHAN_VERSION_2 ? &ch->locks : NULL;
    return chan_check_header(ch->base, shmlink_segment_size(ch->seg), 0, &v->g);
}

SHMLINK_EXTERN int shmlink_channel_info_get(const shmlink_channel *ch,
                                            shmlink_channel_info *info)
{
    if (!ch || !info)
        return -EINVAL;
    chan_view v;
    int rc = chan_handle_view(ch, &v);
    if (rc == 0)
        chan_fill_info(&v, info);
    return rc;
}

SHMLINK_EXTERN int shmlink_channel_slots_get(const shmlink_channel *ch,
                                             shmlink_fanout *fanout,
                                             shmlink_slot_info *slots,
                                             size_t max)
{
    if (!ch || (max > 0 && !slots))
        return -EINVAL;
    chan_view v;
    int rc = chan_handle_view(ch, &v);
    return rc < 0 ? rc : chan_fill_slots(&v, fanout, slots, max);
}

SHMLINK_EXTERN int
shmlink_channel_writer_slots_get(const shmlink_channel *ch,
                                 shmlink_writer_slot_info *slots, size_t max)
{
    if (!ch || (max > 0 && !slots))
        return -EINVAL;
    chan_view v;
    int rc = chan_handle_view(ch, &v);
    return rc < 0 ? rc : chan_fill_writer_slots(&v, slots, max);
}

SHMLINK_EXTERN int shmlink_channel_fanout_of(const shmlink_channel *ch,
                                             shmlink_fanout *fanout,
                                             unsigned *slot)
{
    if (!ch)
        return -EINVAL;
    if (fanout)
        *fanout = ch->fan == CHAN_FLAG_BROADCAST ? SHMLINK_BROADCAST
                  : ch->fan == CHAN_FLAG_QUEUE   ? SHMLINK_QUEUE
                                                 : SHMLINK_ONE;
    if (slot)
        *slot = !ch->flags                   ? 0
                : ch->role == SHMLINK_READER ? ch->slot
                                             : ch->cur;
    return (int)ch->nreaders;
}

SHMLINK_EXTERN int shmlink_channel_writers(const shmlink_channel *ch)
{
    return ch ? (int)ch->nwriters : -EINVAL;
}

SHMLINK_EXTERN int shmlink_channel_source(const shmlink_channel *ch)
{
    if (!ch || ch->role != SHMLINK_READER)
        return -EINVAL;
    return (int)ch->src;
}

/* For the segment layer's remove (section 6.3): the System V lock set a
 * version-2 channel header in mem names, or -1; *nslots its slot count. */
int shmlink__channel_lock_set(const void *mem, size_t size, unsigned *nslots)
{
    chan_geom g;
    if (chan_check_header(mem, size, 0, &g) < 0 ||
        g.version != CHAN_VERSION_2 ||
        shm_load_relaxed32(CHAN_CF32(mem, CHAN_OFF_LOCK_KIND)) !=
            SHMLINK__LOCK_SEM)
        return -1;
    uint32_t id = shm_load_relaxed32(CHAN_CF32(mem, CHAN_OFF_LOCK_ID));
    *nslots = chan_nslots(&g);
    return id > (uint32_t)INT32_MAX ? -1 : (int)id;
}
