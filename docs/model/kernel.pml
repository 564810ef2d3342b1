/*
 * kernel.pml - what the kernel does for a shmlink channel, as SPIN sees it:
 * role locks, futex words, SIGKILL. Shared by the models of docs/model/.
 *
 * A model includes this file after it has defined NROLES (role slots) and
 * NPROC (one more than the largest process id), and before its proctypes it
 * defines inline crash(), the whole effect of a SIGKILL of process "me"
 * (it may use kernel_crash below). Every process has the local bytes "me"
 * (its id, > 0) and "tmp", and ends with
 *     dying: atomic { crash() }; gone: skip
 * (a process that ends normally jumps to gone).
 *
 *   lk[slot]       the role lock of one slot: an OFD fcntl write lock on one
 *                  byte of the POSIX object, or a System V semaphore taken
 *                  with SEM_UNDO. Holder id, 0 = free. Taken with a
 *                  non-blocking test-and-set (failure = EBUSY); tested
 *                  without taking it (F_OFD_GETLK / semctl GETVAL); freed by
 *                  the holder, or by the kernel when the holder dies.
 *   sleepf[slot]   the futex word of the side in that slot (reader_sleep,
 *                  writer_sleep): shared memory, not kernel state.
 *   infutex[slot]  1 while the process of that slot is blocked in
 *                  FUTEX_WAIT on sleepf[slot] (only the role holder sleeps).
 *   victim         the process a SIGKILL has been sent to (0 = none). It
 *                  dies at its next shared-memory step or while blocked:
 *                  every such step is written STEP / GSTEP below, with the
 *                  death as the other choice. (Dying between two private
 *                  steps is the same as dying before the next shared one.)
 *
 * A futex wait is bounded (at most 100 ms): with TIMEOUTS 1 a sleeper may
 * wake up at any moment on its own; with TIMEOUTS 0 only FUTEX_WAKE wakes
 * it, which is how the models check that no wake-up is ever lost.
 *
 * Ghost state for the lost-wake-up property (not part of the protocol):
 *   owe[id]        1 from the seq_cst store of process id that a sleeper
 *                  waits for (a position, closed, reader_gone) until id has
 *                  finished its wake (flag load, exchange, FUTEX_WAKE). Per
 *                  process: an old holder may still be finishing the wake
 *                  of its close while the new holder wakes too.
 *   orphan[slot]   the peer of slot died holding its role, or died owing
 *                  slot a wake: only the 100 ms timeout wakes that sleeper,
 *                  which the protocol accepts (PROTOCOL.md, section 5),
 *                  until a new process takes the dead one's role
 *                  (start_wake) or the sleeper announces itself again.
 */

#ifndef TIMEOUTS
#define TIMEOUTS 1
#endif

byte lk[NROLES];
byte sleepf[NROLES];
bit infutex[NROLES];
byte victim;
bit owe[NPROC];
bit orphan[NROLES];

/* The death of me, instead of its next step (the label "dying" runs
 * crash()). */
#define DIE         victim == me -> goto dying
/* One atomic shared-memory step x of me (or its death). */
#define STEP(x)     if :: d_step { victim != me; x } :: DIE fi
/* The same, blocked until g holds. */
#define GSTEP(g, x) if :: d_step { victim != me && (g); x } :: DIE fi

/* chan_wake (channel.c): after a seq_cst store of what slot r waits for.
 *   if (shm_load_seq_cst32(word) == 1 && shm_exchange32(word, 0) == 1)
 *       shmlink__futex_wake(word, 1);
 * Clears the ghost owe[me] once the wake is done (or not needed). */
inline chan_wake(r)
{
    if
    :: d_step { victim != me && sleepf[r] == 1 } ->  /* shm_load_seq_cst32 */
        STEP(tmp = sleepf[r]; sleepf[r] = 0;         /* shm_exchange32(word, 0) */
             if
             :: tmp != 1 -> owe[me] = 0
             :: else -> skip
             fi);
        if
        :: tmp == 1 ->                               /* shmlink__futex_wake */
            STEP(infutex[r] = 0; owe[me] = 0; tmp = 0)
        :: else -> skip
        fi
    :: d_step { victim != me && sleepf[r] != 1; owe[me] = 0 } /* (the same load) */
    :: DIE
    fi
}

/* The wake at the end of taking a role (chan_start_role), whatever the
 * peer's word holds: exchange it to 0, then FUTEX_WAKE. The previous
 * holder may have died owing the peer a wake: between its exchange and its
 * FUTEX_WAKE (the peer sleeps with its word already 0, so a wake that tests
 * the word never reaches it), or between its store and its exchange (the
 * peer is about to sleep with its word 1: the exchange makes that
 * FUTEX_WAIT return at once). See BROKEN_START_WAKE_IF_FLAG in
 * channel.pml. The ghost orphan[r] ends here: a wake is due again. */
inline start_wake(r)
{
    STEP(sleepf[r] = 0);                             /* shm_exchange32(word, 0) */
    STEP(infutex[r] = 0; orphan[r] = 0)              /* shmlink__futex_wake */
}

/* shmlink__futex_wait(&sleepf[r], 1, <= 100 ms): the kernel compares the
 * word with 1 and sleeps only if it still is 1 (else EAGAIN, at once). The
 * caller (chan_wait) has stored sleepf[r] = 1 before.
 * Labels: a sleeper is a valid end state (the peer may stay idle for
 * ever), and sleeping is progress (it burns no CPU); a FUTEX_WAIT that
 * returns at once (EAGAIN) is not. Expanded once per proctype. */
inline futex_wait(r)
{
    STEP(if
         :: sleepf[r] == 1 -> infutex[r] = 1; tmp = 1
         :: else -> skip                             /* EAGAIN */
         fi);
    if
    :: tmp == 1 ->                                   /* asleep */
        tmp = 0;
end_sleep:
progress_sleep:
        if
        :: infutex[r] == 0 -> skip                   /* woken */
#if TIMEOUTS
        :: d_step { infutex[r] == 1; infutex[r] = 0 } /* the 100 ms slice ran out */
#endif
        :: DIE
        fi
    :: else -> skip
    fi
}

/* The kernel's part of a SIGKILL of process me in slot r (peer slot p),
 * atomic with it: its lock is freed and it leaves FUTEX_WAIT. Shared memory
 * stays as the process left it. Ghost: a sleeping peer learns of the death
 * only by its timeout, and a wake the dead process owed never comes. Use
 * inside d_step. */
inline kernel_crash(r, p)
{
    victim = 0;
    if
    :: lk[r] == me -> lk[r] = 0; infutex[r] = 0; orphan[p] = 1
    :: else -> skip
    fi;
    if
    :: owe[me] -> owe[me] = 0; orphan[p] = 1
    :: else -> skip
    fi
}
