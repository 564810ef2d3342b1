/* Channel functions for tests and benchmarks (not part of the public API). */
#ifndef SHMLINK_CHANNEL_INTERNAL_H
#define SHMLINK_CHANNEL_INTERNAL_H

#include "shmlink.h"

/* Like shmlink_channel_open, but on a segment the caller has open
 * (read-write) and keeps: closing the channel leaves the segment open.
 * Lets two handles in one process share one mapping, which is what
 * ThreadSanitizer needs to see both sides' accesses as the same memory
 * (two mappings of one object are different addresses to it). Returns the
 * codes of shmlink_channel_open; -EINVAL for a read-only segment. */
int shmlink__channel_attach(shmlink_segment *seg, shmlink_role role,
                            shmlink_channel **out);

/* Sets how long this handle spins before it sleeps (ns, 0 = sleep at
 * once), overriding SHMLINK_SPIN_NS; the benchmark measures both modes. */
void shmlink__channel_set_spin(shmlink_channel *ch, int64_t spin_ns);

/* Calls (docs/PROTOCOL.md 13.5). */

/* Reader: never report end of stream (-ENODATA, -EPIPE): wait instead. A
 * server's request channel and a client's reply channel use it. */
void shmlink__channel_set_no_eos(shmlink_channel *ch);

/* Writer of a channel with slots: stores the reply channel of its writer
 * slot (id, then kind, seq_cst). Returns 0 or -EINVAL. */
int shmlink__channel_set_reply(shmlink_channel *ch, uint32_t kind, uint32_t id);

/* Writer of a channel with slots: reply_kind = 0 (seq_cst), reply_id
 * left as it is (a worker that loaded the old kind still loads the id
 * that goes with it). A closing client: its reply channel is going away.
 * Returns 0 or -EINVAL. */
int shmlink__channel_clear_reply(shmlink_channel *ch);

/* Reader of a channel with slots: the reply channel of writer slot w and
 * the slot's owner word. Returns 0 or -EINVAL. */
int shmlink__channel_reply_of(const shmlink_channel *ch, unsigned w,
                              uint32_t *kind, uint32_t *id, uint64_t *owner);

/* Writer of a channel with slots: the reply channel (kind, id) and the pid
 * of the owner word the slot's previous holder left when we took it.
 * Returns 0 or -EINVAL. */
int shmlink__channel_prev_reply(const shmlink_channel *ch, uint32_t *kind,
                                uint32_t *id, int32_t *pid);

/* Writer of a fan-out channel: 1 if some reader slot is held by a live
 * process, 0 if none is and some slot's last holder left or died, 2 if no
 * reader ever came. Touches no state of the handle, so it may run beside
 * the writer's own calls in another thread. */
int shmlink__channel_readers_state(const shmlink_channel *ch);

/* A System V channel whose segment is already marked for removal: removes
 * its semaphore set now, even while other processes hold roles (they keep
 * their mappings; their locks are gone with the channel). A client's reply
 * channel uses it: the workers that hold its writer slots would otherwise
 * leave the set behind when they die before closing. Returns 0 (also for a
 * POSIX channel), -EBUSY (the segment is still named) or -errno. */
int shmlink__channel_drop_locks(shmlink_channel *ch);

/* 1 if the handle was inherited through fork() (calls on it fail with
 * -ECHILD; its close only unmaps), 0 if it is this process's own. */
int shmlink__channel_inherited(const shmlink_channel *ch);

/* shmlink_segment_stat of the channel's segment (owner uid, mode, ...).
 * 0 or -errno. */
int shmlink__channel_segment_stat(const shmlink_channel *ch, shmlink_stat *st);

#endif /* SHMLINK_CHANNEL_INTERNAL_H */
