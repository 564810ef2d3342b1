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
 *
 * Records: one ring cell per record, holding the message number (header
 * and payload in one cell). The reader checks the number: a record read
 * before its commit, or overwritten, shows another lap's number. Padding,
 * headers and the section 7 checks are channel.pml's.
 *
 * Options (spin -D...):
 *   QUEUE        work queue (13.3); without it broadcast (13.2)
 *   PEEK=0       queue: every call is recv (take); 1: peek, then release
 *   CAP=2        ring cells;  NMSG=3 messages (positions START..)
 *   TIMEOUTS=1   0: only FUTEX_WAKE wakes a sleeper. A sleeper is not a
 *                valid end state here, so a lost wake-up is a deadlock
 *                ("invalid end state") when TIMEOUTS=0.
 *   CRASHES=1    readers that may be killed (0, 1 or 2)
 *   LEAVE=0      1: a reader may close at any time between calls (broadcast:
 *                leave; queue: close while holding a peek, an orphan)
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

#define NR 2                    /* reader slots = lock slots 0, 1 */
#define WS 2                    /* the writer's lock slot (R + 0) */
#define RSLP 0                  /* sleepf[RSLP]: the shared reader_sleep */
#define NROLES 3
#define NPROC 4                 /* 1 writer; 2, 3 readers */

#include "kernel.pml"

#define YES 1
#define NO 0
#define EMPTY 2
#define AGAIN 3
#define ENODATA 4
#define ORPHAN 5
#define MSGAT(p) ((p) - START + 1)      /* the message whose record is at p */

/* ---- shared memory (13.1) ----------------------------------------------- */
byte wpos = START;              /* writer slot: write_pos */
byte head = START;              /* writer slot: head (queue) */
byte closed;                    /* writer slot: closed */
byte wowner;                    /* writer slot: owner */
byte owner[NR];                 /* reader slot: owner */
byte pos[NR];                   /* reader slot: pos */
byte qend[NR];                  /* reader slot: end (queue) */
byte state[NR];                 /* reader slot: state */
byte rgone[NR];                  /* reader slot: gone */
byte ring[CAP];
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
byte ncommit;
bit running[NPROC];
bit crashed[NPROC];
byte crash_left = CRASHES;
byte rdone;                     /* readers finished or dead */
byte delivered[NMSG + 1];       /* queue: deliveries per message */
byte acked[NMSG + 1];           /* queue: releases (peek) per message */
#ifdef QUEUE
active proctype final()         /* the end: nothing lost, nothing doubled */
{
    byte i = 1;
end_final:
    rdone == NR && !running[1];
    do
    :: i <= ncommit ->
#if PEEK
        /* none lost: released, or still held in state 2 (an orphan for a
         * later reader), or not yet taken */
        assert(acked[i] > 0 || START + i - 1 >= head ||
               (state[0] == 2 && pos[0] == START + i - 1) ||
               (state[1] == 2 && pos[1] == START + i - 1));
#else
        assert(delivered[i] <= 1);             /* at most once */
        assert(CRASHES > 0 || delivered[i] == 1); /* exactly once */
#endif
        i++
    :: else -> break
    od
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
inline wake_writer()
{
    if
    :: d_step { victim != me && sleepf[WS] == 1 } ->
        STEP(tmp = sleepf[WS]; sleepf[WS] = 0);
        if
        :: tmp == 1 -> STEP(infutex[WS] = 0; tmp = 0)      /* FUTEX_WAKE(1) */
        :: else -> skip
        fi
    :: d_step { victim != me && sleepf[WS] != 1 }
    :: DIE
    fi
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

/* fan_writer_cond: m = the lowest position the writer must keep; res = YES
 * if one more record fits after wp. */
inline w_cond()
{
#ifdef QUEUE
    STEP(m = head);                     /* head first, then the slots */
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
 * EPIPE when no reader is left is not modelled.) */
inline w_verdict()
{
    k = 0;
    do
    :: k == NR -> break
    :: else ->
        STEP(st = state[k]);
        STEP(o = owner[k]);
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
        st = 0; o = 0; p = 0; k++
    od;
    k = 0
}

proctype writer(byte me)
{
    byte wp, m, k, st, p, o, id, tmp, res, s;
    bit dead[NR];
    byte deadown[NR];

    STEP(lk[WS] = me; running[me] = 1);         /* chan_claim (lock slot R) */
    STEP(wp = wpos);                            /* fan_start_role: load write_pos */
#ifdef QUEUE
    STEP(assert(head <= wp && wp <= head + CAP)); /* load head, check */
#endif
    m = wp - CAP;                               /* cached minimum: "full" */
    STEP(wowner = me);                          /* store owner */
    STEP(closed = 0);                           /* store closed = 0 */
    STEP(sleepf[RSLP] = 0);                     /* wake the readers, always: exchange */
#ifndef BROKEN_WAIT_ON_READER_SLEEP
    STEP(gcur[0] = 0; gcur[1] = 0);             /* fetch_add(reader_wake, 1) */
#endif
    STEP(infutex[0] = 0; infutex[1] = 0);       /* FUTEX_WAKE(all) */
    id = 1;
    do
    :: id > NMSG -> break
    :: else ->
        if
        :: wp + 1 - m > CAP ->                  /* cached minimum says full */
            w_cond();                           /* chan_wait: first look */
            do
            :: res == YES -> break
            :: else ->
                w_verdict();                    /* chan_peer_state */
                STEP(sleepf[WS] = 1);           /* store writer_sleep = 1 */
                w_cond();                       /* re-check */
                if
                :: res == YES -> STEP(sleepf[WS] = 0)
                :: else ->
                    fwait(WS, WS);
                    STEP(sleepf[WS] = 0);
                    w_cond()
                fi
            od
        :: else -> skip
        fi;
        STEP(ring[wp % CAP] = id);              /* shmlink_channel_send: memcpy */
        STEP(wp++; wpos = wp; ncommit++; res = 0); /* commit: store write_pos */
progress_commit:
        wake_readers();                         /* chan_wake(reader_sleep, all) */
        id++
    od;
    STEP(closed = 1);                           /* fan_close: store closed = 1 */
    STEP(wowner = 0);                           /* chan_unclaim: owner 0 */
    STEP(lk[WS] = 0);                           /*   release the lock */
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
    :: state[s] != 2 -> STEP(state[s] = 0)       /* (private: our own peek?) */
    :: else -> skip
    fi;
    STEP(rgone[s] = 1);
    STEP(owner[s] = 0);                         /* CAS(owner, own, 0) */
    STEP(lk[s] = 0);                            /* release the lock */
    wake_writer()
}

#ifndef QUEUE
/* ---- broadcast reader ---- */

/* chan_cond (reader) with a forced reload of write_pos: res = YES if the
 * record at myrp is committed. */
#define B_COND STEP(wpc = wpos; if :: myrp < wpc -> res = YES :: else -> res = NO fi)

proctype reader(byte me)
{
    byte s, myrp, wpc, x, v, tmp, res, last;

end_start:
    r_claim();
    STEP(x = wpos);                             /* fan_start_role: X = write_pos */
    STEP(owner[s] = me);                        /* store owner */
    STEP(rgone[s] = 0);                          /* store gone = 0 */
    STEP(pos[s] = x);                           /* store pos = X */
    STEP(state[s] = 1);                         /* store state = 1 (seq_cst) */
#ifdef BROKEN_JOIN_NO_RELOAD
    /* wrong: keeps pos = X; a scan before the state store authorised the
     * writer past X */
    myrp = x;
#else
    STEP(x = wpos);                             /* Y = write_pos (seq_cst) */
    STEP(pos[s] = x);                           /* store pos = Y */
    myrp = x;
#endif
    wpc = myrp; x = 0;
    last = MSGAT(myrp) - 1;                     /* ghost: joined at message last+1 */
    STEP(sleepf[WS] = 0);                       /* chan_wake_always(writer_sleep) */
    STEP(infutex[WS] = 0);
    do
#if LEAVE
    :: goto rclose                              /* the application closes */
#endif
    :: true ->
        /* chan_reader_get: chan_next_record at myrp */
        if
        :: myrp == wpc -> STEP(wpc = wpos)      /* chan_reload_wp */
        :: else -> skip
        fi;
        if
        :: myrp < wpc -> res = YES
        :: else ->
            B_COND;                             /* chan_wait: first look */
            do
            :: res != NO -> break
            :: else ->
                STEP(if :: closed != 0 -> res = ENODATA :: else -> skip fi); /* peer state */
                if
                :: res == ENODATA ->
                    B_COND;                     /* last look */
                    if :: res == NO -> res = ENODATA :: else -> skip fi
                :: else ->
                    r_announce();               /* g = reader_wake; reader_sleep = 1 */
                    B_COND;                     /* re-check */
                    if
                    :: res == NO ->
                        STEP(if :: closed != 0 -> res = ENODATA :: else -> skip fi);
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
            assert(last == NMSG && ncommit == NMSG);
            goto rclose
        :: else -> skip
        fi;
        /* memcpy of the record: the message committed at myrp, whole, and
         * still there when the copy ends */
        STEP(v = ring[myrp % CAP]; assert(v == MSGAT(myrp)));
        STEP(assert(ring[myrp % CAP] == v));
        assert(v == last + 1);                  /* in order, none skipped */
        last = v; v = 0;
        myrp++;
        STEP(pos[s] = myrp);                    /* chan_publish_rp: store pos */
        wake_writer()
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

/* q_ready: res = YES if head is short of write_pos. */
#define Q_COND STEP(h = head); STEP(if :: h != wpos -> res = YES :: else -> res = NO fi); h = 0

/* q_take: res = YES (delivered), EMPTY. */
inline q_take()
{
    res = AGAIN;
    announced = 0;
    do
    :: res != AGAIN -> break
    :: else ->
        STEP(h = head);                         /* shm_load_seq_cst64(head) */
        if
        :: h == wpc || !(h <= wpc && wpc - h <= CAP) ->
            STEP(tmp = wpos);                   /* load write_pos */
            if
            :: !(h <= tmp && tmp - h <= CAP) -> /* head passed meanwhile */
                STEP(assert(head != h));
                tmp = 0
            :: else ->
                wpc = tmp; tmp = 0;
                if :: h == wpc -> res = EMPTY :: else -> skip fi
            fi
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
                wake_writer()
#endif
            :: else -> skip
            fi
        :: res == AGAIN && h <= wpc && wpc - h <= CAP && h != wpc ->
            STEP(pos[s] = h);                   /* store pos = h */
            STEP(state[s] = 1);                 /* store state = 1 (seq_cst) */
            announced = 1;
            STEP(if :: head != h -> res = NO :: else -> skip fi); /* head moved? */
            if
            :: res == NO -> res = AGAIN
            :: else ->
                /* chan_next_record: the record at h is committed (h < wpc) */
                STEP(v = ring[h % CAP]; assert(v == MSGAT(h)));
#if PEEK && !defined(BROKEN_PEEK_STATE_AFTER_CAS)
                STEP(qend[s] = h + 1; state[s] = 2); /* end = e; state = 2 (seq_cst) */
#endif
                STEP(if                         /* CAS(head, h, e) */
                     :: head == h -> head = h + 1; res = YES
                     :: else -> res = NO
                     fi);
#if PEEK && defined(BROKEN_PEEK_STATE_AFTER_CAS)
                /* wrong: state 2 after the CAS: a kill in between loses it */
                if :: res == YES -> STEP(qend[s] = h + 1; state[s] = 2) :: else -> skip fi;
#endif
                if
                :: res == NO ->
#if PEEK && !defined(BROKEN_PEEK_STATE_AFTER_CAS)
                    STEP(state[s] = 1);         /* another reader took it */
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
                    STEP(assert(ring[h % CAP] == v); state[s] = 0; acked[v]++);
#else
                    /* memcpy, then state = 0 */
                    STEP(assert(ring[h % CAP] == v); delivered[v]++;
                         assert(delivered[v] <= 1));
                    STEP(state[s] = 0);
#endif
                    v = 0;
                    wake_writer()
                fi
            fi
        :: else -> skip
        fi
    od;
    h = 0
}

/* q_adopt: the other slot's unreleased peek, if its lock is free.
 * res = YES (delivered) or NO. */
inline q_adopt()
{
    res = NO;
    STEP(if :: state[1 - s] == 2 -> res = YES :: else -> skip fi); /* state == 2? */
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
        STEP(if :: state[1 - s] != 2 -> res = NO :: else -> skip fi); /* again */
        if
        :: res == YES ->                        /* q_check_held */
            STEP(p = pos[1 - s]);
            STEP(e = qend[1 - s]);
            STEP(h = head);
            STEP(tmp = wpos; assert(p < e && e <= tmp && tmp - p <= CAP));
            tmp = 0;
            if
            :: p >= h ->                        /* its CAS never happened */
                STEP(state[1 - s] = 0); res = NO
            :: else ->
                STEP(v = ring[p % CAP]; assert(v == MSGAT(p) && e == p + 1));
                delivered[v]++;
#if PEEK
                STEP(assert(ring[p % CAP] == v); state[1 - s] = 0; acked[v]++); /* release */
#else
                STEP(assert(ring[p % CAP] == v));  /* memcpy */
                STEP(state[1 - s] = 0)
#endif
            fi;
            h = 0; p = 0; e = 0
        :: else -> skip
        fi;
        STEP(lk[1 - s] = 0);                    /* shmlink__lock_give */
        if :: res == YES -> v = 0; wake_writer() :: else -> skip fi
    :: else -> skip
    fi;
    o = 0
}

proctype reader(byte me)
{
    byte s, wpc, h, p, e, o, v, tmp, res;
    bit announced, scan, own;

end_start:
    r_claim();
    STEP(wpc = wpos);                           /* fan_start_role: load write_pos */
    STEP(owner[s] = me);
    STEP(rgone[s] = 0);
    STEP(tmp = state[s]);                       /* a dead reader's slot? */
    if
    :: tmp == 2 -> own = 1                      /* its peek: ours to check first */
    :: tmp == 1 -> STEP(state[s] = 0)           /* its take: done or never */
    :: else -> skip
    fi;
    tmp = 0;
    STEP(sleepf[WS] = 0);                       /* chan_wake_always(writer_sleep) */
    STEP(infutex[WS] = 0);
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
                STEP(h = head);
                if
                :: p >= h -> STEP(state[s] = 0); res = NO
                :: else ->
                    STEP(v = ring[p % CAP]; assert(v == MSGAT(p) && e == p + 1));
                    delivered[v]++;
                    STEP(assert(ring[p % CAP] == v); state[s] = 0; acked[v]++);
                    res = YES
                fi;
                h = 0; p = 0; e = 0;
                if :: res == YES -> v = 0; wake_writer(); break :: else -> skip fi
            :: else -> skip
            fi;
            if
            :: scan -> q_adopt(); if :: res == YES -> break :: else -> skip fi
            :: else -> skip
            fi;
            q_take();
            if
            :: res == YES -> break
            :: else -> skip
            fi;
            if
            :: !scan -> scan = 1; goto next     /* empty: look for orphans first */
            :: else -> skip
            fi;
            /* chan_wait */
            Q_COND;
            do
            :: res != NO -> break
            :: else ->
                /* chan_peer_state: q_orphan_ready, then closed */
                STEP(if :: state[1 - s] == 2 -> res = ORPHAN :: else -> skip fi);
                if
                :: res == ORPHAN ->
                    STEP(o = owner[1 - s]);
                    STEP(if :: lk[1 - s] != 0 -> res = NO :: else -> skip fi);
                    o = 0
                :: else -> skip
                fi;
                if
                :: res == NO ->
                    STEP(if :: closed != 0 -> res = ENODATA :: else -> skip fi);
                    if
                    :: res == ENODATA ->
                        Q_COND;                 /* last look */
                        if :: res == NO -> res = ENODATA :: else -> skip fi
                    :: else -> skip
                    fi
                :: else -> skip
                fi;
                if
                :: res == NO ->
                    r_announce();               /* g = reader_wake; reader_sleep = 1 */
                    Q_COND;                     /* re-check */
#ifndef BROKEN_NO_ORPHAN_RECHECK
                    /* F7: the re-check includes q_orphan_ready: a reader
                     * that closes during a peek frees its lock, then wakes
                     * the readers (an orphan to adopt at once) */
                    if
                    :: res == NO ->
                        STEP(if :: state[1 - s] == 2 -> res = ORPHAN :: else -> skip fi);
                        if
                        :: res == ORPHAN ->
                            STEP(o = owner[1 - s]);
                            STEP(if :: lk[1 - s] != 0 -> res = NO :: else -> skip fi);
                            o = 0
                        :: else -> skip
                        fi
                    :: else -> skip
                    fi;
#endif
                    if
                    :: res == NO ->
                        STEP(if :: closed != 0 -> res = ENODATA :: else -> skip fi);
                        if
                        :: res == ENODATA ->
                            STEP(if :: state[1 - s] == 2 -> res = NO :: else -> skip fi);
                            if
                            :: res == NO ->     /* q_orphan_ready: peer state */
                                STEP(if :: lk[1 - s] == 0 -> res = ORPHAN :: else -> res = ENODATA fi)
                            :: else -> skip
                            fi;
                            if
                            :: res == ENODATA ->
                                Q_COND;
                                if :: res == NO -> res = ENODATA :: else -> skip fi
                            :: else -> skip
                            fi
                        :: else ->
                            rwait(s);   /* FUTEX_WAIT(&reader_wake, g) */
                            Q_COND
                        fi
                    :: else -> skip
                    fi
                :: else -> skip
                fi
            od;
            gcur[s] = 0;                /* (g no longer used) */
            if
            :: res == ENODATA ->
                assert(ncommit == NMSG);
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
        run writer(1);
        run reader(2);
        run reader(3)
    }
}
