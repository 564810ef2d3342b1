/*
 * fanin.pml - SPIN model of the shmlink many-writers channel (docs/PROTOCOL.md
 * section 13.4, WRITERS without QUEUE): W = 2 writer slots, each with its
 * own ring, and one reader that visits the rings round-robin, keeps a
 * private position per ring and publishes it in that ring's head. Style and
 * kernel as channel.pml and fanout.pml: every shared load and store is one
 * atomic step, named after the C function of core/src/channel.c that does
 * it; a writer may be killed at any step (between reserve and commit too);
 * the kernel frees its lock atomically with its death; a FUTEX_WAIT may
 * time out at any moment (TIMEOUTS=1).
 *
 * Processes: writers 1 and 2 start together; a restarted writer 3 starts
 * when one of them has died (RESTART=1) or died or closed (RESTART=2).
 * Each takes the first free writer slot (lock slots 0, 1; chan_claim fails
 * with EBUSY while both are held, and the writer here tries again until
 * one is free). The reader (id 4, lock slot RS = 2) is not killed. Each
 * writer commits NMSG messages, then closes; when the reader is gone it
 * gets EPIPE and closes. With WRITER2=0, writer slot 1 has been held and
 * closed before (closed = 1), so that the end of stream rests on slot 0.
 *
 * Records: one ring cell per record holding the message (writer id * 4 +
 * its number 1..NMSG), header and payload in one cell (channel.pml has the
 * padding and the section 7 checks). Ring w is ring[w*CAP .. w*CAP+CAP-1].
 *
 * Sleeping: the writer of slot w sleeps on its writer_sleep (sleepf[w],
 * the 1:1 rule of section 5: it stores 1, re-checks, FUTEX_WAIT(word, 1),
 * stores 0); the reader wakes it (chan_wake(writer_sleep, 1)) after moving
 * head of ring w. The reader sleeps by the rule of 13.1: g =
 * load(reader_wake), reader_sleep = 1, re-check, FUTEX_WAIT(&reader_wake,
 * g); writers wake it after each write_pos store and after taking a slot
 * and closing. gcur = 1 while reader_wake still holds the reader's g (see
 * fanout.pml for why a bit, not the counter).
 *
 * Options (spin -D...):
 *   CAP=1        cells per ring;  NMSG=2 messages per writer process
 *   NMSG2=NMSG   the messages of writer 2
 *   TIMEOUTS=1   0: only FUTEX_WAKE wakes; a sleeper is not a valid end
 *                state, so a lost wake-up is an "invalid end state"
 *   CRASHES=1    writer processes that may be killed (0, 1, 2)
 *   RESTART=1    writer 3 after a death; 2: after a death or a close;
 *                0: no writer 3
 *   WRITER2=1    0: no writer 2 (writer 1 and its restart only)
 *   KILL1        the killer kills writer 1 or 3, never writer 2. With
 *                CRASHES=1 nothing is lost: writers 1 and 2 run the same
 *                code from the same start, so a run that kills writer 2 is
 *                a run that kills writer 1 with the two ids swapped.
 *   NOSTALL      add the LTL property "once every writer process has
 *                finished, and no writer slot looks never held, the reader
 *                finishes" (pan -a)
 *   BROKEN_SHARED_RING  one ring shared by all writers with a claim
 *                counter (Agrona's many-to-one ring): a writer killed
 *                between its claim and its commit stalls the reader
 *   BROKEN_END_IGNORES_LOCKS  the reader's end check without testing
 *                the writer locks (a live writer's slot reads as dead)
 *   BROKEN_END_ANY_CLOSED  the end of stream when some writer slot's last
 *                holder closed it and none died, while another slot was
 *                never held (the rule before 13.4 said "every slot"): a
 *                writer that comes later is cut off
 *
 * A stream whose writer slot looks never held (owner word 0, closed = 0)
 * stays open for good (13.4): with every writer process finished, the
 * reader may leave its FUTEX_WAIT for the end label end_open (a ghost
 * exit, OPEN), and NOSTALL asks nothing of it.
 */

#ifndef CAP
#define CAP 1
#endif
#define START CAP
#ifndef NMSG
#define NMSG 2
#endif
#ifndef NMSG2
#define NMSG2 NMSG
#endif
#define WNMSG(id) ((id) == 2 -> NMSG2 : NMSG) /* messages of writer process id */
#ifndef CRASHES
#define CRASHES 1
#endif

#define NW 2                    /* writer slots = lock slots 0, 1 */
#define RS 2                    /* the reader's lock slot */
#define NROLES 3
#define NPROC 5                 /* writers 1, 2, 3; reader 4 */
#ifndef RESTART
#define RESTART 1
#endif
#ifndef WRITER2
#define WRITER2 1
#endif
#define NWP (1 + WRITER2 + (RESTART > 0)) /* writer processes */

#include "kernel.pml"

#define YES 1
#define NO 0
#define ENODATA 4
#define EPIPE 5

/* ---- shared memory ------------------------------------------------------- */
#ifndef BROKEN_SHARED_RING
byte wpos[NW] = START;          /* writer slot w: write_pos of ring w */
byte head[NW] = START;          /* writer slot w: head (the reader's position) */
byte closed[NW];                /* writer slot w: closed */
byte wowner[NW];                /* writer slot w: owner */
byte ring[NW * CAP];
#else
byte tail = START;              /* the shared ring's claim counter */
byte head1 = START;             /* the reader's position */
byte ring[CAP];
bit hdr[CAP];                   /* record header: 1 = committed */
#endif
byte rgone;                     /* reader slot: gone */
byte rowner;                    /* reader slot: owner */
bit gcur;                       /* reader_wake == the reader's g */
/* sleepf[w]: writer_sleep of slot w; sleepf[RS]: reader_sleep */

/* ---- ghost --------------------------------------------------------------- */
byte ncommit[4];          /* messages committed per writer process */
byte got[4];              /* messages delivered per writer process */
byte ncommit_all;
byte ndeliv;
byte took[NW];                  /* claims of each writer slot */
bit owned[NW];                  /* some holder of writer slot w stored its owner word */
bit crashed[4];
byte wfin;                      /* writer processes finished (or dead) */
bit rfin;                       /* the reader finished */
byte crash_left = CRASHES;
bit wrun[4] = 1;          /* writer process not finished */

/* The stream stays open for good: every writer process has finished and
 * some writer slot looks never held, owner word 0 and closed = 0 (13.4: a
 * writer may still come, the reader keeps waiting). A writer killed
 * after taking the lock and before storing its owner word leaves its slot
 * so. */
#define NEVER(w) (wowner[w] == 0 && closed[w] == 0)
#define OPEN (wfin == NWP && (NEVER(0) || NEVER(1)))

#ifdef NOSTALL
#ifndef BROKEN_SHARED_RING
ltl nostall { [] ((wfin == NWP && !NEVER(0) && !NEVER(1)) -> <> rfin) }
#else
ltl nostall { [] ((wfin == NWP) -> <> rfin) }
#endif
#endif

active proctype killer()
{
end_killer:
    do
    :: d_step { crash_left > 0 && victim == 0 && wrun[1]; victim = 1; crash_left-- }
#if WRITER2 && !defined(KILL1)
    :: d_step { crash_left > 0 && victim == 0 && wrun[2]; victim = 2; crash_left-- }
#endif
#if RESTART
    :: d_step { crash_left > 0 && victim == 0 && wrun[3]; victim = 3; crash_left-- }
#endif
    od
}

/* SIGKILL of writer me (slot w when it holds one): the kernel frees its
 * lock and takes it out of FUTEX_WAIT. Shared memory stays as it was. */
inline crash()
{
    victim = 0;
    crashed[me] = 1;
    wrun[me] = 0;
    wfin++;
    if :: lk[0] == me -> lk[0] = 0; infutex[0] = 0 :: else -> skip fi;
    if :: lk[1] == me -> lk[1] = 0; infutex[1] = 0 :: else -> skip fi
}

/* The wake of the reader (13.1, as fanout.pml's wake_readers): if
 * load(reader_sleep) != 0 and exchange(reader_sleep, 0) != 0:
 * fetch_add(reader_wake, 1), FUTEX_WAKE(&reader_wake, all). */
inline wake_reader()
{
    if
    :: d_step { victim != me && sleepf[RS] != 0 } ->        /* load reader_sleep */
        STEP(tmp = sleepf[RS]; sleepf[RS] = 0);              /* exchange */
        if
        :: tmp != 0 ->
            STEP(gcur = 0);                                  /* fetch_add(reader_wake) */
            STEP(infutex[RS] = 0; tmp = 0)                   /* FUTEX_WAKE(all) */
        :: else -> skip
        fi
    :: d_step { victim != me && sleepf[RS] == 0 }
    :: DIE
    fi
}

/* chan_wake(writer_sleep of slot w, 1) by the reader (never killed). */
inline wake_writer(w)
{
    if
    :: sleepf[w] == 1 ->
        d_step { tmp = sleepf[w]; sleepf[w] = 0 };
        if
        :: tmp == 1 -> d_step { infutex[w] = 0; tmp = 0 }
        :: else -> skip
        fi
    :: else -> skip
    fi
}

/* FUTEX_WAIT on the word of slot sl: the kernel sleeps only if the word
 * still holds the value (cmp). No end label; a sleeper for which esc holds
 * goes to the end label open (ghost: the reader of a stream that stays
 * open, OPEN). */
#define FUTEX_WAIT(sl, cmp, esc)                                          \
    STEP(if                                                               \
         :: cmp -> infutex[sl] = 1; tmp = 1                               \
         :: else -> skip                          /* EAGAIN */            \
         fi);                                                             \
    if                                                                    \
    :: tmp == 1 ->                                                        \
        tmp = 0;                                                          \
        if                                                                \
        :: infutex[sl] == 0 -> skip               /* woken */             \
        :: d_step { TIMEOUTS && infutex[sl] == 1; infutex[sl] = 0 } /* slice */ \
        :: d_step { esc } -> goto end_open        /* (ghost) */           \
        :: DIE                                                            \
        fi                                                                \
    :: else -> skip                                                       \
    fi

#ifndef BROKEN_SHARED_RING
/* ---- writer ---------------------------------------------------------------- */

/* The writer's room (chan_cond, writer): reload head of ring w. */
#define W_COND STEP(hc = head[w]); if :: wp + 1 - hc <= CAP -> res = YES :: else -> res = NO fi
/* The writer's peer state (chan_peer_state, writer): the reader's owner
 * word, then gone, then its lock (F2's order). */
#define W_PEER STEP(tmp = rowner);                                           \
    if                                                                      \
    :: tmp == 0 ->                                                          \
        STEP(if :: rgone != 0 -> res = EPIPE :: else -> skip fi);           \
        if :: res == EPIPE -> STEP(if :: lk[RS] != 0 -> res = NO :: else -> skip fi) \
           :: else -> skip fi                                               \
    :: else -> skip                                                         \
    fi; tmp = 0

proctype writer(byte me)
{
    byte w, wp, hc, id, tmp, res;

    /* writer 3 is the restart: it comes when writer 1 or 2 has died
     * (RESTART=1), or died or closed (RESTART=2) */
end_restart:
#if RESTART == 1
    me != 3 || crashed[1] || crashed[2];
#else
    me != 3 || wfin > 0;
#endif
    /* chan_claim: the first free writer slot; blocks while both are held */
end_claim:
    GSTEP(lk[0] == 0 || lk[1] == 0,
          if
          :: lk[0] == 0 -> lk[0] = me; w = 0
          :: lk[0] != 0 && lk[1] == 0 -> lk[1] = me; w = 1
          fi;
          took[w]++);
    /* fan_start_role (writer slot w) */
    STEP(wp = wpos[w]);                         /* load write_pos */
    STEP(hc = head[w]; assert(hc <= wp && wp <= hc + CAP)); /* load head, check */
    STEP(wowner[w] = me; owned[w] = 1);         /* store owner */
    STEP(closed[w] = 0);                        /* store closed = 0 */
    STEP(sleepf[RS] = 0);                       /* wake the reader, always: exchange, */
    STEP(gcur = 0);                             /*   fetch_add(reader_wake), */
    STEP(infutex[RS] = 0);                      /*   FUTEX_WAKE(all) */
    id = 1;
    do
    :: id > WNMSG(me) -> break
    :: else ->
        /* reserve (shmlink_channel_reserve): room by the cached head */
        if
        :: wp + 1 - hc > CAP ->
            W_COND;                             /* chan_wait: first look */
            do
            :: res == YES -> break
            :: else ->
                W_PEER;                         /* chan_peer_state */
                if
                :: res == EPIPE -> goto wclose  /* the reader closed its end */
                :: else -> skip
                fi;
                STEP(sleepf[w] = 1);            /* store writer_sleep = 1 */
                W_COND;                         /* re-check */
                if
                :: res == NO ->
                    W_PEER;
                    if
                    :: res == EPIPE -> STEP(sleepf[w] = 0); goto wclose
                    :: else -> skip
                    fi;
                    FUTEX_WAIT(w, sleepf[w] == 1, false);
                    STEP(sleepf[w] = 0);        /* store writer_sleep = 0 */
                    W_COND
                :: else -> STEP(sleepf[w] = 0)
                fi
            od
        :: else -> skip
        fi;
        /* send: the payload copy (a kill here leaves a reserved, never
         * committed record: private to ring w) */
        STEP(ring[w * CAP + wp % CAP] = me * 4 + id);
        /* commit: store write_pos (seq_cst) */
        STEP(wp++; wpos[w] = wp; ncommit[me]++; ncommit_all++; res = 0);
progress_commit:
        wake_reader();                          /* wake the reader (13.1) */
        id++
    od;
wclose:
    /* close (fan_close, chan_unclaim): closed = 1, owner 0, unlock, wake */
    STEP(closed[w] = 1);
    STEP(wowner[w] = 0);
    STEP(lk[w] = 0);
    wake_reader();
    d_step { wfin++; wrun[me] = 0 };
    goto gone;
end_open:                                       /* (not reached: esc is false) */
    goto gone;
dying:
    atomic { crash() };
gone:
    skip
}

/* ---- reader ---------------------------------------------------------------- */

/* The reader's condition (chan_cond, reader): something committed in some
 * ring (forced reloads of both write_pos). */
#define R_COND res = NO;                                                    \
    STEP(if :: wpos[0] != rp[0] -> res = YES :: else -> skip fi);           \
    STEP(if :: wpos[1] != rp[1] -> res = YES :: else -> skip fi)

/* The reader's peer state (chan_peer_state, reader: fi_verdict; 13.4):
 * for each writer slot, its owner word, then its lock (F2); a held lock:
 * keep waiting (at once). A free one: closed, and with closed = 0 and an
 * owner word, the owner word again (the same: its last holder died). Then
 * EPIPE if the last holder of some slot died, ENODATA if the last holder
 * of every slot closed it, else keep waiting (some slot never held: a
 * writer may still come). With a verdict, the last look at the rings. */
inline r_peer_state()
{
    ended = 0;
    k = 0;
    do
    :: k == NW -> break
    :: else ->
        STEP(o = wowner[k]);                    /* load owner */
        /* fan_slot_alive: test the lock (ghost: seen = the holds of slot
         * k so far) */
#ifndef BROKEN_END_IGNORES_LOCKS
        STEP(seen[k] = took[k]; if :: lk[k] != 0 -> ended = 4 :: else -> skip fi);
#else
        seen[k] = took[k];
#endif
        if
        :: ended == 4 -> break                  /* held: keep waiting */
        :: else -> skip
        fi;
        STEP(tmp = closed[k]);                  /* load closed */
        if
        :: tmp != 0 -> ended = ended + 8        /* (count of closed slots) */
        :: tmp == 0 && o != 0 ->                /* load owner again: the same? */
            STEP(if :: wowner[k] == o -> ended = ended | 2 :: else -> skip fi)
        :: else -> skip
        fi;
        tmp = 0; o = 0;
        k++
    od;
    k = 0; o = 0;
    if
    :: ended == 4 -> res = NO
    :: ended != 4 && (ended & 2) -> res = EPIPE
    :: ended == 8 * NW -> res = ENODATA         /* every slot closed */
#ifdef BROKEN_END_ANY_CLOSED
    :: ended != 8 * NW && ended != 4 && !(ended & 2) && ended >= 8 -> res = ENODATA
#else
    :: ended != 8 * NW && ended != 4 && !(ended & 2) && ended >= 8 -> res = NO
#endif
    :: ended == 0 -> res = NO                   /* no writer yet */
    fi;
    if
    :: res != NO ->
        /* ghost: a slot never held leaves the end open (13.4) */
        assert(res == EPIPE || (owned[0] && owned[1]));
        snap = ncommit_all;                     /* ghost: committed so far */
        R_COND;                                 /* the last look */
        if
        :: res == NO ->
            res = ((ended & 2) -> EPIPE : ENODATA)
        :: else -> skip                         /* deliver what was left first */
        fi
    :: else -> skip
    fi;
    ended = 0
}

/* fi_any_closed: has some writer closed? (tmp = 1 if so) */
#define ANY_CLOSED STEP(tmp = closed[0]);                                   \
    if :: tmp == 0 -> STEP(tmp = closed[1]) :: else -> skip fi

proctype reader(byte me)
{
    byte rp[NW], seen[NW], o, cur, wpc, v, tmp, res, k, ended, snap, any;

    STEP(lk[RS] = me);                          /* chan_claim (reader slot 0) */
    STEP(rowner = me);                          /* store owner */
    STEP(rgone = 0);                            /* store gone = 0 */
    /* fan_start_role: continue at each ring's head (only this reader
     * moves it; the check against write_pos is not modelled) */
    STEP(rp[1] = head[1]);
    STEP(rp[0] = head[0]);
    /* wake every writer, whatever its word holds (chan_wake_always) */
    d_step { sleepf[0] = 0 };
    d_step { infutex[0] = 0 };
    d_step { sleepf[1] = 0 };
    d_step { infutex[1] = 0 };
    cur = 0;
    do
    :: true ->
        /* visit ring cur (chan_reader_get): take what it has committed */
        STEP(wpc = wpos[cur]; assert(rp[cur] <= wpc && wpc - rp[cur] <= CAP));
        do
        :: rp[cur] == wpc -> break
        :: else ->
            /* chan_next_record, memcpy: the message whole, and still there */
            STEP(v = ring[cur * CAP + rp[cur] % CAP]);
            assert(v / 4 >= 1 && v / 4 <= 3 && v % 4 == got[v / 4] + 1); /* each writer's order, once */
            STEP(assert(ring[cur * CAP + rp[cur] % CAP] == v));
            assert(got[v / 4] < ncommit[v / 4]);   /* committed */
progress_recv:
            d_step { got[v / 4]++; ndeliv++; v = 0 };
            rp[cur]++;
            any = 1;
            STEP(head[cur] = rp[cur]);          /* chan_publish_rp: store head */
            wake_writer(cur)                    /* chan_wake(writer_sleep, 1) */
        od;
        wpc = 0;
        cur = 1 - cur;
        if
        :: cur == 0 && !any ->                  /* a whole round found nothing */
            /* chan_wait */
            R_COND;                             /* first look */
            do
            :: res != NO -> break
            :: else ->
                r_peer_state();
                if
                :: res == NO ->
                    STEP(gcur = 1);             /* g = load(reader_wake) */
                    STEP(sleepf[RS] = 1);       /* store reader_sleep = 1 */
                    R_COND;                     /* re-check */
                    if
                    :: res == NO ->
                        /* a writer that closed since woke before we
                         * announced: the peer state again if some writer
                         * closed (fi_any_closed) */
                        ANY_CLOSED;
                        if
                        :: tmp != 0 -> tmp = 0; r_peer_state()
                        :: else -> skip
                        fi;
                        if
                        :: res == NO ->
                            FUTEX_WAIT(RS, gcur, OPEN); /* FUTEX_WAIT(&reader_wake, g) */
                            gcur = 0;
                            R_COND
                        :: else -> skip
                        fi
                    :: else -> skip
                    fi;
                    gcur = 0
                :: else -> skip
                fi
            od;
            if
            :: res == ENODATA || res == EPIPE -> goto rend
            :: else -> skip
            fi
        :: else -> skip
        fi;
        if :: cur == 0 -> any = 0 :: else -> skip fi
    od;
rend:
    /* end of stream: every message committed before the last look was
     * delivered; no writer slot has been held since before the lock tests */
    assert(ndeliv >= snap);
    assert((lk[0] == 0 || took[0] != seen[0]) && (lk[1] == 0 || took[1] != seen[1]));
    assert(res != EPIPE || crashed[1] || crashed[2] || crashed[3]);
    /* fan_close: gone = 1, owner 0, unlock, wake the writers */
    d_step { rgone = 1 };
    d_step { rowner = 0 };
    d_step { lk[RS] = 0 };
    wake_writer(0);
    wake_writer(1);
    rfin = 1;
    goto gone;
end_open:
    /* every writer process has finished and some writer slot was never
     * held: the reader would wait for good, as 13.4 says (ghost exit) */
    skip;
dying:
    skip;
gone:
    skip
}

#else
/* ---- BROKEN_SHARED_RING: one ring, a claim counter ------------------------- */

proctype writer(byte me)
{
    byte p, hc, id, tmp, res;

    id = 1;
    do
    :: id > NMSG -> break
    :: else ->
        /* claim: CAS(tail, p, p + 1) when there is room */
        res = NO;
        do
        :: res == YES -> break
        :: else ->
            STEP(p = tail);
            STEP(hc = head1);
            if
            :: p + 1 - hc <= CAP ->
                STEP(if :: tail == p -> tail = p + 1; res = YES :: else -> skip fi)
            :: else ->
                GSTEP(head1 != hc, skip)        /* wait for room (no lost wake-up) */
            fi
        od;
        STEP(ring[p % CAP] = me * 4 + id);      /* payload */
        STEP(hdr[p % CAP] = 1; ncommit[me]++; ncommit_all++); /* commit: header */
        wake_reader();
        id++
    od;
    skip;                                       /* (break lands here) */
    d_step { wfin++; wrun[me] = 0 };
    goto gone;
dying:
    atomic { crash() };
gone:
    skip
}

proctype reader(byte me)
{
    byte v, tmp, res;

    do
    :: true ->
        /* the record at head1: committed? */
        STEP(if :: hdr[head1 % CAP] == 1 -> res = YES :: else -> res = NO fi);
        if
        :: res == YES ->
            STEP(v = ring[head1 % CAP]);
            assert(v % 4 == got[v / 4] + 1);
            d_step { got[v / 4]++; ndeliv++; v = 0 };
            STEP(hdr[head1 % CAP] = 0);
            STEP(head1++);
            wake_writer(0)
        :: else ->
            /* end: nothing claimed past head1 and every writer finished
             * (the model's oracle, kinder than a real reader) */
            if
            :: tail == head1 && wfin == NWP -> break
            :: else -> skip
            fi;
            skip                                /* sleep a slice, look again */
        fi
    od;
    rfin = 1;
    goto gone;
dying:
    skip;
gone:
    skip
}
#endif

init
{
    atomic {
#if !WRITER2 && !defined(BROKEN_SHARED_RING)
        /* writer slot 1 was held before and closed: the end of stream
         * (every slot closed) rests on slot 0's holders */
        closed[1] = 1;
        took[1] = 1;
        owned[1] = 1;
#endif
        run writer(1);
#if WRITER2
        run writer(2);
#endif
#if RESTART
        run writer(3);
#endif
        run reader(4)
    }
}
