/*
 * fanout.pml - SPIN model of the shmlink fan-out channel (docs/PROTOCOL.md
 * section 13): one writer, two readers, broadcast (default) or work queue
 * (-DQUEUE). Style and kernel as channel.pml: every shared load and store
 * is one atomic step, named after the C function of core/src/channel.c; a
 * reader may be killed at any step (its locks freed by the kernel, atomic
 * with its death); a FUTEX_WAIT may time out at any moment (TIMEOUTS=1).
 *
 * Processes: writer (id 1, lock slot WS = 2), readers (ids 2, 3), each of
 * which takes the first free reader slot (lock slots 0, 1). The readers
 * start at any moment, so a broadcast reader joins before, between or
 * after any of the writer's commits. The writer is not killed (the 1:1
 * model covers writer death and takeover); at most CRASHES readers are.
 * With -DWRITERS (and QUEUE: 13.4, a work queue fed by many writers) a
 * second writer (id 4) holds writer slot 1 (lock slot 3) with a ring of
 * its own; writer slot w is lock slot WSL(w) = 2 + w.
 *
 * Records: one ring cell per record, holding the message number (header
 * and payload in one cell). The reader checks the number: a record read
 * before its commit, or overwritten, shows another lap's number. Padding,
 * headers and the section 7 checks are channel.pml's. With WRITERS, ring
 * w is ring[w*CAP .. w*CAP+CAP-1], its positions start at RSTART(w), and
 * its messages are MSGV(w, 1..): ring 1's positions start above every
 * position of ring 0, so a position of one ring taken for one of the
 * other shows (a writer that counts it thinks a reader is beyond its
 * write_pos, or far behind), and a cell of one ring read as the other's
 * holds the wrong message.
 *
 * Options (spin -D...):
 *   QUEUE        work queue (13.3); without it broadcast (13.2)
 *   WRITERS      with QUEUE: two writer slots, a ring each (13.3, 13.4)
 *   PEEK=0       queue: every call is recv (take); 1: peek, then release
 *   CAP=2        ring cells;  NMSG=3 messages (positions START..)
 *   NMSG1=NMSG   WRITERS: the messages of writer slot 1 (NMSG: slot 0's)
 *   TIMEOUTS=1   0: only FUTEX_WAKE wakes a sleeper. A sleeper is not a
 *                valid end state here, so a lost wake-up is a deadlock
 *                ("invalid end state") when TIMEOUTS=0.
 *   CRASHES=1    readers that may be killed (0, 1 or 2)
 *   LEAVE=0      1: a reader may close at any time between calls (broadcast:
 *                leave; queue: close while holding a peek, an orphan)
 *   NRP=2        reader processes (1: reader 2 only, slot 0)
 *   W1FIRST      WRITERS: writer 4 commits its messages to ring 1 and
 *                closes before the other processes start
 *   DEAD1=1      WRITERS: reader slot 1's last holder (id 3, not a
 *                process here) died taking message 1 of ring 1 (2: holding
 *                a peek of it, an orphan), which an earlier holder of writer
 *                slot 1 committed; its CAS happened or not (both are
 *                searched). Writer 4 then sends messages 2..NMSG1.
 *   NO_STATE_RELOAD  WRITERS: the writer loads a slot's state once, not
 *                again after pos (passes: with F11's rule the second load
 *                is not needed for safety, see README.md)
 *   BROKEN_...   deliberately wrong variants (README.md lists them).
 *
 *   BROKEN_WAIT_ON_READER_SLEEP  the readers' sleep rule before the fix
 *                of F5: FUTEX_WAIT(&reader_sleep, 1), no reader_wake
 *   BROKEN_GEN_AFTER_ANNOUNCE  a reader loads reader_wake after its
 *                reader_sleep = 1 instead of before
 *   BROKEN_NO_ORPHAN_RECHECK  queue: the re-check after reader_sleep = 1
 *                looks at head and write_pos (and closed) only, not for an
 *                orphan (flaw F7, README.md)
 *   BROKEN_EMPTY_NO_WAKE  queue: a reader that announced a take (state
 *                1) and then finds the queue empty stores state = 0 without
 *                waking the writer (flaw F6, README.md)
 *   BROKEN_START_WP_FIRST  queue: a reader taking its slot loads
 *                write_pos, then head, and calls head <= write_pos <= head +
 *                capacity corrupt otherwise (flaw F12: other readers move
 *                head meanwhile)
 *   BROKEN_STATE_ABA  WRITERS: a pos beyond the writer's write_pos in a
 *                slot whose two state loads agree on its ring is EPROTO
 *                (flaw F11: the state value came back, the pos between the
 *                loads was of the reader's take in the other ring)
 *   BROKEN_ANY_RING  WRITERS: the writer counts the takes of every ring
 *                (no ring bits): the reader that ends a take in ring 0
 *                wakes ring 0's writer, not the one it held back
 *
 * Readers' sleep (13.1, the fix of F5): reader_wake is a wake generation
 * and the futex word all readers sleep on; reader_sleep only says "some
 * reader announced". A reader: g = load(reader_wake); store reader_sleep
 * = 1; re-check; FUTEX_WAIT(&reader_wake, g). It never clears
 * reader_sleep. A waker, after its store: if load(reader_sleep) != 0 and
 * exchange(reader_sleep, 0) != 0: fetch_add(reader_wake, 1), then
 * FUTEX_WAKE(&reader_wake, all).
 *
 * F5 (found by this model; README.md): with the old rule (FUTEX_WAIT on
 * reader_sleep itself) the shared word loses wake-ups
 * (-DBROKEN_WAIT_ON_READER_SLEEP -DTIMEOUTS=0 -DCRASHES=0 gives "invalid
 * end state"):
 *   R3 reader_sleep = 1; re-check: nothing, closed = 0 (about to sleep).
 *   W  commit 3; closed = 1; unlock; wake: load 1, exchange 1 -> 0.
 *   R2 reader_sleep = 1; re-check: closed = 1 -> ENODATA (leaves its 1).
 *   W  FUTEX_WAKE(all): nobody in FUTEX_WAIT yet.
 *   R3 FUTEX_WAIT(&reader_sleep, 1): the word is R2's 1 -> asleep; only
 *      the 100 ms slice wakes it.
 */

#ifndef CAP
#define CAP 2
#endif
#define START CAP               /* first position (so that wp - CAP >= 0) */
#ifndef NMSG
#define NMSG 3
#endif
#ifndef CRASHES
#define CRASHES 1
#endif
#ifndef LEAVE
#define LEAVE 0
#endif
#ifndef PEEK
#define PEEK 0
#endif

#ifdef WRITERS
#ifndef QUEUE
#error "WRITERS is modelled with QUEUE only (fanin.pml has one reader)"
#endif
#define NW 2                    /* writer slots, a ring each */
#ifndef NMSG1
#define NMSG1 NMSG
#endif
#else
#define NW 1
#define NMSG1 0
#endif
#if NMSG1 > NMSG
#define NMAX NMSG1
#else
#define NMAX NMSG
#endif

#define NR 2                    /* reader slots = lock slots 0, 1 */
#ifndef NRP
#define NRP 2                   /* reader processes (1: reader 2 only) */
#endif
#define WSL(w) (NR + (w))       /* writer slot w: lock slot R + w, its sleepf */
#define WS WSL(0)
#define RSLP 0                  /* sleepf[RSLP]: the shared reader_sleep */
#define NROLES (NR + NW)
#define NPROC (3 + NW)          /* writer 1; readers 2, 3; writer 4 (WRITERS) */

#include "kernel.pml"

#define YES 1
#define NO 0
#define EMPTY 2
#define AGAIN 3
#define ENODATA 4
#define ORPHAN 5
/* Ring w: positions from RSTART(w), cells ring[w*CAP ..], messages
 * MSGV(w, 1..n). With one ring: START, ring[0 ..], 1..NMSG. */
#define RSTART(w) (START + (w) * (NMAX + CAP))
#define RC(w, p) ((w) * CAP + (p) % CAP)
#define MSGV(w, i) ((w) * (NMAX + 1) + (i))
#define MSGAT(w, p) MSGV(w, (p) - RSTART(w) + 1) /* the message at p of ring w */
#define WNMSG(w) ((w) == 0 -> NMSG : NMSG1)
/* The state word of a queue reader slot: bits 0-7 the state (0 idle, 1
 * taking, 2 peeking), bits 8-15 the ring (13.1); here QMAKE(st, w) = st +
 * 4*w, one byte, stored in one step. With one ring: 0, 1, 2. */
#define QST(v) ((v) % 4)
#define QRING(v) ((v) / 4)
#define QMAKE(st, w) ((st) + 4 * (w))

/* ---- shared memory (13.1) ----------------------------------------------- */
byte wpos[NW] = START;          /* writer slot w: write_pos of ring w */
byte head[NW] = START;          /* writer slot w: head (queue) (ring 1: init) */
byte closed[NW];                /* writer slot w: closed */
byte wowner[NW];                /* writer slot w: owner */
byte owner[NR];                 /* reader slot: owner */
byte pos[NR];                   /* reader slot: pos */
byte qend[NR];                  /* reader slot: end (queue) */
byte state[NR];                 /* reader slot: state */
byte rgone[NR];                  /* reader slot: gone */
byte ring[NW * CAP];
/* reader_wake (header offset 416), the readers' futex word, is a u32
 * generation that wakers increment and readers only compare with the value
 * g they loaded. The model keeps, instead of the counter and each reader's
 * g, one bit per reader slot: gcur[s] = 1 while "reader_wake == the g
 * loaded by the reader of slot s" (its load sets it, every fetch_add
 * clears both). That is the same behaviour (the counter does not wrap
 * around in 2^32 wakes) without a counter whose value would tell apart
 * states that are otherwise the same.
 * reader_sleep = sleepf[RSLP] (offset 400: "a reader announced"); two
 * sleepers on reader_wake: infutex[0], [1] say which reader slot is
 * blocked; writer_sleep = sleepf[WS]. */
bit gcur[NR];

/* ---- ghost --------------------------------------------------------------- */
byte ncommit[NW];               /* messages committed per ring */
bit running[NPROC];
bit crashed[NPROC];
byte crash_left = CRASHES;
byte rdone;                     /* readers finished or dead */
bit lost1;                      /* DEAD1=1: the dead reader's CAS took message 1 */
byte delivered[NW * (NMAX + 1)]; /* queue: deliveries per message (MSGV) */
byte acked[NW * (NMAX + 1)];    /* queue: releases (peek) per message */
#ifdef QUEUE
/* Message i of ring w (at position RSTART(w) + i - 1) is still held in
 * state 2 by reader slot k (an orphan for a later reader). */
#define HELD(k, w, i) (state[k] == QMAKE(2, w) && pos[k] == RSTART(w) + (i) - 1)
active proctype final()         /* the end: nothing lost, nothing doubled */
{
    byte i = 1;
#if NW > 1
    byte w;
end_final:
    rdone == NRP && !running[1] && !running[4];
    do
    :: w == NW -> break
    :: else ->
        i = 1;
#else
#define w 0
end_final:
    rdone == NRP && !running[1];
#endif
    do
    :: i <= ncommit[w] ->
#if PEEK
        /* none lost: released, or still held in state 2 (an orphan for a
         * later reader), or not yet taken */
        assert(acked[MSGV(w, i)] > 0 || RSTART(w) + i - 1 >= head[w] ||
               HELD(0, w, i) || HELD(1, w, i));
#else
        assert(delivered[MSGV(w, i)] <= 1);             /* at most once */
        assert(CRASHES > 0 || delivered[MSGV(w, i)] == 1 || /* exactly once */
               (lost1 && w == 1 && i == 1));    /* (DEAD1: taken by the dead) */
#endif
        i++
    :: else -> break
    od
#if NW > 1
    ;
    w++
    od
#else
#undef w
#endif
}
#endif

active proctype killer()
{
end_killer:
    do
    :: d_step { crash_left > 0 && victim == 0 && running[2]; victim = 2; crash_left-- }
    :: d_step { crash_left > 0 && victim == 0 && running[3]; victim = 3; crash_left-- }
    od
}

/* SIGKILL of reader me: the kernel frees every lock it holds (its slot's,
 * and an adopted slot's) and takes it out of FUTEX_WAIT. */
inline crash()
{
    victim = 0;
    running[me] = 0;
    crashed[me] = 1;
    rdone++;
    if :: lk[0] == me -> lk[0] = 0 :: else -> skip fi;
    if :: lk[1] == me -> lk[1] = 0 :: else -> skip fi;
    infutex[s] = 0;
    gcur[s] = 0                 /* (its g dies with it) */
}

/* chan_wake_readers (13.1): if load(reader_sleep) != 0 and
 * exchange(reader_sleep, 0) != 0: fetch_add(reader_wake, 1), then
 * FUTEX_WAKE(&reader_wake, all). (Old rule: chan_wake(reader_sleep, all),
 * the exchange then FUTEX_WAKE on reader_sleep itself.) */
inline wake_readers()
{
    if
    :: d_step { victim != me && sleepf[RSLP] != 0 } ->      /* shm_load_seq_cst32 */
        STEP(tmp = sleepf[RSLP]; sleepf[RSLP] = 0);          /* shm_exchange32 */
        if
        :: tmp != 0 ->
#ifndef BROKEN_WAIT_ON_READER_SLEEP
            STEP(gcur[0] = 0; gcur[1] = 0);                  /* fetch_add(reader_wake, 1) */
#endif
            STEP(infutex[0] = 0; infutex[1] = 0; tmp = 0)    /* FUTEX_WAKE(all) */
        :: else -> skip
        fi
    :: d_step { victim != me && sleepf[RSLP] == 0 }
    :: DIE
    fi
}

/* The readers' announcement before a sleep (chan_wait of a fan-out
 * reader): g = load(reader_wake), then store reader_sleep = 1; the caller
 * re-checks next. */
inline r_announce()
{
#if !defined(BROKEN_WAIT_ON_READER_SLEEP) && !defined(BROKEN_GEN_AFTER_ANNOUNCE)
    STEP(gcur[s] = 1);                          /* g = load(reader_wake) */
#endif
    STEP(sleepf[RSLP] = 1);                     /* store reader_sleep = 1 */
#ifdef BROKEN_GEN_AFTER_ANNOUNCE
    STEP(gcur[s] = 1)                           /* wrong: g after the announcement */
#endif
}

/* FUTEX_WAIT(&reader_wake, g, <= 100 ms) by the reader of slot sl: the
 * kernel sleeps only if reader_wake still is g. (Old rule:
 * FUTEX_WAIT(&reader_sleep, 1).) No end label: with TIMEOUTS=0 a sleeper
 * nobody wakes is a deadlock. */
inline rwait(sl)
{
#ifdef BROKEN_WAIT_ON_READER_SLEEP
    fwait(RSLP, sl)
#else
    STEP(if
         :: gcur[sl] -> infutex[sl] = 1; tmp = 1       /* reader_wake == g */
         :: else -> skip                                    /* EAGAIN */
         fi);
    gcur[sl] = 0;                                           /* (g no longer used) */
    if
    :: tmp == 1 ->
        tmp = 0;
progress_rsleep:
        if
        :: infutex[sl] == 0 -> skip                         /* woken */
#if TIMEOUTS
        :: d_step { infutex[sl] == 1; infutex[sl] = 0 }     /* the slice ran out */
#endif
        :: DIE
        fi
    :: else -> skip
    fi
#endif
}
/* chan_wake(writer_sleep of writer slot w, 1). */
inline wake_writer(w)
{
    if
    :: d_step { victim != me && sleepf[WSL(w)] == 1 } ->
        STEP(tmp = sleepf[WSL(w)]; sleepf[WSL(w)] = 0);
        if
        :: tmp == 1 -> STEP(infutex[WSL(w)] = 0; tmp = 0)  /* FUTEX_WAKE(1) */
        :: else -> skip
        fi
    :: d_step { victim != me && sleepf[WSL(w)] != 1 }
    :: DIE
    fi
}

/* A reader that takes a slot wakes every writer, whatever its word holds
 * (fan_start_role: chan_wake_always on each writer_sleep). */
inline wake_writers_always()
{
    STEP(sleepf[WS] = 0);
    STEP(infutex[WS] = 0);
#if NW > 1
    STEP(sleepf[WSL(1)] = 0);
    STEP(infutex[WSL(1)] = 0)
#endif
}

/* shmlink__futex_wait(word, 1, <= 100 ms) by the process of slot sl. No
 * end label: with TIMEOUTS=0 a sleeper nobody wakes is a deadlock. */
inline fwait(word, sl)
{
    STEP(if
         :: sleepf[word] == 1 -> infutex[sl] = 1; tmp = 1
         :: else -> skip                                    /* EAGAIN */
         fi);
    if
    :: tmp == 1 ->
        tmp = 0;
progress_sleep:
        if
        :: infutex[sl] == 0 -> skip                         /* woken */
#if TIMEOUTS
        :: d_step { infutex[sl] == 1; infutex[sl] = 0 }     /* the slice ran out */
#endif
        :: DIE
        fi
    :: else -> skip
    fi
}

/* ---- writer ---------------------------------------------------------------- */

/* fan_writer_cond: m = the lowest position the writer of ring w must
 * keep; res = YES if one more record fits after wp. */
inline w_cond()
{
#ifdef QUEUE
    STEP(m = head[w]);                  /* head first, then the slots */
#else
    m = wp;
#endif
    k = 0;
    do
    :: k == NR -> break
    :: else ->
#ifndef BROKEN_MIN_IGNORES_SLOTS
        STEP(st = state[k]);            /* shm_load_seq_cst32(state) */
        if
        :: st != 0 ->
#if NW == 1
            STEP(p = pos[k]; assert(p <= wp)); /* shm_load_seq_cst64(pos) */
            if
#ifdef QUEUE
            :: st == 1 && dead[k] ->    /* fan_is_dead: a take counts only if live */
#else
            :: dead[k] ->
#endif
                STEP(if                 /* fan_is_dead: load owner */
                     :: owner[k] == deadown[k] -> p = 255
                     :: else -> skip
                     fi)
            :: else -> skip
            fi;
            if :: p < m -> m = p :: else -> skip fi
#else
            STEP(p = pos[k]);           /* shm_load_seq_cst64(pos) */
#ifndef NO_STATE_RELOAD
            /* the state again: a changed one ended that take, or it began
             * at or after the head loaded above */
            STEP(if :: state[k] != st -> st = 0 :: else -> skip fi);
#endif
#ifndef BROKEN_ANY_RING
            if :: QRING(st) != w -> st = 0 :: else -> skip fi; /* another ring's */
#endif
            if
            :: st != 0 && QST(st) == 1 && dead[k] ->
                STEP(if                 /* fan_is_dead: load owner */
                     :: owner[k] == deadown[k] -> st = 0
                     :: else -> skip
                     fi)
            :: else -> skip
            fi;
            if
            :: st != 0 && p > wp ->
#ifdef BROKEN_STATE_ABA
                /* the C code before F11: EPROTO (a corrupt pos) */
                assert(p <= wp)
#else
                /* F11: not a position of ring w (no take of ring w starts
                 * beyond its write_pos): the reader's take in another ring,
                 * loaded between two takes of ring w whose state values
                 * are the same */
                st = 0
#endif
            :: else -> skip
            fi;
            if :: st != 0 && p < m -> m = p :: else -> skip fi
#endif
        :: else -> skip
        fi;
#endif
        st = 0; p = 0; k++
    od;
    k = 0;
    if :: wp + 1 - m <= CAP -> res = YES :: else -> res = NO fi
}

/* fan_writer_verdict: test the locks of the slots that hold the writer
 * back; a free one is marked dead with its owner word. (Queue: the writer's
 * EPIPE when no reader is left is not modelled.) With WRITERS, as the C
 * code of the queue does it: every slot's lock, and a free one in state 1
 * (of any ring) is marked dead. */
inline w_verdict()
{
    k = 0;
    do
    :: k == NR -> break
    :: else ->
        STEP(st = state[k]);
        STEP(o = owner[k]);
#if NW == 1
        if
#ifdef QUEUE
        :: st == 1 ->
#else
        :: st != 0 ->
#endif
            if
            :: dead[k] -> STEP(if :: owner[k] == deadown[k] -> st = 0 :: else -> skip fi)
            :: else -> skip
            fi;
            if
            :: st != 0 ->
                STEP(p = pos[k]);
                if
                :: p <= wp && wp + 1 - p <= CAP -> skip  /* not holding us back */
                :: else ->
                    STEP(if                              /* fan_slot_alive: test the lock */
                         :: lk[k] == 0 -> dead[k] = 1; deadown[k] = o
                         :: else -> skip
                         fi)
                fi
            :: else -> skip
            fi
        :: else -> skip
        fi;
#else
        STEP(if                                         /* fan_slot_alive: test the lock */
             :: lk[k] == 0 && QST(st) == 1 -> dead[k] = 1; deadown[k] = o
             :: else -> skip
             fi);
#endif
        st = 0; o = 0; p = 0; k++
    od;
    k = 0
}

/* The writer of writer slot w (lock slot WSL(w), ring w). */
proctype writer(byte me; byte w)
{
    byte wp, m, k, st, p, o, id, tmp, res, s;
    bit dead[NR];
    byte deadown[NR];

    STEP(lk[WSL(w)] = me; running[me] = 1);     /* chan_claim (lock slot R + w) */
    STEP(wp = wpos[w]);                         /* fan_start_role: load write_pos */
#ifdef QUEUE
    STEP(assert(head[w] <= wp && wp <= head[w] + CAP)); /* load head, check */
#endif
    m = wp - CAP;                               /* cached minimum: "full" */
    STEP(wowner[w] = me);                       /* store owner */
    STEP(closed[w] = 0);                        /* store closed = 0 */
    STEP(sleepf[RSLP] = 0);                     /* wake the readers, always: exchange */
#ifndef BROKEN_WAIT_ON_READER_SLEEP
    STEP(gcur[0] = 0; gcur[1] = 0);             /* fetch_add(reader_wake, 1) */
#endif
    STEP(infutex[0] = 0; infutex[1] = 0);       /* FUTEX_WAKE(all) */
#ifdef DEAD1
    id = ncommit[w] + 1;                        /* (after an earlier holder's) */
#else
    id = 1;
#endif
    do
    :: id > WNMSG(w) -> break
    :: else ->
        if
        :: wp + 1 - m > CAP ->                  /* cached minimum says full */
            w_cond();                           /* chan_wait: first look */
            do
            :: res == YES -> break
            :: else ->
                w_verdict();                    /* chan_peer_state */
                STEP(sleepf[WSL(w)] = 1);       /* store writer_sleep = 1 */
                w_cond();                       /* re-check */
                if
                :: res == YES -> STEP(sleepf[WSL(w)] = 0)
                :: else ->
                    fwait(WSL(w), WSL(w));
                    STEP(sleepf[WSL(w)] = 0);
                    w_cond()
                fi
            od
        :: else -> skip
        fi;
        STEP(ring[RC(w, wp)] = MSGV(w, id));    /* shmlink_channel_send: memcpy */
        STEP(wp++; wpos[w] = wp; ncommit[w]++; res = 0); /* commit: store write_pos */
progress_commit:
        wake_readers();                         /* chan_wake_readers */
        id++
    od;
    STEP(closed[w] = 1);                        /* fan_close: store closed = 1 */
    STEP(wowner[w] = 0);                        /* chan_unclaim: owner 0 */
    STEP(lk[WSL(w)] = 0);                       /*   release the lock */
    wake_readers();
    running[me] = 0;
    goto gone;
dying:
    assert(false);                              /* the writer is not killed */
gone:
    skip
}

/* ---- readers --------------------------------------------------------------- */

/* Reader: take the first free reader slot (two try-locks in one step: no
 * other process tries reader locks in this model, except adopters, which
 * only take a dead reader's slot). */
inline r_claim()
{
    STEP(running[me] = 1;
         if
         :: lk[0] == 0 -> lk[0] = me; s = 0
         :: lk[0] != 0 && lk[1] == 0 -> lk[1] = me; s = 1
         fi)
}

/* Leaving (13.2; fan_close): state 0 (broadcast, or a queue slot not
 * holding a peek), gone = 1, owner 0, unlock, wake the writer. */
inline r_close()
{
    if
    :: QST(state[s]) != 2 -> STEP(state[s] = 0) /* (private: our own peek?) */
    :: else -> skip
    fi;
    STEP(rgone[s] = 1);
    STEP(owner[s] = 0);                         /* CAS(owner, own, 0) */
    STEP(lk[s] = 0);                            /* release the lock */
    wake_writer(0)                              /* every writer */
#if NW > 1
    ;
    wake_writer(1)
#endif
}

#ifndef QUEUE
/* ---- broadcast reader ---- */

/* chan_cond (reader) with a forced reload of write_pos: res = YES if the
 * record at myrp is committed. */
#define B_COND STEP(wpc = wpos[0]; if :: myrp < wpc -> res = YES :: else -> res = NO fi)

proctype reader(byte me)
{
    byte s, myrp, wpc, x, v, tmp, res, last;

end_start:
    r_claim();
    STEP(x = wpos[0]);                             /* fan_start_role: X = write_pos */
    STEP(owner[s] = me);                        /* store owner */
    STEP(rgone[s] = 0);                          /* store gone = 0 */
    STEP(pos[s] = x);                           /* store pos = X */
    STEP(state[s] = 1);                         /* store state = 1 (seq_cst) */
#ifdef BROKEN_JOIN_NO_RELOAD
    /* wrong: keeps pos = X; a scan before the state store authorised the
     * writer past X */
    myrp = x;
#else
    STEP(x = wpos[0]);                             /* Y = write_pos (seq_cst) */
    STEP(pos[s] = x);                           /* store pos = Y */
    myrp = x;
#endif
    wpc = myrp; x = 0;
    last = MSGAT(0, myrp) - 1;                     /* ghost: joined at message last+1 */
    wake_writers_always();                      /* chan_wake_always(writer_sleep) */
    do
#if LEAVE
    :: goto rclose                              /* the application closes */
#endif
    :: true ->
        /* chan_reader_get: chan_next_record at myrp */
        if
        :: myrp == wpc -> STEP(wpc = wpos[0])      /* chan_reload_wp */
        :: else -> skip
        fi;
        if
        :: myrp < wpc -> res = YES
        :: else ->
            B_COND;                             /* chan_wait: first look */
            do
            :: res != NO -> break
            :: else ->
                STEP(if :: closed[0] != 0 -> res = ENODATA :: else -> skip fi); /* peer state */
                if
                :: res == ENODATA ->
                    B_COND;                     /* last look */
                    if :: res == NO -> res = ENODATA :: else -> skip fi
                :: else ->
                    r_announce();               /* g = reader_wake; reader_sleep = 1 */
                    B_COND;                     /* re-check */
                    if
                    :: res == NO ->
                        STEP(if :: closed[0] != 0 -> res = ENODATA :: else -> skip fi);
                        if
                        :: res == ENODATA ->
                            B_COND;
                            if :: res == NO -> res = ENODATA :: else -> skip fi
                        :: else ->
                            rwait(s);       /* FUTEX_WAIT(&reader_wake, g) */
#ifdef BROKEN_READER_CLEARS
                            STEP(sleepf[RSLP] = 0); /* wrong: a sleeper clears it */
#endif
                            B_COND
                        fi
                    :: else ->
#ifdef BROKEN_READER_CLEARS
                        STEP(sleepf[RSLP] = 0)
#else
                        skip                    /* leaves its 1 behind */
#endif
                    fi
                fi
            od;
            gcur[s] = 0                 /* (g no longer used) */
        fi;
        if
        :: res == ENODATA ->
            /* end of stream: every message from the join point on */
            assert(last == NMSG && ncommit[0] == NMSG);
            goto rclose
        :: else -> skip
        fi;
        /* memcpy of the record: the message committed at myrp, whole, and
         * still there when the copy ends */
        STEP(v = ring[RC(0, myrp)]; assert(v == MSGAT(0, myrp)));
        STEP(assert(ring[RC(0, myrp)] == v));
        assert(v == last + 1);                  /* in order, none skipped */
        last = v; v = 0;
        myrp++;
        STEP(pos[s] = myrp);                    /* chan_publish_rp: store pos */
        wake_writer(0)
    od;
rclose:
    r_close();
    d_step { running[me] = 0; rdone++ };
    goto gone;
dying:
    atomic { crash() };
gone:
    skip
}

#else
/* ---- queue reader ---- */

/* q_ready: res = YES if the head of some ring is short of its write_pos
 * (from the current ring on; the ring found becomes the current one). */
inline q_ready()
{
#if NW == 1
    STEP(h = head[0]);
    STEP(if :: h != wpos[0] -> res = YES :: else -> res = NO fi);
    h = 0
#else
    res = NO;
    qk = 0;
    do
    :: qk == NW -> break
    :: else ->
        STEP(h = head[(cur + qk) % NW]);
        STEP(if :: h != wpos[(cur + qk) % NW] -> res = YES :: else -> skip fi);
        if
        :: res == YES -> cur = (cur + qk) % NW; break   /* chan_use_ring */
        :: else -> qk++
        fi
    od;
    qk = 0; h = 0
#endif
}

/* q_take in the current ring cur: res = YES (delivered), EMPTY. WRITERS:
 * reload = 0 takes "what we last saw of the ring is taken" as empty. */
inline q_take()
{
    res = AGAIN;
    announced = 0;
    do
    :: res != AGAIN -> break
    :: else ->
        STEP(h = head[cur]);                    /* shm_load_seq_cst64(head) */
        if
        :: h == wpc[cur] || !(h <= wpc[cur] && wpc[cur] - h <= CAP) ->
#if NW > 1
            if
            :: h == wpc[cur] && !reload -> res = EMPTY  /* next ring */
            :: else ->
#endif
            STEP(tmp = wpos[cur]);              /* load write_pos */
            if
            :: !(h <= tmp && tmp - h <= CAP) -> /* head passed meanwhile */
                STEP(assert(head[cur] != h));
                tmp = 0
            :: else ->
                wpc[cur] = tmp; tmp = 0;
                if :: h == wpc[cur] -> res = EMPTY :: else -> skip fi
            fi
#if NW > 1
            fi
#endif
        :: else -> skip
        fi;
        if
        :: res == EMPTY ->
            if
            :: announced ->
                STEP(state[s] = 0);             /* end an earlier announcement */
#ifndef BROKEN_EMPTY_NO_WAKE
                /* F6: the writer may have counted our pos (an h that
                 * other readers have passed since) and gone to sleep */
                wake_writer(cur)
#endif
            :: else -> skip
            fi
        :: res == AGAIN && h <= wpc[cur] && wpc[cur] - h <= CAP && h != wpc[cur] ->
            STEP(pos[s] = h);                   /* store pos = h */
            STEP(state[s] = QMAKE(1, cur));     /* store state = 1 | ring (seq_cst) */
            announced = 1;
            STEP(if :: head[cur] != h -> res = NO :: else -> skip fi); /* head moved? */
            if
            :: res == NO -> res = AGAIN
            :: else ->
                /* chan_next_record: the record at h is committed (h < wpc) */
                STEP(v = ring[RC(cur, h)]; assert(v == MSGAT(cur, h)));
#if PEEK && !defined(BROKEN_PEEK_STATE_AFTER_CAS)
                STEP(qend[s] = h + 1; state[s] = QMAKE(2, cur)); /* end = e; state = 2 */
#endif
                STEP(if                         /* CAS(head, h, e) */
                     :: head[cur] == h -> head[cur] = h + 1; res = YES
                     :: else -> res = NO
                     fi);
#if PEEK && defined(BROKEN_PEEK_STATE_AFTER_CAS)
                /* wrong: state 2 after the CAS: a kill in between loses it */
                if :: res == YES -> STEP(qend[s] = h + 1; state[s] = QMAKE(2, cur)) :: else -> skip fi;
#endif
                if
                :: res == NO ->
#if PEEK && !defined(BROKEN_PEEK_STATE_AFTER_CAS)
                    STEP(state[s] = QMAKE(1, cur)); /* another reader took it */
#endif
                    res = AGAIN
                :: else ->
#if PEEK
                    delivered[v]++;             /* the application has it */
#if LEAVE
                    if
                    :: goto rclose              /* close during the peek: an orphan */
                    :: skip
                    fi;
#endif
                    /* q_release: the acknowledgement; the record is intact */
                    STEP(assert(ring[RC(cur, h)] == v); state[s] = 0; acked[v]++);
#else
                    /* memcpy, then state = 0 */
                    STEP(assert(ring[RC(cur, h)] == v); delivered[v]++;
                         assert(delivered[v] <= 1));
                    STEP(state[s] = 0);
#endif
                    v = 0;
                    wake_writer(cur)
                fi
            fi
        :: else -> skip
        fi
    od;
    h = 0
}

/* q_take_any: the current ring without reloading its write_pos, then the
 * other rings in turn and the current one last, reloading (13.3); the
 * ring taken from becomes the current one. res = YES or EMPTY. */
inline q_take_any()
{
#if NW == 1
    q_take()
#else
    qs = cur;
    qk = 0;
    do
    :: qk > NW -> break
    :: else ->
        cur = (qs + qk) % NW;                   /* chan_use_ring */
        reload = (qk > 0);
        q_take();
        if
        :: res == EMPTY -> qk++
        :: else -> break
        fi
    od;
    qs = 0; qk = 0; reload = 0
#endif
}

#if PEEK
/* q_adopt: the other slot's unreleased peek, if its lock is free.
 * res = YES (delivered) or NO. */
inline q_adopt()
{
    res = NO;
    STEP(if :: QST(state[1 - s]) == 2 -> res = YES :: else -> skip fi); /* state == 2? */
    if
    :: res == YES ->
        STEP(o = owner[1 - s]);                 /* fan_slot_alive: owner, */
        STEP(if :: lk[1 - s] != 0 -> res = NO :: else -> skip fi) /* lock test */
    :: else -> skip
    fi;
    if
    :: res == YES ->
        STEP(if                                 /* shmlink__lock_take */
             :: lk[1 - s] == 0 -> lk[1 - s] = me
             :: else -> res = NO                /* EBUSY */
             fi)
    :: else -> skip
    fi;
    if
    :: res == YES ->
        STEP(if :: QST(state[1 - s]) != 2 -> res = NO :: else -> skip fi); /* again */
        if
        :: res == YES ->                        /* q_check_held */
            STEP(p = pos[1 - s]);
            STEP(e = qend[1 - s]);
#if NW > 1
            STEP(cur = QRING(state[1 - s]));    /* its ring (chan_use_ring) */
#endif
            STEP(h = head[cur]);
            STEP(tmp = wpos[cur]; assert(p < e && e <= tmp && tmp - p <= CAP));
            tmp = 0;
            if
            :: p >= h ->                        /* its CAS never happened */
                STEP(state[1 - s] = 0); res = NO
            :: else ->
                STEP(v = ring[RC(cur, p)]; assert(v == MSGAT(cur, p) && e == p + 1));
                delivered[v]++;
#if PEEK
                STEP(assert(ring[RC(cur, p)] == v); state[1 - s] = 0; acked[v]++); /* release */
#else
                STEP(assert(ring[RC(cur, p)] == v));  /* memcpy */
                STEP(state[1 - s] = 0)
#endif
            fi;
            h = 0; p = 0; e = 0
        :: else -> skip
        fi;
        STEP(lk[1 - s] = 0);                    /* shmlink__lock_give */
        if :: res == YES -> v = 0; wake_writer(cur) :: else -> skip fi
    :: else -> skip
    fi;
    o = 0
}

/* q_orphan_ready (the other slot: state 2 and its lock free): res = ORPHAN,
 * else unchanged. */
inline q_orphan_ready()
{
    STEP(if :: QST(state[1 - s]) == 2 -> res = ORPHAN :: else -> skip fi);
    if
    :: res == ORPHAN ->
        STEP(o = owner[1 - s]);
        STEP(if :: lk[1 - s] != 0 -> res = NO :: else -> skip fi);
        o = 0
    :: else -> skip
    fi
}
#else
/* recv only (PEEK=0): no slot is ever in state 2, so every look for an
 * orphan (q_adopt, q_orphan_ready) is one load of the other slot's state
 * that finds none and changes nothing: left out (a step that changes
 * nothing removes no behaviour). */
inline q_adopt()
{
    res = NO
}
inline q_orphan_ready()
{
    skip
}
#endif

/* The writers' part of chan_peer_state, called with res = NO: res =
 * ENODATA when the writers are done, else NO. One writer: its closed (it
 * is not killed: no EPIPE). WRITERS: fi_verdict: each writer slot's owner
 * word, then its lock (held: keep waiting); a free one: closed, and with
 * closed = 0 and an owner word, the owner word again (the same: its
 * holder died, which the writers here do not); ENODATA only when every
 * slot's last holder closed it. */
inline r_writers_done()
{
#if NW == 1
    STEP(if :: closed[0] != 0 -> res = ENODATA :: else -> skip fi)
#else
    res = ENODATA;
    qk = 0;
    do
    :: qk == NW -> break
    :: else ->
        STEP(o = wowner[qk]);                   /* load owner */
        STEP(if :: lk[WSL(qk)] != 0 -> res = NO :: else -> skip fi); /* fan_slot_alive */
        if
        :: res == ENODATA ->
            STEP(if :: closed[qk] == 0 -> res = NO :: else -> skip fi);
            if
            :: res == NO && o != 0 -> STEP(assert(wowner[qk] != o)) /* not died */
            :: else -> skip
            fi
        :: else -> skip
        fi;
        if :: res == NO -> break :: else -> qk++ fi
    od;
    qk = 0; o = 0
#endif
}

/* The re-check of chan_wait after the announcement, past q_ready and
 * q_orphan_ready (res = NO): the writers' state, if some writer closed
 * (one writer: its closed; WRITERS: fi_any_closed), with chan_peer_state
 * (q_orphan_ready, the writers, the last look). res = NO: sleep; else
 * ENODATA, ORPHAN or YES. */
inline r_recheck_end()
{
    STEP(if :: closed[0] != 0 -> res = ENODATA :: else -> skip fi);
#if NW > 1
    if
    :: res == NO -> STEP(if :: closed[1] != 0 -> res = ENODATA :: else -> skip fi)
    :: else -> skip
    fi;
#endif
    if
    :: res == ENODATA ->
#if PEEK
        STEP(if :: QST(state[1 - s]) == 2 -> res = NO :: else -> skip fi);
        if
        :: res == NO ->                         /* q_orphan_ready: peer state */
            STEP(if :: lk[1 - s] == 0 -> res = ORPHAN :: else -> res = ENODATA fi)
        :: else -> skip
        fi;
#endif
#if NW > 1
        if
        :: res == ENODATA -> res = NO; r_writers_done()
        :: else -> skip
        fi;
#endif
        if
        :: res == ENODATA ->
            q_ready();                          /* the last look */
            if :: res == NO -> res = ENODATA :: else -> skip fi
        :: else -> skip
        fi
    :: else -> skip
    fi
}

/* fan_start_role of a queue reader, ring w: head, then write_pos (the
 * cached one), checked: head <= write_pos (F12: other readers move head
 * meanwhile, so write_pos may be more than a ring ahead of the head
 * loaded; q_take sorts that out). */
#ifdef BROKEN_START_WP_FIRST
/* the C code before F12: write_pos, then head, then head <= write_pos <=
 * head + capacity, else EPROTO */
#define START_RING(w) STEP(wpc[w] = wpos[w]);                               \
    STEP(h = head[w]; assert(h <= wpc[w] && wpc[w] - h <= CAP)); h = 0
#else
#define START_RING(w) STEP(h = head[w]);                                    \
    STEP(wpc[w] = wpos[w]; assert(h <= wpc[w])); h = 0
#endif

proctype reader(byte me)
{
    byte s, h, p, e, o, v, tmp, res, cur;
    byte wpc[NW];                               /* write_pos cached per ring */
#if NW > 1
    byte qk, qs;
    bit reload;
#endif
    bit announced, scan, own;

end_start:
    r_claim();
    STEP(owner[s] = me);                        /* fan_start_role: owner */
    STEP(rgone[s] = 0);                         /* gone = 0 */
    /* each ring's write_pos and head (C order: ring W-1 down to 0) */
#if NW > 1
    START_RING(1);
#endif
    START_RING(0);
    STEP(tmp = state[s]);                       /* a dead reader's slot? */
    if
    :: QST(tmp) == 2 -> own = 1                 /* its peek: ours to check first */
    :: QST(tmp) == 1 -> STEP(state[s] = 0)      /* its take: done or never */
    :: else -> skip
    fi;
    tmp = 0;
    wake_writers_always();                      /* chan_wake_always(writer_sleep) */
    do
    :: true ->                                  /* q_get */
        scan = 0;
        if
        :: true -> scan = 1                     /* orphan scan due (timer) */
        :: true
        fi;
        do
        :: true ->
            if
            :: own ->                           /* q_adopt: our slot's orphan */
                own = 0;
                STEP(p = pos[s]; e = qend[s]);
#if NW > 1
                STEP(cur = QRING(state[s]));    /* its ring (chan_use_ring) */
#endif
                STEP(h = head[cur]);
                if
                :: p >= h -> STEP(state[s] = 0); res = NO
                :: else ->
                    STEP(v = ring[RC(cur, p)]; assert(v == MSGAT(cur, p) && e == p + 1));
                    delivered[v]++;
                    STEP(assert(ring[RC(cur, p)] == v); state[s] = 0; acked[v]++);
                    res = YES
                fi;
                h = 0; p = 0; e = 0;
                if :: res == YES -> v = 0; wake_writer(cur); break :: else -> skip fi
            :: else -> skip
            fi;
            if
            :: scan -> q_adopt(); if :: res == YES -> break :: else -> skip fi
            :: else -> skip
            fi;
            q_take_any();
            if
            :: res == YES -> break
            :: else -> skip
            fi;
            if
            :: !scan -> scan = 1; goto next     /* empty: look for orphans first */
            :: else -> skip
            fi;
            /* chan_wait */
            q_ready();                          /* first look */
            do
            :: res != NO -> break
            :: else ->
                /* chan_peer_state: q_orphan_ready, the writers, last look */
                q_orphan_ready();
                if
                :: res == NO ->
                    r_writers_done();
                    if
                    :: res == ENODATA ->
                        q_ready();              /* last look */
                        if :: res == NO -> res = ENODATA :: else -> skip fi
                    :: else -> skip
                    fi
                :: else -> skip
                fi;
                if
                :: res == NO ->
                    r_announce();               /* g = reader_wake; reader_sleep = 1 */
                    q_ready();                  /* re-check */
#ifndef BROKEN_NO_ORPHAN_RECHECK
                    /* F7: the re-check includes q_orphan_ready: a reader
                     * that closes during a peek frees its lock, then wakes
                     * the readers (an orphan to adopt at once) */
                    if
                    :: res == NO -> q_orphan_ready()
                    :: else -> skip
                    fi;
#endif
                    if
                    :: res == NO ->
                        r_recheck_end();
                        if
                        :: res == NO ->
                            rwait(s);           /* FUTEX_WAIT(&reader_wake, g) */
                            q_ready()
                        :: else -> skip
                        fi
                    :: else -> skip
                    fi
                :: else -> skip
                fi
            od;
            gcur[s] = 0;                /* (g no longer used) */
            if
            :: res == ENODATA ->
                assert(ncommit[0] == NMSG && ncommit[NW - 1] == WNMSG(NW - 1));
                goto rclose
            :: else -> skip
            fi;
next:
            skip
        od
    od;
rclose:
    r_close();
#if LEAVE
    wake_readers();                             /* an orphan for the others */
#endif
    d_step { running[me] = 0; rdone++ };
    goto gone;
dying:
    atomic { crash() };
gone:
    skip
}
#endif

init
{
    atomic {
#if NW > 1
        wpos[1] = RSTART(1);
        head[1] = RSTART(1);
#ifdef DEAD1
        /* Reader slot 1's last holder (id 3) died taking (DEAD1=1) or
         * holding a peek (2) of message 1 of ring 1, committed by an
         * earlier holder of writer slot 1; its CAS happened or not. */
        ring[RC(1, RSTART(1))] = MSGV(1, 1);
        wpos[1] = RSTART(1) + 1;
        ncommit[1] = 1;
        owner[1] = 3;
        pos[1] = RSTART(1);
        qend[1] = RSTART(1) + (DEAD1 == 2);
        state[1] = QMAKE(DEAD1, 1);
        if
        :: head[1] = RSTART(1) + 1; lost1 = (DEAD1 == 1) /* its CAS happened */
        :: skip                                 /* it did not */
        fi;
#endif
        run writer(4, 1);
#ifdef W1FIRST
    };
    !running[4] && closed[1];                  /* writer 4 has committed and closed */
    atomic {
#endif
#endif
        run writer(1, 0);
        run reader(2)
#if NRP > 1
        ;
        run reader(3)
#endif
    }
}
