#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "lock.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/sem.h>
#include <sys/stat.h>
#include <unistd.h>

/* semctl(2): the caller defines this union. */
union lock_semun {
    int val;
    struct semid_ds *buf;
    unsigned short *array;
};

/* ------------------------------------------------------------------------ */
/* Fork: the child gives back nothing it did not take                        */
/* ------------------------------------------------------------------------ */

static pthread_once_t lock_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t lock_registry_mu = PTHREAD_MUTEX_INITIALIZER;
static shmlink__lockset *lock_registry;
unsigned long shmlink__fork_generation;

static void lock_atfork_prepare(void)
{
    (void)pthread_mutex_lock(&lock_registry_mu);
}

static void lock_atfork_parent(void)
{
    (void)pthread_mutex_unlock(&lock_registry_mu);
}

/* The child shares each OFD with its parent, and an OFD lock lasts until
 * the last descriptor of it is closed: close the child's copies so that the
 * parent's death frees its roles even while the child lives on. The child
 * holds no slot of either kind (System V undo entries are not inherited
 * either): forget them all, so that closing an inherited handle gives
 * nothing back (a semop -1 from the child would free the parent's slot
 * until the child exits). */
static void lock_atfork_child(void)
{
    for (shmlink__lockset *ls = lock_registry; ls; ls = ls->next) {
        if (ls->fd >= 0)
            (void)close(ls->fd);
        ls->fd = -1;
        ls->probe_fd = -1;
        memset(ls->held, 0, sizeof(ls->held));
    }
    __atomic_add_fetch(&shmlink__fork_generation, 1, __ATOMIC_RELEASE);
    (void)pthread_mutex_unlock(&lock_registry_mu);
}

static void lock_init_once(void)
{
    (void)pthread_atfork(lock_atfork_prepare, lock_atfork_parent,
                         lock_atfork_child);
}

unsigned long shmlink__fork_gen(void)
{
    (void)pthread_once(&lock_once, lock_init_once);
    return __atomic_load_n(&shmlink__fork_generation, __ATOMIC_ACQUIRE);
}

static void lock_register(shmlink__lockset *ls)
{
    (void)pthread_once(&lock_once, lock_init_once);
    (void)pthread_mutex_lock(&lock_registry_mu);
    ls->next = lock_registry;
    lock_registry = ls;
    ls->registered = 1;
    (void)pthread_mutex_unlock(&lock_registry_mu);
}

static void lock_unregister(shmlink__lockset *ls)
{
    if (!ls->registered)
        return;
    (void)pthread_mutex_lock(&lock_registry_mu);
    for (shmlink__lockset **p = &lock_registry; *p; p = &(*p)->next) {
        if (*p == ls) {
            *p = ls->next;
            break;
        }
    }
    ls->registered = 0;
    (void)pthread_mutex_unlock(&lock_registry_mu);
}

/* ------------------------------------------------------------------------ */
/* POSIX: OFD locks                                                          */
/* ------------------------------------------------------------------------ */

/* A descriptor of the handle's own for seg's object: a new open file
 * description (dup would share the segment's, and with it the locks).
 * Through /proc/self/fd (always visible to the process itself), else by
 * name, checked to be the same object. */
static int lock_reopen(const shmlink_segment *seg)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", seg->fd);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd >= 0)
        return fd;
    fd = shm_open(seg->name, O_RDWR | O_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    struct stat a, b;
    if (fstat(fd, &a) == -1 || fstat(seg->fd, &b) == -1 ||
        a.st_dev != b.st_dev || a.st_ino != b.st_ino) {
        (void)close(fd);
        return -ENOENT;
    }
    return fd;
}

static void lock_flock(const shmlink__lockset *ls, struct flock *fl, short type,
                       unsigned slot)
{
    memset(fl, 0, sizeof(*fl));
    fl->l_type = type;
    fl->l_whence = SEEK_SET;
    fl->l_start = shmlink__lock_byte(ls->layout, slot);
    fl->l_len = 1;
}

/* ------------------------------------------------------------------------ */
/* System V: a semaphore set, SEM_UNDO                                       */
/* ------------------------------------------------------------------------ */

static unsigned short lock_sem_tag(int shmid)
{
    return (unsigned short)(shmid & 0x7fff);
}

static int lock_sem_check(int semid, unsigned nslots, int shmid, uint32_t cuid)
{
    struct semid_ds ds;
    union lock_semun arg;
    arg.buf = &ds;
    if (semctl(semid, 0, IPC_STAT, arg) == -1)
        return errno == EINVAL || errno == EIDRM ? -EPROTO : -errno;
    if (ds.sem_nsems != nslots + 1 || ds.sem_perm.cuid != cuid)
        return -EPROTO;
    int tag = semctl(semid, (int)nslots, GETVAL);
    if (tag == -1)
        return errno == EINVAL || errno == EIDRM ? -EPROTO : -errno;
    return tag == lock_sem_tag(shmid) ? 0 : -EPROTO;
}

static int lock_sem_value(int semid, unsigned slot)
{
    int v = semctl(semid, (int)slot, GETVAL);
    if (v == -1)
        return errno == EINVAL || errno == EIDRM ? -EPROTO : -errno;
    return v;
}

/* ------------------------------------------------------------------------ */
/* Lock sets                                                                 */
/* ------------------------------------------------------------------------ */

static void lock_init(shmlink__lockset *ls, unsigned kind, unsigned nslots,
                      shmlink__lock_layout layout)
{
    memset(ls, 0, sizeof(*ls));
    ls->kind = kind;
    ls->nslots = nslots;
    ls->layout = layout;
    ls->fd = -1;
    ls->probe_fd = -1;
    ls->semid = -1;
}

int shmlink__lock_create(shmlink__lockset *ls, shmlink_segment *seg,
                         unsigned mode, unsigned nslots,
                         shmlink__lock_layout layout, uint32_t *id)
{
    if (nslots < SHMLINK__LOCK_SLOTS_1TO1 || nslots > SHMLINK__LOCK_MAX_SLOTS)
        return -EINVAL;
    if (seg->backend == SHMLINK_BACKEND_POSIX) {
        lock_init(ls, SHMLINK__LOCK_OFD, nslots, layout);
        int fd = lock_reopen(seg);
        if (fd < 0)
            return fd;
        ls->fd = ls->probe_fd = fd;
        lock_register(ls);
        *id = 0;
        return 0;
    }
    lock_init(ls, SHMLINK__LOCK_SEM, nslots, layout);
    int semid = semget(IPC_PRIVATE, (int)nslots + 1,
                       IPC_CREAT | IPC_EXCL | (int)(mode & 0777));
    if (semid == -1)
        return -errno;
    unsigned short init[SHMLINK__LOCK_MAX_SLOTS + 1] = {0};
    init[nslots] = lock_sem_tag(seg->shmid);
    union lock_semun arg;
    arg.array = init;
    if (semctl(semid, 0, SETALL, arg) == -1) {
        int err = -errno;
        (void)semctl(semid, 0, IPC_RMID);
        return err;
    }
    ls->semid = semid;
    lock_register(ls);
    *id = (uint32_t)semid;
    return 0;
}

int shmlink__lock_attach(shmlink__lockset *ls, shmlink_segment *seg,
                         unsigned kind, uint32_t id, unsigned nslots,
                         shmlink__lock_layout layout, int readonly)
{
    if (nslots < SHMLINK__LOCK_SLOTS_1TO1 || nslots > SHMLINK__LOCK_MAX_SLOTS)
        return -EINVAL;
    if (seg->backend == SHMLINK_BACKEND_POSIX) {
        if (kind != SHMLINK__LOCK_OFD || id != 0)
            return -EPROTO;
        lock_init(ls, kind, nslots, layout);
        if (readonly) {
            ls->probe_fd = seg->fd; /* tests only, takes nothing */
            return 0;
        }
        int fd = lock_reopen(seg);
        if (fd < 0)
            return fd;
        ls->fd = ls->probe_fd = fd;
        lock_register(ls);
        return 0;
    }
    if (kind != SHMLINK__LOCK_SEM || id > (uint32_t)INT32_MAX)
        return -EPROTO;
    lock_init(ls, kind, nslots, layout);
    shmlink_stat st;
    int rc = shmlink_segment_stat(seg, &st);
    if (rc < 0)
        return rc;
    rc = lock_sem_check((int)id, nslots, seg->shmid, st.cuid);
    if (rc < 0)
        return rc;
    ls->semid = (int)id;
    if (!readonly)
        lock_register(ls);
    return 0;
}

static void lock_mark(shmlink__lockset *ls, unsigned slot, int held)
{
    uint64_t bit = (uint64_t)1 << (slot % 64);
    if (held)
        ls->held[slot / 64] |= bit;
    else
        ls->held[slot / 64] &= ~bit;
}

int shmlink__lock_take(shmlink__lockset *ls, unsigned slot)
{
    if (slot >= ls->nslots || shmlink__lock_mine(ls, slot))
        return -EINVAL;
    if (ls->kind == SHMLINK__LOCK_OFD) {
        struct flock fl;
        lock_flock(ls, &fl, F_WRLCK, slot);
        if (ls->fd < 0)
            return -EBADF;
        if (fcntl(ls->fd, F_OFD_SETLK, &fl) == -1)
            return errno == EAGAIN || errno == EACCES ? -EBUSY : -errno;
    } else {
        /* Atomically: the value is 0 (nobody holds it), then raise it to 1
         * with an undo entry the kernel applies when we exit. */
        struct sembuf ops[2] = {
            {(unsigned short)slot, 0, IPC_NOWAIT},
            {(unsigned short)slot, 1, SEM_UNDO | IPC_NOWAIT},
        };
        if (semop(ls->semid, ops, 2) == -1) {
            if (errno == EAGAIN)
                return -EBUSY;
            return errno == EINVAL || errno == EIDRM ? -EPROTO : -errno;
        }
    }
    lock_mark(ls, slot, 1);
    return 0;
}

void shmlink__lock_give(shmlink__lockset *ls, unsigned slot)
{
    if (slot >= ls->nslots || !shmlink__lock_mine(ls, slot))
        return;
    lock_mark(ls, slot, 0);
    if (ls->kind == SHMLINK__LOCK_OFD) {
        struct flock fl;
        lock_flock(ls, &fl, F_UNLCK, slot);
        if (ls->fd >= 0)
            (void)fcntl(ls->fd, F_OFD_SETLK, &fl);
    } else {
        struct sembuf op = {(unsigned short)slot, -1, SEM_UNDO | IPC_NOWAIT};
        (void)semop(ls->semid, &op, 1);
    }
}

int shmlink__lock_held(const shmlink__lockset *ls, unsigned slot)
{
    if (slot >= ls->nslots)
        return -EINVAL;
    if (shmlink__lock_mine(ls, slot))
        return 0; /* ours: nobody else can hold it */
    if (ls->kind == SHMLINK__LOCK_OFD) {
        struct flock fl;
        lock_flock(ls, &fl, F_WRLCK, slot);
        if (ls->probe_fd < 0)
            return -EBADF;
        if (fcntl(ls->probe_fd, F_OFD_GETLK, &fl) == -1)
            return -errno;
        return fl.l_type != F_UNLCK;
    }
    int v = lock_sem_value(ls->semid, slot);
    return v < 0 ? v : v > 0;
}

int shmlink__lock_any_held(const shmlink__lockset *ls, unsigned first,
                           unsigned count)
{
    if (count == 0 || first >= ls->nslots || count > ls->nslots - first ||
        ls->layout != SHMLINK__LOCK_LAYOUT_FANOUT)
        return -EINVAL;
    for (unsigned s = first; s < first + count; s++)
        if (shmlink__lock_mine(ls, s))
            return -EINVAL;
    if (ls->kind == SHMLINK__LOCK_OFD) {
        struct flock fl;
        lock_flock(ls, &fl, F_WRLCK, first);
        fl.l_len =
            shmlink__lock_byte(ls->layout, first + count - 1) - fl.l_start + 1;
        if (ls->probe_fd < 0)
            return -EBADF;
        if (fcntl(ls->probe_fd, F_OFD_GETLK, &fl) == -1)
            return -errno;
        return fl.l_type != F_UNLCK;
    }
    struct sembuf ops[SHMLINK__LOCK_MAX_SLOTS];
    for (unsigned i = 0; i < count; i++) {
        ops[i].sem_num = (unsigned short)(first + i);
        ops[i].sem_op = 0;
        ops[i].sem_flg = IPC_NOWAIT;
    }
    for (;;) {
        if (semop(ls->semid, ops, count) == 0)
            return 0;
        if (errno == EAGAIN)
            return 1;
        if (errno != EINTR)
            return errno == EINVAL || errno == EIDRM ? -EPROTO : -errno;
    }
}

void shmlink__lock_close(shmlink__lockset *ls)
{
    for (unsigned i = 0; i < ls->nslots; i++)
        shmlink__lock_give(ls, i);
    lock_unregister(ls);
    if (ls->fd >= 0)
        (void)close(ls->fd);
    ls->fd = ls->probe_fd = -1;
}

void shmlink__lock_discard(shmlink__lockset *ls)
{
    shmlink__lock_close(ls);
    if (ls->semid >= 0)
        (void)semctl(ls->semid, 0, IPC_RMID);
    ls->semid = -1;
}

int shmlink__lock_remove_set(int semid, unsigned nslots, int shmid,
                             uint32_t cuid)
{
    if (nslots < SHMLINK__LOCK_SLOTS_1TO1 || nslots > SHMLINK__LOCK_MAX_SLOTS)
        return -EINVAL;
    int rc = lock_sem_check(semid, nslots, shmid, cuid);
    if (rc < 0)
        return rc;
    for (unsigned i = 0; i < nslots; i++) {
        int v = lock_sem_value(semid, i);
        if (v < 0)
            return v;
        if (v > 0)
            return -EBUSY;
    }
    if (semctl(semid, 0, IPC_RMID) == -1)
        return -errno;
    return 0;
}
