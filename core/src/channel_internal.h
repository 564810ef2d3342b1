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

#endif /* SHMLINK_CHANNEL_INTERNAL_H */
