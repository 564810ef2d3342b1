/*
 * channel.pml - SPIN model of the shmlink 1:1 channel, protocol version 2
 * (docs/PROTOCOL.md; roles held by kernel locks).
 *
 * One writer role (slot 0) and one reader role (slot 1). Each role has a
 * first process and a second one, the "restart", which tries to take the
 * role at any moment after the first one tried (EBUSY while the role is
 * held; it then waits until the lock is free and takes the role over).
 * A process may be killed (SIGKILL) at any step, once per role. Every load
 * and store of shared memory is one atomic step, in the order the C code
 * does them; the comment at each step names the C function of
 * core/src/channel.c and the access. README.md says what is abstracted.
 *
 * Units: positions and lengths count 8-byte slots (record_align = 8, so
 * every position and record boundary is a multiple of 8 bytes). A ring slot
 * holds either a record header (kind and length) or a payload (the message
 * number, which is what the reader checks).
 *
 * Options (spin -D...):
 *   CAP=4        ring capacity in slots (power of two; 4 = 32 bytes)
 *   START=3      read_pos = write_pos at the start (a ring that was used
 *                before: the first record needs a padding record)
 *   NMSG=2       messages the writers commit in total
 *   TIMEOUTS=1   futex waits may time out (0: only FUTEX_WAKE wakes)
 *   CRASHES=1    kills per role (0 or 1)
 *   RESTART=1    a second process per role (takeover, EBUSY); RESTART_W
 *                and RESTART_R set it per role
 *   LEAVE=1      the writer may stay idle instead of closing; the reader
 *                may close or stop reading before any receive
 *   CORRUPT=0    1: something overwrites a position or a record header
 *                once; then only memory safety is checked
 *   BROKEN_...   deliberately wrong variants (README.md lists them); each
 *                one must make the checker report an error.
 *
 * Where the v2 rules leave a choice or are not enough, the model does what
 * is written at the step and README.md explains why (section "What the
 * model found"); the rules as first written are kept as BROKEN_ variants:
 *   - peer liveness loads the owner word BEFORE testing the lock, and the
 *     reader loads the writer's owner word again after finding the lock
 *     free (BROKEN_LOCK_FIRST, BROKEN_NO_OWNER_RELOAD);
 *   - when the announce/re-check finds the peer's flag set, the peer state
 *     is re-evaluated with my_sleep STILL 1 and "keep waiting" sleeps
 *     (BROKEN_CLEAR_BEFORE_REEVAL, BROKEN_BUSY_LOOP);
 *   - a process that takes a role exchanges the peer's sleep word to 0 and
 *     calls FUTEX_WAKE whatever the word held (BROKEN_START_WAKE_IF_FLAG).
 *
 * The counterexamples SPIN gives for the rules as first written (shortest
 * trails, -DBFS; README.md explains each):
 *
 * F1 BROKEN_CLEAR_BEFORE_REEVAL (-DRESTART_R=0 -DCRASHES=0): lost wake-up.
 *   R1 takes the reader role; closes: reader_gone = 1 (lock still held).
 *   W1 takes the writer role, commits message 1; message 2: ring full.
 *   W1 peer state: reader_owner = R1, reader lock held: keep waiting.
 *   W1 writer_sleep = 1; no room; reader_gone = 1: writer_sleep = 0;
 *      peer state: reader_owner = R1 ...
 *   R1 reader_owner = 0.
 *   W1 ... reader lock held: keep waiting.
 *   R1 releases its lock; its wake loads writer_sleep == 0: no wake.
 *   W1 writer_sleep = 1; no room; FUTEX_WAIT: asleep, reader gone.
 *
 * F2 BROKEN_LOCK_FIRST (-DRESTART=0 -DCRASHES=0): EPIPE for a live writer.
 *   R1 ring empty: closed = 0; writer lock free (no writer yet).
 *   W1 takes the writer lock; writer_owner = W1.
 *   R1 writer_owner != 0: EPIPE.
 *
 * F3 BROKEN_NO_OWNER_RELOAD (-DRESTART=0 -DCRASHES=0): EPIPE for a close.
 *   R1 ring empty: closed = 0; writer_owner = W1.
 *   W1 commits message 2; closed = 1; writer_owner = 0; releases the lock.
 *   R1 writer lock free and owner word was W1: EPIPE.
 *
 * F4 BROKEN_START_WAKE_IF_FLAG (-DRESTART_R=0): lost wake-up.
 *   R1 ring empty, no writer: reader_sleep = 1; FUTEX_WAIT.
 *   W1 takes the writer role; its wake exchanges reader_sleep 1 -> 0;
 *      SIGKILL before FUTEX_WAKE.
 *   W2 takes the writer role; its wake loads reader_sleep == 0: nothing;
 *      commits message 1; its wake loads reader_sleep == 0: nothing.
 *   R1 sleeps with a committed message; every later wake skips it.
 */

#ifndef CAP
#define CAP 4
#endif
#ifndef START
#define START 3
#endif
#ifndef NMSG
#define NMSG 2
#endif
#ifndef CRASHES
#define CRASHES 1
#endif
#ifndef RESTART
#define RESTART 1
#endif
#ifndef RESTART_W
#define RESTART_W RESTART
#endif
#ifndef RESTART_R
#define RESTART_R RESTART
#endif
#ifndef LEAVE
#define LEAVE 1
#endif
#ifndef CORRUPT
#define CORRUPT 0
#endif

#define NROLES 2
#define W 0                     /* slot 0: writer */
#define R 1                     /* slot 1: reader */
#define NPROC 5                 /* ids 1, 2 writers; 3, 4 readers; 0 = none */
#define ROLE(id) (((id) >= 3) -> R : W)

#include "kernel.pml"

/* max_message = capacity/2 - 8 bytes: at most CAP/2 - 1 payload slots. */
#define MAXP (CAP / 2 - 1)
/* Payload slots of message number id: 1, 1, 0, 1, 1, 0, ... From START 3
 * the first message (2 slots) needs a padding record at ring offset 3 and
 * wraps to offset 0; the second one does not fit before the reader has
 * released the first (the writer waits on a full ring); the third one has
 * length 0. */
#define PLEN(id) (((id) % 3 == 0) -> 0 : 1)

/* Ring slot contents. A header is kind * 16 + length; a payload slot holds
 * the message number (< 16, so kind 0: never a valid header). */
#define KMSG 1                  /* "MSG1" */
#define KPAD 2                  /* "PAD1" */
#define HDR(k, l) ((k) * 16 + (l))
#define KIND(v) ((v) / 16)
#define HLEN(v) ((v) % 16)

/* chan_positions_ok: rp <= wp <= rp + capacity (multiples of 8 by units). */
#define POS_OK(rp, wp) ((rp) <= (wp) && (wp) <= (rp) + CAP)

/* Results (res) and peer-state verdicts (verdict). */
#define NO 0                    /* condition does not hold yet */
#define YES 1                   /* record found / room for the record */
#define EPROTO 2
#define ENODATA 3
#define EPIPE 4
#define KEEP 5                  /* peer state: keep waiting */
#define SCAN 6                  /* chan_next_record: looking */
#define EBUSY 7
#define PEERFLAG 8              /* closed / reader_gone was set */
#define AGAIN 9                 /* (BROKEN_BUSY_LOOP) loop without sleeping */
#define CHECK 10                /* verdict: one more load needed */

/* ---- shared memory (PROTOCOL.md section 1) ---------------------------- */
byte wpos = START;              /* write_pos */
byte rpos = START;              /* read_pos */
byte closed;                    /* u32, writer: 1 = end of stream */
byte reader_gone;               /* u32, reader: 1 = reader closed its end */
byte owner[NROLES];             /* writer_owner, reader_owner */
byte ring[CAP];
/* reader_sleep = sleepf[R], writer_sleep = sleepf[W]: kernel.pml */

/* ---- ghost state (for the properties only) ------------------------------ */
byte ncommit;                   /* messages committed (write_pos stores) */
byte consumed;                  /* messages released (read_pos stores) */
byte holders[NROLES];           /* processes that believe they hold a role */
byte crash_left[NROLES];        /* kills left per role */
bit running[NPROC];             /* process started and not finished */
bit crashed[NPROC];             /* process was killed */
bit left[NPROC];                /* process gave its role up (close) */
bit tried[NROLES];              /* the first process of the role has tried */
byte wtarget;                   /* wp + need of the writer's current send */

/* ---- properties checked in every state ---------------------------------- */
/* A side asleep in FUTEX_WAIT while what it waits for has happened and
 * nobody is still on the way to wake it: a lost wake-up. */
#define R_SHOULD_WAKE (wpos != rpos || closed != 0)
#define W_SHOULD_WAKE (wtarget <= rpos + CAP || (reader_gone != 0 && lk[R] == 0))
#define OWED(r) ((r) == R -> (owe[1] || owe[2]) : (owe[3] || owe[4]))
#define LOST(r, cond) (infutex[r] && !OWED(r) && !orphan[r] && (cond))

#if !CORRUPT
active proctype monitor()
{
end_monitor:
    atomic {
        (holders[W] > 1 || holders[R] > 1 ||
         LOST(R, R_SHOULD_WAKE) || LOST(W, W_SHOULD_WAKE)) ->
        assert(holders[W] <= 1 && holders[R] <= 1);   /* two live holders */
        assert(!LOST(R, R_SHOULD_WAKE));              /* reader never woken */
        assert(!LOST(W, W_SHOULD_WAKE))               /* writer never woken */
    }
}
#endif

/* SIGKILL of me (see DIE in kernel.pml). */
inline crash()
{
    running[me] = 0;
    crashed[me] = 1;
    tried[ROLE(me)] = 1;                        /* a restart may begin */
    if
    :: lk[ROLE(me)] == me -> holders[ROLE(me)]--
    :: else -> skip
    fi;
    kernel_crash(ROLE(me), 1 - ROLE(me))
}

/* ---- taking a role (v2: the kernel lock) -------------------------------- */

/* chan_claim: non-blocking test-and-set of the slot's lock. */
inline claim(r)
{
    if
    :: d_step {
           victim != me;
           tried[r] = 1;
           if
           :: lk[r] == 0 -> lk[r] = me; holders[r]++; res = YES
#ifdef BROKEN_OWNER_TRUST
           /* wrong: a busy lock whose owner word is 0 is taken as free */
           :: lk[r] != 0 && owner[r] == 0 -> holders[r]++; res = YES
           :: lk[r] != 0 && owner[r] != 0 -> res = EBUSY
#else
           :: else -> res = EBUSY
#endif
           fi;
           /* EBUSY only while a live process holds the role */
           assert(res != EBUSY || running[lk[r]])
       }
    :: DIE
    fi
}

/* ---- writer -------------------------------------------------------------- */

/* chan_cond (writer): room for need slots after mywp? */
#define W_COND                                                              \
    STEP(if                     /* shm_load_seq_cst64(read_pos), checked */ \
         :: POS_OK(rpos, mywp) ->                                           \
             rpc = rpos;                                                    \
             if                                                             \
             :: mywp + need - rpc <= CAP -> res = YES                       \
             :: else -> res = NO                                            \
             fi                                                             \
         :: else -> res = EPROTO                                            \
         fi)

/* chan_peer_state (writer): the reader's state while the ring is full.
 * res = KEEP (keep waiting), or after a last look YES, EPIPE, EPROTO. */
inline w_peer_state()
{
#ifndef BROKEN_LOCK_FIRST
    STEP(o1 = owner[R]);                        /* shm_load_seq_cst64(reader_owner) */
    if
    :: o1 != 0 ->
        STEP(if                                 /* test the reader's lock */
             :: lk[R] != 0 -> verdict = KEEP    /* a live reader */
             :: else ->                         /* it died, or left since */
                 assert(crashed[o1] || left[o1]);
                 verdict = EPIPE
             fi;
             o1 = 0)
    :: else ->                                  /* no reader yet, or it left */
        STEP(if                                 /* shm_load_seq_cst32(reader_gone) */
             :: reader_gone != 0 -> verdict = CHECK
             :: else -> verdict = KEEP          /* no reader yet */
             fi);
        if
        :: verdict == CHECK ->
            STEP(if                             /* test the reader's lock */
                 :: lk[R] != 0 -> verdict = KEEP /* a reader is claiming */
                 :: else -> assert(left[3] || left[4]); verdict = EPIPE
                 fi)
        :: else -> skip
        fi
    fi;
#else
    /* wrong order: a reader that takes the lock and stores its owner word
     * between the two loads reads as dead */
    STEP(if                                     /* test the reader's lock */
         :: lk[R] != 0 -> verdict = KEEP
         :: else -> verdict = CHECK
         fi);
    if
    :: verdict == CHECK ->
        STEP(o1 = owner[R];                     /* load reader_owner */
             if
             :: o1 != 0 -> assert(crashed[o1] || left[o1]); verdict = EPIPE
             :: else -> skip
             fi;
             o1 = 0)
    :: else -> skip
    fi;
    if
    :: verdict == CHECK ->
        STEP(if                                 /* load reader_gone */
             :: reader_gone != 0 -> assert(left[3] || left[4]); verdict = EPIPE
             :: else -> verdict = KEEP
             fi)
    :: else -> skip
    fi;
#endif
    if
    :: verdict == KEEP -> res = KEEP; verdict = 0
    :: verdict == EPIPE ->
        W_COND;                                 /* last look (chan_cond) */
        if
        :: res == NO -> res = EPIPE
        :: else -> skip                         /* room after all, or EPROTO */
        fi;
        verdict = 0
    fi
}

/* chan_wait (writer): until need slots are free after mywp. res = YES,
 * EPIPE or EPROTO. */
inline w_wait()
{
    W_COND;                                     /* chan_wait: first look */
    do
    :: res != NO && res != AGAIN -> break
    :: else ->
        w_peer_state();
        if
        :: res != KEEP -> skip                  /* a result */
        :: else ->
#ifndef BROKEN_ANNOUNCE_AFTER_CHECK
            STEP(sleepf[W] = 1; orphan[W] = 0); /* store writer_sleep = 1 */
            W_COND;                             /* re-check (seq_cst) */
#else
            /* wrong: the re-check comes before the announcement */
            W_COND;
            STEP(sleepf[W] = 1; orphan[W] = 0);
#endif
            if
            :: res != NO -> STEP(sleepf[W] = 0)
            :: else ->
                STEP(if                         /* load reader_gone */
                     :: reader_gone != 0 -> res = PEERFLAG
                     :: else -> skip
                     fi);
                if
                :: res == PEERFLAG ->
#if defined(BROKEN_BUSY_LOOP)
                    /* version 1: clear the flag and loop without sleeping */
                    STEP(sleepf[W] = 0); res = AGAIN
#elif defined(BROKEN_CLEAR_BEFORE_REEVAL)
                    /* clear the flag, re-evaluate, announce again, sleep */
                    STEP(sleepf[W] = 0); res = NO;
                    w_peer_state();
                    if
                    :: res != KEEP -> skip
                    :: else ->
                        STEP(sleepf[W] = 1; orphan[W] = 0);
                        W_COND;
                        if
                        :: res != NO -> STEP(sleepf[W] = 0)
                        :: else -> skip
                        fi
                    fi
#else
                    /* re-evaluate with writer_sleep still 1 */
                    w_peer_state();
                    if
                    :: res == KEEP -> res = NO  /* keep waiting: sleep */
                    :: else -> STEP(sleepf[W] = 0) /* a result */
                    fi
#endif
                :: else -> skip
                fi;
                if
                :: res == NO ->
                    futex_wait(W);              /* shmlink__futex_wait */
                    STEP(sleepf[W] = 0);        /* store writer_sleep = 0 */
                    W_COND                      /* re-check */
                :: else -> skip
                fi
            fi
        fi
    od
}

proctype writer(byte me)
{
    byte mywp, rpc, id, plen, pad, need, tmp, o1, res, verdict;

end_start:
    d_step { me == 1 || tried[W]; running[me] = 1 }; /* a restart begins after the first try */
    do
    :: claim(W);                                /* chan_claim */
        if
        :: res == EBUSY ->
end_wbusy:
            GSTEP(lk[W] == 0, skip)             /* the restart tries again */
        :: else -> break
        fi
    od;
    STEP(rpc = rpos);                           /* chan_start_role: load read_pos */
    STEP(mywp = wpos;                           /* load write_pos, check both */
         if
         :: POS_OK(rpc, mywp) -> res = YES
         :: else -> res = EPROTO
         fi);
    if
    :: res == EPROTO ->
        assert(CORRUPT);
        STEP(lk[W] = 0; holders[W]--; res = 0); /* release the lock */
        goto wdone
    :: else -> skip
    fi;
    STEP(owner[W] = me);                        /* store writer_owner = me */
    STEP(closed = 0);                           /* store closed = 0 */
#ifdef BROKEN_START_WAKE_IF_FLAG
    chan_wake(R);                               /* wake the reader if its flag is 1 */
    orphan[R] = 0;                              /* ghost: a wake was due here */
#else
    start_wake(R);                              /* FUTEX_WAKE(&reader_sleep, 1) */
#endif

    do
    :: GSTEP(ncommit < NMSG,                    /* shmlink_channel_send */
            id = ncommit + 1;                   /* (the application: next message) */
            plen = PLEN(id);
            /* shmlink_channel_reserve: record, padding, room? */
            if
            :: mywp % CAP + 1 + plen > CAP -> pad = CAP - mywp % CAP
            :: else -> pad = 0
            fi;
            need = pad + 1 + plen;
            wtarget = mywp + need;
            if
            :: mywp + need - rpc > CAP -> res = NO /* cached read_pos: full */
            :: else -> res = YES
            fi);
        if
        :: res == NO ->
            w_wait();                           /* chan_wait */
            if
            :: res == YES -> skip
            :: else ->                          /* EPIPE or EPROTO */
                assert(res == EPIPE || CORRUPT);
                goto wclose
            fi
        :: else -> skip
        fi;
        if
        :: plen > 0 ->                          /* memcpy of the payload */
            STEP(assert(CORRUPT || mywp + pad + 1 < rpos + CAP);
                 assert((mywp + pad) % CAP + 1 + plen <= CAP);
                 ring[(mywp + pad + 1) % CAP] = id)
        :: else -> skip
        fi;
        if
        :: pad > 0 ->                           /* commit: PAD1 header */
            STEP(assert(CORRUPT || mywp < rpos + CAP);
                 ring[mywp % CAP] = HDR(KPAD, pad - 1))
        :: else -> skip
        fi;
        STEP(assert(CORRUPT || mywp + pad < rpos + CAP); /* commit: MSG1 header */
             ring[(mywp + pad) % CAP] = HDR(KMSG, plen));
#ifdef BROKEN_WAKE_BEFORE_STORE
        /* wrong: the sleep flag is loaded before write_pos is stored */
        chan_wake(R);
        STEP(mywp = mywp + need; wpos = mywp; ncommit++;
             id = 0; plen = 0; pad = 0; need = 0; res = 0; wtarget = 0)
#else
        STEP(mywp = mywp + need;                /* commit: store write_pos (seq_cst) */
             wpos = mywp;
             ncommit++;
             owe[me] = 1;
             assert(lk[W] == me);               /* only the holder publishes */
             id = 0; plen = 0; pad = 0; need = 0; res = 0; wtarget = 0);
progress_commit:
        chan_wake(R)                            /* wake a sleeping reader */
#endif
    :: GSTEP(ncommit >= NMSG, res = 0); break   /* nothing more to send */
    od;
#if LEAVE
    if
    :: skip                                     /* the application closes */
    :: true ->
end_widle:
        DIE                                     /* stays alive with the role */
    fi;
#endif
wclose:                                         /* shmlink_channel_close */
    skip;
#ifdef BROKEN_UNLOCK_BEFORE_CLOSED
    /* wrong: the lock is released before closed is stored */
    STEP(lk[W] = 0; holders[W]--; res = 0);
    STEP(closed = 1; left[me] = 1; owe[me] = 1);
    STEP(owner[W] = 0);
#else
    STEP(closed = 1; left[me] = 1; owe[me] = 1; res = 0); /* store closed = 1 */
    STEP(owner[W] = 0);                         /* store writer_owner = 0 */
    STEP(lk[W] = 0; holders[W]--);              /* release the lock */
#endif
    chan_wake(R);                               /* wake a sleeping reader */
wdone:
    running[me] = 0;
    goto gone;
dying:                                          /* SIGKILL */
    atomic { crash() };
gone:
    skip
}

/* ---- reader -------------------------------------------------------------- */

/* chan_next_record(ch, ch->rp): the record at myrp, skipping one padding
 * record. force: chan_cond's forced reload of write_pos. res = YES (rec and
 * plen set), NO (nothing committed there yet), EPROTO. */
inline r_next_record(force)
{
    if
    :: force -> wpc = myrp
    :: else -> skip
    fi;
    pos = myrp;
    res = SCAN;
    if
    :: pos == wpc ->
        STEP(if                                 /* chan_reload_wp: load write_pos */
             :: POS_OK(myrp, wpos) ->
                 wpc = wpos;
                 if
                 :: pos == wpc -> res = NO; pos = 0
                 :: else -> skip
                 fi
             :: else -> res = EPROTO; pos = 0
             fi)
    :: else -> skip
    fi;
    do
    :: res != SCAN -> break
    :: else ->
        if
        :: pos + 1 > wpc -> res = EPROTO
        :: else ->
            STEP(h = ring[pos % CAP]);          /* memcpy(hdr, ring + off, 8) */
            if
            :: KIND(h) == KMSG ->
                if
                :: HLEN(h) > MAXP || pos + 1 + HLEN(h) > wpc -> res = EPROTO
#ifndef BROKEN_NO_END_CHECK
                :: HLEN(h) <= MAXP && pos + 1 + HLEN(h) <= wpc &&
                   pos % CAP + 1 + HLEN(h) > CAP -> res = EPROTO
#endif
                :: else -> rec = pos; plen = HLEN(h); res = YES
                fi
            :: KIND(h) == KPAD && pads == 0 && pos % CAP != 0 &&
               HLEN(h) == CAP - pos % CAP - 1 ->
                pos = pos + 1 + HLEN(h);        /* skip the padding */
                pads++
            :: else -> res = EPROTO
            fi;
            h = 0
        fi
    od;
    pos = 0;
    pads = 0
}

/* chan_peer_state (reader): the writer's state while the ring is empty.
 * res = KEEP (keep waiting), or after a last look YES, ENODATA, EPIPE,
 * EPROTO. */
inline r_peer_state()
{
    STEP(if                                     /* shm_load_seq_cst32(closed) */
         :: closed != 0 -> verdict = ENODATA; snap = ncommit
         :: else -> verdict = CHECK
         fi);
#if defined(BROKEN_LOCK_FIRST)
    if
    :: verdict == CHECK ->
        STEP(if                                 /* test the writer's lock */
             :: lk[W] == 0 -> snap = ncommit
             :: else -> verdict = KEEP
             fi)
    :: else -> skip
    fi;
    if
    :: verdict == CHECK ->
        STEP(o1 = owner[W];                     /* load writer_owner */
             if
             :: o1 != 0 -> assert(crashed[o1]); verdict = EPIPE
             :: else -> verdict = KEEP; snap = 0
             fi;
             o1 = 0)
    :: else -> skip
    fi;
#else
    if
    :: verdict == CHECK ->
        STEP(o1 = owner[W]);                    /* shm_load_seq_cst64(writer_owner) */
        STEP(if                                 /* test the writer's lock */
             :: lk[W] == 0 && o1 != 0 -> snap = ncommit
             :: else -> verdict = KEEP; o1 = 0  /* alive, or not attached */
             fi)
    :: else -> skip
    fi;
    if
    :: verdict == CHECK ->
#ifdef BROKEN_NO_OWNER_RELOAD
        assert(crashed[o1]); verdict = EPIPE; o1 = 0
#else
        STEP(if                                 /* load writer_owner again */
             :: owner[W] == o1 -> assert(crashed[o1]); verdict = EPIPE
             :: else -> verdict = KEEP; snap = 0 /* it changed: look again */
             fi;
             o1 = 0)
#endif
    :: else -> skip
    fi;
#endif
    if
    :: verdict == KEEP -> res = KEEP; verdict = 0
    :: verdict == ENODATA || verdict == EPIPE ->
#ifndef BROKEN_NO_LAST_LOOK
        r_next_record(1);                       /* last look (chan_cond) */
#else
        res = NO;
#endif
        if
        :: res == NO ->
            /* every message committed before the close or the death was
             * delivered first */
            assert(CORRUPT || consumed >= snap);
            res = verdict
        :: else -> skip                         /* YES or EPROTO */
        fi;
        verdict = 0;
        snap = 0
    fi
}

/* chan_wait (reader): until a complete record is at myrp. res = YES,
 * ENODATA, EPIPE or EPROTO. */
inline r_wait()
{
    if
    :: res == NO -> r_next_record(1)            /* chan_wait: first look */
    :: else -> skip
    fi;
    do
    :: res != NO && res != AGAIN -> break
    :: else ->
        r_peer_state();
        if
        :: res != KEEP -> skip                  /* a result */
        :: else ->
#ifndef BROKEN_ANNOUNCE_AFTER_CHECK
            STEP(sleepf[R] = 1; orphan[R] = 0); /* store reader_sleep = 1 */
            r_next_record(1);                   /* re-check (seq_cst) */
#else
            /* wrong: the re-check comes before the announcement */
            r_next_record(1);
            STEP(sleepf[R] = 1; orphan[R] = 0);
#endif
            if
            :: res != NO -> STEP(sleepf[R] = 0)
            :: else ->
                STEP(if                         /* load closed */
                     :: closed != 0 -> res = PEERFLAG
                     :: else -> skip
                     fi);
                if
                :: res == PEERFLAG ->
#if defined(BROKEN_BUSY_LOOP)
                    STEP(sleepf[R] = 0); res = AGAIN
#elif defined(BROKEN_CLEAR_BEFORE_REEVAL)
                    STEP(sleepf[R] = 0); res = NO;
                    r_peer_state();
                    if
                    :: res != KEEP -> skip
                    :: else ->
                        STEP(sleepf[R] = 1; orphan[R] = 0);
                        r_next_record(1);
                        if
                        :: res != NO -> STEP(sleepf[R] = 0)
                        :: else -> skip
                        fi
                    fi
#else
                    r_peer_state();
                    if
                    :: res == KEEP -> res = NO
                    :: else -> STEP(sleepf[R] = 0)
                    fi
#endif
                :: else -> skip
                fi;
                if
                :: res == NO ->
                    futex_wait(R);              /* shmlink__futex_wait */
                    STEP(sleepf[R] = 0);        /* store reader_sleep = 0 */
                    r_next_record(1)            /* re-check */
                :: else -> skip
                fi
            fi
        fi
    od
}

proctype reader(byte me)
{
    byte myrp, wpc, pos, pads, h, plen, rec, v, o1, snap, tmp, res, verdict;

end_start:
    d_step { me == 3 || tried[R]; running[me] = 1 }; /* a restart begins after the first try */
    do
    :: claim(R);                                /* chan_claim */
        if
        :: res == EBUSY ->
end_rbusy:
            GSTEP(lk[R] == 0, skip)             /* the restart tries again */
        :: else -> break
        fi
    od;
    STEP(myrp = rpos);                          /* chan_start_role: load read_pos */
    STEP(if                                     /* load write_pos, check both */
         :: POS_OK(myrp, wpos) -> wpc = wpos; res = YES
         :: else -> res = EPROTO
         fi);
    if
    :: res == EPROTO ->
        assert(CORRUPT);
        STEP(lk[R] = 0; holders[R]--; res = 0); /* release the lock */
        goto rdone
    :: else -> skip
    fi;
    STEP(owner[R] = me);                        /* store reader_owner = me */
    STEP(reader_gone = 0);                      /* store reader_gone = 0 */
#ifdef BROKEN_START_WAKE_IF_FLAG
    chan_wake(W);                               /* wake the writer if its flag is 1 */
    orphan[W] = 0;                              /* ghost: a wake was due here */
#else
    start_wake(W);                              /* FUTEX_WAKE(&writer_sleep, 1) */
#endif

    do
    :: r_next_record(0);                        /* shmlink_channel_recv */
        r_wait();                               /* chan_wait if nothing yet */
        if
        :: res == YES ->
            STEP(/* memcpy of the payload: never outside the ring, never
                  * past write_pos */
                 assert(rec % CAP + 1 + plen <= CAP);
                 assert(rec + 1 + plen <= wpc && wpc <= myrp + CAP);
                 if
                 :: plen > 0 -> v = ring[rec % CAP + 1]
                 :: else -> v = 0
                 fi;
#if !CORRUPT
                 /* the next message, complete: in order, exactly once */
                 assert(consumed < ncommit);
                 assert(plen == PLEN(consumed + 1));
                 assert(plen == 0 || v == consumed + 1);
#endif
                 v = 0);
progress_recv:
            STEP(myrp = rec + 1 + plen;         /* chan_publish_rp: store read_pos */
                 rpos = myrp;
                 consumed++;
                 owe[me] = 1;
                 assert(lk[R] == me);           /* only the holder releases */
                 rec = 0; plen = 0; res = 0);
            chan_wake(W)                        /* wake a sleeping writer */
        :: else ->                              /* ENODATA, EPIPE, EPROTO */
            assert(res != EPROTO || CORRUPT);
            break
        fi
#if LEAVE
    :: break                                    /* the application closes */
    :: true ->
end_ridle:
        DIE                                     /* stops reading, stays alive */
#endif
    od;
rclose:                                         /* shmlink_channel_close */
    skip;
    STEP(reader_gone = 1; left[me] = 1; owe[me] = 1; res = 0); /* store reader_gone = 1 */
#ifdef BROKEN_WAKE_BEFORE_UNLOCK
    chan_wake(W);                               /* wrong: wake, then release */
    owe[me] = 1;                                /* ghost: the release is still to come */
    STEP(owner[R] = 0);
    STEP(lk[R] = 0; holders[R]--; owe[me] = 0);
#else
    STEP(owner[R] = 0);                         /* store reader_owner = 0 */
    STEP(lk[R] = 0; holders[R]--);              /* release the lock */
    chan_wake(W);                               /* wake a sleeping writer */
#endif
rdone:
    running[me] = 0;
    goto gone;
dying:                                          /* SIGKILL */
    atomic { crash() };
gone:
    skip
}

/* ---- the environment ----------------------------------------------------- */

/* SIGKILL: picks a running process at any moment, once per role. */
#if CRASHES > 0
active proctype killer()
{
end_killer:
    do
    :: d_step { victim == 0 && crash_left[W] > 0 && running[1]; victim = 1; crash_left[W]-- }
    :: d_step { victim == 0 && crash_left[R] > 0 && running[3]; victim = 3; crash_left[R]-- }
#if RESTART_W
    :: d_step { victim == 0 && crash_left[W] > 0 && running[2]; victim = 2; crash_left[W]-- }
#endif
#if RESTART_R
    :: d_step { victim == 0 && crash_left[R] > 0 && running[4]; victim = 4; crash_left[R]-- }
#endif
    od
}
#endif

#if CORRUPT
/* Something overwrites shared memory once, at any moment. */
active proctype corrupter()
{
    byte i;
    if
    :: wpos = wpos + 1
    :: wpos = rpos + CAP + 1
    :: wpos = rpos + CAP
    :: wpos = rpos - 1
    :: rpos = rpos + 1
    :: select(i : 0 .. CAP - 1);
        if
        :: d_step { ring[i] = HDR(KMSG, 1); i = 0 }
        :: d_step { ring[i] = HDR(KMSG, MAXP + 1); i = 0 }
        :: d_step { ring[i] = HDR(KPAD, 0); i = 0 }
        :: d_step { ring[i] = HDR(KPAD, 1); i = 0 }
        fi
    fi
}
#endif

init
{
    atomic {
        crash_left[W] = CRASHES;
        crash_left[R] = CRASHES;
        run writer(1);
        run reader(3);
#if RESTART_W
        run writer(2);
#endif
#if RESTART_R
        run reader(4);
#endif
    }
}
