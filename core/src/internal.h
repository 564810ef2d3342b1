/*
 * Internal declarations of the shmlink core, shared by the segment code
 * (address.c, segment.c, posix.c, sysv.c, error.c) and the channel code.
 *
 * The core is compiled three ways (CMake, cgo from a one-file amalgamation,
 * cffi from these files), so: include guard here, `static` names unique
 * across all core/src files, internal non-static names start shmlink__.
 */
#ifndef SHMLINK_INTERNAL_H
#define SHMLINK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "shmlink.h"

/*
 * An open segment: one process's view of one shared-memory object.
 *
 *   backend   SHMLINK_BACKEND_POSIX or SHMLINK_BACKEND_SYSV
 *   data      the mapping (mmap / shmat), never NULL while open
 *   size      bytes mapped: the object's whole size
 *   readonly  1 when mapped PROT_READ / SHM_RDONLY
 *   fd        POSIX: the shm_open descriptor, kept open (close-on-exec) so
 *             stat by handle keeps working after the name was removed;
 *             -1 for System V
 *   shmid     System V: the segment id; -1 for POSIX
 *   name      POSIX: "/name" (what shm_open / shm_unlink take); "" for SysV
 *   address   canonical address text ("posix:/name", "sysv:0x0000abcd",
 *             "sysv-id:N")
 *
 * The channel code may read these fields; only segment code writes them.
 */
struct shmlink_segment {
    shmlink_backend backend;
    void *data;
    size_t size;
    int readonly;
    int fd;
    int shmid;
    char name[257];
    char address[SHMLINK_ADDRESS_MAX];
};

/* Backend entry points; each returns 0 or -errno and, on failure, leaves
 * nothing behind (no name, no mapping, no descriptor). seg->address is
 * filled by the caller before create/open (except for "sysv:private",
 * where sysv create writes the "sysv-id:N" address itself). */
int shmlink__posix_create(const shmlink_address *addr, size_t size,
                          unsigned mode, shmlink_segment *seg);
int shmlink__posix_open(const shmlink_address *addr, int readonly,
                        shmlink_segment *seg);
void shmlink__posix_close(shmlink_segment *seg);
int shmlink__posix_unlink(const char *name);
int shmlink__posix_unlink_own(const char *name, int fd);
int shmlink__posix_stat_fd(int fd, shmlink_stat *st);
int shmlink__posix_stat_name(const char *name, shmlink_stat *st);

int shmlink__sysv_create(const shmlink_address *addr, size_t size,
                         unsigned mode, shmlink_segment *seg);
int shmlink__sysv_open(const shmlink_address *addr, int readonly,
                       shmlink_segment *seg);
void shmlink__sysv_close(shmlink_segment *seg);
/* Removes a System V segment by id, and with it the role-lock semaphore
 * set of a channel in it when no role is held. mem/size: a mapping of it
 * to read the channel header from, or NULL to attach read-only briefly. */
int shmlink__sysv_remove_id(int shmid, const void *mem, size_t size);
int shmlink__sysv_resolve(const shmlink_address *addr, int *shmid);
/* removed_ok: 1 to stat a segment already marked for removal (by handle),
 * 0 to report it as -ENOENT (by address: its name is gone). */
int shmlink__sysv_stat_id(int shmid, int removed_ok, shmlink_stat *st);

/* The System V semaphore set named by a version-2 channel header in mem
 * (size bytes), or -1 if mem holds none (channel.c); *nslots is set to the
 * number of role slots of the channel (the set has one semaphore more). */
int shmlink__channel_lock_set(const void *mem, size_t size, unsigned *nslots);

/* 1 if name is a valid POSIX object name ("/" + 1..255 bytes, no other '/',
 * not "/." or "/.."), else 0. */
int shmlink__posix_name_valid(const char *name, size_t len);

#endif /* SHMLINK_INTERNAL_H */
