/*
 * calls.pml - SPIN model of the calls layer of shmlink (docs/PROTOCOL.md
 * section 13.5, core/src/call.c): a server's workers take requests from
 * the request channel (a work queue) and answer each in the reply channel
 * of the client whose writer slot the request came from; the client finds
 * its answers by call id and learns of the server's death from the
 * request channel's reader-slot locks.
 *
 * The channels themselves are abstracted: their protocols are checked by
 * channel.pml, fanout.pml and fanin.pml. Here a take from the queue, an
 * adoption of an orphan, a reply put into a reply ring and a client's
 * receive are one atomic step each, and a process waits for what it waits
 * for with a guard (the futex protocol that makes such waits sound is what
 * the other models check). What is modelled step by step is what the
 * calls layer adds, every shared load and store of it in the C code's
 * order: the client slot's owner word and reply_kind / reply_id, the
 * reply channel's name, the workers' cached reply handles, and the
 * client's test of the workers' locks.
 *
 * Processes:
 *   clients 1 and 2   one client slot (lock slot CS): client 2 takes it
 *                     when client 1 has closed or died (the slot is
 *                     reused, with client 1's requests possibly still in
 *                     its ring); each makes NCALL calls, one at a time,
 *                     then closes
 *   workers 3 and 4   take the two worker (reader) slots, lock slots 0, 1;
 *                     serve requests until they leave (close) or die;
 *                     worker 3 made the server (shmlink_server_create):
 *                     it holds slot 0 from the start, as the creator takes
 *                     its slot before it publishes the channel
 *   worker 5          the restart: starts once a worker has left or died,
 *                     takes the first free worker slot
 *   killer            sends at most CRASHES SIGKILLs, to any process
 *
 * Request value: client * 4 + call number (1..3) - it stands for the call
 * id (the C core starts a client's ids at a random 64-bit value, so ids of
 * two clients never meet) and is echoed in the reply.
 *
 * Options (spin -D...):
 *   SYSV=1          System V: the reply channel is found by id (reply_kind
 *                   2, reply_id); default POSIX: by the name
 *                   "<name>.r<slot>" (reply_kind 1)
 *   NCALL=1         calls per client (1..3)
 *   CRASHES=1       SIGKILLs (0..2)
 *   LEAVE=1         0: workers never leave (close) by choice
 *   RESTART=1       0: no worker 5
 *   CAPQ=4          request ring cells; with fewer, a client's send
 *                   waits for room and, while it waits, tests the workers
 *                   (the queue writer's EPIPE, fan_writer_verdict)
 *   CLIENT2=1       0: no client 2
 *   WORKER4=1       0: no worker 4 (worker 3 and, with RESTART, worker 5)
 *   BROKEN_OWNER_BEFORE_KIND   taking a client slot stores the owner word
 *                   before reply_kind = 0 (the order of protocol revision
 *                   2 before this model): a worker can pair the new
 *                   owner with the old reply channel
 *   BROKEN_PER_SLOT_TEST       the client tests the workers' locks one by
 *                   one while it waits for a reply: a
 *                   worker that joins after its slot was tested while the
 *                   last other one leaves before its slot is tested makes
 *                   it report a live server dead
 *   BROKEN_SEND_PER_SLOT_TEST  the same test slot by slot while the
 *                   client waits for room in its ring (the queue writer's
 *                   verdict before this model; needs CAPQ=1)
 *   BROKEN_NO_OWNER_CHECK      a worker keeps its reply handle of a slot
 *                   whoever holds the slot now
 *   BROKEN_UNLOCK_FIRST        a closing client gives up its slot before
 *                   it removes its reply channel (by name): it can remove
 *                   the next client's
 */

#ifndef SYSV
#define SYSV 0
#endif
#ifndef NCALL
#define NCALL 1
#endif
#ifndef CRASHES
#define CRASHES 1
#endif
#ifndef LEAVE
#define LEAVE 1
#endif
#ifndef RESTART
#define RESTART 1
#endif
#ifndef CLIENT2
#define CLIENT2 1
#endif
#ifndef WORKER4
#define WORKER4 1
#endif

#define NWK 2                   /* worker slots: lock slots 0, 1 */
#define CS 2                    /* the client slot: lock slot 2 */
#define NROLES 3
#define NPROC 6                 /* clients 1, 2; workers 3, 4, 5 */
#ifndef CAPQ
#define CAPQ 4                  /* request ring cells (4: every request fits) */
#endif
/* The request ring's bytes in use, as the writer counts its room (13.3):
 * not yet taken, or peeked and not yet released. */
#define USED ((qwp - qhead) + (wstate[0] == 2) + (wstate[1] == 2))
#define KIND (SYSV -> 2 : 1)    /* reply_kind of this backend */

#include "kernel.pml"

/* ---- shared memory: the request channel ---------------------------------- */
byte cowner;                    /* client slot: owner word (client id, 0) */
byte ckind;                     /* client slot: reply_kind */
byte cid;                       /* client slot: reply_id (SysV: the segment) */
byte cclosed;                   /* client slot: closed */
byte q[CAPQ];                   /* the client slot's ring: request values */
byte qhead;                     /* head: next position not yet taken */
byte qwp;                       /* write_pos */
byte wowner[NWK];               /* worker slot: owner word */
bit wgone[NWK];                 /* worker slot: gone */
byte wstate[NWK];               /* worker slot: 2 = peeking, not released */
byte wheld[NWK];                /* worker slot: the request it peeks */

/* ---- reply channels: instance c is the one client c made ----------------- */
byte pname;                     /* POSIX: the object the name refers to (0: none) */
bit iexists[3];                 /* System V: the segment of id c exists */
bit ireader[3];                 /* its reader (client c) holds the role */
byte rq[3];                     /* its ring (one cell): a reply value, 0 = empty */
byte natt[3];                   /* worker handles attached to it (nattch) */

/* ---- ghost ----------------------------------------------------------------- */
bit copen[3];                   /* client c is open: its reply channel is set
                                 * (reply_kind stored) and it has not begun
                                 * to close */
bit chg[3];                     /* for client c: what its worker test reads
                                 * (locks, owner words, gone) changed since
                                 * the test began */
bit freeseen[3];                /* for client c: no worker held a slot at some
                                 * moment since its current test began */
byte answered[3];               /* calls of client c answered */
bit epipe[3];                    /* client c got EPIPE */
bit wdone[NPROC];               /* worker left or died */
bit live[NPROC];                /* process started and not ended */
byte crash_left = CRASHES;

#define ALLFREE (lk[0] == 0 && lk[1] == 0)
/* A worker lock, owner word or gone changed (a client test must look again). */
#define CHG chg[1] = 1; chg[2] = 1
/* A worker lock was freed: note the moment every worker slot is free. */
#define NOTE_FREE                                                          \
    if :: ALLFREE -> freeseen[1] = 1; freeseen[2] = 1 :: else -> skip fi;  \
    CHG

/* SIGKILL of a running process (one that has started and not ended) */
#define KILL(p) d_step { crash_left > 0 && victim == 0 && live[p]; victim = p; crash_left-- }

active proctype killer()
{
end_killer:
    do
    :: KILL(1)
#if CLIENT2
    :: KILL(2)
#endif
    :: KILL(3)
#if WORKER4
    :: KILL(4)
#endif
#if RESTART
    :: KILL(5)
#endif
    od
}

/* ---- worker ---------------------------------------------------------------- */

/* SIGKILL of a worker: the kernel frees every lock it holds (its slot, and
 * a slot whose orphan it adopted) and detaches its reply handle. A peeked,
 * unreleased request stays in state 2: an orphan. */
inline crash_worker()
{
    victim = 0;
    if :: lk[0] == me -> lk[0] = 0 :: else -> skip fi;
    if :: lk[1] == me -> lk[1] = 0 :: else -> skip fi;
    NOTE_FREE;
    if :: h != 0 -> natt[h]-- :: else -> skip fi;
    wdone[me] = 1;
    live[me] = 0
}

/* srv_forget: close our handle; a System V reply channel whose reader is
 * gone is removed first (the client could not). */
inline forget()
{
    if
    :: h != 0 ->
        if
        :: SYSV -> STEP(if :: !ireader[h] -> iexists[h] = 0 :: else -> skip fi)
        :: else -> skip
        fi;
        STEP(natt[h]--; h = 0)
    :: else -> skip
    fi
}

proctype worker(byte me)
{
    byte s, a, h, ho, o, k, i, req, tmp;

    /* worker 5 is the restart: it comes once a worker has left or died */
end_restart:
    d_step { me != 5 || wdone[3] || wdone[4]; live[me] = 1 };
    if
    :: me == 3 -> skip          /* the creator: slot 0 and its owner word
                                 * were taken before the channel was
                                 * published (chan_create) */
    :: else ->
        /* chan_claim: the first free reader slot; blocks while both are
         * held */
end_claim:
        GSTEP(lk[0] == 0 || lk[1] == 0,
              if
              :: lk[0] == 0 -> lk[0] = me; s = 0
              :: lk[0] != 0 && lk[1] == 0 -> lk[1] = me; s = 1
              fi;
              CHG);
        /* fan_start_role (reader): owner word, gone = 0 */
        STEP(wowner[s] = me; CHG);
        STEP(wgone[s] = 0; CHG)
    fi;
    /* q_own_orphan: a peek the slot's last holder left unreleased is ours */
    a = s;
    STEP(if :: wstate[s] == 2 -> req = wheld[s] :: else -> skip fi);
    if :: req != 0 -> goto serve :: else -> skip fi;
    do
    :: true ->
end_idle:
        /* shmlink_server_recv: wait, then take with peek (q_take), or
         * adopt another slot's orphan (q_adopt: its lock, then its
         * request); or close (shmlink_server_close) */
        if
        :: GSTEP(qhead != qwp,
                 req = q[qhead % CAPQ]; qhead++; wstate[s] = 2; wheld[s] = req; a = s)
        :: GSTEP(wstate[1 - s] == 2 && lk[1 - s] == 0,
                 a = 1 - s; lk[a] = me; req = wheld[a])
#if LEAVE
        :: goto wclose
#endif
        fi;
serve:
        /* srv_reply_handle: owner word, reply_kind, reply_id of the
         * request's client slot (shmlink__channel_reply_of) */
        STEP(o = cowner);
        STEP(k = ckind);
        STEP(i = cid);
#ifndef BROKEN_NO_OWNER_CHECK
        if
        :: h != 0 && ho == o -> skip            /* the handle we have */
        :: else ->
#else
        if
        :: h != 0 -> skip
        :: else ->
#endif
            forget();                           /* another client holds it now */
            if
            :: k == KIND ->                     /* shmlink_channel_open (writer) */
#if SYSV
                STEP(if :: iexists[i] -> h = i; natt[h]++ :: else -> skip fi)
#else
                STEP(h = pname; if :: h != 0 -> natt[h]++ :: else -> skip fi)
#endif
            :: else -> skip                     /* no reply channel (yet): ENOENT */
            fi;
            ho = o
        fi;
        o = 0; k = 0; i = 0;                    /* (dead: let states merge) */
        if
        :: h == 0 -> goto release               /* drop the request */
        :: else -> skip
        fi;
        /* A request of a client that is still open is answered in that
         * client's reply channel. */
        assert(!copen[req / 4] || h == req / 4);
        /* shmlink_server_reply: reserve and commit in the reply ring; a
         * full ring waits while its reader holds the role, else EPIPE */
        GSTEP(rq[h] == 0 || !ireader[h],
              if
              :: rq[h] == 0 -> rq[h] = req; tmp = 0
              :: else -> tmp = 1                /* EPIPE */
              fi);
        if :: tmp == 1 -> tmp = 0; forget() :: else -> skip fi;
release:
        /* q_release: the request is done (state 0; an adopted slot's lock
         * given back) */
        STEP(wstate[a] = 0; wheld[a] = 0; req = 0;
             if :: a != s -> lk[a] = 0; NOTE_FREE :: else -> skip fi;
             a = s)
    od;
wclose:
    /* shmlink_server_close: reply handles, then fan_close: gone = 1,
     * owner word 0, unlock */
    forget();
    STEP(wgone[s] = 1; CHG);
    STEP(wowner[s] = 0; CHG);
    STEP(lk[s] = 0; NOTE_FREE; wdone[me] = 1; live[me] = 0);
    goto gone;
dying:
    atomic { crash_worker() };
gone:
    skip
}

/* ---- client ---------------------------------------------------------------- */

inline crash_client()
{
    victim = 0;
    if :: lk[CS] == me -> lk[CS] = 0 :: else -> skip fi;
    ireader[me] = 0;
    copen[me] = 0;
    live[me] = 0
}

/* Is some worker slot held? Owner words and gone of every slot (was any
 * ever held?), then the locks. res: 0 alive (or never held: keep
 * waiting), 1 EPIPE. The client's test while it waits for a reply
 * (shmlink__channel_readers_state) and, while it waits for room in its
 * ring, the queue writer's (fan_writer_verdict: its tests slot by slot,
 * each "held" cached for 100 ms, can only make it wait longer; EPIPE needs
 * the one test of all locks at the end). */
inline workers_test(perslot)
{
    ended = 0;
    res = 0;
    if
    :: !perslot ->
        STEP(if :: wowner[0] != 0 -> ended = 1 :: else -> skip fi);
        STEP(if :: wgone[0] -> ended = 1 :: else -> skip fi);
        STEP(if :: wowner[1] != 0 -> ended = 1 :: else -> skip fi);
        STEP(if :: wgone[1] -> ended = 1 :: else -> skip fi);
        /* one test of every reader lock at once: F_OFD_GETLK over the
         * range of their lock bytes, or one semop of "wait for zero" on
         * every reader semaphore with IPC_NOWAIT (shmlink__lock_any_held) */
        STEP(if :: ALLFREE && ended -> res = 1 :: else -> skip fi)
    :: perslot ->
        /* slot by slot: owner word, lock, gone */
        STEP(if :: wowner[0] != 0 -> ended = 1 :: else -> skip fi);
        STEP(if :: lk[0] != 0 -> res = 2 :: else -> skip fi);
        if
        :: res == 0 ->
            STEP(if :: wgone[0] -> ended = 1 :: else -> skip fi);
            STEP(if :: wowner[1] != 0 -> ended = 1 :: else -> skip fi);
            STEP(if :: lk[1] != 0 -> res = 2 :: else -> skip fi);
            if
            :: res == 0 ->
                STEP(if :: wgone[1] -> ended = 1 :: else -> skip fi);
                if :: ended -> res = 1 :: else -> skip fi
            :: else -> res = 0
            fi
        :: else -> res = 0
        fi
    fi
}

#ifdef BROKEN_PER_SLOT_TEST
#define RECV_PERSLOT 1
#else
#define RECV_PERSLOT 0
#endif
#ifdef BROKEN_SEND_PER_SLOT_TEST
#define SEND_PERSLOT 1
#else
#define SEND_PERSLOT 0
#endif

proctype client(byte me)
{
    byte n, t, po, pk, pi, res;
    bit ended;

    live[me] = 1;
end_claim:
    /* chan_claim of the writer slot (EBUSY while held: the model's client
     * waits for it) */
    GSTEP(lk[CS] == 0, lk[CS] = me);
    /* fan_start_role (writer): the previous holder's owner word and reply
     * channel, then reply_kind = 0 and our owner word */
    STEP(po = cowner);
    STEP(pk = ckind);
    STEP(pi = cid);
#ifndef BROKEN_OWNER_BEFORE_KIND
    STEP(ckind = 0);
    STEP(cowner = me);
#else
    STEP(cowner = me);
    STEP(ckind = 0);
#endif
    STEP(cclosed = 0);
    /* cl_make_reply: remove a stale reply channel of a dead client of our
     * slot, make ours (we are its reader), store reply_id, reply_kind */
#if SYSV
    /* cl_remove_stale_sysv: made by the previous holder, nothing attached */
    STEP(if :: pk == 2 && pi == po && pi != 0 && natt[pi] == 0 -> iexists[pi] = 0
         :: else -> skip fi);
    STEP(iexists[me] = 1; ireader[me] = 1);
    STEP(cid = me);
#else
    STEP(pname = 0);                            /* shmlink_remove("<name>.r0") */
    STEP(pname = me; ireader[me] = 1);          /* create it */
    STEP(cid = 0);
#endif
    STEP(ckind = KIND; copen[me] = 1);
    po = 0; pk = 0; pi = 0;
    n = 1;
    do
    :: n > NCALL -> break
    :: else ->
        /* shmlink_client_send: the request, committed in our ring; a full
         * ring waits (chan_wait of the writer), testing the workers */
        do
        :: GSTEP(USED < CAPQ, q[qwp % CAPQ] = me * 4 + n; qwp++) -> break
        :: GSTEP(USED >= CAPQ && chg[me], chg[me] = 0; freeseen[me] = ALLFREE) ->
            workers_test(SEND_PERSLOT);
            if
            :: res == 1 ->
                /* the last look at the room (chan_cond), then EPIPE */
                if
                :: d_step { victim != me && USED < CAPQ } -> skip
                :: d_step { victim != me && USED >= CAPQ } ->
                    assert(freeseen[me]);       /* EPIPE only for a dead server */
                    epipe[me] = 1;
                    goto cclose
                :: DIE
                fi
            :: else -> skip
            fi
        od;
        /* shmlink_client_recv until our call id comes */
        do
        :: GSTEP(rq[me] != 0, t = rq[me]; rq[me] = 0) ->   /* peek, release */
            if
            :: t == me * 4 + n -> answered[me]++; break
            :: else ->
                /* dropped: another client's (served after that client
                 * left) or a second answer of an earlier call of ours */
                assert(t / 4 != me || t % 4 < n)
            fi;
            t = 0
        :: GSTEP(chg[me], chg[me] = 0; freeseen[me] = ALLFREE) ->
            /* a 100 ms slice ended: look at the workers (a look that
             * finds what the last one found is the same look) */
            workers_test(RECV_PERSLOT);
            if
            :: res == 1 ->
                /* EPIPE: only if no worker held a slot at some moment */
                assert(freeseen[me]);
                epipe[me] = 1;
                goto cclose
            :: else -> skip
            fi
        od;
        n++
    od;
cclose:
    /* shmlink_client_close: reply_kind = 0, remove the reply channel,
     * close it, then close the request channel's writer slot: closed = 1,
     * owner 0, unlock */
    copen[me] = 0;
    STEP(ckind = 0);                            /* shmlink__channel_clear_reply */
#ifndef BROKEN_UNLOCK_FIRST
#if SYSV
    STEP(iexists[me] = 0);                      /* IPC_RMID (by id: ours) */
#else
    STEP(pname = 0);                            /* shm_unlink by name */
#endif
    STEP(ireader[me] = 0);
#endif
    STEP(cclosed = 1);
    STEP(cowner = 0);
    STEP(lk[CS] = 0);
#ifdef BROKEN_UNLOCK_FIRST
    STEP(pname = 0);
    STEP(ireader[me] = 0);
#endif
    d_step { live[me] = 0; if :: victim == me -> victim = 0 :: else -> skip fi };
    goto gone;
dying:
    atomic { crash_client() };
gone:
    skip
}

init
{
    atomic {
        lk[0] = 3;                              /* shmlink_server_create */
        wowner[0] = 3;
        run client(1);
#if CLIENT2
        run client(2);
#endif
        run worker(3);
#if WORKER4
        run worker(4);
#endif
#if RESTART
        run worker(5)
#endif
    }
}
