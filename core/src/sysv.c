#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>

#include "internal.h"
#include "lock.h"

/* System V backend: shmget + shmat / shmdt + shmctl. */

/* IPC_STAT; an id that does not exist (EINVAL from the kernel) or was
 * removed (EIDRM) is reported as -ENOENT. */
static int sysv_ipc_stat(int shmid, struct shmid_ds *ds)
{
    if (shmctl(shmid, IPC_STAT, ds) == -1)
        return (errno == EINVAL || errno == EIDRM) ? -ENOENT : -errno;
    return 0;
}

int shmlink__sysv_create(const shmlink_address *addr, size_t size,
                         unsigned mode, shmlink_segment *seg)
{
    key_t key = addr->kind == SHMLINK_ADDR_SYSV_PRIVATE ? IPC_PRIVATE
                                                        : (key_t)addr->key;
    /* System V ignores the umask: mode is applied as given. New segments
     * are zero-filled by the kernel. */
    int id = shmget(key, size, IPC_CREAT | IPC_EXCL | (int)mode);
    if (id == -1)
        return -errno;
    void *p = shmat(id, NULL, 0);
    if (p == (void *)-1) {
        int err = errno;
        (void)shmctl(id, IPC_RMID, NULL); /* no half-made segment */
        return -err;
    }
    seg->data = p;
    seg->size = size;
    seg->readonly = 0;
    seg->fd = -1;
    seg->shmid = id;
    seg->name[0] = '\0';
    if (addr->kind == SHMLINK_ADDR_SYSV_PRIVATE)
        snprintf(seg->address, sizeof(seg->address), "sysv-id:%d", id);
    return 0;
}

int shmlink__sysv_resolve(const shmlink_address *addr, int *shmid)
{
    if (addr->kind == SHMLINK_ADDR_SYSV_ID) {
        *shmid = addr->id;
        return 0;
    }
    if (addr->kind != SHMLINK_ADDR_SYSV_KEY)
        return -EINVAL;
    int id = shmget((key_t)addr->key, 0, 0);
    if (id == -1)
        return -errno;
    *shmid = id;
    return 0;
}

int shmlink__sysv_open(const shmlink_address *addr, int readonly,
                       shmlink_segment *seg)
{
    struct shmid_ds ds;
    int id = -1, rc;
    if ((rc = shmlink__sysv_resolve(addr, &id)) < 0)
        return rc;
    if ((rc = sysv_ipc_stat(id, &ds)) < 0)
        return rc;
    if (ds.shm_perm.mode & SHM_DEST)
        return -ENOENT; /* removed: only existing attachments keep it */
    if (ds.shm_segsz == 0)
        return -EINVAL;
    void *p = shmat(id, NULL, readonly ? SHM_RDONLY : 0);
    if (p == (void *)-1)
        return (errno == EINVAL || errno == EIDRM) ? -ENOENT : -errno;
    seg->data = p;
    seg->size = ds.shm_segsz;
    seg->readonly = readonly;
    seg->fd = -1;
    seg->shmid = id;
    seg->name[0] = '\0';
    return 0;
}

void shmlink__sysv_close(shmlink_segment *seg)
{
    if (seg->data)
        (void)shmdt(seg->data);
    seg->data = NULL;
}

int shmlink__sysv_remove_id(int shmid, const void *mem, size_t size)
{
    struct shmid_ds ds;
    int rc = sysv_ipc_stat(shmid, &ds);
    if (rc == -EACCES)
        rc = 0; /* IPC_RMID needs ownership, not read permission */
    else if (rc < 0)
        return rc;
    else if (ds.shm_perm.mode & SHM_DEST)
        return -ENOENT; /* removed already; only attachments keep it */
    /* A channel's role locks live in a System V semaphore set named in its
     * header: find it before the segment goes (docs/PROTOCOL.md, 6.3). */
    void *own = NULL;
    if (mem == NULL && rc == 0 && ds.shm_segsz >= 512) {
        own = shmat(shmid, NULL, SHM_RDONLY);
        if (own == (void *)-1)
            own = NULL;
        mem = own;
        size = ds.shm_segsz;
    }
    unsigned nslots = 0;
    int semid = mem ? shmlink__channel_lock_set(mem, size, &nslots) : -1;
    if (own)
        (void)shmdt(own);
    if (shmctl(shmid, IPC_RMID, NULL) == -1)
        return (errno == EINVAL || errno == EIDRM) ? -ENOENT : -errno;
    /* Only when no role is held; else the last holder's close removes it. */
    if (semid >= 0 && rc == 0)
        (void)shmlink__lock_remove_set(semid, nslots, shmid,
                                       (uint32_t)ds.shm_perm.cuid);
    return 0;
}

int shmlink__sysv_stat_id(int shmid, int removed_ok, shmlink_stat *st)
{
    struct shmid_ds ds;
    int rc = sysv_ipc_stat(shmid, &ds);
    if (rc < 0)
        return rc;
    if (!removed_ok && (ds.shm_perm.mode & SHM_DEST))
        return -ENOENT; /* by address, a removed segment is gone */
    st->backend = SHMLINK_BACKEND_SYSV;
    st->size = (uint64_t)ds.shm_segsz;
    st->mode = (uint32_t)(ds.shm_perm.mode & 0777);
    st->uid = (uint32_t)ds.shm_perm.uid;
    st->gid = (uint32_t)ds.shm_perm.gid;
    st->ctime = (int64_t)ds.shm_ctime;
    st->shmid = shmid;
    st->key = (uint32_t)ds.shm_perm.__key;
    st->nattch = (uint64_t)ds.shm_nattch;
    st->cuid = (uint32_t)ds.shm_perm.cuid;
    st->cgid = (uint32_t)ds.shm_perm.cgid;
    st->cpid = (int32_t)ds.shm_cpid;
    st->lpid = (int32_t)ds.shm_lpid;
    st->atime = (int64_t)ds.shm_atime;
    st->dtime = (int64_t)ds.shm_dtime;
    return 0;
}
