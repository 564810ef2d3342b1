/* Process liveness by pid + process start time (/proc/PID/stat field 22). */
#ifndef SHMLINK_PROC_H
#define SHMLINK_PROC_H

#include <stdint.h>

/* Reads /proc/PID/stat: sets *start to field 22 (start time in clock ticks
 * since boot). Returns 0 if the process exists and is not a zombie, -ECHILD
 * for a zombie (or dead) one, -ESRCH otherwise (gone, hidden, unreadable,
 * pid <= 0). */
int shmlink__proc_start_time(int32_t pid, uint64_t *start);

/* Owner word of the calling process: pid | (start_time mod 2^32) << 32
 * (docs/PROTOCOL.md, 6). Recomputed after fork. 0 if /proc is unusable. */
uint64_t shmlink__proc_self_owner(void);

/* Liveness of a version-1 owner word (docs/PROTOCOL.md, section 6.5): 1 if
 * the process is alive (same pid, same start time, not a zombie; or its
 * /proc entry is hidden but kill(pid, 0) says it exists), 0 otherwise (also
 * for owner 0 and pids <= 0). */
int shmlink__proc_owner_alive(uint64_t owner);

static inline int32_t shmlink__owner_pid(uint64_t owner)
{
    return (int32_t)(uint32_t)(owner & 0xffffffffu);
}

#endif /* SHMLINK_PROC_H */
