/*
 * The truncation guard: another process with write access to a POSIX
 * channel can ftruncate() the object, and every later access to the lost
 * pages would raise SIGBUS and kill this process. The core installs one
 * SIGBUS handler (the first time a POSIX channel is mapped) that looks up
 * the faulting address among the registered channel mappings; on a hit it
 * replaces the whole mapping with private zero pages (so the access and
 * every later one succeed), marks the registration, and returns. The
 * channel code checks the mark after its accesses and fails the call with
 * -EPROTO from then on. A SIGBUS anywhere else goes to the handler that was
 * installed before (or the default action).
 */
#ifndef SHMLINK_GUARD_H
#define SHMLINK_GUARD_H

#include <stddef.h>
#include <stdint.h>

typedef struct shmlink__guard {
    uintptr_t start; /* 0 while the registration is free */
    size_t len;
    int hit; /* set by the SIGBUS handler */
    int used;
    struct shmlink__guard *next;
} shmlink__guard;

/* Registers [addr, addr + len) (page-aligned start, as mmap returns it).
 * Returns a registration, or NULL if the handler could not be installed
 * or memory ran out (the mapping is then simply unguarded). */
shmlink__guard *shmlink__guard_add(void *addr, size_t len);

/* Ends a registration (before the mapping is unmapped). Accepts NULL. */
void shmlink__guard_remove(shmlink__guard *g);

/* 1 once a SIGBUS hit the registered mapping (it now holds zero pages),
 * 0 otherwise (also for NULL). Inline: it is checked after every message. */
static inline int shmlink__guard_hit(const shmlink__guard *g)
{
    return g != NULL && __atomic_load_n(&g->hit, __ATOMIC_ACQUIRE) != 0;
}

#endif /* SHMLINK_GUARD_H */
