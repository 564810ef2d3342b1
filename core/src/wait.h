/* Futex waits and wakes on shared memory, time, and spin settings. */
#ifndef SHMLINK_WAIT_H
#define SHMLINK_WAIT_H

#include <stdint.h>

/* Longest single futex sleep (docs/PROTOCOL.md, 5): 100 ms. */
#define SHMLINK__WAIT_SLICE_NS 100000000LL

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t shmlink__now_ns(void);

/* FUTEX_WAIT (shared, not private) on word while it holds expected, for at
 * most timeout_ns (> 0). Returns 0 when woken or when the word did not hold
 * expected, -ETIMEDOUT, -EINTR (a signal handler ran), or another -errno. */
int shmlink__futex_wait(uint32_t *word, uint32_t expected, int64_t timeout_ns);

/* FUTEX_WAKE (shared) of up to n waiters on word. Returns the number woken
 * or -errno. */
int shmlink__futex_wake(uint32_t *word, int n);

/* Number of futex system calls this process made so far (all handles);
 * the benchmark uses it to count system calls per message. */
uint64_t shmlink__wait_syscalls(void);

/* How long a side spins before it sleeps, in ns: SHMLINK_SPIN_NS from the
 * environment (read once; 0 disables spinning), default 50000. */
int64_t shmlink__spin_ns(void);

#endif /* SHMLINK_WAIT_H */
