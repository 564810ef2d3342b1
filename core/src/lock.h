/*
 * Role locks (docs/PROTOCOL.md, section 6): a role of a version-2 channel is
 * held exactly while its holder holds a kernel lock for the role's slot, so
 * the kernel, not a reading of /proc, says whether the holder lives. The
 * kernel drops the lock when the holder dies, in any pid namespace and
 * whatever /proc shows.
 *
 *   POSIX   an open-file-description lock (F_OFD_SETLK, write lock) on one
 *           byte of the shared-memory object, taken through a descriptor of
 *           the handle's own (so two handles in one process are two owners)
 *   SysV    semaphore `slot` of a System V semaphore set made with the
 *           channel, raised to 1 with SEM_UNDO (the kernel undoes it when
 *           the process exits; a forked child does not inherit it)
 *
 * A forked child must not keep its parent's role alive: the child side of
 * a pthread_atfork handler closes every lock descriptor in the child, and
 * each handle notes the fork generation it was made in (shmlink__fork_gen)
 * so that calls from a child fail with -ECHILD.
 */
#ifndef SHMLINK_LOCK_H
#define SHMLINK_LOCK_H

#include <stdint.h>

#include "internal.h"

#define SHMLINK__LOCK_OFD 1u /* header lock_kind: OFD locks on the object */
#define SHMLINK__LOCK_SEM 2u /* header lock_kind: System V semaphore set  */
/* A 1:1 channel has 2 slots (0 writer, 1 reader); a fan-out channel has R
 * reader slots (0..R-1) and then W writer slots (docs/PROTOCOL.md 13.1). */
#define SHMLINK__LOCK_SLOTS_1TO1 2u
#define SHMLINK__LOCK_MAX_SLOTS  128u
/* A System V set has one more semaphore after the slots: a tag, the
 * segment's shmid mod 32768, that ties the set to its segment. */

/* Where the slots' lock bytes are in a POSIX object. */
typedef enum shmlink__lock_layout {
    SHMLINK__LOCK_LAYOUT_1TO1 = 0,  /* slot s: byte 384 + 8*s */
    SHMLINK__LOCK_LAYOUT_FANOUT = 1 /* slot s: byte 512 + 128*s */
} shmlink__lock_layout;

typedef struct shmlink__lockset {
    unsigned kind;   /* SHMLINK__LOCK_OFD or SHMLINK__LOCK_SEM */
    unsigned nslots; /* slots of the channel (the set has nslots + 1) */
    shmlink__lock_layout layout;
    int fd;       /* OFD: the handle's own descriptor; -1 when closed */
    int probe_fd; /* OFD: descriptor to test locks through (fd, or the
                     segment's for a read-only inspection); -1 none */
    int semid;    /* SEM: the semaphore set; -1 otherwise */
    uint64_t held[SHMLINK__LOCK_MAX_SLOTS / 64]; /* slots this handle holds */
    struct shmlink__lockset *next;               /* fork registry (OFD only) */
    int registered;
} shmlink__lockset;

/* Lock byte of a slot in the POSIX object (the first byte of the slot's
 * owner word). */
static inline long shmlink__lock_byte(shmlink__lock_layout layout,
                                      unsigned slot)
{
    return layout == SHMLINK__LOCK_LAYOUT_FANOUT ? 512 + 128 * (long)slot
                                                 : 384 + 8 * (long)slot;
}

/* 1 if this handle holds slot. */
static inline int shmlink__lock_mine(const shmlink__lockset *ls, unsigned slot)
{
    return slot < SHMLINK__LOCK_MAX_SLOTS &&
           ((ls->held[slot / 64] >> (slot % 64)) & 1u) != 0;
}

/* Creator: sets up the locks of a new channel of nslots slots (2..128)
 * in seg. For System V makes a semaphore set of nslots + 1 semaphores with
 * the given mode and stores its id in *id (the caller writes it into the
 * header); for POSIX *id = 0. Returns 0 or -errno. */
int shmlink__lock_create(shmlink__lockset *ls, shmlink_segment *seg,
                         unsigned mode, unsigned nslots,
                         shmlink__lock_layout layout, uint32_t *id);

/* Opener: attaches to the locks of an existing channel of nslots slots
 * whose header names kind and id. The kind must match the backend, and a
 * System V set must be the one made for this segment (nslots + 1
 * semaphores, same creator uid, the segment's tag): -EPROTO otherwise.
 * readonly: only tests locks (inspection; no descriptor of its own is
 * opened). Returns 0 or -errno. */
int shmlink__lock_attach(shmlink__lockset *ls, shmlink_segment *seg,
                         unsigned kind, uint32_t id, unsigned nslots,
                         shmlink__lock_layout layout, int readonly);

/* Takes slot without waiting. Returns 0, -EBUSY (held by a live process),
 * or -errno. */
int shmlink__lock_take(shmlink__lockset *ls, unsigned slot);

/* Gives slot up (no-op when not held). */
void shmlink__lock_give(shmlink__lockset *ls, unsigned slot);

/* 1 if a process other than this handle holds slot, 0 if nobody does,
 * -errno if it cannot be told. */
int shmlink__lock_held(const shmlink__lockset *ls, unsigned slot);

/* 1 if some process holds one of the count slots first..first+count-1,
 * 0 if none does, -errno if it cannot be told (-EINVAL when this handle
 * holds one of them, or for the 1:1 layout). The test is one kernel
 * operation, so its answer holds at one moment for all of them: a single
 * F_OFD_GETLK over the bytes from the first slot's lock byte to the last
 * one's (fan-out layout: no other slot's lock byte lies between), or one
 * semop of "wait for zero" on each of their semaphores with IPC_NOWAIT. */
int shmlink__lock_any_held(const shmlink__lockset *ls, unsigned first,
                           unsigned count);

/* Gives up every slot this handle holds and closes its descriptor; the
 * semaphore set stays (see shmlink__lock_remove_set). */
void shmlink__lock_close(shmlink__lockset *ls);

/* Creator, on failure: closes ls and removes the System V set it made. */
void shmlink__lock_discard(shmlink__lockset *ls);

/* Removes the System V semaphore set semid if no slot of it is held and
 * it is the set of segment shmid (nslots + 1 semaphores, creator cuid,
 * tag). Returns 0, -EBUSY (a slot is held), or -errno. */
int shmlink__lock_remove_set(int semid, unsigned nslots, int shmid,
                             uint32_t cuid);

/* Incremented in the child of every fork(). A handle made in generation g
 * is its parent's when shmlink__fork_generation != g. shmlink__fork_gen()
 * also registers the fork handler; call it once before relying on the
 * variable (every handle does, at open). */
unsigned long shmlink__fork_gen(void);
extern unsigned long shmlink__fork_generation;

#endif /* SHMLINK_LOCK_H */
